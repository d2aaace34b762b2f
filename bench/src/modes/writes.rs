//! Writes: a closed loop of createMessage calls at a set concurrency, as fast as the
//! senders answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::client::{Http, Targets};
use crate::histogram::Histogram;
use crate::modes::fanout::Percentiles;
use crate::report::{Report, ms, row};
use crate::setup;

#[derive(Debug, Serialize)]
pub struct WritesReport {
    pub concurrency: usize,
    pub chats: usize,
    pub duration_s: f64,
    pub messages: u64,
    pub errors: u64,
    pub per_second: f64,
    pub latency_ms: Percentiles,
}

impl Report for WritesReport {
    fn title(&self) -> String {
        format!(
            "writes: {} writers over {} chats",
            self.concurrency, self.chats
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        let latency = &self.latency_ms;
        vec![
            row(
                "messages (errors)",
                format!("{} ({})", self.messages, self.errors),
            ),
            row("throughput", format!("{:.0} msg/s", self.per_second)),
            row(
                "latency p50 / p99 / max",
                format!(
                    "{} / {} / {}",
                    ms(latency.p50),
                    ms(latency.p99),
                    ms(latency.max)
                ),
            ),
        ]
    }
}

/// Runs `concurrency` writers over `chats` chats for `duration`.
pub async fn run(
    targets: &Targets,
    tag: &str,
    concurrency: usize,
    chats: usize,
    duration: Duration,
) -> anyhow::Result<WritesReport> {
    anyhow::ensure!(duration <= Duration::from_secs(600), "at most 10 minutes");
    let http = Http::default();
    let people = setup::people(&http, targets, tag, concurrency.clamp(2, 64)).await?;
    let chats = setup::groups(&http, targets, &people, chats.max(1), 2).await?;
    let latency = Arc::new(Histogram::default());
    let (messages, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let deadline = started + duration;
    let writers = (0..concurrency).map(|w| {
        let chat = &chats[w % chats.len()];
        let author = people[chat.members[(w / chats.len()) % chat.members.len()]].clone();
        let (chat_id, sender) = (chat.id.clone(), targets.senders[w % targets.senders.len()].clone());
        let (http, latency, messages, errors) = (http.clone(), latency.clone(), messages.clone(), errors.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let at = Instant::now();
                let result = http
                    .call(
                        &sender,
                        Some(&author.token),
                        chat_types::ops::CREATE_MESSAGE,
                        json!({ "input": { "chatId": chat_id, "content": format!("w{w} {n}"), "clientId": format!("w{w}-{n}") } }),
                        "createMessage",
                    )
                    .await;
                latency.record(at.elapsed());
                match result {
                    Ok(_) => messages.fetch_add(1, Ordering::Relaxed),
                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let messages = messages.load(Ordering::Relaxed);
    Ok(WritesReport {
        concurrency,
        chats: chats.len(),
        duration_s: elapsed,
        messages,
        errors: errors.load(Ordering::Relaxed),
        per_second: messages as f64 / elapsed,
        latency_ms: Percentiles::of(&latency),
    })
}
