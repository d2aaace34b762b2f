//! Files attached to messages (`chat_types::files`): an upload is recorded for one chat
//! and its uploader, then becomes part of a message in the message's own write
//! (`batch.rs`); who may fetch a file's bytes is read here, per request.

use std::collections::HashMap;

use chat_types::files::Attachment;
use chat_types::{ChatId, FileId, MessageId, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError, StoreResult, begin_write, on_read, on_write};

/// How much one person may have uploaded and not yet sent, and for how long an unsent
/// upload is kept: without a bound, uploads never sent fill the disk.
#[derive(Clone, Copy, Debug)]
pub struct UnsentQuota {
    pub files: i64,
    pub bytes: i64,
    /// Unsent uploads older than this are forgotten (and no longer count).
    pub kept_for: chrono::TimeDelta,
}

/// What someone has uploaded and not yet sent, of what is still kept.
#[derive(Debug)]
struct UnsentUsage {
    files: i64,
    bytes: i64,
    oldest: Option<DateTime<Utc>>,
}

impl UnsentQuota {
    /// `Some(wait)` if an upload of `size` more bytes does not fit `usage` at `now`:
    /// `wait` is how long until the oldest unsent upload is forgotten.
    fn refuses(
        &self,
        usage: &UnsentUsage,
        size: i64,
        now: DateTime<Utc>,
    ) -> Option<std::time::Duration> {
        let fits = usage.files < self.files && usage.bytes + size <= self.bytes;
        if fits {
            return None;
        }
        let forgotten = usage.oldest.map_or(now, |oldest| oldest + self.kept_for);
        Some((forgotten - now).to_std().unwrap_or_default())
    }
}

/// Why an upload was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum UploadRefused {
    /// The uploader is not in the chat, or it does not exist.
    #[error("not a participant of this chat")]
    NotParticipant,
    /// The uploader's unsent uploads are at their quota; room comes in this long.
    #[error("too many unsent uploads")]
    OverQuota(std::time::Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for UploadRefused {
    fn from(e: sqlx::Error) -> Self {
        UploadRefused::Store(e.into())
    }
}

/// `$uploader`'s [`UnsentUsage`] of uploads made since `$since`, read on `$executor`.
macro_rules! unsent_usage {
    ($executor:expr, $uploader:expr, $since:expr) => {{
        let (files, bytes, oldest): (i64, Option<i64>, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT COUNT(*), CAST(SUM(size) AS BIGINT), MIN(created_at) FROM files \
             WHERE uploader_id = $1 AND message_id IS NULL AND created_at >= $2",
        )
        .bind($uploader.as_uuid())
        .bind($since)
        .fetch_one($executor)
        .await
        .map_err(StoreError::from)?;
        UnsentUsage {
            files,
            bytes: bytes.unwrap_or(0),
            oldest,
        }
    }};
}

/// A file whose bytes are stored, to record for a chat.
#[derive(Clone, Debug)]
pub struct NewUpload {
    pub chat_id: ChatId,
    pub uploader: UserId,
    pub file: Attachment,
}

/// A file as `file_columns!()` reads it: id, name, content type, size, width, height.
type FileRow = (Uuid, String, String, i64, Option<i32>, Option<i32>);

fn attachment((id, name, content_type, size, width, height): FileRow) -> Attachment {
    Attachment {
        id: id.into(),
        name,
        content_type,
        size,
        width,
        height,
    }
}

/// The columns of a [`FileRow`], of `files f`.
macro_rules! file_columns {
    () => {
        "f.id, f.name, f.content_type, f.size, f.width, f.height"
    };
}

impl Store {
    /// Records an upload to a chat its uploader takes part in, if it fits within
    /// `quota` of what they have uploaded and not yet sent. Decided in one transaction
    /// that first locks the uploader's row (PostgreSQL; SQLite writes one at a time),
    /// so uploads arriving together cannot each see room for themselves.
    pub async fn record_upload(
        &self,
        upload: &NewUpload,
        quota: &UnsentQuota,
    ) -> Result<(), UploadRefused> {
        let file = &upload.file;
        let now = Utc::now();
        on_write!(self, |pool| {
            let mut tx = begin_write!(pool);
            if PG {
                sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
                    .bind(upload.uploader.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            }
            let usage = unsent_usage!(&mut *tx, upload.uploader, now - quota.kept_for);
            if let Some(wait) = quota.refuses(&usage, file.size, now) {
                return Err(UploadRefused::OverQuota(wait));
            }
            let inserted = sqlx::query(
                "INSERT INTO files (id, chat_id, uploader_id, name, content_type, size, width, height, created_at) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
                 WHERE EXISTS (SELECT 1 FROM chat_participants WHERE chat_id = $2 AND user_id = $3)",
            )
            .bind(file.id.as_uuid())
            .bind(upload.chat_id.as_uuid())
            .bind(upload.uploader.as_uuid())
            .bind(&file.name)
            .bind(&file.content_type)
            .bind(file.size)
            .bind(file.width)
            .bind(file.height)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?
            .rows_affected();
            if inserted == 0 {
                return Err(UploadRefused::NotParticipant);
            }
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        })
    }

    /// Whether `uploader` has room for an upload of `size` bytes now: `Some(wait)` when
    /// not, `wait` being how long until their oldest unsent upload is forgotten. Asked
    /// before an upload is read; [`Store::record_upload`] decides.
    pub async fn unsent_room(
        &self,
        uploader: UserId,
        size: i64,
        quota: &UnsentQuota,
    ) -> StoreResult<Option<std::time::Duration>> {
        let now = Utc::now();
        let usage = on_read!(self, |pool| unsent_usage!(
            pool,
            uploader,
            now - quota.kept_for
        ));
        Ok(quota.refuses(&usage, size, now))
    }

    /// The file `id` if `viewer` may fetch it: it belongs to a message of a chat they
    /// take part in now, or it is their own upload not yet sent. `None` otherwise,
    /// whether or not it exists.
    pub async fn file_for(&self, id: FileId, viewer: UserId) -> StoreResult<Option<Attachment>> {
        let row: Option<FileRow> = on_read!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                file_columns!(),
                " FROM files f \
                 JOIN chat_participants p ON p.chat_id = f.chat_id AND p.user_id = $2 \
                 WHERE f.id = $1 AND (f.message_id IS NOT NULL OR f.uploader_id = $2)"
            ))
            .bind(id.as_uuid())
            .bind(viewer.as_uuid())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(attachment))
    }

    /// Of `ids`, the uploads of `uploader` to `chat` not sent yet, in the order given.
    pub async fn unsent_uploads(
        &self,
        chat: ChatId,
        uploader: UserId,
        ids: &[FileId],
    ) -> StoreResult<Vec<Attachment>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<FileRow> = on_read!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(concat!(
                "SELECT ",
                file_columns!(),
                " FROM files f WHERE f.message_id IS NULL AND f.chat_id = "
            ));
            query
                .push_bind(chat.as_uuid())
                .push(" AND f.uploader_id = ")
                .push_bind(uploader.as_uuid())
                .push(" AND f.id IN ");
            crate::push_list(&mut query, ids.iter().map(|id| id.as_uuid()));
            query.build_query_as().fetch_all(pool).await?
        });
        let mut found: HashMap<FileId, Attachment> = rows
            .into_iter()
            .map(|row| (FileId::from(row.0), attachment(row)))
            .collect();
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// The files of `messages`, by message, in the order they were attached.
    pub(crate) async fn attachments(
        &self,
        messages: &[MessageId],
    ) -> StoreResult<HashMap<MessageId, Vec<Attachment>>> {
        if messages.is_empty() {
            return Ok(HashMap::new());
        }
        // The message's id, then a file row.
        type AttachedRow = (Uuid, Uuid, String, String, i64, Option<i32>, Option<i32>);
        let rows: Vec<AttachedRow> = on_read!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(concat!(
                "SELECT f.message_id, ",
                file_columns!(),
                " FROM files f WHERE f.message_id IN "
            ));
            crate::push_list(&mut query, messages.iter().map(|id| id.as_uuid()));
            query.push(" ORDER BY f.message_id, f.position");
            query.build_query_as().fetch_all(pool).await?
        });
        let mut by_message: HashMap<MessageId, Vec<Attachment>> = HashMap::new();
        for (message, id, name, content_type, size, width, height) in rows {
            by_message
                .entry(message.into())
                .or_default()
                .push(attachment((id, name, content_type, size, width, height)));
        }
        Ok(by_message)
    }

    /// Uploads never sent, older than `before`: forgotten here, their bytes to be
    /// deleted by the caller. Returns their ids.
    pub async fn forget_unsent_uploads(&self, before: DateTime<Utc>) -> StoreResult<Vec<FileId>> {
        let ids: Vec<(Uuid,)> = on_write!(self, |pool| {
            sqlx::query_as(
                "DELETE FROM files WHERE message_id IS NULL AND created_at < $1 RETURNING id",
            )
            .bind(before)
            .fetch_all(pool)
            .await?
        });
        Ok(ids.into_iter().map(|(id,)| id.into()).collect())
    }
}
