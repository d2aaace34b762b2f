//! Presence: many people connected at once, each with `presenceChanged` open and each
//! in many chats, reporting as the web app does (once a minute, every page; a share of
//! them stepping away and coming back). What is measured is what that costs: events on
//! the bus, events delivered to the people around, and the receivers' CPU time, next
//! to what publishing every report to every contact would have cost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use crate::client::{Http, Subscriber, Targets};
use crate::procfs::cpu_seconds;
use crate::report::{Report, row};
use crate::setup;

/// How often each page reports (the web app's `REPORT_EVERY`).
const REPORT_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize)]
pub struct PresenceReport {
    pub people: usize,
    pub chats_per_person: usize,
    pub contacts_per_person: f64,
    pub connected: usize,
    pub duration_s: f64,
    pub reports: u64,
    pub report_errors: u64,
    pub changes: u64,
    pub bus_events: u64,
    pub deliveries: u64,
    /// Per receiver: CPU seconds used during the run, and as a share of one core.
    pub receiver_cpu_s: Vec<f64>,
    /// Deliveries had every report gone to every contact.
    pub naive_deliveries: f64,
}

impl Report for PresenceReport {
    fn title(&self) -> String {
        format!(
            "presence: {} people connected, each in {} chats ({:.0} people around)",
            self.connected, self.chats_per_person, self.contacts_per_person
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        let per_s = |n: f64| n / self.duration_s;
        let cpu = self
            .receiver_cpu_s
            .iter()
            .map(|s| format!("{s:.1} s ({:.1}% of a core)", 100.0 * s / self.duration_s))
            .collect::<Vec<_>>()
            .join(", ");
        vec![
            row(
                "reports (errors)",
                format!(
                    "{} ({}), {:.0}/s",
                    self.reports,
                    self.report_errors,
                    per_s(self.reports as f64)
                ),
            ),
            row(
                "changes announced (away and back)",
                format!("{}, {:.1}/s", self.changes, per_s(self.changes as f64)),
            ),
            row(
                "bus events (senders + receivers publish)",
                format!(
                    "{}, {:.1}/s",
                    self.bus_events,
                    per_s(self.bus_events as f64)
                ),
            ),
            row(
                "deliveries to people around",
                format!(
                    "{}, {:.0}/s",
                    self.deliveries,
                    per_s(self.deliveries as f64)
                ),
            ),
            row("receivers' CPU", cpu),
            row(
                "deliveries if every report went to every contact",
                format!("{:.0}/s", per_s(self.naive_deliveries)),
            ),
        ]
    }
}

pub struct Plan {
    pub people: usize,
    pub participants: usize,
    pub chats_per_person: usize,
    pub duration: Duration,
    /// Of the people, the share that steps away and comes back each minute.
    pub away_share: f64,
    /// Receiver process ids, for their CPU time (`/proc/<pid>/stat`).
    pub receiver_pids: Vec<u32>,
    /// Sender and receiver base URLs whose `/metrics` count bus events.
    pub metrics: Vec<String>,
    pub sources: Vec<std::net::IpAddr>,
}

/// The sum of `chat_bus_published_total` over `bases`.
async fn bus_published(http: &Http, bases: &[String]) -> anyhow::Result<u64> {
    let mut total = 0;
    for base in bases {
        let text = http.get_text(&format!("{base}/metrics")).await?;
        total += text
            .lines()
            .filter(|l| l.starts_with("chat_bus_published_total"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum::<f64>() as u64;
    }
    Ok(total)
}

pub async fn run(targets: &Targets, tag: &str, plan: Plan) -> anyhow::Result<PresenceReport> {
    let http = Http::default();
    let people = Arc::new(setup::people(&http, targets, tag, plan.people).await?);
    let chats = plan.people * plan.chats_per_person / plan.participants;
    let groups = setup::groups(&http, targets, &people, chats, plan.participants).await?;
    setup::accept_all(&http, targets, &people, &groups).await?;
    // Consecutive groups overlap, so the people around each one are fewer than
    // chats × participants: counted, not assumed.
    let mut around = vec![std::collections::HashSet::new(); people.len()];
    for group in &groups {
        for &a in &group.members {
            around[a].extend(group.members.iter().copied().filter(|&b| b != a));
        }
    }
    let contacts_per_person =
        around.iter().map(|a| a.len()).sum::<usize>() as f64 / people.len() as f64;

    // Everyone connected, listening for the people around them.
    let deliveries = Arc::new(AtomicU64::new(0));
    let connected = futures::stream::iter(people.iter().enumerate())
        .map(|(i, person)| {
            let receiver = targets.receivers[i % targets.receivers.len()].clone();
            let source = plan.sources.get(i % plan.sources.len().max(1)).copied();
            let token = person.token.clone();
            async move {
                Subscriber::subscribe(
                    &receiver,
                    &token,
                    chat_types::ops::PRESENCE_CHANGED,
                    json!({}),
                    source,
                )
                .await
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let mut open = 0;
    for subscriber in connected.into_iter().flatten() {
        open += 1;
        let deliveries = deliveries.clone();
        tokio::spawn(async move { subscriber.count_results(&deliveries).await });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    deliveries.store(0, Ordering::Relaxed);

    // Everyone says they are here, as their pages open (not measured: arriving).
    let report = {
        let http = http.clone();
        let people = people.clone();
        let senders = targets.senders.clone();
        move |i: usize, status: &'static str| {
            let (http, person, sender) = (
                http.clone(),
                people[i].clone(),
                senders[i % senders.len()].clone(),
            );
            async move {
                http.call(
                    &sender,
                    Some(&person.token),
                    chat_types::ops::REPORT_PRESENCE,
                    json!({ "status": status }),
                    "reportPresence",
                )
                .await
            }
        }
    };
    futures::stream::iter(0..people.len())
        .map(|i| report(i, "ACTIVE"))
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Then as the pages go on: each reports once a minute, spread over the minute; one
    // in `away_each` steps away and comes back, minute by minute.
    deliveries.store(0, Ordering::Relaxed);
    let cpu_before: Vec<f64> = plan
        .receiver_pids
        .iter()
        .map(|&p| cpu_seconds(p))
        .collect::<Result<_, _>>()?;
    let bus_before = bus_published(&http, &plan.metrics).await?;
    let (reports, errors, changes) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let started = Instant::now();
    let every = REPORT_EVERY.as_secs_f64() / people.len() as f64;
    let away_each = (1.0 / plan.away_share.max(1e-9)).round().max(1.0) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(every));
    let mut n = 0usize;
    while started.elapsed() < plan.duration {
        tick.tick().await;
        let (i, round) = (n % people.len(), n / people.len());
        n += 1;
        let stepping = i % away_each == 0;
        let status = if stepping && round % 2 == 0 {
            "AWAY"
        } else {
            "ACTIVE"
        };
        if stepping {
            changes.fetch_add(1, Ordering::Relaxed);
        }
        let sent = report(i, status);
        let (reports, errors) = (reports.clone(), errors.clone());
        tokio::spawn(async move {
            match sent.await {
                Ok(_) => reports.fetch_add(1, Ordering::Relaxed),
                Err(_) => errors.fetch_add(1, Ordering::Relaxed),
            };
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let duration_s = started.elapsed().as_secs_f64();
    let cpu_after: Vec<f64> = plan
        .receiver_pids
        .iter()
        .map(|&p| cpu_seconds(p))
        .collect::<Result<_, _>>()?;
    let bus_events = bus_published(&http, &plan.metrics).await? - bus_before;
    let reports = reports.load(Ordering::Relaxed);
    Ok(PresenceReport {
        people: people.len(),
        chats_per_person: plan.chats_per_person,
        contacts_per_person,
        connected: open,
        duration_s,
        reports,
        report_errors: errors.load(Ordering::Relaxed),
        changes: changes.load(Ordering::Relaxed),
        bus_events,
        deliveries: deliveries.load(Ordering::Relaxed),
        receiver_cpu_s: cpu_after
            .iter()
            .zip(&cpu_before)
            .map(|(a, b)| a - b)
            .collect(),
        naive_deliveries: reports as f64 * contacts_per_person,
    })
}
