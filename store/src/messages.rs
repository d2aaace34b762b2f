//! Messages: reads, edits and deletes. Sending is in [`super::batch`], read
//! watermarks and unread counts in [`super::reads`].

use std::collections::HashMap;

use chat_types::{
    ChatEventKind, ChatId, FileId, Mention, Message, MessageId, MessagePage, MessageVersion, Quote,
    UserId,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::events::record_event;
use super::rows::{MessageRow, message_columns};
use super::{Store, StoreError, StoreResult, begin_write, on_read, on_write};

/// Where a chat's two sequences end: its newest message and its newest logged change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogEnds {
    pub last_seq: i64,
    pub last_event_seq: i64,
}

/// Why a change to a message (an edit, a delete, a reaction) was refused.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("message not found")]
    NotFound,
    /// The author is no longer in the message's chat.
    #[error("not a participant of this chat")]
    NotParticipant,
    #[error("only the author may change a message")]
    NotAuthor,
    /// Pinning in a group is for its owners.
    #[error("only the group's owners may do this")]
    NotOwner,
    #[error("the message was deleted")]
    Deleted,
    #[error(
        "a message has at most {} different reactions",
        chat_types::emoji::MAX_REACTIONS_PER_MESSAGE
    )]
    TooManyReactions,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for EditError {
    fn from(e: sqlx::Error) -> Self {
        EditError::Store(e.into())
    }
}

/// Inside a write transaction: the message `$id` as it is now, if `$user` may change
/// it (still in its chat), else returns the reason. The chat is locked first, as
/// membership changes lock it, so a removal committed meanwhile counts (and as logging
/// the change will: taking the lock in one step cannot deadlock).
macro_rules! changeable {
    ($tx:expr, $id:expr, $user:expr) => {{
        let found: Option<(Uuid,)> = sqlx::query_as("SELECT chat_id FROM messages WHERE id = $1")
            .bind($id.as_uuid())
            .fetch_optional(&mut *$tx)
            .await?;
        let Some((chat,)) = found else {
            return Err(EditError::NotFound);
        };
        if PG {
            sqlx::query("SELECT id FROM chats WHERE id = $1 FOR UPDATE")
                .bind(chat)
                .execute(&mut *$tx)
                .await?;
        }
        let member: Option<(Uuid,)> = sqlx::query_as(
            "SELECT user_id FROM chat_participants WHERE chat_id = $1 AND user_id = $2",
        )
        .bind(chat)
        .bind($user.as_uuid())
        .fetch_optional(&mut *$tx)
        .await?;
        if member.is_none() {
            return Err(EditError::NotParticipant);
        }
        let row: MessageRow = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE id = $1"
        ))
        .bind($id.as_uuid())
        .fetch_one(&mut *$tx)
        .await?;
        Message::from(row)
    }};
}
pub(super) use changeable;

/// Whether user `$2` owns group `$1` (and so may mention everyone in it with `@all`).
const OWNS_GROUP: &str = "SELECT COUNT(*) FROM chats c JOIN chat_participants p ON p.chat_id = c.id \
     WHERE c.id = $1 AND p.user_id = $2 AND c.kind = 'group' AND p.role = 'owner'";

/// Inside a write transaction: the message no longer mentions anyone (it is deleted, or
/// edited and about to mention whom its new text names).
macro_rules! forget_mentions {
    ($tx:expr, $message:expr) => {
        sqlx::query("DELETE FROM message_mentions WHERE chat_id = $1 AND message_seq = $2")
            .bind($message.chat_id.as_uuid())
            .bind($message.seq)
            .execute(&mut *$tx)
            .await?
    };
}

impl Store {
    /// The message as a client sees it (with its quote and reactions).
    pub async fn message(&self, id: MessageId) -> StoreResult<Option<Message>> {
        let row: Option<MessageRow> = on_read!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE id = $1"
            ))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?
        });
        let Some(row) = row else { return Ok(None) };
        let chat = row.chat_id.into();
        Ok(self.complete(chat, vec![row]).await?.pop())
    }

    /// The message `id` as it is now, after a change to it that committed.
    pub(crate) async fn changed(&self, id: MessageId) -> Result<Message, EditError> {
        self.message(id).await?.ok_or(EditError::NotFound)
    }

    /// Changes a message's content: its author only, while still in the chat, and not
    /// once deleted. Logged in the chat with the content it set and the one it replaced
    /// (the message's history); returns the edited message and the change's `event_seq`.
    /// It then mentions `mentioned` (those still in the chat) and, with `everyone`, all
    /// the chat (whom it mentions is decided by the caller as for a new message).
    pub async fn edit_message(
        &self,
        id: MessageId,
        editor: UserId,
        content: &str,
        mentioned: &[Mention],
        everyone: bool,
    ) -> Result<(Message, i64), EditError> {
        let now = Utc::now();
        on_write!(self, |pool| {
            let mut tx = begin_write!(pool);
            let message = changeable!(tx, id, editor);
            if message.sender_id != editor {
                return Err(EditError::NotAuthor);
            }
            if message.deleted_at.is_some() {
                return Err(EditError::Deleted);
            }
            sqlx::query(
                "UPDATE messages SET content = $2, edited_at = $3, mentions_all = $4 WHERE id = $1",
            )
            .bind(id.as_uuid())
            .bind(content)
            .bind(now)
            .bind(everyone)
            .execute(&mut *tx)
            .await?;
            let event_seq = record_event!(
                tx,
                message.chat_id.as_uuid(),
                ChatEventKind::Edited,
                editor.as_uuid(),
                None::<Uuid>,
                Some(content),
                now,
                message: Some(message.seq)
            );
            sqlx::query(
                "UPDATE chat_events SET previous = $3 WHERE chat_id = $1 AND event_seq = $2",
            )
            .bind(message.chat_id.as_uuid())
            .bind(event_seq)
            .bind(&message.content)
            .execute(&mut *tx)
            .await?;
            forget_mentions!(tx, message);
            if !mentioned.is_empty() {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO message_mentions (chat_id, user_id, message_seq) \
                     SELECT p.chat_id, p.user_id, ",
                );
                insert
                    .push_bind(message.seq)
                    .push(" FROM chat_participants p WHERE p.chat_id = ")
                    .push_bind(message.chat_id.as_uuid())
                    .push(" AND p.user_id IN ");
                crate::push_list(
                    &mut insert,
                    mentioned.iter().map(|mention| mention.user_id.as_uuid()),
                );
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok((self.changed(id).await?, event_seq))
        })
    }

    /// Deletes a message, leaving a tombstone (same id and seq, no content): its author
    /// only, while still in the chat. Logged in the chat; the content of its earlier
    /// versions, its reactions, its mentions and its files go too, and it is no longer
    /// pinned; returns the tombstone, the change's `event_seq` and the files whose
    /// bytes the caller deletes. Deleting a tombstone again returns it unchanged, with
    /// no `event_seq`.
    pub async fn delete_message(
        &self,
        id: MessageId,
        by: UserId,
    ) -> Result<(Message, Option<i64>, Vec<FileId>), EditError> {
        let now = Utc::now();
        on_write!(self, |pool| {
            let mut tx = begin_write!(pool);
            let message = changeable!(tx, id, by);
            if message.sender_id != by {
                return Err(EditError::NotAuthor);
            }
            if message.deleted_at.is_some() {
                tx.commit().await?;
                return Ok((self.changed(id).await?, None, Vec::new()));
            }
            let files: Vec<(Uuid,)> =
                sqlx::query_as("DELETE FROM files WHERE message_id = $1 RETURNING id")
                    .bind(id.as_uuid())
                    .fetch_all(&mut *tx)
                    .await?;
            sqlx::query("DELETE FROM message_reactions WHERE chat_id = $1 AND message_seq = $2")
                .bind(message.chat_id.as_uuid())
                .bind(message.seq)
                .execute(&mut *tx)
                .await?;
            forget_mentions!(tx, message);
            sqlx::query(
                "UPDATE chat_events SET detail = NULL, previous = NULL \
                 WHERE chat_id = $1 AND message_seq = $2 AND kind = 'edited'",
            )
            .bind(message.chat_id.as_uuid())
            .bind(message.seq)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE messages SET content = '', deleted_at = $2, pinned_at = NULL, mentions_all = $3 \
                 WHERE id = $1",
            )
            .bind(id.as_uuid())
            .bind(now)
            .bind(false)
            .execute(&mut *tx)
            .await?;
            let event_seq = record_event!(
                tx,
                message.chat_id.as_uuid(),
                ChatEventKind::Deleted,
                by.as_uuid(),
                None::<Uuid>,
                None::<&str>,
                now,
                message: Some(message.seq)
            );
            tx.commit().await?;
            let files = files.into_iter().map(|(f,)| f.into()).collect();
            Ok((self.changed(id).await?, Some(event_seq), files))
        })
    }

    /// A page of a chat's messages in ascending seq: the newest `limit` before
    /// `before_seq` (or the newest of all), or the oldest `limit` after `after_seq`.
    pub async fn messages_page(
        &self,
        chat_id: ChatId,
        before_seq: Option<i64>,
        after_seq: Option<i64>,
        limit: i64,
    ) -> StoreResult<MessagePage> {
        let fetch = limit + 1;
        let mut rows: Vec<MessageRow> = on_read!(self, |pool| {
            match after_seq {
                Some(after) => {
                    sqlx::query_as(concat!(
                        "SELECT ",
                        message_columns!(),
                        " FROM messages WHERE chat_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq LIMIT $4"
                    ))
                    .bind(chat_id.as_uuid())
                    .bind(after)
                    .bind(before_seq.unwrap_or(i64::MAX))
                    .bind(fetch)
                    .fetch_all(pool)
                    .await?
                }
                None => {
                    sqlx::query_as(concat!(
                        "SELECT ",
                        message_columns!(),
                        " FROM messages WHERE chat_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
                    ))
                    .bind(chat_id.as_uuid())
                    .bind(before_seq.unwrap_or(i64::MAX))
                    .bind(fetch)
                    .fetch_all(pool)
                    .await?
                }
            }
        });
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        if after_seq.is_none() {
            rows.reverse();
        }
        Ok(MessagePage {
            messages: self.complete(chat_id, rows).await?,
            has_more,
            has_newer: false,
            authors: Vec::new(),
            events: Vec::new(),
            last_event_seq: 0,
        })
    }

    /// A page around `around`: a fifth of `limit` before it, the rest from it on, in
    /// ascending seq. `has_more` tells of older messages, `has_newer` of newer ones.
    pub async fn messages_around(
        &self,
        chat_id: ChatId,
        around: i64,
        limit: i64,
    ) -> StoreResult<MessagePage> {
        let before = (limit / 5).max(1).min(limit - 1);
        let from = limit - before;
        let (mut older, mut newer): (Vec<MessageRow>, Vec<MessageRow>) = on_read!(self, |pool| {
            let older = sqlx::query_as(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE chat_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
            ))
            .bind(chat_id.as_uuid())
            .bind(around)
            .bind(before + 1)
            .fetch_all(pool)
            .await?;
            let newer = sqlx::query_as(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE chat_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3"
            ))
            .bind(chat_id.as_uuid())
            .bind(around)
            .bind(from + 1)
            .fetch_all(pool)
            .await?;
            (older, newer)
        });
        let has_more = older.len() as i64 > before;
        let has_newer = newer.len() as i64 > from;
        older.truncate(before.max(0) as usize);
        older.reverse();
        newer.truncate(from as usize);
        older.append(&mut newer);
        Ok(MessagePage {
            messages: self.complete(chat_id, older).await?,
            has_more,
            has_newer,
            authors: Vec::new(),
            events: Vec::new(),
            last_event_seq: 0,
        })
    }

    /// The chat's messages with seq in `after..=up_to`, in order (for replay and backfill).
    pub async fn messages_between(
        &self,
        chat_id: ChatId,
        after: i64,
        up_to: i64,
    ) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = on_read!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE chat_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq"
            ))
            .bind(chat_id.as_uuid())
            .bind(after)
            .bind(up_to)
            .fetch_all(pool)
            .await?
        });
        self.complete(chat_id, rows).await
    }

    /// The chat's messages with these seqs (those that exist), in seq order.
    pub async fn messages_at(&self, chat_id: ChatId, seqs: &[i64]) -> StoreResult<Vec<Message>> {
        let rows = self.rows_at(chat_id, seqs).await?;
        self.complete(chat_id, rows).await
    }

    /// The rows of the chat's messages with these seqs (those that exist), in seq order.
    async fn rows_at(&self, chat_id: ChatId, seqs: &[i64]) -> StoreResult<Vec<MessageRow>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        on_read!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE chat_id = "
            ));
            query.push_bind(chat_id.as_uuid()).push(" AND seq IN ");
            crate::push_list(&mut query, seqs.iter().copied());
            query.push(" ORDER BY seq");
            Ok(query.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Messages of one chat as a client sees them: each with a quote of the message it
    /// answers, its reactions as they are now, and whom it mentions.
    pub(crate) async fn complete(
        &self,
        chat_id: ChatId,
        rows: Vec<MessageRow>,
    ) -> StoreResult<Vec<Message>> {
        let mut answered: Vec<i64> = rows.iter().filter_map(|r| r.reply_to_seq).collect();
        answered.sort_unstable();
        answered.dedup();
        let quotes: HashMap<i64, Quote> = self
            .rows_at(chat_id, &answered)
            .await?
            .into_iter()
            .map(|row| (row.seq, Quote::of(&Message::from(row))))
            .collect();
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        let mut reactions = self.reactions(chat_id, &seqs).await?;
        let mut mentions = self.mentions(chat_id, &seqs).await?;
        let ids: Vec<MessageId> = rows.iter().map(|r| r.id.into()).collect();
        let mut attachments = self.attachments(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let quote = row.reply_to_seq.and_then(|seq| quotes.get(&seq).cloned());
                let mut message = Message::from(row);
                message.reply_to = quote;
                message.reactions = reactions.remove(&message.seq).unwrap_or_default();
                message.mentions = mentions.remove(&message.seq).unwrap_or_default();
                message.attachments = attachments.remove(&message.id).unwrap_or_default();
                message
            })
            .collect())
    }

    /// The versions of a message, oldest first, each with when it was written: as sent,
    /// then as each edit set it. Empty for a message never edited, and once deleted
    /// (the earlier versions go with it). An edit logged before edits kept what they
    /// replaced leaves the version before it unknown: the list starts after it.
    pub async fn message_versions(&self, message: &Message) -> StoreResult<Vec<MessageVersion>> {
        if message.is_deleted() {
            return Ok(Vec::new());
        }
        let edits: Vec<(Option<String>, Option<String>, DateTime<Utc>)> = on_read!(self, |pool| {
            sqlx::query_as(
                "SELECT previous, detail, created_at FROM chat_events \
                 WHERE chat_id = $1 AND message_seq = $2 AND kind = 'edited' ORDER BY event_seq",
            )
            .bind(message.chat_id.as_uuid())
            .bind(message.seq)
            .fetch_all(pool)
            .await?
        });
        let mut versions = Vec::with_capacity(edits.len() + 1);
        for (i, (previous, set, edited_at)) in edits.into_iter().enumerate() {
            if let Some(content) = previous.filter(|_| i == 0) {
                versions.push(MessageVersion {
                    content,
                    at: message.created_at,
                });
            }
            if let Some(content) = set {
                versions.push(MessageVersion {
                    content,
                    at: edited_at,
                });
            }
        }
        Ok(versions)
    }

    /// Whom the chat's messages `seqs` mention, by seq, in the order of their names.
    async fn mentions(
        &self,
        chat_id: ChatId,
        seqs: &[i64],
    ) -> StoreResult<HashMap<i64, Vec<Mention>>> {
        if seqs.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, Uuid, String)> = on_read!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT mm.message_seq, mm.user_id, u.username FROM message_mentions mm \
                 JOIN users u ON u.id = mm.user_id WHERE mm.chat_id = ",
            );
            query
                .push_bind(chat_id.as_uuid())
                .push(" AND mm.message_seq IN ");
            crate::push_list(&mut query, seqs.iter().copied());
            query.push(" ORDER BY mm.message_seq, u.username");
            query.build_query_as().fetch_all(pool).await?
        });
        let mut by_message: HashMap<i64, Vec<Mention>> = HashMap::new();
        for (seq, user, username) in rows {
            by_message.entry(seq).or_default().push(Mention {
                user_id: user.into(),
                username,
            });
        }
        Ok(by_message)
    }

    /// Whether `user` owns the group `chat` (and so may mention everyone in it).
    pub async fn owns_group(&self, chat: ChatId, user: UserId) -> StoreResult<bool> {
        let (owns,): (i64,) = on_read!(self, |pool| {
            sqlx::query_as(OWNS_GROUP)
                .bind(chat.as_uuid())
                .bind(user.as_uuid())
                .fetch_one(pool)
                .await?
        });
        Ok(owns > 0)
    }

    /// The chat's members among `usernames` (lowercase), as mentions.
    pub async fn members_named(
        &self,
        chat_id: ChatId,
        usernames: &[String],
    ) -> StoreResult<Vec<Mention>> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(Uuid, String)> = on_read!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT u.id, u.username FROM chat_participants p JOIN users u ON u.id = p.user_id \
                 WHERE p.chat_id = ",
            );
            query
                .push_bind(chat_id.as_uuid())
                .push(" AND u.username IN ");
            crate::push_list(&mut query, usernames.iter().map(|name| name.as_str()));
            query.push(" ORDER BY u.username");
            query.build_query_as().fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, username)| Mention {
                user_id: id.into(),
                username,
            })
            .collect())
    }

    /// The chat's newest seq, if the chat exists.
    pub async fn last_seq(&self, chat_id: ChatId) -> StoreResult<Option<i64>> {
        on_read!(self, |pool| {
            let row: Option<(i64,)> = sqlx::query_as("SELECT last_seq FROM chats WHERE id = $1")
                .bind(chat_id.as_uuid())
                .fetch_optional(pool)
                .await?;
            Ok(row.map(|(s,)| s))
        })
    }

    /// Where the logs of many chats end (the chats that exist), in one read per 500.
    pub async fn log_ends(&self, chats: &[ChatId]) -> StoreResult<Vec<(ChatId, LogEnds)>> {
        let mut found = Vec::with_capacity(chats.len());
        for chunk in chats.chunks(500) {
            let rows: Vec<(Uuid, i64, i64)> = on_read!(self, |pool| {
                let mut query = sqlx::QueryBuilder::new(
                    "SELECT id, last_seq, last_event_seq FROM chats WHERE id IN ",
                );
                crate::push_list(&mut query, chunk.iter().map(|chat| chat.as_uuid()));
                query.build_query_as().fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(|(id, last_seq, last_event_seq)| {
                let ends = LogEnds {
                    last_seq,
                    last_event_seq,
                };
                (id.into(), ends)
            }));
        }
        Ok(found)
    }
}
