//! Outsiders see nothing and change nothing; only authors change their messages and
//! only owners manage their groups; anonymous callers get nowhere, over HTTP or
//! WebSocket, on any instance. (Sessions and tokens: `sessions.rs`.)

use std::time::Duration;

use chat_types::ops;
use serde_json::{Value, json};
use testkit::ws::Subscription;
use testkit::{Gql, Protocol, TestEnv, WsClient, backend_tests, unique};

use crate::support::{Person, System};

backend_tests!(
    outsiders_are_forbidden_everything,
    outsiders_change_nothing_and_hear_nothing,
    anonymous_callers_are_unauthenticated_everywhere,
    only_the_author_edits_or_deletes,
    members_cannot_act_as_the_owner,
    former_participants_lose_everything,
    client_ids_never_reach_across_users,
);

/// Every query of the receiver that names a chat or a message, for `chat` and
/// `message`.
fn chat_queries(chat: &str, message: &str) -> Vec<(&'static str, Value)> {
    vec![
        (ops::CHAT, json!({ "id": chat })),
        (ops::MESSAGES, json!({ "chatId": chat })),
        (
            ops::MESSAGES,
            json!({ "chatId": chat, "afterSeq": 0, "limit": 1 }),
        ),
        (ops::MESSAGE, json!({ "id": message })),
        (ops::UNREAD_COUNT, json!({ "chatId": chat })),
        (ops::MESSAGE_READ_STATUS, json!({ "messageId": message })),
    ]
}

/// Every mutation of the sender that names a chat or a message, as `caller` would send
/// it against `chat`, its `message` and its participant `member`.
fn chat_mutations(
    chat: &str,
    message: &str,
    caller: &str,
    member: &str,
) -> Vec<(&'static str, Value)> {
    vec![
        (
            ops::UPDATE_CHAT,
            json!({ "chatId": chat, "name": "taken over", "description": "pwned" }),
        ),
        (
            ops::ADD_PARTICIPANTS,
            json!({ "chatId": chat, "userIds": [caller] }),
        ),
        (
            ops::ADD_PARTICIPANT,
            json!({ "chatId": chat, "userId": caller }),
        ),
        (
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": chat, "userId": member }),
        ),
        (
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": chat, "userId": caller }),
        ),
        (
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": chat, "content": "let me in" } }),
        ),
        (
            ops::UPDATE_MESSAGE,
            json!({ "id": message, "content": "mine now" }),
        ),
        (ops::REMOVE_MESSAGE, json!({ "id": message })),
        (ops::MARK_AS_READ, json!({ "chatId": chat })),
        (ops::MARK_AS_READ, json!({ "chatId": chat, "upToSeq": 1 })),
        (ops::SEND_TYPING, json!({ "chatId": chat })),
    ]
}

/// The subscriptions scoped to one chat.
const CHAT_SUBSCRIPTIONS: [&str; 5] = [
    ops::MESSAGE_ADDED,
    ops::MESSAGE_UPDATED,
    ops::MESSAGE_DELETED,
    ops::MESSAGE_READ_UPDATED,
    ops::TYPING,
];

/// The subscriptions scoped to the caller.
const USER_SUBSCRIPTIONS: [&str; 5] = [
    ops::CHAT_ADDED,
    ops::CHAT_UPDATED,
    ops::UNREAD_COUNT_UPDATED,
    ops::CHAT_MESSAGE_NOTIFICATION,
    ops::MENTIONED,
];

/// A group of Alice (owner) and Bob, and their direct chat, each with one message of
/// Alice's.
struct Chats {
    group: String,
    group_message: String,
    direct: String,
    direct_message: String,
}

async fn chats(alice: &Person, bob: &Person) -> Chats {
    let group = alice.group("inner circle", &[bob]).await;
    let group_message = alice.send(&group, "group secret", 0).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let direct = alice.direct_chat(bob, 1).await;
    let direct_message = alice.send(&direct, "direct secret", 1).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    Chats {
        group,
        group_message,
        direct,
        direct_message,
    }
}

async fn outsiders_are_forbidden_everything(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 1).await;
    let chats = chats(&alice, &bob).await;

    for (chat, message) in [
        (&chats.group, &chats.group_message),
        (&chats.direct, &chats.direct_message),
    ] {
        for receiver in &carol.receivers {
            for (query, variables) in chat_queries(chat, message) {
                let response = receiver.request(query, variables.clone()).await;
                let code = response.errors.first().and_then(|e| e.code.as_deref());
                assert_eq!(code, Some("FORBIDDEN"), "{query} {variables}: {response:?}");
                // Never a partial answer next to the error.
                let data = &response.data;
                assert!(
                    data.is_null() || data.as_object().unwrap().values().all(Value::is_null),
                    "{query}: {data}"
                );
            }
        }
        for sender in &carol.senders {
            for (query, variables) in chat_mutations(chat, message, &carol.id, &bob.id) {
                let error = sender.error(query, variables.clone()).await;
                assert_eq!(
                    error.code.as_deref(),
                    Some("FORBIDDEN"),
                    "{query} {variables}: {error:?}"
                );
            }
        }
        for instance in 0..2 {
            let socket = carol.socket(&system, instance).await;
            for query in CHAT_SUBSCRIPTIONS {
                let mut subscription =
                    socket.subscribe(query, json!({ "chatId": chat, "afterSeq": 0 }));
                assert_eq!(subscription.next_error_code().await, "FORBIDDEN", "{query}");
            }
        }
    }
    // Her lists do not know the chats exist.
    for receiver in &carol.receivers {
        let listed = receiver.data(ops::CHATS, json!({})).await;
        assert_eq!(listed["chats"], json!([]));
        let unread = receiver.data(ops::UNREAD_COUNTS, json!({})).await;
        assert_eq!(unread["unreadCounts"], json!([]));
    }
}

/// Asserts that none of `subscriptions` hears anything for a while.
async fn all_silent(subscriptions: &mut [Subscription], quiet: Duration) {
    for subscription in subscriptions.iter_mut() {
        subscription.expect_silence(quiet).await;
    }
}

async fn outsiders_change_nothing_and_hear_nothing(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 0).await;
    let chats = chats(&alice, &bob).await;
    let before = |person: &Person, chat: &str| {
        let receiver = person.receivers[0].clone();
        let chat = chat.to_string();
        async move {
            let chat_data = receiver.data(ops::CHAT, json!({ "id": chat })).await;
            let messages = receiver
                .data(ops::MESSAGES, json!({ "chatId": chat }))
                .await;
            (chat_data, messages)
        }
    };
    let group_before = before(&bob, &chats.group).await;
    let direct_before = before(&bob, &chats.direct).await;

    // Bob listens to everything he can about both chats.
    let socket = bob.socket(&system, 1).await;
    let mut watching = Vec::new();
    for chat in [&chats.group, &chats.direct] {
        for query in CHAT_SUBSCRIPTIONS {
            watching.push(socket.subscribe(query, json!({ "chatId": chat })));
        }
    }
    for query in USER_SUBSCRIPTIONS {
        watching.push(socket.subscribe(query, json!({})));
    }
    // Carol listens to what is hers: it must stay quiet while Alice and Bob talk.
    let carol_socket = carol.socket(&system, 0).await;
    let mut carol_hears: Vec<Subscription> = USER_SUBSCRIPTIONS
        .iter()
        .map(|query| carol_socket.subscribe(query, json!({})))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    for (chat, message) in [
        (&chats.group, &chats.group_message),
        (&chats.direct, &chats.direct_message),
    ] {
        for (i, (query, variables)) in chat_mutations(chat, message, &carol.id, &alice.id)
            .into_iter()
            .enumerate()
        {
            carol.senders[i % 2]
                .expect_code(query, variables, "FORBIDDEN")
                .await;
        }
    }
    all_silent(&mut watching, Duration::from_millis(100)).await;
    assert_eq!(before(&bob, &chats.group).await, group_before);
    assert_eq!(before(&bob, &chats.direct).await, direct_before);
    let unread = bob.receivers[1]
        .data(ops::UNREAD_COUNT, json!({ "chatId": chats.group }))
        .await;
    assert_eq!(unread["unreadCount"], 1);

    // The chats live on without her hearing of it: a message, a rename, a read, typing.
    alice.send(&chats.group, "still private", 0).await;
    alice.senders[1]
        .data(
            ops::UPDATE_CHAT,
            json!({ "chatId": chats.group, "name": "renamed" }),
        )
        .await;
    alice.senders[0]
        .data(ops::SEND_TYPING, json!({ "chatId": chats.direct }))
        .await;
    bob.senders[0]
        .data(ops::MARK_AS_READ, json!({ "chatId": chats.group }))
        .await;
    // Bob hears it all (so the subscriptions above were live)…
    assert_eq!(
        watching[0].next_data().await["messageAdded"]["content"],
        "still private"
    );
    // …Carol nothing.
    all_silent(&mut carol_hears, Duration::from_millis(300)).await;
}

async fn anonymous_callers_are_unauthenticated_everywhere(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chats = chats(&alice, &bob).await;

    for instance in 0..2 {
        let receiver = Gql::new(&system.receivers[instance]);
        let mut queries = chat_queries(&chats.group, &chats.group_message);
        queries.push((ops::CHATS, json!({})));
        queries.push((ops::UNREAD_COUNTS, json!({})));
        for (query, variables) in queries {
            let response = receiver.request(query, variables).await;
            let code = response.errors.first().and_then(|e| e.code.as_deref());
            assert_eq!(code, Some("UNAUTHENTICATED"), "{query}: {response:?}");
            assert!(
                response.data.is_null()
                    || response
                        .data
                        .as_object()
                        .unwrap()
                        .values()
                        .all(Value::is_null),
                "{query}: {}",
                response.data
            );
        }
        let sender = Gql::new(&system.senders[instance]);
        let mut mutations = chat_mutations(&chats.group, &chats.group_message, &bob.id, &bob.id);
        mutations.push((
            ops::CREATE_CHAT,
            json!({ "input": { "kind": "DIRECT", "participantIds": [alice.id] } }),
        ));
        for (query, variables) in mutations {
            sender
                .expect_code(query, variables, "UNAUTHENTICATED")
                .await;
        }
        let user = Gql::new(&system.users[instance]);
        for (query, variables) in [
            (ops::ME, json!({})),
            (ops::USER, json!({ "id": alice.id })),
            (ops::USERS, json!({})),
            (ops::LOGOUT, json!({})),
            (ops::UPDATE_PROFILE, json!({ "displayName": "x" })),
            (
                ops::CHANGE_PASSWORD,
                json!({ "currentPassword": "correct horse battery", "newPassword": "another one!" }),
            ),
            (
                ops::DEACTIVATE_ACCOUNT,
                json!({ "password": "correct horse battery" }),
            ),
        ] {
            user.expect_code(query, variables, "UNAUTHENTICATED").await;
        }

        // A socket without a session is refused at `connection_init`, on either protocol.
        for protocol in [Protocol::TransportWs, Protocol::Legacy] {
            match WsClient::connect(&system.receivers[instance], None, protocol).await {
                Err(testkit::ws::ConnectError::Refused(reason)) => {
                    assert!(reason.contains("UNAUTHENTICATED"), "{reason}")
                }
                Err(other) => panic!("unexpected refusal: {other:?}"),
                Ok(_) => panic!("an anonymous socket was accepted ({protocol:?})"),
            }
        }
    }
    // Nothing happened to the chat.
    let page = bob.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": chats.group }))
        .await;
    assert_eq!(page["messages"]["messages"].as_array().unwrap().len(), 1);
}

async fn only_the_author_edits_or_deletes(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 0).await;
    let direct = alice.direct_chat(&bob, 0).await;
    let group = alice.group("three", &[&bob, &carol]).await;

    for chat in [direct, group] {
        let message = alice.send(&chat, "mine", 0).await;
        let id = message["id"].as_str().unwrap();

        let socket = alice.socket(&system, 0).await;
        let mut updates = socket.subscribe(ops::MESSAGE_UPDATED, json!({ "chatId": chat }));
        let mut deletes = socket.subscribe(ops::MESSAGE_DELETED, json!({ "chatId": chat }));
        tokio::time::sleep(Duration::from_millis(200)).await;

        for sender in &bob.senders {
            sender
                .expect_code(
                    ops::UPDATE_MESSAGE,
                    json!({ "id": id, "content": "his now" }),
                    "FORBIDDEN",
                )
                .await;
            sender
                .expect_code(ops::REMOVE_MESSAGE, json!({ "id": id }), "FORBIDDEN")
                .await;
        }
        updates.expect_silence(Duration::from_millis(300)).await;
        deletes.expect_silence(Duration::from_millis(100)).await;
        let stored = bob.receivers[1]
            .data(ops::MESSAGE, json!({ "id": id }))
            .await;
        assert_eq!(stored["message"]["content"], "mine");
        assert_eq!(stored["message"]["isEdited"], false);
        assert_eq!(stored["message"]["isDeleted"], false);

        alice.senders[0]
            .data(ops::REMOVE_MESSAGE, json!({ "id": id }))
            .await;
        assert_eq!(deletes.next_data().await["messageDeleted"]["id"], id);
        // Deleting again changes nothing and announces nothing; editing a tombstone
        // fails, and others still may not touch it.
        alice.senders[1]
            .data(ops::REMOVE_MESSAGE, json!({ "id": id }))
            .await;
        deletes.expect_silence(Duration::from_millis(300)).await;
        alice.senders[0]
            .expect_code(
                ops::UPDATE_MESSAGE,
                json!({ "id": id, "content": "back" }),
                "BAD_USER_INPUT",
            )
            .await;
        bob.senders[0]
            .expect_code(ops::REMOVE_MESSAGE, json!({ "id": id }), "FORBIDDEN")
            .await;
    }
}

async fn members_cannot_act_as_the_owner(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 0).await;
    let group = alice.group("owned", &[&bob, &carol]).await;
    let before = alice.receivers[0]
        .data(ops::CHAT, json!({ "id": group }))
        .await;

    for sender in &bob.senders {
        for variables in [
            json!({ "chatId": group, "name": "bob's now" }),
            json!({ "chatId": group, "description": "bob's now" }),
        ] {
            sender
                .expect_code(ops::UPDATE_CHAT, variables, "FORBIDDEN")
                .await;
        }
        for victim in [&alice.id, &carol.id] {
            sender
                .expect_code(
                    ops::REMOVE_PARTICIPANT,
                    json!({ "chatId": group, "userId": victim }),
                    "FORBIDDEN",
                )
                .await;
        }
    }
    let after = alice.receivers[1]
        .data(ops::CHAT, json!({ "id": group }))
        .await;
    assert_eq!(after, before);
}

async fn former_participants_lose_everything(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 0).await;
    let group = alice.group("was three", &[&bob, &carol]).await;
    let hers = carol.send(&group, "carol was here", 1).await;
    let hers = hers["id"].as_str().unwrap();
    alice.senders[0]
        .data(
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": group, "userId": carol.id }),
        )
        .await;

    // Her own message included: she may read, change or delete nothing, and may not
    // add herself back.
    for receiver in &carol.receivers {
        for (query, variables) in chat_queries(&group, hers) {
            receiver.expect_code(query, variables, "FORBIDDEN").await;
        }
    }
    for sender in &carol.senders {
        for (query, variables) in chat_mutations(&group, hers, &carol.id, &bob.id) {
            sender.expect_code(query, variables, "FORBIDDEN").await;
        }
    }
    let socket = carol.socket(&system, 0).await;
    for query in CHAT_SUBSCRIPTIONS {
        let mut subscription = socket.subscribe(query, json!({ "chatId": group }));
        assert_eq!(subscription.next_error_code().await, "FORBIDDEN", "{query}");
    }
    let stored = bob.receivers[0]
        .data(ops::MESSAGE, json!({ "id": hers }))
        .await;
    assert_eq!(stored["message"]["content"], "carol was here");
    let chat = bob.receivers[1]
        .data(ops::CHAT, json!({ "id": group }))
        .await;
    assert_eq!(chat["chat"]["participants"].as_array().unwrap().len(), 2);
}

async fn client_ids_never_reach_across_users(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 0).await;
    let chat = alice.group("keys", &[&bob]).await;
    let key = unique("key-");
    let create = |person: &Person, content: &str| {
        let sender = person.senders[0].clone();
        let variables = json!({ "input": { "chatId": chat, "content": content, "clientId": key } });
        async move { sender.request(ops::CREATE_MESSAGE, variables).await }
    };
    let first = create(&alice, "alice's").await;
    let first = &first.data["createMessage"];
    assert_eq!(first["content"], "alice's");

    // An outsider who knows (or guesses) the key learns nothing from it.
    let stolen = create(&carol, "carol's").await;
    assert_eq!(
        stolen.errors[0].code.as_deref(),
        Some("FORBIDDEN"),
        "{stolen:?}"
    );
    assert!(stolen.data.is_null() || stolen.data["createMessage"].is_null());
    // Another participant's same key is another message, his own.
    let reused = create(&bob, "bob's").await;
    let reused = &reused.data["createMessage"];
    assert_ne!(reused["id"], first["id"]);
    assert_eq!(reused["content"], "bob's");
    assert_eq!(reused["senderId"], bob.id.as_str());
    assert_eq!(reused["seq"], 2);
}
