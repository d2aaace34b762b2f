//! Reactions and pins: changes to a message that anyone in its chat (or its owners)
//! may make, each logged in the chat.

use async_graphql::{Context, Object};
use chat_store::EditError;
use chat_types::emoji::Emoji;
use chat_types::{Message, MessageId};
use server_core::ApiError;
use server_core::graphql::{state, viewer};
use server_core::rate_limit::Action;

use crate::events;

#[derive(Default)]
pub(crate) struct ReactionMutation;

#[Object]
impl ReactionMutation {
    /// Reacts to a message of one of your chats with an emoji of the app's set. Adding
    /// the same one again changes nothing. Counts against the same limit as sending.
    async fn add_reaction(
        &self,
        ctx: &Context<'_>,
        message_id: MessageId,
        emoji: String,
    ) -> Result<Message, ApiError> {
        react(ctx, message_id, &emoji, true).await
    }

    /// Takes your reaction off a message; taking off one that is not there changes
    /// nothing.
    async fn remove_reaction(
        &self,
        ctx: &Context<'_>,
        message_id: MessageId,
        emoji: String,
    ) -> Result<Message, ApiError> {
        react(ctx, message_id, &emoji, false).await
    }

    /// Pins a message to its chat: in a group, for its owners; in a direct chat, for
    /// either person. Pinning it again changes nothing.
    async fn pin_message(
        &self,
        ctx: &Context<'_>,
        message_id: MessageId,
    ) -> Result<Message, ApiError> {
        pin(ctx, message_id, true).await
    }

    /// Unpins a message (the same people as pin it).
    async fn unpin_message(
        &self,
        ctx: &Context<'_>,
        message_id: MessageId,
    ) -> Result<Message, ApiError> {
        pin(ctx, message_id, false).await
    }
}

async fn react(
    ctx: &Context<'_>,
    id: MessageId,
    emoji: &str,
    add: bool,
) -> Result<Message, ApiError> {
    let me = viewer(ctx)?;
    let state = state(ctx);
    state.rate_limiter.check_user(Action::CreateMessage, me)?;
    let emoji = Emoji::parse(emoji)?;
    let (message, logged) = if add {
        state.store.add_reaction(id, me, &emoji).await
    } else {
        state.store.remove_reaction(id, me, &emoji).await
    }
    .map_err(|e| match e {
        EditError::Deleted => ApiError::bad_input("messageId", "the message was deleted"),
        e => e.into(),
    })?;
    if let Some(logged) = logged {
        events::chat_changed(&state.bus, &state.store, message.chat_id, &[logged]).await?;
    }
    Ok(message)
}

async fn pin(ctx: &Context<'_>, id: MessageId, pin: bool) -> Result<Message, ApiError> {
    let me = viewer(ctx)?;
    let state = state(ctx);
    state.rate_limiter.check_user(Action::ChatChange, me)?;
    let (message, logged) = state
        .store
        .set_pinned(id, me, pin)
        .await
        .map_err(|e| match e {
            EditError::Deleted => ApiError::bad_input("messageId", "the message was deleted"),
            e => e.into(),
        })?;
    if let Some(logged) = logged {
        events::chat_changed(&state.bus, &state.store, message.chat_id, &[logged]).await?;
    }
    Ok(message)
}
