//! Redis dies while messages flow; nothing is lost and no send fails.

use std::time::Duration;

use chat_types::ops;
use serde_json::json;
use testkit::redis_server::RedisServer;
use testkit::{Backend, TestEnv};

use crate::support::{System, collect_seqs, message_added};

/// Two instances of each service on PostgreSQL and a Redis of the test's own, which it
/// may kill (`None` where either is missing, outside CI).
async fn on_own_redis() -> Option<(TestEnv, RedisServer, System)> {
    let env = TestEnv::new(Backend::Real).await?;
    let redis = RedisServer::start().await?;
    let mut states = Vec::new();
    for _ in 0..6 {
        states.push(env.instance_on_redis(&redis.url()).await);
    }
    let system = System::on(states).await;
    Some((env, redis, system))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_loses_no_message() {
    const MESSAGES: usize = 200;
    let Some((_env, mut redis, system)) = on_own_redis().await else {
        return;
    };
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let carol = system.register("carol", 0).await;
    let chat = alice.group("outage", &[&bob, &carol]).await;
    let bob_socket = bob.socket(&system, 0).await;
    let carol_socket = carol.socket(&system, 1).await;
    let mut subscriptions = [
        message_added(&bob_socket, &chat, None),
        message_added(&carol_socket, &chat, None),
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;

    let writer = {
        let senders = alice.senders.clone();
        let chat = chat.clone();
        async move {
            for i in 0..MESSAGES {
                let variables = json!({ "input": { "chatId": chat, "content": format!("m{i}"), "clientId": format!("m{i}") } });
                // Every send succeeds: the bus is not on the write path.
                senders[i % 2].data(ops::CREATE_MESSAGE, variables).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let outage = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        redis.kill();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        redis.restart().await;
    };
    let readers = async {
        let [first, second] = &mut subscriptions;
        tokio::join!(
            collect_seqs(first, MESSAGES),
            collect_seqs(second, MESSAGES)
        )
    };
    let (_, _, (first, second)) = tokio::join!(writer, outage, readers);
    let expected: Vec<i64> = (1..=MESSAGES as i64).collect();
    assert_eq!(first, expected);
    assert_eq!(second, expected);
    for subscription in &mut subscriptions {
        subscription
            .expect_silence(Duration::from_millis(300))
            .await;
    }
}

/// An edit and a delete made while Redis is down are committed (the bus is not on the
/// write path) and reach subscribers on both receivers, once, from the chat's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_deletes_made_while_redis_is_down_arrive() {
    let Some((_env, mut redis, system)) = on_own_redis().await else {
        return;
    };
    let alice = system.register("alice", 0).await;
    let bob = system.register("bob", 1).await;
    let chat = alice.direct_chat(&bob, 0).await;
    let kept = alice.send(&chat, "kept", 0).await["id"].clone();
    let gone = alice.send(&chat, "gone", 1).await["id"].clone();
    let sockets = [bob.socket(&system, 0).await, bob.socket(&system, 1).await];
    let mut logs: Vec<_> = sockets
        .iter()
        .map(|socket| {
            socket.subscribe(
                ops::CHAT_EVENTS,
                json!({ "chatId": chat, "afterEventSeq": 0 }),
            )
        })
        .collect();
    // Live on both receivers once an edit made with Redis up has come through.
    alice.senders[0]
        .data(
            ops::UPDATE_MESSAGE,
            json!({ "id": kept, "content": "kept?" }),
        )
        .await;
    for log in &mut logs {
        assert_eq!(log.next_data().await["chatEvents"]["kind"], "EDITED");
    }

    redis.kill();
    alice.senders[1]
        .data(
            ops::UPDATE_MESSAGE,
            json!({ "id": kept, "content": "kept, edited" }),
        )
        .await;
    alice.senders[0]
        .data(ops::REMOVE_MESSAGE, json!({ "id": gone }))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.restart().await;

    for log in &mut logs {
        let edited = log.next_data().await["chatEvents"].clone();
        assert_eq!(edited["kind"], "EDITED");
        assert_eq!(edited["message"]["content"], "kept, edited");
        let deleted = log.next_data().await["chatEvents"].clone();
        assert_eq!(deleted["kind"], "DELETED");
        assert_eq!(deleted["message"]["id"], gone);
        assert_eq!(
            deleted["eventSeq"],
            edited["eventSeq"].as_i64().unwrap() + 1
        );
    }
    for log in &mut logs {
        log.expect_silence(Duration::from_millis(500)).await;
    }
}
