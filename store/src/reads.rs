//! Read watermarks and what they give: unread counts, and who has read a message. A
//! person's watermark is the last seq they have read; what is unread is everything
//! after it (`last_seq - last_read_seq`), so a new message writes nothing per member.

use chat_types::{ChatId, Message, MessageReadStatus, ReadBy, ReadUpdate, UnreadCount, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::rows::{UnreadRow, unread_count};
use super::{Store, StoreResult, begin_write, on_read, on_write};

impl Store {
    /// Moves the user's read watermark up to `up_to` (default: the chat's end); what
    /// is left unread is everything after it. Never moves the watermark backwards.
    /// `None` when the user does not take part in the chat.
    pub async fn mark_read(
        &self,
        chat_id: ChatId,
        user: UserId,
        up_to: Option<i64>,
    ) -> StoreResult<Option<(UnreadCount, Option<ReadUpdate>)>> {
        let now = Utc::now();
        let chat = chat_id.as_uuid();
        on_write!(self, |pool| {
            let mut tx = begin_write!(pool);
            // Share-lock the chat so no batch moves its end or this user's watermark
            // between reading them and storing the new watermark.
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
            tx.commit().await?;
            Ok(Some((
                UnreadCount {
                    chat_id,
                    user_id: user,
                    unread_count: (last_seq - watermark).max(0),
                    last_read_seq: watermark,
                },
                moved,
            )))
        })
    }

    /// The user's unread counts in every chat they take part in.
    pub async fn unread_counts(&self, user: UserId) -> StoreResult<Vec<UnreadCount>> {
        on_read!(self, |pool| {
            let rows: Vec<UnreadRow> = sqlx::query_as(concat!(
                "SELECT r.chat_id, r.user_id, ",
                unread_count!(),
                " AS unread_count, r.last_read_seq FROM chat_participants p \
                 JOIN message_reads r ON r.chat_id = p.chat_id AND r.user_id = p.user_id \
                 JOIN chats c ON c.id = p.chat_id \
                 WHERE p.user_id = $1 AND p.standing <> 'declined'"
            ))
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
            let row: Option<UnreadRow> = sqlx::query_as(concat!(
                "SELECT r.chat_id, r.user_id, ",
                unread_count!(),
                " AS unread_count, r.last_read_seq FROM message_reads r \
                 JOIN chats c ON c.id = r.chat_id \
                 WHERE r.chat_id = $1 AND r.user_id = $2"
            ))
            .bind(chat_id.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await?;
            Ok(row.map(UnreadCount::from))
        })
    }

    /// Who has read the message: every participant whose watermark reached its seq,
    /// the author included, of those who accepted the chat (a request's reading is not
    /// shown).
    pub async fn read_status(&self, message: &Message) -> StoreResult<MessageReadStatus> {
        let rows: Vec<(Uuid, i64, DateTime<Utc>)> = on_read!(self, |pool| {
            sqlx::query_as(
                "SELECT r.user_id, r.last_read_seq, r.read_at FROM message_reads r \
                 JOIN chat_participants p ON p.chat_id = r.chat_id AND p.user_id = r.user_id \
                 WHERE r.chat_id = $1 AND p.standing = 'accepted' ORDER BY r.read_at",
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
