//! A multi-host deployment of the test's own, from `scripts/topology.sh`: every server
//! on a host of its own (a network namespace on a bridge), so that a test can cut a
//! host off the network the way a machine drops off one. Each topology takes its own
//! names and its own private /24, so topologies of several tests do not meet; it is
//! taken down (every process stopped, every namespace removed) when dropped.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::in_ci;
use crate::redis_cluster::{Node, move_slot};

/// How long any process of a test's topology may live, whatever happens to the test.
const LIFETIME_SECONDS: u32 = 900;

/// A running topology.
pub struct Topology {
    dir: tempfile::TempDir,
    name: String,
    subnet: String,
    env: HashMap<String, String>,
    /// Hosts cut off now (not asked anything: they would not answer).
    cut: Mutex<HashSet<String>>,
}

impl Topology {
    /// Starts one with `chat` (the binary), its services' rate limits off and
    /// `allowed_origin` allowed; `None` (with a note) where this machine cannot (not
    /// root, no network namespaces, no PostgreSQL or Redis binaries), outside CI.
    pub fn up(chat: &Path, allowed_origin: &str) -> Option<Self> {
        if let Err(why) = available() {
            if in_ci() {
                panic!("the multi-host topology is required when CI=true: {why}");
            }
            eprintln!("note: {why}; skipping this test");
            return None;
        }
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let n = std::process::id() % 200 + STARTED.fetch_add(1, Ordering::Relaxed) * 7;
        let name = format!("t{}", n % 10_000);
        let subnet = format!("10.214.{}", n % 250 + 2);
        let dir = tempfile::tempdir().expect("a folder for the topology");
        // PostgreSQL runs as its own user, in a folder under this one.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("open the folder to the postgres user");
        let mut topology = Self {
            dir,
            name,
            subnet,
            env: HashMap::new(),
            cut: Mutex::default(),
        };
        let out = topology
            .script(&["up"])
            .env("CHAT_BIN", chat)
            .env("CHAT_RATE_LIMITS", "off")
            .env("CHAT_ALLOWED_ORIGINS", allowed_origin)
            .env("TOPOLOGY_TTL", LIFETIME_SECONDS.to_string())
            .output()
            .expect("run scripts/topology.sh");
        assert!(
            out.status.success(),
            "scripts/topology.sh up failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        topology.env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(topology)
    }

    fn script(&self, args: &[&str]) -> Command {
        let mut command = Command::new(script());
        command
            .args(args)
            .env("TOPOLOGY_DIR", self.dir.path().join("topology"))
            .env("TOPOLOGY_NAME", &self.name)
            .env("TOPOLOGY_SUBNET", &self.subnet);
        command
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.env[key].split(',').map(str::to_string).collect()
    }

    /// The user service's instances (`http://address:port`).
    pub fn user_urls(&self) -> Vec<String> {
        self.list("TOPOLOGY_USER_URLS")
    }

    /// The senders, on hosts `sender1`, `sender2`.
    pub fn sender_urls(&self) -> Vec<String> {
        self.list("TOPOLOGY_SENDER_URLS")
    }

    /// The receivers, on hosts `receiver1`…`receiver3`.
    pub fn receiver_urls(&self) -> Vec<String> {
        self.list("TOPOLOGY_RECEIVER_URLS")
    }

    /// The PostgreSQL primary (host `pg1`).
    pub fn database_url(&self) -> &str {
        &self.env["TOPOLOGY_DATABASE_URL"]
    }

    /// Takes `host`'s link down: nothing reaches it and nothing leaves it, with no
    /// close or reset, as when a machine drops off the network.
    pub fn cut(&self, host: &str) {
        self.run(&["cut", host]);
        self.cut.lock().expect("cut hosts").insert(host.to_string());
    }

    /// Brings `host`'s link back.
    pub fn heal(&self, host: &str) {
        self.run(&["heal", host]);
        self.cut.lock().expect("cut hosts").remove(host);
    }

    fn run(&self, args: &[&str]) {
        let out = self.script(args).output().expect("run scripts/topology.sh");
        assert!(
            out.status.success(),
            "scripts/topology.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The Redis node on host `redisN`.
    fn redis_node(&self, host: &str) -> Node {
        let n: u16 = host
            .strip_prefix("redis")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{host} is not a Redis host"));
        Node {
            host: format!("{}.{}", self.subnet, 20 + n),
            port: 7000,
        }
    }

    /// Every slot range a master that is not failing serves, with its host: `(first,
    /// last, host)`, as the first reachable node sees it.
    fn slot_owners(&self) -> Vec<(u16, u16, String)> {
        let cut = self.cut.lock().expect("cut hosts").clone();
        for host in (1..=6).map(|n| format!("redis{n}")) {
            if cut.contains(&host) {
                continue;
            }
            let nodes = self
                .redis_node(&host)
                .cli(&["--no-raw", "cluster", "nodes"]);
            let mut owners = Vec::new();
            for line in nodes.lines() {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                    continue;
                }
                let ip = fields[1].split(':').next().unwrap_or_default();
                let last: u16 = ip
                    .rsplit('.')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                for range in fields[8..].iter().filter(|r| !r.starts_with('[')) {
                    let (from, to) = range.split_once('-').unwrap_or((range, range));
                    if let (Ok(from), Ok(to)) = (from.parse(), to.parse()) {
                        owners.push((from, to, format!("redis{}", last.saturating_sub(20))));
                    }
                }
            }
            if !nodes.is_empty() {
                return owners;
            }
        }
        Vec::new()
    }

    /// The host (`redis1`…`redis6`) serving `slot` as a master that is not failing,
    /// as the reachable nodes see it; `None` while none does (a failover under way).
    pub fn redis_master_of(&self, slot: u16) -> Option<String> {
        self.slot_owners()
            .into_iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, host)| host)
    }

    /// The hosts of the masters serving slots now.
    pub fn redis_masters(&self) -> Vec<String> {
        let mut masters: Vec<String> = self.slot_owners().into_iter().map(|o| o.2).collect();
        masters.sort();
        masters.dedup();
        masters
    }

    /// Moves `slot` with its keys to the master on host `to`, while every host is
    /// reachable ([`move_slot`]).
    pub fn move_slot(&self, slot: u16, to: &str) {
        let from = self
            .redis_master_of(slot)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"));
        let masters: Vec<Node> = self
            .redis_masters()
            .iter()
            .map(|host| self.redis_node(host))
            .collect();
        move_slot(
            slot,
            &self.redis_node(&from),
            &self.redis_node(to),
            &masters,
        );
    }

    /// Runs `sql` on the replica (host `pg2`), as the postgres user over TCP.
    pub fn on_replica(&self, sql: &str) {
        let url = &self.env["TOPOLOGY_REPLICA_URL"];
        let out = Command::new("psql")
            .args([url.as_str(), "-q", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql on the replica: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The end of each process's log, for a failing test's report.
    pub fn log_tails(&self, lines: usize) -> String {
        let logs = self.dir.path().join("topology/logs");
        let mut report = String::new();
        let Ok(entries) = std::fs::read_dir(&logs) else {
            return report;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(lines).collect();
            report.push_str(&format!("--- {}\n", path.display()));
            for line in tail.into_iter().rev() {
                report.push_str(line);
                report.push('\n');
            }
        }
        report
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the topology's logs, at the end:\n{}", self.log_tails(20));
        }
        let _ = self.script(&["down"]).output();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/topology.sh")
}

/// Why this machine cannot run a topology, if it cannot.
fn available() -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    if !root {
        return Err("the multi-host topology needs root (network namespaces)".into());
    }
    let probe = format!("tprobe{}", std::process::id());
    let made = Command::new("ip")
        .args(["netns", "add", &probe])
        .output()
        .is_ok_and(|out| out.status.success());
    if !made {
        return Err("this machine does not allow network namespaces (ip netns add)".into());
    }
    let _ = Command::new("ip").args(["netns", "del", &probe]).output();
    for tool in ["redis-server", "redis-cli", "curl"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|out| out.status.success());
        if !found {
            return Err(format!("the multi-host topology needs {tool}"));
        }
    }
    let postgres = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .any(|e| e.path().join("bin/initdb").exists());
    if !postgres {
        return Err("the multi-host topology needs PostgreSQL's server binaries".into());
    }
    Ok(())
}
