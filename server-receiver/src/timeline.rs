//! What a chat's timeline shows besides messages: the authors of a page (people who
//! left keep their names) and the chat's changes among its messages, as a page and as a
//! live stream.

use std::sync::Arc;

use chat_store::{Reached, Store, StoreResult};
use chat_types::limits::REPLAY_PAGE;
use chat_types::{ChatEvent, ChatId, MessagePage, UserId};
use futures::Stream;
use server_core::ApiError;

use crate::hub::{Hub, Registration};
use crate::kinds::{self, Kind};

/// Fills in a page's `hasNewer`, `authors` and `events`. `anchor` is where an empty
/// page was asked for (the seq it comes after), if anywhere.
pub(crate) async fn complete(
    store: &Store,
    chat: ChatId,
    mut page: MessagePage,
    anchor: Option<i64>,
) -> StoreResult<MessagePage> {
    let newest = store.last_seq(chat).await?.unwrap_or(0);
    let (first, last) = match (page.messages.first(), page.messages.last()) {
        (Some(first), Some(last)) => (first.seq, last.seq),
        // No messages here: the changes since the anchor (all of them in a chat
        // without messages).
        _ => {
            let at = anchor.unwrap_or(newest);
            (at + 1, at)
        }
    };
    page.has_newer = last < newest;
    // An event with after_seq = s sits between message s and s + 1: this page shows
    // those from just before its first message to just after its last, and reaches
    // the chat's start or end when nothing lies beyond it.
    let from = (first > 1).then_some(first - 1);
    let to = page.has_newer.then_some(last);
    page.events = store.chat_events_among(chat, from, to).await?;
    let mut authors: Vec<UserId> = page.messages.iter().map(|m| m.sender_id).collect();
    authors.sort_unstable();
    authors.dedup();
    page.authors = store.user_summaries(&authors).await?;
    Ok(page)
}

/// The chat's logged changes after `start`: from the database first, then live from
/// the hub, each once and in `eventSeq` order; a stream that fell behind joins again
/// (checking participation) and catches up.
///
/// Gaps are the hub's to fill, not this stream's: a registration gets every change
/// after its `event_watermark` without a gap (a change the bus lost or reordered is
/// read from the log first: `hub/order.rs`), and the replay, which reads the log to
/// its end, reaches that watermark (the hub never delivers a change before it is
/// logged). So the live changes only skip what the replay already gave.
pub(crate) fn chat_events(
    store: Store,
    hub: Arc<Hub>,
    chat: ChatId,
    start: i64,
    mut registration: Registration,
    me: UserId,
) -> impl Stream<Item = Result<Arc<ChatEvent>, ApiError>> {
    async_stream::stream! {
        let mut last = start;
        loop {
            // From a replica, once it has the log as far as the hub goes on from.
            let reached = Reached { chat, seq: 0, event_seq: registration.event_watermark };
            let replay = store.replica(Some(reached)).await;
            loop {
                match replay.chat_events_after(chat, last, REPLAY_PAGE).await {
                    Ok(events) => {
                        let done = (events.len() as i64) < REPLAY_PAGE;
                        for event in events {
                            last = event.event_seq;
                            yield Ok(Arc::new(event));
                        }
                        if done {
                            break;
                        }
                    }
                    Err(e) => {
                        yield Err(ApiError::from(e));
                        return;
                    }
                }
            }
            debug_assert!(last >= registration.event_watermark, "the replay reaches where the hub goes on");
            while let Some(event) = registration.events.recv().await {
                let Some(event) = kinds::ChatChanged::pick(&event, me) else { continue };
                if event.event_seq <= last {
                    continue;
                }
                debug_assert_eq!(event.event_seq, last + 1, "the hub delivers changes without gaps");
                last = event.event_seq;
                yield Ok(event.clone());
            }
            let end = registration.end();
            match hub.rejoin::<kinds::ChatChanged>(end, &store, chat, me).await {
                Ok(again) => registration = again,
                Err(error) => {
                    if let Some(error) = error {
                        yield Err(error);
                    }
                    return;
                }
            }
        }
    }
}
