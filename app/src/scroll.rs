//! Where the open chat's message list is scrolled to, and moving it.

use leptos::html;
use leptos::prelude::*;

use crate::browser;

/// Within this many pixels of an edge counts as "at" it.
const EDGE_PX: i32 = 80;

pub type Scroller = NodeRef<html::Div>;

/// At (or near) the newest message; also when there is nothing to scroll yet.
pub fn at_bottom(scroller: Scroller) -> bool {
    scroller
        .get_untracked()
        .is_none_or(|el| el.scroll_height() - el.scroll_top() - el.client_height() < EDGE_PX)
}

/// More than a screen away from the newest message.
pub fn far_from_bottom(scroller: Scroller) -> bool {
    scroller.get_untracked().is_some_and(|el| {
        el.scroll_height() - el.scroll_top() - el.client_height() > el.client_height()
    })
}

pub fn at_top(scroller: Scroller) -> bool {
    scroller
        .get_untracked()
        .is_some_and(|el| el.scroll_top() < EDGE_PX)
}

pub fn height(scroller: Scroller) -> i32 {
    scroller.get_untracked().map_or(0, |el| el.scroll_height())
}

/// To the newest message, once the page is laid out.
pub fn to_bottom(scroller: Scroller) {
    browser::after_layout(move || {
        if let Some(el) = scroller.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    });
}

/// Brings the element matching `selector` inside the list to the upper part of the
/// view (the "New messages" line when opening a chat with unread messages); the
/// bottom when there is none.
pub fn to_element(scroller: Scroller, selector: &'static str) {
    #[cfg(browser)]
    browser::after_layout(move || {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        match el.query_selector(selector).ok().flatten() {
            Some(target) => {
                let top = target.get_bounding_client_rect().top()
                    - el.get_bounding_client_rect().top()
                    + f64::from(el.scroll_top());
                el.set_scroll_top((top as i32 - el.client_height() / 4).max(0));
            }
            None => el.set_scroll_top(el.scroll_height()),
        }
    });
    let _ = (scroller, selector);
}

/// After older messages went in above, keeps the same messages in view.
pub fn keep_position(scroller: Scroller, height_before: i32) {
    if let Some(el) = scroller.get_untracked() {
        el.set_scroll_top(el.scroll_top() + el.scroll_height() - height_before);
    }
}

/// Brings message `seq` to the middle of the view and highlights it for a moment (a
/// reply's quote was clicked). False when it is not in the list.
pub fn to_message(scroller: Scroller, seq: i64) -> bool {
    #[cfg(browser)]
    {
        let Some(el) = scroller.get_untracked() else {
            return false;
        };
        let selector = format!("[data-test=message][data-seq=\"{seq}\"]");
        let Some(target) = el.query_selector(&selector).ok().flatten() else {
            return false;
        };
        let top = target.get_bounding_client_rect().top() - el.get_bounding_client_rect().top()
            + f64::from(el.scroll_top());
        el.set_scroll_top((top as i32 - el.client_height() / 2).max(0));
        let _ = target.class_list().add_1("highlight");
        set_timeout(
            move || {
                let _ = target.class_list().remove_1("highlight");
            },
            std::time::Duration::from_millis(2000),
        );
        true
    }
    #[cfg(not(browser))]
    {
        let _ = (scroller, seq);
        false
    }
}
