//! The chat list: latest activity first, unread badges, last-message previews.

use chat_types::{Chat, ChatId, UserId};
use leptos::prelude::*;

use crate::components::new_chat::NewChat;
use crate::state::{ChatsStore, me};
use crate::time;

#[component]
pub fn ChatList(open: Memo<Option<ChatId>>) -> impl IntoView {
    let store = expect_context::<ChatsStore>();
    let me = me().id;
    let offset = time::offset_minutes();
    let creating = RwSignal::new(false);
    view! {
        <div class="list-head">
            <h2>"Chats"</h2>
            <button class="primary small" on:click=move |_| creating.set(true) aria-haspopup="dialog">
                "New chat"
            </button>
        </div>
        <Show when=move || creating.get()>
            <NewChat on_close=move || creating.set(false)/>
        </Show>
        <ul class="chat-list" data-test="chat-list">
            {move || {
                match store.chats.get() {
                        Ok(chats) if chats.is_empty() => view! {
                            <li class="hint">"No chats yet. Start one with “New chat”."</li>
                        }
                        .into_any(),
                        Ok(chats) => chats
                            .into_iter()
                            .map(|chat| view! { <ChatItem chat=chat me=me open=open offset=offset/> })
                            .collect_view()
                            .into_any(),
                        Err(error) => view! {
                            <li class="hint error">
                                "The receiver did not answer (" {error.message} "). Pick another receiver above."
                            </li>
                        }
                        .into_any(),
                    }
            }}
        </ul>
    }
}

#[component]
fn ChatItem(chat: Chat, me: UserId, open: Memo<Option<ChatId>>, offset: i32) -> impl IntoView {
    let id = chat.id;
    let title = chat.title_for(me);
    let preview = match &chat.last_message {
        None => "No messages yet".to_string(),
        Some(m) if m.is_deleted() => "Message deleted".to_string(),
        Some(m) => {
            let author = if m.sender_id == me {
                "You: ".to_string()
            } else if chat.participants.len() > 2 {
                chat.participants
                    .iter()
                    .find(|p| p.user.id == m.sender_id)
                    .map(|p| format!("{}: ", p.user.display_name))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            format!("{author}{}", m.content.lines().next().unwrap_or_default())
        }
    };
    let when = chat
        .last_message
        .as_ref()
        .map(|m| time::clock(m.created_at, offset));
    let unread = chat.unread_count;
    let current = move || open.get() == Some(id);
    let label = if unread > 0 {
        format!("{title}, {unread} unread")
    } else {
        title.clone()
    };
    view! {
        <li class="chat-item" class:current=current data-chat=id.to_string()>
            <a href=format!("/chats/{id}") aria-label=label aria-current=move || current().then_some("page")>
                <span class="avatar" aria-hidden="true">{initials(&title)}</span>
                <span class="chat-text">
                    <span class="chat-title">{title.clone()}</span>
                    <span class="chat-preview">{preview}</span>
                </span>
                <span class="chat-meta">
                    <span class="chat-time">{when}</span>
                    {(unread > 0).then(|| view! { <span class="badge" data-test="unread">{unread}</span> })}
                </span>
            </a>
        </li>
    }
}

/// Up to two initials for an avatar.
pub fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}
