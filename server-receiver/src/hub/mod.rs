//! The hub: the receiver's one subscription to the bus, shared by all its subscribers.
//!
//! A single task, the actor (`actor.rs`), owns all topic state, so the delivery path
//! takes no locks. A topic is subscribed on the bus while at least one local
//! subscriber needs it, and dropped after the last one leaves. Each event is decoded
//! once and handed, as one shared value, to every local subscriber whose filter
//! accepts it.
//!
//! What leaves the hub for a chat is gap-free and in order: messages in seq order, each
//! once; logged changes (edits, deletes, renames, people added or removed) in
//! `eventSeq` order, each once; a message only after every change logged before it;
//! someone's departure ending their registrations before anything after it. Those
//! rules are `ChatOrder`'s (`order.rs`), a plain value with no I/O and its own tests;
//! the actor feeds it what happens (bus events, database reads, log-tail checks,
//! reconnects) and carries out what it answers. A message or change whose bus event
//! never came is found by the log-tail check: once a second one read gives where
//! every chat held ends, and a chat still behind where a check earlier found it is
//! caught up from the database.
//!
//! Each opening of a topic has its own generation: a report from a helper task of an
//! earlier opening (the topic was dropped and opened again meanwhile) is stale, and is
//! ignored, so an old catch-up can never move the new opening's watermark.
//!
//! The [`Hub`] handle owns the actor: registrations reach it only weakly, so dropping
//! the last `Hub` ends the actor's task, and with it every registration's events.
//!
//! - `mod.rs`: the handle ([`Hub`]) and what a subscriber holds ([`Registration`]).
//! - `actor.rs`: the task: channels, the bus, the store, helper tasks.
//! - `order.rs`: the per-chat ordering rules, without I/O.
//! - `metrics.rs`: the hub's figures for `/metrics`.

mod actor;
mod metrics;
mod order;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use chat_bus::Bus;
use chat_store::Store;
use chat_types::{ChatId, Event, Topic, UserId};
use server_core::ApiError;
use server_core::access::participant;
use server_core::metrics::Registry;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::kinds::{self, Filter, Kind};
use metrics::HubMetrics;

/// Why a subscriber's events stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The receiver is shutting down or the subscriber left.
    Closed = 0,
    /// It did not keep up: its buffer filled.
    Lagged = 1,
    /// It left the chat or was removed from it.
    Removed = 2,
}

impl End {
    /// What a subscription ends with, when the client should know why.
    pub fn error(self) -> Option<ApiError> {
        match self {
            End::Closed => None,
            End::Removed => Some(ApiError::Forbidden(
                "you are no longer a participant of this chat",
            )),
            End::Lagged => Some(ApiError::Unavailable),
        }
    }
}

/// A subscriber's end of the hub.
pub struct Registration {
    /// For chat topics, the last seq the hub had delivered when this subscriber joined:
    /// everything after it will arrive here.
    pub watermark: i64,
    /// Likewise for the chat's logged changes: every change after this one will arrive
    /// here, in order and without a gap, so a replay from the log that reaches it
    /// misses nothing.
    pub event_watermark: i64,
    pub events: mpsc::Receiver<Arc<Event>>,
    end: Arc<AtomicU8>,
    _guard: Unregister,
}

impl Registration {
    /// Why the events stopped (once `events` has ended).
    pub fn end(&self) -> End {
        match self.end.load(Ordering::Acquire) {
            1 => End::Lagged,
            2 => End::Removed,
            _ => End::Closed,
        }
    }
}

/// Tells the hub when a subscriber goes away. It holds the command channel weakly: a
/// registration does not keep the hub running (once the hub is gone, there is nothing
/// to tell).
struct Unregister {
    topic: Topic,
    id: u64,
    commands: mpsc::WeakUnboundedSender<Command>,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        if let Some(commands) = self.commands.upgrade() {
            let _ = commands.send(Command::Unregister {
                topic: self.topic.clone(),
                id: self.id,
            });
        }
    }
}

/// What the handle asks of the actor.
enum Command {
    Register {
        topic: Topic,
        user: UserId,
        filter: Filter,
        reply: oneshot::Sender<Result<Registration, ApiError>>,
    },
    Unregister {
        topic: Topic,
        id: u64,
    },
}

/// The handle resolvers use. It holds the only strong sender of the actor's commands:
/// dropping it stops the actor.
pub struct Hub {
    commands: mpsc::UnboundedSender<Command>,
    metrics: Arc<HubMetrics>,
}

impl Hub {
    /// Starts the hub's task on a subscription of its own to `bus`.
    pub fn start(store: Store, bus: &Bus) -> Self {
        Self::spawn(store, bus).0
    }

    /// [`Hub::start`], and the actor's task (for tests: it ends when the hub is
    /// dropped).
    fn spawn(store: Store, bus: &Bus) -> (Self, JoinHandle<()>) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let metrics = Arc::new(HubMetrics::default());
        let task = actor::Actor::spawn(
            store,
            bus,
            commands.downgrade(),
            command_rx,
            metrics.clone(),
        );
        (Self { commands, metrics }, task)
    }

    /// Adds the hub's figures to `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    /// Joins a chat's topic for kind `K` if `me` takes part in it. Participation is
    /// checked before joining, so a stranger costs the receiver no bus subscription,
    /// and again after, so a removal cannot slip in between the check and the first
    /// event. Every joining checks: also a stream's rejoining after it fell behind.
    pub async fn join<K: Kind>(
        &self,
        store: &Store,
        chat: ChatId,
        me: UserId,
    ) -> Result<Registration, ApiError> {
        participant(store, chat, me).await?;
        let registration = self
            .register(Topic::Chat(chat), me, kinds::filter::<K>())
            .await?;
        participant(store, chat, me).await?;
        Ok(registration)
    }

    /// Where a stream goes when its registration's events stop: after falling behind,
    /// a new registration to catch up from (participation checked again); otherwise
    /// the end, with the error to end on, if any.
    pub async fn rejoin<K: Kind>(
        &self,
        end: End,
        store: &Store,
        chat: ChatId,
        me: UserId,
    ) -> Result<Registration, Option<ApiError>> {
        match end {
            End::Lagged => self.join::<K>(store, chat, me).await.map_err(Some),
            end => Err(end.error()),
        }
    }

    /// Joins `topic` with `filter`. Resolves once the bus has confirmed the topic, so
    /// every event published from then on reaches the registration.
    pub async fn register(
        &self,
        topic: Topic,
        user: UserId,
        filter: Filter,
    ) -> Result<Registration, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Register {
                topic,
                user,
                filter,
                reply,
            })
            .map_err(|_| ApiError::Unavailable)?;
        answer.await.map_err(|_| ApiError::Unavailable)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_store::PoolSize;
    use std::time::Duration;
    use uuid::Uuid;

    #[tokio::test]
    async fn dropping_the_hub_stops_its_task_and_ends_every_registration() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("hub.db").display());
        let store = Store::connect(&url, PoolSize::default())
            .await
            .expect("store");
        let (hub, task) = Hub::spawn(store, &Bus::memory());
        let user: UserId = Uuid::now_v7().into();
        let mut registration = hub
            .register(Topic::User(user), user, kinds::filter::<kinds::ChatAdded>())
            .await
            .expect("registered");

        drop(hub);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the hub's task ends when the hub is dropped")
            .expect("and does not panic");
        // A registration outliving the hub ends, as at shutdown.
        assert!(registration.events.recv().await.is_none());
        assert_eq!(registration.end(), End::Closed);
    }
}
