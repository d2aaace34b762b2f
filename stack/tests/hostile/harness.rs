//! What the hostile-input tests share: a record of every panic in the process, one
//! instance of each service with a few users and a chat in it, and the checks every
//! answer must pass.

use std::sync::{Mutex, Once};
use std::time::Duration;

use chat_types::{ErrorCode, ops};
use serde_json::{Value, json};
use testkit::{Backend, Gql, TestEnv, spawn, unique};

/// Every panic on a server thread of this test process (server tasks run on the
/// runtime's worker threads, which a test cannot otherwise see), as `thread: message`.
/// Panics on the test threads themselves (a failing assertion) are not the server's.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The name of the threads of the runtime the services run on.
const SERVER_THREADS: &str = "server";

fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_string();
            // Test threads are named after their test (`module::test`); the services'
            // are the runtime's, the password hashers' (`password-N`) and unnamed ones.
            if thread.contains("::") {
                default(info);
                return;
            }
            PANICS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{thread}: {info}"));
            default(info);
        }));
    });
}

/// The panics recorded so far.
pub(crate) fn panics() -> Vec<String> {
    PANICS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub(crate) id: String,
    pub(crate) token: String,
}

/// One instance of each service over a fresh world, with Alice and Bob in a group, a
/// direct chat and a message, and Carol outside all of them.
pub(crate) struct World {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) env: TestEnv,
    /// user, sender, receiver.
    pub(crate) services: [String; 3],
    pub(crate) alice: Person,
    pub(crate) bob: Person,
    pub(crate) carol: Person,
    pub(crate) group: String,
    pub(crate) direct: String,
    pub(crate) message: String,
    pub(crate) http: reqwest::Client,
}

pub(crate) const USER: usize = 0;
pub(crate) const SENDER: usize = 1;
pub(crate) const RECEIVER: usize = 2;

impl World {
    /// Starts the world on `backend`; `None` when the backend is not reachable (outside
    /// CI only).
    pub(crate) fn start(backend: Backend) -> Option<Self> {
        record_panics();
        // `HOSTILE_LOG=warn` (or any filter) shows the services' logs, for debugging.
        if let Ok(filter) = std::env::var("HOSTILE_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SERVER_THREADS)
            .enable_all()
            .build()
            .expect("runtime");
        let env = rt.block_on(TestEnv::new(backend))?;
        let world = rt.block_on(async {
            let services = [
                spawn(server_user::build_router(env.instance().await)).await,
                spawn(server_sender::build_router(env.instance().await)).await,
                spawn(server_receiver::build_router(env.instance().await)).await,
            ];
            let alice = register(&services[USER], "alice").await;
            let bob = register(&services[USER], "bob").await;
            let carol = register(&services[USER], "carol").await;
            let sender = Gql::new(&services[SENDER]).with_token(&alice.token);
            let group = sender
                .data(
                    ops::CREATE_CHAT,
                    json!({ "input": { "kind": "GROUP", "name": "fuzz", "participantIds": [bob.id] } }),
                )
                .await["createChat"]["id"]
                .as_str()
                .unwrap()
                .to_string();
            let direct = sender
                .data(
                    ops::CREATE_CHAT,
                    json!({ "input": { "kind": "DIRECT", "participantIds": [bob.id] } }),
                )
                .await["createChat"]["id"]
                .as_str()
                .unwrap()
                .to_string();
            let message = sender
                .data(
                    ops::CREATE_MESSAGE,
                    json!({ "input": { "chatId": group, "content": "hello", "clientId": "c-1" } }),
                )
                .await["createMessage"]["id"]
                .as_str()
                .unwrap()
                .to_string();
            (services, alice, bob, carol, group, direct, message)
        });
        let (services, alice, bob, carol, group, direct, message) = world;
        Some(Self {
            rt,
            env,
            services,
            alice,
            bob,
            carol,
            group,
            direct,
            message,
            // A fresh connection for every request: a server that refuses a body
            // before reading it (413) closes the connection after answering, and a
            // pooled connection could be reused in that instant.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(0)
                .build()
                .expect("http client"),
        })
    }

    /// Ids worth putting into documents: real ones of every kind, and some that are
    /// well-formed but unknown or malformed.
    pub(crate) fn ids(&self) -> Vec<String> {
        vec![
            self.alice.id.clone(),
            self.bob.id.clone(),
            self.carol.id.clone(),
            self.group.clone(),
            self.direct.clone(),
            self.message.clone(),
            uuid::Uuid::now_v7().to_string(),
            uuid::Uuid::nil().to_string(),
            uuid::Uuid::max().to_string(),
            self.group.to_uppercase(),
            self.group.replace('-', ""),
            format!("{{{}}}", self.group),
            format!("urn:uuid:{}", self.group),
            "not-an-id".into(),
            String::new(),
            "0".into(),
            "' OR 1=1 --".into(),
        ]
    }

    /// Tokens worth presenting: valid ones (Bob's, a participant, and Carol's, an
    /// outsider; Alice's is kept for the checks at the end), and expired, forged,
    /// unsigned and garbage ones.
    pub(crate) fn tokens(&self) -> Vec<String> {
        let bob = self.bob.id.parse().expect("user id");
        let payload = self.bob.token.split('.').nth(1).unwrap_or_default();
        vec![
            self.bob.token.clone(),
            self.carol.token.clone(),
            self.env.keys.issue_with_ttl(bob, 0, -3600),
            server_core::auth::TokenKeys::new(&server_core::secret::Secret::generate())
                .issue(bob, 0),
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."),
            format!("{}x", self.bob.token),
            "garbage".into(),
            "a.b.c".into(),
            "x".repeat(4000),
        ]
    }

    /// Every service still answers its health check, and a signed-in user can still
    /// read and write.
    pub(crate) fn assert_still_serving(&self) {
        self.rt.block_on(async {
            for base in &self.services {
                let health = self
                    .http
                    .get(format!("{base}/healthz"))
                    .send()
                    .await
                    .expect("healthz answers");
                assert_eq!(health.status(), 200, "{base}/healthz");
            }
            let alice = |i: usize| Gql::new(&self.services[i]).with_token(&self.alice.token);
            alice(USER).data(ops::ME, json!({})).await;
            alice(RECEIVER)
                .data(ops::MESSAGES, json!({ "chatId": self.group }))
                .await;
            alice(SENDER)
                .data(
                    ops::CREATE_MESSAGE,
                    json!({ "input": { "chatId": self.group, "content": "still here", "clientId": unique("c-") } }),
                )
                .await;
        });
        let panics = panics();
        assert!(panics.is_empty(), "the server panicked: {panics:#?}");
    }
}

async fn register(base: &str, name: &str) -> Person {
    let user = testkit::gql::register(base, name).await;
    Person {
        id: user.id,
        token: user.token,
    }
}

/// Words that would mean an error message leaks internals.
const LEAKS: [&str; 6] = [
    "panicked",
    "sqlx",
    "error returned from database",
    "SQLITE_",
    "stack backtrace",
    "RUST_BACKTRACE",
];

/// Checks one GraphQL error object: a message that leaks nothing, and a code from the
/// design's list other than `INTERNAL_SERVER_ERROR`.
pub(crate) fn check_error(error: &Value) -> Result<(), String> {
    let message = error["message"]
        .as_str()
        .ok_or_else(|| format!("error without a message: {error}"))?;
    if let Some(leak) = LEAKS.iter().find(|w| message.contains(**w)) {
        return Err(format!("error message leaks {leak:?}: {message}"));
    }
    let code = error["extensions"]["code"]
        .as_str()
        .ok_or_else(|| format!("error without extensions.code: {error}"))?;
    if !ErrorCode::ALL.iter().any(|c| c.as_str() == code) {
        return Err(format!("error code {code:?} is not in the design: {error}"));
    }
    if code == ErrorCode::InternalServerError.as_str() {
        return Err(format!("INTERNAL_SERVER_ERROR for client input: {error}"));
    }
    Ok(())
}

/// Checks an answer to `POST /graphql`: never a 5xx, always a JSON object with `data`
/// or `errors`, every error well-formed (see [`check_error`]), and an error status only
/// with errors.
pub(crate) fn check_graphql_answer(status: u16, body: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    if status >= 500 {
        return Err(format!("HTTP {status}: {text}"));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("HTTP {status} with a body that is not JSON ({e}): {text:.300}"))?;
    let Some(object) = value.as_object() else {
        return Err(format!("HTTP {status}: not a JSON object: {text:.300}"));
    };
    if !object.contains_key("data") && !object.contains_key("errors") {
        return Err(format!(
            "HTTP {status}: neither data nor errors: {text:.300}"
        ));
    }
    let errors = match object.get("errors") {
        None => &Vec::new(),
        Some(Value::Array(errors)) if !errors.is_empty() => errors,
        Some(other) => return Err(format!("`errors` is not a non-empty list: {other}")),
    };
    for error in errors {
        check_error(error)?;
    }
    if status != 200 && errors.is_empty() {
        return Err(format!("HTTP {status} without an error: {text:.300}"));
    }
    Ok(())
}
