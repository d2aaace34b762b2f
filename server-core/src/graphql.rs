//! GraphQL plumbing shared by the services: the error type resolvers return, the
//! extension that gives every error a code, the caller's session and address, and the
//! `/graphql` routes (POST, GraphiQL, WebSocket) with their limits: aliases per
//! document (`aliases`) and the WebSocket's timeouts and caps (`ws`).

mod aliases;
mod nesting;
mod ws;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocketProtocols};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Context, Data, Executor, ObjectType, Response, SchemaBuilder, ServerError, SubscriptionType,
};
use async_graphql_axum::GraphQLResponse;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::response::{Html, IntoResponse};
use axum::{Extension as AxumExtension, Router};
use chat_types::{ErrorCode, FieldError, MAX_BODY_BYTES, UserId};
use futures::StreamExt;
use futures::stream::BoxStream;
use http::{HeaderMap, StatusCode, header};

use crate::auth::{AuthError, Credential, bearer_token, session_cookie};
use crate::metrics::{Metrics, OperationKind};
use crate::state::ServiceState;
use chat_store::StoreError;

pub use aliases::{MAX_ALIASES, MAX_MUTATION_FIELDS};
pub use ws::WsLimits;

/// What a resolver can fail with. Its message is what the client sees, so the
/// internal variants say nothing about the cause (which is logged instead).
#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadInput(FieldError),
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Too many of something held open at once (connections, subscriptions): ending
    /// one makes room. Reported as `RATE_LIMITED`, without a time to wait.
    #[error("{0}")]
    LimitReached(String),
    #[error("temporarily unavailable; retry shortly")]
    Unavailable,
    #[error("internal server error")]
    Internal,
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthenticated => ErrorCode::Unauthenticated,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::BadInput(_) => ErrorCode::BadUserInput,
            ApiError::Conflict { .. } => ErrorCode::Conflict,
            ApiError::RateLimited { .. } | ApiError::LimitReached(_) => ErrorCode::RateLimited,
            ApiError::Unavailable => ErrorCode::Unavailable,
            ApiError::Internal => ErrorCode::InternalServerError,
        }
    }

    /// Bad input in `field`.
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadInput(FieldError::new(field, message))
    }

    fn annotate(&self, error: &mut ServerError) {
        let code = self.code();
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", code.as_str());
        match self {
            ApiError::BadInput(e) => extensions.set("field", e.field.as_str()),
            ApiError::Conflict { field } => extensions.set("field", *field),
            ApiError::RateLimited { retry_after_secs } => {
                extensions.set("retryAfter", *retry_after_secs)
            }
            _ => {}
        }
        if code.is_retriable() {
            extensions.set("retriable", true);
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::BadInput(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("record"),
            StoreError::Conflict(field) => ApiError::Conflict { field },
            StoreError::InvalidText => {
                ApiError::bad_input("input", "text must not contain NUL characters")
            }
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %chat_types::describe(&cause), "database unavailable");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %chat_types::describe(&other), "store failure");
                ApiError::Internal
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(e) => e.into(),
            AuthError::Missing | AuthError::Invalid => ApiError::Unauthenticated,
        }
    }
}

/// Who is calling: put in every request's data by the routes below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session {
    Anonymous,
    User(UserId),
}

/// The caller's user id, or `UNAUTHENTICATED`.
pub fn viewer(ctx: &Context<'_>) -> Result<UserId, ApiError> {
    match ctx.data_opt::<Session>() {
        Some(Session::User(id)) => Ok(*id),
        _ => Err(ApiError::Unauthenticated),
    }
}

/// The address a request came from: the TCP peer. Forwarding headers such as
/// `X-Forwarded-For` are not trusted, since any client can write them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The caller's address; the unspecified address when the server was not started
/// with connection info (see [`crate::http::serve`]), so such callers share limits.
pub fn client_ip(ctx: &Context<'_>) -> IpAddr {
    ctx.data_opt::<ClientIp>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ip| ip.0)
}

fn peer_ip(connect_info: Option<AxumExtension<ConnectInfo<SocketAddr>>>) -> ClientIp {
    ClientIp(connect_info.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.0.ip()))
}

/// The service state, from the schema data.
pub fn state<'a>(ctx: &Context<'a>) -> &'a ServiceState {
    ctx.data_unchecked::<ServiceState>()
}

/// Gives every error a code: an [`ApiError`] brings its own; anything else comes from
/// the GraphQL layer itself (syntax, validation, argument types, limits), which means
/// the request was at fault.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

fn classify(response: &mut Response, metrics: Option<&Metrics>) {
    for error in &mut response.errors {
        let source = error.source.clone();
        let code = match source.as_deref().and_then(|s| s.downcast_ref::<ApiError>()) {
            Some(api) => {
                api.annotate(error);
                api.code()
            }
            None => {
                let extensions = error.extensions.get_or_insert_with(Default::default);
                if extensions.get("code").is_none() {
                    extensions.set("code", ErrorCode::BadUserInput.as_str());
                }
                ErrorCode::BadUserInput
            }
        };
        if let Some(metrics) = metrics {
            metrics.count_error(code);
        }
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        let metrics = ctx.data_opt::<ServiceState>().map(|s| &*s.metrics);
        classify(&mut response, metrics);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let metrics = ctx.data_opt::<ServiceState>().map(|s| s.metrics.clone());
        next.run(ctx, stream)
            .map(move |mut response| {
                classify(&mut response, metrics.as_deref());
                response
            })
            .boxed()
    }
}

/// The `/graphql` routes of a service: POST for queries and mutations, GET for
/// GraphiQL or a WebSocket (graphql-transport-ws or the legacy graphql-ws).
pub fn graphql_routes<E: Executor>(executor: E, state: ServiceState) -> Router {
    let ws_counters = Arc::new(ws::WsCounters::default());
    state.metrics.add_source(ws_counters.clone());
    let app = GraphqlApp {
        executor,
        state,
        documents: Arc::default(),
        connections: Arc::default(),
        ws_counters,
    };
    Router::new()
        .route(
            "/graphql",
            axum::routing::post(post_graphql::<E>).get(get_graphql::<E>),
        )
        .with_state(app)
}

#[derive(Clone)]
struct GraphqlApp<E> {
    executor: E,
    state: ServiceState,
    documents: Arc<DocumentCache>,
    /// Open WebSockets per user on this instance.
    connections: Arc<ws::ConnectionSlots>,
    ws_counters: Arc<ws::WsCounters>,
}

/// Parsed query documents by their text: clients send the same few documents over and
/// over, and parsing is a large part of a small request's cost.
#[derive(Default)]
struct DocumentCache(std::sync::Mutex<rustc_hash::FxHashMap<String, ExecutableDocument>>);

/// The most documents kept (a full cache starts over, so junk cannot grow it).
const DOCUMENT_CACHE_SIZE: usize = 256;
/// Longer documents are parsed each time rather than kept.
const DOCUMENT_CACHE_MAX_LEN: usize = 8 * 1024;

impl DocumentCache {
    /// The document parsed, from the cache or now; `None` leaves the parse (and its
    /// error) to the schema.
    fn parsed(&self, query: &str) -> Option<ExecutableDocument> {
        if query.len() > DOCUMENT_CACHE_MAX_LEN {
            return None;
        }
        if let Some(document) = self.0.lock().expect("document cache").get(query) {
            return Some(document.clone());
        }
        // Too deep to parse safely: the schema refuses it (see `nesting`).
        chat_types::validate::check_document_nesting(query).ok()?;
        let document = async_graphql::parser::parse_query(query).ok()?;
        let mut cache = self.0.lock().expect("document cache");
        if cache.len() >= DOCUMENT_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(query.to_string(), document.clone());
        Some(document)
    }
}

/// A GraphQL-shaped error response for requests that never reach the schema.
pub fn error_response(
    status: StatusCode,
    code: ErrorCode,
    message: &str,
) -> axum::response::Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code.as_str() } }]
    });
    (status, axum::Json(body)).into_response()
}

/// A request's `Origin`, when it has one and it is not allowed.
fn foreign_origin<'h>(headers: &'h HeaderMap, state: &ServiceState) -> Option<&'h str> {
    let origin = headers.get(header::ORIGIN)?.to_str().unwrap_or("?");
    (!state.web.origin_allowed(origin)).then_some(origin)
}

/// The session of a request: a Bearer token, or the cookie if the request comes from
/// an allowed origin (the browser attaches cookies to any request, so a cookie without
/// an allowed `Origin` proves nothing).
async fn session_from_headers(
    state: &ServiceState,
    headers: &HeaderMap,
) -> Result<Session, ApiError> {
    let credential = match Credential::from_headers(headers) {
        Some(Credential::Cookie(token)) => {
            let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
            match origin {
                Some(origin) if state.web.origin_allowed(origin) => Some(token),
                _ => None,
            }
        }
        Some(Credential::Bearer(token)) => Some(token),
        None => None,
    };
    match credential {
        None => Ok(Session::Anonymous),
        Some(token) => Ok(Session::User(state.auth.authenticate(&token).await?)),
    }
}

async fn post_graphql<E: Executor>(
    State(app): State<GraphqlApp<E>>,
    connect_info: Option<AxumExtension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    if let Some(origin) = foreign_origin(&headers, &app.state) {
        tracing::info!(%origin, "request from a foreign origin refused");
        return error_response(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "origin not allowed",
        );
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadUserInput,
            "send the request as application/json",
        );
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                &format!("invalid GraphQL request: {e}"),
            );
        }
    };
    let session = match session_from_headers(&app.state, &headers).await {
        Ok(session) => session,
        Err(e) => {
            let mut response = Response::from_errors(vec![ServerError::new(e.to_string(), None)]);
            e.annotate(&mut response.errors[0]);
            app.state.metrics.count_error(e.code());
            return GraphQLResponse::from(response).into_response();
        }
    };
    let kind = if request.query.trim_start().starts_with("mutation") {
        OperationKind::Mutation
    } else {
        OperationKind::Query
    };
    app.state.metrics.count_operation(kind);
    let mut request = request.data(session).data(peer_ip(connect_info));
    if let Some(document) = app.documents.parsed(&request.query) {
        request.set_parsed_query(document);
    }
    let response = app.executor.execute(request).await;
    GraphQLResponse::from(response).into_response()
}

async fn get_graphql<E: Executor>(
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
            metrics.ws_connections.fetch_add(1, Ordering::Relaxed);
            let session = ws::OpenSession {
                auth: state.auth.clone(),
                accepted: Arc::default(),
            };
            let init = InitContext {
                state: state.clone(),
                cookie,
                connections: app.connections,
                counters: app.ws_counters.clone(),
                accepted: session.accepted.clone(),
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
            metrics.ws_connections.fetch_sub(1, Ordering::Relaxed);
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
    /// Where the accepted session goes, for the connection to check on revocations.
    accepted: Arc<std::sync::OnceLock<(UserId, String)>>,
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
    let user = init.state.auth.authenticate(&token).await.map_err(|e| {
        async_graphql::Error::new(format!(
            "{}: {}",
            ApiError::from(e).code(),
            "invalid or expired session"
        ))
    })?;
    let mut data = Data::default();
    data.insert(Session::User(user));
    if let Some(max) = init.state.limits.ws.max_connections_per_user {
        let Some(slot) = init.connections.acquire(user, max) else {
            init.counters
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
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
    let _ = init.accepted.set((user, token));
    Ok(data)
}

/// Read buffer per WebSocket (tungstenite's default is 128 KiB).
const WS_READ_BUFFER: usize = 4 * 1024;

/// The most nested selection a request may make.
pub const MAX_DEPTH: usize = 10;
/// The most fields (weighted) a request may select.
pub const MAX_COMPLEXITY: usize = 1000;

/// Applies what every service's schema has: the limits, the error codes, the state.
pub fn configure<Q, M, S>(
    builder: SchemaBuilder<Q, M, S>,
    state: &ServiceState,
) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let builder = builder
        .data(state.clone())
        .extension(ErrorCodes)
        .extension(nesting::NestingLimit)
        .extension(aliases::AliasLimit)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if state.exposure.graphiql {
        builder
    } else {
        builder.disable_introspection()
    }
}
