//! The chats screen: the list on the side, the open chat in the middle. Rendered on
//! the server with the list and the open chat's messages in the HTML; live after
//! hydration.

use chat_types::{Chat, ChatId, Message, UnreadCount, User, ops};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Outlet;
use leptos_router::hooks::{use_location, use_params_map};
use serde_json::json;

use crate::api::{ApiError, use_client};
use crate::components::chat_list::ChatList;
use crate::components::picker::{InstancePicker, StatusLine};
use crate::components::room::Room;
use crate::config::Service;
use crate::live::{subscribe_while_mounted, use_live};
use crate::state::{ChatsStore, Me};

/// Sends the browser (or, while rendering, the response) to the login page.
pub fn to_login() {
    #[cfg(feature = "ssr")]
    leptos_axum::redirect("/login");
    #[cfg(browser)]
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign("/login");
    }
}

#[component]
pub fn ChatsPage() -> impl IntoView {
    let client = use_client();
    // The open chat, for the list to highlight (its route is a child of this one).
    let location = use_location();
    let open = Memo::new(move |_| {
        location
            .pathname
            .read()
            .strip_prefix("/chats/")
            .and_then(|id| id.parse::<ChatId>().ok())
    });
    let me = Resource::new(|| (), {
        let client = client.clone();
        move |_| client.call_raw(Service::User, ops::ME, json!({}))
    });
    let chats = Resource::new(|| (), {
        let client = client.clone();
        move |_| client.call_raw(Service::Receiver, ops::CHATS, json!({}))
    });
    view! {
        <Title text="Chats · Chat"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            // Both resources load once; afterwards live events edit the list in place.
            {move || Suspend::new(async move {
                // Both started loading when created; this only waits for them.
                let me = me.await.and_then(|raw| raw.decode::<User>("me"));
                let chats = chats.await.and_then(|raw| raw.decode::<Vec<Chat>>("chats"));
                match me {
                    Ok(me) => view! { <SignedIn me=me chats=chats open=open/> }.into_any(),
                    Err(error) => {
                        if error.is_unauthenticated() {
                            to_login();
                        }
                        view! { <Unreachable error=error/> }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// When the user instance cannot say who is signed in.
#[component]
fn Unreachable(error: ApiError) -> impl IntoView {
    view! {
        <div class="auth">
            <header class="auth-top">
                <span class="brand">"Chat"</span>
                <InstancePicker/>
            </header>
            <main class="auth-card">
                <h1>"Cannot load your chats"</h1>
                <p>{error.message}</p>
                <p>"Pick another user instance above, or " <a href="/login">"sign in again"</a> "."</p>
            </main>
        </div>
    }
}

#[component]
fn SignedIn(
    me: User,
    chats: Result<Vec<Chat>, ApiError>,
    open: Memo<Option<ChatId>>,
) -> impl IntoView {
    let client = use_client();
    let store = ChatsStore {
        chats: RwSignal::new(chats),
    };
    provide_context(Me(me.clone()));
    provide_context(store);
    let live = use_live();

    // Follow the chosen receiver: (re)connect whenever it changes.
    Effect::new({
        let client = client.clone();
        move |_| {
            client.choice.track();
            live.connect(client.port(Service::Receiver));
        }
    });
    watch_chat_list(store, &me);

    let logout = {
        let client = client.clone();
        move |_| {
            let call = client.call::<bool>(Service::User, ops::LOGOUT, json!({}), "logout");
            leptos::task::spawn_local(async move {
                let _ = call.await;
                to_login();
            });
        }
    };
    view! {
        <div class="app" class:chat-open=move || open.get().is_some()>
            <header class="top">
                <span class="brand">"Chat"</span>
                <InstancePicker/>
                <StatusLine/>
                <div class="me">
                    <span class="me-name" title=me.username.clone()>{me.display_name.clone()}</span>
                    <button class="ghost" on:click=logout>"Log out"</button>
                </div>
            </header>
            <aside class="sidebar" aria-label="Chats">
                <ChatList open=open/>
            </aside>
            <main class="main">
                <Outlet/>
            </main>
        </div>
    }
}

/// The main pane with no chat open.
#[component]
pub fn NoChatOpen() -> impl IntoView {
    view! {
        <div class="empty">
            <p>"Pick a chat, or start a new one."</p>
        </div>
    }
}

/// The main pane with the chat of the URL open.
#[component]
pub fn OpenChat() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<ChatId>().ok())
    });
    move || match id.get() {
        Some(id) => view! { <Room id=id/> }.into_any(),
        None => view! {
            <div class="empty">
                <p role="alert">"That is not a chat address."</p>
            </div>
        }
        .into_any(),
    }
}

/// Keeps the chat list current: new messages reorder it, counts change, chats come and
/// go.
fn watch_chat_list(store: ChatsStore, me: &User) {
    let me = me.id;
    subscribe_while_mounted(
        ops::CHAT_MESSAGE_NOTIFICATION,
        "chatMessageNotification",
        || json!({}),
        move |message: Message| store.message_arrived(&message),
    );
    subscribe_while_mounted(
        ops::UNREAD_COUNT_UPDATED,
        "unreadCountUpdated",
        || json!({}),
        move |unread: UnreadCount| store.unread_changed(&unread),
    );
    for (document, field) in [
        (ops::CHAT_ADDED, "chatAdded"),
        (ops::CHAT_UPDATED, "chatUpdated"),
    ] {
        subscribe_while_mounted(
            document,
            field,
            || json!({}),
            move |chat: Chat| store.chat_changed(chat, me),
        );
    }
}
