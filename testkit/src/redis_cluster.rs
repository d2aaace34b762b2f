//! A Redis Cluster of the test's own on loopback: three masters, each with a replica,
//! from Debian's `redis-server` and `redis-cli --cluster create`, on free ports in a
//! folder of its own. Its nodes can be killed (a replica takes over) and its slots
//! moved (as `redis-cli --cluster reshard` does), while the test runs. Every node is
//! killed when it is dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::in_ci;
use crate::redis_server::free_port;

/// Nodes: three masters and three replicas.
const NODES: usize = 6;

/// A private Redis Cluster; every node killed when dropped.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Option<Child>>,
    _dir: tempfile::TempDir,
    /// The nodes also stop when this process ends (for a cluster never dropped).
    outlive_no_one: bool,
}

/// The cluster the tests of one process share (see [`shared`]).
static SHARED: tokio::sync::OnceCell<Option<RedisCluster>> = tokio::sync::OnceCell::const_new();

/// One cluster for every test of this process that runs on a Redis Cluster (tests use
/// bus prefixes of their own, so they do not meet): starting six nodes per test would
/// take longer than the tests. Its nodes stop when the process ends. `None` as for
/// [`RedisCluster::start`].
pub async fn shared() -> Option<&'static RedisCluster> {
    SHARED
        .get_or_init(|| RedisCluster::start_with(true))
        .await
        .as_ref()
}

impl RedisCluster {
    /// Starts six nodes and joins them into a cluster of three masters with a replica
    /// each; `None` (with a note) when `redis-server` is missing, outside CI.
    pub async fn start() -> Option<Self> {
        Self::start_with(false).await
    }

    async fn start_with(outlive_no_one: bool) -> Option<Self> {
        if let Err(e) = Command::new("redis-server").arg("--version").output() {
            if in_ci() {
                panic!("redis-server is required when CI=true: {e}");
            }
            eprintln!("note: cannot run redis-server ({e}); skipping this test");
            return None;
        }
        let dir = tempfile::tempdir().expect("a folder for the cluster");
        let ports: Vec<u16> = (0..NODES).map(|_| free_node_port()).collect();
        let mut cluster = Self {
            children: Vec::new(),
            ports: ports.clone(),
            _dir: dir,
            outlive_no_one,
        };
        for (i, port) in ports.iter().enumerate() {
            match cluster.spawn(*port, i) {
                Ok(child) => cluster.children.push(Some(child)),
                Err(e) if !in_ci() => {
                    eprintln!("note: cannot run redis-server ({e}); skipping this test");
                    return None;
                }
                Err(e) => panic!("redis-server is required when CI=true: {e}"),
            }
        }
        for port in &ports {
            wait_for_port(*port).await;
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        cluster.wait_until_whole(Duration::from_secs(30)).await;
        // The replicas join a moment after the masters get their slots; a failover
        // needs them attached.
        let deadline = Instant::now() + Duration::from_secs(30);
        while cluster.synced_replicas() < NODES / 2 {
            assert!(Instant::now() < deadline, "the replicas did not join");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some(cluster)
    }

    /// The nodes' addresses, as `--redis-cluster` takes them.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The port of the master serving `slot` now.
    pub fn master_of(&self, slot: u16) -> u16 {
        self.slot_owners()
            .into_iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, port)| port)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// Every slot range a live master serves, with its port: `(first, last, port)`.
    pub fn slot_owners(&self) -> Vec<(u16, u16, u16)> {
        let nodes = self.cli_any(&["cluster", "nodes"]);
        let mut owners = Vec::new();
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            for range in &fields[8..] {
                if range.starts_with('[') {
                    continue;
                }
                let (first, last) = match range.split_once('-') {
                    Some((a, b)) => (a.parse::<u16>().unwrap(), b.parse::<u16>().unwrap()),
                    None => (range.parse().unwrap(), range.parse().unwrap()),
                };
                owners.push((first, last, port_of(fields[1])));
            }
        }
        owners
    }

    /// The ports of the masters serving slots now.
    pub fn masters(&self) -> Vec<u16> {
        let mut masters: Vec<u16> = self.slot_owners().into_iter().map(|(_, _, p)| p).collect();
        masters.sort_unstable();
        masters.dedup();
        masters
    }

    /// How many nodes replicate a master now, their first sync done (a replica that
    /// never synced cannot take over).
    fn synced_replicas(&self) -> usize {
        self.cli_any(&["cluster", "nodes"])
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() >= 3 && f[2].contains("slave") && !f[2].contains("fail"))
            .filter(|f| {
                self.cli(port_of(f[1]), &["info", "replication"])
                    .contains("master_link_status:up")
            })
            .count()
    }

    /// Kills the node on `port` at once, as a crash would.
    pub fn kill(&mut self, port: u16) {
        let i = self.ports.iter().position(|p| *p == port).expect("a node");
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the master that was on `killed` is replaced: its replica serves its
    /// slots and the cluster says it is whole again.
    pub async fn wait_for_failover(&self, killed: u16, within: Duration) {
        let deadline = Instant::now() + within;
        while self.masters().contains(&killed) {
            assert!(
                Instant::now() < deadline,
                "no replica took over from {killed}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.wait_until_whole(deadline.saturating_duration_since(Instant::now()))
            .await;
    }

    /// Waits until the cluster says every slot is served.
    pub async fn wait_until_whole(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let info = self.cli_any(&["cluster", "info"]);
            let slots_ok = info.contains("cluster_slots_ok:16384");
            if info.contains("cluster_state:ok") && slots_ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster is not whole:\n{info}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Moves `slot` with its keys to the master on `to` ([`move_slot`]).
    pub fn move_slot(&self, slot: u16, to: u16) {
        let node = |port| Node {
            host: "127.0.0.1".to_string(),
            port,
        };
        let masters: Vec<Node> = self.masters().into_iter().map(node).collect();
        move_slot(slot, &node(self.master_of(slot)), &node(to), &masters);
    }

    /// Runs `redis-cli -p port args…`; its output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        Node {
            host: "127.0.0.1".to_string(),
            port,
        }
        .cli(args)
    }

    /// [`RedisCluster::cli`] on any node still running.
    fn cli_any(&self, args: &[&str]) -> String {
        let port = self
            .ports
            .iter()
            .zip(&self.children)
            .find(|(_, c)| c.is_some())
            .map(|(p, _)| *p)
            .expect("a node running");
        self.cli(port, args)
    }

    fn spawn(&self, port: u16, i: usize) -> std::io::Result<Child> {
        let dir: PathBuf = self._dir.path().join(format!("node{i}"));
        std::fs::create_dir_all(&dir)?;
        let args = [
            "--port".to_string(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-config-file".into(),
            "nodes.conf".into(),
            // A master unheard of for this long is failed over by its replica.
            "--cluster-node-timeout".into(),
            "2000".into(),
            // Replicas sync at once (by default they wait 5 s for others to join).
            "--repl-diskless-sync-delay".into(),
            "0".into(),
            "--save".into(),
            "''".into(),
            "--appendonly".into(),
            "no".into(),
        ];
        let mut command = if self.outlive_no_one {
            // A watchdog shell: the node goes when this process does.
            let mut shell = Command::new("sh");
            shell.arg("-c").arg(format!(
                "redis-server {} & node=$!; trap 'kill -9 $node' TERM; \
                 while kill -0 {} 2>/dev/null && kill -0 $node 2>/dev/null; do sleep 1; done; \
                 kill -9 $node 2>/dev/null",
                args.join(" "),
                std::process::id()
            ));
            shell
        } else {
            let mut direct = Command::new("redis-server");
            direct.args(args.iter().map(|a| if a == "''" { "" } else { a.as_str() }));
            direct
        };
        command
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `127.0.0.1:7001@17001` → 7001.
fn port_of(address: &str) -> u16 {
    address
        .split('@')
        .next()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("a node's port")
}

/// A free port whose cluster bus port (10,000 above it) is free and exists too.
fn free_node_port() -> u16 {
    loop {
        let port = free_port();
        let bus = u32::from(port) + 10_000;
        if bus <= u32::from(u16::MAX)
            && std::net::TcpListener::bind(("127.0.0.1", bus as u16)).is_ok()
        {
            return port;
        }
    }
}

async fn wait_for_port(port: u16) {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server did not start on port {port}");
}

/// A node of a cluster, where `redis-cli` reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub host: String,
    pub port: u16,
}

impl Node {
    /// Runs `redis-cli -h host -p port args…`; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", &self.host, "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// Moves `slot` with its keys from master `from` to master `to`, as `redis-cli
/// --cluster reshard` does: importing, migrating, the keys, then every one of
/// `masters` told the new owner.
pub fn move_slot(slot: u16, from: &Node, to: &Node, masters: &[Node]) {
    if from == to {
        return;
    }
    let slot = slot.to_string();
    let (from_id, to_id) = (from.cli(&["cluster", "myid"]), to.cli(&["cluster", "myid"]));
    to.cli(&["cluster", "setslot", &slot, "importing", &from_id]);
    from.cli(&["cluster", "setslot", &slot, "migrating", &to_id]);
    let to_port = to.port.to_string();
    loop {
        let keys = from.cli(&["cluster", "getkeysinslot", &slot, "100"]);
        let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
        if keys.is_empty() {
            break;
        }
        let mut args = vec![
            "migrate",
            to.host.as_str(),
            to_port.as_str(),
            "",
            "0",
            "5000",
            "keys",
        ];
        args.extend(keys);
        from.cli(&args);
    }
    for master in masters {
        master.cli(&["cluster", "setslot", &slot, "node", &to_id]);
    }
}
