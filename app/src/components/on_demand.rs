//! Dialogs whose code the browser fetches the first time one opens, not with the page:
//! each split function here becomes its own piece of the wasm bundle (cut out by
//! `wasm-split`, see `build_site` in scripts/lib.sh), so the first load carries only
//! what the chats screen shows at once. A few seconds after the chats screen is up the
//! pieces are fetched in the background, so a dialog opens at once, offline too.
//!
//! Fetching a piece can fail (offline before it came): that is an `Err`, shown as a
//! line to dismiss, and the next open tries again. (Leptos's `#[lazy]` would panic,
//! which stops the whole app.) A dialog is never open when a page is rendered on the
//! server, so hydration never waits for one.

use std::future::Future;

use chat_types::{Chat, ChatId, MessageId};
use leptos::prelude::*;
use leptos::wasm_split::{SplitLoaderError, wasm_split};

use crate::components::history::EditHistory;
use crate::components::new_chat::NewChat;
use crate::components::reactions::ReactionPicker;
use crate::components::search::SearchResults;
use crate::components::settings::Details;

/// How long after the chats screen is up the pieces are fetched, in the background.
#[cfg(browser)]
const PREFETCH_AFTER_MS: u32 = 3_000;

/// The view `load` makes, shown once its piece of the bundle has arrived (the first
/// time, a few milliseconds after the click; at once after that), or why it could not
/// come, with a button that calls `on_close`.
pub fn on_demand(
    load: impl Future<Output = Result<AnyView, SplitLoaderError>> + 'static,
    on_close: Callback<()>,
) -> impl IntoView {
    let load = send_wrapper::SendWrapper::new(async move {
        load.await.unwrap_or_else(|_| {
            view! {
                <p class="load-error" role="alert" data-test="load-error">
                    "This could not be opened: the app could not reach the server. "
                    <button class="ghost small" on:click=move |_| on_close.run(())>"OK"</button>
                </p>
            }
            .into_any()
        })
    });
    view! { <Suspense fallback=|| ()>{Suspend::new(load)}</Suspense> }
}

/// Fetches every piece in the background, a little after the page is up.
pub fn prefetch() {
    #[cfg(browser)]
    leptos::task::spawn_local(async {
        crate::browser::pause(PREFETCH_AFTER_MS).await;
        // Not while offline (the loader would report every failed fetch); a piece that
        // does not come now is fetched when its dialog opens.
        if crate::browser::online() {
            let _ = preload_new_chat().await;
            let _ = preload_details().await;
            let _ = preload_edit_history().await;
            let _ = preload_reaction_picker().await;
            let _ = preload_search_results().await;
        }
    });
}

#[wasm_split(new_chat, wasm_split_path = ::leptos::wasm_split, fallible, preload(preload_new_chat))]
pub fn new_chat(on_close: Callback<()>) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <NewChat on_close=on_close/> }.into_any())
}

#[wasm_split(details, wasm_split_path = ::leptos::wasm_split, fallible, preload(preload_details))]
pub fn details(
    id: ChatId,
    chat: Memo<Option<Chat>>,
    on_close: Callback<()>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <Details id=id chat=chat on_close=on_close/> }.into_any())
}

#[wasm_split(edit_history, wasm_split_path = ::leptos::wasm_split, fallible, preload(preload_edit_history))]
pub fn edit_history(id: MessageId, on_close: Callback<()>) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <EditHistory id=id on_close=on_close/> }.into_any())
}

#[wasm_split(reaction_picker, wasm_split_path = ::leptos::wasm_split, fallible, preload(preload_reaction_picker))]
pub fn reaction_picker(
    on_pick: Callback<&'static str>,
    on_close: Callback<()>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <ReactionPicker on_pick=on_pick on_close=on_close/> }.into_any())
}

#[wasm_split(search_results, wasm_split_path = ::leptos::wasm_split, fallible, preload(preload_search_results))]
pub fn search_results(
    query: RwSignal<String>,
    on_done: Callback<()>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <SearchResults query=query on_done=on_done/> }.into_any())
}
