//! The bus on a Redis Cluster of the test's own (three masters, three replicas, on
//! loopback): topics spread over every master, a receiver sees only the topics it
//! holds, and a master's failover or a slot moved away is followed, resubscribed,
//! counted and told (`Reconnected`, so the receiver catches up from the database).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chat_bus::cluster::partition;
use chat_bus::{Bus, BusMessage, ClusterTarget, DEFAULT_PARTITIONS};
use chat_types::presence::PresenceStatus;
use chat_types::{BusEvent, ChatId, Event, Topic, TypingEvent, UserId};
use testkit::redis_cluster::RedisCluster;
use testkit::unique;
use tokio::sync::mpsc::UnboundedReceiver;
use uuid::Uuid;

async fn bus(cluster: &RedisCluster, prefix: &str) -> Bus {
    let target = ClusterTarget {
        // Any one node is enough to find the others.
        nodes: cluster.urls()[..1].to_vec(),
        ca: None,
        partitions: DEFAULT_PARTITIONS,
    };
    Bus::cluster(&target, prefix).await.expect("cluster bus")
}

fn typing(chat: ChatId, n: u32) -> BusEvent {
    BusEvent::new(Event::Typing(TypingEvent {
        chat_id: chat,
        user_id: UserId(Uuid::from_u128(u128::from(n))),
        display_name: format!("user {n}"),
        at: chrono::Utc::now(),
    }))
}

fn who(event: &BusEvent) -> u32 {
    match &event.event {
        Event::Typing(t) => t.user_id.as_uuid().as_u128() as u32,
        other => panic!("not a typing event: {other:?}"),
    }
}

/// The next event, skipping `Reconnected`s (returned as `None` when `stop_at_reconnect`).
async fn next(rx: &mut UnboundedReceiver<BusMessage>) -> BusMessage {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("a message within 15 s")
        .expect("subscription open")
}

async fn next_event(rx: &mut UnboundedReceiver<BusMessage>) -> (Topic, BusEvent) {
    loop {
        if let BusMessage::Event { topic, payload } = next(rx).await {
            return (topic, BusEvent::decode(&payload).expect("decodes"));
        }
    }
}

async fn expect_reconnected(rx: &mut UnboundedReceiver<BusMessage>, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(BusMessage::Reconnected)) => return,
            Ok(Some(BusMessage::Event { .. })) => {}
            other => panic!("no Reconnected within {within:?}: {other:?}"),
        }
    }
}

/// Chats whose topics land on `master` (by the cluster's slot map now).
fn chats_on(cluster: &RedisCluster, prefix: &str, master: u16, count: usize) -> Vec<ChatId> {
    let owners = cluster.slot_owners();
    (0u128..)
        .map(|n| ChatId(Uuid::from_u128(n + 1)))
        .filter(|chat| {
            let channel = partition::channel(prefix, &Topic::Chat(*chat), DEFAULT_PARTITIONS);
            let slot = partition::slot(&channel);
            owners
                .iter()
                .any(|(first, last, port)| (*first..=*last).contains(&slot) && *port == master)
        })
        .take(count)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_spread_over_every_master_and_a_receiver_sees_only_its_own() {
    let Some(cluster) = RedisCluster::start().await else {
        return;
    };
    let prefix = unique("cl");
    let bus = bus(&cluster, &prefix).await;
    let (subscription, mut rx) = bus.subscribe();
    let mut mine = Vec::new();
    for master in cluster.masters() {
        mine.extend(chats_on(&cluster, &prefix, master, 4));
    }
    for chat in &mine {
        subscription.add(&Topic::Chat(*chat)).await.unwrap();
    }
    // Someone else's chat in a partition of ours: not a byte of it here.
    let theirs = (0u128..)
        .map(|n| ChatId(Uuid::from_u128(1_000_000 + n)))
        .find(|c| {
            partition::partition(&Topic::Chat(*c), DEFAULT_PARTITIONS)
                == partition::partition(&Topic::Chat(mine[0]), DEFAULT_PARTITIONS)
        })
        .unwrap();
    bus.publish(&Topic::Chat(theirs), &typing(theirs, 999));
    for (n, chat) in mine.iter().enumerate() {
        bus.publish(&Topic::Chat(*chat), &typing(*chat, n as u32));
    }
    // Each topic's events keep their order; topics on different nodes race.
    let mut got = Vec::new();
    for _ in &mine {
        let (topic, event) = next_event(&mut rx).await;
        got.push((topic, who(&event)));
    }
    got.sort();
    let mut sent: Vec<(Topic, u32)> = mine
        .iter()
        .enumerate()
        .map(|(n, chat)| (Topic::Chat(*chat), n as u32))
        .collect();
    sent.sort();
    assert_eq!(got, sent);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "nothing of a chat this receiver does not hold"
    );
    assert_eq!(
        bus.metrics().received.load(Ordering::Relaxed),
        mine.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_failover_is_followed_resubscribed_and_told() {
    let Some(mut cluster) = RedisCluster::start().await else {
        return;
    };
    let prefix = unique("cl");
    let bus = bus(&cluster, &prefix).await;
    let (subscription, mut rx) = bus.subscribe();
    let victim = cluster.masters()[0];
    let survivor = *cluster.masters().iter().find(|m| **m != victim).unwrap();
    let on_victim = chats_on(&cluster, &prefix, victim, 3);
    let elsewhere = chats_on(&cluster, &prefix, survivor, 1)[0];
    for chat in on_victim.iter().chain([&elsewhere]) {
        subscription.add(&Topic::Chat(*chat)).await.unwrap();
    }

    cluster.kill(victim);
    // Meanwhile the other masters go on.
    bus.publish(&Topic::Chat(elsewhere), &typing(elsewhere, 7));
    let (topic, _) = next_event(&mut rx).await;
    assert_eq!(topic, Topic::Chat(elsewhere));
    cluster
        .wait_for_failover(victim, Duration::from_secs(30))
        .await;
    expect_reconnected(&mut rx, Duration::from_secs(45)).await;
    assert!(bus.metrics().resubscriptions.load(Ordering::Relaxed) >= on_victim.len() as u64);

    for (n, chat) in on_victim.iter().enumerate() {
        bus.publish(&Topic::Chat(*chat), &typing(*chat, n as u32));
        let (topic, event) = next_event(&mut rx).await;
        assert_eq!((topic, who(&event)), (Topic::Chat(*chat), n as u32));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_moved_away_is_followed_resubscribed_and_told() {
    let Some(cluster) = RedisCluster::start().await else {
        return;
    };
    let prefix = unique("cl");
    let bus = bus(&cluster, &prefix).await;
    let (subscription, mut rx) = bus.subscribe();
    let from = cluster.masters()[0];
    let to = *cluster.masters().iter().find(|m| **m != from).unwrap();
    let chat = chats_on(&cluster, &prefix, from, 1)[0];
    let topic = Topic::Chat(chat);
    subscription.add(&topic).await.unwrap();
    bus.publish(&topic, &typing(chat, 1));
    assert_eq!(who(&next_event(&mut rx).await.1), 1);

    let channel = partition::channel(&prefix, &topic, DEFAULT_PARTITIONS);
    cluster.move_slot(partition::slot(&channel), to);
    expect_reconnected(&mut rx, Duration::from_secs(45)).await;
    assert!(bus.metrics().resubscriptions.load(Ordering::Relaxed) >= 1);
    bus.publish(&topic, &typing(chat, 2));
    assert_eq!(who(&next_event(&mut rx).await.1), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_kept_across_the_cluster() {
    let Some(cluster) = RedisCluster::start().await else {
        return;
    };
    let bus = bus(&cluster, &unique("cl")).await;
    let now = chrono::Utc::now();
    let people: Vec<UserId> = (0..40).map(|n| UserId(Uuid::from_u128(n + 1))).collect();
    for person in &people {
        let news = bus
            .presence_heard(*person, PresenceStatus::Active, now)
            .await
            .unwrap();
        assert!(news.is_some(), "coming online is news");
    }
    let known = bus.presence_of(&people).await.unwrap();
    assert_eq!(known.len(), people.len(), "read back from every slot");
    bus.presence_connected(people[0]).await.unwrap();
    bus.presence_connected(people[0]).await.unwrap();
    assert_eq!(bus.presence_disconnected(people[0]).await.unwrap(), 1);
    assert_eq!(bus.presence_disconnected(people[0]).await.unwrap(), 0);
}
