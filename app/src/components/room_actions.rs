//! What the pieces of an open chat (a message row, the composer, the pinned list) ask
//! of the room that holds them, provided as context by `room::Room`. A module of its
//! own, so those pieces need not import the room that imports them.

use chat_types::{Quote, UserId};
use leptos::prelude::*;

/// What a message row and the composer ask of the open chat.
#[derive(Clone, Copy)]
pub struct RoomActions {
    /// The message the composer's next message answers.
    pub replying: RwSignal<Option<Quote>>,
    /// Shows message `seq` and highlights it: older pages are loaded until it is there
    /// when it is near, the history around it is opened when it is far back.
    pub jump_to: Callback<i64>,
    /// Back to the newest messages (the composer, sending from a window far back).
    pub to_latest: Callback<()>,
    /// The name of a member or of an author of the chat.
    pub name_of: Callback<UserId, String>,
}
