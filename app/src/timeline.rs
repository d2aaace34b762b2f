//! The rows of an open chat, as a person reads them: a heading for each day, the
//! "New messages" line before the first unread one, the chat's changes ("Ann added
//! Bo") where they happened, and runs of messages from one person within a few
//! minutes grouped under one name and one time.

use std::hash::{Hash, Hasher};

use chat_types::{Chat, ChatEvent, UserId};
use chrono::NaiveDate;

use crate::state::{ChatLog, Delivery, Entry};
use crate::time::Clock;

/// Messages from one person this close together form one group.
const GROUP_GAP_SECONDS: i64 = 5 * 60;

/// One row of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    Day(String),
    /// Where the unread messages start.
    Unread,
    Change {
        event_seq: i64,
        text: String,
    },
    Message {
        /// Boxed: a message is much bigger than the other rows.
        entry: Box<Entry>,
        author: String,
        /// The first of a run by one person: it shows the name, the avatar and the time.
        starts_group: bool,
        /// The viewer's newest stored message: it says in words who has seen it.
        newest_of_mine: bool,
    },
}

impl Row {
    /// What identifies the row while it shows the same thing, for a keyed list: a
    /// message's key changes when it is edited, deleted, delivered or regrouped, so only
    /// that row is drawn again.
    pub fn key(&self) -> String {
        match self {
            Row::Day(label) => format!("day:{label}"),
            Row::Unread => "unread".to_string(),
            Row::Change { event_seq, .. } => format!("event:{event_seq}"),
            Row::Message {
                entry,
                starts_group,
                newest_of_mine,
                ..
            } => {
                let m = &entry.message;
                let id = match entry.delivery {
                    Delivery::Sent => m.id.to_string(),
                    _ => format!("pending:{}", m.client_id.as_deref().unwrap_or_default()),
                };
                // What it shows around its text: the quote, the reactions, the pin.
                let mut around = std::collections::hash_map::DefaultHasher::new();
                (&m.reply_to, &m.reactions, m.pinned_at).hash(&mut around);
                format!(
                    "{id}:{:?}:{:?}:{:?}:{starts_group}:{newest_of_mine}:{:x}",
                    entry.delivery,
                    m.edited_at.map(|t| t.timestamp_millis()),
                    m.deleted_at.map(|t| t.timestamp_millis()),
                    around.finish(),
                )
            }
        }
    }
}

/// The rows of `log`. `unread_from` is the seq of the first message that was unread
/// when the chat was opened.
pub fn rows(
    log: &ChatLog,
    chat: Option<&Chat>,
    me: UserId,
    unread_from: Option<i64>,
    clock: &Clock,
) -> Vec<Row> {
    let mut rows = Vec::with_capacity(log.entries.len() + 8);
    let mut day: Option<NaiveDate> = None;
    let mut previous: Option<&Entry> = None;
    let mut marked = false;
    let newest_of_mine = log
        .entries
        .iter()
        .rev()
        .find(|e| e.delivery == Delivery::Sent && e.message.sender_id == me)
        .map(|e| e.message.seq);
    // Changes that belong to older messages not loaded yet wait until they are.
    let first = log.first_seq().unwrap_or(i64::MAX);
    let mut events = log
        .events
        .iter()
        .filter(|e| !log.has_more || e.after_seq >= first - 1)
        .peekable();

    let mut push_day = |rows: &mut Vec<Row>, at, previous: &mut Option<&Entry>| {
        let date = clock.date(at);
        if day != Some(date) {
            day = Some(date);
            rows.push(Row::Day(clock.day(date)));
            *previous = None;
        }
    };
    let change = |event: &ChatEvent| Row::Change {
        event_seq: event.event_seq,
        text: event.describe(me),
    };

    for entry in &log.entries {
        let sent = entry.delivery == Delivery::Sent;
        // Changes that happened before this message (pending ones come after all).
        while let Some(event) = events.next_if(|e| !sent || e.after_seq < entry.message.seq) {
            push_day(&mut rows, event.at, &mut previous);
            rows.push(change(event));
            previous = None;
        }
        push_day(&mut rows, entry.message.created_at, &mut previous);
        if !marked && sent && unread_from.is_some_and(|from| entry.message.seq >= from) {
            marked = true;
            rows.push(Row::Unread);
            previous = None;
        }
        let starts_group = previous.is_none_or(|p| {
            p.message.sender_id != entry.message.sender_id
                || (entry.message.created_at - p.message.created_at).num_seconds()
                    > GROUP_GAP_SECONDS
        });
        rows.push(Row::Message {
            entry: Box::new(entry.clone()),
            author: log.author_name(chat, entry.message.sender_id),
            starts_group,
            newest_of_mine: sent
                && entry.message.sender_id == me
                && newest_of_mine == Some(entry.message.seq),
        });
        previous = Some(entry);
    }
    for event in events {
        push_day(&mut rows, event.at, &mut previous);
        rows.push(change(event));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_types::{ChatEventKind, Message, UserSummary};
    use chrono::{DateTime, TimeZone, Utc};
    use uuid::Uuid;

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
            .unwrap()
    }

    fn user(n: u128) -> UserId {
        Uuid::from_u128(n).into()
    }

    fn message(seq: i64, from: u128, when: DateTime<Utc>) -> Message {
        Message {
            id: Uuid::from_u128(1000 + seq as u128).into(),
            chat_id: Uuid::from_u128(1).into(),
            seq,
            sender_id: user(from),
            content: format!("m{seq}"),
            client_id: None,
            created_at: when,
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

    fn event(event_seq: i64, after_seq: i64, when: DateTime<Utc>) -> ChatEvent {
        ChatEvent {
            chat_id: Uuid::from_u128(1).into(),
            event_seq,
            kind: ChatEventKind::Added,
            actor: UserSummary {
                id: user(2),
                username: "bo".into(),
                display_name: "Bo".into(),
            },
            subject: Some(UserSummary {
                id: user(3),
                username: "cy".into(),
                display_name: "Cy".into(),
            }),
            name: None,
            emoji: None,
            after_seq,
            at: when,
            message: None,
        }
    }

    /// Each row as a short word: `day:Today`, `new`, `change:2`, `m3*` (starts a group).
    fn shape(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .map(|row| match row {
                Row::Day(label) => format!("day:{label}"),
                Row::Unread => "new".into(),
                Row::Change { event_seq, .. } => format!("change:{event_seq}"),
                Row::Message {
                    entry,
                    starts_group,
                    ..
                } => format!(
                    "{}{}",
                    entry.message.content,
                    if *starts_group { "*" } else { "" }
                ),
            })
            .collect()
    }

    #[test]
    fn runs_group_by_person_and_minutes_under_day_headings() {
        let clock = Clock::at(at(25, 12, 0), 0);
        let log = ChatLog::new(
            vec![
                message(1, 2, at(24, 9, 0)),
                message(2, 2, at(24, 9, 3)),
                message(3, 2, at(24, 9, 30)),
                message(4, 3, at(24, 9, 31)),
                message(5, 3, at(25, 8, 0)),
            ],
            false,
        );
        let rows = rows(&log, None, user(9), None, &clock);
        assert_eq!(
            shape(&rows),
            [
                "day:Yesterday",
                "m1*",
                "m2",
                "m3*",
                "m4*",
                "day:Today",
                "m5*"
            ]
        );
    }

    #[test]
    fn the_unread_line_and_changes_sit_where_they_happened() {
        let clock = Clock::at(at(24, 12, 0), 0);
        let mut log = ChatLog::new(
            vec![
                message(1, 2, at(24, 9, 0)),
                message(2, 2, at(24, 9, 1)),
                message(3, 2, at(24, 9, 2)),
            ],
            false,
        );
        log.add_event(event(2, 1, at(24, 9, 0)));
        log.add_event(event(1, 0, at(24, 8, 0)));
        log.add_event(event(3, 3, at(24, 10, 0)));
        let rows = rows(&log, None, user(9), Some(3), &clock);
        assert_eq!(
            shape(&rows),
            [
                "day:Today",
                "change:1",
                "m1*",
                "change:2",
                "m2*",
                "new",
                "m3*",
                "change:3"
            ]
        );
        let Row::Change { text, .. } = &rows[1] else {
            panic!()
        };
        assert_eq!(text, "Bo added Cy");
        let Row::Message { author, .. } = &rows[2] else {
            panic!()
        };
        assert_eq!(author, "Someone", "no name known for this author");
    }

    #[test]
    fn changes_before_the_loaded_messages_wait_for_their_page() {
        let clock = Clock::at(at(24, 12, 0), 0);
        let mut log = ChatLog::new(vec![message(10, 2, at(24, 9, 0))], true);
        log.add_event(event(1, 3, at(24, 8, 0)));
        log.add_event(event(2, 9, at(24, 8, 30)));
        assert_eq!(
            shape(&rows(&log, None, user(9), None, &clock)),
            ["day:Today", "change:2", "m10*"]
        );
    }

    #[test]
    fn only_the_viewers_newest_message_says_who_has_seen_it() {
        let clock = Clock::at(at(24, 12, 0), 0);
        let log = ChatLog::new(
            vec![
                message(1, 9, at(24, 9, 0)),
                message(2, 9, at(24, 9, 1)),
                message(3, 2, at(24, 9, 2)),
            ],
            false,
        );
        let newest: Vec<(String, bool)> = rows(&log, None, user(9), None, &clock)
            .into_iter()
            .filter_map(|row| match row {
                Row::Message {
                    entry,
                    newest_of_mine,
                    ..
                } => Some((entry.message.content, newest_of_mine)),
                _ => None,
            })
            .collect();
        assert_eq!(
            newest,
            [
                ("m1".into(), false),
                ("m2".into(), true),
                ("m3".into(), false)
            ]
        );
    }

    #[test]
    fn a_keyed_row_changes_its_key_when_it_shows_something_else() {
        let entry = Entry {
            message: message(1, 2, at(24, 9, 0)),
            delivery: Delivery::Sent,
        };
        let row = |entry: &Entry, starts_group| Row::Message {
            entry: Box::new(entry.clone()),
            author: String::new(),
            starts_group,
            newest_of_mine: false,
        };
        let mut edited = entry.clone();
        edited.message.edited_at = Some(at(24, 9, 5));
        assert_eq!(row(&entry, true).key(), row(&entry, true).key());
        assert_ne!(row(&entry, true).key(), row(&edited, true).key());
        assert_ne!(row(&entry, true).key(), row(&entry, false).key());
    }
}
