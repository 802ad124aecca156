//! The viewer's history beyond observations: `GET /api/prompts` and `GET /api/summaries`, newest first,
//! paged backwards with `before_id` like `/api/observations`.
//!
//! The live feed loaded observations and summaries but never prompts, so prompt cards vanished on
//! reload; and summaries came as one page of the newest, so older ones never appeared however far the
//! user scrolled. Both lists now page the same way as observations, each answer saying where the next
//! page starts (`next_before_id`, `null` at the beginning of history).

use crate::api::page_limit;
use crate::api_error::ApiError;
use crate::api_state::Db;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::Json;
use claude_mem_core::model::{StreamPrompt, SummaryRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    project: Option<String>,
    /// Only this session's rows.
    session: Option<String>,
    /// Continue a page: rows older than this id (`before` is accepted too).
    #[serde(alias = "before")]
    before_id: Option<i64>,
    /// 1 to 500, default 50.
    limit: Option<i64>,
}

/// `GET /api/prompts`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromptPage {
    pub prompts: Vec<StreamPrompt>,
    /// Where the next page starts; `null` at the beginning of history.
    #[schema(required = true)]
    pub next_before_id: Option<i64>,
}

/// `GET /api/summaries`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryPage {
    pub summaries: Vec<SummaryRow>,
    /// Where the next page starts; `null` at the beginning of history.
    #[schema(required = true)]
    pub next_before_id: Option<i64>,
}

/// `GET /api/session-titles`: each asked session's first prompt and newest summary request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionTitles {
    pub titles: BTreeMap<String, SessionTitle>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionTitle {
    #[schema(required = true)]
    pub prompt: Option<String>,
    #[schema(required = true)]
    pub summary: Option<String>,
}

/// The id the next page continues before: the last one, when the page was full.
fn next_before(
    ids: impl DoubleEndedIterator<Item = i64> + ExactSizeIterator,
    limit: i64,
) -> Option<i64> {
    let full = ids.len() as i64 == limit;
    match ids.last() {
        Some(id) if full => Some(id),
        _ => None,
    }
}

/// `GET /api/prompts?project=&session=&before_id=&limit=`: the user's prompts, newest first, with
/// their session's project (what a prompt card shows).
#[utoipa::path(get, path = "/api/prompts", tag = "history", params(HistoryQuery),
    responses((status = 200, description = "A page of prompts, newest first", body = PromptPage)))]
pub async fn prompts(
    Db(db): Db,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<PromptPage>, ApiError> {
    let Query(q) = query?;
    let limit = page_limit(q.limit)?;
    let prompts = db
        .list_prompts(
            q.project.as_deref(),
            q.session.as_deref(),
            q.before_id,
            limit,
        )
        .await?;
    let next = next_before(prompts.iter().map(|p| p.id), limit);
    Ok(Json(PromptPage {
        prompts,
        next_before_id: next,
    }))
}

/// `GET /api/summaries?project=&session=&before_id=&limit=`: session summaries, newest first.
#[utoipa::path(get, path = "/api/summaries", tag = "history", params(HistoryQuery),
    responses((status = 200, description = "A page of summaries, newest first", body = SummaryPage)))]
pub async fn summaries(
    Db(db): Db,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<SummaryPage>, ApiError> {
    let Query(q) = query?;
    let limit = page_limit(q.limit)?;
    let summaries = db
        .list_summaries(
            q.project.as_deref(),
            q.session.as_deref(),
            q.before_id,
            limit,
        )
        .await?;
    let next = next_before(summaries.iter().map(|s| s.id), limit);
    Ok(Json(SummaryPage {
        summaries,
        next_before_id: next,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TitlesQuery {
    /// Session ids, comma-separated.
    ids: String,
}

/// `GET /api/session-titles?ids=a,b`: what to call each session in a list, `{id: {prompt, summary}}`:
/// its first prompt and the request of its newest summary. A row titled by a project name and a
/// hash tells a user nothing about which session it was.
#[utoipa::path(get, path = "/api/session-titles", tag = "history", params(TitlesQuery),
    responses((status = 200, description = "Titles by session id", body = SessionTitles)))]
pub async fn session_titles(
    Db(db): Db,
    query: Result<Query<TitlesQuery>, QueryRejection>,
) -> Result<Json<SessionTitles>, ApiError> {
    let Query(q) = query?;
    let ids: Vec<&str> = q
        .ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.len() > crate::api::MAX_PAGE as usize {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("at most {} ids at once", crate::api::MAX_PAGE),
        ));
    }
    let ids: Vec<String> = ids.into_iter().map(str::to_owned).collect();
    let rows = db.session_titles(&ids).await?;
    let titles = rows
        .into_iter()
        .map(|(id, prompt, summary)| (id, SessionTitle { prompt, summary }))
        .collect();
    Ok(Json(SessionTitles { titles }))
}

#[cfg(test)]
mod tests {
    use super::next_before;

    #[test]
    fn a_full_page_points_past_its_last_row_and_a_short_one_ends_history() {
        assert_eq!(next_before([9i64, 7, 5].into_iter(), 3), Some(5));
        assert_eq!(next_before([9i64, 7].into_iter(), 3), None);
        assert_eq!(next_before(std::iter::empty::<i64>(), 3), None);
    }
}
