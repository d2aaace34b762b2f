//! Slow and numerous clients: half-sent request heads and dribbled bodies are cut off,
//! a process answers 503 past its connection budget instead of running out of file
//! descriptors, and a flood from one address leaves room for everyone else. The
//! timeouts here are a second, so the tests stay quick; production uses the same
//! mechanism with 10 s for the head and 15 s for the whole request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chat_types::ops;
use serde_json::json;
use server_core::limits::Limits;
use server_core::serve::ServeLimits;
use testkit::{Backend, Gql, TestEnv, spawn_with, unique};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A user service with a one-second request timeout, served with `limits`.
async fn service(limits: ServeLimits) -> (String, TestEnv) {
    let env = TestEnv::new(Backend::Embedded)
        .await
        .expect("the embedded backend");
    let state = env
        .instance_with_limits(Limits {
            request_timeout: Duration::from_secs(1),
            ..Limits::off()
        })
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (
        spawn_with(listener, server_user::build_router(state), limits),
        env,
    )
}

fn addr(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

/// A connection from `from` (any 127.x.y.z: loopback takes them all).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Everything the server sends until it closes, or `None` if it is still open after
/// `within`.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn half_sent_request_heads_are_closed_within_the_timeout() {
    let (base, _env) = service(ServeLimits::new(Duration::from_secs(1), 1000, 1000)).await;
    let mut streams = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(addr(&base)).await.unwrap();
        stream
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        streams.push(stream);
    }
    let started = Instant::now();
    for stream in &mut streams {
        assert!(
            until_closed(stream, Duration::from_secs(5)).await.is_some(),
            "a half-sent head is still open after {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_dribbled_body_is_cut_off() {
    let (base, _env) = service(ServeLimits::new(Duration::from_secs(5), 1000, 1000)).await;
    let mut stream = TcpStream::connect(addr(&base)).await.unwrap();
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
              content-length: 2000\r\n\r\n{",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let dribble = tokio::spawn(async move {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), read.read(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("BAD_USER_INPUT"),
        "a coded answer: {answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    dribble.abort();
}

#[tokio::test]
async fn past_the_connection_budget_the_answer_is_503_not_a_crash() {
    let (base, _env) = service(ServeLimits::new(Duration::from_secs(10), 5, 1000)).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(addr(&base)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(addr(&base)).await.unwrap();
    let answer = until_closed(&mut extra, Duration::from_secs(2))
        .await
        .expect("refused at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("UNAVAILABLE"), "{answer}");
    // Room again once the held ones go.
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_flood_from_one_address_leaves_room_for_everyone_else() {
    let (base, _env) = service(ServeLimits::new(Duration::from_secs(10), 1000, 50)).await;
    // 127.0.0.2 opens twice its share and sends nothing.
    let mut flood = Vec::new();
    for _ in 0..100 {
        flood.push(connect_from([127, 0, 0, 2], addr(&base)).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut refused = 0;
    for stream in &mut flood {
        if let Some(answer) = until_closed(stream, Duration::from_millis(50)).await {
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            refused += 1;
        }
    }
    assert_eq!(refused, 50, "one address holds its share and no more");
    // Someone else signs up and uses the service as usual.
    let name = unique("bystander");
    let gql = Gql::new(&base);
    let data = gql
        .data(
            ops::REGISTER,
            json!({ "input": {
                "username": name,
                "email": format!("{name}@example.com"),
                "displayName": "Bystander",
                "password": "correct horse battery",
            }}),
        )
        .await;
    let me = gql
        .with_token(data["register"]["token"].as_str().unwrap())
        .data(ops::ME, json!({}))
        .await;
    assert_eq!(me["me"]["displayName"], "Bystander");
}

/// Asks for a WebSocket on `stream`; the status line of the answer.
async fn upgrade(stream: &mut TcpStream) -> String {
    let request = "GET /graphql HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
                   Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    answer.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn websockets_count_toward_an_addresss_share_until_signed_in() {
    let (base, _env) = service(ServeLimits::new(Duration::from_secs(10), 1000, 3)).await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let mut stream = connect_from([127, 0, 0, 3], addr(&base)).await;
        assert!(upgrade(&mut stream).await.starts_with("HTTP/1.1 101"));
        sockets.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Upgraded, they are still connections of that address: a fourth is refused.
    let mut extra = connect_from([127, 0, 0, 3], addr(&base)).await;
    let answer = until_closed(&mut extra, Duration::from_secs(2))
        .await
        .expect("refused at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // One closed, there is room for one again.
    drop(sockets.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = connect_from([127, 0, 0, 3], addr(&base)).await;
    assert!(upgrade(&mut again).await.starts_with("HTTP/1.1 101"));
    // A socket signed in leaves the address's share (its user's own cap bounds it from
    // then on, and many people may be behind one address): room for one more.
    let token = registered_token(&base).await;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    send_text_frame(&mut again, &init.to_string()).await;
    let mut ack = vec![0; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), again.read(&mut ack))
        .await
        .expect("an answer to connection_init")
        .unwrap();
    assert!(String::from_utf8_lossy(&ack[..n]).contains("connection_ack"));
    let mut one_more = connect_from([127, 0, 0, 3], addr(&base)).await;
    assert!(upgrade(&mut one_more).await.starts_with("HTTP/1.1 101"));
}

/// A fresh user's session token.
async fn registered_token(base: &str) -> String {
    let name = unique("socket");
    let data = Gql::new(base)
        .data(
            ops::REGISTER,
            json!({ "input": {
                "username": name,
                "email": format!("{name}@example.com"),
                "displayName": "Socket",
                "password": "correct horse battery",
            }}),
        )
        .await;
    data["register"]["token"].as_str().unwrap().to_string()
}

/// One masked text frame (clients must mask), as a WebSocket client sends it.
async fn send_text_frame(stream: &mut TcpStream, text: &str) {
    let payload = text.as_bytes();
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81];
    if payload.len() < 126 {
        frame.push(0x80 | payload.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&frame).await.unwrap();
}
