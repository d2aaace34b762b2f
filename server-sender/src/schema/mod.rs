//! The sender's GraphQL schema: every mutation, by domain: [`chats`] (starting them,
//! their people, requests, muting), [`messages`] (sending, editing, deleting),
//! [`reactions`] (and pins), [`reads`] (read marks, typing, presence). Each domain is an
//! object of its own, merged into one `Mutation`. Store refusals become API errors by
//! `From` (`server_core::error`), and whom a message mentions is decided in one place
//! ([`mentions`]), for a new message and an edit alike.

mod chats;
mod mentions;
mod messages;
mod reactions;
mod reads;

use std::sync::Arc;

use async_graphql::{Context, MergedObject, Object};
use chat_types::{Chat, ChatId, Standing, UserId};
use server_core::access::NOT_A_PARTICIPANT;
use server_core::{ApiError, ServiceState};

use crate::Sender;

pub struct Query;

#[Object]
impl Query {
    /// Always true. The sender serves mutations; reads go to the receiver.
    async fn health(&self) -> bool {
        true
    }
}

/// Every mutation of the sender.
#[derive(MergedObject, Default)]
pub struct Mutation(
    chats::ChatMutation,
    messages::MessageMutation,
    reactions::ReactionMutation,
    reads::ReadMutation,
);

fn sender<'a>(ctx: &Context<'a>) -> &'a Arc<Sender> {
    ctx.data_unchecked::<Arc<Sender>>()
}

/// The chat as `viewer` sees it, after a write that succeeded.
async fn chat_view(
    state: &ServiceState,
    chat: ChatId,
    viewer: Option<UserId>,
) -> Result<Chat, ApiError> {
    state
        .store
        .chat(chat, viewer)
        .await?
        .ok_or(ApiError::NotFound("chat"))
}

/// Where `me` stands with the chat; [`NOT_A_PARTICIPANT`] if they are not in it.
async fn standing(state: &ServiceState, chat: ChatId, me: UserId) -> Result<Standing, ApiError> {
    state
        .store
        .participation(chat, me)
        .await?
        .map(|(_, standing)| standing)
        .ok_or(ApiError::Forbidden(NOT_A_PARTICIPANT))
}
