//! Presence: told only to the people who share a chat with you, only when it changes
//! (online, away, gone with your last connection), never while you hide it.

use std::time::Duration;

use chat_bus::BusMessage;
use chat_types::{BusEvent, Event, Topic, ops};
use serde_json::{Value, json};
use testkit::ws::Subscription;
use testkit::{Gql, TestEnv, backend_tests};

use crate::support::{Person, System};

backend_tests!(
    presence_is_told_to_the_people_around_only_when_it_changes,
    closing_the_last_connection_is_leaving,
    hidden_presence_is_never_told,
    people_in_a_chat_you_just_joined_are_told_at_once,
    only_changes_travel_on_the_bus,
);

const QUIET: Duration = Duration::from_millis(400);

async fn report(person: &Person, status: &str, instance: usize) {
    person.senders[instance]
        .data(ops::REPORT_PRESENCE, json!({ "status": status }))
        .await;
}

/// `(userId, status)` of the next change.
async fn next_change(changes: &mut Subscription) -> (String, String) {
    let change = changes.next_data().await["presenceChanged"].clone();
    (
        change["userId"].as_str().unwrap().to_string(),
        change["status"].as_str().unwrap().to_string(),
    )
}

/// `(userId, status)` of everyone `person` sees.
async fn around(person: &Person, instance: usize) -> Vec<(String, String)> {
    let data = person.receivers[instance]
        .data(ops::PRESENCE, json!({}))
        .await;
    data["presence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p: &Value| {
            (
                p["userId"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn presence_is_told_to_the_people_around_only_when_it_changes(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    ann.direct_chat(&bo, 0).await;
    let (ann_socket, cy_socket) = (ann.socket(&system, 0).await, cy.socket(&system, 1).await);
    let mut to_ann = ann_socket.subscribe(ops::PRESENCE_CHANGED, json!({}));
    let mut to_cy = cy_socket.subscribe(ops::PRESENCE_CHANGED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;

    report(&bo, "ACTIVE", 1).await;
    assert_eq!(
        next_change(&mut to_ann).await,
        (bo.id.clone(), "ACTIVE".into())
    );
    // Still here: nothing to tell.
    report(&bo, "ACTIVE", 0).await;
    to_ann.expect_silence(QUIET).await;
    report(&bo, "AWAY", 0).await;
    assert_eq!(
        next_change(&mut to_ann).await,
        (bo.id.clone(), "AWAY".into())
    );
    // Cy shares no chat with Bo: told nothing, and shown nothing.
    to_cy.expect_silence(QUIET).await;
    assert_eq!(around(&ann, 1).await, [(bo.id.clone(), "AWAY".into())]);
    assert!(around(&cy, 0).await.is_empty());

    let error = bo.senders[0]
        .expect_code(
            ops::REPORT_PRESENCE,
            json!({ "status": "OFFLINE" }),
            "BAD_USER_INPUT",
        )
        .await;
    assert_eq!(error.field.as_deref(), Some("status"));
    Gql::new(&system.senders[1])
        .expect_code(
            ops::REPORT_PRESENCE,
            json!({ "status": "ACTIVE" }),
            "UNAUTHENTICATED",
        )
        .await;
}

async fn closing_the_last_connection_is_leaving(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    ann.direct_chat(&bo, 0).await;
    let ann_socket = ann.socket(&system, 1).await;
    let mut to_ann = ann_socket.subscribe(ops::PRESENCE_CHANGED, json!({}));
    // Bo has the app open twice, on both receivers.
    let (tab, other_tab) = (bo.socket(&system, 0).await, bo.socket(&system, 1).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    report(&bo, "ACTIVE", 0).await;
    assert_eq!(
        next_change(&mut to_ann).await,
        (bo.id.clone(), "ACTIVE".into())
    );

    tab.close();
    to_ann.expect_silence(QUIET).await;
    other_tab.close();
    assert_eq!(
        next_change(&mut to_ann).await,
        (bo.id.clone(), "OFFLINE".into())
    );
    assert_eq!(around(&ann, 0).await, [(bo.id.clone(), "OFFLINE".into())]);
}

async fn hidden_presence_is_never_told(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    ann.direct_chat(&bo, 0).await;
    let ann_socket = ann.socket(&system, 0).await;
    let mut to_ann = ann_socket.subscribe(ops::PRESENCE_CHANGED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    report(&bo, "ACTIVE", 0).await;
    assert_eq!(
        next_change(&mut to_ann).await,
        (bo.id.clone(), "ACTIVE".into())
    );
    // A page opened after he came online: it has heard nothing of him yet.
    let ann_later = ann.socket(&system, 1).await;
    let mut to_ann_later = ann_later.subscribe(ops::PRESENCE_CHANGED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let users = Gql::new(&system.users[1]).with_token(&bo.token);
    let hide = |hidden: bool| {
        let users = users.clone();
        async move {
            users
                .data(ops::SET_PRESENCE_HIDDEN, json!({ "hidden": hidden }))
                .await["setPresenceHidden"]["presenceHidden"]
                .clone()
        }
    };
    assert_eq!(hide(true).await, true);
    assert_eq!(
        next_change(&mut to_ann).await,
        (bo.id.clone(), "OFFLINE".into()),
        "she sees him leave"
    );
    assert_eq!(
        next_change(&mut to_ann_later).await,
        (bo.id.clone(), "OFFLINE".into()),
        "on every page"
    );
    assert!(around(&ann, 1).await.is_empty(), "then nothing of him");
    report(&bo, "AWAY", 1).await;
    let bo_socket = bo.socket(&system, 1).await;
    bo_socket.close();
    to_ann.expect_silence(QUIET).await;

    assert_eq!(hide(false).await, false);
    assert!(
        around(&ann, 0).await.is_empty(),
        "nothing was recorded while he hid: no last-seen from then"
    );
    report(&bo, "ACTIVE", 0).await;
    assert_eq!(
        next_change(&mut to_ann).await,
        (bo.id.clone(), "ACTIVE".into())
    );
}

/// Who shares a chat with you is read as your presence stream starts and each minute
/// after; a chat you start, or someone added to a group of yours, must not wait for
/// that minute.
async fn people_in_a_chat_you_just_joined_are_told_at_once(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let dee = system.register("dee", 1).await;
    let group = cy.group("plans", &[&ann]).await;
    let ann_socket = ann.socket(&system, 0).await;
    let mut to_ann = ann_socket.subscribe(ops::PRESENCE_CHANGED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    report(&bo, "ACTIVE", 1).await;
    to_ann.expect_silence(QUIET).await;

    ann.direct_chat(&bo, 1).await;
    report(&bo, "AWAY", 0).await;
    assert_eq!(
        next_change(&mut to_ann).await,
        (bo.id.clone(), "ACTIVE".into()),
        "what he said just before, now that she may know"
    );
    assert_eq!(
        next_change(&mut to_ann).await,
        (bo.id.clone(), "AWAY".into()),
        "a chat she started"
    );

    cy.senders[0]
        .data(
            ops::ADD_PARTICIPANT,
            json!({ "chatId": group, "userId": dee.id }),
        )
        .await;
    // Cy and Dee never talked: the group is a request to her until she accepts it.
    dee.accept(&group, 1).await;
    report(&dee, "ACTIVE", 1).await;
    assert_eq!(
        next_change(&mut to_ann).await,
        (dee.id.clone(), "ACTIVE".into()),
        "someone added to her group"
    );
}

/// What the bus carries is news only: "still here" every minute from everyone is a
/// write of a last-heard time, not an event, however many reports and instances.
async fn only_changes_travel_on_the_bus(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    ann.direct_chat(&bo, 0).await;
    let (listening, mut heard) = env.instance().await.bus.subscribe();
    listening.add(&Topic::Presence).await.unwrap();

    let reports = [
        (&bo, "ACTIVE", 0),
        (&ann, "ACTIVE", 1),
        (&bo, "ACTIVE", 1),
        (&ann, "ACTIVE", 0),
        (&bo, "ACTIVE", 0),
        (&bo, "AWAY", 1),
        (&bo, "AWAY", 0),
        (&ann, "ACTIVE", 1),
        (&bo, "ACTIVE", 0),
    ];
    for (person, status, instance) in reports {
        report(person, status, instance).await;
    }
    let mut told = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(QUIET, heard.recv()).await {
        if let BusMessage::Event { payload, .. } = message
            && let Ok(BusEvent {
                event: Event::PresenceChanged(presence),
                ..
            }) = BusEvent::decode(&payload)
        {
            told.push((presence.user_id.to_string(), presence.status.as_str()));
        }
    }
    assert_eq!(
        told,
        [
            (bo.id.clone(), "active"),
            (ann.id.clone(), "active"),
            (bo.id.clone(), "away"),
            (bo.id.clone(), "active"),
        ],
        "nine reports, four changes"
    );
}
