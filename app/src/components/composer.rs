//! Writing: Enter sends, Shift+Enter starts a new line; the box grows with the text,
//! keeps an unsent draft per chat, and counts characters near the limit; files are
//! attached with the paper clip or pasted ([`crate::components::attach`]). Sending is
//! the [`crate::outbox`]'s job. Without scripts the form posts to the web tier.

use chat_types::validate::{MESSAGE_MAX, MessageContent};
use chat_types::{ChatId, ops};
use leptos::html;
use leptos::prelude::*;
use serde_json::json;

use crate::api::use_client;
use crate::browser;
use crate::components::attach::{AttachButton, PendingFiles, Uploads};
use crate::components::mention_picker::{MentionList, MentionPicker, caret_of};
use crate::components::room_actions::RoomActions;
use crate::config::Service;
use crate::forms::take_flash;
use crate::outbox::Outbox;
use crate::state::me;

/// Typing notices go out at most this often.
const TYPING_EVERY_MS: f64 = chat_types::limits::TYPING_INTERVAL.as_millis() as f64;
/// The counter shows from this many characters on.
const COUNT_FROM: usize = MESSAGE_MAX - 500;

#[component]
pub fn Composer(
    id: ChatId,
    outbox: Outbox,
    /// The newest seq when the page was rendered: a form posted twice from the same
    /// page (without scripts) is one message.
    rendered_after: i64,
    /// Files to go with the next message.
    uploads: Uploads,
) -> impl IntoView {
    let client = use_client();
    let me = me();
    let my_id = me.id;
    let actions = expect_context::<RoomActions>();
    let offer = use_context::<crate::notify::Offer>();
    let replying = actions.replying;
    // A message refused without scripts comes back here with its text.
    let flash = take_flash(&format!("send:{id}"));
    let refused_text = flash
        .as_ref()
        .map(|f| f.value("content"))
        .unwrap_or_default();
    let text = RwSignal::new(refused_text.clone());
    let error = RwSignal::new(flash.and_then(|f| f.error));
    let last_typing = StoredValue::new(0.0f64);
    let input = NodeRef::<html::Textarea>::new();
    let chat_key = id.to_string();
    let picker = MentionPicker::new(id, my_id);

    // The draft left in this chat, once the page is live.
    Effect::new({
        let chat_key = chat_key.clone();
        move |_| {
            if let Some(draft) = browser::draft(&chat_key)
                && text.get_untracked().is_empty()
            {
                text.set(draft);
                fit(input);
            }
        }
    });

    let length = Memo::new(move |_| text.with(|t| t.trim().chars().count()));
    let counter = move || {
        let n = length.get();
        (n >= COUNT_FROM).then(|| {
            let over = n > MESSAGE_MAX;
            let text = if over {
                format!(
                    "{n} / {MESSAGE_MAX} — {} over the limit",
                    n - MESSAGE_MAX
                )
            } else {
                format!("{n} / {MESSAGE_MAX}")
            };
            view! { <p class="counter" class:over=over id="composer-count" aria-live="polite">{text}</p> }
        })
    };

    let send = {
        let chat_key = chat_key.clone();
        move || {
            if uploads.busy() {
                error.set(Some("Wait a moment: a file is still uploading.".into()));
                return;
            }
            let files = uploads.ready();
            let blank = text.get_untracked().trim().is_empty();
            let content = match MessageContent::parse(&text.get_untracked()) {
                Ok(content) => content.into_inner(),
                Err(_) if blank && !files.is_empty() => String::new(),
                Err(_) if blank => return,
                Err(e) => {
                    error.set(Some(e.message));
                    return;
                }
            };
            error.set(None);
            text.set(String::new());
            browser::save_draft(&chat_key, "");
            fit(input);
            uploads.clear();
            outbox.send(id, me.id, content, replying.get_untracked(), files);
            replying.set(None);
            // Having written, the person may want to hear back: offer notifications.
            if let Some(offer) = offer {
                offer.sent.set(true);
            }
            // From a window far back too: what was just written is at the end.
            actions.to_latest.run(());
        }
    };
    let on_keydown = {
        let send = send.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if !ev.is_composing() && picker.on_key(&ev, text, input) {
                return;
            }
            if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                ev.prevent_default();
                send();
            } else if ev.key() == "Escape" && replying.with_untracked(Option::is_some) {
                replying.set(None);
            }
        }
    };
    let follow_caret = move || picker.caret.set(caret_of(input, &text.get_untracked()));
    // Files pasted into the box (a screenshot, say) are attached; text pastes as text.
    let on_paste = {
        #[cfg(browser)]
        let client = client.clone();
        move |ev: leptos::ev::ClipboardEvent| {
            #[cfg(browser)]
            if let Some(files) = ev.clipboard_data().and_then(|d| d.files())
                && files.length() > 0
            {
                ev.prevent_default();
                uploads.add(&client, files);
            }
            let _ = ev;
        }
    };
    let on_input = move |_| {
        fit(input);
        follow_caret();
        picker.active.set(0);
        browser::save_draft(&chat_key, &text.get_untracked());
        let now = browser::now_ms();
        if text.get_untracked().trim().is_empty() || now - last_typing.get_value() < TYPING_EVERY_MS
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
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        send();
        if let Some(input) = input.get_untracked() {
            let _ = input.focus();
        }
    };
    let reply_banner = move || {
        replying.get().map(|quote| {
            let who = if quote.sender_id == my_id {
                "yourself".to_string()
            } else {
                actions.name_of.run(quote.sender_id)
            };
            view! {
                <div class="replying" data-test="replying">
                    <p>
                        <span class="visually-hidden">"Replying to "</span>
                        <span aria-hidden="true">"↩ "</span>
                        <strong>{who}</strong>
                        " "
                        <span class="quote-text">{quote.excerpt}</span>
                    </p>
                    <button
                        type="button"
                        class="ghost small"
                        aria-label="Cancel the reply"
                        on:click=move |_| replying.set(None)
                    >
                        "✕"
                    </button>
                </div>
            }
        })
    };
    view! {
        <form class="composer" method="post" action=format!("/chats/{id}/messages") on:submit=on_submit>
            {reply_banner}
            <PendingFiles uploads=uploads/>
            <MentionList picker=picker text=text input=input/>
            <input type="hidden" name="after" value=rendered_after.to_string()/>
            <label for="composer-input" class="visually-hidden">"Message"</label>
            <textarea
                id="composer-input"
                name="content"
                node_ref=input
                rows="1"
                placeholder="Write a message…"
                bind:value=text
                on:keydown=on_keydown
                on:input=on_input
                on:keyup=move |ev: leptos::ev::KeyboardEvent| {
                    if matches!(ev.key().as_str(), "ArrowLeft" | "ArrowRight" | "Home" | "End") {
                        follow_caret();
                    }
                }
                on:click=move |_| follow_caret()
                on:paste=on_paste
                aria-autocomplete="list"
                // While the mention list is open, the option the arrows are on is read out.
                aria-controls=move || text.with(|t| picker.active_option(t)).map(|_| "mention-list")
                aria-activedescendant=move || text.with(|t| picker.active_option(t))
                aria-describedby="composer-hint composer-error"
            >
                // Without scripts, a refused message comes back in the box.
                {refused_text}
            </textarea>
            <AttachButton uploads=uploads/>
            <button type="submit" class="primary">"Send"</button>
            <p class="composer-hint" id="composer-hint">
                "Enter sends · Shift+Enter adds a line · up to 4,000 characters"
            </p>
            {counter}
            <p class="field-error" id="composer-error" role="alert">{move || error.get()}</p>
        </form>
    }
}

/// Grows (or shrinks) the box to its text, up to the height the stylesheet allows.
fn fit(input: NodeRef<html::Textarea>) {
    #[cfg(browser)]
    if let Some(el) = input.get_untracked() {
        let style = wasm_bindgen::JsCast::unchecked_ref::<web_sys::HtmlElement>(&el).style();
        let _ = style.set_property("height", "auto");
        let _ = style.set_property("height", &format!("{}px", el.scroll_height() + 2));
    }
    let _ = input;
}
