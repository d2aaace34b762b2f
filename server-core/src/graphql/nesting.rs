//! How deeply a GraphQL document nests, counted on its text before it is parsed (see
//! `document_limits`): the GraphQL parser recurses once per level of a nested value
//! with no limit of its own.

use chat_types::FieldError;

/// How deeply a GraphQL document may nest brackets (`{`, `[`, `(`), counted on its
/// text. Real documents nest a dozen levels at most (selections are limited to 10).
pub(crate) const DOCUMENT_NESTING_MAX: usize = 64;

/// The deepest nesting of brackets in a GraphQL document, outside strings and comments,
/// found in one pass over its bytes without parsing it. The GraphQL parser recurses
/// once per level of a nested value (`{a: {a: …}}`, `[[…]]`) with no limit of its
/// own, so this is checked first: a few kilobytes of brackets would otherwise exhaust
/// the stack of the thread parsing them.
///
/// Strings and comments are skipped as the GraphQL lexer reads them; where the lexer
/// would fail (an unterminated string), the parser stops too, so nothing after that
/// point needs counting.
pub(crate) fn document_nesting(document: &str) -> usize {
    let bytes = document.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                    } else if bytes[i..].starts_with(b"\"\"\"") {
                        i += 3;
                        break;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\n' | b'\r' => break,
                        _ => i += 1,
                    }
                }
                continue;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// Refuses a GraphQL document nested deeper than [`DOCUMENT_NESTING_MAX`].
pub(crate) fn check_document_nesting(document: &str) -> Result<(), FieldError> {
    let depth = document_nesting(document);
    if depth > DOCUMENT_NESTING_MAX {
        return Err(FieldError::new(
            "query",
            format!("nests {depth} levels deep; at most {DOCUMENT_NESTING_MAX} are allowed"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_types::ops;
    use proptest::prelude::*;

    #[test]
    fn document_nesting_counts_brackets_outside_strings_and_comments() {
        assert_eq!(document_nesting(""), 0);
        assert_eq!(document_nesting("{ me { id } }"), 2);
        assert_eq!(document_nesting("{ a(x: {b: [1]}) { c } }"), 4);
        assert_eq!(document_nesting(r#"{ a(x: "{{{[[[(((") }"#), 2);
        assert_eq!(document_nesting(r#"{ a(x: "\"{{{\\") }"#), 2);
        assert_eq!(document_nesting("{ a(x: \"\"\"{{ \\\"\"\" [[ \"\"\") }"), 2);
        assert_eq!(document_nesting("# {{{{{{\n{ a }"), 1);
        assert_eq!(document_nesting("{ a } # ((((\r[[["), 3);
        // An unterminated string ends at the line (as the lexer reads it).
        assert_eq!(document_nesting("{ a(x: \"[[[\n[[[ ) }"), 5);
        // Closing more than was opened does not hide what comes after.
        assert_eq!(document_nesting("]]]]}}}{{{"), 3);
        assert_eq!(document_nesting(&"{a:".repeat(100_000)), 100_000);
        for document in [ops::CREATE_CHAT, ops::CHATS, ops::MESSAGES, ops::REGISTER] {
            assert!(check_document_nesting(document).is_ok(), "{document}");
        }
        let error = check_document_nesting(&"[".repeat(65)).unwrap_err();
        assert_eq!(error.field, "query");
        assert!(check_document_nesting(&"[".repeat(64)).is_ok());
    }

    /// A GraphQL string literal of `s`.
    fn graphql_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// A GraphQL value with its true nesting depth: literals, strings, block strings and
    /// comments full of brackets and quotes, inside lists, objects and argument lists.
    fn nested_value() -> impl Strategy<Value = (String, usize)> {
        let junk = "[\\[\\]{}()\"\\\\#a-z \\n]{0,12}";
        let leaf = prop_oneof![
            Just(("1".to_string(), 0)),
            Just(("$v".to_string(), 0)),
            junk.prop_map(|s| (graphql_string(&s), 0)),
            "[\\[\\]{}()#a-z \\n\\\\]{0,12}".prop_map(|s| {
                (
                    format!("\"\"\"{}\\\"\"\"{}\"\"\"", s.replace('\\', ""), "[{("),
                    0,
                )
            }),
        ];
        leaf.prop_recursive(12, 64, 4, move |inner| {
            let comment = proptest::option::of("[\\[\\]{}()\"a-z ]{0,8}")
                .prop_map(|c| c.map(|c| format!("# {c}\n")).unwrap_or_default());
            (
                proptest::sample::select(vec![('[', ']'), ('{', '}'), ('(', ')')]),
                proptest::collection::vec((comment, inner), 0..4),
            )
                .prop_map(|((open, close), children)| {
                    let depth = 1 + children.iter().map(|(_, (_, d))| *d).max().unwrap_or(0);
                    let body: Vec<String> = children
                        .into_iter()
                        .map(|(comment, (text, _))| {
                            if open == '[' {
                                format!("{comment}{text}")
                            } else {
                                format!("{comment}k: {text}")
                            }
                        })
                        .collect();
                    (format!("{open}{}{close}", body.join(", ")), depth)
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// On a well-formed value the count is exactly its depth: brackets in strings,
        /// block strings and comments never count, and none outside them is missed.
        #[test]
        fn document_nesting_is_exact_on_well_formed_values((text, depth) in nested_value()) {
            let document = format!("{{ f(a: {text}) }}");
            prop_assert_eq!(document_nesting(&document), depth + 2, "{}", document);
        }

        #[test]
        fn document_nesting_never_panics(s in any::<String>()) {
            let depth = document_nesting(&s);
            let brackets = s.bytes().filter(|b| matches!(b, b'{' | b'[' | b'(')).count();
            prop_assert!(depth <= brackets);
        }
    }
}
