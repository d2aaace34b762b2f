//! Who may touch a chat: its participants only.

use chat_types::{ChatId, Role, UserId};

use crate::error::ApiError;
pub use crate::error::NOT_A_PARTICIPANT;
use chat_store::Store;

/// The user's role in the chat; [`NOT_A_PARTICIPANT`] (`FORBIDDEN`) if they do not take
/// part in it or it does not exist.
pub async fn participant(store: &Store, chat: ChatId, user: UserId) -> Result<Role, ApiError> {
    store
        .participant_role(chat, user)
        .await?
        .ok_or(ApiError::Forbidden(NOT_A_PARTICIPANT))
}
