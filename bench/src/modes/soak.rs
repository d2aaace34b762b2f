//! Soak: messages at a steady rate for a long time (a fan-out phase), while the server
//! processes are watched for leaks: resident memory, open file descriptors, threads,
//! and, where a service's `/metrics` has it, its tokio tasks (`chat_tokio_tasks`).
//!
//! Memory is compared from the end of a warm-up (allocators and caches have grown to
//! their working size by then) to the end of the run; the counts likewise, with a
//! small slack. Delivery is checked as in fan-out: nothing lost, nothing twice.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::client::Targets;
use crate::modes::fanout::{PhaseReport, Shape, World};
use crate::procfs::rss_kib;
use crate::report::{Report, row, verdict};

/// A server process to watch: its pid, and optionally its base URL for `/metrics`.
#[derive(Clone, Debug, Serialize)]
pub struct Watched {
    pub pid: u32,
    pub url: Option<String>,
}

impl FromStr for Watched {
    type Err = String;

    /// `PID` or `PID=URL` (e.g. `4242=http://127.0.0.1:4005`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (pid, url) = match s.split_once('=') {
            Some((pid, url)) => (pid, Some(url.trim_end_matches('/').to_string())),
            None => (s, None),
        };
        let pid = pid
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: expected PID or PID=URL"))?;
        Ok(Self { pid, url })
    }
}

/// What a soak passes with.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Bounds {
    /// Resident memory at the end may exceed the after-warm-up figure by this much.
    pub rss_growth_pct: f64,
    /// Open file descriptors may grow by this many.
    pub fd_slack: u64,
    /// Threads may grow by this many.
    pub thread_slack: u64,
    /// Tokio tasks may grow by this many.
    pub task_slack: u64,
}

/// One reading of one process.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Seconds since the send phase started.
    pub at_s: f64,
    pub pid: u32,
    pub rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
    pub tokio_tasks: Option<u64>,
}

/// How one process did.
#[derive(Debug, Serialize)]
pub struct ProcessReport {
    pub watched: Watched,
    /// The first reading, as sending started.
    pub start: Sample,
    /// The first reading after the warm-up: what the end is compared with.
    pub baseline: Sample,
    pub end: Sample,
    pub rss_growth_pct: f64,
    pub rss_ok: bool,
    pub fds_ok: bool,
    pub threads_ok: bool,
    /// `None` when the process has no tasks gauge.
    pub tasks_ok: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub shape: Shape,
    pub rate: f64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub interval_s: f64,
    pub bounds: Bounds,
    pub delivery: PhaseReport,
    pub delivery_ok: bool,
    pub processes: Vec<ProcessReport>,
    /// What failed, in words; empty when the soak passed.
    pub failures: Vec<String>,
    pub samples: Vec<Sample>,
}

impl SoakReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Open file descriptors of `pid`.
pub fn fd_count(pid: u32) -> anyhow::Result<u64> {
    count_entries(&format!("/proc/{pid}/fd"))
}

/// Threads of `pid`.
pub fn thread_count(pid: u32) -> anyhow::Result<u64> {
    count_entries(&format!("/proc/{pid}/task"))
}

fn count_entries(dir: &str) -> anyhow::Result<u64> {
    Ok(std::fs::read_dir(dir)
        .with_context(|| format!("reading {dir}"))?
        .count() as u64)
}

/// `chat_tokio_tasks` from `{url}/metrics`, if the service has it.
async fn tokio_tasks(http: &reqwest::Client, url: &str) -> Option<u64> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("chat_tokio_tasks "))
        .and_then(|v| v.trim().parse().ok())
}

async fn sample(http: &reqwest::Client, watched: &Watched, at_s: f64) -> anyhow::Result<Sample> {
    let tokio_tasks = match &watched.url {
        Some(url) => tokio_tasks(http, url).await,
        None => None,
    };
    Ok(Sample {
        at_s,
        pid: watched.pid,
        rss_kib: rss_kib(watched.pid)?,
        fds: fd_count(watched.pid)?,
        threads: thread_count(watched.pid)?,
        tokio_tasks,
    })
}

/// How a soak runs.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Messages per second.
    pub rate: f64,
    pub duration: Duration,
    /// Readings before this are not compared.
    pub warmup: Duration,
    /// How often the processes are read.
    pub interval: Duration,
    /// After sending, how long to wait for every delivery.
    pub drain: Duration,
    pub bounds: Bounds,
}

impl Plan {
    /// Checks the plan and that every process can be read, before anything is set up.
    pub fn check(&self, watched: &[Watched]) -> anyhow::Result<()> {
        if self.duration > Duration::from_secs(24 * 3600) {
            bail!("a soak runs at most 24 hours");
        }
        if self.warmup >= self.duration {
            bail!(
                "the warm-up ({:?}) must end before the run does ({:?})",
                self.warmup,
                self.duration
            );
        }
        if self.interval.is_zero() || self.interval > self.duration {
            bail!("the sampling interval must be positive and within the run");
        }
        if !(self.rate > 0.0 && self.rate <= 100_000.0) {
            bail!("a rate above 0, up to 100,000 msg/s");
        }
        for process in watched {
            rss_kib(process.pid)
                .with_context(|| format!("cannot watch process {}", process.pid))?;
            fd_count(process.pid)?;
        }
        Ok(())
    }
}

/// Builds a world of `shape`, then soaks it ([`run_in`]).
pub async fn run(
    targets: &Targets,
    tag: &str,
    shape: Shape,
    plan: &Plan,
    watched: &[Watched],
) -> anyhow::Result<SoakReport> {
    plan.check(watched)?;
    eprintln!(
        "setting up {} chats, {} subscribers…",
        shape.chats, shape.subscribers
    );
    let world = World::build(targets, tag, shape).await?;
    eprintln!(
        "sending {} msg/s for {:?}, reading {} process(es) every {:?}…",
        plan.rate,
        plan.duration,
        watched.len(),
        plan.interval
    );
    run_in(&world, plan, watched).await
}

/// Sends at the plan's rate for its duration in `world`, reading every watched process
/// at each interval, and judges the run against the bounds (from the first reading
/// after the warm-up to the last).
pub async fn run_in(world: &World, plan: &Plan, watched: &[Watched]) -> anyhow::Result<SoakReport> {
    let Plan {
        rate,
        duration,
        warmup,
        interval,
        drain,
        bounds,
    } = *plan;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    for process in watched {
        sample(&http, process, 0.0)
            .await
            .with_context(|| format!("watching process {}", process.pid))?;
    }
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let started = Instant::now();
    let sampler = {
        let (http, watched, samples) = (http.clone(), watched.to_vec(), samples.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let at_s = started.elapsed().as_secs_f64();
                let mut line = format!("{:>7.0} s", at_s);
                for process in &watched {
                    match sample(&http, process, at_s).await {
                        Ok(s) => {
                            line.push_str(&format!(
                                " | {}: {:.1} MiB, {} fds, {} threads{}",
                                s.pid,
                                s.rss_kib as f64 / 1024.0,
                                s.fds,
                                s.threads,
                                s.tokio_tasks
                                    .map(|t| format!(", {t} tasks"))
                                    .unwrap_or_default()
                            ));
                            samples.lock().expect("samples").push(s);
                        }
                        Err(e) => line.push_str(&format!(" | {}: {e:#}", process.pid)),
                    }
                }
                eprintln!("{line}");
            }
        })
    };
    let delivery = world.send_phase(rate, duration, drain).await;
    sampler.abort();
    // The end: one last reading of each, after the phase (and its drain).
    let at_s = started.elapsed().as_secs_f64();
    let mut ends = Vec::new();
    for process in watched {
        let end = sample(&http, process, at_s)
            .await
            .with_context(|| format!("process {} at the end (did it exit?)", process.pid))?;
        samples.lock().expect("samples").push(end.clone());
        ends.push(end);
    }
    let samples = std::mem::take(&mut *samples.lock().expect("samples"));

    let mut failures = Vec::new();
    let delivery_ok = delivery.failed_sends == 0
        && delivery.lost == 0
        && delivery.duplicated == 0
        && delivery.subscriber_errors == 0;
    if !delivery_ok {
        failures.push(format!(
            "delivery: {} failed sends, {} lost, {} duplicated, {} subscriber errors",
            delivery.failed_sends, delivery.lost, delivery.duplicated, delivery.subscriber_errors
        ));
    }
    let warmup_s = warmup.as_secs_f64();
    let mut processes = Vec::new();
    for (process, end) in watched.iter().zip(ends) {
        let own: Vec<&Sample> = samples.iter().filter(|s| s.pid == process.pid).collect();
        let start = own.first().map_or_else(|| end.clone(), |s| (*s).clone());
        let baseline = own
            .iter()
            .find(|s| s.at_s >= warmup_s)
            .map_or_else(|| end.clone(), |s| (*s).clone());
        let rss_growth_pct =
            (end.rss_kib as f64 - baseline.rss_kib as f64) / baseline.rss_kib.max(1) as f64 * 100.0;
        let rss_ok = rss_growth_pct <= bounds.rss_growth_pct;
        let fds_ok = end.fds <= baseline.fds + bounds.fd_slack;
        let threads_ok = end.threads <= baseline.threads + bounds.thread_slack;
        let tasks_ok = match (baseline.tokio_tasks, end.tokio_tasks) {
            (Some(before), Some(after)) => Some(after <= before + bounds.task_slack),
            _ => None,
        };
        let pid = process.pid;
        if !rss_ok {
            failures.push(format!(
                "{pid}: RSS grew {rss_growth_pct:.1} % after the warm-up ({} → {} KiB)",
                baseline.rss_kib, end.rss_kib
            ));
        }
        if !fds_ok {
            failures.push(format!(
                "{pid}: open files grew from {} to {}",
                baseline.fds, end.fds
            ));
        }
        if !threads_ok {
            failures.push(format!(
                "{pid}: threads grew from {} to {}",
                baseline.threads, end.threads
            ));
        }
        if tasks_ok == Some(false) {
            failures.push(format!(
                "{pid}: tokio tasks grew from {:?} to {:?}",
                baseline.tokio_tasks, end.tokio_tasks
            ));
        }
        processes.push(ProcessReport {
            watched: process.clone(),
            start,
            baseline,
            end,
            rss_growth_pct,
            rss_ok,
            fds_ok,
            threads_ok,
            tasks_ok,
        });
    }
    Ok(SoakReport {
        shape: world.shape.clone(),
        rate,
        duration_s: duration.as_secs_f64(),
        warmup_s,
        interval_s: interval.as_secs_f64(),
        bounds,
        delivery,
        delivery_ok,
        processes,
        failures,
        samples,
    })
}

impl Report for SoakReport {
    fn title(&self) -> String {
        format!(
            "soak: {} msg/s for {:.0} s into {} chats, {} subscribers",
            self.rate, self.duration_s, self.shape.chats, self.shape.subscribers
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![row(
            "warm-up / readings every",
            format!("{:.0} s / {:.0} s", self.warmup_s, self.interval_s),
        )];
        rows.extend(self.delivery.rows());
        rows.push(row("delivery", verdict(self.delivery_ok)));
        for p in &self.processes {
            rows.extend(p.rows());
        }
        rows.push(row("verdict", if self.passed() { "PASS" } else { "FAIL" }));
        rows
    }

    fn failure(&self) -> Option<String> {
        (!self.passed()).then(|| format!("soak failed: {}", self.failures.join("; ")))
    }
}

impl ProcessReport {
    fn rows(&self) -> Vec<(String, String)> {
        let name = match &self.watched.url {
            Some(url) => format!("{} ({url})", self.watched.pid),
            None => self.watched.pid.to_string(),
        };
        let mib = |kib: u64| kib as f64 / 1024.0;
        let tasks = |s: &Sample| {
            s.tokio_tasks
                .map_or_else(|| "-".to_string(), |t| t.to_string())
        };
        let (start, warm, end) = (&self.start, &self.baseline, &self.end);
        vec![
            row(
                format!("{name} RSS after warm-up → end"),
                format!(
                    "{:.1} → {:.1} MiB ({:+.1} %, start {:.1}) {}",
                    mib(warm.rss_kib),
                    mib(end.rss_kib),
                    self.rss_growth_pct,
                    mib(start.rss_kib),
                    verdict(self.rss_ok)
                ),
            ),
            row(
                format!("{name} open files start / warm / end"),
                format!(
                    "{} / {} / {} {}",
                    start.fds,
                    warm.fds,
                    end.fds,
                    verdict(self.fds_ok)
                ),
            ),
            row(
                format!("{name} threads start / warm / end"),
                format!(
                    "{} / {} / {} {}",
                    start.threads,
                    warm.threads,
                    end.threads,
                    verdict(self.threads_ok)
                ),
            ),
            row(
                format!("{name} tokio tasks start / warm / end"),
                format!(
                    "{} / {} / {} {}",
                    tasks(start),
                    tasks(warm),
                    tasks(end),
                    self.tasks_ok.map_or("(no gauge)", verdict)
                ),
            ),
        ]
    }
}
