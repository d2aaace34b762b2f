#![recursion_limit = "256"]
//! The launcher: the web tier and the six service instances, either all in this
//! process or each instance as its own OS process.

mod processes;
pub mod web;

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use chat_types::instances::{INSTANCES, Service};
use server_core::ServiceState;
use server_core::config::CommonConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The router of each service.
pub fn router_builder(service: Service) -> fn(ServiceState) -> Router {
    match service {
        Service::User => server_user::build_router,
        Service::Sender => server_sender::build_router,
        Service::Receiver => server_receiver::build_router,
    }
}

/// The web tier's options.
#[derive(clap::Args, Clone, Debug)]
pub struct WebArgs {
    /// The web app's port.
    #[arg(long, env = "CHAT_WEB_PORT", default_value_t = 3000)]
    pub web_port: u16,

    /// The folder with the built web bundle (`cargo leptos build` writes it).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// Run the services only, without the web app.
    #[arg(long)]
    pub no_web: bool,
}

/// How the instances run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// All in this process, sharing one database pool and one bus connection.
    InProcess,
    /// Each its own OS process, restarted if it crashes.
    Processes,
}

/// Runs the web tier and every instance until Ctrl-C or SIGTERM.
pub async fn up(topology: Topology, web: WebArgs, common: CommonConfig) -> anyhow::Result<()> {
    let web = if web.no_web {
        None
    } else {
        web::check_site(&web.site_root)?;
        let config = web::WebConfig {
            addr: SocketAddr::new(common.host, web.web_port),
            site_root: web.site_root,
            service_host: service_host(&common),
            allowed_origins: common.allowed_origins.clone().into(),
            cookie_secure: common.cookie_secure,
        };
        let listener = server_core::http::bind(config.addr).await?;
        Some((config, listener))
    };
    let web_port = web.as_ref().map(|(config, _)| config.addr.port());
    let (stop_web, web_stop) = watch::channel(false);
    let web_server = web.map(|(config, listener)| {
        tokio::spawn(server_core::serve::serve_with(
            listener,
            web::router(&config),
            common.serve_limits(),
            stopped(web_stop),
        ))
    });
    let result = match topology {
        Topology::InProcess => in_process(&common, web_port).await,
        Topology::Processes => processes::run(&common, web_port).await,
    };
    let _ = stop_web.send(true);
    if let Some(server) = web_server {
        let _ = server.await;
    }
    if result.is_ok() {
        eprintln!("stopped");
    }
    result
}

/// Resolves once `stop` turns true.
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Where the web tier (and the table) reach the services: their own address, or
/// loopback when they listen on every interface.
fn service_host(common: &CommonConfig) -> String {
    if common.host.is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        common.host.to_string()
    }
}

async fn in_process(common: &CommonConfig, web_port: Option<u16>) -> anyhow::Result<()> {
    let listeners = bind_all(common).await?;
    let state = ServiceState::connect(common, None)
        .await
        .context("starting the services")?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = Vec::new();
    let mut instances = Vec::new();
    for ((kind, port), listener) in INSTANCES.iter().zip(listeners) {
        let instance = state.instance();
        instances.push((*port, instance.clone()));
        let router = router_builder(*kind)(instance);
        servers.push(tokio::spawn(server_core::serve::serve_with(
            listener,
            router,
            common.serve_limits(),
            stopped(stop_rx.clone()),
        )));
    }
    if let Some(addr) = common.metrics_addr {
        let listener = server_core::http::bind(addr).await?;
        servers.push(tokio::spawn(server_core::serve::serve_with(
            listener,
            server_core::http::metrics_router(instances),
            common.serve_limits(),
            stopped(stop_rx.clone()),
        )));
    }
    print_table(common, "in this process", web_port);
    server_core::http::shutdown_signal().await;
    eprintln!("\nstopping…");
    let _ = stop_tx.send(true);
    for server in servers {
        let _ = server.await;
    }
    state.store.close().await;
    Ok(())
}

/// Binds every instance's port first, so a taken port fails before anything starts.
pub(crate) async fn bind_all(common: &CommonConfig) -> anyhow::Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(INSTANCES.len());
    for (_, port) in INSTANCES {
        listeners.push(server_core::http::bind(SocketAddr::new(common.host, port)).await?);
    }
    Ok(listeners)
}

/// What runs where.
pub(crate) fn print_table(common: &CommonConfig, how: &str, web_port: Option<u16>) {
    let host = service_host(common);
    let database = redact_password(&common.database_url);
    let bus = match &common.redis_url {
        Some(url) => format!("Redis {}", redact_password(url)),
        None if !common.redis_cluster.is_empty() => format!(
            "Redis Cluster {} ({} partitions)",
            common
                .redis_cluster
                .iter()
                .map(|url| redact_password(url))
                .collect::<Vec<_>>()
                .join(","),
            common.bus_partitions
        ),
        None => "in-process".to_string(),
    };
    let files = match &common.file_store {
        Some(url) => url.clone(),
        None if database.starts_with("sqlite") => "a folder beside the database".to_string(),
        None => "in the database".to_string(),
    };
    let mut table =
        String::from("\n  service    url\n  ---------  -------------------------------\n");
    if let Some(port) = web_port {
        table.push_str(&format!("  web        http://localhost:{port}/\n"));
    }
    for (kind, port) in INSTANCES {
        table.push_str(&format!(
            "  {:<9}  http://{host}:{port}/graphql\n",
            kind.name()
        ));
    }
    table.push_str(&format!(
        "\n  database   {database}\n  files      {files}\n  bus        {bus}\n  instances  {how}\n"
    ));
    if let Some(addr) = common.metrics_addr {
        table.push_str(&format!(
            "  metrics    {}\n",
            metrics_urls(addr, how == "one OS process each").join(" ")
        ));
    }
    table.push_str("\n  Ctrl-C stops everything.\n");
    println!("{table}");
}

/// Where each instance's `/metrics` is with `--metrics-addr`: one listener for the
/// process, or one per instance process at consecutive ports.
fn metrics_urls(addr: SocketAddr, per_process: bool) -> Vec<String> {
    INSTANCES
        .iter()
        .enumerate()
        .map(|(k, (_, port))| {
            let at = metrics_addr_of(addr, k, per_process);
            format!("http://{at}/metrics/{port}")
        })
        .collect()
}

/// The metrics address of the `k`th instance.
pub(crate) fn metrics_addr_of(addr: SocketAddr, k: usize, per_process: bool) -> SocketAddr {
    if per_process {
        SocketAddr::new(addr.ip(), addr.port() + k as u16)
    } else {
        addr
    }
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_in_urls_are_not_printed() {
        assert_eq!(
            redact_password("postgres://me:hunter2@db/chat"),
            "postgres://me:***@db/chat"
        );
        assert_eq!(
            redact_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            redact_password("sqlite://.chat-data/chat.db"),
            "sqlite://.chat-data/chat.db"
        );
    }
}
