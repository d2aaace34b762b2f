//! A message's text with its formatting (`chat_types::format`): every piece is a text
//! node, so what a message says can never become markup.

use chat_types::format::{self, Block, Inline};
use leptos::prelude::*;

/// The blocks of `text`: paragraphs, quotes and code blocks.
pub fn rich_text(text: &str) -> Vec<AnyView> {
    format::parse(text).into_iter().map(block).collect()
}

fn block(block: Block) -> AnyView {
    match block {
        Block::Paragraph(inline) => view! { <p>{runs(inline)}</p> }.into_any(),
        Block::Quote(inline) => view! { <blockquote>{runs(inline)}</blockquote> }.into_any(),
        Block::Code(code) => view! { <pre><code>{code}</code></pre> }.into_any(),
    }
}

fn runs(inline: Vec<Inline>) -> Vec<AnyView> {
    inline.into_iter().map(run).collect()
}

fn run(run: Inline) -> AnyView {
    match run {
        Inline::Text(text) => text.into_any(),
        Inline::Bold(inner) => view! { <strong>{runs(inner)}</strong> }.into_any(),
        Inline::Italic(inner) => view! { <em>{runs(inner)}</em> }.into_any(),
        Inline::Strike(inner) => view! { <del>{runs(inner)}</del> }.into_any(),
        Inline::Code(code) => view! { <code>{code}</code> }.into_any(),
        // The parser makes links only of http, https and mailto addresses.
        Inline::Link(href) => {
            let shown = href.clone();
            view! { <a href=href rel="noopener noreferrer" target="_blank">{shown}</a> }.into_any()
        }
    }
}
