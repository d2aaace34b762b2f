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
/// After a failed re-read, how long until the next try.
const RETRY_READ: Duration = Duration::from_secs(10);

/// What is known now of everyone `me` shares a chat with (who has not hidden it).
pub(crate) async fn around(state: &ServiceState, me: UserId) -> Result<Vec<Presence>, ApiError> {
    let contacts = state.store.presence_contacts(me).await?;
    state.bus.presence_of(&contacts).await.map_err(|e| {
        tracing::warn!(error = %chat_types::describe(&e), "presence not read");
        ApiError::Unavailable
    })
}

/// The changes of the presence topic that concern `me`: of people who share a chat
/// with them. Whether they hide their presence does not matter here: the services
/// publish nothing of someone hidden but the one change that says they left.
///
/// Who they are is read once as the subscription starts, and again now and then
/// ([`CONTACTS_FRESH`], spread per viewer) — never per event: one change reaches
/// thousands of subscribers at once, and a read each would swamp the database (the
/// presence benchmark saw every subscription fail that way). A failed re-read keeps
/// the list it had.
pub(crate) async fn changes(
    state: ServiceState,
    me: UserId,
    mut registration: Registration,
) -> Result<impl Stream<Item = Result<Presence, ApiError>>, ApiError> {
    let mut contacts: HashSet<UserId> = state.store.chat_contacts(me).await?.into_iter().collect();
    // Viewers who subscribed together do not all read again together.
    let spread = Duration::from_millis(u64::from(me.as_uuid().as_u128() as u16) % 30_000);
    let mut next_read = Instant::now() + CONTACTS_FRESH + spread;
    Ok(async_stream::stream! {
        while let Some(event) = registration.events.recv().await {
            let Some(presence) = kinds::PresenceChanged::pick(&event, me) else { continue };
            if Instant::now() >= next_read {
                match state.store.chat_contacts(me).await {
                    Ok(list) => {
                        contacts = list.into_iter().collect();
                        next_read = Instant::now() + CONTACTS_FRESH;
                    }
                    Err(e) => {
                        tracing::debug!(error = %chat_types::describe(&e), "presence contacts kept");
                        next_read = Instant::now() + RETRY_READ;
                    }
                }
            }
            if contacts.contains(&presence.user_id) {
                yield Ok(presence);
            }
        }
        if let Some(error) = registration.end().error() {
            yield Err(error);
        }
    })
}
