//! Sessions and tokens: deactivated accounts, forged, expired and unsigned tokens get
//! nowhere on any instance, and a session that ends (logout, a password change,
//! deactivation, expiry) ends the WebSockets it opened too, even when nobody announced
//! it.

use std::time::Duration;

use chat_types::ops;
use serde_json::{Value, json};
use testkit::ws::Subscription;
use testkit::{Gql, Protocol, TestEnv, WsClient, backend_tests};

use crate::support::{System, message_added};

backend_tests!(
    deactivated_accounts_are_refused_everywhere,
    forged_expired_and_unsigned_tokens_are_refused_by_sender_and_receiver,
);

/// Polls until `check` holds (revocations travel over the bus), for at most a second.
async fn within_a_second<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: still not so after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn is_unauthenticated(gql: &Gql, query: &str, variables: Value) -> bool {
    let response = gql.request(query, variables).await;
    response.errors.first().and_then(|e| e.code.as_deref()) == Some("UNAUTHENTICATED")
}

async fn deactivated_accounts_are_refused_everywhere(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let dave = system.register("dave", 1).await;
    let chat = alice.group("with dave", &[&dave]).await;
    // Dave's token is known to every instance before he leaves.
    for i in 0..2 {
        dave.receivers[i].data(ops::CHATS, json!({})).await;
        dave.senders[i]
            .data(ops::SEND_TYPING, json!({ "chatId": chat }))
            .await;
        Gql::new(&system.users[i])
            .with_token(&dave.token)
            .data(ops::ME, json!({}))
            .await;
    }
    Gql::new(&system.users[1])
        .with_token(&dave.token)
        .data(
            ops::DEACTIVATE_ACCOUNT,
            json!({ "password": "correct horse battery" }),
        )
        .await;

    // His token has not expired, but it opens nothing anywhere.
    for i in 0..2 {
        let user = Gql::new(&system.users[i]).with_token(&dave.token);
        within_a_second("user service refuses", || {
            is_unauthenticated(&user, ops::ME, json!({}))
        })
        .await;
        within_a_second("receiver refuses", || {
            is_unauthenticated(&dave.receivers[i], ops::CHATS, json!({}))
        })
        .await;
        let send = json!({ "input": { "chatId": chat, "content": "from beyond" } });
        within_a_second("sender refuses", || {
            is_unauthenticated(&dave.senders[i], ops::CREATE_MESSAGE, send.clone())
        })
        .await;
        for protocol in [Protocol::TransportWs, Protocol::Legacy] {
            match WsClient::connect(&system.receivers[i], Some(&dave.token), protocol).await {
                Err(testkit::ws::ConnectError::Refused(reason)) => {
                    assert!(reason.contains("UNAUTHENTICATED"), "{reason}")
                }
                Err(other) => panic!("unexpected refusal: {other:?}"),
                Ok(_) => panic!("a deactivated account's socket was accepted"),
            }
        }
    }
    let page = alice.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": chat }))
        .await;
    assert_eq!(page["messages"]["messages"], json!([]));
}

async fn forged_expired_and_unsigned_tokens_are_refused_by_sender_and_receiver(env: TestEnv) {
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let user_id = alice.id.parse().unwrap();
    let token = alice.token.clone();
    let [header, payload, signature] =
        <[&str; 3]>::try_from(token.split('.').collect::<Vec<_>>()).expect("a JWT has three parts");

    let mut flipped = signature.to_string().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    // Bob's claims under Alice's signature, and Alice's under Bob's.
    let bob_payload = bob.token.split('.').nth(1).unwrap();
    let bad_tokens = [
        ("expired", env.keys.issue_with_ttl(user_id, 0, -120)),
        (
            "tampered signature",
            format!("{header}.{payload}.{flipped}"),
        ),
        (
            "claims swapped",
            format!("{header}.{bob_payload}.{signature}"),
        ),
        (
            "alg none",
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."),
        ),
        (
            "alg none, signature kept",
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.{signature}"),
        ),
        (
            "signed with another secret",
            server_core::auth::TokenKeys::new(&server_core::secret::Secret::generate())
                .issue(user_id, 0),
        ),
        ("stale version", env.keys.issue(user_id, 7)),
        (
            "unknown user",
            env.keys.issue(uuid::Uuid::now_v7().into(), 0),
        ),
        ("no signature", format!("{header}.{payload}")),
        ("garbage", "not.a.token".to_string()),
    ];
    for (what, bad) in &bad_tokens {
        for i in 0..2 {
            let receiver = alice.receivers[i].with_token(bad);
            for (query, variables) in [
                (ops::CHATS, json!({})),
                (ops::MESSAGES, json!({ "chatId": chat })),
            ] {
                let error = receiver.error(query, variables).await;
                assert_eq!(
                    error.code.as_deref(),
                    Some("UNAUTHENTICATED"),
                    "{what}: {error:?}"
                );
            }
            let error = alice.senders[i]
                .with_token(bad)
                .error(
                    ops::CREATE_MESSAGE,
                    json!({ "input": { "chatId": chat, "content": "forged" } }),
                )
                .await;
            assert_eq!(
                error.code.as_deref(),
                Some("UNAUTHENTICATED"),
                "{what}: {error:?}"
            );
            match WsClient::connect(&system.receivers[i], Some(bad), Protocol::TransportWs).await {
                Err(testkit::ws::ConnectError::Refused(reason)) => {
                    assert!(reason.contains("UNAUTHENTICATED"), "{what}: {reason}")
                }
                Err(other) => panic!("{what}: unexpected refusal: {other:?}"),
                Ok(_) => panic!("{what}: the socket was accepted"),
            }
        }
    }
    // Nothing was sent, and the real token still works.
    let page = alice.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": chat }))
        .await;
    assert_eq!(page["messages"]["messages"], json!([]));
    let socket = alice.socket(&system, 1).await;
    let mut added = message_added(&socket, &chat, Some(0));
    alice.send(&chat, "genuine", 1).await;
    assert_eq!(
        added.next_data().await["messageAdded"]["content"],
        "genuine"
    );
}

/// A session revoked by logout, a password change or deactivation should also end the
/// WebSockets it opened: they are closed (4401) when the revocation is heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_sockets_end_when_their_session_is_revoked() {
    let Some(env) = TestEnv::new(testkit::Backend::Embedded).await else {
        return;
    };
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let revocations = [
        (ops::LOGOUT, json!({})),
        (
            ops::CHANGE_PASSWORD,
            json!({ "currentPassword": "correct horse battery", "newPassword": "a brand new one" }),
        ),
        (
            ops::DEACTIVATE_ACCOUNT,
            json!({ "password": "correct horse battery" }),
        ),
    ];
    for (revoke, variables) in revocations {
        let dave = system.register("dave", 1).await;
        let chat = alice.group("with dave", &[&dave]).await;
        let socket = dave.socket(&system, 0).await;
        let mut added = message_added(&socket, &chat, None);
        tokio::time::sleep(Duration::from_millis(300)).await;
        Gql::new(&system.users[1])
            .with_token(&dave.token)
            .data(revoke, variables)
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        alice.send(&chat, "after the revocation", 0).await;
        match added.next_event_within(Duration::from_secs(2)).await {
            None => panic!("{revoke}: the revoked session's socket stayed open"),
            Some(testkit::ws::Event::Closed(_)) | Some(testkit::ws::Event::Complete) => {}
            Some(testkit::ws::Event::Error(errors)) => {
                assert_eq!(
                    errors[0]["extensions"]["code"], "UNAUTHENTICATED",
                    "{revoke}"
                )
            }
            Some(testkit::ws::Event::Next(payload)) => {
                assert!(
                    payload["data"].is_null(),
                    "{revoke}: the revoked session's socket still delivers {payload}"
                );
            }
        }
    }
}

/// Waits up to `within` for the subscription's socket to close with a reason that
/// mentions `why`.
async fn expect_closed(subscription: &mut Subscription, within: Duration, why: &str) {
    match subscription.next_event_within(within).await {
        Some(testkit::ws::Event::Closed(reason)) => {
            let reason = reason.unwrap_or_default();
            assert!(reason.contains(why), "{reason}");
        }
        other => panic!("the socket is still open after {within:?}: {other:?}"),
    }
}

/// The revocation's bus event may be lost (Redis away, a queue full, the instance that
/// announced it gone): the revocation itself is in the database, and open sockets are
/// compared with it twice a second. Here the version moves with no event at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_nobody_announced_still_closes_the_socket() {
    let Some(env) = TestEnv::new(testkit::Backend::Embedded).await else {
        return;
    };
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let dave = system.register("dave", 1).await;
    let chat = alice.group("with dave", &[&dave]).await;
    let socket = dave.socket(&system, 0).await;
    // From seq 0: the first message arrives even if it is sent before the
    // subscription is registered.
    let mut added = message_added(&socket, &chat, Some(0));
    alice.send(&chat, "before", 0).await;
    assert_eq!(added.next_data().await["messageAdded"]["content"], "before");

    let revoked_at = std::time::Instant::now();
    env.state
        .store
        .bump_token_version(dave.id.parse().unwrap())
        .await
        .expect("revoke in the database only");
    // About half a second when the machine is quiet (the sweep runs twice a second);
    // the bound leaves room for a loaded test run.
    expect_closed(&mut added, Duration::from_secs(5), "session").await;
    eprintln!("closed {:?} after the revocation", revoked_at.elapsed());
}

/// A socket does not outlive its token: at the token's expiry it closes (4401).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_closes_when_its_token_expires() {
    let Some(env) = TestEnv::new(testkit::Backend::Embedded).await else {
        return;
    };
    let system = System::start(&env).await;
    let alice = system.register("alice", 0).await;
    let dave = system.register("dave", 1).await;
    let chat = alice.group("with dave", &[&dave]).await;
    // `exp` is in whole seconds: the token lasts between 9 and 10 s.
    let lifetime = Duration::from_secs(10);
    let token = env
        .keys
        .issue_with_ttl(dave.id.parse().unwrap(), 0, lifetime.as_secs() as i64);
    let issued = std::time::Instant::now();
    let socket = WsClient::connect(&system.receivers[0], Some(&token), Protocol::TransportWs)
        .await
        .expect("a fresh token connects");
    // From seq 0: the first message arrives even if it is sent before the
    // subscription is registered.
    let mut added = message_added(&socket, &chat, Some(0));
    alice.send(&chat, "while valid", 0).await;
    assert_eq!(
        added.next_data().await["messageAdded"]["content"],
        "while valid"
    );
    expect_closed(&mut added, lifetime + Duration::from_secs(2), "expired").await;
    let closed = issued.elapsed();
    assert!(
        closed >= lifetime - Duration::from_secs(1),
        "closed early: {closed:?}"
    );
}
