//! Fan-out: messages at a set rate into many chats, each with subscribers spread over
//! the receivers; every delivery is timed from send to receipt and checked for loss
//! and duplication.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::client::{Delivery, Http, RoundRobin, Subscriber, Targets};
use crate::histogram::Histogram;
use crate::procfs::cpu_seconds;
use crate::report::{Report, ms, row};
use crate::setup::{self, Chat, Person};

/// The most sends in flight at once.
const MAX_IN_FLIGHT: u32 = 2048;

/// The shape of the world a fan-out (or ramp) runs in.
#[derive(Clone, Debug, Serialize)]
pub struct Shape {
    pub people: usize,
    pub chats: usize,
    pub participants: usize,
    pub subscribers: usize,
}

/// People, chats and live subscribers, ready for send phases.
pub struct World {
    http: Http,
    targets: Targets,
    people: Vec<Person>,
    chats: Vec<Chat>,
    /// Messages stored per chat so far (each chat's newest seq).
    stored: Arc<Vec<AtomicI64>>,
    /// Each subscriber's chat and the last seq it received.
    subscribers: Vec<(usize, Arc<AtomicI64>)>,
    stats: Arc<Stats>,
    started: Instant,
    /// Send phases so far: each phase's clientIds are its own (a clientId sent again
    /// by the same author to the same chat is a retry, and creates nothing).
    phases: AtomicU64,
    pub shape: Shape,
}

/// What subscribers record.
#[derive(Default)]
struct Stats {
    latency: Histogram,
    deliveries: AtomicU64,
    duplicates: AtomicU64,
    gaps: AtomicU64,
    errors: AtomicU64,
}

/// The outcome of one send phase.
#[derive(Debug, Serialize)]
pub struct PhaseReport {
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub duration_s: f64,
    pub sent: u64,
    pub failed_sends: u64,
    pub expected_deliveries: u64,
    pub deliveries: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub subscriber_errors: u64,
    pub latency_ms: Percentiles,
    pub send_latency_ms: Percentiles,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl PhaseReport {
    /// The table rows of one phase (fan-out, soak and each ramp step share them).
    pub fn rows(&self) -> Vec<(String, String)> {
        let (delivery, send) = (&self.latency_ms, &self.send_latency_ms);
        vec![
            row(
                "rate (target / achieved)",
                format!("{:.0} / {:.0} msg/s", self.target_rate, self.achieved_rate),
            ),
            row(
                "sent (failed)",
                format!("{} ({})", self.sent, self.failed_sends),
            ),
            row(
                "deliveries (expected)",
                format!("{} ({})", self.deliveries, self.expected_deliveries),
            ),
            row(
                "lost / duplicated",
                format!("{} / {}", self.lost, self.duplicated),
            ),
            row(
                "delivery p50 / p99 / p99.9",
                format!(
                    "{} / {} / {}",
                    ms(delivery.p50),
                    ms(delivery.p99),
                    ms(delivery.p999)
                ),
            ),
            row("delivery max", ms(delivery.max)),
            row(
                "send p50 / p99",
                format!("{} / {}", ms(send.p50), ms(send.p99)),
            ),
            row(
                "deliveries per second",
                format!("{:.0}", self.deliveries as f64 / self.duration_s),
            ),
        ]
    }
}

/// One fan-out run: the world it ran in and its one phase.
#[derive(Debug, Serialize)]
pub struct FanoutReport {
    pub shape: Shape,
    pub receivers: usize,
    #[serde(flatten)]
    pub phase: PhaseReport,
    /// CPU the watched receiver processes used during the send phase (its drain
    /// included), per delivery, in µs: what one delivery costs a receiver.
    pub receiver_cpu_us_per_delivery: Option<f64>,
}

impl Report for FanoutReport {
    fn title(&self) -> String {
        format!(
            "fanout: {} chats × {} people, {} subscribers over {} receivers",
            self.shape.chats, self.shape.participants, self.shape.subscribers, self.receivers
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        let mut rows = self.phase.rows();
        if let Some(us) = self.receiver_cpu_us_per_delivery {
            rows.push(row("receiver CPU per delivery", format!("{us:.1} µs")));
        }
        rows
    }
}

/// Builds the world, then sends at `rate` for `duration`; with `receiver_pids`, reads
/// those processes' CPU time (`/proc`) as the send phase starts and ends.
pub async fn run(
    targets: &Targets,
    tag: &str,
    shape: Shape,
    rate: f64,
    duration: Duration,
    drain: Duration,
    receiver_pids: &[u32],
) -> anyhow::Result<FanoutReport> {
    anyhow::ensure!(duration <= Duration::from_secs(600), "at most 10 minutes");
    eprintln!(
        "setting up {} chats, {} subscribers…",
        shape.chats, shape.subscribers
    );
    let world = World::build(targets, tag, shape.clone()).await?;
    eprintln!("sending {rate} msg/s for {duration:?}…");
    let cpu = || -> anyhow::Result<f64> { receiver_pids.iter().map(|&p| cpu_seconds(p)).sum() };
    let cpu_before = cpu()?;
    let phase = world.send_phase(rate, duration, drain).await;
    let cpu_used = cpu()? - cpu_before;
    Ok(FanoutReport {
        shape,
        receivers: targets.receivers.len(),
        receiver_cpu_us_per_delivery: (!receiver_pids.is_empty() && phase.deliveries > 0)
            .then(|| cpu_used * 1e6 / phase.deliveries as f64),
        phase,
    })
}

impl Percentiles {
    pub fn of(h: &Histogram) -> Self {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Self {
            p50: ms(h.quantile(0.5)),
            p90: ms(h.quantile(0.9)),
            p99: ms(h.quantile(0.99)),
            p999: ms(h.quantile(0.999)),
            max: ms(h.max()),
            mean: ms(h.mean()),
        }
    }
}

impl World {
    /// Registers people, creates chats, and opens every subscription.
    pub async fn build(targets: &Targets, tag: &str, shape: Shape) -> anyhow::Result<Self> {
        let http = Http::default();
        let people =
            setup::people(&http, targets, tag, shape.people.max(shape.participants)).await?;
        let chats = setup::groups(&http, targets, &people, shape.chats, shape.participants).await?;
        let stats = Arc::new(Stats::default());
        let started = Instant::now();
        let plans: Vec<(usize, usize, String)> = (0..shape.subscribers)
            .map(|k| {
                let chat = k % chats.len();
                let member = chats[chat].members[(k / chats.len()) % chats[chat].members.len()];
                (
                    chat,
                    member,
                    targets.receivers[k % targets.receivers.len()].clone(),
                )
            })
            .collect();
        let connected = futures::stream::iter(plans)
            .map(|(chat, member, receiver)| {
                let (token, chat_id) = (people[member].token.clone(), chats[chat].id.clone());
                let selection = targets.selection;
                async move {
                    let subscriber =
                        Subscriber::connect(&receiver, &token, &chat_id, selection, None).await?;
                    Ok::<_, anyhow::Error>((chat, subscriber))
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await;
        let mut subscribers = Vec::with_capacity(connected.len());
        for result in connected {
            let (chat, subscriber) = result.context("opening a subscription")?;
            let last = Arc::new(AtomicI64::new(0));
            subscribers.push((chat, last.clone()));
            tokio::spawn(listen(subscriber, last, stats.clone(), started));
        }
        // Let every subscription reach the hub before anything is sent.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(Self {
            http,
            targets: targets.clone(),
            stored: Arc::new(chats.iter().map(|_| AtomicI64::new(0)).collect()),
            people,
            chats,
            subscribers,
            stats,
            started,
            phases: AtomicU64::new(0),
            shape,
        })
    }

    /// Sends at `rate` messages a second for `duration`, then waits up to `drain` for
    /// every subscriber to have everything.
    pub async fn send_phase(&self, rate: f64, duration: Duration, drain: Duration) -> PhaseReport {
        self.stats.latency.reset();
        let deliveries_before = self.stats.deliveries.load(Ordering::Relaxed);
        let duplicates_before = self.stats.duplicates.load(Ordering::Relaxed);
        let gaps_before = self.stats.gaps.load(Ordering::Relaxed);
        let errors_before = self.stats.errors.load(Ordering::Relaxed);
        let expected_before: i64 = self
            .subscribers
            .iter()
            .map(|(c, _)| self.stored[*c].load(Ordering::Relaxed))
            .sum();

        let send_latency = Arc::new(Histogram::default());
        let sent = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT as usize));
        let turn = RoundRobin::default();
        let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let phase_start = Instant::now();
        let total = (rate * duration.as_secs_f64()).round() as u64;
        let phase = self.phases.fetch_add(1, Ordering::Relaxed);
        // Each send records its own result: no handle is kept per message, so a long
        // phase (a soak) holds only the sends in flight.
        for n in 0..total {
            ticks.tick().await;
            let chat = n as usize % self.chats.len();
            let members = &self.chats[chat].members;
            let author = &self.people[members[(n as usize / self.chats.len()) % members.len()]];
            let sender = turn.pick(&self.targets.senders).to_string();
            let (http, token, chat_id) = (
                self.http.clone(),
                author.token.clone(),
                self.chats[chat].id.clone(),
            );
            let (send_latency, sent, failed) = (send_latency.clone(), sent.clone(), failed.clone());
            let permit = in_flight
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore open");
            let (started, stored) = (self.started, self.stored.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let at = Instant::now();
                let content = started.elapsed().as_micros().to_string();
                let result = http
                    .call(
                        &sender,
                        Some(&token),
                        chat_types::ops::CREATE_MESSAGE,
                        json!({ "input": { "chatId": chat_id, "content": content, "clientId": format!("b{phase}-{n}") } }),
                        "createMessage",
                    )
                    .await;
                send_latency.record(at.elapsed());
                match result {
                    Ok(message) => {
                        sent.fetch_add(1, Ordering::Relaxed);
                        if let Some(seq) = message["seq"].as_i64() {
                            stored[chat].fetch_max(seq, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        // Every send has finished once all the permits are back.
        drop(
            in_flight
                .acquire_many(MAX_IN_FLIGHT)
                .await
                .expect("semaphore open"),
        );
        let elapsed = phase_start.elapsed();

        // Drain: everyone has everything, or time is up.
        let deadline = Instant::now() + drain;
        while Instant::now() < deadline && !self.all_caught_up() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let expected: i64 = self
            .subscribers
            .iter()
            .map(|(c, _)| self.stored[*c].load(Ordering::Relaxed))
            .sum();
        let lost: i64 = self
            .subscribers
            .iter()
            .map(|(c, last)| {
                (self.stored[*c].load(Ordering::Relaxed) - last.load(Ordering::Relaxed)).max(0)
            })
            .sum();
        let sent = sent.load(Ordering::Relaxed);
        PhaseReport {
            target_rate: rate,
            achieved_rate: sent as f64 / elapsed.as_secs_f64(),
            duration_s: elapsed.as_secs_f64(),
            sent,
            failed_sends: failed.load(Ordering::Relaxed),
            expected_deliveries: (expected - expected_before) as u64,
            deliveries: self.stats.deliveries.load(Ordering::Relaxed) - deliveries_before,
            lost: lost as u64 + self.stats.gaps.load(Ordering::Relaxed) - gaps_before,
            duplicated: self.stats.duplicates.load(Ordering::Relaxed) - duplicates_before,
            subscriber_errors: self.stats.errors.load(Ordering::Relaxed) - errors_before,
            latency_ms: Percentiles::of(&self.stats.latency),
            send_latency_ms: Percentiles::of(&send_latency),
        }
    }

    fn all_caught_up(&self) -> bool {
        self.subscribers.iter().all(|(c, last)| {
            last.load(Ordering::Relaxed) >= self.stored[*c].load(Ordering::Relaxed)
        })
    }
}

/// Reads one subscription until it closes, checking order and timing each message.
async fn listen(
    mut subscriber: Subscriber,
    last: Arc<AtomicI64>,
    stats: Arc<Stats>,
    started: Instant,
) {
    loop {
        match subscriber.next().await {
            Ok(Delivery::Message { seq, content }) => {
                let previous = last.load(Ordering::Relaxed);
                if seq <= previous {
                    stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if seq > previous + 1 {
                    stats
                        .gaps
                        .fetch_add((seq - previous - 1) as u64, Ordering::Relaxed);
                }
                last.store(seq, Ordering::Relaxed);
                stats.deliveries.fetch_add(1, Ordering::Relaxed);
                if let Ok(sent_us) = content.parse::<u64>() {
                    let now = started.elapsed();
                    stats
                        .latency
                        .record(now.saturating_sub(Duration::from_micros(sent_us)));
                }
            }
            Ok(Delivery::Closed) => return,
            Err(_) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}
