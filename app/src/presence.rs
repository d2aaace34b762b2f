//! Who is around, in the browser (`chat_types::presence`): this page says whether its
//! person is here — once a minute while it is open, and at once when its tab is
//! hidden or shown, or they come back from being idle — and keeps what it knows of the
//! people around them: read on every (re)connection and each minute, changed by
//! events, aged by a clock (someone quiet for too long shows as offline without
//! anyone telling).

use std::collections::HashMap;

use chat_types::presence::{Presence, Seen};
#[cfg(browser)]
use chat_types::presence::{PresenceStatus, REPORT_EVERY};
use chat_types::{UserId, ops};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde_json::json;

use crate::api::use_client;
use crate::browser;
use crate::config::Service;
use crate::live::{subscribe_while_mounted, use_live};
use crate::time::Clock;

/// Without a key press or a click for this long, the person is away.
#[cfg(browser)]
const IDLE_AFTER_MS: f64 = 5.0 * 60_000.0;
/// How often the page looks at whether its person's status changed.
#[cfg(browser)]
const CHECK_EVERY_MS: u32 = 15_000;

/// What the page knows of the people around; in context on the chats screen.
#[derive(Clone, Copy)]
pub struct PresenceBook {
    known: RwSignal<HashMap<UserId, Presence>>,
    /// Now, as far as presence is concerned: it ages what is known.
    now: RwSignal<DateTime<Utc>>,
    /// The person hid their own presence.
    pub hidden: RwSignal<bool>,
    /// A chat was added: everyone is read again, its people among them.
    chat_added: Trigger,
}

impl PresenceBook {
    /// A chat of this person's was added (started, or they were added to it): its
    /// people are known at once, not at the next minute's reading.
    pub fn chat_added(&self) {
        self.chat_added.notify();
    }

    /// How `user` shows now, if anything is known (tracked).
    pub fn seen(&self, user: UserId) -> Option<Seen> {
        let now = self.now.get();
        self.known
            .with(|known| known.get(&user).map(|p| p.seen_at(now)))
    }

    /// Takes in what was learned of someone: the later word wins.
    fn take(&self, presence: Presence) {
        self.known.update(|known| {
            let newer = known
                .get(&presence.user_id)
                .is_none_or(|p| p.last_heard_at <= presence.last_heard_at);
            if newer {
                known.insert(presence.user_id, presence);
            }
        });
    }
}

/// Sets up presence for the signed-in page: reporting, reading, events, the clock.
pub fn provide(hidden: bool) -> PresenceBook {
    let book = PresenceBook {
        known: RwSignal::new(HashMap::new()),
        now: RwSignal::new(now()),
        hidden: RwSignal::new(hidden),
        chat_added: Trigger::new(),
    };
    provide_context(book);
    let (client, live) = (use_client(), use_live());

    // Everyone around, on every (re)connection, when a chat is added, and each minute.
    let read = {
        let client = client.clone();
        move || {
            let call = client.call::<Vec<Presence>>(
                Service::Receiver,
                ops::PRESENCE,
                json!({}),
                "presence",
            );
            leptos::task::spawn_local(async move {
                if let Ok(all) = call.await {
                    book.known.try_update(|known| known.clear());
                    for presence in all {
                        book.take(presence);
                    }
                }
            });
        }
    };
    Effect::new({
        let read = read.clone();
        move |_| {
            book.chat_added.track();
            if live.track_connections() > 0 {
                read();
            }
        }
    });
    subscribe_while_mounted(
        ops::PRESENCE_CHANGED,
        "presenceChanged",
        || json!({}),
        move |presence: Presence| book.take(presence),
    );
    #[cfg(browser)]
    report_and_tick(book, client, read);
    #[cfg(not(browser))]
    let _ = (client, read);
    book
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(browser::now_ms() as i64).unwrap_or_default()
}

/// Says what this person is, when it changes and at least each [`REPORT_EVERY`];
/// re-reads everyone each minute; moves the clock.
#[cfg(browser)]
fn report_and_tick(book: PresenceBook, client: crate::api::Client, read: impl Fn() + 'static) {
    let last_input = StoredValue::new(browser::now_ms());
    let last_report = StoredValue::new(None::<(PresenceStatus, f64)>);
    let keys = window_event_listener(leptos::ev::keydown, move |_| {
        last_input.set_value(browser::now_ms())
    });
    let clicks = window_event_listener(leptos::ev::pointerdown, move |_| {
        last_input.set_value(browser::now_ms())
    });
    let check = move || {
        if book.hidden.get_untracked() {
            return;
        }
        let at = browser::now_ms();
        let status = if browser::page_visible() && at - last_input.get_value() < IDLE_AFTER_MS {
            PresenceStatus::Active
        } else {
            PresenceStatus::Away
        };
        let due = last_report.get_value().is_none_or(|(said, when)| {
            said != status || at - when >= REPORT_EVERY.as_millis() as f64
        });
        if !due {
            return;
        }
        last_report.set_value(Some((status, at)));
        let call = client.call::<bool>(
            Service::Sender,
            ops::REPORT_PRESENCE,
            json!({ "status": status }),
            "reportPresence",
        );
        leptos::task::spawn_local(async move {
            if call.await.is_err() {
                // Said again at the next check.
                last_report.try_set_value(None);
            }
        });
    };
    // At once, and again whenever they show their presence after hiding it.
    Effect::new({
        let check = check.clone();
        move |_| {
            if !book.hidden.get() {
                last_report.set_value(None);
                check();
            }
        }
    });
    browser::on_visibility_change(check.clone());
    let stopped = StoredValue::new(false);
    on_cleanup(move || {
        stopped.set_value(true);
        keys.remove();
        clicks.remove();
    });
    leptos::task::spawn_local(async move {
        let mut since_read = 0;
        loop {
            browser::pause(CHECK_EVERY_MS).await;
            if stopped.try_get_value() != Some(false) {
                return;
            }
            book.now.set(now());
            check();
            since_read += CHECK_EVERY_MS;
            if since_read >= REPORT_EVERY.as_millis() as u32 {
                since_read = 0;
                read();
            }
        }
    });
}

/// How someone shows, in words: "Online", "Away", "Last seen 14:02", "Last seen Mon".
pub fn describe(seen: Seen, clock: &Clock) -> String {
    match seen {
        Seen::Online => "Online".to_string(),
        Seen::Away => "Away".to_string(),
        Seen::LastSeen(at) => format!("Last seen {}", clock.short(at)),
    }
}

/// The dot on someone's avatar: green online, amber away, hollow offline; nothing
/// when nothing is known (they hid it, or were never heard from).
#[component]
pub fn PresenceDot(user: UserId) -> impl IntoView {
    let book = expect_context::<PresenceBook>();
    let clock = expect_context::<Clock>();
    move || {
        book.seen(user).map(|seen| {
            let class = match seen {
                Seen::Online => "presence online",
                Seen::Away => "presence away",
                Seen::LastSeen(_) => "presence offline",
            };
            let words = describe(seen, &clock);
            let title = words.clone();
            view! {
                <span class=class title=title data-test="presence" data-seen=class>
                    <span class="visually-hidden">{words}</span>
                </span>
            }
        })
    }
}
