//! The chat list, latest activity first, as live events change it.

use std::collections::HashMap;

use chat_types::{Chat, ChatId, Message, ReadUpdate, UnreadCount, UserId};
use leptos::prelude::*;

use crate::api::ApiError;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::message;
    use chat_types::UserSummary;
    use uuid::Uuid;

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
