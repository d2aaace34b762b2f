//! A GraphQL-over-HTTP client for tests.

use serde_json::{Value, json};

/// One error of a GraphQL response.
#[derive(Clone, Debug)]
pub struct GqlError {
    pub message: String,
    pub code: Option<String>,
    pub field: Option<String>,
    pub raw: Value,
}

/// A whole response: HTTP status, `data` and `errors`.
#[derive(Clone, Debug)]
pub struct GqlResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub data: Value,
    pub errors: Vec<GqlError>,
}

impl GqlResponse {
    /// The first error's code, `None` when the request succeeded.
    pub fn error_code(&self) -> Option<String> {
        self.errors
            .first()
            .map(|e| e.code.clone().unwrap_or_default())
    }
}

/// Sends GraphQL to one service, optionally as a signed-in user.
#[derive(Clone, Debug)]
pub struct Gql {
    http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Gql {
    /// A client for the service at `base` (`http://127.0.0.1:port`).
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_string(),
            token: None,
        }
    }

    /// The same client, signed in with `token`.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// Another service, same session.
    pub fn at(&self, base: &str) -> Self {
        Self {
            base: base.to_string(),
            ..self.clone()
        }
    }

    /// The raw client, for requests that are not plain GraphQL.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub async fn request(&self, query: &str, variables: Value) -> GqlResponse {
        let body = json!({ "query": query, "variables": variables });
        let mut request = self.http.post(format!("{}/graphql", self.base)).json(&body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("send GraphQL request");
        Self::read(response).await
    }

    /// Reads any GraphQL-shaped HTTP response.
    pub async fn read(response: reqwest::Response) -> GqlResponse {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("read response body");
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        let errors = body["errors"]
            .as_array()
            .map(|errors| errors.iter().map(parse_error).collect())
            .unwrap_or_default();
        GqlResponse {
            status,
            headers,
            data: body["data"].clone(),
            errors,
        }
    }

    /// The `data` of a request that must succeed.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.request(query, variables).await;
        assert!(
            response.errors.is_empty() && response.status == 200,
            "expected success, got HTTP {} with {:?}",
            response.status,
            response.errors
        );
        response.data
    }

    /// The first error of a request that must fail.
    pub async fn error(&self, query: &str, variables: Value) -> GqlError {
        let response = self.request(query, variables).await;
        response
            .errors
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("expected an error, got {}", response.data))
    }

    /// Asserts that a request fails with `code`; returns the error.
    pub async fn expect_code(&self, query: &str, variables: Value, code: &str) -> GqlError {
        let error = self.error(query, variables).await;
        assert_eq!(error.code.as_deref(), Some(code), "error: {error:?}");
        error
    }
}

fn parse_error(raw: &Value) -> GqlError {
    GqlError {
        message: raw["message"].as_str().unwrap_or_default().to_string(),
        code: raw["extensions"]["code"].as_str().map(str::to_string),
        field: raw["extensions"]["field"].as_str().map(str::to_string),
        raw: raw.clone(),
    }
}

/// A user registered by [`register`].
#[derive(Clone, Debug)]
pub struct Registered {
    pub id: String,
    pub token: String,
}

/// Registers a fresh user (a unique username from `name`, `name` as display name) on
/// the user service at `base`.
pub async fn register(base: &str, name: &str) -> Registered {
    let username = crate::unique(name);
    let data = Gql::new(base)
        .data(
            chat_types::ops::REGISTER,
            json!({ "input": {
                "username": username,
                "email": format!("{username}@example.com"),
                "displayName": name,
                "password": "correct horse battery",
            }}),
        )
        .await;
    Registered {
        id: data["register"]["user"]["id"].as_str().unwrap().to_string(),
        token: data["register"]["token"].as_str().unwrap().to_string(),
    }
}
