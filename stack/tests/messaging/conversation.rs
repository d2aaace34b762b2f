//! Replies, reactions, edit history and pins: each reaches the other receiver live, is
//! replayed to whoever resumes, and a refused one writes nothing. (Mentions and muting:
//! `mentions.rs`.)

use chat_types::emoji::{MAX_REACTIONS_PER_MESSAGE, MOST_USED};
use chat_types::ops;
use serde_json::{Value, json};
use testkit::{TestEnv, backend_tests, unique};

use crate::support::{Person, System, message_added};

backend_tests!(
    a_reply_quotes_the_message_it_answers_as_it_is_now,
    replies_to_what_is_not_a_message_of_the_chat_are_refused,
    reactions_count_each_person_once_and_reach_the_other_receiver,
    a_client_that_resumes_gets_the_reactions_it_missed,
    refused_reactions_change_nothing,
    an_edited_message_keeps_its_versions_until_it_is_deleted,
    pins_are_for_a_groups_owners_and_listed_newest_first,
);

/// Sends `content` as a reply to `reply_to` through sender `instance`.
async fn reply(
    person: &Person,
    chat: &str,
    content: &str,
    reply_to: &str,
    instance: usize,
) -> Value {
    person.senders[instance]
        .data(
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": chat, "content": content, "clientId": unique("c-"), "replyTo": reply_to } }),
        )
        .await["createMessage"]
        .clone()
}

async fn react(person: &Person, message: &str, emoji: &str, add: bool, instance: usize) -> Value {
    let (op, field) = if add {
        (ops::ADD_REACTION, "addReaction")
    } else {
        (ops::REMOVE_REACTION, "removeReaction")
    };
    person.senders[instance]
        .data(op, json!({ "messageId": message, "emoji": emoji }))
        .await[field]
        .clone()
}

/// The chat's `(lastSeq, lastEventSeq)`, read through receiver 0.
async fn ends(person: &Person, chat: &str) -> (i64, i64) {
    let chat = person.receivers[0]
        .data(ops::CHAT, json!({ "id": chat }))
        .await["chat"]
        .clone();
    (
        chat["lastSeq"].as_i64().unwrap(),
        chat["lastEventSeq"].as_i64().unwrap(),
    )
}

/// A message as a page of the chat shows it now.
pub(crate) async fn as_listed(person: &Person, chat: &str, seq: i64) -> Value {
    let page = person.receivers[1]
        .data(ops::MESSAGES, json!({ "chatId": chat }))
        .await;
    page["messages"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["seq"] == seq)
        .cloned()
        .expect("the message is on the page")
}

/// `(emoji, count, userIds)` of each reaction of a message.
fn reactions(message: &Value) -> Vec<(String, i64, Vec<String>)> {
    message["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let users = r["userIds"].as_array().unwrap();
            (
                r["emoji"].as_str().unwrap().to_string(),
                r["count"].as_i64().unwrap(),
                users
                    .iter()
                    .map(|u| u.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

async fn a_reply_quotes_the_message_it_answers_as_it_is_now(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let original = ann
        .send(&chat, "Lunch tomorrow?\nSomewhere near the office", 0)
        .await;
    let socket = ann.socket(&system, 1).await;
    let mut live = message_added(&socket, &chat, Some(1));

    let answer = reply(
        &bo,
        &chat,
        "Yes, at noon",
        original["id"].as_str().unwrap(),
        1,
    )
    .await;
    let quote = &answer["replyTo"];
    assert_eq!(quote["messageId"], original["id"]);
    assert_eq!(quote["seq"], 1);
    assert_eq!(quote["senderId"], ann.id.as_str());
    assert_eq!(
        quote["excerpt"], "Lunch tomorrow?…",
        "the first line, marked as cut"
    );
    assert_eq!(quote["isDeleted"], false);
    // Live on the other receiver, and on a page, with the same quote.
    let delivered = live.next_data().await["messageAdded"].clone();
    assert_eq!(delivered["replyTo"], *quote);
    assert_eq!(as_listed(&ann, &chat, 2).await["replyTo"], *quote);

    // The quote follows the original: edited, then deleted.
    ann.senders[1]
        .data(
            ops::UPDATE_MESSAGE,
            json!({ "id": original["id"], "content": "Dinner tomorrow?" }),
        )
        .await;
    assert_eq!(
        as_listed(&bo, &chat, 2).await["replyTo"]["excerpt"],
        "Dinner tomorrow?"
    );
    ann.senders[0]
        .data(ops::REMOVE_MESSAGE, json!({ "id": original["id"] }))
        .await;
    let quote = as_listed(&bo, &chat, 2).await["replyTo"].clone();
    assert_eq!(quote["isDeleted"], true);
    assert_eq!(
        quote["excerpt"], "",
        "nothing of a deleted message is quoted"
    );
    assert_eq!(
        quote["messageId"], original["id"],
        "still says which message it was"
    );
}

async fn replies_to_what_is_not_a_message_of_the_chat_are_refused(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let ours = ann.direct_chat(&bo, 0).await;
    let theirs = bo.direct_chat(&cy, 1).await;
    let elsewhere = bo.send(&theirs, "not for Ann", 0).await;
    let here = ann.send(&ours, "hello", 0).await;
    let gone = ann.send(&ours, "soon deleted", 1).await;
    ann.senders[0]
        .data(ops::REMOVE_MESSAGE, json!({ "id": gone["id"] }))
        .await;
    let before = ends(&ann, &ours).await;

    let attempt = |reply_to: Value| json!({ "input": { "chatId": ours, "content": "re", "clientId": unique("c-"), "replyTo": reply_to } });
    for reply_to in [
        elsewhere["id"].clone(),
        json!(uuid::Uuid::now_v7().to_string()),
        gone["id"].clone(),
    ] {
        let error = ann.senders[1]
            .expect_code(ops::CREATE_MESSAGE, attempt(reply_to), "BAD_USER_INPUT")
            .await;
        assert_eq!(error.field.as_deref(), Some("replyTo"));
    }
    // Someone outside the chat learns nothing about its messages.
    cy.senders[0]
        .expect_code(
            ops::CREATE_MESSAGE,
            attempt(here["id"].clone()),
            "FORBIDDEN",
        )
        .await;
    cy.senders[0]
        .expect_code(
            ops::CREATE_MESSAGE,
            attempt(json!(uuid::Uuid::now_v7().to_string())),
            "FORBIDDEN",
        )
        .await;
    assert_eq!(ends(&ann, &ours).await, before, "nothing was written");
}

async fn reactions_count_each_person_once_and_reach_the_other_receiver(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let group = ann.group("Plans", &[&bo, &cy]).await;
    let message = ann.send(&group, "Ship it on Friday?", 0).await;
    let id = message["id"].as_str().unwrap();
    let (_, start) = ends(&ann, &group).await;
    let socket = bo.socket(&system, 1).await;
    let mut changes = socket.subscribe(
        ops::CHAT_EVENTS,
        json!({ "chatId": group, "afterEventSeq": start }),
    );

    react(&ann, id, "👍", true, 0).await;
    let again = react(&ann, id, "👍", true, 1).await;
    assert_eq!(
        reactions(&again),
        [("👍".into(), 1, vec![ann.id.clone()])],
        "adding twice is one"
    );
    react(&bo, id, "👍", true, 1).await;
    let last = react(&cy, id, "🎉", true, 0).await;
    let expected = vec![
        ("👍".to_string(), 2, vec![ann.id.clone(), bo.id.clone()]),
        ("🎉".to_string(), 1, vec![cy.id.clone()]),
    ];
    assert_eq!(reactions(&last), expected);

    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = changes.next_data().await["chatEvents"].clone();
        assert_eq!(event["message"]["id"], id);
        seen.push((
            event["eventSeq"].as_i64().unwrap() - start,
            event["kind"].as_str().unwrap().to_string(),
            event["emoji"].as_str().unwrap().to_string(),
            event["actor"]["id"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(
        seen,
        [
            (1, "REACTED".into(), "👍".into(), ann.id.clone()),
            (2, "REACTED".into(), "👍".into(), bo.id.clone()),
            (3, "REACTED".into(), "🎉".into(), cy.id.clone()),
        ],
        "one event per change, none for the repeat"
    );

    let taken_back = react(&ann, id, "👍", false, 1).await;
    assert_eq!(
        reactions(&taken_back)[0],
        ("👍".into(), 1, vec![bo.id.clone()])
    );
    react(&ann, id, "👍", false, 0).await;
    let event = changes.next_data().await["chatEvents"].clone();
    assert_eq!(event["kind"], "UNREACTED");
    assert_eq!(event["eventSeq"].as_i64().unwrap() - start, 4);
    assert_eq!(
        ends(&ann, &group).await.1,
        start + 4,
        "taking back twice is once"
    );
    assert_eq!(
        reactions(&as_listed(&cy, &group, 1).await),
        reactions(&taken_back)
    );

    // Deleting the message takes its reactions with it.
    ann.senders[0]
        .data(ops::REMOVE_MESSAGE, json!({ "id": id }))
        .await;
    assert!(reactions(&as_listed(&bo, &group, 1).await).is_empty());
}

async fn a_client_that_resumes_gets_the_reactions_it_missed(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let first = ann.send(&chat, "one", 0).await;
    let second = bo.send(&chat, "two", 1).await;
    let (_, seen) = ends(&bo, &chat).await;

    // While Bo is away.
    react(&ann, first["id"].as_str().unwrap(), "❤️", true, 1).await;
    react(&ann, second["id"].as_str().unwrap(), "😂", true, 0).await;
    react(&ann, first["id"].as_str().unwrap(), "❤️", false, 0).await;

    let socket = bo.socket(&system, 0).await;
    let mut resumed = socket.subscribe(
        ops::CHAT_EVENTS,
        json!({ "chatId": chat, "afterEventSeq": seen }),
    );
    let mut missed = Vec::new();
    for _ in 0..3 {
        let event = resumed.next_data().await["chatEvents"].clone();
        missed.push((
            event["kind"].as_str().unwrap().to_string(),
            event["message"]["seq"].as_i64().unwrap(),
            event["emoji"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(
        missed,
        [
            ("REACTED".into(), 1, "❤️".into()),
            ("REACTED".into(), 2, "😂".into()),
            ("UNREACTED".into(), 1, "❤️".into()),
        ]
    );
}

async fn refused_reactions_change_nothing(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let message = ann.send(&chat, "react to me", 0).await;
    let id = message["id"].as_str().unwrap();
    let gone = ann.send(&chat, "soon deleted", 0).await;
    ann.senders[0]
        .data(ops::REMOVE_MESSAGE, json!({ "id": gone["id"] }))
        .await;
    let before = ends(&ann, &chat).await;
    let vars = |message: &str, emoji: &str| json!({ "messageId": message, "emoji": emoji });

    for emoji in ["x", "👍👍", "<img src=x onerror=alert(1)>", ""] {
        let error = bo.senders[0]
            .expect_code(ops::ADD_REACTION, vars(id, emoji), "BAD_USER_INPUT")
            .await;
        assert_eq!(error.field.as_deref(), Some("emoji"), "{emoji:?}");
    }
    cy.senders[1]
        .expect_code(ops::ADD_REACTION, vars(id, "👍"), "FORBIDDEN")
        .await;
    cy.senders[1]
        .expect_code(ops::REMOVE_REACTION, vars(id, "👍"), "FORBIDDEN")
        .await;
    bo.senders[1]
        .expect_code(
            ops::ADD_REACTION,
            vars(&uuid::Uuid::now_v7().to_string(), "👍"),
            "NOT_FOUND",
        )
        .await;
    bo.senders[1]
        .expect_code(
            ops::ADD_REACTION,
            vars(gone["id"].as_str().unwrap(), "👍"),
            "BAD_USER_INPUT",
        )
        .await;
    assert_eq!(ends(&ann, &chat).await, before, "nothing was logged");

    // At most twenty different emoji on one message; more of one already there is fine.
    for (emoji, _) in &MOST_USED[..MAX_REACTIONS_PER_MESSAGE] {
        react(&bo, id, emoji, true, 0).await;
    }
    let full = ends(&ann, &chat).await;
    let error = ann.senders[1]
        .expect_code(
            ops::ADD_REACTION,
            vars(id, MOST_USED[MAX_REACTIONS_PER_MESSAGE].0),
            "BAD_USER_INPUT",
        )
        .await;
    assert_eq!(error.field.as_deref(), Some("emoji"));
    assert_eq!(ends(&ann, &chat).await, full);
    let more = react(&ann, id, MOST_USED[0].0, true, 1).await;
    assert_eq!(reactions(&more).len(), MAX_REACTIONS_PER_MESSAGE);
    assert_eq!(reactions(&more)[0].1, 2);
}

async fn an_edited_message_keeps_its_versions_until_it_is_deleted(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let message = ann.send(&chat, "Meet at 6", 0).await;
    let untouched = ann.send(&chat, "See you", 0).await;
    for (content, instance) in [("Meet at 7", 1), ("Meet at 7:30", 0)] {
        ann.senders[instance]
            .data(
                ops::UPDATE_MESSAGE,
                json!({ "id": message["id"], "content": content }),
            )
            .await;
    }
    let history = |person: &Person, id: &Value| {
        let receiver = person.receivers[1].clone();
        let id = id.clone();
        async move {
            receiver
                .data(ops::MESSAGE_HISTORY, json!({ "messageId": id }))
                .await["messageHistory"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let versions = history(&bo, &message["id"]).await;
    let contents: Vec<&str> = versions
        .iter()
        .map(|v| v["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["Meet at 6", "Meet at 7", "Meet at 7:30"]);
    assert_eq!(
        versions[0]["at"], message["createdAt"],
        "the first is as sent"
    );
    assert!(
        history(&bo, &untouched["id"]).await.is_empty(),
        "never edited"
    );
    cy.receivers[0]
        .expect_code(
            ops::MESSAGE_HISTORY,
            json!({ "messageId": message["id"] }),
            "FORBIDDEN",
        )
        .await;

    ann.senders[1]
        .data(ops::REMOVE_MESSAGE, json!({ "id": message["id"] }))
        .await;
    assert!(
        history(&bo, &message["id"]).await.is_empty(),
        "a deleted message's earlier versions go with it"
    );
}

/// The ids of the chat's pinned messages, as `person` reads them through receiver 0.
async fn pinned(person: &Person, chat: &str) -> Vec<String> {
    person.receivers[0]
        .data(ops::PINNED_MESSAGES, json!({ "chatId": chat }))
        .await["pinnedMessages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

async fn pins_are_for_a_groups_owners_and_listed_newest_first(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let group = ann.group("Plans", &[&bo]).await;
    let first = ann.send(&group, "The plan", 0).await;
    let second = bo.send(&group, "The budget", 1).await;
    let ids = |m: &Value| m["id"].as_str().unwrap().to_string();
    let pin = |id: String| json!({ "messageId": id });
    let (_, start) = ends(&ann, &group).await;
    let socket = bo.socket(&system, 1).await;
    let mut changes = socket.subscribe(
        ops::CHAT_EVENTS,
        json!({ "chatId": group, "afterEventSeq": start }),
    );

    // A member who is not an owner, and an outsider, are refused; nothing is logged.
    bo.senders[0]
        .expect_code(ops::PIN_MESSAGE, pin(ids(&first)), "FORBIDDEN")
        .await;
    cy.senders[0]
        .expect_code(ops::PIN_MESSAGE, pin(ids(&first)), "FORBIDDEN")
        .await;
    cy.receivers[1]
        .expect_code(
            ops::PINNED_MESSAGES,
            json!({ "chatId": group }),
            "FORBIDDEN",
        )
        .await;
    assert_eq!(ends(&ann, &group).await.1, start);

    let pinned_now = ann.senders[1]
        .data(ops::PIN_MESSAGE, pin(ids(&first)))
        .await;
    assert!(pinned_now["pinMessage"]["pinnedAt"].is_string());
    ann.senders[0]
        .data(ops::PIN_MESSAGE, pin(ids(&second)))
        .await;
    ann.senders[0]
        .data(ops::PIN_MESSAGE, pin(ids(&first)))
        .await;
    assert_eq!(
        ends(&ann, &group).await.1,
        start + 2,
        "pinning twice is once"
    );
    for expected in [&first, &second] {
        let event = changes.next_data().await["chatEvents"].clone();
        assert_eq!(event["kind"], "PINNED");
        assert_eq!(event["message"]["id"], expected["id"]);
        assert!(event["message"]["pinnedAt"].is_string());
    }
    assert_eq!(pinned(&bo, &group).await, [ids(&second), ids(&first)]);

    ann.senders[1]
        .data(ops::UNPIN_MESSAGE, pin(ids(&first)))
        .await;
    let event = changes.next_data().await["chatEvents"].clone();
    assert_eq!(event["kind"], "UNPINNED");
    assert!(event["message"]["pinnedAt"].is_null());
    assert_eq!(pinned(&bo, &group).await, [ids(&second)]);

    // A deleted message is unpinned with it, and cannot be pinned again.
    bo.senders[0]
        .data(ops::REMOVE_MESSAGE, json!({ "id": second["id"] }))
        .await;
    assert!(pinned(&ann, &group).await.is_empty());
    let error = ann.senders[0]
        .expect_code(ops::PIN_MESSAGE, pin(ids(&second)), "BAD_USER_INPUT")
        .await;
    assert_eq!(error.field.as_deref(), Some("messageId"));

    // In a direct chat either person pins.
    let direct = ann.direct_chat(&bo, 0).await;
    let hello = ann.send(&direct, "hello", 0).await;
    bo.senders[1].data(ops::PIN_MESSAGE, pin(ids(&hello))).await;
    assert_eq!(pinned(&ann, &direct).await, [ids(&hello)]);
}
