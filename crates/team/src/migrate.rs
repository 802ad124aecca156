//! `claude-mem migrate --to postgres://…`: copies a local SQLite store into the team server.
//!
//! The SQLite file is read in one read transaction, so the copy is one consistent snapshot even while the
//! laptop's worker keeps writing (WAL readers never block the writer nor see half a commit). Everything
//! lands in PostgreSQL in one transaction: a failure anywhere (a session that belongs to another team, a
//! lost connection) leaves the team server exactly as it was, including the team, user and token the run
//! would have created.
//!
//! Running it twice adds nothing, so a user can migrate, keep working, and migrate again to pick up what
//! came after the first snapshot:
//! - sessions are keyed by Claude Code's session id (the saved-memories session excepted, which becomes
//!   the team's own: [`server_session_id`]), events by their `event_key` and prompts by
//!   `(session_id, prompt_number)`: the database's own unique constraints skip what is there;
//! - observations, summaries and usage rows have no natural key, so a row counts as present when the
//!   team already has one with the same session, time and content (see each `INSERT … WHERE NOT EXISTS`).
//!
//! Integer ids are the server's (BIGSERIAL): every id is new, and `observations.source_event_ids` is
//! rewritten through the events' old→new mapping. Embeddings are left NULL: the replicas compute them
//! with the team's embedder, which may not be the laptop's.

use crate::auth::{generate_token, hash_token, Owner};
use crate::{PgStore, TeamError};
use claude_mem_core::clock::now_ms;
use serde::Serialize;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, Connection, Postgres, Row, SqliteConnection, Transaction};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Copied in this order: sessions first (everything references them), events before the observations
/// whose `source_event_ids` point at them.
pub const TABLES: [&str; 6] = [
    "sdk_sessions",
    "user_prompts",
    "pending_messages",
    "observations",
    "session_summaries",
    "llm_usage",
];

/// Rows per read page and per INSERT: large enough that the round trips do not dominate, small enough
/// that a page of tool payloads stays a few MB.
const PAGE: i64 = 500;

/// The label of the token a migration issues, so an admin can tell it from tokens issued by hand.
const TOKEN_LABEL: &str = "migrate";

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TableCopy {
    /// Rows in the SQLite snapshot.
    pub source: u64,
    pub inserted: u64,
    /// Already on the server (an earlier migration, or the same session synced since): left as it was.
    pub skipped: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub owner: Owner,
    pub created_team: bool,
    pub created_user: bool,
    /// The new user's first API token: only when this run created the user, since only its hash is
    /// stored and this is the one chance to show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub tables: BTreeMap<String, TableCopy>,
    /// `source_event_ids` entries that named no event in the snapshot (pruned since): dropped rather
    /// than pointed at whatever server row has that number.
    pub dropped_event_refs: u64,
}

impl MigrateReport {
    pub fn inserted(&self) -> u64 {
        self.tables.values().map(|t| t.inserted).sum()
    }
}

/// What the copy tells its caller as it goes, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// Once, before the first row: rows per table in the snapshot.
    Start { totals: &'a [(&'static str, u64)] },
    /// After each page.
    Rows { table: &'static str, done: u64 },
    /// A table is finished.
    TableDone {
        table: &'static str,
        copy: &'a TableCopy,
    },
}

/// Copies `source` (a claude-mem SQLite database) into the team server as `user` of `team`, creating
/// either when missing (the user then gets a token, returned in the report).
pub async fn migrate(
    source: &Path,
    pg: &PgStore,
    team: &str,
    user: &str,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<MigrateReport, TeamError> {
    for (what, name) in [("team name", team), ("user name", user)] {
        if name.trim().is_empty() {
            return Err(TeamError::Invalid {
                what,
                reason: "must not be empty".into(),
            });
        }
    }
    let mut src = open_source(source).await?;
    let mut snapshot = src.begin().await?;
    let mut totals = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *snapshot)
            .await?;
        totals.push((table, u64::try_from(n).unwrap_or(0)));
    }
    progress(Progress::Start { totals: &totals });
    let local_ids: Vec<String> = sqlx::query_scalar("SELECT id FROM sdk_sessions")
        .fetch_all(&mut *snapshot)
        .await?;

    // The team, user and token are created in the copy's transaction: a refused or failed copy leaves
    // none of them behind.
    let mut tx = pg.pool().begin().await?;
    let (owner, created_team, created_user, token) = resolve_owner(&mut tx, team, user).await?;
    let session_ids: Vec<String> = local_ids
        .into_iter()
        .map(|id| server_session_id(id, owner.team_id))
        .collect();
    refuse_foreign_sessions(&mut tx, &session_ids, owner.team_id).await?;
    let mut report = MigrateReport {
        owner,
        created_team,
        created_user,
        token,
        tables: BTreeMap::new(),
        dropped_event_refs: 0,
    };
    let mut copier = Copier {
        src: &mut snapshot,
        tx: &mut tx,
        owner: report.owner.clone(),
        totals: totals.iter().copied().collect(),
        events: HashMap::new(),
        dropped_event_refs: 0,
        progress,
    };
    for table in TABLES {
        let copy = copier.copy(table).await?;
        (copier.progress)(Progress::TableDone { table, copy: &copy });
        if table == "sdk_sessions" {
            // A session another team created between the check above and our insert was skipped by
            // ON CONFLICT: everything we would hang off it must not go into their session.
            refuse_foreign_sessions(copier.tx, &session_ids, report.owner.team_id).await?;
        }
        report.tables.insert(table.to_owned(), copy);
    }
    report.dropped_event_refs = copier.dropped_event_refs;
    drop(copier);
    tx.commit().await?;
    // Read-only snapshot: nothing to keep.
    snapshot.rollback().await?;
    src.close().await?;
    Ok(report)
}

/// Read-only: the migration must never change the laptop's store (WAL lets this run beside the worker).
async fn open_source(path: &Path) -> Result<SqliteConnection, TeamError> {
    if !path.is_file() {
        return Err(TeamError::Invalid {
            what: "source database",
            reason: format!("{} does not exist", path.display()),
        });
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(10))
        .connect()
        .await?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await?;
    if !names.iter().any(|n| n == "_sqlx_migrations") {
        return Err(TeamError::Invalid {
            what: "source database",
            reason: format!(
                "{} is not a database of this claude-mem (the original claude-mem's? `claude-mem import \
                 --from-original` it first)",
                path.display()
            ),
        });
    }
    if let Some(missing) = TABLES.iter().find(|t| !names.iter().any(|n| n == *t)) {
        return Err(TeamError::Invalid {
            what: "source database",
            reason: format!("{} has no {missing} table", path.display()),
        });
    }
    Ok(conn)
}

/// The session id on the server. Claude Code's ids are globally unique and kept; the synthetic session
/// that holds a project's saved memories (`notes:<project>`) is named after the project only, so two
/// teams with a project of the same name would collide on it: on the server it is the team's own.
pub fn server_session_id(local: String, team_id: i64) -> String {
    match local.strip_prefix("notes:") {
        Some(project) => format!("notes:t{team_id}:{project}"),
        None => pg_text(local),
    }
}

fn server_session_opt(local: Option<String>, team_id: i64) -> Option<String> {
    local.map(|id| server_session_id(id, team_id))
}

/// Fails when any of `ids` is a session of another team: a session belongs to one team, and copying
/// into it would hand our rows to them.
async fn refuse_foreign_sessions(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[String],
    team_id: i64,
) -> Result<(), TeamError> {
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.id, t.name FROM sdk_sessions s JOIN teams t ON t.id = s.team_id
          WHERE s.id = ANY($1) AND s.team_id <> $2
          ORDER BY s.id",
    )
    .bind(ids)
    .bind(team_id)
    .fetch_all(&mut **tx)
    .await?;
    let Some((first, other)) = rows.first() else {
        return Ok(());
    };
    Err(TeamError::Other(format!(
        "{} session(s) of this store already belong to another team (first: {first:?}, team {other:?}); \
         a session belongs to one team, so nothing was written",
        rows.len()
    )))
}

/// The team and user, created when missing (in the migration's transaction, so a failed copy creates
/// neither). A new user gets a first token.
async fn resolve_owner(
    tx: &mut Transaction<'_, Postgres>,
    team: &str,
    user: &str,
) -> Result<(Owner, bool, bool, Option<String>), TeamError> {
    let now = now_ms();
    let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM teams WHERE name = $1")
        .bind(team)
        .fetch_optional(&mut **tx)
        .await?;
    let (team_id, created_team) = match existing {
        Some(id) => (id, false),
        None => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO teams (name, created_at) VALUES ($1, $2) RETURNING id",
            )
            .bind(team)
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
            (id, true)
        }
    };
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM users WHERE team_id = $1 AND name = $2")
            .bind(team_id)
            .bind(user)
            .fetch_optional(&mut **tx)
            .await?;
    let (user_id, token) = match existing {
        Some(id) => (id, None),
        None => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (team_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(team_id)
            .bind(user)
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
            let token = generate_token()?;
            sqlx::query(
                "INSERT INTO api_tokens (user_id, token_hash, label, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(hash_token(&token))
            .bind(TOKEN_LABEL)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            (id, Some(token))
        }
    };
    let owner = Owner {
        user_id,
        team_id,
        user: user.to_owned(),
        team: team.to_owned(),
    };
    let created_user = token.is_some();
    Ok((owner, created_team, created_user, token))
}

/// PostgreSQL text cannot hold NUL characters (SQLite's can): they are dropped, the only change the
/// copy makes to content.
fn pg_text(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s
    }
}

fn pg_opt_text(s: Option<String>) -> Option<String> {
    s.map(pg_text)
}

fn strip_nul(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', ""),
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(map) => {
            let keyed: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            for (k, mut item) in keyed {
                strip_nul(&mut item);
                map.insert(k.replace('\0', ""), item);
            }
        }
        _ => {}
    }
}

/// A SQLite JSON text column as text PostgreSQL's `::jsonb` accepts: valid JSON passes unchanged unless it
/// escapes NUL (jsonb refuses `\u0000`); anything that is not JSON is kept as a JSON string rather than
/// failing the whole migration.
fn pg_json(raw: String) -> String {
    match serde_json::from_str::<Value>(&raw) {
        Ok(_) if !raw.contains("\\u0000") => raw,
        Ok(mut v) => {
            strip_nul(&mut v);
            v.to_string()
        }
        Err(_) => Value::String(pg_text(raw)).to_string(),
    }
}

struct Copier<'a, 's, 'p, 'f> {
    src: &'a mut Transaction<'s, sqlx::Sqlite>,
    tx: &'a mut Transaction<'p, Postgres>,
    owner: Owner,
    totals: HashMap<&'static str, u64>,
    /// SQLite event id → server event id, for `source_event_ids`.
    events: HashMap<i64, i64>,
    dropped_event_refs: u64,
    progress: &'f mut (dyn FnMut(Progress<'_>) + Send),
}

impl Copier<'_, '_, '_, '_> {
    /// Runs a batch insert whose `$1` and `$2` are the owning team and user and whose other parameters
    /// are the batch's columns; returns the rows actually inserted.
    async fn insert_owned(&mut self, c: Columns, sql: &str) -> Result<u64, TeamError> {
        let done = c
            .bind(
                sqlx::query(sql)
                    .bind(self.owner.team_id)
                    .bind(self.owner.user_id),
            )
            .execute(&mut **self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    async fn copy(&mut self, table: &'static str) -> Result<TableCopy, TeamError> {
        let mut copy = TableCopy {
            source: self.totals.get(table).copied().unwrap_or(0),
            ..TableCopy::default()
        };
        let mut after = i64::MIN;
        let mut done = 0u64;
        loop {
            let rows: Vec<SqliteRow> = sqlx::query(&format!(
                "SELECT rowid AS _rowid, * FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT {PAGE}"
            ))
            .bind(after)
            .fetch_all(&mut **self.src)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("_rowid")?;
            let inserted = match table {
                "sdk_sessions" => self.sessions(&rows).await?,
                "user_prompts" => self.prompts(&rows).await?,
                "pending_messages" => self.events(&rows).await?,
                "observations" => self.observations(&rows).await?,
                "session_summaries" => self.summaries(&rows).await?,
                _ => self.usage(&rows).await?,
            };
            copy.inserted += inserted;
            done += rows.len() as u64;
            (self.progress)(Progress::Rows { table, done });
        }
        // The snapshot's count, not the rows paged, is what the report promises; they are the same
        // rows since both read one snapshot.
        copy.source = copy.source.max(done);
        copy.skipped = copy.source.saturating_sub(copy.inserted);
        Ok(copy)
    }

    async fn sessions(&mut self, rows: &[SqliteRow]) -> Result<u64, TeamError> {
        let mut c = Columns::default();
        for r in rows {
            c.text(
                "id",
                server_session_id(r.try_get("id")?, self.owner.team_id),
            );
            c.text("project", pg_text(r.try_get("project")?));
            c.text("cwd", pg_text(r.try_get("cwd")?));
            c.opt_text(
                "transcript_path",
                pg_opt_text(r.try_get("transcript_path")?),
            );
            c.int("started_at", r.try_get("started_at")?);
            c.int("last_seen_at", r.try_get("last_seen_at")?);
            c.opt_int("ended_at", r.try_get("ended_at")?);
            c.opt_text("end_reason", pg_opt_text(r.try_get("end_reason")?));
            c.text("status", r.try_get("status")?);
            for n in [
                "event_count",
                "prompt_count",
                "observation_count",
                "input_tokens",
                "output_tokens",
            ] {
                c.int(n, r.try_get(n)?);
            }
        }
        let sql = format!(
            "INSERT INTO sdk_sessions (team_id, user_id, {cols})
                 SELECT $1, $2, {cols} FROM {unnest}
                 ON CONFLICT (id) DO NOTHING",
            cols = c.names(),
            unnest = c.unnest(3),
        );
        self.insert_owned(c, &sql).await
    }

    async fn prompts(&mut self, rows: &[SqliteRow]) -> Result<u64, TeamError> {
        let mut c = Columns::default();
        for r in rows {
            c.text(
                "session_id",
                server_session_id(r.try_get("session_id")?, self.owner.team_id),
            );
            c.int("prompt_number", r.try_get("prompt_number")?);
            c.opt_text("prompt_id", pg_opt_text(r.try_get("prompt_id")?));
            c.text("text", pg_text(r.try_get("text")?));
            c.int("created_at", r.try_get("created_at")?);
        }
        let sql = format!(
            "INSERT INTO user_prompts (team_id, user_id, {cols})
                 SELECT $1, $2, {cols} FROM {unnest}
                 ON CONFLICT (session_id, prompt_number) DO NOTHING",
            cols = c.names(),
            unnest = c.unnest(3),
        );
        self.insert_owned(c, &sql).await
    }

    async fn events(&mut self, rows: &[SqliteRow]) -> Result<u64, TeamError> {
        let mut c = Columns::default();
        let mut old_by_key: HashMap<String, i64> = HashMap::with_capacity(rows.len());
        for r in rows {
            let key: String = pg_text(r.try_get("event_key")?);
            old_by_key.insert(key.clone(), r.try_get("id")?);
            c.text("event_key", key);
            c.text(
                "session_id",
                server_session_id(r.try_get("session_id")?, self.owner.team_id),
            );
            c.text("event_name", r.try_get("event_name")?);
            c.opt_text("tool_name", pg_opt_text(r.try_get("tool_name")?));
            c.int("prompt_number", r.try_get("prompt_number")?);
            c.json("payload", pg_json(r.try_get("payload")?));
            // The laptop's worker no longer works on what it had in hand: the replicas take it over.
            let state: String = r.try_get("state")?;
            c.text(
                "state",
                if state == "processing" {
                    "pending".to_owned()
                } else {
                    state
                },
            );
            c.int("attempts", r.try_get("attempts")?);
            c.opt_text("last_error", pg_opt_text(r.try_get("last_error")?));
            c.opt_int("next_attempt_at", r.try_get("next_attempt_at")?);
            c.int("created_at", r.try_get("created_at")?);
            c.opt_int("processed_at", r.try_get("processed_at")?);
        }
        let sql = format!(
            "INSERT INTO pending_messages (team_id, user_id, {cols})
                 SELECT $1, $2, {sel} FROM {unnest}
                 ON CONFLICT (event_key) DO NOTHING",
            cols = c.names(),
            sel = c.select(),
            unnest = c.unnest(3),
        );
        let inserted = self.insert_owned(c, &sql).await?;
        // Inserted or already there, each key now has one server id: that is the mapping.
        let keys: Vec<String> = old_by_key.keys().cloned().collect();
        let found: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT event_key, id, team_id FROM pending_messages WHERE event_key = ANY($1)",
        )
        .bind(&keys)
        .fetch_all(&mut **self.tx)
        .await?;
        for (key, new_id, team_id) in found {
            if team_id != self.owner.team_id {
                return Err(TeamError::Other(format!(
                    "the hook event {key:?} already belongs to another team; nothing was written"
                )));
            }
            if let Some(old) = old_by_key.get(&key) {
                self.events.insert(*old, new_id);
            }
        }
        Ok(inserted)
    }

    /// The event ids of an observation, in the server's numbering.
    fn remap_events(&mut self, raw: &str) -> String {
        let Ok(ids) = serde_json::from_str::<Vec<i64>>(raw) else {
            return pg_json(raw.to_owned());
        };
        let mut mapped = Vec::with_capacity(ids.len());
        for id in ids {
            match self.events.get(&id) {
                Some(new) => mapped.push(*new),
                None => self.dropped_event_refs += 1,
            }
        }
        Value::from(mapped).to_string()
    }

    async fn observations(&mut self, rows: &[SqliteRow]) -> Result<u64, TeamError> {
        let mut c = Columns::default();
        for r in rows {
            c.text(
                "session_id",
                server_session_id(r.try_get("session_id")?, self.owner.team_id),
            );
            c.text("project", pg_text(r.try_get("project")?));
            c.int("prompt_number", r.try_get("prompt_number")?);
            c.text("type", r.try_get("type")?);
            c.text("title", pg_text(r.try_get("title")?));
            c.text("subtitle", pg_text(r.try_get("subtitle")?));
            c.text("narrative", pg_text(r.try_get("narrative")?));
            for n in [
                "facts",
                "concepts",
                "files_read",
                "files_modified",
                "keywords",
            ] {
                c.json(n, pg_json(r.try_get(n)?));
            }
            let source: String = r.try_get("source_event_ids")?;
            let mapped = self.remap_events(&source);
            c.json("source_event_ids", mapped);
            c.int("input_tokens", r.try_get("input_tokens")?);
            c.int("output_tokens", r.try_get("output_tokens")?);
            c.text("compressor", pg_text(r.try_get("compressor")?));
            c.opt_text("model", pg_opt_text(r.try_get("model")?));
            c.int("created_at", r.try_get("created_at")?);
        }
        // No natural key: the same session, time, title, text and events means the same observation.
        // The team/project/time terms let the lookup use (team_id, project, created_at): by session
        // alone, a long session would be scanned once per row.
        let sql = format!(
            "INSERT INTO observations (team_id, user_id, {cols})
                 SELECT $1, $2, {sel} FROM {unnest}
                 WHERE NOT EXISTS (
                     SELECT 1 FROM observations o
                      WHERE o.team_id = $1 AND o.project = x.project AND o.created_at = x.created_at
                        AND o.session_id = x.session_id AND o.title = x.title AND o.narrative = x.narrative
                        AND o.source_event_ids = x.source_event_ids::jsonb)",
            cols = c.names(),
            sel = c.select(),
            unnest = c.unnest(3),
        );
        self.insert_owned(c, &sql).await
    }

    async fn summaries(&mut self, rows: &[SqliteRow]) -> Result<u64, TeamError> {
        let mut c = Columns::default();
        for r in rows {
            c.text(
                "session_id",
                server_session_id(r.try_get("session_id")?, self.owner.team_id),
            );
            c.text("project", pg_text(r.try_get("project")?));
            c.int("prompt_number", r.try_get("prompt_number")?);
            for n in [
                "request",
                "investigated",
                "learned",
                "completed",
                "next_steps",
                "compressor",
            ] {
                c.text(n, pg_text(r.try_get(n)?));
            }
            c.opt_text("model", pg_opt_text(r.try_get("model")?));
            c.int("created_at", r.try_get("created_at")?);
        }
        let sql = format!(
            "INSERT INTO session_summaries (team_id, user_id, {cols})
                 SELECT $1, $2, {cols} FROM {unnest}
                 WHERE NOT EXISTS (
                     SELECT 1 FROM session_summaries s
                      WHERE s.team_id = $1 AND s.project = x.project AND s.created_at = x.created_at
                        AND s.session_id = x.session_id AND s.prompt_number = x.prompt_number
                        AND s.request = x.request
                        AND s.completed = x.completed)",
            cols = c.names(),
            unnest = c.unnest(3),
        );
        self.insert_owned(c, &sql).await
    }

    async fn usage(&mut self, rows: &[SqliteRow]) -> Result<u64, TeamError> {
        let mut c = Columns::default();
        for r in rows {
            c.opt_text(
                "session_id",
                server_session_opt(r.try_get("session_id")?, self.owner.team_id),
            );
            c.opt_text("project", pg_opt_text(r.try_get("project")?));
            c.text("provider", pg_text(r.try_get("provider")?));
            c.text("model", pg_text(r.try_get("model")?));
            c.text("purpose", pg_text(r.try_get("purpose")?));
            for n in [
                "input_tokens",
                "output_tokens",
                "cache_write_tokens",
                "cache_read_tokens",
            ] {
                c.int(n, r.try_get(n)?);
            }
            c.float("cost_usd", r.try_get("cost_usd")?);
            c.int("created_at", r.try_get("created_at")?);
        }
        // llm_usage has no user column: the team is its owner.
        let sql = format!(
            "INSERT INTO llm_usage (team_id, {cols})
                 SELECT $1, {cols} FROM {unnest}
                 WHERE NOT EXISTS (
                     SELECT 1 FROM llm_usage u
                      WHERE u.team_id = $1 AND u.created_at = x.created_at
                        AND u.session_id IS NOT DISTINCT FROM x.session_id
                        AND u.provider = x.provider AND u.model = x.model AND u.purpose = x.purpose
                        AND u.input_tokens = x.input_tokens AND u.output_tokens = x.output_tokens)",
            cols = c.names(),
            unnest = c.unnest(2),
        );
        let done = c
            .bind(sqlx::query(&sql).bind(self.owner.team_id))
            .execute(&mut **self.tx)
            .await?;
        Ok(done.rows_affected())
    }
}

/// One page of rows, column by column, for `INSERT … SELECT … FROM UNNEST($n::type[], …)`: one bind per
/// column whatever the page size, so a page is one statement far below PostgreSQL's parameter limit.
#[derive(Default)]
struct Columns {
    order: Vec<&'static str>,
    data: HashMap<&'static str, Column>,
}

enum Column {
    Text(Vec<Option<String>>),
    /// Text that the INSERT casts to jsonb.
    Json(Vec<String>),
    Int(Vec<Option<i64>>),
    Float(Vec<f64>),
}

impl Column {
    fn sql_type(&self) -> &'static str {
        match self {
            Column::Text(_) | Column::Json(_) => "text[]",
            Column::Int(_) => "int8[]",
            Column::Float(_) => "float8[]",
        }
    }
}

impl Columns {
    fn entry(&mut self, name: &'static str, make: fn() -> Column) -> &mut Column {
        if !self.data.contains_key(name) {
            self.order.push(name);
        }
        self.data.entry(name).or_insert_with(make)
    }

    fn opt_text(&mut self, name: &'static str, v: Option<String>) {
        if let Column::Text(c) = self.entry(name, || Column::Text(Vec::new())) {
            c.push(v);
        }
    }

    fn text(&mut self, name: &'static str, v: String) {
        self.opt_text(name, Some(v));
    }

    fn json(&mut self, name: &'static str, v: String) {
        if let Column::Json(c) = self.entry(name, || Column::Json(Vec::new())) {
            c.push(v);
        }
    }

    fn opt_int(&mut self, name: &'static str, v: Option<i64>) {
        if let Column::Int(c) = self.entry(name, || Column::Int(Vec::new())) {
            c.push(v);
        }
    }

    fn int(&mut self, name: &'static str, v: i64) {
        self.opt_int(name, Some(v));
    }

    fn float(&mut self, name: &'static str, v: f64) {
        if let Column::Float(c) = self.entry(name, || Column::Float(Vec::new())) {
            c.push(v);
        }
    }

    /// `a, b, c`: the target columns (all plain identifiers of our schema).
    fn names(&self) -> String {
        self.order.join(", ")
    }

    /// The select list, casting the JSON columns.
    fn select(&self) -> String {
        self.order
            .iter()
            .map(|n| match self.data.get(n) {
                Some(Column::Json(_)) => format!("x.{n}::jsonb"),
                _ => format!("x.{n}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `UNNEST($first::t[], …) AS x(a, b, …)`.
    fn unnest(&self, first: usize) -> String {
        let args = self
            .order
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let t = self.data.get(n).map_or("text[]", Column::sql_type);
                format!("${}::{t}", first + i)
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("UNNEST({args}) AS x({})", self.names())
    }

    /// Binds the columns after whatever the caller already bound (the owner ids, `$1`/`$2`): sqlx numbers
    /// binds in call order, which is the order `unnest` numbered them.
    fn bind<'q>(
        mut self,
        mut q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        for name in &self.order {
            q = match self.data.remove(name) {
                Some(Column::Text(v)) => q.bind(v),
                Some(Column::Json(v)) => q.bind(v),
                Some(Column::Int(v)) => q.bind(v),
                Some(Column::Float(v)) => q.bind(v),
                None => q,
            };
        }
        q
    }
}
