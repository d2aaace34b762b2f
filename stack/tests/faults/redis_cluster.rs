//! The bus on a Redis Cluster (three masters with a replica each), while messages flow:
//! a master is killed and its replica takes over, or the chat's slot is moved to
//! another master. No send fails, and every subscriber still gets every message once,
//! in order: the receivers resubscribe where the slot went and catch up from the
//! database what the bus dropped meanwhile.

use chat_bus::DEFAULT_PARTITIONS;
use chat_bus::cluster::partition;
use chat_types::{ChatId, Topic};
use std::time::Duration;

use crate::support::{Group, Options, World, bounded, wait_live};

/// The master serving the chat's topic now, and its slot.
fn chat_slot(world: &World, group: &Group, prefix: &str) -> (u16, u16) {
    let chat: ChatId = group.chat.parse().expect("a chat id");
    let channel = partition::channel(prefix, &Topic::Chat(chat), DEFAULT_PARTITIONS);
    let slot = partition::slot(&channel);
    let cluster = world.redis_cluster.as_ref().expect("own cluster");
    (cluster.master_of(slot), slot)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_failing_over_loses_no_message() {
    bounded("a Redis Cluster master failing over", async {
        let Some(mut world) = World::start(Options {
            own_redis_cluster: true,
            ..Options::default()
        })
        .await
        else {
            return;
        };
        let group = world.group().await;
        let (master, _) = chat_slot(&world, &group, &world.bus_prefix);
        let followers = vec![
            world.follow("bob@receiver0", &group.bob, &group.chat, 0),
            world.follow("carol@receiver1", &group.carol, &group.chat, 1),
        ];
        let traffic = world.traffic(&group, 2);
        wait_live(&followers, 20).await;

        let cluster = world.redis_cluster.as_mut().expect("own cluster");
        cluster.kill(master);
        cluster
            .wait_for_failover(master, Duration::from_secs(60))
            .await;
        traffic.wait_for_more("after the failover", 100).await;
        let sent = traffic.finish().await;

        sent.assert_none_failed();
        let n = sent.count();
        world.check_history(&group, &sent, followers, 0).await;
        for receiver in world.receiver_urls() {
            let resubscribed = world
                .metric(&receiver, "chat_bus_resubscriptions_total")
                .await;
            assert!(
                resubscribed.is_some_and(|r| r >= 1.0),
                "{receiver}: chat_bus_resubscriptions_total = {resubscribed:?}"
            );
        }
        eprintln!("{n} messages through a failover of the chat's master");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chats_slot_moving_to_another_master_loses_no_message() {
    bounded("a Redis Cluster slot moving", async {
        let Some(world) = World::start(Options {
            own_redis_cluster: true,
            ..Options::default()
        })
        .await
        else {
            return;
        };
        let group = world.group().await;
        let (from, slot) = chat_slot(&world, &group, &world.bus_prefix);
        let followers = vec![
            world.follow("bob@receiver0", &group.bob, &group.chat, 0),
            world.follow("carol@receiver1", &group.carol, &group.chat, 1),
        ];
        let traffic = world.traffic(&group, 2);
        wait_live(&followers, 20).await;

        let cluster = world.redis_cluster.as_ref().expect("own cluster");
        let to = *cluster
            .masters()
            .iter()
            .find(|m| **m != from)
            .expect("another master");
        cluster.move_slot(slot, to);
        assert_eq!(cluster.master_of(slot), to);
        traffic.wait_for_more("after the slot moved", 100).await;
        let sent = traffic.finish().await;

        sent.assert_none_failed();
        let n = sent.count();
        world.check_history(&group, &sent, followers, 0).await;
        eprintln!("{n} messages through the chat's slot moving from {from} to {to}");
    })
    .await;
}
