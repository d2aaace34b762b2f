//! Order, no loss, no duplicates; resume; idempotent sends.

use std::time::{Duration, Instant};

use chat_types::ops;
use serde_json::json;
use testkit::{TestEnv, backend_tests, unique};

use crate::support::{System, collect_seqs, message_added};

backend_tests!(
    six_hundred_concurrent_messages_arrive_once_and_in_order,
    a_returning_subscriber_resumes_after_its_last_seq,
    a_client_id_makes_one_message_however_often_it_is_sent,
    a_message_whose_event_never_came_still_arrives,
);

async fn six_hundred_concurrent_messages_arrive_once_and_in_order(env: TestEnv) {
    const WRITERS: usize = 3;
    const EACH: usize = 200;
    let system = System::start(&env).await;
    let people = [
        system.register("alice", 0).await,
        system.register("bob", 1).await,
        system.register("carol", 0).await,
        system.register("dave", 1).await,
    ];
    let chat = people[0]
        .group("busy", &[&people[1], &people[2], &people[3]])
        .await;

    // Two subscribers on each receiver.
    let mut subscriptions = Vec::new();
    let mut sockets = Vec::new();
    for (i, person) in people.iter().enumerate() {
        let socket = person.socket(&system, i % 2).await;
        subscriptions.push(message_added(&socket, &chat, None));
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let writers = (0..WRITERS).map(|w| {
        let sender = people[w].senders[w % 2].clone();
        let chat = chat.clone();
        async move {
            for i in 0..EACH {
                sender
                    .data(
                        ops::CREATE_MESSAGE,
                        json!({ "input": { "chatId": chat, "content": format!("{w}:{i}"), "clientId": format!("{w}-{i}") } }),
                    )
                    .await;
            }
        }
    });
    let readers = subscriptions
        .iter_mut()
        .map(|s| collect_seqs(s, WRITERS * EACH));
    let (_, received) = tokio::join!(
        futures::future::join_all(writers),
        futures::future::join_all(readers)
    );
    let elapsed = started.elapsed();
    let expected: Vec<i64> = (1..=(WRITERS * EACH) as i64).collect();
    for seqs in received {
        assert_eq!(seqs, expected);
    }
    for subscription in &mut subscriptions {
        subscription
            .expect_silence(Duration::from_millis(300))
            .await;
    }
    eprintln!(
        "600 messages from 3 writers through 2 senders delivered to 4 subscribers on 2 receivers ({:?}): {elapsed:.2?}",
        env.backend
    );
}

async fn a_returning_subscriber_resumes_after_its_last_seq(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;

    let socket = bob.socket(&system, 0).await;
    let mut first = message_added(&socket, &chat, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..10 {
        alice.send(&chat, &format!("early {i}"), i % 2).await;
    }
    let seen = collect_seqs(&mut first, 10).await;
    let last = *seen.last().unwrap();
    first.stop();
    socket.close();

    for i in 0..50 {
        alice.send(&chat, &format!("while away {i}"), i % 2).await;
    }

    // Back, on the other receiver.
    let socket = bob.socket(&system, 1).await;
    let mut resumed = message_added(&socket, &chat, Some(last));
    let replayed = collect_seqs(&mut resumed, 50).await;
    assert_eq!(replayed, (last + 1..=last + 50).collect::<Vec<_>>());
    alice.send(&chat, "live again", 0).await;
    let live = resumed.next_data().await;
    assert_eq!(live["messageAdded"]["seq"], last + 51);
    assert_eq!(live["messageAdded"]["content"], "live again");
    resumed.expect_silence(Duration::from_millis(300)).await;
}

async fn a_client_id_makes_one_message_however_often_it_is_sent(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let socket = bob.socket(&system, 1).await;
    let mut messages = message_added(&socket, &chat, None);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let create = |instance: usize, client_id: String| {
        let sender = alice.senders[instance].clone();
        let chat = chat.clone();
        async move {
            let data = sender
                .data(
                    ops::CREATE_MESSAGE,
                    json!({ "input": { "chatId": chat, "content": "only once", "clientId": client_id } }),
                )
                .await;
            (
                data["createMessage"]["id"].as_str().unwrap().to_string(),
                data["createMessage"]["seq"].as_i64().unwrap(),
            )
        }
    };
    let sequential_id = unique("retry-");
    let mut results = Vec::new();
    for i in 0..5 {
        results.push(create(i % 2, sequential_id.clone()).await);
    }
    let concurrent_id = unique("burst-");
    results.extend(
        futures::future::join_all((0..5).map(|i| create(i % 2, concurrent_id.clone()))).await,
    );

    assert!(results[..5].iter().all(|r| *r == results[0]), "{results:?}");
    assert!(results[5..].iter().all(|r| *r == results[5]), "{results:?}");
    assert_eq!((results[0].1, results[5].1), (1, 2));
    assert_eq!(collect_seqs(&mut messages, 2).await, [1, 2]);
    messages.expect_silence(Duration::from_millis(300)).await;
    let page = bob.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": chat }))
        .await;
    assert_eq!(page["messages"]["messages"].as_array().unwrap().len(), 2);
    let unread = bob.receivers[0]
        .data(ops::UNREAD_COUNT, json!({ "chatId": chat }))
        .await;
    assert_eq!(unread["unreadCount"], 2);
}

/// A sender that dies between its commit and its publish (or a bus that drops the
/// event) leaves a stored message nobody announced. With no later message in the chat
/// to reveal the gap, the receivers' log-tail check finds it.
async fn a_message_whose_event_never_came_still_arrives(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let sockets = [bob.socket(&system, 0).await, bob.socket(&system, 1).await];
    let mut subscriptions: Vec<_> = sockets
        .iter()
        // From seq 0: nothing is missed while the subscriptions are being registered.
        .map(|socket| message_added(socket, &chat, Some(0)))
        .collect();
    alice.send(&chat, "announced", 0).await;
    for subscription in &mut subscriptions {
        assert_eq!(
            subscription.next_data().await["messageAdded"]["content"],
            "announced"
        );
    }

    // Written as a sender writes, and never published.
    let written = env
        .state
        .store
        .write_messages(&[chat_store::NewMessage {
            chat_id: chat.parse().unwrap(),
            sender_id: alice.id.parse().unwrap(),
            content: "never announced".into(),
            client_id: None,
        }])
        .await
        .expect("stored");
    assert!(matches!(
        written.outcomes[..],
        [chat_store::StoredMessage::Created(_)]
    ));
    let stored_at = Instant::now();
    for subscription in &mut subscriptions {
        let message = subscription.next_data().await;
        assert_eq!(message["messageAdded"]["content"], "never announced");
        assert_eq!(message["messageAdded"]["seq"], 2);
    }
    // Within two checks (a second apart) on a quiet machine.
    eprintln!(
        "the unannounced message arrived {:?} after it was stored",
        stored_at.elapsed()
    );
}
