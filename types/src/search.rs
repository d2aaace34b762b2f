//! Searching messages: what a query means, the same on both databases, and the
//! snippet a result shows with its matches marked.
//!
//! A query is a few words; a message matches when each word begins one of its words
//! ("deplo" finds "deployment", "Deploy" and "re-deploy", not "redeploy"), whatever the
//! case. A word shorter than [`MIN_PREFIX`] is matched whole ("a" finds "a", not
//! "apple"): as a prefix it would match a large part of every index. PostgreSQL and SQLite's full-text indexes are asked with the same words, and
//! the snippet is cut here, so both backends show the same thing.

use serde::{Deserialize, Serialize};

use crate::ids::MessageId;
use crate::model::Message;
use crate::validate::FieldError;

/// The most words a query may hold.
pub const MAX_TERMS: usize = 8;
/// The longest a query may be, in characters.
pub const QUERY_MAX: usize = 200;
/// The most results one `searchMessages` call returns.
pub const MAX_RESULTS: i64 = 50;
/// How many it returns when not asked for a number.
pub const DEFAULT_RESULTS: i64 = 20;
/// The shortest word that is looked for as the start of words; shorter ones are
/// looked for whole.
pub const MIN_PREFIX: usize = 2;
/// About how many characters of a message a snippet shows.
pub const SNIPPET_CHARS: usize = 160;

/// A parsed query: its words, lowercased, each once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    terms: Vec<String>,
}

impl SearchQuery {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.chars().count() > QUERY_MAX {
            return Err(FieldError::new(
                "query",
                format!("must be at most {QUERY_MAX} characters"),
            ));
        }
        let mut terms: Vec<String> = Vec::new();
        for word in words(raw) {
            let term = word.to_lowercase();
            if !terms.contains(&term) {
                terms.push(term);
            }
        }
        if terms.is_empty() {
            return Err(FieldError::new("query", "needs a word to look for"));
        }
        if terms.len() > MAX_TERMS {
            return Err(FieldError::new(
                "query",
                format!("may hold at most {MAX_TERMS} words"),
            ));
        }
        Ok(Self { terms })
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// The query for PostgreSQL's `to_tsquery('simple', …)`: every word as a prefix
    /// (but the shortest). Words hold letters and digits only, so nothing in them is
    /// query syntax.
    pub fn to_tsquery(&self) -> String {
        self.terms
            .iter()
            .map(|t| {
                if is_prefix(t) {
                    format!("{t}:*")
                } else {
                    t.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" & ")
    }

    /// The query for SQLite's FTS5 `MATCH`: every word quoted, as a prefix (but the
    /// shortest).
    pub fn to_fts5(&self) -> String {
        self.terms
            .iter()
            .map(|t| {
                if is_prefix(t) {
                    format!("\"{t}\"*")
                } else {
                    format!("\"{t}\"")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether `word` is a match: it begins with one of the query's words (or is one of
    /// the short ones).
    fn matches(&self, word: &str) -> bool {
        let word = word.to_lowercase();
        self.terms.iter().any(|t| {
            if is_prefix(t) {
                word.starts_with(t.as_str())
            } else {
                word == *t
            }
        })
    }
}

/// Whether a query word is looked for as the start of words.
fn is_prefix(term: &str) -> bool {
    term.chars().count() >= MIN_PREFIX
}

/// The words of `text`: runs of letters and digits (as the full-text indexes see them).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// A piece of a snippet: text, and whether it is a match to mark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct TextPart {
    pub text: String,
    pub hit: bool,
}

/// One message found, with the part of it to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct SearchHit {
    pub message: Message,
    /// The message as plain text on one line, cut around its first match, the matches
    /// marked.
    pub snippet: Vec<TextPart>,
}

/// A page of results, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    /// More results follow: ask again with `after` set to `endCursor`.
    pub has_more: bool,
    /// The last hit's message id.
    pub end_cursor: Option<MessageId>,
}

/// `content` as plain text on one line, about [`SNIPPET_CHARS`] long, from a little
/// before its first match (with "…" where it was cut), each matching word marked.
pub fn snippet(content: &str, query: &SearchQuery) -> Vec<TextPart> {
    let text: String = crate::format::plain(content)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let hits = hit_ranges(&text, query);
    let (start, end) = window(&text, hits.first().map(|h| h.0));
    let mut parts = Vec::new();
    let mut push = |text: &str, hit: bool| {
        if !text.is_empty() {
            parts.push(TextPart {
                text: text.to_string(),
                hit,
            });
        }
    };
    if start > 0 {
        push("…", false);
    }
    let mut at = start;
    for &(from, to) in hits.iter().filter(|h| h.0 >= start && h.1 <= end) {
        push(&text[at..from], false);
        push(&text[from..to], true);
        at = to;
    }
    push(&text[at..end], false);
    if end < text.len() {
        push("…", false);
    }
    parts
}

/// The byte ranges of the words of `text` that match.
fn hit_ranges(text: &str, query: &SearchQuery) -> Vec<(usize, usize)> {
    words(text)
        .filter(|w| query.matches(w))
        .map(|w| {
            let from = w.as_ptr() as usize - text.as_ptr() as usize;
            (from, from + w.len())
        })
        .collect()
}

/// The byte range of `text` a snippet shows: all of it when short; else about
/// [`SNIPPET_CHARS`] characters starting a fifth of that before `first_hit`, both ends
/// moved to spaces where one is near, so words are not cut.
fn window(text: &str, first_hit: Option<usize>) -> (usize, usize) {
    let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    if chars.len() <= SNIPPET_CHARS {
        return (0, text.len());
    }
    let hit_char = first_hit.map_or(0, |at| chars.partition_point(|&i| i < at));
    let start_char = hit_char
        .saturating_sub(SNIPPET_CHARS / 5)
        .min(chars.len() - SNIPPET_CHARS);
    let end_char = start_char + SNIPPET_CHARS;
    let mut start = chars[start_char];
    let mut end = chars.get(end_char).copied().unwrap_or(text.len());
    // To the word's start, unless the hit itself is there.
    if start > 0
        && let Some(space) = text[..start].rfind(' ')
        && start - space < 20
    {
        start = space + 1;
    }
    if end < text.len()
        && let Some(space) = text[..end].rfind(' ')
        && end - space < 20
        && space > start
    {
        end = space;
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(parts: &[TextPart]) -> String {
        parts
            .iter()
            .map(|p| {
                if p.hit {
                    format!("[{}]", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    fn query(raw: &str) -> SearchQuery {
        SearchQuery::parse(raw).unwrap()
    }

    #[test]
    fn a_query_is_its_words_lowercased_and_nothing_of_them_is_syntax() {
        let q = query("Deplo  the' OR *x:* DEPLO");
        assert_eq!(q.terms(), ["deplo", "the", "or", "x"]);
        assert_eq!(q.to_tsquery(), "deplo:* & the:* & or:* & x");
        assert_eq!(q.to_fts5(), "\"deplo\"* \"the\"* \"or\"* \"x\"");
        assert_eq!(query("Ünïcode 東京").terms(), ["ünïcode", "東京"]);
    }

    #[test]
    fn a_word_shorter_than_the_shortest_prefix_is_matched_whole() {
        let q = query("a");
        assert_eq!(q.to_tsquery(), "a");
        assert_eq!(q.to_fts5(), "\"a\"");
        assert_eq!(marked(&snippet("a apple, A b", &q)), "[a] apple, [A] b");
    }

    #[test]
    fn a_query_without_words_or_too_long_is_refused_on_its_field() {
        for raw in [
            "",
            "  ",
            "!!! ?? —",
            "a b c d e f g h i",
            &"x".repeat(QUERY_MAX + 1),
        ] {
            let error = SearchQuery::parse(raw).unwrap_err();
            assert_eq!(error.field, "query", "{raw:?}");
        }
    }

    #[test]
    fn a_snippet_marks_the_words_that_begin_with_a_query_word() {
        let parts = snippet(
            "Ready to **deploy**? The deployment of re-deploy, not redeploy.",
            &query("DEPLO"),
        );
        assert_eq!(
            marked(&parts),
            "Ready to [deploy]? The [deployment] of re-[deploy], not redeploy."
        );
    }

    #[test]
    fn a_long_message_is_cut_around_its_first_match_at_spaces() {
        let before = "word ".repeat(60);
        let after = " more".repeat(60);
        let text = format!("{before}the needle here{after}");
        let parts = snippet(&text, &query("needle"));
        let shown = marked(&parts);
        assert!(shown.starts_with("…word "), "{shown}");
        assert!(shown.ends_with(" more…"), "{shown}");
        assert!(shown.contains("the [needle] here"), "{shown}");
        let len = shown.chars().count();
        assert!(
            (SNIPPET_CHARS - 20..=SNIPPET_CHARS + 4).contains(&len),
            "{len}"
        );
    }

    #[test]
    fn markup_in_a_message_stays_text_in_its_snippet() {
        let parts = snippet("<script>alert(1)</script> deploy", &query("script deploy"));
        assert_eq!(marked(&parts), "<[script]>alert(1)</[script]> [deploy]");
    }
}
