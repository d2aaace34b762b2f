//! What the chats screen keeps and how live events change it.
//!
//! The chat list ([`ChatsStore`], `chat_list.rs`) and the open chat's messages
//! ([`ChatLog`], `chat_log.rs`) are loaded once by resources (the server fills them
//! while rendering, the browser picks them up without fetching again), then kept in
//! signals that live events edit in place. The resources never change after loading,
//! so nothing re-renders wholesale.

mod chat_list;
mod chat_log;

pub use chat_list::ChatsStore;
pub use chat_log::{ChatLog, Delivery, Entry, LogState, edit_log};

use chat_types::User;
use leptos::prelude::*;

/// The signed-in user.
#[derive(Clone, Debug)]
pub struct Me(pub User);

pub fn me() -> User {
    expect_context::<Me>().0
}

/// A stored message of chat 1 by user 2, for the tests of both halves.
#[cfg(test)]
fn message(seq: i64, client_id: &str) -> chat_types::Message {
    use uuid::Uuid;
    chat_types::Message {
        id: Uuid::from_u128(1000 + seq as u128).into(),
        chat_id: Uuid::from_u128(1).into(),
        seq,
        sender_id: Uuid::from_u128(2).into(),
        content: format!("m{seq}"),
        client_id: Some(client_id.to_string()),
        created_at: chrono::DateTime::UNIX_EPOCH,
        edited_at: None,
        deleted_at: None,
        after_event_seq: 0,
        reply_to: None,
        reactions: Vec::new(),
        pinned_at: None,
        mentions: Vec::new(),
        mentions_all: false,
        attachments: Vec::new(),
    }
}
