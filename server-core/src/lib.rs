//! What all chat services share.
//!
//! - [`config`]: flags and environment variables common to every service.
//! - [`files`]: what the services keep on disk is the owner's only.
//! - [`store`]: every database query, over PostgreSQL or SQLite, with migrations.
//! - [`bus`]: the event bus (Redis PubSub or in-process).
//! - [`auth`]: password hashing, session tokens and where requests carry them.
//! - [`state`]: what a service instance holds, built from the configuration.
//! - [`graphql`]: the resolver error type, error codes, sessions, `/graphql` routes.
//! - [`http`]: CORS, limits, health, metrics, request ids, serving and shutdown.
//! - [`logging`]: what logs must never contain, whatever the log level.
//! - [`metrics`]: the Prometheus figures.
//! - [`rate_limit`]: request rates per client IP and per user.
//! - [`serve`]: serving connections: timeouts, a connection cap, graceful shutdown.

pub mod access;
pub mod auth;
pub mod bus;
pub mod config;
pub mod files;
pub mod graphql;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod rate_limit;
pub mod serve;
pub mod state;
pub mod store;

pub use graphql::{ApiError, Session};
pub use state::ServiceState;

/// An error with its causes, `outer: inner: innermost`, for logs and messages.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
