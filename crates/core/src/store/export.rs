//! Export and import as JSON Lines: a header line, then one line per row of every table.
//!
//! Columns are read generically (whatever the schema has), so a later migration's columns travel without
//! touching this file; the tables are discovered from the database, in an order that puts sessions
//! before the rows that reference them.
//!
//! Ids on import: session ids are Claude Code's own (globally unique), so they are kept. Integer ids are
//! kept when they are free, which makes an export imported into a fresh data directory an exact copy
//! (same ids, so links such as `observations.source_event_ids` stay true). A row already present (same
//! content in every column but the id, or the same natural key: a session id, an event key, a session's
//! prompt number) is skipped, which is what makes importing twice add nothing. A new row whose id is
//! taken by a different row gets a fresh id, and `source_event_ids` are rewritten through that mapping.

use super::{Store, StoreError};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Connection, Row, SqliteConnection, TypeInfo, ValueRef};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};

pub const EXPORT_FORMAT: &str = "claude-mem-export";
pub const EXPORT_VERSION: u64 = 1;

/// Sessions first: every other table references them.
const ORDER: &[&str] = &[
    "sdk_sessions",
    "user_prompts",
    "pending_messages",
    "observations",
    "session_summaries",
    "llm_usage",
];

const PAGE: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum PortabilityError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Write(std::io::Error),
    #[error("cannot read line {line}: {source}")]
    Read { line: usize, source: std::io::Error },
    #[error("line {line}: {reason}")]
    Format { line: usize, reason: String },
    #[error("this file is {found}, not a claude-mem export (expected format \"{EXPORT_FORMAT}\")")]
    NotAnExport { found: String },
    #[error(
        "this export is format version {found}; this claude-mem reads version {EXPORT_VERSION} \
         (upgrade claude-mem to import it)"
    )]
    Version { found: String },
    #[error("line {line}: cannot import into {table}: {source}")]
    Row {
        line: usize,
        table: String,
        source: sqlx::Error,
    },
}

impl From<sqlx::Error> for PortabilityError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Database(e))
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportSummary {
    pub tables: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TableImport {
    pub inserted: u64,
    /// Already present (same content or same natural key): left as it was.
    pub skipped: u64,
    /// Inserted under a new id because theirs was taken by a different row.
    pub remapped: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub tables: BTreeMap<String, TableImport>,
    /// Observation ids inserted, ascending: the search indexes must take them in.
    pub observation_ids: Vec<i64>,
    /// Session summary and prompt ids inserted, ascending: searchable as well, each behind its own
    /// indexer cursor.
    pub summary_ids: Vec<i64>,
    pub prompt_ids: Vec<i64>,
    /// The highest observation id before the import. Inserted ids at or below it may sit below what the
    /// indexer has already passed, so they must be indexed explicitly.
    pub max_observation_id_before: i64,
}

impl ImportReport {
    pub fn inserted(&self) -> u64 {
        self.tables.values().map(|t| t.inserted).sum()
    }
}

/// User tables of the database in dependency order (known ones first, any newer ones after, by name).
/// `worker_meta` is this worker's own state (which compressor configuration it last ran), not memories;
/// `memory_vectors` and `observation_files` are derived from the memories (and keyed by row ids an import
/// may change; the latter is refilled by its trigger as observations are imported).
async fn tables(conn: &mut SqliteConnection) -> Result<Vec<String>, sqlx::Error> {
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table'
           AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\'
           AND name NOT IN ('worker_meta', 'memory_vectors', 'observation_files') ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut names: Vec<String> = names.into_iter().map(|(n,)| n).collect();
    names.sort_by_key(|n| ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()));
    Ok(names)
}

async fn columns(conn: &mut SqliteConnection, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<SqliteRow> = sqlx::query(&format!("PRAGMA table_info({})", quote(table)))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect()
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The project filter for a table: its own `project` column, else its session's.
fn project_filter(table: &str, cols: &[String]) -> &'static str {
    if table == "sdk_sessions" || cols.iter().any(|c| c == "project") {
        "project = ?1"
    } else if cols.iter().any(|c| c == "session_id") {
        "session_id IN (SELECT id FROM sdk_sessions WHERE project = ?1)"
    } else {
        "0"
    }
}

fn row_to_json(row: &SqliteRow) -> Result<Map<String, Value>, sqlx::Error> {
    let mut out = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        if col.name() == "_rowid" {
            continue;
        }
        let raw = row.try_get_raw(i)?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" => Value::from(row.try_get::<i64, _>(i)?),
                "REAL" => Value::from(row.try_get::<f64, _>(i)?),
                "BLOB" => json!({ "hex": hex::encode(row.try_get::<Vec<u8>, _>(i)?) }),
                _ => Value::from(row.try_get::<String, _>(i)?),
            }
        };
        out.insert(col.name().to_owned(), value);
    }
    Ok(out)
}

async fn export_on(
    conn: &mut SqliteConnection,
    project: Option<&str>,
    out: &mut (dyn Write + Send),
) -> Result<ExportSummary, PortabilityError> {
    // One read transaction: every count and page sees the same snapshot, even while the worker writes.
    let mut tx = conn.begin().await?;
    let names = tables(&mut tx).await?;
    let mut plan = Vec::new();
    let mut summary = ExportSummary::default();
    for name in &names {
        let cols = columns(&mut tx, name).await?;
        let filter = match project {
            Some(_) => project_filter(name, &cols),
            None => "1",
        };
        let (count,): (i64,) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM {} WHERE ({filter} OR ?1 IS NULL)",
            quote(name)
        ))
        .bind(project)
        .fetch_one(&mut *tx)
        .await?;
        summary
            .tables
            .insert(name.clone(), u64::try_from(count).unwrap_or(0));
        plan.push((name.clone(), filter));
    }
    let tables_json: Map<String, Value> = names
        .iter()
        .map(|n| (n.clone(), Value::from(summary.tables[n])))
        .collect();
    let header = json!({
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": crate::clock::now_ms(),
        "app_version": crate::VERSION,
        "project": project,
        "tables": tables_json,
    });
    writeln!(out, "{header}").map_err(PortabilityError::Write)?;
    for (name, filter) in plan {
        let mut after = i64::MIN;
        loop {
            let rows = sqlx::query(&format!(
                "SELECT rowid AS _rowid, * FROM {} WHERE ({filter} OR ?1 IS NULL) AND rowid > ?2
                 ORDER BY rowid LIMIT {PAGE}",
                quote(&name)
            ))
            .bind(project)
            .bind(after)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("_rowid")?;
            for row in &rows {
                let line = json!({ "table": name, "row": row_to_json(row)? });
                writeln!(out, "{line}").map_err(PortabilityError::Write)?;
            }
        }
    }
    tx.rollback().await?;
    out.flush().map_err(PortabilityError::Write)?;
    Ok(summary)
}

/// A parsed export: its header and rows, checked before anything is written.
#[derive(Debug, Clone)]
pub struct ExportFile {
    pub header: Map<String, Value>,
    /// (line number, table, row)
    pub rows: Vec<(usize, String, Map<String, Value>)>,
}

/// Reads and checks a whole export. The header must say `claude-mem-export` version 1; every other line
/// must be `{"table": name, "row": {...}}`.
pub fn parse_export(reader: impl BufRead) -> Result<ExportFile, PortabilityError> {
    let mut lines = reader.lines().enumerate();
    let header = loop {
        match lines.next() {
            None => {
                return Err(PortabilityError::NotAnExport {
                    found: "empty".into(),
                })
            }
            Some((i, line)) => {
                let line = line.map_err(|source| PortabilityError::Read {
                    line: i + 1,
                    source,
                })?;
                if line.trim().is_empty() {
                    continue;
                }
                let Ok(Value::Object(h)) = serde_json::from_str::<Value>(&line) else {
                    return Err(PortabilityError::NotAnExport {
                        found: "not JSON Lines (the first line is not a JSON object)".into(),
                    });
                };
                break h;
            }
        }
    };
    match header.get("format") {
        Some(Value::String(f)) if f == EXPORT_FORMAT => {}
        Some(other) => {
            return Err(PortabilityError::NotAnExport {
                found: format!("format {other}"),
            })
        }
        None => {
            return Err(PortabilityError::NotAnExport {
                found: "a JSON file without a \"format\" header".into(),
            })
        }
    }
    match header.get("version") {
        Some(v) if v.as_u64() == Some(EXPORT_VERSION) => {}
        other => {
            return Err(PortabilityError::Version {
                found: other.map_or_else(|| "missing".to_owned(), Value::to_string),
            })
        }
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let line = line.map_err(|source| PortabilityError::Read { line: n, source })?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line).map_err(|e| PortabilityError::Format {
            line: n,
            reason: format!("not JSON: {e}"),
        })?;
        let (Some(Value::String(table)), Some(Value::Object(row))) =
            (value.get("table"), value.get("row"))
        else {
            return Err(PortabilityError::Format {
                line: n,
                reason: "expected {\"table\": name, \"row\": {...}}".into(),
            });
        };
        rows.push((n, table.clone(), row.clone()));
    }
    Ok(ExportFile { header, rows })
}

fn bind_value<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    v: &Value,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    match v {
        Value::Null => q.bind(None::<String>),
        Value::Bool(b) => q.bind(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => q.bind(i),
            None => q.bind(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => q.bind(s.clone()),
        Value::Object(o) => match o.get("hex").and_then(Value::as_str).map(hex::decode) {
            Some(Ok(bytes)) => q.bind(bytes),
            _ => q.bind(v.to_string()),
        },
        Value::Array(_) => q.bind(v.to_string()),
    }
}

/// A table's shape as the import needs it.
struct TableInfo {
    columns: Vec<String>,
    integer_id: bool,
}

async fn table_info(conn: &mut SqliteConnection, table: &str) -> Result<TableInfo, sqlx::Error> {
    let rows: Vec<SqliteRow> = sqlx::query(&format!("PRAGMA table_info({})", quote(table)))
        .fetch_all(&mut *conn)
        .await?;
    let mut columns = Vec::new();
    let mut integer_id = false;
    for r in &rows {
        let name: String = r.try_get("name")?;
        let kind: String = r.try_get("type")?;
        let pk: i64 = r.try_get("pk")?;
        if name == "id" && pk == 1 && kind.eq_ignore_ascii_case("INTEGER") {
            integer_id = true;
        }
        columns.push(name);
    }
    Ok(TableInfo {
        columns,
        integer_id,
    })
}

/// The natural key that identifies a row regardless of its id, where the schema has one.
fn natural_key(table: &str) -> Option<&'static [&'static str]> {
    match table {
        "user_prompts" => Some(&["session_id", "prompt_number"]),
        "pending_messages" => Some(&["event_key"]),
        _ => None,
    }
}

async fn import_on(
    conn: &mut SqliteConnection,
    file: ExportFile,
) -> Result<ImportReport, PortabilityError> {
    let mut tx = conn.begin().await?;
    let (max_before,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM observations")
        .fetch_one(&mut *tx)
        .await?;
    let mut report = ImportReport {
        max_observation_id_before: max_before,
        ..ImportReport::default()
    };
    let known = tables(&mut tx).await?;
    let mut infos: HashMap<String, TableInfo> = HashMap::new();
    // Old id → new id per table, for ids that changed.
    let mut remap: HashMap<String, HashMap<i64, i64>> = HashMap::new();
    for (line, table, mut row) in file.rows {
        if !known.contains(&table) {
            return Err(PortabilityError::Format {
                line,
                reason: format!(
                    "table {table:?} does not exist in this database (an export from a newer claude-mem?)"
                ),
            });
        }
        if !infos.contains_key(&table) {
            let info = table_info(&mut tx, &table).await?;
            infos.insert(table.clone(), info);
        }
        let Some(info) = infos.get(&table) else {
            continue;
        };
        if let Some(unknown) = row.keys().find(|k| !info.columns.contains(k)) {
            return Err(PortabilityError::Format {
                line,
                reason: format!("table {table} has no column {unknown:?}"),
            });
        }
        if table == "observations" {
            rewrite_event_ids(&mut row, remap.get("pending_messages"));
        }
        clean_imported_row(&table, &mut row);
        let entry = report.tables.entry(table.clone()).or_default();
        let row_err = |source| PortabilityError::Row {
            line,
            table: table.clone(),
            source,
        };
        let old_id = row.get("id").and_then(Value::as_i64);
        if !info.integer_id || old_id.is_none() {
            // Text keys (sessions): the key is the identity; an existing row is kept as it is.
            let done = insert(&mut tx, &table, &row, true).await.map_err(row_err)?;
            if done.is_some() {
                entry.inserted += 1;
            } else {
                entry.skipped += 1;
            }
            continue;
        }
        let old_id = old_id.unwrap_or_default();
        if let Some(existing) = find_existing(&mut tx, &table, &row, old_id)
            .await
            .map_err(row_err)?
        {
            entry.skipped += 1;
            if existing != old_id {
                remap
                    .entry(table.clone())
                    .or_default()
                    .insert(old_id, existing);
            }
            continue;
        }
        let (taken,): (i64,) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM {} WHERE id = ?1",
            quote(&table)
        ))
        .bind(old_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(row_err)?;
        if taken > 0 {
            row.remove("id");
        }
        let Some(new_id) = insert(&mut tx, &table, &row, true).await.map_err(row_err)? else {
            entry.skipped += 1;
            continue;
        };
        entry.inserted += 1;
        if new_id != old_id {
            entry.remapped += 1;
            remap
                .entry(table.clone())
                .or_default()
                .insert(old_id, new_id);
        }
        match table.as_str() {
            "observations" => report.observation_ids.push(new_id),
            "session_summaries" => report.summary_ids.push(new_id),
            "user_prompts" => report.prompt_ids.push(new_id),
            _ => {}
        }
    }
    tx.commit().await?;
    report.observation_ids.sort_unstable();
    report.summary_ids.sort_unstable();
    report.prompt_ids.sort_unstable();
    Ok(report)
}

/// What enters by import passes the same gates as what enters by a hook or the API: every string
/// through the one redaction path (an export may be old, edited or someone else's), and an
/// observation's lists cut to [`crate::limits`] (an import is not refused whole for one huge row).
/// Our own exports are already clean, so re-importing them changes nothing.
fn clean_imported_row(table: &str, row: &mut Map<String, Value>) {
    claude_mem_privacy::redactor().clean_row(row);
    if table == "observations" {
        for (column, value) in row.iter_mut() {
            if crate::limits::list_cap(column).is_none() {
                continue;
            }
            if let Some(capped) = value
                .as_str()
                .and_then(|text| crate::limits::cap_list_text(column, text))
            {
                *value = Value::String(capped);
            }
        }
    }
}

/// Rewrites `source_event_ids` through the events' id mapping, only when one of them changed (so an
/// unchanged row stays byte-identical).
fn rewrite_event_ids(row: &mut Map<String, Value>, map: Option<&HashMap<i64, i64>>) {
    let Some(map) = map.filter(|m| !m.is_empty()) else {
        return;
    };
    let Some(Value::String(text)) = row.get("source_event_ids") else {
        return;
    };
    let Ok(ids) = serde_json::from_str::<Vec<i64>>(text) else {
        return;
    };
    if !ids.iter().any(|i| map.contains_key(i)) {
        return;
    }
    let mapped: Vec<i64> = ids.iter().map(|i| *map.get(i).unwrap_or(i)).collect();
    row.insert(
        "source_event_ids".into(),
        Value::String(serde_json::to_string(&mapped).unwrap_or_else(|_| "[]".into())),
    );
}

/// The id of a row already holding this content: same natural key, or the same value in every column
/// but the id (preferring the row's own id).
async fn find_existing(
    conn: &mut SqliteConnection,
    table: &str,
    row: &Map<String, Value>,
    old_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let keys: Vec<&String> = match natural_key(table) {
        Some(k) if k.iter().all(|c| row.contains_key(*c)) => {
            row.keys().filter(|c| k.contains(&c.as_str())).collect()
        }
        _ => row.keys().filter(|c| c.as_str() != "id").collect(),
    };
    let filter = if keys.is_empty() {
        "1".to_owned()
    } else {
        keys.iter()
            .enumerate()
            .map(|(i, c)| format!("{} IS ?{}", quote(c), i + 2))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let sql = format!(
        "SELECT id FROM {} WHERE {filter} ORDER BY (id = ?1) DESC LIMIT 1",
        quote(table)
    );
    let mut q = sqlx::query(&sql).bind(old_id);
    for c in &keys {
        q = bind_value(q, &row[c.as_str()]);
    }
    let found = q.fetch_optional(&mut *conn).await?;
    found.map(|r| r.try_get::<i64, _>(0)).transpose()
}

/// Inserts `row`; None when a uniqueness constraint says it is already there.
async fn insert(
    conn: &mut SqliteConnection,
    table: &str,
    row: &Map<String, Value>,
    ignore_conflict: bool,
) -> Result<Option<i64>, sqlx::Error> {
    let cols: Vec<&String> = row.keys().collect();
    let names = cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let params = (1..=cols.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let conflict = if ignore_conflict {
        " ON CONFLICT DO NOTHING"
    } else {
        ""
    };
    let sql = if cols.is_empty() {
        format!("INSERT INTO {} DEFAULT VALUES", quote(table))
    } else {
        format!(
            "INSERT INTO {} ({names}) VALUES ({params}){conflict}",
            quote(table)
        )
    };
    let mut q = sqlx::query(&sql);
    for c in &cols {
        q = bind_value(q, &row[c.as_str()]);
    }
    let done = q.execute(&mut *conn).await?;
    Ok((done.rows_affected() > 0).then(|| done.last_insert_rowid()))
}

impl Store {
    /// Writes the header and every row (of `project` only, when given) to `out`, from one consistent
    /// snapshot. Reads only: safe while the worker runs.
    pub async fn export_jsonl(
        &self,
        project: Option<&str>,
        out: &mut (dyn Write + Send),
    ) -> Result<ExportSummary, PortabilityError> {
        let mut conn = self.read_pool().acquire().await.map_err(StoreError::from)?;
        export_on(&mut conn, project, out).await
    }

    /// Imports a parsed export in one transaction on the writer connection: all of it or nothing.
    pub async fn import_export(&self, file: ExportFile) -> Result<ImportReport, PortabilityError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.write(move |conn| {
            Box::pin(async move {
                let _ = reply.send(import_on(conn, file).await);
                Ok(())
            })
        })
        .await?;
        let report = answer.await.map_err(|_| StoreError::Closed)??;
        if report.inserted() > 0 {
            self.notify_change();
            self.observation_signal().notify_one();
        }
        Ok(report)
    }
}

#[cfg(test)]
mod import_gate_tests {
    use crate::model::NewMemory;
    use crate::store::Store;

    /// An export edited (or made by an older version) to carry a secret and 500 files: the import
    /// redacts the one and caps the other, like every other way in.
    #[tokio::test]
    async fn imported_rows_are_redacted_and_capped() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Store::open(&tmp.path().join("a.db")).await.unwrap();
        a.save_memory(NewMemory {
            project: "p".into(),
            title: "t".into(),
            text: "plain".into(),
            kind: crate::model::ObservationType::Discovery,
            concepts: vec![],
            files: vec![],
        })
        .await
        .unwrap();
        let mut out = Vec::new();
        a.export_jsonl(None, &mut out).await.unwrap();
        let key = format!("sk-ant-api03-{}AA", "x7Y".repeat(30));
        let files: Vec<String> = (0..500).map(|i| format!("src/{i}.rs")).collect();
        let mut file = super::parse_export(std::io::Cursor::new(out)).unwrap();
        for (_, table, row) in &mut file.rows {
            if table == "observations" {
                row.insert("narrative".into(), format!("use {key}").into());
                row.insert(
                    "files_read".into(),
                    serde_json::to_string(&files).unwrap().into(),
                );
            }
        }
        let b = Store::open(&tmp.path().join("b.db")).await.unwrap();
        let report = b.import_export(file).await.unwrap();
        let rows = b.get_observations(&report.observation_ids).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].narrative.contains(&key), "{}", rows[0].narrative);
        assert!(rows[0].narrative.contains("[REDACTED:"));
        assert_eq!(rows[0].files_read.len(), crate::limits::MAX_FILES);
        a.close().await;
        b.close().await;
    }
}
