//! Gives every error a code: an [`ApiError`] brings its own; anything else comes from
//! the GraphQL layer itself (syntax, validation, argument types, limits), which means
//! the request was at fault. Each is counted by code.

use std::sync::Arc;

use async_graphql::Response;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
use chat_types::ErrorCode;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::ServiceState;

/// The extension (see the module's documentation).
pub(super) struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

pub(super) fn classify(response: &mut Response, metrics: Option<&Metrics>) {
    for error in &mut response.errors {
        let source = error.source.clone();
        let code = match source.as_deref().and_then(|s| s.downcast_ref::<ApiError>()) {
            Some(api) => {
                api.annotate(error);
                api.code()
            }
            None => {
                let extensions = error.extensions.get_or_insert_with(Default::default);
                if extensions.get("code").is_none() {
                    extensions.set("code", ErrorCode::BadUserInput.as_str());
                }
                ErrorCode::BadUserInput
            }
        };
        if let Some(metrics) = metrics {
            metrics.count_error(code);
        }
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        let metrics = ctx.data_opt::<ServiceState>().map(|s| &*s.metrics);
        classify(&mut response, metrics);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let metrics = ctx.data_opt::<ServiceState>().map(|s| s.metrics.clone());
        next.run(ctx, stream)
            .map(move |mut response| {
                classify(&mut response, metrics.as_deref());
                response
            })
            .boxed()
    }
}
