//! The chat-bench command line.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use chat_bench::client::Targets;
use chat_bench::modes::fanout::{PhaseReport, Shape, World};
use chat_bench::modes::soak::{self, Bounds, Plan, Watched};
use chat_bench::modes::{idle, writes};
use chat_bench::report::{ms, save_json, table};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "chat-bench",
    about = "Load generator for the chat system (loopback only)."
)]
struct Cli {
    /// User service instances.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "http://127.0.0.1:4001,http://127.0.0.1:4003"
    )]
    users: Vec<String>,
    /// Sender instances.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "http://127.0.0.1:4002,http://127.0.0.1:4004"
    )]
    senders: Vec<String>,
    /// Receiver instances.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "http://127.0.0.1:4005,http://127.0.0.1:4006"
    )]
    receivers: Vec<String>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args, Clone)]
struct WorldArgs {
    /// Chats that get messages.
    #[arg(long, default_value_t = 200)]
    chats: usize,
    /// People in each chat.
    #[arg(long, default_value_t = 25)]
    participants: usize,
    /// Subscriptions (each its own connection), spread over chats, members, receivers.
    #[arg(long, default_value_t = 5000)]
    subscribers: usize,
    /// People registered (each chat takes `participants` of them).
    #[arg(long, default_value_t = 200)]
    people: usize,
    /// After sending, how long to wait for every delivery.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    drain: Duration,
}

#[derive(Subcommand)]
enum Mode {
    /// Messages at a set rate into many chats with many subscribers.
    Fanout {
        /// Messages per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[command(flatten)]
        world: WorldArgs,
    },
    /// createMessage in a closed loop.
    Writes {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Chats written to (writers share them round-robin).
        #[arg(long, default_value_t = 64)]
        chats: usize,
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        duration: Duration,
    },
    /// Idle subscribed connections to the first receiver; its RSS per connection.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// The receiver's process id (to read /proc/<pid>/status).
        #[arg(long)]
        pid: u32,
        #[arg(long, default_value_t = 100)]
        chats: usize,
        /// Source addresses to connect from, in turn (more than ~28k connections need
        /// several: each address has one set of ephemeral ports).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4"
        )]
        sources: Vec<IpAddr>,
        /// Pause before each memory reading.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        settle: Duration,
    },
    /// A steady rate for a long time against a running deployment, watching server
    /// processes for leaks: resident memory, open files, threads and tokio tasks, each
    /// compared from the end of the warm-up to the end of the run (the start is shown
    /// too), plus loss and duplicates. Exits with an error if a check fails. Not for
    /// CI: it is meant to run for long.
    Soak {
        /// Messages per second.
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Readings before this are not compared (caches and allocators grow first).
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
        warmup: Duration,
        /// How often the processes are read.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        interval: Duration,
        /// Server processes to watch, comma-separated: PID, or PID=URL to also read
        /// `chat_tokio_tasks` from URL/metrics (e.g. 4242=http://127.0.0.1:4005).
        #[arg(long = "pid", value_delimiter = ',', required = true)]
        pids: Vec<Watched>,
        /// How much resident memory may grow after the warm-up, in percent.
        #[arg(long, default_value_t = 10.0)]
        max_rss_growth: f64,
        /// How many more open files a process may have at the end.
        #[arg(long, default_value_t = 32)]
        fd_slack: u64,
        /// How many more threads a process may have at the end.
        #[arg(long, default_value_t = 8)]
        thread_slack: u64,
        /// How many more tokio tasks a process may have at the end.
        #[arg(long, default_value_t = 64)]
        task_slack: u64,
        /// Chats that get messages.
        #[arg(long, default_value_t = 20)]
        chats: usize,
        /// People in each chat.
        #[arg(long, default_value_t = 5)]
        participants: usize,
        /// Subscriptions (each its own connection), spread over chats and receivers.
        #[arg(long, default_value_t = 200)]
        subscribers: usize,
        /// People registered.
        #[arg(long, default_value_t = 40)]
        people: usize,
        /// After sending, how long to wait for every delivery.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        drain: Duration,
    },
    /// Fan-out at rising rates until delivery p99 passes a bound.
    Ramp {
        #[arg(long, default_value_t = 250.0)]
        start: f64,
        #[arg(long, default_value_t = 250.0)]
        step: f64,
        #[arg(long, default_value_t = 10_000.0)]
        max: f64,
        /// The delivery p99 a step must stay under.
        #[arg(long, default_value = "25ms", value_parser = humantime::parse_duration)]
        bound: Duration,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        step_duration: Duration,
        #[command(flatten)]
        world: WorldArgs,
    },
}

fn tag() -> String {
    format!("bench{}x", std::process::id())
}

fn shape(world: &WorldArgs) -> Shape {
    Shape {
        people: world.people,
        chats: world.chats,
        participants: world.participants,
        subscribers: world.subscribers,
    }
}

fn phase_rows(report: &PhaseReport) -> Vec<(&'static str, String)> {
    vec![
        (
            "rate (target / achieved)",
            format!(
                "{:.0} / {:.0} msg/s",
                report.target_rate, report.achieved_rate
            ),
        ),
        (
            "sent (failed)",
            format!("{} ({})", report.sent, report.failed_sends),
        ),
        (
            "deliveries (expected)",
            format!("{} ({})", report.deliveries, report.expected_deliveries),
        ),
        (
            "lost / duplicated",
            format!("{} / {}", report.lost, report.duplicated),
        ),
        (
            "delivery p50 / p99 / p99.9",
            format!(
                "{} / {} / {}",
                ms(report.latency_ms.p50),
                ms(report.latency_ms.p99),
                ms(report.latency_ms.p999)
            ),
        ),
        ("delivery max", ms(report.latency_ms.max)),
        (
            "send p50 / p99",
            format!(
                "{} / {}",
                ms(report.send_latency_ms.p50),
                ms(report.send_latency_ms.p99)
            ),
        ),
        (
            "deliveries per second",
            format!("{:.0}", report.deliveries as f64 / report.duration_s),
        ),
    ]
}

#[derive(Serialize)]
struct RampReport {
    bound_ms: f64,
    knee_rate: Option<f64>,
    steps: Vec<PhaseReport>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let targets = Targets {
        users: cli.users,
        senders: cli.senders,
        receivers: cli.receivers,
    };
    targets.check_loopback()?;
    match cli.mode {
        Mode::Fanout {
            rate,
            duration,
            world,
        } => {
            anyhow::ensure!(duration <= Duration::from_secs(600), "at most 10 minutes");
            eprintln!(
                "setting up {} chats, {} subscribers…",
                world.chats, world.subscribers
            );
            let built = World::build(&targets, &tag(), shape(&world)).await?;
            eprintln!("sending {rate} msg/s for {duration:?}…");
            let report = built.send_phase(rate, duration, world.drain).await;
            table(
                &format!(
                    "fanout: {} chats × {} people, {} subscribers over {} receivers",
                    world.chats,
                    world.participants,
                    world.subscribers,
                    targets.receivers.len()
                ),
                &phase_rows(&report),
            );
            save_json(cli.json.as_deref(), &report)?;
        }
        Mode::Writes {
            concurrency,
            chats,
            duration,
        } => {
            anyhow::ensure!(duration <= Duration::from_secs(600), "at most 10 minutes");
            let report = writes::run(&targets, &tag(), concurrency, chats, duration).await?;
            table(
                &format!("writes: {concurrency} writers over {} chats", report.chats),
                &[
                    (
                        "messages (errors)",
                        format!("{} ({})", report.messages, report.errors),
                    ),
                    ("throughput", format!("{:.0} msg/s", report.per_second)),
                    (
                        "latency p50 / p99 / max",
                        format!(
                            "{} / {} / {}",
                            ms(report.latency_ms.p50),
                            ms(report.latency_ms.p99),
                            ms(report.latency_ms.max)
                        ),
                    ),
                ],
            );
            save_json(cli.json.as_deref(), &report)?;
        }
        Mode::Idle {
            connections,
            pid,
            chats,
            sources,
            settle,
        } => {
            anyhow::ensure!(connections <= 200_000, "at most 200,000 connections");
            let (report, _held) =
                idle::run(&targets, &tag(), connections, chats, pid, &sources, settle).await?;
            table(
                &format!(
                    "idle: {connections} subscribed connections to {}",
                    targets.receivers[0]
                ),
                &[
                    (
                        "connected (failed)",
                        format!("{} ({})", report.connected, report.failed),
                    ),
                    (
                        "receiver RSS before / after",
                        format!("{} / {} KiB", report.rss_before_kib, report.rss_after_kib),
                    ),
                    (
                        "RSS per connection",
                        format!("{:.1} KiB", report.kib_per_connection),
                    ),
                    (
                        "first error",
                        report.first_error.clone().unwrap_or_else(|| "-".into()),
                    ),
                ],
            );
            save_json(cli.json.as_deref(), &report)?;
        }
        Mode::Soak {
            rate,
            duration,
            warmup,
            interval,
            pids,
            max_rss_growth,
            fd_slack,
            thread_slack,
            task_slack,
            chats,
            participants,
            subscribers,
            people,
            drain,
        } => {
            let plan = Plan {
                rate,
                duration,
                warmup,
                interval,
                drain,
                bounds: Bounds {
                    rss_growth_pct: max_rss_growth,
                    fd_slack,
                    thread_slack,
                    task_slack,
                },
            };
            plan.check(&pids)?;
            eprintln!("setting up {chats} chats, {subscribers} subscribers…");
            let shape = Shape {
                people,
                chats,
                participants,
                subscribers,
            };
            let built = World::build(&targets, &tag(), shape).await?;
            eprintln!(
                "sending {rate} msg/s for {duration:?}, reading {} process(es) every {interval:?}…",
                pids.len()
            );
            let report = soak::run(&built, &plan, &pids).await?;
            let mut rows = vec![(
                "warm-up / readings every",
                format!("{warmup:?} / {interval:?}"),
            )];
            rows.extend(phase_rows(&report.delivery));
            rows.push(("delivery", soak::verdict(report.delivery_ok).to_string()));
            let mut process_rows = Vec::new();
            for p in &report.processes {
                let name = match &p.watched.url {
                    Some(url) => format!("{} ({url})", p.watched.pid),
                    None => p.watched.pid.to_string(),
                };
                let mib = |kib: u64| kib as f64 / 1024.0;
                process_rows.push((
                    format!("{name} RSS after warm-up → end"),
                    format!(
                        "{:.1} → {:.1} MiB ({:+.1} %, start {:.1}) {}",
                        mib(p.baseline.rss_kib),
                        mib(p.end.rss_kib),
                        p.rss_growth_pct,
                        mib(p.start.rss_kib),
                        soak::verdict(p.rss_ok)
                    ),
                ));
                process_rows.push((
                    format!("{name} open files start / warm / end"),
                    format!(
                        "{} / {} / {} {}",
                        p.start.fds,
                        p.baseline.fds,
                        p.end.fds,
                        soak::verdict(p.fds_ok)
                    ),
                ));
                process_rows.push((
                    format!("{name} threads start / warm / end"),
                    format!(
                        "{} / {} / {} {}",
                        p.start.threads,
                        p.baseline.threads,
                        p.end.threads,
                        soak::verdict(p.threads_ok)
                    ),
                ));
                let tasks = |s: &soak::Sample| {
                    s.tokio_tasks
                        .map_or_else(|| "-".to_string(), |t| t.to_string())
                };
                process_rows.push((
                    format!("{name} tokio tasks start / warm / end"),
                    format!(
                        "{} / {} / {} {}",
                        tasks(&p.start),
                        tasks(&p.baseline),
                        tasks(&p.end),
                        p.tasks_ok.map_or("(no gauge)", soak::verdict)
                    ),
                ));
            }
            rows.extend(process_rows.iter().map(|(k, v)| (k.as_str(), v.clone())));
            rows.push((
                "verdict",
                if report.passed() { "PASS" } else { "FAIL" }.to_string(),
            ));
            table(
                &format!(
                    "soak: {rate} msg/s for {duration:?} into {chats} chats, {subscribers} subscribers"
                ),
                &rows,
            );
            save_json(cli.json.as_deref(), &report)?;
            if !report.passed() {
                anyhow::bail!("soak failed: {}", report.failures.join("; "));
            }
        }
        Mode::Ramp {
            start,
            step,
            max,
            bound,
            step_duration,
            world,
        } => {
            anyhow::ensure!(
                max <= 100_000.0 && step > 0.0,
                "a positive step, up to 100,000 msg/s"
            );
            let built = World::build(&targets, &tag(), shape(&world)).await?;
            let bound_ms = bound.as_secs_f64() * 1000.0;
            let mut steps = Vec::new();
            let mut knee = None;
            let mut rate = start;
            while rate <= max {
                let report = built.send_phase(rate, step_duration, world.drain).await;
                let ok = report.latency_ms.p99 <= bound_ms
                    && report.lost == 0
                    && report.failed_sends == 0;
                eprintln!(
                    "{rate:>8.0} msg/s: p99 {:.2} ms, lost {}, {}",
                    report.latency_ms.p99,
                    report.lost,
                    if ok { "ok" } else { "over" }
                );
                steps.push(report);
                if !ok {
                    break;
                }
                knee = Some(rate);
                rate += step;
            }
            table(
                "ramp",
                &[
                    ("bound (delivery p99)", ms(bound_ms)),
                    (
                        "knee",
                        knee.map_or("below the first step".into(), |r| format!("{r:.0} msg/s")),
                    ),
                ],
            );
            save_json(
                cli.json.as_deref(),
                &RampReport {
                    bound_ms,
                    knee_rate: knee,
                    steps,
                },
            )?;
        }
    }
    Ok(())
}
