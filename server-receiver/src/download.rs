//! `GET /files/{id}` and `/files/{id}/thumbnail`: a file's bytes, to members of its
//! chat only, decided by the database on every request (an upload not yet sent: to its
//! uploader only). Served so a browser never runs it: its sniffed type with `nosniff`,
//! a sandboxing policy, and anything but an image as a download.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chat_types::FileId;
use chat_types::files::{self, Attachment};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use server_core::files::{caller, refusal};
use server_core::{ApiError, ServiceState};

pub(crate) async fn file(
    State(state): State<ServiceState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    serve(&state, &headers, &id, false)
        .await
        .unwrap_or_else(refusal)
}

pub(crate) async fn thumbnail(
    State(state): State<ServiceState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    serve(&state, &headers, &id, true)
        .await
        .unwrap_or_else(refusal)
}

async fn serve(
    state: &ServiceState,
    headers: &HeaderMap,
    id: &str,
    thumbnail: bool,
) -> Result<Response, ApiError> {
    let viewer = caller(state, headers, false).await?;
    let not_found = ApiError::NotFound("file");
    let id: FileId = id.parse().map_err(|_| not_found.clone())?;
    let file = state
        .store
        .file_for(id, viewer)
        .await?
        .ok_or(not_found.clone())?;
    if thumbnail && !file.is_image() {
        return Err(not_found);
    }
    let unreadable = |e: chat_store::BlobError, key: &str| {
        tracing::warn!(error = %chat_types::describe(&e), %key, "a file not read");
        ApiError::Unavailable
    };
    let missing = |key: &str| {
        tracing::warn!(%key, "a recorded file has no bytes");
        not_found.clone()
    };
    if thumbnail {
        // Small, and its type is read from its first bytes.
        let key = files::thumbnail_key(id);
        let bytes = (state.blobs.get(&key).await)
            .map_err(|e| unreadable(e, &key))?
            .ok_or_else(|| missing(&key))?;
        let content_type = files::sniff(&bytes[..bytes.len().min(16)]);
        let headers = served_headers(&file, content_type);
        return Ok((StatusCode::OK, headers, bytes).into_response());
    }
    // Sent as it is read: a download holds a piece of the file at a time.
    let key = files::blob_key(id);
    let pieces = (state.blobs.open(&key).await)
        .map_err(|e| unreadable(e, &key))?
        .ok_or_else(|| missing(&key))?;
    let mut headers = served_headers(&file, &file.content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    Ok((StatusCode::OK, headers, Body::from_stream(pieces)).into_response())
}

fn served_headers(file: &Attachment, content_type: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut set = |name, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, content_type.to_string());
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".into());
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox".into(),
    );
    // Private: behind a session. Immutable: a file's id names its bytes forever.
    set(
        header::CACHE_CONTROL,
        "private, max-age=31536000, immutable".into(),
    );
    let disposition = if file.is_image() {
        "inline"
    } else {
        "attachment"
    };
    set(
        header::CONTENT_DISPOSITION,
        format!(
            "{disposition}; filename=\"{}\"; filename*=UTF-8''{}",
            ascii_fallback(&file.name),
            percent_encode(&file.name)
        ),
    );
    headers
}

/// The name with anything but printable ASCII (and quotes, backslashes) as `_`.
fn ascii_fallback(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// RFC 5987 percent-encoding of UTF-8.
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_in_the_disposition_header() {
        assert_eq!(
            ascii_fallback("rapport \"final\" å.pdf"),
            "rapport _final_ _.pdf"
        );
        assert_eq!(percent_encode("å b.pdf"), "%C3%A5%20b.pdf");
    }
}
