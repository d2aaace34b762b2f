//! Types shared by the browser app and the services.
//!
//! - [`backoff`]: pauses between attempts at something that keeps failing.
//! - [`emoji`]: the emoji set reactions are made of.
//! - [`instances`]: the three services and the instances the launcher runs.
//! - [`ids`]: typed identifiers ([`UserId`], [`ChatId`], [`MessageId`]).
//! - [`model`]: what the GraphQL API returns (users, chats, messages, unread counts…).
//! - [`validate`]: the input rules of the system, as parsers that return field-level errors.
//! - [`error`]: the error codes every GraphQL error carries in `extensions.code`.
//! - [`files`]: files attached to messages: limits, what a file is, its name.
//! - [`format`]: the formatting a message may carry (bold, code, quotes, links…), parsed.
//! - [`presence`]: who is around, and when someone shows as offline.
//! - [`search`]: what a search query means, and the snippet a result shows.
//! - [`event`]: what travels on the bus between senders and receivers, and the topic names.
//! - [`ops`]: the GraphQL operation documents the web app sends (and the tests reuse).
//! - [`limits`]: the sizes and intervals the browser and the servers agree on.
//! - [`username`]: what a username is made of.
//!
//! This crate compiles for `wasm32-unknown-unknown`; server-only derives sit behind
//! the `graphql` feature.

pub mod backoff;
pub mod emoji;
pub mod error;
pub mod event;
pub mod files;
pub mod format;
pub mod ids;
pub mod instances;
pub mod limits;
pub mod model;
pub mod ops;
pub mod presence;
pub mod search;
pub mod username;
pub mod validate;

pub use error::{ErrorCode, describe};
pub use event::{BusEvent, Event, Topic};
pub use ids::{ChatId, FileId, MessageId, UserId};
pub use limits::{DEFAULT_PAGE_SIZE, MAX_BODY_BYTES, MAX_PAGE_SIZE};
pub use model::*;
pub use validate::FieldError;
