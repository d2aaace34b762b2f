//! The error every resolver returns, with the code each one carries: one type at the
//! bottom of the crate, which imports nothing of it.

use async_graphql::ServerError;
use axum::response::IntoResponse;
use chat_bus::BusError;
use chat_store::{BlobError, ChatChangeError, EditError, StoreError, UploadRefused};
use chat_types::{ErrorCode, FieldError};
use http::StatusCode;

/// What a resolver can fail with. Its message is what the client sees, so the
/// internal variants say nothing about the cause (which is logged instead).
#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadInput(FieldError),
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Too many of something held open at once (connections, subscriptions): ending
    /// one makes room. Reported as `RATE_LIMITED`, without a time to wait.
    #[error("{0}")]
    LimitReached(String),
    #[error("temporarily unavailable; retry shortly")]
    Unavailable,
    #[error("internal server error")]
    Internal,
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthenticated => ErrorCode::Unauthenticated,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::BadInput(_) => ErrorCode::BadUserInput,
            ApiError::Conflict { .. } => ErrorCode::Conflict,
            ApiError::RateLimited { .. } | ApiError::LimitReached(_) => ErrorCode::RateLimited,
            ApiError::Unavailable => ErrorCode::Unavailable,
            ApiError::Internal => ErrorCode::InternalServerError,
        }
    }

    /// Bad input in `field`.
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadInput(FieldError::new(field, message))
    }

    /// As GraphQL reports it, code and all (for refusals made outside a resolver).
    pub fn into_server_error(self) -> ServerError {
        let mut error = ServerError::new(self.to_string(), None);
        self.annotate(&mut error);
        error.source = Some(std::sync::Arc::new(self));
        error
    }

    /// Puts the code (and the field, the wait) in the error's extensions.
    pub(crate) fn annotate(&self, error: &mut ServerError) {
        let code = self.code();
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", code.as_str());
        match self {
            ApiError::BadInput(e) => extensions.set("field", e.field.as_str()),
            ApiError::Conflict { field } => extensions.set("field", *field),
            ApiError::RateLimited { retry_after_secs } => {
                extensions.set("retryAfter", *retry_after_secs)
            }
            _ => {}
        }
        if code.is_retriable() {
            extensions.set("retriable", true);
        }
    }
}

/// What someone outside a chat is told, whether or not the chat exists: the same
/// answer, so a stranger learns nothing about which chats there are.
pub const NOT_A_PARTICIPANT: &str = "you are not a participant of this chat";

/// A refused change to a chat's people, name or standing.
impl From<ChatChangeError> for ApiError {
    fn from(e: ChatChangeError) -> Self {
        match e {
            ChatChangeError::NotParticipant => ApiError::Forbidden(NOT_A_PARTICIPANT),
            ChatChangeError::NotOwner => ApiError::Forbidden("only the group's owner may do this"),
            ChatChangeError::Direct => ApiError::bad_input(
                "chatId",
                "a direct chat always has exactly its two participants and no name",
            ),
            // Only adding people can outgrow a group (creating one is checked first).
            ChatChangeError::TooMany => ApiError::BadInput(
                chat_types::validate::check_group_size(usize::MAX)
                    .unwrap_err()
                    .for_field("userIds"),
            ),
            ChatChangeError::NotMember => ApiError::NotFound("participant"),
            ChatChangeError::Store(e) => e.into(),
        }
    }
}

/// A refused change to a message (an edit, a delete, a reaction, a pin).
impl From<EditError> for ApiError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::NotFound => ApiError::NotFound("message"),
            EditError::NotParticipant => ApiError::Forbidden(NOT_A_PARTICIPANT),
            EditError::NotAuthor => ApiError::Forbidden("only the author may change a message"),
            EditError::NotOwner => ApiError::Forbidden("only the group's owners may pin messages"),
            EditError::Deleted => ApiError::bad_input("id", "the message was deleted"),
            EditError::TooManyReactions => ApiError::bad_input(
                "emoji",
                format!(
                    "a message has at most {} different reactions",
                    chat_types::emoji::MAX_REACTIONS_PER_MESSAGE
                ),
            ),
            EditError::Store(e) => e.into(),
        }
    }
}

/// A refused upload record.
impl From<UploadRefused> for ApiError {
    fn from(e: UploadRefused) -> Self {
        match e {
            UploadRefused::NotParticipant => ApiError::Forbidden(NOT_A_PARTICIPANT),
            // Full: room comes when the oldest unsent upload is forgotten.
            UploadRefused::OverQuota(wait) => ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            },
            UploadRefused::Store(e) => e.into(),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::BadInput(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("record"),
            StoreError::Conflict(field) => ApiError::Conflict { field },
            StoreError::InvalidText => {
                ApiError::bad_input("input", "text must not contain NUL characters")
            }
            StoreError::TooSlow => ApiError::bad_input(
                "query",
                "this search takes too long: add words, or make them longer",
            ),
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %chat_types::describe(&cause), "database unavailable");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %chat_types::describe(&other), "store failure");
                ApiError::Internal
            }
        }
    }
}

/// A GraphQL-shaped error response for requests that never reach the schema.
pub fn error_response(
    status: StatusCode,
    code: ErrorCode,
    message: &str,
) -> axum::response::Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code.as_str() } }]
    });
    (status, axum::Json(body)).into_response()
}

/// Why a service could not start, said once, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot use the database: {}. Check that it runs at the address given and that the \
         user may log in (the URL's user, else PGUSER or your login name), or leave out \
         --database-url for the embedded SQLite default",
        chat_types::describe(.0)
    )]
    Store(StoreError),
    #[error(
        "cannot reach Redis: {}. Start it, or leave out --redis-url for the in-process bus \
         (everything in one process)",
        chat_types::describe(.0)
    )]
    Bus(BusError),
    #[error("cannot read or create the token secret in the data folder: {0}")]
    Secret(std::io::Error),
    #[error("cannot use the file store: {0}. Check --file-store and the AWS_* settings")]
    Files(BlobError),
    #[error("{0}")]
    Config(String),
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        StartError::Store(e)
    }
}

impl From<BusError> for StartError {
    fn from(e: BusError) -> Self {
        StartError::Bus(e)
    }
}

impl From<std::io::Error> for StartError {
    fn from(e: std::io::Error) -> Self {
        StartError::Secret(e)
    }
}
