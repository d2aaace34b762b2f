//! One message: content, time, edits and deletes of your own, read receipts, and the
//! state of a message still on its way.

use chat_types::{Chat, Message, ops};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{ApiError, use_client};
use crate::components::composer::deliver;
use crate::config::Service;
use crate::state::{ChatsStore, Delivery, Entry, LogState, edit_log, me};
use crate::time;

#[component]
pub fn MessageItem(
    entry: Entry,
    author: String,
    chat: Memo<Option<Chat>>,
    log: LogState,
    offset: i32,
) -> impl IntoView {
    let client = use_client();
    let store = expect_context::<ChatsStore>();
    let me = me();
    let message = entry.message.clone();
    let mine = message.sender_id == me.id;
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(message.content.clone());
    let error = RwSignal::new(None::<String>);
    let confirming_delete = RwSignal::new(false);
    let group = chat.with_untracked(|c| c.as_ref().is_some_and(|c| c.participants.len() > 2));
    let seq = message.seq;

    let apply = move |result: Result<Message, ApiError>| match result {
        Ok(message) => {
            store.message_changed(&message);
            edit_log(log, |log| {
                log.replace(message);
            });
            editing.set(false);
            confirming_delete.set(false);
        }
        Err(e) => error.set(Some(e.message)),
    };
    let save = {
        let client = client.clone();
        let id = message.id;
        move || {
            let content = match chat_types::validate::MessageContent::parse(&draft.get_untracked())
            {
                Ok(c) => c.into_inner(),
                Err(e) => {
                    error.set(Some(e.message));
                    return;
                }
            };
            let call = client.call::<Message>(
                Service::Sender,
                ops::UPDATE_MESSAGE,
                json!({ "id": id, "content": content }),
                "updateMessage",
            );
            leptos::task::spawn_local(async move { apply(call.await) });
        }
    };
    let remove = {
        let client = client.clone();
        let id = message.id;
        move |_| {
            let call = client.call::<Message>(
                Service::Sender,
                ops::REMOVE_MESSAGE,
                json!({ "id": id }),
                "removeMessage",
            );
            leptos::task::spawn_local(async move { apply(call.await) });
        }
    };
    let retry = {
        let client = client.clone();
        let (content, client_id, chat_id) = (
            message.content.clone(),
            message.client_id.clone(),
            message.chat_id,
        );
        move |_| {
            let Some(client_id) = client_id.clone() else {
                return;
            };
            edit_log(log, |log| {
                log.set_delivery(&client_id, Delivery::Pending);
            });
            deliver(
                client.clone(),
                store,
                log,
                chat_id,
                content.clone(),
                client_id,
            );
        }
    };
    let on_edit_key = {
        let save = save.clone();
        move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
            "Enter" if !ev.shift_key() => {
                ev.prevent_default();
                save();
            }
            "Escape" => editing.set(false),
            _ => {}
        }
    };

    let deleted = message.is_deleted();
    let sent = entry.delivery == Delivery::Sent;
    let receipt =
        move || (mine && sent && !deleted).then(|| receipt(&chat.get(), me.id, seq, offset));
    let when = time::clock(message.created_at, offset);
    let when_full = time::full(message.created_at, offset);
    let content = message.content.clone();
    let body = move || {
        if deleted {
            view! { <p class="content deleted">"Message deleted"</p> }.into_any()
        } else {
            view! { <p class="content">{content.clone()}</p> }.into_any()
        }
    };
    view! {
        <li
            class="message"
            class:mine=mine
            class:pending=entry.delivery == Delivery::Pending
            data-seq=seq.to_string()
            data-test="message"
        >
            <div class="bubble">
                {(group && !mine).then(|| view! { <p class="author">{author.clone()}</p> })}
                <Show when=move || editing.get() fallback=body>
                    <div class="edit">
                        <label class="visually-hidden" for=format!("edit-{seq}")>"Edit message"</label>
                        <textarea id=format!("edit-{seq}") bind:value=draft on:keydown=on_edit_key.clone() rows="2"></textarea>
                        <div class="edit-actions">
                            <button class="primary small" on:click={
                                let save = save.clone();
                                move |_| save()
                            }>"Save"</button>
                            <button class="ghost small" on:click=move |_| editing.set(false)>"Cancel"</button>
                        </div>
                    </div>
                </Show>
                <p class="meta">
                    <time datetime=message.created_at.to_rfc3339() title=when_full>{when}</time>
                    {message.is_edited().then(|| view! { <span class="edited">" · edited"</span> })}
                    {receipt}
                    {(entry.delivery == Delivery::Pending).then(|| view! { <span class="state">" · Sending…"</span> })}
                </p>
                {match entry.delivery.clone() {
                    Delivery::Failed(reason) => view! {
                        <p class="failed" role="alert">
                            "Not sent (" {reason} "). "
                            <button class="ghost small" on:click=retry>"Retry"</button>
                        </p>
                    }
                    .into_any(),
                    _ => ().into_any(),
                }}
                <p class="field-error" role="alert">{move || error.get()}</p>
            </div>
            {(mine && sent && !deleted).then(|| view! {
                <div class="actions">
                    <Show when=move || !confirming_delete.get() fallback=move || view! {
                        <span class="confirm">"Delete this message? "</span>
                        <button class="danger small" on:click=remove.clone()>"Delete"</button>
                        <button class="ghost small" on:click=move |_| confirming_delete.set(false)>"Keep"</button>
                    }>
                        <button class="ghost small" on:click=move |_| { editing.set(true); error.set(None); }>"Edit"</button>
                        <button class="ghost small" on:click=move |_| confirming_delete.set(true)>"Delete"</button>
                    </Show>
                </div>
            })}
        </li>
    }
}

/// Sent, read by some, or read by everyone else — with who and when in the tooltip.
fn receipt(
    chat: &Option<Chat>,
    me: chat_types::UserId,
    seq: i64,
    offset: i32,
) -> impl IntoView + use<> {
    let others: Vec<_> = chat
        .iter()
        .flat_map(|c| c.participants.iter())
        .filter(|p| p.user.id != me)
        .collect();
    let readers: Vec<String> = others
        .iter()
        .filter(|p| p.last_read_seq >= seq)
        .map(|p| match p.read_at {
            Some(at) => format!("{} ({})", p.user.display_name, time::clock(at, offset)),
            None => p.user.display_name.clone(),
        })
        .collect();
    let (class, mark, label) = if readers.is_empty() || others.is_empty() {
        ("receipt", "✓", "Sent".to_string())
    } else if readers.len() == others.len() {
        ("receipt read", "✓✓", "Read".to_string())
    } else {
        (
            "receipt some",
            "✓✓",
            format!("Read by {} of {}", readers.len(), others.len()),
        )
    };
    let title = if readers.is_empty() {
        "Sent, not read yet".to_string()
    } else {
        format!("Read by {}", readers.join(", "))
    };
    view! {
        <span class=class title=title.clone() data-test="receipt" data-state=label.clone()>
            " · " <span aria-hidden="true">{mark}</span>
            <span class="visually-hidden">{format!("{label}. {title}")}</span>
        </span>
    }
}
