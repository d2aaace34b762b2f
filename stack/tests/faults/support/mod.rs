//! The deployment each fault test runs on, the traffic it sends, the subscribers that
//! follow the chat, and the checks every test ends with.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_store::{PoolSize, Store};
use chat_types::{ChatId, ops};
use serde_json::{Value, json};
use server_core::secret::Secret;
use testkit::env::TEST_ORIGIN;
use testkit::env::{TestDatabase, require_redis};
use testkit::processes::{Cluster, ClusterConfig};
use testkit::redis_cluster::RedisCluster;
use testkit::redis_server::RedisServer;
use testkit::tcp_proxy::{TcpProxy, url_authority, with_authority};
use testkit::topology::Topology;
use testkit::ws::Event;
use testkit::{Backend, Gql, Protocol, WsClient, unique};
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod follow;
mod traffic;
mod world;

pub(crate) use follow::*;
pub(crate) use traffic::*;
pub(crate) use world::*;

/// How long one fault test may run, start to end: a guard against hangs. (Each takes
/// 3 to 10 s on an idle machine; a machine busy with other work stretches that.)
pub(crate) const TEST_LIMIT: Duration = Duration::from_secs(180);
/// How long a client waits for an answer before it counts the request as unanswered.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between two sends of one lane of traffic.
pub(crate) const PACE: Duration = Duration::from_millis(5);
/// Pause before a failed send is tried again (on the other sender).
const RETRY_PAUSE: Duration = Duration::from_millis(20);
/// How long a lane leaves alone a sender that did not answer (as a person would switch
/// instance): a host cut off the network leaves each send to it unanswered for
/// [`ANSWER_TIMEOUT`].
const SHUN: Duration = Duration::from_secs(10);
/// Pause between two changes (edits, reactions) of the traffic.
const EDIT_PACE: Duration = Duration::from_millis(40);
/// How long one change is tried, on both senders, before it is given up.
const EDIT_LIMIT: Duration = Duration::from_secs(5);
/// How long one message may take, retries included, before the test gives up.
const MESSAGE_LIMIT: Duration = Duration::from_secs(60);
/// How long subscribers may take to catch up after the traffic stops.
pub(crate) const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);
/// How long a condition a test waits for may take.
pub(crate) const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// The tests take turns: each runs five processes and a stream of traffic.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs a fault test in its turn, failing it if it takes longer than [`TEST_LIMIT`].
/// On failure (panic or time-out) the end of every instance's log is printed.
pub(crate) async fn bounded(name: &str, test: impl Future<Output = ()>) {
    let _turn = TURN.lock().await;
    let started = Instant::now();
    let mut test = std::pin::pin!(test);
    if tokio::time::timeout(TEST_LIMIT, test.as_mut())
        .await
        .is_err()
    {
        // Panicking while the test (and its cluster) still exists prints the logs.
        panic!("{name} did not finish within {TEST_LIMIT:?}");
    }
    eprintln!("{name}: {:.1?}", started.elapsed());
}

/// Polls `done` until it holds; panics after `limit`.
pub(crate) async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `check` until it returns true; panics after `limit`.
pub(crate) async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
