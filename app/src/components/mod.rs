//! The pieces of the chats screen.

pub mod attach;
pub mod avatar;
pub mod chat_list;
pub mod composer;
pub mod history;
pub mod mention_picker;
pub mod message;
pub mod modal;
pub mod new_chat;
pub mod on_demand;
pub mod picker;
pub mod pins;
pub mod reactions;
pub mod request;
pub mod rich_text;
pub mod room;
pub mod room_actions;
pub mod search;
pub mod settings;
