//! Whom a message mentions, decided the same way for a new message and an edit: the
//! chat's members its text names by username (`@ann`), never its author, at most
//! [`MAX_MENTIONS`]; and everyone else in the chat for `@all`, when its author owns the
//! group. Other names stay text.

use chat_types::{ChatId, Mention, UserId};
use server_core::{ApiError, ServiceState};

/// The most people one message mentions (more names stay text).
const MAX_MENTIONS: usize = 50;

/// Whom a message mentions.
pub(crate) struct Mentions {
    pub(crate) named: Vec<Mention>,
    /// `@all` from an owner of the group.
    pub(crate) everyone: bool,
}

/// Whom `content`, written by `author` in `chat`, mentions.
pub(crate) async fn decide(
    state: &ServiceState,
    chat: ChatId,
    author: UserId,
    content: &str,
) -> Result<Mentions, ApiError> {
    let mut names = chat_types::format::mentioned(content);
    names.truncate(MAX_MENTIONS);
    let everyone = names.iter().any(|n| n == chat_types::format::EVERYONE)
        && state.store.owns_group(chat, author).await?;
    let named = state
        .store
        .members_named(chat, &names)
        .await?
        .into_iter()
        .filter(|m| m.user_id != author)
        .collect();
    Ok(Mentions { named, everyone })
}
