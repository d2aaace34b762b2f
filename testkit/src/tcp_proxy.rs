//! A TCP proxy that can be switched off: put between services and a server (PostgreSQL)
//! to make that server unreachable for a while without touching it.
//!
//! Up, it forwards every connection to the upstream address. Down, it drops every
//! connection it forwards at once and either refuses new ones (nothing listens on the
//! port) or blackholes them (accepts and never answers, as a lost network does); or,
//! frozen, it keeps the connections it forwards open but carries nothing on them, and
//! blackholes new ones. Back up, it forwards again on the same port.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the proxy fails while down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// Nothing listens: connecting is refused.
    Refuse,
    /// Connections are accepted and then nothing: no data, no close.
    Blackhole,
    /// As `Blackhole`, and the connections already forwarded stay open, silent (a
    /// network lost under an established connection).
    Freeze,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Up,
    Down(Outage),
}

/// The proxy; stopped when dropped.
pub struct TcpProxy {
    pub port: u16,
    pub upstream: String,
    mode: watch::Sender<Mode>,
    forwarding: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (mode, mode_rx) = watch::channel(Mode::Up);
        let forwarding = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(run(
            listener,
            port,
            upstream.to_string(),
            mode_rx,
            forwarding.clone(),
            accepted.clone(),
        ));
        Ok(Self {
            port,
            upstream: upstream.to_string(),
            mode,
            forwarding,
            accepted,
            task,
        })
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Fails forwarded and new connections as `outage` says.
    pub fn down(&self, outage: Outage) {
        self.mode.send_replace(Mode::Down(outage));
    }

    /// Forwards again.
    pub fn up(&self) {
        self.mode.send_replace(Mode::Up);
    }

    /// Connections being forwarded now.
    pub fn forwarding(&self) -> usize {
        self.forwarding.load(Ordering::Relaxed)
    }

    /// Connections accepted since the start (forwarded or not).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        // Forwarding tasks end when the mode sender is gone.
        self.task.abort();
    }
}

async fn run(
    listener: TcpListener,
    port: u16,
    upstream: String,
    mut mode: watch::Receiver<Mode>,
    forwarding: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
) {
    let mut listener = Some(listener);
    // Blackholed connections: held open, never read, dropped when the proxy is up again.
    let mut held: Vec<TcpStream> = Vec::new();
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Up => held.clear(),
            Mode::Down(Outage::Refuse) => {
                listener = None;
                held.clear();
                if mode.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Mode::Down(Outage::Blackhole | Outage::Freeze) => {}
        }
        if listener.is_none() {
            listener = Some(rebind(port).await);
        }
        let Some(bound) = listener.as_ref() else {
            continue;
        };
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            incoming = bound.accept() => {
                let Ok((stream, _)) = incoming else { continue };
                accepted.fetch_add(1, Ordering::Relaxed);
                // The mode now, not as the loop last saw it: a connection made after
                // `down` returned is never forwarded.
                let now = *mode.borrow();
                match now {
                    Mode::Up => {
                        tokio::spawn(forward(
                            stream,
                            upstream.clone(),
                            mode.clone(),
                            forwarding.clone(),
                        ));
                    }
                    Mode::Down(Outage::Blackhole | Outage::Freeze) => held.push(stream),
                    Mode::Down(Outage::Refuse) => drop(stream),
                }
            }
        }
    }
}

/// Listens on `port` again (it was ours a moment ago; retry while the OS lets go).
async fn rebind(port: u16) -> TcpListener {
    let mut last = None;
    for _ in 0..100 {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => return listener,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the proxy cannot listen on port {port} again: {last:?}");
}

/// Copies both ways until either side closes or the proxy goes down; then drops both
/// connections.
async fn forward(
    mut client: TcpStream,
    upstream: String,
    mut mode: watch::Receiver<Mode>,
    forwarding: Arc<AtomicUsize>,
) {
    let connect = TcpStream::connect(&upstream);
    let mut server = tokio::select! {
        server = connect => match server {
            Ok(server) => server,
            Err(_) => return,
        },
        _ = mode.wait_for(|m| *m != Mode::Up) => return,
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    forwarding.fetch_add(1, Ordering::Relaxed);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = mode.wait_for(|m| *m != Mode::Up) => {}
    }
    if *mode.borrow() == Mode::Down(Outage::Freeze) {
        // Open and silent until the proxy is up again; then both ends are dropped.
        let _ = mode.wait_for(|m| *m == Mode::Up).await;
    }
    forwarding.fetch_sub(1, Ordering::Relaxed);
}

/// The `host:port` of a `postgres://user:password@host:port/db` URL.
pub fn url_authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let authority = rest.split(['/', '?']).next()?;
    (!authority.is_empty()).then_some(authority)
}

/// The URL with its `host:port` replaced by `authority`.
pub fn with_authority(url: &str, authority: &str) -> Option<String> {
    let current = url_authority(url)?;
    let (scheme, rest) = url.split_once("://")?;
    let (userinfo, after) = match rest.rsplit_once('@') {
        Some((user, after)) => (format!("{user}@"), after),
        None => (String::new(), rest),
    };
    let tail = after.strip_prefix(current)?;
    Some(format!("{scheme}://{userinfo}{authority}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn rewrites_urls() {
        let url = "postgres://postgres:postgres@127.0.0.1:5432/chat_test_1";
        assert_eq!(url_authority(url), Some("127.0.0.1:5432"));
        assert_eq!(
            with_authority(url, "127.0.0.1:9").as_deref(),
            Some("postgres://postgres:postgres@127.0.0.1:9/chat_test_1")
        );
        assert_eq!(
            url_authority("postgres://localhost/db?sslmode=disable"),
            Some("localhost")
        );
    }

    async fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    async fn echoes(addr: &str) -> bool {
        let attempt = async {
            let mut stream = TcpStream::connect(addr).await.ok()?;
            stream.write_all(b"ping").await.ok()?;
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await.ok()?;
            Some(&buf == b"ping")
        };
        matches!(
            tokio::time::timeout(Duration::from_millis(500), attempt).await,
            Ok(Some(true))
        )
    }

    /// Polls `check` for up to 10 s.
    async fn soon<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if check().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn forwards_drops_refuses_blackholes_and_recovers() {
        let proxy = TcpProxy::start(&echo_server().await).await.unwrap();
        let addr = proxy.addr();
        assert!(soon(|| echoes(&addr)).await);

        // A connection open when the proxy goes down is closed.
        let mut open = TcpStream::connect(&addr).await.unwrap();
        open.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        open.read_exact(&mut buf).await.unwrap();
        proxy.down(Outage::Refuse);
        let closed = tokio::time::timeout(Duration::from_secs(10), open.read(&mut buf)).await;
        assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
        // Once the proxy has closed its listener, connecting is refused.
        assert!(soon(|| async { TcpStream::connect(&addr).await.is_err() }).await);

        proxy.up();
        assert!(soon(|| echoes(&addr)).await, "forwarding again");

        // Blackholed: accepted, and then nothing, not even a close.
        proxy.down(Outage::Blackhole);
        let mut silent = TcpStream::connect(&addr).await.unwrap();
        silent.write_all(b"ping").await.unwrap();
        let answer = tokio::time::timeout(Duration::from_millis(300), silent.read(&mut buf)).await;
        assert!(
            answer.is_err(),
            "a blackholed connection answered: {answer:?}"
        );
        proxy.up();
        assert!(soon(|| echoes(&addr)).await, "forwarding again");
        assert!(proxy.accepted() >= 5);
    }
}
