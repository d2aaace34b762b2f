//! Uploads as an attacker sends them: refused before a byte of the file is read when
//! they can be, one person's uploads taking turns, their bytes counted against a rate.
//! Requests are written by hand over TCP, so a test decides how much of a body is sent.

use std::time::Duration;

use server_core::limits::{Limits, Quota, RateLimits};
use testkit::{TestEnv, database_tests};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::System;

database_tests!(
    an_outsider_is_refused_before_a_byte_of_the_file_is_read,
    one_persons_uploads_take_turns,
    the_bytes_uploaded_are_rate_limited,
);

/// Starts `POST /files` of a body of `declared` bytes (chunked when `None`) to `chat`
/// on `base`, sending the head and `body`, no more.
async fn start_upload(
    base: &str,
    token: &str,
    chat: &str,
    declared: Option<usize>,
    body: &[u8],
) -> TcpStream {
    let host = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.unwrap();
    let length = match declared {
        Some(n) => format!("Content-Length: {n}"),
        None => "Transfer-Encoding: chunked".to_string(),
    };
    let head = format!(
        "POST /files?chatId={chat}&name=big.bin HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
         {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    if declared.is_some() {
        stream.write_all(body).await.unwrap();
    } else if !body.is_empty() {
        let chunk = format!("{:x}\r\n", body.len());
        stream.write_all(chunk.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        stream.write_all(b"\r\n0\r\n\r\n").await.unwrap();
    }
    stream
}

/// The status of the answer on `stream`, if its head arrives within `within`.
async fn status(stream: &mut TcpStream, within: Duration) -> Option<u16> {
    let head = tokio::time::timeout(within, async {
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        Some(head)
    })
    .await
    .ok()??;
    std::str::from_utf8(&head)
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

/// Someone outside a chat (or naming one that does not exist) says they are sending
/// 20 MB: the refusal comes at once, while they are still sending, not after the
/// server has read (and decoded) the file.
async fn an_outsider_is_refused_before_a_byte_of_the_file_is_read(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 0).await;
    let eve = system.register("eve", 0).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let nowhere = "0190a0b0-0000-7000-8000-00000000abcd".to_string();
    for target in [chat.as_str(), nowhere.as_str()] {
        let started = std::time::Instant::now();
        let mut upload = start_upload(
            &system.senders[0],
            &eve.token,
            target,
            Some(20_000_000),
            &[0; 65_536],
        )
        .await;
        assert_eq!(
            status(&mut upload, Duration::from_secs(5)).await,
            Some(403),
            "{target}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

/// Each upload holds its file in memory until it is stored, so one person has two
/// under way at a time; a third waits for a turn rather than being read alongside.
async fn one_persons_uploads_take_turns(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 0).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let sender = &system.senders[1];
    // Two uploads that go on sending.
    let mut first = start_upload(sender, &ann.token, &chat, Some(1_000_000), b"0123").await;
    let second = start_upload(sender, &ann.token, &chat, Some(1_000_000), b"0123").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = start_upload(sender, &ann.token, &chat, Some(5), b"hello").await;
    assert_eq!(
        status(&mut third, Duration::from_secs(1)).await,
        None,
        "the third waits"
    );
    // Someone else's upload does not wait for Ann's.
    let mut other = start_upload(sender, &bo.token, &chat, Some(5), b"bo's!").await;
    assert_eq!(status(&mut other, Duration::from_secs(5)).await, Some(201));
    // One of hers ends: the third goes ahead.
    drop(second);
    assert_eq!(status(&mut third, Duration::from_secs(5)).await, Some(201));
    drop(first.shutdown().await);
}

/// Bytes count, not only uploads: with an allowance of a MiB, a second upload of 600
/// KiB is refused before it is read, and a body sent without its length pays for what
/// it turns out to be.
async fn the_bytes_uploaded_are_rate_limited(env: TestEnv) {
    let mut senders = Limits::on();
    senders.rate = Some(RateLimits {
        upload_kib: Quota::per_hour(1024, 1024),
        ..RateLimits::default()
    });
    let system = System::with_limits(&env, senders, Limits::off()).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 0).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let sender = &system.senders[0];
    let file = vec![7u8; 600 * 1024];

    let mut upload = start_upload(sender, &ann.token, &chat, Some(file.len()), &file).await;
    assert_eq!(status(&mut upload, Duration::from_secs(5)).await, Some(201));
    let mut upload = start_upload(sender, &ann.token, &chat, Some(file.len()), &[]).await;
    assert_eq!(
        status(&mut upload, Duration::from_secs(5)).await,
        Some(429),
        "refused before its body"
    );
    // Without a length it is let in, and charged what it was.
    let mut upload = start_upload(sender, &bo.token, &chat, None, &[1; 2 * 1024 * 1024]).await;
    assert_eq!(status(&mut upload, Duration::from_secs(5)).await, Some(201));
    let mut upload = start_upload(sender, &bo.token, &chat, Some(5), b"small").await;
    assert_eq!(status(&mut upload, Duration::from_secs(5)).await, Some(429));
}
