//! Requests of the worker's HTTP API as types, so a client cannot misspell a parameter. The answers are
//! still read as JSON values (`serde_json::Value`) by their callers.

use serde::Serialize;

/// Query of `GET /api/search`; `None` fields are left out of the URL.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchQuery {
    pub q: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Observation type: decision, bugfix, feature, refactor, discovery or change (`type`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Which memories: `observation`, `summary`, `prompt` or `all`, comma-separated (the API's `kind`).
    #[serde(rename = "kind", skip_serializing_if = "Option::is_none")]
    pub memories: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    pub limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f32>,
}

/// Query of `GET /api/timeline`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TimelineQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub before: u32,
    pub after: u32,
}

/// Body of `POST /api/memories`.
#[derive(Debug, Clone, Serialize)]
pub struct NewMemory {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub project: String,
}

/// Body of `POST /api/forget`: `targets` as the worker reads them (`{"kind": "observation", "id": 12}`).
#[derive(Debug, Clone, Serialize)]
pub struct ForgetRequest<'a> {
    pub targets: &'a [serde_json::Value],
    pub reason: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_query_uses_the_apis_names_and_leaves_out_what_is_unset() {
        let q = SearchQuery {
            q: "pool".into(),
            kind: Some("bugfix".into()),
            memories: Some("prompt".into()),
            limit: 5,
            ..Default::default()
        };
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"q": "pool", "type": "bugfix", "kind": "prompt", "limit": 5})
        );
    }
}
