//! `POST /graphql`: queries and mutations.

use std::net::SocketAddr;

use async_graphql::{Executor, Response, ServerError};
use async_graphql_axum::GraphQLResponse;
use axum::Extension as AxumExtension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::response::IntoResponse;
use chat_types::ErrorCode;
use http::{HeaderMap, StatusCode, header};

use super::GraphqlApp;
use super::session::{foreign_origin, peer_ip, session_from_headers};
use crate::error::error_response;
use crate::metrics::OperationKind;

pub(super) async fn post_graphql<E: Executor>(
    State(app): State<GraphqlApp<E>>,
    connect_info: Option<AxumExtension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    if let Some(origin) = foreign_origin(&headers, &app.state) {
        tracing::info!(%origin, "request from a foreign origin refused");
        return error_response(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "origin not allowed",
        );
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadUserInput,
            "send the request as application/json",
        );
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                &format!("invalid GraphQL request: {e}"),
            );
        }
    };
    let session = match session_from_headers(&app.state, &headers).await {
        Ok(session) => session,
        Err(e) => {
            let mut response = Response::from_errors(vec![ServerError::new(e.to_string(), None)]);
            e.annotate(&mut response.errors[0]);
            app.state.metrics.count_error(e.code());
            return GraphQLResponse::from(response).into_response();
        }
    };
    let kind = if request.query.trim_start().starts_with("mutation") {
        OperationKind::Mutation
    } else {
        OperationKind::Query
    };
    app.state.metrics.count_operation(kind);
    let mut request = request.data(session).data(peer_ip(connect_info));
    if let Some(document) = app.documents.parsed(&request.query) {
        request.set_parsed_query(document);
    }
    let response = app.executor.execute(request).await;
    GraphQLResponse::from(response).into_response()
}
