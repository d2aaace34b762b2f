//! Searching messages: by the starts of words, in the chats you are in now and no
//! others, never a deleted message, an edited one by its text now, page by page.

use chat_types::ops;
use serde_json::{Value, json};
use testkit::{Gql, TestEnv, database_tests};

use crate::support::System;

database_tests!(
    a_search_finds_words_by_their_start_newest_first_in_your_chats_only,
    deleted_messages_are_not_found_and_edited_ones_by_their_text_now,
    results_come_page_by_page_newest_first,
    a_search_without_words_or_out_of_bounds_is_refused,
);

/// `searchMessages` as `receiver`'s user.
async fn search(receiver: &Gql, query: &str, chat: Option<&str>) -> Value {
    receiver
        .data(
            ops::SEARCH_MESSAGES,
            json!({ "query": query, "chatId": chat }),
        )
        .await["searchMessages"]
        .clone()
}

/// The contents of the messages a search found, in its order.
fn found(results: &Value) -> Vec<String> {
    results["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["message"]["content"].as_str().unwrap().to_string())
        .collect()
}

async fn a_search_finds_words_by_their_start_newest_first_in_your_chats_only(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let dee = system.register("dee", 1).await;
    let group = ann.group("Ops", &[&bo]).await;
    let with_cy = ann.direct_chat(&cy, 0).await;
    let theirs = cy.direct_chat(&dee, 1).await;
    ann.send(&group, "Ready to deploy tonight", 0).await;
    bo.send(&group, "the **deployment** went fine", 1).await;
    ann.send(&with_cy, "Redeploy later?", 1).await;
    cy.send(&theirs, "deploy the secret plans", 0).await;

    // Whatever the case, by the start of a word ("redeploy" does not start with it),
    // newest first, on either receiver.
    let results = search(&ann.receivers[1], "DEPLO", None).await;
    assert_eq!(
        found(&results),
        ["the **deployment** went fine", "Ready to deploy tonight"]
    );
    assert_eq!(results["hasMore"], false);
    assert_eq!(
        results["hits"][0]["snippet"],
        json!([
            { "text": "the ", "hit": false },
            { "text": "deployment", "hit": true },
            { "text": " went fine", "hit": false },
        ]),
        "the snippet is plain text with the match marked"
    );
    assert_eq!(results["hits"][0]["message"]["chatId"], group.as_str());
    // Two words: both must begin words of the message.
    assert_eq!(
        found(&search(&ann.receivers[0], "tonight read", None).await),
        ["Ready to deploy tonight"]
    );
    // Cy finds the chat with Dee, not the group he is not in.
    assert_eq!(
        found(&search(&cy.receivers[0], "deploy", None).await),
        ["deploy the secret plans"]
    );
    // One chat only; one that is not yours is refused, not searched.
    assert!(found(&search(&ann.receivers[0], "deploy", Some(&with_cy)).await).is_empty());
    ann.receivers[1]
        .expect_code(
            ops::SEARCH_MESSAGES,
            json!({ "query": "deploy", "chatId": theirs }),
            "FORBIDDEN",
        )
        .await;

    // Who may see what is read from the database: once Bo has left, the group's
    // messages are no longer his to find.
    bo.senders[0]
        .data(
            ops::REMOVE_PARTICIPANT,
            json!({ "chatId": group, "userId": bo.id }),
        )
        .await;
    assert!(found(&search(&bo.receivers[1], "deploy", None).await).is_empty());
}

async fn deleted_messages_are_not_found_and_edited_ones_by_their_text_now(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let first = ann.send(&chat, "alpha one", 0).await;
    let second = ann.send(&chat, "alpha two", 1).await;
    ann.senders[0]
        .data(
            ops::UPDATE_MESSAGE,
            json!({ "id": second["id"], "content": "beta two" }),
        )
        .await;
    ann.senders[1]
        .data(ops::REMOVE_MESSAGE, json!({ "id": first["id"] }))
        .await;

    assert!(found(&search(&bo.receivers[0], "alpha", None).await).is_empty());
    assert_eq!(
        found(&search(&bo.receivers[1], "beta", None).await),
        ["beta two"]
    );
    assert_eq!(
        found(&search(&ann.receivers[0], "two", None).await),
        ["beta two"]
    );
}

async fn results_come_page_by_page_newest_first(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    for n in 1..=5 {
        ann.send(&chat, &format!("note {n}"), n % 2).await;
    }
    let page = |after: Option<Value>| {
        let receiver = bo.receivers[0].clone();
        async move {
            receiver
                .data(
                    ops::SEARCH_MESSAGES,
                    json!({ "query": "note", "first": 2, "after": after }),
                )
                .await["searchMessages"]
                .clone()
        }
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let results = page(after).await;
        seen.push(found(&results));
        if results["hasMore"] == false {
            break;
        }
        after = Some(results["endCursor"].clone());
    }
    assert_eq!(
        seen,
        [
            vec!["note 5", "note 4"],
            vec!["note 3", "note 2"],
            vec!["note 1"]
        ]
    );
}

async fn a_search_without_words_or_out_of_bounds_is_refused(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    for (variables, field) in [
        (json!({ "query": "  !?— " }), "query"),
        (json!({ "query": "x".repeat(201) }), "query"),
        (json!({ "query": "a b c d e f g h i" }), "query"),
        (json!({ "query": "deploy", "first": 0 }), "first"),
        (json!({ "query": "deploy", "first": 51 }), "first"),
    ] {
        let error = ann.receivers[0]
            .expect_code(ops::SEARCH_MESSAGES, variables, "BAD_USER_INPUT")
            .await;
        assert_eq!(error.field.as_deref(), Some(field));
    }
    Gql::new(&system.receivers[1])
        .expect_code(
            ops::SEARCH_MESSAGES,
            json!({ "query": "deploy" }),
            "UNAUTHENTICATED",
        )
        .await;
}
