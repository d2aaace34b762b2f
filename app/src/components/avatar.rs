//! A round badge with a person's (or a group's) initials, in a colour of their own.

use leptos::prelude::*;
use uuid::Uuid;

/// How many avatar colours the stylesheet has (`.avatar.c0` … `.c7`), each dark enough
/// for white initials.
const COLOURS: u32 = 8;

#[component]
pub fn Avatar(
    /// Whose: the colour follows the id, so a person looks the same everywhere.
    id: Uuid,
    name: String,
    #[prop(optional)] small: bool,
) -> impl IntoView {
    let class = format!(
        "avatar c{}{}",
        colour(id),
        if small { " small" } else { "" }
    );
    view! { <span class=class aria-hidden="true">{initials(&name)}</span> }
}

/// A stable colour index for an id.
pub fn colour(id: Uuid) -> u32 {
    // FNV-1a over the id's bytes: ids made one after another (UUIDv7) still spread.
    let hash = id.as_bytes().iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    });
    hash % COLOURS
}

/// Up to two initials: of the first and last words that start with a letter ("Ann
/// Lee" → "AL", "Project 03" → "P"); a name without such words gives its first
/// letter or digit.
pub fn initials(name: &str) -> String {
    let words: Vec<char> = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .filter(|c| c.is_alphabetic())
        .collect();
    let picked: Vec<char> = match words.as_slice() {
        [] => name
            .chars()
            .find(|c| c.is_alphanumeric())
            .into_iter()
            .collect(),
        [one] => vec![*one],
        [first, .., last] => vec![*first, *last],
    };
    let text: String = picked.into_iter().flat_map(char::to_uppercase).collect();
    if text.is_empty() {
        "?".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_come_from_words_not_numbers() {
        assert_eq!(initials("Ann Lee"), "AL");
        assert_eq!(initials("ann marie lee"), "AL");
        assert_eq!(initials("Project 03"), "P");
        assert_eq!(initials("03"), "0");
        assert_eq!(initials("  "), "?");
        assert_eq!(initials("émile zola"), "ÉZ");
    }

    #[test]
    fn colours_are_stable_and_spread() {
        let ids: Vec<Uuid> = (0..64).map(|n| Uuid::from_u128(n << 64 | 7)).collect();
        assert_eq!(colour(ids[3]), colour(ids[3]));
        let used: std::collections::HashSet<u32> = ids.iter().map(|id| colour(*id)).collect();
        assert!(used.len() >= 6, "{used:?}");
    }
}
