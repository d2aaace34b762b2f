//! Both buses: delivery, topic isolation, late joiners; Redis after losing its
//! connections.

use std::time::Duration;

use chat_bus::{Bus, BusMessage};
use chat_types::{BusEvent, ChatId, Event, Topic, TypingEvent, UserId};
use testkit::env::require_redis;
use testkit::redis_server::RedisServer;
use testkit::tcp_proxy::{Outage, TcpProxy, url_authority, with_authority};
use testkit::unique;
use tokio::sync::mpsc::UnboundedReceiver;
use uuid::Uuid;

fn typing(chat: ChatId, n: u8) -> BusEvent {
    BusEvent::new(Event::Typing(TypingEvent {
        chat_id: chat,
        user_id: UserId(Uuid::from_u128(n as u128)),
        display_name: format!("user {n}"),
        at: chrono::Utc::now(),
    }))
}

fn chat_topic() -> (ChatId, Topic) {
    let chat = ChatId(Uuid::now_v7());
    (chat, Topic::Chat(chat))
}

async fn next_event(rx: &mut UnboundedReceiver<BusMessage>) -> (Topic, BusEvent) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an event within 10 s")
            .expect("subscription open");
        if let BusMessage::Event { topic, payload } = message {
            return (topic, BusEvent::decode(&payload).expect("decodes"));
        }
    }
}

async fn expect_quiet(rx: &mut UnboundedReceiver<BusMessage>) {
    if let Ok(Some(BusMessage::Event { topic, .. })) =
        tokio::time::timeout(Duration::from_millis(300), rx.recv()).await
    {
        panic!("unexpected event on {topic}");
    }
}

async fn buses() -> Vec<Bus> {
    let mut buses = vec![Bus::memory()];
    if let Some(url) = require_redis().await {
        buses.push(Bus::redis(&url, &unique("test-")).await.expect("redis bus"));
    }
    buses
}

#[tokio::test]
async fn subscribers_get_what_is_published_on_their_topics_only() {
    for bus in buses().await {
        let (subscription, mut rx) = bus.subscribe();
        let (chat, mine) = chat_topic();
        let (other_chat, other) = chat_topic();
        subscription.add(&mine).await.unwrap();

        bus.publish(&other, &typing(other_chat, 1));
        bus.publish(&mine, &typing(chat, 2));
        let (topic, event) = next_event(&mut rx).await;
        assert_eq!(topic, mine);
        assert_eq!(event, typing_like(&event, chat, 2));
        expect_quiet(&mut rx).await;

        subscription.remove(&mine).await.unwrap();
        bus.publish(&mine, &typing(chat, 3));
        expect_quiet(&mut rx).await;
    }
}

/// The event itself, checked to be the typing event of user `n` in `chat`.
fn typing_like(event: &BusEvent, chat: ChatId, n: u8) -> BusEvent {
    match &event.event {
        Event::Typing(t) => {
            assert_eq!(t.chat_id, chat);
            assert_eq!(t.display_name, format!("user {n}"));
        }
        other => panic!("expected typing, got {other:?}"),
    }
    event.clone()
}

#[tokio::test]
async fn a_late_subscriber_gets_only_later_events() {
    for bus in buses().await {
        let (chat, topic) = chat_topic();
        let (early, mut early_rx) = bus.subscribe();
        early.add(&topic).await.unwrap();
        bus.publish(&topic, &typing(chat, 1));
        typing_like(&next_event(&mut early_rx).await.1, chat, 1);

        let (late, mut late_rx) = bus.subscribe();
        late.add(&topic).await.unwrap();
        bus.publish(&topic, &typing(chat, 2));
        typing_like(&next_event(&mut late_rx).await.1, chat, 2);
        typing_like(&next_event(&mut early_rx).await.1, chat, 2);
        expect_quiet(&mut late_rx).await;
    }
}

#[tokio::test]
async fn events_keep_their_order() {
    for bus in buses().await {
        let (chat, topic) = chat_topic();
        let (subscription, mut rx) = bus.subscribe();
        subscription.add(&topic).await.unwrap();
        for n in 0..200u8 {
            bus.publish(&topic, &typing(chat, n));
        }
        for n in 0..200u8 {
            typing_like(&next_event(&mut rx).await.1, chat, n);
        }
    }
}

#[tokio::test]
async fn the_redis_bus_recovers_after_its_connections_are_killed() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let bus = Bus::redis(&server.url(), &unique("test-")).await.unwrap();
    let (subscription, mut rx) = bus.subscribe();
    let (chat, topic) = chat_topic();
    subscription.add(&topic).await.unwrap();
    bus.publish(&topic, &typing(chat, 1));
    typing_like(&next_event(&mut rx).await.1, chat, 1);

    let client = redis::Client::open(server.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    for kind in ["pubsub", "normal"] {
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg(kind)
            .arg("SKIPME")
            .arg("yes")
            .query_async(&mut admin)
            .await
            .unwrap();
    }
    // The subscription announces its return, with the topic still on it.
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        if matches!(message, BusMessage::Reconnected) {
            break;
        }
    }
    bus.publish(&topic, &typing(chat, 2));
    typing_like(&next_event(&mut rx).await.1, chat, 2);
    assert!(
        bus.metrics()
            .reconnects
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

/// Pub/sub keeps nothing: an event that reaches Redis before a subscriber is back is
/// gone (receivers recover *messages* from the database after a reconnect). What the
/// bus promises: publishing never blocks or fails the caller, what failed is sent once
/// Redis is back, and the subscription comes back with its topics.
#[tokio::test]
async fn the_redis_bus_survives_a_restart_and_resends_what_failed() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let bus = Bus::redis(&server.url(), &unique("test-")).await.unwrap();
    let (subscription, mut rx) = bus.subscribe();
    let (chat, topic) = chat_topic();
    subscription.add(&topic).await.unwrap();

    server.kill();
    let started = std::time::Instant::now();
    bus.publish(&topic, &typing(chat, 1));
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "publishing waits for nobody"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart().await;

    loop {
        let message = tokio::time::timeout(Duration::from_secs(15), rx.recv())
            .await
            .expect("a reconnect within 15 s")
            .unwrap();
        if matches!(message, BusMessage::Reconnected) {
            break;
        }
    }
    let metrics = bus.metrics();
    let published = || metrics.published.load(std::sync::atomic::Ordering::Relaxed);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while published() < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the failed event is sent once Redis is back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        metrics
            .publish_failures
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    bus.publish(&topic, &typing(chat, 2));
    loop {
        let (_, event) = next_event(&mut rx).await;
        // The resent event may or may not have found the subscription back in time.
        if let Event::Typing(t) = &event.event
            && t.display_name == "user 2"
        {
            break;
        }
    }
}

#[tokio::test]
async fn an_idle_redis_subscription_stays_connected() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let bus = Bus::redis(&server.url(), &unique("test-")).await.unwrap();
    let (subscription, mut rx) = bus.subscribe();
    let (chat, topic) = chat_topic();
    subscription.add(&topic).await.unwrap();
    // Past the first health check (a PING): it must not drop a good connection, as
    // misreading the subscribed connection's answer once did, every interval.
    tokio::time::sleep(chat_bus::PING_INTERVAL + Duration::from_secs(1)).await;
    assert_eq!(
        bus.metrics()
            .reconnects
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    bus.publish(&topic, &typing(chat, 1));
    typing_like(&next_event(&mut rx).await.1, chat, 1);
}

/// While Redis is away, events wait in memory; big ones must not grow the process
/// without bound (a 1,000-member group renamed in a loop once sent a whole chat to
/// every member's topic).
#[tokio::test]
async fn events_waiting_for_redis_are_bounded_in_bytes() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let bus = Bus::redis(&server.url(), &unique("test-")).await.unwrap();
    server.kill();
    let (chat, topic) = chat_topic();
    let big = BusEvent::new(Event::Typing(TypingEvent {
        chat_id: chat,
        user_id: UserId(Uuid::from_u128(1)),
        display_name: "x".repeat(1024 * 1024),
        at: chrono::Utc::now(),
    }));
    for _ in 0..200 {
        bus.publish(&topic, &big);
    }
    let dropped = bus
        .metrics()
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        dropped >= 100,
        "200 MiB of events queued while Redis was away; {dropped} dropped"
    );
}

/// A Redis that goes silent without closing (a network lost under an established
/// connection) must not freeze the subscription: a SUBSCRIBE with no answer fails
/// within the timeout, the connection is made again, and delivery resumes.
#[tokio::test]
async fn a_silent_redis_does_not_freeze_new_subscriptions() {
    let Some(url) = require_redis().await else {
        return;
    };
    let upstream = url_authority(&url).expect("host:port in the Redis URL");
    let proxy = TcpProxy::start(upstream).await.expect("proxy");
    let through_proxy = with_authority(&url, &proxy.addr()).expect("proxied URL");
    let prefix = unique("test-");
    let bus = Bus::redis(&through_proxy, &prefix)
        .await
        .expect("bus via proxy");
    let direct = Bus::redis(&url, &prefix).await.expect("bus to Redis");
    let (subscription, mut rx) = bus.subscribe();
    let (_, first) = chat_topic();
    subscription
        .add(&first)
        .await
        .expect("subscribed while Redis answers");

    proxy.down(Outage::Freeze);
    let (chat, second) = chat_topic();
    let asked = std::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(8), subscription.add(&second)).await;
    assert!(
        answer.is_ok(),
        "a SUBSCRIBE to a silent Redis was still waiting after 8 s"
    );
    eprintln!(
        "SUBSCRIBE to a silent Redis answered after {:?}",
        asked.elapsed()
    );

    proxy.up();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("reconnected within 30 s")
            .expect("subscription open");
        if matches!(message, BusMessage::Reconnected) {
            break;
        }
    }
    // The topic asked for while Redis was silent is on the new connection.
    direct.publish(&second, &typing(chat, 1));
    let (topic, event) = next_event(&mut rx).await;
    assert_eq!(topic, second);
    typing_like(&event, chat, 1);
}

/// Redis over TLS (`rediss://`), as managed services require, trusting the CA given
/// (`--redis-ca`) and nothing else.
#[tokio::test]
async fn redis_over_tls_is_verified_against_the_ca_given() {
    let Some(ca) = testkit::tls::TestCa::new() else {
        return;
    };
    let Some(server) = RedisServer::start_tls(&ca).await else {
        return;
    };
    assert!(
        Bus::redis(&server.url(), &unique("tls-")).await.is_err(),
        "a certificate the system does not trust is refused"
    );
    let bus = Bus::redis_with_ca(&server.url(), Some(ca.ca_pem()), &unique("tls-"))
        .await
        .expect("Redis over TLS with the CA");
    let (subscription, mut rx) = bus.subscribe();
    let (chat, topic) = chat_topic();
    subscription.add(&topic).await.unwrap();
    bus.publish(&topic, &typing(chat, 1));
    let (got, event) = next_event(&mut rx).await;
    assert_eq!(got, topic);
    assert_eq!(event, typing_like(&event, chat, 1));
}
