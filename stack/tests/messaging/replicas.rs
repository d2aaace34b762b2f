//! Receivers reading from a PostgreSQL streaming replica (`--database-read-url`): a
//! page or a replay never ends before what the client already knows, however far the
//! replica lags; a replica that lags too far, or stops, is skipped.

use std::time::{Duration, Instant};

use chat_bus::Bus;
use chat_store::{PoolSize, Store, StoreConfig};
use chat_types::ops;
use serde_json::json;
use server_core::ServiceState;
use server_core::auth::TokenKeys;
use server_core::limits::Limits;
use server_core::secret::Secret;
use server_core::state::WebPolicy;
use testkit::env::TEST_ORIGIN;
use testkit::pg_replica::PgReplica;
use testkit::unique;

use crate::support::{Person, System, collect_seqs, message_added};

/// The six instances over one store that reads from the replica, and the in-process bus.
async fn system(store: &Store) -> System {
    let (bus, keys) = (Bus::memory(), TokenKeys::new(&Secret::generate()));
    let web = WebPolicy {
        allowed_origins: vec![TEST_ORIGIN.to_string()].into(),
        cookie_secure: false,
    };
    let states = (0..6)
        .map(|_| {
            ServiceState::new(
                store.clone(),
                bus.clone(),
                keys.clone(),
                web.clone(),
                Limits::off(),
            )
        })
        .collect();
    System::on(states).await
}

/// The seqs of the newest page of `chat` as `person` reads it from receiver 0.
async fn page(person: &Person, chat: &str) -> Vec<i64> {
    let data = person.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": chat, "limit": 50 }))
        .await;
    data["messages"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

async fn metric(system: &System, name: &str) -> i64 {
    let text = reqwest::get(format!("{}/metrics", system.receivers[0]))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

async fn wait_for(system: &System, name: &str, value: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(system, name).await != value {
        assert!(Instant::now() < deadline, "{name} never reached {value}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_stay_correct_when_the_replica_lags_or_stops() {
    let Some(mut pg) = PgReplica::start().await else {
        return;
    };
    let name = unique("chat_replica_");
    pg.create_database(&name).await;
    let store = Store::connect_with(&StoreConfig {
        url: pg.primary_url(&name),
        size: PoolSize::default(),
        read_urls: vec![pg.replica_url(&name)],
        ca: None,
    })
    .await
    .unwrap();
    let system = system(&store).await;
    wait_for(&system, "chat_db_replicas_usable", 1).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    for text in ["one", "two"] {
        ann.send(&chat, text, 0).await;
    }
    assert_eq!(page(&bo, &chat).await, [1, 2]);

    // The replica stops replaying: what Ann sends now is on the primary only, and a
    // page must still end with it.
    pg.pause_replay().await;
    let fallbacks = metric(&system, "chat_db_read_fallbacks_total").await;
    ann.send(&chat, "while it lags", 0).await;
    assert_eq!(page(&bo, &chat).await, [1, 2, 3], "read from the primary");
    assert!(metric(&system, "chat_db_read_fallbacks_total").await > fallbacks);
    let socket = bo.socket(&system, 0).await;
    let mut replay = message_added(&socket, &chat, Some(0));
    assert_eq!(collect_seqs(&mut replay, 3).await, [1, 2, 3]);
    // Lagging for longer than it may, it is skipped altogether.
    ann.send(&chat, "still lagging", 1).await;
    wait_for(&system, "chat_db_replicas_usable", 0).await;
    // Reads go to the primary instead, and are counted as such.
    let fallbacks = metric(&system, "chat_db_read_fallbacks_total").await;
    assert_eq!(page(&bo, &chat).await, [1, 2, 3, 4]);
    assert!(
        metric(&system, "chat_db_read_fallbacks_total").await > fallbacks,
        "a read around a skipped replica was not counted"
    );
    let ready = reqwest::get(format!("{}/readyz", system.receivers[0]))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "a lagging replica is not fatal");
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["replicas"][0]["used"], false, "{ready}");

    // It catches up and is read from again; then it stops, and is skipped.
    pg.resume_replay().await;
    wait_for(&system, "chat_db_replicas_usable", 1).await;
    assert_eq!(page(&bo, &chat).await, [1, 2, 3, 4]);
    pg.stop_replica();
    ann.send(&chat, "after it stopped", 0).await;
    assert_eq!(page(&bo, &chat).await, [1, 2, 3, 4, 5]);
    wait_for(&system, "chat_db_replicas_usable", 0).await;
    assert_eq!(page(&bo, &chat).await, [1, 2, 3, 4, 5]);
}
