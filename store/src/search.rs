//! Searching the messages of a user's chats, newest first: PostgreSQL's `tsvector` index,
//! or SQLite's FTS5 index, asked the same query (`chat_types::search`).
//!
//! A search is the heaviest read there is, so each is held to [`TIME_BUDGET`] of the
//! database's time (PostgreSQL's `statement_timeout`; SQLite's progress handler) and
//! answers [`StoreError::TooSlow`] beyond it; both backends look only in the searcher's
//! chats before they match words (PostgreSQL per chat or through a chat list; SQLite's
//! index carries each message's chat as a token, asked for in the same `MATCH`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chat_types::search::SearchQuery;
use chat_types::{ChatId, Message, MessageId, UserId};

use super::Db;
use super::rows::{MessageRow, message_columns};
use super::{Store, StoreError, StoreResult};

/// The most database time one search may take (unless the store was given another:
/// [`Store::with_search_budget`]).
pub(crate) const TIME_BUDGET: Duration = Duration::from_secs(1);

/// Words in at most this many messages, as PostgreSQL's statistics estimate them, are
/// looked up once in the word index for all of the searcher's chats
/// ([`POSTGRES_FLAT_SQL`]); commoner ones chat by chat ([`POSTGRES_PER_CHAT_SQL`]). The
/// flat form reads every match (4–11 µs each on a million messages: 96 ms for 8,679
/// matches), the other reads each chat backwards until it has enough (about 2.4 µs a
/// row: 95 ms for a rare word over 20 chats of 2,000), so they cost the same near
/// 10,000 matches for someone in 20 chats (BENCHMARKS.md, "Search").
const FEW_MATCHES: f64 = 10_000.0;

/// How many messages PostgreSQL expects to match $1, on the first line of the plan:
/// "Bitmap Heap Scan on messages  (cost=… rows=N width=…)".
const POSTGRES_ESTIMATE_SQL: &str =
    "EXPLAIN SELECT 1 FROM messages WHERE search @@ to_tsquery('simple', $1)";

/// The query of [`Store::search_messages`] on PostgreSQL for words found in few
/// messages ($1 the viewer, $2 the tsquery, $3 the chat or NULL, $4 the message to
/// continue after or NULL, $5 how many): every match, from the word index, kept if it
/// is in one of the viewer's chats, newest first.
const POSTGRES_FLAT_SQL: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE search @@ to_tsquery('simple', $2) AND deleted_at IS NULL \
      AND chat_id IN (SELECT chat_id FROM chat_participants \
                      WHERE user_id = $1 AND ($3::uuid IS NULL OR chat_id = $3)) \
      AND ($4::uuid IS NULL OR (created_at, id) < \
           (SELECT created_at, id FROM messages WHERE id = $4)) \
     ORDER BY created_at DESC, id DESC LIMIT $5"
);

/// The same for words found in many messages: each of the viewer's chats is searched
/// newest first for at most $5 matches, then the newest $5 of those are kept, so a
/// common word stops after a few rows per chat instead of reading every match in the
/// database.
const POSTGRES_PER_CHAT_SQL: &str = concat!(
    "SELECT m.* FROM chat_participants p CROSS JOIN LATERAL (SELECT ",
    message_columns!(),
    " FROM messages WHERE chat_id = p.chat_id AND search @@ to_tsquery('simple', $2) \
      AND deleted_at IS NULL \
      AND ($4::uuid IS NULL OR (created_at, id) < \
           (SELECT created_at, id FROM messages WHERE id = $4)) \
      ORDER BY seq DESC LIMIT $5) m \
     WHERE p.user_id = $1 AND ($3::uuid IS NULL OR p.chat_id = $3) \
     ORDER BY m.created_at DESC, m.id DESC LIMIT $5"
);

/// The same on SQLite ($1 the `MATCH` expression: the viewer's chats and the words, $2
/// the message to continue after or NULL, $3 how many): the index is read newest first
/// (messages' rowids grow as they are written) and stops at $3 matches.
const SQLITE_SQL: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE rowid IN \
       (SELECT rowid FROM messages_search WHERE messages_search MATCH $1 \
        AND ($2 IS NULL OR rowid < (SELECT rowid FROM messages WHERE id = $2)) \
        ORDER BY rowid DESC LIMIT $3) \
     AND deleted_at IS NULL ORDER BY rowid DESC"
);

/// SQLite: how many virtual machine steps between looks at the clock.
const SQLITE_STEPS_PER_LOOK: i32 = 10_000;

/// How PostgreSQL is asked for a search (SQLite's FTS5 index has one way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchPlan {
    /// By how many messages PostgreSQL expects the words in: flat for few, per chat
    /// for many.
    Estimated,
    /// One look at the word index for all of the viewer's chats.
    Flat,
    /// Each of the viewer's chats, newest first.
    PerChat,
}

/// The messages a search found, and whether more follow.
#[derive(Debug)]
pub struct Found {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

impl Store {
    /// The messages of `viewer`'s chats (of `chat` only, if given) that match `query`,
    /// newest first, at most `first`, after message `after` (the previous page's last).
    /// Deleted messages are never found; edited ones by their text now. Whether the
    /// viewer may read `chat` is the caller's to check: here a chat they are not in
    /// simply has nothing.
    pub async fn search_messages(
        &self,
        viewer: UserId,
        query: &SearchQuery,
        chat: Option<ChatId>,
        first: i64,
        after: Option<MessageId>,
    ) -> StoreResult<Found> {
        self.search_messages_by(SearchPlan::Estimated, viewer, query, chat, first, after)
            .await
    }

    /// [`Store::search_messages`], asking PostgreSQL as `plan` says (the tests hold
    /// the plans to finding the same).
    pub async fn search_messages_by(
        &self,
        plan: SearchPlan,
        viewer: UserId,
        query: &SearchQuery,
        chat: Option<ChatId>,
        first: i64,
        after: Option<MessageId>,
    ) -> StoreResult<Found> {
        let mut rows = match &self.db {
            Db::Postgres { read: pool, .. } => {
                let budget = self.search_budget;
                search_postgres(pool, budget, plan, viewer, query, chat, first, after).await?
            }
            Db::Sqlite { read, .. } => {
                let budget = self.search_budget;
                search_sqlite(read, budget, viewer, query, chat, first, after).await?
            }
        };
        let has_more = rows.len() as i64 > first;
        rows.truncate(first as usize);
        Ok(Found {
            messages: self.complete_across_chats(rows).await?,
            has_more,
        })
    }

    /// [`Store::complete`] for rows of several chats, kept in their order.
    async fn complete_across_chats(&self, rows: Vec<MessageRow>) -> StoreResult<Vec<Message>> {
        let order: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
        let mut by_chat: BTreeMap<uuid::Uuid, Vec<MessageRow>> = BTreeMap::new();
        for row in rows {
            by_chat.entry(row.chat_id).or_default().push(row);
        }
        let mut completed = Vec::with_capacity(order.len());
        for (chat, rows) in by_chat {
            completed.extend(self.complete(ChatId(chat), rows).await?);
        }
        completed.sort_by_key(|m| order.iter().position(|id| *id == m.id.as_uuid()));
        Ok(completed)
    }
}

/// [`Store::search_messages_by`] on PostgreSQL, within `budget`.
#[allow(clippy::too_many_arguments)]
async fn search_postgres(
    pool: &sqlx::PgPool,
    budget: Duration,
    plan: SearchPlan,
    viewer: UserId,
    query: &SearchQuery,
    chat: Option<ChatId>,
    first: i64,
    after: Option<MessageId>,
) -> StoreResult<Vec<MessageRow>> {
    let text = query.to_tsquery();
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL statement_timeout = {}",
        budget.as_millis().max(1)
    )))
    .execute(&mut *tx)
    .await?;
    let flat = match plan {
        SearchPlan::Flat => true,
        SearchPlan::PerChat => false,
        SearchPlan::Estimated => {
            let explained: Vec<(String,)> = sqlx::query_as(POSTGRES_ESTIMATE_SQL)
                .persistent(false)
                .bind(&text)
                .fetch_all(&mut *tx)
                .await
                .map_err(too_slow)?;
            explained
                .first()
                .and_then(|(line,)| estimated_rows(line))
                .is_some_and(|rows| rows <= FEW_MATCHES)
        }
    };
    let sql = if flat {
        POSTGRES_FLAT_SQL
    } else {
        POSTGRES_PER_CHAT_SQL
    };
    // Planned each time for its words, never from a cached generic plan: one that
    // cannot see the words probes every chat with the whole word index (a common word
    // took 1.5 s that way instead of 5 ms; BENCHMARKS.md, Search).
    let rows = sqlx::query_as(sql)
        .persistent(false)
        .bind(viewer.as_uuid())
        .bind(text)
        .bind(chat.map(|c| c.as_uuid()))
        .bind(after.map(|m| m.as_uuid()))
        .bind(first + 1)
        .fetch_all(&mut *tx)
        .await
        .map_err(too_slow)?;
    tx.commit().await?;
    Ok(rows)
}

/// [`Store::search_messages_by`] on SQLite, within `budget`: the viewer's chats are read
/// first and named in the `MATCH` itself, so the index never looks at matches in other
/// chats.
async fn search_sqlite(
    pool: &sqlx::SqlitePool,
    budget: Duration,
    viewer: UserId,
    query: &SearchQuery,
    chat: Option<ChatId>,
    first: i64,
    after: Option<MessageId>,
) -> StoreResult<Vec<MessageRow>> {
    let mut connection = pool.acquire().await?;
    let chats: Vec<(uuid::Uuid,)> = sqlx::query_as(
        "SELECT chat_id FROM chat_participants WHERE user_id = $1 AND ($2 IS NULL OR chat_id = $2)",
    )
    .bind(viewer.as_uuid())
    .bind(chat.map(|c| c.as_uuid()))
    .fetch_all(&mut *connection)
    .await?;
    if chats.is_empty() {
        return Ok(Vec::new());
    }
    let chats: Vec<String> = chats
        .iter()
        .map(|(id,)| format!("\"c{}\"", id.simple()))
        .collect();
    let expression = format!(
        "chat : ({}) AND content : ({})",
        chats.join(" OR "),
        query.to_fts5()
    );
    let deadline = Instant::now() + budget;
    connection
        .lock_handle()
        .await?
        .set_progress_handler(SQLITE_STEPS_PER_LOOK, move || Instant::now() < deadline);
    let rows = sqlx::query_as(SQLITE_SQL)
        .persistent(false)
        .bind(expression)
        .bind(after.map(|m| m.as_uuid()))
        .bind(first + 1)
        .fetch_all(&mut *connection)
        .await;
    connection.lock_handle().await?.remove_progress_handler();
    rows.map_err(too_slow)
}

/// A statement stopped for taking longer than its budget is [`StoreError::TooSlow`]
/// (PostgreSQL's `query_canceled`, SQLite's `SQLITE_INTERRUPT`).
fn too_slow(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("57014" | "9")) => {
            StoreError::TooSlow
        }
        _ => e.into(),
    }
}

/// The `rows=N` of a line of PostgreSQL's plan.
fn estimated_rows(line: &str) -> Option<f64> {
    line.split(" rows=").nth(1)?.split(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_read_from_the_plan() {
        let line = "Bitmap Heap Scan on messages  (cost=28.27..1405.26 rows=412 width=4)";
        assert_eq!(estimated_rows(line), Some(412.0));
        assert_eq!(estimated_rows("Seq Scan on messages"), None);
    }
}
