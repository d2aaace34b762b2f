//! What every service instance holds: the store, the bus, the token keys and the web
//! policy, built once from the configuration.

use std::sync::Arc;

use crate::auth::{Authenticator, TokenKeys};
use chat_types::{BusEvent, Event, Topic, UserId};

use crate::config::{CommonConfig, Exposure};
use crate::limits::Limits;
use crate::metrics::{Metrics, Registry, Scraped};
use crate::rate_limit::RateLimiter;
use crate::readiness::Readiness;
use crate::sessions::OpenSessions;
use chat_bus::{Bus, BusMessage};
use chat_store::{Blobs, S3Blobs, Store};

pub use crate::error::StartError;

/// Which browser origins may call the services, and how cookies are set.
#[derive(Clone, Debug)]
pub struct WebPolicy {
    pub allowed_origins: Arc<[String]>,
    pub cookie_secure: bool,
}

impl WebPolicy {
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }
}

/// The shared parts of a service instance; cheap to clone.
#[derive(Clone, Debug)]
pub struct ServiceState {
    pub store: Store,
    pub bus: Bus,
    /// Where attached files' bytes live (the store's default: see
    /// [`Store::default_blobs`]).
    pub blobs: Blobs,
    pub auth: Authenticator,
    /// The sessions WebSockets hold open in this process (shared by its instances).
    pub sessions: Arc<OpenSessions>,
    pub web: WebPolicy,
    pub metrics: Arc<Metrics>,
    /// What this instance limits; [`ServiceState::rate_limiter`] enforces the rates.
    pub limits: Limits,
    /// This instance's rate-limit buckets (each instance counts on its own).
    pub rate_limiter: RateLimiter,
    /// The last `/readyz` check.
    pub readiness: Arc<Readiness>,
    pub exposure: Exposure,
}

impl ServiceState {
    /// Connects to the database (migrating it) and the bus named in the configuration,
    /// for `service` (its pool size and replicas), or for every service in one process.
    pub async fn connect(
        config: &CommonConfig,
        service: Option<chat_types::instances::Service>,
    ) -> Result<Self, StartError> {
        let store = Store::connect_with(&config.store_config(service)).await?;
        let bus = config.bus().await?;
        let keys = TokenKeys::new(&config.secret()?);
        let web = WebPolicy {
            allowed_origins: config.allowed_origins.clone().into(),
            cookie_secure: config.cookie_secure,
        };
        let mut state = Self {
            exposure: config.exposure(),
            ..Self::new(store, bus, keys, web, config.limits())
        };
        if let Some(url) = &config.file_store {
            let bucket = S3Blobs::new(url, []).map_err(StartError::Files)?;
            bucket.check().await.map_err(StartError::Files)?;
            state.blobs = Arc::new(bucket);
        }
        Ok(state)
    }

    pub fn new(store: Store, bus: Bus, keys: TokenKeys, web: WebPolicy, limits: Limits) -> Self {
        let auth = Authenticator::new(keys, store.clone());
        tokio::spawn(forget_revoked_sessions(bus.clone(), auth.clone()));
        let sessions = Arc::<OpenSessions>::default();
        let revoked = auth.clone();
        tokio::spawn(crate::sessions::sweep(
            sessions.clone(),
            store.clone(),
            move |user| revoked.forget(user),
        ));
        let state = Self {
            blobs: store.default_blobs(),
            store,
            bus,
            auth,
            sessions,
            web,
            metrics: Arc::default(),
            limits,
            rate_limiter: RateLimiter::new(limits.rate),
            readiness: Arc::default(),
            exposure: Exposure::default(),
        };
        state.register_core_metrics();
        state
    }

    /// Another instance over the same store and bus, with its own metrics and limits.
    pub fn instance(&self) -> Self {
        self.instance_with_limits(self.limits)
    }

    /// Another instance over the same store and bus, with its own metrics and these
    /// limits.
    pub fn instance_with_limits(&self, limits: Limits) -> Self {
        let state = Self {
            metrics: Arc::default(),
            limits,
            rate_limiter: RateLimiter::new(limits.rate),
            readiness: Arc::default(),
            ..self.clone()
        };
        state.register_core_metrics();
        state
    }

    fn register_core_metrics(&self) {
        self.metrics.register(|registry| {
            register_bus_metrics(registry, &self.bus);
            register_pool_metrics(registry, &self.store);
            self.rate_limiter.register_metrics(registry);
        });
    }
}

/// Keeps the session cache honest: a revocation anywhere drops the user's cached
/// token version here; after a lost bus connection (revocations may have been
/// missed), everything is dropped.
async fn forget_revoked_sessions(bus: Bus, auth: Authenticator) {
    let (subscription, mut messages) = bus.subscribe();
    if let Err(e) = subscription.add(&Topic::Sessions).await {
        tracing::warn!(error = %chat_types::describe(&e), "session revocations not subscribed yet");
    }
    while let Some(message) = messages.recv().await {
        match message {
            BusMessage::Event { payload, .. } => {
                if let Ok(BusEvent {
                    event: Event::SessionsRevoked { user_id },
                    ..
                }) = BusEvent::decode(&payload)
                {
                    auth.forget(user_id);
                }
            }
            BusMessage::Reconnected => auth.forget_all(),
        }
    }
}

/// Revokes every session of the user: here at once, elsewhere through the bus.
pub fn announce_revocation(state: &ServiceState, user: UserId) {
    state.auth.forget(user);
    state.bus.publish(
        &Topic::Sessions,
        &BusEvent::new(Event::SessionsRevoked { user_id: user }),
    );
}

/// The bus's counters: shared by the instances on one bus, read at each scrape.
fn register_bus_metrics(registry: &mut Registry, bus: &Bus) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    type Pick = fn(&chat_bus::BusMetrics) -> &AtomicU64;
    let counters: [(&'static str, &'static str, Pick); 6] = [
        ("chat_bus_published", "Events published to the bus", |m| {
            &m.published
        }),
        (
            "chat_bus_publish_failures",
            "Event publications that failed (and were retried)",
            |m| &m.publish_failures,
        ),
        (
            "chat_bus_dropped",
            "Events dropped: queue full or unpublished for too long",
            |m| &m.dropped,
        ),
        ("chat_bus_received", "Events received from the bus", |m| {
            &m.received
        }),
        (
            "chat_bus_reconnects",
            "Bus connections restored after a loss",
            |m| &m.reconnects,
        ),
        (
            "chat_bus_resubscriptions",
            "Channels subscribed again after a node was lost or a slot moved (Redis Cluster)",
            |m| &m.resubscriptions,
        ),
    ];
    for (name, help, pick) in counters {
        let metrics = bus.metrics().clone();
        registry.register_collector(Box::new(Scraped::counter(name, help, move || {
            pick(&metrics).load(Relaxed)
        })));
    }
}

/// The database pool's connections, and its replicas if any, read at each scrape.
fn register_pool_metrics(registry: &mut Registry, store: &Store) {
    if store.replicas().is_some() {
        let replicas = store.clone();
        registry.register_collector(Box::new(Scraped::counter(
            "chat_db_read_fallbacks",
            "Reads that went to the primary because no replica had caught up in time",
            move || replicas.replicas().map_or(0, |r| r.fallbacks()),
        )));
        let lags = store.clone();
        registry.register_collector(Box::new(Scraped::gauge(
            "chat_db_replica_lag_max_milliseconds",
            "The largest lag of a replica behind the primary, when last measured (-1: one is not answering)",
            move || {
                let lags = lags.replicas().map(|r| r.lags()).unwrap_or_default();
                if lags.iter().any(|(_, lag)| lag.is_none()) {
                    return -1;
                }
                lags.iter()
                    .filter_map(|(_, lag)| *lag)
                    .map(|lag| lag.as_millis() as i64)
                    .max()
                    .unwrap_or(0)
            },
        )));
        let usable = store.clone();
        registry.register_collector(Box::new(Scraped::gauge(
            "chat_db_replicas_usable",
            "Replicas read from now (answering, and lagging under the threshold)",
            move || usable.replicas().map_or(0, |r| r.usable() as i64),
        )));
    }
    let open = store.clone();
    registry.register_collector(Box::new(Scraped::gauge(
        "chat_db_pool_connections",
        "Open database connections",
        move || i64::from(open.pool_stats().size),
    )));
    let idle = store.clone();
    registry.register_collector(Box::new(Scraped::gauge(
        "chat_db_pool_idle",
        "Idle database connections",
        move || i64::from(idle.pool_stats().idle),
    )));
}
