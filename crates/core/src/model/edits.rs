//! What a user asks to change: a memory to keep, things to forget, an observation to edit.

use super::ObservationType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct NewMemory {
    pub project: String,
    pub title: String,
    pub text: String,
    pub kind: ObservationType,
    pub concepts: Vec<String>,
    pub files: Vec<String>,
}

/// One thing to forget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ForgetTarget {
    Observation(i64),
    Summary(i64),
    Prompt(i64),
    Session(String),
    Project(String),
}

/// What a forget deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForgetReport {
    /// Rows deleted per table.
    pub deleted: BTreeMap<String, u64>,
    /// Targets that named nothing (already gone, or never there).
    pub missing: Vec<ForgetTarget>,
    /// Deleted ids of the searchable tables: the search indexes must drop them.
    pub observation_ids: Vec<i64>,
    pub summary_ids: Vec<i64>,
    pub prompt_ids: Vec<i64>,
}

impl ForgetReport {
    pub fn total(&self) -> u64 {
        self.deleted.values().sum()
    }
}

/// The observation types the schema accepts.
pub const OBSERVATION_TYPES: [&str; 8] = [
    "decision",
    "bugfix",
    "feature",
    "refactor",
    "discovery",
    "change",
    "security_alert",
    "security_note",
];

/// New values for an observation's fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservationEdit {
    pub title: Option<String>,
    pub narrative: Option<String>,
    pub facts: Option<Vec<String>>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Longest title and narrative an edit may set (what compressors write is far shorter).
const MAX_TITLE: usize = 500;

const MAX_NARRATIVE: usize = 20_000;

const MAX_FACTS: usize = 100;

impl ObservationEdit {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.narrative.is_none()
            && self.facts.is_none()
            && self.kind.is_none()
    }

    /// Why the edit cannot be applied, as a sentence for the user.
    pub fn problem(&self) -> Option<String> {
        if self.is_empty() {
            return Some("nothing to change: give a title, narrative, facts or type".into());
        }
        if let Some(title) = &self.title {
            if title.trim().is_empty() {
                return Some("the title cannot be empty".into());
            }
            if title.chars().count() > MAX_TITLE {
                return Some(format!("the title is longer than {MAX_TITLE} characters"));
            }
        }
        if self
            .narrative
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NARRATIVE)
        {
            return Some(format!(
                "the narrative is longer than {MAX_NARRATIVE} characters"
            ));
        }
        if self.facts.as_ref().is_some_and(|f| f.len() > MAX_FACTS) {
            return Some(format!("more than {MAX_FACTS} facts"));
        }
        if let Some(kind) = &self.kind {
            if !OBSERVATION_TYPES.contains(&kind.as_str()) {
                return Some(format!(
                    "{kind:?} is not a type (one of {})",
                    OBSERVATION_TYPES.join(", ")
                ));
            }
        }
        None
    }
}
