//! What operators rely on: request ids through every service, and the metrics.

use testkit::{Backend, TestEnv};

use crate::support::System;

#[tokio::test]
async fn every_service_keeps_the_callers_request_id_and_makes_one_otherwise() {
    let Some(env) = TestEnv::new(Backend::Embedded).await else {
        return;
    };
    let system = System::start(&env).await;
    let http = reqwest::Client::new();
    for base in system
        .users
        .iter()
        .chain(&system.senders)
        .chain(&system.receivers)
    {
        let response = http
            .post(format!("{base}/graphql"))
            .header("content-type", "application/json")
            .header("x-request-id", "web-page-42")
            .body(r#"{"query":"{ __typename }"}"#)
            .send()
            .await
            .expect("request");
        assert_eq!(response.headers()["x-request-id"], "web-page-42", "{base}");

        let response = http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("request");
        let made = response.headers()["x-request-id"].to_str().expect("ascii");
        assert!(uuid::Uuid::parse_str(made).is_ok(), "{base}: {made}");
    }
}

#[tokio::test]
async fn metrics_list_requests_subscriptions_bus_and_pool() {
    let Some(env) = TestEnv::new(Backend::Embedded).await else {
        return;
    };
    let system = System::start(&env).await;
    let text = reqwest::get(format!("{}/metrics", system.receivers[0]))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    // OpenMetrics names a counter's family without `_total`; its samples have it.
    for (family, kind) in [
        ("chat_http_responses", "counter"),
        ("chat_graphql_operations", "counter"),
        ("chat_ws_connections", "gauge"),
        ("chat_subscriptions", "gauge"),
        ("chat_bus_published", "counter"),
        ("chat_bus_reconnects", "counter"),
        ("chat_db_pool_connections", "gauge"),
        ("chat_tokio_tasks", "gauge"),
        ("chat_hub_deliveries", "counter"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} {kind}\n")),
            "{family} missing:\n{text}"
        );
    }
    assert!(
        text.contains("chat_http_responses_total{class=\"2xx\"} "),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}
