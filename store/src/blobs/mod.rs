//! Where the bytes of attached files live, behind one trait: a folder (the embedded
//! default's data folder), PostgreSQL (the real topology: every instance sees every
//! file without a shared disk), or an S3-compatible bucket ([`S3Blobs`]).
//!
//! Keys are chosen by the services (a file's id, and its id with `.thumbnail`); the
//! stores never see a name a user typed.

mod s3;

pub use s3::S3Blobs;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::PgPool;

/// A blob store failed: its backend is unreachable or refused.
#[derive(Debug, thiserror::Error)]
#[error("blob store: {0}")]
pub struct BlobError(String);

impl BlobError {
    pub fn new(e: impl std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

/// Keeps blobs by key. Writing a key twice keeps the last bytes.
#[async_trait::async_trait]
pub trait BlobStore: std::fmt::Debug + Send + Sync + 'static {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError>;
    /// `None` when there is no such blob.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;
    /// The bytes as they are read, so that a download holds a piece of a file at a
    /// time, not all of it; `None` when there is no such blob. By default (a store
    /// that can only read whole values) the whole blob is read first.
    async fn open(&self, key: &str) -> Result<Option<BlobStream>, BlobError> {
        Ok(self
            .get(key)
            .await?
            .map(|bytes| futures::stream::once(async { Ok(Bytes::from(bytes)) }).boxed()))
    }
    /// Deleting what is not there is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Every key kept (for sweeps and tests).
    async fn keys(&self) -> Result<Vec<String>, BlobError>;
}

pub type Blobs = Arc<dyn BlobStore>;

/// A blob's bytes, piece by piece.
pub type BlobStream = BoxStream<'static, Result<Bytes, BlobError>>;

/// How much of a file in a folder is read at a time.
const PIECE: usize = 64 * 1024;

/// Only keys the services make: letters, digits, `-` and `.`, no leading dot.
fn checked(key: &str) -> Result<&str, BlobError> {
    let fine = !key.is_empty()
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    fine.then_some(key)
        .ok_or_else(|| BlobError::new(format!("not a blob key: {key:?}")))
}

/// Blobs as files in a folder (owner-only, like the rest of the data folder).
#[derive(Debug)]
pub struct FolderBlobs {
    dir: PathBuf,
}

impl FolderBlobs {
    /// Blobs in `dir`, which exists.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

#[async_trait::async_trait]
impl BlobStore for FolderBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        let path = self.dir.join(checked(key)?);
        // Written aside and renamed: a reader never sees half a file.
        let partial = self.dir.join(format!("{key}.partial"));
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let _ = std::fs::remove_file(&partial);
            let mut file = crate::files::create_private(&partial)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)
        })
        .await
        .map_err(BlobError::new)?
        .map_err(BlobError::new)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match tokio::fs::read(self.dir.join(checked(key)?)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BlobError::new(e)),
        }
    }

    async fn open(&self, key: &str) -> Result<Option<BlobStream>, BlobError> {
        use tokio::io::AsyncReadExt;
        let file = match tokio::fs::File::open(self.dir.join(checked(key)?)).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BlobError::new(e)),
        };
        let pieces = futures::stream::try_unfold(file, |mut file| async move {
            let mut piece = Vec::with_capacity(PIECE);
            let read = (&mut file)
                .take(PIECE as u64)
                .read_to_end(&mut piece)
                .await
                .map_err(BlobError::new)?;
            Ok((read > 0).then(|| (Bytes::from(piece), file)))
        });
        Ok(Some(pieces.boxed()))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.dir.join(checked(key)?)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(BlobError::new(e)),
            _ => Ok(()),
        }
    }

    async fn keys(&self) -> Result<Vec<String>, BlobError> {
        let mut entries = tokio::fs::read_dir(&self.dir)
            .await
            .map_err(BlobError::new)?;
        let mut keys = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(BlobError::new)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if checked(&name).is_ok() && !name.ends_with(".partial") {
                keys.push(name);
            }
        }
        Ok(keys)
    }
}

/// Blobs in PostgreSQL's `blobs` table (migration 0013).
#[derive(Debug)]
pub struct PostgresBlobs {
    pool: PgPool,
}

impl PostgresBlobs {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait::async_trait]
impl BlobStore for PostgresBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        sqlx::query(
            "INSERT INTO blobs (key, bytes) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET bytes = EXCLUDED.bytes",
        )
        .bind(checked(key)?)
        .bind(bytes)
        .execute(&self.pool)
        .await
        .map_err(BlobError::new)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT bytes FROM blobs WHERE key = $1")
            .bind(checked(key)?)
            .fetch_optional(&self.pool)
            .await
            .map_err(BlobError::new)?;
        Ok(row.map(|(bytes,)| bytes))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        sqlx::query("DELETE FROM blobs WHERE key = $1")
            .bind(checked(key)?)
            .execute(&self.pool)
            .await
            .map_err(BlobError::new)?;
        Ok(())
    }

    async fn keys(&self) -> Result<Vec<String>, BlobError> {
        let keys: Vec<(String,)> = sqlx::query_as("SELECT key FROM blobs")
            .fetch_all(&self.pool)
            .await
            .map_err(BlobError::new)?;
        Ok(keys.into_iter().map(|(key,)| key).collect())
    }
}
