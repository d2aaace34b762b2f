//! The chat's log of changes other than new messages (edits, deletes, reactions,
//! renames, people added, left or removed…): written inside the change's own transaction, read back
//! for timelines, for publishing and for subscribers catching up.

use std::collections::HashMap;

use chat_types::{ChatEvent, ChatEventKind, ChatId, Message, UserId, UserSummary};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::rows::from_row;
use super::{Store, StoreResult, on_read};

/// Appends one event to a chat's log inside transaction `$tx`: takes the chat's next
/// `event_seq` (the `UPDATE` also locks the chat's row until commit, so events are
/// numbered in commit order without gaps) and evaluates to it. `message: $seq` names
/// the message an edit or delete changed. A macro so it runs inside either backend's
/// transaction.
macro_rules! record_event {
    ($tx:expr, $chat:expr, $kind:expr, $actor:expr, $subject:expr, $detail:expr, $now:expr) => {
        $crate::events::record_event!($tx, $chat, $kind, $actor, $subject, $detail, $now, message: None::<i64>)
    };
    ($tx:expr, $chat:expr, $kind:expr, $actor:expr, $subject:expr, $detail:expr, $now:expr, message: $message_seq:expr) => {{
        let (event_seq, after_seq): (i64, i64) = sqlx::query_as(
            "UPDATE chats SET last_event_seq = last_event_seq + 1 WHERE id = $1 \
             RETURNING last_event_seq, last_seq",
        )
        .bind($chat)
        .fetch_one(&mut *$tx)
        .await?;
        sqlx::query(
            "INSERT INTO chat_events (chat_id, event_seq, kind, actor_id, subject_id, detail, after_seq, created_at, message_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind($chat)
        .bind(event_seq)
        .bind(chat_types::ChatEventKind::as_db($kind))
        .bind($actor)
        .bind($subject)
        .bind($detail)
        .bind(after_seq)
        .bind($now)
        .bind($message_seq)
        .execute(&mut *$tx)
        .await?;
        event_seq
    }};
}
pub(super) use record_event;

from_row! {
    struct EventRow {
        chat_id: Uuid,
        event_seq: i64,
        kind: String,
        actor_id: Uuid,
        actor_username: String,
        actor_display_name: String,
        subject_id: Option<Uuid>,
        subject_username: Option<String>,
        subject_display_name: Option<String>,
        detail: Option<String>,
        after_seq: i64,
        created_at: DateTime<Utc>,
        message_seq: Option<i64>,
    }
}

impl EventRow {
    /// `None` for a kind this version does not know (written by a newer one).
    fn into_event(self) -> Option<ChatEvent> {
        let subject = match (
            self.subject_id,
            self.subject_username,
            self.subject_display_name,
        ) {
            (Some(id), Some(username), Some(display_name)) => Some(UserSummary {
                id: id.into(),
                username,
                display_name,
            }),
            _ => None,
        };
        let kind = ChatEventKind::from_db(&self.kind)?;
        let reaction = matches!(kind, ChatEventKind::Reacted | ChatEventKind::Unreacted);
        let (name, emoji) = match self.detail {
            Some(detail) if reaction => (None, Some(detail)),
            // An edit's detail is the content it set: for the edit history, not a name.
            detail => (detail.filter(|_| self.message_seq.is_none()), None),
        };
        Some(ChatEvent {
            chat_id: self.chat_id.into(),
            event_seq: self.event_seq,
            kind,
            actor: UserSummary {
                id: self.actor_id.into(),
                username: self.actor_username,
                display_name: self.actor_display_name,
            },
            subject,
            name,
            emoji,
            after_seq: self.after_seq,
            at: self.created_at,
            message: None,
        })
    }
}

/// Selects an [`EventRow`] from `chat_events e` with the names of the people in it;
/// append a `WHERE` on `e.chat_id`.
macro_rules! event_select {
    () => {
        "SELECT e.chat_id, e.event_seq, e.kind, e.actor_id, a.username AS actor_username, \
         a.display_name AS actor_display_name, e.subject_id, s.username AS subject_username, \
         s.display_name AS subject_display_name, e.detail, e.after_seq, e.created_at, e.message_seq \
         FROM chat_events e JOIN users a ON a.id = e.actor_id LEFT JOIN users s ON s.id = e.subject_id "
    };
}

impl Store {
    /// Up to `limit` of the chat's events after `after_event_seq`, in order; an edit or
    /// delete with its message as it is now.
    pub async fn chat_events_after(
        &self,
        chat_id: ChatId,
        after_event_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<ChatEvent>> {
        let rows: Vec<EventRow> = on_read!(self, |pool| {
            sqlx::query_as(concat!(
                event_select!(),
                "WHERE e.chat_id = $1 AND e.event_seq > $2 ORDER BY e.event_seq LIMIT $3"
            ))
            .bind(chat_id.as_uuid())
            .bind(after_event_seq)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        let changed: Vec<i64> = rows.iter().filter_map(|r| r.message_seq).collect();
        let messages: HashMap<i64, Message> = self
            .messages_at(chat_id, &changed)
            .await?
            .into_iter()
            .map(|m| (m.seq, m))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let seq = row.message_seq;
                let mut event = row.into_event()?;
                event.message = seq.and_then(|seq| messages.get(&seq).cloned());
                Some(event)
            })
            .collect())
    }

    /// The chat's events placed among messages `from..=to` (by their `after_seq`), in
    /// order, without edits and deletes (which show on their message). Open ends reach
    /// the chat's start or its end.
    pub async fn chat_events_among(
        &self,
        chat_id: ChatId,
        from: Option<i64>,
        to: Option<i64>,
    ) -> StoreResult<Vec<ChatEvent>> {
        let rows: Vec<EventRow> = on_read!(self, |pool| {
            sqlx::query_as(concat!(
                event_select!(),
                "WHERE e.chat_id = $1 AND e.after_seq >= $2 AND e.after_seq <= $3 \
                 AND e.message_seq IS NULL ORDER BY e.event_seq"
            ))
            .bind(chat_id.as_uuid())
            .bind(from.unwrap_or(i64::MIN))
            .bind(to.unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().filter_map(EventRow::into_event).collect())
    }

    /// The names of `users` (for the authors of a page of messages).
    pub async fn user_summaries(&self, users: &[UserId]) -> StoreResult<Vec<UserSummary>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        on_read!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, username, display_name FROM users WHERE id IN ",
            );
            crate::push_list(&mut query, users.iter().map(|user| user.as_uuid()));
            query.push(" ORDER BY username");
            let rows: Vec<(Uuid, String, String)> = query.build_query_as().fetch_all(pool).await?;
            Ok(rows
                .into_iter()
                .map(|(id, username, display_name)| UserSummary {
                    id: id.into(),
                    username,
                    display_name,
                })
                .collect())
        })
    }
}
