//! The pieces of the chats screen.

pub mod chat_list;
pub mod composer;
pub mod message;
pub mod new_chat;
pub mod picker;
pub mod room;
pub mod settings;
