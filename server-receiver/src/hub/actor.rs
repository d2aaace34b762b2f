//! The hub's task: the one owner of every topic's state. It does the I/O the ordering
//! rules (`order.rs`) leave out: it takes commands from the [`Hub`](super::Hub)
//! handle, events from the bus and reports from its own helper tasks, feeds them to
//! each topic's [`ChatOrder`], and carries out the effects it answers with — handing
//! events to subscribers' channels, ending registrations, reading the database in
//! helper tasks (the actor never waits for it) after a pause. It also opens and drops
//! topics on the bus, runs the log-tail check and counts the hub's figures.
//!
//! It runs until its command channel closes: the handle holds the only strong sender,
//! registrations a weak one, so dropping the handle stops it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use chat_bus::{Bus, BusMessage, Subscription};
use chat_store::{LogEnds, Reached, Store};
use chat_types::{BusEvent, ChatEvent, ChatId, Event, Message, Topic, UserId};
use rustc_hash::FxHashMap as HashMap;
use server_core::ApiError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::metrics::HubMetrics;
use super::order::{ChatOrder, Effect};
use super::{Command, End, Registration, Unregister};
use crate::kinds::Filter;

/// Events waiting for one subscriber; beyond this it has fallen behind and is cut off.
const SUBSCRIBER_BUFFER: usize = 1024;
/// How many logged changes one catch-up reads.
const EVENTS_PAGE: i64 = chat_types::limits::REPLAY_PAGE;
/// How often the newest seqs of the chats held are read (the log-tail check).
const TAIL_CHECK_INTERVAL: Duration = Duration::from_secs(1);

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

struct TopicState {
    /// Which opening of the topic this is.
    generation: u64,
    subscribers: Vec<Subscriber>,
    /// Registrations waiting for the bus to confirm the topic.
    waiting: Vec<Waiting>,
    /// What goes out, and when: the topic's ordering rules.
    order: ChatOrder,
}

pub(super) struct Actor {
    store: Store,
    subscription: Subscription,
    topics: HashMap<Topic, TopicState>,
    next_id: u64,
    /// The last generation given to an opening of a topic.
    generations: u64,
    /// A log-tail check is reading.
    checking_tails: bool,
    /// For the registrations' `Unregister` guards: weak, so the actor does not keep
    /// its own command channel open.
    commands: mpsc::WeakUnboundedSender<Command>,
    reports: mpsc::UnboundedSender<Report>,
    metrics: Arc<HubMetrics>,
}

impl Actor {
    /// Starts the actor's task on a subscription of its own to `bus`; it runs until
    /// every strong sender of `command_rx` is dropped.
    pub(super) fn spawn(
        store: Store,
        bus: &Bus,
        commands: mpsc::WeakUnboundedSender<Command>,
        command_rx: mpsc::UnboundedReceiver<Command>,
        metrics: Arc<HubMetrics>,
    ) -> JoinHandle<()> {
        let (subscription, bus_events) = bus.subscribe();
        let (reports, report_rx) = mpsc::unbounded_channel();
        let actor = Actor {
            store,
            subscription,
            topics: HashMap::default(),
            next_id: 0,
            generations: 0,
            checking_tails: false,
            commands,
            reports,
            metrics,
        };
        tokio::spawn(actor.run(command_rx, bus_events, report_rx))
    }

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
                        subscribers: Vec::new(),
                        waiting: Vec::new(),
                        order: ChatOrder::default(),
                    };
                    self.topics.insert(topic.clone(), state);
                }
                let state = self.topics.get_mut(&topic).expect("just inserted");
                let waiting = Waiting {
                    user,
                    filter,
                    reply,
                };
                if state.order.is_open() {
                    let delivered = LogEnds {
                        last_seq: state.order.watermark(),
                        last_event_seq: state.order.event_watermark(),
                    };
                    let registration = admit(
                        &topic,
                        state,
                        waiting,
                        delivered,
                        &mut self.next_id,
                        &self.commands,
                    );
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
                        // Those waiting join at where the logs ended, then get what
                        // waited with them.
                        state.order.on_open(ends, Instant::now());
                        for waiting in std::mem::take(&mut state.waiting) {
                            let admitted = admit(
                                &topic,
                                state,
                                waiting,
                                ends,
                                &mut self.next_id,
                                &self.commands,
                            );
                            self.metrics.subscribers.inc_by(i64::from(admitted));
                        }
                        self.apply(&topic);
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
                let topic = Topic::Chat(chat);
                if let Some(state) = self.current(&topic, generation) {
                    state.order.on_backfilled(messages, Instant::now());
                    self.apply(&topic);
                }
            }
            Report::EventsRead {
                chat,
                generation,
                events,
            } => {
                let topic = Topic::Chat(chat);
                if let Some(state) = self.current(&topic, generation) {
                    state.order.on_log_read(events, Instant::now());
                    self.apply(&topic);
                }
            }
            Report::Tails(tails) => self.on_tails(tails),
        }
    }

    /// The topic's state, if it is still the opening `generation`.
    fn current(&mut self, topic: &Topic, generation: u64) -> Option<&mut TopicState> {
        self.topics
            .get_mut(topic)
            .filter(|state| state.generation == generation)
    }

    fn on_event(&mut self, topic: &Topic, event: Arc<Event>) {
        // Seqs are a chat's: messages and logged changes are published on chat topics
        // only, and no subscriber of another topic picks them.
        let sequenced = matches!(&*event, Event::MessageAdded(_) | Event::ChatChanged(_));
        if sequenced && !matches!(topic, Topic::Chat(_)) {
            return;
        }
        let Some(state) = self.topics.get_mut(topic) else {
            return;
        };
        state.order.on_event(event, Instant::now());
        self.apply(topic);
    }

    /// Carries out what the topic's ordering asks, in order. If the topic closes on
    /// the way (its last subscribers lagged or left), the rest is dropped with it.
    fn apply(&mut self, topic: &Topic) {
        loop {
            let Some(state) = self.topics.get_mut(topic) else {
                return;
            };
            let Some(effect) = state.order.poll_effect() else {
                return;
            };
            let generation = state.generation;
            match effect {
                Effect::Deliver(event) => self.deliver(topic, &event),
                Effect::EndStreams(user) => self.end_for(topic, user),
                Effect::Duplicate => {
                    self.metrics.duplicates.inc();
                }
                Effect::SkippedGap { watermark, next } => {
                    if let Topic::Chat(chat) = topic {
                        tracing::error!(%chat, watermark, next, "seq gap the database cannot fill; skipping it");
                    }
                }
                Effect::Backfill {
                    after,
                    up_to,
                    pause,
                } => {
                    if let Topic::Chat(chat) = topic {
                        self.backfill(*chat, generation, after, up_to, pause);
                    }
                }
                Effect::ReadLog { after, pause } => {
                    if let Topic::Chat(chat) = topic {
                        self.read_log(*chat, generation, after, pause);
                    }
                }
            }
        }
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

    /// Reads the chat's messages after `after` (up to `up_to`) from the database, in
    /// the background, and reports them back.
    fn backfill(&self, chat: ChatId, generation: u64, after: i64, up_to: i64, pause: Duration) {
        self.metrics.backfills.inc();
        self.in_background(pause, move |store| async move {
            // A gap up to a known seq may be read from a replica that has it; a catch-up
            // to the end reads the primary, which has the end.
            let store = if up_to < i64::MAX {
                store.replica(Some(Reached { chat, seq: up_to, event_seq: 0 })).await
            } else {
                store
            };
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

    /// Reads the chat's logged changes after `after` from the database, in the
    /// background, and reports them back.
    fn read_log(&self, chat: ChatId, generation: u64, after: i64, pause: Duration) {
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

    /// The chat topics held that the bus has confirmed.
    fn ready_chats(&self) -> Vec<ChatId> {
        self.topics
            .iter()
            .filter(|(_, state)| state.order.is_open())
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

    /// Tells each chat held where its logs ended at the check; each catches up what the
    /// bus has not brought ([`ChatOrder::on_tail`]).
    fn on_tails(&mut self, tails: Vec<(ChatId, LogEnds)>) {
        self.checking_tails = false;
        for (chat, ends) in tails {
            let topic = Topic::Chat(chat);
            let Some(state) = self.topics.get_mut(&topic) else {
                continue;
            };
            let found = state.order.on_tail(ends);
            if found.messages {
                let after = state.order.watermark();
                tracing::info!(%chat, after, "catching up messages the bus did not bring");
            }
            if found.changes {
                tracing::info!(%chat, "catching up logged changes the bus did not bring");
            }
            self.apply(&topic);
        }
    }

    /// After a lost bus connection, catch every chat topic up from the database.
    fn on_reconnect(&mut self) {
        let chats: Vec<Topic> = self
            .topics
            .keys()
            .filter(|topic| matches!(topic, Topic::Chat(_)))
            .cloned()
            .collect();
        for topic in chats {
            if let Some(state) = self.topics.get_mut(&topic) {
                state.order.on_reconnect();
                self.apply(&topic);
            }
        }
    }
}

/// Adds a waiting subscriber to a ready topic and answers it, joining where the hub
/// has `delivered` to; `true` if it was still there to answer.
fn admit(
    topic: &Topic,
    state: &mut TopicState,
    waiting: Waiting,
    delivered: LogEnds,
    next_id: &mut u64,
    commands: &mpsc::WeakUnboundedSender<Command>,
) -> bool {
    *next_id += 1;
    let id = *next_id;
    let (tx, events) = mpsc::channel(SUBSCRIBER_BUFFER);
    let end = Arc::new(AtomicU8::new(End::Closed as u8));
    let registration = Registration {
        watermark: delivered.last_seq,
        event_watermark: delivered.last_event_seq,
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
mod tests;
