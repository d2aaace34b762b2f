//! `POST /files?chatId=…&name=…`: one file for a chat, its bytes as the request body
//! (`chat_types::files`). Refused before anything is read when it says it is too big,
//! and cut off when it turns out to be; what it is comes from its bytes; its bytes go
//! to the blob store before its record, and are deleted again if the record is
//! refused, so a failed upload leaves nothing behind. The answer is the
//! [`Attachment`] a message then names.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chat_store::NewUpload;
use chat_types::files::{self, Attachment, MAX_FILE_BYTES};
use chat_types::{ChatId, FileId};
use http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use server_core::ApiError;
use server_core::ServiceState;
use server_core::files::{caller, refusal, refusal_as};
use server_core::rate_limit::Action;

use crate::images;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Target {
    chat_id: String,
    name: String,
}

pub(crate) async fn upload(
    State(state): State<ServiceState>,
    headers: HeaderMap,
    Query(target): Query<Target>,
    body: Body,
) -> Response {
    match receive(&state, &headers, target, body).await {
        Ok(file) => (StatusCode::CREATED, axum::Json(file)).into_response(),
        Err(Refused::TooBig) => refusal_as(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::bad_input(
                "file",
                format!(
                    "A file may be at most {} MB.",
                    MAX_FILE_BYTES / (1024 * 1024)
                ),
            ),
        ),
        Err(Refused::Api(e)) => refusal(e),
    }
}

/// Why an upload was refused: too big (its own status), or as any request is.
enum Refused {
    TooBig,
    Api(ApiError),
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        Refused::Api(e)
    }
}

async fn receive(
    state: &ServiceState,
    headers: &HeaderMap,
    target: Target,
    body: Body,
) -> Result<Attachment, Refused> {
    let uploader = caller(state, headers, true).await?;
    state.rate_limiter.check_user(Action::Upload, uploader)?;
    let chat_id: ChatId = target
        .chat_id
        .parse()
        .map_err(|_| ApiError::bad_input("chatId", "Not a chat id."))?;
    let name = files::clean_name(&target.name).map_err(ApiError::BadInput)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_FILE_BYTES) {
        return Err(Refused::TooBig);
    }
    let bytes = http_body_util::Limited::new(body, MAX_FILE_BYTES as usize)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Refused::TooBig
            } else {
                ApiError::bad_input("file", "The upload did not arrive whole.").into()
            }
        })?
        .to_bytes()
        .to_vec();
    if bytes.is_empty() {
        return Err(ApiError::bad_input("file", "The file is empty.").into());
    }

    let content_type = files::sniff(&bytes[..bytes.len().min(512)]);
    let id = FileId::from(uuid::Uuid::new_v4());
    let (bytes, image) = match image_format(content_type) {
        Some(format) => {
            let copy = bytes.clone();
            let prepared = tokio::task::spawn_blocking(move || images::prepare(copy, format))
                .await
                .map_err(|_| ApiError::Internal)?;
            match prepared {
                Some(mut p) => (std::mem::take(&mut p.original), Some(p)),
                None => (bytes, None),
            }
        }
        None => (bytes, None),
    };
    let file = Attachment {
        id,
        name,
        // An image that did not decode is kept as opaque bytes, never served as one.
        content_type: if image_format(content_type).is_some() && image.is_none() {
            "application/octet-stream".to_string()
        } else {
            content_type.to_string()
        },
        size: bytes.len() as i64,
        width: image.as_ref().map(|i| i.width as i32),
        height: image.as_ref().map(|i| i.height as i32),
    };

    let blobs = &state.blobs;
    let stored = async {
        blobs.put(&files::blob_key(id), bytes).await?;
        if let Some(image) = image {
            blobs
                .put(&files::thumbnail_key(id), image.thumbnail)
                .await?;
        }
        Ok::<_, chat_store::BlobError>(())
    };
    if let Err(e) = stored.await {
        tracing::warn!(error = %chat_types::describe(&e), "an upload not stored");
        delete_bytes(state, &[id]).await;
        return Err(ApiError::Unavailable.into());
    }
    let recorded = state
        .store
        .record_upload(&NewUpload {
            chat_id,
            uploader,
            file: file.clone(),
        })
        .await;
    match recorded {
        Ok(()) => Ok(file),
        Err(e) => {
            delete_bytes(state, &[id]).await;
            Err(Refused::Api(match e {
                chat_store::StoreError::NotFound => {
                    ApiError::Forbidden("only members of a chat can send files to it")
                }
                e => ApiError::from(e),
            }))
        }
    }
}

/// Deletes the bytes of files no longer recorded (a failed upload, a deleted message).
pub(crate) async fn delete_bytes(state: &ServiceState, ids: &[FileId]) {
    for &id in ids {
        for key in [files::blob_key(id), files::thumbnail_key(id)] {
            if let Err(e) = state.blobs.delete(&key).await {
                tracing::warn!(error = %chat_types::describe(&e), %key, "a file's bytes left behind");
            }
        }
    }
}

/// How long an upload may wait for a message before it is forgotten, in hours.
const UNSENT_KEPT_HOURS: i64 = 24;
/// How often uploads never sent are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Forgets uploads never sent, and their bytes, for as long as the service runs.
pub(crate) async fn sweep(state: ServiceState) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        let before = chrono::Utc::now() - chrono::TimeDelta::hours(UNSENT_KEPT_HOURS);
        match state.store.forget_unsent_uploads(before).await {
            Ok(ids) => delete_bytes(&state, &ids).await,
            Err(e) => tracing::warn!(error = %chat_types::describe(&e), "unsent uploads not swept"),
        }
    }
}

fn image_format(content_type: &str) -> Option<image::ImageFormat> {
    match content_type {
        "image/png" => Some(image::ImageFormat::Png),
        "image/jpeg" => Some(image::ImageFormat::Jpeg),
        "image/gif" => Some(image::ImageFormat::Gif),
        "image/webp" => Some(image::ImageFormat::WebP),
        _ => None,
    }
}
