//! The store: every query the services run, over PostgreSQL or SQLite.
//!
//! Each query is written once and compiled for both backends by the [`on_read!`] and
//! [`on_write!`] macros; the few places where the dialects differ branch on `PG`.
//! SQLite gets one writer connection (writes are serialised in-process, so they never
//! fight over the file lock) and a pool of readers; PostgreSQL uses one pool for both.

mod attachments;
mod batch;
pub mod blobs;
mod chats;
mod events;
pub mod files;
mod messages;
mod migrations;
mod pins;
mod presence;
mod reactions;
mod reads;
pub mod replicas;
mod rows;
mod search;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use attachments::{NewUpload, UnsentQuota, UploadRefused};
pub use batch::{NewMessage, StoredMessage, WrittenBatch};
pub use blobs::{BlobError, BlobStore, BlobStream, Blobs, S3Blobs};
pub use chats::{ChatChangeError, NewChat, Started};
pub use messages::{EditError, LogEnds};
pub use replicas::{Reached, Replicas};
pub use search::{Found, SearchPlan};
pub use users::{NewUser, UserRecord};

/// How long a request waits for a database connection before it fails as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long PostgreSQL keeps one of our sessions that sits in an open transaction
/// before it ends the session, rolling back and releasing its locks. Our transactions
/// never wait on anything but the database, so a session idle this long belongs to an
/// instance that has dropped off the network (PostgreSQL is not told, and TCP would
/// take hours to notice): without this, the chat it had locked would take no writes
/// until then.
pub const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(5);

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; the string names the constraint's column.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database could not be reached in time; the operation may succeed later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The database refused a text value it cannot store (PostgreSQL: a NUL character).
    #[error("text the database cannot store")]
    InvalidText,
    /// A statement took longer than it may (a search over its time budget).
    #[error("took too long")]
    TooSlow,
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database url: {0}")]
    Url(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                StoreError::Conflict(unique_column(db.message(), db.constraint()))
            }
            sqlx::Error::Database(ref db) => match db.code().as_deref() {
                // PostgreSQL: invalid byte sequence / untranslatable character.
                Some("22021" | "22P05") => StoreError::InvalidText,
                Some(code)
                    if is_contention(
                        code,
                        db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some(),
                    ) =>
                {
                    StoreError::Unavailable(e)
                }
                _ => StoreError::Database(e),
            },
            other => StoreError::Database(other),
        }
    }
}

/// Whether a database error code means contention, which a retry resolves: a
/// PostgreSQL serialization failure or deadlock, or SQLite busy or locked in any of
/// their extended forms (`SQLITE_BUSY_SNAPSHOT` is 517: the primary code is the low
/// byte).
fn is_contention(code: &str, sqlite: bool) -> bool {
    if sqlite {
        code.parse::<i32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
    } else {
        matches!(code, "40001" | "40P01")
    }
}

/// Names the column behind a unique violation, from the constraint name (PostgreSQL)
/// or the message (SQLite: "UNIQUE constraint failed: users.email").
fn unique_column(message: &str, constraint: Option<&str>) -> &'static str {
    let text = constraint.unwrap_or(message);
    if text.contains("username") {
        "username"
    } else if text.contains("email") {
        "email"
    } else if text.contains("direct_key") {
        "direct chat"
    } else if text.contains("client_id") {
        "clientId"
    } else {
        "record"
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The pools: one that writes, and one that reads (for PostgreSQL the same pool, or a
/// replica's in a store returned by [`Store::replica`]).
#[derive(Clone, Debug)]
enum Db {
    Postgres { read: PgPool, write: PgPool },
    Sqlite { read: SqlitePool, write: SqlitePool },
}

/// The handle every service holds; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// SQLite: the folder beside the database file that keeps attached files.
    files_dir: Option<std::sync::Arc<Path>>,
    /// The most database time one search may take ([`search::TIME_BUDGET`]).
    search_budget: Duration,
    /// PostgreSQL streaming replicas to read from, if any.
    replicas: Option<std::sync::Arc<Replicas>>,
}

/// Runs `$body` once per backend with `$pool` bound to its pool (for SQLite, the
/// `$sqlite` one: `read` or `write`); `PG` tells the dialect.
macro_rules! on_pool {
    ($store:expr, $sqlite:ident, |$pool:ident| $body:expr) => {
        match &$store.db {
            $crate::Db::Postgres { $sqlite: $pool, .. } => {
                #[allow(dead_code)]
                const PG: bool = true;
                $body
            }
            $crate::Db::Sqlite { $sqlite: $pool, .. } => {
                #[allow(dead_code)]
                const PG: bool = false;
                $body
            }
        }
    };
}

/// Runs `$body` with `$pool` bound to a pool that may read.
macro_rules! on_read {
    ($store:expr, |$pool:ident| $body:expr) => {
        $crate::on_pool!($store, read, |$pool| $body)
    };
}

/// Runs `$body` with `$pool` bound to the pool that writes.
macro_rules! on_write {
    ($store:expr, |$pool:ident| $body:expr) => {
        $crate::on_pool!($store, write, |$pool| $body)
    };
}
/// Starts a write transaction on `$pool` (inside [`on_write!`]). SQLite's starts
/// `IMMEDIATE`, taking the write lock at once: a deferred one that reads first and then
/// writes fails with `SQLITE_BUSY_SNAPSHOT` when another process wrote in between.
macro_rules! begin_write {
    ($pool:ident) => {
        if PG {
            $pool.begin().await?
        } else {
            $pool.begin_with("BEGIN IMMEDIATE").await?
        }
    };
}
pub(crate) use {begin_write, on_pool, on_read, on_write};

/// Pushes `items` as a bound list, `(a, b, c)`, for an `IN`: what every query that
/// takes a list builds.
pub(crate) fn push_list<'t, DB, T>(
    query: &mut sqlx::QueryBuilder<DB>,
    items: impl IntoIterator<Item = T>,
) where
    DB: sqlx::Database,
    T: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    query.push("(");
    let mut list = query.separated(", ");
    for item in items {
        list.push_bind(item);
    }
    query.push(")");
}

/// How to reach the database.
#[derive(Clone, Debug, Default)]
pub struct StoreConfig {
    /// `postgres://…` (TLS as its `sslmode` says) or `sqlite://…`.
    pub url: String,
    pub size: PoolSize,
    /// PostgreSQL streaming replicas to read from.
    pub read_urls: Vec<String>,
    /// A PEM file with the CA that signed PostgreSQL's certificate, when the system
    /// does not trust it.
    pub ca: Option<std::path::PathBuf>,
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Connection options for a PostgreSQL URL: the user found as `psql` finds it, `ca`
/// trusted for TLS (with `sslmode=verify-ca` or `verify-full` in the URL, or
/// `require`), and sessions ended by the server when idle in a transaction for
/// [`IDLE_IN_TRANSACTION`].
fn pg_options(url: &str, ca: Option<&Path>) -> StoreResult<PgConnectOptions> {
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Url(e.to_string()))?
        .options([(
            "idle_in_transaction_session_timeout",
            format!("{}ms", IDLE_IN_TRANSACTION.as_millis()),
        )]);
    if let Some(user) = login_user(url) {
        options = options.username(&user);
    }
    if let Some(ca) = ca {
        options = options.ssl_root_cert(ca);
    }
    Ok(options)
}

/// A URL without its password, for logs and metrics.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Pool sizes for one service instance.
#[derive(Clone, Copy, Debug)]
pub struct PoolSize {
    pub max_connections: u32,
}

impl Default for PoolSize {
    fn default() -> Self {
        Self {
            max_connections: 10,
        }
    }
}

impl Store {
    /// Where this store's attached files live by default: in PostgreSQL beside the
    /// rest (every instance sees them, no shared disk needed), or for SQLite in a
    /// folder beside its file (in the data folder).
    pub fn default_blobs(&self) -> Blobs {
        match (&self.db, &self.files_dir) {
            (Db::Postgres { write, .. }, _) => {
                std::sync::Arc::new(blobs::PostgresBlobs::new(write.clone()))
            }
            (Db::Sqlite { .. }, Some(dir)) => {
                std::sync::Arc::new(blobs::FolderBlobs::new(dir.to_path_buf()))
            }
            (Db::Sqlite { .. }, None) => unreachable!("a SQLite store has a files folder"),
        }
    }

    /// Connects to `postgres://…` or `sqlite://…` and brings the schema up to date.
    /// Safe when several instances start at once: PostgreSQL migrations run under an
    /// advisory lock.
    pub async fn connect(url: &str, size: PoolSize) -> StoreResult<Self> {
        Self::connect_with(&StoreConfig {
            url: url.to_string(),
            size,
            ..StoreConfig::default()
        })
        .await
    }

    /// [`Store::connect`] with everything [`StoreConfig`] says: replicas to read from,
    /// a private CA for TLS.
    pub async fn connect_with(config: &StoreConfig) -> StoreResult<Self> {
        let url = config.url.as_str();
        let size = config.size;
        let store = if is_postgres(url) {
            let options = pg_options(url, config.ca.as_deref())?;
            let pool = PgPoolOptions::new()
                .max_connections(size.max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT);
            let pool = match pool.clone().connect_with(options.clone()).await {
                Err(e) if is_missing_database(&e) => {
                    create_database(&options).await?;
                    pool.connect_with(options).await?
                }
                connected => connected?,
            };
            migrations::postgres().run(&pool).await?;
            let mut replicas = Vec::new();
            for read_url in &config.read_urls {
                if !is_postgres(read_url) {
                    return Err(StoreError::Url(
                        "a read replica is a postgres://… URL".to_string(),
                    ));
                }
                // Connected lazily: a replica down at start is skipped, not fatal.
                let replica = PgPoolOptions::new()
                    .max_connections(size.max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(pg_options(read_url, config.ca.as_deref())?);
                replicas.push((redact(read_url), replica));
            }
            let replicas = (!replicas.is_empty()).then(|| Replicas::start(pool.clone(), replicas));
            Store {
                db: Db::Postgres {
                    read: pool.clone(),
                    write: pool,
                },
                files_dir: None,
                search_budget: search::TIME_BUDGET,
                replicas,
            }
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Url(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let file = Path::new(options.get_filename()).to_path_buf();
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::files::private_dir(dir)
                    .map_err(|e| StoreError::Url(format!("{}: {e}", dir.display())))?;
            }
            // Created here, the owner's only, before SQLite opens it: SQLite gives its
            // -wal and -shm files the database's permissions.
            crate::files::ensure_private(&file)
                .map_err(|e| StoreError::Url(format!("{}: {e}", file.display())))?;
            // Neither switching a new file to WAL nor SQLite migrations take a lock of
            // their own: a lock file keeps instances that start together on one
            // database from tripping over each other.
            let lock = startup_lock(&file).await?;
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await?;
            migrations::sqlite().run(&write).await?;
            let read = SqlitePoolOptions::new()
                .max_connections(size.max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            drop(lock);
            let files_dir = file.with_extension("files");
            crate::files::private_dir(&files_dir)
                .map_err(|e| StoreError::Url(format!("{}: {e}", files_dir.display())))?;
            Store {
                db: Db::Sqlite { read, write },
                files_dir: Some(files_dir.into()),
                search_budget: search::TIME_BUDGET,
                replicas: None,
            }
        } else {
            return Err(StoreError::Url(
                "expected postgres://… or sqlite://…".to_string(),
            ));
        };
        Ok(store)
    }

    /// This store, reading from a replica that has `reached` the chat (see
    /// [`replicas`]): for the receivers' heavy reads. Without replicas, or with none
    /// caught up in time, the store itself. Never for a write, nor for deciding who may
    /// see what (a replica may not have a removal yet).
    pub async fn replica(&self, reached: Option<Reached>) -> Store {
        let (Some(replicas), Db::Postgres { write, .. }) = (&self.replicas, &self.db) else {
            return self.clone();
        };
        match replicas.pick(reached).await {
            Some(read) => Store {
                db: Db::Postgres {
                    read,
                    write: write.clone(),
                },
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// The replicas read from, if any (for `/metrics` and `/readyz`).
    pub fn replicas(&self) -> Option<&Replicas> {
        self.replicas.as_deref()
    }

    /// This store with another time budget for searches (tests make it short).
    pub fn with_search_budget(mut self, budget: Duration) -> Self {
        self.search_budget = budget;
        self
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Postgres { .. } => Backend::Postgres,
            Db::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        on_read!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Connections in use and idle, for `/metrics`.
    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle) = match &self.db {
            Db::Postgres { write, .. } => (write.size(), write.num_idle()),
            Db::Sqlite { read, write } => (
                read.size() + write.size(),
                read.num_idle() + write.num_idle(),
            ),
        };
        PoolStats {
            size,
            idle: idle as u32,
        }
    }

    /// Closes every connection (at shutdown).
    pub async fn close(&self) {
        match &self.db {
            Db::Postgres { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
        }
    }
}

/// Who to connect as when the URL names no one: `PGUSER`, else the login name, as
/// `psql` does (sqlx's own fallback can be a made-up "anonymous" where the system
/// cannot say who is logged in).
fn login_user(url: &str) -> Option<String> {
    let authority = url.split_once("://")?.1.split('/').next()?;
    if authority.contains('@') {
        return None;
    }
    ["PGUSER", "USER", "LOGNAME"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .or_else(account_name)
}

/// The name of the account this process runs as, from `/etc/passwd` (what `psql`
/// finds through `getpwuid`), for when no environment variable says it.
fn account_name() -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        std::fs::read_to_string("/etc/passwd")
            .ok()?
            .lines()
            .map(|line| line.split(':').collect::<Vec<_>>())
            .find(|fields| fields.get(2).and_then(|u| u.parse::<u32>().ok()) == Some(uid))
            .and_then(|fields| fields.first().map(|name| name.to_string()))
    }
    #[cfg(not(unix))]
    None
}

/// PostgreSQL's "database does not exist".
fn is_missing_database(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000"))
}

/// Creates the database `options` name, as `createdb` would, through the server's
/// `postgres` database. Another instance creating it at the same moment is fine.
async fn create_database(options: &PgConnectOptions) -> StoreResult<()> {
    use sqlx::Connection;
    let name = options
        .get_database()
        .ok_or_else(|| StoreError::Url("the URL names no database".to_string()))?
        .to_string();
    let mut admin = sqlx::PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    match sqlx::query(sqlx::AssertSqlSafe(create))
        .execute(&mut admin)
        .await
    {
        Ok(_) => Ok(()),
        // duplicate_database: someone else just made it.
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P04") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Holds an exclusive lock on `<database>.lock` until dropped.
async fn startup_lock(database: &Path) -> StoreResult<std::fs::File> {
    let mut path = database.as_os_str().to_owned();
    path.push(".lock");
    tokio::task::spawn_blocking(move || {
        crate::files::ensure_private(Path::new(&path))?;
        let file = std::fs::OpenOptions::new().write(true).open(&path)?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(|e| StoreError::Url(e.to_string()))?
    .map_err(|e: std::io::Error| StoreError::Url(format!("cannot lock the database to start: {e}")))
}

/// Connection pool figures.
#[derive(Clone, Copy, Debug)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}

#[cfg(test)]
mod tests {
    use super::{is_contention, login_user};

    #[test]
    fn a_url_without_a_user_connects_as_psql_would() {
        assert_eq!(login_user("postgres://me@localhost/chat"), None);
        assert_eq!(login_user("postgres://me:pw@localhost/chat"), None);
        // Whoever runs the tests has PGUSER, a login name, or an account.
        let expected = ["PGUSER", "USER", "LOGNAME"]
            .into_iter()
            .find_map(|v| std::env::var(v).ok().filter(|v| !v.is_empty()))
            .or_else(super::account_name);
        assert!(expected.is_some());
        assert_eq!(login_user("postgres://localhost/chat"), expected);
    }

    #[test]
    fn every_busy_or_locked_code_is_contention() {
        for code in ["5", "261", "517", "773", "6", "262", "518"] {
            assert!(is_contention(code, true), "SQLite {code}");
        }
        for code in ["1", "19", "2067", "x"] {
            assert!(!is_contention(code, true), "SQLite {code}");
        }
        assert!(is_contention("40001", false) && is_contention("40P01", false));
        for code in ["23505", "22021", "08006", "5"] {
            assert!(!is_contention(code, false), "PostgreSQL {code}");
        }
    }
}
