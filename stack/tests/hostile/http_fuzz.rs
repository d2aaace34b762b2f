//! Random requests to `POST /graphql` of every service.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use testkit::Backend;
use testkit::env::TEST_ORIGIN;

use crate::generators::{OPERATIONS, document, json_value, variables};
use crate::harness::{World, check_graphql_answer};

/// The body of a request.
#[derive(Clone, Debug)]
enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

/// A body for `service`: mostly its own documents or random ones, sometimes another
/// service's.
fn body(ids: Vec<String>, service: usize) -> impl Strategy<Value = Body> {
    let request = (
        prop_oneof![
            5 => proptest::sample::select(OPERATIONS[service]).prop_map(Value::from),
            1 => proptest::sample::select(OPERATIONS.concat()).prop_map(Value::from),
            6 => document(ids.clone()).prop_map(Value::from),
            1 => json_value(ids.clone()),
        ],
        prop_oneof![
            6 => variables(ids.clone()).prop_map(Some),
            1 => Just(None),
            1 => json_value(ids.clone()).prop_map(Some),
        ],
        proptest::option::weighted(
            0.2,
            prop_oneof![
                4 => proptest::sample::select(vec!["Q", "M", "Login", "Register", "Nope", ""])
                    .prop_map(Value::from),
                1 => json_value(ids.clone()),
            ],
        ),
        proptest::option::weighted(0.05, json_value(ids.clone())),
    )
        .prop_map(|(query, variables, operation, extensions)| {
            let mut body = Map::new();
            body.insert("query".into(), query);
            if let Some(v) = variables {
                body.insert("variables".into(), v);
            }
            if let Some(v) = operation {
                body.insert("operationName".into(), v);
            }
            if let Some(v) = extensions {
                body.insert("extensions".into(), v);
            }
            Value::Object(body)
        })
        .boxed();
    let raw_json = request.clone().prop_flat_map(|request| {
        let text = request.to_string().into_bytes();
        let len = text.len();
        (
            Just(text),
            0..=len,
            proptest::collection::vec(any::<u8>(), 0..4),
        )
            .prop_map(|(mut text, at, junk)| {
                // Cut it short, or splice bytes (invalid UTF-8 too) into it.
                if junk.is_empty() {
                    text.truncate(at);
                } else {
                    text.splice(at..at, junk);
                }
                text
            })
    });
    prop_oneof![
        30 => request.prop_map(Body::Json),
        1 => proptest::collection::vec(document(ids.clone()), 0..3)
            .prop_map(|docs| Body::Json(Value::from(docs.into_iter().map(|q| json!({ "query": q })).collect::<Vec<_>>()))),
        1 => json_value(ids).prop_map(Body::Json),
        2 => raw_json.prop_map(Body::Raw),
        1 => proptest::collection::vec(any::<u8>(), 0..2000).prop_map(Body::Raw),
        1 => proptest::sample::select(vec![
            &b""[..], b"{", b"null", b"[]", b"{}", b"\xef\xbb\xbf{\"query\":\"{ __typename }\"}",
            b"{\"query\":\"{ __typename }\",\"query\":\"{ me { id } }\"}",
            b"{\"query\":\"\xff\xfe\"}", b"{\"query\":\"\\ud800\"}",
        ])
        .prop_map(|b| Body::Raw(b.to_vec())),
        1 => (1usize..5000).prop_map(|n| Body::Raw(format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes())),
    ]
}

/// How the request identifies its caller.
#[derive(Clone, Debug)]
enum Auth {
    None,
    Bearer(String),
    /// A raw `Authorization` header (not always UTF-8).
    Header(Vec<u8>),
    /// The session cookie, with an `Origin` (allowed or not) or without one.
    Cookie(String, Option<&'static str>),
}

fn auth(tokens: Vec<String>) -> impl Strategy<Value = Auth> {
    // The first two are valid.
    let valid = proptest::sample::select(tokens[..2].to_vec());
    let token = proptest::sample::select(tokens);
    prop_oneof![
        3 => Just(Auth::None),
        6 => valid.prop_map(Auth::Bearer),
        3 => token.clone().prop_map(Auth::Bearer),
        1 => proptest::sample::select(vec![
            &b"Bearer"[..], b"Bearer ", b"Basic YTpi", b"bearer  x y", b"Token abc", b"Bearer \xff\xfe",
        ])
        .prop_map(|h| Auth::Header(h.to_vec())),
        2 => (token, proptest::sample::select(vec![Some(TEST_ORIGIN), Some("http://evil.example"), Some("null"), None]))
            .prop_map(|(t, origin)| Auth::Cookie(t, origin)),
    ]
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        10 => Just(Some("application/json")),
        1 => proptest::sample::select(vec![
            None,
            Some("application/json; charset=utf-8"),
            Some("application/json; charset=utf-16"),
            Some("application/jsonx"),
            Some("application/graphql"),
            Some("application/graphql-response+json"),
            Some("text/plain"),
            Some("text/plain;charset=UTF-8"),
            Some("multipart/form-data; boundary=x"),
            Some("application/x-www-form-urlencoded"),
            Some("*/*"),
        ]),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    service: usize,
    auth: Auth,
    content_type: Option<&'static str>,
    body: Body,
}

fn case(world: &World) -> impl Strategy<Value = Case> {
    let ids = world.ids();
    let tokens = world.tokens();
    (0usize..3).prop_flat_map(move |service| {
        (
            auth(tokens.clone()),
            content_type(),
            body(ids.clone(), service),
        )
            .prop_map(move |(auth, content_type, body)| Case {
                service,
                auth,
                content_type,
                body,
            })
    })
}

impl Case {
    fn bytes(&self) -> Vec<u8> {
        match &self.body {
            Body::Json(value) => value.to_string().into_bytes(),
            Body::Raw(bytes) => bytes.clone(),
        }
    }
}

/// Sends one case; returns the status and body.
async fn send(world: &World, case: &Case) -> Result<(u16, Vec<u8>), String> {
    let url = format!("{}/graphql", world.services[case.service]);
    let mut request = world.http.post(url);
    if let Some(ct) = case.content_type {
        request = request.header("content-type", ct);
    }
    match &case.auth {
        Auth::None => {}
        Auth::Bearer(token) => request = request.bearer_auth(token),
        Auth::Header(value) => {
            let value = reqwest::header::HeaderValue::from_bytes(value)
                .map_err(|e| format!("header: {e}"))?;
            request = request.header("authorization", value);
        }
        Auth::Cookie(token, origin) => {
            request = request.header("cookie", format!("chat_session={token}"));
            if let Some(origin) = origin {
                request = request.header("origin", *origin);
            }
        }
    }
    let response = request
        .body(case.bytes())
        .send()
        .await
        .map_err(|e| format!("no answer: {}", chat_types::describe(&e)))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| format!("body: {e}"))?;
    Ok((status, body.to_vec()))
}

/// What the answers were, by status and error code, for the report at the end.
static OUTCOMES: std::sync::Mutex<std::collections::BTreeMap<String, usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn tally(status: u16, body: &[u8]) {
    let value: Value = serde_json::from_slice(body).unwrap_or_default();
    let code = value["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or(if value["data"].is_null() { "-" } else { "data" })
        .to_string();
    *OUTCOMES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(if std::env::var("FUZZ_DEBUG").is_ok() {
            format!("{status} {code} {:.150}", value["errors"][0]["message"])
        } else {
            format!("{status} {code}")
        })
        .or_default() += 1;
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
        max_shrink_iters: 300,
        ..Config::default()
    });
    let result = runner.run(&case(&world), |case| {
        if let Ok(path) = std::env::var("FUZZ_LOG") {
            std::fs::write(path, format!("{case:?}\n")).expect("case log");
        }
        let oversized = case.bytes().len() > chat_types::MAX_BODY_BYTES;
        let outcome =
            world
                .rt
                .block_on(send(&world, &case))
                .and_then(|(status, body)| match status {
                    // Too large to read: refused before any parsing (see below).
                    413 if oversized => Ok(()),
                    _ if oversized => Err(format!("HTTP {status} for an oversized body")),
                    _ => {
                        tally(status, &body);
                        check_graphql_answer(status, &body)
                    }
                });
        outcome.map_err(TestCaseError::fail)
    });
    eprintln!(
        "HTTP outcomes: {:#?}",
        OUTCOMES.lock().unwrap_or_else(|e| e.into_inner())
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    world.assert_still_serving();
}

#[test]
fn random_requests_get_coded_client_errors_on_the_embedded_backend() {
    fuzz(Backend::Embedded, 300);
}

#[test]
fn random_requests_get_coded_client_errors_on_postgres_and_redis() {
    fuzz(Backend::Real, 100);
}

/// A body over the limit is refused before anything reads it, with a coded 413.
#[test]
fn oversized_bodies_are_refused() {
    let Some(world) = World::start(Backend::Embedded) else {
        return;
    };
    world.rt.block_on(async {
        for base in &world.services {
            let padding = "x".repeat(chat_types::MAX_BODY_BYTES);
            let body = json!({ "query": format!("{{ __typename }} # {padding}") }).to_string();
            let response = world
                .http
                .post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .bearer_auth(&world.alice.token)
                .body(body)
                .send()
                .await
                .expect("answer");
            assert_eq!(response.status(), 413, "{base}");
            let body: serde_json::Value = response.json().await.expect("a JSON body");
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
                "{base}"
            );
        }
    });
    world.assert_still_serving();
}

/// Deeply nested values in a small document once overflowed the parsing thread's stack
/// and aborted the whole process: refused now, on every service, over POST and
/// WebSocket alike, before anything parses them.
#[test]
fn deeply_nested_documents_are_refused_before_parsing() {
    let Some(world) = World::start(Backend::Embedded) else {
        return;
    };
    let shapes = |n: usize| {
        [
            format!(
                "{{ chat(id: {}1{}) {{ id }} }}",
                "{a: ".repeat(n),
                "}".repeat(n)
            ),
            format!(
                "{{ chat(id: {}1{}) {{ id }} }}",
                "[".repeat(n),
                "]".repeat(n)
            ),
            format!(
                "query($v: ID = {}1{}) {{ __typename }}",
                "{a: ".repeat(n),
                "}".repeat(n)
            ),
            format!(
                "{{ __typename @skip(if: {}true{}) }}",
                "[".repeat(n),
                "]".repeat(n)
            ),
            format!("{}{}", "{ chats ".repeat(n), "}".repeat(n)),
        ]
    };
    world.rt.block_on(async {
        for n in [65, 300, 2_000, 7_000] {
            for document in shapes(n) {
                for base in &world.services {
                    for token in [None, Some(&world.bob.token)] {
                        let mut request = world
                            .http
                            .post(format!("{base}/graphql"))
                            .json(&json!({ "query": document }));
                        if let Some(token) = token {
                            request = request.bearer_auth(token);
                        }
                        let response = request.send().await.expect("an answer");
                        let status = response.status().as_u16();
                        let body = response.bytes().await.unwrap();
                        check_graphql_answer(status, &body).unwrap();
                        let value: Value = serde_json::from_slice(&body).unwrap();
                        assert_eq!(
                            value["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
                            "{n} levels: {value:.300}"
                        );
                    }
                }
                // Over the WebSocket too: refused as an error of the subscription.
                let socket = testkit::WsClient::connect(
                    &world.services[crate::harness::RECEIVER],
                    Some(&world.bob.token),
                    testkit::Protocol::TransportWs,
                )
                .await
                .expect("connects");
                let mut subscription = socket.subscribe(&document, json!({}));
                assert_eq!(subscription.next_error_code().await, "BAD_USER_INPUT");
            }
        }
    });
    world.assert_still_serving();
}
