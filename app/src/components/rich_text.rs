//! A message's text with its formatting (`chat_types::format`): every piece is a text
//! node, so what a message says can never become markup.

use chat_types::format::{self, Block, Inline};
use chat_types::{Mention, UserId};
use leptos::prelude::*;

/// Who a message names, and who reads it (their own name stands out).
#[derive(Clone, Copy)]
pub struct Names<'a> {
    pub mentions: &'a [Mention],
    /// Whether its `@all` mentions everyone (a group owner wrote it).
    pub everyone: bool,
    pub me: UserId,
}

/// The blocks of `text`: paragraphs, quotes and code blocks, with the members it
/// mentions as chips.
pub fn rich_text(text: &str, names: Names) -> Vec<AnyView> {
    format::parse(text)
        .into_iter()
        .map(|b| block(b, names))
        .collect()
}

fn block(block: Block, names: Names) -> AnyView {
    match block {
        Block::Paragraph(inline) => view! { <p>{runs(inline, names)}</p> }.into_any(),
        Block::Quote(inline) => view! { <blockquote>{runs(inline, names)}</blockquote> }.into_any(),
        Block::Code(code) => view! { <pre><code>{code}</code></pre> }.into_any(),
    }
}

fn runs(inline: Vec<Inline>, names: Names) -> Vec<AnyView> {
    inline.into_iter().map(|r| run(r, names)).collect()
}

fn run(run: Inline, names: Names) -> AnyView {
    match run {
        Inline::Text(text) => text.into_any(),
        Inline::Bold(inner) => view! { <strong>{runs(inner, names)}</strong> }.into_any(),
        Inline::Italic(inner) => view! { <em>{runs(inner, names)}</em> }.into_any(),
        Inline::Strike(inner) => view! { <del>{runs(inner, names)}</del> }.into_any(),
        Inline::Mention(name) => {
            let everyone = names.everyone && name.eq_ignore_ascii_case(format::EVERYONE);
            let named = names
                .mentions
                .iter()
                .find(|m| m.username.eq_ignore_ascii_case(&name));
            match (everyone, named) {
                (false, None) => format!("@{name}").into_any(),
                (_, named) => {
                    let of_you = everyone || named.is_some_and(|m| m.user_id == names.me);
                    view! { <span class="mention" class:of-you=of_you data-test="mention">"@"{name}</span> }
                        .into_any()
                }
            }
        }
        Inline::Code(code) => view! { <code>{code}</code> }.into_any(),
        // The parser makes links only of http, https and mailto addresses.
        Inline::Link(href) => {
            let shown = href.clone();
            view! { <a href=href rel="noopener noreferrer" target="_blank">{shown}</a> }.into_any()
        }
    }
}
