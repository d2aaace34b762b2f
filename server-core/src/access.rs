//! Who may touch a chat: its participants only.

use chat_types::{ChatId, Role, UserId};

use crate::graphql::ApiError;
use crate::store::Store;

/// The user's role in the chat: `NOT_FOUND` if the chat does not exist, `FORBIDDEN` if
/// the user does not take part in it.
pub async fn participant(store: &Store, chat: ChatId, user: UserId) -> Result<Role, ApiError> {
    match store.participant_role(chat, user).await? {
        Some(role) => Ok(role),
        None if store.chat_kind(chat).await?.is_some() => Err(ApiError::Forbidden(
            "you are not a participant of this chat",
        )),
        None => Err(ApiError::NotFound("chat")),
    }
}
