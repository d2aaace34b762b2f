//! The deployment a fault test runs on: its processes or hosts, database and bus, and
//! the people and chat of the test.

use super::*;

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

    /// The checks every test ends with, once its traffic has finished: the chat holds
    /// exactly the messages sent (read through receiver `reader`, one that is up), and
    /// each follower, caught up, saw each of them once, in order, and the chat's log as
    /// the database holds it. What each saw, in the followers' order.
    pub(crate) async fn check_history(
        &self,
        group: &Group,
        sent: &Sent,
        followers: Vec<Follower>,
        reader: usize,
    ) -> Vec<Seen> {
        sent.check_stored(&self.stored_messages(reader, group).await);
        let seen = catch_up(self, group, followers, sent.count() as i64).await;
        for seen in &seen {
            sent.check_followed(seen);
        }
        seen
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
