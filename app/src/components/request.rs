//! A chat someone started with you (or a group they added you to) while you had not
//! talked with them is a request: it shows this bar instead of the composer. Until
//! you accept, they see neither when you are around nor how far you have read, and
//! nobody's typing shows on either side. Declining a direct chat hides it (they are not
//! told); declining a group leaves it. Both buttons are real POST forms, which the web
//! tier answers when no script runs.

use chat_types::{Chat, ChatId, ChatKind, ops};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use serde_json::json;

use crate::api::use_client;
use crate::config::Service;
use crate::state::{ChatsStore, me};

#[component]
pub fn RequestBar(id: ChatId, chat: Memo<Option<Chat>>) -> impl IntoView {
    let client = use_client();
    let store = expect_context::<ChatsStore>();
    let me = me();
    let navigate = use_navigate();
    let error =
        RwSignal::new(crate::forms::take_flash(&format!("request:{id}")).and_then(|f| f.error));
    let busy = RwSignal::new(false);
    let who = move || {
        chat.with(|c| {
            let c = c.as_ref()?;
            let inviter = c
                .participants
                .iter()
                .find(|p| p.user.id != me.id && p.accepted)?;
            Some(inviter.user.display_name.clone())
        })
        .unwrap_or_else(|| "Someone".to_string())
    };
    let is_group = move || chat.with(|c| c.as_ref().is_some_and(|c| c.kind == ChatKind::Group));
    let accept = {
        let client = client.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            busy.set(true);
            let call = client.call::<Chat>(
                Service::Sender,
                ops::ACCEPT_CHAT,
                json!({ "chatId": id }),
                "acceptChat",
            );
            leptos::task::spawn_local(async move {
                match call.await {
                    Ok(chat) => store.chat_changed(chat, me.id),
                    Err(e) => error.set(Some(e.message)),
                }
                busy.set(false);
            });
        }
    };
    let decline = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        let call = client.call::<bool>(
            Service::Sender,
            ops::DECLINE_CHAT,
            json!({ "chatId": id }),
            "declineChat",
        );
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match call.await {
                Ok(_) => {
                    store.forget(id);
                    navigate("/", Default::default());
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="request-bar" role="region" aria-label="Chat request" data-test="request">
            <p>
                {move || if is_group() {
                    format!("{} added you to this group.", who())
                } else {
                    format!("{} wants to chat with you.", who())
                }}
                " Until you accept, they don’t see when you’re online or what you’ve read."
            </p>
            <div class="request-actions">
                <form method="post" action=format!("/chats/{id}/accept") on:submit=accept>
                    <button type="submit" class="primary" disabled=busy>"Accept"</button>
                </form>
                <form method="post" action=format!("/chats/{id}/decline") on:submit=decline>
                    <button type="submit" class="ghost" disabled=busy>
                        {move || if is_group() { "Decline and leave" } else { "Decline" }}
                    </button>
                </form>
            </div>
            <p class="field-error" role="alert">{move || error.get()}</p>
        </div>
    }
}
