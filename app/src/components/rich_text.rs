//! A message's text with its formatting (`chat_types::format`): every piece is a text
//! node, so what a message says can never become markup.

use chat_types::format::{self, Block, Inline};
use chat_types::{Mention, UserId};
use leptos::prelude::*;

/// Who a message names, and who reads it (their own name stands out).
#[derive(Clone, Copy)]
struct Names<'a> {
    mentions: &'a [Mention],
    me: UserId,
}

/// The blocks of `text`: paragraphs, quotes and code blocks, with the members in
/// `mentions` as chips.
pub fn rich_text(text: &str, mentions: &[Mention], me: UserId) -> Vec<AnyView> {
    let names = Names { mentions, me };
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
        Inline::Mention(name) => match names
            .mentions
            .iter()
            .find(|m| m.username.eq_ignore_ascii_case(&name))
        {
            Some(mention) => {
                let me = mention.user_id == names.me;
                view! { <span class="mention" class:me=me data-test="mention">"@"{name}</span> }
                    .into_any()
            }
            None => format!("@{name}").into_any(),
        },
        Inline::Code(code) => view! { <code>{code}</code> }.into_any(),
        // The parser makes links only of http, https and mailto addresses.
        Inline::Link(href) => {
            let shown = href.clone();
            view! { <a href=href rel="noopener noreferrer" target="_blank">{shown}</a> }.into_any()
        }
    }
}
