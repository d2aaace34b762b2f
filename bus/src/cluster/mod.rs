//! The bus on a Redis Cluster, with sharded pub/sub (`SPUBLISH` / `SSUBSCRIBE`, Redis
//! or Valkey 7 and later): a message goes only to the shard that owns its channel's
//! slot, so adding masters adds publishing capacity, where classic pub/sub would copy
//! every message to every node.
//!
//! Topics are spread over a fixed number of partitions, each a hash tag
//! ([`partition`]). Publishing goes through the `redis` crate's cluster client, which
//! follows `MOVED` and `ASK` by itself: one pipeline per slot, sent together.
//!
//! Subscribing does not use the cluster client, on purpose (redis-rs 1.8 loses sharded
//! subscriptions: it resubscribes a node's channels of several slots with one
//! `SSUBSCRIBE`, which Redis refuses with `CROSSSLOT`, and it forgets a channel when a
//! slot moves). Instead [`subscriber`] keeps one RESP3 connection per master that holds
//! a subscribed channel, carrying nothing but `SSUBSCRIBE`, `SUNSUBSCRIBE` and `PING`,
//! and subscribes each channel on its slot's owner by itself. When a node is lost,
//! when Redis moves a channel away (an unsolicited `sunsubscribe`) or answers `MOVED`,
//! and every half minute, it reads the slot map again and resubscribes whatever is not
//! where it should be; each resubscription is counted. Then the receiver is told
//! ([`BusMessage::Reconnected`]) and catches up from the database, which repairs
//! whatever the bus dropped meanwhile (ARCHITECTURE.md, "Past one machine").

pub mod partition;
mod slots;
pub(crate) mod subscriber;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chat_types::Topic;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionInfo, IntoConnectionInfo};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::redis::{
    CONNECT_TIMEOUT, MAX_EVENT_AGE, PIPELINE_MAX, PUBLISH_TIMEOUT, QUEUE_BYTES, QUEUE_CAPACITY,
    reconnect_backoff,
};
use crate::{BusError, BusMessage, BusMetrics, Subscription};

pub use partition::DEFAULT_PARTITIONS;

/// How to reach a Redis Cluster: some of its nodes (any one is enough to find the
/// rest), and a private CA for `rediss://` nodes if they need one.
#[derive(Clone, Debug)]
pub struct ClusterTarget {
    pub nodes: Vec<String>,
    pub ca: Option<Vec<u8>>,
    pub partitions: u16,
}

/// The cluster bus; cheap to clone.
#[derive(Clone, Debug)]
pub struct ClusterBus {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: String,
    partitions: u16,
    /// How to reach a node: the first seed's scheme, credentials and TLS.
    nodes: NodeTemplate,
    client: ClusterClient,
    queue: mpsc::Sender<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    metrics: Arc<BusMetrics>,
    publisher: JoinHandle<()>,
    /// For commands other than publishing (presence), connected on first use.
    commands: tokio::sync::OnceCell<ClusterConnection>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterBus")
            .field("prefix", &self.prefix)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.publisher.abort();
    }
}

#[derive(Debug)]
struct Outgoing {
    channel: String,
    slot: u16,
    payload: Bytes,
    queued_at: Instant,
}

/// Connection settings for any node, made from a seed's: its scheme (TLS or not),
/// credentials and CA, another host and port.
#[derive(Clone, Debug)]
pub(crate) struct NodeTemplate {
    seeds: Vec<ConnectionInfo>,
    ca: Option<Vec<u8>>,
}

impl NodeTemplate {
    fn new(nodes: &[String], ca: Option<Vec<u8>>) -> Result<Self, BusError> {
        let seeds = nodes
            .iter()
            .map(|n| n.as_str().into_connection_info())
            .collect::<Result<Vec<_>, _>>()?;
        if seeds.is_empty() {
            return Err(BusError::NotConnected);
        }
        Ok(Self { seeds, ca })
    }

    /// A RESP3 client for the seeds, in turn.
    fn seed_clients(&self) -> Vec<Result<redis::Client, BusError>> {
        self.seeds
            .iter()
            .map(|info| self.client(info.clone()))
            .collect()
    }

    /// A RESP3 client for the node at `host:port`.
    pub(crate) fn node_client(&self, node: &str) -> Result<redis::Client, BusError> {
        let (host, port) = node
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
            .ok_or(BusError::NotConnected)?;
        let seed = &self.seeds[0];
        let addr = match seed.addr() {
            redis::ConnectionAddr::TcpTls { insecure, .. } => redis::ConnectionAddr::TcpTls {
                host,
                port,
                insecure: *insecure,
                tls_params: None,
            },
            _ => redis::ConnectionAddr::Tcp(host, port),
        };
        self.client(seed.clone().set_addr(addr))
    }

    fn client(&self, info: ConnectionInfo) -> Result<redis::Client, BusError> {
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        Ok(match &self.ca {
            Some(ca) => crate::tls::client_with_ca(info, ca)?,
            None => redis::Client::open(info)?,
        })
    }
}

impl ClusterBus {
    pub(crate) async fn connect(target: &ClusterTarget, prefix: &str) -> Result<Self, BusError> {
        if prefix.contains(['{', '}']) {
            return Err(BusError::Config(
                "a bus prefix on Redis Cluster may not hold braces (they make hash tags)",
            ));
        }
        crate::tls::install_crypto();
        let nodes = NodeTemplate::new(&target.nodes, target.ca.clone())?;
        let mut builder = ClusterClientBuilder::new(target.nodes.clone())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(PUBLISH_TIMEOUT);
        if let Some(ca) = &target.ca {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.clone()),
            });
        }
        let client = builder.build()?;
        let connection = tokio::time::timeout(CONNECT_TIMEOUT * 2, client.get_async_connection())
            .await
            .map_err(|_| BusError::NotConnected)??;
        let metrics = Arc::new(BusMetrics::default());
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let publisher = tokio::spawn(run_publisher(
            client.clone(),
            Some(connection),
            rx,
            queued_bytes.clone(),
            metrics.clone(),
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                prefix: prefix.to_string(),
                partitions: target.partitions.max(1),
                nodes,
                client,
                queue,
                queued_bytes,
                metrics,
                publisher,
                commands: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// A connection for commands (see [`crate::presence`]); never one that subscribes.
    pub(crate) async fn commands(&self) -> Result<ClusterConnection, BusError> {
        let connection = self
            .inner
            .commands
            .get_or_try_init(|| async {
                tokio::time::timeout(
                    CONNECT_TIMEOUT * 2,
                    self.inner.client.get_async_connection(),
                )
                .await
                .map_err(|_| BusError::NotConnected)?
                .map_err(BusError::from)
            })
            .await?;
        Ok(connection.clone())
    }

    /// A key of this deployment, in `topic`'s partition: `{prefix}:{p}:{name}` (keys
    /// read together are grouped by partition, one `MGET` per slot).
    pub(crate) fn key(&self, topic: &Topic, name: &str) -> String {
        let p = partition::partition(topic, self.inner.partitions);
        format!("{}:{{{p}}}:{name}", self.inner.prefix)
    }

    pub(crate) fn publish(&self, topic: &Topic, payload: Bytes) {
        let size = payload.len();
        let queued = &self.inner.queued_bytes;
        let room = queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bytes| {
                (bytes + size <= QUEUE_BYTES).then_some(bytes + size)
            })
            .is_ok();
        let channel = partition::channel(&self.inner.prefix, topic, self.inner.partitions);
        let outgoing = Outgoing {
            slot: partition::slot(&channel),
            channel,
            payload,
            queued_at: Instant::now(),
        };
        if !room || self.inner.queue.try_send(outgoing).is_err() {
            if room {
                queued.fetch_sub(size, Ordering::AcqRel);
            }
            BusMetrics::add(&self.inner.metrics.dropped, 1);
            tracing::warn!(%topic, "bus queue full: event dropped");
        }
    }

    pub(crate) fn subscribe(&self) -> (Subscription, mpsc::UnboundedReceiver<BusMessage>) {
        let (subscription, rx) = subscriber::start(
            self.inner.nodes.clone(),
            self.inner.prefix.clone(),
            self.inner.partitions,
            self.inner.metrics.clone(),
        );
        (Subscription::Cluster(subscription), rx)
    }

    pub(crate) async fn ping(&self) -> Result<(), BusError> {
        let mut connection = self.commands().await?;
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            redis::cmd("PING").query_async::<()>(&mut connection),
        )
        .await
        .map_err(|_| BusError::NotConnected)??;
        Ok(())
    }

    pub(crate) fn metrics(&self) -> &Arc<BusMetrics> {
        &self.inner.metrics
    }
}

/// Sends queued events in order, one pipeline per slot (a pipeline may not cross
/// slots), the slots' pipelines at once; a slot whose pipeline failed keeps its events,
/// in order, for the next try, until they are sent or too old.
async fn run_publisher(
    client: ClusterClient,
    mut connection: Option<ClusterConnection>,
    mut queue: mpsc::Receiver<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    metrics: Arc<BusMetrics>,
) {
    let mut batch: Vec<Outgoing> = Vec::with_capacity(PIPELINE_MAX);
    let mut backoff = reconnect_backoff();
    let done = |events: &[Outgoing]| {
        let bytes: usize = events.iter().map(|e| e.payload.len()).sum();
        queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
    };
    loop {
        if batch.is_empty() && queue.recv_many(&mut batch, PIPELINE_MAX).await == 0 {
            return;
        }
        let (fresh, stale): (Vec<Outgoing>, Vec<Outgoing>) = batch
            .drain(..)
            .partition(|e| e.queued_at.elapsed() < MAX_EVENT_AGE);
        done(&stale);
        BusMetrics::add(&metrics.dropped, stale.len() as u64);
        batch = fresh;
        if batch.is_empty() {
            continue;
        }
        let conn = match &mut connection {
            Some(conn) => conn,
            None => match tokio::time::timeout(CONNECT_TIMEOUT * 2, client.get_async_connection())
                .await
            {
                Ok(Ok(conn)) => {
                    tracing::info!("bus publisher reconnected");
                    BusMetrics::add(&metrics.reconnects, 1);
                    connection.insert(conn)
                }
                failed => {
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".to_string(),
                    };
                    tracing::warn!(%error, "bus publisher cannot connect");
                    tokio::time::sleep(backoff.next_pause()).await;
                    continue;
                }
            },
        };
        let mut by_slot: BTreeMap<u16, Vec<Outgoing>> = BTreeMap::new();
        for event in batch.drain(..) {
            by_slot.entry(event.slot).or_default().push(event);
        }
        let sends = by_slot.into_values().map(|events| {
            let mut conn = conn.clone();
            let mut pipe = redis::pipe();
            for event in &events {
                pipe.cmd("SPUBLISH")
                    .arg(&event.channel)
                    .arg(&event.payload[..])
                    .ignore();
            }
            async move {
                let sent =
                    tokio::time::timeout(PUBLISH_TIMEOUT, pipe.query_async::<()>(&mut conn)).await;
                (events, sent)
            }
        });
        let mut failed = false;
        for (events, sent) in futures::future::join_all(sends).await {
            match sent {
                Ok(Ok(())) => {
                    BusMetrics::add(&metrics.published, events.len() as u64);
                    done(&events);
                }
                outcome => {
                    let error = match outcome {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".to_string(),
                    };
                    tracing::warn!(%error, events = events.len(), "bus publish failed; will retry");
                    BusMetrics::add(&metrics.publish_failures, events.len() as u64);
                    batch.extend(events);
                    failed = true;
                }
            }
        }
        if failed {
            // Events of one slot stay in their order; slots are independent.
            batch.sort_by_key(|e| e.queued_at);
            tokio::time::sleep(backoff.next_pause()).await;
        } else {
            backoff.reset();
        }
    }
}

/// The seeds' clients, to read the slot map from when no node connection is held.
pub(crate) fn seed_clients(nodes: &NodeTemplate) -> Vec<Result<redis::Client, BusError>> {
    nodes.seed_clients()
}

/// How long a slot-map read may take.
pub(crate) const SLOTS_TIMEOUT: Duration = Duration::from_secs(2);
