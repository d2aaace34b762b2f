//! The receiver's GraphQL schema: reads, and the live subscriptions.

use std::sync::Arc;

use async_graphql::{Context, Object, Subscription as SubscriptionObject};
use chat_store::Reached;
use chat_types::limits::REPLAY_PAGE;
use chat_types::presence::Presence;
use chat_types::search::{self, SearchHit, SearchQuery, SearchResults};
use chat_types::{
    Chat, ChatEvent, ChatEventKind, ChatId, MAX_PAGE_SIZE, Message, MessageId, MessagePage,
    MessageReadStatus, MessageVersion, ReadUpdate, Standing, Topic, TypingEvent, UnreadCount,
    UserId,
};
use futures::{Stream, StreamExt};
use server_core::access::participant;
use server_core::graphql::{state, viewer};
use server_core::rate_limit::Action;
use server_core::{ApiError, ServiceState};

use crate::hub::{Hub, Registration};
use crate::kinds::{self, Kind};

fn hub<'a>(ctx: &Context<'a>) -> &'a Arc<Hub> {
    ctx.data_unchecked::<Arc<Hub>>()
}

/// The message, if it exists and the viewer takes part in its chat.
async fn visible_message(
    state: &ServiceState,
    id: MessageId,
    me: UserId,
) -> Result<Message, ApiError> {
    let message = state
        .store
        .message(id)
        .await?
        .ok_or(ApiError::NotFound("message"))?;
    participant(&state.store, message.chat_id, me).await?;
    Ok(message)
}

pub struct Query;

#[Object]
impl Query {
    /// Your chats, latest activity first, each with its last message and your unread count.
    async fn chats(&self, ctx: &Context<'_>) -> Result<Vec<Chat>, ApiError> {
        let me = viewer(ctx)?;
        Ok(state(ctx).store.chats_for(me).await?)
    }

    async fn chat(&self, ctx: &Context<'_>, id: ChatId) -> Result<Option<Chat>, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        participant(&state.store, id, me).await?;
        Ok(state.store.chat(id, Some(me)).await?)
    }

    /// Messages of your chats (of `chatId` only, if given) with words that begin with
    /// each word of `query`, whatever the case, newest first; each with a snippet of it,
    /// its matches marked. Deleted messages are never found, edited ones by their text
    /// now. For the next page, `after` is this one's `endCursor`.
    async fn search_messages(
        &self,
        ctx: &Context<'_>,
        query: String,
        chat_id: Option<ChatId>,
        #[graphql(default_with = "Some(search::DEFAULT_RESULTS)")] first: Option<i64>,
        after: Option<MessageId>,
    ) -> Result<SearchResults, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        let first = first.unwrap_or(search::DEFAULT_RESULTS);
        if !(1..=search::MAX_RESULTS).contains(&first) {
            return Err(ApiError::bad_input(
                "first",
                format!("must be 1–{}", search::MAX_RESULTS),
            ));
        }
        let query = SearchQuery::parse(&query)?;
        state.rate_limiter.check_user(Action::Search, me)?;
        if let Some(chat) = chat_id {
            participant(&state.store, chat, me).await?;
        }
        // Its cost is the database's time: each 25 ms counts as one more search.
        let started = std::time::Instant::now();
        let found = state
            .store
            .replica(None)
            .await
            .search_messages(me, &query, chat_id, first, after)
            .await;
        let spent = started.elapsed().as_millis() / 25;
        state.rate_limiter.charge_user(
            Action::Search,
            me,
            u64::try_from(spent).unwrap_or(u64::MAX),
        );
        let found = found?;
        let hits: Vec<SearchHit> = found
            .messages
            .into_iter()
            .map(|message| SearchHit {
                snippet: search::snippet(&message.content, &query),
                message,
            })
            .collect();
        Ok(SearchResults {
            end_cursor: hits.last().map(|h| h.message.id),
            has_more: found.has_more,
            hits,
        })
    }

    /// Who is around among the people you share a chat with (those who hid it, or were
    /// never heard from, are missing). Someone not heard from for longer than
    /// `chat_types::presence::OFFLINE_AFTER` (150 s) is offline, whatever they last said.
    async fn presence(&self, ctx: &Context<'_>) -> Result<Vec<Presence>, ApiError> {
        let me = viewer(ctx)?;
        crate::presence::around(state(ctx), me).await
    }

    /// A page of a chat's messages, in ascending seq: the newest `limit` (before
    /// `beforeSeq` if given), the oldest `limit` after `afterSeq`, or `limit` around
    /// `aroundSeq` (a few before it, the rest from it on: where a reader left off).
    /// With the authors of the page and the chat's changes among its messages.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        before_seq: Option<i64>,
        after_seq: Option<i64>,
        around_seq: Option<i64>,
        #[graphql(default_with = "Some(chat_types::DEFAULT_PAGE_SIZE)")] limit: Option<i64>,
    ) -> Result<MessagePage, ApiError> {
        let me = viewer(ctx)?;
        let limit = limit.unwrap_or(chat_types::DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::bad_input(
                "limit",
                format!("must be 1–{MAX_PAGE_SIZE}"),
            ));
        }
        if around_seq.is_some() && (before_seq.is_some() || after_seq.is_some()) {
            return Err(ApiError::bad_input(
                "aroundSeq",
                "cannot be combined with beforeSeq or afterSeq",
            ));
        }
        let state = state(ctx);
        participant(&state.store, chat_id, me).await?;
        // Read before the page, on the primary: a change logged after it comes with
        // `chatEvents` after it, whatever the page already shows. The page itself may
        // come from a replica, one that has the chat this far.
        let ends = state
            .store
            .log_ends(&[chat_id])
            .await?
            .first()
            .map(|(_, ends)| *ends)
            .unwrap_or_default();
        let store = state
            .store
            .replica(Some(Reached {
                chat: chat_id,
                seq: ends.last_seq,
                event_seq: ends.last_event_seq,
            }))
            .await;
        let mut page = match around_seq {
            Some(around) => store.messages_around(chat_id, around, limit).await?,
            None => {
                store
                    .messages_page(chat_id, before_seq, after_seq, limit)
                    .await?
            }
        };
        page.last_event_seq = ends.last_event_seq;
        Ok(crate::timeline::complete(
            &store,
            chat_id,
            page,
            after_seq.or(before_seq.map(|b| b - 1)),
        )
        .await?)
    }

    async fn message(&self, ctx: &Context<'_>, id: MessageId) -> Result<Option<Message>, ApiError> {
        let me = viewer(ctx)?;
        Ok(Some(visible_message(state(ctx), id, me).await?))
    }

    /// Your unread count in each of your chats.
    async fn unread_counts(&self, ctx: &Context<'_>) -> Result<Vec<UnreadCount>, ApiError> {
        let me = viewer(ctx)?;
        Ok(state(ctx).store.unread_counts(me).await?)
    }

    async fn unread_count(&self, ctx: &Context<'_>, chat_id: ChatId) -> Result<i64, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        participant(&state.store, chat_id, me).await?;
        let unread = state.store.unread_count(chat_id, me).await?;
        Ok(unread.map_or(0, |u| u.unread_count))
    }

    /// Who has read a message: every participant (its author included) whose read
    /// watermark has reached it.
    async fn message_read_status(
        &self,
        ctx: &Context<'_>,
        message_id: MessageId,
    ) -> Result<MessageReadStatus, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        let message = visible_message(state, message_id, me).await?;
        Ok(state.store.read_status(&message).await?)
    }

    /// The chat's pinned messages, the most recently pinned first.
    async fn pinned_messages(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
    ) -> Result<Vec<Message>, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        participant(&state.store, chat_id, me).await?;
        Ok(state.store.pinned_messages(chat_id).await?)
    }

    /// An edited message's versions, oldest first: as sent, then as each edit left it.
    /// Empty when it was never edited, or was deleted.
    async fn message_history(
        &self,
        ctx: &Context<'_>,
        message_id: MessageId,
    ) -> Result<Vec<MessageVersion>, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        let message = visible_message(state, message_id, me).await?;
        Ok(state.store.message_versions(&message).await?)
    }
}

/// Joins a chat topic for the viewer, a participant.
async fn join_chat<K: Kind>(
    ctx: &Context<'_>,
    chat: ChatId,
) -> Result<(Registration, UserId), ApiError> {
    let me = viewer(ctx)?;
    let registration = hub(ctx).join::<K>(&state(ctx).store, chat, me).await?;
    Ok((registration, me))
}

/// A stream of what kind `K` picks from the registration's events.
fn events<K: Kind>(
    mut registration: Registration,
    me: UserId,
) -> impl Stream<Item = Result<K::Item, ApiError>> {
    async_stream::stream! {
        while let Some(event) = registration.events.recv().await {
            if let Some(item) = K::pick(&event, me) {
                yield Ok(item);
            }
        }
        if let Some(error) = registration.end().error() {
            yield Err(error);
        }
    }
}

pub struct Subscription;

#[SubscriptionObject]
impl Subscription {
    /// The chat's messages in seq order, each once. With `afterSeq`, the ones after it
    /// come first (from the database), then the live ones, with nothing lost between.
    async fn message_added(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        after_seq: Option<i64>,
    ) -> Result<impl Stream<Item = Result<Arc<Message>, ApiError>>, ApiError> {
        let (mut registration, me) = join_chat::<kinds::MessageAdded>(ctx, chat_id).await?;
        let state = state(ctx).clone();
        if let Some(after) = after_seq {
            let newest = newest(&state, chat_id).await?.last_seq;
            reached("afterSeq", after, newest)?;
        }
        let hub = hub(ctx).clone();
        Ok(async_stream::stream! {
            let mut last = after_seq.unwrap_or(registration.watermark);
            loop {
                // What the client has not seen yet and the hub will not send: from the
                // database (a replica, once it has the chat up to the watermark). The hub
                // sends everything after its watermark.
                let replay = if last < registration.watermark {
                    let reached = Reached { chat: chat_id, seq: registration.watermark, event_seq: 0 };
                    state.store.replica(Some(reached)).await
                } else {
                    state.store.clone()
                };
                while last < registration.watermark {
                    match replay.messages_page(chat_id, None, Some(last), REPLAY_PAGE).await {
                        Ok(page) => {
                            for message in page.messages {
                                last = message.seq;
                                yield Ok(Arc::new(message));
                            }
                            if !page.has_more {
                                break;
                            }
                        }
                        Err(e) => {
                            yield Err(ApiError::from(e));
                            return;
                        }
                    }
                }
                while let Some(event) = registration.events.recv().await {
                    let Some(message) = kinds::MessageAdded::pick(&event, me) else { continue };
                    if message.seq <= last {
                        continue;
                    }
                    last = message.seq;
                    yield Ok(message.clone());
                }
                // Fell behind: join again and catch up from the database.
                let end = registration.end();
                match hub.rejoin::<kinds::MessageAdded>(end, &state.store, chat_id, me).await {
                    Ok(again) => registration = again,
                    Err(error) => {
                        if let Some(error) = error {
                            yield Err(error);
                        }
                        return;
                    }
                }
            }
        })
    }

    /// The chat's messages as they are edited, each once, in the order of the chat's
    /// log. With `afterEventSeq`, the edits logged after it come first (from the
    /// database, each message as it is now), then the live ones.
    async fn message_updated(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        after_event_seq: Option<i64>,
    ) -> Result<impl Stream<Item = Result<Arc<Message>, ApiError>>, ApiError> {
        let log = chat_log(ctx, chat_id, after_event_seq).await?;
        Ok(changed_messages(log, ChatEventKind::Edited))
    }

    /// The chat's messages as they are deleted (their tombstones), like
    /// `messageUpdated`.
    async fn message_deleted(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        after_event_seq: Option<i64>,
    ) -> Result<impl Stream<Item = Result<Arc<Message>, ApiError>>, ApiError> {
        let log = chat_log(ctx, chat_id, after_event_seq).await?;
        Ok(changed_messages(log, ChatEventKind::Deleted))
    }

    /// Read watermarks moving in the chat (read receipts): each move forward once, never
    /// one backwards. With `current`, first how far each member has read now (who has
    /// read anything): a watermark is state, so the moves a returning reader missed fold
    /// into it.
    async fn message_read_updated(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        current: Option<bool>,
    ) -> Result<impl Stream<Item = Result<ReadUpdate, ApiError>>, ApiError> {
        // Joined before reading, so a move between the two arrives one way or both.
        let (registration, me) = join_chat::<kinds::ReadUpdated>(ctx, chat_id).await?;
        let now = match current {
            Some(true) => crate::receipts::read_watermarks(state(ctx), chat_id, me).await?,
            _ => Vec::new(),
        };
        let live = events::<kinds::ReadUpdated>(registration, me);
        Ok(crate::receipts::forward_only(now, live))
    }

    /// Others typing in the chat (at most one event per person every two seconds; none
    /// while the chat is a request to you).
    async fn typing(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
    ) -> Result<impl Stream<Item = Result<TypingEvent, ApiError>>, ApiError> {
        let (registration, me) = join_chat::<kinds::Typing>(ctx, chat_id).await?;
        let live = events::<kinds::Typing>(registration, me);
        crate::typing::for_viewer(state(ctx).clone(), chat_id, me, live).await
    }

    /// The chat's logged changes (edits, deletes, renames, people added, left or
    /// removed), in `eventSeq` order, each once. With `afterEventSeq`, the ones after
    /// it come first (from the database), then the live ones.
    async fn chat_events(
        &self,
        ctx: &Context<'_>,
        chat_id: ChatId,
        after_event_seq: Option<i64>,
    ) -> Result<impl Stream<Item = Result<Arc<ChatEvent>, ApiError>>, ApiError> {
        chat_log(ctx, chat_id, after_event_seq).await
    }

    /// Chats you are added to.
    async fn chat_added(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<Chat, ApiError>>, ApiError> {
        let (registration, me) = join_user::<kinds::ChatAdded>(ctx).await?;
        Ok(chats_as_seen::<kinds::ChatAdded>(
            state(ctx).clone(),
            me,
            registration,
        ))
    }

    /// Changes to your chats: names, participants (a chat you left arrives once more,
    /// without you in it).
    async fn chat_updated(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<Chat, ApiError>>, ApiError> {
        let (registration, me) = join_user::<kinds::ChatUpdated>(ctx).await?;
        Ok(chats_as_seen::<kinds::ChatUpdated>(
            state(ctx).clone(),
            me,
            registration,
        ))
    }

    /// Your unread count of a chat, whenever it changes.
    async fn unread_count_updated(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<UnreadCount, ApiError>>, ApiError> {
        let (registration, me) = join_user::<kinds::Unread>(ctx).await?;
        Ok(events::<kinds::Unread>(registration, me))
    }

    /// New messages in any of your chats, for the chat list. Under load, a burst in one
    /// chat may arrive as its newest message only.
    async fn chat_message_notification(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<Arc<Message>, ApiError>>, ApiError> {
        let (registration, me) = join_user::<kinds::Notification>(ctx).await?;
        Ok(events::<kinds::Notification>(registration, me))
    }

    /// Someone you share a chat with came online, went away or left. Going quiet is
    /// never announced: judge `lastHeardAt` against the offline threshold yourself.
    async fn presence_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<Presence, ApiError>>, ApiError> {
        let me = viewer(ctx)?;
        let registration = hub(ctx)
            .register(
                Topic::Presence,
                me,
                kinds::filter::<kinds::PresenceChanged>(),
            )
            .await?;
        let (my_chats, _) = join_user::<kinds::ChatsChanged>(ctx).await?;
        crate::presence::changes(state(ctx).clone(), me, registration, my_chats).await
    }

    /// New messages that mention you, by name or with a group owner's `@all`: each
    /// one, as it is sent (an edit that adds your name counts in `unreadMentions` but is
    /// not announced again).
    async fn mentioned(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<Arc<Message>, ApiError>>, ApiError> {
        let (registration, me) = join_user::<kinds::Mention>(ctx).await?;
        Ok(events::<kinds::Mention>(registration, me))
    }
}

/// The chat's log for the viewer, a participant: after `after_event_seq`, or from now.
async fn chat_log(
    ctx: &Context<'_>,
    chat_id: ChatId,
    after_event_seq: Option<i64>,
) -> Result<impl Stream<Item = Result<Arc<ChatEvent>, ApiError>> + use<>, ApiError> {
    let (registration, me) = join_chat::<kinds::ChatChanged>(ctx, chat_id).await?;
    let store = state(ctx).store.clone();
    // Read after joining: a change logged in between arrives live and is not doubled.
    let newest = newest(state(ctx), chat_id).await?.last_event_seq;
    let start = match after_event_seq {
        Some(after) => reached("afterEventSeq", after, newest)?,
        None => newest,
    };
    Ok(crate::timeline::chat_events(
        store,
        hub(ctx).clone(),
        chat_id,
        start,
        registration,
        me,
    ))
}

/// The chat as it is now (its newest seq and eventSeq).
async fn newest(state: &ServiceState, chat_id: ChatId) -> Result<Chat, ApiError> {
    state
        .store
        .chat(chat_id, None)
        .await?
        .ok_or(ApiError::NotFound("chat"))
}

/// `after`, if the chat has reached it. A resume point past the chat's end (from a
/// database restored from an older backup, or a client's state gone wrong) would wait
/// for changes that never come and skip the ones that do: refused, so the client
/// reads the chat again.
fn reached(field: &str, after: i64, newest: i64) -> Result<i64, ApiError> {
    if after < 0 {
        return Err(ApiError::bad_input(field, "must not be negative"));
    }
    if after > newest {
        return Err(ApiError::bad_input(
            field,
            format!("is past the chat's end ({newest}); read the chat again"),
        ));
    }
    Ok(after)
}

/// The messages that `kind` changes logged in the chat changed, as they are now.
fn changed_messages(
    log: impl Stream<Item = Result<Arc<ChatEvent>, ApiError>>,
    kind: ChatEventKind,
) -> impl Stream<Item = Result<Arc<Message>, ApiError>> {
    log.filter_map(move |event| {
        std::future::ready(match event {
            Ok(event) if event.kind == kind => event.message.clone().map(|m| Ok(Arc::new(m))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
    })
}

/// The chats a user's `chatAdded` / `chatUpdated` events name, read as the user sees
/// them now (their unread count; without them, if they just left).
fn chats_as_seen<K: Kind<Item = ChatId>>(
    state: ServiceState,
    me: UserId,
    mut registration: Registration,
) -> impl Stream<Item = Result<Chat, ApiError>> {
    async_stream::stream! {
        while let Some(event) = registration.events.recv().await {
            let Some(chat_id) = K::pick(&event, me) else { continue };
            match as_seen_by(&state, chat_id, me).await {
                Ok(Some(chat)) => yield Ok(chat),
                Ok(None) => {}
                Err(e) => yield Err(e),
            }
        }
        if let Some(error) = registration.end().error() {
            yield Err(error);
        }
    }
}

/// The chat as `me` sees it. A direct request they declined is hidden from them, so it
/// comes without them in it, as a chat they left does: every tab of theirs drops it,
/// whichever arrives first, the decline's answer or this.
async fn as_seen_by(
    state: &ServiceState,
    chat_id: ChatId,
    me: UserId,
) -> Result<Option<Chat>, ApiError> {
    let Some(mut chat) = state.store.chat(chat_id, Some(me)).await? else {
        return Ok(None);
    };
    let pending = chat
        .participants
        .iter()
        .any(|p| p.user.id == me && !p.accepted);
    if pending && let Some((_, Standing::Declined)) = state.store.participation(chat_id, me).await?
    {
        chat.participants.retain(|p| p.user.id != me);
    }
    Ok(Some(chat))
}

async fn join_user<K: Kind>(ctx: &Context<'_>) -> Result<(Registration, UserId), ApiError> {
    let me = viewer(ctx)?;
    let registration = hub(ctx)
        .register(Topic::User(me), me, kinds::filter::<K>())
        .await?;
    Ok((registration, me))
}
