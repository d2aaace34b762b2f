//! Sessions held open by WebSockets, and the sweep that ends revoked ones even when
//! the news of the revocation was lost.
//!
//! A revocation (logout, password change, deactivation) is durable: it moves the
//! user's token version in the database. It is also announced on the bus, so sockets
//! usually hear of it at once; but a bus event can be lost (Redis away, a queue full,
//! the announcing instance gone). So every open session is registered here with its
//! token's version, and twice a second one read per 500 users compares them with the
//! database. A user whose version moved on (or who was deactivated) is announced
//! again, here, and their sockets check themselves and close.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chat_store::Store;
use chat_types::UserId;
use rustc_hash::FxHashMap;

/// How often open sessions are compared with the database.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

/// The sessions held open on this process: per user, how many of each token version.
#[derive(Debug, Default)]
pub struct OpenSessions(Mutex<FxHashMap<UserId, FxHashMap<i64, usize>>>);

impl OpenSessions {
    /// Registers a session of `user` with a token of `version` until the hold drops.
    pub fn hold(self: &Arc<Self>, user: UserId, version: i64) -> SessionHold {
        *self
            .lock()
            .entry(user)
            .or_default()
            .entry(version)
            .or_default() += 1;
        SessionHold {
            sessions: self.clone(),
            user,
            version,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FxHashMap<UserId, FxHashMap<i64, usize>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Each user with an open session, and the oldest token version among them.
    fn oldest_versions(&self) -> Vec<(UserId, i64)> {
        self.lock()
            .iter()
            .filter_map(|(user, versions)| Some((*user, *versions.keys().min()?)))
            .collect()
    }
}

/// The users among `asked` (each with its oldest open token version when the database
/// was asked) whose version no longer matches it: `current` holds the active users'
/// versions (the rest are gone or deactivated). Only those asked about: a session
/// opened while the database was read is missing from `current` for want of being
/// asked, not for being revoked.
fn stale(asked: &[(UserId, i64)], current: &FxHashMap<UserId, i64>) -> Vec<UserId> {
    asked
        .iter()
        .filter(|(user, oldest)| current.get(user) != Some(oldest))
        .map(|(user, _)| *user)
        .collect()
}

/// One open session; unregisters itself when dropped.
#[derive(Debug)]
pub struct SessionHold {
    sessions: Arc<OpenSessions>,
    user: UserId,
    version: i64,
}

impl Drop for SessionHold {
    fn drop(&mut self) {
        let mut held = self.sessions.lock();
        if let Some(versions) = held.get_mut(&self.user) {
            if let Some(count) = versions.get_mut(&self.version) {
                *count -= 1;
                if *count == 0 {
                    versions.remove(&self.version);
                }
            }
            if versions.is_empty() {
                held.remove(&self.user);
            }
        }
    }
}

/// Forever: compares the open sessions with the database and calls `revoked` for each
/// user whose sessions are out of date. A database that cannot answer is no proof of
/// anything: the next sweep tries again.
pub(crate) async fn sweep(sessions: Arc<OpenSessions>, store: Store, revoked: impl Fn(UserId)) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let asked = sessions.oldest_versions();
        if asked.is_empty() {
            continue;
        }
        let users: Vec<UserId> = asked.iter().map(|(user, _)| *user).collect();
        match store.active_token_versions(&users).await {
            Ok(current) => {
                for user in stale(&asked, &current.into_iter().collect()) {
                    tracing::info!(%user, "ending sessions revoked without a bus event");
                    revoked(user);
                }
            }
            Err(e) => {
                tracing::debug!(error = %chat_types::describe(&e), "session sweep skipped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        uuid::Uuid::from_u128(n).into()
    }

    #[test]
    fn holds_count_per_version_and_let_go_when_dropped() {
        let sessions = Arc::new(OpenSessions::default());
        let first = sessions.hold(user(1), 3);
        let second = sessions.hold(user(1), 4);
        let other = sessions.hold(user(2), 0);
        let mut oldest = sessions.oldest_versions();
        oldest.sort();
        assert_eq!(oldest, vec![(user(1), 3), (user(2), 0)]);
        drop(first);
        assert!(sessions.oldest_versions().contains(&(user(1), 4)));
        drop((second, other));
        assert!(sessions.oldest_versions().is_empty());
    }

    #[test]
    fn a_session_behind_the_database_or_of_a_deactivated_user_is_stale() {
        let sessions = Arc::new(OpenSessions::default());
        let _current = sessions.hold(user(1), 2);
        let _behind = sessions.hold(user(2), 0);
        let _deactivated = sessions.hold(user(3), 5);
        let database = FxHashMap::from_iter([(user(1), 2), (user(2), 1)]);
        let mut stale = stale(&sessions.oldest_versions(), &database);
        stale.sort();
        assert_eq!(stale, vec![user(2), user(3)]);
    }

    #[test]
    fn a_session_opened_while_the_database_is_read_is_not_stale() {
        let sessions = Arc::new(OpenSessions::default());
        let _first = sessions.hold(user(1), 2);
        let asked = sessions.oldest_versions();
        let database = FxHashMap::from_iter([(user(1), 2)]);
        // Opened after the sweep listed the users it asks the database about.
        let _newcomer = sessions.hold(user(4), 0);
        assert_eq!(stale(&asked, &database), Vec::<UserId>::new());
    }
}
