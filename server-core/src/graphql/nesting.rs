//! A cap on how deeply a document nests, checked on its text before anything parses
//! it. The GraphQL parser recurses once per level of a nested value (`{a: {a: …}}`,
//! `[[…]]`) and has no limit of its own for them: a few kilobytes of brackets used to
//! overflow the stack of the worker thread parsing them, which aborts the whole
//! process (every service in it), for anyone, signed in or not. It applies wherever a
//! document is parsed, so to POST and WebSocket alike; the POST route's own cache of
//! parsed documents checks it too (see `DocumentCache::parsed`).

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, Variables};
use chat_types::validate::check_document_nesting;

use crate::error::ApiError;

/// Refuses documents nested deeper than [`chat_types::validate::DOCUMENT_NESTING_MAX`],
/// as `BAD_USER_INPUT` on `query`, before they are parsed.
pub(crate) struct NestingLimit;

impl ExtensionFactory for NestingLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NestingLimit)
    }
}

#[async_trait::async_trait]
impl Extension for NestingLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Err(e) = check_document_nesting(query) {
            let error = ApiError::BadInput(e);
            let mut server_error = ServerError::new(error.to_string(), None);
            server_error.source = Some(Arc::new(error));
            return Err(server_error);
        }
        next.run(ctx, query, variables).await
    }
}
