//! Mentions and muting: a mention names a member and counts until read, follows edits,
//! goes with a deleted message, is announced once to the person it names; `@all` from
//! a group's owner reaches everyone; muting a chat is one person's alone and reaches
//! their other devices.

use chat_types::ops;
use serde_json::{Value, json};
use testkit::{TestEnv, backend_tests};

use std::time::Duration;

use crate::conversation::as_listed;
use crate::support::{Person, System, message_added};

backend_tests!(
    mentions_name_members_and_count_until_read,
    mentions_follow_edits_and_go_with_a_deleted_message,
    all_mentions_everyone_when_a_groups_owner_writes_it,
    each_message_that_mentions_you_is_announced_to_you_once,
    muting_a_chat_is_yours_alone_and_reaches_your_other_devices,
);

/// `person`'s username, as the chat lists it.
async fn username(person: &Person, chat: &str) -> String {
    let chat = person.receivers[0]
        .data(ops::CHAT, json!({ "id": chat }))
        .await["chat"]
        .clone();
    chat["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user"]["id"] == person.id.as_str())
        .map(|p| p["user"]["username"].as_str().unwrap().to_string())
        .expect("a participant")
}

/// `chat` as `person`'s chat list shows it.
async fn listed(person: &Person, chat: &str) -> Value {
    let mut chats = person.receivers[1].data(ops::CHATS, json!({})).await;
    chats["chats"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["id"] == chat)
        .map(Value::take)
        .expect("the chat is listed")
}

/// The chat's `unreadMentions` for `person`, from their chat list.
async fn unread_mentions(person: &Person, chat: &str) -> i64 {
    listed(person, chat).await["unreadMentions"]
        .as_i64()
        .unwrap()
}

async fn mentions_name_members_and_count_until_read(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let dee = system.register("dee", 1).await;
    let group = ann.group("Plans", &[&bo, &cy]).await;
    let other = dee.direct_chat(&ann, 0).await;
    let (bo_name, cy_name, ann_name) = (
        username(&bo, &group).await,
        username(&cy, &group).await,
        username(&ann, &group).await,
    );
    let dee_name = username(&dee, &other).await;
    let socket = bo.socket(&system, 1).await;
    let mut live = message_added(&socket, &group, Some(0));

    // Bo by name (in capitals); Dee is not in the chat; Cy is inside code; Ann is the
    // author.
    let text = format!(
        "hey @{} and @{dee_name}, see `@{cy_name}` — @{ann_name}",
        bo_name.to_uppercase()
    );
    let sent = ann.send(&group, &text, 0).await;
    let expected = json!([{ "userId": bo.id, "username": bo_name }]);
    assert_eq!(sent["mentions"], expected);
    assert_eq!(live.next_data().await["messageAdded"]["mentions"], expected);
    assert_eq!(as_listed(&cy, &group, 1).await["mentions"], expected);

    assert_eq!(unread_mentions(&bo, &group).await, 1);
    assert_eq!(unread_mentions(&cy, &group).await, 0);
    assert_eq!(unread_mentions(&ann, &group).await, 0);
    cy.send(&group, &format!("@{bo_name} look"), 1).await;
    ann.send(&group, "no names here", 0).await;
    assert_eq!(unread_mentions(&bo, &group).await, 2);
    bo.mark_read(&group, 0).await;
    assert_eq!(unread_mentions(&bo, &group).await, 0, "reading clears them");
}

async fn mentions_follow_edits_and_go_with_a_deleted_message(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let group = ann.group("Plans", &[&bo, &cy]).await;
    let (bo_name, cy_name) = (username(&bo, &group).await, username(&cy, &group).await);
    let sent = ann.send(&group, &format!("@{bo_name} can you?"), 0).await;
    assert_eq!(unread_mentions(&bo, &group).await, 1);

    // The edit names Cy instead: Bo's mention goes, Cy's comes, on every read.
    let edited = ann.senders[1]
        .data(
            ops::UPDATE_MESSAGE,
            json!({ "id": sent["id"], "content": format!("@{cy_name} can you?") }),
        )
        .await["updateMessage"]
        .clone();
    let expected = json!([{ "userId": cy.id, "username": cy_name }]);
    assert_eq!(edited["mentions"], expected);
    assert_eq!(as_listed(&bo, &group, 1).await["mentions"], expected);
    assert_eq!(unread_mentions(&bo, &group).await, 0);
    assert_eq!(unread_mentions(&cy, &group).await, 1);

    ann.senders[0]
        .data(ops::REMOVE_MESSAGE, json!({ "id": sent["id"] }))
        .await;
    assert_eq!(
        unread_mentions(&cy, &group).await,
        0,
        "a deleted message mentions no one"
    );
}

async fn all_mentions_everyone_when_a_groups_owner_writes_it(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let group = ann.group("Plans", &[&bo, &cy]).await;
    let socket = bo.socket(&system, 1).await;
    let mut live = message_added(&socket, &group, Some(0));

    // A member's @all is text.
    let from_member = cy.send(&group, "@all lunch?", 1).await;
    assert_eq!(from_member["mentionsAll"], false);
    assert_eq!(live.next_data().await["messageAdded"]["mentionsAll"], false);
    assert_eq!(unread_mentions(&bo, &group).await, 0);

    // The owner's mentions everyone but her, on the other sender and receiver too.
    let from_owner = ann.send(&group, "@all lunch at 1", 0).await;
    assert_eq!(from_owner["mentionsAll"], true);
    assert_eq!(live.next_data().await["messageAdded"]["mentionsAll"], true);
    assert_eq!(as_listed(&cy, &group, 2).await["mentionsAll"], true);
    assert_eq!(unread_mentions(&bo, &group).await, 1);
    assert_eq!(unread_mentions(&cy, &group).await, 1);
    assert_eq!(unread_mentions(&ann, &group).await, 0, "not its author");
    bo.mark_read(&group, 1).await;
    assert_eq!(unread_mentions(&bo, &group).await, 0);

    // An edit that drops it, and one that brings it back, are counted as they are now.
    let edit = |content: &str| json!({ "id": from_owner["id"], "content": content });
    ann.senders[1]
        .data(ops::UPDATE_MESSAGE, edit("lunch at 1"))
        .await;
    assert_eq!(unread_mentions(&cy, &group).await, 0);
    let again = ann.senders[0]
        .data(ops::UPDATE_MESSAGE, edit("@all lunch at 1:30"))
        .await;
    assert_eq!(again["updateMessage"]["mentionsAll"], true);
    assert_eq!(unread_mentions(&cy, &group).await, 1);
    ann.senders[0]
        .data(ops::REMOVE_MESSAGE, json!({ "id": from_owner["id"] }))
        .await;
    assert_eq!(unread_mentions(&cy, &group).await, 0, "deleted");

    // A direct chat has no one to mention but the other person.
    let direct = ann.direct_chat(&bo, 0).await;
    assert_eq!(ann.send(&direct, "@all hi", 0).await["mentionsAll"], false);
}

/// Reads `count` events of a `mentioned` subscription; returns their `(seq, content)`,
/// in seq order (two senders' events may cross on the bus).
async fn mentions_of(
    subscription: &mut testkit::ws::Subscription,
    count: usize,
) -> Vec<(i64, String)> {
    let mut got = Vec::new();
    for _ in 0..count {
        let message = subscription.next_data().await["mentioned"].clone();
        got.push((
            message["seq"].as_i64().unwrap(),
            message["content"].as_str().unwrap().to_string(),
        ));
    }
    got.sort();
    got
}

async fn each_message_that_mentions_you_is_announced_to_you_once(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let group = ann.group("Plans", &[&bo, &cy]).await;
    let bo_name = username(&bo, &group).await;
    let (bo_socket, cy_socket, ann_socket) = (
        bo.socket(&system, 1).await,
        cy.socket(&system, 0).await,
        ann.socket(&system, 1).await,
    );
    let mut to_bo = bo_socket.subscribe(ops::MENTIONED, json!({}));
    let mut to_cy = cy_socket.subscribe(ops::MENTIONED, json!({}));
    let mut to_ann = ann_socket.subscribe(ops::MENTIONED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Through both senders, one after another: every mention arrives, none is folded
    // into a newer message as the chat list's notifications may be.
    let first = format!("@{bo_name} first");
    let second = format!("@{bo_name} second");
    ann.send(&group, &first, 0).await;
    cy.send(&group, &second, 1).await;
    let plain = ann.send(&group, "no names here", 0).await;
    ann.send(&group, "@all standup", 1).await;
    assert_eq!(
        mentions_of(&mut to_bo, 3).await,
        [(1, first), (2, second), (4, "@all standup".to_string())]
    );
    assert_eq!(
        mentions_of(&mut to_cy, 1).await,
        [(4, "@all standup".to_string())]
    );

    // An edit that adds a name counts as a mention, but is not announced again (as in
    // the chat products people know, an edit does not notify).
    ann.senders[1]
        .data(
            ops::UPDATE_MESSAGE,
            json!({ "id": plain["id"], "content": format!("@{bo_name} here") }),
        )
        .await;
    assert_eq!(unread_mentions(&bo, &group).await, 4);
    to_bo.expect_silence(Duration::from_millis(500)).await;
    to_cy.expect_silence(Duration::from_millis(100)).await;
    to_ann.expect_silence(Duration::from_millis(100)).await;
}

/// Whether `person`'s chat list shows `chat` muted.
async fn muted(person: &Person, chat: &str) -> bool {
    listed(person, chat).await["muted"].as_bool().unwrap()
}

async fn muting_a_chat_is_yours_alone_and_reaches_your_other_devices(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let other_device = ann.socket(&system, 1).await;
    let mut updates = other_device.subscribe(ops::CHAT_UPDATED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let set = |person: &Person, muted: bool| {
        let sender = person.senders[0].clone();
        let chat = chat.clone();
        async move {
            sender
                .data(
                    ops::SET_CHAT_MUTED,
                    json!({ "chatId": chat, "muted": muted }),
                )
                .await["setChatMuted"]["muted"]
                .clone()
        }
    };
    assert_eq!(set(&ann, true).await, true);
    let heard = updates.next_data().await;
    assert_eq!(
        heard["chatUpdated"]["muted"], true,
        "her other device hears of it"
    );
    assert!(muted(&ann, &chat).await);
    assert!(!muted(&bo, &chat).await, "his stays as it was");
    cy.senders[1]
        .expect_code(
            ops::SET_CHAT_MUTED,
            json!({ "chatId": chat, "muted": true }),
            "FORBIDDEN",
        )
        .await;
    assert_eq!(set(&ann, false).await, false);
    assert!(!muted(&ann, &chat).await);
}
