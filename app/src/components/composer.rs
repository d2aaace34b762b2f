//! Writing and sending: Enter sends, Shift+Enter starts a new line. A message shows at
//! once as pending, is retried with the same clientId while the failure is temporary,
//! and otherwise shows as failed with a retry button. Nothing is sent twice: the
//! clientId makes every retry the same message.

use chat_types::validate::MessageContent;
use chat_types::{ChatId, Message, MessageId, ops};
use leptos::html;
use leptos::prelude::*;
use serde_json::json;

use crate::api::{Client, use_client};
use crate::browser;
use crate::components::room::scroll_to_bottom;
use crate::config::Service;
use crate::state::{ChatsStore, Delivery, Entry, LogState, edit_log, me};

/// Attempts per message before it shows as failed.
const ATTEMPTS: u32 = 4;
/// Typing notices go out at most this often.
const TYPING_EVERY_MS: f64 = 2000.0;

#[component]
pub fn Composer(id: ChatId, log: LogState, scroller: NodeRef<html::Div>) -> impl IntoView {
    let client = use_client();
    let store = expect_context::<ChatsStore>();
    let me = me();
    let text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let last_typing = StoredValue::new(0.0f64);
    let input = NodeRef::<html::Textarea>::new();

    let send = {
        let client = client.clone();
        move || {
            let content = match MessageContent::parse(&text.get_untracked()) {
                Ok(content) => content.into_inner(),
                Err(e) if text.get_untracked().trim().is_empty() => {
                    let _ = e;
                    return;
                }
                Err(e) => {
                    error.set(Some(e.message));
                    return;
                }
            };
            error.set(None);
            text.set(String::new());
            let client_id = browser::new_client_id();
            let pending = Message {
                id: MessageId(uuid::Uuid::nil()),
                chat_id: id,
                seq: 0,
                sender_id: me.id,
                content: content.clone(),
                client_id: Some(client_id.clone()),
                created_at: chrono::DateTime::from_timestamp_millis(browser::now_ms() as i64)
                    .unwrap_or_default(),
                edited_at: None,
                deleted_at: None,
            };
            edit_log(log, |log| {
                log.entries.push(Entry {
                    message: pending,
                    delivery: Delivery::Pending,
                });
            });
            scroll_to_bottom(scroller);
            deliver(client.clone(), store, log, id, content, client_id);
        }
    };
    let on_keydown = {
        let send = send.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                ev.prevent_default();
                send();
            }
        }
    };
    let on_input = {
        let client = client.clone();
        move |_| {
            let now = browser::now_ms();
            if text.get_untracked().trim().is_empty()
                || now - last_typing.get_value() < TYPING_EVERY_MS
            {
                return;
            }
            last_typing.set_value(now);
            let call = client.call::<bool>(
                Service::Sender,
                ops::SEND_TYPING,
                json!({ "chatId": id }),
                "sendTyping",
            );
            leptos::task::spawn_local(async move {
                let _ = call.await;
            });
        }
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        send();
        if let Some(input) = input.get_untracked() {
            let _ = input.focus();
        }
    };
    view! {
        <form class="composer" on:submit=on_submit>
            <label for="composer-input" class="visually-hidden">"Message"</label>
            <textarea
                id="composer-input"
                node_ref=input
                rows="1"
                placeholder="Write a message… (Enter sends, Shift+Enter for a new line)"
                bind:value=text
                on:keydown=on_keydown
                on:input=on_input
                aria-describedby="composer-error"
            ></textarea>
            <button type="submit" class="primary">"Send"</button>
            <p class="field-error" id="composer-error" role="alert">{move || error.get()}</p>
        </form>
    }
}

/// Sends a message (again, for a retry) and records how it went in the log.
pub(crate) fn deliver(
    client: Client,
    store: ChatsStore,
    log: LogState,
    id: ChatId,
    content: String,
    client_id: String,
) {
    let variables = json!({ "input": { "chatId": id, "content": content, "clientId": client_id } });
    leptos::task::spawn_local(async move {
        let mut pause = 400;
        for attempt in 1..=ATTEMPTS {
            let call = client.call::<Message>(
                Service::Sender,
                ops::CREATE_MESSAGE,
                variables.clone(),
                "createMessage",
            );
            match call.await {
                Ok(message) => {
                    store.message_arrived(&message);
                    edit_log(log, |log| {
                        log.add_stored(message);
                    });
                    return;
                }
                Err(e) if e.is_retriable() && attempt < ATTEMPTS => {
                    browser::pause(pause).await;
                    pause *= 2;
                }
                Err(e) => {
                    edit_log(log, |log| {
                        log.set_delivery(&client_id, Delivery::Failed(e.message));
                    });
                    return;
                }
            }
        }
    });
}
