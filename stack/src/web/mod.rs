//! The web tier: the Leptos app rendered on the server, its wasm and CSS, on :3000,
//! the app's forms when no script handles them ([`forms`]), and attached files from
//! the chosen receiver ([`files`]).

mod files;
mod forms;

use std::net::SocketAddr;
use std::sync::Arc;

use app::ServiceHost;
use app::config::Instances;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use server_core::http::REQUEST_ID;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Where the web tier finds its built assets and whom it renders for.
#[derive(Clone, Debug)]
pub struct WebConfig {
    pub addr: SocketAddr,
    /// The folder cargo-leptos built (`pkg/` inside).
    pub site_root: String,
    /// Where the services listen, as seen from here.
    pub service_host: String,
    /// Origins whose pages may post the app's forms.
    pub allowed_origins: Arc<[String]>,
    pub cookie_secure: bool,
}

pub fn router(config: &WebConfig) -> Router {
    let options = LeptosOptions::builder()
        .output_name("chat")
        .site_root(config.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .build();
    let routes = generate_route_list(app::App);
    let instances = Instances::default();
    let host = ServiceHost(config.service_host.clone());
    let context = {
        let instances = instances.clone();
        move || {
            provide_context(instances.clone());
            provide_context(host.clone());
        }
    };
    let shell = {
        let options = options.clone();
        move || app::shell(options.clone())
    };
    let forms = forms::Forms::new(
        config.service_host.clone(),
        instances.clone(),
        config.allowed_origins.clone(),
        config.cookie_secure,
    );
    Router::new()
        .leptos_routes_with_context(&options, routes, context.clone(), shell)
        .fallback(leptos_axum::file_and_error_handler_with_context::<LeptosOptions, _>(context, app::shell))
        .with_state(options)
        .merge(forms.routes())
        .merge(
            files::Files::new(
                config.service_host.clone(),
                instances.clone(),
                config.allowed_origins.clone(),
            )
            .routes(),
        )
        .layer(middleware::from_fn(security_headers))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("web", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Whether a request that carries this browser's session may use it: it comes from one
/// of the allowed origins, or says no origin at all (browsers send `Origin` with every
/// cross-site POST and fetch; a same-site request in an older browser, an `<img>`, or a
/// client that is not a browser and carries no one's cookie but its own, send none).
fn from_allowed_origin(allowed: &[String], headers: &http::HeaderMap) -> bool {
    match headers
        .get(http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    {
        Some(origin) => allowed.iter().any(|o| o == origin),
        None => true,
    }
}

/// No framing by other sites, no content-type guessing, no referrer beyond the origin.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("x-frame-options", http::HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "referrer-policy",
        http::HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    response
}

/// Checks that the bundle was built, so a missing build is reported plainly.
pub fn check_site(site_root: &str) -> anyhow::Result<()> {
    let js = std::path::Path::new(site_root).join("pkg").join("chat.js");
    if !js.exists() {
        anyhow::bail!(
            "the web bundle is missing ({}): start with ./run, which builds it",
            js.display()
        );
    }
    Ok(())
}
