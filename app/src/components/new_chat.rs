//! Starting a chat: find people by name, then a direct chat with one of them or a
//! group with several.

use chat_types::validate::ChatName;
use chat_types::{Chat, ChatKind, User, UserId, ops};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use serde_json::json;

use crate::api::use_client;
use crate::browser;
use crate::components::modal::Modal;
use crate::config::Service;
use crate::state::{ChatsStore, me};

/// How long typing in the search box pauses before it searches.
const SEARCH_DELAY_MS: u32 = 200;

/// A search box over users; picking one calls `on_pick`.
#[component]
pub fn UserSearch(
    #[prop(into)] label: String,
    on_pick: Callback<User>,
    #[prop(into)] exclude: Signal<Vec<UserId>>,
    /// Takes the focus when its dialog opens.
    #[prop(optional)]
    autofocus: bool,
) -> impl IntoView {
    let client = use_client();
    let query = RwSignal::new(String::new());
    let results = RwSignal::new(Vec::<User>::new());
    let generation = StoredValue::new(0u32);
    let id = format!("search-{}", label.to_ascii_lowercase().replace(' ', "-"));
    let on_input = move |_| {
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        let client = client.clone();
        leptos::task::spawn_local(async move {
            browser::pause(SEARCH_DELAY_MS).await;
            // Only the latest keystroke searches, and only while the box is still there.
            let current = || generation.try_get_value() == Some(mine);
            let Some(text) = query.try_get_untracked().filter(|_| current()) else {
                return;
            };
            if text.trim().is_empty() {
                results.set(Vec::new());
                return;
            }
            let call = client.call::<Vec<User>>(
                Service::User,
                ops::USERS,
                json!({ "search": text.trim(), "first": 10 }),
                "users",
            );
            if let Ok(users) = call.await
                && current()
            {
                results.set(users);
            }
        });
    };
    let shown = move || {
        let excluded = exclude.get();
        results
            .get()
            .into_iter()
            .filter(|u| !excluded.contains(&u.id))
            .collect::<Vec<_>>()
    };
    view! {
        <div class="user-search">
            <label for=id.clone()>{label}</label>
            <input id=id type="search" bind:value=query on:input=on_input autocomplete="off" autofocus=autofocus placeholder="Name or username"/>
            <ul class="results">
                {move || shown()
                    .into_iter()
                    .map(|user| {
                        let picked = user.clone();
                        view! {
                            <li>
                                <button type="button" class="result" on:click=move |_| on_pick.run(picked.clone())>
                                    <span class="result-name">{user.display_name.clone()}</span>
                                    <span class="result-handle">"@" {user.username.clone()}</span>
                                </button>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </div>
    }
}

#[component]
pub fn NewChat(#[prop(into)] on_close: Callback<()>) -> impl IntoView {
    let client = use_client();
    let store = expect_context::<ChatsStore>();
    let me = me();
    let kind = RwSignal::new(ChatKind::Direct);
    let members = RwSignal::new(Vec::<User>::new());
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();

    let create = {
        let client = client.clone();
        move |kind: ChatKind, members: Vec<User>, name: Option<String>| {
            let ids: Vec<UserId> = members.iter().map(|u| u.id).collect();
            let call = client.call::<Chat>(
                Service::Sender,
                ops::CREATE_CHAT,
                json!({ "input": { "kind": kind, "name": name, "participantIds": ids } }),
                "createChat",
            );
            let navigate = navigate.clone();
            leptos::task::spawn_local(async move {
                match call.await {
                    Ok(chat) => {
                        let id = chat.id;
                        store.chat_changed(chat, me.id);
                        navigate(&format!("/chats/{id}"), Default::default());
                        on_close.run(());
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let pick = Callback::new({
        let create = create.clone();
        move |user: User| match kind.get_untracked() {
            ChatKind::Direct => create(ChatKind::Direct, vec![user], None),
            ChatKind::Group => members.update(|m| {
                if !m.iter().any(|u| u.id == user.id) {
                    m.push(user);
                }
            }),
        }
    });
    let create_group = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let group_name = match ChatName::parse(&name.get_untracked()) {
            Ok(n) => n.into_inner(),
            Err(e) => {
                error.set(Some(format!("Name {}", e.message)));
                return;
            }
        };
        if members.with_untracked(Vec::is_empty) {
            error.set(Some("Add at least one person.".into()));
            return;
        }
        create(ChatKind::Group, members.get_untracked(), Some(group_name));
    };
    let excluded = Signal::derive(move || {
        let mut ids: Vec<UserId> = members.with(|m| m.iter().map(|u| u.id).collect());
        ids.push(me.id);
        ids
    });
    view! {
        <Modal labelled_by="new-chat-title" class="dialog new-chat" on_close=on_close>
            <div class="dialog-head">
                <h3 id="new-chat-title">"New chat"</h3>
                <button class="ghost small" on:click=move |_| on_close.run(()) aria-label="Close">"✕"</button>
            </div>
            <div class="segmented" role="radiogroup" aria-label="Kind of chat">
                <button
                    role="radio"
                    aria-checked=move || (kind.get() == ChatKind::Direct).to_string()
                    on:click=move |_| kind.set(ChatKind::Direct)
                >
                    "Direct"
                </button>
                <button
                    role="radio"
                    aria-checked=move || (kind.get() == ChatKind::Group).to_string()
                    on:click=move |_| kind.set(ChatKind::Group)
                >
                    "Group"
                </button>
            </div>
            <Show when=move || kind.get() == ChatKind::Group>
                <form class="group-form" on:submit=create_group.clone()>
                    <div class="field">
                        <label for="group-name">"Group name"</label>
                        <input id="group-name" bind:value=name maxlength="100"/>
                    </div>
                    <ul class="chips" aria-label="Members">
                        {move || members
                            .get()
                            .into_iter()
                            .map(|user| {
                                let id = user.id;
                                view! {
                                    <li class="chip">
                                        {user.display_name.clone()}
                                        <button
                                            type="button"
                                            class="ghost small"
                                            aria-label=format!("Remove {}", user.display_name)
                                            on:click=move |_| members.update(|m| m.retain(|u| u.id != id))
                                        >
                                            "✕"
                                        </button>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                    <button type="submit" class="primary">"Create group"</button>
                </form>
            </Show>
            <UserSearch label="Find people" on_pick=pick exclude=excluded autofocus=true/>
            <p class="field-error" role="alert">{move || error.get()}</p>
        </Modal>
    }
}
