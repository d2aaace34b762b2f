//! The open chat: its messages (older ones on scrolling up), who is typing, the
//! composer, and the details panel.

use chat_types::{
    ChatId, ChatKind, Message, MessagePage, ReadUpdate, TypingEvent, UnreadCount, UserId, ops,
};
use leptos::html;
use leptos::prelude::*;
use serde_json::json;

use crate::api::{ApiError, Client, use_client};
use crate::components::composer::Composer;
use crate::components::message::MessageItem;
use crate::components::settings::Details;
use crate::config::Service;
use crate::live::{LiveSubscription, subscribe_while_mounted, use_live};
use crate::state::{ChatLog, ChatsStore, LogState, edit_log, me};
use crate::{browser, time};

/// Messages per page.
const PAGE: i64 = 50;
/// How long a typing notice stays up after its last event.
const TYPING_SHOWN_MS: f64 = 4000.0;
/// Within this many pixels of an edge counts as "at" it.
const EDGE_PX: i32 = 80;

#[component]
pub fn Room(id: ChatId) -> impl IntoView {
    let client = use_client();
    let store = expect_context::<ChatsStore>();
    let me = me();
    let offset = time::offset_minutes();
    let first_page = Resource::new(|| (), {
        let client = client.clone();
        move |_| {
            client.call_raw(
                Service::Receiver,
                ops::MESSAGES,
                json!({ "chatId": id, "limit": PAGE }),
            )
        }
    });
    let chat = Memo::new(move |_| store.find(id));
    // What is shown: the first page once loaded, then kept current here.
    let log: LogState = RwSignal::new(None);
    let loaded = Memo::new(move |_| log.with(Option::is_some));
    let scroller = NodeRef::<html::Div>::new();
    let typing = RwSignal::new(Vec::<(TypingEvent, f64)>::new());
    let show_details = RwSignal::new(false);
    let loading_older = RwSignal::new(false);
    // Where "new messages" starts: after my watermark as first seen in this chat (it
    // stays put while the chat is open, even as reading moves the watermark on).
    let first_watermark = StoredValue::new(None::<i64>);
    let marker_after = move || {
        if first_watermark.get_value().is_none() {
            let seen = chat.with(|c| {
                c.as_ref()
                    .and_then(|c| c.participants.iter().find(|p| p.user.id == me.id))
                    .map(|p| p.last_read_seq)
            });
            first_watermark.set_value(seen);
        }
        first_watermark.get_value().unwrap_or(i64::MAX)
    };

    let mark_read = {
        let client = client.clone();
        move || mark_read(&client, store, id)
    };

    // Live: once the first page is here, what came after it, then everything new.
    let on_added = {
        let mark_read = mark_read.clone();
        move |message: Message| {
            let near_bottom = at_bottom(scroller);
            let mut added = false;
            edit_log(log, |log| added = log.add_stored(message.clone()));
            store.message_arrived(&message);
            if added && message.sender_id != me.id {
                typing.try_update(|t| t.retain(|(e, _)| e.user_id != message.sender_id));
                if browser::page_visible() {
                    mark_read();
                }
            }
            if near_bottom || message.sender_id == me.id {
                scroll_to_bottom(scroller);
            }
        }
    };
    let added = StoredValue::new(None::<LiveSubscription>);
    let live = use_live();
    Effect::new({
        let mark_read = mark_read.clone();
        move |_| {
            if !loaded.get() || added.with_value(Option::is_some) {
                return;
            }
            let after_last_shown = move || {
                let after = log.with_untracked(|l| l.as_ref().map(ChatLog::last_seq));
                json!({ "chatId": id, "afterSeq": after })
            };
            added.set_value(Some(live.subscribe(
                ops::MESSAGE_ADDED,
                "messageAdded",
                after_last_shown,
                on_added.clone(),
            )));
            // Opening the chat reads it.
            scroll_to_bottom(scroller);
            if store.find(id).is_some_and(|c| c.unread_count > 0) {
                mark_read();
            }
        }
    });
    for (document, field) in [
        (ops::MESSAGE_UPDATED, "messageUpdated"),
        (ops::MESSAGE_DELETED, "messageDeleted"),
    ] {
        subscribe_while_mounted(
            document,
            field,
            move || json!({ "chatId": id }),
            move |message: Message| {
                store.message_changed(&message);
                edit_log(log, |log| log.replace(message));
            },
        );
    }
    subscribe_while_mounted(
        ops::MESSAGE_READ_UPDATED,
        "messageReadUpdated",
        move || json!({ "chatId": id }),
        move |read: ReadUpdate| store.read_moved(&read),
    );
    subscribe_while_mounted(
        ops::TYPING,
        "typing",
        move || json!({ "chatId": id }),
        move |event: TypingEvent| show_typing(typing, event),
    );

    let load_older = {
        let client = client.clone();
        move || {
            let Some((first, more)) =
                log.with_untracked(|l| l.as_ref().map(|log| (log.first_seq(), log.has_more)))
            else {
                return;
            };
            if !more || loading_older.get_untracked() {
                return;
            }
            loading_older.set(true);
            let call = client.call::<MessagePage>(
                Service::Receiver,
                ops::MESSAGES,
                json!({ "chatId": id, "beforeSeq": first, "limit": PAGE }),
                "messages",
            );
            leptos::task::spawn_local(async move {
                let before = scroll_height(scroller);
                if let Ok(page) = call.await {
                    edit_log(log, |log| log.prepend(page.messages, page.has_more));
                    browser::after_layout(move || keep_position(scroller, before));
                }
                loading_older.set(false);
            });
        }
    };
    let load_older = Callback::new(move |()| load_older());
    let on_scroll = move |_| {
        if at_top(scroller) {
            load_older.run(());
        }
    };

    let title = move || chat.with(|c| c.as_ref().map(|c| c.title_for(me.id)).unwrap_or_default());
    let subtitle = move || {
        chat.with(|c| match c {
            Some(c) if c.kind == ChatKind::Group => format!("{} members", c.participants.len()),
            Some(c) => c
                .participants
                .iter()
                .find(|p| p.user.id != me.id)
                .map(|p| format!("@{}", p.user.username))
                .unwrap_or_default(),
            None => "You are no longer in this chat".to_string(),
        })
    };
    let typing_text = move || typing_line(&typing.get());
    let entries = move || log.with(|l| l.as_ref().map(|l| l.entries.clone()).unwrap_or_default());
    let has_more = move || log.with(|l| l.as_ref().is_some_and(|l| l.has_more));
    let names = move || -> Vec<(UserId, String)> {
        chat.with(|c| {
            c.iter()
                .flat_map(|c| c.participants.iter())
                .map(|p| (p.user.id, p.user.display_name.clone()))
                .collect()
        })
    };

    let my_id = me.id;
    let list = move || {
        view! {
            <Show when=has_more>
                <button class="ghost older" on:click=move |_| load_older.run(()) disabled=loading_older>
                    {move || if loading_older.get() { "Loading…" } else { "Load older messages" }}
                </button>
            </Show>
            <ol class="message-list" data-test="messages">
                {move || {
                    let names = names();
                    let marker_after = marker_after();
                    let mut marked = false;
                    entries()
                        .into_iter()
                        .map(|entry| {
                            let starts_new = !marked
                                && entry.message.seq > marker_after
                                && entry.message.sender_id != my_id
                                && entry.delivery == crate::state::Delivery::Sent;
                            marked |= starts_new;
                            let author = names
                                .iter()
                                .find(|(id, _)| *id == entry.message.sender_id)
                                .map(|(_, name)| name.clone())
                                .unwrap_or_default();
                            view! {
                                {starts_new.then(|| view! { <li class="new-marker" role="separator">"New messages"</li> })}
                                <MessageItem entry=entry author=author chat=chat log=log offset=offset/>
                            }
                        })
                        .collect_view()
                }}
            </ol>
        }
    };
    view! {
        <section class="room" aria-label="Chat">
        <header class="room-head">
            <a href="/" class="back" aria-label="Back to chats">"‹"</a>
            <div class="room-title">
                <h2 data-test="room-title">{title}</h2>
                <p class="room-sub">{subtitle}</p>
            </div>
            <button
                class="ghost"
                aria-expanded=move || show_details.get().to_string()
                on:click=move |_| show_details.update(|s| *s = !*s)
            >
                "Details"
            </button>
        </header>
        <Show when=move || show_details.get()>
            <Details id=id chat=chat on_close=move || show_details.set(false)/>
        </Show>
        <Suspense fallback=|| view! { <p class="loading">"Loading messages…"</p> }>
            // Runs once: the first page never changes after loading; from then on
            // the list follows the log by itself.
            {move || Suspend::new(async move {
                let page = first_page
                    .await
                    .and_then(|raw| raw.decode::<MessagePage>("messages"))
                    .map(|page| ChatLog::new(page.messages, page.has_more));
                match page {
                    Ok(page) => {
                        if log.with_untracked(Option::is_none) {
                            log.set(Some(page));
                        }
                        view! {
                            <div class="messages" node_ref=scroller on:scroll=on_scroll tabindex="0" aria-label="Messages" role="log">
                                {list()}
                            </div>
                            <p class="typing" aria-live="polite">{typing_text}</p>
                            <Composer id=id log=log scroller=scroller/>
                        }
                        .into_any()
                    }
                    Err(error) => view! { <RoomError error=error/> }.into_any(),
                }
            })}
        </Suspense>
        </section>
    }
}

#[component]
fn RoomError(error: ApiError) -> impl IntoView {
    let text = match error.code {
        Some(chat_types::ErrorCode::Forbidden) => "You are not in this chat.".to_string(),
        Some(chat_types::ErrorCode::NotFound) => "This chat does not exist.".to_string(),
        _ => format!(
            "The receiver did not answer ({}). Pick another receiver above.",
            error.message
        ),
    };
    view! {
        <div class="empty">
            <p role="alert">{text}</p>
            <a href="/">"Back to your chats"</a>
        </div>
    }
}

/// Tells the sender this chat is read up to its end, and clears the badge now.
fn mark_read(client: &Client, store: ChatsStore, id: ChatId) {
    let call = client.call::<UnreadCount>(
        Service::Sender,
        ops::MARK_AS_READ,
        json!({ "chatId": id }),
        "markAsRead",
    );
    leptos::task::spawn_local(async move {
        if let Ok(unread) = call.await {
            store.unread_changed(&unread);
        }
    });
}

fn show_typing(typing: RwSignal<Vec<(TypingEvent, f64)>>, event: TypingEvent) {
    let until = browser::now_ms() + TYPING_SHOWN_MS;
    typing.try_update(|list| {
        list.retain(|(e, _)| e.user_id != event.user_id);
        list.push((event, until));
    });
    set_timeout(
        move || {
            typing.try_update(|list| list.retain(|(_, until)| *until > browser::now_ms()));
        },
        std::time::Duration::from_millis(TYPING_SHOWN_MS as u64 + 50),
    );
}

fn typing_line(typing: &[(TypingEvent, f64)]) -> String {
    let names: Vec<&str> = typing
        .iter()
        .map(|(e, _)| e.display_name.as_str())
        .collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [one, two] => format!("{one} and {two} are typing…"),
        _ => "Several people are typing…".to_string(),
    }
}

fn at_bottom(scroller: NodeRef<html::Div>) -> bool {
    scroller
        .get_untracked()
        .is_none_or(|el| el.scroll_height() - el.scroll_top() - el.client_height() < EDGE_PX)
}

fn at_top(scroller: NodeRef<html::Div>) -> bool {
    scroller
        .get_untracked()
        .is_some_and(|el| el.scroll_top() < EDGE_PX)
}

fn scroll_height(scroller: NodeRef<html::Div>) -> i32 {
    scroller.get_untracked().map_or(0, |el| el.scroll_height())
}

pub(crate) fn scroll_to_bottom(scroller: NodeRef<html::Div>) {
    browser::after_layout(move || {
        if let Some(el) = scroller.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    });
}

/// After older messages went in above, keeps the same messages in view.
fn keep_position(scroller: NodeRef<html::Div>, height_before: i32) {
    if let Some(el) = scroller.get_untracked() {
        el.set_scroll_top(el.scroll_top() + el.scroll_height() - height_before);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typing(name: &str) -> (TypingEvent, f64) {
        (
            TypingEvent {
                chat_id: uuid::Uuid::nil().into(),
                user_id: uuid::Uuid::new_v4().into(),
                display_name: name.into(),
                at: chrono::DateTime::UNIX_EPOCH,
            },
            0.0,
        )
    }

    #[test]
    fn the_typing_line_names_who_is_typing() {
        assert_eq!(typing_line(&[]), "");
        assert_eq!(typing_line(&[typing("Ann")]), "Ann is typing…");
        assert_eq!(
            typing_line(&[typing("Ann"), typing("Bo")]),
            "Ann and Bo are typing…"
        );
        assert_eq!(
            typing_line(&[typing("A"), typing("B"), typing("C")]),
            "Several people are typing…"
        );
    }
}
