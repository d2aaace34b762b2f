//! What a reader says of themselves: how far they have read, that they are typing,
//! that they are around.

use async_graphql::{Context, Object};
use chat_types::presence::PresenceStatus;
use chat_types::{ChatId, Event, Standing, TypingEvent, UnreadCount};
use server_core::ApiError;
use server_core::graphql::{state, viewer};
use server_core::rate_limit::Action;

use super::{sender, standing};
use crate::events;

#[derive(Default)]
pub(crate) struct ReadMutation;

#[Object]
impl ReadMutation {
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
        let (unread, moved) = state
            .store
            .mark_read(chat_id, me, up_to_seq)
            .await?
            .ok_or(ApiError::Forbidden(server_core::access::NOT_A_PARTICIPANT))?;
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
}
