//! Redis dies while messages flow; nothing is lost and no send fails.

use std::time::Duration;

use chat_types::ops;
use serde_json::json;
use testkit::redis_server::RedisServer;
use testkit::{Backend, TestEnv};

use crate::support::{System, collect_seqs, message_added};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_loses_no_message() {
    const MESSAGES: usize = 200;
    let Some(env) = TestEnv::new(Backend::Real).await else {
        return;
    };
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let mut states = Vec::new();
    for _ in 0..6 {
        states.push(env.instance_on_redis(&redis.url()).await);
    }
    let system = System::on(states).await;
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
