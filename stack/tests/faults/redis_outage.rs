//! Redis is killed while messages flow, and started again: no send fails (the bus is
//! not on the write path) and every subscriber still gets every message once, in order
//! (the receivers backfill from the database when their bus connection is back).

use crate::support::{Options, WAIT_LIMIT, World, bounded, eventually, wait_live};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_fails_no_send_and_loses_no_message() {
    bounded("redis killed and restarted", async {
        let Some(mut world) = World::start(Options {
            own_redis: true,
            ..Options::default()
        })
        .await
        else {
            return;
        };
        let group = world.group().await;
        let followers = vec![
            world.follow("bob@receiver0", &group.bob, &group.chat, 0),
            world.follow("carol@receiver0", &group.carol, &group.chat, 0),
            world.follow("bob@receiver1", &group.bob, &group.chat, 1),
            world.follow("carol@receiver1", &group.carol, &group.chat, 1),
        ];
        let traffic = world.traffic(&group, 2);
        wait_live(&followers, 20).await;

        world.redis.as_mut().expect("own redis").kill();
        // The instances notice: their bus is down.
        for receiver in world.receiver_urls() {
            eventually("a receiver says it is not ready", WAIT_LIMIT, || async {
                world.readyz(&receiver).await.0 == Some(503)
            })
            .await;
        }
        traffic.wait_for_more("while Redis is down", 200).await;
        let delivered_while_down: Vec<i64> = followers.iter().map(|f| f.last()).collect();

        world.redis.as_mut().expect("own redis").restart().await;
        traffic.wait_for_more("after Redis is back", 60).await;
        let sent = traffic.finish().await;

        sent.assert_none_failed();
        let n = sent.count();
        for seen in world.check_history(&group, &sent, followers, 0).await {
            assert_eq!(
                seen.connections.len(),
                1,
                "{} had to reconnect: {:?}",
                seen.name,
                seen.interruptions
            );
        }
        // The receivers' bus connections were really lost and restored.
        for receiver in world.receiver_urls() {
            let reconnects = world.metric(&receiver, "chat_bus_reconnects_total").await;
            assert!(
                reconnects.is_some_and(|r| r >= 1.0),
                "{receiver}: chat_bus_reconnects_total = {reconnects:?}"
            );
        }
        eprintln!(
            "{n} messages, {} edits and reactions; subscribers had reached {delivered_while_down:?} when Redis came back",
            sent.changes
        );
    })
    .await;
}
