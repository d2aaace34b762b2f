//! The store on both databases: migrations under concurrency, message batches with
//! their seqs, idempotency and unread counts, read watermarks.

use chat_store::{
    BlobStore, NewChat, NewMessage, NewUser, PoolSize, S3Blobs, Started, Store, StoredMessage,
};
use chat_types::{ChatId, ChatKind, UserId};
use futures::TryStreamExt;
use testkit::env::{Backend, TestDatabase};
use testkit::s3_server::S3Server;
use testkit::unique;

mod search;
mod tls;
mod uploads;
mod vanished;

pub(crate) async fn each_database() -> Vec<TestDatabase> {
    let mut databases = vec![TestDatabase::new(Backend::Embedded).await.unwrap()];
    databases.extend(TestDatabase::new(Backend::Real).await);
    databases
}

pub(crate) async fn user(store: &Store) -> UserId {
    let name = unique("u");
    store
        .create_user(NewUser {
            username: &name,
            email: &format!("{name}@example.com"),
            display_name: &name,
            password_hash: "not-a-real-hash",
        })
        .await
        .unwrap()
        .user_id()
}

/// A group of `owner`'s with `others`, which each of them accepts (people who know
/// each other; a stranger's group is a request until accepted).
pub(crate) async fn group(store: &Store, owner: UserId, others: &[UserId]) -> ChatId {
    let chat = store
        .create_chat(NewChat {
            kind: ChatKind::Group,
            name: Some("team"),
            description: None,
            created_by: owner,
            others,
        })
        .await
        .unwrap()
        .id();
    for other in others {
        store.accept_chat(chat, *other).await.unwrap();
    }
    chat
}

pub(crate) fn message(
    chat: ChatId,
    sender: UserId,
    text: &str,
    client_id: Option<&str>,
) -> NewMessage {
    NewMessage {
        chat_id: chat,
        sender_id: sender,
        content: text.to_string(),
        client_id: client_id.map(str::to_string),
        reply_to: None,
        mentions: Vec::new(),
        mentions_all: false,
        attachments: Vec::new(),
    }
}

#[tokio::test]
async fn instances_starting_together_migrate_once_without_error() {
    for database in each_database().await {
        let starts = (0..4).map(|_| Store::connect(&database.url, PoolSize { max_connections: 2 }));
        for result in futures::future::join_all(starts).await {
            result.expect("every instance starts");
        }
        // And once more, when everything is already there.
        Store::connect(&database.url, PoolSize::default())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn batches_take_consecutive_seqs_and_count_unread_for_everyone_else() {
    for database in each_database().await {
        let store = Store::connect(&database.url, PoolSize::default())
            .await
            .unwrap();
        let (a, b, c) = (user(&store).await, user(&store).await, user(&store).await);
        let chat = group(&store, a, &[b, c]).await;
        let batch = [
            message(chat, a, "one", Some("a-1")),
            message(chat, b, "two", None),
            message(chat, a, "three", Some("a-2")),
            message(chat, a, "one", Some("a-1")),
        ];
        let written = store.write_messages(&batch).await.unwrap();
        let seqs: Vec<i64> = written
            .outcomes
            .iter()
            .map(|o| match o {
                StoredMessage::Created(m) | StoredMessage::Existing(m) => m.seq,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            seqs,
            [1, 2, 3, 1],
            "the retry in the same batch gets the first's seq"
        );
        assert!(matches!(written.outcomes[3], StoredMessage::Existing(_)));

        let unread = |user: UserId| {
            let store = store.clone();
            async move { store.unread_count(chat, user).await.unwrap().unwrap() }
        };
        // a wrote last (seq 3): nothing unread; b wrote seq 2, a wrote 3 after it.
        assert_eq!(unread(a).await.unread_count, 0);
        assert_eq!(unread(a).await.last_read_seq, 3);
        assert_eq!(unread(b).await.unread_count, 1);
        assert_eq!(unread(c).await.unread_count, 3);

        let retried = store
            .write_messages(&[message(chat, a, "three", Some("a-2"))])
            .await
            .unwrap();
        assert!(matches!(&retried.outcomes[0], StoredMessage::Existing(m) if m.seq == 3));
        assert_eq!(store.last_seq(chat).await.unwrap(), Some(3));
        assert_eq!(unread(c).await.unread_count, 3, "a retry counts nothing");

        let (count, moved) = store.mark_read(chat, c, Some(2)).await.unwrap().unwrap();
        assert_eq!((count.unread_count, count.last_read_seq), (1, 2));
        assert!(moved.is_some());
        let (count, moved) = store.mark_read(chat, c, Some(1)).await.unwrap().unwrap();
        assert_eq!(
            (count.unread_count, count.last_read_seq),
            (1, 2),
            "never backwards"
        );
        assert!(moved.is_none());
        let (count, _) = store.mark_read(chat, c, None).await.unwrap().unwrap();
        assert_eq!((count.unread_count, count.last_read_seq), (0, 3));
    }
}

#[tokio::test]
async fn outsiders_and_unknown_chats_write_nothing() {
    for database in each_database().await {
        let store = Store::connect(&database.url, PoolSize::default())
            .await
            .unwrap();
        let (a, b, outsider) = (user(&store).await, user(&store).await, user(&store).await);
        let chat = group(&store, a, &[b]).await;
        let written = store
            .write_messages(&[
                message(chat, outsider, "let me in", None),
                message(ChatId(uuid::Uuid::now_v7()), a, "nowhere", None),
            ])
            .await
            .unwrap();
        assert_eq!(
            written.outcomes,
            [StoredMessage::NotParticipant, StoredMessage::ChatNotFound]
        );
        assert_eq!(store.last_seq(chat).await.unwrap(), Some(0));
        assert_eq!(
            store
                .unread_count(chat, b)
                .await
                .unwrap()
                .unwrap()
                .unread_count,
            0
        );
    }
}

#[tokio::test]
async fn concurrent_writers_leave_no_gaps() {
    for database in each_database().await {
        let store = Store::connect(&database.url, PoolSize::default())
            .await
            .unwrap();
        let (a, b) = (user(&store).await, user(&store).await);
        let chat = group(&store, a, &[b]).await;
        let writers = (0..4).map(|w| {
            let store = store.clone();
            async move {
                for i in 0..25 {
                    let sender = if w % 2 == 0 { a } else { b };
                    let id = format!("w{w}-{i}");
                    store
                        .write_messages(&[message(chat, sender, &id, Some(&id))])
                        .await
                        .unwrap();
                }
            }
        });
        futures::future::join_all(writers).await;
        let all = store.messages_between(chat, 0, i64::MAX).await.unwrap();
        let seqs: Vec<i64> = all.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_direct_chat_is_created_once_per_pair() {
    for database in each_database().await {
        let store = Store::connect(&database.url, PoolSize::default())
            .await
            .unwrap();
        let (a, b) = (user(&store).await, user(&store).await);
        let direct = |from: UserId, to: UserId| {
            let store = store.clone();
            async move {
                store
                    .create_chat(NewChat {
                        kind: ChatKind::Direct,
                        name: None,
                        description: None,
                        created_by: from,
                        others: &[to],
                    })
                    .await
                    .unwrap()
            }
        };
        let Started::Created(first) = direct(a, b).await else {
            panic!("a new chat");
        };
        // Asked again, from either side: the same chat (which b, who had it as a
        // request, accepts by starting it).
        assert_eq!(
            direct(b, a).await,
            Started::Existing {
                id: first,
                accepted: true
            }
        );
        assert_eq!(
            direct(a, b).await,
            Started::Existing {
                id: first,
                accepted: false
            }
        );
        assert_eq!(store.chats_for(a).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn unread_counts_are_the_chat_end_minus_each_watermark_everywhere() {
    for database in each_database().await {
        let store = Store::connect(&database.url, PoolSize::default())
            .await
            .unwrap();
        let (a, b, c) = (user(&store).await, user(&store).await, user(&store).await);
        let chat = group(&store, a, &[b, c]).await;
        // Others write to a (separate batches, as separate requests would).
        for (sender, text) in [(b, "one"), (b, "two"), (c, "three")] {
            store
                .write_messages(&[message(chat, sender, text, None)])
                .await
                .unwrap();
        }
        // a replies: a's watermark moves to the reply, the others get one more.
        let reply = store
            .write_messages(&[message(chat, a, "four", None)])
            .await
            .unwrap();
        let mut from_batch: Vec<(UserId, i64, i64)> = reply
            .unread
            .iter()
            .map(|u| (u.user_id, u.unread_count, u.last_read_seq))
            .collect();
        from_batch.sort();
        let mut expected = vec![(a, 0, 4), (b, 2, 2), (c, 1, 3)];
        expected.sort();
        assert_eq!(from_batch, expected, "the batch reports everyone's count");

        // b catches up.
        let (count, moved) = store.mark_read(chat, b, None).await.unwrap().unwrap();
        assert_eq!((count.unread_count, count.last_read_seq), (0, 4));
        assert!(moved.is_some());

        let expected = [(a, 0), (b, 0), (c, 1)];
        let by_user = store.unread_by_user(chat).await.unwrap();
        assert_eq!(by_user.len(), 3);
        let shown = store.chat(chat, None).await.unwrap().unwrap();
        assert_eq!(shown.last_seq, 4);
        for (who, n) in expected {
            // The rule: the chat's end minus the participant's watermark.
            let watermark = shown
                .participants
                .iter()
                .find(|p| p.user.id == who)
                .unwrap()
                .last_read_seq;
            assert_eq!(shown.last_seq - watermark, n);
            assert_eq!(by_user[&who], n);
            let one = store.unread_count(chat, who).await.unwrap().unwrap();
            assert_eq!((one.unread_count, one.last_read_seq), (n, watermark));
            let all = store.unread_counts(who).await.unwrap();
            assert_eq!(all.len(), 1);
            assert_eq!(all[0].unread_count, n);
            let viewed = store.chat(chat, Some(who)).await.unwrap().unwrap();
            assert_eq!(viewed.unread_count, n);
            let list = store.chats_for(who).await.unwrap();
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].unread_count, n, "the chats list agrees");
        }

        // A newcomer starts with nothing unread and counts what comes after.
        let d = user(&store).await;
        let added = store.add_participants(chat, a, &[d]).await.unwrap();
        assert_eq!(added.iter().map(|(u, _)| *u).collect::<Vec<_>>(), [d]);
        assert_eq!(store.chats_for(d).await.unwrap()[0].unread_count, 0);
        store
            .write_messages(&[message(chat, c, "five", None)])
            .await
            .unwrap();
        assert_eq!(store.chats_for(d).await.unwrap()[0].unread_count, 1);
        assert_eq!(store.unread_by_user(chat).await.unwrap()[&a], 1);
        assert_eq!(store.unread_by_user(chat).await.unwrap()[&c], 0);

        // Whoever leaves has no count any more.
        store.remove_participant(chat, d, d).await.unwrap();
        assert!(store.unread_count(chat, d).await.unwrap().is_none());
        assert!(!store.unread_by_user(chat).await.unwrap().contains_key(&d));
    }
}

/// The embedded database holds password hashes and every message: only its owner may
/// read it, its write-ahead log included.
#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}/chat.db", data.display());
    let store = Store::connect(&url, PoolSize::default()).await.unwrap();
    user(&store).await;
    let mode = |name: &str| {
        std::fs::metadata(data.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("chat.db"), 0o600);
    assert_eq!(mode("chat.db-wal"), 0o600);
    assert_eq!(mode("chat.db.lock"), 0o600);
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
    store.close().await;
}

/// `--database-url postgres://…/chat` on a server without that database: it is
/// created, as `createdb` would, and migrated.
#[tokio::test]
async fn a_missing_postgres_database_is_created() {
    let Some(admin) = TestDatabase::new(Backend::Real).await else {
        return;
    };
    let name = unique("created_").to_lowercase();
    let url = match admin.url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => return,
    };
    let store = Store::connect(&url, PoolSize::default()).await.unwrap();
    user(&store).await;
    store.close().await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin.url)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// How many of the chat's logged edits still hold the content they set or the one
/// they replaced.
async fn edit_versions_kept(url: &str, chat: ChatId) -> i64 {
    /// The count, over a connection of type `$connection`.
    macro_rules! count_on {
        ($connection:ty) => {{
            let mut conn = <$connection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            let (count,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM chat_events \
                 WHERE chat_id = $1 AND kind = 'edited' \
                 AND (detail IS NOT NULL OR previous IS NOT NULL)",
            )
            .bind(chat.as_uuid())
            .fetch_one(&mut conn)
            .await
            .unwrap();
            count
        }};
    }
    if url.starts_with("sqlite:") {
        count_on!(sqlx::SqliteConnection)
    } else {
        count_on!(sqlx::PgConnection)
    }
}

/// Edits and deletes are logged in the chat with the next event seqs, each with its
/// message as it is now; a delete takes the content of the earlier versions with it.
#[tokio::test]
async fn edits_and_deletes_are_logged_and_a_delete_leaves_no_earlier_version() {
    for database in each_database().await {
        let store = Store::connect(&database.url, PoolSize::default())
            .await
            .unwrap();
        let (ann, bo) = (user(&store).await, user(&store).await);
        let chat = group(&store, ann, &[bo]).await;
        let written = store
            .write_messages(&[message(chat, ann, "first draft", None)])
            .await
            .unwrap();
        let StoredMessage::Created(sent) = &written.outcomes[0] else {
            panic!("not stored: {:?}", written.outcomes[0]);
        };
        let (_, first) = store
            .edit_message(sent.id, ann, "second draft", &[], false)
            .await
            .unwrap();
        let (edited, second) = store
            .edit_message(sent.id, ann, "final", &[], false)
            .await
            .unwrap();
        assert_eq!(edited.content, "final");
        assert_eq!(second, first + 1);
        assert_eq!(edit_versions_kept(&database.url, chat).await, 2);
        // Someone else's message is not theirs to change, and nothing is logged.
        assert!(
            store
                .edit_message(sent.id, bo, "mine now", &[], false)
                .await
                .is_err()
        );

        let (tombstone, deleted, _) = store.delete_message(sent.id, ann).await.unwrap();
        assert_eq!(deleted, Some(second + 1));
        assert_eq!(tombstone.content, "");
        assert_eq!(edit_versions_kept(&database.url, chat).await, 0);
        // Deleting again changes and logs nothing.
        assert_eq!(store.delete_message(sent.id, ann).await.unwrap().1, None);

        let logged = store.chat_events_after(chat, first - 1, 10).await.unwrap();
        let kinds: Vec<_> = logged.iter().map(|e| (e.event_seq, e.kind)).collect();
        use chat_types::ChatEventKind::{Deleted, Edited};
        assert_eq!(
            kinds,
            [(first, Edited), (second, Edited), (second + 1, Deleted)]
        );
        for event in &logged {
            assert_eq!(event.message.as_ref(), Some(&tombstone), "as it is now");
            assert_eq!(event.name, None, "an edit's content is not a name");
        }
        // The timeline shows them on the message, not as lines of their own.
        let among = store.chat_events_among(chat, None, None).await.unwrap();
        assert!(among.iter().all(|e| !e.kind.changes_a_message()));
        store.close().await;
    }
}

/// The default blob store of each backend (a folder beside the SQLite file;
/// PostgreSQL's `blobs` table) does what every blob store must.
#[tokio::test]
async fn each_backend_keeps_blobs() {
    for db in each_database().await {
        let store = Store::connect(&db.url, PoolSize::default()).await.unwrap();
        keeps_blobs(&*store.default_blobs()).await;
    }
}

/// So does an S3 bucket (on a local S3-compatible server): and two prefixes of one
/// bucket are two stores.
#[tokio::test]
async fn an_s3_bucket_keeps_blobs() {
    let Some(server) = S3Server::start().await else {
        return;
    };
    let blobs = server.blobs("chat/files");
    blobs.check().await.unwrap();
    keeps_blobs(&blobs).await;
    let neighbour = server.blobs("other");
    neighbour.put("theirs", b"x".to_vec()).await.unwrap();
    assert_eq!(blobs.keys().await.unwrap(), ["a-1.thumbnail"]);
    assert_eq!(neighbour.get("a-1.thumbnail").await.unwrap(), None);
}

/// A bucket that is not there, or a server that does not answer, is found by the
/// start-up check, with the bucket named.
#[tokio::test]
async fn an_s3_store_that_cannot_be_used_fails_its_check() {
    let Some(server) = S3Server::start().await else {
        return;
    };
    let missing = server.blobs_in("no-such-bucket", "");
    let error = missing.check().await.unwrap_err().to_string();
    assert!(error.contains("s3://no-such-bucket/"), "{error}");
    assert!(missing.put("a", vec![1]).await.is_err());
    assert!(
        S3Blobs::new("http://bucket", []).is_err(),
        "not an s3:// URL"
    );
    assert!(S3Blobs::new("s3:///prefix", []).is_err(), "no bucket");
}

/// What every blob store must do.
async fn keeps_blobs(blobs: &dyn BlobStore) {
    assert_eq!(blobs.get("missing").await.unwrap(), None);
    blobs.put("a-1", b"first".to_vec()).await.unwrap();
    blobs.put("a-1.thumbnail", vec![0, 1, 2]).await.unwrap();
    assert_eq!(
        blobs.get("a-1").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    blobs.put("a-1", b"second".to_vec()).await.unwrap();
    assert_eq!(
        blobs.get("a-1").await.unwrap().as_deref(),
        Some(&b"second"[..])
    );
    assert_eq!(
        blobs.get("a-1.thumbnail").await.unwrap(),
        Some(vec![0, 1, 2])
    );
    let mut keys = blobs.keys().await.unwrap();
    keys.sort();
    assert_eq!(keys, ["a-1", "a-1.thumbnail"], "nothing partial left");
    // Opened as a stream, piece by piece: the same bytes.
    let big: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
    blobs.put("a-2", big.clone()).await.unwrap();
    let pieces: Vec<_> = blobs
        .open("a-2")
        .await
        .unwrap()
        .expect("there")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pieces.concat(), big);
    assert!(blobs.open("missing").await.unwrap().is_none());
    blobs.delete("a-2").await.unwrap();
    blobs.delete("a-1").await.unwrap();
    blobs.delete("a-1").await.unwrap();
    assert_eq!(blobs.get("a-1").await.unwrap(), None);
    for bad in ["", "../x", ".hidden", "a/b", "a b"] {
        assert!(blobs.put(bad, vec![]).await.is_err(), "{bad:?}");
        assert!(blobs.get(bad).await.is_err(), "{bad:?}");
    }
}
