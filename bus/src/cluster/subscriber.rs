//! One receiver's subscriptions on a Redis Cluster: each wanted channel subscribed on
//! the master that owns its slot, over one RESP3 connection per such master that does
//! nothing but subscribe, and kept there through failovers and slot moves.
//!
//! Only the pushes a node sends are trusted: a message (`smessage`), a confirmation
//! (`ssubscribe`), a channel moved away (`sunsubscribe` we did not ask for), the
//! connection gone (`Disconnection`). Anything lost makes the task read the slot map
//! again and resubscribe, slot by slot on each owner (one channel per `SSUBSCRIBE`:
//! several channels in one must share a slot), then tell the receiver to catch up.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chat_types::Topic;
use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::slots::{Node, SlotMap};
use super::{NodeTemplate, SLOTS_TIMEOUT, partition};
use crate::redis::{CONNECT_TIMEOUT, PING_INTERVAL, reconnect_backoff};
use crate::{BusError, BusMessage, BusMetrics, Confirmation};

/// How often the slot map is read again when nothing said it changed: a replica that
/// takes over does not always tell the subscribers of its old master.
const SLOTS_REFRESH: Duration = Duration::from_secs(30);
/// The most channels subscribed in one pipeline.
const CHUNK: usize = 512;

#[derive(Debug)]
enum Command {
    Add(Topic, oneshot::Sender<Result<(), BusError>>),
    Remove(Topic, oneshot::Sender<Result<(), BusError>>),
}

/// The handle of one subscriber; dropping it ends its task and connections.
#[derive(Debug)]
pub struct ClusterSubscription {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl Drop for ClusterSubscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ClusterSubscription {
    pub(crate) fn add(&self, topic: &Topic) -> Confirmation {
        self.send(|reply| Command::Add(topic.clone(), reply))
    }

    pub(crate) fn remove(&self, topic: &Topic) -> Confirmation {
        self.send(|reply| Command::Remove(topic.clone(), reply))
    }

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

pub(super) fn start(
    nodes: NodeTemplate,
    prefix: String,
    partitions: u16,
    metrics: Arc<BusMetrics>,
) -> (ClusterSubscription, mpsc::UnboundedReceiver<BusMessage>) {
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (out, rx) = mpsc::unbounded_channel();
    let (pushes, push_rx) = mpsc::unbounded_channel();
    let subscriber = Subscriber {
        nodes,
        prefix,
        partitions,
        wanted: HashMap::new(),
        on_node: HashMap::new(),
        slots: SlotMap::default(),
        connections: HashMap::new(),
        pushes,
        out,
        metrics,
        lost: false,
    };
    let task = tokio::spawn(subscriber.run(command_rx, push_rx));
    (ClusterSubscription { commands, task }, rx)
}

struct Subscriber {
    nodes: NodeTemplate,
    prefix: String,
    partitions: u16,
    /// Channels wanted, with their topics.
    wanted: HashMap<String, Topic>,
    /// Where each wanted channel is subscribed now (confirmed by its node).
    on_node: HashMap<String, Node>,
    slots: SlotMap,
    /// One connection per master holding subscriptions.
    connections: HashMap<Node, MultiplexedConnection>,
    /// Every node's pushes, tagged with the node.
    pushes: mpsc::UnboundedSender<(Node, PushInfo)>,
    out: mpsc::UnboundedSender<BusMessage>,
    metrics: Arc<BusMetrics>,
    /// Something was lost (a connection, a moved channel) and not resubscribed yet:
    /// when it is, the receiver is told to catch up.
    lost: bool,
}

impl Subscriber {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut pushes: mpsc::UnboundedReceiver<(Node, PushInfo)>,
    ) {
        let mut refresh = tokio::time::interval(SLOTS_REFRESH);
        refresh.tick().await;
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.tick().await;
        let mut backoff = reconnect_backoff();
        let mut retry_at: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command).await,
                    None => return,
                },
                push = pushes.recv() => match push {
                    Some((node, push)) => {
                        if self.on_push(node, push).is_err() {
                            return;
                        }
                    }
                    None => return,
                },
                _ = refresh.tick() => {
                    // Nothing lost that anyone said: see whether the map agrees.
                    if self.read_slots().await.is_ok() && self.misplaced() {
                        tracing::warn!("bus: the slot map moved channels; resubscribing");
                        self.lost = true;
                    }
                }
                _ = ping.tick() => self.ping_nodes().await,
                () = sleep_until(retry_at), if retry_at.is_some() => retry_at = None,
            }
            if (self.lost || self.misplaced_known()) && retry_at.is_none() {
                match self.resubscribe().await {
                    Ok(()) => {
                        backoff.reset();
                        if std::mem::take(&mut self.lost) {
                            BusMetrics::add(&self.metrics.reconnects, 1);
                            if self.out.send(BusMessage::Reconnected).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %chat_types::describe(&e), "bus: resubscribing failed; will retry");
                        self.lost = true;
                        retry_at = Some(tokio::time::Instant::now() + backoff.next_pause());
                    }
                }
            }
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Add(topic, reply) => {
                let channel = partition::channel(&self.prefix, &topic, self.partitions);
                self.wanted.insert(channel.clone(), topic);
                let result = self.subscribe_one(&channel).await;
                if result.is_err() {
                    // Kept wanted: subscribed when the cluster answers again, and the
                    // receiver catches up then.
                    self.lost = true;
                }
                let _ = reply.send(result);
            }
            Command::Remove(topic, reply) => {
                let channel = partition::channel(&self.prefix, &topic, self.partitions);
                self.wanted.remove(&channel);
                if let Some(node) = self.on_node.remove(&channel)
                    && let Some(connection) = self.connections.get_mut(&node)
                {
                    let mut command = redis::cmd("SUNSUBSCRIBE");
                    command.arg(&channel);
                    let unsubscribe = command.query_async::<()>(connection);
                    if !matches!(
                        tokio::time::timeout(CONNECT_TIMEOUT, unsubscribe).await,
                        Ok(Ok(()))
                    ) {
                        self.drop_node(&node);
                    }
                }
                let _ = reply.send(Ok(()));
            }
        }
    }

    /// Subscribes `channel` on its owner, reading the slot map first if it is not known
    /// or the owner answers that it moved.
    async fn subscribe_one(&mut self, channel: &str) -> Result<(), BusError> {
        if self.slots.is_empty() {
            self.read_slots().await?;
        }
        for _ in 0..2 {
            let owner = self.owner(channel)?;
            let connection = self.connection(&owner).await?;
            let mut command = redis::cmd("SSUBSCRIBE");
            command.arg(channel);
            let subscribe = command.query_async::<()>(connection);
            match tokio::time::timeout(CONNECT_TIMEOUT, subscribe).await {
                Ok(Ok(())) => {
                    self.on_node.insert(channel.to_string(), owner);
                    return Ok(());
                }
                Ok(Err(e)) if e.redirect_node().is_some() => {
                    self.read_slots().await?;
                }
                Ok(Err(e)) => {
                    self.drop_node(&owner);
                    return Err(e.into());
                }
                Err(_) => {
                    self.drop_node(&owner);
                    return Err(BusError::NotConnected);
                }
            }
        }
        Err(BusError::NotConnected)
    }

    /// Subscribes every wanted channel that is not subscribed on its owner, node by
    /// node, one slot after another, and counts each.
    async fn resubscribe(&mut self) -> Result<(), BusError> {
        self.read_slots().await?;
        let mut by_node: HashMap<Node, Vec<String>> = HashMap::new();
        for channel in self.wanted.keys() {
            let owner = self.owner(channel)?;
            if self.on_node.get(channel) != Some(&owner) {
                by_node.entry(owner).or_default().push(channel.clone());
            }
        }
        for (node, mut channels) in by_node {
            channels.sort_by_key(|c| partition::slot(c));
            // Off the node it was on (still held, by a node that lost the slot).
            for channel in &channels {
                self.on_node.remove(channel);
            }
            let connection = self.connection(&node).await?.clone();
            for chunk in channels.chunks(CHUNK) {
                let mut pipe = redis::pipe();
                for channel in chunk {
                    pipe.cmd("SSUBSCRIBE").arg(channel).ignore();
                }
                let mut connection = connection.clone();
                match tokio::time::timeout(CONNECT_TIMEOUT, pipe.query_async::<()>(&mut connection))
                    .await
                {
                    Ok(Ok(())) => {
                        for channel in chunk {
                            self.on_node.insert(channel.clone(), node.clone());
                        }
                        BusMetrics::add(&self.metrics.resubscriptions, chunk.len() as u64);
                        tracing::info!(%node, channels = chunk.len(), "bus: channels resubscribed");
                    }
                    Ok(Err(e)) => {
                        if e.redirect_node().is_none() {
                            self.drop_node(&node);
                        }
                        return Err(e.into());
                    }
                    Err(_) => {
                        self.drop_node(&node);
                        return Err(BusError::NotConnected);
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the slot map (just read) puts a subscribed channel elsewhere.
    fn misplaced(&self) -> bool {
        self.on_node
            .iter()
            .any(|(channel, node)| self.slots.owner(partition::slot(channel)) != Some(node))
    }

    /// Whether a wanted channel is not subscribed anywhere (without reading anything).
    fn misplaced_known(&self) -> bool {
        self.wanted.len() != self.on_node.len()
    }

    fn owner(&self, channel: &str) -> Result<Node, BusError> {
        self.slots
            .owner(partition::slot(channel))
            .cloned()
            .ok_or(BusError::NotConnected)
    }

    /// Reads the slot map from a node we hold, else from the seeds.
    async fn read_slots(&mut self) -> Result<(), BusError> {
        let held: Vec<Node> = self.connections.keys().cloned().collect();
        let mut clients: Vec<Result<redis::Client, BusError>> = held
            .iter()
            .map(|node| self.nodes.node_client(node))
            .collect();
        clients.extend(super::seed_clients(&self.nodes));
        let mut last = BusError::NotConnected;
        for client in clients {
            let read = async {
                let mut connection = client?
                    .get_multiplexed_async_connection_with_config(&plain_config())
                    .await?;
                let shards: Value = redis::cmd("CLUSTER")
                    .arg("SHARDS")
                    .query_async(&mut connection)
                    .await?;
                SlotMap::from_shards(shards).ok_or(BusError::NotConnected)
            };
            match tokio::time::timeout(SLOTS_TIMEOUT, read).await {
                Ok(Ok(map)) if !map.is_empty() => {
                    self.slots = map;
                    return Ok(());
                }
                Ok(Err(e)) => last = e,
                _ => {}
            }
        }
        Err(last)
    }

    /// The subscribing connection to `node`, opened if need be.
    async fn connection(&mut self, node: &Node) -> Result<&mut MultiplexedConnection, BusError> {
        if !self.connections.contains_key(node) {
            let client = self.nodes.node_client(node)?;
            let pushes = self.pushes.clone();
            let tag = node.clone();
            let config = plain_config()
                .set_push_sender(move |push: PushInfo| pushes.send((tag.clone(), push)));
            let connection = tokio::time::timeout(
                CONNECT_TIMEOUT,
                client.get_multiplexed_async_connection_with_config(&config),
            )
            .await
            .map_err(|_| BusError::NotConnected)??;
            self.connections.insert(node.clone(), connection);
        }
        self.connections.get_mut(node).ok_or(BusError::NotConnected)
    }

    /// Forgets `node`'s connection: its channels are subscribed nowhere now.
    fn drop_node(&mut self, node: &Node) {
        if self.connections.remove(node).is_some() {
            tracing::warn!(%node, "bus: lost a subscribing connection");
        }
        self.on_node.retain(|_, on| on != node);
        self.lost = true;
    }

    async fn ping_nodes(&mut self) {
        let nodes: Vec<Node> = self.connections.keys().cloned().collect();
        for node in nodes {
            let Some(connection) = self.connections.get_mut(&node) else {
                continue;
            };
            let command = redis::cmd("PING");
            let ping = command.query_async::<Value>(connection);
            if !matches!(tokio::time::timeout(CONNECT_TIMEOUT, ping).await, Ok(Ok(_))) {
                self.drop_node(&node);
            }
        }
    }

    /// One push from `node`; `Err` when the receiver is gone.
    fn on_push(&mut self, node: Node, push: PushInfo) -> Result<(), ()> {
        match push.kind {
            PushKind::SMessage => {
                let mut data = push.data.into_iter();
                let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
                    return Ok(());
                };
                let (Ok(channel), Ok(payload)) = (
                    redis::from_redis_value::<String>(channel),
                    redis::from_redis_value::<Vec<u8>>(payload),
                ) else {
                    return Ok(());
                };
                let Some(topic) = self.wanted.get(&channel).cloned() else {
                    return Ok(());
                };
                BusMetrics::add(&self.metrics.received, 1);
                let payload = Bytes::from(payload);
                self.out
                    .send(BusMessage::Event { topic, payload })
                    .map_err(drop)?;
            }
            PushKind::SUnsubscribe => {
                // One we asked for was forgotten first; one still wanted was moved away.
                let moved: HashSet<String> = push
                    .data
                    .into_iter()
                    .filter_map(|v| redis::from_redis_value::<String>(v).ok())
                    .filter(|c| self.on_node.get(c) == Some(&node))
                    .collect();
                if !moved.is_empty() {
                    tracing::warn!(%node, channels = moved.len(), "bus: channels moved off their node");
                    self.on_node.retain(|c, _| !moved.contains(c));
                    self.lost = true;
                }
            }
            PushKind::Disconnection => self.drop_node(&node),
            _ => {}
        }
        Ok(())
    }
}

fn plain_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(CONNECT_TIMEOUT))
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
