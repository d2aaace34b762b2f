//! What senders publish and receivers deliver, and the topics it travels on.
//!
//! Events are JSON with a version field, published after the write's transaction commits.
//! Chat topics carry what the chat's open views need; user topics carry what one
//! person's chat list needs.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{ChatId, UserId};
use crate::model::{ChatEvent, Message, ReadUpdate, TypingEvent, UnreadCount};
use crate::presence::Presence;

/// The version of the event encoding; receivers skip events of a version they don't know.
pub const EVENT_VERSION: u16 = 2;

/// One event on the bus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusEvent {
    pub v: u16,
    pub event: Event,
}

impl BusEvent {
    pub fn new(event: Event) -> Self {
        Self {
            v: EVENT_VERSION,
            event,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("bus events always serialize")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    // On chat topics.
    MessageAdded(Arc<Message>),
    ReadUpdated(ReadUpdate),
    Typing(TypingEvent),
    /// A change logged in the chat: a message edited or deleted, renamed, people added
    /// or removed…, as read back from the log. Someone's leaving or removal ends their
    /// live views of the chat.
    ChatChanged(Arc<ChatEvent>),

    // On user topics.
    /// The user was added to the chat (receivers read it as the user sees it: an event
    /// per member carries only the id, however big the group).
    ChatAdded {
        chat_id: ChatId,
    },
    /// The chat's name or members changed; sent to a member who just left too.
    ChatUpdated {
        chat_id: ChatId,
    },
    UnreadCountUpdated(UnreadCount),
    /// New messages in one of the user's chats, for the chat list: the newest of them,
    /// with the user's unread count after them. One event serves both
    /// `chatMessageNotification` and `unreadCountUpdated`.
    ChatMessageNotification {
        message: Arc<Message>,
        unread: UnreadCount,
    },
    /// A new message that mentions the user (by name, or `@all`): one event per message,
    /// never folded into a newer one, for what calls for their attention.
    Mentioned(Arc<Message>),

    // On the presence topic.
    /// Someone came online, went away or left (never a report that says only "still
    /// here"): receivers pass it to the people who share a chat with them.
    PresenceChanged(Presence),

    // On the sessions topic.
    /// The user's tokens were revoked (logout, password change, deactivation): every
    /// service forgets what it cached about them.
    SessionsRevoked {
        user_id: UserId,
    },
}

/// Where an event is published. The prefix separates deployments (and test runs)
/// sharing one Redis.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    Chat(ChatId),
    User(UserId),
    /// Session revocations, for every service.
    Sessions,
    /// Presence changes, for every receiver.
    Presence,
}

impl Topic {
    /// The channel name on the bus: `{prefix}:chat:{id}` or `{prefix}:user:{id}`.
    pub fn channel(&self, prefix: &str) -> String {
        format!("{prefix}:{self}")
    }

    /// Reads a channel name back; `None` if it is not one of ours.
    pub fn from_channel(prefix: &str, channel: &str) -> Option<Self> {
        Self::from_name(channel.strip_prefix(prefix)?.strip_prefix(':')?)
    }

    /// Reads a topic's name (what it displays as) back.
    pub fn from_name(rest: &str) -> Option<Self> {
        match rest {
            "sessions" => return Some(Topic::Sessions),
            "presence" => return Some(Topic::Presence),
            _ => {}
        }
        let (kind, id) = rest.split_once(':')?;
        match kind {
            "chat" => id.parse().ok().map(Topic::Chat),
            "user" => id.parse().ok().map(Topic::User),
            _ => None,
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Chat(id) => write!(f, "chat:{id}"),
            Topic::User(id) => write!(f, "user:{id}"),
            Topic::Sessions => f.write_str("sessions"),
            Topic::Presence => f.write_str("presence"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    #[test]
    fn topics_round_trip_through_channel_names() {
        let chat = Topic::Chat(ChatId(Uuid::from_u128(7)));
        let channel = chat.channel("chat-test");
        assert_eq!(
            channel,
            "chat-test:chat:00000000-0000-0000-0000-000000000007"
        );
        assert_eq!(Topic::from_channel("chat-test", &channel), Some(chat));
        assert_eq!(Topic::from_channel("other", &channel), None);
        assert_eq!(Topic::from_channel("chat-test", "chat-test:chat:x"), None);
    }

    #[test]
    fn events_round_trip_with_their_version() {
        let message = Message {
            id: Uuid::from_u128(1).into(),
            chat_id: Uuid::from_u128(2).into(),
            seq: 3,
            sender_id: Uuid::from_u128(4).into(),
            content: "hello <b>".into(),
            client_id: Some("c-1".into()),
            created_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            edited_at: None,
            deleted_at: None,
            after_event_seq: 0,
            reply_to: None,
            reactions: Vec::new(),
            pinned_at: None,
            mentions: Vec::new(),
            mentions_all: false,
            attachments: Vec::new(),
        };
        let event = BusEvent::new(Event::MessageAdded(Arc::new(message)));
        let bytes = event.encode();
        assert!(
            std::str::from_utf8(&bytes)
                .unwrap()
                .starts_with("{\"v\":2,")
        );
        assert_eq!(BusEvent::decode(&bytes).unwrap(), event);
    }
}
