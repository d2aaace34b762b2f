//! Desktop notifications: while the tab is hidden, a direct message, or a message that
//! mentions the reader, in a chat they have not muted (nor have as a request) shows one (the browser's
//! Notification API), with the chat and a short preview; clicking it brings the tab
//! back at that chat.
//!
//! Permission is never asked for on load: after the person first sends a message, a
//! line offers notifications, and only their "Turn on" asks the browser. "Not now" is
//! remembered on this browser.

use chat_types::{Chat, ChatKind, Message, UserId};
use leptos::prelude::*;

/// How much of a message a notification shows.
const PREVIEW_CHARS: usize = 100;
/// Where "Not now" is remembered.
const DECLINED_KEY: &str = "chat_notifications_declined";

/// The offer of notifications; in context on the chats screen.
#[derive(Clone, Copy)]
pub struct Offer {
    /// The person has sent a message on this page: a sensible moment to ask.
    pub sent: RwSignal<bool>,
    /// Answered (either way) on this page.
    answered: RwSignal<bool>,
}

impl Offer {
    pub fn provide() -> Self {
        let offer = Self {
            sent: RwSignal::new(false),
            answered: RwSignal::new(false),
        };
        provide_context(offer);
        offer
    }

    /// Whether to show the offer now.
    pub fn shown(&self) -> bool {
        self.sent.get() && !self.answered.get() && can_ask() && !declined()
    }

    /// "Turn on": asks the browser.
    pub fn accept(&self) {
        self.answered.set(true);
        #[cfg(browser)]
        leptos::task::spawn_local(async {
            if let Ok(asked) = web_sys::Notification::request_permission() {
                let _ = wasm_bindgen_futures::JsFuture::from(asked).await;
            }
        });
    }

    /// "Not now": not offered again on this browser.
    pub fn decline(&self) {
        self.answered.set(true);
        crate::browser::remember(DECLINED_KEY, "1");
    }
}

/// The browser has notifications and has not been asked yet.
fn can_ask() -> bool {
    #[cfg(browser)]
    {
        notifications_exist()
            && web_sys::Notification::permission() == web_sys::NotificationPermission::Default
    }
    #[cfg(not(browser))]
    false
}

fn declined() -> bool {
    crate::browser::recall(DECLINED_KEY).is_some()
}

#[cfg(browser)]
fn notifications_exist() -> bool {
    js_sys::Reflect::has(&js_sys::global(), &"Notification".into()).unwrap_or(false)
}

/// What a notification says: its title and text, for a message that calls for one.
pub fn wording(
    chat: &Chat,
    message: &Message,
    me: UserId,
    mention: bool,
) -> Option<(String, String)> {
    // A request does not interrupt: it waits in the list to be accepted.
    if message.sender_id == me || chat.muted || message.is_deleted() || chat.is_request_for(me) {
        return None;
    }
    let direct = chat.kind == ChatKind::Direct;
    if !direct && !mention {
        return None;
    }
    let sender = chat
        .participant(message.sender_id)
        .map(|p| p.user.display_name.clone())
        .unwrap_or_else(|| "Someone".to_string());
    let title = if direct {
        sender
    } else {
        format!("{sender} in {}", chat.title_for(me))
    };
    let text = message.plain_text();
    let mut preview: String = text.chars().take(PREVIEW_CHARS).collect();
    if preview.len() < text.len() {
        preview.push('…');
    }
    Some((title, preview))
}

/// Shows a notification for `message` if the tab is hidden and it calls for one.
/// `open` brings the reader to a chat.
pub fn message(chat: &Chat, message: &Message, me: UserId, mention: bool, open: Callback<String>) {
    if crate::browser::page_visible() {
        return;
    }
    let Some((title, body)) = wording(chat, message, me, mention) else {
        return;
    };
    #[cfg(browser)]
    show(&title, &body, message.chat_id.to_string(), open);
    let _ = (title, body, open);
}

#[cfg(browser)]
fn show(title: &str, body: &str, chat: String, open: Callback<String>) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    if !notifications_exist()
        || web_sys::Notification::permission() != web_sys::NotificationPermission::Granted
    {
        return;
    }
    let options = web_sys::NotificationOptions::new();
    options.set_body(body);
    // One per chat: a newer message replaces the older one.
    options.set_tag(&chat);
    let Ok(shown) = web_sys::Notification::new_with_options(title, &options) else {
        return;
    };
    let clicked = Closure::once_into_js(move || {
        if let Some(window) = web_sys::window() {
            let _ = window.focus();
        }
        open.run(format!("/chats/{chat}"));
    });
    shown.set_onclick(Some(clicked.unchecked_ref()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_types::{Participant, Role, UserSummary};
    use uuid::Uuid;

    fn person(n: u128, name: &str) -> Participant {
        Participant {
            user: UserSummary {
                id: Uuid::from_u128(n).into(),
                username: name.to_lowercase(),
                display_name: name.to_string(),
            },
            role: Role::Member,
            last_read_seq: 0,
            read_at: None,
            accepted: true,
        }
    }

    fn chat(kind: ChatKind) -> Chat {
        serde_json::from_value(serde_json::json!({
            "id": "00000000-0000-0000-0000-000000000009", "kind": kind, "name": "Launch",
            "description": null, "participants": [], "lastSeq": 1,
            "createdAt": "2026-12-01T10:00:00Z", "updatedAt": "2026-12-01T10:00:00Z",
        }))
        .map(|mut c: Chat| {
            c.participants = vec![person(1, "Ann Lee"), person(2, "Bo Chen")];
            if kind == ChatKind::Direct {
                c.name = None;
            }
            c
        })
        .unwrap()
    }

    fn from_ann(content: &str) -> Message {
        serde_json::from_value(serde_json::json!({
            "id": "00000000-0000-0000-0000-0000000000a1",
            "chatId": "00000000-0000-0000-0000-000000000009", "seq": 1,
            "senderId": "00000000-0000-0000-0000-000000000001", "content": content,
            "clientId": null, "createdAt": "2026-12-01T10:00:00Z", "editedAt": null,
            "deletedAt": null,
        }))
        .unwrap()
    }

    #[test]
    fn direct_messages_and_mentions_notify_unless_muted_or_your_own() {
        let bo: UserId = Uuid::from_u128(2).into();
        let ann: UserId = Uuid::from_u128(1).into();
        let hello = from_ann("**hello** there");
        assert_eq!(
            wording(&chat(ChatKind::Direct), &hello, bo, false),
            Some(("Ann Lee".to_string(), "hello there".to_string()))
        );
        assert_eq!(wording(&chat(ChatKind::Group), &hello, bo, false), None);
        assert_eq!(
            wording(&chat(ChatKind::Group), &hello, bo, true),
            Some(("Ann Lee in Launch".to_string(), "hello there".to_string()))
        );
        assert_eq!(wording(&chat(ChatKind::Direct), &hello, ann, false), None);
        let mut muted = chat(ChatKind::Direct);
        muted.muted = true;
        assert_eq!(wording(&muted, &hello, bo, true), None);
        let long = from_ann(&"x".repeat(300));
        let (_, preview) = wording(&chat(ChatKind::Direct), &long, bo, false).unwrap();
        assert_eq!(preview.chars().count(), PREVIEW_CHARS + 1);
    }
}
