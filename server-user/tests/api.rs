//! The user service over real HTTP, on both backends.

use chat_types::ops;
use serde_json::{Value, json};
use testkit::env::TEST_ORIGIN;
use testkit::{Gql, TestEnv, backend_tests, spawn, unique};

backend_tests!(
    register_then_login_then_me,
    taken_usernames_and_emails_conflict,
    invalid_registrations_name_the_field_and_write_nothing,
    oversized_bodies_are_refused_with_413,
    wrong_password_and_unknown_user_read_the_same,
    forged_expired_and_unsigned_tokens_are_refused,
    logout_and_password_change_end_old_sessions,
    deactivated_users_cannot_log_in,
    email_is_visible_only_on_yourself,
    tokens_work_on_every_instance,
    logout_reaches_every_instance_at_once,
    the_session_cookie_counts_only_from_allowed_origins,
    users_are_searched_and_paged,
    profiles_are_validated_and_updated,
);

async fn user_service(env: &TestEnv) -> Gql {
    Gql::new(&spawn(server_user::build_router(env.instance().await)).await)
}

fn registration(username: &str) -> Value {
    json!({ "input": {
        "username": username,
        "email": format!("{username}@example.com"),
        "displayName": format!("{username} Example"),
        "password": "correct horse battery",
    }})
}

/// Registers a fresh user; returns a client signed in as them, their id and username.
async fn register(gql: &Gql, name: &str) -> (Gql, String, String) {
    let username = unique(name);
    let data = gql.data(ops::REGISTER, registration(&username)).await;
    let token = data["register"]["token"].as_str().unwrap().to_string();
    let id = data["register"]["user"]["id"].as_str().unwrap().to_string();
    (gql.with_token(&token), id, username)
}

fn credentials(username: &str, password: &str) -> Value {
    json!({ "username": username, "password": password })
}

async fn register_then_login_then_me(env: TestEnv) {
    let gql = user_service(&env).await;
    let username = unique("alice");
    let registered = gql.data(ops::REGISTER, registration(&username)).await;
    assert_eq!(
        registered["register"]["user"]["username"],
        username.as_str()
    );
    assert_eq!(registered["register"]["user"]["isActive"], true);

    // Username or email, in any case.
    for login in [username.to_uppercase(), format!("{username}@EXAMPLE.com")] {
        let data = gql
            .data(ops::LOGIN, credentials(&login, "correct horse battery"))
            .await;
        let token = data["login"]["token"].as_str().unwrap();
        let me = gql.with_token(token).data(ops::ME, json!({})).await;
        assert_eq!(me["me"]["username"], username.as_str());
        assert_eq!(me["me"]["email"], format!("{username}@example.com"));
    }
    let anonymous = gql.expect_code(ops::ME, json!({}), "UNAUTHENTICATED").await;
    assert_eq!(anonymous.message, "authentication required");
}

async fn taken_usernames_and_emails_conflict(env: TestEnv) {
    let gql = user_service(&env).await;
    let (_, _, username) = register(&gql, "bob").await;

    let mut same_name = registration(&username.to_uppercase());
    same_name["input"]["email"] = json!(format!("{}@other.example", unique("x")));
    let error = gql.expect_code(ops::REGISTER, same_name, "CONFLICT").await;
    assert_eq!(error.field.as_deref(), Some("username"));

    let mut same_email = registration(&unique("carol"));
    same_email["input"]["email"] = json!(format!("{username}@example.com"));
    let error = gql.expect_code(ops::REGISTER, same_email, "CONFLICT").await;
    assert_eq!(error.field.as_deref(), Some("email"));
}

async fn invalid_registrations_name_the_field_and_write_nothing(env: TestEnv) {
    let gql = user_service(&env).await;
    let name = unique("dave");
    let cases = [
        ("username", "ab"),
        ("username", "has space"),
        ("email", "not-an-email"),
        ("password", "short"),
        ("displayName", "   "),
    ];
    for (field, value) in cases {
        let mut input = registration(&name);
        input["input"][field] = json!(value);
        let error = gql
            .expect_code(ops::REGISTER, input, "BAD_USER_INPUT")
            .await;
        assert_eq!(error.field.as_deref(), Some(field), "{error:?}");
    }
    // Nothing was written: the name and email are still free.
    gql.data(ops::REGISTER, registration(&name)).await;
}

async fn oversized_bodies_are_refused_with_413(env: TestEnv) {
    let gql = user_service(&env).await;
    let mut input = registration(&unique("erin"));
    input["input"]["displayName"] = json!("x".repeat(70 * 1024));
    let response = gql.request(ops::REGISTER, input).await;
    assert_eq!(response.status, 413);
}

async fn wrong_password_and_unknown_user_read_the_same(env: TestEnv) {
    let gql = user_service(&env).await;
    let (_, _, username) = register(&gql, "frank").await;
    let wrong = gql
        .expect_code(
            ops::LOGIN,
            credentials(&username, "not the password"),
            "UNAUTHENTICATED",
        )
        .await;
    let unknown = gql
        .expect_code(
            ops::LOGIN,
            credentials(&unique("nobody"), "not the password"),
            "UNAUTHENTICATED",
        )
        .await;
    assert_eq!(wrong.message, unknown.message);
    assert_eq!(wrong.raw["extensions"], unknown.raw["extensions"]);
    // A name no account can have (PostgreSQL cannot even compare it) reads the same.
    let impossible = gql
        .expect_code(
            ops::LOGIN,
            credentials("nul\0name", "not the password"),
            "UNAUTHENTICATED",
        )
        .await;
    assert_eq!(wrong.raw["extensions"], impossible.raw["extensions"]);
}

async fn forged_expired_and_unsigned_tokens_are_refused(env: TestEnv) {
    let gql = user_service(&env).await;
    let (alice, id, _) = register(&gql, "grace").await;
    let token = alice.token.clone().unwrap();
    let user_id = id.parse().unwrap();

    let expired = env.keys.issue_with_ttl(user_id, 0, -120);
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let payload = token.split('.').nth(1).unwrap();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let foreign = server_core::auth::TokenKeys::new(&server_core::secret::Secret::generate())
        .issue(user_id, 0);
    for bad in [expired, tampered, unsigned, foreign, "garbage".to_string()] {
        gql.with_token(&bad)
            .expect_code(ops::ME, json!({}), "UNAUTHENTICATED")
            .await;
    }
    alice.data(ops::ME, json!({})).await;
}

async fn logout_and_password_change_end_old_sessions(env: TestEnv) {
    let gql = user_service(&env).await;
    let (alice, _, username) = register(&gql, "heidi").await;
    alice.data(ops::LOGOUT, json!({})).await;
    alice
        .expect_code(ops::ME, json!({}), "UNAUTHENTICATED")
        .await;

    let login = gql
        .data(ops::LOGIN, credentials(&username, "correct horse battery"))
        .await;
    let alice = gql.with_token(login["login"]["token"].as_str().unwrap());
    let wrong = alice
        .expect_code(
            ops::CHANGE_PASSWORD,
            json!({ "currentPassword": "not it at all", "newPassword": "a new passphrase" }),
            "BAD_USER_INPUT",
        )
        .await;
    assert_eq!(wrong.field.as_deref(), Some("currentPassword"));
    alice
        .data(
            ops::CHANGE_PASSWORD,
            json!({ "currentPassword": "correct horse battery", "newPassword": "a new passphrase" }),
        )
        .await;
    alice
        .expect_code(ops::ME, json!({}), "UNAUTHENTICATED")
        .await;
    gql.expect_code(
        ops::LOGIN,
        credentials(&username, "correct horse battery"),
        "UNAUTHENTICATED",
    )
    .await;
    gql.data(ops::LOGIN, credentials(&username, "a new passphrase"))
        .await;
}

async fn deactivated_users_cannot_log_in(env: TestEnv) {
    let gql = user_service(&env).await;
    let (alice, _, username) = register(&gql, "ivan").await;
    alice
        .expect_code(
            ops::DEACTIVATE_ACCOUNT,
            json!({ "password": "wrong password" }),
            "BAD_USER_INPUT",
        )
        .await;
    alice
        .data(
            ops::DEACTIVATE_ACCOUNT,
            json!({ "password": "correct horse battery" }),
        )
        .await;
    alice
        .expect_code(ops::ME, json!({}), "UNAUTHENTICATED")
        .await;
    let error = gql
        .expect_code(
            ops::LOGIN,
            credentials(&username, "correct horse battery"),
            "UNAUTHENTICATED",
        )
        .await;
    assert_eq!(error.message, "authentication required");
}

async fn email_is_visible_only_on_yourself(env: TestEnv) {
    let gql = user_service(&env).await;
    let (alice, alice_id, _) = register(&gql, "judy").await;
    let (bob, _, bob_name) = register(&gql, "ken").await;
    let seen_by_bob = bob.data(ops::USER, json!({ "id": alice_id })).await;
    assert!(seen_by_bob["user"]["email"].is_null());
    assert!(seen_by_bob["user"]["username"].is_string());
    let by_name = alice
        .data(ops::USER_BY_USERNAME, json!({ "username": bob_name }))
        .await;
    assert!(by_name["userByUsername"]["email"].is_null());
    let own = alice.data(ops::USER, json!({ "id": alice_id })).await;
    assert!(own["user"]["email"].is_string());
    alice
        .expect_code(ops::USER, json!({ "id": "not-an-id" }), "BAD_USER_INPUT")
        .await;
}

async fn tokens_work_on_every_instance(env: TestEnv) {
    let first = user_service(&env).await;
    let second = user_service(&env).await;
    let (alice, _, username) = register(&first, "leo").await;
    let me = alice.at(&second.base).data(ops::ME, json!({})).await;
    assert_eq!(me["me"]["username"], username.as_str());
    // And the other way round.
    let login = second
        .data(ops::LOGIN, credentials(&username, "correct horse battery"))
        .await;
    first
        .with_token(login["login"]["token"].as_str().unwrap())
        .data(ops::ME, json!({}))
        .await;
}

async fn the_session_cookie_counts_only_from_allowed_origins(env: TestEnv) {
    let gql = user_service(&env).await;
    let username = unique("mallory");
    let response = gql
        .request(ops::REGISTER_COOKIE, registration(&username))
        .await;
    let cookie = response.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(response.data["register"].get("token").is_none());
    let session = cookie.split(';').next().unwrap().to_string();

    let me = |origin: Option<&'static str>| {
        let mut request = gql
            .http()
            .post(format!("{}/graphql", gql.base))
            .header("cookie", &session)
            .json(&json!({ "query": ops::ME }));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request
    };
    let ok = Gql::read(me(Some(TEST_ORIGIN)).send().await.unwrap()).await;
    assert_eq!(ok.data["me"]["username"], username.as_str());
    let foreign = Gql::read(me(Some("http://evil.example")).send().await.unwrap()).await;
    assert_eq!(foreign.status, 403);
    assert_eq!(foreign.errors[0].code.as_deref(), Some("FORBIDDEN"));
    let no_origin = Gql::read(me(None).send().await.unwrap()).await;
    assert_eq!(no_origin.errors[0].code.as_deref(), Some("UNAUTHENTICATED"));

    // A form post (not JSON) never reaches the schema.
    let form = gql
        .http()
        .post(format!("{}/graphql", gql.base))
        .header("cookie", &session)
        .header("content-type", "text/plain")
        .body(json!({ "query": ops::ME }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
}

async fn users_are_searched_and_paged(env: TestEnv) {
    let gql = user_service(&env).await;
    let tag = unique("pg");
    let mut names = Vec::new();
    let mut viewer = None;
    for i in 0..5 {
        let username = format!("{tag}_{i}");
        let data = gql.data(ops::REGISTER, registration(&username)).await;
        viewer.get_or_insert_with(|| gql.with_token(data["register"]["token"].as_str().unwrap()));
        names.push(username);
    }
    let viewer = viewer.unwrap();
    let usernames = |data: &Value| -> Vec<String> {
        data["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect()
    };
    let first = viewer
        .data(
            ops::USERS,
            json!({ "search": tag.to_uppercase(), "first": 3 }),
        )
        .await;
    assert_eq!(usernames(&first).len(), 3);
    let after = first["users"][2]["id"].clone();
    let rest = viewer
        .data(
            ops::USERS,
            json!({ "search": tag, "first": 3, "after": after }),
        )
        .await;
    let mut seen = usernames(&first);
    seen.extend(usernames(&rest));
    assert_eq!(seen, names);
    // Wildcards in the search are literal.
    let none = viewer.data(ops::USERS, json!({ "search": "%" })).await;
    assert!(usernames(&none).is_empty());
    let error = viewer
        .expect_code(ops::USERS, json!({ "first": 1000 }), "BAD_USER_INPUT")
        .await;
    assert_eq!(error.field.as_deref(), Some("first"));
    gql.expect_code(ops::USERS, json!({}), "UNAUTHENTICATED")
        .await;
}

async fn profiles_are_validated_and_updated(env: TestEnv) {
    let gql = user_service(&env).await;
    let (alice, _, _) = register(&gql, "nina").await;
    let (_, _, bob) = register(&gql, "oscar").await;
    let updated = alice
        .data(ops::UPDATE_PROFILE, json!({ "displayName": "  Nina N.  " }))
        .await;
    assert_eq!(updated["updateProfile"]["displayName"], "Nina N.");
    let error = alice
        .expect_code(
            ops::UPDATE_PROFILE,
            json!({ "displayName": "x".repeat(65) }),
            "BAD_USER_INPUT",
        )
        .await;
    assert_eq!(error.field.as_deref(), Some("displayName"));
    let taken = alice
        .expect_code(
            ops::UPDATE_PROFILE,
            json!({ "email": format!("{bob}@example.com") }),
            "CONFLICT",
        )
        .await;
    assert_eq!(taken.field.as_deref(), Some("email"));
}

async fn logout_reaches_every_instance_at_once(env: TestEnv) {
    let first = user_service(&env).await;
    let second = user_service(&env).await;
    let (alice, _, _) = register(&first, "olga").await;
    // The second instance has seen (and cached) the session…
    alice.at(&second.base).data(ops::ME, json!({})).await;
    alice.data(ops::LOGOUT, json!({})).await;
    // …and hears of the logout well before its cache would expire.
    let started = std::time::Instant::now();
    loop {
        let response = alice.at(&second.base).request(ops::ME, json!({})).await;
        if response.errors.first().and_then(|e| e.code.as_deref()) == Some("UNAUTHENTICATED") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_millis(1000),
            "still accepted after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
