//! What presence needs from the database: who may see whose (people who share a chat
//! both of them accepted: a stranger's request shows neither side to the other), and who
//! hid theirs. The presence itself is kept beside the bus (`chat_bus::presence`).

use chat_types::UserId;
use uuid::Uuid;

use super::users::UserRecord;
use super::{Store, StoreError, StoreResult, on_read, on_write};

/// Active people who share a chat with `$1` that both accepted, not `$1`.
macro_rules! people_around {
    () => {
        "SELECT DISTINCT p.user_id FROM chat_participants p \
         JOIN users u ON u.id = p.user_id \
         WHERE p.chat_id IN (SELECT chat_id FROM chat_participants \
                             WHERE user_id = $1 AND standing = 'accepted') \
         AND p.standing = 'accepted' AND p.user_id <> $1 AND u.is_active"
    };
}

impl Store {
    /// The people who share an accepted chat with `user` and show their presence (not
    /// `user`).
    pub async fn presence_contacts(&self, user: UserId) -> StoreResult<Vec<UserId>> {
        self.people_around(
            user,
            concat!(people_around!(), " AND NOT u.presence_hidden"),
        )
        .await
    }

    /// Everyone who shares an accepted chat with `user`, shown or hidden: whose changes
    /// `user` is told of (someone hiding is told once, as leaving).
    pub async fn chat_contacts(&self, user: UserId) -> StoreResult<Vec<UserId>> {
        self.people_around(user, people_around!()).await
    }

    async fn people_around(&self, user: UserId, sql: &'static str) -> StoreResult<Vec<UserId>> {
        let ids: Vec<(Uuid,)> = on_read!(self, |pool| {
            sqlx::query_as(sql)
                .bind(user.as_uuid())
                .fetch_all(pool)
                .await?
        });
        Ok(ids.into_iter().map(|(id,)| id.into()).collect())
    }

    /// Whether `user` hid their presence (also when they do not exist).
    pub async fn presence_hidden(&self, user: UserId) -> StoreResult<bool> {
        let hidden: Option<(bool,)> = on_read!(self, |pool| {
            sqlx::query_as("SELECT presence_hidden FROM users WHERE id = $1")
                .bind(user.as_uuid())
                .fetch_optional(pool)
                .await?
        });
        Ok(hidden.is_none_or(|(hidden,)| hidden))
    }

    pub async fn set_presence_hidden(&self, user: UserId, hidden: bool) -> StoreResult<UserRecord> {
        on_write!(self, |pool| {
            sqlx::query_as::<_, UserRecord>(concat!(
                "UPDATE users SET presence_hidden = $2 WHERE id = $1 RETURNING ",
                crate::users::user_columns!()
            ))
            .bind(user.as_uuid())
            .bind(hidden)
            .fetch_optional(pool)
            .await?
            .ok_or(StoreError::NotFound)
        })
    }
}
