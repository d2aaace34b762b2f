//! One message: the message it answers, content, time, reactions, replying and
//! reacting, edits and deletes of your own, who has seen it, and the state of a message
//! still on its way.

use chat_types::{Chat, ChatKind, Message, Quote, Role, UserId, ops};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{ApiError, use_client};
use crate::browser;
use crate::components::attach::Attachments;
use crate::components::avatar::Avatar;
use crate::components::on_demand::{self, on_demand};
use crate::components::reactions::ReactionChips;
use crate::components::rich_text::{Names, rich_text};
use crate::components::room_actions::RoomActions;
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
    /// The viewer's newest message: its receipt says in words who has seen it.
    newest_of_mine: bool,
    chat: Memo<Option<Chat>>,
    outbox: Outbox,
) -> impl IntoView {
    let client = use_client();
    let clock = expect_context::<Clock>();
    let actions = expect_context::<RoomActions>();
    let me = me();
    let message = entry.message.clone();
    let mine = message.sender_id == me.id;
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(message.content.clone());
    let error = RwSignal::new(None::<String>);
    let confirming_delete = RwSignal::new(false);
    let picking = RwSignal::new(false);
    let history_open = RwSignal::new(false);
    let close_history = Callback::new(move |()| history_open.set(false));
    let stop_picking = Callback::new(move |()| picking.set(false));
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
    let toggle_reaction = {
        let client = client.clone();
        let id = message.id;
        move |(emoji, add): (String, bool)| {
            let (op, field) = if add {
                (ops::ADD_REACTION, "addReaction")
            } else {
                (ops::REMOVE_REACTION, "removeReaction")
            };
            let call = client.call::<Message>(
                Service::Sender,
                op,
                json!({ "messageId": id, "emoji": emoji }),
                field,
            );
            leptos::task::spawn_local(async move {
                apply(call.await);
                // The row is drawn anew with the change: the focus goes back to the
                // reaction, where a keyboard user left it.
                browser::after_layout(move || {
                    browser::focus(&format!(
                        "[data-test=message][data-seq=\"{seq}\"] [data-emoji=\"{emoji}\"]"
                    ));
                });
            });
        }
    };
    let pick = {
        let toggle_reaction = toggle_reaction.clone();
        let message = message.clone();
        move |emoji: &'static str| {
            picking.set(false);
            // Picking one you already gave takes it back, as pressing its chip does.
            toggle_reaction((emoji.to_string(), !message.reacted(me.id, emoji)));
        }
    };
    let toggle_pin = {
        let client = client.clone();
        let (id, pinned) = (message.id, message.pinned_at.is_some());
        move |_| {
            let (op, field) = if pinned {
                (ops::UNPIN_MESSAGE, "unpinMessage")
            } else {
                (ops::PIN_MESSAGE, "pinMessage")
            };
            let call =
                client.call::<Message>(Service::Sender, op, json!({ "messageId": id }), field);
            leptos::task::spawn_local(async move { apply(call.await) });
        }
    };
    // In a group its owners pin; in a direct chat either person.
    let may_pin = move || {
        chat.with(|c| {
            c.as_ref().is_some_and(|c| {
                c.kind == ChatKind::Direct
                    || c.participants
                        .iter()
                        .any(|p| p.user.id == me.id && p.role == Role::Owner)
            })
        })
    };
    let pin_label = if message.pinned_at.is_some() {
        "Unpin"
    } else {
        "Pin"
    };
    let reply = {
        let quote = Quote::of(&message);
        move |_| {
            actions.replying.set(Some(quote.clone()));
            browser::focus("#composer-input");
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
    let receipt = move || {
        (mine && sent && !deleted).then(|| receipt(&chat.get(), me.id, seq, newest_of_mine, &clock))
    };
    let time = view! {
        <time datetime=message.created_at.to_rfc3339() title=clock.full(message.created_at)>
            {clock.time(message.created_at)}
        </time>
    };
    let quote = message.reply_to.clone().map(|quote| {
        let who = if quote.sender_id == me.id {
            "You".to_string()
        } else {
            actions.name_of.run(quote.sender_id)
        };
        let text = if quote.is_deleted {
            "Deleted message".to_string()
        } else {
            quote.excerpt.clone()
        };
        let label = format!("In reply to {who}: “{text}” (show it)");
        let (seq, gone) = (quote.seq, quote.is_deleted);
        view! {
            <button
                class="quote"
                data-test="quote"
                aria-label=label
                on:click=move |_| actions.jump_to.run(seq)
            >
                <span class="quote-author">{who}</span>
                <span class="quote-text" class:deleted=gone>{text}</span>
            </button>
        }
    });
    let reactions = (!message.reactions.is_empty()).then(|| {
        view! {
            <ReactionChips
                message=message.clone()
                me=me.id
                name_of=actions.name_of
                toggle=toggle_reaction.clone()
            />
        }
    });
    let content = message.content.clone();
    let mentions = message.mentions.clone();
    let everyone = message.mentions_all;
    let files = (!deleted).then(|| view! { <Attachments files=message.attachments.clone()/> });
    let body = move || {
        if deleted {
            view! { <p class="content deleted">"Message deleted"</p> }.into_any()
        } else if content.is_empty() {
            // Files only: no bubble of text.
            ().into_any()
        } else {
            let names = Names {
                mentions: &mentions,
                everyone,
                me: me.id,
            };
            view! { <div class="content">{rich_text(&content, names)}</div> }.into_any()
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
            // Focusable by a tap (not by Tab): on a touch screen, with no hover, that is
            // what brings out the message's actions.
            tabindex="-1"
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
                {quote}
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
                {files}
                {reactions}
                <div class="meta">
                    {message.pinned_at.is_some().then(|| view! { <span class="pinned" data-test="pinned-mark">"📌 Pinned"</span> })}
                    {(message.is_edited() && !deleted).then(|| view! {
                        <button
                            class="edited"
                            aria-haspopup="dialog"
                            title="Show the earlier versions"
                            on:click=move |_| history_open.set(true)
                        >
                            "edited"
                        </button>
                    })}
                    {receipt}
                    {state}
                </div>
                <p class="field-error" role="alert">{move || error.get()}</p>
            </div>
            {(sent && !deleted).then(|| view! {
                <div class="actions">
                    <Show when=move || !confirming_delete.get() fallback=move || view! {
                        <span class="confirm">"Delete this message? "</span>
                        <button class="danger small" on:click=remove.clone()>"Delete"</button>
                        <button class="ghost small" on:click=move |_| confirming_delete.set(false)>"Keep"</button>
                    }>
                        <button class="ghost small" on:click=reply.clone()>"Reply"</button>
                        <button class="ghost small" aria-haspopup="dialog" on:click=move |_| picking.set(true)>"React"</button>
                        {
                            let toggle_pin = toggle_pin.clone();
                            move || may_pin().then(|| view! {
                                <button class="ghost small" on:click=toggle_pin.clone()>{pin_label}</button>
                            })
                        }
                        {mine.then(|| view! {
                            <button class="ghost small" on:click=move |_| { editing.set(true); error.set(None); }>"Edit"</button>
                            <button class="ghost small" on:click=move |_| confirming_delete.set(true)>"Delete"</button>
                        })}
                    </Show>
                </div>
            })}
            <Show when=move || history_open.get()>
                {on_demand(on_demand::edit_history(message.id, close_history), close_history)}
            </Show>
            <Show when=move || picking.get()>
                {on_demand(on_demand::reaction_picker(Callback::new(pick.clone()), stop_picking), stop_picking)}
            </Show>
        </li>
    }
}

/// Sent (✓), or seen (✓✓) — with who and when in the tooltip, and in words on the
/// viewer's newest message: "Seen 14:02" in a direct chat, "Seen by 2" in a group.
fn receipt(
    chat: &Option<Chat>,
    me: UserId,
    seq: i64,
    in_words: bool,
    clock: &Clock,
) -> impl IntoView + use<> {
    let direct = chat.as_ref().is_some_and(|c| c.kind == ChatKind::Direct);
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
        "Sent, not seen yet".to_string()
    } else {
        format!("Seen by {}", readers.join(", "))
    };
    let seen_at = others
        .iter()
        .filter(|p| p.last_read_seq >= seq)
        .filter_map(|p| p.read_at)
        .max();
    // In words: "Seen 14:02" in a direct chat; in a group "Seen by 2", which opens (by
    // click, tap or keyboard, with or without scripts) the list of who and when.
    let in_words = in_words && !readers.is_empty();
    let seen = (in_words && direct).then(|| {
        let shown = match seen_at {
            Some(at) => format!("Seen {}", clock.time(at)),
            None => "Seen".to_string(),
        };
        view! { <span class="seen" aria-hidden="true">{shown}</span> }
    });
    let seen_by = (in_words && !direct).then(|| {
        view! {
            <details class="seen-by" data-test="seen-by">
                <summary>{format!("Seen by {}", readers.len())}</summary>
                <ul>{readers.iter().map(|r| view! { <li>{r.clone()}</li> }).collect_view()}</ul>
            </details>
        }
    });
    view! {
        <span class=class title=title.clone() data-test="receipt" data-state=label.clone()>
            <span aria-hidden="true">{mark}</span>
            {seen}
            <span class="visually-hidden">{format!("{label}. {title}")}</span>
        </span>
        {seen_by}
    }
}
