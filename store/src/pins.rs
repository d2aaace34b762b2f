//! Pins: messages a chat keeps at hand. In a group only owners pin and unpin; in a
//! direct chat either person does. Each pin and unpin is a change logged in the chat.

use chat_types::{ChatEventKind, ChatId, ChatKind, Message, MessageId, Role, UserId};
use chrono::Utc;
use uuid::Uuid;

use super::events::record_event;
use super::messages::changeable;
use super::rows::{MessageRow, message_columns};
use super::{EditError, Store, StoreResult, begin_write, on_read, on_write};

impl Store {
    /// Pins (`pin`) or unpins the message for `actor`. Pinning a pinned message, or
    /// unpinning one that is not, changes nothing. Returns the message as it is now and
    /// the change's `event_seq` (none when nothing changed).
    pub async fn set_pinned(
        &self,
        id: MessageId,
        actor: UserId,
        pin: bool,
    ) -> Result<(Message, Option<i64>), EditError> {
        let now = Utc::now();
        let event_seq = on_write!(self, |pool| {
            let mut tx = begin_write!(pool);
            let message = changeable!(tx, id, actor);
            let chat = message.chat_id.as_uuid();
            let (kind, role): (String, String) = sqlx::query_as(
                "SELECT c.kind, p.role FROM chats c JOIN chat_participants p \
                 ON p.chat_id = c.id AND p.user_id = $2 WHERE c.id = $1",
            )
            .bind(chat)
            .bind(actor.as_uuid())
            .fetch_one(&mut *tx)
            .await?;
            let group = ChatKind::from_db(&kind) == Some(ChatKind::Group);
            if group && Role::from_db(&role) != Some(Role::Owner) {
                return Err(EditError::NotOwner);
            }
            if pin && message.deleted_at.is_some() {
                return Err(EditError::Deleted);
            }
            let event_seq = if pin == message.pinned_at.is_some() {
                None
            } else {
                sqlx::query("UPDATE messages SET pinned_at = $2 WHERE id = $1")
                    .bind(id.as_uuid())
                    .bind(pin.then_some(now))
                    .execute(&mut *tx)
                    .await?;
                let kind = if pin {
                    ChatEventKind::Pinned
                } else {
                    ChatEventKind::Unpinned
                };
                Some(record_event!(
                    tx,
                    chat,
                    kind,
                    actor.as_uuid(),
                    None::<Uuid>,
                    None::<&str>,
                    now,
                    message: Some(message.seq)
                ))
            };
            tx.commit().await?;
            event_seq
        });
        Ok((self.changed(id).await?, event_seq))
    }

    /// The chat's pinned messages, the most recently pinned first.
    pub async fn pinned_messages(&self, chat_id: ChatId) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = on_read!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE chat_id = $1 AND pinned_at IS NOT NULL ORDER BY pinned_at DESC"
            ))
            .bind(chat_id.as_uuid())
            .fetch_all(pool)
            .await?
        });
        self.complete(chat_id, rows).await
    }
}
