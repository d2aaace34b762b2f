//! The whole conversation across instances.

use std::time::Duration;

use chat_types::ops;
use serde_json::json;
use testkit::{Protocol, TestEnv, WsClient, backend_tests};

use crate::support::{System, message_added};

backend_tests!(
    a_conversation_reaches_every_instance,
    the_legacy_protocol_delivers_too,
    typing_is_throttled_and_not_echoed,
    a_removed_participant_stops_receiving_at_once,
    group_management_follows_the_rules,
);

async fn a_conversation_reaches_every_instance(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;

    let bob_socket = bob.socket(&system, 1).await;
    let mut bob_chats = bob_socket.subscribe(ops::CHAT_ADDED, json!({}));
    let mut bob_unread = bob_socket.subscribe(ops::UNREAD_COUNT_UPDATED, json!({}));
    let mut bob_notifications = bob_socket.subscribe(ops::CHAT_MESSAGE_NOTIFICATION, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let chat = alice.direct_chat(&bob, 0).await;
    let added = bob_chats.next_data().await;
    assert_eq!(added["chatAdded"]["id"], chat.as_str());
    assert_eq!(added["chatAdded"]["kind"], "DIRECT");
    // Asking again gives the same chat, from either side and either sender.
    assert_eq!(bob.direct_chat(&alice, 1).await, chat);

    let mut bob_messages = message_added(&bob_socket, &chat, None);
    let alice_socket = alice.socket(&system, 0).await;
    let mut alice_reads =
        alice_socket.subscribe(ops::MESSAGE_READ_UPDATED, json!({ "chatId": chat }));
    let mut updates = [
        alice_socket.subscribe(ops::MESSAGE_UPDATED, json!({ "chatId": chat })),
        bob_socket.subscribe(ops::MESSAGE_UPDATED, json!({ "chatId": chat })),
    ];
    let mut deletes = [
        alice_socket.subscribe(ops::MESSAGE_DELETED, json!({ "chatId": chat })),
        bob_socket.subscribe(ops::MESSAGE_DELETED, json!({ "chatId": chat })),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut ids = Vec::new();
    for (i, text) in ["hi bob", "how are you?", "<script>alert(1)</script>"]
        .iter()
        .enumerate()
    {
        let sent = alice.send(&chat, text, 0).await;
        assert_eq!(sent["seq"], i as i64 + 1);
        ids.push(sent["id"].as_str().unwrap().to_string());
        let got = bob_messages.next_data().await;
        assert_eq!(got["messageAdded"]["content"], *text);
        assert_eq!(got["messageAdded"]["seq"], i as i64 + 1);
        let unread = bob_unread.next_data().await;
        assert_eq!(unread["unreadCountUpdated"]["unreadCount"], i as i64 + 1);
        let notified = bob_notifications.next_data().await;
        assert_eq!(notified["chatMessageNotification"]["id"], ids[i].as_str());
    }
    // Alice's own watermark moved with each message she sent.
    for seq in 1..=3 {
        let read = alice_reads.next_data().await;
        assert_eq!(read["messageReadUpdated"]["userId"], alice.id.as_str());
        assert_eq!(read["messageReadUpdated"]["lastReadSeq"], seq);
    }

    let marked = bob.senders[1]
        .data(ops::MARK_AS_READ, json!({ "chatId": chat }))
        .await;
    assert_eq!(marked["markAsRead"]["unreadCount"], 0);
    assert_eq!(marked["markAsRead"]["lastReadSeq"], 3);
    assert_eq!(
        bob_unread.next_data().await["unreadCountUpdated"]["unreadCount"],
        0
    );
    let read = alice_reads.next_data().await;
    assert_eq!(read["messageReadUpdated"]["userId"], bob.id.as_str());
    assert_eq!(read["messageReadUpdated"]["lastReadSeq"], 3);

    let status = alice.receivers[1]
        .data(ops::MESSAGE_READ_STATUS, json!({ "messageId": ids[0] }))
        .await;
    assert_eq!(status["messageReadStatus"]["totalParticipants"], 2);
    assert_eq!(status["messageReadStatus"]["readByCount"], 2);
    assert_eq!(status["messageReadStatus"]["isFullyRead"], true);

    // Edits and deletes go through the other sender and reach both receivers.
    alice.senders[1]
        .data(
            ops::UPDATE_MESSAGE,
            json!({ "id": ids[1], "content": "how are you doing?" }),
        )
        .await;
    for subscription in &mut updates {
        let updated = subscription.next_data().await;
        assert_eq!(updated["messageUpdated"]["content"], "how are you doing?");
        assert_eq!(updated["messageUpdated"]["isEdited"], true);
    }
    alice.senders[1]
        .data(ops::REMOVE_MESSAGE, json!({ "id": ids[2] }))
        .await;
    for subscription in &mut deletes {
        let deleted = subscription.next_data().await;
        assert_eq!(deleted["messageDeleted"]["isDeleted"], true);
        assert_eq!(deleted["messageDeleted"]["content"], "");
        assert_eq!(deleted["messageDeleted"]["seq"], 3);
    }

    // The reads agree with what was delivered.
    let chats = bob.receivers[0].data(ops::CHATS, json!({})).await;
    let listed = &chats["chats"][0];
    assert_eq!(listed["id"], chat.as_str());
    assert_eq!(listed["unreadCount"], 0);
    assert_eq!(listed["lastSeq"], 3);
    assert_eq!(listed["lastMessage"]["isDeleted"], true);
    let page = bob.receivers[1]
        .data(ops::MESSAGES, json!({ "chatId": chat }))
        .await;
    let contents: Vec<&str> = page["messages"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["hi bob", "how are you doing?", ""]);
    assert_eq!(page["messages"]["hasMore"], false);
    let older = bob.receivers[1]
        .data(
            ops::MESSAGES,
            json!({ "chatId": chat, "beforeSeq": 3, "limit": 1 }),
        )
        .await;
    assert_eq!(older["messages"]["messages"][0]["seq"], 2);
    assert_eq!(older["messages"]["hasMore"], true);
    let unread = alice.receivers[0].data(ops::UNREAD_COUNTS, json!({})).await;
    assert_eq!(unread["unreadCounts"][0]["unreadCount"], 0);
}

async fn the_legacy_protocol_delivers_too(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 0).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let legacy = WsClient::connect(&system.receivers[1], Some(&bob.token), Protocol::Legacy)
        .await
        .expect("legacy WebSocket connects");
    let mut messages = message_added(&legacy, &chat, Some(0));
    alice.send(&chat, "over the old protocol", 1).await;
    let got = messages.next_data().await;
    assert_eq!(got["messageAdded"]["content"], "over the old protocol");

    // No token, or a bad one: the connection is refused at connection_init.
    for token in [None, Some("not-a-token")] {
        assert!(
            WsClient::connect(&system.receivers[0], token, Protocol::TransportWs)
                .await
                .is_err()
        );
        assert!(
            WsClient::connect(&system.receivers[0], token, Protocol::Legacy)
                .await
                .is_err()
        );
    }
}

async fn typing_is_throttled_and_not_echoed(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let bob_socket = bob.socket(&system, 1).await;
    let alice_socket = alice.socket(&system, 0).await;
    let mut bob_typing = bob_socket.subscribe(ops::TYPING, json!({ "chatId": chat }));
    let mut alice_typing = alice_socket.subscribe(ops::TYPING, json!({ "chatId": chat }));
    tokio::time::sleep(Duration::from_millis(200)).await;

    for instance in [0, 1, 0] {
        alice.senders[instance]
            .data(ops::SEND_TYPING, json!({ "chatId": chat }))
            .await;
    }
    let typing = bob_typing.next_data().await;
    assert_eq!(typing["typing"]["userId"], alice.id.as_str());
    assert_eq!(typing["typing"]["displayName"], "alice");
    bob_typing.expect_silence(Duration::from_millis(500)).await;
    alice_typing
        .expect_silence(Duration::from_millis(100))
        .await;
}

async fn a_removed_participant_stops_receiving_at_once(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 0).await;
    let carol = system.register("carol", 1).await;
    let chat = alice.group("team", &[&bob, &carol]).await;

    let carol_socket = carol.socket(&system, 1).await;
    let mut carol_messages = message_added(&carol_socket, &chat, None);
    let mut carol_updates = carol_socket.subscribe(ops::CHAT_UPDATED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    alice.send(&chat, "before", 0).await;
    assert_eq!(
        carol_messages.next_data().await["messageAdded"]["content"],
        "before"
    );

    // Only the owner removes others.
    bob.senders[0]
        .expect_code(
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": chat, "userId": carol.id }),
            "FORBIDDEN",
        )
        .await;
    alice.senders[1]
        .data(
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": chat, "userId": carol.id }),
        )
        .await;
    assert_eq!(carol_messages.next_error_code().await, "FORBIDDEN");
    let update = carol_updates.next_data().await;
    let still_in: Vec<&str> = update["chatUpdated"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user"]["id"].as_str().unwrap())
        .collect();
    assert!(!still_in.contains(&carol.id.as_str()));

    alice.send(&chat, "after", 0).await;
    carol.receivers[1]
        .expect_code(ops::MESSAGES, json!({ "chatId": chat }), "FORBIDDEN")
        .await;
    let mut again = message_added(&carol_socket, &chat, None);
    assert_eq!(again.next_error_code().await, "FORBIDDEN");
}

async fn group_management_follows_the_rules(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 0).await;
    let carol = system.register("carol", 1).await;
    let chat = alice.group("team", &[&bob]).await;

    let carol_socket = carol.socket(&system, 0).await;
    let mut carol_added = carol_socket.subscribe(ops::CHAT_ADDED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Any member adds people; only the owner renames.
    let added = bob.senders[1]
        .data(
            ops::ADD_PARTICIPANT,
            json!({ "chatId": chat, "userId": carol.id }),
        )
        .await;
    assert_eq!(
        added["addParticipant"]["participants"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        carol_added.next_data().await["chatAdded"]["id"],
        chat.as_str()
    );
    bob.senders[0]
        .expect_code(
            ops::UPDATE_CHAT,
            json!({ "chatId": chat, "name": "mine" }),
            "FORBIDDEN",
        )
        .await;
    let renamed = alice.senders[0]
        .data(
            ops::UPDATE_CHAT,
            json!({ "chatId": chat, "name": "  renamed  " }),
        )
        .await;
    assert_eq!(renamed["updateChat"]["name"], "renamed");

    // The owner leaves: the longest-standing member takes over.
    alice.senders[0]
        .data(
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": chat, "userId": alice.id }),
        )
        .await;
    let chat_now = bob.receivers[0]
        .data(ops::CHAT, json!({ "id": chat }))
        .await;
    let roles: Vec<(&str, &str)> = chat_now["chat"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["user"]["id"].as_str().unwrap(),
                p["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [(bob.id.as_str(), "OWNER"), (carol.id.as_str(), "MEMBER")]
    );

    // Direct chats keep their two people and have no name.
    let direct = bob.direct_chat(&carol, 0).await;
    bob.senders[0]
        .expect_code(
            ops::ADD_PARTICIPANT,
            json!({ "chatId": direct, "userId": alice.id }),
            "BAD_USER_INPUT",
        )
        .await;
    bob.senders[0]
        .expect_code(
            ops::UPDATE_CHAT,
            json!({ "chatId": direct, "name": "x" }),
            "BAD_USER_INPUT",
        )
        .await;
}
