//! What one document may ask for, checked before anything runs, wherever a document
//! is parsed (POST and WebSocket alike), all as `BAD_USER_INPUT` on `query`:
//!
//! - How deeply it nests, on its text, before it is parsed: the GraphQL parser recurses
//!   once per level of a nested value (`{a: {a: …}}`, `[[…]]`) and has no limit of its
//!   own for them; a few kilobytes of brackets used to overflow the stack of the worker
//!   thread parsing them, which aborts the whole process (every service in it), for
//!   anyone, signed in or not. (The POST route's cache of parsed documents checks it
//!   too: see `DocumentCache::parsed`.)
//! - How often it repeats itself: aliases let one request ask for the same field many
//!   times (`a1: me { … } a2: me { … } …`); and a mutation's fields run one after
//!   another even when written identically, without aliases (`changePassword(…)
//!   changePassword(…) …`, or the same fragment spread again and again), so one
//!   request could check twenty passwords. The complexity limit bounds the fields;
//!   these bound the repetition.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

use super::nesting::check_document_nesting;
use crate::error::ApiError;
use crate::limits::{MAX_ALIASES, MAX_MUTATION_FIELDS};

/// The extension (see the module's documentation).
pub(crate) struct DocumentLimits;

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimits)
    }
}

#[async_trait::async_trait]
impl Extension for DocumentLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        check_document_nesting(query).map_err(|e| ApiError::BadInput(e).into_server_error())?;
        // The nesting is bounded now, so counting may recurse.
        let document = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&document);
        if aliases > MAX_ALIASES {
            return Err(refusal(format!(
                "uses {aliases} aliases; at most {MAX_ALIASES} are allowed"
            )));
        }
        let fields = count_mutation_fields(&document);
        if fields > MAX_MUTATION_FIELDS {
            return Err(refusal(format!(
                "a mutation of {fields} fields; at most {MAX_MUTATION_FIELDS} are allowed"
            )));
        }
        Ok(document)
    }
}

fn refusal(message: String) -> ServerError {
    ApiError::bad_input("query", message).into_server_error()
}

/// The most fields at the root of any mutation of the document, each fragment spread
/// counting the fields it brings (a fragment within a fragment too, at most as deep as
/// the document's fragments go: a cycle, refused by validation later, stops there).
pub(crate) fn count_mutation_fields(document: &ExecutableDocument) -> usize {
    document
        .operations
        .iter()
        .filter(|(_, op)| op.node.ty == OperationType::Mutation)
        .map(|(_, op)| {
            root_fields(
                document,
                &op.node.selection_set.node,
                document.fragments.len(),
            )
        })
        .max()
        .unwrap_or(0)
}

fn root_fields(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                root_fields(document, &fragment.node.selection_set.node, depth)
            }
            Selection::FragmentSpread(spread) => {
                match document.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) if depth > 0 => {
                        root_fields(document, &fragment.node.selection_set.node, depth - 1)
                    }
                    _ => 0,
                }
            }
        })
        .sum()
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

    #[test]
    fn counts_a_mutations_root_fields_where_fragments_are_spread() {
        let fields = |query: &str| {
            count_mutation_fields(&async_graphql::parser::parse_query(query).unwrap())
        };
        assert_eq!(fields("{ a b c }"), 0, "queries are not counted");
        assert_eq!(fields("mutation { a b(x: 1) b(x: 1) }"), 3);
        assert_eq!(
            fields(
                "mutation { ...F ...F ... on Mutation { c } } fragment F on Mutation { a ...G } fragment G on Mutation { b }"
            ),
            5
        );
        assert_eq!(
            fields("mutation { ...F } fragment F on Mutation { a ...F }"),
            1,
            "a cycle stops"
        );
    }
}
