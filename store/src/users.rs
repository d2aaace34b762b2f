//! Accounts.

use chat_types::{User, UserId, UserSummary};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::rows::from_row;
use super::{Store, StoreError, StoreResult, on_read, on_write};

from_row! {
    /// A user as stored, password hash included. Its `Debug` leaves the hash out.
    #[derive(Clone)]
    pub struct UserRecord {
        pub id: Uuid,
        pub username: String,
        pub email: String,
        pub display_name: String,
        pub password_hash: String,
        pub is_active: bool,
        pub token_version: i64,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
        pub presence_hidden: bool,
    }
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("is_active", &self.is_active)
            .field("token_version", &self.token_version)
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    pub fn user_id(&self) -> UserId {
        self.id.into()
    }

    /// The user as `viewer` may see it: the email only on yourself.
    pub fn to_user(&self, viewer: Option<UserId>) -> User {
        User {
            id: self.id.into(),
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            email: (viewer == Some(self.user_id())).then(|| self.email.clone()),
            is_active: self.is_active,
            created_at: self.created_at,
            presence_hidden: viewer == Some(self.user_id()) && self.presence_hidden,
        }
    }

    pub fn summary(&self) -> UserSummary {
        UserSummary {
            id: self.id.into(),
            username: self.username.clone(),
            display_name: self.display_name.clone(),
        }
    }
}

/// A validated registration.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
}

macro_rules! user_columns {
    () => {
        "id, username, email, display_name, password_hash, is_active, token_version, created_at, updated_at, presence_hidden"
    };
}
pub(crate) use user_columns;

impl Store {
    pub async fn create_user(&self, new: NewUser<'_>) -> StoreResult<UserRecord> {
        let now = Utc::now();
        let id = Uuid::now_v7();
        on_write!(self, |pool| {
            Ok(sqlx::query_as::<_, UserRecord>(concat!(
                "INSERT INTO users (id, username, email, display_name, password_hash, is_active, token_version, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, TRUE, 0, $6, $6) RETURNING ",
                user_columns!()
            ))
            .bind(id)
            .bind(new.username)
            .bind(new.email)
            .bind(new.display_name)
            .bind(new.password_hash)
            .bind(now)
            .fetch_one(pool)
            .await?)
        })
    }

    pub async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        on_read!(self, |pool| {
            Ok(sqlx::query_as::<_, UserRecord>(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE id = $1"
            ))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Finds an account by username or email (both stored lowercase).
    pub async fn user_by_login(&self, login: &str) -> StoreResult<Option<UserRecord>> {
        let login = login.trim().to_lowercase();
        on_read!(self, |pool| {
            Ok(sqlx::query_as::<_, UserRecord>(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE username = $1 OR email = $1"
            ))
            .bind(login)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Active users whose username or display name contains `search`, by username,
    /// `first` at a time, starting after the user `after`.
    pub async fn search_users(
        &self,
        search: Option<&str>,
        first: i64,
        after: Option<UserId>,
    ) -> StoreResult<Vec<UserRecord>> {
        let pattern = format!("%{}%", escape_like(&search.unwrap_or("").to_lowercase()));
        on_read!(self, |pool| {
            Ok(sqlx::query_as::<_, UserRecord>(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE is_active \
                  AND (username LIKE $1 ESCAPE '\\' OR lower(display_name) LIKE $1 ESCAPE '\\') \
                  AND ($2 IS NULL OR username > (SELECT username FROM users WHERE id = $2)) \
                 ORDER BY username LIMIT $3"
            ))
            .bind(pattern)
            .bind(after.map(|a| a.as_uuid()))
            .bind(first)
            .fetch_all(pool)
            .await?)
        })
    }

    pub async fn update_profile(
        &self,
        id: UserId,
        display_name: Option<&str>,
        email: Option<&str>,
    ) -> StoreResult<UserRecord> {
        on_write!(self, |pool| {
            sqlx::query_as::<_, UserRecord>(concat!(
                "UPDATE users SET display_name = COALESCE($2, display_name), \
                 email = COALESCE($3, email), updated_at = $4 WHERE id = $1 RETURNING ",
                user_columns!()
            ))
            .bind(id.as_uuid())
            .bind(display_name)
            .bind(email)
            .bind(Utc::now())
            .fetch_optional(pool)
            .await?
            .ok_or(StoreError::NotFound)
        })
    }

    /// Stores a new password hash and ends every existing session.
    pub async fn set_password(&self, id: UserId, password_hash: &str) -> StoreResult<()> {
        on_write!(self, |pool| {
            sqlx::query(
                "UPDATE users SET password_hash = $2, token_version = token_version + 1, \
                 updated_at = $3 WHERE id = $1",
            )
            .bind(id.as_uuid())
            .bind(password_hash)
            .bind(Utc::now())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Ends every existing session of the user (logout everywhere).
    pub async fn bump_token_version(&self, id: UserId) -> StoreResult<()> {
        on_write!(self, |pool| {
            sqlx::query("UPDATE users SET token_version = token_version + 1 WHERE id = $1")
                .bind(id.as_uuid())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Deactivates the account and ends its sessions; it can no longer log in.
    pub async fn deactivate_user(&self, id: UserId) -> StoreResult<()> {
        on_write!(self, |pool| {
            sqlx::query(
                "UPDATE users SET is_active = FALSE, token_version = token_version + 1, \
                 updated_at = $2 WHERE id = $1",
            )
            .bind(id.as_uuid())
            .bind(Utc::now())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// What a token must match to be valid: the user's token version, if the user is active.
    pub async fn active_token_version(&self, id: UserId) -> StoreResult<Option<i64>> {
        on_read!(self, |pool| {
            let row: Option<(i64, bool)> =
                sqlx::query_as("SELECT token_version, is_active FROM users WHERE id = $1")
                    .bind(id.as_uuid())
                    .fetch_optional(pool)
                    .await?;
            Ok(row.and_then(|(version, active)| active.then_some(version)))
        })
    }

    /// [`Store::active_token_version`] of many users in one read per 500: the users
    /// found active, with their versions (the others are gone or deactivated).
    pub async fn active_token_versions(&self, ids: &[UserId]) -> StoreResult<Vec<(UserId, i64)>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let rows: Vec<(Uuid, i64)> = on_read!(self, |pool| {
                let mut query = sqlx::QueryBuilder::new(
                    "SELECT id, token_version FROM users WHERE is_active AND id IN ",
                );
                crate::push_list(&mut query, chunk.iter().map(|id| id.as_uuid()));
                query.build_query_as().fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(|(id, version)| (id.into(), version)));
        }
        Ok(found)
    }
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a LIKE pattern.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_in_user_text_match_literally() {
        assert_eq!(escape_like("a_b%c\\"), "a\\_b\\%c\\\\");
    }
}
