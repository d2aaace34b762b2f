//! Sending, editing and deleting messages.

use async_graphql::{Context, InputObject, Object};
use chat_store::{NewMessage, StoredMessage};
use chat_types::files::{Attachment, MAX_ATTACHMENTS};
use chat_types::validate::{ClientId, MessageContent};
use chat_types::{ChatId, FileId, Message, MessageId, UserId};
use server_core::access::{NOT_A_PARTICIPANT, participant};
use server_core::graphql::{state, viewer};
use server_core::rate_limit::Action;
use server_core::{ApiError, ServiceState};

use super::{mentions, sender};
use crate::events;

#[derive(InputObject)]
pub(crate) struct CreateMessageInput {
    chat_id: ChatId,
    content: String,
    /// Your key for this message: sending again with the same key returns the same
    /// message instead of writing a second one.
    client_id: Option<String>,
    /// The message this one answers, in the same chat.
    reply_to: Option<MessageId>,
    /// Your uploads to this chat (`POST /files`) that it carries; with files, the
    /// text may be empty.
    #[graphql(default)]
    files: Vec<FileId>,
}

#[derive(Default)]
pub(crate) struct MessageMutation;

#[Object]
impl MessageMutation {
    /// Sends a message. With a `clientId`, sending again returns the first message.
    async fn create_message(
        &self,
        ctx: &Context<'_>,
        input: CreateMessageInput,
    ) -> Result<Message, ApiError> {
        let me = viewer(ctx)?;
        state(ctx)
            .rate_limiter
            .check_user(Action::CreateMessage, me)?;
        let attachments = attached(state(ctx), input.chat_id, me, &input.files).await?;
        let content = if attachments.is_empty() || !input.content.trim().is_empty() {
            MessageContent::parse(&input.content)?.into_inner()
        } else {
            String::new()
        };
        let client_id = input
            .client_id
            .as_deref()
            .map(ClientId::parse)
            .transpose()?;
        let reply_to = match input.reply_to {
            Some(id) => {
                // Members only, before the message is looked up: whether an id is a
                // message of a chat is not for outsiders to learn.
                participant(&state(ctx).store, input.chat_id, me).await?;
                Some(answered(state(ctx), input.chat_id, id).await?)
            }
            None => None,
        };
        let mentions = mentions::decide(state(ctx), input.chat_id, me, &content).await?;
        let outcome = sender(ctx)
            .writer
            .write(NewMessage {
                chat_id: input.chat_id,
                sender_id: me,
                content,
                client_id: client_id.map(ClientId::into_inner),
                reply_to,
                mentions: mentions.named,
                mentions_all: mentions.everyone,
                attachments,
            })
            .await?;
        match outcome {
            StoredMessage::Created(message) => Ok((*message).clone()),
            // A retry answers the message as it is now: its files, reactions and all.
            StoredMessage::Existing(message) => Ok(state(ctx)
                .store
                .message(message.id)
                .await?
                .unwrap_or_else(|| (*message).clone())),
            StoredMessage::NotParticipant | StoredMessage::ChatNotFound => {
                Err(ApiError::Forbidden(NOT_A_PARTICIPANT))
            }
            StoredMessage::ClientIdReused => Err(ApiError::Conflict { field: "clientId" }),
            StoredMessage::FilesTaken => Err(files_refused("a file was sent with another message")),
        }
    }

    /// Changes your message's content.
    async fn update_message(
        &self,
        ctx: &Context<'_>,
        id: MessageId,
        content: String,
    ) -> Result<Message, ApiError> {
        let me = viewer(ctx)?;
        let content = MessageContent::parse(&content)?;
        let state = state(ctx);
        // Whom it mentions now, decided as for a new message (its chat read first; who
        // may edit it is decided in the edit's own transaction).
        let chat = state
            .store
            .message(id)
            .await?
            .ok_or(ApiError::NotFound("message"))?
            .chat_id;
        let mentions = mentions::decide(state, chat, me, content.as_str()).await?;
        let (message, logged) = state
            .store
            .edit_message(id, me, content.as_str(), &mentions.named, mentions.everyone)
            .await?;
        events::chat_changed(&state.bus, &state.store, message.chat_id, &[logged]).await?;
        Ok(message)
    }

    /// Deletes your message. It stays as a tombstone: same id and seq, no content.
    async fn remove_message(&self, ctx: &Context<'_>, id: MessageId) -> Result<Message, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        let (message, logged, files) = state.store.delete_message(id, me).await?;
        if let Some(logged) = logged {
            events::chat_changed(&state.bus, &state.store, message.chat_id, &[logged]).await?;
        }
        crate::upload::delete_bytes(state, &files).await;
        Ok(message)
    }
}

fn files_refused(message: &str) -> ApiError {
    ApiError::bad_input("files", message)
}

/// The files a new message names: at most [`MAX_ATTACHMENTS`], each once, each an
/// upload of `me`'s to `chat` not sent yet (whether another message takes one first is
/// settled in the message's write).
async fn attached(
    state: &ServiceState,
    chat: ChatId,
    me: UserId,
    ids: &[FileId],
) -> Result<Vec<Attachment>, ApiError> {
    if ids.len() > MAX_ATTACHMENTS {
        return Err(files_refused(&format!(
            "a message carries at most {MAX_ATTACHMENTS} files"
        )));
    }
    if ids.iter().enumerate().any(|(i, id)| ids[..i].contains(id)) {
        return Err(files_refused("a file is named twice"));
    }
    let found = state.store.unsent_uploads(chat, me, ids).await?;
    if found.len() != ids.len() {
        return Err(files_refused(
            "a file is not one of your uploads to this chat, or was sent already",
        ));
    }
    Ok(found)
}

async fn answered(
    state: &ServiceState,
    chat: ChatId,
    id: MessageId,
) -> Result<chat_types::Quote, ApiError> {
    // A message of another chat is answered like one that does not exist: nothing is
    // learnt about chats one is not in.
    let message = state
        .store
        .message(id)
        .await?
        .filter(|m| m.chat_id == chat)
        .ok_or_else(|| ApiError::bad_input("replyTo", "is not a message of this chat"))?;
    if message.is_deleted() {
        return Err(ApiError::bad_input("replyTo", "the message was deleted"));
    }
    Ok(chat_types::Quote::of(&message))
}
