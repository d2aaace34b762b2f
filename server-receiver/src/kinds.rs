//! What each subscription takes from its topic's events, described once: the hub
//! hands a subscriber only the events its kind picks something from, and the
//! subscription delivers exactly what was picked. A new subscription is one more kind
//! here.

use std::sync::Arc;

use chat_types::presence::Presence;
use chat_types::{ChatEvent, ChatId, Event, Message, ReadUpdate, TypingEvent, UnreadCount, UserId};

/// One kind of subscription.
pub trait Kind: Send + 'static {
    /// What the subscriber gets.
    type Item: Send + 'static;
    /// What `subscriber` gets of `event`, if anything.
    fn pick(event: &Event, subscriber: UserId) -> Option<Self::Item>;
}

/// The hub's test for a kind: whether it picks anything from an event.
pub type Filter = fn(&Event, UserId) -> bool;

/// The [`Filter`] of kind `K`.
pub fn filter<K: Kind>() -> Filter {
    |event, subscriber| K::pick(event, subscriber).is_some()
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $kind:ident -> $item:ty: |$event:ident, $subscriber:ident| $pick:expr;)*) => {$(
        $(#[$doc])*
        pub struct $kind;

        impl Kind for $kind {
            type Item = $item;
            #[allow(unused_variables)]
            fn pick($event: &Event, $subscriber: UserId) -> Option<$item> {
                $pick
            }
        }
    )*};
}

kinds! {
    /// New messages in a chat.
    MessageAdded -> Arc<Message>: |event, subscriber| match event {
        Event::MessageAdded(m) => Some(m.clone()),
        _ => None,
    };
    /// Read watermarks moving in a chat.
    ReadUpdated -> ReadUpdate: |event, subscriber| match event {
        Event::ReadUpdated(r) => Some(r.clone()),
        _ => None,
    };
    /// Others typing in a chat (never your own typing).
    Typing -> TypingEvent: |event, subscriber| match event {
        Event::Typing(t) if t.user_id != subscriber => Some(t.clone()),
        _ => None,
    };
    /// A chat's logged changes: edits, deletes, renames, people added or removed…
    ChatChanged -> Arc<ChatEvent>: |event, subscriber| match event {
        Event::ChatChanged(e) => Some(e.clone()),
        _ => None,
    };
    /// Chats you were added to (their ids; the chat is read for you).
    ChatAdded -> ChatId: |event, subscriber| match event {
        Event::ChatAdded { chat_id } => Some(*chat_id),
        _ => None,
    };
    /// Chats of yours that changed (their ids; the chat is read for you).
    ChatUpdated -> ChatId: |event, subscriber| match event {
        Event::ChatUpdated { chat_id } => Some(*chat_id),
        _ => None,
    };
    /// A chat you were added to or that changed (people added or removed among them):
    /// who shares a chat with you may have changed.
    ChatsChanged -> ChatId: |event, subscriber| match event {
        Event::ChatAdded { chat_id } | Event::ChatUpdated { chat_id } => Some(*chat_id),
        _ => None,
    };
    /// Your unread count of a chat, whenever it changes (a new message brings one).
    Unread -> UnreadCount: |event, subscriber| match event {
        Event::UnreadCountUpdated(u) => Some(u.clone()),
        Event::ChatMessageNotification { unread, .. } => Some(unread.clone()),
        _ => None,
    };
    /// New messages in any of your chats, for the chat list.
    Notification -> Arc<Message>: |event, subscriber| match event {
        Event::ChatMessageNotification { message, .. } => Some(message.clone()),
        _ => None,
    };
    /// Someone came online, went away or left (whose is the subscription's to judge).
    PresenceChanged -> Presence: |event, subscriber| match event {
        Event::PresenceChanged(presence) => Some(presence.clone()),
        _ => None,
    };
    /// New messages that mention you, each one.
    Mention -> Arc<Message>: |event, subscriber| match event {
        Event::Mentioned(message) => Some(message.clone()),
        _ => None,
    };
}
