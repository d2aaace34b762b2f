//! The chat-bench command line.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use chat_bench::client::{Selection, Targets};
use chat_bench::modes::fanout::{self, Shape};
use chat_bench::modes::ramp::{self, Steps};
use chat_bench::modes::soak::{self, Bounds, Plan, Watched};
use chat_bench::modes::{idle, presence, search, writes};
use chat_bench::report::publish;
use clap::{Args, Parser, Subcommand};

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
        default_values_t = chat_types::instances::local_urls(chat_types::instances::Service::User)
    )]
    users: Vec<String>,
    /// Sender instances.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = chat_types::instances::local_urls(chat_types::instances::Service::Sender)
    )]
    senders: Vec<String>,
    /// Receiver instances.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = chat_types::instances::local_urls(chat_types::instances::Service::Receiver)
    )]
    receivers: Vec<String>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// What `idle` and `fanout` subscribers select of each message.
    #[arg(long, value_enum, default_value_t = Selection::App)]
    selection: Selection,
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
        /// Receiver processes whose CPU time to read during the send phase (comma
        /// separated), to report CPU per delivery.
        #[arg(long, value_delimiter = ',')]
        receiver_pid: Vec<u32>,
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
    /// A long history written through the senders, then searchMessages for words
    /// from the rarest to the most common, through both receivers.
    Search {
        /// Messages in the history.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        #[arg(long, default_value_t = 500)]
        chats: usize,
        #[arg(long, default_value_t = 500)]
        people: usize,
        /// People in each chat (with the defaults, each person is in 20 chats).
        #[arg(long, default_value_t = 20)]
        participants: usize,
        /// How many times each kind of query is asked.
        #[arg(long, default_value_t = 200)]
        asks: usize,
        /// A pause between writing the history and searching it (for the database's
        /// statistics: autovacuum analyses a table after a bulk load; with it off, run
        /// ANALYZE then).
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        settle: Duration,
    },
    /// Many people connected with presenceChanged open, each in many chats, reporting
    /// as the web app does; the bus events, deliveries and receivers' CPU it costs.
    Presence {
        #[arg(long, default_value_t = 5000)]
        people: usize,
        /// People in each chat.
        #[arg(long, default_value_t = 25)]
        participants: usize,
        #[arg(long, default_value_t = 20)]
        chats_per_person: usize,
        #[arg(long, default_value = "3m", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// The share of people who step away and come back each minute.
        #[arg(long, default_value_t = 0.1)]
        away_share: f64,
        /// The receivers' process ids (their CPU time is read from /proc).
        #[arg(long = "receiver-pid", value_delimiter = ',', required = true)]
        receiver_pids: Vec<u32>,
        /// Source addresses to connect from, in turn.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4"
        )]
        sources: Vec<IpAddr>,
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

impl WorldArgs {
    fn shape(&self) -> Shape {
        Shape {
            people: self.people,
            chats: self.chats,
            participants: self.participants,
            subscribers: self.subscribers,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let targets = Targets {
        users: cli.users,
        senders: cli.senders,
        receivers: cli.receivers,
        selection: cli.selection,
    };
    targets.check_loopback()?;
    let (tag, json) = (tag(), cli.json.as_deref());
    match cli.mode {
        Mode::Fanout {
            rate,
            duration,
            receiver_pid,
            world,
        } => {
            let report = fanout::run(
                &targets,
                &tag,
                world.shape(),
                rate,
                duration,
                world.drain,
                &receiver_pid,
            )
            .await?;
            publish(&report, json)
        }
        Mode::Writes {
            concurrency,
            chats,
            duration,
        } => publish(
            &writes::run(&targets, &tag, concurrency, chats, duration).await?,
            json,
        ),
        Mode::Idle {
            connections,
            pid,
            chats,
            sources,
            settle,
        } => {
            let (report, _open) =
                idle::run(&targets, &tag, connections, chats, pid, &sources, settle).await?;
            publish(&report, json)
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
            let shape = Shape {
                people,
                chats,
                participants,
                subscribers,
            };
            publish(&soak::run(&targets, &tag, shape, &plan, &pids).await?, json)
        }
        Mode::Presence {
            people,
            participants,
            chats_per_person,
            duration,
            away_share,
            receiver_pids,
            sources,
        } => {
            let metrics = targets
                .senders
                .iter()
                .chain(&targets.receivers)
                .cloned()
                .collect();
            let plan = presence::Plan {
                people,
                participants,
                chats_per_person,
                duration,
                away_share,
                receiver_pids,
                metrics,
                sources,
            };
            publish(&presence::run(&targets, &tag, plan).await?, json)
        }
        Mode::Search {
            messages,
            chats,
            people,
            participants,
            asks,
            settle,
        } => {
            let plan = search::Plan {
                messages,
                chats,
                people,
                participants,
                asks,
                settle,
            };
            publish(&search::run(&targets, &tag, plan).await?, json)
        }
        Mode::Ramp {
            start,
            step,
            max,
            bound,
            step_duration,
            world,
        } => {
            let steps = Steps {
                start,
                step,
                max,
                each: step_duration,
                drain: world.drain,
            };
            publish(
                &ramp::run(&targets, &tag, world.shape(), steps, bound).await?,
                json,
            )
        }
    }
}
