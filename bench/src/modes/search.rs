//! Search: a history of many messages written through the senders (words drawn from a
//! vocabulary with Zipf's frequencies, as in real text: a few words everywhere, most
//! words rare), then `searchMessages` asked by people in a few dozen chats each, for
//! words from the rarest to the most common, through both receivers. What is measured
//! is the latency a person typing into the search box waits for.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use crate::client::{Http, Targets};
use crate::histogram::Histogram;
use crate::modes::fanout::Percentiles;
use crate::report::{Report, ms, row};
use crate::setup;

/// How many distinct words the messages are made of.
const VOCABULARY: usize = 20_000;
/// Writers filling the history at once.
const WRITERS: usize = 64;

#[derive(Debug, Serialize)]
pub struct SearchReport {
    pub messages: u64,
    pub chats: usize,
    pub chats_per_person: usize,
    pub seed_per_second: f64,
    pub queries: Vec<QueryReport>,
}

#[derive(Debug, Serialize)]
pub struct QueryReport {
    pub name: String,
    pub query: String,
    pub mean_hits: f64,
    pub latency_ms: Percentiles,
}

impl Report for SearchReport {
    fn title(&self) -> String {
        format!(
            "search: {} messages in {} chats, each searcher in {}",
            self.messages, self.chats, self.chats_per_person
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![row(
            "history written",
            format!("{:.0} msg/s", self.seed_per_second),
        )];
        for q in &self.queries {
            let l = &q.latency_ms;
            rows.push(row(
                format!("{} \"{}\" ({:.0} hits)", q.name, q.query, q.mean_hits),
                format!("p50 {} / p99 {} / max {}", ms(l.p50), ms(l.p99), ms(l.max)),
            ));
        }
        rows
    }
}

/// The shape of a run.
pub struct Plan {
    pub messages: u64,
    pub chats: usize,
    pub people: usize,
    pub participants: usize,
    /// Each kind of query is asked this many times.
    pub asks: usize,
    /// A pause between writing and searching: time for the database to take its
    /// statistics of the new history, as autovacuum does after a bulk load.
    pub settle: Duration,
}

/// A small fast generator (xorshift64*): the same history for the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Word `rank` of the vocabulary (0 the most common): made-up but pronounceable, so
/// their starts overlap as real words' do.
fn word(rank: usize) -> String {
    const ONSETS: [&str; 16] = [
        "b", "k", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "st", "pl", "tr",
    ];
    const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ea"];
    let mut n = rank + 1;
    let mut out = String::new();
    while n > 0 {
        out.push_str(ONSETS[n % ONSETS.len()]);
        n /= ONSETS.len();
        out.push_str(VOWELS[n % VOWELS.len()]);
        n /= VOWELS.len();
    }
    out
}

/// Draws word ranks with Zipf's frequencies (the k-th word about 1/k as common as
/// the first).
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(size: usize) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=size)
            .map(|k| {
                total += 1.0 / k as f64;
                total
            })
            .collect::<Vec<_>>();
        let cumulative = cumulative.into_iter().map(|c| c / total).collect();
        Self { cumulative }
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cumulative.partition_point(|&c| c < u)
    }
}

fn sentence(rng: &mut Rng, zipf: &Zipf) -> String {
    let words = 4 + (rng.next() % 14) as usize;
    (0..words)
        .map(|_| word(zipf.draw(rng)))
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn run(targets: &Targets, tag: &str, plan: Plan) -> anyhow::Result<SearchReport> {
    let http = Http::default();
    let people = Arc::new(setup::people(&http, targets, tag, plan.people).await?);
    let chats =
        Arc::new(setup::groups(&http, targets, &people, plan.chats, plan.participants).await?);
    let chats_per_person = plan.chats * plan.participants.min(plan.people) / plan.people;

    // The history, through the senders: each writer takes every WRITERS-th message.
    let zipf = Arc::new(Zipf::new(VOCABULARY));
    let written = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let writers = (0..WRITERS).map(|w| {
        let (http, people, chats, zipf, written) = (
            http.clone(),
            people.clone(),
            chats.clone(),
            zipf.clone(),
            written.clone(),
        );
        let senders = targets.senders.clone();
        let total = plan.messages;
        tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1));
            let mut n = w as u64;
            while n < total {
                let chat = &chats[(n % chats.len() as u64) as usize];
                let author = &people[chat.members[(rng.next() % chat.members.len() as u64) as usize]];
                let content = sentence(&mut rng, &zipf);
                let sent = http
                    .call(
                        &senders[(n % senders.len() as u64) as usize],
                        Some(&author.token),
                        chat_types::ops::CREATE_MESSAGE,
                        json!({ "input": { "chatId": chat.id, "content": content, "clientId": format!("s{n}") } }),
                        "createMessage",
                    )
                    .await;
                if sent.is_ok() {
                    n += WRITERS as u64;
                    let done = written.fetch_add(1, Ordering::Relaxed) + 1;
                    if done % 100_000 == 0 {
                        eprintln!("  {done} messages written");
                    }
                }
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await?;
    }
    let seed_per_second = plan.messages as f64 / started.elapsed().as_secs_f64();
    if !plan.settle.is_zero() {
        println!("  written; searching in {} s", plan.settle.as_secs());
        tokio::time::sleep(plan.settle).await;
    }

    // From the rarest kind of query to the most common, and narrowed to one chat.
    let kinds = [
        ("rare word", word(VOCABULARY - 1), false),
        ("uncommon word", word(2_000), false),
        ("common word", word(20), false),
        ("most common word", word(0), false),
        (
            "start of an uncommon word",
            word(150).chars().take(3).collect(),
            false,
        ),
        ("two words", format!("{} {}", word(50), word(300)), false),
        ("common word, one chat", word(20), true),
    ];
    let mut queries = Vec::new();
    for (name, query, one_chat) in kinds {
        let latency = Histogram::default();
        let hits = AtomicU64::new(0);
        futures::stream::iter(0..plan.asks)
            .for_each_concurrent(4, |i| {
                let person = &people[i % people.len()];
                let chat = chats
                    .iter()
                    .find(|c| c.members.contains(&(i % people.len())));
                let receiver = &targets.receivers[i % targets.receivers.len()];
                let (http, latency, hits, query) = (&http, &latency, &hits, &query);
                async move {
                    let variables = match (one_chat, chat) {
                        (true, Some(chat)) => json!({ "query": query, "chatId": chat.id }),
                        _ => json!({ "query": query }),
                    };
                    let at = Instant::now();
                    if let Ok(data) = http
                        .call(
                            receiver,
                            Some(&person.token),
                            chat_types::ops::SEARCH_MESSAGES,
                            variables,
                            "searchMessages",
                        )
                        .await
                    {
                        latency.record(at.elapsed());
                        let found = data["hits"].as_array().map_or(0, Vec::len);
                        hits.fetch_add(found as u64, Ordering::Relaxed);
                    }
                }
            })
            .await;
        let answered = latency.count().max(1);
        queries.push(QueryReport {
            name: name.to_string(),
            query,
            mean_hits: hits.load(Ordering::Relaxed) as f64 / answered as f64,
            latency_ms: Percentiles::of(&latency),
        });
    }
    Ok(SearchReport {
        messages: plan.messages,
        chats: chats.len(),
        chats_per_person,
        seed_per_second,
        queries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_distinct_and_zipf_favours_the_first() {
        let words: std::collections::HashSet<String> = (0..VOCABULARY).map(word).collect();
        assert_eq!(words.len(), VOCABULARY);
        // The query words exist and are long enough to cut.
        assert!(word(150).chars().count() > 3);
        let zipf = Zipf::new(VOCABULARY);
        let mut rng = Rng(7);
        let draws: Vec<usize> = (0..10_000).map(|_| zipf.draw(&mut rng)).collect();
        let first = draws.iter().filter(|&&r| r == 0).count();
        let hundredth = draws.iter().filter(|&&r| r == 99).count();
        assert!(first > 500 && hundredth < first / 20, "{first} {hundredth}");
    }
}
