//! The event bus: Redis PubSub between processes (one Redis, or a Redis Cluster with
//! sharded pub/sub: [`cluster`]), or an in-process bus when everything runs in one
//! process.
//!
//! Publishing never waits for the bus: events are queued and sent in order by a
//! background task, so a write succeeds even while the bus is down (the failure is
//! logged and counted). Receivers open one [`Subscription`] and add and drop topics on
//! it as their local subscribers come and go; after a lost connection it is restored
//! with every topic, and a [`BusMessage::Reconnected`] tells the receiver to backfill.

pub mod cluster;
mod memory;
pub mod presence;
mod redis;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use chat_types::{BusEvent, Topic};
use tokio::sync::mpsc;

pub use self::cluster::{ClusterBus, ClusterTarget, DEFAULT_PARTITIONS};
pub use self::memory::MemoryBus;
pub use self::redis::{PING_INTERVAL, RedisBus};

/// What can go wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus not connected")]
    NotConnected,
    #[error("bus closed")]
    Closed,
    #[error("redis error")]
    Redis(#[from] ::redis::RedisError),
    #[error("{0}")]
    Config(&'static str),
}

/// What a subscription receives.
#[derive(Clone, Debug)]
pub enum BusMessage {
    /// An encoded [`BusEvent`] on one of the subscribed topics.
    Event { topic: Topic, payload: Bytes },
    /// The connection was lost and is back, with every topic subscribed again; events
    /// published in between may be missing.
    Reconnected,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct BusMetrics {
    pub published: AtomicU64,
    pub publish_failures: AtomicU64,
    pub dropped: AtomicU64,
    pub received: AtomicU64,
    pub reconnects: AtomicU64,
    /// Channels subscribed again after a node was lost or a slot moved (Redis Cluster).
    pub resubscriptions: AtomicU64,
}

impl BusMetrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The bus, either kind; cheap to clone.
#[derive(Clone, Debug)]
pub enum Bus {
    Redis(RedisBus),
    Cluster(ClusterBus),
    Memory(MemoryBus),
}

impl Bus {
    /// The in-process bus (one process only).
    pub fn memory() -> Self {
        Bus::Memory(MemoryBus::default())
    }

    /// Redis PubSub at `url`. Fails if Redis cannot be reached now; once started, it
    /// reconnects by itself.
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, BusError> {
        Self::redis_with_ca(url, None, prefix).await
    }

    /// Redis at `url` (`rediss://` for TLS), trusting `ca` (PEM) for its certificate.
    pub async fn redis_with_ca(
        url: &str,
        ca: Option<Vec<u8>>,
        prefix: &str,
    ) -> Result<Self, BusError> {
        Ok(Bus::Redis(RedisBus::connect(url, ca, prefix).await?))
    }

    /// A Redis Cluster reached through any of `target`'s nodes, with sharded pub/sub.
    pub async fn cluster(target: &ClusterTarget, prefix: &str) -> Result<Self, BusError> {
        Ok(Bus::Cluster(ClusterBus::connect(target, prefix).await?))
    }

    /// Queues an event for `topic`. Never blocks; never fails the caller.
    pub fn publish(&self, topic: &Topic, event: &BusEvent) {
        let payload = Bytes::from(event.encode());
        match self {
            Bus::Redis(bus) => bus.publish(topic, payload),
            Bus::Cluster(bus) => bus.publish(topic, payload),
            Bus::Memory(bus) => bus.publish(topic, payload),
        }
    }

    /// Opens a subscription (one connection for many topics).
    pub fn subscribe(&self) -> (Subscription, mpsc::UnboundedReceiver<BusMessage>) {
        match self {
            Bus::Redis(bus) => bus.subscribe(),
            Bus::Cluster(bus) => bus.subscribe(),
            Bus::Memory(bus) => bus.subscribe(),
        }
    }

    /// Checks that the bus answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), BusError> {
        match self {
            Bus::Redis(bus) => bus.ping().await,
            Bus::Cluster(bus) => bus.ping().await,
            Bus::Memory(_) => Ok(()),
        }
    }

    pub fn metrics(&self) -> &Arc<BusMetrics> {
        match self {
            Bus::Redis(bus) => bus.metrics(),
            Bus::Cluster(bus) => bus.metrics(),
            Bus::Memory(bus) => bus.metrics(),
        }
    }
}

/// Adds and drops topics on one subscription. Dropping it ends the subscription.
#[derive(Debug)]
pub enum Subscription {
    Redis(redis::RedisSubscription),
    Cluster(cluster::subscriber::ClusterSubscription),
    Memory(memory::MemorySubscription),
}

/// The confirmation of a subscription change.
pub type Confirmation = futures::future::BoxFuture<'static, Result<(), BusError>>;

impl Subscription {
    /// Subscribes to `topic`. The request is queued at once, in call order; the returned
    /// future resolves when it is confirmed: from then on, published events arrive.
    /// On `Err(NotConnected)` the topic is kept and subscribed on reconnect.
    pub fn add(&self, topic: &Topic) -> Confirmation {
        match self {
            Subscription::Redis(s) => s.add(topic),
            Subscription::Cluster(s) => s.add(topic),
            Subscription::Memory(s) => {
                s.add(topic);
                Box::pin(std::future::ready(Ok(())))
            }
        }
    }

    /// Unsubscribes from `topic`; queued at once, like [`Subscription::add`].
    pub fn remove(&self, topic: &Topic) -> Confirmation {
        match self {
            Subscription::Redis(s) => s.remove(topic),
            Subscription::Cluster(s) => s.remove(topic),
            Subscription::Memory(s) => {
                s.remove(topic);
                Box::pin(std::future::ready(Ok(())))
            }
        }
    }
}
