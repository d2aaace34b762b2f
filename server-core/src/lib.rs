//! What all chat services share.
//!
//! - [`config`]: flags and environment variables common to every service.
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
pub mod config;
pub mod graphql;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod rate_limit;
pub mod serve;
pub mod state;

pub use graphql::{ApiError, Session};
pub use state::ServiceState;
