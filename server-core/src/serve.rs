//! Serving connections, so that slow and numerous clients cannot take a process down:
//! a request head must arrive within a few seconds (hyper's header-read timeout, which
//! needs a timer that `axum::serve` does not give it); the process serves a bounded
//! number of connections over all its listeners, answering 503 beyond, long before it
//! runs out of file descriptors (every instance of the embedded default shares one
//! process and its limit); and one address may hold only a share of them, so a flood
//! from one place leaves room for everyone else. Request bodies are bounded in time by
//! the services' routers (`crate::http::service_router`).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

/// How long a client may take to send a request's head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open requests before it gives up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// File descriptors kept back from the connection cap: database and Redis
/// connections, files, the listeners themselves.
const RESERVED_FILES: usize = 512;

/// Connections one client address may hold at once (a household or an office behind
/// one address fits; a flood from one machine does not crowd out everyone else).
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 512;

/// Open connections per client address.
type OpenByAddress = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// What one process allows its clients.
#[derive(Clone, Debug)]
pub struct ServeLimits {
    pub header_read_timeout: Duration,
    /// Connections served at once; beyond, new ones get 503 and are closed.
    connections: Arc<Semaphore>,
    /// Open connections per client address, and how many one may hold (`None`: no
    /// cap, for load tests that are thousands of clients on one address).
    per_address: Option<(OpenByAddress, usize)>,
}

impl ServeLimits {
    /// The process's limits: one connection budget shared by every listener of the
    /// process, from its open-files limit, and [`MAX_CONNECTIONS_PER_ADDRESS`] unless
    /// `per_address` is false.
    pub fn process(per_address: bool) -> Self {
        static SHARED: OnceLock<(Arc<Semaphore>, OpenByAddress)> = OnceLock::new();
        let (connections, open) = SHARED.get_or_init(|| {
            (
                Arc::new(Semaphore::new(connection_budget())),
                Arc::default(),
            )
        });
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            connections: connections.clone(),
            per_address: per_address.then(|| (open.clone(), MAX_CONNECTIONS_PER_ADDRESS)),
        }
    }

    /// Limits of their own (for tests): `connections` at once, `per_address` of them
    /// from one address.
    pub fn new(header_read_timeout: Duration, connections: usize, per_address: usize) -> Self {
        Self {
            header_read_timeout,
            connections: Arc::new(Semaphore::new(connections)),
            per_address: Some((Arc::default(), per_address)),
        }
    }

    /// A place for a connection from `ip`, if the limits leave one.
    fn admit(&self, ip: IpAddr) -> Option<Admitted> {
        let permit = self.connections.clone().try_acquire_owned().ok()?;
        let address = match &self.per_address {
            Some((open, cap)) => {
                let mut open_now = open.lock().expect("connections lock");
                let count = open_now.entry(ip).or_default();
                if *count >= *cap {
                    return None;
                }
                *count += 1;
                Some((open.clone(), ip))
            }
            None => None,
        };
        Some(Admitted {
            _permit: permit,
            address: Mutex::new(address),
        })
    }
}

/// A connection's place in the limits, as requests on it carry it (a request
/// extension): a WebSocket keeps it for as long as it is open, since the HTTP
/// connection that upgraded to it ends at the upgrade.
#[derive(Clone)]
pub struct ConnectionPlace(Arc<Admitted>);

impl ConnectionPlace {
    /// Gives back the place in its address's share, keeping the one in the process's
    /// budget: for a WebSocket whose session was accepted, which its user's own cap
    /// bounds from then on (so that the many users behind one proxy or office address
    /// are not held to one address's share).
    pub fn leave_address_share(&self) {
        self.0.leave_address_share();
    }
}

/// A connection's place; given back when dropped.
struct Admitted {
    _permit: OwnedSemaphorePermit,
    address: Mutex<Option<(OpenByAddress, IpAddr)>>,
}

impl Admitted {
    fn leave_address_share(&self) {
        let taken = self.address.lock().expect("place lock").take();
        if let Some((open, ip)) = taken {
            let mut open = open.lock().expect("connections lock");
            if let Some(count) = open.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&ip);
                }
            }
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.leave_address_share();
    }
}

/// The process's open-files limit less a reserve (Linux: `/proc/self/limits`; 1,024
/// files where it cannot be read).
fn connection_budget() -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    limit.saturating_sub(RESERVED_FILES).max(64)
}

/// Serves `router` with these limits until `shutdown` resolves, then lets open
/// requests finish for a few seconds.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was taken:
                    // pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(admitted) = limits.admit(addr.ip()) else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let place = ConnectionPlace(Arc::new(admitted));
        let service = router.clone().map_request({
            let place = place.clone();
            move |mut request: http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(addr));
                request.extensions_mut().insert(place.clone());
                request.map(Body::new)
            }
        });
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        let header_read_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            // WebSockets over HTTP/2 need the CONNECT protocol.
            builder
                .http2()
                .timer(TokioTimer::new())
                .enable_connect_protocol();
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = async { drop(stop.wait_for(|stop| *stop).await) } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(place);
            drop(done);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    if tokio::time::timeout(SHUTDOWN_GRACE, done_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!("open requests did not finish in time; stopping anyway");
    }
    Ok(())
}

/// Tells a connection over the budget to come back later, and closes it.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str =
        r#"{"errors":[{"message":"too many connections","extensions":{"code":"UNAVAILABLE"}}]}"#;
    let busy = format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(busy.as_bytes())).await;
    let _ = stream.shutdown().await;
}
