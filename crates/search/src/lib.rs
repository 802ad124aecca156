//! Search over observations: Tantivy full text and hnsw_rs vectors, fused into one ranking.
//!
//! Both indexes are derived from SQLite and stamped with the schema and embedder that built them; when the
//! stamp does not match (or the files are missing or corrupt) they are rebuilt, and full text answers while
//! vectors catch up.

pub mod code_tokenizer;
pub mod embedder_choice;
pub mod eval;
pub mod fusion;
pub mod search_index;
pub mod text_index;
pub mod vector_index;

pub use embedder_choice::embedder_from_settings;
pub use fusion::{calibration, fuse, Fusion, Hit};
pub use search_index::{IndexStatus, SearchIndex, SearchOutcome, SearchRequest, CANDIDATE_POOL};

use claude_mem_core::store::ObservationRow;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("full-text index: {0}")]
    Text(#[from] tantivy::TantivyError),
    #[error("vector index: {0}")]
    Vector(String),
    #[error("index files: {0}")]
    Io(#[from] std::io::Error),
    #[error("index metadata: {0}")]
    Json(#[from] serde_json::Error),
    #[error("index was built differently: {0}")]
    Incompatible(String),
    #[error("embedding failed: {0}")]
    Embed(String),
    #[error("store: {0}")]
    Store(#[from] claude_mem_core::StoreError),
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

impl From<tantivy::query::QueryParserError> for SearchError {
    fn from(e: tantivy::query::QueryParserError) -> Self {
        SearchError::Text(e.into())
    }
}

/// What is indexed of an observation.
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

impl Doc {
    /// The text that is embedded: what the memory says, most telling parts first (MiniLM reads 256 tokens).
    pub fn embedding_text(&self) -> String {
        let mut s = format!("{}. {}", self.title, self.subtitle);
        if !self.narrative.is_empty() {
            s.push_str(". ");
            s.push_str(&self.narrative);
        }
        for f in &self.facts {
            s.push_str(". ");
            s.push_str(f);
        }
        if !self.keywords.is_empty() {
            s.push_str(". ");
            s.push_str(&self.keywords.join(", "));
        }
        s
    }
}

impl From<&ObservationRow> for Doc {
    fn from(o: &ObservationRow) -> Self {
        let mut files = o.files_modified.clone();
        files.extend(o.files_read.iter().cloned());
        Doc {
            id: o.id,
            project: o.project.clone(),
            kind: o.kind.clone(),
            created_at: o.created_at,
            title: o.title.clone(),
            subtitle: o.subtitle.clone(),
            narrative: o.narrative.clone(),
            facts: o.facts.clone(),
            concepts: o.concepts.clone(),
            keywords: o.keywords.clone(),
            files,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    pub project: Option<String>,
    pub kind: Option<String>,
    pub since_ms: Option<i64>,
    /// Only memories created at or before this instant (epoch ms).
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Hybrid,
    Text,
    Vector,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hybrid" | "" => Some(Mode::Hybrid),
            "text" | "fulltext" | "bm25" => Some(Mode::Text),
            "vector" | "semantic" => Some(Mode::Vector),
            _ => None,
        }
    }
}
