//! Typing as a viewer gets it: nothing while the chat is a request to them (until they
//! accept it, neither side sees the other type; the sender sends none of theirs).

use std::time::Duration;

use chat_types::{ChatId, Standing, TypingEvent, UserId};
use futures::{Stream, StreamExt};
use server_core::{ApiError, ServiceState};
use tokio::time::Instant;

/// How often a viewer who has not accepted the chat is looked up again, at most (and
/// only when someone types): they may accept it meanwhile.
const RECHECK_AFTER: Duration = Duration::from_secs(2);

/// `live` for `me` in `chat`: passed on as it is once they have accepted the chat.
pub(crate) async fn for_viewer(
    state: ServiceState,
    chat: ChatId,
    me: UserId,
    live: impl Stream<Item = Result<TypingEvent, ApiError>> + Send + 'static,
) -> Result<impl Stream<Item = Result<TypingEvent, ApiError>>, ApiError> {
    let mut accepted = accepted(&state, chat, me).await?;
    let mut checked = Instant::now();
    Ok(async_stream::stream! {
        futures::pin_mut!(live);
        while let Some(item) = live.next().await {
            if !accepted && item.is_ok() && checked.elapsed() >= RECHECK_AFTER {
                checked = Instant::now();
                accepted = accepted_now(&state, chat, me).await;
            }
            if accepted || item.is_err() {
                yield item;
            }
        }
    })
}

async fn accepted(state: &ServiceState, chat: ChatId, me: UserId) -> Result<bool, ApiError> {
    Ok(matches!(
        state.store.participation(chat, me).await?,
        Some((_, Standing::Accepted))
    ))
}

/// [`accepted`], a failed read counting as not yet.
async fn accepted_now(state: &ServiceState, chat: ChatId, me: UserId) -> bool {
    accepted(state, chat, me).await.unwrap_or(false)
}
