//! Chats and their participants.

use std::collections::HashMap;

use chat_types::{Chat, ChatId, ChatKind, Participant, Role, Standing, UserId};
use chrono::Utc;
use uuid::Uuid;

use chat_types::ChatEventKind;
use chat_types::validate::GROUP_MAX_PARTICIPANTS;

use super::events::record_event;
use super::rows::{
    ChatRow, ParticipantRow, chat_columns, participant_select, seen_by, unread_count,
};
use super::{Store, StoreError, StoreResult, begin_write, on_read, on_write};

/// Why a change to a chat was refused. Each is decided inside the change's own
/// transaction, under the chat's lock, so a change committed meanwhile (someone
/// removed, a concurrent add) counts.
#[derive(Debug, thiserror::Error)]
pub enum ChatChangeError {
    /// No such chat, or the one making the change is not in it: the same answer, so a
    /// stranger learns nothing about which chats exist.
    #[error("not a participant of this chat")]
    NotParticipant,
    #[error("only the owner may do this")]
    NotOwner,
    #[error("a direct chat always has exactly its two participants and no name")]
    Direct,
    #[error("a group has at most {GROUP_MAX_PARTICIPANTS} participants")]
    TooMany,
    /// The one to remove is not in the chat.
    #[error("not in this chat")]
    NotMember,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ChatChangeError {
    fn from(e: sqlx::Error) -> Self {
        ChatChangeError::Store(e.into())
    }
}

/// Inside a write transaction: locks the group's row until the transaction ends (on
/// PostgreSQL; SQLite writes one transaction at a time) and evaluates to `$actor`'s
/// role in it, read after the lock so it is current. Refuses with
/// [`ChatChangeError::NotParticipant`] when there is no such chat or `$actor` is not in
/// it, and with [`ChatChangeError::Direct`] for a direct chat. Every change to a chat's
/// membership takes this lock, and so does sending.
macro_rules! lock_group {
    ($tx:expr, $chat:expr, $actor:expr) => {{
        let lock = if PG {
            "SELECT kind FROM chats WHERE id = $1 FOR UPDATE"
        } else {
            "SELECT kind FROM chats WHERE id = $1"
        };
        let kind: Option<(String,)> = sqlx::query_as(lock)
            .bind($chat)
            .fetch_optional(&mut *$tx)
            .await?;
        let role: Option<(String,)> = sqlx::query_as(
            "SELECT role FROM chat_participants WHERE chat_id = $1 AND user_id = $2",
        )
        .bind($chat)
        .bind($actor.as_uuid())
        .fetch_optional(&mut *$tx)
        .await?;
        match (
            kind.and_then(|(k,)| ChatKind::from_db(&k)),
            role.and_then(|(r,)| Role::from_db(&r)),
        ) {
            (Some(ChatKind::Group), Some(role)) => role,
            (Some(ChatKind::Direct), Some(_)) => return Err(ChatChangeError::Direct),
            _ => return Err(ChatChangeError::NotParticipant),
        }
    }};
}

/// Inside a write transaction: whether `$a` and `$b` have talked before, that is, share
/// a chat both of them accepted. Someone put in a chat by a person they have not talked
/// with gets it as a request ([`Standing::Requested`]).
macro_rules! acquainted {
    ($tx:expr, $a:expr, $b:expr) => {{
        let shared: Option<(i32,)> = sqlx::query_as(
            "SELECT 1 FROM chat_participants a JOIN chat_participants b ON b.chat_id = a.chat_id \
             WHERE a.user_id = $1 AND b.user_id = $2 \
             AND a.standing = 'accepted' AND b.standing = 'accepted' LIMIT 1",
        )
        .bind($a.as_uuid())
        .bind($b.as_uuid())
        .fetch_optional(&mut *$tx)
        .await?;
        shared.is_some()
    }};
}

/// Inserts a participant with a read watermark at the chat's current end (a newcomer
/// has nothing to catch up on: their unread count, derived from the watermark, starts
/// at zero); evaluates to whether they were new. A macro so it runs inside either
/// backend's transaction.
macro_rules! join_chat {
    ($tx:expr, $chat:expr, $user:expr, $role:expr, $standing:expr, $now:expr) => {{
        let inserted = sqlx::query(
            "INSERT INTO chat_participants (chat_id, user_id, role, joined_at, standing) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chat_id, user_id) DO NOTHING",
        )
        .bind($chat)
        .bind($user.as_uuid())
        .bind($role.as_db())
        .bind($now)
        .bind($standing.as_db())
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

/// What [`Store::create_chat`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// A new chat.
    Created(ChatId),
    /// The pair's direct chat, which existed; `accepted`: its creator had it as a
    /// request, or declined it, and starting it again accepts it.
    Existing { id: ChatId, accepted: bool },
}

impl Started {
    pub fn id(self) -> ChatId {
        match self {
            Started::Created(id) | Started::Existing { id, .. } => id,
        }
    }
}

impl Store {
    /// Creates a chat, or for a direct chat that already exists, returns it (accepting
    /// it for its creator, who wants to talk). Each other person joins having accepted
    /// it if they have talked with the creator before, else as a request.
    pub async fn create_chat(&self, new: NewChat<'_>) -> StoreResult<Started> {
        let now = Utc::now();
        let id = Uuid::now_v7();
        let key = match (new.kind, new.others) {
            (ChatKind::Direct, [other]) => Some(direct_key(new.created_by, *other)),
            _ => None,
        };
        on_write!(self, |pool| {
            let mut tx = begin_write!(pool);
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
                let accepted = sqlx::query(
                    "UPDATE chat_participants SET standing = 'accepted' \
                     WHERE chat_id = $1 AND user_id = $2 AND standing <> 'accepted'",
                )
                .bind(existing)
                .bind(new.created_by.as_uuid())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0;
                tx.commit().await?;
                return Ok(Started::Existing {
                    id: existing.into(),
                    accepted,
                });
            }
            join_chat!(
                &mut *tx,
                id,
                new.created_by,
                Role::Owner,
                Standing::Accepted,
                now
            );
            for other in new.others {
                let standing = if acquainted!(tx, new.created_by, *other) {
                    Standing::Accepted
                } else {
                    Standing::Requested
                };
                join_chat!(&mut *tx, id, *other, Role::Member, standing, now);
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
            Ok(Started::Created(id.into()))
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
            Some(row) => {
                let participants = seen_by(self.participants(chat_id).await?, viewer);
                Ok(Some(row.into_chat(participants)))
            }
            None => Ok(None),
        }
    }

    /// The user's chats, latest activity first, each with its last message and the
    /// user's unread count: two queries, however many chats. Direct requests they
    /// declined are not among them.
    pub async fn chats_for(&self, viewer: UserId) -> StoreResult<Vec<Chat>> {
        let (rows, participant_rows) = on_read!(self, |pool| {
            let rows = sqlx::query_as::<_, ChatRow>(concat!(
                chat_columns!(),
                "FROM chat_participants p \
                 JOIN chats c ON c.id = p.chat_id \
                 LEFT JOIN message_reads r ON r.chat_id = c.id AND r.user_id = p.user_id \
                 LEFT JOIN messages m ON m.chat_id = c.id AND m.seq = c.last_seq \
                 WHERE p.user_id = $1 AND p.standing <> 'declined' \
                 ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id"
            ))
            .bind(viewer.as_uuid())
            .fetch_all(pool)
            .await?;
            let participants = sqlx::query_as::<_, ParticipantRow>(concat!(
                participant_select!(),
                " WHERE p.chat_id IN (SELECT chat_id FROM chat_participants \
                                      WHERE user_id = $1 AND standing <> 'declined') \
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
                row.into_chat(seen_by(participants, Some(viewer)))
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

    /// `user`'s role in the chat and where they stand with it, or `None` if they do not
    /// take part in it.
    pub async fn participation(
        &self,
        chat_id: ChatId,
        user: UserId,
    ) -> StoreResult<Option<(Role, Standing)>> {
        on_read!(self, |pool| {
            let row: Option<(String, String)> = sqlx::query_as(
                "SELECT role, standing FROM chat_participants WHERE chat_id = $1 AND user_id = $2",
            )
            .bind(chat_id.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await?;
            Ok(row.and_then(|(role, standing)| {
                Some((Role::from_db(&role)?, Standing::from_db(&standing)?))
            }))
        })
    }

    /// `user` accepts the chat (a request, or a direct request they declined); whether
    /// that changed anything. `NotFound` when they are not in it.
    pub async fn accept_chat(&self, chat_id: ChatId, user: UserId) -> StoreResult<bool> {
        self.set_standing(chat_id, user, Standing::Accepted, "standing <> 'accepted'")
            .await
    }

    /// `user` declines a direct chat they have as a request: it is hidden from them, and
    /// the other person is not told. `NotFound` when they are not in it, or have it as
    /// no request.
    pub async fn decline_direct_chat(&self, chat_id: ChatId, user: UserId) -> StoreResult<()> {
        let changed = self
            .set_standing(
                chat_id,
                user,
                Standing::Declined,
                "standing = 'requested' AND chat_id IN (SELECT id FROM chats WHERE kind = 'direct')",
            )
            .await?;
        if changed {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn set_standing(
        &self,
        chat_id: ChatId,
        user: UserId,
        standing: Standing,
        condition: &'static str,
    ) -> StoreResult<bool> {
        on_write!(self, |pool| {
            let mut tx = begin_write!(pool);
            let current: Option<(String,)> = sqlx::query_as(
                "SELECT standing FROM chat_participants WHERE chat_id = $1 AND user_id = $2",
            )
            .bind(chat_id.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
            if current.is_none() {
                return Err(StoreError::NotFound);
            }
            let changed = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE chat_participants SET standing = $3 \
                 WHERE chat_id = $1 AND user_id = $2 AND {condition}"
            )))
            .bind(chat_id.as_uuid())
            .bind(user.as_uuid())
            .bind(standing.as_db())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(changed > 0)
        })
    }

    /// Mutes the chat for `user`, or unmutes it. `NotFound` when they are not in it.
    pub async fn set_muted(&self, chat_id: ChatId, user: UserId, muted: bool) -> StoreResult<()> {
        let changed = on_write!(self, |pool| {
            sqlx::query(
                "UPDATE chat_participants SET muted = $3 WHERE chat_id = $1 AND user_id = $2",
            )
            .bind(chat_id.as_uuid())
            .bind(user.as_uuid())
            .bind(muted)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
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
    /// the owner only. Returns the `event_seq` of each change it logged (none when
    /// nothing changed).
    pub async fn update_chat(
        &self,
        chat_id: ChatId,
        actor: UserId,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Vec<i64>, ChatChangeError> {
        let now = Utc::now();
        let chat = chat_id.as_uuid();
        on_write!(self, |pool| {
            let mut tx = begin_write!(pool);
            if lock_group!(tx, chat, actor) != Role::Owner {
                return Err(ChatChangeError::NotOwner);
            }
            let (old_name, old_description): (Option<String>, Option<String>) =
                sqlx::query_as("SELECT name, description FROM chats WHERE id = $1")
                    .bind(chat)
                    .fetch_one(&mut *tx)
                    .await?;
            let renamed = name.filter(|n| old_name.as_deref() != Some(*n));
            let described = description.filter(|d| old_description.as_deref() != Some(*d));
            if renamed.is_none() && described.is_none() {
                return Ok(Vec::new());
            }
            sqlx::query(
                "UPDATE chats SET name = COALESCE($2, name), description = COALESCE($3, description), \
                 updated_at = $4 WHERE id = $1",
            )
            .bind(chat)
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
                    chat,
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
                    chat,
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

    /// Adds people to a group (any participant may), up to the group's size limit;
    /// returns those who were not in it already, with the `event_seq` that logged each.
    /// Someone who has not talked with the one adding them gets the group as a request.
    pub async fn add_participants(
        &self,
        chat_id: ChatId,
        actor: UserId,
        users: &[UserId],
    ) -> Result<Vec<(UserId, i64)>, ChatChangeError> {
        let now = Utc::now();
        let chat = chat_id.as_uuid();
        on_write!(self, |pool| {
            let mut tx = begin_write!(pool);
            lock_group!(tx, chat, actor);
            let current: Vec<(Uuid,)> =
                sqlx::query_as("SELECT user_id FROM chat_participants WHERE chat_id = $1")
                    .bind(chat)
                    .fetch_all(&mut *tx)
                    .await?;
            let newcomers = users
                .iter()
                .filter(|u| !current.iter().any(|(c,)| *c == u.as_uuid()))
                .count();
            if current.len() + newcomers > GROUP_MAX_PARTICIPANTS {
                return Err(ChatChangeError::TooMany);
            }
            let mut added = Vec::new();
            let no_detail: Option<&str> = None;
            for user in users {
                let standing = if acquainted!(tx, actor, *user) {
                    Standing::Accepted
                } else {
                    Standing::Requested
                };
                let inserted = join_chat!(&mut *tx, chat, *user, Role::Member, standing, now);
                if inserted {
                    let event = record_event!(
                        tx,
                        chat,
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
                    .bind(chat)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(added)
        })
    }

    /// Removes `user` from a group with their read watermark: anyone may leave, only
    /// the owner may remove others. Returns the `event_seq` that logged it.
    pub async fn remove_participant(
        &self,
        chat_id: ChatId,
        actor: UserId,
        user: UserId,
    ) -> Result<i64, ChatChangeError> {
        let now = Utc::now();
        let chat = chat_id.as_uuid();
        on_write!(self, |pool| {
            let mut tx = begin_write!(pool);
            let role = lock_group!(tx, chat, actor);
            if user != actor && role != Role::Owner {
                return Err(ChatChangeError::NotOwner);
            }
            let removed =
                sqlx::query("DELETE FROM chat_participants WHERE chat_id = $1 AND user_id = $2")
                    .bind(chat)
                    .bind(user.as_uuid())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if removed == 0 {
                return Err(ChatChangeError::NotMember);
            }
            sqlx::query("DELETE FROM message_reads WHERE chat_id = $1 AND user_id = $2")
                .bind(chat)
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
            .bind(chat)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE chats SET updated_at = $2 WHERE id = $1")
                .bind(chat)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let (kind, subject) = if actor == user {
                (ChatEventKind::Left, None)
            } else {
                (ChatEventKind::Removed, Some(user.as_uuid()))
            };
            let no_detail: Option<&str> = None;
            let event = record_event!(tx, chat, kind, actor.as_uuid(), subject, no_detail, now);
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
                sqlx::QueryBuilder::new("SELECT id FROM users WHERE is_active AND id IN ");
            crate::push_list(&mut query, users.iter().map(|user| user.as_uuid()));
            let rows: Vec<(Uuid,)> = query.build_query_as().fetch_all(pool).await?;
            Ok(rows.into_iter().map(|(id,)| id.into()).collect())
        })
    }
}
