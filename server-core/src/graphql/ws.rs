//! One GraphQL WebSocket connection, with the limits that keep any one client from
//! holding the server's resources:
//!
//! - a socket that does not send `connection_init` in time is closed (4408, as the
//!   graphql-transport-ws protocol says);
//! - a write that the client does not take in time closes the connection: a client
//!   that stops reading would otherwise block its connection's task forever, with
//!   events piling up for it (the hub bounds that buffer and cuts the subscription
//!   off, but the socket would stay open);
//! - at most so many subscriptions per connection, and connections per user.
//!
//! async-graphql's `WebSocket` speaks the protocols; this module drives it (in place
//! of async-graphql-axum's `serve`, which has neither timeout).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_graphql::http::{WebSocketProtocols, WsMessage};
use async_graphql::{Data, Executor, Request, Response, ServerError};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chat_types::limits::KEEPALIVE;
use chat_types::{ErrorCode, UserId};
use futures::stream::BoxStream;
use futures::{SinkExt, StreamExt, future};

use tokio::sync::broadcast::error::RecvError;

use crate::auth::{AuthError, Authenticator, Revoked};
use crate::error::ApiError;
use crate::limits::WsLimits;
use crate::metrics::{Counter, Family, Metrics, OperationKind};
use prometheus_client::encoding::EncodeLabelSet;

/// The close code for a socket that never initialised (graphql-transport-ws).
const INIT_TIMEOUT_CODE: u16 = 4408;

/// How to run one connection.
pub(crate) struct Connection {
    pub(crate) protocol: WebSocketProtocols,
    /// The connection's own data (what `connection_init` returns is added to it).
    pub(crate) data: Data,
    pub(crate) limits: WsLimits,
    pub(crate) counters: Arc<WsCounters>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) session: OpenSession,
}

/// The session a connection was opened with, checked again whenever sessions are
/// revoked: a socket must not outlive its user's logout, password change or
/// deactivation.
#[derive(Clone)]
pub(crate) struct OpenSession {
    pub(crate) auth: Authenticator,
    /// The session, once `connection_init` has accepted it.
    pub(crate) accepted: Arc<OnceLock<Accepted>>,
}

/// A session `connection_init` accepted.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) user: UserId,
    pub(crate) token: String,
    /// When the token expires: the socket closes then.
    pub(crate) expires_at: tokio::time::Instant,
}

impl OpenSession {
    /// Whether `notice` ends this connection's session (checked against the store).
    async fn revoked_by(&self, notice: Result<Revoked, RecvError>) -> bool {
        let Some(Accepted { user, token, .. }) = self.accepted.get() else {
            return false;
        };
        let concerns_us = match notice {
            Ok(Revoked::User(revoked)) => revoked == *user,
            Ok(Revoked::Anyone) | Err(RecvError::Lagged(_)) => true,
            Err(RecvError::Closed) => false,
        };
        // A store that cannot answer now is no proof of revocation: keep the socket.
        concerns_us
            && matches!(
                self.auth.authenticate(token).await,
                Err(AuthError::Invalid | AuthError::Missing)
            )
    }
}

/// The close code for a socket whose session ended (graphql-transport-ws "Unauthorized").
const SESSION_ENDED_CODE: u16 = 4401;
/// A deadline that does not come (a timer not yet set).
const FAR_FUTURE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Drives one connection until either side ends it or a limit is hit. `on_init`
/// authenticates `connection_init`.
pub(crate) async fn serve<E, F, R>(
    socket: WebSocket,
    executor: E,
    on_init: F,
    connection: Connection,
) where
    E: Executor,
    F: FnOnce(serde_json::Value) -> R + Send + 'static,
    R: Future<Output = async_graphql::Result<Data>> + Send + 'static,
{
    let Connection {
        protocol,
        data,
        limits,
        counters,
        metrics,
        session,
    } = connection;
    let mut revocations = session.auth.revocations();
    let mut revocations_open = true;
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                _ => None,
            })
        });
    // Set when `connection_init` arrives (before it is checked, which may take a
    // database read): from then on the init timeout no longer applies.
    let initialised = Arc::new(AtomicBool::new(false));
    let seen = initialised.clone();
    let executor = CappedExecutor {
        inner: executor,
        active: Arc::default(),
        max: limits.max_subscriptions,
        counters: counters.clone(),
        metrics,
    };
    let outgoing = async_graphql::http::WebSocket::new(executor, input, protocol)
        .connection_data(data)
        .on_connection_init(move |payload| {
            seen.store(true, Ordering::Release);
            on_init(payload)
        });
    let mut outgoing = std::pin::pin!(outgoing);
    let init_deadline = tokio::time::sleep(limits.init_timeout);
    let mut init_deadline = std::pin::pin!(init_deadline);
    // The token's expiry, once a session is accepted (its `connection_ack` is the
    // first message out after that).
    let expiry = tokio::time::sleep(FAR_FUTURE);
    let mut expiry = std::pin::pin!(expiry);
    let mut expiry_armed = false;
    // Once the session is open, a connection that has sent nothing for a while says it
    // is alive, so that a client whose server dropped off the network (no close, no
    // reset) can tell: graphql-transport-ws's `ping` (answered with `pong`), or the
    // older protocol's `ka`.
    let alive = match protocol {
        WebSocketProtocols::GraphQLWS => r#"{"type":"ping"}"#,
        WebSocketProtocols::SubscriptionsTransportWS => r#"{"type":"ka"}"#,
    };
    let keepalive = tokio::time::sleep(KEEPALIVE);
    let mut keepalive = std::pin::pin!(keepalive);
    loop {
        let message = tokio::select! {
            message = outgoing.next() => match message {
                Some(message) => {
                    if !expiry_armed && let Some(accepted) = session.accepted.get() {
                        expiry.as_mut().reset(accepted.expires_at);
                        expiry_armed = true;
                    }
                    to_axum(message)
                }
                None => break,
            },
            () = &mut expiry, if expiry_armed => Message::Close(Some(CloseFrame {
                code: SESSION_ENDED_CODE,
                reason: "session expired: sign in again".into(),
            })),
            notice = revocations.recv(), if revocations_open => {
                revocations_open = !matches!(notice, Err(RecvError::Closed));
                if !session.revoked_by(notice).await {
                    continue;
                }
                Message::Close(Some(CloseFrame {
                    code: SESSION_ENDED_CODE,
                    reason: "session ended: sign in again".into(),
                }))
            }
            () = &mut keepalive, if expiry_armed => Message::Text(alive.into()),
            () = &mut init_deadline, if !initialised.load(Ordering::Acquire) => {
                if initialised.load(Ordering::Acquire) {
                    continue;
                }
                counters.init_timeouts.inc();
                Message::Close(Some(CloseFrame {
                    code: INIT_TIMEOUT_CODE,
                    reason: "Connection initialisation timeout".into(),
                }))
            }
        };
        let closing = matches!(message, Message::Close(_));
        keepalive
            .as_mut()
            .reset(tokio::time::Instant::now() + KEEPALIVE);
        match tokio::time::timeout(limits.send_timeout, sink.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                // Dropping the socket closes the connection, and with it every
                // subscription on it and what was waiting for it.
                counters.send_timeouts.inc();
                tracing::info!("closing a WebSocket whose client stopped reading");
                break;
            }
        }
        if closing {
            break;
        }
    }
}

fn to_axum(message: WsMessage) -> Message {
    match message {
        WsMessage::Text(text) => Message::Text(text.into()),
        WsMessage::Close(code, reason) => Message::Close(Some(CloseFrame {
            code,
            reason: close_reason(reason).into(),
        })),
    }
}

/// The most a close frame's reason may take: a control frame carries at most 125 bytes,
/// two of them the code (RFC 6455, 5.5).
const MAX_CLOSE_REASON: usize = 123;

/// `reason`, cut to fit a close frame. async-graphql's reasons can be longer (a message
/// it cannot parse is quoted back), and a longer close frame is a protocol error: the
/// client would see a broken connection instead of the code.
fn close_reason(mut reason: String) -> String {
    if reason.len() > MAX_CLOSE_REASON {
        let mut end = MAX_CLOSE_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// Runs the connection's operations, refusing any beyond its cap of active ones.
#[derive(Clone)]
struct CappedExecutor<E> {
    inner: E,
    /// Operations running on this connection.
    active: Arc<AtomicUsize>,
    max: usize,
    counters: Arc<WsCounters>,
    metrics: Arc<Metrics>,
}

impl<E: Executor> Executor for CappedExecutor<E> {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        self.inner.execute(request)
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        // One task drives the connection, so nothing races between check and count.
        if self.active.load(Ordering::Relaxed) >= self.max {
            self.counters.subscriptions_refused.inc();
            self.metrics.count_error(ErrorCode::RateLimited);
            let error = ApiError::LimitReached(format!(
                "too many subscriptions on this connection (at most {}); stop one first",
                self.max
            ));
            let mut server_error = ServerError::new(error.to_string(), None);
            error.annotate(&mut server_error);
            return futures::stream::once(future::ready(Response::from_errors(vec![server_error])))
                .boxed();
        }
        self.metrics.count_operation(OperationKind::Subscription);
        let active = Active::new(self.active.clone(), self.metrics.clone());
        self.inner
            .execute_stream(request, session_data)
            // The stream owns the count: it ends when the stream is dropped, whether it
            // completed, was stopped, or the connection closed.
            .map(move |response| {
                let _counted = &active;
                response
            })
            .boxed()
    }
}

/// One running operation, counted on its connection and in the metrics.
struct Active {
    active: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

impl Active {
    fn new(active: Arc<AtomicUsize>, metrics: Arc<Metrics>) -> Self {
        active.fetch_add(1, Ordering::Relaxed);
        metrics.subscriptions.inc();
        Self { active, metrics }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        self.metrics.subscriptions.dec();
    }
}

/// Open connections per user on this instance.
#[derive(Debug, Default)]
pub(crate) struct ConnectionSlots(Mutex<rustc_hash::FxHashMap<UserId, usize>>);

impl ConnectionSlots {
    /// A slot for one more connection of `user`, unless they have `max` already.
    pub(crate) fn acquire(self: &Arc<Self>, user: UserId, max: usize) -> Option<ConnectionSlot> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            slots: self.clone(),
            user,
        })
    }
}

/// A connection's place among its user's; given back when dropped.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    slots: Arc<ConnectionSlots>,
    user: UserId,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.slots.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// How often the WebSocket limits were hit: `chat_ws_limited_total{reason}`.
#[derive(Debug)]
pub(crate) struct WsCounters {
    pub(crate) init_timeouts: Counter,
    pub(crate) send_timeouts: Counter,
    pub(crate) connections_refused: Counter,
    pub(crate) subscriptions_refused: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

impl WsCounters {
    pub(crate) fn register(metrics: &Metrics) -> Self {
        let family = Family::<Reason, Counter>::default();
        let reason = |reason| family.get_or_create(&Reason { reason }).clone();
        let counters = Self {
            init_timeouts: reason("init_timeout"),
            send_timeouts: reason("send_timeout"),
            connections_refused: reason("connections_per_user"),
            subscriptions_refused: reason("subscriptions_per_connection"),
        };
        metrics.register(|r| {
            r.register(
                "chat_ws_limited",
                "WebSockets closed or requests on them refused by a limit, by reason",
                family,
            )
        });
        counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_are_counted_per_user_and_given_back() {
        let slots = Arc::new(ConnectionSlots::default());
        let (a, b) = (
            UserId(uuid::Uuid::from_u128(1)),
            UserId(uuid::Uuid::from_u128(2)),
        );
        let first = slots.acquire(a, 2).unwrap();
        let second = slots.acquire(a, 2).unwrap();
        assert!(slots.acquire(a, 2).is_none());
        assert!(slots.acquire(b, 2).is_some());
        drop(first);
        assert!(slots.acquire(a, 2).is_some());
        // Users with no connection left are forgotten.
        drop(second);
        assert!(slots.0.lock().unwrap().is_empty());
    }

    #[test]
    fn close_reasons_fit_in_a_control_frame() {
        assert_eq!(close_reason("short".into()), "short");
        let long = close_reason("x".repeat(500));
        assert_eq!(long.len(), MAX_CLOSE_REASON);
        // Cut on a character boundary.
        let multibyte = close_reason("é".repeat(100));
        assert!(multibyte.len() <= MAX_CLOSE_REASON && multibyte.chars().all(|c| c == 'é'));
    }
}
