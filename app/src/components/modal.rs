//! A modal dialog that behaves as keyboard users expect: the browser's own `<dialog>`
//! opened with `showModal()` (focus moves in, the page behind goes inert, Escape
//! closes), Tab and Shift+Tab kept inside, and focus back on what opened it after.

use leptos::html;
use leptos::prelude::*;

#[component]
pub fn Modal(
    /// The id of the element that names the dialog (its heading).
    labelled_by: &'static str,
    #[prop(into)] class: String,
    #[prop(into)] on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<html::Dialog>::new();
    #[cfg(browser)]
    {
        // Whatever had focus when the dialog was asked for: the button that opened it.
        let opener = send_wrapper::SendWrapper::new(
            web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.active_element()),
        );
        dialog.on_load(|dialog| {
            // A dialog whose code was fetched on demand gets its node before the node is
            // in the page; showModal() needs it there, which it is by the next frame.
            if dialog.is_connected() {
                let _ = dialog.show_modal();
            } else {
                let dialog = send_wrapper::SendWrapper::new(dialog);
                request_animation_frame(move || {
                    let _ = dialog.show_modal();
                });
            }
        });
        on_cleanup(move || {
            use wasm_bindgen::JsCast;
            if let Some(opener) = opener
                .take()
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = opener.focus();
            }
        });
    }
    let keep_focus_inside = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Tab" {
            wrap_tab(dialog, &ev);
        }
    };
    view! {
        <dialog
            node_ref=dialog
            class=class
            aria-labelledby=labelled_by
            on:close=move |_| on_close.run(())
            on:keydown=keep_focus_inside
        >
            {children()}
        </dialog>
    }
}

/// Tab on the last focusable element goes to the first, Shift+Tab on the first to the
/// last.
fn wrap_tab(dialog: NodeRef<html::Dialog>, ev: &leptos::ev::KeyboardEvent) {
    #[cfg(browser)]
    {
        use wasm_bindgen::JsCast;
        let Some(dialog) = dialog.get_untracked() else {
            return;
        };
        let Ok(found) = dialog.query_selector_all(
            "button:not([disabled]), [href], input:not([disabled]), select, textarea, [tabindex]:not([tabindex=\"-1\"])",
        ) else {
            return;
        };
        let focusable: Vec<web_sys::HtmlElement> = (0..found.length())
            .filter_map(|i| found.item(i))
            .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            .collect();
        let (Some(first), Some(last)) = (focusable.first(), focusable.last()) else {
            return;
        };
        let active = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element());
        let on = |el: &web_sys::HtmlElement| active.as_ref() == Some(el.unchecked_ref());
        let inside = active
            .as_ref()
            .is_some_and(|a| dialog.contains(Some(a.unchecked_ref())));
        if ev.shift_key() && (on(first) || !inside) {
            ev.prevent_default();
            let _ = last.focus();
        } else if !ev.shift_key() && (on(last) || !inside) {
            ev.prevent_default();
            let _ = first.focus();
        }
    }
    let _ = (dialog, ev);
}
