//! GraphQL plumbing shared by the services, one concern a file:
//!
//! - [`session`]: who is calling and from where, from the request's credentials;
//! - `codes`: the extension that gives every error its code (and counts it);
//! - `documents`: parsed documents, cached by their text;
//! - `spans`: a span per operation: its name, its user, its chat;
//! - `post` and `upgrade`: the `/graphql` handlers (POST; GET for GraphiQL or a
//!   WebSocket, with its `connection_init`);
//! - `ws`: running one WebSocket connection; `document_limits`: what a document may
//!   ask for.

mod codes;
mod document_limits;
mod documents;
mod nesting;
mod post;
pub mod session;
mod spans;
mod upgrade;
mod ws;

use std::sync::Arc;

use async_graphql::{Executor, ObjectType, SchemaBuilder, SubscriptionType};
use axum::Router;

use crate::limits::{MAX_COMPLEXITY, MAX_DEPTH};
use crate::state::ServiceState;

pub use session::{ClientIp, Session, client_ip, session_for, state, viewer};

/// The `/graphql` routes of a service: POST for queries and mutations, GET for
/// GraphiQL or a WebSocket (graphql-transport-ws or the legacy graphql-ws).
pub fn graphql_routes<E: Executor>(executor: E, state: ServiceState) -> Router {
    let ws_counters = Arc::new(ws::WsCounters::register(&state.metrics));
    let app = GraphqlApp {
        executor,
        state,
        documents: Arc::default(),
        connections: Arc::default(),
        ws_counters,
    };
    Router::new()
        .route(
            "/graphql",
            axum::routing::post(post::post_graphql::<E>).get(upgrade::get_graphql::<E>),
        )
        .with_state(app)
}

/// What the `/graphql` handlers share.
#[derive(Clone)]
struct GraphqlApp<E> {
    executor: E,
    state: ServiceState,
    documents: Arc<documents::DocumentCache>,
    /// Open WebSockets per user on this instance.
    connections: Arc<ws::ConnectionSlots>,
    ws_counters: Arc<ws::WsCounters>,
}

/// Applies what every service's schema has: the limits, the error codes, the state.
pub fn configure<Q, M, S>(
    builder: SchemaBuilder<Q, M, S>,
    state: &ServiceState,
) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let builder = builder
        .data(state.clone())
        .extension(codes::ErrorCodes)
        .extension(spans::OperationSpans)
        .extension(document_limits::DocumentLimits)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if state.exposure.graphiql {
        builder
    } else {
        builder.disable_introspection()
    }
}
