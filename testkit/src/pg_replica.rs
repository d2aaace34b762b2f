//! A PostgreSQL primary with a streaming replica, of the test's own: `initdb` on a free
//! port, then `pg_basebackup -R` for the replica on another, from the machine's
//! PostgreSQL binaries, run as the `postgres` user when the tests run as root (the
//! server refuses to run as root). The replica's replay can be paused (a replica
//! lagging by as long as the test likes) and the replica stopped. Both servers stop
//! when it is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::in_ci;
use crate::redis_server::free_port;

/// A primary and its streaming replica.
pub struct PgReplica {
    pub primary_port: u16,
    pub replica_port: u16,
    bin: PathBuf,
    primary: Option<Child>,
    replica: Option<Child>,
    dir: tempfile::TempDir,
}

impl PgReplica {
    /// Starts both; `None` (with a note) when PostgreSQL's server binaries are not
    /// installed, outside CI.
    pub async fn start() -> Option<Self> {
        Self::start_with(None).await
    }

    /// [`PgReplica::start`] with TLS on both servers (`ssl = on`), with `ca`'s server
    /// certificate: clients may ask for `sslmode=verify-full`.
    pub async fn start_tls(ca: &crate::tls::TestCa) -> Option<Self> {
        Self::start_with(Some(ca)).await
    }

    async fn start_with(tls: Option<&crate::tls::TestCa>) -> Option<Self> {
        let Some(bin) = server_binaries() else {
            if in_ci() {
                panic!("PostgreSQL's server binaries (initdb, postgres) are required when CI=true");
            }
            eprintln!("note: no PostgreSQL server binaries; skipping this test");
            return None;
        };
        let dir = tempfile::tempdir().expect("a folder for the servers");
        let (primary_dir, replica_dir) = (dir.path().join("primary"), dir.path().join("replica"));
        as_postgres_owner(dir.path());
        run(
            &bin,
            "initdb",
            &[
                "-D",
                path(&primary_dir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        if let Some(ca) = tls {
            // In the data folder, the server's own: it refuses a key others can read.
            std::fs::copy(&ca.cert, primary_dir.join("server.crt")).expect("copy the certificate");
            std::fs::copy(&ca.key, primary_dir.join("server.key")).expect("copy the key");
            private_to_postgres(&primary_dir.join("server.key"));
            private_to_postgres(&primary_dir.join("server.crt"));
            std::fs::write(
                primary_dir.join("postgresql.auto.conf"),
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
            )
            .expect("turn TLS on");
            private_to_postgres(&primary_dir.join("postgresql.auto.conf"));
        }
        let primary_port = free_port();
        let primary = start_server(&bin, &primary_dir, primary_port, dir.path());
        wait_until_ready(primary_port).await;
        run(
            &bin,
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                path(&replica_dir),
                "-R",
                "-X",
                "stream",
            ],
        );
        let replica_port = free_port();
        let replica = start_server(&bin, &replica_dir, replica_port, dir.path());
        wait_until_ready(replica_port).await;
        Some(Self {
            primary_port,
            replica_port,
            bin,
            primary: Some(primary),
            replica: Some(replica),
            dir,
        })
    }

    /// A database URL on the primary.
    pub fn primary_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.primary_port
        )
    }

    /// The same database on the replica.
    pub fn replica_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.replica_port
        )
    }

    /// Creates `database` on the primary, and waits until the replica has it too.
    pub async fn create_database(&self, database: &str) {
        let mut primary = sqlx::PgConnection::connect(&self.primary_url("postgres"))
            .await
            .expect("connect to the primary");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut primary)
            .await
            .expect("create the database");
        let deadline = Instant::now() + Duration::from_secs(30);
        while sqlx::PgConnection::connect(&self.replica_url(database))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the replica did not get {database}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Pauses the replica's replay: from now on it lags further behind with each write.
    pub async fn pause_replay(&self) {
        self.on_replica("SELECT pg_wal_replay_pause()").await;
    }

    pub async fn resume_replay(&self) {
        self.on_replica("SELECT pg_wal_replay_resume()").await;
    }

    /// Stops the replica at once.
    pub fn stop_replica(&mut self) {
        if let Some(replica) = self.replica.take() {
            self.stop(replica, "replica");
        }
    }

    /// Stops a server at once (`pg_ctl stop -m immediate`: killing `runuser` would leave
    /// the server running).
    fn stop(&self, mut server: Child, data: &str) {
        let data = self.dir.path().join(data);
        let _ = command(
            &self.bin,
            "pg_ctl",
            &["stop", "-D", path(&data), "-m", "immediate"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
        let _ = server.kill();
        let _ = server.wait();
    }

    async fn on_replica(&self, sql: &'static str) {
        let mut replica = sqlx::PgConnection::connect(&self.replica_url("postgres"))
            .await
            .expect("connect to the replica");
        sqlx::query(sql)
            .execute(&mut replica)
            .await
            .expect("run on the replica");
    }
}

impl Drop for PgReplica {
    fn drop(&mut self) {
        for child in [self.replica.as_mut(), self.primary.as_mut()]
            .into_iter()
            .flatten()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The newest installed PostgreSQL's `bin` folder (Debian keeps the server binaries
/// out of the PATH).
fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("postgres").exists())
        .collect();
    found.sort();
    found.pop()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Makes `file` the `postgres` user's only (when running as root), as the server wants
/// its key.
fn private_to_postgres(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    as_postgres_owner(file);
}

/// Hands `dir` to the `postgres` user when running as root.
fn as_postgres_owner(dir: &Path) {
    if running_as_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres", path(dir)])
            .status()
            .expect("chown");
        assert!(status.success(), "chown {}", dir.display());
    }
}

/// `bin/program args…`, as `postgres` when root; panics if it fails.
fn run(bin: &Path, program: &str, args: &[&str]) {
    let out = command(bin, program, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn command(bin: &Path, program: &str, args: &[&str]) -> Command {
    let program = bin.join(program);
    if running_as_root() {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

fn start_server(bin: &Path, data: &Path, port: u16, sockets: &Path) -> Child {
    command(
        bin,
        "postgres",
        &[
            "-D",
            path(data),
            "-p",
            &port.to_string(),
            "-k",
            path(sockets),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("start postgres")
}

async fn wait_until_ready(port: u16) {
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + Duration::from_secs(60);
    while sqlx::PgConnection::connect(&url).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "PostgreSQL did not start on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
