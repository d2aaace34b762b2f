//! Idle: many subscribed connections to one receiver that just sit there; the
//! receiver's resident memory per connection, read from /proc.

use std::net::IpAddr;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

use crate::client::{Http, Subscriber, Targets};
use crate::procfs::rss_kib;
use crate::report::{Report, row};
use crate::setup;

#[derive(Debug, Serialize)]
pub struct IdleReport {
    pub receiver: String,
    pub requested: usize,
    pub connected: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub kib_per_connection: f64,
}

impl Report for IdleReport {
    fn title(&self) -> String {
        format!(
            "idle: {} subscribed connections to {}",
            self.requested, self.receiver
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        vec![
            row(
                "connected (failed)",
                format!("{} ({})", self.connected, self.failed),
            ),
            row(
                "receiver RSS before / after",
                format!("{} / {} KiB", self.rss_before_kib, self.rss_after_kib),
            ),
            row(
                "RSS per connection",
                format!("{:.1} KiB", self.kib_per_connection),
            ),
            row("first error", self.first_error.as_deref().unwrap_or("-")),
        ]
    }
}

/// Opens `connections` subscriptions to the first receiver (over `chats` chats, from
/// the `sources` addresses in turn) and measures process `pid` before and after. The
/// connections are returned with the report: they stay open until it is printed.
pub async fn run(
    targets: &Targets,
    tag: &str,
    connections: usize,
    chats: usize,
    pid: u32,
    sources: &[IpAddr],
    settle: Duration,
) -> anyhow::Result<(IdleReport, Vec<Subscriber>)> {
    anyhow::ensure!(connections <= 200_000, "at most 200,000 connections");
    let http = Http::default();
    let people = setup::people(&http, targets, tag, chats.clamp(1, 100)).await?;
    let chats = setup::groups(&http, targets, &people, chats.max(1), 1).await?;
    let receiver = targets.receivers[0].clone();
    tokio::time::sleep(settle).await;
    let rss_before = rss_kib(pid)?;
    let opened = futures::stream::iter(0..connections)
        .map(|i| {
            let chat = &chats[i % chats.len()];
            let token = people[chat.members[0]].token.clone();
            let (chat_id, receiver) = (chat.id.clone(), receiver.clone());
            let source = (!sources.is_empty()).then(|| sources[i % sources.len()]);
            let selection = targets.selection;
            async move { Subscriber::connect(&receiver, &token, &chat_id, selection, source).await }
        })
        .buffer_unordered(256)
        .collect::<Vec<_>>()
        .await;
    let mut subscribers = Vec::with_capacity(connections);
    let mut first_error = None;
    for result in opened {
        match result {
            Ok(subscriber) => subscribers.push(subscriber),
            Err(e) => {
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    tokio::time::sleep(settle).await;
    let rss_after = rss_kib(pid)?;
    let connected = subscribers.len();
    Ok((
        IdleReport {
            receiver,
            requested: connections,
            connected,
            failed: connections - connected,
            first_error,
            rss_before_kib: rss_before,
            rss_after_kib: rss_after,
            kib_per_connection: rss_after.saturating_sub(rss_before) as f64
                / connected.max(1) as f64,
        },
        subscribers,
    ))
}
