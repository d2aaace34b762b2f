//! Who is calling and from where: the session from a request's credentials, the
//! client's address, and the helpers resolvers use to read them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use async_graphql::Context;
use axum::Extension as AxumExtension;
use axum::extract::ConnectInfo;
use chat_types::UserId;
use http::{HeaderMap, header};

use crate::auth::Credential;
use crate::error::ApiError;
use crate::state::ServiceState;

/// Who is calling: put in every request's data by the routes below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session {
    Anonymous,
    User(UserId),
}

/// The caller's user id, or `UNAUTHENTICATED`.
pub fn viewer(ctx: &Context<'_>) -> Result<UserId, ApiError> {
    match ctx.data_opt::<Session>() {
        Some(Session::User(id)) => Ok(*id),
        _ => Err(ApiError::Unauthenticated),
    }
}

/// The address a request came from: the TCP peer. Forwarding headers such as
/// `X-Forwarded-For` are not trusted, since any client can write them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The caller's address; the unspecified address when the server was not started
/// with connection info (see [`crate::serve`]), so such callers share limits.
pub fn client_ip(ctx: &Context<'_>) -> IpAddr {
    ctx.data_opt::<ClientIp>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ip| ip.0)
}

pub(super) fn peer_ip(connect_info: Option<AxumExtension<ConnectInfo<SocketAddr>>>) -> ClientIp {
    ClientIp(connect_info.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.0.ip()))
}

/// The service state, from the schema data.
pub fn state<'a>(ctx: &Context<'a>) -> &'a ServiceState {
    ctx.data_unchecked::<ServiceState>()
}

/// A request's `Origin`, when it has one and it is not allowed.
pub(super) fn foreign_origin<'h>(headers: &'h HeaderMap, state: &ServiceState) -> Option<&'h str> {
    let origin = headers.get(header::ORIGIN)?.to_str().unwrap_or("?");
    (!state.web.origin_allowed(origin)).then_some(origin)
}

/// The session of a request: a Bearer token, or the cookie if the request comes from
/// an allowed origin (the browser attaches cookies to any request, so a cookie without
/// an allowed `Origin` proves nothing).
pub(super) async fn session_from_headers(
    state: &ServiceState,
    headers: &HeaderMap,
) -> Result<Session, ApiError> {
    session_for(state, headers, false).await
}

/// As [`session_from_headers`]; with `cookie_without_origin`, a cookie counts also when
/// the request has no `Origin` at all (reads that a browser makes for an `<img>`).
pub async fn session_for(
    state: &ServiceState,
    headers: &HeaderMap,
    cookie_without_origin: bool,
) -> Result<Session, ApiError> {
    let credential = match Credential::from_headers(headers) {
        Some(Credential::Cookie(token)) => {
            let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
            match origin {
                Some(origin) if state.web.origin_allowed(origin) => Some(token),
                None if cookie_without_origin => Some(token),
                _ => None,
            }
        }
        Some(Credential::Bearer(token)) => Some(token),
        None => None,
    };
    match credential {
        None => Ok(Session::Anonymous),
        Some(token) => Ok(Session::User(state.auth.authenticate(&token).await?)),
    }
}
