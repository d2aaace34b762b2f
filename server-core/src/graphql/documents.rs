//! Parsed query documents by their text: clients send the same few documents over and
//! over, and parsing is a large part of a small request's cost.

use async_graphql::parser::types::ExecutableDocument;

/// The cache (see the module's documentation).
#[derive(Default)]
pub(super) struct DocumentCache(
    std::sync::Mutex<rustc_hash::FxHashMap<String, ExecutableDocument>>,
);

/// The most documents kept (a full cache starts over, so junk cannot grow it).
const DOCUMENT_CACHE_SIZE: usize = 256;
/// Longer documents are parsed each time rather than kept.
const DOCUMENT_CACHE_MAX_LEN: usize = 8 * 1024;

impl DocumentCache {
    /// The document parsed, from the cache or now; `None` leaves the parse (and its
    /// error) to the schema.
    pub(super) fn parsed(&self, query: &str) -> Option<ExecutableDocument> {
        if query.len() > DOCUMENT_CACHE_MAX_LEN {
            return None;
        }
        if let Some(document) = self.0.lock().expect("document cache").get(query) {
            return Some(document.clone());
        }
        // Too deep to parse safely: the schema refuses it (see `nesting`).
        super::nesting::check_document_nesting(query).ok()?;
        let document = async_graphql::parser::parse_query(query).ok()?;
        let mut cache = self.0.lock().expect("document cache");
        if cache.len() >= DOCUMENT_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(query.to_string(), document.clone());
        Some(document)
    }
}
