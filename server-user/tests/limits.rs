//! The user service's abuse limits over real HTTP, on both backends: login and
//! registration rates per client address, the alias cap, batch requests.

use chat_types::ops;
use serde_json::{Value, json};
use server_core::limits::Limits;
use testkit::{Gql, GqlError, TestEnv, backend_tests, spawn, unique};

backend_tests!(
    repeated_wrong_logins_are_limited_alike_for_known_and_unknown_accounts,
    logins_from_one_address_are_limited_across_accounts,
    registrations_from_one_address_are_limited,
    without_limits_nothing_is_limited,
    documents_with_too_many_aliases_are_refused,
    batched_requests_are_refused,
    a_stolen_token_is_no_unthrottled_password_oracle,
    repeating_a_mutation_field_without_aliases_is_capped,
    email_changes_are_limited,
);

/// A user service with the production limits.
async fn limited(env: &TestEnv) -> Gql {
    let state = env.instance_with_limits(Limits::on()).await;
    Gql::new(&spawn(server_user::build_router(state)).await)
}

fn registration(username: &str) -> Value {
    json!({ "input": {
        "username": username,
        "email": format!("{username}@example.com"),
        "displayName": "Limited",
        "password": "correct horse battery",
    }})
}

fn credentials(username: &str, password: &str) -> Value {
    json!({ "username": username, "password": password })
}

/// The seconds a `RATE_LIMITED` error says to wait.
fn retry_after(error: &GqlError) -> u64 {
    assert_eq!(error.code.as_deref(), Some("RATE_LIMITED"), "{error:?}");
    error.raw["extensions"]["retryAfter"]
        .as_u64()
        .unwrap_or_else(|| panic!("no retryAfter in {error:?}"))
}

/// The error with its wait taken out, to compare two refusals.
fn without_wait(error: &GqlError) -> Value {
    let mut raw = error.raw.clone();
    raw["extensions"]["retryAfter"] = Value::Null;
    raw["message"] = json!(error.message.replace(|c: char| c.is_ascii_digit(), "#"));
    raw
}

async fn repeated_wrong_logins_are_limited_alike_for_known_and_unknown_accounts(env: TestEnv) {
    let gql = limited(&env).await;
    let known = unique("mallory");
    gql.data(ops::REGISTER, registration(&known)).await;
    let unknown = unique("nobody");

    let mut refusals = Vec::new();
    for login in [&known, &unknown] {
        // A small burst of attempts is answered as usual…
        for _ in 0..5 {
            gql.expect_code(
                ops::LOGIN,
                credentials(login, "not the password"),
                "UNAUTHENTICATED",
            )
            .await;
        }
        // …then the account is refused from this address, whatever the password.
        let refused = gql
            .error(ops::LOGIN, credentials(login, "not the password"))
            .await;
        assert!((1..=6).contains(&retry_after(&refused)), "{refused:?}");
        refusals.push(refused);
    }
    let right = gql
        .error(ops::LOGIN, credentials(&known, "correct horse battery"))
        .await;
    retry_after(&right);

    // Nothing tells the existing account from the unknown one.
    assert_eq!(without_wait(&refusals[0]), without_wait(&refusals[1]));
    assert!(!refusals[0].message.contains(&known));
    assert!(refusals[0].message.starts_with("too many requests"));

    // Another account from the same address is not affected.
    let other = unique("peggy");
    gql.data(ops::REGISTER, registration(&other)).await;
    gql.data(ops::LOGIN, credentials(&other, "correct horse battery"))
        .await;

    let metrics = gql
        .http()
        .get(format!("{}/metrics", gql.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("chat_rate_limited_total{action=\"login_account\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("chat_graphql_errors_total{code=\"RATE_LIMITED\"} 3"),
        "{metrics}"
    );
}

async fn logins_from_one_address_are_limited_across_accounts(env: TestEnv) {
    let gql = limited(&env).await;
    // Spraying one guess over many accounts: each account sees one attempt, the
    // address sees them all. A forwarding header naming other addresses changes
    // nothing: only the TCP peer counts.
    let mut refused = None;
    for attempt in 0..40 {
        let body = json!({
            "query": ops::LOGIN,
            "variables": credentials(&unique("victim"), "password123"),
        });
        let response = gql
            .http()
            .post(format!("{}/graphql", gql.base))
            .header("x-forwarded-for", format!("203.0.113.{attempt}"))
            .header("x-real-ip", format!("198.51.100.{attempt}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let response = Gql::read(response).await;
        let error = &response.errors[0];
        if error.code.as_deref() == Some("RATE_LIMITED") {
            refused = Some((attempt, retry_after(error)));
            break;
        }
        assert_eq!(error.code.as_deref(), Some("UNAUTHENTICATED"), "{error:?}");
    }
    let (attempt, wait) = refused.expect("the address is limited within 40 attempts");
    assert!(attempt >= 20, "refused after only {attempt} attempts");
    assert!((1..=2).contains(&wait), "wait {wait}");
}

async fn registrations_from_one_address_are_limited(env: TestEnv) {
    let gql = limited(&env).await;
    let mut registered = 0;
    let refused_name = loop {
        let name = unique("spam");
        let response = gql.request(ops::REGISTER, registration(&name)).await;
        match response.errors.first() {
            None => registered += 1,
            Some(error) => {
                assert!((1..=12).contains(&retry_after(error)), "{error:?}");
                break name;
            }
        }
        assert!(registered <= 10, "more than the burst of 10 went through");
    };
    assert_eq!(registered, 10);
    // The refused registration wrote nothing: its name is still free (on another
    // instance, which counts on its own).
    let other = limited(&env).await;
    other.data(ops::REGISTER, registration(&refused_name)).await;
}

async fn without_limits_nothing_is_limited(env: TestEnv) {
    let gql = Gql::new(&spawn(server_user::build_router(env.instance().await)).await);
    let name = unique("victor");
    gql.data(ops::REGISTER, registration(&name)).await;
    for _ in 0..12 {
        gql.expect_code(
            ops::LOGIN,
            credentials(&name, "not the password"),
            "UNAUTHENTICATED",
        )
        .await;
    }
    gql.data(ops::LOGIN, credentials(&name, "correct horse battery"))
        .await;
    for _ in 0..11 {
        gql.data(ops::REGISTER, registration(&unique("many"))).await;
    }
}

/// `{ a0: __typename a1: __typename … }` with `count` aliases.
fn aliased(count: usize) -> String {
    let fields: Vec<String> = (0..count).map(|i| format!("a{i}: __typename")).collect();
    format!("{{ {} }}", fields.join(" "))
}

async fn documents_with_too_many_aliases_are_refused(env: TestEnv) {
    let gql = limited(&env).await;
    let allowed = gql.data(&aliased(30), json!({})).await;
    assert_eq!(allowed["a29"], "Query");
    let error = gql
        .expect_code(&aliased(31), json!({}), "BAD_USER_INPUT")
        .await;
    assert_eq!(error.field.as_deref(), Some("query"));
    assert!(error.message.contains("31 aliases"), "{error:?}");
    // Aliases in fragments count too.
    let in_fragment = format!(
        "query {{ ...F }} fragment F on Query {{ {} }}",
        &aliased(31)[1..aliased(31).len() - 1]
    );
    gql.expect_code(&in_fragment, json!({}), "BAD_USER_INPUT")
        .await;
}

async fn batched_requests_are_refused(env: TestEnv) {
    let gql = limited(&env).await;
    // A batch would multiply every per-request limit; the body must be one request.
    let batch = json!([
        { "query": "{ __typename }" },
        { "query": "{ __typename }" },
    ]);
    let response = gql
        .http()
        .post(format!("{}/graphql", gql.base))
        .json(&batch)
        .send()
        .await
        .unwrap();
    let response = Gql::read(response).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.errors[0].code.as_deref(), Some("BAD_USER_INPUT"));
    assert!(response.data.is_null());
}

/// Signs up on `gql`; the client as that user.
async fn signed_up(gql: &Gql) -> Gql {
    let name = unique("oracle");
    let data = gql.data(ops::REGISTER, registration(&name)).await;
    gql.with_token(data["register"]["token"].as_str().unwrap())
}

async fn a_stolen_token_is_no_unthrottled_password_oracle(env: TestEnv) {
    let gql = limited(&env).await;
    let thief = signed_up(&gql).await;
    let guess = |n: usize| json!({ "currentPassword": format!("guess number {n}"), "newPassword": "a brand new password" });
    let mut refused = None;
    for n in 0..30 {
        let error = thief.error(ops::CHANGE_PASSWORD, guess(n)).await;
        if error.code.as_deref() == Some("RATE_LIMITED") {
            refused = Some(n);
            break;
        }
        assert_eq!(error.field.as_deref(), Some("currentPassword"), "{error:?}");
    }
    let refused = refused.expect("30 wrong passwords in a row are never limited");
    assert!(refused <= 10, "limited only after {refused} guesses");
    let error = thief
        .error(
            ops::DEACTIVATE_ACCOUNT,
            json!({ "password": "another guess" }),
        )
        .await;
    retry_after(&error);
}

async fn repeating_a_mutation_field_without_aliases_is_capped(env: TestEnv) {
    let gql = limited(&env).await;
    let thief = signed_up(&gql).await;
    let field =
        r#"changePassword(currentPassword: "wrong wrong", newPassword: "a brand new password")"#;
    let twenty = format!("mutation {{ {} }}", vec![field; 20].join(" "));
    let response = thief.request(&twenty, json!({})).await;
    assert_eq!(
        response.errors.len(),
        1,
        "refused whole, not run 20 times: {response:?}"
    );
    assert_eq!(response.errors[0].code.as_deref(), Some("BAD_USER_INPUT"));
    assert!(
        response.errors[0].message.contains("fields"),
        "{response:?}"
    );
    // Through fragments too.
    let spread = format!(
        "mutation {{ {} }} fragment F on Mutation {{ {field} }}",
        vec!["...F"; 20].join(" ")
    );
    let response = thief.request(&spread, json!({})).await;
    assert_eq!(response.errors.len(), 1, "{response:?}");
    assert_eq!(response.errors[0].code.as_deref(), Some("BAD_USER_INPUT"));
}

async fn email_changes_are_limited(env: TestEnv) {
    let gql = limited(&env).await;
    let prober = signed_up(&gql).await;
    let mut codes = Vec::new();
    for n in 0..20 {
        let response = prober
            .request(
                ops::UPDATE_PROFILE,
                json!({ "email": format!("probe{n}@example.com") }),
            )
            .await;
        codes.push(response.error_code());
    }
    assert!(
        codes.contains(&Some("RATE_LIMITED".to_string())),
        "20 email changes in a row: {codes:?}"
    );
}
