//! One module per screen.

pub mod auth;
pub mod chats;
