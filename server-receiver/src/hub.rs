//! The hub: the receiver's one subscription to the bus, shared by all its subscribers.
//!
//! A single task owns all topic state, so the delivery path takes no locks. A topic is
//! subscribed on the bus while at least one local subscriber needs it, and dropped
//! after the last one leaves. Each event is decoded once and handed, as one shared
//! value, to every local subscriber whose filter accepts it.
//!
//! For chat topics the hub keeps a watermark: the last seq it delivered. A message
//! that jumps past it is held while the missing ones are read from the database; a
//! message at or below it is a duplicate and dropped. After the bus reconnects, every
//! chat topic is caught up from the database the same way. So what leaves the hub for
//! a chat is gap-free and in seq order.
//!
//! A message whose bus event never came (its sender died between commit and publish,
//! or the bus dropped it) is found by the log-tail check: once a second one read gives
//! the newest seq of every chat the hub holds, and a chat still behind a seq seen a
//! check earlier is caught up from the database. Messages merely in flight arrive
//! between two checks and cost nothing.
//!
//! A chat's logged changes (edits, deletes, renames, people added or removed) carry
//! their own `eventSeq`, and leave the hub in that order too: one at or below the last
//! delivered is dropped; one past a gap makes the hub read the log from the last one
//! delivered and apply what it finds in order. A change whose event never came is found
//! by the same log-tail check, and everything is read again after a reconnect. Someone
//! leaving or removed is applied from these changes: their registrations end as their
//! departure is handled, whether its bus event came or was read from the log.
//!
//! Each opening of a topic has its own generation: a report from a helper task of an
//! earlier opening (the topic was dropped and opened again meanwhile) is stale, and is
//! ignored, so an old catch-up can never move the new opening's watermark.

use rustc_hash::FxHashMap as HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use chat_bus::{Bus, BusMessage, Subscription};
use chat_store::{LogEnds, Store};
use chat_types::{BusEvent, ChatEvent, ChatId, Event, Message, Topic, UserId};

use crate::kinds::{self, Filter, Kind};

// The per-chat ordering rules as a value without I/O; the actor below moves onto it
// next.
#[allow(dead_code)]
mod order;
use server_core::ApiError;
use server_core::access::participant;
use server_core::metrics::{Counter, Gauge, Registry};
use tokio::sync::{mpsc, oneshot};

/// Events waiting for one subscriber; beyond this it has fallen behind and is cut off.
const SUBSCRIBER_BUFFER: usize = 1024;
/// Typing events pass at most this often per user and chat.
const TYPING_INTERVAL: Duration = Duration::from_secs(2);
/// Pause before a failed database catch-up is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// How many logged changes one catch-up reads.
const EVENTS_PAGE: i64 = 500;
/// How often the newest seqs of the chats held are read (the log-tail check).
const TAIL_CHECK_INTERVAL: Duration = Duration::from_secs(1);

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

/// Tells the hub when a subscriber goes away.
struct Unregister {
    topic: Topic,
    id: u64,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Unregister {
            topic: self.topic.clone(),
            id: self.id,
        });
    }
}

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

/// What the hub's own helper tasks report back, each about one opening (generation)
/// of a topic.
enum Report {
    /// The bus confirmed the topic; for a chat, `ends` are where its logs end.
    Ready {
        topic: Topic,
        generation: u64,
        ends: Result<LogEnds, ApiError>,
    },
    /// Messages read from the database to fill a gap (or catch up after a reconnect).
    Backfilled {
        chat: ChatId,
        generation: u64,
        messages: Result<Vec<Message>, ()>,
    },
    /// Logged changes read from the database (their events were lost, or the bus
    /// reconnected).
    EventsRead {
        chat: ChatId,
        generation: u64,
        events: Result<Vec<ChatEvent>, ()>,
    },
    /// Where the logs of each chat held ended when the log-tail check read them.
    Tails(Vec<(ChatId, LogEnds)>),
}

/// The handle resolvers use.
pub struct Hub {
    commands: mpsc::UnboundedSender<Command>,
    metrics: Arc<HubMetrics>,
}

/// The hub's figures, for `/metrics`.
#[derive(Default)]
struct HubMetrics {
    topics: Gauge,
    topics_opened: Counter,
    subscribers: Gauge,
    events: Counter,
    deliveries: Counter,
    duplicates: Counter,
    backfills: Counter,
    lagged: Counter,
}

impl HubMetrics {
    fn register(&self, registry: &mut Registry) {
        let gauges = [
            (
                "chat_hub_topics",
                "Bus topics this receiver holds",
                &self.topics,
            ),
            (
                "chat_hub_subscribers",
                "Local subscribers of those topics",
                &self.subscribers,
            ),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        let counters = [
            (
                "chat_hub_topics_opened",
                "Bus topics subscribed to (each a SUBSCRIBE, and an UNSUBSCRIBE later)",
                &self.topics_opened,
            ),
            (
                "chat_hub_events",
                "Events received from the bus (decoded once each)",
                &self.events,
            ),
            (
                "chat_hub_deliveries",
                "Events handed to local subscribers",
                &self.deliveries,
            ),
            (
                "chat_hub_duplicates",
                "Messages dropped as already delivered",
                &self.duplicates,
            ),
            (
                "chat_hub_backfills",
                "Catch-ups read from the database (gaps, reconnects, log-tail checks)",
                &self.backfills,
            ),
            (
                "chat_hub_lagged",
                "Subscribers cut off for not keeping up",
                &self.lagged,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
    }
}

impl Hub {
    /// Starts the hub's task on a subscription of its own to `bus`.
    pub fn start(store: Store, bus: &Bus) -> Self {
        let (subscription, bus_events) = bus.subscribe();
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (reports, report_rx) = mpsc::unbounded_channel();
        let metrics = Arc::new(HubMetrics::default());
        let actor = Actor {
            store,
            subscription,
            topics: HashMap::default(),
            next_id: 0,
            generations: 0,
            checking_tails: false,
            commands: commands.clone(),
            reports,
            metrics: metrics.clone(),
        };
        tokio::spawn(actor.run(command_rx, bus_events, report_rx));
        Self { commands, metrics }
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

struct Subscriber {
    id: u64,
    user: UserId,
    filter: Filter,
    tx: mpsc::Sender<Arc<Event>>,
    end: Arc<AtomicU8>,
}

struct Waiting {
    user: UserId,
    filter: Filter,
    reply: oneshot::Sender<Result<Registration, ApiError>>,
}

#[derive(Default)]
struct TopicState {
    /// Which opening of the topic this is.
    generation: u64,
    subscribers: Vec<Subscriber>,
    /// Registrations waiting for the bus to confirm the topic.
    waiting: Vec<Waiting>,
    ready: bool,
    /// Chat topics: the last seq delivered.
    watermark: i64,
    /// Chat topics: a database catch-up is running; events wait in `held`.
    backfilling: bool,
    /// A reconnect happened during a catch-up: catch up again to the end after it.
    resync: bool,
    held: Vec<Arc<Event>>,
    typing: HashMap<UserId, Instant>,
    /// Chat topics: the last logged change delivered.
    event_watermark: i64,
    /// Chat topics: logged changes are being read from the database.
    reading_events: bool,
    /// Chat topics: another read of logged changes was asked for during this one.
    read_events_again: bool,
    /// Chat topics: a message written after a change not applied yet waits in `held`
    /// for the log to be read.
    awaiting_log: bool,
    /// Chat topics: where the logs ended at the last log-tail check.
    tail: LogEnds,
    /// Chat topics: `watermark` and `event_watermark` at the last log-tail check.
    delivered_at_check: (i64, i64),
}

struct Actor {
    store: Store,
    subscription: Subscription,
    topics: HashMap<Topic, TopicState>,
    next_id: u64,
    /// The last generation given to an opening of a topic.
    generations: u64,
    /// A log-tail check is reading.
    checking_tails: bool,
    commands: mpsc::UnboundedSender<Command>,
    reports: mpsc::UnboundedSender<Report>,
    metrics: Arc<HubMetrics>,
}

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut bus_events: mpsc::UnboundedReceiver<BusMessage>,
        mut reports: mpsc::UnboundedReceiver<Report>,
    ) {
        let mut tail_checks = tokio::time::interval(TAIL_CHECK_INTERVAL);
        tail_checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                report = reports.recv() => match report {
                    Some(report) => self.on_report(report),
                    None => return,
                },
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => return,
                },
                message = bus_events.recv() => match message {
                    Some(BusMessage::Event { topic, payload }) => {
                        self.metrics.events.inc();
                        match BusEvent::decode(&payload) {
                            Ok(event) if event.v == chat_types::event::EVENT_VERSION => {
                                self.on_event(&topic, Arc::new(event.event));
                            }
                            Ok(event) => tracing::warn!(version = event.v, "skipping an event of unknown version"),
                            Err(e) => tracing::warn!(error = %e, %topic, "skipping an undecodable event"),
                        }
                    }
                    Some(BusMessage::Reconnected) => self.on_reconnect(),
                    None => return,
                },
                _ = tail_checks.tick() => self.check_tails(),
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Register {
                topic,
                user,
                filter,
                reply,
            } => {
                if !self.topics.contains_key(&topic) {
                    self.metrics.topics.inc();
                    self.metrics.topics_opened.inc();
                    self.generations += 1;
                    let generation = self.generations;
                    self.open(topic.clone(), generation);
                    let state = TopicState {
                        generation,
                        ..TopicState::default()
                    };
                    self.topics.insert(topic.clone(), state);
                }
                let state = self.topics.get_mut(&topic).expect("just inserted");
                let waiting = Waiting {
                    user,
                    filter,
                    reply,
                };
                if state.ready {
                    let registration =
                        admit(&topic, state, waiting, &mut self.next_id, &self.commands);
                    self.metrics.subscribers.inc_by(i64::from(registration));
                } else {
                    state.waiting.push(waiting);
                }
            }
            Command::Unregister { topic, id } => {
                let Some(state) = self.topics.get_mut(&topic) else {
                    return;
                };
                let before = state.subscribers.len();
                state.subscribers.retain(|s| s.id != id);
                self.metrics
                    .subscribers
                    .dec_by((before - state.subscribers.len()) as i64);
                self.close_if_unused(&topic);
            }
        }
    }

    /// Subscribes to the topic on the bus; reports back when it is confirmed.
    fn open(&self, topic: Topic, generation: u64) {
        let confirmation = self.subscription.add(&topic);
        let store = self.store.clone();
        let reports = self.reports.clone();
        tokio::spawn(async move {
            if let Err(e) = confirmation.await {
                // The topic stays wanted and is subscribed again on reconnect, which
                // triggers a catch-up; meanwhile, go on from the database's state.
                tracing::warn!(error = %chat_types::describe(&e), %topic, "bus subscription not confirmed");
            }
            let ends = match &topic {
                Topic::Chat(chat) => match store.log_ends(&[*chat]).await {
                    Ok(found) => Ok(found.first().map(|(_, ends)| *ends).unwrap_or_default()),
                    Err(e) => Err(ApiError::from(e)),
                },
                Topic::User(_) | Topic::Sessions | Topic::Presence => Ok(LogEnds::default()),
            };
            let _ = reports.send(Report::Ready {
                topic,
                generation,
                ends,
            });
        });
    }

    fn close_if_unused(&mut self, topic: &Topic) {
        let unused = self
            .topics
            .get(topic)
            .is_some_and(|s| s.subscribers.is_empty() && s.waiting.is_empty());
        if unused {
            self.topics.remove(topic);
            self.metrics.topics.dec();
            let confirmation = self.subscription.remove(topic);
            tokio::spawn(async move {
                let _ = confirmation.await;
            });
        }
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Ready {
                topic,
                generation,
                ends,
            } => {
                let Some(state) = self.topics.get_mut(&topic) else {
                    return;
                };
                if state.generation != generation {
                    return;
                }
                match ends {
                    Ok(ends) => {
                        state.ready = true;
                        state.watermark = ends.last_seq;
                        state.event_watermark = ends.last_event_seq;
                        for waiting in std::mem::take(&mut state.waiting) {
                            let admitted =
                                admit(&topic, state, waiting, &mut self.next_id, &self.commands);
                            self.metrics.subscribers.inc_by(i64::from(admitted));
                        }
                        let held = std::mem::take(&mut state.held);
                        for event in held {
                            self.on_event(&topic, event);
                        }
                    }
                    Err(error) => {
                        for waiting in std::mem::take(&mut state.waiting) {
                            let _ = waiting.reply.send(Err(error.clone()));
                        }
                        self.close_if_unused(&topic);
                    }
                }
            }
            Report::Backfilled {
                chat,
                generation,
                messages,
            } => {
                let current = self.topics.get(&Topic::Chat(chat));
                if current.is_some_and(|state| state.generation == generation) {
                    self.on_backfilled(chat, messages);
                }
            }
            Report::EventsRead {
                chat,
                generation,
                events,
            } => {
                let current = self.topics.get(&Topic::Chat(chat));
                if current.is_some_and(|state| state.generation == generation) {
                    self.on_events_read(chat, events);
                }
            }
            Report::Tails(tails) => self.on_tails(tails),
        }
    }

    fn on_event(&mut self, topic: &Topic, event: Arc<Event>) {
        let Some(state) = self.topics.get_mut(topic) else {
            return;
        };
        // Logged changes are applied at once, even while messages wait (for a catch-up,
        // or for these very changes); only a topic not confirmed yet holds them.
        let waiting = state.backfilling || state.awaiting_log;
        if !state.ready || (waiting && !matches!(&*event, Event::ChatChanged(_))) {
            state.held.push(event);
            return;
        }
        match &*event {
            Event::MessageAdded(message) => {
                let seq = message.seq;
                if seq <= state.watermark {
                    self.metrics.duplicates.inc();
                    return;
                }
                let Topic::Chat(chat) = topic else { return };
                let chat = *chat;
                if seq > state.watermark + 1 {
                    state.held.push(event);
                    let (after, up_to) = (state.watermark, seq - 1);
                    state.backfilling = true;
                    let generation = state.generation;
                    self.backfill(chat, generation, after, up_to, Duration::ZERO);
                    return;
                }
                if message.after_event_seq > state.event_watermark {
                    // Written after a change not applied here yet (someone's removal,
                    // maybe): the log first, then the message.
                    state.held.push(event);
                    state.awaiting_log = true;
                    self.read_events(chat, Duration::ZERO);
                    return;
                }
                state.watermark = seq;
            }
            Event::ChatChanged(change) => {
                if change.event_seq <= state.event_watermark {
                    self.metrics.duplicates.inc();
                    return;
                }
                if change.event_seq > state.event_watermark + 1 {
                    // An earlier change has not come (lost, or overtaken): all of them
                    // are read from the log and applied in order, this one included.
                    let Topic::Chat(chat) = topic else { return };
                    let chat = *chat;
                    self.read_events(chat, Duration::ZERO);
                    return;
                }
                state.event_watermark = change.event_seq;
                if let Some(user) = change.departed() {
                    // Their views end first: from their departure on, nothing of the
                    // chat reaches them.
                    self.end_for(topic, user);
                }
            }
            Event::Typing(typing) => {
                let now = Instant::now();
                if let Some(at) = state.typing.get(&typing.user_id)
                    && now.duration_since(*at) < TYPING_INTERVAL
                {
                    return;
                }
                state.typing.insert(typing.user_id, now);
            }
            _ => {}
        }
        self.deliver(topic, &event);
    }

    /// Hands the event to every subscriber of the topic that wants it. One that cannot
    /// take it is cut off: it has fallen behind.
    fn deliver(&mut self, topic: &Topic, event: &Arc<Event>) {
        let Some(state) = self.topics.get_mut(topic) else {
            return;
        };
        let mut delivered = 0;
        let mut lagged = 0;
        state.subscribers.retain(|s| {
            if !(s.filter)(event, s.user) {
                return true;
            }
            match s.tx.try_send(event.clone()) {
                Ok(()) => {
                    delivered += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.end.store(End::Lagged as u8, Ordering::Release);
                    lagged += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        self.metrics.deliveries.inc_by(delivered);
        if lagged > 0 {
            self.metrics.lagged.inc_by(lagged);
            self.metrics.subscribers.dec_by(lagged as i64);
            self.close_if_unused(topic);
        }
    }

    /// Reads the chat's messages after `after` (up to `up_to`) from the database, in
    /// the background, and reports them back.
    fn backfill(&self, chat: ChatId, generation: u64, after: i64, up_to: i64, pause: Duration) {
        self.metrics.backfills.inc();
        self.in_background(pause, move |store| async move {
            let messages = store.messages_between(chat, after, up_to).await.map_err(|e| {
                tracing::warn!(error = %chat_types::describe(&e), %chat, "catch-up from the database failed; will retry");
            });
            Report::Backfilled {
                chat,
                generation,
                messages,
            }
        });
    }

    /// Runs `read` on the store in a task of its own after `pause`, and hands its report
    /// back to the hub: the hub's own task never waits for the database.
    fn in_background<F, R>(&self, pause: Duration, read: F)
    where
        F: FnOnce(Store) -> R + Send + 'static,
        R: Future<Output = Report> + Send,
    {
        let (store, reports) = (self.store.clone(), self.reports.clone());
        tokio::spawn(async move {
            tokio::time::sleep(pause).await;
            let _ = reports.send(read(store).await);
        });
    }

    fn on_backfilled(&mut self, chat: ChatId, messages: Result<Vec<Message>, ()>) {
        let topic = Topic::Chat(chat);
        let Some(state) = self.topics.get_mut(&topic) else {
            return;
        };
        let Ok(messages) = messages else {
            let (generation, after, up_to) = (state.generation, state.watermark, held_up_to(state));
            self.backfill(chat, generation, after, up_to, RETRY_PAUSE);
            return;
        };
        // In seq order: delivered up to the first written after a change not applied
        // here yet; from there on they wait for the log.
        let (mut missing, mut after_changes) = (Vec::with_capacity(messages.len()), Vec::new());
        let mut next = state.watermark + 1;
        for message in messages {
            if message.seq != next {
                continue;
            }
            next += 1;
            let ahead = message.after_event_seq > state.event_watermark;
            let event = Arc::new(Event::MessageAdded(Arc::new(message)));
            if after_changes.is_empty() && !ahead {
                state.watermark = next - 1;
                missing.push(event);
            } else {
                after_changes.push(event);
            }
        }
        let wait_for_log = !after_changes.is_empty();
        if wait_for_log {
            after_changes.append(&mut state.held);
            state.held = after_changes;
            state.awaiting_log = true;
        }
        for event in &missing {
            self.deliver(&topic, event);
        }
        if wait_for_log {
            self.read_events(chat, Duration::ZERO);
        }
        let Some(state) = self.topics.get_mut(&topic) else {
            return;
        };
        if std::mem::take(&mut state.resync) {
            let (generation, after) = (state.generation, state.watermark);
            self.backfill(chat, generation, after, i64::MAX, Duration::ZERO);
            return;
        }
        state.backfilling = false;
        // A message the database did not have in the gap cannot be waited for forever.
        if let Some(first) = first_held_seq(state)
            && first > state.watermark + 1
        {
            tracing::error!(%chat, watermark = state.watermark, next = first, "seq gap the database cannot fill; skipping it");
            state.watermark = first - 1;
        }
        for event in std::mem::take(&mut state.held) {
            self.on_event(&topic, event);
        }
    }

    /// Ends the registrations of `user`, who left the chat or was removed.
    fn end_for(&mut self, topic: &Topic, user: UserId) {
        let Some(state) = self.topics.get_mut(topic) else {
            return;
        };
        let before = state.subscribers.len();
        state.subscribers.retain(|s| {
            if s.user == user {
                s.end.store(End::Removed as u8, Ordering::Release);
                false
            } else {
                true
            }
        });
        self.metrics
            .subscribers
            .dec_by((before - state.subscribers.len()) as i64);
        self.close_if_unused(topic);
    }

    /// Reads the chat's logged changes after the last one delivered, in the background
    /// (after `pause`), and reports them back (one read at a time per chat; asked again
    /// meanwhile, it reads once more after).
    fn read_events(&mut self, chat: ChatId, pause: Duration) {
        let Some(state) = self.topics.get_mut(&Topic::Chat(chat)) else {
            return;
        };
        if state.reading_events {
            state.read_events_again = true;
            return;
        }
        state.reading_events = true;
        let (generation, after) = (state.generation, state.event_watermark);
        self.metrics.backfills.inc();
        self.in_background(pause, move |store| async move {
            let events = store.chat_events_after(chat, after, EVENTS_PAGE).await.map_err(|e| {
                tracing::warn!(error = %chat_types::describe(&e), %chat, "reading logged changes failed; will retry");
            });
            Report::EventsRead {
                chat,
                generation,
                events,
            }
        });
    }

    fn on_events_read(&mut self, chat: ChatId, events: Result<Vec<ChatEvent>, ()>) {
        let topic = Topic::Chat(chat);
        let Some(state) = self.topics.get_mut(&topic) else {
            return;
        };
        state.reading_events = false;
        let again = std::mem::take(&mut state.read_events_again);
        let Ok(events) = events else {
            if state.awaiting_log {
                self.read_events(chat, RETRY_PAUSE);
            }
            return;
        };
        for event in events {
            self.on_event(&topic, Arc::new(Event::ChatChanged(Arc::new(event))));
        }
        if again {
            self.read_events(chat, Duration::ZERO);
        }
        // Messages that waited for these changes go on (one still ahead waits again).
        let Some(state) = self.topics.get_mut(&topic) else {
            return;
        };
        if std::mem::take(&mut state.awaiting_log) && !state.backfilling {
            for event in std::mem::take(&mut state.held) {
                self.on_event(&topic, event);
            }
        }
    }

    /// The chat topics held that the bus has confirmed.
    fn ready_chats(&self) -> Vec<ChatId> {
        self.topics
            .iter()
            .filter(|(_, state)| state.ready)
            .filter_map(|(topic, _)| match topic {
                Topic::Chat(chat) => Some(*chat),
                _ => None,
            })
            .collect()
    }

    /// Reads the newest seq of every chat held, in the background (one check at a time).
    fn check_tails(&mut self) {
        if self.checking_tails {
            return;
        }
        let chats = self.ready_chats();
        if chats.is_empty() {
            return;
        }
        self.checking_tails = true;
        self.in_background(Duration::ZERO, move |store| async move {
            let tails = store.log_ends(&chats).await.unwrap_or_else(|e| {
                tracing::warn!(error = %chat_types::describe(&e), "log-tail check failed");
                Vec::new()
            });
            Report::Tails(tails)
        });
    }

    /// Catches up each chat still behind where the previous check found its logs
    /// ending, and with nothing delivered since: what the bus has not brought in a
    /// second, it is not bringing. A chat whose events keep coming, only late (a bus
    /// behind under load), is left to the bus: reading it too would only add load,
    /// and a lost event among them shows as a gap when the next one comes.
    fn on_tails(&mut self, tails: Vec<(ChatId, LogEnds)>) {
        self.checking_tails = false;
        let (mut catch_up, mut changes) = (Vec::new(), Vec::new());
        for (chat, ends) in tails {
            let Some(state) = self.topics.get_mut(&Topic::Chat(chat)) else {
                continue;
            };
            let seen_before = std::mem::replace(&mut state.tail, ends);
            let (delivered, changed) = std::mem::replace(
                &mut state.delivered_at_check,
                (state.watermark, state.event_watermark),
            );
            let stalled = state.watermark == delivered;
            if state.ready
                && !state.backfilling
                && stalled
                && state.watermark < seen_before.last_seq
            {
                state.backfilling = true;
                catch_up.push((chat, state.generation, state.watermark));
            }
            let stalled = state.event_watermark == changed;
            if state.ready && stalled && state.event_watermark < seen_before.last_event_seq {
                changes.push(chat);
            }
        }
        for (chat, generation, after) in catch_up {
            tracing::info!(%chat, after, "catching up messages the bus did not bring");
            self.backfill(chat, generation, after, i64::MAX, Duration::ZERO);
        }
        for chat in changes {
            tracing::info!(%chat, "catching up logged changes the bus did not bring");
            self.read_events(chat, Duration::ZERO);
        }
    }

    /// After a lost bus connection, catch every chat topic up from the database.
    fn on_reconnect(&mut self) {
        let mut catch_up = Vec::new();
        for (topic, state) in &mut self.topics {
            let Topic::Chat(chat) = topic else { continue };
            if !state.ready {
                continue;
            }
            if state.backfilling {
                state.resync = true;
            } else {
                state.backfilling = true;
                catch_up.push((*chat, state.generation, state.watermark));
            }
        }
        for (chat, generation, after) in catch_up {
            self.backfill(chat, generation, after, i64::MAX, Duration::ZERO);
        }
        for chat in self.ready_chats() {
            self.read_events(chat, Duration::ZERO);
        }
    }
}

/// The seq just before the first held message (the end of the gap being filled).
fn held_up_to(state: &TopicState) -> i64 {
    first_held_seq(state).map_or(i64::MAX, |seq| seq - 1)
}

fn first_held_seq(state: &TopicState) -> Option<i64> {
    state.held.iter().find_map(|e| match &**e {
        Event::MessageAdded(m) => Some(m.seq),
        _ => None,
    })
}

/// Adds a waiting subscriber to a ready topic and answers it; `true` if it was still
/// there to answer.
fn admit(
    topic: &Topic,
    state: &mut TopicState,
    waiting: Waiting,
    next_id: &mut u64,
    commands: &mpsc::UnboundedSender<Command>,
) -> bool {
    *next_id += 1;
    let id = *next_id;
    let (tx, events) = mpsc::channel(SUBSCRIBER_BUFFER);
    let end = Arc::new(AtomicU8::new(End::Closed as u8));
    let registration = Registration {
        watermark: state.watermark,
        events,
        end: end.clone(),
        _guard: Unregister {
            topic: topic.clone(),
            id,
            commands: commands.clone(),
        },
    };
    if waiting.reply.send(Ok(registration)).is_err() {
        // The subscriber gave up waiting; dropping its registration unregisters it.
        return false;
    }
    state.subscribers.push(Subscriber {
        id,
        user: waiting.user,
        filter: waiting.filter,
        tx,
        end,
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds;
    use chat_store::PoolSize;
    use chat_types::ChatEventKind;
    use uuid::Uuid;

    fn stored(chat: ChatId, seq: i64) -> Message {
        Message {
            id: Uuid::now_v7().into(),
            chat_id: chat,
            seq,
            sender_id: Uuid::now_v7().into(),
            content: format!("message {seq}"),
            client_id: None,
            created_at: chrono::Utc::now(),
            edited_at: None,
            deleted_at: None,
            after_event_seq: 0,
            reply_to: None,
            reactions: Vec::new(),
            pinned_at: None,
            mentions: Vec::new(),
            mentions_all: false,
            attachments: Vec::new(),
        }
    }

    fn added(chat: ChatId, seq: i64) -> Arc<Event> {
        Arc::new(Event::MessageAdded(Arc::new(stored(chat, seq))))
    }

    /// An actor driven by hand: the test plays its helper tasks' reports itself.
    async fn actor(dir: &tempfile::TempDir) -> (Actor, mpsc::UnboundedReceiver<Command>) {
        let url = format!("sqlite://{}", dir.path().join("hub.db").display());
        let store = Store::connect(&url, PoolSize::default())
            .await
            .expect("store");
        let (subscription, _events) = Bus::memory().subscribe();
        let (commands, command_rx) = mpsc::unbounded_channel();
        let actor = Actor {
            store,
            subscription,
            topics: HashMap::default(),
            next_id: 0,
            generations: 0,
            checking_tails: false,
            commands,
            reports: mpsc::unbounded_channel().0,
            metrics: Arc::default(),
        };
        (actor, command_rx)
    }

    /// Registers someone on the chat's topic and reports it ready at `watermark`.
    async fn join(actor: &mut Actor, chat: ChatId, watermark: i64) -> Registration {
        let user = Uuid::now_v7().into();
        join_as::<kinds::MessageAdded>(actor, chat, user, watermark).await
    }

    /// Registers `user` for kind `K` on the chat's topic; reports it ready at
    /// `watermark`, with no logged change yet.
    async fn join_as<K: Kind>(
        actor: &mut Actor,
        chat: ChatId,
        user: UserId,
        watermark: i64,
    ) -> Registration {
        let (reply, answer) = oneshot::channel();
        actor.on_command(Command::Register {
            topic: Topic::Chat(chat),
            user,
            filter: kinds::filter::<K>(),
            reply,
        });
        let generation = actor.topics[&Topic::Chat(chat)].generation;
        actor.on_report(Report::Ready {
            topic: Topic::Chat(chat),
            generation,
            ends: Ok(ends(watermark)),
        });
        answer.await.expect("answered").expect("registered")
    }

    fn ends(last_seq: i64) -> LogEnds {
        LogEnds {
            last_seq,
            last_event_seq: 0,
        }
    }

    fn next_seq(registration: &mut Registration) -> Option<i64> {
        match &*registration.events.try_recv().ok()? {
            Event::MessageAdded(message) => Some(message.seq),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_catch_up_of_an_earlier_opening_of_the_topic_changes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut actor, mut commands) = actor(&dir).await;
        let chat: ChatId = Uuid::now_v7().into();
        let topic = Topic::Chat(chat);
        let first = join(&mut actor, chat, 5).await;
        // Seq 8 after 5: a catch-up of 6 and 7 starts for this opening.
        actor.on_event(&topic, added(chat, 8));
        let earlier = actor.topics[&topic].generation;
        assert!(actor.topics[&topic].backfilling);
        // Its only subscriber leaves, and the topic is opened again.
        drop(first);
        let unregister = commands.recv().await.expect("unregistered");
        actor.on_command(unregister);
        assert!(!actor.topics.contains_key(&topic));
        let mut second = join(&mut actor, chat, 5).await;
        assert_ne!(actor.topics[&topic].generation, earlier);

        // The earlier catch-up reports late, with more than it was asked for.
        actor.on_report(Report::Backfilled {
            chat,
            generation: earlier,
            messages: Ok((6..=20).map(|seq| stored(chat, seq)).collect()),
        });
        assert_eq!(actor.topics[&topic].watermark, 5);
        assert_eq!(next_seq(&mut second), None);
        // The next message is delivered, not taken for one already sent.
        actor.on_event(&topic, added(chat, 6));
        assert_eq!(next_seq(&mut second), Some(6));
    }

    #[tokio::test]
    async fn a_readiness_report_of_an_earlier_opening_is_ignored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut actor, _commands) = actor(&dir).await;
        let chat: ChatId = Uuid::now_v7().into();
        let topic = Topic::Chat(chat);
        let _registration = join(&mut actor, chat, 3).await;
        let current = actor.topics[&topic].generation;
        actor.on_report(Report::Ready {
            topic: topic.clone(),
            generation: current - 1,
            ends: Ok(ends(40)),
        });
        assert_eq!(actor.topics[&topic].watermark, 3);
    }

    #[tokio::test]
    async fn only_a_chat_still_behind_the_previous_check_is_caught_up() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut actor, _commands) = actor(&dir).await;
        let (quiet, lost): (ChatId, ChatId) = (Uuid::now_v7().into(), Uuid::now_v7().into());
        let _on_quiet = join(&mut actor, quiet, 5).await;
        let _on_lost = join(&mut actor, lost, 5).await;
        // Both are at 7 in the database: the events may still be on their way.
        actor.on_tails(vec![(quiet, ends(7)), (lost, ends(7))]);
        assert!(!actor.topics[&Topic::Chat(quiet)].backfilling);
        assert!(!actor.topics[&Topic::Chat(lost)].backfilling);
        // One chat's events came; the other's did not, a check later.
        actor.on_event(&Topic::Chat(quiet), added(quiet, 6));
        actor.on_event(&Topic::Chat(quiet), added(quiet, 7));
        actor.on_tails(vec![(quiet, ends(7)), (lost, ends(7))]);
        assert!(!actor.topics[&Topic::Chat(quiet)].backfilling);
        assert!(actor.topics[&Topic::Chat(lost)].backfilling);
    }

    #[tokio::test]
    async fn a_chat_whose_events_arrive_late_but_arrive_is_not_read_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut actor, _commands) = actor(&dir).await;
        let busy: ChatId = Uuid::now_v7().into();
        let _on_busy = join(&mut actor, busy, 5).await;
        actor.on_tails(vec![(busy, ends(10))]);
        // Under load the bus runs more than a check behind: by the next check only 6
        // to 8 have come, and the chat has reached 15.
        for seq in 6..=8 {
            actor.on_event(&Topic::Chat(busy), added(busy, seq));
        }
        actor.on_tails(vec![(busy, ends(15))]);
        assert!(
            !actor.topics[&Topic::Chat(busy)].backfilling,
            "the bus is bringing them: reading them too only adds load"
        );
        // Nothing more comes for a whole check: now it is caught up.
        actor.on_tails(vec![(busy, ends(15))]);
        assert!(actor.topics[&Topic::Chat(busy)].backfilling);
    }

    fn change(chat: ChatId, event_seq: i64, kind: ChatEventKind, subject: UserId) -> Arc<Event> {
        Arc::new(Event::ChatChanged(Arc::new(logged(
            chat, event_seq, kind, subject,
        ))))
    }

    fn logged(chat: ChatId, event_seq: i64, kind: ChatEventKind, subject: UserId) -> ChatEvent {
        let person = |id: UserId| chat_types::UserSummary {
            id,
            username: "someone".into(),
            display_name: "Someone".into(),
        };
        ChatEvent {
            chat_id: chat,
            event_seq,
            kind,
            actor: person(Uuid::now_v7().into()),
            subject: Some(person(subject)),
            name: None,
            emoji: None,
            after_seq: 0,
            at: chrono::Utc::now(),
            message: None,
        }
    }

    #[tokio::test]
    async fn a_change_past_a_gap_waits_for_the_log_and_a_removal_ends_the_removed_views() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut actor, _commands) = actor(&dir).await;
        let chat: ChatId = Uuid::now_v7().into();
        let topic = Topic::Chat(chat);
        let (stays, goes): (UserId, UserId) = (Uuid::now_v7().into(), Uuid::now_v7().into());
        let mut staying = join_as::<kinds::ChatChanged>(&mut actor, chat, stays, 0).await;
        let mut going = join_as::<kinds::MessageAdded>(&mut actor, chat, goes, 0).await;

        // Change 2 before change 1: it is not passed on; the log is read instead.
        actor.on_event(&topic, change(chat, 2, ChatEventKind::Renamed, stays));
        assert!(staying.events.try_recv().is_err());
        assert!(actor.topics[&topic].reading_events);
        assert_eq!(actor.topics[&topic].event_watermark, 0);

        // Change 1 removes someone: their views end, the others get it.
        actor.on_event(&topic, change(chat, 1, ChatEventKind::Removed, goes));
        assert_eq!(going.end(), End::Removed);
        assert!(going.events.recv().await.is_none());
        assert!(
            matches!(&*staying.events.try_recv().unwrap(), Event::ChatChanged(c) if c.event_seq == 1)
        );
        // And once more, the same: a duplicate.
        actor.on_event(&topic, change(chat, 1, ChatEventKind::Removed, goes));
        assert!(staying.events.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_message_written_after_an_unapplied_change_waits_for_the_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut actor, _commands) = actor(&dir).await;
        let chat: ChatId = Uuid::now_v7().into();
        let topic = Topic::Chat(chat);
        let (stays, goes): (UserId, UserId) = (Uuid::now_v7().into(), Uuid::now_v7().into());
        let mut staying = join_as::<kinds::MessageAdded>(&mut actor, chat, stays, 0).await;
        let mut going = join_as::<kinds::MessageAdded>(&mut actor, chat, goes, 0).await;

        // Message 1 was written after change 1, which has not come: it waits.
        let mut message = stored(chat, 1);
        message.after_event_seq = 1;
        actor.on_event(&topic, Arc::new(Event::MessageAdded(Arc::new(message))));
        assert_eq!(next_seq(&mut staying), None);
        assert_eq!(next_seq(&mut going), None);
        assert!(actor.topics[&topic].awaiting_log);

        // The log says change 1 removed someone: they are gone before the message.
        let removal = logged(chat, 1, ChatEventKind::Removed, goes);
        actor.on_report(Report::EventsRead {
            chat,
            generation: actor.topics[&topic].generation,
            events: Ok(vec![removal]),
        });
        assert_eq!(going.end(), End::Removed);
        assert_eq!(next_seq(&mut going), None);
        assert_eq!(next_seq(&mut staying), Some(1));
        assert!(!actor.topics[&topic].awaiting_log);
    }
}
