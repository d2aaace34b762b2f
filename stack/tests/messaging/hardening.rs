//! Hardening, round two: what a hostile signed-in user could still do, each refused.

use chat_types::ops;
use serde_json::json;
use testkit::{TestEnv, backend_tests};

use crate::support::System;

backend_tests!(reusing_a_client_id_for_other_text_is_a_conflict);

async fn reusing_a_client_id_for_other_text_is_a_conflict(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let send = |content: &str| json!({ "input": { "chatId": chat, "content": content, "clientId": "same-key" } });
    let first = ann.senders[0]
        .data(ops::CREATE_MESSAGE, send("pay Bo 10"))
        .await;
    // The same text again is a retry: the same message.
    let again = ann.senders[1]
        .data(ops::CREATE_MESSAGE, send("pay Bo 10"))
        .await;
    assert_eq!(again["createMessage"]["id"], first["createMessage"]["id"]);
    // Other text under the key is a mistake (or a trick), not a retry.
    let error = ann.senders[1]
        .expect_code(ops::CREATE_MESSAGE, send("pay Bo 1000"), "CONFLICT")
        .await;
    assert_eq!(error.field.as_deref(), Some("clientId"));
    let page = bo.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": chat }))
        .await;
    let texts: Vec<&str> = page["messages"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["pay Bo 10"]);
}
