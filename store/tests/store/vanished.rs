//! A writer that drops off the network in the middle of a transaction. PostgreSQL is
//! not told (no reset, no close), so the locks that session took stay taken until the
//! server gives up on it: the store's sessions ask it to after
//! [`chat_store::IDLE_IN_TRANSACTION`], so the chat's other writers wait that long, not
//! until TCP notices hours later.

use std::time::{Duration, Instant};

use chat_store::{IDLE_IN_TRANSACTION, PoolSize, Store, StoredMessage};
use testkit::env::{Backend, TestDatabase};
use testkit::tcp_proxy::{TcpProxy, url_authority, with_authority};

use crate::{group, message, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_cut_off_holding_a_chats_lock_stalls_the_chat_for_seconds_not_forever() {
    let Some(database) = TestDatabase::new(Backend::Real).await else {
        return;
    };
    let store = Store::connect(&database.url, PoolSize::default())
        .await
        .unwrap();
    let (ann, bo) = (user(&store).await, user(&store).await);
    let chat = group(&store, ann, &[bo]).await;
    // Ann's instance reaches PostgreSQL through a network that is lost right after it
    // locks the chat to write: the first statement it sends with the chat's id (in
    // binary; the statement's text went before, to be prepared) is the one that locks
    // it. In clear text, for the proxy to see it.
    let authority = url_authority(&database.url).expect("a host and port");
    let proxy = TcpProxy::start(authority).await.unwrap();
    let proxied = with_authority(&database.url, &proxy.addr()).unwrap();
    let separator = if proxied.contains('?') { '&' } else { '?' };
    let proxied = format!("{proxied}{separator}sslmode=disable");
    let cut_off = Store::connect(&proxied, PoolSize::default()).await.unwrap();
    proxy.freeze_on(chat.as_uuid().as_bytes());
    let stuck = tokio::spawn(async move {
        cut_off
            .write_messages(&[message(chat, ann, "never sent", None)])
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy.is_down() {
        if stuck.is_finished() {
            panic!(
                "the write ended before it locked the chat: {:?}",
                stuck.await
            );
        }
        assert!(Instant::now() < deadline, "the write never locked the chat");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Bo's write, on another instance, waits for the lock, then goes through.
    let started = Instant::now();
    let written = tokio::time::timeout(
        IDLE_IN_TRANSACTION * 4,
        store.write_messages(&[message(chat, bo, "sent", None)]),
    )
    .await
    .expect("the chat stayed locked by a writer that is gone")
    .unwrap();
    let waited = started.elapsed();
    assert!(
        matches!(&written.outcomes[0], StoredMessage::Created(m) if m.seq == 1),
        "the cut-off write committed nothing: {:?}",
        written.outcomes
    );
    eprintln!("the chat was locked for {waited:?} by a writer that was gone");

    // Back on the network, the cut-off writer learns its write failed.
    proxy.up();
    let outcome = tokio::time::timeout(Duration::from_secs(30), stuck)
        .await
        .expect("the cut-off write never ended")
        .unwrap();
    assert!(outcome.is_err(), "{outcome:?}");
    assert_eq!(store.last_seq(chat).await.unwrap(), Some(1));
}
