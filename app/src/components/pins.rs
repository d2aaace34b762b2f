//! A chat's pinned messages, listed in its Details: each shows who wrote it and how it
//! starts, and leads to the message in the conversation.

use chat_types::{ChatId, Message, Quote, ops};
use leptos::prelude::*;
use serde_json::json;

use crate::api::use_client;
use crate::components::room_actions::RoomActions;
use crate::config::Service;

#[component]
pub fn PinnedMessages(
    id: ChatId,
    /// Closes the dialog the list is in, before going to a message.
    #[prop(into)]
    on_leave: Callback<()>,
) -> impl IntoView {
    let client = use_client();
    let actions = expect_context::<RoomActions>();
    let pinned = RwSignal::new(None::<Result<Vec<Message>, String>>);
    let call = client.call::<Vec<Message>>(
        Service::Receiver,
        ops::PINNED_MESSAGES,
        json!({ "chatId": id }),
        "pinnedMessages",
    );
    leptos::task::spawn_local(async move {
        pinned.try_set(Some(call.await.map_err(|e| e.message)));
    });
    // Hints stand beside the list, not in it: a list holds only its items.
    let list = move || match pinned.get() {
        None => view! { <p class="hint">"Loading…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="hint error" role="alert">{e}</p> }.into_any(),
        Some(Ok(list)) if list.is_empty() => {
            view! { <p class="hint">"Nothing is pinned. Pin a message from its actions."</p> }
                .into_any()
        }
        Some(Ok(list)) => {
            let items = list
                .into_iter()
                .map(|message| {
                    let quote = Quote::of(&message);
                    let who = actions.name_of.run(quote.sender_id);
                    let seq = quote.seq;
                    let go = move |_| {
                        on_leave.run(());
                        actions.jump_to.run(seq);
                    };
                    view! {
                        <li class="pinned-item" data-test="pinned">
                            <button class="result" on:click=go>
                                <span><strong>{who}</strong> " " {quote.excerpt}</span>
                                <span class="result-handle">"Show"</span>
                            </button>
                        </li>
                    }
                })
                .collect_view();
            view! { <ul class="pinned-list">{items}</ul> }.into_any()
        }
    };
    view! {
        <h4>"Pinned"</h4>
        {list}
    }
}
