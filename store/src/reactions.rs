//! Reactions: who put which emoji on which message. Each addition and removal is a
//! change logged in the chat (with the emoji), so it reaches subscribers in order with
//! everything else and is replayed to those who missed it.

use std::collections::HashMap;

use chat_types::emoji::{Emoji, MAX_REACTIONS_PER_MESSAGE};
use chat_types::{ChatEventKind, ChatId, Message, MessageId, Reaction, UserId};
use chrono::Utc;
use uuid::Uuid;

use super::events::record_event;
use super::messages::changeable;
use super::rows::{MessageRow, message_columns};
use super::{EditError, Store, StoreResult, begin_write, on_read, on_write};

impl Store {
    /// Puts `emoji` on the message for `user`, a member of its chat. Adding it again
    /// changes nothing. Returns the message as it is now and the change's `event_seq`
    /// (none when nothing changed).
    pub async fn add_reaction(
        &self,
        id: MessageId,
        user: UserId,
        emoji: &Emoji,
    ) -> Result<(Message, Option<i64>), EditError> {
        self.react(id, user, emoji, true).await
    }

    /// Takes `user`'s `emoji` off the message; taking off one that is not there changes
    /// nothing.
    pub async fn remove_reaction(
        &self,
        id: MessageId,
        user: UserId,
        emoji: &Emoji,
    ) -> Result<(Message, Option<i64>), EditError> {
        self.react(id, user, emoji, false).await
    }

    async fn react(
        &self,
        id: MessageId,
        user: UserId,
        emoji: &Emoji,
        add: bool,
    ) -> Result<(Message, Option<i64>), EditError> {
        let now = Utc::now();
        let emoji = emoji.as_str();
        let event_seq = on_write!(self, |pool| {
            let mut tx = begin_write!(pool);
            let message = changeable!(tx, id, user);
            if message.deleted_at.is_some() {
                return Err(EditError::Deleted);
            }
            let (chat, seq) = (message.chat_id.as_uuid(), message.seq);
            let changed = if add {
                let present: Vec<(String,)> = sqlx::query_as(
                    "SELECT DISTINCT emoji FROM message_reactions WHERE chat_id = $1 AND message_seq = $2",
                )
                .bind(chat)
                .bind(seq)
                .fetch_all(&mut *tx)
                .await?;
                if present.len() >= MAX_REACTIONS_PER_MESSAGE
                    && !present.iter().any(|(e,)| e == emoji)
                {
                    return Err(EditError::TooManyReactions);
                }
                sqlx::query(
                    "INSERT INTO message_reactions (chat_id, message_seq, emoji, user_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(chat)
                .bind(seq)
                .bind(emoji)
                .bind(user.as_uuid())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0
            } else {
                sqlx::query(
                    "DELETE FROM message_reactions \
                     WHERE chat_id = $1 AND message_seq = $2 AND emoji = $3 AND user_id = $4",
                )
                .bind(chat)
                .bind(seq)
                .bind(emoji)
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0
            };
            let event_seq = if changed {
                let kind = if add {
                    ChatEventKind::Reacted
                } else {
                    ChatEventKind::Unreacted
                };
                Some(record_event!(
                    tx,
                    chat,
                    kind,
                    user.as_uuid(),
                    None::<Uuid>,
                    Some(emoji),
                    now,
                    message: Some(seq)
                ))
            } else {
                None
            };
            tx.commit().await?;
            event_seq
        });
        Ok((self.changed(id).await?, event_seq))
    }

    /// The reactions of the chat's messages `seqs`, by seq: each emoji once, in the
    /// order it was first added, with who added it.
    pub(crate) async fn reactions(
        &self,
        chat_id: ChatId,
        seqs: &[i64],
    ) -> StoreResult<HashMap<i64, Vec<Reaction>>> {
        if seqs.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, String, Uuid)> = on_read!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT message_seq, emoji, user_id FROM message_reactions WHERE chat_id = ",
            );
            query
                .push_bind(chat_id.as_uuid())
                .push(" AND message_seq IN ");
            crate::push_list(&mut query, seqs.iter().copied());
            query.push(" ORDER BY message_seq, created_at, user_id");
            query.build_query_as().fetch_all(pool).await?
        });
        let mut by_message: HashMap<i64, Vec<Reaction>> = HashMap::new();
        for (seq, emoji, user) in rows {
            let reactions = by_message.entry(seq).or_default();
            match reactions.iter_mut().find(|r| r.emoji == emoji) {
                Some(reaction) => {
                    reaction.count += 1;
                    reaction.user_ids.push(user.into());
                }
                None => reactions.push(Reaction {
                    emoji,
                    count: 1,
                    user_ids: vec![user.into()],
                }),
            }
        }
        Ok(by_message)
    }
}
