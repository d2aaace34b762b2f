//! Service instances as real OS processes: the `chat` binary's `serve` command, each on
//! a free port, waited for on `/readyz`, killed with SIGKILL and started again on the
//! same port. For fault tests, where an instance must die the way a crashed process
//! does (no graceful shutdown, its sockets closed by the kernel).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::env::TEST_ORIGIN;
use crate::redis_server::free_port;

/// How long an instance may take to answer `/readyz` after it is started (a debug
/// build on a loaded machine starts slowly).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What every instance of a cluster is started with.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The `chat` binary (`env!("CARGO_BIN_EXE_chat")` in the stack's tests).
    pub exe: PathBuf,
    pub database_url: String,
    /// The bus: one Redis (`redis://…`), or a Redis Cluster's nodes, comma-separated
    /// (`cluster:redis://…,redis://…`).
    pub redis_url: String,
    pub bus_prefix: String,
    /// The token secret every instance shares.
    pub jwt_secret: String,
}

impl ClusterConfig {
    fn env(&self, data_dir: &Path) -> Vec<(String, String)> {
        let log = std::env::var("FAULTS_RUST_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
        let bus = match self.redis_url.strip_prefix("cluster:") {
            Some(nodes) => ("CHAT_REDIS_CLUSTER", nodes),
            None => ("REDIS_URL", self.redis_url.as_str()),
        };
        [
            ("DATABASE_URL", self.database_url.as_str()),
            bus,
            ("CHAT_JWT_SECRET", self.jwt_secret.as_str()),
            ("CHAT_BUS_PREFIX", self.bus_prefix.as_str()),
            ("CHAT_ALLOWED_ORIGINS", TEST_ORIGIN),
            ("CHAT_HOST", "127.0.0.1"),
            ("CHAT_DATA_DIR", &data_dir.display().to_string()),
            ("CHAT_LOG_FORMAT", "text"),
            // The tests send far faster than one person may: no per-user rate limits.
            ("CHAT_RATE_LIMITS", "off"),
            ("RUST_LOG", &log),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// One instance: `chat serve <kind> --port <port>`. Killed (SIGKILL) when dropped.
pub struct ServiceProcess {
    pub kind: &'static str,
    pub port: u16,
    exe: PathBuf,
    env: Arc<Vec<(String, String)>>,
    log: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
}

impl ServiceProcess {
    /// Starts `kind` (`user`, `sender` or `receiver`) on a free port and waits until it
    /// is ready. Its output goes to `<log_dir>/<kind>-<port>.log`.
    pub async fn start(
        exe: &Path,
        kind: &'static str,
        env: Arc<Vec<(String, String)>>,
        log_dir: &Path,
    ) -> Self {
        // A free port can be taken by someone else before the instance binds it: then
        // the instance exits at once, and another port is tried.
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut process = Self {
                kind,
                port,
                exe: exe.to_path_buf(),
                env: env.clone(),
                log: log_dir.join(format!("{kind}-{port}.log")),
                child: None,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .expect("HTTP client"),
            };
            process.spawn();
            match process.wait_ready(READY_TIMEOUT).await {
                Ok(()) => return process,
                Err(e) if e.contains("already in use") => last_error = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{last_error}");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The OS process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Whether the process is still running (it has not exited by itself).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the process with SIGKILL, as a crash would, and reaps it.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // On Unix, `start_kill` sends SIGKILL.
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Starts it again on the same port (killing it first if it still runs) and waits
    /// until it is ready.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn();
        if let Err(e) = self.wait_ready(READY_TIMEOUT).await {
            panic!("{e}");
        }
    }

    fn spawn(&mut self) {
        append_line(
            &self.log,
            &format!("---- starting {} on port {}", self.kind, self.port),
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the instance's log");
        let child = Command::new(&self.exe)
            .arg("serve")
            .arg(self.kind)
            .arg("--port")
            .arg(self.port.to_string())
            .env_remove("PORT")
            .env_remove("CHAT_COOKIE_SECURE")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.exe.display()));
        self.child = Some(child);
    }

    /// Polls `/readyz` until it answers 200; `Err` if the process exits or the time is
    /// up.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/readyz", self.url());
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!(
                    "{} on port {} exited ({status}) before it was ready:\n{}",
                    self.kind,
                    self.port,
                    self.log_tail(20)
                ));
            }
            if self.child.is_none() {
                return Err(format!(
                    "{} on port {} is not running",
                    self.kind, self.port
                ));
            }
            if let Ok(response) = self.http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} on port {} was not ready within {timeout:?}:\n{}",
                    self.kind,
                    self.port,
                    self.log_tail(20)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last `lines` lines of the instance's output.
    pub fn log_tail(&self, lines: usize) -> String {
        let Ok(file) = File::open(&self.log) else {
            return String::from("(no log)");
        };
        let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

fn append_line(path: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}

/// A deployment of real processes: user, sender and receiver instances over one
/// database and one Redis. Every process is killed when the cluster is dropped; if
/// that happens because a test panicked, the end of each instance's log is printed.
pub struct Cluster {
    pub users: Vec<ServiceProcess>,
    pub senders: Vec<ServiceProcess>,
    pub receivers: Vec<ServiceProcess>,
    logs: tempfile::TempDir,
}

impl Cluster {
    /// Starts the instances (all at once) and waits until every one is ready.
    pub async fn start(
        config: &ClusterConfig,
        users: usize,
        senders: usize,
        receivers: usize,
    ) -> Self {
        let logs = tempfile::tempdir().expect("temp dir for logs");
        let env = Arc::new(config.env(logs.path()));
        let start = |kind: &'static str, count: usize| {
            let env = env.clone();
            let (exe, dir) = (config.exe.clone(), logs.path().to_path_buf());
            futures::future::join_all((0..count).map(move |_| {
                let (env, exe, dir) = (env.clone(), exe.clone(), dir.clone());
                async move { ServiceProcess::start(&exe, kind, env, &dir).await }
            }))
        };
        let (users, senders, receivers) = tokio::join!(
            start("user", users),
            start("sender", senders),
            start("receiver", receivers)
        );
        Self {
            users,
            senders,
            receivers,
            logs,
        }
    }

    pub fn sender_urls(&self) -> Vec<String> {
        self.senders.iter().map(ServiceProcess::url).collect()
    }

    pub fn receiver_urls(&self) -> Vec<String> {
        self.receivers.iter().map(ServiceProcess::url).collect()
    }

    /// Every instance, in the order users, senders, receivers.
    pub fn all(&self) -> impl Iterator<Item = &ServiceProcess> {
        self.users
            .iter()
            .chain(&self.senders)
            .chain(&self.receivers)
    }

    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut ServiceProcess> {
        self.users
            .iter_mut()
            .chain(&mut self.senders)
            .chain(&mut self.receivers)
    }

    /// Where the instances' logs are.
    pub fn log_dir(&self) -> &Path {
        self.logs.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for process in self.all() {
                eprintln!(
                    "---- {} on port {} (last lines of its log):\n{}",
                    process.kind,
                    process.port,
                    process.log_tail(30)
                );
            }
        }
        // The children are killed by `kill_on_drop`.
    }
}
