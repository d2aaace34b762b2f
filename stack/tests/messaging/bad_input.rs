//! Bad input gets a clear error and changes nothing.

use std::time::Duration;

use chat_types::ops;
use serde_json::json;
use testkit::{TestEnv, database_tests};

use crate::support::{System, collect_seqs, message_added};

database_tests!(bad_input_is_refused_and_writes_nothing);

async fn bad_input_is_refused_and_writes_nothing(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let socket = bob.socket(&system, 1).await;
    let mut messages = message_added(&socket, &chat, None);
    let mut chats = socket.subscribe(ops::CHAT_ADDED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let send = |content: String| json!({ "input": { "chatId": chat, "content": content } });
    let sender = &alice.senders[0];
    for (content, field) in [
        (String::new(), "content"),
        (" \n\t ".to_string(), "content"),
        ("x".repeat(4001), "content"),
        ("nul\0inside".to_string(), "content"),
    ] {
        let error = sender
            .expect_code(ops::CREATE_MESSAGE, send(content), "BAD_USER_INPUT")
            .await;
        assert_eq!(error.field.as_deref(), Some(field));
    }
    let error = sender
        .expect_code(
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": chat, "content": "ok", "clientId": "x".repeat(65) } }),
            "BAD_USER_INPUT",
        )
        .await;
    assert_eq!(error.field.as_deref(), Some("clientId"));
    // A chat that does not exist answers as one you are not in: a stranger learns
    // nothing about which chats exist.
    let unknown_chat = uuid::Uuid::now_v7().to_string();
    let unknown = sender
        .expect_code(
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": unknown_chat, "content": "hello?" } }),
            "FORBIDDEN",
        )
        .await;
    let not_mine = carol.senders[0]
        .expect_code(
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": chat, "content": "hello?" } }),
            "FORBIDDEN",
        )
        .await;
    assert_eq!(unknown.message, not_mine.message);
    for (query, variables) in [
        (ops::CHAT, json!({ "id": unknown_chat })),
        (ops::MESSAGES, json!({ "chatId": unknown_chat })),
    ] {
        let error = carol.receivers[0]
            .expect_code(query, variables, "FORBIDDEN")
            .await;
        assert_eq!(error.message, not_mine.message);
    }
    let error = carol.senders[1]
        .expect_code(
            ops::UPDATE_CHAT,
            json!({ "chatId": unknown_chat, "name": "x" }),
            "FORBIDDEN",
        )
        .await;
    assert_eq!(error.message, not_mine.message);
    sender
        .expect_code(
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": "not-an-id", "content": "hello?" } }),
            "BAD_USER_INPUT",
        )
        .await;
    let error = sender
        .expect_code(
            ops::CREATE_CHAT,
            json!({ "input": { "kind": "DIRECT", "participantIds": [bob.id, carol.id] } }),
            "BAD_USER_INPUT",
        )
        .await;
    assert_eq!(error.field.as_deref(), Some("participantIds"));
    sender
        .expect_code(
            ops::CREATE_CHAT,
            json!({ "input": { "kind": "GROUP", "name": "   ", "participantIds": [bob.id] } }),
            "BAD_USER_INPUT",
        )
        .await;
    sender
        .expect_code(
            ops::CREATE_CHAT,
            json!({ "input": { "kind": "GROUP", "name": "ghosts", "participantIds": [uuid::Uuid::now_v7().to_string()] } }),
            "BAD_USER_INPUT",
        )
        .await;
    sender
        .expect_code(
            ops::MARK_AS_READ,
            json!({ "chatId": chat, "upToSeq": -1 }),
            "BAD_USER_INPUT",
        )
        .await;
    bob.receivers[0]
        .expect_code(
            ops::MESSAGES,
            json!({ "chatId": chat, "limit": 201 }),
            "BAD_USER_INPUT",
        )
        .await;
    sender
        .expect_code(
            "mutation { createMessage(input: {chatId: 1}) { id } }",
            json!({}),
            "BAD_USER_INPUT",
        )
        .await;
    sender
        .expect_code("this is not graphql", json!({}), "BAD_USER_INPUT")
        .await;

    // Nothing was written and nothing announced: the first real message is seq 1, and
    // no chat was created.
    messages.expect_silence(Duration::from_millis(300)).await;
    chats.expect_silence(Duration::from_millis(100)).await;
    alice.send(&chat, "the first", 0).await;
    assert_eq!(collect_seqs(&mut messages, 1).await, [1]);
    let listed = carol.receivers[0].data(ops::CHATS, json!({})).await;
    assert!(listed["chats"].as_array().unwrap().is_empty());
}
