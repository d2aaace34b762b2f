//! The chats screen: the list on the side, the open chat in the middle. Rendered on
//! the server with the list and the open chat's messages in the HTML; live after
//! hydration.

use chat_types::{Chat, ChatId, Message, UnreadCount, User, ops};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Outlet;
use leptos_router::hooks::{use_location, use_params_map, use_query_map};
use serde_json::json;

use crate::api::{ApiError, use_client};
use crate::components::avatar::Avatar;
use crate::components::chat_list::ChatList;
use crate::components::on_demand;
use crate::components::picker::{InstancePicker, StatusLine};
use crate::components::room::Room;
use crate::config::Service;
use crate::live::{subscribe_while_mounted, use_live};
use crate::notify;
use crate::presence::PresenceBook;
use crate::state::{ChatsStore, Me};

/// Sends the browser (or, while rendering, the response) to the sign-in page, which
/// brings it back to `from` afterwards.
pub fn to_login(from: &str) {
    let target = crate::forms::with_next("/login", from);
    #[cfg(feature = "ssr")]
    leptos_axum::redirect(&target);
    crate::browser::go(&target);
}

#[component]
pub fn ChatsPage() -> impl IntoView {
    let client = use_client();
    // The open chat, for the list to highlight (its route is a child of this one).
    let location = use_location();
    let path = location.pathname;
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
                            to_login(&path.get_untracked());
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
    let store = ChatsStore::new(chats);
    provide_context(Me(me.clone()));
    provide_context(store);
    let live = use_live();
    // The dialogs' code, in the background: they then open at once, offline too.
    Effect::new(|_| on_demand::prefetch());

    // Follow the chosen receiver: (re)connect whenever it changes.
    Effect::new({
        let client = client.clone();
        move |_| {
            client.choice.track();
            live.connect(client.port(Service::Receiver));
        }
    });
    let offer = notify::Offer::provide();
    let presence = crate::presence::provide(me.presence_hidden);
    let hide_presence = {
        let client = client.clone();
        move |ev: leptos::ev::Event| {
            let hidden = !event_target_checked(&ev);
            let call = client.call::<User>(
                Service::User,
                ops::SET_PRESENCE_HIDDEN,
                json!({ "hidden": hidden }),
                "setPresenceHidden",
            );
            leptos::task::spawn_local(async move {
                if let Ok(user) = call.await {
                    presence.hidden.set(user.presence_hidden);
                }
            });
        }
    };
    watch_chat_list(store, &me, presence);

    let logout = {
        let client = client.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let call = client.call::<bool>(Service::User, ops::LOGOUT, json!({}), "logout");
            leptos::task::spawn_local(async move {
                let _ = call.await;
                to_login("/");
            });
        }
    };
    // "(3) Chats · Chat": the tab says how much is unread, and so does its icon.
    let title = move || match store.total_unread() {
        0 => "Chats · Chat".to_string(),
        n => format!("({n}) Chats · Chat"),
    };
    Effect::new(move |_| crate::browser::set_icon(store.total_unread()));
    let skip_to = move || {
        if open.get().is_some() {
            ("#composer-input", "Skip to the message box")
        } else {
            ("#chat-list", "Skip to your chats")
        }
    };
    // Following the link moves the focus, not only the view (where scripts run).
    let skip = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        crate::browser::focus(skip_to().0);
    };
    view! {
        <Title text=title/>
        <a class="skip-link" href=move || skip_to().0 on:click=skip>{move || skip_to().1}</a>
        <div class="app" class:chat-open=move || open.get().is_some()>
            <header class="top">
                <h1 class="brand">"Chat"</h1>
                <InstancePicker/>
                <StatusLine/>
                <div class="me">
                    <Avatar id=me.id.as_uuid() name=me.display_name.clone() small=true/>
                    <span class="me-name" title=format!("@{}", me.username)>{me.display_name.clone()}</span>
                    <form method="post" action="/logout" on:submit=logout>
                        <button type="submit" class="ghost small">"Log out"</button>
                    </form>
                </div>
            </header>
            <nav class="sidebar" aria-label="Chats" id="chat-list" tabindex="-1">
                <Show when=move || offer.shown()>
                    <div class="notify-offer" data-test="notify-offer">
                        <p>"Get a desktop notification for direct messages and mentions while this tab is in the background?"</p>
                        <button class="primary small" on:click=move |_| offer.accept()>"Turn on"</button>
                        <button class="ghost small" on:click=move |_| offer.decline()>"Not now"</button>
                    </div>
                </Show>
                <ChatList open=open/>
                <label class="presence-setting">
                    <input
                        type="checkbox"
                        data-test="show-presence"
                        prop:checked=move || !presence.hidden.get()
                        on:change=hide_presence
                    />
                    " Show others when I’m online"
                </label>
            </nav>
            <main class="main" id="main">
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
            <p>"Pick a chat on the left, or start one with “New chat”."</p>
        </div>
    }
}

/// The main pane with the chat of the URL open (at message `?at=<seq>`, if given).
#[component]
pub fn OpenChat() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<ChatId>().ok())
    });
    let at = Memo::new(move |_| query.read().get("at").and_then(|at| at.parse::<i64>().ok()));
    // Keyed by the chat and the message it opens at: another one gets a room of its own
    // (a fresh composer, scroll position and subscriptions), not this one's elements
    // patched over.
    view! {
        <For each=move || id.get().map(|id| (id, at.get())) key=|opened| *opened let((id, at))>
            <Room id=id at=at/>
        </For>
        <Show when=move || id.get().is_none()>
            <div class="empty">
                <p role="alert">"That is not a chat address."</p>
            </div>
        </Show>
    }
}

/// Keeps the chat list current: new messages reorder it, counts change, chats come and
/// go. Events are not replayed on this topic: instead, after every (re)connection — an
/// instance switch too — the list is read again and merged, so what happened while the
/// page was not live (a chat started with you, messages elsewhere, counts) shows
/// without a reload.
fn watch_chat_list(store: ChatsStore, me: &User, presence: PresenceBook) {
    let me = me.id;
    let (live, client) = (use_live(), use_client());
    Effect::new(move |_| {
        if live.track_connections() == 0 {
            return;
        }
        let listed_before = store.ids();
        let read = client.call::<Vec<Chat>>(Service::Receiver, ops::CHATS, json!({}), "chats");
        leptos::task::spawn_local(async move {
            if let Ok(fresh) = read.await {
                store.read_again(fresh, &listed_before, me);
            }
        });
    });
    let navigate = leptos_router::hooks::use_navigate();
    let open = Callback::new(move |path: String| navigate(&path, Default::default()));
    // A notification for a direct message here; one that mentions the reader gets
    // its own below.
    subscribe_while_mounted(
        ops::CHAT_MESSAGE_NOTIFICATION,
        "chatMessageNotification",
        || json!({}),
        move |message: Message| {
            store.message_arrived(&message);
            if let Some(chat) = store.find(message.chat_id)
                && !message.is_mention_of(me)
            {
                notify::message(&chat, &message, me, false, open);
            }
        },
    );
    subscribe_while_mounted(
        ops::MENTIONED,
        "mentioned",
        || json!({}),
        move |message: Message| {
            store.mentioned(&message);
            if let Some(chat) = store.find(message.chat_id) {
                notify::message(&chat, &message, me, true, open);
            }
        },
    );
    subscribe_while_mounted(
        ops::UNREAD_COUNT_UPDATED,
        "unreadCountUpdated",
        || json!({}),
        move |unread: UnreadCount| store.unread_changed(&unread),
    );
    for (document, field, added) in [
        (ops::CHAT_ADDED, "chatAdded", true),
        (ops::CHAT_UPDATED, "chatUpdated", false),
    ] {
        subscribe_while_mounted(
            document,
            field,
            || json!({}),
            move |chat: Chat| {
                // Someone new to see: a chat added, or a request accepted (by either
                // side) in one already listed.
                let accepted_now = store
                    .find(chat.id)
                    .is_some_and(|before| accepted_count(&before) < accepted_count(&chat));
                store.chat_changed(chat, me);
                if added || accepted_now {
                    presence.chat_added();
                }
            },
        );
    }
}

/// How many of a chat's people have accepted it.
fn accepted_count(chat: &Chat) -> usize {
    chat.participants.iter().filter(|p| p.accepted).count()
}
