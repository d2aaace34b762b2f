//! The sizes and intervals the browser and the servers must agree on, in one place.

use std::time::Duration;

/// The largest request body any service accepts, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most messages one `messages` query returns.
pub const MAX_PAGE_SIZE: i64 = 200;
/// The page size when the client does not ask for one.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// How many messages or logged changes a server reads from the database at a time when
/// it replays or catches up (not asked for by clients: as big as is cheap).
pub const REPLAY_PAGE: i64 = 500;
/// Typing notices: a client sends at most one per this interval, the sender passes at
/// most one per person and chat per this interval, and so does each receiver.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(2);

/// A live-subscription connection that has sent nothing for this long sends a
/// keep-alive, so its client can tell a quiet connection from a dead one.
pub const KEEPALIVE: Duration = Duration::from_secs(10);

/// A client that has heard nothing on its connection for this long (keep-alives
/// included) takes it for dead, closes it and connects again: the server, or the
/// network to it, is gone without a word.
pub const SILENT_CONNECTION: Duration = Duration::from_secs(25);
