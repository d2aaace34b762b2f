//! One message: content, time, edits and deletes of your own, read receipts, and the
//! state of a message still on its way.

use chat_types::{Chat, Message, UserId, ops};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{ApiError, use_client};
use crate::components::avatar::Avatar;
use crate::config::Service;
use crate::outbox::Outbox;
use crate::state::{Delivery, Entry, edit_log, me};
use crate::time::Clock;

#[component]
pub fn MessageItem(
    entry: Entry,
    author: String,
    /// The first of a run by one person: shows their name, avatar and the time.
    starts_group: bool,
    chat: Memo<Option<Chat>>,
    outbox: Outbox,
) -> impl IntoView {
    let client = use_client();
    let clock = expect_context::<Clock>();
    let me = me();
    let message = entry.message.clone();
    let mine = message.sender_id == me.id;
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(message.content.clone());
    let error = RwSignal::new(None::<String>);
    let confirming_delete = RwSignal::new(false);
    let seq = message.seq;
    let (store, log) = (outbox.store, outbox.log);

    let apply = move |result: Result<Message, ApiError>| match result {
        Ok(message) => {
            store.message_changed(&message);
            edit_log(log, |log| log.replace(message));
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
        let message = message.clone();
        move |_| outbox.retry(message.clone())
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
        move || (mine && sent && !deleted).then(|| receipt(&chat.get(), me.id, seq, &clock));
    let time = view! {
        <time datetime=message.created_at.to_rfc3339() title=clock.full(message.created_at)>
            {clock.time(message.created_at)}
        </time>
    };
    let content = message.content.clone();
    let body = move || {
        if deleted {
            view! { <p class="content deleted">"Message deleted"</p> }.into_any()
        } else {
            view! { <p class="content">{content.clone()}</p> }.into_any()
        }
    };
    let state = match &entry.delivery {
        Delivery::Pending => Some(view! { <span class="state">"Sending…"</span> }.into_any()),
        Delivery::Waiting => Some(
            view! { <span class="state waiting">"Waiting for the connection — it will be sent when it is back"</span> }
                .into_any(),
        ),
        Delivery::Failed(reason) => Some(
            view! {
                <span class="failed" role="alert">
                    "Not sent: " {reason.clone()} ". "
                    <button class="ghost small" on:click=retry>"Retry"</button>
                </span>
            }
            .into_any(),
        ),
        Delivery::Sent => None,
    };
    view! {
        <li
            class="message"
            class:mine=mine
            class:starts=starts_group
            class:pending=!sent
            data-seq=seq.to_string()
            data-test="message"
        >
            <div class="gutter">
                {(starts_group && !mine).then(|| view! { <Avatar id=message.sender_id.as_uuid() name=author.clone() small=true/> })}
            </div>
            <div class="body">
                {starts_group.then(|| view! {
                    <p class="message-head">
                        {(!mine).then(|| view! { <span class="author">{author.clone()}</span> })}
                        {time}
                    </p>
                })}
                <div class="bubble" title=(!starts_group).then(|| clock.full(message.created_at))>
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
                </div>
                <p class="meta">
                    {message.is_edited().then(|| view! { <span class="edited">"edited"</span> })}
                    {receipt}
                    {state}
                </p>
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
fn receipt(chat: &Option<Chat>, me: UserId, seq: i64, clock: &Clock) -> impl IntoView + use<> {
    let others: Vec<_> = chat
        .iter()
        .flat_map(|c| c.participants.iter())
        .filter(|p| p.user.id != me)
        .collect();
    let readers: Vec<String> = others
        .iter()
        .filter(|p| p.last_read_seq >= seq)
        .map(|p| match p.read_at {
            Some(at) => format!("{} ({})", p.user.display_name, clock.time(at)),
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
            <span aria-hidden="true">{mark}</span>
            <span class="visually-hidden">{format!("{label}. {title}")}</span>
        </span>
    }
}
