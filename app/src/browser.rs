//! What only the browser has: cookies and storage, random ids, the page's visibility,
//! focus, timers. Outside the browser these are inert.

use crate::config::{CHOICE_COOKIE, Choice, Instances, cookie_value};

/// The remembered choice: the cookie (which server rendering also reads), else local
/// storage, else the first instances.
pub fn stored_choice(instances: &Instances) -> Choice {
    #[cfg(browser)]
    {
        let cookie = document_cookie();
        if let Some(choice) = Choice::from_cookie_header(&cookie, instances) {
            return choice;
        }
        if let Some(saved) = storage().and_then(|s| s.get_item(CHOICE_COOKIE).ok().flatten()) {
            let choice = Choice::decode(&saved, instances);
            save_choice(choice);
            return choice;
        }
    }
    let _ = instances;
    Choice::default()
}

/// Remembers the choice in local storage and in a cookie for server rendering.
pub fn save_choice(choice: Choice) {
    let value = choice.encode();
    #[cfg(browser)]
    if let Some(storage) = storage() {
        let _ = storage.set_item(CHOICE_COOKIE, &value);
    }
    set_cookie(&format!(
        "{CHOICE_COOKIE}={value}; Path=/; Max-Age=31536000; SameSite=Lax"
    ));
}

/// The page's cookies that scripts may read (`document.cookie`); empty elsewhere.
pub fn document_cookie() -> String {
    #[cfg(browser)]
    {
        use wasm_bindgen::JsCast;
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
            .and_then(|d| d.cookie().ok())
            .unwrap_or_default()
    }
    #[cfg(not(browser))]
    String::new()
}

/// Sets a cookie from the page (`document.cookie = …`).
pub fn set_cookie(cookie: &str) {
    #[cfg(browser)]
    {
        use wasm_bindgen::JsCast;
        if let Some(document) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
        {
            let _ = document.set_cookie(cookie);
        }
    }
    let _ = cookie;
}

#[cfg(browser)]
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Keeps `value` under `key` on this browser (local storage).
pub fn remember(key: &str, value: &str) {
    #[cfg(browser)]
    if let Some(storage) = storage() {
        let _ = storage.set_item(key, value);
    }
    let _ = (key, value);
}

/// What [`remember`] kept under `key`.
pub fn recall(key: &str) -> Option<String> {
    #[cfg(browser)]
    {
        storage()?.get_item(key).ok().flatten()
    }
    #[cfg(not(browser))]
    {
        let _ = key;
        None
    }
}

/// The unsent text of a chat's composer, kept across navigation and reloads.
pub fn draft(chat: &str) -> Option<String> {
    #[cfg(browser)]
    {
        storage()?
            .get_item(&format!("chat_draft:{chat}"))
            .ok()
            .flatten()
    }
    #[cfg(not(browser))]
    {
        let _ = chat;
        None
    }
}

/// Keeps (or, when empty, forgets) a chat's unsent text.
pub fn save_draft(chat: &str, text: &str) {
    #[cfg(browser)]
    if let Some(storage) = storage() {
        let key = format!("chat_draft:{chat}");
        let _ = if text.trim().is_empty() {
            storage.remove_item(&key)
        } else {
            storage.set_item(&key, text)
        };
    }
    let _ = (chat, text);
}

/// A fresh idempotency key for a message (a random UUID from the browser's crypto).
pub fn new_client_id() -> String {
    #[cfg(browser)]
    if let Some(id) = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .map(|c| c.random_uuid())
    {
        return id;
    }
    // Outside the browser (or in one without crypto): time and a counter, unique
    // enough per sender, which is all a clientId needs.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "c-{}-{}",
        now_ms() as u64,
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// Milliseconds since the epoch (0 outside the browser).
pub fn now_ms() -> f64 {
    #[cfg(browser)]
    {
        js_sys::Date::now()
    }
    #[cfg(not(browser))]
    {
        0.0
    }
}

/// Whether the page is in front of the user (so arriving messages count as read).
pub fn page_visible() -> bool {
    #[cfg(browser)]
    {
        web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
    }
    #[cfg(not(browser))]
    {
        false
    }
}

/// Calls `f` whenever the page comes back into view, while the calling component
/// lives.
pub fn on_visible(f: impl Fn() + 'static) {
    #[cfg(browser)]
    {
        let handle =
            leptos::prelude::window_event_listener_untyped("visibilitychange", move |_| {
                if page_visible() {
                    f();
                }
            });
        leptos::prelude::on_cleanup(move || handle.remove());
    }
    #[cfg(not(browser))]
    drop(f);
}

/// Calls `f` whenever the page is hidden or shown, while the calling component lives.
pub fn on_visibility_change(f: impl Fn() + 'static) {
    #[cfg(browser)]
    {
        let handle =
            leptos::prelude::window_event_listener_untyped("visibilitychange", move |_| f());
        leptos::prelude::on_cleanup(move || handle.remove());
    }
    #[cfg(not(browser))]
    drop(f);
}

/// The browser's offset from UTC, in minutes east (0 outside the browser).
pub fn tz_offset() -> i32 {
    #[cfg(browser)]
    {
        // JavaScript reports minutes *behind* UTC.
        -(js_sys::Date::new_0().get_timezone_offset() as i32)
    }
    #[cfg(not(browser))]
    {
        0
    }
}

/// Keeps the browser's UTC offset in a cookie, so the next page the server renders
/// shows times in this time zone.
pub fn remember_tz() {
    let offset = tz_offset();
    let known = cookie_value(&document_cookie(), crate::config::TZ_COOKIE)
        .and_then(|v| v.parse::<i32>().ok());
    if known != Some(offset) {
        set_cookie(&format!(
            "{}={offset}; Path=/; Max-Age=31536000; SameSite=Lax",
            crate::config::TZ_COOKIE
        ));
    }
}

/// The JSON in the page's `<meta name=… content=…>`, as the server wrote it.
pub fn page_meta<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    #[cfg(browser)]
    {
        let content = web_sys::window()?
            .document()?
            .query_selector(&format!("meta[name={name}]"))
            .ok()
            .flatten()?
            .get_attribute("content")?;
        // Through the one JSON tree type the app decodes everything with: a parser
        // per target type would cost the bundle.
        let tree: serde_json::Value = serde_json::from_str(&content).ok()?;
        serde_json::from_value(tree).ok()
    }
    #[cfg(not(browser))]
    {
        let _ = name;
        None
    }
}

/// Moves the focus to the element matching `selector`, if there is one.
pub fn focus(selector: &str) {
    #[cfg(browser)]
    {
        use wasm_bindgen::JsCast;
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector(selector).ok().flatten())
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    }
    let _ = selector;
}

/// Moves the focus `step` places through the elements matching `selector` (in the
/// page's order) from the one that has it; to the first when none has.
pub fn focus_next(selector: &str, step: i32) {
    #[cfg(browser)]
    {
        use wasm_bindgen::JsCast;
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let Ok(items) = document.query_selector_all(selector) else {
            return;
        };
        let items: Vec<web_sys::HtmlElement> = (0..items.length())
            .filter_map(|i| items.item(i))
            .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            .collect();
        let active = document.active_element();
        let next = match items.iter().position(|el| {
            active
                .as_ref()
                .is_some_and(|a| a == el.as_ref() as &web_sys::Element)
        }) {
            Some(at) => (at as i32 + step).clamp(0, items.len() as i32 - 1) as usize,
            None => 0,
        };
        if let Some(el) = items.get(next) {
            let _ = el.focus();
        }
    }
    let _ = (selector, step);
}

/// The tab's icon: the app's, with the unread count on a red badge while there is any.
pub fn set_icon(unread: i64) {
    #[cfg(browser)]
    if let Some(link) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("link[rel=icon]").ok().flatten())
    {
        let href = match unread {
            ..=0 => "/favicon.svg".to_string(),
            n => format!(
                "data:image/svg+xml,{}",
                String::from(js_sys::encode_uri_component(&badged_icon(n)))
            ),
        };
        let _ = link.set_attribute("href", &href);
    }
    let _ = unread;
}

/// The app's icon (`assets/favicon.svg`) with `count` on a badge in its corner: a
/// circle for one digit, a pill for more, "99+" beyond.
#[cfg(browser)]
fn badged_icon(count: i64) -> String {
    let text = if count > 99 {
        "99+".to_string()
    } else {
        count.to_string()
    };
    let width = 12 + 6 * text.len();
    let left = 32 - width;
    let middle = left + width / 2;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#2f5bd3"/><path d="M8 10h16v10H14l-5 4v-4H8z" fill="#fff"/><rect x="{left}" width="{width}" height="18" rx="9" fill="#d93025" stroke="#fff" stroke-width="1.5"/><text x="{middle}" y="14" font-family="Arial,Helvetica,sans-serif" font-size="14" font-weight="700" fill="#fff" text-anchor="middle">{text}</text></svg>"##
    )
}

/// Whether the browser thinks it is online (on the server: yes).
pub fn online() -> bool {
    #[cfg(browser)]
    return web_sys::window().is_none_or(|w| w.navigator().on_line());
    #[cfg(not(browser))]
    true
}

/// Waits `ms` milliseconds (in the browser; elsewhere at once).
pub async fn pause(ms: u32) {
    #[cfg(browser)]
    gloo_timers::future::TimeoutFuture::new(ms).await;
    let _ = ms;
}

/// Runs `f` after the browser has laid out the page (for scrolling).
pub fn after_layout(f: impl FnOnce() + 'static) {
    #[cfg(browser)]
    leptos::prelude::request_animation_frame(f);
    #[cfg(not(browser))]
    drop(f);
}

/// Marks the page as hydrated (`<html data-hydrated>`), for tests and styles.
pub fn mark_hydrated() {
    #[cfg(browser)]
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("data-hydrated", "true");
    }
}

/// Sends the browser to `path` with a full page load (so the server renders it).
pub fn go(path: &str) {
    #[cfg(browser)]
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(path);
    }
    let _ = path;
}

/// Sends `file` as the body of a POST to `url`, cookies along: the answer's status and
/// body text, or `None` when the instance could not be reached.
#[cfg(browser)]
pub async fn upload(url: &str, file: &web_sys::File) -> Option<(u16, String)> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(file);
    send(url, init).await
}

/// A `fetch` from the page: the answer's status and body text, or `None` when the
/// instance could not be reached. `body` makes it a JSON POST; cookies go along.
#[cfg(browser)]
pub async fn fetch(url: &str, body: Option<&str>) -> Option<(u16, String)> {
    let init = web_sys::RequestInit::new();
    if let Some(body) = body {
        init.set_method("POST");
        init.set_body(&wasm_bindgen::JsValue::from_str(body));
        let headers = web_sys::Headers::new().ok()?;
        headers.set("content-type", "application/json").ok()?;
        init.set_headers(&headers);
    }
    send(url, init).await
}

/// Sends `init` to `url` with the page's cookies: the answer's status and body text.
#[cfg(browser)]
async fn send(url: &str, init: web_sys::RequestInit) -> Option<(u16, String)> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    init.set_credentials(web_sys::RequestCredentials::Include);
    let request = web_sys::Request::new_with_str_and_init(url, &init).ok()?;
    let response: web_sys::Response =
        JsFuture::from(web_sys::window()?.fetch_with_request(&request))
            .await
            .ok()?
            .dyn_into()
            .ok()?;
    let text = JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()?;
    Some((response.status(), text))
}
