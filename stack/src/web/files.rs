//! `/files/{id}` and `/files/{id}/thumbnail` on the web tier: passed on to the
//! receiver instance this browser chose, with its session, so pages show files from
//! their own origin (the same markup on the server and in the browser, and a strict
//! content security policy). The receiver decides who may have them; its answer comes
//! back as it is, headers and all. A request from another site's page goes on without
//! the session, as the receiver itself would take it.

use std::sync::Arc;
use std::time::Duration;

use app::config::{Choice, Instances, Service};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode, header};
use server_core::auth::session_cookie;
use server_core::http::REQUEST_ID;

#[derive(Clone)]
pub(super) struct Files {
    service_host: String,
    instances: Instances,
    allowed_origins: Arc<[String]>,
    http: reqwest::Client,
}

/// The receiver's headers a file keeps on its way through.
const PASSED_ON: [header::HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_DISPOSITION,
    header::CONTENT_SECURITY_POLICY,
    header::CACHE_CONTROL,
    header::X_CONTENT_TYPE_OPTIONS,
];

impl Files {
    pub(super) fn new(
        service_host: String,
        instances: Instances,
        allowed_origins: Arc<[String]>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");
        Self {
            service_host,
            instances,
            allowed_origins,
            http,
        }
    }

    pub(super) fn routes(self) -> Router {
        Router::new()
            .route("/files/{id}", get(file))
            .route("/files/{id}/thumbnail", get(thumbnail))
            .with_state(self)
    }

    async fn pass_on(&self, headers: &HeaderMap, path: String) -> Response {
        let cookies = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join("; ");
        let choice = Choice::from_cookie_header(&cookies, &self.instances).unwrap_or_default();
        let ports = self.instances.ports(Service::Receiver);
        let port = ports[choice.get(Service::Receiver).min(ports.len() - 1)];
        let mut request = self
            .http
            .get(format!("http://{}:{port}{path}", self.service_host));
        if let Some(token) = session_cookie(headers)
            && super::from_allowed_origin(&self.allowed_origins, headers)
        {
            request = request.bearer_auth(token);
        }
        if let Some(id) = headers.get(REQUEST_ID) {
            request = request.header(REQUEST_ID, id);
        }
        let Ok(answer) = request.send().await else {
            return (
                StatusCode::BAD_GATEWAY,
                "The receiver instance did not answer; pick another one above.",
            )
                .into_response();
        };
        let mut response = Response::builder().status(answer.status());
        for name in PASSED_ON {
            if let Some(value) = answer.headers().get(&name) {
                response = response.header(name, value);
            }
        }
        response
            .body(Body::from_stream(answer.bytes_stream()))
            .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
    }
}

async fn file(State(files): State<Files>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    files
        .pass_on(&headers, format!("/files/{}", encoded(&id)))
        .await
}

async fn thumbnail(
    State(files): State<Files>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    files
        .pass_on(&headers, format!("/files/{}/thumbnail", encoded(&id)))
        .await
}

/// An id as one path segment: whatever it holds, it names nothing else upstream.
fn encoded(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect()
}
