//! A span around each operation naming it, its user (never the token) and the chat it
//! is about, so one `grep` follows a message from the sender that stored it to the
//! receiver that delivered it, and every log line inside an operation says whose it
//! was.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest,
};
use async_graphql::{Request, Response, ServerResult, Value, Variables};
use tracing::Instrument;

use super::session::Session;

/// The extension (see the module's documentation); one per request.
pub(super) struct OperationSpans;

impl ExtensionFactory for OperationSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestSpan::default())
    }
}

#[derive(Default)]
struct RequestSpan {
    /// The chat the request's variables name, if any.
    chat: Mutex<Option<String>>,
}

/// `chatId`, `input.chatId` or `id` (the chat itself) among the variables.
fn chat_of(variables: &Variables) -> Option<String> {
    let text = |value: &Value| match value {
        Value::String(s) => Some(s.clone()),
        _ => None,
    };
    let by_name = |name: &str| {
        variables
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    };
    by_name("chatId")
        .and_then(text)
        .or_else(|| match by_name("input") {
            Some(Value::Object(input)) => input.get("chatId").and_then(text),
            _ => None,
        })
}

#[async_trait::async_trait]
impl Extension for RequestSpan {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        *self.chat.lock().expect("span lock") = chat_of(&request.variables);
        next.run(ctx, request).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let user = match ctx.data_opt::<Session>() {
            Some(Session::User(id)) => id.to_string(),
            _ => "-".to_string(),
        };
        let chat = self
            .chat
            .lock()
            .expect("span lock")
            .clone()
            .unwrap_or_else(|| "-".into());
        let span = tracing::info_span!(
            "graphql",
            op = operation_name.unwrap_or("-"),
            user = %user,
            chat = %chat,
        );
        async move {
            let response = next.run(ctx, operation_name).await;
            tracing::debug!(errors = response.errors.len(), "operation done");
            response
        }
        .instrument(span)
        .await
    }
}
