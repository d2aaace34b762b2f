//! What the chats screen keeps and how live events change it.
//!
//! The chat list and the open chat's messages are loaded once by resources (the
//! server fills them while rendering, the browser picks them up without fetching
//! again), then kept in signals that live events edit in place. The resources never
//! change after loading, so nothing re-renders wholesale.

use chat_types::{
    Chat, ChatEvent, ChatId, Message, MessagePage, ReadUpdate, UnreadCount, User, UserId,
    UserSummary,
};
use std::collections::HashMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::ApiError;

/// The signed-in user.
#[derive(Clone, Debug)]
pub struct Me(pub User);

pub fn me() -> User {
    expect_context::<Me>().0
}

/// The chat list, latest activity first (or why it could not be loaded).
#[derive(Clone, Copy)]
pub struct ChatsStore {
    pub chats: RwSignal<Result<Vec<Chat>, ApiError>>,
    /// Which mentions of the reader each chat's `unread_mentions` counts.
    mentions: StoredValue<HashMap<ChatId, Counted>>,
}

/// The mentions a chat's count covers: all up to `seq` (as the server counted them when
/// the chat was read), and those after it that `mentioned` events brought.
#[derive(Clone, Debug, Default, PartialEq)]
struct Counted {
    seq: i64,
    since: Vec<i64>,
}

impl ChatsStore {
    pub fn new(chats: Result<Vec<Chat>, ApiError>) -> Self {
        let counted = chats
            .as_ref()
            .map(|list| list.iter().map(|c| (c.id, Counted::read_at(c))).collect())
            .unwrap_or_default();
        Self {
            chats: RwSignal::new(chats),
            mentions: StoredValue::new(counted),
        }
    }

    /// The list as it is shown: chats that mention the reader first (until read), then
    /// by latest activity.
    pub fn listed(&self) -> Vec<Chat> {
        let mut list = self.chats.get().unwrap_or_default();
        list.sort_by_key(|c| c.unread_mentions == 0);
        list
    }

    /// A new message that mentions the reader: counted once, whichever way the count
    /// of the chat was last learned.
    pub fn mentioned(&self, message: &Message) {
        let mut new = false;
        self.mentions.update_value(|counted| {
            new = counted
                .entry(message.chat_id)
                .or_default()
                .take(message.seq);
        });
        if new {
            self.edit(|list| {
                if let Some(chat) = list.iter_mut().find(|c| c.id == message.chat_id) {
                    chat.unread_mentions += 1;
                }
            });
        }
    }

    pub fn find(&self, id: ChatId) -> Option<Chat> {
        self.chats
            .try_with(|c| {
                c.as_ref()
                    .ok()
                    .and_then(|l| l.iter().find(|c| c.id == id).cloned())
            })
            .flatten()
    }

    /// Changes the list if it is loaded (and still exists: events and answers may
    /// arrive after the page moved on).
    fn edit(&self, f: impl FnOnce(&mut Vec<Chat>)) {
        self.chats.try_update(|chats| {
            if let Ok(list) = chats {
                f(list);
            }
        });
    }

    /// A new message in a chat: it moves to the top with its new last message.
    pub fn message_arrived(&self, message: &Message) {
        self.edit(|list| {
            if let Some(i) = list.iter().position(|c| c.id == message.chat_id) {
                let mut chat = list.remove(i);
                take_in(&mut chat, message);
                list.insert(0, chat);
            }
        });
    }

    /// A message changed (edited or deleted): the preview follows if it is the last one.
    pub fn message_changed(&self, message: &Message) {
        self.edit(|list| {
            if let Some(chat) = list.iter_mut().find(|c| c.id == message.chat_id)
                && chat
                    .last_message
                    .as_ref()
                    .is_some_and(|m| m.id == message.id)
            {
                chat.last_message = Some(message.clone());
            }
        });
    }

    /// Unread messages over all chats not muted (for the tab title).
    pub fn total_unread(&self) -> i64 {
        self.chats.with(|c| {
            c.as_ref().map_or(0, |l| {
                l.iter().filter(|c| !c.muted).map(|c| c.unread_count).sum()
            })
        })
    }

    pub fn unread_changed(&self, unread: &UnreadCount) {
        self.edit(|list| {
            if let Some(chat) = list.iter_mut().find(|c| c.id == unread.chat_id) {
                apply_unread(chat, unread);
            }
        });
    }

    /// The ids of the chats listed now.
    pub fn ids(&self) -> Vec<ChatId> {
        self.chats
            .try_with_untracked(|c| {
                c.as_ref()
                    .map(|l| l.iter().map(|c| c.id).collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// The chat list as read again after a (re)connection, taken in: see
    /// [`merge_read_again`].
    pub fn read_again(&self, fresh: Vec<Chat>, listed_before: &[ChatId], me: UserId) {
        let mentions = self.mentions;
        self.edit(|list| {
            mentions
                .update_value(|counted| merge_read_again(list, fresh, listed_before, me, counted));
        });
    }

    /// A chat was added or changed: see [`take_changed`].
    pub fn chat_changed(&self, mut chat: Chat, me: UserId) {
        self.mentions
            .update_value(|counted| count_mentions_as_read(&mut chat, counted));
        self.edit(|list| take_changed(list, chat, me));
    }

    /// A chat is no longer shown (a request declined).
    pub fn forget(&self, id: ChatId) {
        self.edit(|list| list.retain(|c| c.id != id));
    }

    /// A participant's read watermark moved.
    pub fn read_moved(&self, read: &ReadUpdate) {
        self.edit(|list| {
            if let Some(chat) = list.iter_mut().find(|c| c.id == read.chat_id)
                && let Some(p) = chat
                    .participants
                    .iter_mut()
                    .find(|p| p.user.id == read.user_id)
                && read.last_read_seq > p.last_read_seq
            {
                p.last_read_seq = read.last_read_seq;
                p.read_at = Some(read.read_at);
            }
        });
    }
}

/// A chat as the server read it counts the mentions up to its end; the ones after it
/// that `mentioned` events brought are added.
fn count_mentions_as_read(chat: &mut Chat, mentions: &mut HashMap<ChatId, Counted>) {
    let counted = mentions.entry(chat.id).or_default();
    counted.since.retain(|&seq| seq > chat.last_seq);
    counted.seq = counted.seq.max(chat.last_seq);
    chat.unread_mentions += counted.since.len() as i64;
}

impl Counted {
    /// What a chat read from the server counts: every mention up to its end.
    fn read_at(chat: &Chat) -> Self {
        Self {
            seq: chat.last_seq,
            since: Vec::new(),
        }
    }

    /// A mention in message `seq`: whether it is new to the count (and now in it).
    fn take(&mut self, seq: i64) -> bool {
        let new = seq > self.seq && !self.since.contains(&seq);
        if new {
            self.since.push(seq);
        }
        new
    }
}

/// A count of unread messages is `last_seq - last_read_seq` as they were when it was
/// computed; both only grow. So the chat keeps the furthest of each it has heard of, and
/// a count computed before another but arriving after it changes nothing.
/// A new message of the chat: its last message if it is the newest. (Mentions are
/// counted from their own events, which are never folded into a newer message.)
fn take_in(chat: &mut Chat, message: &Message) {
    if message.seq >= chat.last_seq {
        chat.last_seq = message.seq;
        chat.last_message = Some(message.clone());
    }
}

fn apply_unread(chat: &mut Chat, unread: &UnreadCount) {
    chat.last_seq = chat
        .last_seq
        .max(unread.last_read_seq + unread.unread_count);
    let read = match chat
        .participants
        .iter_mut()
        .find(|p| p.user.id == unread.user_id)
    {
        Some(p) => {
            p.last_read_seq = p.last_read_seq.max(unread.last_read_seq);
            p.last_read_seq
        }
        None => unread.last_read_seq,
    };
    chat.unread_count = (chat.last_seq - read).max(0);
    // Which of the unread ones named the reader is not known here; no more of them
    // than are unread, and none once all are read.
    chat.unread_mentions = chat.unread_mentions.min(chat.unread_count);
}

/// The chat list read again after a reconnect, merged with what the page has: chats
/// added while it was not live join; chats it left meanwhile go (those listed before
/// the read began and not in it; one added by an event since stays); each chat keeps
/// the newest of both copies. Then latest activity first, as the server orders them.
fn merge_read_again(
    list: &mut Vec<Chat>,
    fresh: Vec<Chat>,
    listed_before: &[ChatId],
    me: UserId,
    mentions: &mut HashMap<ChatId, Counted>,
) {
    list.retain(|c| !listed_before.contains(&c.id) || fresh.iter().any(|f| f.id == c.id));
    for chat in fresh {
        let mut chat = chat;
        count_mentions_as_read(&mut chat, mentions);
        match list.iter_mut().find(|c| c.id == chat.id) {
            Some(known) => *known = newest_of(known.clone(), chat, me),
            None => list.push(chat),
        }
    }
    let activity = |c: &Chat| {
        c.last_message
            .as_ref()
            .map_or(c.created_at, |m| m.created_at)
    };
    list.sort_by(|a, b| activity(b).cmp(&activity(a)).then(a.id.cmp(&b.id)));
}

/// A chat added or changed, taken into the list: one you are no longer in leaves it,
/// and a copy read before what the page already knows (a read receipt that came
/// meanwhile) moves nothing back ([`newest_of`]).
fn take_changed(list: &mut Vec<Chat>, chat: Chat, me: UserId) {
    let existing = list.iter().position(|c| c.id == chat.id);
    match (existing, chat.has_participant(me)) {
        (Some(i), true) => list[i] = newest_of(list[i].clone(), chat, me),
        (Some(i), false) => {
            list.remove(i);
        }
        (None, true) => list.insert(0, chat),
        (None, false) => {}
    }
}

/// Of two copies of a chat: the name and members of the one with the later logged
/// change, the last message of the one with the later seq, everyone's furthest read
/// watermark (they only move forward), and your count from yours.
fn newest_of(known: Chat, fresh: Chat, me: UserId) -> Chat {
    let (mut chat, other) = if fresh.last_event_seq >= known.last_event_seq {
        (fresh, known)
    } else {
        (known, fresh)
    };
    for p in &mut chat.participants {
        if let Some(q) = other.participants.iter().find(|q| q.user.id == p.user.id)
            && q.last_read_seq > p.last_read_seq
        {
            p.last_read_seq = q.last_read_seq;
            p.read_at = q.read_at;
        }
    }
    if other.last_seq > chat.last_seq {
        chat.last_seq = other.last_seq;
        chat.last_message = other.last_message;
    }
    let read = chat
        .participants
        .iter()
        .find(|p| p.user.id == me)
        .map_or(0, |p| p.last_read_seq);
    chat.unread_count = (chat.last_seq - read).max(0);
    chat
}

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
    use chat_types::ChatEventKind;
    use uuid::Uuid;

    fn message(seq: i64, client_id: &str) -> Message {
        Message {
            id: Uuid::from_u128(1000 + seq as u128).into(),
            chat_id: Uuid::from_u128(1).into(),
            seq,
            sender_id: Uuid::from_u128(2).into(),
            content: format!("m{seq}"),
            client_id: Some(client_id.to_string()),
            created_at: chrono::DateTime::UNIX_EPOCH,
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

    /// Chat `n` with me (user 2) in it, at `last_seq`, my watermark at `read`, its last
    /// message sent at minute `minute`.
    fn listed(n: u128, last_seq: i64, read: i64, minute: i64) -> Chat {
        let me = UserSummary {
            id: Uuid::from_u128(2).into(),
            username: "me".into(),
            display_name: "Me".into(),
        };
        let at = chrono::DateTime::UNIX_EPOCH + chrono::Duration::minutes(minute);
        let mut last = message(last_seq, "x");
        last.chat_id = Uuid::from_u128(n).into();
        last.created_at = at;
        Chat {
            id: Uuid::from_u128(n).into(),
            kind: chat_types::ChatKind::Group,
            name: Some(format!("chat {n}")),
            description: None,
            participants: vec![chat_types::Participant {
                user: me,
                role: chat_types::Role::Member,
                last_read_seq: read,
                read_at: None,
                accepted: true,
            }],
            last_seq,
            last_event_seq: 1,
            last_message: Some(last),
            unread_count: last_seq - read,
            unread_mentions: 0,
            muted: false,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: at,
        }
    }

    fn unread(chat: &Chat, last_seq: i64, read: i64) -> UnreadCount {
        UnreadCount {
            chat_id: chat.id,
            user_id: Uuid::from_u128(2).into(),
            unread_count: last_seq - read,
            last_read_seq: read,
        }
    }

    #[test]
    fn a_mention_counts_once_whichever_way_the_count_was_learned() {
        // The list read at seq 10; mentions at 11 and 12 arrive, 11 twice.
        let mut chat = listed(1, 10, 10, 0);
        let mut counted = HashMap::from([(chat.id, Counted::read_at(&chat))]);
        let mut count = 0;
        for seq in [11, 11, 12] {
            if counted.get_mut(&chat.id).unwrap().take(seq) {
                count += 1;
            }
        }
        assert_eq!(count, 2);
        // Read again at seq 11, where the server counted the first: the second stays,
        // the first is not counted twice, and a late event for it changes nothing.
        chat.last_seq = 11;
        chat.unread_mentions = 1;
        let mut list = vec![listed(1, 12, 10, 0)];
        merge_read_again(
            &mut list,
            vec![chat.clone()],
            &[chat.id],
            Uuid::from_u128(2).into(),
            &mut counted,
        );
        assert_eq!(list[0].unread_mentions, 2);
        assert!(!counted.get_mut(&chat.id).unwrap().take(11));
        // Read: none left.
        let read = unread(&list[0], 12, 12);
        apply_unread(&mut list[0], &read);
        assert_eq!(list[0].unread_mentions, 0);
    }

    #[test]
    fn an_older_unread_count_arriving_late_changes_nothing() {
        let mut chat = listed(1, 10, 4, 0);
        // (the chat's last seq and my watermark a count was computed at, the count shown)
        let arrivals = [
            (12, 4, 8),
            // Computed at seq 11, arriving after the one computed at 12.
            (11, 4, 8),
            // Read up to 12 elsewhere; then a notification computed before that.
            (12, 12, 0),
            (12, 10, 0),
            // A new message after the read counts.
            (13, 12, 1),
        ];
        for (last_seq, read, shown) in arrivals {
            let count = unread(&chat, last_seq, read);
            apply_unread(&mut chat, &count);
            assert_eq!(chat.unread_count, shown, "after ({last_seq}, {read})");
        }
    }

    #[test]
    fn a_list_read_again_brings_what_happened_while_away_and_keeps_what_is_newer() {
        let me: UserId = Uuid::from_u128(2).into();
        let (busy, left, added_by_event) =
            (listed(1, 5, 5, 1), listed(2, 3, 3, 2), listed(4, 1, 1, 0));
        let mut list = vec![left.clone(), busy.clone(), added_by_event.clone()];
        let listed_before = [busy.id, left.id];
        // Read again: chat 1 moved on while away, chat 3 is new, chat 2 was left.
        let fresh = vec![listed(3, 2, 0, 3), listed(1, 9, 5, 4)];
        merge_read_again(&mut list, fresh, &listed_before, me, &mut HashMap::new());
        let order: Vec<(u128, i64)> = list
            .iter()
            .map(|c| (c.id.as_uuid().as_u128(), c.unread_count))
            .collect();
        assert_eq!(order, [(1, 4), (3, 2), (4, 0)]);

        // Copies older than what the page has already do not move it back, read
        // receipts included.
        let with_other = |mut chat: Chat, their_read: i64| {
            let mut other = chat.participants[0].clone();
            other.user.id = Uuid::from_u128(3).into();
            other.last_read_seq = their_read;
            chat.participants.push(other);
            chat
        };
        let mut list = vec![with_other(listed(1, 9, 9, 4), 8)];
        let older = with_other(listed(1, 7, 5, 3), 6);
        merge_read_again(&mut list, vec![older], &[busy.id], me, &mut HashMap::new());
        assert_eq!((list[0].last_seq, list[0].unread_count), (9, 0));
        let reads: Vec<i64> = list[0]
            .participants
            .iter()
            .map(|p| p.last_read_seq)
            .collect();
        assert_eq!(reads, [9, 8]);
    }

    /// Found in the browser tests: a chat's change (someone accepting it) read before
    /// a read receipt that overtook it must not take the receipt back.
    #[test]
    fn a_changed_chat_read_before_a_receipt_keeps_the_receipt() {
        let me: UserId = Uuid::from_u128(2).into();
        let with_other = |mut chat: Chat, their_read: i64, accepted: bool| {
            let mut other = chat.participants[0].clone();
            other.user.id = Uuid::from_u128(3).into();
            other.last_read_seq = their_read;
            other.accepted = accepted;
            chat.participants.push(other);
            chat
        };
        let mut list = vec![with_other(listed(1, 5, 5, 0), 5, false)];
        take_changed(&mut list, with_other(listed(1, 5, 5, 0), 0, true), me);
        let other = &list[0].participants[1];
        assert_eq!((other.last_read_seq, other.accepted), (5, true));
    }
}
