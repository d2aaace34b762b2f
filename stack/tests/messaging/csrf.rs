//! Cross-site requests: the browser attaches the session cookie to requests any site
//! makes, so a cookie counts only on a request from an allowed origin. From a foreign
//! origin a request is refused and changes nothing; without an `Origin` the cookie is
//! ignored (anonymous); a WebSocket from a foreign origin is not opened at all.

use std::time::Duration;

use chat_types::ops;
use serde_json::{Value, json};
use testkit::env::TEST_ORIGIN;
use testkit::gql::GqlResponse;
use testkit::ws::ConnectError;
use testkit::{Gql, Protocol, TestEnv, WsClient, database_tests};

use crate::support::{Person, System, message_added};

database_tests!(
    cookie_requests_from_foreign_origins_are_refused_and_change_nothing,
    a_cookie_without_an_origin_is_anonymous,
    websockets_from_foreign_origins_are_refused,
    preflights_from_foreign_origins_are_not_allowed,
);

/// Origins that are not the app's, some of them close imitations.
const FOREIGN: [&str; 6] = [
    "http://evil.example",
    "null",
    "http://localhost:3000.evil.example",
    "https://localhost:3000",
    "http://localhost:3001",
    "http://localhost",
];

fn cookie(person: &Person) -> String {
    format!("chat_session={}", person.token)
}

/// Posts `query` to `base` with the session cookie, an optional `Origin`, and a content
/// type (JSON unless given).
async fn post(
    base: &str,
    query: &str,
    variables: Value,
    cookie: &str,
    origin: Option<&str>,
    content_type: &str,
) -> GqlResponse {
    let gql = Gql::new(base);
    let mut request = gql
        .http()
        .post(format!("{base}/graphql"))
        .header("cookie", cookie)
        .header("content-type", content_type)
        .body(json!({ "query": query, "variables": variables }).to_string());
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    Gql::read(request.send().await.expect("an answer")).await
}

async fn cookie_requests_from_foreign_origins_are_refused_and_change_nothing(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let group = alice.group("targets", &[&bob]).await;
    let message = alice.send(&group, "original", 0).await;
    let message_id = message["id"].as_str().unwrap();
    let session = cookie(&alice);
    let before = alice.receivers[0]
        .data(ops::CHAT, json!({ "id": group }))
        .await;

    let socket = bob.socket(&system, 1).await;
    let mut added = message_added(&socket, &group, None);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let sender_attacks = [
        (
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": group, "content": "csrf" } }),
        ),
        (
            ops::UPDATE_MESSAGE,
            json!({ "id": message_id, "content": "csrf" }),
        ),
        (ops::REMOVE_MESSAGE, json!({ "id": message_id })),
        (ops::UPDATE_CHAT, json!({ "chatId": group, "name": "csrf" })),
        (
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": group, "userId": bob.id }),
        ),
        (
            ops::CREATE_CHAT,
            json!({ "input": { "kind": "GROUP", "name": "csrf", "participantIds": [bob.id] } }),
        ),
        (ops::MARK_AS_READ, json!({ "chatId": group })),
    ];
    let user_attacks = [
        (ops::UPDATE_PROFILE, json!({ "displayName": "csrf" })),
        (
            ops::CHANGE_PASSWORD,
            json!({ "currentPassword": "correct horse battery", "newPassword": "csrf csrf csrf" }),
        ),
        (
            ops::DEACTIVATE_ACCOUNT,
            json!({ "password": "correct horse battery" }),
        ),
        (ops::LOGOUT, json!({})),
    ];
    let receiver_reads = [
        (ops::CHATS, json!({})),
        (ops::MESSAGES, json!({ "chatId": group })),
    ];
    let mut attacks: Vec<(&str, &str, Value)> = Vec::new();
    for i in 0..2 {
        for (query, variables) in &sender_attacks {
            attacks.push((&system.senders[i], query, variables.clone()));
        }
        for (query, variables) in &user_attacks {
            attacks.push((&system.users[i], query, variables.clone()));
        }
        for (query, variables) in &receiver_reads {
            attacks.push((&system.receivers[i], query, variables.clone()));
        }
    }
    for origin in FOREIGN {
        for (base, query, variables) in &attacks {
            let response = post(
                base,
                query,
                variables.clone(),
                &session,
                Some(origin),
                "application/json",
            )
            .await;
            assert_eq!(response.status, 403, "{origin} {query}: {response:?}");
            assert_eq!(
                response.errors[0].code.as_deref(),
                Some("FORBIDDEN"),
                "{origin} {query}"
            );
            assert!(response.data.is_null(), "{origin} {query}: {response:?}");
        }
    }
    // The "simple" requests a page may send without a preflight are refused as well,
    // whatever their origin claims.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        for origin in [Some(FOREIGN[0]), None, Some(TEST_ORIGIN)] {
            for (base, query, variables) in &attacks {
                let response = post(
                    base,
                    query,
                    variables.clone(),
                    &session,
                    origin,
                    content_type,
                )
                .await;
                assert!(
                    [403, 415].contains(&response.status),
                    "{content_type} from {origin:?}, {query}: {response:?}"
                );
                assert!(response.data.is_null());
            }
        }
    }
    // A GET never runs an operation (it only serves the GraphiQL page).
    for base in system.senders.iter().chain(&system.users) {
        let response = Gql::new(base)
            .http()
            .get(format!("{base}/graphql"))
            .query(&[(
                "query",
                "mutation { logout updateProfile(displayName: \"csrf\") { id } }",
            )])
            .header("cookie", &session)
            .header("origin", TEST_ORIGIN)
            .send()
            .await
            .unwrap();
        let text = response.text().await.unwrap();
        assert!(!text.contains("\"data\""), "{text:.200}");
    }

    // Nothing changed: no message, no edit, same chat, same profile, same password, and
    // the session still works.
    added.expect_silence(Duration::from_millis(300)).await;
    let after = alice.receivers[1]
        .data(ops::CHAT, json!({ "id": group }))
        .await;
    assert_eq!(after, before);
    let page = alice.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": group }))
        .await;
    let messages = page["messages"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"], "original");
    assert_eq!(messages[0]["isEdited"], false);
    let listed = alice.receivers[0].data(ops::CHATS, json!({})).await;
    assert_eq!(listed["chats"].as_array().unwrap().len(), 1);
    let me = post(
        &system.users[0],
        ops::ME,
        json!({}),
        &session,
        Some(TEST_ORIGIN),
        "application/json",
    )
    .await;
    assert_eq!(me.data["me"]["displayName"], "alice", "{me:?}");
    let username = me.data["me"]["username"].as_str().unwrap().to_string();
    Gql::new(&system.users[1])
        .data(
            ops::LOGIN,
            json!({ "username": username, "password": "correct horse battery" }),
        )
        .await;
    // The same cookie from the app's own origin does work (so the refusals above were
    // about the origin, not the cookie).
    let sent = post(
        &system.senders[1],
        ops::CREATE_MESSAGE,
        json!({ "input": { "chatId": group, "content": "from the app" } }),
        &session,
        Some(TEST_ORIGIN),
        "application/json",
    )
    .await;
    assert_eq!(
        sent.data["createMessage"]["content"], "from the app",
        "{sent:?}"
    );
    assert_eq!(
        added.next_data().await["messageAdded"]["content"],
        "from the app"
    );
}

async fn a_cookie_without_an_origin_is_anonymous(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let session = cookie(&alice);

    for i in 0..2 {
        for (base, query, variables) in [
            (&system.receivers[i], ops::CHATS, json!({})),
            (
                &system.receivers[i],
                ops::MESSAGES,
                json!({ "chatId": chat }),
            ),
            (
                &system.senders[i],
                ops::CREATE_MESSAGE,
                json!({ "input": { "chatId": chat, "content": "no origin" } }),
            ),
            (
                &system.senders[i],
                ops::SEND_TYPING,
                json!({ "chatId": chat }),
            ),
            (&system.users[i], ops::ME, json!({})),
            (&system.users[i], ops::LOGOUT, json!({})),
            (
                &system.users[i],
                ops::UPDATE_PROFILE,
                json!({ "displayName": "no origin" }),
            ),
        ] {
            let response = post(base, query, variables, &session, None, "application/json").await;
            assert_eq!(
                response.errors.first().and_then(|e| e.code.as_deref()),
                Some("UNAUTHENTICATED"),
                "{query}: {response:?}"
            );
        }
    }
    // Nothing happened, and the session (never logged out) still works from the app.
    let page = alice.receivers[1]
        .data(ops::MESSAGES, json!({ "chatId": chat }))
        .await;
    assert_eq!(page["messages"]["messages"], json!([]));
    for i in 0..2 {
        let me = post(
            &system.users[i],
            ops::ME,
            json!({}),
            &session,
            Some(TEST_ORIGIN),
            "application/json",
        )
        .await;
        assert_eq!(me.data["me"]["displayName"], "alice", "{me:?}");
        let chats = post(
            &system.receivers[i],
            ops::CHATS,
            json!({}),
            &session,
            Some(TEST_ORIGIN),
            "application/json",
        )
        .await;
        assert_eq!(chats.data["chats"][0]["id"], chat.as_str(), "{chats:?}");
    }
}

async fn websockets_from_foreign_origins_are_refused(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let session = cookie(&alice);

    let every_service = system
        .receivers
        .iter()
        .chain(&system.senders)
        .chain(&system.users);
    for base in every_service {
        for origin in FOREIGN {
            for protocol in [Protocol::TransportWs, Protocol::Legacy] {
                // With a token in connection_init, or with only the cookie: the upgrade
                // itself is refused.
                for (token, headers) in [
                    (Some(alice.token.as_str()), vec![("origin", origin)]),
                    (None, vec![("origin", origin), ("cookie", session.as_str())]),
                ] {
                    match WsClient::connect_with(base, token, protocol, &headers).await {
                        Err(ConnectError::Http(403)) => {}
                        Err(other) => panic!("{base} from {origin}: {other:?}"),
                        Ok(_) => panic!("{base} opened a WebSocket from {origin}"),
                    }
                }
            }
        }
    }

    // From the app's origin the cookie alone signs the socket in…
    let socket = WsClient::connect_with(
        &system.receivers[1],
        None,
        Protocol::TransportWs,
        &[("origin", TEST_ORIGIN), ("cookie", &session)],
    )
    .await
    .expect("the app's own origin may use the cookie");
    let mut added = message_added(&socket, &chat, Some(0));
    alice.send(&chat, "via cookie", 0).await;
    assert_eq!(
        added.next_data().await["messageAdded"]["content"],
        "via cookie"
    );
    // …without an Origin it does not.
    match WsClient::connect_with(
        &system.receivers[0],
        None,
        Protocol::TransportWs,
        &[("cookie", &session)],
    )
    .await
    {
        Err(ConnectError::Refused(reason)) => {
            assert!(reason.contains("UNAUTHENTICATED"), "{reason}")
        }
        Err(other) => panic!("unexpected refusal: {other:?}"),
        Ok(_) => panic!("a cookie without an Origin signed a socket in"),
    }
}

async fn preflights_from_foreign_origins_are_not_allowed(env: TestEnv) {
    let system = System::start(&env).await;
    let every_service = system
        .receivers
        .iter()
        .chain(&system.senders)
        .chain(&system.users);
    for base in every_service {
        let preflight = |origin: &'static str| {
            Gql::new(base)
                .http()
                .request(reqwest::Method::OPTIONS, format!("{base}/graphql"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
        };
        for origin in FOREIGN {
            let response = preflight(origin).await.unwrap();
            assert!(response.status().as_u16() < 500);
            let allowed = response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_string());
            assert!(
                allowed.is_none(),
                "{base} allows {origin} (answered {allowed:?})"
            );
        }
        let response = preflight(TEST_ORIGIN).await.unwrap();
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            TEST_ORIGIN
        );
        assert_eq!(
            response.headers()["access-control-allow-credentials"],
            "true"
        );
    }
}
