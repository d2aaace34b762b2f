//! GraphQL calls, each routed to the chosen instance of its service.
//!
//! In the browser a call is a `fetch` that carries the HttpOnly session cookie (the
//! page never sees the token). During server rendering it is a request from the web
//! tier with the same session, taken from the page request's cookie, as a Bearer
//! token.

use std::sync::Arc;

use chat_types::ErrorCode;
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Choice, Instances, Service};

/// A failed call: a GraphQL error with its code and field, or a transport failure
/// (no code: the network or the instance is down).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: Option<ErrorCode>,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn network(message: impl Into<String>) -> Self {
        Self {
            code: None,
            message: message.into(),
            field: None,
        }
    }

    /// Whether sending the same request again may succeed.
    pub fn is_retriable(&self) -> bool {
        self.code.is_none_or(ErrorCode::is_retriable)
    }

    pub fn is_unauthenticated(&self) -> bool {
        self.code == Some(ErrorCode::Unauthenticated)
    }
}

/// Reads `data.<field>` of a GraphQL response, or its first error.
pub fn decode<T: DeserializeOwned>(text: &str, field: &str) -> Result<T, ApiError> {
    let body: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::network(format!("unexpected response: {e}")))?;
    decode_value(body, field)
}

/// As [`decode`], from parsed JSON (a subscription's payload). Going through one JSON
/// tree type keeps the browser bundle smaller than a parser per target type.
pub fn decode_value<T: DeserializeOwned>(mut body: Value, field: &str) -> Result<T, ApiError> {
    if let Some(error) = body.get("errors").and_then(|e| e.get(0)) {
        return Err(ApiError {
            code: error["extensions"]["code"]
                .as_str()
                .and_then(|c| c.parse().ok()),
            message: error["message"]
                .as_str()
                .unwrap_or("request failed")
                .to_string(),
            field: error["extensions"]["field"].as_str().map(str::to_string),
        });
    }
    serde_json::from_value(body["data"][field].take())
        .map_err(|e| ApiError::network(format!("unexpected {field}: {e}")))
}

/// Where calls go; in context for every component.
#[derive(Clone)]
pub struct Client {
    instances: Arc<Instances>,
    /// The instance of each service this page talks to.
    pub choice: RwSignal<Choice>,
    #[cfg(feature = "ssr")]
    server: Arc<ssr::Origin>,
}

impl Client {
    pub fn instances(&self) -> &Instances {
        &self.instances
    }

    /// The port of the chosen instance of `service`.
    pub fn port(&self, service: Service) -> u16 {
        let ports = self.instances.ports(service);
        ports[self
            .choice
            .get_untracked()
            .get(service)
            .min(ports.len() - 1)]
    }

    /// The base URL of an instance, as this side reaches it.
    pub fn base_url(&self, port: u16) -> String {
        #[cfg(feature = "ssr")]
        {
            format!("http://{}:{port}", self.server.host)
        }
        #[cfg(not(feature = "ssr"))]
        {
            browser_base_url(port)
        }
    }

    /// Sends `document` to the chosen instance of `service`; returns `data.<field>`.
    pub fn call<T>(
        &self,
        service: Service,
        document: &'static str,
        variables: Value,
        field: &'static str,
    ) -> impl Future<Output = Result<T, ApiError>> + Send + use<T>
    where
        T: DeserializeOwned + 'static,
    {
        let send = self.call_raw(service, document, variables);
        async move { decode(&send.await?.0, field) }
    }

    /// As [`Client::call`], keeping the response as text for a resource: what the
    /// server renders travels to the browser as that text and is decoded the same way
    /// on both sides (see [`Raw::decode`]), which keeps the browser bundle small.
    pub fn call_raw(
        &self,
        service: Service,
        document: &'static str,
        variables: Value,
    ) -> impl Future<Output = Result<Raw, ApiError>> + Send + use<> {
        let url = format!("{}/graphql", self.base_url(self.port(service)));
        let body = serde_json::json!({ "query": document, "variables": variables });
        #[cfg(feature = "ssr")]
        let send = ssr::post(self.server.clone(), url, body);
        #[cfg(not(feature = "ssr"))]
        let send = send_wrapper::SendWrapper::new(browser::post(url, body));
        async move { send.await.map(Raw) }
    }
}

/// A GraphQL response body, not decoded yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Raw(pub String);

impl Raw {
    pub fn decode<T: DeserializeOwned>(&self, field: &str) -> Result<T, ApiError> {
        decode(&self.0, field)
    }
}

/// `http://<this page's host>:<port>`: the same host name as the page, so the browser
/// sends the session cookie to every instance.
#[cfg(not(feature = "ssr"))]
pub fn browser_base_url(port: u16) -> String {
    #[cfg(browser)]
    {
        let location = web_sys::window().expect("window").location();
        let protocol = location.protocol().unwrap_or_else(|_| "http:".into());
        let host = location.hostname().unwrap_or_else(|_| "localhost".into());
        format!("{protocol}//{host}:{port}")
    }
    #[cfg(not(browser))]
    {
        format!("http://localhost:{port}")
    }
}

/// Makes the page's [`Client`]: the choice comes from the cookie (on the server, the
/// request's; in the browser, `document.cookie`, falling back to local storage).
pub fn provide_client(instances: Instances) -> Client {
    #[cfg(feature = "ssr")]
    let (choice, server) = ssr::from_request(&instances);
    #[cfg(not(feature = "ssr"))]
    let choice = crate::browser::stored_choice(&instances);
    let client = Client {
        instances: Arc::new(instances),
        choice: RwSignal::new(choice),
        #[cfg(feature = "ssr")]
        server: Arc::new(server),
    };
    provide_context(client.clone());
    client
}

pub fn use_client() -> Client {
    expect_context::<Client>()
}

#[cfg(feature = "ssr")]
mod ssr {
    use std::sync::{Arc, LazyLock};

    use serde_json::Value;

    use super::ApiError;
    use crate::config::{Choice, Instances};

    /// Who the page request came from, for the calls made while rendering it.
    pub(super) struct Origin {
        /// Where the services listen, seen from the web tier.
        pub(super) host: String,
        token: Option<String>,
        request_id: Option<String>,
    }

    static HTTP: LazyLock<reqwest::Client> = LazyLock::new(|| {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .expect("HTTP client")
    });

    /// The choice and session of the request being rendered.
    pub(super) fn from_request(instances: &Instances) -> (Choice, Origin) {
        let parts = leptos::prelude::use_context::<http::request::Parts>();
        let header = |name: &str| -> Option<String> {
            let parts = parts.as_ref()?;
            let values: Vec<&str> = parts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| values.join("; "))
        };
        let cookies = header("cookie").unwrap_or_default();
        let choice = Choice::from_cookie_header(&cookies, instances).unwrap_or_default();
        let token = crate::config::cookie_value(&cookies, "chat_session")
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let host = leptos::prelude::use_context::<crate::ServiceHost>()
            .map_or_else(|| "127.0.0.1".to_string(), |h| h.0);
        let origin = Origin {
            host,
            token,
            request_id: header("x-request-id"),
        };
        (choice, origin)
    }

    pub(super) async fn post(
        origin: Arc<Origin>,
        url: String,
        body: Value,
    ) -> Result<String, ApiError> {
        let mut request = HTTP.post(url).json(&body);
        if let Some(token) = &origin.token {
            request = request.bearer_auth(token);
        }
        if let Some(id) = &origin.request_id {
            request = request.header("x-request-id", id);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::network(e.to_string()))?;
        response
            .text()
            .await
            .map_err(|e| ApiError::network(e.to_string()))
    }
}

#[cfg(not(feature = "ssr"))]
mod browser {
    use serde_json::Value;

    use super::ApiError;

    pub(super) async fn post(url: String, body: Value) -> Result<String, ApiError> {
        #[cfg(browser)]
        {
            let (_status, text) = crate::browser::fetch(&url, Some(&body.to_string()))
                .await
                .ok_or_else(|| ApiError::network("the instance did not answer"))?;
            Ok(text)
        }
        #[cfg(not(browser))]
        {
            let _ = (url, body);
            Err(ApiError::network("no transport"))
        }
    }
}
