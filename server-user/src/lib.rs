//! The user service: registration, login and sessions, profiles.
//!
//! Every operation but `register` and `login` needs a session. Login answers the same
//! for an unknown user, a wrong password and a deactivated account, so it tells an
//! attacker nothing about which accounts exist.

mod schema;

use axum::Router;
use clap::Parser;
use server_core::ServiceState;
use server_core::config::CommonConfig;

pub use schema::{Mutation, Query};

/// The user service's configuration.
#[derive(Parser, Clone, Debug)]
#[command(
    name = "server-user",
    about = "The chat user service: accounts and sessions."
)]
pub struct Config {
    /// The port to listen on.
    #[arg(long, env = "PORT", default_value_t = chat_types::instances::first_port(chat_types::instances::Service::User))]
    pub port: u16,

    #[command(flatten)]
    pub common: CommonConfig,
}

/// The service's routes over `state`.
pub fn build_router(state: ServiceState) -> Router {
    let schema = async_graphql::Schema::build(Query, Mutation, async_graphql::EmptySubscription);
    let schema = server_core::graphql::configure(schema, &state).finish();
    server_core::http::service_router(
        "user",
        server_core::graphql::graphql_routes(schema, state.clone()),
        &state,
    )
}
