//! Presence (`chat_types::presence`) as the services keep it: what a person reports
//! of themselves, and their connections opening and closing. What is news is published
//! on the presence topic; whoever hid their presence is never heard of.

use chat_types::presence::{Presence, PresenceStatus};
use chat_types::{BusEvent, Event, Topic, UserId};
use chrono::Utc;

use crate::{ApiError, ServiceState};

/// `user` says they are `status` (from `reportPresence`).
pub async fn report(
    state: &ServiceState,
    user: UserId,
    status: PresenceStatus,
) -> Result<(), ApiError> {
    if state.store.presence_hidden(user).await? {
        return Ok(());
    }
    let news = state
        .bus
        .presence_heard(user, status, Utc::now())
        .await
        .map_err(|e| {
            tracing::warn!(error = %chat_types::describe(&e), "presence not recorded");
            ApiError::Unavailable
        })?;
    if let Some(news) = news {
        publish(state, news);
    }
    Ok(())
}

/// A WebSocket of `user` was accepted.
pub async fn connected(state: &ServiceState, user: UserId) {
    if let Err(e) = state.bus.presence_connected(user).await {
        tracing::warn!(error = %chat_types::describe(&e), "presence: a connection not counted");
    }
}

/// A WebSocket of `user` closed: with their last one, they left — recorded and told
/// unless they hide their presence, in which case nothing is recorded at all (a
/// last-heard time written while hidden would show once they stop hiding).
pub async fn disconnected(state: &ServiceState, user: UserId) {
    let left = match state.bus.presence_disconnected(user).await {
        Ok(left) => left,
        Err(e) => {
            tracing::warn!(error = %chat_types::describe(&e), "presence: a closed connection not counted");
            return;
        }
    };
    if left > 0 || !matches!(state.store.presence_hidden(user).await, Ok(false)) {
        return;
    }
    match state
        .bus
        .presence_heard(user, PresenceStatus::Offline, Utc::now())
        .await
    {
        Ok(Some(news)) => publish(state, news),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %chat_types::describe(&e), "presence: leaving not recorded")
        }
    }
}

/// `user` hid their presence (or showed it again): hidden, it is forgotten, and the
/// people around them see them leave.
pub async fn hidden(state: &ServiceState, user: UserId, hidden: bool) {
    if !hidden {
        return;
    }
    if let Err(e) = state.bus.presence_forget(user).await {
        tracing::warn!(error = %chat_types::describe(&e), "presence not forgotten");
    }
    publish(
        state,
        Presence {
            user_id: user,
            status: PresenceStatus::Offline,
            last_heard_at: Utc::now(),
        },
    );
}

fn publish(state: &ServiceState, presence: Presence) {
    state.bus.publish(
        &Topic::Presence,
        &BusEvent::new(Event::PresenceChanged(presence)),
    );
}
