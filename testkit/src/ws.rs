//! A GraphQL WebSocket client for tests, speaking graphql-transport-ws or the legacy
//! subscriptions-transport-ws protocol.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_types::limits::SILENT_CONNECTION;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The reason [`Event::Closed`] gives when the connection went silent for
/// [`SILENT_CONNECTION`] and the client gave up on it.
pub const SILENT: &str = "silent: no keep-alive from the server";

/// How long a test waits for an expected event.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// The subscription protocols the receiver speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws` (the graphql-ws library).
    TransportWs,
    /// `graphql-ws` (the older subscriptions-transport-ws library).
    Legacy,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        }
    }
}

/// What one subscription receives.
#[derive(Clone, Debug)]
pub enum Event {
    /// A result: `{ data, errors? }`.
    Next(Value),
    /// The subscription failed before starting (e.g. FORBIDDEN).
    Error(Value),
    Complete,
    /// The connection closed.
    Closed(Option<String>),
}

type Routes = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Event>>>>;

/// One WebSocket connection carrying any number of subscriptions.
pub struct WsClient {
    protocol: Protocol,
    outgoing: mpsc::UnboundedSender<Message>,
    routes: Routes,
    next_id: std::sync::atomic::AtomicU64,
}

/// Why the connection could not be set up.
#[derive(Debug)]
pub enum ConnectError {
    Http(u16),
    Refused(String),
}

impl WsClient {
    /// Connects to `base` (`http://…`) and authenticates with `token` in
    /// `connection_init`.
    pub async fn connect(
        base: &str,
        token: Option<&str>,
        protocol: Protocol,
    ) -> Result<Self, ConnectError> {
        Self::connect_with(base, token, protocol, &[]).await
    }

    /// As [`WsClient::connect`], with extra headers on the upgrade request.
    pub async fn connect_with(
        base: &str,
        token: Option<&str>,
        protocol: Protocol,
        headers: &[(&str, &str)],
    ) -> Result<Self, ConnectError> {
        let url = format!("{}/graphql", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("ws request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            protocol.name().parse().expect("header"),
        );
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(http_header_name(name), value.parse().expect("header value"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(response) => {
                    ConnectError::Http(response.status().as_u16())
                }
                other => ConnectError::Refused(other.to_string()),
            })?;
        let (mut sink, mut stream) = socket.split();
        let payload = match token {
            Some(token) => json!({ "authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        sink.send(Message::text(
            json!({ "type": "connection_init", "payload": payload }).to_string(),
        ))
        .await
        .map_err(|e| ConnectError::Refused(e.to_string()))?;
        // Wait for the acknowledgement.
        loop {
            let message = tokio::time::timeout(EVENT_TIMEOUT, stream.next())
                .await
                .map_err(|_| ConnectError::Refused("no connection_ack".into()))?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap_or_default();
                    match value["type"].as_str() {
                        Some("connection_ack") => break,
                        Some("ka") => continue,
                        _ => return Err(ConnectError::Refused(text.to_string())),
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(ConnectError::Refused(
                        frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    ));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(ConnectError::Refused(e.to_string())),
                None => return Err(ConnectError::Refused("closed".into())),
            }
        }

        let routes: Routes = Arc::default();
        let (outgoing, mut outgoing_rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(message) = outgoing_rx.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
        });
        let reader_routes = routes.clone();
        let pong = outgoing.clone();
        tokio::spawn(async move {
            let mut close_reason = None;
            // Silence past the server's keep-alives: the server or the network to it
            // is gone without a word (as a browser's app decides, too).
            loop {
                let Ok(message) = tokio::time::timeout(SILENT_CONNECTION, stream.next()).await
                else {
                    close_reason = Some(SILENT.to_string());
                    break;
                };
                let Some(message) = message else { break };
                let text = match message {
                    Ok(Message::Text(text)) => text,
                    Ok(Message::Close(frame)) => {
                        close_reason = frame.map(|f| f.reason.to_string());
                        break;
                    }
                    Ok(_) => continue,
                    Err(_) => break,
                };
                let value: Value = serde_json::from_str(&text).unwrap_or_default();
                let id = value["id"].as_str().unwrap_or_default().to_string();
                let event = match value["type"].as_str() {
                    Some("next" | "data") => Event::Next(value["payload"].clone()),
                    Some("error") => Event::Error(value["payload"].clone()),
                    Some("complete") => Event::Complete,
                    Some("ping") => {
                        let _ = pong.send(Message::text(json!({ "type": "pong" }).to_string()));
                        continue;
                    }
                    _ => continue,
                };
                let route = reader_routes.lock().expect("routes").get(&id).cloned();
                if let Some(route) = route {
                    let _ = route.send(event);
                }
            }
            for (_, route) in reader_routes.lock().expect("routes").drain() {
                let _ = route.send(Event::Closed(close_reason.clone()));
            }
        });
        Ok(Self {
            protocol,
            outgoing,
            routes,
            next_id: Default::default(),
        })
    }

    /// Starts a subscription.
    pub fn subscribe(&self, query: &str, variables: Value) -> Subscription {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes.lock().expect("routes").insert(id.clone(), tx);
        let kind = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::Legacy => "start",
        };
        let message = json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } });
        let _ = self.outgoing.send(Message::text(message.to_string()));
        Subscription {
            id,
            rx,
            stop_kind: match self.protocol {
                Protocol::TransportWs => "complete",
                Protocol::Legacy => "stop",
            },
            outgoing: self.outgoing.clone(),
        }
    }

    /// Closes the connection.
    pub fn close(&self) {
        let _ = self.outgoing.send(Message::Close(None));
    }
}

/// A raw WebSocket, for tests that send what they like or stop reading.
pub type RawSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;
pub use tokio_tungstenite::tungstenite::Message as RawMessage;

/// Opens a [`RawSocket`] to `base`'s `/graphql` speaking `protocol`, and sends nothing.
/// With `recv_buffer`, the socket's kernel receive buffer is that small, so a client
/// that stops reading makes the server's writes block sooner.
pub async fn raw_socket(base: &str, protocol: Protocol, recv_buffer: Option<u32>) -> RawSocket {
    let addr = base
        .trim_start_matches("http://")
        .parse::<std::net::SocketAddr>()
        .expect("base is http://<ip>:<port>");
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .expect("tcp socket");
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).expect("set SO_RCVBUF");
    }
    let stream = socket.connect(addr).await.expect("tcp connect");
    let mut request = format!("ws://{addr}/graphql")
        .into_client_request()
        .expect("ws request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        protocol.name().parse().expect("header"),
    );
    let (socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("WebSocket handshake");
    socket
}

fn http_header_name(name: &str) -> tokio_tungstenite::tungstenite::http::HeaderName {
    tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
        .expect("header name")
}

/// One subscription's events.
pub struct Subscription {
    pub id: String,
    rx: mpsc::UnboundedReceiver<Event>,
    stop_kind: &'static str,
    outgoing: mpsc::UnboundedSender<Message>,
}

impl Subscription {
    /// The next event, or `None` after [`EVENT_TIMEOUT`].
    pub async fn next_event(&mut self) -> Option<Event> {
        self.next_event_within(EVENT_TIMEOUT).await
    }

    pub async fn next_event_within(&mut self, timeout: Duration) -> Option<Event> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The `data` of the next result; panics on anything else.
    pub async fn next_data(&mut self) -> Value {
        match self.next_event().await {
            Some(Event::Next(payload)) if payload["errors"].is_null() => payload["data"].clone(),
            other => panic!("expected data on subscription {}, got {other:?}", self.id),
        }
    }

    /// The error code of the next event, which must be an error.
    pub async fn next_error_code(&mut self) -> String {
        let errors = match self.next_event().await {
            Some(Event::Error(errors)) => errors,
            Some(Event::Next(payload)) if !payload["errors"].is_null() => payload["errors"].clone(),
            other => panic!(
                "expected an error on subscription {}, got {other:?}",
                self.id
            ),
        };
        errors[0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts nothing arrives for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        if let Some(event) = self.next_event_within(quiet).await {
            panic!(
                "expected nothing on subscription {}, got {event:?}",
                self.id
            );
        }
    }

    /// Stops the subscription.
    pub fn stop(&self) {
        let message = json!({ "id": self.id, "type": self.stop_kind });
        let _ = self.outgoing.send(Message::text(message.to_string()));
    }
}
