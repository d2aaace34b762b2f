//! A message's reactions: a chip per emoji (press it to add or take back yours; who
//! reacted in its tooltip, or under the chips after a long press on a touch screen or a
//! right click), and the picker: the most used emoji, and a search over the whole set
//! shipped with the app.

use chat_types::emoji::{self, QUICK};
use chat_types::{Message, Reaction, UserId};
use leptos::prelude::*;

use crate::components::modal::Modal;

/// The most search results the picker shows at once.
const SHOWN: usize = 48;

#[component]
pub fn ReactionChips(
    message: Message,
    me: UserId,
    /// The name of each person, by id.
    #[prop(into)]
    name_of: Callback<UserId, String>,
    /// Adds (`true`) or takes back (`false`) the viewer's emoji.
    #[prop(into)]
    toggle: Callback<(String, bool)>,
) -> impl IntoView {
    // Who reacted with which emoji, said under the chips: a phone shows no tooltips.
    let shown = RwSignal::new(None::<String>);
    let chips = message
        .reactions
        .into_iter()
        .map(
            |Reaction {
                 emoji,
                 count,
                 user_ids,
             }| {
                let mine = user_ids.contains(&me);
                let names: Vec<String> = user_ids
                    .iter()
                    .map(|id| {
                        if *id == me {
                            "You".to_string()
                        } else {
                            name_of.run(*id)
                        }
                    })
                    .collect();
                // The emoji itself, not its name: the set's names stay with the picker,
                // in its own piece of the bundle (screen readers name the emoji anyway).
                let who = format!("{} reacted with {emoji}", names.join(", "));
                let label = format!("{emoji} {count}: {who}");
                let pressed = emoji.clone();
                let marked = emoji.clone();
                let said = who.clone();
                view! {
                    <button
                        class="reaction"
                        class:mine=mine
                        aria-pressed=mine.to_string()
                        aria-label=label
                        title=who
                        data-test="reaction"
                        data-emoji=marked
                        on:click=move |_| toggle.run((pressed.clone(), !mine))
                        on:contextmenu=move |ev| {
                            ev.prevent_default();
                            shown.update(|s| {
                                *s = (s.as_deref() != Some(said.as_str())).then(|| said.clone())
                            });
                        }
                    >
                        <span aria-hidden="true">{emoji}</span>
                        " "
                        <span class="count" aria-hidden="true">{count}</span>
                    </button>
                }
            },
        )
        .collect_view();
    view! {
        <div class="reactions">{chips}</div>
        {move || shown.get().map(|who| view! {
            <p class="reaction-who" role="status" data-test="reaction-who">{who}</p>
        })}
    }
}

#[component]
pub fn ReactionPicker(
    #[prop(into)] on_pick: Callback<&'static str>,
    #[prop(into)] on_close: Callback<()>,
) -> impl IntoView {
    let query = RwSignal::new(String::new());
    let found = move || {
        query.with(|q| {
            emoji::search(q)
                .take(if q.trim().is_empty() { QUICK } else { SHOWN })
                .collect::<Vec<_>>()
        })
    };
    let choices = move || {
        found()
            .into_iter()
            .map(|(emoji, name)| {
                view! {
                    <button
                        class="emoji-choice"
                        title=name
                        aria-label=name
                        data-test="emoji-choice"
                        on:click=move |_| on_pick.run(emoji)
                    >
                        {emoji}
                    </button>
                }
            })
            .collect_view()
    };
    let nothing = move || found().is_empty();
    view! {
        <Modal labelled_by="picker-title" class="dialog emoji-picker" on_close=on_close>
            <div class="dialog-head">
                <h3 id="picker-title">"React"</h3>
                <button class="ghost small" on:click=move |_| on_close.run(()) aria-label="Close">"✕"</button>
            </div>
            <label for="emoji-search" class="visually-hidden">"Search emoji"</label>
            <input
                id="emoji-search"
                type="search"
                autofocus=true
                placeholder="Search emoji: heart, laugh, rocket…"
                autocomplete="off"
                bind:value=query
            />
            <div class="emoji-grid" role="group" aria-label="Emoji">{choices}</div>
            <Show when=nothing>
                <p class="hint">"No emoji by that name."</p>
            </Show>
        </Modal>
    }
}
