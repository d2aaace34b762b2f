//! The search over the chat list: what the box's text finds among your chats (by
//! name), people (by name, to start a direct chat with) and messages (by the starts of
//! their words), in that order. Arrow keys move through the results, Enter opens one,
//! Escape goes back to the box. A message opens its chat there, in the history around
//! it. Its code is a piece of its own, fetched with the first letter typed.

use chat_types::search::{SearchHit, SearchResults, TextPart};
use chat_types::{Chat, ChatId, ChatKind, MessageId, User, UserId, ops};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use serde_json::json;

use crate::api::use_client;
use crate::browser;
use crate::components::avatar::Avatar;
use crate::config::Service;
use crate::state::{ChatsStore, me};
use crate::time::Clock;

/// How long typing pauses before people and messages are looked for.
const SEARCH_DELAY_MS: u32 = 250;
/// Messages asked for at a time.
const PAGE: i64 = 20;
/// The CSS selector of every result, in the order the arrow keys go through them.
const ITEMS: &str = "[data-search-item]";

/// What the search found for one text.
#[derive(Clone, Default)]
struct Found {
    people: Vec<User>,
    messages: Vec<SearchHit>,
    more: Option<MessageId>,
    /// The messages could not be searched (the receiver did not answer, or the text
    /// has no word to look for).
    failed: Option<String>,
    /// Still looking for this text.
    pending: bool,
}

#[component]
pub fn SearchResults(
    query: RwSignal<String>,
    /// Called when a result was opened (the box empties).
    on_done: Callback<()>,
) -> impl IntoView {
    let client = use_client();
    let store = expect_context::<ChatsStore>();
    let clock = expect_context::<Clock>();
    let me = me().id;
    let navigate = use_navigate();
    let found = RwSignal::new(Found::default());
    let generation = StoredValue::new(0u32);

    // People and messages, once typing pauses; only the newest text's answers count.
    Effect::new({
        let client = client.clone();
        move |_| {
            let text = query.get().trim().to_string();
            generation.update_value(|g| *g += 1);
            let mine = generation.get_value();
            found.update(|f| f.pending = true);
            let client = client.clone();
            leptos::task::spawn_local(async move {
                browser::pause(SEARCH_DELAY_MS).await;
                let current = move || generation.try_get_value() == Some(mine);
                if !current() {
                    return;
                }
                let people = client.call::<Vec<User>>(
                    Service::User,
                    ops::USERS,
                    json!({ "search": text, "first": 5 }),
                    "users",
                );
                let messages = client.call::<SearchResults>(
                    Service::Receiver,
                    ops::SEARCH_MESSAGES,
                    json!({ "query": text, "first": PAGE }),
                    "searchMessages",
                );
                let (people, messages) = futures::join!(people, messages);
                if !current() {
                    return;
                }
                let mut next = Found {
                    people: people
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|u| u.id != me)
                        .collect(),
                    ..Found::default()
                };
                match messages {
                    Ok(results) => {
                        next.more = results.has_more.then_some(results.end_cursor).flatten();
                        next.messages = results.hits;
                    }
                    Err(e) => next.failed = Some(e.message),
                }
                found.set(next);
            });
        }
    });

    let load_more = {
        let client = client.clone();
        move |_| {
            let Some(after) = found.with_untracked(|f| f.more) else {
                return;
            };
            let call = client.call::<SearchResults>(
                Service::Receiver,
                ops::SEARCH_MESSAGES,
                json!({ "query": query.get_untracked().trim(), "first": PAGE, "after": after }),
                "searchMessages",
            );
            let mine = generation.get_value();
            leptos::task::spawn_local(async move {
                if let Ok(results) = call.await
                    && generation.try_get_value() == Some(mine)
                {
                    found.update(|f| {
                        f.more = results.has_more.then_some(results.end_cursor).flatten();
                        f.messages.extend(results.hits);
                    });
                }
            });
        }
    };

    let chats = move || {
        let text = query.get().trim().to_lowercase();
        store
            .listed()
            .into_iter()
            .filter(|c| c.title_for(me).to_lowercase().contains(&text))
            .take(8)
            .collect::<Vec<Chat>>()
    };
    let open_chat = Callback::new(move |id: ChatId| {
        on_done.run(());
        navigate(&format!("/chats/{id}"), Default::default());
    });
    let start_direct = {
        let client = client.clone();
        let navigate = use_navigate();
        Callback::new(move |user: UserId| {
            let call = client.call::<Chat>(
                Service::Sender,
                ops::CREATE_CHAT,
                json!({ "input": { "kind": ChatKind::Direct, "participantIds": [user] } }),
                "createChat",
            );
            let navigate = navigate.clone();
            leptos::task::spawn_local(async move {
                if let Ok(chat) = call.await {
                    let id = chat.id;
                    store.chat_changed(chat, me);
                    on_done.run(());
                    navigate(&format!("/chats/{id}"), Default::default());
                }
            });
        })
    };
    let chat_title = move |id| {
        store
            .find(id)
            .map(|c: Chat| c.title_for(me))
            .unwrap_or_default()
    };
    let message_view = move |hit: SearchHit| {
        let message = hit.message;
        let href = format!("/chats/{}?at={}", message.chat_id, message.seq);
        let author = if message.sender_id == me {
            "You".to_string()
        } else {
            store
                .find(message.chat_id)
                .and_then(|c| {
                    c.participant(message.sender_id)
                        .map(|p| p.user.display_name.clone())
                })
                .unwrap_or_else(|| "Someone".to_string())
        };
        view! {
            <li>
                <a class="search-item hit" href=href data-search-item="" data-test="search-hit" on:click=move |_| on_done.run(())>
                    <span class="hit-head">
                        <span class="hit-chat">{chat_title(message.chat_id)}</span>
                        <time datetime=message.created_at.to_rfc3339()>{clock.short(message.created_at)}</time>
                    </span>
                    <span class="hit-text">
                        <span class="hit-author">{author} ": "</span>
                        {snippet(hit.snippet)}
                    </span>
                </a>
            </li>
        }
    };

    view! {
        <div class="search-results" on:keydown=move_through data-test="search-results">
            <p class="visually-hidden" aria-live="polite">{move || found.with(summary)}</p>
            <Show when=move || !chats().is_empty()>
                <h3 class="search-head">"Chats"</h3>
                <ul class="chat-list">
                    {move || chats().into_iter().map(|chat| {
                        let title = chat.title_for(me);
                        view! {
                            <li>
                                <a class="search-item" href=format!("/chats/{}", chat.id) data-search-item="" on:click=move |ev: leptos::ev::MouseEvent| { ev.prevent_default(); open_chat.run(chat.id) }>
                                    <Avatar id=chat.id.as_uuid() name=title.clone() small=true/>
                                    <span>{title.clone()}</span>
                                </a>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </Show>
            <Show when=move || found.with(|f| !f.people.is_empty())>
                <h3 class="search-head">"People"</h3>
                <ul class="chat-list">
                    {move || found.get().people.into_iter().map(|user| {
                        view! {
                            <li>
                                <button type="button" class="search-item" data-search-item="" on:click=move |_| start_direct.run(user.id)>
                                    <Avatar id=user.id.as_uuid() name=user.display_name.clone() small=true/>
                                    <span>{user.display_name.clone()}</span>
                                    <span class="result-handle">"@" {user.username.clone()}</span>
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </Show>
            <h3 class="search-head">"Messages"</h3>
            {move || found.with(|f| match (&f.failed, f.messages.is_empty(), f.pending) {
                (Some(reason), _, _) => Some(view! { <p class="hint" role="alert">{format!("Messages could not be searched: {reason}")}</p> }.into_any()),
                (None, true, true) => Some(view! { <p class="hint">"Searching…"</p> }.into_any()),
                (None, true, false) => Some(view! { <p class="hint">"No messages found."</p> }.into_any()),
                _ => None,
            })}
            <ul class="hits">
                {move || found.get().messages.into_iter().map(message_view).collect_view()}
            </ul>
            <Show when=move || found.with(|f| f.more.is_some())>
                <button type="button" class="ghost small more" data-search-item="" on:click=load_more.clone()>"More messages"</button>
            </Show>
        </div>
    }
}

/// A snippet, its matches marked.
fn snippet(parts: Vec<TextPart>) -> impl IntoView {
    parts
        .into_iter()
        .map(|part| {
            if part.hit {
                view! { <mark>{part.text}</mark> }.into_any()
            } else {
                part.text.into_any()
            }
        })
        .collect_view()
}

/// What a screen reader is told when the results change.
fn summary(found: &Found) -> String {
    if found.pending {
        return String::new();
    }
    match found.messages.len() {
        0 => "No messages found".to_string(),
        1 => "1 message found".to_string(),
        n if found.more.is_some() => format!("{n} messages found, and more"),
        n => format!("{n} messages found"),
    }
}

/// Up and down arrows move the focus through the results; Escape goes back to the box.
fn move_through(ev: leptos::ev::KeyboardEvent) {
    let step = match ev.key().as_str() {
        "ArrowDown" => 1,
        "ArrowUp" => -1,
        "Escape" => {
            browser::focus("#search");
            return;
        }
        _ => return,
    };
    ev.prevent_default();
    browser::focus_next(ITEMS, step);
}

/// From the search box, the down arrow goes to the first result.
pub fn from_box(ev: &leptos::ev::KeyboardEvent) -> bool {
    if ev.key() == "ArrowDown" {
        ev.prevent_default();
        browser::focus_next(ITEMS, 1);
        return true;
    }
    false
}
