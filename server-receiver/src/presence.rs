//! Presence for one viewer: the people who share a chat with them, as the presence
//! book has them, and each change as it comes (`chat_types::presence`).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chat_types::UserId;
use chat_types::presence::Presence;
use futures::Stream;
use server_core::{ApiError, ServiceState};

use crate::hub::Registration;
use crate::kinds::{self, Kind};

/// How long a viewer's list of people is trusted before it is read again (chats
/// joined or left, people hiding their presence).
const CONTACTS_FRESH: Duration = Duration::from_secs(60);

/// What is known now of everyone `me` shares a chat with (who has not hidden it).
pub(crate) async fn around(state: &ServiceState, me: UserId) -> Result<Vec<Presence>, ApiError> {
    let contacts = state.store.presence_contacts(me).await?;
    state.bus.presence_of(&contacts).await.map_err(|e| {
        tracing::warn!(error = %chat_types::describe(&e), "presence not read");
        ApiError::Unavailable
    })
}

/// The changes of the presence topic that concern `me`: of people who share a chat
/// with them, as the database says now (read again every minute). Whether they hide
/// their presence does not matter here: the services publish nothing of someone
/// hidden but the one change that says they left.
pub(crate) fn changes(
    state: ServiceState,
    me: UserId,
    mut registration: Registration,
) -> impl Stream<Item = Result<Presence, ApiError>> {
    async_stream::stream! {
        let mut contacts: Option<(HashSet<UserId>, Instant)> = None;
        while let Some(event) = registration.events.recv().await {
            let Some(presence) = kinds::PresenceChanged::pick(&event, me) else { continue };
            if contacts.as_ref().is_none_or(|(_, read)| read.elapsed() > CONTACTS_FRESH) {
                match state.store.chat_contacts(me).await {
                    Ok(list) => contacts = Some((list.into_iter().collect(), Instant::now())),
                    Err(e) => {
                        yield Err(ApiError::from(e));
                        return;
                    }
                }
            }
            if contacts.as_ref().is_some_and(|(people, _)| people.contains(&presence.user_id)) {
                yield Ok(presence);
            }
        }
        if let Some(error) = registration.end().error() {
            yield Err(error);
        }
    }
}
