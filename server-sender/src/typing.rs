//! At most one typing event per user and chat every two seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use chat_types::{ChatId, UserId};

use chat_types::limits::TYPING_INTERVAL as INTERVAL;
/// Past this many entries, stale ones are swept out.
const SWEEP_AT: usize = 10_000;

#[derive(Default)]
pub(crate) struct TypingThrottle {
    last: Mutex<HashMap<(ChatId, UserId), Instant>>,
}

impl TypingThrottle {
    /// Whether an event may go out now for this user and chat (and records it if so).
    pub(crate) fn allow(&self, chat: ChatId, user: UserId) -> bool {
        let now = Instant::now();
        let mut last = self.last.lock().expect("typing lock");
        if last.len() > SWEEP_AT {
            last.retain(|_, at| now.duration_since(*at) < INTERVAL);
        }
        match last.get(&(chat, user)) {
            Some(at) if now.duration_since(*at) < INTERVAL => false,
            _ => {
                last.insert((chat, user), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn one_event_per_two_seconds_per_user_and_chat() {
        let throttle = TypingThrottle::default();
        let chat = ChatId(Uuid::from_u128(1));
        let (a, b) = (UserId(Uuid::from_u128(2)), UserId(Uuid::from_u128(3)));
        assert!(throttle.allow(chat, a));
        assert!(!throttle.allow(chat, a));
        assert!(throttle.allow(chat, b));
        assert!(throttle.allow(ChatId(Uuid::from_u128(4)), a));
    }
}
