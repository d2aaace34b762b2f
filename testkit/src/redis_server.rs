//! A redis-server of the test's own, on a free port, to kill and restart.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::in_ci;

/// A private Redis; killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// Serving TLS only, with this certificate, key and CA (PEM files).
    tls: Option<[std::path::PathBuf; 3]>,
}

impl RedisServer {
    /// Starts `redis-server` on a free port; `None` (with a note) when it is not
    /// installed, outside CI.
    pub async fn start() -> Option<Self> {
        Self::start_with(None).await
    }

    /// [`RedisServer::start`] serving TLS only (`rediss://`), with `ca`'s server
    /// certificate.
    pub async fn start_tls(ca: &crate::tls::TestCa) -> Option<Self> {
        Self::start_with(Some([ca.cert.clone(), ca.key.clone(), ca.ca.clone()])).await
    }

    async fn start_with(tls: Option<[std::path::PathBuf; 3]>) -> Option<Self> {
        let port = free_port();
        let mut server = Self {
            port,
            child: None,
            tls,
        };
        match server.spawn() {
            Ok(()) => {}
            Err(e) if !in_ci() => {
                eprintln!("note: cannot run redis-server ({e}); skipping this test");
                return None;
            }
            Err(e) => panic!("redis-server is required when CI=true: {e}"),
        }
        server.wait_until_up().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (no clean shutdown), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().expect("restart redis-server");
        self.wait_until_up().await;
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let mut command = Command::new("redis-server");
        match &self.tls {
            Some([cert, key, ca]) => {
                command
                    .args(["--port", "0", "--tls-port", &self.port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(cert)
                    .arg("--tls-key-file")
                    .arg(key)
                    .arg("--tls-ca-cert-file")
                    .arg(ca)
                    .args(["--tls-auth-clients", "no"]);
            }
            None => {
                command.args(["--port", &self.port.to_string()]);
            }
        }
        let child = command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait_until_up(&self) {
        // Up to 30 s: on a loaded machine a niced redis-server can take seconds to start.
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
