//! The chat web app: server-rendered by the web tier, then hydrated in the browser.
//!
//! - [`config`]: the instances and the browser's choice among them.
//! - [`api`]: GraphQL calls routed to the chosen instance (HTTP on both sides).
//! - [`live`]: the browser's graphql-ws connection to the chosen receiver.
//! - [`state`]: the chat list and the open chat's timeline, kept current by events.
//! - [`timeline`]: the open chat's rows as a person reads them (days, groups, changes).
//! - [`notify`]: desktop notifications, and the offer to turn them on.
//! - [`outbox`]: a message's way out: pending, waiting for the connection, refused.
//! - [`scroll`]: where the open chat is scrolled to, and moving it.
//! - [`forms`]: forms that work before and without scripts.
//! - [`time`]: times in the reader's time zone.
//! - [`browser`]: cookies, storage, timers: what only the browser has.
//! - [`presence`]: who is around: reporting this person, knowing the others.
//! - [`pages`]: login, registration, and the chats screen.
//! - [`components`]: the instance picker, the chat list, the open chat, dialogs.

#![recursion_limit = "256"]

pub mod api;
pub mod browser;
pub mod components;
pub mod config;
pub mod forms;
pub mod live;
pub mod notify;
pub mod outbox;
pub mod pages;
pub mod presence;
pub mod scroll;
pub mod state;
pub mod time;
pub mod timeline;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::config::Instances;

/// Where the web tier reaches the services (server side only).
#[derive(Clone, Debug)]
pub struct ServiceHost(pub String);

/// The name of the meta tag that hands [`Instances`] to the browser.
const INSTANCES_META: &str = "chat-instances";
/// The name of the meta tag with the [`time::Clock`] the page was rendered with.
pub(crate) const CLOCK_META: &str = "chat-clock";

/// A strict Content-Security-Policy for a page (server side): scripts only from this
/// site or carrying the page's nonce (leptos puts it on its own), the wasm compiled from
/// there, connections only to this host (the service instances listen on its other
/// ports), no inline styles in markup, no framing, forms posted only here.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let host = use_context::<http::request::Parts>()
        .and_then(|parts| {
            parts
                .headers
                .get(http::header::HOST)?
                .to_str()
                .ok()
                .map(str::to_string)
        })
        .and_then(|host| page_host(&host).map(str::to_string));
    let services = match host {
        Some(host) => format!("http://{host}:* https://{host}:* ws://{host}:* wss://{host}:*"),
        None => String::new(),
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self' {services}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The host name of a `Host` header, without its port, if it is a plain name or
/// address (anything else gets no exception in the policy).
#[cfg(feature = "ssr")]
fn page_host(header: &str) -> Option<&str> {
    let host = if header.starts_with('[') {
        &header[..=header.find(']')?]
    } else {
        header.split(':').next()?
    };
    let plain = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    (plain && !host.is_empty()).then_some(host)
}

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    let instances = use_context::<Instances>().unwrap_or_default();
    let instances = serde_json::to_string(&instances).unwrap_or_default();
    let clock = serde_json::to_string(&time::page_clock()).unwrap_or_default();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <meta name=INSTANCES_META content=instances/>
                <meta name=CLOCK_META content=clock/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The instances, from context on the server and from the page's meta tag in the
/// browser.
fn instances() -> Instances {
    browser::page_meta(INSTANCES_META)
        .or_else(use_context::<Instances>)
        .unwrap_or_default()
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    api::provide_client(instances());
    live::provide_live();
    provide_context(time::page_clock());
    browser::remember_tz();
    view! {
        <Stylesheet id="leptos" href="/pkg/chat.css"/>
        <Title text="Chat"/>
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                <Route path=path!("/login") view=pages::auth::LoginPage/>
                <Route path=path!("/register") view=pages::auth::RegisterPage/>
                // One parent for the chats screen, so opening another chat swaps only
                // the chat and keeps the list, the session and the live connection.
                <ParentRoute path=path!("") view=pages::chats::ChatsPage ssr=SsrMode::Async>
                    <Route path=path!("") view=pages::chats::NoChatOpen/>
                    <Route path=path!("chats/:id") view=pages::chats::OpenChat/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::page_host;

    #[test]
    fn the_policy_names_only_plain_hosts() {
        assert_eq!(page_host("localhost:3000"), Some("localhost"));
        assert_eq!(page_host("chat.example.com"), Some("chat.example.com"));
        assert_eq!(page_host("[::1]:3000"), Some("[::1]"));
        assert_eq!(page_host("evil.com; script-src *"), None);
        assert_eq!(page_host(""), None);
    }
}
