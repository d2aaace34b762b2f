//! The forms of the web app when no script handles them (before the page is live, or
//! with scripts off): sign-in, registration, logout and sending a message arrive here
//! as ordinary POSTs, are passed on to the chosen service instance as GraphQL, and
//! answer with a redirect (see `app::forms`). A password travels only in the POST body.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use app::api::{ApiError, decode};
use app::config::{Choice, Instances, Service};
use app::forms::{Flash, safe_next, with_next};
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chat_types::{AuthPayload, ChatId, Message, ops};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use server_core::auth::{clear_session_cookie_header, session_cookie, session_cookie_header};
use server_core::http::REQUEST_ID;

/// What the form handlers need to reach the services and set cookies.
#[derive(Clone)]
pub(super) struct Forms {
    /// Where the services listen, seen from here.
    service_host: String,
    instances: Instances,
    /// Origins whose pages may post these forms.
    allowed_origins: Arc<[String]>,
    cookie_secure: bool,
    http: reqwest::Client,
}

impl Forms {
    pub(super) fn new(
        service_host: String,
        instances: Instances,
        allowed_origins: Arc<[String]>,
        cookie_secure: bool,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("HTTP client");
        Self {
            service_host,
            instances,
            allowed_origins,
            cookie_secure,
            http,
        }
    }

    pub(super) fn routes(self) -> Router {
        Router::new()
            .route("/login", post(login))
            .route("/register", post(register))
            .route("/logout", post(logout))
            .route("/chats/{id}/messages", post(send))
            .route("/chats/{id}/accept", post(accept))
            .route("/chats/{id}/decline", post(decline))
            .with_state(self)
    }

    /// A page of another site may not post here: a login planted by another site
    /// would sign the victim into the attacker's account.
    fn posted_from_allowed_origin(&self, headers: &HeaderMap) -> bool {
        super::from_allowed_origin(&self.allowed_origins, headers)
    }

    /// Sends `document` to the instance of `service` this browser chose (its cookie),
    /// as the request's session when it has one, and returns `data.<field>`.
    async fn call<T: serde::de::DeserializeOwned + 'static>(
        &self,
        headers: &HeaderMap,
        service: Service,
        document: &str,
        variables: Value,
        field: &str,
    ) -> Result<T, ApiError> {
        let cookies = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join("; ");
        let choice = Choice::from_cookie_header(&cookies, &self.instances).unwrap_or_default();
        let ports = self.instances.ports(service);
        let port = ports[choice.get(service).min(ports.len() - 1)];
        let url = format!("http://{}:{port}/graphql", self.service_host);
        let mut request = self
            .http
            .post(url)
            .json(&json!({ "query": document, "variables": variables }));
        if let Some(token) = session_cookie(headers) {
            request = request.bearer_auth(token);
        }
        if let Some(id) = headers.get(REQUEST_ID) {
            request = request.header(REQUEST_ID, id);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::network(e.to_string()))?;
        let text = response
            .text()
            .await
            .map_err(|e| ApiError::network(e.to_string()))?;
        decode(&text, field)
    }
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

#[derive(Deserialize)]
struct RegisterForm {
    username: String,
    email: String,
    #[serde(rename = "displayName")]
    display_name: String,
    password: String,
    next: Option<String>,
}

#[derive(Deserialize)]
struct SendForm {
    content: String,
    /// The newest seq on the page the form was on.
    after: Option<i64>,
}

/// `303 See Other` to `to`, setting `cookies`.
fn see_other(to: &str, cookies: &[String]) -> Response {
    let mut response =
        (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response();
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "This form may only be sent from the chat's own pages.",
    )
        .into_response()
}

async fn login(
    State(forms): State<Forms>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !forms.posted_from_allowed_origin(&headers) {
        return forbidden();
    }
    let next = safe_next(form.next.as_deref());
    let signed_in: Result<AuthPayload, _> = forms
        .call(
            &headers,
            Service::User,
            ops::LOGIN,
            json!({ "username": form.username, "password": form.password }),
            "login",
        )
        .await;
    match signed_in {
        Ok(payload) => see_other(
            &next,
            &[session_cookie_header(&payload.token, forms.cookie_secure)],
        ),
        Err(error) => {
            let values = BTreeMap::from([("username".to_string(), form.username)]);
            let flash = Flash::refused("login", &error, values);
            see_other(&with_next("/login", &next), &[flash.set_cookie()])
        }
    }
}

async fn register(
    State(forms): State<Forms>,
    headers: HeaderMap,
    Form(form): Form<RegisterForm>,
) -> Response {
    if !forms.posted_from_allowed_origin(&headers) {
        return forbidden();
    }
    let next = safe_next(form.next.as_deref());
    let input = json!({ "input": {
        "username": form.username,
        "email": form.email,
        "displayName": form.display_name,
        "password": form.password,
    }});
    let registered: Result<AuthPayload, _> = forms
        .call(&headers, Service::User, ops::REGISTER, input, "register")
        .await;
    match registered {
        Ok(payload) => see_other(
            &next,
            &[session_cookie_header(&payload.token, forms.cookie_secure)],
        ),
        Err(error) => {
            let values = BTreeMap::from([
                ("username".to_string(), form.username),
                ("email".to_string(), form.email),
                ("displayName".to_string(), form.display_name),
            ]);
            let flash = Flash::refused("register", &error, values);
            see_other(&with_next("/register", &next), &[flash.set_cookie()])
        }
    }
}

async fn logout(State(forms): State<Forms>, headers: HeaderMap) -> Response {
    if !forms.posted_from_allowed_origin(&headers) {
        return forbidden();
    }
    // Ends the session everywhere; the cookie goes whatever the service said.
    let _: Result<bool, _> = forms
        .call(&headers, Service::User, ops::LOGOUT, json!({}), "logout")
        .await;
    see_other(
        "/login",
        &[clear_session_cookie_header(forms.cookie_secure)],
    )
}

async fn send(
    State(forms): State<Forms>,
    Path(chat): Path<ChatId>,
    headers: HeaderMap,
    Form(form): Form<SendForm>,
) -> Response {
    if !forms.posted_from_allowed_origin(&headers) {
        return forbidden();
    }
    let page = format!("/chats/{chat}");
    if session_cookie(&headers).is_none() {
        return see_other(&with_next("/login", &page), &[]);
    }
    // The same text posted twice from the same page (a double click, a resubmitted
    // form) is one message.
    let client_id = format!(
        "form-{}-{:016x}",
        form.after.unwrap_or(0),
        fnv1a(form.content.as_bytes())
    );
    let input =
        json!({ "input": { "chatId": chat, "content": form.content, "clientId": client_id } });
    let sent: Result<Message, _> = forms
        .call(
            &headers,
            Service::Sender,
            ops::CREATE_MESSAGE,
            input,
            "createMessage",
        )
        .await;
    match sent {
        Ok(_) => see_other(&page, &[]),
        Err(error) if error.is_unauthenticated() => see_other(&with_next("/login", &page), &[]),
        Err(error) => {
            let values = BTreeMap::from([("content".to_string(), form.content)]);
            let flash = Flash::refused(&format!("send:{chat}"), &error, values);
            see_other(&page, &[flash.set_cookie()])
        }
    }
}

/// The request bar's Accept without scripts: back to the chat, now accepted.
async fn accept(
    State(forms): State<Forms>,
    Path(chat): Path<ChatId>,
    headers: HeaderMap,
) -> Response {
    answer_request(&forms, chat, &headers, ops::ACCEPT_CHAT, "acceptChat").await
}

/// The request bar's Decline without scripts: to the chat list, without it.
async fn decline(
    State(forms): State<Forms>,
    Path(chat): Path<ChatId>,
    headers: HeaderMap,
) -> Response {
    answer_request(&forms, chat, &headers, ops::DECLINE_CHAT, "declineChat").await
}

async fn answer_request(
    forms: &Forms,
    chat: ChatId,
    headers: &HeaderMap,
    document: &'static str,
    field: &'static str,
) -> Response {
    if !forms.posted_from_allowed_origin(headers) {
        return forbidden();
    }
    let page = format!("/chats/{chat}");
    if session_cookie(headers).is_none() {
        return see_other(&with_next("/login", &page), &[]);
    }
    let answered: Result<Value, _> = forms
        .call(
            headers,
            Service::Sender,
            document,
            json!({ "chatId": chat }),
            field,
        )
        .await;
    match answered {
        Ok(_) if document == ops::DECLINE_CHAT => see_other("/", &[]),
        Ok(_) => see_other(&page, &[]),
        Err(error) if error.is_unauthenticated() => see_other(&with_next("/login", &page), &[]),
        Err(error) => {
            let flash = Flash::refused(&format!("request:{chat}"), &error, BTreeMap::new());
            see_other(&page, &[flash.set_cookie()])
        }
    }
}

/// A 64-bit FNV-1a hash: stable across processes and versions, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
