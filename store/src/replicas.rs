//! PostgreSQL streaming replicas for reads (`--database-read-url`): receivers page,
//! replay, catch up and search on them, so the primary takes the writes. Writes,
//! authorization (who is in a chat), the log-tail check and anything else that must
//! see the latest commit stay on the primary.
//!
//! A replica lags its primary, so a read that must include a chat's messages up to seq
//! N (a resume after N, a page after a send, a gap the bus showed up to N) says so
//! ([`Reached`]): it goes to a replica only once that replica has the chat at N, waits
//! a little for one to get there, and otherwise reads the primary, counted as a
//! fallback. Each replica's lag is measured every second; one lagging more than
//! [`SKIP_AFTER`] (or not answering) is skipped until it catches up.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chat_types::ChatId;
use sqlx::postgres::PgPool;
use tokio::task::JoinHandle;

/// A replica lagging its primary by more than this is not read from.
pub const SKIP_AFTER: Duration = Duration::from_secs(5);
/// How often each replica's lag is measured.
const MEASURE_EVERY: Duration = Duration::from_secs(1);
/// How long a read that needs a replica to have caught up waits for one, in all.
const CATCH_UP_WAIT: Duration = Duration::from_millis(100);
const CATCH_UP_POLL: Duration = Duration::from_millis(20);

/// What a read must include: chat `chat`'s messages up to seq `seq` and its logged
/// changes up to `event_seq` (0: no need).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reached {
    pub chat: ChatId,
    pub seq: i64,
    pub event_seq: i64,
}

/// One replica, with what was last measured of it.
#[derive(Debug)]
pub(crate) struct Replica {
    /// Its URL without a password, for logs and metrics.
    pub(crate) name: String,
    pub(crate) pool: PgPool,
    /// Lag behind the primary when last measured, in milliseconds (-1: not answering).
    lag_ms: AtomicI64,
    usable: AtomicBool,
}

/// The replicas of one store, and the task measuring them (stopped when dropped).
#[derive(Debug)]
pub struct Replicas {
    /// The primary, whose WAL position the replicas are measured against.
    primary: PgPool,
    pub(crate) list: Vec<Replica>,
    next: AtomicUsize,
    /// Reads that went to the primary because no replica was usable or had caught up.
    fallbacks: AtomicU64,
    measuring: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        if let Some(task) = self.measuring.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

impl Replicas {
    /// The replicas at `pools` (name, pool) of `primary`, measured from now on.
    pub(crate) fn start(primary: PgPool, pools: Vec<(String, PgPool)>) -> Arc<Self> {
        let replicas = Arc::new(Self {
            primary,
            list: pools
                .into_iter()
                .map(|(name, pool)| Replica {
                    name,
                    pool,
                    lag_ms: AtomicI64::new(-1),
                    usable: AtomicBool::new(false),
                })
                .collect(),
            next: AtomicUsize::new(0),
            fallbacks: AtomicU64::new(0),
            measuring: std::sync::Mutex::new(None),
        });
        let task = tokio::spawn(measure(Arc::downgrade(&replicas)));
        *replicas.measuring.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        replicas
    }

    /// A pool to read from: a usable replica that has `reached` (waiting a little for
    /// one), else `None` (the primary), counted as a fallback: no replica was usable,
    /// none had caught up, or none answered.
    pub(crate) async fn pick(&self, reached: Option<Reached>) -> Option<PgPool> {
        let usable: Vec<&Replica> = self
            .list
            .iter()
            .filter(|r| r.usable.load(Ordering::Relaxed))
            .collect();
        if usable.is_empty() {
            // Every replica is lagging or not answering: around them, counted.
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let Some(reached) = reached else {
            // Nothing to have reached, but it must answer: a replica that just stopped
            // is found out here, before the next measurement.
            for i in 0..usable.len() {
                let replica = usable[(start + i) % usable.len()];
                if answers(&replica.pool).await {
                    return Some(replica.pool.clone());
                }
            }
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let deadline = tokio::time::Instant::now() + CATCH_UP_WAIT;
        loop {
            for i in 0..usable.len() {
                let replica = usable[(start + i) % usable.len()];
                if has_reached(&replica.pool, reached).await {
                    return Some(replica.pool.clone());
                }
            }
            if tokio::time::Instant::now() + CATCH_UP_POLL > deadline {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            tokio::time::sleep(CATCH_UP_POLL).await;
        }
    }

    /// Reads that went to the primary because no replica was usable or had caught up.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// How many replicas are read from now.
    pub fn usable(&self) -> usize {
        self.list
            .iter()
            .filter(|r| r.usable.load(Ordering::Relaxed))
            .count()
    }

    /// Each replica's name and lag when last measured (`None`: not answering).
    pub fn lags(&self) -> Vec<(String, Option<Duration>)> {
        self.list
            .iter()
            .map(|r| {
                let lag = r.lag_ms.load(Ordering::Relaxed);
                let lag = (lag >= 0).then(|| Duration::from_millis(lag as u64));
                (r.name.clone(), lag)
            })
            .collect()
    }
}

/// Whether the replica behind `pool` answers at once.
async fn answers(pool: &PgPool) -> bool {
    let ping = sqlx::query("SELECT 1").execute(pool);
    matches!(tokio::time::timeout(CATCH_UP_WAIT, ping).await, Ok(Ok(_)))
}

/// Whether the replica behind `pool` has the chat at `reached`.
async fn has_reached(pool: &PgPool, reached: Reached) -> bool {
    let ends =
        sqlx::query_as::<_, (i64, i64)>("SELECT last_seq, last_event_seq FROM chats WHERE id = $1")
            .bind(reached.chat.as_uuid())
            .fetch_optional(pool);
    matches!(
        tokio::time::timeout(CATCH_UP_WAIT, ends).await,
        Ok(Ok(Some((seq, event_seq)))) if seq >= reached.seq && event_seq >= reached.event_seq
    )
}

/// Measures every replica's lag each second, for as long as the replicas exist.
async fn measure(replicas: Weak<Replicas>) {
    let mut every = tokio::time::interval(MEASURE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(replicas) = replicas.upgrade() else {
            return;
        };
        // Where the primary's WAL is now: a replica that has replayed this far is
        // current, whatever its clock says.
        let written: Option<(String,)> = sqlx::query_as("SELECT pg_current_wal_lsn()::text")
            .fetch_optional(&replicas.primary)
            .await
            .ok()
            .flatten();
        for replica in &replicas.list {
            let lag = match &written {
                Some((written,)) => {
                    tokio::time::timeout(MEASURE_EVERY, lag_of(&replica.pool, written))
                        .await
                        .ok()
                        .flatten()
                }
                // The primary does not answer: nothing to measure against.
                None => None,
            };
            let was = replica.usable.load(Ordering::Relaxed);
            let usable = lag.is_some_and(|lag| lag <= SKIP_AFTER);
            replica
                .lag_ms
                .store(lag.map_or(-1, |l| l.as_millis() as i64), Ordering::Relaxed);
            replica.usable.store(usable, Ordering::Relaxed);
            if was != usable {
                if usable {
                    tracing::info!(replica = %replica.name, "database replica read from again");
                } else {
                    tracing::warn!(replica = %replica.name, ?lag, "database replica skipped: lagging or not answering");
                }
            }
        }
    }
}

/// How far a replica's replay is behind the primary's WAL position `written`: nothing
/// once it has replayed that far, else the age of the last transaction it replayed.
/// (Comparing with what the replica itself received is not enough: while its replay is
/// paused, its receiver can restart at the replay point and look current.)
async fn lag_of(pool: &PgPool, written: &str) -> Option<Duration> {
    let (current, seconds): (bool, Option<f64>) = sqlx::query_as(
        "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn, \
         EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8",
    )
    .bind(written)
    .fetch_one(pool)
    .await
    .ok()?;
    if current {
        return Some(Duration::ZERO);
    }
    Some(Duration::from_secs_f64(seconds.unwrap_or(0.0).max(0.0)))
}
