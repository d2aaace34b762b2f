//! Chats and their participants.

use std::collections::HashMap;

use chat_types::{Chat, ChatId, ChatKind, Participant, Role, UserId};
use chrono::Utc;
use uuid::Uuid;

use super::events::record_event;
use super::rows::{ChatRow, ParticipantRow, chat_columns, participant_select, unread_count};
use super::{Store, StoreError, StoreResult, on_read, on_write};
use chat_types::ChatEventKind;

/// Inserts a participant with a read watermark at the chat's current end (a newcomer
/// has nothing to catch up on: their unread count, derived from the watermark, starts
/// at zero); evaluates to whether they were new. A macro so it runs inside either
/// backend's transaction.
macro_rules! join_chat {
    ($tx:expr, $chat:expr, $user:expr, $role:expr, $now:expr) => {{
        let inserted = sqlx::query(
            "INSERT INTO chat_participants (chat_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (chat_id, user_id) DO NOTHING",
        )
        .bind($chat)
        .bind($user.as_uuid())
        .bind($role.as_db())
        .bind($now)
        .execute($tx)
        .await?
        .rows_affected()
            > 0;
        if inserted {
            sqlx::query(
                "INSERT INTO message_reads (chat_id, user_id, last_read_seq, read_at) \
                 SELECT $1, $2, last_seq, $3 FROM chats WHERE id = $1 \
                 ON CONFLICT (chat_id, user_id) DO UPDATE SET last_read_seq = excluded.last_read_seq",
            )
            .bind($chat)
            .bind($user.as_uuid())
            .bind($now)
            .execute($tx)
            .await?;
        }
        inserted
    }};
}

/// A validated `createChat`.
pub struct NewChat<'a> {
    pub kind: ChatKind,
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub created_by: UserId,
    /// Everyone else who joins; the creator joins as owner.
    pub others: &'a [UserId],
}

/// The key that makes a pair's direct chat unique, whoever creates it.
fn direct_key(a: UserId, b: UserId) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}

impl Store {
    /// Creates a chat, or for a direct chat that already exists, returns its id.
    /// `Ok((id, true))` when the chat is new.
    pub async fn create_chat(&self, new: NewChat<'_>) -> StoreResult<(ChatId, bool)> {
        let now = Utc::now();
        let id = Uuid::now_v7();
        let key = match (new.kind, new.others) {
            (ChatKind::Direct, [other]) => Some(direct_key(new.created_by, *other)),
            _ => None,
        };
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO chats (id, kind, name, description, created_by, direct_key, last_seq, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7) ON CONFLICT (direct_key) DO NOTHING",
            )
            .bind(id)
            .bind(new.kind.as_db())
            .bind(new.name)
            .bind(new.description)
            .bind(new.created_by.as_uuid())
            .bind(key.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                let (existing,): (Uuid,) =
                    sqlx::query_as("SELECT id FROM chats WHERE direct_key = $1")
                        .bind(key.as_deref())
                        .fetch_one(&mut *tx)
                        .await?;
                return Ok((existing.into(), false));
            }
            let members = std::iter::once((new.created_by, Role::Owner))
                .chain(new.others.iter().map(|u| (*u, Role::Member)));
            for (user, role) in members {
                join_chat!(&mut *tx, id, user, role, now);
            }
            if new.kind == ChatKind::Group {
                let no_one: Option<Uuid> = None;
                let no_detail: Option<&str> = None;
                record_event!(
                    tx,
                    id,
                    ChatEventKind::Created,
                    new.created_by.as_uuid(),
                    no_one,
                    no_detail,
                    now
                );
            }
            tx.commit().await?;
            Ok((id.into(), true))
        })
    }

    /// The chat, with `viewer`'s unread count (0 without a viewer). Does not check
    /// that the viewer takes part in it: see [`crate::access::participant`].
    pub async fn chat(&self, chat_id: ChatId, viewer: Option<UserId>) -> StoreResult<Option<Chat>> {
        let row = on_read!(self, |pool| {
            sqlx::query_as::<_, ChatRow>(concat!(
                chat_columns!(),
                "FROM chats c \
                 LEFT JOIN message_reads r ON r.chat_id = c.id AND r.user_id = $2 \
                 LEFT JOIN messages m ON m.chat_id = c.id AND m.seq = c.last_seq \
                 WHERE c.id = $1"
            ))
            .bind(chat_id.as_uuid())
            .bind(viewer.map(|v| v.as_uuid()))
            .fetch_optional(pool)
            .await?
        });
        match row {
            Some(row) => Ok(Some(row.into_chat(self.participants(chat_id).await?))),
            None => Ok(None),
        }
    }

    /// The user's chats, latest activity first, each with its last message and the
    /// user's unread count: two queries, however many chats.
    pub async fn chats_for(&self, viewer: UserId) -> StoreResult<Vec<Chat>> {
        let (rows, participant_rows) = on_read!(self, |pool| {
            let rows = sqlx::query_as::<_, ChatRow>(concat!(
                chat_columns!(),
                "FROM chat_participants p \
                 JOIN chats c ON c.id = p.chat_id \
                 LEFT JOIN message_reads r ON r.chat_id = c.id AND r.user_id = p.user_id \
                 LEFT JOIN messages m ON m.chat_id = c.id AND m.seq = c.last_seq \
                 WHERE p.user_id = $1 \
                 ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id"
            ))
            .bind(viewer.as_uuid())
            .fetch_all(pool)
            .await?;
            let participants = sqlx::query_as::<_, ParticipantRow>(concat!(
                participant_select!(),
                " WHERE p.chat_id IN (SELECT chat_id FROM chat_participants WHERE user_id = $1) \
                  ORDER BY p.joined_at, u.username"
            ))
            .bind(viewer.as_uuid())
            .fetch_all(pool)
            .await?;
            (rows, participants)
        });
        let mut by_chat: HashMap<Uuid, Vec<Participant>> = HashMap::new();
        for row in participant_rows {
            by_chat.entry(row.chat_id).or_default().push(row.into());
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let participants = by_chat.remove(&row.id).unwrap_or_default();
                row.into_chat(participants)
            })
            .collect())
    }

    pub async fn participants(&self, chat_id: ChatId) -> StoreResult<Vec<Participant>> {
        on_read!(self, |pool| {
            let rows = sqlx::query_as::<_, ParticipantRow>(concat!(
                participant_select!(),
                " WHERE p.chat_id = $1 ORDER BY p.joined_at, u.username"
            ))
            .bind(chat_id.as_uuid())
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(Participant::from).collect())
        })
    }

    /// The user's role in the chat, or `None` if they do not take part in it.
    pub async fn participant_role(
        &self,
        chat_id: ChatId,
        user: UserId,
    ) -> StoreResult<Option<Role>> {
        on_read!(self, |pool| {
            let role: Option<(String,)> = sqlx::query_as(
                "SELECT role FROM chat_participants WHERE chat_id = $1 AND user_id = $2",
            )
            .bind(chat_id.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await?;
            Ok(role.and_then(|(r,)| Role::from_db(&r)))
        })
    }

    /// The chat's kind, if it exists.
    pub async fn chat_kind(&self, chat_id: ChatId) -> StoreResult<Option<ChatKind>> {
        on_read!(self, |pool| {
            let kind: Option<(String,)> = sqlx::query_as("SELECT kind FROM chats WHERE id = $1")
                .bind(chat_id.as_uuid())
                .fetch_optional(pool)
                .await?;
            Ok(kind.and_then(|(k,)| ChatKind::from_db(&k)))
        })
    }

    /// Every participant's unread count in the chat.
    pub async fn unread_by_user(&self, chat_id: ChatId) -> StoreResult<HashMap<UserId, i64>> {
        on_read!(self, |pool| {
            let rows: Vec<(Uuid, i64)> = sqlx::query_as(concat!(
                "SELECT r.user_id, ",
                unread_count!(),
                " FROM message_reads r JOIN chats c ON c.id = r.chat_id WHERE r.chat_id = $1"
            ))
            .bind(chat_id.as_uuid())
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(u, n)| (u.into(), n)).collect())
        })
    }

    /// Renames a group or changes its description (`None` leaves a field as it is);
    /// returns the `event_seq` of each change it logged (none when nothing changed).
    pub async fn update_chat(
        &self,
        chat_id: ChatId,
        actor: UserId,
        name: Option<&str>,
        description: Option<&str>,
    ) -> StoreResult<Vec<i64>> {
        let now = Utc::now();
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            let before: Option<(Option<String>, Option<String>)> =
                sqlx::query_as("SELECT name, description FROM chats WHERE id = $1")
                    .bind(chat_id.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((old_name, old_description)) = before else {
                return Err(StoreError::NotFound);
            };
            let renamed = name.filter(|n| old_name.as_deref() != Some(*n));
            let described = description.filter(|d| old_description.as_deref() != Some(*d));
            if renamed.is_none() && described.is_none() {
                return Ok(Vec::new());
            }
            sqlx::query(
                "UPDATE chats SET name = COALESCE($2, name), description = COALESCE($3, description), \
                 updated_at = $4 WHERE id = $1",
            )
            .bind(chat_id.as_uuid())
            .bind(renamed)
            .bind(described)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let no_one: Option<Uuid> = None;
            let mut events = Vec::new();
            if let Some(name) = renamed {
                events.push(record_event!(
                    tx,
                    chat_id.as_uuid(),
                    ChatEventKind::Renamed,
                    actor.as_uuid(),
                    no_one,
                    Some(name),
                    now
                ));
            }
            if described.is_some() {
                let no_detail: Option<&str> = None;
                events.push(record_event!(
                    tx,
                    chat_id.as_uuid(),
                    ChatEventKind::Described,
                    actor.as_uuid(),
                    no_one,
                    no_detail,
                    now
                ));
            }
            tx.commit().await?;
            Ok(events)
        })
    }

    /// Adds members to a chat; returns those who were not in it already, with the
    /// `event_seq` that logged each.
    pub async fn add_participants(
        &self,
        chat_id: ChatId,
        actor: UserId,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, i64)>> {
        let now = Utc::now();
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut added = Vec::new();
            let no_detail: Option<&str> = None;
            for user in users {
                let inserted = join_chat!(&mut *tx, chat_id.as_uuid(), *user, Role::Member, now);
                if inserted {
                    let event = record_event!(
                        tx,
                        chat_id.as_uuid(),
                        ChatEventKind::Added,
                        actor.as_uuid(),
                        Some(user.as_uuid()),
                        no_detail,
                        now
                    );
                    added.push((*user, event));
                }
            }
            if !added.is_empty() {
                sqlx::query("UPDATE chats SET updated_at = $2 WHERE id = $1")
                    .bind(chat_id.as_uuid())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(added)
        })
    }

    /// Removes a participant with their read watermark (`actor` is who removed them,
    /// themselves when leaving); the `event_seq` that logged it, or `None` if they were
    /// not in the chat.
    pub async fn remove_participant(
        &self,
        chat_id: ChatId,
        actor: UserId,
        user: UserId,
    ) -> StoreResult<Option<i64>> {
        let now = Utc::now();
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            let removed =
                sqlx::query("DELETE FROM chat_participants WHERE chat_id = $1 AND user_id = $2")
                    .bind(chat_id.as_uuid())
                    .bind(user.as_uuid())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            sqlx::query("DELETE FROM message_reads WHERE chat_id = $1 AND user_id = $2")
                .bind(chat_id.as_uuid())
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await?;
            // A group keeps an owner: when the owner leaves, the longest-standing member
            // takes over.
            sqlx::query(
                "UPDATE chat_participants SET role = 'owner' WHERE chat_id = $1 AND user_id = \
                 (SELECT user_id FROM chat_participants WHERE chat_id = $1 ORDER BY joined_at, user_id LIMIT 1) \
                 AND NOT EXISTS (SELECT 1 FROM chat_participants WHERE chat_id = $1 AND role = 'owner')",
            )
            .bind(chat_id.as_uuid())
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE chats SET updated_at = $2 WHERE id = $1")
                .bind(chat_id.as_uuid())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let event = if removed > 0 {
                let (kind, subject) = if actor == user {
                    (ChatEventKind::Left, None)
                } else {
                    (ChatEventKind::Removed, Some(user.as_uuid()))
                };
                let no_detail: Option<&str> = None;
                Some(record_event!(
                    tx,
                    chat_id.as_uuid(),
                    kind,
                    actor.as_uuid(),
                    subject,
                    no_detail,
                    now
                ))
            } else {
                None
            };
            tx.commit().await?;
            Ok(event)
        })
    }

    /// Which of `users` exist and are active.
    pub async fn active_users_among(&self, users: &[UserId]) -> StoreResult<Vec<UserId>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        on_read!(self, |pool| {
            let mut query =
                sqlx::QueryBuilder::new("SELECT id FROM users WHERE is_active AND id IN (");
            let mut list = query.separated(", ");
            for user in users {
                list.push_bind(user.as_uuid());
            }
            query.push(")");
            let rows: Vec<(Uuid,)> = query.build_query_as().fetch_all(pool).await?;
            Ok(rows.into_iter().map(|(id,)| id.into()).collect())
        })
    }
}
