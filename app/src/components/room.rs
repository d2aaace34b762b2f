//! The open chat: its timeline (opened at the first unread message, older ones on
//! scrolling up, new ones live), who is typing, the composer, and the details dialog.

use chat_types::{
    ChatEvent, ChatId, ChatKind, MAX_PAGE_SIZE, Message, MessagePage, ReadUpdate, TypingEvent,
    UnreadCount, UserId, ops,
};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{ApiError, Client, use_client};
use crate::browser;
use crate::components::attach::Uploads;
use crate::components::composer::Composer;
use crate::components::message::MessageItem;
use crate::components::on_demand::{self, on_demand};
use crate::components::request::RequestBar;
use crate::components::room_actions::RoomActions;
use crate::config::Service;
use crate::live::{LiveSubscription, subscribe_while_mounted, use_live};
use crate::outbox::Outbox;
use crate::scroll::{self, Scroller};
use crate::state::{ChatLog, ChatsStore, LogState, edit_log, me};
use crate::time::Clock;
use crate::timeline::{Row, rows};

/// Messages per page.
const PAGE: i64 = 50;
/// How far before the first loaded message a jump still loads the pages between; past
/// it, the history around the message opens instead.
const NEAR: i64 = 2 * MAX_PAGE_SIZE;
/// How long a typing notice stays up after its last event.
const TYPING_SHOWN_MS: f64 = 4000.0;

/// The chat `id`, opened at its end, where the reader left off, or, with `at`, at that
/// message (a search result), highlighted, in a window onto the history around it.
#[component]
pub fn Room(id: ChatId, at: Option<i64>) -> impl IntoView {
    let client = use_client();
    let store = expect_context::<ChatsStore>();
    let live = use_live();
    let clock = expect_context::<Clock>();
    let me = me();
    let viewer = me.id;
    // Where this reader left off when the chat was opened: the first page is loaded
    // around it and the "New messages" line goes there. It stays put while the chat is
    // open, even as reading moves the watermark on.
    let unread_from = RwSignal::new(store.find(id).and_then(|chat| {
        let read = chat
            .participants
            .iter()
            .find(|p| p.user.id == me.id)
            .map_or(0, |p| p.last_read_seq);
        (chat.last_seq > read).then_some(read + 1)
    }));
    let first_page = Resource::new(|| (), {
        let client = client.clone();
        move |_| {
            let variables = match at.or(unread_from.get_untracked()) {
                Some(seq) => json!({ "chatId": id, "aroundSeq": seq, "limit": PAGE }),
                None => json!({ "chatId": id, "limit": PAGE }),
            };
            client.call_raw(Service::Receiver, ops::MESSAGES, variables)
        }
    });
    // Messages up to here existed when the chat was opened: catching up on them is not
    // news.
    let known_when_opened = store.find(id).map_or(0, |c| c.last_seq);
    let chat = Memo::new(move |_| store.find(id));
    // What is shown: the first page once loaded, then kept current here.
    let log: LogState = RwSignal::new(None);
    let loaded = Memo::new(move |_| log.with(Option::is_some));
    let scroller: Scroller = NodeRef::new();
    let typing = RwSignal::new(Vec::<(TypingEvent, f64)>::new());
    let show_details = RwSignal::new(false);
    let hide_details = Callback::new(move |()| show_details.set(false));
    let loading_older = RwSignal::new(false);
    let loading_newer = RwSignal::new(false);
    // New messages that arrived below while the reader was looking further up.
    let new_below = RwSignal::new(0usize);
    let far_from_latest = RwSignal::new(false);
    let outbox = Outbox::new(client.clone(), store, live.clone(), log);

    let mark_read = {
        let client = client.clone();
        move || mark_read(&client, store, id)
    };
    browser::on_visible({
        let mark_read = mark_read.clone();
        move || {
            if store.find(id).is_some_and(|c| c.unread_count > 0) {
                mark_read();
            }
        }
    });

    // Live: once the first page is here, what came after it, then everything new.
    let on_added = {
        let mark_read = mark_read.clone();
        move |message: Message| {
            let near_bottom = scroll::at_bottom(scroller);
            let mine = message.sender_id == me.id;
            store.message_arrived(&message);
            // Reading far back in a window onto the history: it waits below.
            if log.with_untracked(|l| l.as_ref().is_some_and(|l| l.beyond(message.seq))) {
                if !mine {
                    new_below.update(|n| *n += 1);
                }
                return;
            }
            let mut added = false;
            edit_log(log, |log| added = log.add_stored(message.clone()));
            if added && !mine {
                typing.try_update(|t| t.retain(|(e, _)| e.user_id != message.sender_id));
                if browser::page_visible() {
                    mark_read();
                } else if unread_from.get_untracked().is_none() {
                    // Arrived while the reader was away: it is where they resume.
                    unread_from.set(Some(message.seq));
                }
            }
            if near_bottom || mine {
                scroll::to_bottom(scroller);
            } else if added && message.seq > known_when_opened {
                new_below.update(|n| *n += 1);
            }
        }
    };
    // Every logged change, edits and deletes included, in order: after a reconnect the
    // subscription resumes after the last one taken in, so nothing done meanwhile is
    // missed.
    let on_changed = move |event: ChatEvent| {
        let near_bottom = scroll::at_bottom(scroller);
        if let Some(message) = event
            .message
            .as_ref()
            .filter(|_| event.kind.changes_a_message())
        {
            store.message_changed(message);
        }
        edit_log(log, |log| {
            log.add_event(event);
        });
        if near_bottom {
            scroll::to_bottom(scroller);
        }
    };
    let live_subscriptions = StoredValue::new(Vec::<LiveSubscription>::new());
    Effect::new({
        let mark_read = mark_read.clone();
        let live = live.clone();
        move |_| {
            if !loaded.get() || live_subscriptions.with_value(|s| !s.is_empty()) {
                return;
            }
            let after_last_shown = move || {
                let after = log.with_untracked(|l| l.as_ref().map(ChatLog::resume_seq));
                json!({ "chatId": id, "afterSeq": after })
            };
            let after_last_change = move || {
                let after = log.with_untracked(|l| l.as_ref().map(ChatLog::last_event_seq));
                json!({ "chatId": id, "afterEventSeq": after })
            };
            live_subscriptions.set_value(vec![
                live.subscribe(
                    ops::MESSAGE_ADDED,
                    "messageAdded",
                    after_last_shown,
                    on_added.clone(),
                ),
                live.subscribe(
                    ops::CHAT_EVENTS,
                    "chatEvents",
                    after_last_change,
                    on_changed,
                ),
            ]);
            // Opening the chat reads it.
            match at {
                Some(seq) => browser::after_layout(move || {
                    scroll::to_message(scroller, seq);
                }),
                None => scroll::to_element(scroller, ".new-marker"),
            }
            if store.find(id).is_some_and(|c| c.unread_count > 0) {
                mark_read();
            }
        }
    });
    subscribe_while_mounted(
        ops::MESSAGE_READ_UPDATED,
        "messageReadUpdated",
        // Each (re)connection starts with where everyone is: what moved meanwhile.
        move || json!({ "chatId": id, "current": true }),
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
                let before = scroll::height(scroller);
                if let Ok(page) = call.await {
                    edit_log(log, |log| log.prepend(page));
                    browser::after_layout(move || scroll::keep_position(scroller, before));
                }
                loading_older.set(false);
            });
        }
    };
    let load_older = Callback::new(move |()| load_older());
    // A window far back grows downwards as the reader scrolls there.
    let load_newer = {
        let client = client.clone();
        Callback::new(move |()| {
            let Some(last) = log.with_untracked(|l| {
                l.as_ref()
                    .filter(|log| log.has_newer)
                    .map(ChatLog::last_seq)
            }) else {
                return;
            };
            if loading_newer.get_untracked() {
                return;
            }
            loading_newer.set(true);
            let call = client.call::<MessagePage>(
                Service::Receiver,
                ops::MESSAGES,
                json!({ "chatId": id, "afterSeq": last, "limit": PAGE }),
                "messages",
            );
            leptos::task::spawn_local(async move {
                if let Ok(page) = call.await {
                    edit_log(log, |log| log.append(page));
                }
                loading_newer.set(false);
            });
        })
    };
    let to_latest = {
        let client = client.clone();
        Callback::new(move |()| {
            new_below.set(0);
            if !log.with_untracked(|l| l.as_ref().is_some_and(|l| l.has_newer)) {
                scroll::to_bottom(scroller);
                return;
            }
            let call = client.call::<MessagePage>(
                Service::Receiver,
                ops::MESSAGES,
                json!({ "chatId": id, "limit": PAGE }),
                "messages",
            );
            leptos::task::spawn_local(async move {
                if let Ok(page) = call.await {
                    edit_log(log, |log| log.open_latest(page));
                    scroll::to_bottom(scroller);
                    // What came live while the page was read and is not on it.
                    load_newer.run(());
                }
            });
        })
    };
    let jump_to = {
        let client = client.clone();
        Callback::new(move |seq: i64| {
            if scroll::to_message(scroller, seq) {
                return;
            }
            let client = client.clone();
            leptos::task::spawn_local(async move {
                let first = log.with_untracked(|l| l.as_ref().and_then(ChatLog::first_seq));
                if first.is_some_and(|first| first - seq > NEAR) {
                    // Far back: the history around it, not every page between.
                    let page = client
                        .call::<MessagePage>(
                            Service::Receiver,
                            ops::MESSAGES,
                            json!({ "chatId": id, "aroundSeq": seq, "limit": PAGE }),
                            "messages",
                        )
                        .await;
                    match page {
                        Ok(page) => edit_log(log, |log| log.open_at(page)),
                        Err(_) => return,
                    }
                }
                // Near: older pages go in before the first until the message is among
                // them.
                while let Some((Some(first), true)) =
                    log.with_untracked(|l| l.as_ref().map(|l| (l.first_seq(), l.has_more)))
                {
                    if first <= seq {
                        break;
                    }
                    let page = client
                        .call::<MessagePage>(
                            Service::Receiver,
                            ops::MESSAGES,
                            json!({ "chatId": id, "beforeSeq": first, "limit": MAX_PAGE_SIZE }),
                            "messages",
                        )
                        .await;
                    match page {
                        Ok(page) => edit_log(log, |log| log.prepend(page)),
                        Err(_) => return,
                    }
                }
                browser::after_layout(move || {
                    scroll::to_message(scroller, seq);
                });
            });
        })
    };
    let name_of = Callback::new(move |user: UserId| {
        chat.with_untracked(|chat| {
            log.with_untracked(|l| {
                l.as_ref()
                    .map(|l| l.author_name(chat.as_ref(), user))
                    .unwrap_or_default()
            })
        })
    });
    provide_context(RoomActions {
        replying: RwSignal::new(None),
        jump_to,
        to_latest,
        name_of,
    });
    let detached = move || log.with(|l| l.as_ref().is_some_and(|l| l.has_newer));
    let on_scroll = move |_| {
        if scroll::at_top(scroller) {
            load_older.run(());
        }
        far_from_latest.set(scroll::far_from_bottom(scroller));
        if scroll::at_bottom(scroller) {
            if detached() {
                load_newer.run(());
            } else {
                new_below.set(0);
            }
        }
    };
    let jump_to_latest = move |_| to_latest.run(());

    let title = move || chat.with(|c| c.as_ref().map(|c| c.title_for(me.id)).unwrap_or_default());
    let presence = expect_context::<crate::presence::PresenceBook>();
    let subtitle = move || {
        chat.with(|c| match c {
            Some(c) if c.kind == ChatKind::Group => format!("{} members", c.participants.len()),
            Some(c) => c
                .participants
                .iter()
                .find(|p| p.user.id != me.id)
                .map(|p| match presence.seen(p.user.id) {
                    _ if !p.accepted => {
                        format!("@{} · has not accepted your request yet", p.user.username)
                    }
                    Some(seen) => format!(
                        "@{} · {}",
                        p.user.username,
                        crate::presence::describe(seen, &clock)
                    ),
                    None => format!("@{}", p.user.username),
                })
                .unwrap_or_default(),
            None => "You are no longer in this chat".to_string(),
        })
    };
    let typing_text = move || typing_line(&typing.get());
    let has_more = move || log.with(|l| l.as_ref().is_some_and(|l| l.has_more));
    let is_empty = move || log.with(|l| l.as_ref().is_some_and(|l| l.entries.is_empty()));
    let timeline = Memo::new(move |_| {
        let unread_from = unread_from.get();
        chat.with(|chat| {
            log.with(|l| {
                l.as_ref()
                    .map(|l| rows(l, chat.as_ref(), me.id, unread_from, &clock))
                    .unwrap_or_default()
            })
        })
    });
    let row_view = {
        let outbox = outbox.clone();
        move |row: Row| {
            match row {
            Row::Day(label) => view! { <li class="day"><h3>{label}</h3></li> }.into_any(),
            Row::Unread => view! { <li class="new-marker"><span>"New messages"</span></li> }.into_any(),
            Row::Change { text, .. } => view! { <li class="change" data-test="change">{text}</li> }.into_any(),
            Row::Message { entry, author, starts_group, newest_of_mine } => view! {
                <MessageItem entry=*entry author=author starts_group=starts_group newest_of_mine=newest_of_mine chat=chat outbox=outbox.clone()/>
            }
            .into_any(),
        }
        }
    };
    let jump_label = move || match new_below.get() {
        0 => "Jump to latest".to_string(),
        1 => "1 new message".to_string(),
        n => format!("{n} new messages"),
    };
    // Files dropped anywhere on the conversation go with the next message.
    let uploads = Uploads::new(id);
    let dropping = RwSignal::new(false);
    let on_dragover = move |ev: leptos::ev::DragEvent| {
        #[cfg(browser)]
        if ev
            .data_transfer()
            .is_some_and(|d| d.types().includes(&"Files".into(), 0))
        {
            ev.prevent_default();
            dropping.set(true);
        }
        let _ = ev;
    };
    let on_drop = {
        #[cfg(browser)]
        let client = use_client();
        move |ev: leptos::ev::DragEvent| {
            dropping.set(false);
            #[cfg(browser)]
            if let Some(files) = ev.data_transfer().and_then(|d| d.files())
                && files.length() > 0
            {
                ev.prevent_default();
                uploads.add(&client, files);
            }
            let _ = ev;
        }
    };
    view! {
        <section
            class="room"
            class:dropping=move || dropping.get()
            aria-labelledby="room-title"
            on:dragover=on_dragover
            on:dragleave=move |_| dropping.set(false)
            on:drop=on_drop
        >
        <header class="room-head">
            <a href="/" class="back" aria-label="Back to chats">"‹"</a>
            <div class="room-title">
                <h2 id="room-title" data-test="room-title">{title}</h2>
                <p class="room-sub">{subtitle}</p>
            </div>
            <button
                class="ghost"
                aria-haspopup="dialog"
                aria-expanded=move || show_details.get().to_string()
                on:click=move |_| show_details.set(true)
            >
                "Details"
            </button>
        </header>
        <Show when=move || show_details.get()>
            {on_demand(on_demand::details(id, chat, hide_details), hide_details)}
        </Show>
        <Suspense fallback=|| view! { <p class="loading">"Loading messages…"</p> }>
            // Runs once: the first page never changes after loading; from then on
            // the list follows the log by itself.
            {
                let row_view = row_view.clone();
                let outbox = outbox.clone();
                move || {
                let row_view = row_view.clone();
                let outbox = outbox.clone();
                Suspend::new(async move {
                let page = first_page
                    .await
                    .and_then(|raw| raw.decode::<MessagePage>("messages"))
                    .map(|page| {
                        let has_newer = page.has_newer;
                        let mut log = ChatLog::from_page(page);
                        if at.is_some() {
                            // A window onto the history: live messages go on from
                            // the chat's end, not from the window's.
                            log.has_newer = has_newer;
                            log.live_seq = known_when_opened;
                        }
                        log
                    });
                match page {
                    Ok(page) => {
                        let rendered_after = page.last_seq();
                        if log.with_untracked(Option::is_none) {
                            log.set(Some(page));
                        }
                        view! {
                            <div class="messages" node_ref=scroller on:scroll=on_scroll tabindex="0" aria-label="Messages" role="log">
                                <Show when=has_more>
                                    <button class="ghost older" on:click=move |_| load_older.run(()) disabled=loading_older>
                                        {move || if loading_older.get() { "Loading…" } else { "Load older messages" }}
                                    </button>
                                </Show>
                                <Show when=is_empty>
                                    <p class="hint empty-chat">"No messages yet. Say hello — write below and press Send."</p>
                                </Show>
                                <ol class="message-list" data-test="messages">
                                    <For each=move || timeline.get() key=Row::key children=row_view.clone()/>
                                </ol>
                            </div>
                            <Show when=move || { new_below.get() > 0 || far_from_latest.get() || detached() }>
                                <button class="jump" on:click=jump_to_latest data-test="jump">
                                    {jump_label} <span aria-hidden="true">" ↓"</span>
                                </button>
                            </Show>
                            <p class="typing" aria-live="polite">{typing_text}</p>
                            <Show
                                when=move || !chat.with(|c| c.as_ref().is_some_and(|c| c.is_request_for(viewer)))
                                fallback=move || view! { <RequestBar id=id chat=chat/> }
                            >
                                <Composer id=id outbox=outbox.clone() rendered_after=rendered_after uploads=uploads/>
                            </Show>
                        }
                        .into_any()
                    }
                    Err(error) => view! { <RoomError error=error/> }.into_any(),
                }
            })}}
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

#[cfg(test)]
mod tests {
    use super::*;

    fn typing(name: &str) -> (TypingEvent, f64) {
        (
            TypingEvent {
                chat_id: uuid::Uuid::nil().into(),
                user_id: uuid::Uuid::from_u128(name.len() as u128).into(),
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
