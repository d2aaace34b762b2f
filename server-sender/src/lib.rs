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
    #[arg(long, env = "PORT", default_value_t = 4002)]
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
    let schema = async_graphql::Schema::build(Query, Mutation, async_graphql::EmptySubscription);
    let schema = server_core::graphql::configure(schema, &state)
        .data(sender)
        .finish();
    tokio::spawn(upload::sweep(state.clone()));
    let uploads = Router::new()
        .route("/files", axum::routing::post(upload::upload))
        .with_state(upload::Uploads::new(state.clone()));
    server_core::http::service_router_with_uploads(
        "sender",
        server_core::graphql::graphql_routes(schema, state.clone()),
        uploads,
        &state,
    )
}
