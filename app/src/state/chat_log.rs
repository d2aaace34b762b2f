//! The open chat's messages: stored, pending and failed, and the changes in its log.

use chat_types::{Chat, ChatEvent, Message, MessagePage, UserId, UserSummary};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a message of the open chat stands (see [`crate::outbox`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// Stored, with its seq.
    Sent,
    /// On its way.
    Pending,
    /// The sender could not be reached; it goes out by itself (same clientId) when the
    /// connection is back.
    Waiting,
    /// Refused; the retry button sends it again with the same clientId.
    Failed(String),
}

/// One row of the open chat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub message: Message,
    pub delivery: Delivery,
}

/// The open chat's timeline: stored messages in seq order, then the pending ones; the
/// chat's changes (renames, people joining and leaving) among them; and the names of
/// everyone who wrote here, including people who have since left.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatLog {
    pub entries: Vec<Entry>,
    /// Older messages exist before the first one.
    pub has_more: bool,
    /// Newer messages exist after the last one: the log is a window onto the chat's
    /// history, opened at a message far back, not its end. A live message that would
    /// leave a gap is not taken in ([`ChatLog::beyond`]); the reader comes back to the
    /// end page by page, or at once with [`ChatLog::open_latest`].
    pub has_newer: bool,
    /// The newest seq known to exist: shown, or past a window's end. Live messages
    /// resume after it, so a window does not ask for everything between.
    pub live_seq: i64,
    /// The timeline's changes (not edits and deletes, which show on their message), in
    /// `eventSeq` order, each once.
    pub events: Vec<ChatEvent>,
    pub authors: Vec<UserSummary>,
    /// The newest change taken in: what `chatEvents` resumes after.
    pub event_seq: i64,
}

impl ChatLog {
    pub fn new(messages: Vec<Message>, has_more: bool) -> Self {
        Self {
            entries: messages
                .into_iter()
                .map(|message| Entry {
                    message,
                    delivery: Delivery::Sent,
                })
                .collect(),
            has_more,
            has_newer: false,
            live_seq: 0,
            events: Vec::new(),
            authors: Vec::new(),
            event_seq: 0,
        }
    }

    /// Whether message `seq` lies past a window's end, with messages missing between.
    pub fn beyond(&self, seq: i64) -> bool {
        self.has_newer && seq > self.last_seq() + 1
    }

    /// Where live messages resume: after the last shown, or in a window after the newest
    /// known (what lies between is read when the reader goes there).
    pub fn resume_seq(&self) -> i64 {
        if self.has_newer {
            self.last_seq().max(self.live_seq)
        } else {
            self.last_seq()
        }
    }

    /// Shows the page around a message far back instead: a window onto the history.
    pub fn open_at(&mut self, page: MessagePage) {
        let has_newer = page.has_newer;
        self.replace_stored(page);
        self.has_newer = has_newer;
    }

    /// Back at the chat's end: its newest page (what the reader wrote meanwhile stays
    /// after it, unless the page already holds it). A message that came live while the
    /// page was read, and that it does not hold yet, leaves the log a window still:
    /// the next page joins them.
    pub fn open_latest(&mut self, page: MessagePage) {
        self.replace_stored(page);
        self.has_newer = self.live_seq > self.last_seq();
    }

    /// The next page after the last message, read on the way back to the end.
    pub fn append(&mut self, page: MessagePage) {
        let last = self.last_seq();
        let has_newer = page.has_newer;
        self.learn(page.events, page.authors);
        let at = self
            .entries
            .iter()
            .position(|e| e.delivery != Delivery::Sent)
            .unwrap_or(self.entries.len());
        let newer = page
            .messages
            .into_iter()
            .filter(|m| m.seq > last)
            .map(|message| Entry {
                message,
                delivery: Delivery::Sent,
            });
        self.entries.splice(at..at, newer);
        self.has_newer = has_newer;
    }

    /// The stored messages replaced by `page`'s; the pending ones stay after them. The
    /// changes and authors known stay too, and so does the resume point of `chatEvents`:
    /// the page is as new as it, or newer, and replaying a change is harmless.
    fn replace_stored(&mut self, page: MessagePage) {
        self.learn(page.events, page.authors);
        let stored = page.messages;
        self.entries.retain(|e| {
            e.delivery != Delivery::Sent
                && !stored.iter().any(|m| {
                    m.client_id.is_some()
                        && m.client_id == e.message.client_id
                        && m.sender_id == e.message.sender_id
                })
        });
        let pending = std::mem::take(&mut self.entries);
        self.entries = stored
            .into_iter()
            .map(|message| Entry {
                message,
                delivery: Delivery::Sent,
            })
            .chain(pending)
            .collect();
        self.has_more = page.has_more;
    }

    /// The first page of a chat: what it shows is current as of its `lastEventSeq`.
    pub fn from_page(page: MessagePage) -> Self {
        let mut log = Self::new(page.messages, page.has_more);
        log.event_seq = page.last_event_seq;
        log.learn(page.events, page.authors);
        log
    }

    /// Takes in a page's events and authors.
    fn learn(&mut self, events: Vec<ChatEvent>, authors: Vec<UserSummary>) {
        for event in events {
            self.add_event(event);
        }
        for author in authors {
            if !self.authors.iter().any(|a| a.id == author.id) {
                self.authors.push(author);
            }
        }
    }

    /// A change to the chat: an edit or delete changes its message, anything else joins
    /// the timeline (once). Returns whether it was new to the timeline.
    pub fn add_event(&mut self, event: ChatEvent) -> bool {
        self.event_seq = self.event_seq.max(event.event_seq);
        if event.kind.changes_a_message() {
            if let Some(message) = event.message {
                self.replace(message);
            }
            return false;
        }
        match self
            .events
            .binary_search_by_key(&event.event_seq, |e| e.event_seq)
        {
            Ok(_) => false,
            Err(at) => {
                self.events.insert(at, event);
                true
            }
        }
    }

    /// The newest change taken in (what `chatEvents` resumes after).
    pub fn last_event_seq(&self) -> i64 {
        self.event_seq
    }

    /// The name of a message's author: from the chat's participants, else from the
    /// authors the pages brought (people who left).
    pub fn author_name(&self, chat: Option<&Chat>, id: UserId) -> String {
        chat.and_then(|c| c.participants.iter().find(|p| p.user.id == id))
            .map(|p| p.user.display_name.clone())
            .or_else(|| {
                self.authors
                    .iter()
                    .find(|a| a.id == id)
                    .map(|a| a.display_name.clone())
            })
            .unwrap_or_else(|| "Someone".to_string())
    }

    /// The newest stored seq (what `messageAdded` resumes after).
    pub fn last_seq(&self) -> i64 {
        self.entries
            .iter()
            .filter(|e| e.delivery == Delivery::Sent)
            .map(|e| e.message.seq)
            .max()
            .unwrap_or(0)
    }

    pub fn first_seq(&self) -> Option<i64> {
        self.entries
            .iter()
            .find(|e| e.delivery == Delivery::Sent)
            .map(|e| e.message.seq)
    }

    /// A stored message: it replaces its pending copy (same clientId), or joins in
    /// seq order; one already here, or past a window's end, is ignored. Returns whether
    /// it was taken in.
    pub fn add_stored(&mut self, message: Message) -> bool {
        self.live_seq = self.live_seq.max(message.seq);
        if self.beyond(message.seq) {
            return false;
        }
        if self
            .entries
            .iter()
            .any(|e| e.delivery == Delivery::Sent && e.message.seq == message.seq)
        {
            self.entries.retain(|e| {
                !(e.delivery != Delivery::Sent
                    && e.message.client_id.is_some()
                    && e.message.client_id == message.client_id
                    && e.message.sender_id == message.sender_id)
            });
            return false;
        }
        let pending = self.entries.iter().position(|e| {
            e.delivery != Delivery::Sent
                && e.message.client_id.is_some()
                && e.message.client_id == message.client_id
                && e.message.sender_id == message.sender_id
        });
        if let Some(i) = pending {
            self.entries.remove(i);
        }
        let at = self
            .entries
            .iter()
            .position(|e| e.delivery != Delivery::Sent || e.message.seq > message.seq)
            .unwrap_or(self.entries.len());
        self.entries.insert(
            at,
            Entry {
                message,
                delivery: Delivery::Sent,
            },
        );
        true
    }

    /// An older page, put before the first message.
    pub fn prepend(&mut self, page: MessagePage) {
        let first = self.first_seq().unwrap_or(i64::MAX);
        self.learn(page.events, page.authors);
        let has_more = page.has_more;
        let mut entries: Vec<Entry> = page
            .messages
            .into_iter()
            .filter(|m| m.seq < first)
            .map(|message| Entry {
                message,
                delivery: Delivery::Sent,
            })
            .collect();
        entries.append(&mut self.entries);
        self.entries = entries;
        self.has_more = has_more;
    }

    /// An edit or delete of a stored message.
    /// A stored message as it is now (edited or deleted).
    pub fn replace(&mut self, message: Message) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.message.id == message.id) {
            entry.message = message;
        }
    }

    pub fn set_delivery(&mut self, client_id: &str, delivery: Delivery) {
        if let Some(entry) = self.entries.iter_mut().find(|e| {
            e.delivery != Delivery::Sent && e.message.client_id.as_deref() == Some(client_id)
        }) {
            entry.delivery = delivery;
        }
    }
}

/// The open chat's messages; `None` until the first page is loaded.
pub type LogState = RwSignal<Option<ChatLog>>;

/// Changes the log if it is loaded and its chat still open (answers and events may
/// arrive after the page moved on).
pub fn edit_log(log: LogState, f: impl FnOnce(&mut ChatLog)) {
    log.try_update(|l| {
        if let Some(log) = l {
            f(log);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::message;
    use chat_types::ChatEventKind;

    fn seqs(log: &ChatLog) -> Vec<(i64, Delivery)> {
        log.entries
            .iter()
            .map(|e| (e.message.seq, e.delivery.clone()))
            .collect()
    }

    #[test]
    fn a_stored_message_replaces_its_pending_copy_once() {
        let mut log = ChatLog::new(vec![message(1, "a")], false);
        log.entries.push(Entry {
            message: message(0, "b"),
            delivery: Delivery::Pending,
        });
        assert!(log.add_stored(message(2, "b")));
        assert!(
            !log.add_stored(message(2, "b")),
            "the second copy is a duplicate"
        );
        assert_eq!(seqs(&log), [(1, Delivery::Sent), (2, Delivery::Sent)]);
        assert_eq!(log.last_seq(), 2);
    }

    #[test]
    fn pending_messages_stay_after_stored_ones_and_older_ones_go_first() {
        let mut log = ChatLog::new(vec![message(5, "a")], true);
        log.entries.push(Entry {
            message: message(0, "mine"),
            delivery: Delivery::Pending,
        });
        log.add_stored(message(7, "c"));
        log.add_stored(message(6, "d"));
        log.prepend(MessagePage {
            messages: vec![message(3, "x"), message(4, "y"), message(5, "a")],
            has_more: false,
            has_newer: true,
            authors: Vec::new(),
            events: Vec::new(),
            last_event_seq: 0,
        });
        let order: Vec<i64> = log.entries.iter().map(|e| e.message.seq).collect();
        assert_eq!(order, [3, 4, 5, 6, 7, 0]);
        assert_eq!(log.first_seq(), Some(3));
        assert!(!log.has_more);
    }

    fn page(seqs: std::ops::RangeInclusive<i64>, has_more: bool, has_newer: bool) -> MessagePage {
        MessagePage {
            messages: seqs.map(|seq| message(seq, &format!("c-{seq}"))).collect(),
            has_more,
            has_newer,
            authors: Vec::new(),
            events: Vec::new(),
            last_event_seq: 0,
        }
    }

    #[test]
    fn a_window_far_back_takes_in_only_what_joins_it_and_comes_back_to_the_end() {
        let mut log = ChatLog::from_page(page(451..=500, true, false));
        log.entries.push(Entry {
            message: message(0, "mine"),
            delivery: Delivery::Pending,
        });
        log.open_at(page(1..=50, false, true));
        assert_eq!((log.first_seq(), log.last_seq()), (Some(1), 50));
        assert!(log.has_newer && !log.has_more);
        // The chat goes on meanwhile: nothing past the window's end is shown, and live
        // messages resume after the newest known, not after the window.
        assert!(!log.add_stored(message(501, "c-501")));
        assert_eq!(log.resume_seq(), 501);
        // ...but the next message joins it, and so do the pages on the way down.
        assert!(log.add_stored(message(51, "c-51")));
        log.append(page(52..=100, true, true));
        assert_eq!(log.last_seq(), 100);
        assert_eq!(log.entries.last().unwrap().delivery, Delivery::Pending);
        // Back at the end, which already holds the pending message: it is not doubled.
        let mut latest = page(452..=501, true, false);
        latest.messages.push(message(502, "mine"));
        log.open_latest(latest);
        assert_eq!((log.first_seq(), log.last_seq()), (Some(452), 502));
        assert!(log.entries.iter().all(|e| e.delivery == Delivery::Sent));
        assert!(!log.has_newer);
        assert!(log.add_stored(message(503, "c-503")));
        // A message that came while the newest page was read, not on it: the page is a
        // window until the next one joins them.
        log.add_stored(message(505, "c-505"));
        log.open_latest(page(451..=503, true, false));
        assert!(log.has_newer && log.beyond(505));
        log.append(page(504..=505, false, false));
        assert_eq!((log.last_seq(), log.has_newer), (505, false));
    }

    #[test]
    fn an_edit_changes_its_message_and_moves_the_resume_point_without_a_timeline_line() {
        let page = MessagePage {
            messages: vec![message(1, "a"), message(2, "b")],
            has_more: false,
            has_newer: false,
            authors: Vec::new(),
            events: Vec::new(),
            last_event_seq: 4,
        };
        let mut log = ChatLog::from_page(page);
        assert_eq!(log.last_event_seq(), 4);
        let mut edited = message(2, "b");
        edited.content = "b, edited".into();
        let change = ChatEvent {
            chat_id: edited.chat_id,
            event_seq: 5,
            kind: ChatEventKind::Edited,
            actor: UserSummary {
                id: edited.sender_id,
                username: "bo".into(),
                display_name: "Bo".into(),
            },
            subject: None,
            name: None,
            emoji: None,
            after_seq: 2,
            at: chrono::DateTime::UNIX_EPOCH,
            message: Some(edited),
        };
        assert!(!log.add_event(change));
        assert_eq!(log.entries[1].message.content, "b, edited");
        assert!(log.events.is_empty());
        assert_eq!(log.last_event_seq(), 5);
    }
}
