//! A fresh database and bus for one test.

use std::time::Duration;

use chat_bus::Bus;
use chat_store::{Blobs, PoolSize, Store};
use server_core::ServiceState;
use server_core::auth::TokenKeys;
use server_core::limits::Limits;
use server_core::secret::Secret;
use server_core::state::WebPolicy;
use sqlx::Connection;

use crate::{in_ci, unique};

/// The database and bus a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite and the in-process bus: the embedded default.
    Embedded,
    /// PostgreSQL and Redis: the real topology.
    Real,
    /// PostgreSQL and a Redis Cluster (of three masters and three replicas, shared by
    /// the process's tests: [`crate::redis_cluster::shared`]): past one machine.
    Cluster,
}

impl Backend {
    /// Whether it runs on PostgreSQL.
    pub fn is_postgres(self) -> bool {
        matches!(self, Backend::Real | Backend::Cluster)
    }
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The Redis tests use.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The origin the tests' browser-like requests come from.
pub const TEST_ORIGIN: &str = "http://localhost:3000";

/// One test's world: a database of its own, a bus prefix of its own, a shared secret.
pub struct TestEnv {
    pub backend: Backend,
    pub database_url: String,
    pub bus_prefix: String,
    pub keys: TokenKeys,
    /// The first instance's state; [`TestEnv::instance`] makes more.
    pub state: ServiceState,
    /// Where every instance keeps files: its store's default unless
    /// [`TestEnv::keep_files_in`] says otherwise.
    blobs: Option<Blobs>,
    _database: TestDatabase,
}

impl TestEnv {
    /// A fresh world on `backend`, or `None` (with a note) when its servers are not
    /// reachable outside CI. In CI an unreachable server fails the test.
    pub async fn new(backend: Backend) -> Option<Self> {
        let prefix = unique("test-");
        let keys = TokenKeys::new(&Secret::generate());
        if backend == Backend::Real && require_redis().await.is_none() {
            return None;
        }
        if backend == Backend::Cluster && crate::redis_cluster::shared().await.is_none() {
            return None;
        }
        let database = TestDatabase::new(backend).await?;
        let database_url = database.url.clone();
        let store = Store::connect(&database_url, PoolSize::default())
            .await
            .expect("connect store");
        let bus = new_bus(backend, &prefix, None).await;
        let state = ServiceState::new(store, bus, keys.clone(), web_policy(), Limits::off());
        Some(Self {
            backend,
            database_url,
            bus_prefix: prefix,
            keys,
            state,
            blobs: None,
            _database: database,
        })
    }

    /// Another service instance. On the real backend it has its own connections to
    /// the database and to Redis, as a separate process would.
    ///
    /// Its limits are [`Limits::off`]: no rate limits and no cap on connections per
    /// user, since tests act as many users from one address and send quickly. Tests
    /// of the limits use [`TestEnv::instance_with_limits`].
    pub async fn instance(&self) -> ServiceState {
        self.instance_with_limits(Limits::off()).await
    }

    /// Another service instance (as [`TestEnv::instance`]) with these limits, e.g.
    /// [`Limits::on`] for the production defaults.
    pub async fn instance_with_limits(&self, limits: Limits) -> ServiceState {
        match self.backend {
            Backend::Embedded => self.state.instance_with_limits(limits),
            Backend::Real | Backend::Cluster => {
                let store = Store::connect(&self.database_url, PoolSize::default())
                    .await
                    .expect("connect store");
                let bus = new_bus(self.backend, &self.bus_prefix, None).await;
                self.with_blobs(ServiceState::new(
                    store,
                    bus,
                    self.keys.clone(),
                    web_policy(),
                    limits,
                ))
            }
        }
    }

    /// Every instance, this one's first, keeps files in `blobs` (e.g. an S3 bucket).
    pub fn keep_files_in(&mut self, blobs: Blobs) {
        self.state.blobs = blobs.clone();
        self.blobs = Some(blobs);
    }

    fn with_blobs(&self, mut state: ServiceState) -> ServiceState {
        if let Some(blobs) = &self.blobs {
            state.blobs = blobs.clone();
        }
        state
    }

    /// An instance whose bus is the Redis at `redis_url` (for outage tests).
    pub async fn instance_on_redis(&self, redis_url: &str) -> ServiceState {
        let store = Store::connect(&self.database_url, PoolSize::default())
            .await
            .expect("connect store");
        let bus = new_bus(Backend::Real, &self.bus_prefix, Some(redis_url)).await;
        self.with_blobs(ServiceState::new(
            store,
            bus,
            self.keys.clone(),
            web_policy(),
            Limits::off(),
        ))
    }
}

async fn new_bus(backend: Backend, prefix: &str, url: Option<&str>) -> Bus {
    match backend {
        Backend::Embedded => Bus::memory(),
        Backend::Real => Bus::redis(url.unwrap_or(&redis_url()), prefix)
            .await
            .expect("connect to Redis"),
        Backend::Cluster => {
            let cluster = crate::redis_cluster::shared()
                .await
                .expect("the Redis Cluster");
            let target = chat_bus::ClusterTarget {
                nodes: cluster.urls(),
                ca: None,
                partitions: chat_bus::DEFAULT_PARTITIONS,
            };
            Bus::cluster(&target, prefix)
                .await
                .expect("connect to the Redis Cluster")
        }
    }
}

fn web_policy() -> WebPolicy {
    WebPolicy {
        allowed_origins: vec![TEST_ORIGIN.to_string()].into(),
        cookie_secure: false,
    }
}

async fn postgres_ping(url: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(3), sqlx::PgConnection::connect(url)).await,
        Ok(Ok(_))
    )
}

async fn redis_ping(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), ping).await,
        Ok(Ok(_))
    )
}

/// Passes `answered` through; when false, fails in CI and notes a skip elsewhere.
fn reachable(what: &str, url: &str, answered: bool) -> bool {
    if answered {
        return true;
    }
    if in_ci() {
        panic!("{what} is required when CI=true but is not reachable at {url}");
    }
    eprintln!(
        "note: {what} is not reachable at {url}; skipping this test (set CI=true to make this fail)"
    );
    false
}

/// The Redis URL, if Redis answers (see [`reachable`]).
pub async fn require_redis() -> Option<String> {
    let url = redis_url();
    reachable("Redis", &url, redis_ping(&url).await).then_some(url)
}

/// A database of the test's own, not yet migrated, removed when dropped.
pub struct TestDatabase {
    pub url: String,
    /// Removes the database when the test ends.
    _guard: DatabaseGuard,
}

impl TestDatabase {
    /// A fresh SQLite file, or a fresh PostgreSQL database (`None` when PostgreSQL is
    /// not reachable outside CI).
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Embedded => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("chat.db").display());
                Some(Self {
                    url,
                    _guard: DatabaseGuard::Sqlite(dir),
                })
            }
            Backend::Real | Backend::Cluster => {
                let admin_url = postgres_admin_url();
                if !reachable("PostgreSQL", &admin_url, postgres_ping(&admin_url).await) {
                    return None;
                }
                let name = unique("chat_test_");
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to PostgreSQL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                let url = format!(
                    "{}/{name}",
                    admin_url.rsplit_once('/').expect("url with a database").0
                );
                Some(Self {
                    url,
                    _guard: DatabaseGuard::Postgres(name),
                })
            }
        }
    }
}

/// Removes the test's database when the test ends.
enum DatabaseGuard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(String),
}

impl Drop for DatabaseGuard {
    fn drop(&mut self) {
        if let DatabaseGuard::Postgres(name) = self {
            let name = name.clone();
            // The test's runtime may be shutting down: drop the database from a thread
            // with a runtime of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let mut admin = sqlx::PgConnection::connect(&postgres_admin_url())
                        .await
                        .ok()?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await
                    .ok()
                })
            })
            .join();
        }
    }
}
