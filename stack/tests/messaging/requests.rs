//! Chat requests: a chat started by someone you have never talked with (no chat both of
//! you accepted) is a request. Until you accept it neither of you sees the other's
//! presence or typing, and your reading is not shown to them; declining a direct one
//! hides it without telling them, declining a group leaves it.

use std::time::Duration;

use chat_types::ops;
use serde_json::{Value, json};
use testkit::{TestEnv, backend_tests};

use crate::support::{Person, System};

backend_tests!(
    a_strangers_chat_is_a_request_that_shows_nothing_of_you_until_you_accept,
    people_who_have_talked_start_chats_with_each_other_at_once,
    a_declined_direct_request_is_hidden_and_its_writer_is_not_told,
    declining_a_group_request_leaves_the_group,
    only_a_request_can_be_declined_and_only_by_its_participant,
);

const QUIET: Duration = Duration::from_millis(500);

/// Whether `person` is shown as having accepted `chat`, as `viewer` reads it.
async fn accepted(viewer: &Person, chat: &str, person: &Person) -> bool {
    participant(viewer, chat, person).await["accepted"]
        .as_bool()
        .unwrap()
}

async fn participant(viewer: &Person, chat: &str, person: &Person) -> Value {
    let data = viewer.receivers[0]
        .data(ops::CHAT, json!({ "id": chat }))
        .await;
    data["chat"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user"]["id"] == person.id)
        .cloned()
        .unwrap()
}

/// The ids of the people whose presence `viewer` is shown.
async fn around(viewer: &Person) -> Vec<String> {
    let data = viewer.receivers[1].data(ops::PRESENCE, json!({})).await;
    data["presence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["userId"].as_str().unwrap().to_string())
        .collect()
}

async fn chat_ids(person: &Person) -> Vec<String> {
    let data = person.receivers[0].data(ops::CHATS, json!({})).await;
    data["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

async fn report_active(person: &Person) {
    person.senders[0]
        .data(ops::REPORT_PRESENCE, json!({ "status": "ACTIVE" }))
        .await;
}

async fn typing(person: &Person, chat: &str) {
    person.senders[1]
        .data(ops::SEND_TYPING, json!({ "chatId": chat }))
        .await;
}

async fn a_strangers_chat_is_a_request_that_shows_nothing_of_you_until_you_accept(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.request(&bo, 0).await;
    assert!(!accepted(&bo, &chat, &bo).await, "a request to him");
    assert!(!accepted(&ann, &chat, &bo).await, "and she sees it is one");
    assert!(accepted(&bo, &chat, &ann).await, "her own chat");

    // Presence: neither sees the other.
    report_active(&ann).await;
    report_active(&bo).await;
    assert!(around(&ann).await.is_empty());
    assert!(around(&bo).await.is_empty());

    // Typing: neither way.
    let (ann_socket, bo_socket) = (ann.socket(&system, 0).await, bo.socket(&system, 1).await);
    let mut to_bo = bo_socket.subscribe(ops::TYPING, json!({ "chatId": chat }));
    let mut to_ann = ann_socket.subscribe(ops::TYPING, json!({ "chatId": chat }));
    let mut reads = ann_socket.subscribe(
        ops::MESSAGE_READ_UPDATED,
        json!({ "chatId": chat, "current": true }),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    typing(&ann, &chat).await;
    typing(&bo, &chat).await;
    to_bo.expect_silence(QUIET).await;
    to_ann.expect_silence(QUIET).await;

    // Reading: his is his own. She sees her own watermark only.
    let sent = ann.send(&chat, "hello, we have not met", 0).await;
    let seq = sent["seq"].as_i64().unwrap();
    assert_eq!(
        reads.next_data().await["messageReadUpdated"]["userId"],
        ann.id
    );
    bo.mark_read(&chat, 1).await;
    reads.expect_silence(QUIET).await;
    assert_eq!(participant(&ann, &chat, &bo).await["lastReadSeq"], 0);
    let status = ann.receivers[0]
        .data(ops::MESSAGE_READ_STATUS, json!({ "messageId": sent["id"] }))
        .await;
    assert_eq!(status["messageReadStatus"]["readByCount"], 1, "only hers");
    assert_eq!(
        participant(&bo, &chat, &bo).await["lastReadSeq"],
        seq,
        "he knows what he read"
    );
    // He may answer before he accepts; the request stays one.
    bo.send(&chat, "who is this?", 1).await;
    assert!(!accepted(&ann, &chat, &bo).await);

    // He accepts: his reading shows, presence and typing flow both ways.
    bo.accept(&chat, 0).await;
    assert!(accepted(&ann, &chat, &bo).await);
    let read = reads.next_data().await["messageReadUpdated"].clone();
    assert_eq!(
        (read["userId"].as_str(), read["lastReadSeq"].as_i64()),
        (Some(bo.id.as_str()), Some(seq + 1))
    );
    assert_eq!(around(&ann).await, vec![bo.id.clone()]);
    assert_eq!(around(&bo).await, vec![ann.id.clone()]);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    typing(&ann, &chat).await;
    assert_eq!(to_bo.next_data().await["typing"]["userId"], ann.id);
    typing(&bo, &chat).await;
    assert_eq!(to_ann.next_data().await["typing"]["userId"], bo.id);
}

async fn people_who_have_talked_start_chats_with_each_other_at_once(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    ann.direct_chat(&bo, 0).await;
    // Ann and Bo have talked: her group is no request to him. Cy she has not.
    let data = ann.senders[0]
        .data(
            ops::CREATE_CHAT,
            json!({ "input": { "kind": "GROUP", "name": "plans", "participantIds": [bo.id, cy.id] } }),
        )
        .await;
    let group = data["createChat"]["id"].as_str().unwrap().to_string();
    assert!(accepted(&ann, &group, &bo).await);
    assert!(!accepted(&ann, &group, &cy).await);
    // Neither is Bo adding someone he knows to another group.
    let other = bo.group("other", &[]).await;
    bo.senders[0]
        .data(
            ops::ADD_PARTICIPANT,
            json!({ "chatId": other, "userId": ann.id }),
        )
        .await;
    assert!(accepted(&bo, &other, &ann).await);
}

async fn a_declined_direct_request_is_hidden_and_its_writer_is_not_told(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.request(&bo, 0).await;
    ann.send(&chat, "buy my course", 0).await;
    let before = participant(&ann, &chat, &bo).await;
    let his_other_tab = bo.socket(&system, 1).await;
    let mut updated = his_other_tab.subscribe(ops::CHAT_UPDATED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let declined = bo.senders[1]
        .data(ops::DECLINE_CHAT, json!({ "chatId": chat }))
        .await;
    assert_eq!(declined["declineChat"], true);
    // His other tabs drop it: it arrives as a chat he is not in, whenever it arrives.
    let update = updated.next_data().await;
    assert_eq!(update["chatUpdated"]["id"], chat.as_str());
    assert!(
        update["chatUpdated"]["participants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["user"]["id"] != bo.id.as_str()),
        "{update}"
    );
    assert!(!chat_ids(&bo).await.contains(&chat), "gone from his list");
    let counts = bo.receivers[0].data(ops::UNREAD_COUNTS, json!({})).await;
    assert!(
        counts["unreadCounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["chatId"] != chat.as_str()),
        "and from his counts"
    );
    assert_eq!(
        participant(&ann, &chat, &bo).await,
        before,
        "she sees nothing change"
    );
    // What she writes on tells him nothing: no notification, no count.
    let bo_socket = bo.socket(&system, 0).await;
    let mut told = bo_socket.subscribe(ops::CHAT_MESSAGE_NOTIFICATION, json!({}));
    let mut counts = bo_socket.subscribe(ops::UNREAD_COUNT_UPDATED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    ann.send(&chat, "hello?", 0).await;
    told.expect_silence(QUIET).await;
    counts.expect_silence(QUIET).await;
    assert!(!chat_ids(&bo).await.contains(&chat));
    // He changes his mind: starting a chat with her brings it back, accepted.
    let again = bo.request(&ann, 1).await;
    assert_eq!(again, chat);
    assert!(chat_ids(&bo).await.contains(&chat));
    assert!(accepted(&ann, &chat, &bo).await);
}

async fn declining_a_group_request_leaves_the_group(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let data = ann.senders[0]
        .data(
            ops::CREATE_CHAT,
            json!({ "input": { "kind": "GROUP", "name": "offers", "participantIds": [bo.id] } }),
        )
        .await;
    let group = data["createChat"]["id"].as_str().unwrap().to_string();
    bo.senders[0]
        .data(ops::DECLINE_CHAT, json!({ "chatId": group }))
        .await;
    assert!(!chat_ids(&bo).await.contains(&group));
    let chat = ann.receivers[0]
        .data(ops::CHAT, json!({ "id": group }))
        .await;
    assert_eq!(chat["chat"]["participants"].as_array().unwrap().len(), 1);
}

async fn only_a_request_can_be_declined_and_only_by_its_participant(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let eve = system.register("eve", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let error = bo.senders[0]
        .expect_code(
            ops::DECLINE_CHAT,
            json!({ "chatId": chat }),
            "BAD_USER_INPUT",
        )
        .await;
    assert_eq!(error.field.as_deref(), Some("chatId"));
    for document in [ops::DECLINE_CHAT, ops::ACCEPT_CHAT] {
        eve.senders[0]
            .expect_code(document, json!({ "chatId": chat }), "FORBIDDEN")
            .await;
    }
    assert!(chat_ids(&bo).await.contains(&chat));
}
