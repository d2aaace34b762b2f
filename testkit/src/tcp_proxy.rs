//! A TCP proxy that can be switched off: put between services and a server (PostgreSQL)
//! to make that server unreachable for a while without touching it.
//!
//! Up, it forwards every connection to the upstream address. Down, it drops every
//! connection it forwards at once and either refuses new ones (nothing listens on the
//! port) or blackholes them (accepts and never answers, as a lost network does); or,
//! frozen, it keeps the connections it forwards open but carries nothing on them, and
//! blackholes new ones. Back up, it forwards again on the same port.
//!
//! It can also freeze itself at a chosen moment: right after a client sends bytes that
//! contain a pattern ([`TcpProxy::freeze_on`]), as when a host drops off the network
//! just after taking a lock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    mode: Arc<watch::Sender<Mode>>,
    /// Bytes that freeze the proxy once a client has sent them; taken when they do.
    trip: Trip,
    forwarding: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let mode = Arc::new(watch::Sender::new(Mode::Up));
        let trip = Trip::default();
        let forwarding = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(run(
            listener,
            port,
            Forwarding {
                upstream: upstream.to_string(),
                mode: mode.clone(),
                trip: trip.clone(),
                count: forwarding.clone(),
            },
            accepted.clone(),
        ));
        Ok(Self {
            port,
            upstream: upstream.to_string(),
            mode,
            trip,
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

    /// Freezes the proxy ([`Outage::Freeze`]) as soon as a client sends bytes
    /// containing `pattern` (within one read), once they have reached the server: it
    /// acts on them, but from then on nothing passes either way (its answer, racing the
    /// freeze, may).
    pub fn freeze_on(&self, pattern: &[u8]) {
        *self.trip.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(pattern.to_vec());
    }

    /// Whether the proxy is down, frozen or not.
    pub fn is_down(&self) -> bool {
        *self.mode.borrow() != Mode::Up
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

/// The pattern set by [`TcpProxy::freeze_on`], if any.
#[derive(Clone, Default)]
struct Trip(Arc<Mutex<Option<Vec<u8>>>>);

impl Trip {
    /// Whether `bytes` contain the pattern; it is taken if so (it trips once).
    fn tripped_by(&self, bytes: &[u8]) -> bool {
        let mut pattern = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let found = pattern
            .as_deref()
            .is_some_and(|p| !p.is_empty() && bytes.windows(p.len()).any(|window| window == p));
        if found {
            *pattern = None;
        }
        found
    }
}

/// What every forwarded connection shares.
#[derive(Clone)]
struct Forwarding {
    upstream: String,
    mode: Arc<watch::Sender<Mode>>,
    trip: Trip,
    /// Connections being forwarded now.
    count: Arc<AtomicUsize>,
}

async fn run(listener: TcpListener, port: u16, forwarding: Forwarding, accepted: Arc<AtomicUsize>) {
    let mut mode = forwarding.mode.subscribe();
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
                        tokio::spawn(forward(stream, forwarding.clone()));
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
async fn forward(mut client: TcpStream, forwarding: Forwarding) {
    let mut mode = forwarding.mode.subscribe();
    let connect = TcpStream::connect(&forwarding.upstream);
    let mut server = tokio::select! {
        server = connect => match server {
            Ok(server) => server,
            Err(_) => return,
        },
        _ = mode.wait_for(|m| *m != Mode::Up) => return,
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    forwarding.count.fetch_add(1, Ordering::Relaxed);
    {
        let (mut from_client, mut to_client) = client.split();
        let (mut from_server, mut to_server) = server.split();
        let upstream = async {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = from_client.read(&mut buf).await?;
                if n == 0 {
                    return to_server.shutdown().await;
                }
                to_server.write_all(&buf[..n]).await?;
                if forwarding.trip.tripped_by(&buf[..n]) {
                    forwarding.mode.send_replace(Mode::Down(Outage::Freeze));
                }
            }
        };
        let downstream = tokio::io::copy(&mut from_server, &mut to_client);
        tokio::select! {
            _ = async { tokio::try_join!(upstream, downstream) } => {}
            _ = mode.wait_for(|m| *m != Mode::Up) => {}
        }
    }
    if *mode.borrow() == Mode::Down(Outage::Freeze) {
        // Open and silent until the proxy is up again; then both ends are dropped.
        let _ = mode.wait_for(|m| *m == Mode::Up).await;
    }
    forwarding.count.fetch_sub(1, Ordering::Relaxed);
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

    /// A server that answers what it reads in upper case (not an echo, so that bytes
    /// sent back the wrong way show).
    async fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        buf[..n].make_ascii_uppercase();
                        if stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
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
            Some(&buf == b"PING")
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
        assert_eq!(&buf, b"PING");
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

    #[tokio::test]
    async fn freezes_once_a_client_has_sent_the_pattern() {
        let proxy = TcpProxy::start(&echo_server().await).await.unwrap();
        proxy.freeze_on(b"LOCK");
        let addr = proxy.addr();
        let mut open = TcpStream::connect(&addr).await.unwrap();
        let mut buf = [0u8; 4];
        open.write_all(b"ping").await.unwrap();
        open.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"PING");
        assert!(!proxy.is_down());

        // The server gets the bytes with the pattern; then nothing passes, and nothing
        // is closed.
        open.write_all(b"LOCK").await.unwrap();
        assert!(soon(|| async { proxy.is_down() }).await, "never froze");
        // Its echo may have come back before the proxy froze; nothing after it does.
        let _ = tokio::time::timeout(Duration::from_millis(300), open.read(&mut buf)).await;
        open.write_all(b"ping").await.unwrap();
        let answer = tokio::time::timeout(Duration::from_millis(300), open.read(&mut buf)).await;
        assert!(answer.is_err(), "a frozen connection carried {answer:?}");
        proxy.up();
        assert!(soon(|| echoes(&addr)).await, "forwarding again");
    }
}
