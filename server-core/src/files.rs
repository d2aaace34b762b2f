//! What the file routes share (they are plain HTTP, not GraphQL: bytes are streamed,
//! and an `<img>` fetches them): who is calling, and refusals as coded JSON.

use axum::response::Response;
use chat_types::{ErrorCode, UserId};
use http::{HeaderMap, StatusCode};

use crate::error::{ApiError, error_response};
use crate::graphql::{Session, session_for};
use crate::state::ServiceState;

/// The signed-in user a file request comes from. A write trusts the session cookie
/// only from an allowed origin, as GraphQL does; a read (`GET`) trusts it without one,
/// since browsers send no `Origin` for an image, and the cookie (`SameSite=Lax`) does
/// not go with another site's images or scripts.
pub async fn caller(
    state: &ServiceState,
    headers: &HeaderMap,
    write: bool,
) -> Result<UserId, ApiError> {
    match session_for(state, headers, !write).await? {
        Session::User(user) => Ok(user),
        Session::Anonymous => Err(ApiError::Unauthenticated),
    }
}

/// A refusal as the file routes answer it: the status its code means, and the same
/// JSON GraphQL errors carry.
pub fn refusal(error: ApiError) -> Response {
    let status = match error.code() {
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refusal_as(status, error)
}

/// A refusal with a status more precise than its code's (413 for a body too large).
pub fn refusal_as(status: StatusCode, error: ApiError) -> Response {
    error_response(status, error.code(), &error.to_string())
}
