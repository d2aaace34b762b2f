//! Abuse limits end to end: send and typing rates per user, subscriptions per
//! connection, connections per user, the `connection_init` timeout, aliases over the
//! WebSocket, and a subscriber that stops reading its socket.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chat_types::ops;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use server_core::limits::Limits;
use testkit::ws::{ConnectError, EVENT_TIMEOUT, RawMessage, RawSocket, raw_socket};
use testkit::{Gql, Protocol, TestEnv, WsClient, backend_tests};

use crate::support::{Person, System, collect_seqs, message_added};

backend_tests!(
    message_floods_are_limited_and_refused_messages_are_not_written,
    typing_calls_are_limited,
    chat_changes_are_limited,
    without_limits_floods_go_through,
    subscriptions_per_connection_are_capped,
    connections_per_user_are_capped,
    sockets_that_never_initialise_are_closed,
    aliases_are_capped_over_the_websocket,
    a_stalled_subscriber_is_cut_off_without_delaying_others,
    a_lagging_member_who_is_removed_gets_nothing_after_the_removal,
);

/// A figure from a service's `/metrics` (`name` with its labels, if any).
async fn metric(base: &str, name: &str) -> i64 {
    let text = Gql::new(base)
        .http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Waits until `metric` reads `value`, for at most `within`.
async fn await_metric(base: &str, name: &str, value: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = metric(base, name).await;
        if now == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is {now}, not {value}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn create_message(chat: &str, content: &str, client_id: &str) -> Value {
    json!({ "input": { "chatId": chat, "content": content, "clientId": client_id } })
}

async fn message_floods_are_limited_and_refused_messages_are_not_written(env: TestEnv) {
    let system = System::with_limits(&env, Limits::on(), Limits::off()).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;

    // Far more than the burst of 50, all at once.
    let sends = (0..150).map(|i| {
        let sender = alice.senders[0].clone();
        let variables = create_message(&chat, &format!("flood {i}"), &format!("flood-{i}"));
        async move { sender.request(ops::CREATE_MESSAGE, variables).await }
    });
    let responses = futures::future::join_all(sends).await;
    let mut accepted = BTreeSet::new();
    let mut refused = 0;
    for (i, response) in responses.iter().enumerate() {
        match response.errors.first() {
            None => {
                accepted.insert(format!("flood-{i}"));
            }
            Some(error) => {
                assert_eq!(error.code.as_deref(), Some("RATE_LIMITED"), "{error:?}");
                let wait = error.raw["extensions"]["retryAfter"].as_u64();
                assert_eq!(wait, Some(1), "{error:?}");
                assert_eq!(error.raw["extensions"]["retriable"], true);
                refused += 1;
            }
        }
    }
    assert!(accepted.len() >= 50, "only {} accepted", accepted.len());
    assert!(refused > 0, "nothing was refused");

    // Exactly the accepted ones were written, with seqs and nothing else.
    let page = alice.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": chat, "limit": 200 }))
        .await;
    let stored: BTreeSet<String> = page["messages"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["clientId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, accepted);
    let chat_data = alice.receivers[0]
        .data(ops::CHAT, json!({ "id": chat }))
        .await;
    assert_eq!(chat_data["chat"]["lastSeq"], accepted.len() as i64);

    // Bob has a budget of his own; the other sender instance counts on its own.
    bob.send(&chat, "from bob", 0).await;
    alice.send(&chat, "through the other sender", 1).await;
    assert_eq!(
        metric(
            &system.senders[0],
            "chat_rate_limited_total{action=\"create_message\"}"
        )
        .await,
        refused
    );
}

async fn typing_calls_are_limited(env: TestEnv) {
    let system = System::with_limits(&env, Limits::on(), Limits::off()).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let calls = (0..30).map(|_| {
        let sender = alice.senders[0].clone();
        let chat = chat.clone();
        async move {
            sender
                .request(ops::SEND_TYPING, json!({ "chatId": chat }))
                .await
        }
    });
    let responses = futures::future::join_all(calls).await;
    let refused: Vec<_> = responses.iter().filter_map(|r| r.errors.first()).collect();
    // The burst of 10 passes, and a few more as the allowance refills.
    assert!(
        !refused.is_empty() && refused.len() <= 20,
        "{} refused",
        refused.len()
    );
    for error in refused {
        assert_eq!(error.code.as_deref(), Some("RATE_LIMITED"), "{error:?}");
        assert_eq!(error.raw["extensions"]["retryAfter"], 1);
    }
}

async fn chat_changes_are_limited(env: TestEnv) {
    let system = System::with_limits(&env, Limits::on(), Limits::off()).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let group = alice.group("Looped", &[&bob]).await;
    let mut refused = None;
    for n in 0..60 {
        let response = alice.senders[0]
            .request(
                ops::UPDATE_CHAT,
                json!({ "chatId": group, "name": format!("name {n}") }),
            )
            .await;
        if let Some(error) = response.errors.first() {
            assert_eq!(error.code.as_deref(), Some("RATE_LIMITED"), "{error:?}");
            refused = Some(n);
            break;
        }
    }
    let refused = refused.expect("60 renames in a row are never limited");
    assert!((25..=40).contains(&refused), "limited after {refused}");
    // The other sender counts on its own (limits are per instance), and the refused
    // rename changed nothing.
    let chat = alice.receivers[0]
        .data(ops::CHAT, json!({ "id": group }))
        .await;
    assert_eq!(chat["chat"]["name"], format!("name {}", refused - 1));
}

async fn without_limits_floods_go_through(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let sends = (0..150).map(|i| {
        let sender = alice.senders[0].clone();
        let variables = create_message(&chat, &format!("flood {i}"), &format!("flood-{i}"));
        async move { sender.data(ops::CREATE_MESSAGE, variables).await }
    });
    futures::future::join_all(sends).await;
    let typing = (0..30).map(|_| {
        let sender = alice.senders[0].clone();
        let chat = chat.clone();
        async move {
            sender
                .data(ops::SEND_TYPING, json!({ "chatId": chat }))
                .await
        }
    });
    futures::future::join_all(typing).await;
    // Many connections for one user are fine too.
    let mut sockets = Vec::new();
    for _ in 0..40 {
        sockets.push(alice.socket(&system, 0).await);
    }
}

/// Bob starts a direct chat with Alice: an event on her `chatAdded`.
async fn announce_chat(alice: &Person, bob: &Person) -> String {
    bob.direct_chat(alice, 0).await
}

async fn subscriptions_per_connection_are_capped(env: TestEnv) {
    // The cap on subscriptions stays even with the per-user limits off.
    let system = System::with_limits(&env, Limits::off(), Limits::off()).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let socket = alice.socket(&system, 0).await;
    let mut subscriptions: Vec<_> = (0..100)
        .map(|_| socket.subscribe(ops::CHAT_ADDED, json!({})))
        .collect();

    let mut refused = socket.subscribe(ops::CHAT_ADDED, json!({}));
    assert_eq!(refused.next_error_code().await, "RATE_LIMITED");

    // The connection stays usable: ending one subscription makes room for another.
    subscriptions.remove(0).stop();
    let mut again = socket.subscribe(ops::CHAT_ADDED, json!({}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let chat = announce_chat(&alice, &bob).await;
    assert_eq!(again.next_data().await["chatAdded"]["id"], chat.as_str());
    assert_eq!(
        subscriptions[98].next_data().await["chatAdded"]["id"],
        chat.as_str()
    );
    assert_eq!(
        metric(
            &system.receivers[0],
            "chat_ws_limited_total{reason=\"subscriptions_per_connection\"}"
        )
        .await,
        1
    );
    assert_eq!(
        metric(&system.receivers[0], "chat_subscriptions").await,
        100
    );
}

async fn connections_per_user_are_capped(env: TestEnv) {
    let system = System::with_limits(&env, Limits::off(), Limits::on()).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let mut sockets = Vec::new();
    for _ in 0..32 {
        sockets.push(alice.socket(&system, 0).await);
    }
    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        match WsClient::connect(&system.receivers[0], Some(&alice.token), protocol).await {
            Err(ConnectError::Refused(reason)) => {
                assert!(reason.contains("RATE_LIMITED"), "{protocol:?}: {reason}")
            }
            Err(other) => panic!("{protocol:?}: refused the wrong way: {other:?}"),
            Ok(_) => panic!("{protocol:?}: a 33rd connection was accepted"),
        }
    }
    // Other users, and other instances, are not affected.
    let _bob = bob.socket(&system, 0).await;
    let _elsewhere = alice.socket(&system, 1).await;

    // A closed connection gives its place back.
    sockets.pop().expect("a socket").close();
    await_metric(
        &system.receivers[0],
        "chat_ws_connections",
        32,
        Duration::from_secs(5),
    )
    .await;
    sockets.push(alice.socket(&system, 0).await);
    assert_eq!(
        metric(
            &system.receivers[0],
            "chat_ws_limited_total{reason=\"connections_per_user\"}"
        )
        .await,
        2
    );
}

async fn sockets_that_never_initialise_are_closed(env: TestEnv) {
    let mut limits = Limits::off();
    limits.ws.init_timeout = Duration::from_millis(500);
    let system = System::with_limits(&env, Limits::off(), limits).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let receiver = &system.receivers[0];

    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        let mut silent = raw_socket(receiver, protocol, None).await;
        let started = Instant::now();
        let first = tokio::time::timeout(Duration::from_secs(5), silent.next())
            .await
            .expect("closed within 5 s");
        match first {
            Some(Ok(RawMessage::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 4408, "{frame:?}");
            }
            other => panic!("{protocol:?}: expected a close frame, got {other:?}"),
        }
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
            "closed after {waited:?}"
        );
    }
    await_metric(receiver, "chat_ws_connections", 0, Duration::from_secs(5)).await;

    // A client that initialises in time stays, well past the timeout.
    let socket = alice.socket(&system, 0).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut chats = socket.subscribe(ops::CHAT_ADDED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let chat = announce_chat(&alice, &bob).await;
    assert_eq!(chats.next_data().await["chatAdded"]["id"], chat.as_str());
    assert_eq!(
        metric(receiver, "chat_ws_limited_total{reason=\"init_timeout\"}").await,
        2
    );
}

async fn aliases_are_capped_over_the_websocket(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let socket = alice.socket(&system, 0).await;
    let fields: Vec<String> = (0..31).map(|i| format!("a{i}: id")).collect();
    let query = format!("subscription {{ chatAdded {{ {} }} }}", fields.join(" "));
    let mut refused = socket.subscribe(&query, json!({}));
    assert_eq!(refused.next_error_code().await, "BAD_USER_INPUT");

    // Thirty are fine, and the connection is still usable.
    let query = format!(
        "subscription {{ chatAdded {{ {} }} }}",
        fields[..30].join(" ")
    );
    let mut allowed = socket.subscribe(&query, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let chat = announce_chat(&alice, &bob).await;
    assert_eq!(allowed.next_data().await["chatAdded"]["a29"], chat.as_str());
}

/// The stalled-subscriber test sends messages in rounds of this many until the server
/// closes the stalled connection (a few hundred fill the kernel's buffers: the send
/// buffer grows to 4 MiB by default on Linux)…
const ROUND: usize = 100;

/// A `messageAdded` subscription of `person`'s to `chat` on a socket with a tiny
/// receive buffer, which the test then stops reading (so the stall reaches the server
/// quickly).
async fn stalled_subscriber(receiver: &str, person: &Person, chat: &str) -> RawSocket {
    let mut socket = raw_socket(receiver, Protocol::TransportWs, Some(4096)).await;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", person.token) } });
    socket
        .send(RawMessage::text(init.to_string()))
        .await
        .expect("send connection_init");
    loop {
        match tokio::time::timeout(EVENT_TIMEOUT, socket.next()).await {
            Ok(Some(Ok(RawMessage::Text(text)))) if text.contains("connection_ack") => break,
            Ok(Some(Ok(_))) => {}
            other => panic!("no connection_ack: {other:?}"),
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
        "query": ops::MESSAGE_ADDED, "variables": { "chatId": chat } } });
    socket
        .send(RawMessage::text(subscribe.to_string()))
        .await
        .expect("send subscribe");
    tokio::time::sleep(Duration::from_millis(300)).await;
    socket
}
/// …but at most this many in all.
const MAX_BIG_MESSAGES: usize = 2000;

async fn a_stalled_subscriber_is_cut_off_without_delaying_others(env: TestEnv) {
    let mut limits = Limits::off();
    limits.ws.send_timeout = Duration::from_secs(1);
    let system = System::with_limits(&env, Limits::off(), limits).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let receiver = &system.receivers[0];

    // Bob reads on one connection…
    let reader_socket = bob.socket(&system, 0).await;
    let mut reader = message_added(&reader_socket, &chat, None);
    // …and on another subscribes, then never reads again (with a tiny receive buffer,
    // so the stall reaches the server quickly).
    let mut stalled = stalled_subscriber(receiver, &bob, &chat).await;
    assert_eq!(metric(receiver, "chat_ws_connections").await, 2);

    // 16 KB each (4000 four-byte characters, the longest message allowed).
    let content = "😀".repeat(4000);
    let started = Instant::now();
    let mut sent = 0;
    while metric(receiver, "chat_ws_connections").await > 1 {
        assert!(
            sent < MAX_BIG_MESSAGES,
            "the stalled connection is still open after {sent} messages"
        );
        let sends = futures::stream::iter(sent..sent + ROUND)
            .map(|i| {
                let sender = alice.senders[i % 2].clone();
                let variables = create_message(&chat, &content, &format!("big-{i}"));
                async move { sender.data(ops::CREATE_MESSAGE, variables).await }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>();
        // The reader keeps getting every message, in order, as they are sent.
        let (_, seqs) = tokio::join!(sends, collect_seqs(&mut reader, ROUND));
        let expected: Vec<i64> = (sent as i64 + 1..=(sent + ROUND) as i64).collect();
        assert_eq!(seqs, expected);
        sent += ROUND;
    }
    let closed = started.elapsed();
    // The server closed it because a write waited past the send timeout.
    assert_eq!(
        metric(receiver, "chat_ws_limited_total{reason=\"send_timeout\"}").await,
        1
    );

    // Reading again, the stalled client finds part of the messages, then the end.
    let mut received = 0;
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = stalled.next().await {
            if let RawMessage::Text(text) = message
                && text.contains("\"next\"")
            {
                received += 1;
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the stalled connection is still open");
    assert!(received < sent, "the stalled client got everything");
    eprintln!(
        "stalled subscriber: closed after {closed:?} and {sent} messages, of which it \
         had taken {received}; the reader had them all"
    );

    // The reader is still live.
    alice.send(&chat, "still there?", 0).await;
    assert_eq!(
        reader.next_data().await["messageAdded"]["seq"],
        sent as i64 + 1
    );
}

/// A member who reads too slowly is cut off by the hub (her stream then catches up from
/// the database). Removed meanwhile, she must get nothing sent after the removal: the
/// catch-up checks participation again.
async fn a_lagging_member_who_is_removed_gets_nothing_after_the_removal(env: TestEnv) {
    // A long send timeout: the socket stays open, only the hub gives up on her.
    let mut limits = Limits::off();
    limits.ws.send_timeout = Duration::from_secs(120);
    let system = System::with_limits(&env, Limits::off(), limits).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 0).await;
    let group = alice.group("fast talkers", &[&bob, &carol]).await;
    let receiver = &system.receivers[0];
    let mut stalled = stalled_subscriber(receiver, &carol, &group).await;

    let content = "😀".repeat(4000);
    let mut sent = 0;
    while metric(receiver, "chat_hub_lagged_total").await == 0 {
        assert!(
            sent < 4 * MAX_BIG_MESSAGES,
            "not cut off after {sent} messages"
        );
        futures::stream::iter(sent..sent + ROUND)
            .map(|i| {
                let sender = alice.senders[i % 2].clone();
                let variables = create_message(&group, &content, &format!("lag-{i}"));
                async move { sender.data(ops::CREATE_MESSAGE, variables).await }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        sent += ROUND;
    }
    alice.senders[1]
        .data(
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": group, "userId": carol.id }),
        )
        .await;
    alice.send(&group, "after carol left", 1).await;

    // She drains her socket: the messages from before, then a FORBIDDEN end.
    let mut received = 0;
    let mut ended_forbidden = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stalled.next()).await {
            Ok(Some(Ok(RawMessage::Text(text)))) => {
                assert!(
                    !text.contains("after carol left"),
                    "a removed member received a message sent after her removal"
                );
                if text.contains("FORBIDDEN") {
                    ended_forbidden = true;
                    break;
                }
                if text.contains("\"messageAdded\"") {
                    received += 1;
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(_) | Err(_) => break,
        }
    }
    assert!(
        ended_forbidden,
        "her subscription did not end with FORBIDDEN"
    );
    assert!(received <= sent, "{received} of {sent}");
}
