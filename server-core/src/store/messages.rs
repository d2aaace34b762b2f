//! Messages, unread counts and read watermarks.
//!
//! Sends are written in batches: one transaction for many messages, so that the
//! database commits once for a burst of concurrent sends. Within a chat, seqs are taken
//! in arrival order under the chat's row lock, so chats stay ordered and independent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chat_types::{
    ChatId, Message, MessageId, MessagePage, MessageReadStatus, ReadBy, ReadUpdate, UnreadCount,
    UserId,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::rows::{MessageRow, UnreadRow, message_columns};
use super::{Store, StoreError, StoreResult, on_read, on_write};

/// A validated `createMessage`.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub chat_id: ChatId,
    pub sender_id: UserId,
    pub content: String,
    pub client_id: Option<String>,
}

/// What became of one message of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredMessage {
    /// Written now, with the next seq of its chat.
    Created(Arc<Message>),
    /// A retry: the message with this `clientId` was written before.
    Existing(Arc<Message>),
    /// The sender does not take part in the chat (or left it).
    NotParticipant,
    ChatNotFound,
}

/// The outcome of a batch, with what its events need.
#[derive(Debug, Default)]
pub struct WrittenBatch {
    /// One outcome per message, in the order given.
    pub outcomes: Vec<StoredMessage>,
    /// Each touched chat's participants, for the per-user events.
    pub participants: HashMap<ChatId, Vec<UserId>>,
    /// The unread counts after the batch, for everyone in a chat that got messages.
    pub unread: Vec<UnreadCount>,
    /// Senders' read watermarks, moved to their newest message.
    pub reads: Vec<ReadUpdate>,
}

/// Why an edit or delete was refused.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("message not found")]
    NotFound,
    #[error("only the author may change a message")]
    NotAuthor,
    #[error("the message was deleted")]
    Deleted,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for EditError {
    fn from(e: sqlx::Error) -> Self {
        EditError::Store(e.into())
    }
}

impl Store {
    /// Writes a batch of messages in one transaction. Chats are locked in id order so
    /// concurrent batches cannot deadlock.
    pub async fn write_messages(&self, batch: &[NewMessage]) -> StoreResult<WrittenBatch> {
        let now = Utc::now();
        let mut by_chat: BTreeMap<ChatId, Vec<usize>> = BTreeMap::new();
        for (i, m) in batch.iter().enumerate() {
            by_chat.entry(m.chat_id).or_default().push(i);
        }
        let mut result = WrittenBatch {
            outcomes: vec![StoredMessage::ChatNotFound; batch.len()],
            ..WrittenBatch::default()
        };
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (chat_id, items) in &by_chat {
                let chat = chat_id.as_uuid();
                let lock = if PG {
                    "SELECT last_seq FROM chats WHERE id = $1 FOR UPDATE"
                } else {
                    "SELECT last_seq FROM chats WHERE id = $1"
                };
                let Some((mut last_seq,)): Option<(i64,)> = sqlx::query_as(lock)
                    .bind(chat)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    continue;
                };
                let members: Vec<(Uuid,)> =
                    sqlx::query_as("SELECT user_id FROM chat_participants WHERE chat_id = $1")
                        .bind(chat)
                        .fetch_all(&mut *tx)
                        .await?;
                let members: HashSet<UserId> = members.into_iter().map(|(u,)| u.into()).collect();

                // Retries: messages already written under the same (sender, clientId).
                let client_ids: Vec<&str> = items
                    .iter()
                    .filter_map(|&i| batch[i].client_id.as_deref())
                    .collect();
                let mut known: HashMap<(UserId, String), Arc<Message>> = HashMap::new();
                if !client_ids.is_empty() {
                    let mut query = sqlx::QueryBuilder::new(concat!(
                        "SELECT ",
                        message_columns!(),
                        " FROM messages WHERE chat_id = "
                    ));
                    query.push_bind(chat).push(" AND client_id IN (");
                    let mut list = query.separated(", ");
                    for id in &client_ids {
                        list.push_bind(*id);
                    }
                    query.push(")");
                    let rows: Vec<MessageRow> = query.build_query_as().fetch_all(&mut *tx).await?;
                    for row in rows {
                        let message = Message::from(row);
                        let key = (
                            message.sender_id,
                            message.client_id.clone().unwrap_or_default(),
                        );
                        known.insert(key, Arc::new(message));
                    }
                }

                let mut fresh: Vec<Arc<Message>> = Vec::new();
                for &i in items {
                    let new = &batch[i];
                    if !members.contains(&new.sender_id) {
                        result.outcomes[i] = StoredMessage::NotParticipant;
                        continue;
                    }
                    if let Some(existing) = new
                        .client_id
                        .as_ref()
                        .and_then(|c| known.get(&(new.sender_id, c.clone())))
                    {
                        result.outcomes[i] = StoredMessage::Existing(existing.clone());
                        continue;
                    }
                    last_seq += 1;
                    let message = Arc::new(Message {
                        id: Uuid::now_v7().into(),
                        chat_id: *chat_id,
                        seq: last_seq,
                        sender_id: new.sender_id,
                        content: new.content.clone(),
                        client_id: new.client_id.clone(),
                        created_at: now,
                        edited_at: None,
                        deleted_at: None,
                    });
                    if let Some(client_id) = &new.client_id {
                        known.insert((new.sender_id, client_id.clone()), message.clone());
                    }
                    result.outcomes[i] = StoredMessage::Created(message.clone());
                    fresh.push(message);
                }
                if fresh.is_empty() {
                    continue;
                }

                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO messages (id, chat_id, seq, sender_id, content, client_id, created_at) ",
                );
                insert.push_values(&fresh, |mut row, m| {
                    row.push_bind(m.id.as_uuid())
                        .push_bind(chat)
                        .push_bind(m.seq)
                        .push_bind(m.sender_id.as_uuid())
                        .push_bind(m.content.clone())
                        .push_bind(m.client_id.clone())
                        .push_bind(now);
                });
                insert.build().execute(&mut *tx).await?;
                sqlx::query("UPDATE chats SET last_seq = $2, last_message_at = $3 WHERE id = $1")
                    .bind(chat)
                    .bind(last_seq)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;

                // Unread counts: everyone who did not write in this batch gets all of it;
                // a sender has read up to their newest message, so counts only what others
                // wrote after it.
                let mut newest_by_sender: HashMap<UserId, i64> = HashMap::new();
                for m in &fresh {
                    newest_by_sender.insert(m.sender_id, m.seq);
                }
                let mut bump = sqlx::QueryBuilder::new(
                    "UPDATE unread_counts SET unread_count = unread_count + ",
                );
                bump.push_bind(fresh.len() as i64)
                    .push(" WHERE chat_id = ")
                    .push_bind(chat)
                    .push(" AND user_id NOT IN (");
                let mut list = bump.separated(", ");
                for sender in newest_by_sender.keys() {
                    list.push_bind(sender.as_uuid());
                }
                bump.push(")");
                bump.build().execute(&mut *tx).await?;
                for (sender, newest) in &newest_by_sender {
                    let after = fresh
                        .iter()
                        .filter(|m| m.seq > *newest && m.sender_id != *sender)
                        .count() as i64;
                    sqlx::query("UPDATE unread_counts SET unread_count = $3 WHERE chat_id = $1 AND user_id = $2")
                        .bind(chat)
                        .bind(sender.as_uuid())
                        .bind(after)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "UPDATE message_reads SET last_read_seq = $3, read_at = $4 \
                         WHERE chat_id = $1 AND user_id = $2 AND last_read_seq < $3",
                    )
                    .bind(chat)
                    .bind(sender.as_uuid())
                    .bind(newest)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    result.reads.push(ReadUpdate {
                        chat_id: *chat_id,
                        user_id: *sender,
                        last_read_seq: *newest,
                        read_at: now,
                    });
                }
                let unread: Vec<UnreadRow> = sqlx::query_as(
                    "SELECT u.chat_id, u.user_id, u.unread_count, r.last_read_seq FROM unread_counts u \
                     JOIN message_reads r ON r.chat_id = u.chat_id AND r.user_id = u.user_id \
                     WHERE u.chat_id = $1",
                )
                .bind(chat)
                .fetch_all(&mut *tx)
                .await?;
                result
                    .unread
                    .extend(unread.into_iter().map(UnreadCount::from));
                result
                    .participants
                    .insert(*chat_id, members.into_iter().collect());
            }
            tx.commit().await?;
        });
        Ok(result)
    }

    pub async fn message(&self, id: MessageId) -> StoreResult<Option<Message>> {
        on_read!(self, |pool| {
            let row: Option<MessageRow> = sqlx::query_as(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE id = $1"
            ))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?;
            Ok(row.map(Message::from))
        })
    }

    /// Changes a message's content; only its author may, and not once deleted.
    pub async fn edit_message(
        &self,
        id: MessageId,
        editor: UserId,
        content: &str,
    ) -> Result<Message, EditError> {
        let row: Option<MessageRow> = on_write!(self, |pool| {
            sqlx::query_as(concat!(
                "UPDATE messages SET content = $3, edited_at = $4 \
                 WHERE id = $1 AND sender_id = $2 AND deleted_at IS NULL RETURNING ",
                message_columns!()
            ))
            .bind(id.as_uuid())
            .bind(editor.as_uuid())
            .bind(content)
            .bind(Utc::now())
            .fetch_optional(pool)
            .await?
        });
        match row {
            Some(row) => Ok(row.into()),
            None => Err(self.why_not_editable(id, editor).await),
        }
    }

    /// Deletes a message, leaving a tombstone (same id and seq, no content). Deleting
    /// a tombstone again returns it unchanged, with `false`.
    pub async fn delete_message(
        &self,
        id: MessageId,
        by: UserId,
    ) -> Result<(Message, bool), EditError> {
        let row: Option<MessageRow> = on_write!(self, |pool| {
            sqlx::query_as(concat!(
                "UPDATE messages SET content = '', deleted_at = $3 \
                 WHERE id = $1 AND sender_id = $2 AND deleted_at IS NULL RETURNING ",
                message_columns!()
            ))
            .bind(id.as_uuid())
            .bind(by.as_uuid())
            .bind(Utc::now())
            .fetch_optional(pool)
            .await?
        });
        match row {
            Some(row) => Ok((row.into(), true)),
            None => match self.why_not_editable(id, by).await {
                EditError::Deleted => {
                    let message = self.message(id).await?.ok_or(EditError::NotFound)?;
                    Ok((message, false))
                }
                other => Err(other),
            },
        }
    }

    async fn why_not_editable(&self, id: MessageId, user: UserId) -> EditError {
        match self.message(id).await {
            Ok(None) => EditError::NotFound,
            Ok(Some(m)) if m.sender_id != user => EditError::NotAuthor,
            Ok(Some(_)) => EditError::Deleted,
            Err(e) => EditError::Store(e),
        }
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
            messages: rows.into_iter().map(Message::from).collect(),
            has_more,
        })
    }

    /// The chat's messages with seq in `after..=up_to`, in order (for replay and backfill).
    pub async fn messages_between(
        &self,
        chat_id: ChatId,
        after: i64,
        up_to: i64,
    ) -> StoreResult<Vec<Message>> {
        on_read!(self, |pool| {
            let rows: Vec<MessageRow> = sqlx::query_as(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE chat_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq"
            ))
            .bind(chat_id.as_uuid())
            .bind(after)
            .bind(up_to)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(Message::from).collect())
        })
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

    /// Moves the user's read watermark up to `up_to` (default: the chat's end) and
    /// recounts what is left unread. Never moves the watermark backwards. `None` when
    /// the user does not take part in the chat.
    pub async fn mark_read(
        &self,
        chat_id: ChatId,
        user: UserId,
        up_to: Option<i64>,
    ) -> StoreResult<Option<(UnreadCount, Option<ReadUpdate>)>> {
        let now = Utc::now();
        let chat = chat_id.as_uuid();
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            // Share-lock the chat so no message lands between counting and storing.
            let lock = if PG {
                "SELECT c.last_seq, r.last_read_seq FROM chats c JOIN message_reads r \
                 ON r.chat_id = c.id AND r.user_id = $2 WHERE c.id = $1 FOR SHARE OF c"
            } else {
                "SELECT c.last_seq, r.last_read_seq FROM chats c JOIN message_reads r \
                 ON r.chat_id = c.id AND r.user_id = $2 WHERE c.id = $1"
            };
            let Some((last_seq, watermark)): Option<(i64, i64)> = sqlx::query_as(lock)
                .bind(chat)
                .bind(user.as_uuid())
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(None);
            };
            let target = up_to.unwrap_or(last_seq).clamp(0, last_seq);
            let mut moved = None;
            if target > watermark {
                sqlx::query(
                    "UPDATE message_reads SET last_read_seq = $3, read_at = $4 WHERE chat_id = $1 AND user_id = $2",
                )
                .bind(chat)
                .bind(user.as_uuid())
                .bind(target)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                moved = Some(ReadUpdate {
                    chat_id,
                    user_id: user,
                    last_read_seq: target,
                    read_at: now,
                });
            }
            let watermark = target.max(watermark);
            let unread: i64 = if watermark >= last_seq {
                0
            } else {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM messages WHERE chat_id = $1 AND seq > $2 AND sender_id <> $3",
                )
                .bind(chat)
                .bind(watermark)
                .bind(user.as_uuid())
                .fetch_one(&mut *tx)
                .await?;
                n
            };
            sqlx::query(
                "UPDATE unread_counts SET unread_count = $3 WHERE chat_id = $1 AND user_id = $2",
            )
            .bind(chat)
            .bind(user.as_uuid())
            .bind(unread)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some((
                UnreadCount {
                    chat_id,
                    user_id: user,
                    unread_count: unread,
                    last_read_seq: watermark,
                },
                moved,
            )))
        })
    }

    /// The user's unread counts in every chat they take part in.
    pub async fn unread_counts(&self, user: UserId) -> StoreResult<Vec<UnreadCount>> {
        on_read!(self, |pool| {
            let rows: Vec<UnreadRow> = sqlx::query_as(
                "SELECT u.chat_id, u.user_id, u.unread_count, r.last_read_seq FROM unread_counts u \
                 JOIN message_reads r ON r.chat_id = u.chat_id AND r.user_id = u.user_id \
                 WHERE u.user_id = $1",
            )
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(UnreadCount::from).collect())
        })
    }

    /// The user's unread count in one chat, if they take part in it.
    pub async fn unread_count(
        &self,
        chat_id: ChatId,
        user: UserId,
    ) -> StoreResult<Option<UnreadCount>> {
        on_read!(self, |pool| {
            let row: Option<UnreadRow> = sqlx::query_as(
                "SELECT u.chat_id, u.user_id, u.unread_count, r.last_read_seq FROM unread_counts u \
                 JOIN message_reads r ON r.chat_id = u.chat_id AND r.user_id = u.user_id \
                 WHERE u.chat_id = $1 AND u.user_id = $2",
            )
            .bind(chat_id.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await?;
            Ok(row.map(UnreadCount::from))
        })
    }

    /// Who has read the message: every participant whose watermark reached its seq,
    /// the author included.
    pub async fn read_status(&self, message: &Message) -> StoreResult<MessageReadStatus> {
        let rows: Vec<(Uuid, i64, DateTime<Utc>)> = on_read!(self, |pool| {
            sqlx::query_as(
                "SELECT r.user_id, r.last_read_seq, r.read_at FROM message_reads r \
                 JOIN chat_participants p ON p.chat_id = r.chat_id AND p.user_id = r.user_id \
                 WHERE r.chat_id = $1 ORDER BY r.read_at",
            )
            .bind(message.chat_id.as_uuid())
            .fetch_all(pool)
            .await?
        });
        let total = rows.len() as i64;
        let read_by: Vec<ReadBy> = rows
            .into_iter()
            .filter(|(_, seq, _)| *seq >= message.seq)
            .map(|(user, _, read_at)| ReadBy {
                user_id: user.into(),
                read_at,
            })
            .collect();
        let count = read_by.len() as i64;
        Ok(MessageReadStatus {
            message_id: message.id,
            total_participants: total,
            read_by_count: count,
            is_fully_read: total > 0 && count == total,
            read_by,
        })
    }
}
