//! `POST /files?chatId=…&name=…`: one file for a chat, its bytes as the request body
//! (`chat_types::files`). The answer is the [`Attachment`] a message then names.
//!
//! Everything that can refuse an upload without its bytes does so before a byte is
//! read: who is asking, the rate limits, the declared size, membership of the chat,
//! how many of their uploads are under way ([`AT_ONCE_PER_USER`], more wait) and the room left in
//! their quota of unsent uploads ([`UNSENT`]). The body is then read, cut off at the
//! size limit; what it is comes from its bytes; images are prepared in turn
//! (`images`); the bytes go to the blob store before the record, and are deleted again
//! if the record is refused, so a failed upload leaves nothing behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinHandle;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chat_store::{NewUpload, UnsentQuota, UploadRefused};
use chat_types::files::{self, Attachment, MAX_FILE_BYTES};
use chat_types::{ChatId, FileId, UserId};
use http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use server_core::ApiError;
use server_core::ServiceState;
use server_core::access::participant;
use server_core::files::{caller, refusal, refusal_as};
use server_core::rate_limit::Action;

use crate::images;

/// The most uploads one person may have under way at once on an instance: each holds
/// up to 25 MB in memory until it is stored. More wait their turn, up to
/// [`TURN_WAIT`] (a browser sending ten files at once is not refused).
pub(crate) const AT_ONCE_PER_USER: usize = 2;
const TURN_WAIT: Duration = Duration::from_secs(10);

/// What one person may have uploaded and not sent: ten full-size files' worth, thirty
/// files, each kept an hour (a message being written takes minutes).
pub(crate) const UNSENT: UnsentQuota = UnsentQuota {
    files: 30,
    bytes: 10 * MAX_FILE_BYTES as i64,
    kept_for: chrono::TimeDelta::hours(1),
};

type Turns = Arc<Mutex<HashMap<UserId, Arc<Semaphore>>>>;

/// What the upload route holds: the service, each person's turns at uploading, and
/// the sweep of uploads never sent, which runs as long as the route does.
#[derive(Clone)]
pub(crate) struct Uploads {
    state: ServiceState,
    turns: Turns,
    _sweep: Arc<Sweep>,
}

impl Uploads {
    /// The route's state; starts the sweep, which stops when the last clone of it (the
    /// router's) is dropped.
    pub(crate) fn start(state: ServiceState) -> Self {
        Self {
            _sweep: Arc::new(Sweep::start(state.clone())),
            state,
            turns: Arc::default(),
        }
    }

    /// Waits (at most [`TURN_WAIT`]) for one of `user`'s [`AT_ONCE_PER_USER`] turns,
    /// given back when dropped; `None` if none came.
    async fn turn(&self, user: UserId) -> Option<Turn> {
        let places = self
            .turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(user)
            .or_insert_with(|| Arc::new(Semaphore::new(AT_ONCE_PER_USER)))
            .clone();
        // Made first, so that a wait that fails also forgets the person if it can.
        let mut turn = Turn {
            user,
            turns: self.turns.clone(),
            permit: None,
        };
        let permit = tokio::time::timeout(TURN_WAIT, places.acquire_owned()).await;
        turn.permit = Some(permit.ok()?.ok()?);
        Some(turn)
    }
}

/// One upload's turn; dropping it gives the turn back (and forgets a person with none
/// taken or awaited).
struct Turn {
    user: UserId,
    turns: Turns,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        // Nobody else holds or awaits this person's places: forget them.
        if turns
            .get(&self.user)
            .is_some_and(|places| Arc::strong_count(places) == 1)
        {
            turns.remove(&self.user);
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Target {
    chat_id: String,
    name: String,
}

pub(crate) async fn upload(
    State(uploads): State<Uploads>,
    headers: HeaderMap,
    Query(target): Query<Target>,
    body: Body,
) -> Response {
    match receive(&uploads, &headers, target, body).await {
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

fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024)
}

async fn receive(
    uploads: &Uploads,
    headers: &HeaderMap,
    target: Target,
    body: Body,
) -> Result<Attachment, Refused> {
    let state = &uploads.state;
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
    participant(&state.store, chat_id, uploader).await?;
    let _turn = uploads.turn(uploader).await.ok_or(ApiError::RateLimited {
        retry_after_secs: 1,
    })?;
    let expected = declared.unwrap_or(1);
    state
        .rate_limiter
        .check_user_cost(Action::UploadKib, uploader, kib(expected))?;
    if let Some(wait) = state
        .store
        .unsent_room(uploader, expected as i64, &UNSENT)
        .await
        .map_err(ApiError::from)?
    {
        return Err(ApiError::from(UploadRefused::OverQuota(wait)).into());
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
    // A body longer than it said (or sent without a length) pays for the rest.
    state.rate_limiter.charge_user(
        Action::UploadKib,
        uploader,
        kib(bytes.len() as u64).saturating_sub(kib(expected)),
    );
    if bytes.is_empty() {
        return Err(ApiError::bad_input("file", "The file is empty.").into());
    }

    let content_type = files::sniff(&bytes[..bytes.len().min(512)]);
    let id = FileId::from(uuid::Uuid::new_v4());
    let (bytes, image) = match image_format(content_type) {
        Some(format) => {
            let (bytes, prepared) = images::prepare_in_turn(bytes, format)
                .await
                .ok_or(ApiError::Internal)?;
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
        .record_upload(
            &NewUpload {
                chat_id,
                uploader,
                file: file.clone(),
            },
            &UNSENT,
        )
        .await;
    match recorded {
        Ok(()) => Ok(file),
        Err(refused) => {
            delete_bytes(state, &[id]).await;
            Err(ApiError::from(refused).into())
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

/// How often uploads never sent are looked for (each is kept [`UNSENT`]`.kept_for`).
const SWEEP_EVERY: Duration = Duration::from_secs(300);

/// Owns the sweep of uploads never sent: dropping it stops the sweep (between two
/// sweeps, never halfway through one), as mini-redis's `DbDropGuard` stops its purge.
pub(crate) struct Sweep {
    _stop: oneshot::Sender<()>,
}

impl Sweep {
    /// Starts sweeping, every [`SWEEP_EVERY`], for as long as the guard lives.
    pub(crate) fn start(state: ServiceState) -> Self {
        Self::spawn(state).0
    }

    /// [`Sweep::start`], and the sweep's task (for tests).
    fn spawn(state: ServiceState) -> (Self, JoinHandle<()>) {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(sweep(state, stopped));
        (Self { _stop: stop }, task)
    }
}

/// Forgets uploads never sent, and their bytes, until `stopped` resolves (its sender,
/// the [`Sweep`] guard, is dropped).
async fn sweep(state: ServiceState, mut stopped: oneshot::Receiver<()>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = every.tick() => {}
        }
        let before = chrono::Utc::now() - UNSENT.kept_for;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_the_sweep_stops_its_task() {
        let Some(env) = testkit::TestEnv::new(testkit::Backend::Embedded).await else {
            return;
        };
        let (sweep, task) = Sweep::spawn(env.state.clone());
        drop(sweep);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the sweep's task ends when its guard is dropped")
            .expect("and does not panic");
    }
}
