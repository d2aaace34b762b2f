//! No secret reaches a log line or an error message: passwords (right, wrong, new,
//! refused), session tokens (whole, or their signature), password hashes and the token
//! secret, at the most verbose log level, through registration, logins, a password
//! change, messages, sockets and refused tokens.
//!
//! A test binary of its own: it installs a global subscriber (the services run on
//! their own runtime's threads, which a thread-local default would miss), at TRACE,
//! with `log` records bridged in as the services' own logging set-up does.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_types::ops;
use clap::Parser;
use serde_json::{Value, json};
use server_core::ServiceState;
use server_core::config::CommonConfig;
use testkit::env::TEST_ORIGIN;
use testkit::gql::GqlResponse;
use testkit::{Gql, Protocol, WsClient, unique};

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    common: CommonConfig,
}

const JWT_SECRET: &str = "the-jwt-secret-0123456789abcdef-never-print-me";
const PASSWORD: &str = "first correct horse";
const NEW_PASSWORD: &str = "second correct horse";
const BOB_PASSWORD: &str = "bobs own passphrase";
const WRONG_PASSWORDS: [&str; 4] = [
    "wrong guess number one",
    "wrong guess number two",
    "wrong current password",
    "wrong deactivation pass",
];
/// Refused at registration for being too short.
const SHORT_PASSWORD: &str = "Qz7!xk";

/// What the client saw: every error message of every answer.
#[derive(Default)]
struct Seen {
    errors: Vec<String>,
}

impl Seen {
    fn record(&mut self, response: &GqlResponse) {
        for error in &response.errors {
            self.errors.push(error.raw.to_string());
        }
    }
}

#[test]
fn no_secret_appears_in_logs_or_errors() {
    let capture = Capture::default();
    // As `server_core::logging::init_tracing` sets it up for `RUST_LOG=trace`.
    let filter = server_core::logging::without_secrets(tracing_subscriber::EnvFilter::new("trace"));
    tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_env_filter(filter)
        .with_ansi(false)
        .with_thread_names(true)
        .json()
        .try_init()
        .expect("the only subscriber in this binary");

    // The services on a runtime of their own, from a configuration as the binaries
    // read it: a known secret, the production limits.
    let data = tempfile_dir();
    let flags = Flags::parse_from([
        "chat",
        "--jwt-secret",
        JWT_SECRET,
        "--database-url",
        &format!("sqlite://{}/chat.db", data.display()),
        "--data-dir",
        &data.display().to_string(),
        "--allowed-origins",
        TEST_ORIGIN,
    ]);
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .unwrap();
    let [user, sender, receiver] = servers.block_on(async {
        let state = ServiceState::connect(&flags.common, None)
            .await
            .expect("state from the configuration");
        [
            testkit::spawn(server_user::build_router(state.instance())).await,
            testkit::spawn(server_sender::build_router(state.instance())).await,
            testkit::spawn(server_receiver::build_router(state.instance())).await,
        ]
    });

    // The client on this thread.
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut seen = Seen::default();
    let tokens = client.block_on(exercise(&user, &sender, &receiver, &mut seen));
    // Let the last events and logs drain.
    std::thread::sleep(Duration::from_millis(300));

    let mut secrets: Vec<(String, String)> = vec![
        ("the JWT secret".into(), JWT_SECRET.into()),
        ("a password hash".into(), "$argon2id$".into()),
        ("a password".into(), PASSWORD.into()),
        ("a password".into(), NEW_PASSWORD.into()),
        ("a password".into(), BOB_PASSWORD.into()),
        ("a refused password".into(), SHORT_PASSWORD.into()),
    ];
    for wrong in WRONG_PASSWORDS {
        secrets.push(("a wrong password".into(), wrong.into()));
    }
    for token in &tokens {
        secrets.push(("a session token".into(), token.clone()));
        let signature = token.rsplit('.').next().unwrap().to_string();
        secrets.push(("a token signature".into(), signature));
    }

    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let client_thread = std::thread::current()
        .name()
        .unwrap_or_default()
        .to_string();
    let mut server_lines = 0;
    let mut leaks = Vec::new();
    for line in text.lines() {
        let event: Value = serde_json::from_str(line).unwrap_or_default();
        // This test's own client (reqwest, tungstenite) runs on this thread; what it
        // logs about the requests it sends is not the services' doing.
        if event["threadName"].as_str() == Some(client_thread.as_str()) {
            continue;
        }
        server_lines += 1;
        for (what, secret) in &secrets {
            if line.contains(secret.as_str()) {
                leaks.push(format!("{what} in a log line: {line:.400}"));
            }
        }
    }
    for error in &seen.errors {
        for (what, secret) in &secrets {
            if error.contains(secret.as_str()) {
                leaks.push(format!("{what} in an error message: {error:.400}"));
            }
        }
    }
    // The capture worked: the services logged plenty at this level.
    assert!(server_lines > 50, "only {server_lines} log lines captured");
    // And each operation's lines say which operation, whose, and about which chat.
    let traced = text.lines().any(|line| {
        let event: Value = serde_json::from_str(line).unwrap_or_default();
        let span = &event["span"];
        span["name"] == "graphql"
            && span["op"] == "CreateMessage"
            && span["user"].as_str().is_some_and(|u| u.len() == 36)
            && span["chat"].as_str().is_some_and(|c| c.len() == 36)
    });
    assert!(
        traced,
        "no line of the CreateMessage operation names its user and chat"
    );
    assert!(seen.errors.len() >= 8, "{:?}", seen.errors);
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    drop(servers);
    let _ = std::fs::remove_dir_all(data);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique("chat-secrets-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Everything a session goes through, right and wrong; returns every token issued.
async fn exercise(user: &str, sender: &str, receiver: &str, seen: &mut Seen) -> Vec<String> {
    let gql = Gql::new(user);
    let mut tokens = Vec::new();
    let alice = unique("alice");
    let registration = |name: &str, password: &str| {
        json!({ "input": {
            "username": name,
            "email": format!("{name}@example.com"),
            "displayName": name,
            "password": password,
        }})
    };

    // Registration: refused, then accepted (through the cookie variant too).
    let refused = gql
        .request(ops::REGISTER, registration(&alice, SHORT_PASSWORD))
        .await;
    assert_eq!(refused.errors[0].field.as_deref(), Some("password"));
    seen.record(&refused);
    let registered = gql
        .data(ops::REGISTER, registration(&alice, PASSWORD))
        .await;
    tokens.push(
        registered["register"]["token"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let bob = unique("bob");
    let response = gql
        .request(ops::REGISTER_COOKIE, registration(&bob, BOB_PASSWORD))
        .await;
    let cookie = response.headers["set-cookie"].to_str().unwrap().to_string();
    let bob_token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("chat_session=")
        .to_string();
    tokens.push(bob_token.clone());
    let bob_id = response.data["register"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Logins: right, wrong, unknown.
    let login =
        |username: &str, password: &str| json!({ "username": username, "password": password });
    let first = gql.data(ops::LOGIN, login(&alice, PASSWORD)).await;
    let old_token = first["login"]["token"].as_str().unwrap().to_string();
    tokens.push(old_token.clone());
    for (name, password) in [
        (alice.as_str(), WRONG_PASSWORDS[0]),
        ("nobody-at-all", WRONG_PASSWORDS[1]),
    ] {
        let response = gql.request(ops::LOGIN, login(name, password)).await;
        assert_eq!(response.errors[0].code.as_deref(), Some("UNAUTHENTICATED"));
        seen.record(&response);
    }

    // A password change: refused with the wrong current one, then made.
    let alice_gql = gql.with_token(&old_token);
    let response = alice_gql
        .request(
            ops::CHANGE_PASSWORD,
            json!({ "currentPassword": WRONG_PASSWORDS[2], "newPassword": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(response.errors[0].code.as_deref(), Some("BAD_USER_INPUT"));
    seen.record(&response);
    let response = alice_gql
        .request(
            ops::CHANGE_PASSWORD,
            json!({ "currentPassword": PASSWORD, "newPassword": SHORT_PASSWORD }),
        )
        .await;
    assert_eq!(response.errors[0].field.as_deref(), Some("newPassword"));
    seen.record(&response);
    let changed = alice_gql
        .request(
            ops::CHANGE_PASSWORD,
            json!({ "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD }),
        )
        .await;
    assert!(changed.errors.is_empty(), "{changed:?}");
    if let Some(cookie) = changed.headers.get("set-cookie") {
        let token = cookie.to_str().unwrap().split(';').next().unwrap();
        tokens.push(token.trim_start_matches("chat_session=").to_string());
    }

    // The old token, and forged ones, are refused everywhere.
    let payload = old_token.split('.').nth(1).unwrap();
    let forged = [
        old_token.clone(),
        format!("{}AAAA", &old_token[..old_token.len() - 4]),
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."),
    ];
    for bad in &forged {
        for (base, query, variables) in [
            (user, ops::ME, json!({})),
            (receiver, ops::CHATS, json!({})),
            (
                sender,
                ops::CREATE_CHAT,
                json!({ "input": { "kind": "DIRECT", "participantIds": [bob_id] } }),
            ),
        ] {
            let response = Gql::new(base)
                .with_token(bad)
                .request(query, variables)
                .await;
            assert_eq!(response.errors[0].code.as_deref(), Some("UNAUTHENTICATED"));
            seen.record(&response);
        }
        match WsClient::connect(receiver, Some(bad), Protocol::TransportWs).await {
            Err(testkit::ws::ConnectError::Refused(reason)) => seen.errors.push(reason),
            other => panic!("a bad token opened a socket: {:?}", other.err()),
        }
    }

    // A conversation: a chat, a socket, messages, a cookie-authenticated request.
    let again = gql.data(ops::LOGIN, login(&alice, NEW_PASSWORD)).await;
    let token = again["login"]["token"].as_str().unwrap().to_string();
    tokens.push(token.clone());
    let alice_sender = Gql::new(sender).with_token(&token);
    let chat = alice_sender
        .data(
            ops::CREATE_CHAT,
            json!({ "input": { "kind": "DIRECT", "participantIds": [bob_id] } }),
        )
        .await["createChat"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let socket = WsClient::connect(receiver, Some(&bob_token), Protocol::TransportWs)
        .await
        .expect("bob's socket");
    let mut added = socket.subscribe(ops::MESSAGE_ADDED, json!({ "chatId": chat, "afterSeq": 0 }));
    let legacy = WsClient::connect(receiver, Some(&token), Protocol::Legacy)
        .await
        .expect("alice's legacy socket");
    let _typing = legacy.subscribe(ops::TYPING, json!({ "chatId": chat }));
    alice_sender
        .data(
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": chat, "content": "hello there", "clientId": "c-1" } }),
        )
        .await;
    assert_eq!(
        added.next_data().await["messageAdded"]["content"],
        "hello there"
    );
    let cookie_request = Gql::new(sender)
        .http()
        .post(format!("{sender}/graphql"))
        .header("cookie", format!("chat_session={bob_token}"))
        .header("origin", TEST_ORIGIN)
        .json(&json!({ "query": ops::SEND_TYPING, "variables": { "chatId": chat } }))
        .send()
        .await
        .unwrap();
    assert_eq!(cookie_request.status(), 200);
    let response = Gql::new(receiver)
        .with_token(&bob_token)
        .request(ops::MESSAGES, json!({ "chatId": chat, "limit": 1000 }))
        .await;
    seen.record(&response);

    // Deactivation with a wrong password, then a logout.
    let alice_user = gql.with_token(&token);
    let response = alice_user
        .request(
            ops::DEACTIVATE_ACCOUNT,
            json!({ "password": WRONG_PASSWORDS[3] }),
        )
        .await;
    assert_eq!(response.errors[0].field.as_deref(), Some("password"));
    seen.record(&response);
    alice_user.data(ops::LOGOUT, json!({})).await;
    let response = alice_user.request(ops::ME, json!({})).await;
    seen.record(&response);
    socket.close();
    legacy.close();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokens
}
