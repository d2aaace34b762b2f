//! Read receipts as a stream: a read watermark is state, not history, so it is not in
//! the chat's log. A returning reader asks for the watermarks as they are now, then
//! hears each move forward once; the moves it missed fold into where each reader is.

use std::collections::HashMap;

use chat_types::{ChatId, ReadUpdate, UserId};
use futures::{Stream, StreamExt};
use server_core::{ApiError, ServiceState};

/// How far each member of the chat who has read anything has read.
pub(crate) async fn read_watermarks(
    state: &ServiceState,
    chat_id: ChatId,
    me: UserId,
) -> Result<Vec<ReadUpdate>, ApiError> {
    let chat = state
        .store
        .chat(chat_id, Some(me))
        .await?
        .ok_or(ApiError::NotFound("chat"))?;
    Ok(chat
        .participants
        .into_iter()
        .filter(|p| p.last_read_seq > 0)
        .filter_map(|p| {
            Some(ReadUpdate {
                chat_id,
                user_id: p.user.id,
                last_read_seq: p.last_read_seq,
                read_at: p.read_at?,
            })
        })
        .collect())
}

/// `first`, then the `live` watermark moves, each reader's only as it goes forward:
/// what `first` already said, or an event heard twice, is not repeated.
pub(crate) fn forward_only(
    first: Vec<ReadUpdate>,
    live: impl Stream<Item = Result<ReadUpdate, ApiError>>,
) -> impl Stream<Item = Result<ReadUpdate, ApiError>> {
    let mut furthest = HashMap::new();
    futures::stream::iter(first.into_iter().map(Ok))
        .chain(live)
        .filter(move |item| {
            let pass = match item {
                Ok(read) => moves_forward(&mut furthest, read),
                Err(_) => true,
            };
            std::future::ready(pass)
        })
}

/// Whether `read` takes its reader further than `furthest` has them; if so, notes it.
fn moves_forward(furthest: &mut HashMap<UserId, i64>, read: &ReadUpdate) -> bool {
    let seen = furthest.entry(read.user_id).or_insert(0);
    let forward = read.last_read_seq > *seen;
    *seen = (*seen).max(read.last_read_seq);
    forward
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watermark_is_passed_on_only_when_it_moves_forward() {
        let (ann, bo) = (
            UserId::from(uuid::Uuid::from_u128(1)),
            UserId::from(uuid::Uuid::from_u128(2)),
        );
        let read = |user_id, last_read_seq| ReadUpdate {
            chat_id: ChatId::from(uuid::Uuid::from_u128(3)),
            user_id,
            last_read_seq,
            read_at: chrono::Utc::now(),
        };
        let mut furthest = HashMap::new();
        let passed: Vec<bool> = [(ann, 3), (bo, 2), (ann, 3), (ann, 2), (bo, 5), (ann, 4)]
            .into_iter()
            .map(|(user, seq)| moves_forward(&mut furthest, &read(user, seq)))
            .collect();
        assert_eq!(passed, [true, true, false, false, true, true]);
    }
}
