//! The small, safe formatting messages may carry, parsed once here so the server's
//! rendering and the browser's agree: `**bold**`, `*italic*` or `_italic_`,
//! `~~strike~~`, `` `code` ``, fenced code blocks, `>` quotes, and links written out
//! (`http://`, `https://`, `mailto:`; nothing else becomes a link). There is no HTML:
//! the result is text in a tree, and the app renders every piece of it as text.

/// One block of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// Lines of text (line breaks kept).
    Paragraph(Vec<Inline>),
    /// Lines that started with `>`.
    Quote(Vec<Inline>),
    /// The lines between two ``` fences, as written.
    Code(String),
}

/// A run of text inside a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    Bold(Vec<Inline>),
    Italic(Vec<Inline>),
    Strike(Vec<Inline>),
    Code(String),
    /// A link written out: `href` is exactly the text shown.
    Link(String),
    /// `@name`: a mention if the message names a member so (the name as written,
    /// without the `@`).
    Mention(String),
}

/// The schemes a written-out address may have to become a link.
const SCHEMES: [&str; 3] = ["https://", "http://", "mailto:"];

/// A message's blocks, in order.
pub fn parse(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("```") {
            let mut code = Vec::new();
            for inner in lines.by_ref() {
                if inner.trim_start().starts_with("```") {
                    break;
                }
                code.push(inner);
            }
            blocks.push(Block::Code(code.join("\n")));
        } else if let Some(first) = quoted(line) {
            let mut quote = vec![first];
            while let Some(next) = lines.peek().and_then(|l| quoted(l)) {
                quote.push(next);
                lines.next();
            }
            blocks.push(Block::Quote(inline(&quote.join("\n"))));
        } else {
            let mut paragraph = vec![line];
            while let Some(next) =
                lines.next_if(|l| quoted(l).is_none() && !l.trim_start().starts_with("```"))
            {
                paragraph.push(next);
            }
            blocks.push(Block::Paragraph(inline(&paragraph.join("\n"))));
        }
    }
    blocks
}

/// The text of a `>` line, if it is one.
fn quoted(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('>')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// The runs of one block's text.
pub fn inline(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some((run, after)) = styled(rest, plain.chars().next_back()) {
            if !plain.is_empty() {
                out.push(Inline::Text(std::mem::take(&mut plain)));
            }
            out.push(run);
            rest = after;
        } else {
            plain.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !plain.is_empty() {
        out.push(Inline::Text(plain));
    }
    out
}

/// A styled run starting at the beginning of `text`, and what follows it; `before` is
/// the character just before (a link or `_` starts only at the start of a word).
fn styled(text: &str, before: Option<char>) -> Option<(Inline, &str)> {
    let word_start = before.is_none_or(|c| !c.is_alphanumeric());
    // `_` belongs to words too (`snake_case`, `window.__name`).
    let underscore_start = word_start && before != Some('_');
    if let Some(rest) = text.strip_prefix('`') {
        let end = rest.find('`').filter(|&end| end > 0)?;
        return Some((Inline::Code(rest[..end].to_string()), &rest[end + 1..]));
    }
    if word_start && let Some(link) = link(text) {
        return Some((Inline::Link(link.to_string()), &text[link.len()..]));
    }
    if word_start && let Some(name) = mention(text) {
        return Some((Inline::Mention(name.to_string()), &text[name.len() + 1..]));
    }
    for (marker, wrap) in [
        ("**", Inline::Bold as fn(Vec<Inline>) -> Inline),
        ("~~", Inline::Strike),
        ("*", Inline::Italic),
        ("_", Inline::Italic),
    ] {
        if marker == "_" && !underscore_start {
            continue;
        }
        if let Some((inner, after)) = enclosed(text, marker) {
            return Some((wrap(inline(inner)), after));
        }
    }
    None
}

/// `text` starts with `marker`, some text that neither starts nor ends with a space,
/// and `marker` again (for `_`, at the end of a word): the text between, and what
/// follows.
fn enclosed<'a>(text: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let rest = text.strip_prefix(marker)?;
    if rest.starts_with(char::is_whitespace) || rest.starts_with(marker) {
        return None;
    }
    let mut from = 0;
    while let Some(found) = rest[from..].find(marker) {
        let end = from + found;
        let inner = &rest[..end];
        let after = &rest[end + marker.len()..];
        let closes = !inner.is_empty()
            && !inner.ends_with(char::is_whitespace)
            && (marker != "_" || !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'));
        if closes {
            return Some((inner, after));
        }
        from = end + marker.len();
    }
    None
}

/// The link `text` starts with: a known scheme, then up to the next space, without the
/// punctuation that ends a sentence (or a closing bracket it did not open).
fn link(text: &str) -> Option<&str> {
    let scheme = SCHEMES.iter().find(|s| {
        text.get(..s.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(s))
    })?;
    let end = text
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`'))
        .unwrap_or(text.len());
    let mut link = &text[..end];
    loop {
        let trimmed = link.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '*', '_', '~']);
        let trimmed = match trimmed.strip_suffix(')') {
            Some(inner) if inner.matches('(').count() < inner.matches(')').count() + 1 => inner,
            _ => trimmed,
        };
        if trimmed.len() == link.len() {
            break;
        }
        link = trimmed;
    }
    (link.len() > scheme.len()).then_some(link)
}

/// The name of the `@name` `text` starts with: the characters a username may have, up
/// to its longest, and not ending in `.` or `-` (the end of a sentence).
fn mention(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('@')?;
    let end = rest
        .find(|c: char| !crate::username::is_username_char(c))
        .unwrap_or(rest.len());
    let name = rest[..end].trim_end_matches(['.', '-']);
    (!name.is_empty() && name.len() <= crate::username::USERNAME_MAX).then_some(name)
}

pub use crate::username::EVERYONE;

/// The names a message mentions (`@name` outside code), lowercased, each once, in
/// order.
pub fn mentioned(text: &str) -> Vec<String> {
    fn walk(list: &[Inline], out: &mut Vec<String>) {
        for run in list {
            match run {
                Inline::Mention(name) => {
                    let name = name.to_lowercase();
                    if !out.contains(&name) {
                        out.push(name);
                    }
                }
                Inline::Bold(inner) | Inline::Italic(inner) | Inline::Strike(inner) => {
                    walk(inner, out)
                }
                Inline::Text(_) | Inline::Code(_) | Inline::Link(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    for block in parse(text) {
        if let Block::Paragraph(runs) | Block::Quote(runs) = block {
            walk(&runs, &mut out);
        }
    }
    out
}

/// The message as plain text, markers dropped (for previews and notifications).
pub fn plain(text: &str) -> String {
    fn runs(list: &[Inline], out: &mut String) {
        for run in list {
            match run {
                Inline::Text(t) | Inline::Code(t) | Inline::Link(t) => out.push_str(t),
                Inline::Mention(name) => {
                    out.push('@');
                    out.push_str(name);
                }
                Inline::Bold(inner) | Inline::Italic(inner) | Inline::Strike(inner) => {
                    runs(inner, out)
                }
            }
        }
    }
    let mut out = String::new();
    for (i, block) in parse(text).iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match block {
            Block::Paragraph(r) | Block::Quote(r) => runs(r, &mut out),
            Block::Code(code) => out.push_str(code),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Inline::*;

    fn text(s: &str) -> Inline {
        Text(s.to_string())
    }

    #[test]
    fn each_style_is_a_run_of_its_own() {
        assert_eq!(
            inline("a **bold** b *it* c _it_ d ~~gone~~ e `x*y*`"),
            [
                text("a "),
                Bold(vec![text("bold")]),
                text(" b "),
                Italic(vec![text("it")]),
                text(" c "),
                Italic(vec![text("it")]),
                text(" d "),
                Strike(vec![text("gone")]),
                text(" e "),
                Code("x*y*".into()),
            ]
        );
        assert_eq!(
            inline("**bold _and italic_**"),
            [Bold(vec![text("bold "), Italic(vec![text("and italic")])])]
        );
    }

    #[test]
    fn markers_that_do_not_close_stay_text() {
        for s in [
            "2 * 3 * 4",
            "snake_case_name",
            "__init__",
            "<script>window.__owned=1</script><img src=x onerror=\"window.__owned=2\">",
            "**not closed",
            "` lone",
            "a ** b **",
            "``",
            "*",
        ] {
            assert_eq!(inline(s), [text(s)], "{s:?}");
        }
    }

    #[test]
    fn only_written_out_web_and_mail_addresses_are_links() {
        assert_eq!(
            inline("see https://example.com/a_(b)?q=1, or mailto:ann@example.com."),
            [
                text("see "),
                Link("https://example.com/a_(b)?q=1".into()),
                text(", or "),
                Link("mailto:ann@example.com".into()),
                text("."),
            ]
        );
        assert_eq!(
            inline("(http://x.org)"),
            [text("("), Link("http://x.org".into()), text(")")]
        );
        for s in [
            "javascript:alert(1)",
            "JAVASCRIPT://%0aalert(1)",
            "data:text/html,<script>",
            "xhttps://example.com",
            "https://",
            "vbscript:msgbox",
        ] {
            assert!(
                inline(s).iter().all(|r| !matches!(r, Link(_))),
                "{s:?} must not be a link"
            );
        }
        // A link stops before anything that could leave an attribute.
        assert_eq!(
            inline("https://e.com/\"onmouseover=alert(1)"),
            [
                Link("https://e.com/".into()),
                text("\"onmouseover=alert(1)")
            ]
        );
    }

    #[test]
    fn blocks_are_code_fences_quotes_and_paragraphs() {
        let blocks = parse(
            "Look:\n```\nfn main() {\n  **not bold**\n}\n```\n> quoted *it*\n> more\nafter\nline two",
        );
        assert_eq!(
            blocks,
            [
                Block::Paragraph(vec![text("Look:")]),
                Block::Code("fn main() {\n  **not bold**\n}".into()),
                Block::Quote(vec![
                    text("quoted "),
                    Italic(vec![text("it")]),
                    text("\nmore")
                ]),
                Block::Paragraph(vec![text("after\nline two")]),
            ]
        );
        assert_eq!(
            parse("```\nnever closed"),
            [Block::Code("never closed".into())]
        );
    }

    #[test]
    fn script_stays_text() {
        let payload = "<img src=x onerror=alert(1)> **<script>alert(1)</script>**";
        assert_eq!(
            inline(payload),
            [
                text("<img src=x onerror=alert(1)> "),
                Bold(vec![text("<script>alert(1)</script>")]),
            ]
        );
        assert_eq!(
            plain(payload),
            "<img src=x onerror=alert(1)> <script>alert(1)</script>"
        );
    }

    #[test]
    fn mentions_are_names_after_an_at_outside_code() {
        assert_eq!(
            inline("hi @Ann.Lee, and @bo_2."),
            [
                text("hi "),
                Mention("Ann.Lee".into()),
                text(", and "),
                Mention("bo_2".into()),
                text("."),
            ]
        );
        assert_eq!(
            inline("ann@example.com"),
            [text("ann@example.com")],
            "not in a word"
        );
        assert_eq!(inline("@ alone"), [text("@ alone")]);
        assert_eq!(
            mentioned("@Ann **@bo** `@cy` @ann\n```\n@dee\n```\n> @eve"),
            ["ann", "bo", "eve"]
        );
        assert_eq!(plain("ping @ann"), "ping @ann");
    }

    #[test]
    fn plain_text_drops_the_markers() {
        assert_eq!(plain("**Ship** it _today_\n> ok"), "Ship it today\nok");
    }
}
