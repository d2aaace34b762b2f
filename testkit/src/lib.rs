//! Test support shared by the services' tests.
//!
//! - [`env`]: a fresh database (SQLite, or PostgreSQL when reachable) and a unique bus
//!   prefix per test, and service instances over them.
//! - [`gql`]: a GraphQL-over-HTTP client that reads error codes.
//! - [`ws`]: a GraphQL WebSocket client for both subscription protocols.
//! - [`processes`]: service instances as real OS processes (the `chat` binary), to kill
//!   and restart; [`redis_server`]: a private Redis to kill and restart;
//!   [`s3_server`]: a local S3-compatible server;
//!   [`tcp_proxy`]: a proxy that makes a server unreachable for a while.
//!
//! PostgreSQL, Redis and moto (the S3 server) are optional on a developer's machine
//! (their tests are skipped with a note) and required when `CI=true`.

pub mod env;
pub mod gql;
pub mod pg_replica;
pub mod processes;
pub mod redis_cluster;
pub mod redis_server;
pub mod s3_server;
pub mod tcp_proxy;
pub mod tls;
pub mod topology;
pub mod ws;

pub use env::{Backend, TestEnv};
pub use gql::{Gql, GqlError};
pub use ws::{Protocol, WsClient};

use std::net::SocketAddr;

/// Whether this run is CI, where every backend must be present.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Serves `router` on 127.0.0.1 at a free port for the rest of the test; returns
/// `http://127.0.0.1:<port>`.
pub async fn spawn(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    // No cap per address: every test's clients are 127.0.0.1.
    let limits = server_core::serve::ServeLimits::process(false);
    spawn_with(listener, router, limits)
}

/// As [`spawn`], on `listener` and with the given limits.
pub fn spawn_with(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: server_core::serve::ServeLimits,
) -> String {
    let addr: SocketAddr = listener.local_addr().expect("local addr");
    tokio::spawn(server_core::serve::serve_with(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    format!("http://{addr}")
}

/// A name no other test uses (for usernames, prefixes, databases).
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..12])
}

/// Runs each named `async fn(TestEnv)` on every backend: `<name>::embedded` on SQLite
/// with the in-process bus, `<name>::postgres` on PostgreSQL with Redis, and
/// `<name>::cluster` on PostgreSQL with a Redis Cluster.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            $crate::backend_test!($name, embedded, Embedded);
            $crate::backend_test!($name, postgres, Real);
            $crate::backend_test!($name, cluster, Cluster);
        }
    )*};
}

/// [`backend_tests!`] without the Redis Cluster, for tests where the bus plays no part
/// (bad input, forms, files, search): the cluster would only add time.
#[macro_export]
macro_rules! database_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            $crate::backend_test!($name, embedded, Embedded);
            $crate::backend_test!($name, postgres, Real);
        }
    )*};
}

/// One test of [`backend_tests!`]: `$name` on `Backend::$backend`, as `$variant`.
#[macro_export]
#[doc(hidden)]
macro_rules! backend_test {
    ($name:ident, $variant:ident, $backend:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $variant() {
            if let Some(env) = $crate::TestEnv::new($crate::Backend::$backend).await {
                super::$name(env).await;
            }
        }
    };
}
