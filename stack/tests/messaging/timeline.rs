//! What a chat's timeline shows besides messages: its changes (created, renamed,
//! people added, left, removed) in order and live, pages around a seq, and the names
//! of authors who have left.

use std::time::Duration;

use chat_types::ops;
use serde_json::{Value, json};
use testkit::{TestEnv, backend_tests};

use crate::support::System;

backend_tests!(
    changes_to_a_group_are_logged_in_order_and_delivered_live,
    chat_events_resume_after_the_last_one_seen,
    a_page_around_a_seq_starts_a_little_before_it,
    pages_carry_their_authors_and_the_changes_among_them,
);

/// The kinds of the `events` of a page, or of a list of events.
fn kinds(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

async fn changes_to_a_group_are_logged_in_order_and_delivered_live(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let group = ann.group("Plans", &[&bo]).await;

    // Bo watches through the other receiver from the start.
    let socket = bo.socket(&system, 1).await;
    let mut changes = socket.subscribe(
        ops::CHAT_EVENTS,
        json!({ "chatId": group, "afterEventSeq": 0 }),
    );
    let created = changes.next_data().await;
    assert_eq!(created["chatEvents"]["kind"], "CREATED");
    assert_eq!(created["chatEvents"]["eventSeq"], 1);
    assert_eq!(created["chatEvents"]["actor"]["id"], ann.id.as_str());

    ann.send(&group, "first", 0).await;
    ann.senders[1]
        .data(
            ops::UPDATE_CHAT,
            json!({ "chatId": group, "name": "Summer plans" }),
        )
        .await;
    // Renaming to the same name again changes nothing and logs nothing.
    ann.senders[0]
        .data(
            ops::UPDATE_CHAT,
            json!({ "chatId": group, "name": "Summer plans" }),
        )
        .await;
    ann.senders[0]
        .data(
            ops::ADD_PARTICIPANT,
            json!({ "chatId": group, "userId": cy.id }),
        )
        .await;
    ann.senders[1]
        .data(
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": group, "userId": cy.id }),
        )
        .await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = changes.next_data().await["chatEvents"].clone();
        seen.push((
            event["eventSeq"].as_i64().unwrap(),
            event["kind"].as_str().unwrap().to_string(),
            event["afterSeq"].as_i64().unwrap(),
        ));
        if event["kind"] == "RENAMED" {
            assert_eq!(event["name"], "Summer plans");
        } else {
            assert_eq!(event["subject"]["id"], cy.id.as_str());
            assert_eq!(event["actor"]["id"], ann.id.as_str());
        }
    }
    assert_eq!(
        seen,
        [
            (2, "RENAMED".to_string(), 1),
            (3, "ADDED".to_string(), 1),
            (4, "REMOVED".to_string(), 1)
        ]
    );

    // Bo leaves: the last change is his own, and his stream of the chat ends.
    bo.senders[0]
        .data(
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": group, "userId": bo.id }),
        )
        .await;
    assert_eq!(changes.next_error_code().await, "FORBIDDEN");
    let chat = ann.receivers[0]
        .data(ops::CHAT, json!({ "id": group }))
        .await;
    assert_eq!(chat["chat"]["lastEventSeq"], 5);
    let page = ann.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": group }))
        .await;
    assert_eq!(
        kinds(&page["messages"]["events"]),
        ["CREATED", "RENAMED", "ADDED", "REMOVED", "LEFT"]
    );
}

async fn chat_events_resume_after_the_last_one_seen(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let group = ann.group("Resume", &[&bo]).await;
    for name in ["One", "Two", "Three"] {
        ann.senders[0]
            .data(ops::UPDATE_CHAT, json!({ "chatId": group, "name": name }))
            .await;
    }
    // Seen up to 2 (created, "One"): the rest comes first, then what happens next.
    let socket = bo.socket(&system, 0).await;
    let mut changes = socket.subscribe(
        ops::CHAT_EVENTS,
        json!({ "chatId": group, "afterEventSeq": 2 }),
    );
    for (seq, name) in [(3, "Two"), (4, "Three")] {
        let event = changes.next_data().await;
        assert_eq!(event["chatEvents"]["eventSeq"], seq);
        assert_eq!(event["chatEvents"]["name"], name);
    }
    ann.senders[1]
        .data(
            ops::UPDATE_CHAT,
            json!({ "chatId": group, "description": "what we do" }),
        )
        .await;
    let event = changes.next_data().await;
    assert_eq!(event["chatEvents"]["eventSeq"], 5);
    assert_eq!(event["chatEvents"]["kind"], "DESCRIBED");
    assert!(
        changes
            .next_event_within(Duration::from_millis(300))
            .await
            .is_none(),
        "nothing twice"
    );

    // Without afterEventSeq, only what happens from now on.
    let mut fresh = socket.subscribe(ops::CHAT_EVENTS, json!({ "chatId": group }));
    tokio::time::sleep(Duration::from_millis(200)).await;
    ann.senders[0]
        .data(ops::UPDATE_CHAT, json!({ "chatId": group, "name": "Four" }))
        .await;
    assert_eq!(fresh.next_data().await["chatEvents"]["eventSeq"], 6);

    // An outsider may not watch.
    let eve = system.register("eve", 0).await;
    let eve_socket = eve.socket(&system, 1).await;
    let mut refused = eve_socket.subscribe(ops::CHAT_EVENTS, json!({ "chatId": group }));
    assert_eq!(refused.next_error_code().await, "FORBIDDEN");
}

async fn a_page_around_a_seq_starts_a_little_before_it(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    for n in 1..=100 {
        ann.send(&chat, &format!("m{n}"), n % 2).await;
    }
    let page = bo.receivers[1]
        .data(
            ops::MESSAGES,
            json!({ "chatId": chat, "aroundSeq": 61, "limit": 20 }),
        )
        .await;
    let seqs: Vec<i64> = page["messages"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (57..=76).collect::<Vec<_>>(),
        "a fifth before, the rest from it on"
    );
    assert_eq!(page["messages"]["hasMore"], true);
    assert_eq!(page["messages"]["hasNewer"], true);

    // Near the end: what there is, and nothing newer.
    let end = bo.receivers[0]
        .data(
            ops::MESSAGES,
            json!({ "chatId": chat, "aroundSeq": 99, "limit": 20 }),
        )
        .await;
    let first = end["messages"]["messages"][0]["seq"].as_i64().unwrap();
    assert_eq!(first, 95);
    assert_eq!(end["messages"]["messages"].as_array().unwrap().len(), 6);
    assert_eq!(end["messages"]["hasNewer"], false);

    // aroundSeq with beforeSeq or afterSeq is a mistake, said plainly.
    let error = bo.receivers[0]
        .expect_code(
            ops::MESSAGES,
            json!({ "chatId": chat, "aroundSeq": 5, "afterSeq": 2 }),
            "BAD_USER_INPUT",
        )
        .await;
    assert_eq!(error.field.as_deref(), Some("aroundSeq"));
}

async fn pages_carry_their_authors_and_the_changes_among_them(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let group = ann.group("Authors", &[&bo, &cy]).await;
    for n in 1..=5 {
        bo.send(&group, &format!("bo {n}"), 0).await;
    }
    ann.senders[0]
        .data(
            ops::UPDATE_CHAT,
            json!({ "chatId": group, "name": "Renamed" }),
        )
        .await;
    for n in 6..=10 {
        cy.send(&group, &format!("cy {n}"), 1).await;
    }
    // Bo leaves; his messages keep his name.
    bo.senders[0]
        .data(
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": group, "userId": bo.id }),
        )
        .await;

    let newest = ann.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": group, "limit": 5 }))
        .await;
    let newest = &newest["messages"];
    assert_eq!(newest["hasMore"], true);
    assert_eq!(newest["hasNewer"], false);
    // Messages 6–10 and what came after them (Bo leaving); the rename sits right
    // before message 6, after message 5.
    assert_eq!(kinds(&newest["events"]), ["RENAMED", "LEFT"]);
    let names: Vec<&str> = newest["authors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(names, [cy.id.as_str()]);

    let older = ann.receivers[1]
        .data(
            ops::MESSAGES,
            json!({ "chatId": group, "beforeSeq": 6, "limit": 5 }),
        )
        .await;
    let older = &older["messages"];
    assert_eq!(older["hasMore"], false);
    assert_eq!(kinds(&older["events"]), ["CREATED", "RENAMED"]);
    assert_eq!(older["authors"][0]["id"], bo.id.as_str());
    assert_eq!(older["authors"][0]["displayName"], "bo");
    let chat = ann.receivers[1]
        .data(ops::CHAT, json!({ "id": group }))
        .await;
    let members: Vec<&str> = chat["chat"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user"]["id"].as_str().unwrap())
        .collect();
    assert!(
        !members.contains(&bo.id.as_str()),
        "bo is no longer a participant"
    );
}
