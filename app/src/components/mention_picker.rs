//! Mentioning someone while writing: typing `@` and the start of a name lists the
//! chat's members who match; arrows move through them, Enter or Tab (or a click)
//! writes the chosen `@username`, Escape closes the list.

use chat_types::{ChatId, ChatKind, Role, UserSummary, format};
use leptos::html;
use leptos::prelude::*;

use crate::state::ChatsStore;

/// The most members listed at once.
const SHOWN: usize = 6;

/// The `@name` being written just before `caret` (a byte offset into `text`): where
/// its `@` is, and the name so far.
pub fn query_at(text: &str, caret: usize) -> Option<(usize, &str)> {
    let before = text.get(..caret)?;
    let start = before
        .rfind(|c: char| !chat_types::username::is_username_char(c))
        .map_or(0, |i| i + 1);
    let at = start.checked_sub(1)?;
    if before.as_bytes()[at] != b'@' {
        return None;
    }
    let word_start = before[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric());
    word_start.then_some((at, &before[start..]))
}

/// The members whose username or name starts with `query` (or has a word that does).
pub fn matching<'a>(members: &'a [UserSummary], query: &str) -> Vec<&'a UserSummary> {
    let query = query.to_lowercase();
    members
        .iter()
        .filter(|m| {
            m.username.starts_with(&query)
                || m.display_name
                    .to_lowercase()
                    .split_whitespace()
                    .any(|w| w.starts_with(&query))
        })
        .take(SHOWN)
        .collect()
}

/// What the composer keeps for the list: which option is active, and whether Escape
/// closed it for the name being written.
#[derive(Clone, Copy)]
pub struct MentionPicker {
    pub active: RwSignal<usize>,
    pub dismissed: RwSignal<Option<usize>>,
    /// Where the caret is, as a byte offset into the text.
    pub caret: RwSignal<usize>,
    members: Memo<Vec<UserSummary>>,
}

impl MentionPicker {
    pub fn new(chat: ChatId, me: chat_types::UserId) -> Self {
        let store = expect_context::<ChatsStore>();
        Self {
            active: RwSignal::new(0),
            dismissed: RwSignal::new(None),
            caret: RwSignal::new(0),
            members: Memo::new(move |_| {
                let Some(chat) = store.find(chat) else {
                    return Vec::new();
                };
                let owner = chat.kind == ChatKind::Group
                    && chat.participant(me).is_some_and(|p| p.role == Role::Owner);
                let mut members: Vec<UserSummary> = chat
                    .participants
                    .into_iter()
                    .map(|p| p.user)
                    .filter(|u| u.id != me)
                    .collect();
                // A group's owners may mention everyone at once.
                if owner {
                    members.push(UserSummary {
                        id: uuid::Uuid::nil().into(),
                        username: format::EVERYONE.to_string(),
                        display_name: "Everyone".to_string(),
                    });
                }
                members
            }),
        }
    }

    /// The open list for `text`: where the `@` is, and the members offered.
    pub fn open(&self, text: &str) -> Option<(usize, Vec<UserSummary>)> {
        let (at, query) = query_at(text, self.caret.get().min(text.len()))?;
        if self.dismissed.get() == Some(at) {
            return None;
        }
        let found: Vec<UserSummary> = self
            .members
            .with(|m| matching(m, query).into_iter().cloned().collect());
        (!found.is_empty()).then_some((at, found))
    }

    /// The id of the option a screen reader should announce (the active one), while
    /// the list is open for `text`.
    pub fn active_option(&self, text: &str) -> Option<String> {
        let (_, found) = self.open(text)?;
        let active = self.active.get().min(found.len() - 1);
        Some(format!("mention-option-{active}"))
    }

    /// Handles a key while the list is open; true when the key was the list's.
    pub fn on_key(
        &self,
        ev: &leptos::ev::KeyboardEvent,
        text: RwSignal<String>,
        input: NodeRef<html::Textarea>,
    ) -> bool {
        let Some((at, found)) = text.with_untracked(|t| self.open(t)) else {
            return false;
        };
        let active = self.active.get_untracked().min(found.len() - 1);
        match ev.key().as_str() {
            "ArrowDown" => self.active.set((active + 1) % found.len()),
            "ArrowUp" => self.active.set((active + found.len() - 1) % found.len()),
            "Enter" | "Tab" => self.pick(at, &found[active].username, text, input),
            "Escape" => self.dismissed.set(Some(at)),
            _ => return false,
        }
        ev.prevent_default();
        true
    }

    /// Writes `@username ` over the name being written.
    pub fn pick(
        &self,
        at: usize,
        username: &str,
        text: RwSignal<String>,
        input: NodeRef<html::Textarea>,
    ) {
        let caret = self.caret.get_untracked();
        let mut written = String::new();
        text.update(|t| {
            let caret = caret.min(t.len());
            written = format!("{}@{username} ", &t[..at]);
            t.replace_range(..caret, &written);
        });
        self.caret.set(written.len());
        self.active.set(0);
        place_caret(input, &text.get_untracked(), written.len());
    }
}

/// The caret's place in the box, as a byte offset into its text.
pub fn caret_of(input: NodeRef<html::Textarea>, text: &str) -> usize {
    #[cfg(browser)]
    if let Some(el) = input.get_untracked()
        && let Ok(Some(units)) = el.selection_start()
    {
        // The browser counts UTF-16 units.
        let mut seen = 0;
        for (i, c) in text.char_indices() {
            if seen >= units as usize {
                return i;
            }
            seen += c.len_utf16();
        }
    }
    let _ = input;
    text.len()
}

/// Puts the caret at byte offset `at` of the box's `text`.
fn place_caret(input: NodeRef<html::Textarea>, text: &str, at: usize) {
    #[cfg(browser)]
    if let Some(el) = input.get_untracked() {
        let units = text[..at.min(text.len())].encode_utf16().count() as u32;
        el.set_value(text);
        let _ = el.set_selection_range(units, units);
        let _ = el.focus();
    }
    let _ = (input, text, at);
}

#[component]
pub fn MentionList(
    picker: MentionPicker,
    text: RwSignal<String>,
    input: NodeRef<html::Textarea>,
) -> impl IntoView {
    move || {
        text.with(|t| picker.open(t)).map(|(at, found)| {
            let active = picker.active.get().min(found.len() - 1);
            let options = found
                .into_iter()
                .enumerate()
                .map(|(i, user)| {
                    let username = user.username.clone();
                    // A press, not a click: the box keeps the focus.
                    let choose = move |ev: leptos::ev::MouseEvent| {
                        ev.prevent_default();
                        picker.pick(at, &username, text, input);
                    };
                    view! {
                        <li
                            id=format!("mention-option-{i}")
                            role="option"
                            aria-selected=(i == active).to_string()
                            class="mention-option"
                            class:active=i == active
                            data-test="mention-option"
                            on:mousedown=choose
                        >
                            <strong>{user.display_name}</strong>
                            " "
                            <span class="result-handle">"@"{user.username}</span>
                        </li>
                    }
                })
                .collect_view();
            view! {
                <ul class="mention-list" id="mention-list" role="listbox" aria-label="People to mention">
                    {options}
                </ul>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_being_written_is_the_one_just_after_an_at() {
        assert_eq!(query_at("hi @an", 6), Some((3, "an")));
        assert_eq!(query_at("@", 1), Some((0, "")));
        assert_eq!(query_at("hi @an and more", 6), Some((3, "an")));
        assert_eq!(query_at("mail ann@example", 16), None, "inside a word");
        assert_eq!(query_at("hi @an x", 8), None, "the name has ended");
        assert_eq!(query_at("no at here", 10), None);
    }

    #[test]
    fn members_match_by_username_or_a_word_of_their_name() {
        let user = |username: &str, display_name: &str| UserSummary {
            id: uuid::Uuid::from_u128(username.len() as u128).into(),
            username: username.into(),
            display_name: display_name.into(),
        };
        let members = [
            user("ann", "Ann Lee"),
            user("bo", "Bo Chen"),
            user("cy", "Cy Annex"),
        ];
        let names = |q: &str| -> Vec<String> {
            matching(&members, q)
                .iter()
                .map(|m| m.username.clone())
                .collect()
        };
        assert_eq!(names("an"), ["ann", "cy"]);
        assert_eq!(names("CH"), ["bo"]);
        assert_eq!(names(""), ["ann", "bo", "cy"]);
        assert!(names("zed").is_empty());
    }
}
