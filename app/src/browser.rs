//! What only the browser has: cookies and storage for the instance choice, random ids,
//! the page's visibility. Outside the browser these are inert.

use crate::config::{CHOICE_COOKIE, Choice, Instances};

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
    #[cfg(browser)]
    {
        use wasm_bindgen::JsCast;
        let value = choice.encode();
        if let Some(storage) = storage() {
            let _ = storage.set_item(CHOICE_COOKIE, &value);
        }
        if let Some(document) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
        {
            let _ = document.set_cookie(&format!(
                "{CHOICE_COOKIE}={value}; Path=/; Max-Age=31536000; SameSite=Lax"
            ));
        }
    }
    let _ = (choice, CHOICE_COOKIE);
}

#[cfg(browser)]
fn document_cookie() -> String {
    use wasm_bindgen::JsCast;
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
        .and_then(|d| d.cookie().ok())
        .unwrap_or_default()
}

#[cfg(browser)]
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
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

/// Keeps the browser's UTC offset in a cookie for server rendering.
#[cfg(browser)]
pub fn remember_tz(offset_minutes: i32) {
    use wasm_bindgen::JsCast;
    let known = crate::config::cookie_value(&document_cookie(), crate::time::TZ_COOKIE)
        .and_then(|v| v.parse::<i32>().ok());
    if known == Some(offset_minutes) {
        return;
    }
    if let Some(document) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
    {
        let _ = document.set_cookie(&format!(
            "{}={offset_minutes}; Path=/; Max-Age=31536000; SameSite=Lax",
            crate::time::TZ_COOKIE
        ));
    }
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

/// A `fetch` from the page: the answer's status and body text, or `None` when the
/// instance could not be reached. `body` makes it a JSON POST; cookies go along.
#[cfg(browser)]
pub async fn fetch(url: &str, body: Option<&str>) -> Option<(u16, String)> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let init = web_sys::RequestInit::new();
    init.set_credentials(web_sys::RequestCredentials::Include);
    if let Some(body) = body {
        init.set_method("POST");
        init.set_body(&wasm_bindgen::JsValue::from_str(body));
        let headers = web_sys::Headers::new().ok()?;
        headers.set("content-type", "application/json").ok()?;
        init.set_headers(&headers);
    }
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
