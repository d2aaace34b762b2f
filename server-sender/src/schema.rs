//! The sender's GraphQL schema: every mutation of chats and messages.

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object};
use chat_store::{ChatChangeError, EditError, NewChat, NewMessage, Started, StoredMessage};
use chat_types::emoji::{Emoji, MAX_REACTIONS_PER_MESSAGE};
use chat_types::files::{Attachment, MAX_ATTACHMENTS};
use chat_types::presence::PresenceStatus;
use chat_types::validate::{ChatName, ClientId, Description, MessageContent, check_group_size};
use chat_types::{
    Chat, ChatId, ChatKind, Event, FileId, Message, MessageId, Standing, TypingEvent, UnreadCount,
    UserId,
};
use server_core::access::{NOT_A_PARTICIPANT, participant};
use server_core::graphql::{state, viewer};
use server_core::rate_limit::Action;
use server_core::{ApiError, ServiceState};

use crate::Sender;
use crate::events::{self, ChatChange};

/// The most people one message mentions (more names stay text).
const MAX_MENTIONS: usize = 50;

pub struct Query;

#[Object]
impl Query {
    /// Always true. The sender serves mutations; reads go to the receiver.
    async fn health(&self) -> bool {
        true
    }
}

#[derive(InputObject)]
pub(crate) struct CreateChatInput {
    /// The group's name (required for groups; direct chats have none).
    name: Option<String>,
    description: Option<String>,
    kind: ChatKind,
    /// Everyone else in the chat; you join as its owner.
    participant_ids: Vec<UserId>,
}

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

pub struct Mutation;

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

/// What a refused change to a chat answers (`field`: the argument a size limit is
/// about).
fn change_error(e: ChatChangeError, field: &'static str) -> ApiError {
    match e {
        ChatChangeError::NotParticipant => ApiError::Forbidden(NOT_A_PARTICIPANT),
        ChatChangeError::NotOwner => ApiError::Forbidden("only the group's owner may do this"),
        ChatChangeError::Direct => ApiError::bad_input(
            "chatId",
            "a direct chat always has exactly its two participants and no name",
        ),
        ChatChangeError::TooMany => ApiError::BadInput(
            chat_types::validate::check_group_size(usize::MAX)
                .unwrap_err()
                .for_field(field),
        ),
        ChatChangeError::NotMember => ApiError::NotFound("participant"),
        ChatChangeError::Store(e) => e.into(),
    }
}

fn edit_error(e: EditError) -> ApiError {
    match e {
        EditError::NotFound => ApiError::NotFound("message"),
        EditError::NotParticipant => ApiError::Forbidden("you are not a participant of this chat"),
        EditError::NotAuthor => ApiError::Forbidden("only the author may change a message"),
        EditError::NotOwner => ApiError::Forbidden("only the group's owners may pin messages"),
        EditError::Deleted => ApiError::bad_input("id", "the message was deleted"),
        EditError::TooManyReactions => ApiError::bad_input(
            "emoji",
            format!("a message has at most {MAX_REACTIONS_PER_MESSAGE} different reactions"),
        ),
        EditError::Store(e) => e.into(),
    }
}

#[Object]
impl Mutation {
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
            return Err(ApiError::Forbidden(
                "you are not a participant of this chat",
            ));
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
            .await
            .map_err(|e| change_error(e, "chatId"))?;
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
        let logged = state
            .store
            .remove_participant(chat_id, me, user_id)
            .await
            .map_err(|e| change_error(e, "userId"))?;
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
                let logged = state
                    .store
                    .remove_participant(chat_id, me, me)
                    .await
                    .map_err(|e| change_error(e, "chatId"))?;
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

    /// Says you are around (`ACTIVE`) or stepped away (`AWAY`): a client says so once a
    /// minute while it is open, and at once when its tab is hidden or shown. Nothing is
    /// kept for someone who hid their presence.
    async fn report_presence(
        &self,
        ctx: &Context<'_>,
        status: PresenceStatus,
    ) -> Result<bool, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        if status == PresenceStatus::Offline {
            return Err(ApiError::bad_input(
                "status",
                "is ACTIVE or AWAY (closing the app says OFFLINE by itself)",
            ));
        }
        state.rate_limiter.check_user(Action::Presence, me)?;
        server_core::presence::report(state, me, status).await?;
        Ok(true)
    }

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
        // Names of members only, and not oneself: the rest stays text.
        let names = mentioned_in(&content);
        let mentions_all = names.iter().any(|n| n == chat_types::format::EVERYONE)
            && state(ctx).store.owns_group(input.chat_id, me).await?;
        let mentions: Vec<chat_types::Mention> = state(ctx)
            .store
            .members_named(input.chat_id, &names)
            .await?
            .into_iter()
            .filter(|m| m.user_id != me)
            .collect();
        let outcome = sender(ctx)
            .writer
            .write(NewMessage {
                chat_id: input.chat_id,
                sender_id: me,
                content,
                client_id: client_id.map(ClientId::into_inner),
                reply_to,
                mentions,
                mentions_all,
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
        let (message, logged) = state
            .store
            .edit_message(id, me, content.as_str(), &mentioned(&content))
            .await
            .map_err(edit_error)?;
        events::chat_changed(&state.bus, &state.store, message.chat_id, &[logged]).await?;
        Ok(message)
    }

    /// Deletes your message. It stays as a tombstone: same id and seq, no content.
    async fn remove_message(&self, ctx: &Context<'_>, id: MessageId) -> Result<Message, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        let (message, logged, files) = state
            .store
            .delete_message(id, me)
            .await
            .map_err(edit_error)?;
        if let Some(logged) = logged {
            events::chat_changed(&state.bus, &state.store, message.chat_id, &[logged]).await?;
        }
        crate::upload::delete_bytes(state, &files).await;
        Ok(message)
    }

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

    /// Marks the chat read up to `upToSeq` (default: everything). Never moves back.
    async fn mark_as_read(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        up_to_seq: Option<i64>,
    ) -> Result<UnreadCount, ApiError> {
        let me = viewer(ctx)?;
        if up_to_seq.is_some_and(|seq| seq < 0) {
            return Err(ApiError::bad_input("upToSeq", "must not be negative"));
        }
        let state = state(ctx);
        let standing = standing(state, chat_id, me).await?;
        let (unread, moved) =
            state
                .store
                .mark_read(chat_id, me, up_to_seq)
                .await?
                .ok_or(ApiError::Forbidden(
                    "you are not a participant of this chat",
                ))?;
        events::on_user(&state.bus, me, Event::UnreadCountUpdated(unread.clone()));
        // A request's reading is its reader's own until they accept it.
        if let Some(read) = moved.filter(|_| standing == Standing::Accepted) {
            events::on_chat(&state.bus, chat_id, Event::ReadUpdated(read));
        }
        Ok(unread)
    }

    /// Tells the chat you are typing; at most one event per two seconds goes out, and
    /// none while the chat is a request to you.
    async fn send_typing(&self, ctx: &Context<'_>, chat_id: ChatId) -> Result<bool, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        state.rate_limiter.check_user(Action::SendTyping, me)?;
        let standing = standing(state, chat_id, me).await?;
        if standing == Standing::Accepted && sender(ctx).typing.allow(chat_id, me) {
            let user = state
                .store
                .user_by_id(me)
                .await?
                .ok_or(ApiError::Unauthenticated)?;
            let typing = TypingEvent {
                chat_id,
                user_id: me,
                display_name: user.display_name,
                at: chrono::Utc::now(),
            };
            events::on_chat(&state.bus, chat_id, Event::Typing(typing));
        }
        Ok(true)
    }
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

/// The usernames a message's text mentions, at most `MAX_MENTIONS` of them.
fn mentioned(content: &MessageContent) -> Vec<String> {
    mentioned_in(content.as_str())
}

fn mentioned_in(content: &str) -> Vec<String> {
    let mut names = chat_types::format::mentioned(content);
    names.truncate(MAX_MENTIONS);
    names
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
        e => edit_error(e),
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
            e => edit_error(e),
        })?;
    if let Some(logged) = logged {
        events::chat_changed(&state.bus, &state.store, message.chat_id, &[logged]).await?;
    }
    Ok(message)
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
        .await
        .map_err(|e| change_error(e, "userIds"))?
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
