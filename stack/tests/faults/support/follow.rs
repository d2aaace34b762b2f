//! The clients that follow the chat through the fault, and what each received.

use super::*;

/// What one follower received.
#[derive(Clone, Debug, Default)]
pub(crate) struct Seen {
    pub(crate) name: String,
    /// (seq, clientId) of every message, in the order received.
    pub(crate) messages: Vec<(i64, String)>,
    /// The chat's log events, in the order received.
    pub(crate) events: Vec<Logged>,
    /// The receiver of each connection, in order: the first is where it started.
    pub(crate) connections: Vec<usize>,
    /// Why each connection or subscription ended, and failed connection attempts.
    pub(crate) interruptions: Vec<String>,
}

impl Seen {
    pub(crate) fn last(&self) -> i64 {
        self.messages.iter().map(|(seq, _)| *seq).max().unwrap_or(0)
    }

    fn last_event(&self) -> i64 {
        self.events.iter().map(|e| e.event_seq).max().unwrap_or(0)
    }

    /// The history check: the follower received exactly the chat's log from its start,
    /// each event once and in order, with the kind and message the database has.
    fn check_history(&self, log: &[Logged]) {
        let seqs: Vec<i64> = self.events.iter().map(|e| e.event_seq).collect();
        let logged: Vec<i64> = log.iter().map(|e| e.event_seq).collect();
        assert_eq!(
            seqs,
            logged,
            "{} should have received the chat's log, events 1..={} once each, in order",
            self.name,
            log.len()
        );
        for (got, expected) in self.events.iter().zip(log) {
            assert_eq!(got, expected, "{} received another event", self.name);
        }
    }
}

/// One event of a chat's log, as a follower received it or the database holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Logged {
    pub(crate) event_seq: i64,
    pub(crate) kind: String,
    /// The id of the message it changed, if it changed one.
    pub(crate) message: Option<String>,
}

impl Logged {
    fn from_api(event: &Value) -> Self {
        Self {
            event_seq: event["eventSeq"].as_i64().expect("an eventSeq"),
            kind: event["kind"].as_str().expect("a kind").to_string(),
            message: event["message"]["id"].as_str().map(str::to_string),
        }
    }
}

/// A client following the chat: a WebSocket to a receiver with `messageAdded(chatId,
/// afterSeq)`. When its connection or subscription ends, it connects to the next
/// receiver (the other one) and resumes with `afterSeq` = the last seq it saw, as the
/// web app does. It starts with `afterSeq: 0`, so it has every message from the first.
pub(crate) struct Follower {
    seen: Arc<Mutex<Seen>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Follower {
    pub(super) fn start(
        name: &str,
        receivers: Vec<String>,
        first: usize,
        token: String,
        chat: String,
    ) -> Self {
        let seen = Arc::new(Mutex::new(Seen {
            name: name.to_string(),
            ..Seen::default()
        }));
        let (stop, mut stopped) = watch::channel(false);
        let state = seen.clone();
        let task = tokio::spawn(async move {
            let mut target = first;
            loop {
                let socket = loop {
                    let connect =
                        WsClient::connect(&receivers[target], Some(&token), Protocol::TransportWs);
                    let connected = tokio::select! {
                        _ = stopped.wait_for(|s| *s) => return,
                        socket = connect => socket,
                    };
                    match connected {
                        Ok(socket) => break socket,
                        Err(e) => {
                            state
                                .lock()
                                .unwrap()
                                .interruptions
                                .push(format!("connecting to receiver {target}: {e:?}"));
                            target = (target + 1) % receivers.len();
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                };
                let (after, after_event) = {
                    let mut seen = state.lock().unwrap();
                    seen.connections.push(target);
                    (seen.last(), seen.last_event())
                };
                let mut messages = socket.subscribe(
                    ops::MESSAGE_ADDED,
                    json!({ "chatId": chat, "afterSeq": after }),
                );
                let mut events = socket.subscribe(
                    ops::CHAT_EVENTS,
                    json!({ "chatId": chat, "afterEventSeq": after_event }),
                );
                let why = loop {
                    let (field, event) = tokio::select! {
                        _ = stopped.wait_for(|s| *s) => return,
                        event = messages.next_event_within(Duration::from_secs(3600)) => ("messageAdded", event),
                        event = events.next_event_within(Duration::from_secs(3600)) => ("chatEvents", event),
                    };
                    match event {
                        Some(Event::Next(payload)) if payload["errors"].is_null() => {
                            let data = &payload["data"][field];
                            let mut seen = state.lock().unwrap();
                            if field == "chatEvents" {
                                seen.events.push(Logged::from_api(data));
                            } else {
                                let seq = data["seq"].as_i64().expect("a seq");
                                let client_id = data["clientId"].as_str().unwrap_or_default();
                                seen.messages.push((seq, client_id.to_string()));
                            }
                        }
                        Some(Event::Next(payload)) => {
                            break format!("{field} error: {}", payload["errors"]);
                        }
                        Some(Event::Error(errors)) => break format!("{field} refused: {errors}"),
                        Some(Event::Complete) => break format!("{field} completed"),
                        Some(Event::Closed(reason)) => break format!("closed: {reason:?}"),
                        None => break format!("{field}: no events"),
                    }
                };
                socket.close();
                state
                    .lock()
                    .unwrap()
                    .interruptions
                    .push(format!("receiver {target}: {why}"));
                target = (target + 1) % receivers.len();
            }
        });
        Self { seen, stop, task }
    }

    /// The highest seq received so far.
    pub(crate) fn last(&self) -> i64 {
        self.seen.lock().unwrap().last()
    }

    /// How many connections it has had.
    pub(crate) fn connections(&self) -> usize {
        self.seen.lock().unwrap().connections.len()
    }

    /// Stops following; returns what it received.
    pub(crate) async fn stop(self) -> Seen {
        self.stop.send_replace(true);
        if let Err(e) = self.task.await {
            std::panic::resume_unwind(e.into_panic());
        }
        self.seen.lock().unwrap().clone()
    }
}

/// Waits until every follower has seq `n` and the whole chat log, then a moment more
/// (anything extra, such as a duplicate, would arrive in it), and stops them; checks
/// each one's events against the log in the database (the history check).
pub(super) async fn catch_up(
    world: &World,
    group: &Group,
    followers: Vec<Follower>,
    n: i64,
) -> Vec<Seen> {
    let deadline = Instant::now() + CATCH_UP_LIMIT;
    // Read again after the wait: a write whose answer the traffic never got may commit
    // late, and then the followers should have it too.
    let mut log = world.chat_log(group).await;
    loop {
        let last_event = log.last().map_or(0, |e| e.event_seq);
        let caught_up = |f: &Follower| {
            let seen = f.seen.lock().unwrap();
            seen.last() >= n && seen.last_event() >= last_event
        };
        while !followers.iter().all(caught_up) {
            if Instant::now() > deadline {
                let state: Vec<String> = followers
                    .iter()
                    .map(|f| {
                        let seen = f.seen.lock().unwrap();
                        format!(
                            "{} at seq {} and eventSeq {} after {} connection(s), interrupted: {:?}",
                            seen.name,
                            seen.last(),
                            seen.last_event(),
                            seen.connections.len(),
                            seen.interruptions
                        )
                    })
                    .collect();
                panic!(
                    "timed out after {CATCH_UP_LIMIT:?} waiting until every subscriber has all {n} messages and {last_event} events: {state:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = world.chat_log(group).await;
        if again.len() == log.len() {
            break;
        }
        log = again;
    }
    let mut seen = Vec::new();
    for follower in followers {
        let follower = follower.stop().await;
        follower.check_history(&log);
        seen.push(follower);
    }
    seen
}

/// Waits until every follower has received at least `n` messages (so it is live).
pub(crate) async fn wait_live(followers: &[Follower], n: i64) {
    wait_until(
        &format!("every subscriber has received {n} messages"),
        WAIT_LIMIT,
        || followers.iter().all(|f| f.last() >= n),
    )
    .await;
}
