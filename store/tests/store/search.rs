//! Searching: the two ways of asking PostgreSQL, and SQLite looking only in the
//! searcher's chats.

use std::time::Duration;

use chat_store::{PoolSize, SearchPlan, Store, StoredMessage};
use chat_types::search::SearchQuery;
use testkit::env::{Backend, TestDatabase};

use crate::{group, message, user};

/// PostgreSQL is asked for a search one of two ways, chosen by how common its words
/// are; both find the same messages in the same order, page by page.
#[tokio::test]
async fn both_ways_of_searching_postgres_find_the_same() {
    let Some(database) = TestDatabase::new(Backend::Real).await else {
        return;
    };
    let store = Store::connect(&database.url, PoolSize::default())
        .await
        .unwrap();
    let (ann, bo, cy) = (user(&store).await, user(&store).await, user(&store).await);
    let (ours, hers, theirs) = (
        group(&store, ann, &[bo]).await,
        group(&store, ann, &[]).await,
        group(&store, bo, &[cy]).await,
    );
    let mut batch = Vec::new();
    for n in 0..40 {
        let chat = [ours, hers, theirs][n % 3];
        let words = [
            "deploy the release",
            "release notes",
            "lunch",
            "deployment done",
        ];
        batch.push(message(
            chat,
            if chat == theirs { bo } else { ann },
            words[n % 4],
            None,
        ));
    }
    let written = store.write_messages(&batch).await.unwrap();
    let ids: Vec<_> = written
        .outcomes
        .iter()
        .filter_map(|o| match o {
            StoredMessage::Created(m) => Some(m.id),
            _ => None,
        })
        .collect();
    store.delete_message(ids[0], ann).await.unwrap();
    // "deployment done", in ours.
    store
        .edit_message(ids[3], ann, "lunch after all", &[], false)
        .await
        .unwrap();

    for (words, chat) in [
        ("deplo", None),
        ("release", None),
        ("release deploy", None),
        ("lunch", Some(ours)),
        ("lunch", Some(theirs)),
        ("nothing", None),
    ] {
        let query = SearchQuery::parse(words).unwrap();
        let mut pages = Vec::new();
        for plan in [SearchPlan::Flat, SearchPlan::PerChat, SearchPlan::Estimated] {
            let (mut found, mut after) = (Vec::new(), None);
            loop {
                let page = store
                    .search_messages_by(plan, ann, &query, chat, 4, after)
                    .await
                    .unwrap();
                found.extend(page.messages.iter().map(|m| m.id));
                after = page.messages.last().map(|m| m.id);
                if !page.has_more {
                    break;
                }
            }
            pages.push(found);
        }
        assert_eq!(pages[0], pages[1], "{words:?} in {chat:?}");
        assert_eq!(pages[0], pages[2], "{words:?} in {chat:?}");
        if words == "deplo" {
            assert!(!pages[0].contains(&ids[0]), "deleted: never found");
            assert!(
                !pages[0].contains(&ids[3]),
                "edited: found by its text now…"
            );
            assert!(pages[0].len() > 4, "more than a page");
        }
        if chat == Some(ours) {
            assert!(pages[0].contains(&ids[3]), "…which is lunch");
        }
        if chat == Some(theirs) {
            assert!(pages[0].is_empty(), "not her chat");
        }
    }
}

/// SQLite's index is asked for the searcher's chats and the words at once, so matches
/// in chats they are not in cost their search nothing: with 200,000 of them elsewhere
/// it fits in 100 ms (reading those matches first, as it once did, took seconds). A
/// one-letter word is matched whole, not as the start of every word.
#[tokio::test]
async fn matches_in_other_peoples_chats_cost_a_sqlite_search_nothing() {
    let database = TestDatabase::new(Backend::Embedded).await.unwrap();
    let store = Store::connect(&database.url, PoolSize::default())
        .await
        .unwrap()
        .with_search_budget(Duration::from_millis(100));
    let (ann, bo) = (user(&store).await, user(&store).await);
    let (mine, theirs) = (group(&store, ann, &[]).await, group(&store, bo, &[]).await);
    let pool = sqlx::SqlitePool::connect(&database.url).await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) \
         INSERT INTO messages (id, chat_id, seq, sender_id, content, created_at) \
         SELECT randomblob(16), $1, i, $2, 'alpha apple a ' || i, datetime('now') FROM n",
    )
    .bind(theirs.as_uuid())
    .bind(bo.as_uuid())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    store
        .write_messages(&[message(mine, ann, "alpha here, and a word", None)])
        .await
        .unwrap();

    for (words, found) in [("alpha", 1), ("al", 1), ("a", 1), ("apple", 0)] {
        let page = store
            .search_messages(ann, &SearchQuery::parse(words).unwrap(), None, 20, None)
            .await
            .unwrap_or_else(|e| panic!("{words:?}: {e}"));
        assert_eq!(page.messages.len(), found, "{words:?}");
    }
    // Bo's own chat is read newest first and stops at a page.
    let page = store
        .search_messages(bo, &SearchQuery::parse("alpha").unwrap(), None, 20, None)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 20);
    assert!(page.has_more);
    assert_eq!(page.messages[0].content, "alpha apple a 200000");
}
