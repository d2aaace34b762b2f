//! Outsiders see nothing; only authors change their messages.

use std::time::Duration;

use chat_types::ops;
use serde_json::json;
use testkit::{TestEnv, backend_tests};

use crate::support::{System, message_added};

backend_tests!(
    outsiders_are_forbidden_everything,
    only_the_author_edits_or_deletes
);

async fn outsiders_are_forbidden_everything(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let message = alice.send(&chat, "private", 0).await;
    let message_id = message["id"].as_str().unwrap();

    let receiver = &carol.receivers[0];
    for (query, variables) in [
        (ops::MESSAGES, json!({ "chatId": chat })),
        (ops::CHAT, json!({ "id": chat })),
        (ops::MESSAGE, json!({ "id": message_id })),
        (ops::UNREAD_COUNT, json!({ "chatId": chat })),
        (ops::MESSAGE_READ_STATUS, json!({ "messageId": message_id })),
    ] {
        receiver.expect_code(query, variables, "FORBIDDEN").await;
    }
    let sender = &carol.senders[1];
    for (query, variables) in [
        (
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": chat, "content": "let me in" } }),
        ),
        (ops::MARK_AS_READ, json!({ "chatId": chat })),
        (ops::SEND_TYPING, json!({ "chatId": chat })),
        (
            ops::UPDATE_MESSAGE,
            json!({ "id": message_id, "content": "mine now" }),
        ),
        (ops::REMOVE_MESSAGE, json!({ "id": message_id })),
        (
            ops::ADD_PARTICIPANT,
            json!({ "chatId": chat, "userId": carol.id }),
        ),
    ] {
        sender.expect_code(query, variables, "FORBIDDEN").await;
    }
    let socket = carol.socket(&system, 1).await;
    assert_eq!(
        message_added(&socket, &chat, Some(0))
            .next_error_code()
            .await,
        "FORBIDDEN"
    );
    for query in [ops::MESSAGE_UPDATED, ops::TYPING, ops::MESSAGE_READ_UPDATED] {
        let mut subscription = socket.subscribe(query, json!({ "chatId": chat }));
        assert_eq!(subscription.next_error_code().await, "FORBIDDEN");
    }
    // Her chat list does not know the chat exists.
    let chats = receiver.data(ops::CHATS, json!({})).await;
    assert!(chats["chats"].as_array().unwrap().is_empty());

    // No session at all: unauthenticated.
    let anonymous = testkit::Gql::new(&system.receivers[0]);
    anonymous
        .expect_code(ops::CHATS, json!({}), "UNAUTHENTICATED")
        .await;
    testkit::Gql::new(&system.senders[0])
        .expect_code(
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": chat, "content": "hi" } }),
            "UNAUTHENTICATED",
        )
        .await;
}

async fn only_the_author_edits_or_deletes(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let message = alice.send(&chat, "mine", 0).await;
    let id = message["id"].as_str().unwrap();

    let socket = alice.socket(&system, 0).await;
    let mut updates = socket.subscribe(ops::MESSAGE_UPDATED, json!({ "chatId": chat }));
    let mut deletes = socket.subscribe(ops::MESSAGE_DELETED, json!({ "chatId": chat }));
    tokio::time::sleep(Duration::from_millis(200)).await;

    bob.senders[0]
        .expect_code(
            ops::UPDATE_MESSAGE,
            json!({ "id": id, "content": "his now" }),
            "FORBIDDEN",
        )
        .await;
    bob.senders[1]
        .expect_code(ops::REMOVE_MESSAGE, json!({ "id": id }), "FORBIDDEN")
        .await;
    updates.expect_silence(Duration::from_millis(300)).await;
    deletes.expect_silence(Duration::from_millis(100)).await;
    let stored = bob.receivers[1]
        .data(ops::MESSAGE, json!({ "id": id }))
        .await;
    assert_eq!(stored["message"]["content"], "mine");
    assert_eq!(stored["message"]["isEdited"], false);

    alice.senders[0]
        .data(ops::REMOVE_MESSAGE, json!({ "id": id }))
        .await;
    assert_eq!(deletes.next_data().await["messageDeleted"]["id"], id);
    // Deleting again changes nothing and announces nothing; editing a tombstone fails.
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
}
