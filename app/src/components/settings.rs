//! A chat's details: who is in it, and for groups renaming (the owner), adding people
//! (anyone), removing them (the owner) and leaving.

use chat_types::validate::ChatName;
use chat_types::{Chat, ChatId, ChatKind, Role, User, UserId, ops};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use serde_json::json;

use crate::api::use_client;
use crate::components::modal::Modal;
use crate::components::new_chat::UserSearch;
use crate::components::pins::PinnedMessages;
use crate::config::Service;
use crate::presence::PresenceDot;
use crate::state::{ChatsStore, me};

#[component]
pub fn Details(
    id: ChatId,
    chat: Memo<Option<Chat>>,
    #[prop(into)] on_close: Callback<()>,
) -> impl IntoView {
    let client = use_client();
    let store = expect_context::<ChatsStore>();
    let me = me();
    let name = RwSignal::new(
        chat.with_untracked(|c| c.as_ref().and_then(|c| c.name.clone()).unwrap_or_default()),
    );
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let is_group = move || chat.with(|c| c.as_ref().is_some_and(|c| c.kind == ChatKind::Group));
    let my_role = move || {
        chat.with(|c| {
            c.as_ref().and_then(|c| {
                c.participants
                    .iter()
                    .find(|p| p.user.id == me.id)
                    .map(|p| p.role)
            })
        })
    };
    let owner = move || my_role() == Some(Role::Owner);

    // Every change answers with the chat as it is now.
    let change = {
        let client = client.clone();
        move |document: &'static str,
              variables: serde_json::Value,
              field: &'static str,
              leaving: bool| {
            let call = client.call::<Chat>(Service::Sender, document, variables, field);
            let navigate = navigate.clone();
            leptos::task::spawn_local(async move {
                match call.await {
                    Ok(updated) => {
                        error.set(None);
                        store.chat_changed(updated, me.id);
                        if leaving {
                            navigate("/", Default::default());
                            on_close.run(());
                        }
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let rename = {
        let change = change.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            match ChatName::parse(&name.get_untracked()) {
                Ok(n) => change(
                    ops::UPDATE_CHAT,
                    json!({ "chatId": id, "name": n.as_str() }),
                    "updateChat",
                    false,
                ),
                Err(e) => error.set(Some(format!("Name {}", e.message))),
            }
        }
    };
    let add = Callback::new({
        let change = change.clone();
        move |user: User| {
            change(
                ops::ADD_PARTICIPANT,
                json!({ "chatId": id, "userId": user.id }),
                "addParticipant",
                false,
            )
        }
    });
    let members = Signal::derive(move || -> Vec<UserId> {
        chat.with(|c| {
            c.iter()
                .flat_map(|c| c.participants.iter())
                .map(|p| p.user.id)
                .collect()
        })
    });
    let participants = {
        let change = change.clone();
        move || {
            let change = change.clone();
            chat.get()
                .map(|c| c.participants)
                .unwrap_or_default()
                .into_iter()
                .map(|p| {
                    let user = p.user.id;
                    let is_me = user == me.id;
                    let change = change.clone();
                    let remove_label = if is_me { "Leave".to_string() } else { format!("Remove {}", p.user.display_name) };
                    let can_remove = is_group() && (is_me || owner());
                    view! {
                        <li class="participant">
                            <span class="avatar-wrap dot-only"><PresenceDot user=user/></span>
                            <span>{p.user.display_name.clone()} " " <span class="result-handle">"@" {p.user.username.clone()}</span></span>
                            {(p.role == Role::Owner).then(|| view! { <span class="role">"owner"</span> })}
                            {can_remove.then(|| view! {
                                <button
                                    class="ghost small"
                                    aria-label=remove_label.clone()
                                    on:click=move |_| change(
                                        ops::REMOVE_PARTICIPANT,
                                        json!({ "chatId": id, "userId": user }),
                                        "removeParticipant",
                                        is_me,
                                    )
                                >
                                    {if is_me { "Leave" } else { "Remove" }}
                                </button>
                            })}
                        </li>
                    }
                })
                .collect_view()
        }
    };
    view! {
        <Modal labelled_by="details-title" class="dialog details" on_close=on_close>
            <div class="dialog-head">
                <h3 id="details-title">"Details"</h3>
                <button class="ghost small" on:click=move |_| on_close.run(()) aria-label="Close details">"✕"</button>
            </div>
            <Show when=move || is_group() && owner()>
                <form class="rename" on:submit=rename.clone()>
                    <label for="chat-name">"Group name"</label>
                    <input id="chat-name" bind:value=name maxlength="100"/>
                    <button type="submit" class="primary small">"Rename"</button>
                </form>
            </Show>
            <label class="mute">
                <input
                    type="checkbox"
                    data-test="mute"
                    prop:checked=move || chat.with(|c| c.as_ref().is_some_and(|c| c.muted))
                    on:change=move |ev| change(
                        ops::SET_CHAT_MUTED,
                        json!({ "chatId": id, "muted": event_target_checked(&ev) }),
                        "setChatMuted",
                        false,
                    )
                />
                " Mute: no notifications, and its unread count without emphasis"
            </label>
            <PinnedMessages id=id on_leave=on_close/>
            <h4>"People"</h4>
            <ul class="participants">{participants}</ul>
            <Show when=is_group>
                <UserSearch label="Add people" on_pick=add exclude=members/>
            </Show>
            <p class="field-error" role="alert">{move || error.get()}</p>
        </Modal>
    }
}
