//! A cap on aliases per document. Aliases let one request ask for the same field many
//! times (`a1: me { … } a2: me { … } …`); the complexity limit bounds the fields, this
//! bounds the repetition, before anything runs. It applies wherever a document is
//! parsed, so to POST and WebSocket alike.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

use super::ApiError;

/// The most aliases one document may use.
pub const MAX_ALIASES: usize = 30;

/// Refuses documents with more than [`MAX_ALIASES`] aliases, as `BAD_USER_INPUT`.
pub(crate) struct AliasLimit;

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimit)
    }
}

#[async_trait::async_trait]
impl Extension for AliasLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        // Parsing has already bounded the nesting, so counting may recurse.
        let document = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&document);
        if aliases > MAX_ALIASES {
            let error = ApiError::bad_input(
                "query",
                format!("uses {aliases} aliases; at most {MAX_ALIASES} are allowed"),
            );
            let mut server_error = ServerError::new(error.to_string(), None);
            server_error.source = Some(Arc::new(error));
            return Err(server_error);
        }
        Ok(document)
    }
}

/// Aliases in the operations and fragment definitions (each written alias once).
pub(crate) fn count_aliases(document: &ExecutableDocument) -> usize {
    let operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| in_selection_set(&op.node.selection_set.node))
        .sum();
    let fragments: usize = document
        .fragments
        .values()
        .map(|f| in_selection_set(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

fn in_selection_set(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + in_selection_set(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => {
                in_selection_set(&fragment.node.selection_set.node)
            }
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str) -> usize {
        count_aliases(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn counts_aliases_in_operations_fragments_and_inline_fragments() {
        assert_eq!(count("{ me { id } }"), 0);
        assert_eq!(count("{ a: me { id } b: me { i: id } }"), 3);
        assert_eq!(
            count(
                "query Q { x: me { ...F ... on User { y: id } } } fragment F on User { z: id w: id }"
            ),
            4
        );
    }
}
