//! Starting chats, their people, requests (accepting, declining) and muting.

use async_graphql::{Context, InputObject, Object};
use chat_store::{NewChat, Started};
use chat_types::validate::{ChatName, Description, check_group_size};
use chat_types::{Chat, ChatId, ChatKind, Event, Standing, UserId};
use server_core::access::{NOT_A_PARTICIPANT, participant};
use server_core::graphql::{state, viewer};
use server_core::rate_limit::Action;
use server_core::{ApiError, ServiceState};

use super::chat_view;
use crate::events::{self, ChatChange};

#[derive(InputObject)]
pub(crate) struct CreateChatInput {
    /// The group's name (required for groups; direct chats have none).
    name: Option<String>,
    description: Option<String>,
    kind: ChatKind,
    /// Everyone else in the chat; you join as its owner.
    participant_ids: Vec<UserId>,
}

#[derive(Default)]
pub(crate) struct ChatMutation;

#[Object]
impl ChatMutation {
    /// Starts a chat. A direct chat with the same person is created once: asking again
    /// returns the existing one.
    async fn create_chat(
        &self,
        ctx: &Context<'_>,
        input: CreateChatInput,
    ) -> Result<Chat, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        state.rate_limiter.check_user(Action::ChatChange, me)?;
        let others = others(&input.participant_ids, me);
        let (name, description) = match input.kind {
            ChatKind::Direct => {
                if others.len() != 1 {
                    return Err(ApiError::bad_input(
                        "participantIds",
                        "a direct chat has exactly one other participant",
                    ));
                }
                (None, None)
            }
            ChatKind::Group => {
                let name = ChatName::parse(input.name.as_deref().unwrap_or(""))?;
                let description = input
                    .description
                    .as_deref()
                    .map(Description::parse)
                    .transpose()?;
                check_group_size(others.len() + 1)?;
                (Some(name), description)
            }
        };
        require_active(state, &others, "participantIds").await?;
        let started = state
            .store
            .create_chat(NewChat {
                kind: input.kind,
                name: name.as_ref().map(ChatName::as_str),
                description: description.as_ref().map(Description::as_str),
                created_by: me,
                others: &others,
            })
            .await?;
        let chat = chat_view(state, started.id(), Some(me)).await?;
        if !chat.has_participant(me) {
            return Err(ApiError::Forbidden(NOT_A_PARTICIPANT));
        }
        match started {
            Started::Created(_) => events::chat_to_users(
                &state.bus,
                chat.id,
                &chat.participant_ids(),
                ChatChange::Added,
            ),
            // A direct chat they had declined or left as a request: theirs again.
            Started::Existing { accepted: true, .. } => {
                accepted(state, &chat, me).await;
            }
            Started::Existing {
                accepted: false, ..
            } => {}
        }
        Ok(chat)
    }

    /// Renames a group or changes its description; the owner only.
    async fn update_chat(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<Chat, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        state.rate_limiter.check_user(Action::ChatChange, me)?;
        let name = name.as_deref().map(ChatName::parse).transpose()?;
        let description = description.as_deref().map(Description::parse).transpose()?;
        let logged = state
            .store
            .update_chat(
                chat_id,
                me,
                name.as_ref().map(ChatName::as_str),
                description.as_ref().map(Description::as_str),
            )
            .await?;
        events::chat_changed(&state.bus, &state.store, chat_id, &logged).await?;
        let chat = chat_view(state, chat_id, Some(me)).await?;
        events::chat_to_users(
            &state.bus,
            chat.id,
            &chat.participant_ids(),
            ChatChange::Updated,
        );
        Ok(chat)
    }

    /// Adds people to a group; any participant may.
    async fn add_participants(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        user_ids: Vec<UserId>,
    ) -> Result<Chat, ApiError> {
        let me = viewer(ctx)?;
        add(ctx, me, chat_id, &user_ids).await
    }

    /// Adds one person to a group.
    async fn add_participant(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        user_id: UserId,
    ) -> Result<Chat, ApiError> {
        let me = viewer(ctx)?;
        add(ctx, me, chat_id, &[user_id]).await
    }

    /// Removes someone from a group (the owner only), or yourself: leaving. Their live
    /// views of the chat end at once.
    async fn remove_participant(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        user_id: UserId,
    ) -> Result<Chat, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        state.rate_limiter.check_user(Action::ChatChange, me)?;
        let logged = state.store.remove_participant(chat_id, me, user_id).await?;
        events::chat_changed(&state.bus, &state.store, chat_id, &[logged]).await?;
        let chat = chat_view(state, chat_id, Some(me).filter(|m| *m != user_id)).await?;
        let mut told = chat.participant_ids();
        told.push(user_id);
        events::chat_to_users(&state.bus, chat.id, &told, ChatChange::Updated);
        Ok(chat)
    }

    /// Accepts a chat someone started with you, or added you to, while you had not
    /// talked with them (a request): from now on you and its people see each other's
    /// presence, typing and reading. Accepting one you accepted changes nothing.
    async fn accept_chat(&self, ctx: &Context<'_>, chat_id: ChatId) -> Result<Chat, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        state.rate_limiter.check_user(Action::ChatChange, me)?;
        let changed = state
            .store
            .accept_chat(chat_id, me)
            .await
            .map_err(not_a_participant)?;
        let chat = chat_view(state, chat_id, Some(me)).await?;
        if changed {
            accepted(state, &chat, me).await;
        }
        Ok(chat)
    }

    /// Declines a request: a direct chat is hidden from you and its writer is not told
    /// (it comes back if you start a chat with them); a group is left.
    async fn decline_chat(&self, ctx: &Context<'_>, chat_id: ChatId) -> Result<bool, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        state.rate_limiter.check_user(Action::ChatChange, me)?;
        match state.store.participation(chat_id, me).await? {
            Some((_, Standing::Requested)) => {}
            Some(_) => {
                return Err(ApiError::bad_input("chatId", "is not a request to you"));
            }
            None => return Err(ApiError::Forbidden(NOT_A_PARTICIPANT)),
        }
        let chat = chat_view(state, chat_id, Some(me)).await?;
        match chat.kind {
            ChatKind::Direct => {
                state
                    .store
                    .decline_direct_chat(chat_id, me)
                    .await
                    .map_err(not_a_participant)?;
                events::chat_to_users(&state.bus, chat_id, &[me], ChatChange::Updated);
            }
            ChatKind::Group => {
                let logged = state.store.remove_participant(chat_id, me, me).await?;
                events::chat_changed(&state.bus, &state.store, chat_id, &[logged]).await?;
                let mut told = chat.participant_ids();
                told.retain(|u| *u != me);
                told.push(me);
                events::chat_to_users(&state.bus, chat_id, &told, ChatChange::Updated);
            }
        }
        Ok(true)
    }

    /// Mutes the chat for you (no notifications, its unread count without emphasis), or
    /// unmutes it. Yours alone: your other devices hear of it, nobody else does.
    async fn set_chat_muted(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        muted: bool,
    ) -> Result<Chat, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        state.rate_limiter.check_user(Action::ChatChange, me)?;
        participant(&state.store, chat_id, me).await?;
        state.store.set_muted(chat_id, me, muted).await?;
        events::chat_to_users(&state.bus, chat_id, &[me], ChatChange::Updated);
        chat_view(state, chat_id, Some(me)).await
    }
}

/// `ids` without duplicates and without `me`, in their order.
fn others(ids: &[UserId], me: UserId) -> Vec<UserId> {
    let mut seen = Vec::with_capacity(ids.len());
    for id in ids {
        if *id != me && !seen.contains(id) {
            seen.push(*id);
        }
    }
    seen
}

/// Refuses users who do not exist or are deactivated.
async fn require_active(
    state: &ServiceState,
    users: &[UserId],
    field: &str,
) -> Result<(), ApiError> {
    let active = state.store.active_users_among(users).await?;
    if active.len() != users.len() {
        return Err(ApiError::bad_input(
            field,
            "includes an unknown or deactivated user",
        ));
    }
    Ok(())
}

/// A store refusal of someone not in the chat, as a chat's data answers it.
fn not_a_participant(e: chat_store::StoreError) -> ApiError {
    match e {
        chat_store::StoreError::NotFound => ApiError::Forbidden(NOT_A_PARTICIPANT),
        e => e.into(),
    }
}

/// `me` accepted `chat`: everyone in it hears the chat changed (their presence lists
/// follow), and how far `me` has read is shown from now on.
async fn accepted(state: &ServiceState, chat: &Chat, me: UserId) {
    events::chat_to_users(
        &state.bus,
        chat.id,
        &chat.participant_ids(),
        ChatChange::Updated,
    );
    if let Some(read) = chat
        .participant(me)
        .and_then(|p| {
            Some(chat_types::ReadUpdate {
                chat_id: chat.id,
                user_id: me,
                last_read_seq: p.last_read_seq,
                read_at: p.read_at?,
            })
        })
        .filter(|r| r.last_read_seq > 0)
    {
        events::on_chat(&state.bus, chat.id, Event::ReadUpdated(read));
    }
}

async fn add(
    ctx: &Context<'_>,
    me: UserId,
    chat_id: ChatId,
    user_ids: &[UserId],
) -> Result<Chat, ApiError> {
    let state = state(ctx);
    state.rate_limiter.check_user(Action::ChatChange, me)?;
    let wanted = others(user_ids, me);
    require_active(state, &wanted, "userIds").await?;
    let (added, logged): (Vec<UserId>, Vec<i64>) = state
        .store
        .add_participants(chat_id, me, &wanted)
        .await?
        .into_iter()
        .unzip();
    events::chat_changed(&state.bus, &state.store, chat_id, &logged).await?;
    let chat = chat_view(state, chat_id, Some(me)).await?;
    if !added.is_empty() {
        let existing: Vec<UserId> = chat
            .participants
            .iter()
            .map(|p| p.user.id)
            .filter(|u| !added.contains(u))
            .collect();
        events::chat_to_users(&state.bus, chat.id, &added, ChatChange::Added);
        events::chat_to_users(&state.bus, chat.id, &existing, ChatChange::Updated);
    }
    Ok(chat)
}
