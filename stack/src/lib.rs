//! The launcher: the six service instances (and, later, the web tier), either all in
//! this process or each as its own OS process.

mod processes;

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use server_core::ServiceState;
use server_core::config::CommonConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The three services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceKind {
    User,
    Sender,
    Receiver,
}

impl ServiceKind {
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::User => "user",
            ServiceKind::Sender => "sender",
            ServiceKind::Receiver => "receiver",
        }
    }

    pub fn router_builder(self) -> fn(ServiceState) -> Router {
        match self {
            ServiceKind::User => server_user::build_router,
            ServiceKind::Sender => server_sender::build_router,
            ServiceKind::Receiver => server_receiver::build_router,
        }
    }
}

/// Every instance `chat up` runs, with its default port.
pub const INSTANCES: [(ServiceKind, u16); 6] = [
    (ServiceKind::User, 4001),
    (ServiceKind::Sender, 4002),
    (ServiceKind::User, 4003),
    (ServiceKind::Sender, 4004),
    (ServiceKind::Receiver, 4005),
    (ServiceKind::Receiver, 4006),
];

/// How the instances run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// All in this process, sharing one database pool and one bus connection.
    InProcess,
    /// Each its own OS process, restarted if it crashes.
    Processes,
}

/// Runs every instance until Ctrl-C or SIGTERM.
pub async fn up(topology: Topology, common: CommonConfig) -> anyhow::Result<()> {
    match topology {
        Topology::InProcess => in_process(common).await,
        Topology::Processes => processes::run(common).await,
    }
}

async fn in_process(common: CommonConfig) -> anyhow::Result<()> {
    let listeners = bind_all(&common).await?;
    let state = ServiceState::connect(&common)
        .await
        .context("starting the services")?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = Vec::new();
    for ((kind, _), listener) in INSTANCES.iter().zip(listeners) {
        let router = kind.router_builder()(state.instance());
        let mut stop = stop_rx.clone();
        servers.push(tokio::spawn(server_core::http::serve(
            listener,
            router,
            async move {
                let _ = stop.wait_for(|stop| *stop).await;
            },
        )));
    }
    print_table(&common, "in this process");
    server_core::http::shutdown_signal().await;
    eprintln!("\nstopping…");
    let _ = stop_tx.send(true);
    for server in servers {
        let _ = server.await;
    }
    state.store.close().await;
    eprintln!("stopped");
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
pub(crate) fn print_table(common: &CommonConfig, how: &str) {
    let host = match common.host.to_string().as_str() {
        "0.0.0.0" | "::" => "127.0.0.1".to_string(),
        other => other.to_string(),
    };
    let database = redact_password(&common.database_url);
    let bus = match &common.redis_url {
        Some(url) => format!("Redis {}", redact_password(url)),
        None => "in-process".to_string(),
    };
    let mut table = String::new();
    table.push_str("\n  service    url\n  ---------  -------------------------\n");
    for (kind, port) in INSTANCES {
        table.push_str(&format!(
            "  {:<9}  http://{host}:{port}/graphql\n",
            kind.name()
        ));
    }
    table.push_str(&format!("\n  database   {database}\n  bus        {bus}\n  instances  {how}\n\n  Ctrl-C stops everything.\n"));
    println!("{table}");
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
