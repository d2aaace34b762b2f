//! An edited message's versions, oldest first, in a dialog opened from its "edited"
//! mark.

use chat_types::{MessageId, MessageVersion, ops};
use leptos::prelude::*;
use serde_json::json;

use crate::api::use_client;
use crate::components::modal::Modal;
use crate::config::Service;
use crate::time::Clock;

#[component]
pub fn EditHistory(id: MessageId, #[prop(into)] on_close: Callback<()>) -> impl IntoView {
    let client = use_client();
    let clock = expect_context::<Clock>();
    let versions = RwSignal::new(None::<Result<Vec<MessageVersion>, String>>);
    let call = client.call::<Vec<MessageVersion>>(
        Service::Receiver,
        ops::MESSAGE_HISTORY,
        json!({ "messageId": id }),
        "messageHistory",
    );
    leptos::task::spawn_local(async move {
        versions.try_set(Some(call.await.map_err(|e| e.message)));
    });
    let list = move || match versions.get() {
        None => view! { <p class="hint">"Loading…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="hint error" role="alert">{e}</p> }.into_any(),
        Some(Ok(list)) if list.is_empty() => {
            view! { <p class="hint">"No earlier versions are kept."</p> }.into_any()
        }
        Some(Ok(list)) => {
            let last = list.len() - 1;
            let items = list
                .into_iter()
                .enumerate()
                .map(|(i, version)| {
                    let label = match i {
                        0 => "Sent",
                        i if i == last => "Now",
                        _ => "Edited",
                    };
                    view! {
                        <li class="version" data-test="version">
                            <p class="version-head">
                                <strong>{label}</strong>
                                " "
                                <time datetime=version.at.to_rfc3339()>{clock.full(version.at)}</time>
                            </p>
                            <p class="content">{version.content}</p>
                        </li>
                    }
                })
                .collect_view();
            view! { <ol class="versions">{items}</ol> }.into_any()
        }
    };
    view! {
        <Modal labelled_by="history-title" class="dialog history" on_close=on_close>
            <div class="dialog-head">
                <h3 id="history-title">"Edit history"</h3>
                <button class="ghost small" on:click=move |_| on_close.run(()) aria-label="Close">"✕"</button>
            </div>
            {list}
        </Modal>
    }
}
