//! Random graphql-transport-ws (and legacy graphql-ws) traffic to the receiver.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chat_types::{ErrorCode, ops};
use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use testkit::env::TEST_ORIGIN;
use testkit::{Backend, Protocol, WsClient};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::generators::{document, hostile_text, json_value};
use crate::harness::{RECEIVER, World, check_error};

/// One frame the client sends.
#[derive(Clone, Debug)]
enum Frame {
    Text(String),
    Binary(Vec<u8>),
    Ping,
}

const MESSAGE_TYPES: &[&str] = &[
    "connection_init",
    "connection_ack",
    "subscribe",
    "start",
    "next",
    "data",
    "error",
    "complete",
    "stop",
    "ping",
    "pong",
    "connection_terminate",
    "ka",
    "",
    "CONNECTION_INIT",
    "Subscribe",
    "<script>",
];

/// Ids of every shape: short, huge, not strings at all.
fn message_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => proptest::sample::select(vec!["1", "2", "a"]).prop_map(Value::from),
        1 => (1usize..60_000).prop_map(|n| Value::from("i".repeat(n))),
        1 => hostile_text().prop_map(Value::from),
        1 => proptest::sample::select(vec![json!(1), json!(null), json!({}), json!([]), json!(true)]),
    ]
}

/// A `connection_init` payload: valid and invalid tokens, wrong shapes.
fn init_payload(tokens: Vec<String>) -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => proptest::sample::select(tokens.clone())
            .prop_map(|t| json!({ "authorization": format!("Bearer {t}") })),
        1 => proptest::sample::select(tokens).prop_map(|t| json!({ "Authorization": t })),
        1 => proptest::sample::select(vec![
            json!(null), json!({}), json!("Bearer x"), json!([1]), json!({ "authorization": 5 }),
            json!({ "authorization": "Basic YTpi" }), json!({ "authorization": "Bearer " }),
        ]),
    ]
}

/// A subscription (or query, or mutation) the client may start: the real documents
/// with right and wrong variables, and random ones.
fn operation(world: &World) -> impl Strategy<Value = Value> {
    let ids = world.ids();
    let chats = vec![
        world.group.clone(),
        world.direct.clone(),
        uuid::Uuid::now_v7().to_string(),
    ];
    let real = (
        proptest::sample::select(vec![
            ops::MESSAGE_ADDED, ops::MESSAGE_UPDATED, ops::MESSAGE_DELETED,
            ops::MESSAGE_READ_UPDATED, ops::TYPING, ops::CHAT_ADDED, ops::CHAT_UPDATED,
            ops::UNREAD_COUNT_UPDATED, ops::CHAT_MESSAGE_NOTIFICATION, ops::CHATS,
            ops::CREATE_MESSAGE,
        ]),
        proptest::sample::select(chats),
        prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::from), Just(json!("1"))],
    )
        .prop_map(|(query, chat, after)| {
            json!({ "query": query, "variables": { "chatId": chat, "afterSeq": after } })
        });
    let random = (
        document(ids.clone()),
        proptest::option::of(json_value(ids.clone())),
    )
        .prop_map(|(query, variables)| json!({ "query": query, "variables": variables }));
    prop_oneof![3 => real, 2 => random, 1 => json_value(ids)]
}

fn frame(world: &World) -> impl Strategy<Value = Frame> {
    let ids = world.ids();
    let text = |v: Value| Frame::Text(v.to_string());
    prop_oneof![
        10 => (message_id(), operation(world))
            .prop_map(move |(id, payload)| text(json!({ "type": "subscribe", "id": id, "payload": payload }))),
        2 => (message_id(), operation(world))
            .prop_map(move |(id, payload)| text(json!({ "type": "start", "id": id, "payload": payload }))),
        1 => init_payload(world.tokens())
            .prop_map(move |payload| text(json!({ "type": "connection_init", "payload": payload }))),
        2 => (proptest::sample::select(MESSAGE_TYPES), message_id(), proptest::option::of(json_value(ids.clone())))
            .prop_map(move |(kind, id, payload)| text(json!({ "type": kind, "id": id, "payload": payload }))),
        1 => (proptest::sample::select(vec!["complete", "stop"]), message_id())
            .prop_map(move |(kind, id)| text(json!({ "type": kind, "id": id }))),
        1 => json_value(ids).prop_map(text),
        1 => hostile_text().prop_map(Frame::Text),
        1 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Frame::Binary),
        1 => Just(Frame::Ping),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    /// The `Sec-WebSocket-Protocol` header.
    protocol: Option<&'static str>,
    origin: Option<&'static str>,
    cookie: Option<String>,
    /// Start with a valid `connection_init` as Alice.
    init: bool,
    frames: Vec<Frame>,
}

fn case(world: &World) -> impl Strategy<Value = Case> {
    (
        prop_oneof![
            6 => Just(Some("graphql-transport-ws")),
            2 => Just(Some("graphql-ws")),
            1 => proptest::sample::select(vec![None, Some("soap"), Some("graphql-ws, graphql-transport-ws"), Some("")]),
        ],
        prop_oneof![
            6 => Just(None),
            2 => Just(Some(TEST_ORIGIN)),
            1 => Just(Some("http://evil.example")),
        ],
        proptest::option::weighted(0.2, proptest::sample::select(world.tokens())),
        proptest::bool::weighted(0.8),
        proptest::collection::vec(frame(world), 0..8),
    )
        .prop_map(|(protocol, origin, cookie, init, frames)| Case {
            protocol,
            origin,
            cookie,
            init,
            frames,
        })
}

/// What the tests saw, by kind, for the report at the end.
static OUTCOMES: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn count(outcome: impl Into<String>) {
    *OUTCOMES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(outcome.into())
        .or_default() += 1;
}

/// What a message from the server obliges it to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    Continue,
    /// A refusal without a code: the server must close the socket now.
    Close,
}

/// Checks one message from the server.
fn check_server_message(text: &str) -> Result<Then, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {text:.300}"))?;
    let kind = value["type"]
        .as_str()
        .ok_or_else(|| format!("no type: {text:.300}"))?;
    count(format!("message {kind}"));
    match kind {
        "error" => {
            let errors = value["payload"]
                .as_array()
                .ok_or_else(|| format!("error without a list of errors: {text:.300}"))?;
            errors.iter().try_for_each(check_error)?;
            Ok(Then::Continue)
        }
        "next" | "data" => {
            if let Some(errors) = value["payload"]["errors"].as_array() {
                errors.iter().try_for_each(check_error)?;
            }
            Ok(Then::Continue)
        }
        // The legacy protocol's refusal of `connection_init`: a refused session says
        // why with a code first (`UNAUTHENTICATED: …`); a protocol violation (a second
        // init) need not, but then the socket closes.
        "connection_error" => {
            let message = value["payload"]["message"].as_str().unwrap_or_default();
            if ErrorCode::ALL
                .iter()
                .any(|c| message.starts_with(&format!("{}:", c.as_str())))
            {
                Ok(Then::Continue)
            } else {
                count(format!("connection_error without a code: {message:.60}"));
                Ok(Then::Close)
            }
        }
        "connection_ack" | "complete" | "pong" | "ping" | "ka" => Ok(Then::Continue),
        other => Err(format!("unexpected message type {other:?}: {text:.300}")),
    }
}

async fn run(world: &World, case: &Case) -> Result<(), String> {
    let url = format!(
        "{}/graphql",
        world.services[RECEIVER].replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    if let Some(protocol) = case.protocol {
        headers.insert(
            "sec-websocket-protocol",
            protocol.parse().map_err(|_| "header")?,
        );
    }
    if let Some(origin) = case.origin {
        headers.insert("origin", origin.parse().map_err(|_| "header")?);
    }
    if let Some(token) = &case.cookie {
        headers.insert(
            "cookie",
            format!("chat_session={token}")
                .parse()
                .map_err(|_| "header")?,
        );
    }
    let (socket, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(connected) => connected,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            count(format!("upgrade refused {status}"));
            return if status >= 500 {
                Err(format!("upgrade answered {status}"))
            } else {
                Ok(())
            };
        }
        Err(e) => return Err(format!("cannot connect: {e}")),
    };
    let (mut sink, mut stream) = socket.split();
    let mut frames = Vec::new();
    if case.init {
        let payload = json!({ "authorization": format!("Bearer {}", world.alice.token) });
        frames.push(Message::text(
            json!({ "type": "connection_init", "payload": payload }).to_string(),
        ));
    }
    for frame in &case.frames {
        frames.push(match frame {
            Frame::Text(text) => Message::text(text.clone()),
            Frame::Binary(bytes) => Message::binary(bytes.clone()),
            Frame::Ping => Message::Ping(Default::default()),
        });
    }
    // A ping last: its pong says the server has read everything before it.
    let transport = case.protocol == Some("graphql-transport-ws");
    if transport {
        frames.push(Message::text(json!({ "type": "ping" }).to_string()));
    }
    for frame in frames {
        if sink.send(frame).await.is_err() {
            break;
        }
    }
    let mut pong = false;
    let mut must_close = false;
    loop {
        let wait = if pong || !transport {
            Duration::from_millis(60)
        } else {
            Duration::from_secs(10)
        };
        match tokio::time::timeout(wait, stream.next()).await {
            Err(_) if transport && !pong => {
                return Err("no pong and no close within 10 s".into());
            }
            Err(_) if must_close => {
                return Err("a connection_error without a code, and the socket stayed open".into());
            }
            Err(_) => {
                count("left open");
                break;
            }
            Ok(None) => {
                count("closed without a close frame");
                break;
            }
            Ok(Some(Err(e))) => {
                let e = e.to_string();
                // A close frame too long for a control frame is the server breaking the
                // protocol (the client sees a broken connection, not the code).
                if e.contains("Control frame too big") {
                    return Err(format!("the server sent an oversized close frame: {e}"));
                }
                count(format!(
                    "read error: {}",
                    e.chars().take(60).collect::<String>()
                ));
                break;
            }
            Ok(Some(Ok(Message::Text(text)))) => {
                if must_close {
                    return Err(format!("a message after a connection_error: {text:.300}"));
                }
                must_close = check_server_message(&text)? == Then::Close;
                if transport && text.contains("\"pong\"") {
                    pong = true;
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                count(format!("closed {code}"));
                break;
            }
            Ok(Some(Ok(Message::Binary(_)))) => {
                return Err("a binary message from the server".into());
            }
            Ok(Some(Ok(_))) => {}
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    Ok(())
}

fn fuzz(backend: Backend, cases: u32) {
    let Some(world) = World::start(backend) else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    });
    let result = runner.run(&case(&world), |case| {
        world
            .rt
            .block_on(run(&world, &case))
            .map_err(TestCaseError::fail)
    });
    eprintln!(
        "WebSocket outcomes: {:#?}",
        OUTCOMES.lock().unwrap_or_else(|e| e.into_inner())
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    world.assert_still_serving();
    // Subscriptions still work end to end.
    world.rt.block_on(async {
        let socket = WsClient::connect(
            &world.services[RECEIVER],
            Some(&world.bob.token),
            Protocol::TransportWs,
        )
        .await
        .expect("a well-behaved client still connects");
        let mut added = socket.subscribe(ops::MESSAGE_ADDED, json!({ "chatId": world.group }));
        tokio::time::sleep(Duration::from_millis(200)).await;
        testkit::Gql::new(&world.services[crate::harness::SENDER])
            .with_token(&world.alice.token)
            .data(
                ops::CREATE_MESSAGE,
                json!({ "input": { "chatId": world.group, "content": "after the storm" } }),
            )
            .await;
        let data = added.next_data().await;
        assert_eq!(data["messageAdded"]["content"], "after the storm");
    });
    let panics = crate::harness::panics();
    assert!(panics.is_empty(), "the server panicked: {panics:#?}");
}

#[test]
fn random_socket_traffic_never_crashes_the_receiver() {
    fuzz(Backend::Embedded, 150);
}

#[test]
fn random_socket_traffic_never_crashes_the_receiver_on_postgres_and_redis() {
    fuzz(Backend::Real, 60);
}
