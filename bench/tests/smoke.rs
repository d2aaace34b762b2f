//! A few seconds of each mode against services on port 0: the load generator works
//! and the system passes its checks (nothing lost or doubled). Not a benchmark.

use std::time::Duration;

use chat_bench::client::{Selection, Targets};
use chat_bench::modes::fanout::{Shape, World};
use chat_bench::modes::soak::{self, Bounds, Plan, Watched};
use chat_bench::modes::{idle, writes};
use testkit::{Backend, TestEnv, spawn};

async fn deployment(env: &TestEnv) -> Targets {
    let mut targets = Targets {
        users: Vec::new(),
        senders: Vec::new(),
        receivers: Vec::new(),
        selection: Selection::App,
    };
    for _ in 0..2 {
        targets
            .users
            .push(spawn(server_user::build_router(env.instance().await)).await);
        targets
            .senders
            .push(spawn(server_sender::build_router(env.instance().await)).await);
        targets
            .receivers
            .push(spawn(server_receiver::build_router(env.instance().await)).await);
    }
    targets
}

async fn smoke(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else {
        return;
    };
    let targets = deployment(&env).await;
    targets.check_loopback().unwrap();

    let shape = Shape {
        people: 6,
        chats: 4,
        participants: 3,
        subscribers: 12,
    };
    let world = World::build(&targets, "smoke", shape).await.unwrap();
    let report = world
        .send_phase(100.0, Duration::from_secs(2), Duration::from_secs(10))
        .await;
    assert_eq!(report.failed_sends, 0, "{report:?}");
    assert!(report.sent >= 190, "{report:?}");
    assert_eq!(
        report.expected_deliveries,
        report.sent * 3,
        "every message goes to its chat's 3 subscribers"
    );
    assert_eq!(report.deliveries, report.expected_deliveries, "{report:?}");
    assert_eq!(
        (report.lost, report.duplicated, report.subscriber_errors),
        (0, 0, 0),
        "{report:?}"
    );
    assert!(report.latency_ms.p99 > 0.0);

    // A short soak: a second send phase in the same world (its messages are new ones,
    // not retries of the first phase's), watching this process, where the services run.
    let plan = Plan {
        rate: 100.0,
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(500),
        interval: Duration::from_millis(250),
        drain: Duration::from_secs(10),
        bounds: Bounds {
            rss_growth_pct: 1000.0,
            fd_slack: 1000,
            thread_slack: 100,
            task_slack: 100_000,
        },
    };
    let watched = [Watched {
        pid: std::process::id(),
        url: Some(targets.receivers[0].clone()),
    }];
    plan.check(&watched).unwrap();
    let soaked = soak::run_in(&world, &plan, &watched).await.unwrap();
    assert!(soaked.passed(), "{:?}", soaked.failures);
    assert_eq!(
        soaked.delivery.expected_deliveries,
        soaked.delivery.sent * 3,
        "{:?}",
        soaked.delivery
    );
    assert_eq!(
        soaked.delivery.deliveries,
        soaked.delivery.expected_deliveries
    );
    assert!(soaked.samples.len() >= 4, "{:?}", soaked.samples);
    let end = &soaked.processes[0].end;
    assert!(end.rss_kib > 0 && end.fds > 0 && end.threads > 0, "{end:?}");
    assert!(end.tokio_tasks.is_some_and(|t| t > 0), "{end:?}");

    let written = writes::run(&targets, "smokew", 4, 2, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(written.messages > 0 && written.errors == 0, "{written:?}");

    let (idle, held) = idle::run(
        &targets,
        "smokei",
        20,
        2,
        std::process::id(),
        &[],
        Duration::from_millis(100),
    )
    .await
    .unwrap();
    assert_eq!((idle.connected, idle.failed), (20, 0), "{idle:?}");
    assert!(idle.rss_after_kib > 0);
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_runs_every_mode_embedded() {
    smoke(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_runs_every_mode_on_postgres_and_redis() {
    smoke(Backend::Real).await;
}

#[test]
fn targets_off_this_machine_are_refused() {
    let targets = Targets {
        users: vec!["http://127.0.0.1:4001".into()],
        senders: vec!["http://example.com:4002".into()],
        receivers: vec!["http://localhost:4005".into()],
        selection: Selection::App,
    };
    assert!(targets.check_loopback().is_err());
}
