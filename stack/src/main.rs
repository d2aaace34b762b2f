//! `chat`: runs the whole chat system, or one service instance.

use clap::{Parser, Subcommand};
use server_core::config::CommonConfig;

use chat_stack::{Topology, WebArgs};
use chat_types::instances::Service;

/// mimalloc: the services allocate small, short-lived objects per request and per
/// event; glibc's malloc spent about a tenth of the CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "chat", version, about = "Runs the multi-instance chat system.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Starts everything: two instances of each service (user 4001/4003, sender
    /// 4002/4004, receiver 4005/4006). With no configuration it runs in this process on
    /// SQLite and an in-process bus; give --database-url postgres://… and --redis-url
    /// redis://… for the real topology.
    Up {
        /// Run each instance as its own OS process (needs PostgreSQL and Redis);
        /// crashed instances are restarted.
        #[arg(long)]
        processes: bool,

        #[command(flatten)]
        web: WebArgs,

        #[command(flatten)]
        common: CommonConfig,
    },
    /// Runs one service instance (what `chat up --processes` starts for each).
    Serve {
        /// Which service: user, sender or receiver.
        #[arg(value_parser = |s: &str| s.parse::<Service>())]
        service: Service,

        /// The port to listen on.
        #[arg(long, env = "PORT")]
        port: u16,

        #[command(flatten)]
        common: CommonConfig,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up {
            processes,
            web,
            common,
        } => {
            server_core::logging::init_tracing(common.log_format);
            let topology = if processes {
                Topology::Processes
            } else {
                Topology::InProcess
            };
            chat_stack::up(topology, web, common).await
        }
        Command::Serve {
            service,
            port,
            common,
        } => server_core::http::run_service(
            service.name(),
            port,
            &common,
            chat_stack::router_builder(service),
        )
        .await
        .map_err(|e| anyhow::anyhow!(chat_types::describe(e.as_ref()))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
