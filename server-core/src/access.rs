//! Who may touch a chat: its participants only.

use chat_types::{ChatId, Role, UserId};

use crate::error::ApiError;
use chat_store::Store;

/// What someone outside a chat is told, whether or not the chat exists: the same
/// answer, so a stranger learns nothing about which chats there are.
pub const NOT_A_PARTICIPANT: &str = "you are not a participant of this chat";

/// The user's role in the chat; [`NOT_A_PARTICIPANT`] (`FORBIDDEN`) if they do not take
/// part in it or it does not exist.
pub async fn participant(store: &Store, chat: ChatId, user: UserId) -> Result<Role, ApiError> {
    store
        .participant_role(chat, user)
        .await?
        .ok_or(ApiError::Forbidden(NOT_A_PARTICIPANT))
}
