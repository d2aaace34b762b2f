//! PostgreSQL becomes unreachable while messages flow: the instances reach it through a
//! proxy that is switched off and on again, twice: first as when the network is lost
//! (every open connection dropped, new ones accepted and never answered), then as when
//! the server is down (open connections dropped, new ones refused).
//!
//! While it is off, sends and reads fail fast (within [`FAIL_FAST`]) with the retriable
//! `UNAVAILABLE` code (an HTTP 200 GraphQL error that says nothing of the cause), and
//! `/readyz` says 503. When it is back, the same processes serve again: their pools
//! reconnect by themselves. The client retried each failed send with its clientId, so
//! the chat ends with exactly the messages sent, and every subscriber has them all.

use std::time::{Duration, Instant};

use chat_types::ops;
use futures::future::join_all;
use serde_json::json;
use testkit::tcp_proxy::Outage;

use crate::support::{
    Answer, Group, Options, Traffic, WAIT_LIMIT, World, bounded, eventually, wait_live, wait_until,
};

/// How long a request may take to fail while the database is unreachable.
const FAIL_FAST: Duration = Duration::from_secs(10);

/// Words an error message must not contain: they would tell the client about the
/// server's insides.
const INTERNALS: [&str; 8] = [
    "sqlx",
    "pool",
    "timed out",
    "os error",
    "io error",
    "postgres",
    "127.0.0.1",
    "database error",
];

fn says_nothing_inside(answer: &Answer) {
    if let Answer::Error { message, .. } = answer {
        let lower = message.to_lowercase();
        for word in INTERNALS {
            assert!(
                !lower.contains(word),
                "the error tells internals: {message:?}"
            );
        }
    }
}

/// One outage: from the proxy going down to every sender having answered a send that
/// started after it came back up.
struct Window {
    outage: Outage,
    down_at: Instant,
    up_at: Instant,
    recovered_at: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_unreachable_requests_fail_fast_as_unavailable_then_recover() {
    bounded("postgres unreachable", async {
        let Some(mut world) = World::start(Options {
            postgres_proxy: true,
            ..Options::default()
        })
        .await
        else {
            return;
        };
        let group = world.group().await;
        let followers = vec![
            world.follow("bob@receiver0", &group.bob, &group.chat, 0),
            world.follow("carol@receiver1", &group.carol, &group.chat, 1),
        ];
        let traffic = world.traffic(&group, 2);
        wait_live(&followers, 20).await;
        let pids: Vec<Option<u32>> = world.processes().all().map(|p| p.pid()).collect();

        let mut windows = Vec::new();
        for outage in [Outage::Blackhole, Outage::Refuse] {
            traffic.wait_for_more("before an outage", 20).await;
            windows.push(outage_and_recovery(&mut world, &group, &traffic, outage).await);
            let now: Vec<Option<u32>> = world.processes().all().map(|p| p.pid()).collect();
            assert_eq!(now, pids, "no instance was restarted");
        }
        traffic.wait_for_more("after the outages", 40).await;
        let sent = traffic.finish().await;

        let failures = sent.failures();
        for failure in &failures {
            assert!(
                failure.answer.is_unavailable(),
                "a send failed otherwise than with a retriable UNAVAILABLE: {failure:?}"
            );
            says_nothing_inside(&failure.answer);
            assert!(
                failure.elapsed < FAIL_FAST,
                "a send took {:?} to fail",
                failure.elapsed
            );
            assert!(
                windows
                    .iter()
                    .any(|w| failure.ended() >= w.down_at && failure.started < w.recovered_at),
                "a send failed while PostgreSQL was reachable: {failure:?}"
            );
        }
        for window in &windows {
            let during: Vec<_> = failures
                .iter()
                .filter(|f| f.ended() >= window.down_at && f.started < window.recovered_at)
                .collect();
            let slowest = during.iter().map(|f| f.elapsed).max().unwrap_or_default();
            eprintln!(
                "{:?}: unreachable for {:.1?}, {} sends failed (slowest in {slowest:.1?}), all served again {:.1?} after it was back",
                window.outage,
                window.up_at - window.down_at,
                during.len(),
                window.recovered_at - window.up_at
            );
        }

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
        eprintln!("{n} messages, {} edits and reactions", sent.changes);
    })
    .await;
}

/// Takes PostgreSQL away as `outage` says until sends through both senders have
/// failed, checks that reads and readiness fail fast meanwhile, brings it back and
/// waits until everything works again.
async fn outage_and_recovery(
    world: &mut World,
    group: &Group,
    traffic: &Traffic,
    outage: Outage,
) -> Window {
    let shared: &World = world;
    let down_at = Instant::now();
    shared.proxy.as_ref().expect("proxy").down(outage);

    // Reads fail fast as well, and every instance says it is not ready.
    let receivers = shared.receiver_urls();
    let read = |receiver: String| async move {
        let started = Instant::now();
        let answer = shared
            .request(
                &receiver,
                &group.bob,
                ops::MESSAGES,
                json!({ "chatId": group.chat, "limit": 10 }),
            )
            .await;
        (answer, started.elapsed())
    };
    let urls: Vec<String> = shared.processes().all().map(|p| p.url()).collect();
    // /readyz answers from a check at most READINESS_TTL old: ask once that has passed.
    let probe = |url: String| async move {
        tokio::time::sleep_until((down_at + server_core::readiness::READINESS_TTL).into()).await;
        shared.readyz(&url).await
    };
    let (reads, readiness) = tokio::join!(
        join_all(receivers.iter().cloned().map(read)),
        join_all(urls.iter().cloned().map(probe))
    );
    for (answer, took) in &reads {
        assert!(
            answer.is_unavailable(),
            "a read while PostgreSQL is unreachable ({outage:?}): {answer:?}"
        );
        assert!(*took < FAIL_FAST, "a read took {took:?} to fail");
        says_nothing_inside(answer);
    }
    for (url, (status, took)) in urls.iter().zip(&readiness) {
        assert_eq!(
            *status,
            Some(503),
            "{url}/readyz while PostgreSQL is unreachable ({outage:?})"
        );
        assert!(*took < FAIL_FAST, "{url}/readyz took {took:?}");
    }
    // Sends to both senders fail (the client tries each failed one again).
    wait_until("sends to both senders have failed", WAIT_LIMIT, || {
        let attempts = traffic.attempts();
        (0..2).all(|s| {
            attempts
                .iter()
                .any(|a| a.sender == s && a.seq().is_none() && a.ended() >= down_at)
        })
    })
    .await;

    let up_at = Instant::now();
    shared.proxy.as_ref().expect("proxy").up();
    // The same processes serve again: sends through both senders, reads on both
    // receivers, and every instance is ready.
    wait_until(
        "a send started after the outage succeeded on each sender",
        WAIT_LIMIT,
        || {
            let attempts = traffic.attempts();
            (0..2).all(|s| {
                attempts
                    .iter()
                    .any(|a| a.sender == s && a.started >= up_at && a.seq().is_some())
            })
        },
    )
    .await;
    let recovered_at = Instant::now();
    for receiver in &receivers {
        eventually("reads work again", WAIT_LIMIT, || async {
            let (answer, _) = read(receiver.clone()).await;
            assert!(
                matches!(answer, Answer::Data(_)) || answer.is_unavailable(),
                "{answer:?}"
            );
            matches!(answer, Answer::Data(_))
        })
        .await;
    }
    for url in &urls {
        eventually("every instance is ready again", WAIT_LIMIT, || async {
            shared.readyz(url).await.0 == Some(200)
        })
        .await;
    }
    for process in world.processes_mut().all_mut() {
        assert!(
            process.is_running(),
            "{} on port {} exited",
            process.kind,
            process.port
        );
    }
    Window {
        outage,
        down_at,
        up_at,
        recovered_at,
    }
}
