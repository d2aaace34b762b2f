//! The order of one topic's events: the hub's rules for a chat, as a plain value.
//!
//! A [`ChatOrder`] is told what happens to its topic — an event from the bus, the topic
//! confirmed, messages or logged changes read from the database (or the read failed), a
//! log-tail report, a bus reconnect — and answers with [`Effect`]s, taken with
//! [`ChatOrder::poll_effect`]: hand this event to the subscribers, end this person's
//! streams, read these messages or the log after a pause. It touches no channel, task,
//! clock or database (the time is passed in), so its tests drive it by hand. The actor
//! (`hub/actor.rs`) carries the effects out and reports back what its reads found.
//!
//! The rules, for a chat:
//! - **Messages** leave in seq order, each once. The watermark is the last seq
//!   delivered: a message at or below it is a duplicate and dropped; one past a gap
//!   waits, with everything after it, while the gap is read from the database
//!   ([`Effect::Backfill`]). A gap the database cannot fill either is skipped with an
//!   error ([`Effect::SkippedGap`]) rather than waited on forever.
//! - **Logged changes** leave in `eventSeq` order, each once, and are applied at once,
//!   even while messages wait. One past a gap is not passed on: the log is read from the
//!   last one delivered ([`Effect::ReadLog`]) and what it holds is applied in order. So
//!   from any point on, the changes a subscriber gets follow each other without a gap;
//!   `timeline.rs` relies on it.
//! - **A message written after a change not applied yet** (`afterEventSeq` past the
//!   change watermark) waits, with everything after it, for the log to be read: someone
//!   removed from the chat must not see what was written after their removal.
//! - **A departure** (someone left or was removed) ends that person's streams
//!   ([`Effect::EndStreams`]) before anything after it is delivered.
//! - **Lost events**: what the bus did not bring is found by the log-tail check
//!   ([`ChatOrder::on_tail`]), and everything is read again after a reconnect (during a
//!   backfill: once more to the chat's end, after it).
//! - **Typing** passes at most once per [`TYPING_INTERVAL`] per person.
//!
//! Every topic the hub holds has one: on a user's or the presence topic, whose events
//! carry no seqs, only its opening applies (events wait until the bus confirms it).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_store::LogEnds;
use chat_types::{ChatEvent, Event, Message, UserId};
use rustc_hash::FxHashMap as HashMap;

/// Typing events pass at most this often per user and chat.
pub(crate) use chat_types::limits::TYPING_INTERVAL;
/// Pause before a failed read from the database is tried again.
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// What the actor is to do, in the order given.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Hand the event to the topic's subscribers whose kind picks it.
    Deliver(Arc<Event>),
    /// End every stream of this person on the topic: they left or were removed.
    EndStreams(UserId),
    /// After `pause`, read the chat's messages after seq `after`, up to `up_to`, and
    /// report them with [`ChatOrder::on_backfilled`].
    Backfill {
        after: i64,
        up_to: i64,
        pause: Duration,
    },
    /// After `pause`, read the chat's logged changes after `after`, and report them
    /// with [`ChatOrder::on_log_read`].
    ReadLog { after: i64, pause: Duration },
    /// An event already delivered came again and was dropped (for the metrics).
    Duplicate,
    /// The messages after `watermark` and before `next` are not in the database: they
    /// were skipped (for the error log).
    SkippedGap { watermark: i64, next: i64 },
}

/// Where the topic's messages are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The bus has not confirmed the topic yet: every event waits.
    Opening,
    /// Messages are delivered as they come (unless they wait for the log).
    Live,
    /// Missing messages are being read from the database; later ones wait. With
    /// `then_to_end`, the bus reconnected meanwhile: the chat is read again to its end
    /// after this read.
    Backfilling { then_to_end: bool },
}

/// The reading of the chat's log (one read at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogRead {
    Idle,
    /// A read is running. `again`: another was asked for meanwhile, and follows it.
    /// `holding`: messages wait for what it brings (one was written after a change not
    /// applied yet).
    Reading {
        again: bool,
        holding: bool,
    },
}

/// The ordering state of one topic (see the module's docs).
#[derive(Debug)]
pub(crate) struct ChatOrder {
    phase: Phase,
    log: LogRead,
    /// The last seq delivered.
    watermark: i64,
    /// The last logged change delivered.
    event_watermark: i64,
    /// Events waiting, in arrival order: for the topic to be confirmed, for a
    /// backfill, or for the log.
    held: Vec<Arc<Event>>,
    /// When each person's last typing event went out.
    typing: HashMap<UserId, Instant>,
    /// Where the logs ended at the last log-tail check.
    tail: LogEnds,
    /// `watermark` and `event_watermark` at the last log-tail check.
    delivered_at_check: (i64, i64),
    /// What the actor has yet to do.
    effects: VecDeque<Effect>,
}

/// What a log-tail check found stalled, and is now read from the database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CatchUp {
    /// Messages: the chat is still behind where the previous check found its end.
    pub(crate) messages: bool,
    /// Logged changes, likewise.
    pub(crate) changes: bool,
}

impl Default for ChatOrder {
    fn default() -> Self {
        Self {
            phase: Phase::Opening,
            log: LogRead::Idle,
            watermark: 0,
            event_watermark: 0,
            held: Vec::new(),
            typing: HashMap::default(),
            tail: LogEnds::default(),
            delivered_at_check: (0, 0),
            effects: VecDeque::new(),
        }
    }
}

impl ChatOrder {
    /// The next thing to do, in order; `None` once everything asked so far is done.
    pub(crate) fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Whether the bus has confirmed the topic.
    pub(crate) fn is_open(&self) -> bool {
        self.phase != Phase::Opening
    }

    /// The last seq delivered: a subscriber joining now gets every message after it.
    pub(crate) fn watermark(&self) -> i64 {
        self.watermark
    }

    /// The last logged change delivered: a subscriber joining now gets every change
    /// after it.
    pub(crate) fn event_watermark(&self) -> i64 {
        self.event_watermark
    }

    /// Whether missing messages are being read from the database.
    pub(crate) fn is_backfilling(&self) -> bool {
        matches!(self.phase, Phase::Backfilling { .. })
    }

    /// Whether the chat's log is being read.
    #[cfg(test)]
    pub(crate) fn is_reading_log(&self) -> bool {
        matches!(self.log, LogRead::Reading { .. })
    }

    /// Whether messages wait for the log to be read.
    pub(crate) fn awaits_log(&self) -> bool {
        matches!(self.log, LogRead::Reading { holding: true, .. })
    }

    /// The bus confirmed the topic; the chat's logs ended at `ends` when it did. What
    /// waited for it goes on.
    pub(crate) fn on_open(&mut self, ends: LogEnds, now: Instant) {
        self.phase = Phase::Live;
        self.watermark = ends.last_seq;
        self.event_watermark = ends.last_event_seq;
        self.release_held(now);
    }

    /// An event from the bus (or one that waited).
    pub(crate) fn on_event(&mut self, event: Arc<Event>, now: Instant) {
        // Logged changes are applied at once, even while messages wait (for a catch-up,
        // or for these very changes); only a topic not confirmed yet holds them.
        let waits = match self.phase {
            Phase::Opening => true,
            _ => self.messages_wait() && !matches!(&*event, Event::ChatChanged(_)),
        };
        if waits {
            self.held.push(event);
            return;
        }
        match &*event {
            Event::MessageAdded(message) => {
                let seq = message.seq;
                if seq <= self.watermark {
                    self.effects.push_back(Effect::Duplicate);
                    return;
                }
                if seq > self.watermark + 1 {
                    self.held.push(event);
                    self.phase = Phase::Backfilling { then_to_end: false };
                    self.backfill(self.watermark, seq - 1, Duration::ZERO);
                    return;
                }
                if message.after_event_seq > self.event_watermark {
                    // Written after a change not applied here yet (someone's removal,
                    // maybe): the log first, then the message.
                    self.held.push(event);
                    self.read_log(Duration::ZERO, true);
                    return;
                }
                self.watermark = seq;
            }
            Event::ChatChanged(change) => {
                if change.event_seq <= self.event_watermark {
                    self.effects.push_back(Effect::Duplicate);
                    return;
                }
                if change.event_seq > self.event_watermark + 1 {
                    // An earlier change has not come (lost, or overtaken): all of them
                    // are read from the log and applied in order, this one included.
                    self.read_log(Duration::ZERO, false);
                    return;
                }
                self.event_watermark = change.event_seq;
                if let Some(user) = change.departed() {
                    // Their views end first: from their departure on, nothing of the
                    // chat reaches them.
                    self.effects.push_back(Effect::EndStreams(user));
                }
            }
            Event::Typing(typing) => {
                if let Some(at) = self.typing.get(&typing.user_id)
                    && now.duration_since(*at) < TYPING_INTERVAL
                {
                    return;
                }
                self.typing.insert(typing.user_id, now);
            }
            _ => {}
        }
        self.effects.push_back(Effect::Deliver(event));
    }

    /// What an [`Effect::Backfill`] read: the messages in its range, in seq order, or
    /// `Err` if the read failed (it is tried again after [`RETRY_PAUSE`]).
    pub(crate) fn on_backfilled(&mut self, messages: Result<Vec<Message>, ()>, now: Instant) {
        let Ok(messages) = messages else {
            self.backfill(self.watermark, self.held_up_to(), RETRY_PAUSE);
            return;
        };
        // In seq order: delivered up to the first written after a change not applied
        // here yet; from there on they wait for the log.
        let mut after_changes = Vec::new();
        let mut next = self.watermark + 1;
        for message in messages {
            if message.seq != next {
                continue;
            }
            next += 1;
            let ahead = message.after_event_seq > self.event_watermark;
            let event = Arc::new(Event::MessageAdded(Arc::new(message)));
            if after_changes.is_empty() && !ahead {
                self.watermark = next - 1;
                self.effects.push_back(Effect::Deliver(event));
            } else {
                after_changes.push(event);
            }
        }
        if !after_changes.is_empty() {
            after_changes.append(&mut self.held);
            self.held = after_changes;
            self.read_log(Duration::ZERO, true);
        }
        if self.phase == (Phase::Backfilling { then_to_end: true }) {
            self.phase = Phase::Backfilling { then_to_end: false };
            self.backfill(self.watermark, i64::MAX, Duration::ZERO);
            return;
        }
        self.phase = Phase::Live;
        // A message the database did not have in the gap cannot be waited for forever.
        if let Some(first) = self.first_held_seq()
            && first > self.watermark + 1
        {
            self.effects.push_back(Effect::SkippedGap {
                watermark: self.watermark,
                next: first,
            });
            self.watermark = first - 1;
        }
        self.release_held(now);
    }

    /// What an [`Effect::ReadLog`] read: the logged changes after the point it names,
    /// in order, or `Err` if the read failed (tried again after [`RETRY_PAUSE`] when
    /// messages wait for it; otherwise the next log-tail check finds what is missing).
    pub(crate) fn on_log_read(&mut self, events: Result<Vec<ChatEvent>, ()>, now: Instant) {
        let (again, holding) = match std::mem::replace(&mut self.log, LogRead::Idle) {
            LogRead::Reading { again, holding } => (again, holding),
            LogRead::Idle => (false, false),
        };
        let Ok(events) = events else {
            if holding {
                self.read_log(RETRY_PAUSE, true);
            }
            return;
        };
        for event in events {
            self.on_event(Arc::new(Event::ChatChanged(Arc::new(event))), now);
        }
        if again {
            self.read_log(Duration::ZERO, false);
        }
        // Messages that waited for these changes go on (one still ahead waits again);
        // during a backfill, they go on when it ends.
        if holding && !self.is_backfilling() {
            self.release_held(now);
        }
    }

    /// Where the chat's logs ended at a log-tail check. Catches up each log still
    /// behind where the previous check found it ending, with nothing delivered since:
    /// what the bus has not brought in a check's time, it is not bringing. A chat whose
    /// events keep coming, only late (a bus behind under load), is left to the bus:
    /// reading it too would only add load, and a lost event among them shows as a gap
    /// when the next one comes.
    pub(crate) fn on_tail(&mut self, ends: LogEnds) -> CatchUp {
        let seen_before = std::mem::replace(&mut self.tail, ends);
        let (delivered, changed) = std::mem::replace(
            &mut self.delivered_at_check,
            (self.watermark, self.event_watermark),
        );
        let open = self.is_open();
        let found = CatchUp {
            messages: open
                && !self.is_backfilling()
                && self.watermark == delivered
                && self.watermark < seen_before.last_seq,
            changes: open
                && self.event_watermark == changed
                && self.event_watermark < seen_before.last_event_seq,
        };
        if found.messages {
            self.phase = Phase::Backfilling { then_to_end: false };
            self.backfill(self.watermark, i64::MAX, Duration::ZERO);
        }
        if found.changes {
            self.read_log(Duration::ZERO, false);
        }
        found
    }

    /// The bus lost its connection and is back: events may be missing, so the chat is
    /// read again to its end (after the backfill running, if one is), and its log too.
    pub(crate) fn on_reconnect(&mut self) {
        match &mut self.phase {
            Phase::Opening => return,
            Phase::Backfilling { then_to_end } => *then_to_end = true,
            Phase::Live => {
                self.phase = Phase::Backfilling { then_to_end: false };
                self.backfill(self.watermark, i64::MAX, Duration::ZERO);
            }
        }
        self.read_log(Duration::ZERO, false);
    }

    /// Whether messages wait: for a backfill, or for the log.
    fn messages_wait(&self) -> bool {
        self.is_backfilling() || self.awaits_log()
    }

    fn backfill(&mut self, after: i64, up_to: i64, pause: Duration) {
        self.effects.push_back(Effect::Backfill {
            after,
            up_to,
            pause,
        });
    }

    /// Reads the log after the last change delivered, or, while a read runs, once more
    /// after it. With `hold`, messages wait for it.
    fn read_log(&mut self, pause: Duration, hold: bool) {
        match &mut self.log {
            LogRead::Reading { again, holding } => {
                *again = true;
                *holding |= hold;
            }
            LogRead::Idle => {
                self.log = LogRead::Reading {
                    again: false,
                    holding: hold,
                };
                self.effects.push_back(Effect::ReadLog {
                    after: self.event_watermark,
                    pause,
                });
            }
        }
    }

    /// Hands what waited to [`ChatOrder::on_event`] again, in arrival order.
    fn release_held(&mut self, now: Instant) {
        for event in std::mem::take(&mut self.held) {
            self.on_event(event, now);
        }
    }

    /// The seq just before the first message waiting (the end of the gap being
    /// filled), or the chat's end if none waits.
    fn held_up_to(&self) -> i64 {
        self.first_held_seq().map_or(i64::MAX, |seq| seq - 1)
    }

    fn first_held_seq(&self) -> Option<i64> {
        self.held.iter().find_map(|e| match &**e {
            Event::MessageAdded(m) => Some(m.seq),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests;
