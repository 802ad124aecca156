//! One page of a team's session, read from one `REPEATABLE READ` snapshot: the processor writes a
//! session's observations and summary while a member pages through it, and separate reads would
//! answer totals that disagree with the lists they came with.

use super::memory_reads::{limit, observations, offset, text, SESSION_COLUMNS, SUMMARY_COLUMNS};
use super::{pg_text, reads::OBSERVATION_COLUMNS};
use claude_mem_core::model::{EventRow, PromptRow, SessionRow, SessionSlice, SummaryRow};
use claude_mem_core::storage::StorageError;
use sqlx::{PgExecutor, PgPool};

/// The session page of `team`'s session `id`; `None` when the team has no such session.
pub(super) async fn session_slice(
    pool: &PgPool,
    team: i64,
    id: &str,
    limit_n: i64,
    offset_n: i64,
    summaries_limit: i64,
) -> Result<Option<SessionSlice>, StorageError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let Some(session) = session_on(&mut *tx, team, id).await? else {
        return Ok(None);
    };
    let id = pg_text(id);
    let totals = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM pending_messages WHERE team_id = $1 AND session_id = $2)
                    AS events,
                (SELECT COUNT(*) FROM user_prompts WHERE team_id = $1 AND session_id = $2)
                    AS prompts,
                (SELECT COUNT(*) FROM observations WHERE team_id = $1 AND session_id = $2)
                    AS observations",
    )
    .bind(team)
    .bind(id.as_ref())
    .fetch_one(&mut *tx)
    .await?;
    let prompts: Vec<PromptRow> = sqlx::query_as(
        "SELECT prompt_number, prompt_id, text, created_at FROM user_prompts
         WHERE team_id = $1 AND session_id = $2 ORDER BY prompt_number, id LIMIT $3 OFFSET $4",
    )
    .bind(team)
    .bind(id.as_ref())
    .bind(limit(limit_n))
    .bind(offset(offset_n))
    .fetch_all(&mut *tx)
    .await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT id, event_name, tool_name, prompt_number, state, attempts, created_at, payload
         FROM pending_messages WHERE team_id = $1 AND session_id = $2
         ORDER BY id LIMIT $3 OFFSET $4",
    )
    .bind(team)
    .bind(id.as_ref())
    .bind(limit(limit_n))
    .bind(offset(offset_n))
    .fetch_all(&mut *tx)
    .await?;
    let sql = format!(
        "SELECT {OBSERVATION_COLUMNS} FROM observations WHERE team_id = $1 AND session_id = $2
         ORDER BY id DESC LIMIT $3 OFFSET $4"
    );
    let rows = sqlx::query(&sql)
        .bind(team)
        .bind(id.as_ref())
        .bind(limit(limit_n))
        .bind(offset(offset_n))
        .fetch_all(&mut *tx)
        .await?;
    let observations = observations(&rows)?;
    let summaries = summaries_on(&mut *tx, team, None, Some(&id), None, summaries_limit).await?;
    tx.commit().await?;
    Ok(Some(SessionSlice {
        session,
        totals,
        prompts,
        events,
        observations,
        summaries,
    }))
}

pub(super) async fn session_on<'e>(
    e: impl PgExecutor<'e>,
    team: i64,
    id: &str,
) -> Result<Option<SessionRow>, StorageError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sdk_sessions WHERE team_id = $1 AND id = $2");
    Ok(sqlx::query_as(&sql)
        .bind(team)
        .bind(pg_text(id).as_ref())
        .fetch_optional(e)
        .await?)
}

/// Summaries newest first, filtered by project and session, paged by `before_id`.
pub(super) async fn summaries_on<'e>(
    e: impl PgExecutor<'e>,
    team: i64,
    project: Option<&str>,
    session_id: Option<&str>,
    before_id: Option<i64>,
    limit_n: i64,
) -> Result<Vec<SummaryRow>, StorageError> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM session_summaries
         WHERE team_id = $1 AND ($2::text IS NULL OR project = $2)
           AND ($3::text IS NULL OR session_id = $3) AND ($4::bigint IS NULL OR id < $4)
         ORDER BY id DESC LIMIT $5"
    );
    Ok(sqlx::query_as(&sql)
        .bind(team)
        .bind(text(project))
        .bind(text(session_id))
        .bind(before_id)
        .bind(limit(limit_n))
        .fetch_all(e)
        .await?)
}
