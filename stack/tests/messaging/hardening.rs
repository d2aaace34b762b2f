//! Hardening, round two: what a hostile signed-in user could still do, each refused.

use std::time::Duration;

use chat_types::ops;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use testkit::{TestEnv, database_tests};

use crate::support::System;

database_tests!(
    reusing_a_client_id_for_other_text_is_a_conflict,
    a_message_waiting_behind_a_removal_is_refused,
    an_author_removed_meanwhile_cannot_edit_or_delete,
    the_group_cap_holds_when_people_are_added_at_once,
    a_flood_of_readiness_probes_costs_one_check,
    a_change_to_a_big_group_tells_each_member_briefly,
    a_stranger_subscribing_costs_the_receiver_no_bus_subscription,
    in_production_graphiql_introspection_and_public_metrics_are_off,
);

/// A removal of `user` from `chat` that holds the chat's lock, as removeParticipant
/// does, until the returned transaction is committed. PostgreSQL only: SQLite has one
/// writer, so nothing runs alongside a removal there.
async fn removal_in_flight(env: &TestEnv, chat: &str, user: &str) -> Option<PgConnection> {
    if !env.backend.is_postgres() {
        return None;
    }
    let mut conn = PgConnection::connect(&env.database_url).await.unwrap();
    let (chat, user) = (uuid(chat), uuid(user));
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("SELECT id FROM chats WHERE id = $1 FOR UPDATE")
        .bind(chat)
        .execute(&mut conn)
        .await
        .unwrap();
    for delete in [
        "DELETE FROM chat_participants WHERE chat_id = $1 AND user_id = $2",
        "DELETE FROM message_reads WHERE chat_id = $1 AND user_id = $2",
    ] {
        sqlx::query(delete)
            .bind(chat)
            .bind(user)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    Some(conn)
}

fn uuid(id: &str) -> uuid::Uuid {
    id.parse().unwrap()
}

async fn commit(mut conn: PgConnection) {
    sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
}

async fn a_message_waiting_behind_a_removal_is_refused(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let group = ann.group("Lock", &[&bo]).await;
    let Some(removal) = removal_in_flight(&env, &group, &bo.id).await else {
        return;
    };
    let sender = bo.senders[0].clone();
    let send = tokio::spawn(async move {
        sender
            .request(
                ops::CREATE_MESSAGE,
                json!({ "input": { "chatId": group, "content": "after my removal" } }),
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!send.is_finished(), "the send waits for the chat's lock");
    commit(removal).await;
    let answer = send.await.unwrap();
    assert_eq!(
        answer.error_code().as_deref(),
        Some("FORBIDDEN"),
        "{answer:?}"
    );
}

async fn an_author_removed_meanwhile_cannot_edit_or_delete(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let group = ann.group("Edits", &[&bo]).await;
    let sent = bo.send(&group, "mine", 0).await;
    let id = sent["id"].as_str().unwrap().to_string();
    for (document, variables) in [
        (
            ops::UPDATE_MESSAGE,
            json!({ "id": id, "content": "edited after removal" }),
        ),
        (ops::REMOVE_MESSAGE, json!({ "id": id })),
    ] {
        let Some(removal) = removal_in_flight(&env, &group, &bo.id).await else {
            return;
        };
        let sender = bo.senders[1].clone();
        let change = tokio::spawn(async move { sender.request(document, variables).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Undo the removal for the next round; the change waiting now must still be
        // refused, since the removal had committed when it ran.
        commit(removal).await;
        let answer = change.await.unwrap();
        assert_eq!(
            answer.error_code().as_deref(),
            Some("FORBIDDEN"),
            "{answer:?}"
        );
        ann.senders[0]
            .data(
                ops::ADD_PARTICIPANT,
                json!({ "chatId": group, "userId": bo.id }),
            )
            .await;
    }
    let message = ann.receivers[0]
        .data(ops::MESSAGE, json!({ "id": id }))
        .await;
    assert_eq!(message["message"]["content"], "mine");
    assert_eq!(message["message"]["isDeleted"], false);
}

async fn the_group_cap_holds_when_people_are_added_at_once(env: TestEnv) {
    if !env.backend.is_postgres() {
        return; // one writer: adds never run side by side
    }
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let group = ann.group("Crowd", &[&bo]).await;
    // 1,200 people, straight into the database (registering them would take minutes).
    let mut conn = PgConnection::connect(&env.database_url).await.unwrap();
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "INSERT INTO users (id, username, email, display_name, password_hash, created_at, updated_at) \
         SELECT gen_random_uuid(), 'crowd' || n, 'crowd' || n || '@example.com', 'Crowd ' || n, 'x', now(), now() \
         FROM generate_series(1, 1200) AS n RETURNING id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let (first, second) = ids.split_at(600);
    let add = |sender: testkit::Gql, people: &[uuid::Uuid]| {
        let variables = json!({ "chatId": group, "userIds": people });
        tokio::spawn(async move { sender.request(ops::ADD_PARTICIPANTS, variables).await })
    };
    let (a, b) = (
        add(ann.senders[0].clone(), first),
        add(bo.senders[1].clone(), second),
    );
    let answers = [a.await.unwrap(), b.await.unwrap()];
    let codes: Vec<Option<String>> = answers.iter().map(|a| a.error_code()).collect();
    assert!(
        codes.contains(&None) && codes.contains(&Some("BAD_USER_INPUT".to_string())),
        "one add goes through, the other would pass the cap: {codes:?}"
    );
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM chat_participants WHERE chat_id = $1")
            .bind(uuid(&group))
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(count, 602);
}

async fn reusing_a_client_id_for_other_text_is_a_conflict(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let send = |content: &str| json!({ "input": { "chatId": chat, "content": content, "clientId": "same-key" } });
    let first = ann.senders[0]
        .data(ops::CREATE_MESSAGE, send("pay Bo 10"))
        .await;
    // The same text again is a retry: the same message.
    let again = ann.senders[1]
        .data(ops::CREATE_MESSAGE, send("pay Bo 10"))
        .await;
    assert_eq!(again["createMessage"]["id"], first["createMessage"]["id"]);
    // Other text under the key is a mistake (or a trick), not a retry.
    let error = ann.senders[1]
        .expect_code(ops::CREATE_MESSAGE, send("pay Bo 1000"), "CONFLICT")
        .await;
    assert_eq!(error.field.as_deref(), Some("clientId"));
    let page = bo.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": chat }))
        .await;
    let texts: Vec<&str> = page["messages"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["pay Bo 10"]);
}

async fn a_flood_of_readiness_probes_costs_one_check(env: TestEnv) {
    let system = System::start(&env).await;
    let sender = system.senders[0].clone();
    let http = reqwest::Client::new();
    let probes = (0..200).map(|_| {
        let (http, url) = (http.clone(), format!("{sender}/readyz"));
        tokio::spawn(async move { http.get(url).send().await.unwrap().status().as_u16() })
    });
    for probe in probes.collect::<Vec<_>>() {
        assert_eq!(probe.await.unwrap(), 200);
    }
    let metrics = http
        .get(format!("{sender}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let checks: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("chat_readiness_checks_total "))
        .expect("the readiness check counter")
        .parse()
        .unwrap();
    assert!(
        checks <= 2,
        "200 probes made {checks} database and bus checks"
    );
}

async fn a_change_to_a_big_group_tells_each_member_briefly(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let group = ann.group("Big", &[&bo]).await;
    if env.backend.is_postgres() {
        // 300 more members, straight into the database.
        let mut conn = PgConnection::connect(&env.database_url).await.unwrap();
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "INSERT INTO users (id, username, email, display_name, password_hash, created_at, updated_at) \
             SELECT gen_random_uuid(), 'big' || n, 'big' || n || '@example.com', 'Member ' || n, 'x', now(), now() \
             FROM generate_series(1, 300) AS n RETURNING id",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        ann.senders[0]
            .data(
                ops::ADD_PARTICIPANTS,
                json!({ "chatId": group, "userIds": ids }),
            )
            .await;
    }
    // What goes on the bus to one member when the group is renamed.
    let (subscription, mut events) = env.state.bus.subscribe();
    let bo_topic = chat_types::Topic::User(uuid(&bo.id).into());
    subscription.add(&bo_topic).await.unwrap();
    ann.senders[1]
        .data(
            ops::UPDATE_CHAT,
            json!({ "chatId": group, "name": "Bigger" }),
        )
        .await;
    let payload = loop {
        let message = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("bo hears of the rename")
            .unwrap();
        if let chat_bus::BusMessage::Event { payload, .. } = message {
            break payload;
        }
    };
    assert!(
        payload.len() < 512,
        "each member gets {} bytes (the whole group, once per member)",
        payload.len()
    );
    // Bo's subscription still brings him the chat as he sees it.
    let socket = bo.socket(&system, 0).await;
    let mut updated = socket.subscribe(ops::CHAT_UPDATED, json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    ann.senders[0]
        .data(
            ops::UPDATE_CHAT,
            json!({ "chatId": group, "name": "Biggest" }),
        )
        .await;
    let chat = updated.next_data().await;
    assert_eq!(chat["chatUpdated"]["name"], "Biggest");
    assert_eq!(chat["chatUpdated"]["id"], group.as_str());
    assert!(
        chat["chatUpdated"]["participants"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
}

async fn a_stranger_subscribing_costs_the_receiver_no_bus_subscription(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let eve = system.register("eve", 0).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let receiver = &system.receivers[1];
    let opened = || async {
        let metrics = reqwest::get(format!("{receiver}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("chat_hub_topics_opened_total "))
            .expect("the counter")
            .parse::<u64>()
            .unwrap()
    };
    let before = opened().await;
    let socket = eve.socket(&system, 1).await;
    for _ in 0..20 {
        let mut refused = socket.subscribe(ops::MESSAGE_ADDED, json!({ "chatId": chat }));
        assert_eq!(refused.next_error_code().await, "FORBIDDEN");
    }
    assert_eq!(
        opened().await,
        before,
        "no topic was subscribed for a stranger"
    );
}

async fn in_production_graphiql_introspection_and_public_metrics_are_off(env: TestEnv) {
    let state = server_core::ServiceState {
        exposure: server_core::config::Exposure {
            graphiql: false,
            public_metrics: false,
        },
        ..env.instance().await
    };
    let public = testkit::spawn(server_receiver::build_router(state.clone())).await;
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(format!("{public}/graphql")).await, 404, "no GraphiQL");
    assert_eq!(
        get(format!("{public}/metrics")).await,
        404,
        "no public metrics"
    );
    let introspection = testkit::Gql::new(&public)
        .request("{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        introspection.data["__schema"].is_null(),
        "the schema is not handed out: {introspection:?}"
    );
    // The figures are on the private address, by instance port.
    let private = testkit::spawn(server_core::http::metrics_router(vec![(4005, state)])).await;
    let metrics = http
        .get(format!("{private}/metrics/4005"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("chat_http_responses_total")
    );
    assert_eq!(get(format!("{private}/metrics/4006")).await, 404);
}
