//! The deployment each fault test runs on, the traffic it sends, the subscribers that
//! follow the chat, and the checks every test ends with.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_store::{PoolSize, Store};
use chat_types::{ChatId, ops};
use serde_json::{Value, json};
use server_core::secret::Secret;
use testkit::env::TEST_ORIGIN;
use testkit::env::{TestDatabase, require_redis};
use testkit::processes::{Cluster, ClusterConfig};
use testkit::redis_cluster::RedisCluster;
use testkit::redis_server::RedisServer;
use testkit::tcp_proxy::{TcpProxy, url_authority, with_authority};
use testkit::topology::Topology;
use testkit::ws::Event;
use testkit::{Backend, Gql, Protocol, WsClient, unique};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long one fault test may run, start to end: a guard against hangs. (Each takes
/// 3 to 10 s on an idle machine; a machine busy with other work stretches that.)
pub(crate) const TEST_LIMIT: Duration = Duration::from_secs(180);
/// How long a client waits for an answer before it counts the request as unanswered.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between two sends of one lane of traffic.
pub(crate) const PACE: Duration = Duration::from_millis(5);
/// Pause before a failed send is tried again (on the other sender).
const RETRY_PAUSE: Duration = Duration::from_millis(20);
/// How long a lane leaves alone a sender that did not answer (as a person would switch
/// instance): a host cut off the network leaves each send to it unanswered for
/// [`ANSWER_TIMEOUT`].
const SHUN: Duration = Duration::from_secs(10);
/// Pause between two changes (edits, reactions) of the traffic.
const EDIT_PACE: Duration = Duration::from_millis(40);
/// How long one change is tried, on both senders, before it is given up.
const EDIT_LIMIT: Duration = Duration::from_secs(5);
/// How long one message may take, retries included, before the test gives up.
const MESSAGE_LIMIT: Duration = Duration::from_secs(60);
/// How long subscribers may take to catch up after the traffic stops.
pub(crate) const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);
/// How long a condition a test waits for may take.
pub(crate) const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// The tests take turns: each runs five processes and a stream of traffic.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs a fault test in its turn, failing it if it takes longer than [`TEST_LIMIT`].
/// On failure (panic or time-out) the end of every instance's log is printed.
pub(crate) async fn bounded(name: &str, test: impl Future<Output = ()>) {
    let _turn = TURN.lock().await;
    let started = Instant::now();
    let mut test = std::pin::pin!(test);
    if tokio::time::timeout(TEST_LIMIT, test.as_mut())
        .await
        .is_err()
    {
        // Panicking while the test (and its cluster) still exists prints the logs.
        panic!("{name} did not finish within {TEST_LIMIT:?}");
    }
    eprintln!("{name}: {:.1?}", started.elapsed());
}

/// Polls `done` until it holds; panics after `limit`.
pub(crate) async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `check` until it returns true; panics after `limit`.
pub(crate) async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How the deployment of a test is put together.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Options {
    /// A redis-server of the test's own (to kill), instead of the shared one.
    pub(crate) own_redis: bool,
    /// The instances reach PostgreSQL through a [`TcpProxy`] (to cut).
    pub(crate) postgres_proxy: bool,
    /// The bus on a Redis Cluster of the test's own (to fail over, to move slots in).
    pub(crate) own_redis_cluster: bool,
}

/// Where the instances run.
pub(crate) enum Deployment {
    /// Processes on this machine's loopback: one user, two sender and two receiver
    /// instances, each to kill and restart.
    Processes(Cluster),
    /// Every server on a host of its own ([`Topology`]): two user, two sender and three
    /// receiver instances, PostgreSQL with a replica, a Redis Cluster; hosts to cut off.
    Hosts(Topology),
}

/// A deployment of real processes. Dropped in field order: the processes go first,
/// the database last.
pub(crate) struct World {
    pub(crate) deployment: Deployment,
    pub(crate) proxy: Option<TcpProxy>,
    pub(crate) redis: Option<RedisServer>,
    pub(crate) redis_cluster: Option<RedisCluster>,
    pub(crate) bus_prefix: String,
    users: Vec<String>,
    senders: Vec<String>,
    receivers: Vec<String>,
    database_url: String,
    _database: Option<TestDatabase>,
    http: reqwest::Client,
}

impl World {
    /// The multi-host topology (`scripts/topology.sh`), or `None` (with a note) outside
    /// CI where this machine cannot build one.
    pub(crate) async fn on_hosts() -> Option<Self> {
        let topology = tokio::task::spawn_blocking(|| {
            Topology::up(Path::new(env!("CARGO_BIN_EXE_chat")), TEST_ORIGIN)
        })
        .await
        .expect("start the topology")?;
        Some(Self {
            users: topology.user_urls(),
            senders: topology.sender_urls(),
            receivers: topology.receiver_urls(),
            database_url: topology.database_url().to_string(),
            deployment: Deployment::Hosts(topology),
            proxy: None,
            redis: None,
            redis_cluster: None,
            bus_prefix: String::new(),
            _database: None,
            http: http_client(),
        })
    }

    /// The processes on this machine (of a test that started them).
    pub(crate) fn processes(&self) -> &Cluster {
        match &self.deployment {
            Deployment::Processes(cluster) => cluster,
            Deployment::Hosts(_) => panic!("a test on hosts has no local processes"),
        }
    }

    /// [`World::processes`], to kill and restart.
    pub(crate) fn processes_mut(&mut self) -> &mut Cluster {
        match &mut self.deployment {
            Deployment::Processes(cluster) => cluster,
            Deployment::Hosts(_) => panic!("a test on hosts has no local processes"),
        }
    }

    /// The hosts (of a test on the topology).
    pub(crate) fn hosts(&self) -> &Topology {
        match &self.deployment {
            Deployment::Hosts(topology) => topology,
            Deployment::Processes(_) => panic!("a test on local processes has no hosts"),
        }
    }

    pub(crate) fn receiver_urls(&self) -> Vec<String> {
        self.receivers.clone()
    }

    /// Starts everything, or returns `None` (with a note) outside CI when PostgreSQL,
    /// Redis or redis-server is missing.
    pub(crate) async fn start(options: Options) -> Option<Self> {
        let (redis_url, redis, redis_cluster) = if options.own_redis_cluster {
            let cluster = RedisCluster::start().await?;
            (
                format!("cluster:{}", cluster.urls().join(",")),
                None,
                Some(cluster),
            )
        } else if options.own_redis {
            let server = RedisServer::start().await?;
            (server.url(), Some(server), None)
        } else {
            (require_redis().await?, None, None)
        };
        let database = TestDatabase::new(Backend::Real).await?;
        // Migrate once, before five instances start at the same time.
        Store::connect(&database.url, PoolSize::default())
            .await
            .expect("migrate the test database")
            .close()
            .await;
        let (database_url, proxy) = if options.postgres_proxy {
            let authority = url_authority(&database.url).expect("a host in the database url");
            let upstream = if authority.contains(':') {
                authority.to_string()
            } else {
                format!("{authority}:5432")
            };
            let proxy = TcpProxy::start(&upstream).await.expect("start the proxy");
            let url = with_authority(&database.url, &proxy.addr()).expect("rewrite the url");
            (url, Some(proxy))
        } else {
            (database.url.clone(), None)
        };
        let bus_prefix = unique("faults-");
        let config = ClusterConfig {
            exe: env!("CARGO_BIN_EXE_chat").into(),
            database_url,
            redis_url,
            bus_prefix: bus_prefix.clone(),
            jwt_secret: Secret::generate().expose().to_string(),
        };
        let cluster = Cluster::start(&config, 1, 2, 2).await;
        Some(Self {
            users: cluster.users.iter().map(|p| p.url()).collect(),
            senders: cluster.sender_urls(),
            receivers: cluster.receiver_urls(),
            database_url: database.url.clone(),
            deployment: Deployment::Processes(cluster),
            proxy,
            redis,
            redis_cluster,
            bus_prefix,
            _database: Some(database),
            http: http_client(),
        })
    }

    /// Registers a fresh user.
    pub(crate) async fn register(&self, name: &str) -> Person {
        let user = testkit::gql::register(&self.users[0], name).await;
        Person {
            id: user.id,
            token: user.token,
        }
    }

    /// Alice, Bob and Carol, and a group of the three that Alice writes to.
    pub(crate) async fn group(&self) -> Group {
        let alice = self.register("alice").await;
        let bob = self.register("bob").await;
        let carol = self.register("carol").await;
        let data = Gql::new(&self.senders[0])
            .with_token(&alice.token)
            .data(
                ops::CREATE_CHAT,
                json!({ "input": { "kind": "GROUP", "name": "faults", "participantIds": [bob.id, carol.id] } }),
            )
            .await;
        Group {
            chat: data["createChat"]["id"].as_str().unwrap().to_string(),
            alice,
            bob,
            carol,
        }
    }

    /// `person` following the chat from receiver `first` (moving to the other when
    /// its connection ends).
    pub(crate) fn follow(&self, name: &str, person: &Person, chat: &str, first: usize) -> Follower {
        Follower::start(
            name,
            self.receivers.clone(),
            first,
            person.token.clone(),
            chat.to_string(),
        )
    }

    /// Alice writes to the chat through both senders from `lanes` loops.
    pub(crate) fn traffic(&self, group: &Group, lanes: usize) -> Traffic {
        Traffic::start(
            self.http.clone(),
            self.senders.clone(),
            group.alice.token.clone(),
            group.chat.clone(),
            lanes,
        )
    }

    /// Every message of the chat, read from receiver `receiver` page by page.
    pub(crate) async fn stored_messages(&self, receiver: usize, group: &Group) -> Vec<Value> {
        let gql = Gql::new(&self.receivers[receiver]).with_token(&group.bob.token);
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let data = gql
                .data(
                    ops::MESSAGES,
                    json!({ "chatId": group.chat, "afterSeq": after, "limit": 200 }),
                )
                .await;
            let page = data["messages"]["messages"].as_array().unwrap().clone();
            if let Some(last) = page.last() {
                after = last["seq"].as_i64().unwrap();
            }
            all.extend(page);
            if !data["messages"]["hasMore"].as_bool().unwrap() {
                return all;
            }
        }
    }

    /// The group's chat log, from the database: what every follower should have
    /// received from `chatEvents`.
    pub(crate) async fn chat_log(&self, group: &Group) -> Vec<Logged> {
        let store = Store::connect(&self.database_url, PoolSize::default())
            .await
            .expect("connect to the test database");
        let chat: ChatId = group.chat.parse().expect("a chat id");
        let mut log: Vec<Logged> = Vec::new();
        loop {
            let after = log.last().map_or(0, |e| e.event_seq);
            let page = store
                .chat_events_after(chat, after, 500)
                .await
                .expect("read the chat's log");
            if page.is_empty() {
                store.close().await;
                return log;
            }
            log.extend(page.iter().map(|event| Logged {
                event_seq: event.event_seq,
                kind: json!(event.kind).as_str().expect("a kind").to_string(),
                message: event.message.as_ref().map(|m| m.id.to_string()),
            }));
        }
    }

    /// `GET {base}/readyz`: its status and how long it took (`None`: no answer).
    pub(crate) async fn readyz(&self, base: &str) -> (Option<u16>, Duration) {
        let started = Instant::now();
        let status = self
            .http
            .get(format!("{base}/readyz"))
            .timeout(ANSWER_TIMEOUT)
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16());
        (status, started.elapsed())
    }

    /// A value from `{base}/metrics` (the first line of the metric, labels or not).
    pub(crate) async fn metric(&self, base: &str, name: &str) -> Option<f64> {
        let text = self
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// A GraphQL request to `base` as `person`.
    pub(crate) async fn request(
        &self,
        base: &str,
        person: &Person,
        query: &str,
        variables: Value,
    ) -> Answer {
        request(&self.http, base, &person.token, query, variables).await
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(ANSWER_TIMEOUT)
        .build()
        .expect("HTTP client")
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub(crate) id: String,
    pub(crate) token: String,
}

/// The chat the traffic goes to, and its three members.
pub(crate) struct Group {
    pub(crate) chat: String,
    pub(crate) alice: Person,
    pub(crate) bob: Person,
    pub(crate) carol: Person,
}

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

async fn request(
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
    fn start(
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
    fn start(
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
pub(crate) async fn catch_up(
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
