//! `chat up --processes`: each instance its own OS process, restarted if it crashes.

use std::time::Duration;

use anyhow::{Context, bail};
use server_core::ServiceState;
use server_core::config::CommonConfig;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use chat_types::instances::{INSTANCES, Service};

use crate::{bind_all, print_table};

/// How long a crashed instance waits before it is started again (doubling to a minute).
const FIRST_RESTART_DELAY: Duration = Duration::from_millis(500);
/// How long instances get to stop after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub(crate) async fn run(common: &CommonConfig, web_port: Option<u16>) -> anyhow::Result<()> {
    if !(common.database_url.starts_with("postgres://")
        || common.database_url.starts_with("postgresql://"))
    {
        bail!(
            "--processes needs PostgreSQL: pass --database-url postgres://… (or set DATABASE_URL)"
        );
    }
    if !common.has_shared_bus() {
        bail!(
            "--processes needs Redis: pass --redis-url redis://… or --redis-cluster \
             redis://node1,redis://node2,… (or set REDIS_URL or CHAT_REDIS_CLUSTER)"
        );
    }
    // Connecting here checks that both answer and migrates the database once, before
    // any instance starts.
    let state = ServiceState::connect(common, None)
        .await
        .context("PostgreSQL and Redis must be reachable for --processes")?;
    state.store.close().await;
    drop(bind_all(common).await?);
    let secret = common.secret()?;
    let exe = std::env::current_exe().context("finding the chat binary")?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut supervisors = Vec::new();
    for (k, (kind, port)) in INSTANCES.into_iter().enumerate() {
        let mut command = Command::new(&exe);
        command
            .arg("serve")
            .arg(kind.name())
            .arg("--port")
            .arg(port.to_string())
            .envs(common.as_env(&secret))
            .kill_on_drop(true)
            // Its own process group: Ctrl-C in the terminal reaches only this
            // supervisor, which then stops the instances in order.
            .process_group(0);
        if let Some(addr) = common.metrics_addr {
            let at = crate::metrics_addr_of(addr, k, true);
            command.env("CHAT_METRICS_ADDR", at.to_string());
        }
        supervisors.push(tokio::spawn(supervise(
            kind,
            port,
            command,
            stop_rx.clone(),
        )));
    }
    print_table(common, "one OS process each", web_port);
    server_core::http::shutdown_signal().await;
    eprintln!("\nstopping…");
    let _ = stop_tx.send(true);
    for supervisor in supervisors {
        let _ = supervisor.await;
    }
    Ok(())
}

/// Keeps one instance running until told to stop.
async fn supervise(
    kind: Service,
    port: u16,
    mut command: Command,
    mut stop: watch::Receiver<bool>,
) {
    let mut delay = FIRST_RESTART_DELAY;
    loop {
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::error!(service = kind.name(), port, error = %e, "cannot start instance");
                return;
            }
        };
        let started = std::time::Instant::now();
        let status = tokio::select! {
            status = child.wait() => Some(status),
            _ = stop.wait_for(|stop| *stop) => None,
        };
        let Some(status) = status else {
            terminate(&mut child).await;
            return;
        };
        if *stop.borrow() {
            return;
        }
        tracing::warn!(
            service = kind.name(),
            port,
            ?status,
            "instance exited; restarting in {delay:?}"
        );
        if started.elapsed() > Duration::from_secs(60) {
            delay = FIRST_RESTART_DELAY;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

/// SIGTERM, then SIGKILL if it does not stop in time.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}
