//! The parsers under fuzz, compiled from their own source files so the fuzz build does not drag in the
//! store (sqlx, SQLite), the LLM clients (reqwest, rustls) or the embedder (candle). Only the types those
//! files name through `crate::` are re-declared here; if a parser starts using something new from its
//! crate, this build fails loudly and the shim grows.

#[path = "../../crates/core/src/project.rs"]
pub mod project;

#[path = "../../crates/core/src/hook_event.rs"]
pub mod hook_event;

#[path = "../../crates/api/src/clock.rs"]
pub mod clock;

#[path = "../../crates/search/src/code_tokenizer.rs"]
pub mod code_tokenizer;

#[path = "../../crates/search/src/text_index.rs"]
pub mod text_index;

/// `claude_mem_search::Doc`: what is indexed of an observation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc {
    pub id: i64,
    pub project: String,
    pub kind: String,
    pub created_at: i64,
    pub title: String,
    pub subtitle: String,
    pub narrative: String,
    pub facts: Vec<String>,
    pub concepts: Vec<String>,
    pub keywords: Vec<String>,
    pub files: Vec<String>,
}

/// `claude_mem_search::Filters`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub project: Option<String>,
    pub kind: Option<String>,
    pub since_ms: Option<i64>,
    /// Only memories created at or before this instant (epoch ms).
    pub until_ms: Option<i64>,
}

/// The variants of `claude_mem_search::SearchError` the full-text index produces.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("full-text index: {0}")]
    Text(#[from] tantivy::TantivyError),
    #[error("index files: {0}")]
    Io(#[from] std::io::Error),
    #[error("index was built differently: {0}")]
    Incompatible(String),
}

impl From<tantivy::directory::error::OpenDirectoryError> for SearchError {
    fn from(e: tantivy::directory::error::OpenDirectoryError) -> Self {
        SearchError::Text(e.into())
    }
}

impl From<tantivy::directory::error::OpenReadError> for SearchError {
    fn from(e: tantivy::directory::error::OpenReadError) -> Self {
        SearchError::Text(e.into())
    }
}
