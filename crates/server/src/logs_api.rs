//! `GET /api/logs?level=&limit=`: the worker's recent log lines for the viewer's Logs page, read from
//! the daily JSON files in `<data dir>/logs/` (`crate::logging`), newest first.
//!
//! The tray has "Open logs"; a browser user had nothing. Only the tail of the newest files is read
//! (at most [`MAX_READ_BYTES`]), so a month of debug logging costs the same as a quiet day.

use crate::api_error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes read from the end of the log files, newest file first.
pub const MAX_READ_BYTES: u64 = 2 * 1024 * 1024;
pub const DEFAULT_LINES: usize = 200;
pub const MAX_LINES: usize = 1000;

const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    /// The quietest level shown: `warn` shows warnings and errors.
    level: Option<String>,
    limit: Option<usize>,
}

fn rank(level: &str) -> Option<usize> {
    LEVELS
        .iter()
        .position(|l| l.eq_ignore_ascii_case(level.trim()))
}

/// The daily files (`worker.log.2026-01-31`), newest first.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("worker.log"))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.reverse();
    files
}

/// The last `budget` bytes of `path` as lines, a cut first line dropped.
fn tail_lines(path: &Path, budget: u64) -> std::io::Result<Vec<String>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(budget);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(budget).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    Ok(lines)
}

/// One JSON log line as the page shows it: time, level, module, message and the other fields.
pub fn parse_line(line: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(line).ok()?;
    let level = v.get("level")?.as_str()?.to_ascii_lowercase();
    let mut fields = v
        .get("fields")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let message = fields
        .remove("message")
        .map(|m| {
            m.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| m.to_string())
        })
        .unwrap_or_default();
    Some(json!({
        "ts": v.get("timestamp").cloned().unwrap_or(Value::Null),
        "level": level,
        "target": v.get("target").cloned().unwrap_or(Value::Null),
        "message": message,
        "fields": Value::Object(fields),
    }))
}

/// The newest `limit` lines at `min_level` or louder, newest first, from the files in `dir`.
pub fn read_recent(dir: &Path, min_level: usize, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut budget = MAX_READ_BYTES;
    for path in log_files(dir) {
        if budget == 0 || out.len() >= limit {
            break;
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let Ok(lines) = tail_lines(&path, budget) else {
            continue;
        };
        budget = budget.saturating_sub(size.min(budget));
        for line in lines.iter().rev() {
            let Some(entry) = parse_line(line) else {
                continue;
            };
            let loud_enough = entry["level"]
                .as_str()
                .and_then(rank)
                .is_some_and(|r| r >= min_level);
            if loud_enough {
                out.push(entry);
                if out.len() >= limit {
                    break;
                }
            }
        }
    }
    out
}

pub async fn logs(
    State(state): State<AppState>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let level = q.level.unwrap_or_else(|| "info".into());
    let min = rank(&level).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            format!("level {level:?} is not one of {}", LEVELS.join(", ")),
        )
    })?;
    let limit = q.limit.unwrap_or(DEFAULT_LINES);
    if !(1..=MAX_LINES).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_LINES}"),
        ));
    }
    let dir = state.data_dir.logs();
    let scan = dir.clone();
    let lines = tokio::task::spawn_blocking(move || read_recent(&scan, min, limit))
        .await
        .unwrap_or_default();
    let mut meta = Map::new();
    meta.insert("dir".into(), json!(dir));
    meta.insert("level".into(), json!(LEVELS[min]));
    meta.insert("lines".into(), json!(lines));
    Ok(Json(Value::Object(meta)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = r#"{"timestamp":"2026-12-03T10:00:00.000001Z","level":"INFO","fields":{"message":"worker listening","addr":"127.0.0.1:1"},"target":"claude_mem_server::worker"}"#;
    const WARN: &str = r#"{"timestamp":"2026-12-03T10:00:01Z","level":"WARN","fields":{"message":"slow"},"target":"x"}"#;

    #[test]
    fn reads_the_newest_lines_first_at_or_above_the_level() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("worker.log.2026-12-02"),
            format!("{WARN}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("worker.log.2026-12-03"),
            format!("{INFO}\nnot json\n{WARN}\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("other.txt"), "{}").unwrap();
        let all = read_recent(dir.path(), 0, 10);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0]["level"], "warn");
        assert_eq!(all[1]["message"], "worker listening");
        assert_eq!(all[1]["fields"]["addr"], "127.0.0.1:1");
        let warnings = read_recent(dir.path(), rank("warn").unwrap(), 10);
        assert_eq!(warnings.len(), 2);
        assert_eq!(read_recent(dir.path(), 0, 1).len(), 1);
        assert!(read_recent(&dir.path().join("missing"), 0, 10).is_empty());
    }
}
