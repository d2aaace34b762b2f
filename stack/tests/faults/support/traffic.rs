//! The traffic a fault test sends while something breaks, and what became of it.

use super::*;

/// What became of one request.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// An answer without errors.
    Data(Value),
    /// An answer with errors: the first one's code, `retriable` and message.
    Error {
        status: u16,
        code: Option<String>,
        retriable: bool,
        message: String,
    },
    /// No answer: refused, reset, or nothing within [`ANSWER_TIMEOUT`]; why (for
    /// failure messages).
    None(#[allow(dead_code, reason = "shown by Debug in failure messages")] String),
}

impl Answer {
    /// The message of a successful `createMessage`.
    pub(crate) fn message(&self) -> Option<&Value> {
        match self {
            Answer::Data(data) if data["createMessage"].is_object() => Some(&data["createMessage"]),
            _ => None,
        }
    }

    pub(crate) fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Answer::Error { status: 200, code: Some(code), retriable: true, .. } if code == "UNAVAILABLE"
        )
    }
}

pub(super) async fn request(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Answer {
    let response = http
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await;
    let response = match response {
        Ok(response) => response,
        Err(e) => return Answer::None(format!("{e:?}")),
    };
    let status = response.status().as_u16();
    let body: Value = match response.json().await {
        Ok(body) => body,
        Err(e) => return Answer::None(format!("HTTP {status} without a readable body: {e}")),
    };
    match body["errors"].get(0) {
        Some(error) => Answer::Error {
            status,
            code: error["extensions"]["code"].as_str().map(str::to_string),
            retriable: error["extensions"]["retriable"].as_bool() == Some(true),
            message: error["message"].as_str().unwrap_or_default().to_string(),
        },
        None => Answer::Data(body["data"].clone()),
    }
}

/// One try at sending one message.
#[derive(Clone, Debug)]
pub(crate) struct Attempt {
    pub(crate) client_id: String,
    /// Which sender it went to.
    pub(crate) sender: usize,
    pub(crate) started: Instant,
    pub(crate) elapsed: Duration,
    pub(crate) answer: Answer,
}

impl Attempt {
    /// The stored message's seq, if the send succeeded.
    pub(crate) fn seq(&self) -> Option<i64> {
        self.answer.message()?["seq"].as_i64()
    }

    pub(crate) fn ended(&self) -> Instant {
        self.started + self.elapsed
    }
}

/// Messages sent from a few loops ("lanes"), each sending its next message a few
/// milliseconds after the last one succeeded, alternating between the senders. A
/// failed or unanswered send is tried again on the other sender with the same
/// clientId until it succeeds, as the web app does; a sender that left one unanswered
/// is left alone for [`SHUN`].
pub(crate) struct Traffic {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    in_flight: Arc<Vec<AtomicUsize>>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    lanes: Vec<JoinHandle<()>>,
    changes: JoinHandle<usize>,
}

impl Traffic {
    pub(super) fn start(
        http: reqwest::Client,
        senders: Vec<String>,
        token: String,
        chat: String,
        lanes: usize,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let in_flight: Arc<Vec<AtomicUsize>> =
            Arc::new(senders.iter().map(|_| AtomicUsize::new(0)).collect());
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let senders = Arc::new(senders);
        let lanes = (0..lanes)
            .map(|lane| {
                let (http, senders, token, chat) =
                    (http.clone(), senders.clone(), token.clone(), chat.clone());
                let (stop, sent, in_flight, attempts) = (
                    stop.clone(),
                    sent.clone(),
                    in_flight.clone(),
                    attempts.clone(),
                );
                tokio::spawn(async move {
                    let mut n = 0;
                    // A sender that left a send unanswered, and until when it is left alone.
                    let mut shunned: Option<(usize, Instant)> = None;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let client_id = format!("l{lane}-{n}");
                        let variables = message_input(&chat, &client_id);
                        let first = Instant::now();
                        let mut target = (lane + n) % senders.len();
                        if shunned.is_some_and(|(s, until)| s == target && Instant::now() < until) {
                            target = (target + 1) % senders.len();
                        }
                        loop {
                            in_flight[target].fetch_add(1, Ordering::SeqCst);
                            let started = Instant::now();
                            let answer = request(
                                &http,
                                &senders[target],
                                &token,
                                ops::CREATE_MESSAGE,
                                variables.clone(),
                            )
                            .await;
                            in_flight[target].fetch_sub(1, Ordering::SeqCst);
                            let attempt = Attempt {
                                client_id: client_id.clone(),
                                sender: target,
                                started,
                                elapsed: started.elapsed(),
                                answer,
                            };
                            let done = attempt.seq().is_some();
                            if matches!(attempt.answer, Answer::None(_)) {
                                shunned = Some((target, Instant::now() + SHUN));
                            }
                            attempts.lock().unwrap().push(attempt);
                            if done {
                                sent.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            assert!(
                                first.elapsed() < MESSAGE_LIMIT,
                                "message {client_id} was not sent within {MESSAGE_LIMIT:?}"
                            );
                            target = (target + 1) % senders.len();
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                        tokio::time::sleep(PACE).await;
                    }
                })
            })
            .collect();
        let changes = tokio::spawn(change_lane(
            http,
            senders,
            token,
            attempts.clone(),
            stop.clone(),
        ));
        Self {
            stop,
            sent,
            in_flight,
            attempts,
            lanes,
            changes,
        }
    }

    /// Messages sent so far.
    pub(crate) fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// Sends in flight to sender `sender` now.
    pub(crate) fn in_flight(&self, sender: usize) -> usize {
        self.in_flight[sender].load(Ordering::SeqCst)
    }

    /// Every attempt so far.
    pub(crate) fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    /// Waits until `more` messages have been sent after the call.
    pub(crate) async fn wait_for_more(&self, what: &str, more: usize) {
        let mark = self.sent();
        let deadline = Instant::now() + WAIT_LIMIT;
        while self.sent() < mark + more {
            if Instant::now() > deadline {
                let attempts = self.attempts();
                panic!(
                    "timed out after {WAIT_LIMIT:?} waiting until {more} more messages are sent ({what}): {} of them sent; the last attempts: {:#?}",
                    self.sent() - mark,
                    &attempts[attempts.len().saturating_sub(4)..]
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops after the messages being sent; returns every attempt.
    pub(crate) async fn finish(self) -> Sent {
        self.stop.store(true, Ordering::Relaxed);
        for lane in self.lanes {
            if let Err(e) = lane.await {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        let changes = self
            .changes
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let attempts = std::mem::take(&mut *self.attempts.lock().unwrap());
        Sent {
            changes,
            ..Sent::from(attempts)
        }
    }
}

/// Beside the messages, the newest one sent is changed every [`EDIT_PACE`], through the
/// senders in turn: edited, or given a reaction (one of a few emoji, taken back when
/// it is already there), so the chat's log has changes other than messages while the
/// fault happens. A failed change is tried again on the other sender for a while, then
/// given up: what counts is what the log holds, and the history check reads that.
/// Returns how many changes were answered.
async fn change_lane(
    http: reqwest::Client,
    senders: Arc<Vec<String>>,
    token: String,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    stop: Arc<AtomicBool>,
) -> usize {
    let mut answered = 0;
    let mut target = 0;
    let mut reacted: HashSet<(String, &str)> = HashSet::new();
    for tick in 0usize.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(EDIT_PACE).await;
        let newest = attempts
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|a| Some((a.answer.message()?["id"].clone(), a.client_id.clone())));
        let Some((id, client_id)) = newest else {
            continue;
        };
        let emoji = chat_types::emoji::MOST_USED[tick % 3].0;
        let key = (id.to_string(), emoji);
        let (op, field, variables) = match tick % 2 {
            0 => (
                ops::UPDATE_MESSAGE,
                "updateMessage",
                json!({ "id": id, "content": format!("message {client_id}, edited") }),
            ),
            _ if reacted.contains(&key) => (
                ops::REMOVE_REACTION,
                "removeReaction",
                json!({ "messageId": id, "emoji": emoji }),
            ),
            _ => (
                ops::ADD_REACTION,
                "addReaction",
                json!({ "messageId": id, "emoji": emoji }),
            ),
        };
        let first = Instant::now();
        while first.elapsed() < EDIT_LIMIT && !stop.load(Ordering::Relaxed) {
            target = (target + 1) % senders.len();
            let answer = request(&http, &senders[target], &token, op, variables.clone()).await;
            if matches!(&answer, Answer::Data(data) if data[field].is_object()) {
                answered += 1;
                match op {
                    ops::ADD_REACTION => reacted.insert(key),
                    ops::REMOVE_REACTION => reacted.remove(&key),
                    _ => true,
                };
                break;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
    answered
}

/// The `createMessage` input of the traffic's message `client_id`.
pub(crate) fn message_input(chat: &str, client_id: &str) -> Value {
    json!({ "input": {
        "chatId": chat,
        "content": format!("message {client_id}"),
        "clientId": client_id,
    }})
}

/// What the traffic sent, from its attempts.
pub(crate) struct Sent {
    pub(crate) attempts: Vec<Attempt>,
    /// The seq each message was stored with, by clientId.
    pub(crate) seqs: HashMap<String, i64>,
    /// How many edits and reactions were answered.
    pub(crate) changes: usize,
}

impl Sent {
    fn from(attempts: Vec<Attempt>) -> Self {
        let mut seqs = HashMap::new();
        for attempt in &attempts {
            if let Some(seq) = attempt.seq() {
                let earlier = seqs.insert(attempt.client_id.clone(), seq);
                assert!(
                    earlier.is_none(),
                    "{} was sent twice successfully",
                    attempt.client_id
                );
            }
        }
        Self {
            attempts,
            seqs,
            changes: 0,
        }
    }

    /// How many messages were sent.
    pub(crate) fn count(&self) -> usize {
        self.seqs.len()
    }

    /// The attempts that did not succeed.
    pub(crate) fn failures(&self) -> Vec<&Attempt> {
        self.attempts.iter().filter(|a| a.seq().is_none()).collect()
    }

    /// Fails the test if any send failed.
    pub(crate) fn assert_none_failed(&self) {
        let failures = self.failures();
        assert!(failures.is_empty(), "sends failed: {failures:#?}");
    }

    /// The clientId of each seq.
    fn by_seq(&self) -> BTreeMap<i64, &str> {
        self.seqs
            .iter()
            .map(|(client_id, seq)| (*seq, client_id.as_str()))
            .collect()
    }

    /// The chat holds exactly the messages sent: seqs 1..=n, each clientId once, each
    /// with the seq its sender was told.
    pub(crate) fn check_stored(&self, stored: &[Value]) {
        let n = self.count() as i64;
        let seqs: Vec<i64> = stored.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=n).collect::<Vec<_>>(),
            "the chat should hold exactly the {n} messages sent, in seq order"
        );
        let mut client_ids = HashSet::new();
        for message in stored {
            let client_id = message["clientId"].as_str().expect("a clientId");
            assert!(
                client_ids.insert(client_id.to_string()),
                "clientId {client_id} stored twice"
            );
            assert_eq!(
                self.seqs.get(client_id),
                message["seq"].as_i64().as_ref(),
                "message {client_id} is stored with another seq than its sender said"
            );
        }
    }

    /// The follower received every message once, in seq order, and each is the message
    /// the traffic sent with that seq.
    pub(crate) fn check_followed(&self, seen: &Seen) {
        let n = self.count() as i64;
        let seqs: Vec<i64> = seen.messages.iter().map(|(seq, _)| *seq).collect();
        if seqs != (1..=n).collect::<Vec<_>>() {
            panic!(
                "{} should have received seqs 1..={n} once each, in order; got {} messages, {}",
                seen.name,
                seqs.len(),
                describe_seqs(&seqs)
            );
        }
        let by_seq = self.by_seq();
        for (seq, client_id) in &seen.messages {
            assert_eq!(
                by_seq.get(seq).copied(),
                Some(client_id.as_str()),
                "{} received another message as seq {seq}",
                seen.name
            );
        }
    }
}

/// Where a list of seqs goes wrong: the first place that is not the next seq.
fn describe_seqs(seqs: &[i64]) -> String {
    let mut expected = 1;
    for (i, seq) in seqs.iter().enumerate() {
        if *seq != expected {
            let from = i.saturating_sub(3);
            return format!(
                "at position {i} expected {expected} but got {seq} (around: {:?})",
                &seqs[from..(i + 4).min(seqs.len())]
            );
        }
        expected += 1;
    }
    format!("ending at {}", expected - 1)
}
