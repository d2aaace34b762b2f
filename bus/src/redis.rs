//! Redis PubSub: one publishing connection and one subscribing connection per
//! subscription, each restored by itself after a loss.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chat_types::Topic;
use chat_types::backoff::Backoff;
use futures::StreamExt;
use redis::aio::{ConnectionManager, MultiplexedConnection, PubSubSink};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::{BusError, BusMessage, BusMetrics, Confirmation, Subscription};

/// How long to wait for Redis to accept a connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one pipeline of PUBLISH commands may take.
pub(crate) const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
/// Events still unpublished after this long are dropped (receivers backfill messages
/// from the database anyway).
pub(crate) const MAX_EVENT_AGE: Duration = Duration::from_secs(30);
/// Events waiting for the bus; beyond this many, or this many bytes, new ones are
/// dropped and counted.
pub(crate) const QUEUE_CAPACITY: usize = 65_536;
pub(crate) const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// The most events sent in one pipeline.
pub(crate) const PIPELINE_MAX: usize = 1024;
/// How long connecting and subscribing every wanted topic may take.
const RESUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle subscribing connection is checked.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    prefix: String,
    client: redis::Client,
    queue: mpsc::Sender<Outgoing>,
    /// The payload bytes in `queue`.
    queued_bytes: Arc<AtomicUsize>,
    metrics: Arc<BusMetrics>,
    publisher: JoinHandle<()>,
    /// For commands other than PUBLISH (presence), connected on first use and
    /// reconnected by itself.
    commands: tokio::sync::OnceCell<ConnectionManager>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.publisher.abort();
    }
}

#[derive(Debug)]
struct Outgoing {
    channel: String,
    payload: Bytes,
    queued_at: Instant,
}

impl RedisBus {
    pub(super) async fn connect(
        url: &str,
        ca: Option<Vec<u8>>,
        prefix: &str,
    ) -> Result<Self, BusError> {
        crate::tls::install_crypto();
        let client = match ca {
            Some(ca) => crate::tls::client_with_ca(url, &ca)?,
            None => redis::Client::open(url)?,
        };
        let connection = connect(&client).await?;
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
                client,
                queue,
                queued_bytes,
                metrics,
                publisher,
                commands: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// A connection for commands (see [`crate::presence`]).
    pub(crate) async fn commands(&self) -> Result<ConnectionManager, BusError> {
        let manager = self
            .inner
            .commands
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(PUBLISH_TIMEOUT));
                ConnectionManager::new_with_config(self.inner.client.clone(), config).await
            })
            .await?;
        Ok(manager.clone())
    }

    /// A key of this deployment: `{prefix}:{name}`.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.inner.prefix)
    }

    pub(super) fn publish(&self, topic: &Topic, payload: Bytes) {
        let size = payload.len();
        let queued = &self.inner.queued_bytes;
        let room = queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bytes| {
                (bytes + size <= QUEUE_BYTES).then_some(bytes + size)
            })
            .is_ok();
        let outgoing = Outgoing {
            channel: topic.channel(&self.inner.prefix),
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

    pub(super) fn subscribe(&self) -> (Subscription, mpsc::UnboundedReceiver<BusMessage>) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (out, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run_subscriber(
            self.inner.client.clone(),
            self.inner.prefix.clone(),
            command_rx,
            out,
            self.inner.metrics.clone(),
        ));
        (
            Subscription::Redis(RedisSubscription { commands, task }),
            rx,
        )
    }

    pub(super) async fn ping(&self) -> Result<(), BusError> {
        let mut connection = connect(&self.inner.client).await?;
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            redis::cmd("PING").query_async::<()>(&mut connection),
        )
        .await
        .map_err(|_| BusError::NotConnected)??;
        Ok(())
    }

    pub(super) fn metrics(&self) -> &Arc<BusMetrics> {
        &self.inner.metrics
    }
}

async fn connect(client: &redis::Client) -> Result<MultiplexedConnection, BusError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(PUBLISH_TIMEOUT));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

/// Sends queued events in order, pipelined; on failure, reconnects and retries the
/// same events until they are sent or too old.
async fn run_publisher(
    client: redis::Client,
    mut connection: Option<MultiplexedConnection>,
    mut queue: mpsc::Receiver<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    metrics: Arc<BusMetrics>,
) {
    let mut batch: Vec<Outgoing> = Vec::with_capacity(PIPELINE_MAX);
    let mut backoff = reconnect_backoff();
    // Taken off the count once an event is sent or given up.
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
            None => match connect(&client).await {
                Ok(conn) => {
                    tracing::info!("bus publisher reconnected");
                    BusMetrics::add(&metrics.reconnects, 1);
                    connection.insert(conn)
                }
                Err(e) => {
                    tracing::warn!(error = %chat_types::describe(&e), "bus publisher cannot connect");
                    tokio::time::sleep(backoff.next_pause()).await;
                    continue;
                }
            },
        };
        let mut pipe = redis::pipe();
        for event in &batch {
            pipe.cmd("PUBLISH")
                .arg(&event.channel)
                .arg(&event.payload[..])
                .ignore();
        }
        match tokio::time::timeout(PUBLISH_TIMEOUT, pipe.query_async::<()>(conn)).await {
            Ok(Ok(())) => {
                BusMetrics::add(&metrics.published, batch.len() as u64);
                done(&batch);
                batch.clear();
                backoff.reset();
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_string(),
                };
                tracing::warn!(%error, events = batch.len(), "bus publish failed; will retry");
                BusMetrics::add(&metrics.publish_failures, batch.len() as u64);
                connection = None;
                tokio::time::sleep(backoff.next_pause()).await;
            }
        }
    }
}

#[derive(Debug)]
enum Command {
    Add(Topic, oneshot::Sender<Result<(), BusError>>),
    Remove(Topic, oneshot::Sender<Result<(), BusError>>),
}

/// The handle of one subscribing connection; dropping it closes the connection.
#[derive(Debug)]
pub struct RedisSubscription {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl Drop for RedisSubscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RedisSubscription {
    pub(super) fn add(&self, topic: &Topic) -> Confirmation {
        self.send(|reply| Command::Add(topic.clone(), reply))
    }

    pub(super) fn remove(&self, topic: &Topic) -> Confirmation {
        self.send(|reply| Command::Remove(topic.clone(), reply))
    }

    /// Queues the command now; the future waits for its confirmation.
    fn send(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), BusError>>) -> Command,
    ) -> Confirmation {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(command(reply));
        Box::pin(async move {
            sent.map_err(|_| BusError::Closed)?;
            answer.await.map_err(|_| BusError::Closed)?
        })
    }
}

/// Keeps one subscribing connection alive with every wanted topic on it.
async fn run_subscriber(
    client: redis::Client,
    prefix: String,
    mut commands: mpsc::UnboundedReceiver<Command>,
    out: mpsc::UnboundedSender<BusMessage>,
    metrics: Arc<BusMetrics>,
) {
    let mut topics: HashSet<Topic> = HashSet::new();
    let mut backoff = reconnect_backoff();
    let mut ever_connected = false;
    loop {
        // Connecting and resubscribing is bounded as a whole: a server that accepts and
        // then says nothing must not stall the subscription forever.
        let connected = tokio::time::timeout(RESUBSCRIBE_TIMEOUT, async {
            let (mut sink, stream) = client.get_async_pubsub().await?.split();
            let channels: Vec<String> = topics.iter().map(|t| t.channel(&prefix)).collect();
            for chunk in channels.chunks(512) {
                sink.subscribe(chunk).await?;
            }
            Ok::<_, BusError>((sink, stream))
        })
        .await
        .unwrap_or(Err(BusError::NotConnected));
        let (mut sink, mut stream) = match connected {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %chat_types::describe(&e), "bus subscriber cannot connect");
                let pause = tokio::time::sleep(backoff.next_pause());
                tokio::pin!(pause);
                loop {
                    tokio::select! {
                        _ = &mut pause => break,
                        command = commands.recv() => match command {
                            None => return,
                            Some(command) => apply_offline(&mut topics, command),
                        },
                    }
                }
                continue;
            }
        };
        backoff.reset();
        if ever_connected {
            tracing::info!(topics = topics.len(), "bus subscriber reconnected");
            BusMetrics::add(&metrics.reconnects, 1);
            if out.send(BusMessage::Reconnected).is_err() {
                return;
            }
        }
        ever_connected = true;

        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.tick().await;
        loop {
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { return };
                    if apply_online(&mut topics, &mut sink, &prefix, command).await.is_err() {
                        break;
                    }
                }
                message = stream.next() => {
                    let Some(message) = message else { break };
                    let Some(topic) = Topic::from_channel(&prefix, message.get_channel_name()) else {
                        continue;
                    };
                    BusMetrics::add(&metrics.received, 1);
                    let payload = Bytes::copy_from_slice(message.get_payload_bytes());
                    if out.send(BusMessage::Event { topic, payload }).is_err() {
                        return;
                    }
                }
                _ = ping.tick() => {
                    // A subscribed connection answers PING with an array: take any value.
                    let alive = tokio::time::timeout(CONNECT_TIMEOUT, sink.ping::<redis::Value>()).await;
                    if !matches!(alive, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        tracing::warn!("bus subscriber lost its connection");
    }
}

fn apply_offline(topics: &mut HashSet<Topic>, command: Command) {
    match command {
        Command::Add(topic, reply) => {
            topics.insert(topic);
            let _ = reply.send(Err(BusError::NotConnected));
        }
        Command::Remove(topic, reply) => {
            topics.remove(&topic);
            let _ = reply.send(Ok(()));
        }
    }
}

/// Applies a command on a live connection; `Err` means the connection is gone.
async fn apply_online(
    topics: &mut HashSet<Topic>,
    sink: &mut PubSubSink,
    prefix: &str,
    command: Command,
) -> Result<(), ()> {
    // A Redis that went silent without closing must not hold the subscriber here:
    // no answer in time counts as a lost connection (the topic stays wanted, and is
    // subscribed again once connected).
    let (result, reply) = match command {
        Command::Add(topic, reply) => {
            let result =
                tokio::time::timeout(CONNECT_TIMEOUT, sink.subscribe(topic.channel(prefix))).await;
            topics.insert(topic);
            (result, reply)
        }
        Command::Remove(topic, reply) => {
            let result =
                tokio::time::timeout(CONNECT_TIMEOUT, sink.unsubscribe(topic.channel(prefix)))
                    .await;
            topics.remove(&topic);
            (result, reply)
        }
    };
    match result {
        Ok(Ok(())) => {
            let _ = reply.send(Ok(()));
            Ok(())
        }
        Ok(Err(e)) => {
            let _ = reply.send(Err(e.into()));
            Err(())
        }
        Err(_) => {
            tracing::warn!("bus subscriber: no answer to SUBSCRIBE/UNSUBSCRIBE in time");
            let _ = reply.send(Err(BusError::NotConnected));
            Err(())
        }
    }
}

/// Reconnecting: from 50 ms up to 2 s between attempts.
pub(crate) fn reconnect_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(50), Duration::from_secs(2))
}
