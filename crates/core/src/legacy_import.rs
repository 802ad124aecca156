//! The database of the original claude-mem (TypeScript, thedotmack/claude-mem): recognising it, and
//! importing its memories into ours.
//!
//! Both apps keep their database at `~/.claude-mem/claude-mem.db`. Our migrations run against a foreign
//! schema would fail half-way (its `sdk_sessions` already exists) after having added our bookkeeping
//! table and switched its journal mode, so [`crate::Store::open`] looks first, read-only, and refuses with
//! [`StoreError::Foreign`] — it changes nothing. `claude-mem import --from-original` then moves the file
//! aside (only when no worker is running, so the original app is not writing to it) and imports from the
//! moved copy; the moved file is kept as the user's backup.
//!
//! Mapping (columns are looked up, so older layouts with `claude_session_id`/`sdk_session_id` work too):
//! - `sdk_sessions` → `sdk_sessions`, keyed by Claude Code's session id (`content_session_id`), the same
//!   key our hooks use, so a session continued after the switch lands on the same row;
//! - `observations` → `observations` (`text` becomes the narrative when there is none; types outside our
//!   six become `change`; `compressor = 'original'`), linked through the session's `memory_session_id`;
//! - `session_summaries` → `session_summaries` (`notes` appended to `learned`);
//! - `user_prompts` → `user_prompts`.
//!
//! Not imported: the original's work queue (`pending_messages`: queue state of another program),
//! `observation_feedback`, `directives` and FTS tables. Importing twice adds nothing: sessions by id,
//! prompts by (session, number), observations by (session, time, title), summaries by (session, time).

use crate::store::{Store, StoreError};
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// What marks the compressor column of rows that came from the original app.
pub const ORIGINAL: &str = "original";

/// What a database file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    /// No file, an empty file, or a database with no tables yet.
    Empty,
    /// Ours (it has sqlx's migration table).
    Ours,
    /// The original TypeScript claude-mem's.
    Original,
    /// Something else with tables of its own: not ours to migrate.
    Unknown(Vec<String>),
}

async fn open_read_only(path: &Path) -> Result<SqliteConnection, sqlx::Error> {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .log_statements(tracing::log::LevelFilter::Trace)
        .connect()
        .await
}

async fn table_names(conn: &mut SqliteConnection) -> Result<HashSet<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

async fn column_names(
    conn: &mut SqliteConnection,
    table: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<SqliteRow> = sqlx::query(&format!("PRAGMA table_info(\"{table}\")"))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect()
}

/// Looks at `path` without changing it (read-only connection, no journal-mode switch).
pub async fn detect(path: &Path) -> Result<DatabaseKind, sqlx::Error> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > 0 => {}
        _ => return Ok(DatabaseKind::Empty),
    }
    let mut conn = open_read_only(path).await?;
    let names = table_names(&mut conn).await?;
    let kind = if names.contains("_sqlx_migrations") {
        DatabaseKind::Ours
    } else if names.iter().all(|n| n.starts_with("sqlite_")) {
        DatabaseKind::Empty
    } else if names.contains("sdk_sessions") && names.contains("observations") && {
        let cols = column_names(&mut conn, "sdk_sessions").await?;
        cols.iter().any(|c| {
            matches!(
                c.as_str(),
                "content_session_id" | "claude_session_id" | "memory_session_id" | "sdk_session_id"
            )
        })
    } {
        DatabaseKind::Original
    } else {
        let mut v: Vec<String> = names
            .into_iter()
            .filter(|n| !n.starts_with("sqlite_"))
            .collect();
        v.sort();
        DatabaseKind::Unknown(v)
    };
    conn.close().await?;
    Ok(kind)
}

#[derive(Debug, thiserror::Error)]
pub enum LegacyImportError {
    #[error("cannot read {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("{path} is not a database of the original claude-mem ({reason})")]
    NotOriginal { path: String, reason: String },
    #[error("reading the original database: {0}")]
    Read(sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LegacyImportReport {
    /// Per table: (rows read from the original, rows inserted).
    pub tables: BTreeMap<String, (u64, u64)>,
    pub observation_ids: Vec<i64>,
    pub max_observation_id_before: i64,
}

struct Session {
    id: String,
    memory_id: Option<String>,
    project: String,
    started: i64,
    ended: Option<i64>,
    active: bool,
    prompts: i64,
}

struct Obs {
    session: String,
    project: String,
    prompt_number: i64,
    kind: String,
    title: String,
    subtitle: String,
    narrative: String,
    facts: String,
    concepts: String,
    files_read: String,
    files_modified: String,
    model: Option<String>,
    created_at: i64,
}

struct Summary {
    session: String,
    project: String,
    prompt_number: i64,
    request: String,
    investigated: String,
    learned: String,
    completed: String,
    next_steps: String,
    created_at: i64,
}

struct Prompt {
    session: String,
    number: i64,
    text: String,
    created_at: i64,
}

#[derive(Default)]
struct Original {
    sessions: Vec<Session>,
    observations: Vec<Obs>,
    summaries: Vec<Summary>,
    prompts: Vec<Prompt>,
}

/// The first of `candidates` that the table has, as an SQL expression; `NULL` when none.
fn pick(cols: &[String], candidates: &[&str]) -> String {
    candidates
        .iter()
        .find(|c| cols.iter().any(|x| x == *c))
        .map_or_else(|| "NULL".to_owned(), |c| format!("\"{c}\""))
}

/// Epoch values the original wrote in milliseconds; very old rows may be seconds.
fn ms(v: Option<i64>) -> i64 {
    match v {
        Some(t) if t > 0 && t < 100_000_000_000 => t * 1000,
        Some(t) => t,
        None => 0,
    }
}

/// The original stores lists as JSON text; anything else becomes a one-element list (or empty).
fn json_list(v: Option<String>) -> String {
    let Some(s) = v.filter(|s| !s.trim().is_empty()) else {
        return "[]".into();
    };
    match serde_json::from_str::<serde_json::Value>(&s) {
        Ok(serde_json::Value::Array(items)) => {
            let strings: Vec<String> = items
                .into_iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect();
            serde_json::to_string(&strings).unwrap_or_else(|_| "[]".into())
        }
        _ => serde_json::to_string(&[s]).unwrap_or_else(|_| "[]".into()),
    }
}

/// Every text read from the original goes through the one redaction path (the original redacted
/// less, or nothing), JSON-aware so its lists stay lists.
/// A list column cut to [`crate::limits`].
fn capped(column: &str, list: String) -> String {
    crate::limits::cap_list_text(column, &list).unwrap_or(list)
}

fn text(row: &SqliteRow, col: &str) -> Option<String> {
    let mut s = row.try_get::<Option<String>, _>(col).ok().flatten()?;
    claude_mem_privacy::redactor().clean_json_text(&mut s);
    Some(s)
}

fn int(row: &SqliteRow, col: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(col).ok().flatten()
}

async fn read_original(conn: &mut SqliteConnection) -> Result<Original, sqlx::Error> {
    let names = table_names(conn).await?;
    let mut out = Original::default();
    let cols = column_names(conn, "sdk_sessions").await?;
    let sql = format!(
        "SELECT {} AS sid, {} AS mid, project, {} AS started, {} AS ended, {} AS status, {} AS prompts
         FROM sdk_sessions ORDER BY id",
        pick(&cols, &["content_session_id", "claude_session_id"]),
        pick(&cols, &["memory_session_id", "sdk_session_id"]),
        pick(&cols, &["started_at_epoch"]),
        pick(&cols, &["completed_at_epoch"]),
        pick(&cols, &["status"]),
        pick(&cols, &["prompt_counter"]),
    );
    for r in sqlx::query(&sql).fetch_all(&mut *conn).await? {
        let Some(id) = text(&r, "sid").or_else(|| text(&r, "mid")) else {
            continue;
        };
        out.sessions.push(Session {
            id,
            memory_id: text(&r, "mid"),
            project: text(&r, "project").unwrap_or_default(),
            started: ms(int(&r, "started")),
            ended: int(&r, "ended").map(|t| ms(Some(t))),
            active: text(&r, "status").as_deref() == Some("active"),
            prompts: int(&r, "prompts").unwrap_or(0),
        });
    }
    // Observations and summaries point at the session's memory id; ours point at Claude Code's id.
    let by_memory: HashMap<String, String> = out
        .sessions
        .iter()
        .filter_map(|s| Some((s.memory_id.clone()?, s.id.clone())))
        .collect();
    let session_of = |key: Option<String>| -> String {
        match key {
            Some(k) => by_memory
                .get(&k)
                .cloned()
                .unwrap_or_else(|| format!("{ORIGINAL}:{k}")),
            None => format!("{ORIGINAL}:unknown"),
        }
    };
    if names.contains("observations") {
        let cols = column_names(conn, "observations").await?;
        let sql = format!(
            "SELECT {} AS sid, project, {} AS prompt_number, type, {} AS title, {} AS subtitle,
                    {} AS narrative, {} AS text, {} AS facts, {} AS concepts, {} AS files_read,
                    {} AS files_modified, {} AS model, {} AS created
             FROM observations ORDER BY id",
            pick(&cols, &["memory_session_id", "sdk_session_id"]),
            pick(&cols, &["prompt_number"]),
            pick(&cols, &["title"]),
            pick(&cols, &["subtitle"]),
            pick(&cols, &["narrative"]),
            pick(&cols, &["text"]),
            pick(&cols, &["facts"]),
            pick(&cols, &["concepts"]),
            pick(&cols, &["files_read"]),
            pick(&cols, &["files_modified"]),
            pick(&cols, &["generated_by_model"]),
            pick(&cols, &["created_at_epoch"]),
        );
        for r in sqlx::query(&sql).fetch_all(&mut *conn).await? {
            let body = text(&r, "text").unwrap_or_default();
            let narrative = text(&r, "narrative")
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| body.clone());
            let title = text(&r, "title")
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| {
                    let t: String = narrative.chars().take(80).collect();
                    if t.is_empty() {
                        "(untitled)".into()
                    } else {
                        t
                    }
                });
            let kind = text(&r, "type").unwrap_or_default().to_ascii_lowercase();
            let kind = if crate::model::ObservationType::parse(&kind).is_some() {
                kind
            } else {
                "change".into()
            };
            out.observations.push(Obs {
                session: session_of(text(&r, "sid")),
                project: text(&r, "project").unwrap_or_default(),
                prompt_number: int(&r, "prompt_number").unwrap_or(0),
                kind,
                title,
                subtitle: text(&r, "subtitle").unwrap_or_default(),
                narrative,
                facts: capped("facts", json_list(text(&r, "facts"))),
                concepts: capped("concepts", json_list(text(&r, "concepts"))),
                files_read: capped("files_read", json_list(text(&r, "files_read"))),
                files_modified: capped("files_modified", json_list(text(&r, "files_modified"))),
                model: text(&r, "model"),
                created_at: ms(int(&r, "created")),
            });
        }
    }
    if names.contains("session_summaries") {
        let cols = column_names(conn, "session_summaries").await?;
        let sql = format!(
            "SELECT {} AS sid, project, {} AS prompt_number, {} AS request, {} AS investigated,
                    {} AS learned, {} AS completed, {} AS next_steps, {} AS notes, {} AS created
             FROM session_summaries ORDER BY id",
            pick(&cols, &["memory_session_id", "sdk_session_id"]),
            pick(&cols, &["prompt_number"]),
            pick(&cols, &["request"]),
            pick(&cols, &["investigated"]),
            pick(&cols, &["learned"]),
            pick(&cols, &["completed"]),
            pick(&cols, &["next_steps"]),
            pick(&cols, &["notes"]),
            pick(&cols, &["created_at_epoch"]),
        );
        for r in sqlx::query(&sql).fetch_all(&mut *conn).await? {
            let mut learned = text(&r, "learned").unwrap_or_default();
            if let Some(notes) = text(&r, "notes").filter(|n| !n.trim().is_empty()) {
                if !learned.is_empty() {
                    learned.push_str("\n\n");
                }
                learned.push_str("Notes: ");
                learned.push_str(&notes);
            }
            out.summaries.push(Summary {
                session: session_of(text(&r, "sid")),
                project: text(&r, "project").unwrap_or_default(),
                prompt_number: int(&r, "prompt_number").unwrap_or(0),
                request: text(&r, "request").unwrap_or_default(),
                investigated: text(&r, "investigated").unwrap_or_default(),
                learned,
                completed: text(&r, "completed").unwrap_or_default(),
                next_steps: text(&r, "next_steps").unwrap_or_default(),
                created_at: ms(int(&r, "created")),
            });
        }
    }
    if names.contains("user_prompts") {
        let cols = column_names(conn, "user_prompts").await?;
        let sql = format!(
            "SELECT {} AS sid, prompt_number, {} AS text, {} AS created FROM user_prompts ORDER BY id",
            pick(&cols, &["content_session_id", "claude_session_id"]),
            pick(&cols, &["prompt_text", "text"]),
            pick(&cols, &["created_at_epoch"]),
        );
        for r in sqlx::query(&sql).fetch_all(&mut *conn).await? {
            let Some(session) = text(&r, "sid") else {
                continue;
            };
            out.prompts.push(Prompt {
                session,
                number: int(&r, "prompt_number").unwrap_or(0),
                text: text(&r, "text").unwrap_or_default(),
                created_at: ms(int(&r, "created")),
            });
        }
    }
    Ok(out)
}

/// Inserts the session unless it exists; sessions only referenced (rows whose session row is missing in
/// the original) get a minimal one so every row keeps a parent.
async fn ensure_session(
    tx: &mut SqliteConnection,
    id: &str,
    project: &str,
    at: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO sdk_sessions (id, project, started_at, last_seen_at, status, end_reason)
         VALUES (?1, ?2, ?3, ?3, 'ended', 'imported') ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(project)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}

async fn write_original(
    conn: &mut SqliteConnection,
    data: Original,
) -> Result<LegacyImportReport, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let (max_before,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM observations")
        .fetch_one(&mut *tx)
        .await?;
    let mut report = LegacyImportReport {
        max_observation_id_before: max_before,
        ..LegacyImportReport::default()
    };
    // Last activity per session, so recall and the viewer order imported sessions sensibly.
    let mut last_seen: HashMap<&str, i64> = HashMap::new();
    for o in &data.observations {
        let e = last_seen.entry(o.session.as_str()).or_default();
        *e = (*e).max(o.created_at);
    }
    let mut inserted = 0;
    for s in &data.sessions {
        let seen = s
            .ended
            .unwrap_or(s.started)
            .max(last_seen.get(s.id.as_str()).copied().unwrap_or(0));
        let done = sqlx::query(
            "INSERT INTO sdk_sessions (id, project, started_at, last_seen_at, ended_at, end_reason,
                 status, prompt_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&s.id)
        .bind(&s.project)
        .bind(s.started)
        .bind(seen)
        .bind(s.ended)
        .bind((!s.active).then_some("imported"))
        .bind(if s.active { "active" } else { "ended" })
        .bind(s.prompts)
        .execute(&mut *tx)
        .await?;
        inserted += done.rows_affected();
    }
    let read = data.sessions.len() as u64;
    let mut observations = 0;
    for o in &data.observations {
        inserted += ensure_session(&mut tx, &o.session, &o.project, o.created_at).await?;
        let exists: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM observations
             WHERE session_id = ?1 AND created_at = ?2 AND title = ?3 AND compressor = ?4 LIMIT 1",
        )
        .bind(&o.session)
        .bind(o.created_at)
        .bind(&o.title)
        .bind(ORIGINAL)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_some() {
            continue;
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO observations (session_id, project, prompt_number, type, title, subtitle,
                 narrative, facts, concepts, files_read, files_modified, compressor, model, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id",
        )
        .bind(&o.session)
        .bind(&o.project)
        .bind(o.prompt_number)
        .bind(&o.kind)
        .bind(&o.title)
        .bind(&o.subtitle)
        .bind(&o.narrative)
        .bind(&o.facts)
        .bind(&o.concepts)
        .bind(&o.files_read)
        .bind(&o.files_modified)
        .bind(ORIGINAL)
        .bind(&o.model)
        .bind(o.created_at)
        .fetch_one(&mut *tx)
        .await?;
        observations += 1;
        report.observation_ids.push(id);
    }
    let mut summaries = 0;
    for s in &data.summaries {
        inserted += ensure_session(&mut tx, &s.session, &s.project, s.created_at).await?;
        let done = sqlx::query(
            "INSERT INTO session_summaries (session_id, project, prompt_number, request, investigated,
                 learned, completed, next_steps, compressor, created_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
             WHERE NOT EXISTS (SELECT 1 FROM session_summaries
                 WHERE session_id = ?1 AND created_at = ?10 AND compressor = ?9)",
        )
        .bind(&s.session)
        .bind(&s.project)
        .bind(s.prompt_number)
        .bind(&s.request)
        .bind(&s.investigated)
        .bind(&s.learned)
        .bind(&s.completed)
        .bind(&s.next_steps)
        .bind(ORIGINAL)
        .bind(s.created_at)
        .execute(&mut *tx)
        .await?;
        summaries += done.rows_affected();
    }
    let mut prompts = 0;
    for p in &data.prompts {
        // A prompt whose session the original lost: kept under a minimal session of no project.
        inserted += ensure_session(&mut tx, &p.session, "", p.created_at).await?;
        let done = sqlx::query(
            "INSERT INTO user_prompts (session_id, prompt_number, text, created_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )
        .bind(&p.session)
        .bind(p.number)
        .bind(&p.text)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await?;
        prompts += done.rows_affected();
    }
    // Sessions' observation counters, for the imported sessions only.
    sqlx::query(
        "UPDATE sdk_sessions SET observation_count =
             (SELECT COUNT(*) FROM observations o WHERE o.session_id = sdk_sessions.id)
         WHERE id IN (SELECT DISTINCT session_id FROM observations WHERE compressor = ?1)",
    )
    .bind(ORIGINAL)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    report
        .tables
        .insert("sdk_sessions".into(), (read, inserted));
    report.tables.insert(
        "observations".into(),
        (data.observations.len() as u64, observations),
    );
    report.tables.insert(
        "session_summaries".into(),
        (data.summaries.len() as u64, summaries),
    );
    report
        .tables
        .insert("user_prompts".into(), (data.prompts.len() as u64, prompts));
    Ok(report)
}

impl Store {
    /// Imports the original claude-mem's database at `path` (opened read-only) in one transaction.
    pub async fn import_original(
        &self,
        path: &Path,
    ) -> Result<LegacyImportReport, LegacyImportError> {
        let shown = path.display().to_string();
        match detect(path).await {
            Ok(DatabaseKind::Original) => {}
            Ok(other) => {
                return Err(LegacyImportError::NotOriginal {
                    path: shown,
                    reason: match other {
                        DatabaseKind::Empty => "the file is missing or empty".into(),
                        DatabaseKind::Ours => "it is already a database of this claude-mem; use `claude-mem export` and `import` to move data between them".into(),
                        DatabaseKind::Unknown(t) => format!("its tables are {}", t.join(", ")),
                        DatabaseKind::Original => String::new(),
                    },
                })
            }
            Err(source) => {
                return Err(LegacyImportError::Open {
                    path: shown,
                    source,
                })
            }
        }
        let mut conn = open_read_only(path)
            .await
            .map_err(|source| LegacyImportError::Open {
                path: shown.clone(),
                source,
            })?;
        let data = read_original(&mut conn)
            .await
            .map_err(LegacyImportError::Read)?;
        let _ = conn.close().await;
        let report = self
            .write(move |conn| {
                Box::pin(async move { write_original(conn, data).await.map_err(StoreError::from) })
            })
            .await?;
        if !report.observation_ids.is_empty() {
            self.notify_change();
            self.observation_signal().notify_one();
        }
        Ok(report)
    }
}
