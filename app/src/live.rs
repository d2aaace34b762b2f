//! The browser's live connection: graphql-transport-ws to the chosen receiver.
//!
//! One WebSocket carries every subscription of the page. When it drops, it reconnects
//! with backoff; when the receiver choice changes, it moves. Either way each
//! subscription is sent again with variables computed afresh — `messageAdded` asks
//! for what came after the last message shown, so nothing is missed or doubled.
//! On the server this is inert: subscriptions start after hydration.

use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What the status line shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveStatus {
    /// Not signed in, or not started yet.
    Offline,
    Connecting(u16),
    Connected(u16),
    Reconnecting(u16),
}

/// The page's live connection; in context.
#[derive(Clone)]
pub struct Live {
    pub status: RwSignal<LiveStatus>,
    /// How many times the connection has come up (messages waiting to go out try again
    /// when it does).
    connections: RwSignal<u64>,
    #[cfg(browser)]
    inner: send_wrapper::SendWrapper<std::rc::Rc<std::cell::RefCell<socket::Inner>>>,
}

/// A subscription; dropping it ends it.
pub struct LiveSubscription {
    #[cfg(browser)]
    _cancel: send_wrapper::SendWrapper<socket::Cancel>,
}

pub fn provide_live() -> Live {
    let status = RwSignal::new(LiveStatus::Offline);
    let connections = RwSignal::new(0);
    let live = Live {
        status,
        connections,
        #[cfg(browser)]
        inner: send_wrapper::SendWrapper::new(socket::Inner::new(status, connections)),
    };
    provide_context(live.clone());
    live
}

pub fn use_live() -> Live {
    expect_context::<Live>()
}

impl Live {
    /// How many times the connection has come up so far.
    pub fn connections(&self) -> u64 {
        self.connections.try_get_untracked().unwrap_or_default()
    }

    /// The same, tracked: an effect that reads it runs again on every (re)connection.
    pub fn track_connections(&self) -> u64 {
        self.connections.try_get().unwrap_or_default()
    }

    /// Connects to the receiver on `port`, or moves there from another one.
    pub fn connect(&self, port: u16) {
        #[cfg(browser)]
        socket::connect(&self.inner, port);
        let _ = port;
    }

    /// The receiver on `port` stopped answering other requests: a socket to it that
    /// looks open is probably dead (a network that drops packets closes nothing), so
    /// it is replaced, with the usual pauses between attempts.
    pub fn suspect(&self, port: u16) {
        #[cfg(browser)]
        socket::suspect(&self.inner, port);
        let _ = port;
    }

    /// Starts a subscription. `variables` is called each time it is (re)sent;
    /// `on_item` gets each result's `data.<field>`.
    pub fn subscribe<T: DeserializeOwned + 'static>(
        &self,
        document: &'static str,
        field: &'static str,
        variables: impl Fn() -> Value + 'static,
        on_item: impl Fn(T) + 'static,
    ) -> LiveSubscription {
        #[cfg(browser)]
        {
            let on_payload =
                move |payload: Value| match crate::api::decode_value::<T>(payload, field) {
                    Ok(item) => on_item(item),
                    Err(e) => leptos::logging::warn!("{field}: {e}"),
                };
            let cancel = socket::subscribe(
                &self.inner,
                document,
                Box::new(variables),
                Box::new(on_payload),
            );
            LiveSubscription {
                _cancel: send_wrapper::SendWrapper::new(cancel),
            }
        }
        #[cfg(not(browser))]
        {
            let _ = (document, field, variables, on_item);
            LiveSubscription {}
        }
    }
}

/// Keeps a subscription for as long as the calling component lives.
pub fn subscribe_while_mounted<T: DeserializeOwned + 'static>(
    document: &'static str,
    field: &'static str,
    variables: impl Fn() -> Value + 'static,
    on_item: impl Fn(T) + 'static,
) {
    let subscription = use_live().subscribe(document, field, variables, on_item);
    let subscription = send_wrapper::SendWrapper::new(subscription);
    on_cleanup(move || drop(subscription));
}

#[cfg(browser)]
mod socket {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::{Rc, Weak};
    use std::time::Duration;

    use chat_types::backoff::Backoff;
    use chat_types::limits::SILENT_CONNECTION;
    use leptos::prelude::*;
    use serde_json::{Value, json};
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    use super::LiveStatus;

    type Variables = Box<dyn Fn() -> Value>;
    type OnData = Rc<dyn Fn(Value)>;

    struct Sub {
        document: &'static str,
        variables: Variables,
        on_data: OnData,
    }

    pub(super) struct Inner {
        status: RwSignal<LiveStatus>,
        connections: RwSignal<u64>,
        port: Option<u16>,
        socket: Option<WebSocket>,
        /// Tells current socket events from a replaced socket's.
        generation: u64,
        acked: bool,
        /// When the socket last brought anything (`Date.now()`, ms): the server sends
        /// keep-alives, so a long silence is a server or network gone without a word.
        last_heard: f64,
        attempts: u32,
        backoff: Backoff,
        subs: BTreeMap<u64, Sub>,
        next_id: u64,
        handlers: Vec<Box<dyn std::any::Any>>,
    }

    impl Inner {
        pub(super) fn new(
            status: RwSignal<LiveStatus>,
            connections: RwSignal<u64>,
        ) -> Rc<RefCell<Self>> {
            Rc::new(RefCell::new(Self {
                status,
                connections,
                port: None,
                socket: None,
                generation: 0,
                acked: false,
                last_heard: 0.0,
                attempts: 0,
                backoff: reconnect_backoff(),
                subs: BTreeMap::new(),
                next_id: 0,
                handlers: Vec::new(),
            }))
        }

        fn send(&self, message: Value) {
            if let Some(socket) = &self.socket {
                let _ = socket.send_with_str(&message.to_string());
            }
        }

        fn send_subscribe(&self, id: u64, sub: &Sub) {
            self.send(json!({
                "id": id.to_string(),
                "type": "subscribe",
                "payload": { "query": sub.document, "variables": (sub.variables)() },
            }));
        }
    }

    /// Ends a subscription when dropped.
    pub(super) struct Cancel {
        inner: Weak<RefCell<Inner>>,
        id: u64,
    }

    impl Drop for Cancel {
        fn drop(&mut self) {
            let Some(inner) = self.inner.upgrade() else {
                return;
            };
            let Ok(mut inner) = inner.try_borrow_mut() else {
                return;
            };
            if inner.subs.remove(&self.id).is_some() && inner.acked {
                inner.send(json!({ "id": self.id.to_string(), "type": "complete" }));
            }
        }
    }

    pub(super) fn subscribe(
        inner: &Rc<RefCell<Inner>>,
        document: &'static str,
        variables: Variables,
        on_data: Box<dyn Fn(Value)>,
    ) -> Cancel {
        let mut state = inner.borrow_mut();
        state.next_id += 1;
        let id = state.next_id;
        let sub = Sub {
            document,
            variables,
            on_data: Rc::from(on_data),
        };
        if state.acked {
            state.send_subscribe(id, &sub);
        }
        state.subs.insert(id, sub);
        Cancel {
            inner: Rc::downgrade(inner),
            id,
        }
    }

    pub(super) fn connect(inner: &Rc<RefCell<Inner>>, port: u16) {
        {
            let state = inner.borrow();
            if state.port == Some(port) && state.socket.is_some() {
                return;
            }
        }
        open(inner, port);
    }

    pub(super) fn suspect(inner: &Rc<RefCell<Inner>>, port: u16) {
        let generation = {
            let mut state = inner.borrow_mut();
            if state.port != Some(port) || !state.acked {
                return;
            }
            if let Some(old) = state.socket.take() {
                old.set_onopen(None);
                old.set_onmessage(None);
                old.set_onclose(None);
                let _ = old.close();
            }
            state.generation
        };
        schedule_reconnect(inner, generation);
    }

    fn open(inner: &Rc<RefCell<Inner>>, port: u16) {
        let mut state = inner.borrow_mut();
        if let Some(old) = state.socket.take() {
            // Detach first: its handlers are dropped below, and a closing socket still
            // fires events.
            old.set_onopen(None);
            old.set_onmessage(None);
            old.set_onclose(None);
            let _ = old.close();
        }
        state.generation += 1;
        state.acked = false;
        state.port = Some(port);
        let generation = state.generation;
        let url = format!(
            "{}/graphql",
            crate::api::browser_base_url(port).replacen("http", "ws", 1)
        );
        let socket = match WebSocket::new_with_str(&url, "graphql-transport-ws") {
            Ok(socket) => socket,
            Err(_) => {
                drop(state);
                schedule_reconnect(inner, generation);
                return;
            }
        };
        state.status.set(if state.attempts == 0 {
            LiveStatus::Connecting(port)
        } else {
            LiveStatus::Reconnecting(port)
        });

        let on_open = Closure::<dyn FnMut()>::new({
            let weak = Rc::downgrade(inner);
            move || {
                if let Some(inner) = weak.upgrade() {
                    inner
                        .borrow()
                        .send(json!({ "type": "connection_init", "payload": {} }));
                }
            }
        });
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
            let weak = Rc::downgrade(inner);
            move |event: MessageEvent| {
                let Some(inner) = weak.upgrade() else { return };
                inner.borrow_mut().last_heard = js_sys::Date::now();
                let Some(text) = event.data().as_string() else {
                    return;
                };
                if let Ok(frame) = serde_json::from_str::<Value>(&text) {
                    on_frame(&inner, generation, frame);
                }
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new({
            let weak = Rc::downgrade(inner);
            move |_event: CloseEvent| {
                if let Some(inner) = weak.upgrade() {
                    schedule_reconnect(&inner, generation);
                }
            }
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let watchdog = gloo_timers::callback::Interval::new(WATCHDOG_MS, {
            let weak = Rc::downgrade(inner);
            move || {
                let Some(inner) = weak.upgrade() else { return };
                let silent = {
                    let state = inner.borrow();
                    state.generation == generation
                        && state.acked
                        && js_sys::Date::now() - state.last_heard
                            > SILENT_CONNECTION.as_millis() as f64
                };
                if silent {
                    suspect(&inner, port);
                }
            }
        });
        state.handlers = vec![
            Box::new(on_open),
            Box::new(on_message),
            Box::new(on_close),
            Box::new(watchdog),
        ];
        state.socket = Some(socket);
    }

    fn on_frame(inner: &Rc<RefCell<Inner>>, generation: u64, mut frame: Value) {
        let handler = {
            let mut state = inner.borrow_mut();
            if state.generation != generation {
                return;
            }
            match frame["type"].as_str().unwrap_or_default() {
                "connection_ack" => {
                    state.acked = true;
                    state.attempts = 0;
                    state.backoff.reset();
                    state.connections.update(|n| *n += 1);
                    if let Some(port) = state.port {
                        state.status.set(LiveStatus::Connected(port));
                    }
                    for (id, sub) in &state.subs {
                        state.send_subscribe(*id, sub);
                    }
                    None
                }
                "ping" => {
                    state.send(json!({ "type": "pong" }));
                    None
                }
                "next" => frame["id"]
                    .as_str()
                    .and_then(|id| id.parse::<u64>().ok())
                    .and_then(|id| state.subs.get(&id))
                    .map(|sub| sub.on_data.clone()),
                "error" => {
                    leptos::logging::warn!("subscription error: {}", frame["payload"]);
                    None
                }
                _ => None,
            }
        };
        // Called with no borrow held: the handler may subscribe or unsubscribe.
        if let Some(handler) = handler {
            handler(frame["payload"].take());
        }
    }

    /// How often a socket's silence is checked.
    const WATCHDOG_MS: u32 = 5_000;

    /// Reconnecting: from a quarter of a second up to 5 s between attempts.
    fn reconnect_backoff() -> Backoff {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(5))
    }

    /// After a drop, tries again with growing pauses.
    fn schedule_reconnect(inner: &Rc<RefCell<Inner>>, generation: u64) {
        let (delay, port) = {
            let mut state = inner.borrow_mut();
            if state.generation != generation {
                return;
            }
            state.acked = false;
            state.socket = None;
            state.attempts += 1;
            let Some(port) = state.port else { return };
            state.status.set(LiveStatus::Reconnecting(port));
            let delay = state.backoff.next_pause().as_millis() as u32;
            (delay, port)
        };
        let weak = Rc::downgrade(inner);
        gloo_timers::callback::Timeout::new(delay, move || {
            if let Some(inner) = weak.upgrade() {
                let current = inner.borrow().generation == generation;
                if current {
                    open(&inner, port);
                }
            }
        })
        .forget();
    }
}
