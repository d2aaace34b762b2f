//! Dialogs whose code the browser fetches the first time one opens, not with the page:
//! each `#[lazy]` function here becomes its own piece of the wasm bundle (cut out by
//! `wasm-split`, see `build_site` in scripts/lib.sh), so the first load carries only
//! what the chats screen shows at once.
//!
//! A dialog is never open when a page is rendered on the server, so hydration never
//! waits for one.

use std::future::Future;

use chat_types::{Chat, ChatId, MessageId};
use leptos::prelude::*;

use crate::components::history::EditHistory;
use crate::components::new_chat::NewChat;
use crate::components::reactions::ReactionPicker;
use crate::components::settings::Details;

/// The view `load` makes, shown once its piece of the bundle has arrived (the first
/// time, a few milliseconds after the click; at once after that).
pub fn on_demand(load: impl Future<Output = AnyView> + 'static) -> impl IntoView {
    let load = send_wrapper::SendWrapper::new(load);
    view! { <Suspense fallback=|| ()>{Suspend::new(load)}</Suspense> }
}

#[lazy]
pub fn new_chat(on_close: Callback<()>) -> AnyView {
    view! { <NewChat on_close=on_close/> }.into_any()
}

#[lazy]
pub fn details(id: ChatId, chat: Memo<Option<Chat>>, on_close: Callback<()>) -> AnyView {
    view! { <Details id=id chat=chat on_close=on_close/> }.into_any()
}

#[lazy]
pub fn edit_history(id: MessageId, on_close: Callback<()>) -> AnyView {
    view! { <EditHistory id=id on_close=on_close/> }.into_any()
}

#[lazy]
pub fn reaction_picker(on_pick: Callback<&'static str>, on_close: Callback<()>) -> AnyView {
    view! { <ReactionPicker on_pick=on_pick on_close=on_close/> }.into_any()
}
