//! The receiver service: every read, and the live subscriptions.
//!
//! Subscriptions are fed by the [`hub`]: one bus subscription per receiver, a topic
//! held only while someone here needs it, each event decoded once and handed to every
//! local subscriber of its topic, chat messages delivered gap-free and in seq order.

mod download;
pub mod hub;
pub mod kinds;
mod presence;
mod receipts;
mod schema;
mod timeline;
mod typing;

use std::sync::Arc;

use axum::Router;
use clap::Parser;
use server_core::ServiceState;
use server_core::config::CommonConfig;

pub use schema::{Query, Subscription};

/// The receiver service's configuration.
#[derive(Parser, Clone, Debug)]
#[command(
    name = "server-receiver",
    about = "The chat receiver service: reads and subscriptions."
)]
pub struct Config {
    /// The port to listen on.
    #[arg(long, env = "PORT", default_value_t = chat_types::instances::first_port(chat_types::instances::Service::Receiver))]
    pub port: u16,

    #[command(flatten)]
    pub common: CommonConfig,
}

/// The service's routes over `state`.
pub fn build_router(state: ServiceState) -> Router {
    let hub = Arc::new(hub::Hub::start(state.store.clone(), &state.bus));
    state
        .metrics
        .register(|registry| hub.register_metrics(registry));
    let schema = async_graphql::Schema::build(Query, async_graphql::EmptyMutation, Subscription);
    let schema = server_core::graphql::configure(schema, &state)
        .data(hub)
        .finish();
    let files = Router::new()
        .route("/files/{id}", axum::routing::get(download::file))
        .route(
            "/files/{id}/thumbnail",
            axum::routing::get(download::thumbnail),
        )
        .with_state(state.clone());
    server_core::http::service_router(
        "receiver",
        server_core::graphql::graphql_routes(schema, state.clone()).merge(files),
        &state,
    )
}
