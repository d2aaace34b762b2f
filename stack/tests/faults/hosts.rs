//! Faults across hosts, on the multi-host topology (`scripts/topology.sh`: every server
//! on a network namespace of its own; PostgreSQL with a streaming replica the receivers
//! read from; the bus on a Redis Cluster of 3 masters and 3 replicas). A host is cut off
//! by taking its link down: unlike a killed process, nothing tells the other side (no
//! reset, no close), which is how machines drop off networks; a slot of the cluster is
//! also moved between masters on different hosts. Every test ends with the
//! history check: each subscriber's events are the chat's log, nothing lost or doubled.

use std::time::Duration;

use chat_bus::DEFAULT_PARTITIONS;
use chat_bus::cluster::partition;
use chat_types::limits::SILENT_CONNECTION;
use chat_types::{ChatId, Topic};

use crate::support::{
    Answer, Follower, Group, Traffic, WAIT_LIMIT, World, bounded, wait_live, wait_until,
};

/// How long a cut-off receiver's clients may take to be on another: they hear no
/// keep-alive for [`SILENT_CONNECTION`], then connect elsewhere.
const MOVE_LIMIT: Duration = Duration::from_secs(SILENT_CONNECTION.as_secs() + 30);

/// How most of these tests begin: Bob following the chat on receiver1 and Carol on
/// receiver2, both live, while two lanes of traffic write to it.
async fn followed_under_traffic(world: &World, group: &Group) -> (Vec<Follower>, Traffic) {
    let followers = vec![
        world.follow("bob@receiver1", &group.bob, &group.chat, 0),
        world.follow("carol@receiver2", &group.carol, &group.chat, 1),
    ];
    let traffic = world.traffic(group, 2);
    wait_live(&followers, 20).await;
    (followers, traffic)
}

/// The Redis Cluster slot of the group's chat topic (the topology's bus prefix is
/// `chat`).
fn chat_slot(group: &Group) -> u16 {
    let chat: ChatId = group.chat.parse().expect("a chat id");
    partition::slot(&partition::channel(
        "chat",
        &Topic::Chat(chat),
        DEFAULT_PARTITIONS,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receivers_host_cut_off_its_clients_resume_on_another() {
    bounded("a receiver's host cut off", async {
        let Some(world) = World::on_hosts().await else {
            return;
        };
        let group = world.group().await;
        let followers = vec![
            world.follow("bob@receiver1", &group.bob, &group.chat, 0),
            world.follow("carol@receiver1", &group.carol, &group.chat, 0),
            world.follow("carol@receiver3", &group.carol, &group.chat, 2),
        ];
        let traffic = world.traffic(&group, 2);
        wait_live(&followers, 20).await;

        world.hosts().cut("receiver1");
        let at_cut = traffic.sent();
        wait_until(
            "the cut-off receiver's clients are on another",
            MOVE_LIMIT,
            || followers[..2].iter().all(|f| f.connections() >= 2),
        )
        .await;
        wait_until("they have what was sent after the cut", WAIT_LIMIT, || {
            followers[..2]
                .iter()
                .all(|f| f.last() as usize > at_cut + 20)
        })
        .await;
        let sent = traffic.finish().await;

        sent.assert_none_failed();
        let n = sent.count();
        let seen = world.check_history(&group, &sent, followers, 1).await;
        assert_eq!(seen[0].connections, [0, 1], "bob moved to receiver2");
        assert_eq!(
            seen[2].connections,
            [2],
            "carol on receiver3 was not touched"
        );
        eprintln!("{n} messages; receiver1's clients moved within {MOVE_LIMIT:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_senders_host_cut_off_mid_send_is_retried_on_the_other() {
    bounded("a sender's host cut off", async {
        let Some(world) = World::on_hosts().await else {
            return;
        };
        let group = world.group().await;
        let (followers, traffic) = followed_under_traffic(&world, &group).await;
        wait_until("a send is in flight to sender1", WAIT_LIMIT, || {
            traffic.in_flight(0) > 0
        })
        .await;
        world.hosts().cut("sender1");
        traffic.wait_for_more("with sender1 cut off", 60).await;
        let sent = traffic.finish().await;

        // Sends to the cut-off sender went unanswered and were sent again, with the same
        // clientId, through the other; none is missing, none is there twice.
        let failures = sent.failures();
        assert!(!failures.is_empty(), "no send was cut off");
        for failure in &failures {
            assert_eq!(
                failure.sender, 0,
                "a send to the live sender failed: {failure:?}"
            );
            assert!(matches!(failure.answer, Answer::None(_)), "{failure:?}");
            assert!(
                sent.attempts
                    .iter()
                    .any(|a| a.client_id == failure.client_id
                        && a.sender == 1
                        && a.seq().is_some()),
                "{} was not sent again through sender2",
                failure.client_id
            );
        }
        let n = sent.count();
        world.check_history(&group, &sent, followers, 0).await;
        eprintln!("{n} messages; {} sends cut off and retried", failures.len());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_masters_host_cut_off_its_replica_takes_over() {
    bounded("a Redis master's host cut off", async {
        let Some(world) = World::on_hosts().await else {
            return;
        };
        let group = world.group().await;
        let slot = chat_slot(&group);
        let master = world
            .hosts()
            .redis_master_of(slot)
            .expect("a master serves the chat's slot");
        let (followers, traffic) = followed_under_traffic(&world, &group).await;

        world.hosts().cut(&master);
        let mut promoted = String::new();
        crate::support::eventually("a replica serves the chat's slot", WAIT_LIMIT, || {
            let now = world.hosts().redis_master_of(slot);
            let moved = now.as_ref().is_some_and(|now| *now != master);
            if let Some(now) = now {
                promoted = now;
            }
            async move { moved }
        })
        .await;
        let at_failover = traffic.sent();
        wait_until("delivery goes on after the failover", WAIT_LIMIT, || {
            followers
                .iter()
                .all(|f| f.last() as usize > at_failover + 50)
        })
        .await;
        let sent = traffic.finish().await;

        sent.assert_none_failed();
        let n = sent.count();
        world.check_history(&group, &sent, followers, 0).await;
        // On the cluster bus a receiver hears only the topics its own clients follow:
        // receiver3, followed by nobody, got none of this chat's traffic.
        let idle = world.receiver_urls()[2].clone();
        assert_eq!(
            world.metric(&idle, "chat_bus_received_total").await,
            Some(0.0),
            "a receiver with no subscribers received bus traffic"
        );
        eprintln!("{n} messages; the chat's slot {slot} moved from {master} to {promoted}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chats_slot_moving_to_a_master_on_another_host_loses_no_message() {
    bounded("the chat's slot moving across hosts", async {
        let Some(world) = World::on_hosts().await else {
            return;
        };
        let group = world.group().await;
        let slot = chat_slot(&group);
        let from = world
            .hosts()
            .redis_master_of(slot)
            .expect("a master serves the chat's slot");
        let to = world
            .hosts()
            .redis_masters()
            .into_iter()
            .find(|m| *m != from)
            .expect("another master");
        let (followers, traffic) = followed_under_traffic(&world, &group).await;

        // Moved while messages flow: Redis tells the subscribers of the slot's
        // channels (`sunsubscribe`), and they subscribe again on the new owner.
        world.hosts().move_slot(slot, &to);
        assert_eq!(world.hosts().redis_master_of(slot), Some(to.clone()));
        traffic.wait_for_more("after the slot moved", 100).await;
        let sent = traffic.finish().await;

        sent.assert_none_failed();
        let n = sent.count();
        world.check_history(&group, &sent, followers, 0).await;
        let mut resubscribed = 0.0;
        for receiver in &world.receiver_urls()[..2] {
            resubscribed += world
                .metric(receiver, "chat_bus_resubscriptions_total")
                .await
                .unwrap_or(0.0);
        }
        assert!(resubscribed >= 1.0, "no receiver followed the slot");
        eprintln!("{n} messages through the chat's slot {slot} moving from {from} to {to}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_stops_replaying_is_read_around() {
    bounded("the PostgreSQL replica lagging", async {
        let Some(world) = World::on_hosts().await else {
            return;
        };
        let group = world.group().await;
        let (followers, traffic) = followed_under_traffic(&world, &group).await;

        // The replica keeps answering but falls further and further behind.
        world.hosts().on_replica("SELECT pg_wal_replay_pause()");
        traffic.wait_for_more("with the replica paused", 200).await;
        // A newcomer reads the whole chat: the pages past what the replica has come
        // from the primary.
        let late = world.follow("carol's phone@receiver3", &group.carol, &group.chat, 2);
        // Read before the replica replays again: after, it would have it all.
        let sent_by_now = traffic.sent();
        wait_until(
            "the newcomer has read what the replica lacks",
            WAIT_LIMIT,
            || late.last() as usize >= sent_by_now,
        )
        .await;
        let sent = traffic.finish().await;
        world.hosts().on_replica("SELECT pg_wal_replay_resume()");

        sent.assert_none_failed();
        let n = sent.count();
        let mut followers = followers;
        followers.push(late);
        world.check_history(&group, &sent, followers, 2).await;
        let mut fallbacks = 0.0;
        for receiver in world.receiver_urls() {
            fallbacks += world
                .metric(&receiver, "chat_db_read_fallbacks_total")
                .await
                .unwrap_or(0.0);
        }
        assert!(fallbacks >= 1.0, "no read went around the lagging replica");
        eprintln!("{n} messages; {fallbacks} reads went to the primary instead");
    })
    .await;
}
