//! `GET /graphql`: GraphiQL, or a WebSocket upgrade and its `connection_init`.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocketProtocols};
use async_graphql::{Data, Executor};
use axum::Extension as AxumExtension;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::response::{Html, IntoResponse};
use chat_types::{ErrorCode, MAX_BODY_BYTES};
use http::{HeaderMap, StatusCode, header};

use super::session::{Session, foreign_origin, peer_ip};
use super::{GraphqlApp, ws};
use crate::auth::{bearer_token, session_cookie};
use crate::error::{ApiError, error_response};
use crate::serve::ConnectionPlace;
use crate::state::ServiceState;

pub(super) async fn get_graphql<E: Executor>(
    State(app): State<GraphqlApp<E>>,
    connect_info: Option<AxumExtension<ConnectInfo<SocketAddr>>>,
    request: Request,
) -> axum::response::Response {
    let (mut parts, _body) = request.into_parts();
    if !parts.headers.contains_key(header::UPGRADE) {
        if !app.state.exposure.graphiql {
            return error_response(StatusCode::NOT_FOUND, ErrorCode::NotFound, "not found");
        }
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql")
                .finish(),
        )
        .into_response();
    }
    if let Some(origin) = foreign_origin(&parts.headers, &app.state) {
        tracing::info!(%origin, "WebSocket from a foreign origin refused");
        return error_response(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "origin not allowed",
        );
    }
    let Some(protocol) = websocket_protocol(&parts.headers) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // A browser on an allowed origin may rely on its session cookie.
    let cookie = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|_| session_cookie(&parts.headers));
    let mut data = Data::default();
    data.insert(peer_ip(connect_info));
    // Held until the socket closes: it counts toward the process's and its address's
    // connections as long as it is open.
    let place = parts.extensions.get::<ConnectionPlace>().cloned();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        // tungstenite zero-fills the free part of its read buffer before every read,
        // and clients send little: a small buffer saves both that work and memory.
        .read_buffer_size(WS_READ_BUFFER)
        .on_upgrade(move |socket| async move {
            let state = app.state;
            let metrics = state.metrics.clone();
            metrics.ws_connections.inc();
            let session = ws::OpenSession {
                auth: state.auth.clone(),
                accepted: Arc::default(),
            };
            let accepted = session.accepted.clone();
            let init = InitContext {
                state: state.clone(),
                cookie,
                connections: app.connections,
                counters: app.ws_counters.clone(),
                accepted: session.accepted.clone(),
                place: place.clone(),
            };
            let connection = ws::Connection {
                protocol,
                data,
                limits: state.limits.ws,
                counters: app.ws_counters,
                metrics: metrics.clone(),
                session,
            };
            ws::serve(
                socket,
                app.executor,
                move |payload| connection_init(init, payload),
                connection,
            )
            .await;
            metrics.ws_connections.dec();
            drop(place);
            if let Some(session) = accepted.get() {
                crate::presence::disconnected(&state, session.user).await;
            }
        })
}

/// The first subprotocol offered that we speak (as async-graphql-axum's
/// `GraphQLProtocol` picks it).
fn websocket_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
}

/// What `connection_init` needs besides its payload.
struct InitContext {
    state: ServiceState,
    /// The session cookie of the upgrade request, if it may count.
    cookie: Option<String>,
    connections: Arc<ws::ConnectionSlots>,
    counters: Arc<ws::WsCounters>,
    /// Where the accepted session goes, for the connection to check on revocations
    /// and to close at its expiry.
    accepted: Arc<std::sync::OnceLock<ws::Accepted>>,
    /// The connection's place in the limits: once signed in, it leaves its address's
    /// share (the user's own cap bounds it).
    place: Option<ConnectionPlace>,
}

/// Authenticates a WebSocket from its `connection_init` payload
/// (`{"authorization": "Bearer …"}`) or the session cookie of the upgrade request, and
/// takes one of the user's connection slots. A refusal closes the socket with the
/// error code at the start of the reason (`UNAUTHENTICATED: …`, `RATE_LIMITED: …`).
async fn connection_init(
    init: InitContext,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let from_payload = ["authorization", "Authorization"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()))
        .and_then(bearer_token)
        .map(str::to_string);
    let Some(token) = from_payload.or(init.cookie) else {
        return Err(async_graphql::Error::new("UNAUTHENTICATED: no session"));
    };
    let claims = init
        .state
        .auth
        .authenticate_claims(&token)
        .await
        .map_err(|e| {
            async_graphql::Error::new(format!(
                "{}: {}",
                ApiError::from(e).code(),
                "invalid or expired session"
            ))
        })?;
    let user = claims.user_id;
    let mut data = Data::default();
    data.insert(Session::User(user));
    // Registered for the sweep that ends revoked sessions; given back with the data.
    data.insert(init.state.sessions.hold(user, claims.version));
    if let Some(max) = init.state.limits.ws.max_connections_per_user {
        let Some(slot) = init.connections.acquire(user, max) else {
            init.counters.connections_refused.inc();
            init.state.metrics.count_error(ErrorCode::RateLimited);
            return Err(async_graphql::Error::new(format!(
                "{}: too many open connections for this user (at most {max})",
                ErrorCode::RateLimited
            )));
        };
        // Kept in the connection's data, which lives exactly as long as the
        // connection: the slot is given back when it closes.
        data.insert(slot);
    }
    if init
        .accepted
        .set(ws::Accepted {
            user,
            token,
            expires_at: expiry_instant(claims.expires_at),
        })
        .is_ok()
    {
        if let Some(place) = &init.place {
            place.leave_address_share();
        }
        crate::presence::connected(&init.state, user).await;
    }
    Ok(data)
}

/// The moment a token expiring at `unix_secs` (seconds since the epoch) expires.
fn expiry_instant(unix_secs: i64) -> tokio::time::Instant {
    let left = unix_secs
        .saturating_sub(chrono::Utc::now().timestamp())
        .max(0);
    tokio::time::Instant::now() + std::time::Duration::from_secs(left as u64)
}

/// Read buffer per WebSocket (tungstenite's default is 128 KiB).
const WS_READ_BUFFER: usize = 4 * 1024;
