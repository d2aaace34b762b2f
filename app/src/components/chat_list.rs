//! The chat list: chats that mention you first, then latest activity first; unread
//! chats in bold with their count, last-message previews.

use chat_types::{Chat, ChatId, ChatKind, UserId};
use leptos::prelude::*;

use crate::components::avatar::Avatar;
use crate::components::on_demand::{self, on_demand};
use crate::components::search;
use crate::presence::PresenceDot;
use crate::state::{ChatsStore, me};
use crate::time::Clock;

#[component]
pub fn ChatList(open: Memo<Option<ChatId>>) -> impl IntoView {
    let store = expect_context::<ChatsStore>();
    let me = me().id;
    let creating = RwSignal::new(false);
    let stop_creating = Callback::new(move |()| creating.set(false));
    let listed = move || store.chats.with(|c| c.as_ref().map(Vec::len).ok());
    // Requests stand apart, above the chats, until they are accepted or declined.
    let requests = move || {
        let mut list = store.listed();
        list.retain(|c| c.is_request_for(me));
        list
    };
    let chats = move || {
        let mut list = store.listed();
        list.retain(|c| !c.is_request_for(me));
        list
    };
    // While the search box has text, its results stand where the list was.
    let query = RwSignal::new(String::new());
    let searching = move || !query.with(|q| q.trim().is_empty());
    let done_searching = Callback::new(move |()| query.set(String::new()));
    let on_search_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            query.set(String::new());
        } else if searching() {
            search::from_box(&ev);
        }
    };
    view! {
        <div class="list-head">
            <h2>"Chats"</h2>
            <button class="primary small" on:click=move |_| creating.set(true) aria-haspopup="dialog">
                "New chat"
            </button>
        </div>
        <div class="list-search" role="search">
            <label class="visually-hidden" for="search">"Search chats, people and messages"</label>
            <input
                id="search"
                type="search"
                placeholder="Search chats, people, messages"
                autocomplete="off"
                bind:value=query
                on:keydown=on_search_key
                data-test="search"
            />
        </div>
        <Show when=move || creating.get()>
            {on_demand(on_demand::new_chat(stop_creating), stop_creating)}
        </Show>
        <Show when=searching>
            {on_demand(on_demand::search_results(query, done_searching), done_searching)}
        </Show>
        <div class="list-body" class:hidden=searching>
        {move || match listed() {
            Some(0) => Some(view! {
                <p class="hint">"No chats yet. Start one with “New chat”: find someone by name, or make a group."</p>
            }.into_any()),
            Some(_) => None,
            None => Some(view! {
                <p class="hint error" role="alert">
                    {move || store.chats.with(|c| c.as_ref().err().map(|e| e.message.clone()))}
                    " — the receiver did not answer. Pick another receiver above."
                </p>
            }.into_any()),
        }}
        <Show when=move || !requests().is_empty()>
            <h3 class="list-section" id="requests-heading">"Requests"</h3>
            <ul class="chat-list requests" aria-labelledby="requests-heading" data-test="requests">
                <For each=requests key=item_key let(chat)>
                    <ChatItem chat=chat me=me open=open/>
                </For>
            </ul>
        </Show>
        <ul class="chat-list" data-test="chat-list">
            <For each=chats key=item_key let(chat)>
                <ChatItem chat=chat me=me open=open/>
            </For>
        </ul>
        </div>
    }
}

/// Changes whenever a row would show something else.
fn item_key(chat: &Chat) -> String {
    let last = chat.last_message.as_ref();
    format!(
        "{}:{}:{}:{}:{}:{}:{}:{:?}:{:?}:{:?}",
        chat.id,
        chat.participants.iter().filter(|p| !p.accepted).count(),
        chat.last_seq,
        chat.unread_count,
        chat.unread_mentions,
        chat.muted,
        chat.updated_at.timestamp_millis(),
        // Not implied by lastSeq: your own count can raise it before your message is back.
        last.map(|m| m.id),
        last.and_then(|m| m.edited_at).map(|t| t.timestamp_millis()),
        last.and_then(|m| m.deleted_at)
            .map(|t| t.timestamp_millis()),
    )
}

#[component]
fn ChatItem(chat: Chat, me: UserId, open: Memo<Option<ChatId>>) -> impl IntoView {
    let clock = expect_context::<Clock>();
    let id = chat.id;
    let title = chat.title_for(me);
    let preview = match &chat.last_message {
        None => "No messages yet".to_string(),
        Some(m) if m.is_deleted() => "Message deleted".to_string(),
        Some(m) => {
            let author = if m.sender_id == me {
                "You: ".to_string()
            } else if chat.kind == ChatKind::Group {
                chat.participants
                    .iter()
                    .find(|p| p.user.id == m.sender_id)
                    .map(|p| format!("{}: ", p.user.display_name))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let text = m.plain_text();
            format!("{author}{}", text.lines().next().unwrap_or_default())
        }
    };
    let when = chat.last_message.as_ref().map(|m| {
        view! { <time datetime=m.created_at.to_rfc3339() title=clock.full(m.created_at)>{clock.short(m.created_at)}</time> }
    });
    // A direct chat looks like the other person, with whether they are around; a
    // group like itself.
    let other = match chat.kind {
        ChatKind::Direct => chat
            .participants
            .iter()
            .find(|p| p.user.id != me)
            .map(|p| p.user.id),
        ChatKind::Group => None,
    };
    let avatar_id = other.map_or(id.as_uuid(), |o| o.as_uuid());
    let unread = chat.unread_count;
    let mentions = chat.unread_mentions;
    let muted = chat.muted;
    let current = move || open.get() == Some(id);
    view! {
        <li class="chat-item" class:current=current class:unread={unread > 0 && !muted} class:muted=muted data-chat=id.to_string()>
            <a href=format!("/chats/{id}") aria-current=move || current().then_some("page")>
                <span class="avatar-wrap">
                    <Avatar id=avatar_id name=title.clone()/>
                    {other.map(|user| view! { <PresenceDot user=user/> })}
                </span>
                <span class="chat-text">
                    <span class="chat-title">
                        {title.clone()}
                        {muted.then(|| view! { <span class="muted-mark" title="Muted" data-test="muted">" 🔕"<span class="visually-hidden">" (muted)"</span></span> })}
                    </span>
                    <span class="chat-preview">{preview}</span>
                </span>
                <span class="chat-meta">
                    <span class="chat-time">{when}</span>
                    <span class="badges">
                    {(mentions > 0).then(|| view! {
                        <span class="badge mention-badge" data-test="mentions" data-count=mentions title="You were mentioned">
                            "@"<span class="visually-hidden">{format!(" {mentions} mentioning you")}</span>
                        </span>
                    })}
                    {(unread > 0).then(|| view! {
                        <span class="badge" data-test="unread" data-count=unread>{unread}<span class="visually-hidden">" unread"</span></span>
                    })}
                    </span>
                </span>
            </a>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chat(last_seq: i64, last: (&str, i64, &str)) -> Chat {
        let (id, seq, content) = last;
        let chat = "00000000-0000-0000-0000-000000000001";
        let at = "2026-12-01T10:00:00Z";
        serde_json::from_value(json!({
            "id": chat, "kind": "DIRECT", "name": null, "description": null,
            "participants": [], "lastSeq": last_seq, "unreadCount": 0,
            "createdAt": at, "updatedAt": at,
            "lastMessage": {
                "id": id, "chatId": chat, "seq": seq, "content": content, "clientId": null,
                "senderId": "00000000-0000-0000-0000-000000000002",
                "createdAt": at, "editedAt": null, "deletedAt": null,
            },
        }))
        .expect("a chat")
    }

    #[test]
    fn a_row_is_drawn_again_when_its_last_message_changes_under_the_same_seq() {
        // Your own count can raise lastSeq before your message is back: then the message
        // changes the preview and nothing else.
        let counted = chat(
            3,
            ("00000000-0000-0000-0000-0000000000a2", 2, "Are you there?"),
        );
        let arrived = chat(
            3,
            ("00000000-0000-0000-0000-0000000000a3", 3, "Third message"),
        );
        assert_ne!(item_key(&counted), item_key(&arrived));
    }
}
