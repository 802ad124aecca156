//! Search over what a user remembers (observations, session summaries, prompts): Tantivy full text and
//! hnsw_rs vectors, fused into one ranking.
//!
//! Both indexes are derived from SQLite and stamped with the schema and embedder that built them; when the
//! stamp does not match (or the files are missing or corrupt) they are rebuilt, and full text answers while
//! vectors catch up. Each [`Source`] has its own pair of indexes and its own id space; [`Source::key`]
//! puts them in one key space.

pub mod code_tokenizer;
pub mod durable;
pub mod embedder_choice;
pub mod eval;
pub mod fusion;
pub mod search_index;
pub mod source;
pub mod text_index;
pub mod vector_index;

pub use embedder_choice::embedder_from_settings;
pub use fusion::{calibration, Fusion, Hit};
pub use search_index::{
    check_files, FileCheck, IndexStatus, ReembedStatus, SearchIndex, SearchOutcome, SearchRequest,
    CANDIDATE_POOL, EMBED_BATCH,
};
pub use source::Source;

use claude_mem_core::model::{ObservationRow, StreamPrompt, SummaryRow};
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
    /// Another process (a worker, or an offline `claude-mem reindex`) has the index open: nothing was
    /// read or rebuilt.
    #[error("the search index {0} is in use by another claude-mem process")]
    InUse(String),
    /// Indexing was abandoned (the worker is stopping): nothing of the page was indexed.
    #[error("indexing was cancelled")]
    Cancelled,
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

/// What is indexed of a memory. `id` is its key ([`Source::key`]): for an observation, its id.
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
    /// A document without a title is embedded under its first line ([`first_line_title`]): for a memory
    /// saved without a title that is its stored title, so the text is exactly what it always was; the
    /// title is only left out of the full-text index ([`title_repeats_narrative`]). Saying the opening line twice helps MiniLM (LoCoMo evidence
    /// recall@5 of vector search 39.2 % against 33.2 % for the text alone).
    pub fn embedding_text(&self) -> String {
        let derived;
        let title = if self.title.is_empty() {
            derived = first_line_title(&self.narrative);
            &derived
        } else {
            &self.title
        };
        let mut s = format!("{}. {}", title, self.subtitle);
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

impl Doc {
    /// A session summary as an indexed document: the request is its title (what the session was
    /// about), what was completed its subtitle, what was learned and investigated its body, the next
    /// steps a fact. `None` when its id cannot be keyed ([`Source::MAX_ID`]).
    pub fn from_summary(s: &SummaryRow) -> Option<Self> {
        let narrative = [s.learned.trim(), s.investigated.trim()]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        Some(Doc {
            id: Source::Summary.key(s.id)?,
            project: s.project.clone(),
            kind: Source::Summary.as_str().to_owned(),
            created_at: s.created_at,
            title: s.request.clone(),
            subtitle: s.completed.clone(),
            narrative,
            facts: [s.next_steps.trim()]
                .into_iter()
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            ..Default::default()
        })
    }

    /// A user prompt as an indexed document: the whole text is its title, since the prompt is nothing
    /// but what was asked. `None` when its id cannot be keyed.
    pub fn from_prompt(p: &StreamPrompt) -> Option<Self> {
        Some(Doc {
            id: Source::Prompt.key(p.id)?,
            project: p.project.clone(),
            kind: Source::Prompt.as_str().to_owned(),
            created_at: p.created_at,
            title: p.prompt.clone(),
            ..Default::default()
        })
    }

    /// An observation as an indexed document; `None` when its id cannot be keyed (an observation's key
    /// is its id, so this only refuses ids outside `0..=`[`Source::MAX_ID`]).
    pub fn from_observation(o: &ObservationRow) -> Option<Self> {
        Source::Observation.key(o.id)?;
        Some(Doc::from(o))
    }
}

/// The title a memory saved without one is shown under: its first non-blank line, cut at 80 characters
/// with an ellipsis.
pub fn first_line_title(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut title: String = line.trim().chars().take(80).collect();
    if line.trim().chars().count() > 80 {
        title.push('…');
    }
    title
}

/// Whether `title` is nothing but the narrative's first line as [`first_line_title`] cuts it: what a
/// memory saved without a title gets (`POST /api/memories`), or a title a user copied from the text.
/// Such a title says nothing the narrative does not, so it is not indexed as a title: its words would
/// count once in the narrative and again, weighted as a title, and the first 80 characters of every
/// untitled memory would outrank better matches further in. It is still stored and shown, and still
/// embedded ([`Doc::embedding_text`]). A title that only begins the narrative (the local compressor's
/// "Edited src/auth.rs" over "Edited src/auth.rs (2 changes; …)") is a real, shorter title and stays.
pub fn title_repeats_narrative(title: &str, narrative: &str) -> bool {
    let title = title.trim();
    !title.is_empty() && title == first_line_title(narrative)
}

impl From<&ObservationRow> for Doc {
    /// The indexed title is empty when the stored one is only the narrative's first line
    /// ([`title_repeats_narrative`]).
    fn from(o: &ObservationRow) -> Self {
        let mut files = o.files_modified.clone();
        files.extend(o.files_read.iter().cloned());
        let title = if title_repeats_narrative(&o.title, &o.narrative) {
            String::new()
        } else {
            o.title.clone()
        };
        Doc {
            id: o.id,
            project: o.project.clone(),
            kind: o.kind.clone(),
            created_at: o.created_at,
            title,
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
