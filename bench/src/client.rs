//! The deployment as a client sees it: GraphQL over HTTP, subscriptions over
//! graphql-transport-ws.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, anyhow, bail};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The instances to drive, by service.
#[derive(Clone, Debug)]
pub struct Targets {
    pub users: Vec<String>,
    pub senders: Vec<String>,
    pub receivers: Vec<String>,
    /// What the subscribers of `idle` and `fanout` ask of each message.
    pub selection: Selection,
}

/// The fields a `messageAdded` subscriber selects: the cost of a subscription and of
/// each delivery grows with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Selection {
    /// The web app's own document (`chat_types::ops::MESSAGE_ADDED`): every field a
    /// message shows (replies, reactions, mentions, attachments…).
    #[default]
    App,
    /// The eleven scalar fields the web app selected until 2026-11-24 (before replies,
    /// reactions, mentions, pins and files), to compare with figures from then.
    Lean,
}

impl Selection {
    pub fn document(self) -> &'static str {
        match self {
            Selection::App => chat_types::ops::MESSAGE_ADDED,
            Selection::Lean => {
                "subscription MessageAdded($chatId: ID!, $afterSeq: Int) { messageAdded(chatId: $chatId, afterSeq: $afterSeq) { id chatId seq senderId content clientId createdAt editedAt deletedAt isEdited isDeleted } }"
            }
        }
    }
}

impl Targets {
    /// Refuses anything but loopback: the load generator never leaves the machine.
    pub fn check_loopback(&self) -> anyhow::Result<()> {
        for url in self
            .users
            .iter()
            .chain(&self.senders)
            .chain(&self.receivers)
        {
            let host = url
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split(['/', ':']).next())
                .unwrap_or_default();
            let loopback =
                host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                bail!("{url} is not a loopback address; chat-bench only drives local deployments");
            }
        }
        if self.users.is_empty() || self.senders.is_empty() || self.receivers.is_empty() {
            bail!("at least one user, sender and receiver instance is needed");
        }
        Ok(())
    }
}

/// Picks instances in turn.
#[derive(Default)]
pub struct RoundRobin(AtomicUsize);

impl RoundRobin {
    pub fn pick<'a>(&self, urls: &'a [String]) -> &'a str {
        &urls[self.0.fetch_add(1, Ordering::Relaxed) % urls.len()]
    }
}

/// A GraphQL client with a connection pool.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
        }
    }
}

impl Http {
    /// The body of a GET (e.g. `/metrics`).
    pub async fn get_text(&self, url: &str) -> anyhow::Result<String> {
        Ok(self.client.get(url).send().await?.text().await?)
    }

    /// Runs an operation; `data.<field>` on success, the first error's code otherwise.
    pub async fn call(
        &self,
        base: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
        field: &str,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .post(format!("{base}/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let mut body: Value = request.send().await?.json().await?;
        if let Some(error) = body["errors"].get(0) {
            let code = error["extensions"]["code"].as_str().unwrap_or("?");
            return Err(anyhow!("{code}: {}", error["message"]));
        }
        Ok(body["data"][field].take())
    }
}

/// What a `messageAdded` subscriber needs from each frame.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    payload: Option<Payload<'a>>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(default, borrow)]
    data: Option<Data<'a>>,
    #[serde(default)]
    errors: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(rename = "messageAdded", borrow)]
    message_added: Option<Added<'a>>,
}

#[derive(Deserialize)]
struct Added<'a> {
    seq: i64,
    #[serde(borrow)]
    content: std::borrow::Cow<'a, str>,
}

/// One subscription's next message: its seq and content.
pub enum Delivery {
    Message { seq: i64, content: String },
    Closed,
}

/// A WebSocket with one `messageAdded` subscription.
pub struct Subscriber {
    stream: futures::stream::SplitStream<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    >,
    _sink: futures::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        WsMessage,
    >,
}

impl Subscriber {
    /// Connects to `receiver` (from `source`, if given), authenticates, and subscribes
    /// to `messageAdded(chatId)`, selecting `selection`.
    pub async fn connect(
        receiver: &str,
        token: &str,
        chat: &str,
        selection: Selection,
        source: Option<IpAddr>,
    ) -> anyhow::Result<Self> {
        Self::subscribe(
            receiver,
            token,
            selection.document(),
            json!({ "chatId": chat }),
            source,
        )
        .await
    }

    /// As [`Subscriber::connect`], to any subscription.
    pub async fn subscribe(
        receiver: &str,
        token: &str,
        document: &str,
        variables: serde_json::Value,
        source: Option<IpAddr>,
    ) -> anyhow::Result<Self> {
        let url = format!("{}/graphql", receiver.replacen("http", "ws", 1));
        let mut request = url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
        let host = request.uri().host().context("receiver host")?.to_string();
        let port = request.uri().port_u16().unwrap_or(80);
        let address: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
            .await?
            .find(|a| a.is_ipv4())
            .context("receiver address")?;
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = source {
            socket.bind(SocketAddr::new(source, 0))?;
        }
        let tcp = socket.connect(address).await?;
        tcp.set_nodelay(true)?;
        let (ws, _) =
            tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
                .await?;
        let (mut sink, mut stream) = ws.split();
        let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
        sink.send(WsMessage::text(init.to_string())).await?;
        loop {
            match stream.next().await {
                Some(Ok(WsMessage::Text(text))) if text.contains("connection_ack") => break,
                Some(Ok(WsMessage::Text(_) | WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                other => bail!("no connection_ack: {other:?}"),
            }
        }
        let subscribe = json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": document, "variables": variables },
        });
        sink.send(WsMessage::text(subscribe.to_string())).await?;
        Ok(Self {
            stream,
            _sink: sink,
        })
    }

    /// Counts the results that arrive until the connection closes, adding each to
    /// `count` as it comes.
    pub async fn count_results(mut self, count: &std::sync::atomic::AtomicU64) {
        while let Some(Ok(frame)) = self.stream.next().await {
            if let WsMessage::Text(text) = frame
                && text.contains("\"next\"")
            {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// Waits for the next message (skipping pings and keep-alives).
    pub async fn next(&mut self) -> anyhow::Result<Delivery> {
        loop {
            let Some(frame) = self.stream.next().await else {
                return Ok(Delivery::Closed);
            };
            let text = match frame? {
                WsMessage::Text(text) => text,
                WsMessage::Close(_) => return Ok(Delivery::Closed),
                _ => continue,
            };
            let frame: Frame = serde_json::from_str(&text)?;
            match frame.kind.as_ref() {
                "next" => {
                    let payload = frame.payload.context("next without payload")?;
                    if payload.errors.is_some() {
                        bail!("subscription error: {text}");
                    }
                    let added = payload
                        .data
                        .and_then(|d| d.message_added)
                        .context("no messageAdded")?;
                    return Ok(Delivery::Message {
                        seq: added.seq,
                        content: added.content.into_owned(),
                    });
                }
                "error" => bail!("subscription refused: {text}"),
                "complete" => return Ok(Delivery::Closed),
                _ => continue,
            }
        }
    }
}
