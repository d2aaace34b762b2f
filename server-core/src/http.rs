//! HTTP plumbing every service shares: CORS, the body limit, health and metrics
//! endpoints, request ids, tracing, panics turned into plain 500s, and serving with
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chat_types::{ErrorCode, MAX_BODY_BYTES};
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::error_response;
use crate::state::ServiceState;

/// The header that carries a request's id from the web tier through the services.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How long an upload may take to arrive (a 25 MB file over a slow link).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// Wraps a service's routes with everything services share.
pub fn service_router(name: &'static str, routes: Router, state: &ServiceState) -> Router {
    service_router_with_uploads(name, routes, Router::new(), state)
}

/// As [`service_router`], with `uploads`: routes whose bodies are files, which set
/// their own size limit and get longer to arrive than the rest.
pub fn service_router_with_uploads(
    name: &'static str,
    routes: Router,
    uploads: Router,
    state: &ServiceState,
) -> Router {
    let origins: Vec<HeaderValue> = state
        .web
        .allowed_origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, REQUEST_ID])
        .expose_headers([REQUEST_ID])
        .max_age(Duration::from_secs(600));
    let mut ops = Router::new()
        .route("/healthz", get(move || healthz(name)))
        .route("/readyz", get(readyz));
    if state.exposure.public_metrics {
        ops = ops.route("/metrics", get(metrics));
    }
    let ops = ops.with_state(state.clone());
    let uploads = uploads
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_responses,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            UPLOAD_TIMEOUT,
        ));
    routes
        .merge(ops)
        .layer(middleware::from_fn_with_state(state.clone(), count_responses))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.limits.request_timeout,
        ))
        .merge(uploads)
        .layer(middleware::map_response(coded_refusals))
        .layer(CatchPanicLayer::custom(|_| {
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::InternalServerError,
                "internal server error",
            )
        }))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The body limit and the request timeout answer without a body; clients get the same
/// coded JSON as for every other refusal.
async fn coded_refusals(response: axum::response::Response) -> axum::response::Response {
    // A route that refused with its own coded answer keeps it.
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        return response;
    }
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BadUserInput,
            &format!(
                "request body too large (at most {} KiB)",
                MAX_BODY_BYTES / 1024
            ),
        ),
        StatusCode::REQUEST_TIMEOUT => error_response(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::BadUserInput,
            "the request took too long to arrive",
        ),
        _ => response,
    }
}

async fn healthz(service: &'static str) -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok", "service": service }))
}

async fn readyz(State(state): State<ServiceState>) -> Response {
    let (database, bus) = state
        .readiness
        .check(&state.store, &state.bus, &state.metrics)
        .await;
    let status = if database && bus {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = serde_json::json!({ "database": database, "bus": bus });
    // Replicas are reported, never fatal: one lagging or down is skipped.
    if let Some(replicas) = state.store.replicas() {
        body["replicas"] = replicas
            .lags()
            .into_iter()
            .map(|(name, lag)| {
                serde_json::json!({
                    "name": name,
                    "lagMs": lag.map(|l| l.as_millis() as u64),
                    "used": lag.is_some_and(|l| l <= chat_store::replicas::SKIP_AFTER),
                })
            })
            .collect();
    }
    (status, axum::Json(body)).into_response()
}

/// `/metrics/<port>` for each of the process's instances, for `--metrics-addr`.
pub fn metrics_router(instances: Vec<(u16, ServiceState)>) -> Router {
    let instances = Arc::new(instances);
    Router::new().route(
        "/metrics/{port}",
        get(move |axum::extract::Path(port): axum::extract::Path<u16>| {
            let instances = instances.clone();
            async move {
                match instances.iter().find(|(p, _)| *p == port) {
                    Some((_, state)) => metrics(State(state.clone())).await,
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }
        }),
    )
}

async fn metrics(State(state): State<ServiceState>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

async fn count_responses(
    State(state): State<ServiceState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    state.metrics.count_response(response.status().as_u16());
    response
}

/// Binds `addr`, with an error that names the port when it is taken.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            std::io::Error::new(e.kind(), format!("port {} is already in use", addr.port()))
        } else {
            std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// Runs one service alone: logging, state from the configuration, serving on `port`
/// until Ctrl-C or SIGTERM. What each service binary's `main` does.
pub async fn run_service(
    name: &'static str,
    port: u16,
    config: &crate::config::CommonConfig,
    build_router: fn(ServiceState) -> Router,
) -> Result<(), Box<dyn std::error::Error + 'static>> {
    crate::logging::init_tracing(config.log_format);
    let service = name.parse::<chat_types::instances::Service>().ok();
    let state = ServiceState::connect(config, service).await?;
    let listener = bind(SocketAddr::new(config.host, port)).await?;
    tracing::info!(service = name, port, backend = ?state.store.backend(), "listening");
    let limits = config.serve_limits();
    crate::serve::serve_with(
        listener,
        build_router(state.clone()),
        limits,
        shutdown_signal(),
    )
    .await?;
    state.store.close().await;
    tracing::info!(service = name, "stopped");
    Ok(())
}
