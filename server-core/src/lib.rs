//! What all chat services share, from the bottom up (each imports only modules above
//! it in this list):
//!
//! - [`error`]: the error every resolver returns, with its code.
//! - [`metrics`]: the Prometheus figures.
//! - [`rate_limit`]: request rates per client IP and per user.
//! - [`limits`]: every limit an instance applies.
//! - [`serve`]: serving connections: timeouts, a connection cap, graceful shutdown.
//! - [`secret`]: the secret that signs session tokens.
//! - [`auth`]: password hashing, session tokens and where requests carry them.
//! - [`sessions`]: sessions held open by WebSockets, swept against the database.
//! - [`config`]: flags and environment variables common to every service.
//! - [`logging`]: setting up logs, and what they must never contain.
//! - [`readiness`]: whether an instance can serve (`/readyz`).
//! - [`state`]: what a service instance holds, built from the configuration.
//! - [`access`]: who may touch a chat.
//! - [`presence`]: who is around: reports, connections, and what is news.
//! - [`graphql`]: sessions, error codes, document limits, the `/graphql` routes.
//! - [`files`]: who calls the file routes, and their refusals.
//! - [`http`]: CORS, body and time limits, health and metrics endpoints, request ids,
//!   running a service.

pub mod access;
pub mod auth;
pub mod config;
pub mod error;
pub mod files;
pub mod graphql;
pub mod http;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod presence;
pub mod rate_limit;
pub mod readiness;
pub mod secret;
pub mod serve;
pub mod sessions;
pub mod state;

pub use error::ApiError;
pub use graphql::Session;
pub use state::ServiceState;
