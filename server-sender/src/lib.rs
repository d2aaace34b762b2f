//! The sender service: every write of the chat system.
//!
//! Each write is one transaction; its events go to the bus after it commits (never
//! before, and never for a write that failed). Messages are written by a [`writer`]
//! that groups concurrent sends into one transaction.

mod events;
mod images;
mod schema;
mod typing;
mod upload;
mod writer;

use std::sync::Arc;

use axum::Router;
use clap::Parser;
use server_core::ServiceState;
use server_core::config::CommonConfig;

pub use schema::{Mutation, Query};

/// The sender service's configuration.
#[derive(Parser, Clone, Debug)]
#[command(name = "server-sender", about = "The chat sender service: all writes.")]
pub struct Config {
    /// The port to listen on.
    #[arg(long, env = "PORT", default_value_t = chat_types::instances::first_port(chat_types::instances::Service::Sender))]
    pub port: u16,

    #[command(flatten)]
    pub common: CommonConfig,
}

/// What the sender's resolvers share besides the service state.
pub(crate) struct Sender {
    writer: writer::MessageWriter,
    typing: typing::TypingThrottle,
}

/// The service's routes over `state`.
pub fn build_router(state: ServiceState) -> Router {
    let writer = writer::MessageWriter::start(state.clone());
    state
        .metrics
        .register(|registry| writer.register_metrics(registry));
    let sender = Arc::new(Sender {
        writer,
        typing: typing::TypingThrottle::default(),
    });
    let schema =
        async_graphql::Schema::build(Query, Mutation::default(), async_graphql::EmptySubscription);
    let schema = server_core::graphql::configure(schema, &state)
        .data(sender)
        .finish();
    // The router owns the tasks it starts: dropping it (its last clone) stops the
    // message writer (its queue closes) and the upload sweep (its guard drops).
    let uploads = Router::new()
        .route("/files", axum::routing::post(upload::upload))
        .with_state(upload::Uploads::start(state.clone()));
    server_core::http::service_router_with_uploads(
        "sender",
        server_core::graphql::graphql_routes(schema, state.clone()),
        uploads,
        &state,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The tasks alive on the test's runtime (its own: one per test).
    fn tasks() -> usize {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    }

    #[tokio::test]
    async fn dropping_the_router_stops_the_tasks_it_started() {
        let Some(env) = testkit::TestEnv::new(testkit::Backend::Embedded).await else {
            return;
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = tasks();
        let router = build_router(env.state.clone());
        assert!(
            tasks() >= before + 2,
            "the message writer and the upload sweep run"
        );

        drop(router);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tasks() > before {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} tasks the router started still run",
                tasks() - before
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
