//! The error codes carried in every GraphQL error's `extensions.code`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What went wrong, in terms a client can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// No valid session: log in (again).
    Unauthenticated,
    /// Signed in, but not allowed to do this (e.g. not a participant of the chat).
    Forbidden,
    /// The thing asked for does not exist.
    NotFound,
    /// The input broke a rule; `extensions.field` names the field.
    BadUserInput,
    /// The write clashes with existing data (e.g. a username already taken).
    Conflict,
    /// Too many requests; `extensions.retryAfter` says how many seconds to wait.
    RateLimited,
    /// A temporary failure (e.g. the database is unreachable); retrying may succeed.
    Unavailable,
    /// Something failed on the server; no details are given.
    InternalServerError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::BadUserInput,
        ErrorCode::Conflict,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::InternalServerError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }

    /// Whether the same request may succeed if sent again later.
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited | ErrorCode::Unavailable | ErrorCode::InternalServerError
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or(())
    }
}

/// An error with its causes, `outer: inner: innermost`, for logs and messages.
/// A cause that only repeats what was said already (libraries often show their
/// source's message in their own) is left out.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Layer(String, #[source] Option<Box<Layer>>);

    #[test]
    fn causes_that_repeat_the_message_are_said_once() {
        let inner = Layer("database \"chat\" does not exist".into(), None);
        let outer = Layer(
            "database \"chat\" does not exist".into(),
            Some(Box::new(inner)),
        );
        assert_eq!(super::describe(&outer), "database \"chat\" does not exist");
        let top = Layer("starting the services".into(), Some(Box::new(outer)));
        assert_eq!(
            super::describe(&top),
            "starting the services: database \"chat\" does not exist"
        );
    }

    use super::*;

    #[test]
    fn codes_round_trip_through_their_names() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse(), Ok(code));
            assert_eq!(
                serde_json::to_string(&code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
        }
    }
}
