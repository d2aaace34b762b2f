//! Whether an instance can serve (`/readyz`): its database and its bus answer.

use std::time::{Duration, Instant};

use chat_bus::Bus;
use chat_store::Store;

use crate::metrics::Metrics;

/// How old an answer `/readyz` may give: a flood of probes costs one check of the
/// database and the bus per period, not a connection each.
pub const READINESS_TTL: Duration = Duration::from_secs(1);

/// The last readiness check of an instance.
#[derive(Debug, Default)]
pub struct Readiness(tokio::sync::Mutex<Option<(Instant, bool, bool)>>);

impl Readiness {
    /// Whether the database and the bus answer: the last check's answer while it is
    /// fresh, else a new check (one at a time; probes arriving meanwhile wait for it).
    pub(crate) async fn check(&self, store: &Store, bus: &Bus, metrics: &Metrics) -> (bool, bool) {
        let mut last = self.0.lock().await;
        if let Some((at, database, bus)) = *last
            && at.elapsed() < READINESS_TTL
        {
            return (database, bus);
        }
        metrics.readiness_checks.inc();
        let database = store.ping().await.is_ok();
        let bus = bus.ping().await.is_ok();
        *last = Some((Instant::now(), database, bus));
        (database, bus)
    }
}
