//! Order, no loss, no duplicates; resume; idempotent sends.

use std::time::{Duration, Instant};

use chat_types::ops;
use serde_json::json;
use testkit::ws::Subscription;
use testkit::{TestEnv, WsClient, backend_tests, unique};

use crate::support::{Person, System, collect_seqs, message_added};

backend_tests!(
    six_hundred_concurrent_messages_arrive_once_and_in_order,
    a_returning_subscriber_resumes_after_its_last_seq,
    a_client_id_makes_one_message_however_often_it_is_sent,
    a_message_whose_event_never_came_still_arrives,
    a_returning_subscriber_gets_the_edits_and_deletes_it_missed,
    an_edit_whose_event_never_came_still_arrives,
    a_removal_whose_events_never_came_still_ends_the_removed_members_streams,
    a_message_sent_after_an_unannounced_removal_never_reaches_the_removed_member,
    a_returning_reader_is_told_how_far_everyone_has_read_then_each_move_once,
    a_resume_point_the_chat_has_not_reached_is_refused_not_waited_on,
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
            reply_to: None,
            mentions: Vec::new(),
            mentions_all: false,
            attachments: Vec::new(),
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

/// The edits and deletes made while a reader was away come back in the chat log's
/// order when they resume after the page they had, each message as it is now; then the
/// stream goes on live.
async fn a_returning_subscriber_gets_the_edits_and_deletes_it_missed(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        ids.push(alice.send(&chat, text, 0).await["id"].clone());
    }
    // What bob had when he went away.
    let page = bob.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": chat }))
        .await;
    let seen = page["messages"]["lastEventSeq"].as_i64().unwrap();

    let edit = |id: &serde_json::Value, content: &str, instance: usize| {
        let variables = json!({ "id": id, "content": content });
        alice.senders[instance].data(ops::UPDATE_MESSAGE, variables)
    };
    edit(&ids[0], "one, edited", 0).await;
    alice.senders[1]
        .data(ops::REMOVE_MESSAGE, json!({ "id": ids[1] }))
        .await;
    edit(&ids[2], "three, edited", 1).await;
    edit(&ids[2], "three, final", 0).await;

    let socket = bob.socket(&system, 1).await;
    let after = json!({ "chatId": chat, "afterEventSeq": seen });
    let mut log = socket.subscribe(ops::CHAT_EVENTS, after.clone());
    let mut updates = socket.subscribe(ops::MESSAGE_UPDATED, after.clone());
    let mut deletes = socket.subscribe(ops::MESSAGE_DELETED, after);
    let expected = [
        (seen + 1, "EDITED", "one, edited"),
        (seen + 2, "DELETED", ""),
        (seen + 3, "EDITED", "three, final"),
        (seen + 4, "EDITED", "three, final"),
    ];
    for (event_seq, kind, content) in expected {
        let event = log.next_data().await["chatEvents"].clone();
        assert_eq!(event["eventSeq"], event_seq);
        assert_eq!(event["kind"], kind);
        assert_eq!(event["message"]["content"], content, "as it is now");
    }
    for id in [&ids[0], &ids[2], &ids[2]] {
        assert_eq!(updates.next_data().await["messageUpdated"]["id"], *id);
    }
    let deleted = deletes.next_data().await["messageDeleted"].clone();
    assert_eq!(deleted["id"], ids[1]);
    assert_eq!(deleted["isDeleted"], true);

    // And on, live, once each.
    edit(&ids[0], "one, again", 1).await;
    let live = log.next_data().await["chatEvents"].clone();
    assert_eq!(live["eventSeq"], seen + 5);
    assert_eq!(live["message"]["content"], "one, again");
    let updated = updates.next_data().await["messageUpdated"].clone();
    assert_eq!(updated["content"], "one, again");
    for subscription in [&mut log, &mut updates, &mut deletes] {
        subscription
            .expect_silence(Duration::from_millis(300))
            .await;
    }
}

/// An edit committed without its bus event (a sender that died between the two, or a
/// bus that dropped it) reaches the subscribers from the log.
async fn an_edit_whose_event_never_came_still_arrives(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let sent = alice.send(&chat, "typo", 0).await;
    let sockets = [bob.socket(&system, 0).await, bob.socket(&system, 1).await];
    let mut subscriptions: Vec<_> = sockets
        .iter()
        // From the log's start: nothing is missed while they are being registered.
        .map(|socket| {
            let variables = json!({ "chatId": chat, "afterEventSeq": 0 });
            socket.subscribe(ops::MESSAGE_UPDATED, variables)
        })
        .collect();
    alice.senders[1]
        .data(
            ops::UPDATE_MESSAGE,
            json!({ "id": sent["id"], "content": "typo?" }),
        )
        .await;
    for subscription in &mut subscriptions {
        assert_eq!(
            subscription.next_data().await["messageUpdated"]["content"],
            "typo?"
        );
    }

    // Written as a sender writes, and never published.
    let id: chat_types::MessageId = sent["id"].as_str().unwrap().parse().unwrap();
    env.state
        .store
        .edit_message(id, alice.id.parse().unwrap(), "fixed", &[], false)
        .await
        .expect("edited");
    let stored_at = Instant::now();
    for subscription in &mut subscriptions {
        let updated = subscription.next_data().await;
        assert_eq!(updated["messageUpdated"]["content"], "fixed");
        assert_eq!(updated["messageUpdated"]["isEdited"], true);
    }
    eprintln!(
        "the unannounced edit arrived {:?} after it was stored",
        stored_at.elapsed()
    );
    for subscription in &mut subscriptions {
        subscription
            .expect_silence(Duration::from_millis(300))
            .await;
    }
}

/// Alice's group with Bob and Carol, who both follow it on one receiver; then Carol is
/// removed as a sender removes, and nothing is published.
struct SilentRemoval {
    alice: Person,
    chat: String,
    bob: Subscription,
    carol: Subscription,
    _sockets: [WsClient; 2],
    _system: System,
}

async fn remove_carol_silently(env: &TestEnv, receiver: usize) -> SilentRemoval {
    let system = System::start(env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 1).await;
    let chat = alice.group("team", &[&bob, &carol]).await;
    let sockets = [
        carol.socket(&system, receiver).await,
        bob.socket(&system, receiver).await,
    ];
    let mut carol_messages = message_added(&sockets[0], &chat, Some(0));
    let mut bob_messages = message_added(&sockets[1], &chat, Some(0));
    // Live once a message has come through, through the other sender.
    alice.send(&chat, "before", 1 - receiver).await;
    for messages in [&mut carol_messages, &mut bob_messages] {
        assert_eq!(
            messages.next_data().await["messageAdded"]["content"],
            "before"
        );
    }
    env.state
        .store
        .remove_participant(
            chat.parse().unwrap(),
            alice.id.parse().unwrap(),
            carol.id.parse().unwrap(),
        )
        .await
        .expect("removed");
    SilentRemoval {
        alice,
        chat,
        bob: bob_messages,
        carol: carol_messages,
        _sockets: sockets,
        _system: system,
    }
}

/// A removal committed without its bus events (a sender that died after the commit)
/// still ends the removed member's live views, from the chat's log (the log-tail
/// check), and what is sent after that never reaches her.
async fn a_removal_whose_events_never_came_still_ends_the_removed_members_streams(env: TestEnv) {
    let mut removal = remove_carol_silently(&env, 1).await;
    let removed_at = Instant::now();
    assert_eq!(removal.carol.next_error_code().await, "FORBIDDEN");
    eprintln!(
        "the unannounced removal ended her stream {:?} after it was stored",
        removed_at.elapsed()
    );
    removal.alice.send(&removal.chat, "after", 0).await;
    assert_eq!(
        removal.bob.next_data().await["messageAdded"]["content"],
        "after"
    );
    // Her stream is over: it completes, and brings nothing more.
    assert!(matches!(
        removal.carol.next_event().await,
        Some(testkit::ws::Event::Complete)
    ));
    removal
        .carol
        .expect_silence(Duration::from_millis(300))
        .await;
}

/// A message written right after a removal whose events were lost: the receiver applies
/// the removal from the log before it delivers the message, so the removed member never
/// gets it — however the bus ordered things.
async fn a_message_sent_after_an_unannounced_removal_never_reaches_the_removed_member(
    env: TestEnv,
) {
    let mut removal = remove_carol_silently(&env, 0).await;
    removal.alice.send(&removal.chat, "after", 1).await;
    assert_eq!(
        removal.bob.next_data().await["messageAdded"]["content"],
        "after"
    );
    assert_eq!(removal.carol.next_error_code().await, "FORBIDDEN");
    assert!(matches!(
        removal.carol.next_event().await,
        Some(testkit::ws::Event::Complete)
    ));
}

/// Read receipts resume as state: a reader who was away asks for `current` and hears
/// first how far each member has read now (the moves it missed, folded), then each
/// further move once, never one backwards.
async fn a_returning_reader_is_told_how_far_everyone_has_read_then_each_move_once(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 0).await;
    let group = alice.group("Readers", &[&bob, &carol]).await;
    for text in ["one", "two", "three"] {
        alice.send(&group, text, 0).await;
    }
    bob.mark_read(&group, 1).await;

    let socket = alice.socket(&system, 1).await;
    let mut reads = socket.subscribe(
        ops::MESSAGE_READ_UPDATED,
        json!({ "chatId": group, "current": true }),
    );
    let mut now = Vec::new();
    for _ in 0..2 {
        let read = reads.next_data().await["messageReadUpdated"].clone();
        assert_eq!(read["chatId"], group.as_str());
        now.push((
            read["userId"].as_str().unwrap().to_string(),
            read["lastReadSeq"].as_i64(),
        ));
    }
    now.sort();
    let mut expected = vec![(alice.id.clone(), Some(3)), (bob.id.clone(), Some(3))];
    expected.sort();
    assert_eq!(now, expected, "carol has read nothing yet");
    reads.expect_silence(Duration::from_millis(300)).await;

    // Live from here: each move once. Marking read again with nothing new moves nothing.
    carol.mark_read(&group, 0).await;
    carol.mark_read(&group, 1).await;
    let read = reads.next_data().await["messageReadUpdated"].clone();
    assert_eq!(read["userId"], carol.id.as_str());
    assert_eq!(read["lastReadSeq"], 3);
    alice.send(&group, "four", 1).await;
    let read = reads.next_data().await["messageReadUpdated"].clone();
    assert_eq!(read["userId"], alice.id.as_str());
    assert_eq!(read["lastReadSeq"], 4);
    reads.expect_silence(Duration::from_millis(300)).await;

    // Without `current`, only what moves from now on.
    let mut later = socket.subscribe(ops::MESSAGE_READ_UPDATED, json!({ "chatId": group }));
    later.expect_silence(Duration::from_millis(300)).await;
    bob.mark_read(&group, 0).await;
    let read = later.next_data().await["messageReadUpdated"].clone();
    assert_eq!(read["userId"], bob.id.as_str());
    assert_eq!(read["lastReadSeq"], 4);
}

/// A cursor from beyond the chat's end (a database restored from an older backup, a
/// client's state gone wrong) would wait for changes that never come and skip the ones
/// that do. It is refused with a coded error, so the client reads the chat again; a
/// cursor at the end is fine.
async fn a_resume_point_the_chat_has_not_reached_is_refused_not_waited_on(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let sent = alice.send(&chat, "one", 0).await;
    alice.senders[1]
        .data(
            ops::UPDATE_MESSAGE,
            json!({ "id": sent["id"], "content": "one, edited" }),
        )
        .await;
    let socket = bob.socket(&system, 0).await;
    for (document, cursor) in [
        (ops::MESSAGE_ADDED, "afterSeq"),
        (ops::CHAT_EVENTS, "afterEventSeq"),
        (ops::MESSAGE_UPDATED, "afterEventSeq"),
        (ops::MESSAGE_DELETED, "afterEventSeq"),
    ] {
        for bad in [2, 99, -1] {
            let mut refused = socket.subscribe(document, json!({ "chatId": chat, cursor: bad }));
            assert_eq!(
                refused.next_error_code().await,
                "BAD_USER_INPUT",
                "{cursor}: {bad} on {document}"
            );
        }
    }
    // At the end: nothing to replay, and the next change arrives.
    let mut messages =
        socket.subscribe(ops::MESSAGE_ADDED, json!({ "chatId": chat, "afterSeq": 1 }));
    let mut log = socket.subscribe(
        ops::CHAT_EVENTS,
        json!({ "chatId": chat, "afterEventSeq": 1 }),
    );
    messages.expect_silence(Duration::from_millis(200)).await;
    alice.send(&chat, "two", 1).await;
    assert_eq!(messages.next_data().await["messageAdded"]["seq"], 2);
    alice.senders[0]
        .data(ops::REMOVE_MESSAGE, json!({ "id": sent["id"] }))
        .await;
    assert_eq!(log.next_data().await["chatEvents"]["eventSeq"], 2);
}
