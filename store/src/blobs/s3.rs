//! Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, …) through the
//! `object_store` crate.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutPayload, RetryConfig};

use super::{BlobError, BlobStore, BlobStream, checked};

/// Blobs as objects under a prefix of a bucket.
pub struct S3Blobs {
    objects: PrefixStore<AmazonS3>,
    /// `s3://bucket/prefix`, for messages (never the credentials).
    url: String,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Blobs").field("url", &self.url).finish()
    }
}

impl S3Blobs {
    /// The bucket named by `url`, `s3://bucket` or `s3://bucket/a/prefix`. Credentials,
    /// region and endpoint come from the usual `AWS_*` environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for a
    /// store other than AWS, `AWS_ALLOW_HTTP=true` for a plain-HTTP one), then from
    /// `options`: pairs such as `("aws_endpoint", "http://127.0.0.1:9000")`.
    ///
    /// Nothing is sent here; [`S3Blobs::check`] tries the bucket.
    pub fn new<'a>(
        url: &str,
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, BlobError> {
        let (bucket, prefix) = url
            .strip_prefix("s3://")
            .map(|rest| rest.split_once('/').unwrap_or((rest, "")))
            .filter(|(bucket, _)| !bucket.is_empty())
            .ok_or_else(|| BlobError::new(format!("not an s3://bucket/prefix URL: {url:?}")))?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            // A request that fails is tried again for at most 30 s, not the crate's 3
            // minutes: an upload or a download is waiting on it.
            .with_retry(RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            });
        for (key, value) in options {
            let key: AmazonS3ConfigKey = key.parse().map_err(BlobError::new)?;
            builder = builder.with_config(key, value);
        }
        let bucket_store = builder.build().map_err(BlobError::new)?;
        Ok(Self {
            objects: PrefixStore::new(bucket_store, Path::from(prefix)),
            url: url.to_owned(),
        })
    }

    /// Writes and deletes an object, so that a wrong bucket, endpoint or credential is
    /// found at start-up, not at the first upload. (Reading would not do: S3 answers
    /// a missing bucket and a missing object alike to a HEAD.)
    pub async fn check(&self) -> Result<(), BlobError> {
        let probe = Path::from("start-up-check");
        let tried = async {
            self.objects
                .put(&probe, PutPayload::from_static(b"ok"))
                .await?;
            self.objects.delete(&probe).await
        };
        tried
            .await
            .map_err(|e| BlobError::new(format!("{}: {e}", self.url)))
    }
}

fn path(key: &str) -> Result<Path, BlobError> {
    Ok(Path::from(checked(key)?))
}

#[async_trait::async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.objects
            .put(&path(key)?, PutPayload::from(bytes))
            .await
            .map_err(BlobError::new)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match self.objects.get(&path(key)?).await {
            Ok(found) => Ok(Some(found.bytes().await.map_err(BlobError::new)?.into())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(BlobError::new(e)),
        }
    }

    async fn open(&self, key: &str) -> Result<Option<BlobStream>, BlobError> {
        match self.objects.get(&path(key)?).await {
            Ok(found) => Ok(Some(found.into_stream().map_err(BlobError::new).boxed())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(BlobError::new(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.objects.delete(&path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::new(e)),
        }
    }

    async fn keys(&self) -> Result<Vec<String>, BlobError> {
        self.objects
            .list(None)
            .map_ok(|object| object.location.to_string())
            .try_collect()
            .await
            .map_err(BlobError::new)
    }
}
