//! Every limit an instance applies, in one place: request rates ([`RateLimits`]),
//! WebSocket caps and timeouts, how long a request may take, and what one GraphQL
//! document may ask for. (How connections are admitted is a process's matter:
//! [`crate::serve::ServeLimits`].)

use std::time::Duration;

pub use crate::rate_limit::{Quota, RateLimits};

/// The most nested selection a request may make.
pub const MAX_DEPTH: usize = 10;
/// The most fields (weighted) a request may select.
pub const MAX_COMPLEXITY: usize = 1000;
/// The most aliases one document may use.
pub const MAX_ALIASES: usize = 30;
/// The most fields at the root of a mutation (fragments counted where spread).
pub const MAX_MUTATION_FIELDS: usize = 10;

/// The abuse limits of an instance.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Request rates per client IP and per user; `None`: unlimited.
    pub rate: Option<RateLimits>,
    /// WebSocket limits.
    pub ws: WsLimits,
    /// How long a request may take, its body included: a body dribbled in a byte at a
    /// time is cut off (the request head has its own, shorter limit:
    /// [`crate::serve::HEADER_READ_TIMEOUT`]).
    pub request_timeout: Duration,
}

/// The default [`Limits::request_timeout`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

impl Limits {
    /// Every limit at its default.
    pub fn on() -> Self {
        Self {
            rate: Some(RateLimits::default()),
            ws: WsLimits::default(),
            request_timeout: REQUEST_TIMEOUT,
        }
    }

    /// No limits per client IP or per user (request rates, WebSocket connections per
    /// user), for load tests that act as thousands of users from one address. The
    /// limits that protect the server from any one connection stay.
    pub fn off() -> Self {
        Self {
            rate: None,
            ws: WsLimits {
                max_connections_per_user: None,
                ..WsLimits::default()
            },
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// Limits on WebSocket connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsLimits {
    /// How long a new socket has to send `connection_init`.
    pub init_timeout: Duration,
    /// How long one write may wait for the client to take it.
    pub send_timeout: Duration,
    /// Active subscriptions per connection.
    pub max_subscriptions: usize,
    /// Open connections per user on this instance; `None`: any number.
    pub max_connections_per_user: Option<usize>,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            init_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            max_subscriptions: 100,
            max_connections_per_user: Some(32),
        }
    }
}
