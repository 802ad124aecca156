//! The hook spool: where `claude-mem hook` leaves an event the worker could not take (down, hung,
//! restarting, answering 5xx), so the worker stores it later instead of the event being lost.
//!
//! # Layout and format
//!
//! `<data dir>/spool/` (0700) holds one file per event (0600), named
//! `{received_at_ms:013}-{pid}-{nanos}.hook` so that a plain name sort is arrival order. A file is a
//! one-line JSON header, a newline, then the body exactly:
//!
//! ```text
//! {"v":1,"event":"PostToolUse","received_at_ms":1764750000000,"len":123}
//! {"session_id":"…", …}
//! ```
//!
//! The body is the event *after* the privacy filter (the hook runs [`crate::HookEvent::parse`] before it
//! spools), so no secret or `<private>` span ever reaches the disk, here as anywhere else. Filtering is
//! idempotent, so the worker's own parse of the spooled body derives the same dedup key as it did (or
//! would have) for the live delivery: a hung worker that stored the live copy answers the spooled copy as
//! a duplicate (`IngestOutcome::Duplicate`), and the event is stored once.
//!
//! # Why one file per event, not an append-only log
//!
//! - Claude Code runs hooks in parallel (tool calls of one turn, several sessions): many short-lived
//!   writer processes at once. A file each needs no lock, and a torn write (the hook killed at its
//!   timeout, a full disk) lands in a dot-named temp file that the reader never picks up, never in the
//!   middle of other events.
//! - The worker deletes an entry only after its ingest committed. With a file each that is one unlink;
//!   a log would need a cursor or a rewrite, and its own crash safety.
//! - The cost is one fsync of the file and one of the directory per spooled event, paid only when the
//!   worker did not answer.
//!
//! An entry that cannot be read back (truncated, not this format, an invalid event name) is moved into
//! `spool/quarantine/` with the reason logged, never deleted and never retried; the rest drain as usual.

use crate::hook_event::normalize_event_name;
use crate::paths::DataDir;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The spool's directory name inside the data directory.
pub const DIR: &str = "spool";
/// Where unreadable entries are moved (inside the spool directory).
pub const QUARANTINE_DIR: &str = "quarantine";
/// The extension of a complete entry. Temp files start with `.` and never carry it.
const EXT: &str = "hook";
const VERSION: u32 = 1;

/// At most this many entries wait in the spool: a worker that never comes back must not fill the disk.
/// Past it, new events are dropped (the hook says so under `CLAUDE_MEM_DEBUG=1`).
pub const MAX_ENTRIES: usize = 20_000;
/// In the spool directory: touched by a hook whose worker accepted the connection but did not answer
/// within the budget. While it is younger than [`UNRESPONSIVE_WINDOW`], hooks give the worker a short
/// probe instead of the whole budget, so a hung worker costs one budget, not one per tool call.
const UNRESPONSIVE_MARKER: &str = ".worker-unresponsive";
/// How long one timeout makes the next hooks wary (each further timeout renews it).
pub const UNRESPONSIVE_WINDOW: Duration = Duration::from_secs(10);
/// Temp files older than this are leftovers of a hook killed mid-write: the reader removes them.
const STALE_TEMP: Duration = Duration::from_secs(600);

/// One spooled hook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Canonical event name (`PostToolUse`).
    pub event: String,
    /// When the hook received it, Unix milliseconds.
    pub received_at_ms: i64,
    /// The hook body, privacy-filtered.
    pub body: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    v: u32,
    event: String,
    received_at_ms: i64,
    len: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The file could not be read (gone, permissions): leave it, try later.
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// The file is not a complete entry: quarantine it.
    #[error("corrupt spool entry: {0}")]
    Corrupt(String),
}

impl Entry {
    /// The entry as it is written to disk.
    pub fn encode(&self) -> Vec<u8> {
        let header = Header {
            v: VERSION,
            event: self.event.clone(),
            received_at_ms: self.received_at_ms,
            len: self.body.len(),
        };
        // A struct of plain fields always serialises.
        let mut out = serde_json::to_vec(&header).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads an entry back; anything but a complete, well-formed entry is [`SpoolError::Corrupt`].
    pub fn decode(bytes: &[u8]) -> Result<Self, SpoolError> {
        let newline = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| SpoolError::Corrupt("no header line".into()))?;
        let header: Header = serde_json::from_slice(&bytes[..newline])
            .map_err(|e| SpoolError::Corrupt(format!("unreadable header: {e}")))?;
        if header.v != VERSION {
            return Err(SpoolError::Corrupt(format!(
                "format version {} (this build reads {VERSION})",
                header.v
            )));
        }
        let event =
            normalize_event_name(&header.event).map_err(|e| SpoolError::Corrupt(e.to_string()))?;
        let body = &bytes[newline + 1..];
        if body.len() != header.len {
            return Err(SpoolError::Corrupt(format!(
                "body is {} bytes, the header says {} (truncated?)",
                body.len(),
                header.len
            )));
        }
        Ok(Self {
            event,
            received_at_ms: header.received_at_ms,
            body: body.to_vec(),
        })
    }
}

/// The spool directory of one data directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `<data dir>/spool`.
    pub fn in_data_dir(data_dir: &DataDir) -> Self {
        Self::new(data_dir.root().join(DIR))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `entry` durably: a temp file (0600) written and fsynced, renamed to its final name, the
    /// directory fsynced. Creates the directory (0700, and the data directory if missing). Refuses when
    /// the spool already holds [`MAX_ENTRIES`].
    pub fn write(&self, entry: &Entry) -> io::Result<PathBuf> {
        create_private_dir(&self.dir)?;
        if self.count_up_to(MAX_ENTRIES) >= MAX_ENTRIES {
            return Err(io::Error::other(format!(
                "the spool is full ({MAX_ENTRIES} entries): is the worker ever started?"
            )));
        }
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{:013}-{}-{nanos:09}.{EXT}",
            entry.received_at_ms.max(0),
            std::process::id()
        );
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let result = (|| {
            let mut file = create_new_private(&tmp)?;
            file.write_all(&entry.encode())?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, &path)?;
            sync_dir(&self.dir);
            Ok(path.clone())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Complete entries, oldest first. A missing directory is an empty spool. Removes stale temp files
    /// on the way (a hook killed mid-write).
    pub fn pending(&self) -> io::Result<Vec<PathBuf>> {
        let read = match std::fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut entries = Vec::new();
        for item in read.flatten() {
            let path = item.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with('.') {
                let stale = item
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE_TEMP);
                if stale {
                    tracing::info!(file = %path.display(), "removing a spool temp file left by a killed hook");
                    let _ = std::fs::remove_file(&path);
                }
                continue;
            }
            if path.extension().is_some_and(|e| e == EXT)
                && item.file_type().is_ok_and(|t| t.is_file())
            {
                entries.push(path);
            }
        }
        entries.sort();
        Ok(entries)
    }

    /// How many complete entries wait (0 when the directory is missing or unreadable).
    pub fn backlog(&self) -> usize {
        self.count_up_to(usize::MAX)
    }

    fn count_up_to(&self, limit: usize) -> usize {
        let suffix = format!(".{EXT}");
        std::fs::read_dir(&self.dir)
            .map(|read| {
                read.flatten()
                    .filter(|e| {
                        let name = e.file_name();
                        let name = name.to_string_lossy();
                        !name.starts_with('.') && name.ends_with(&suffix)
                    })
                    .take(limit)
                    .count()
            })
            .unwrap_or(0)
    }

    /// Reads one entry.
    pub fn read(&self, path: &Path) -> Result<Entry, SpoolError> {
        let bytes = std::fs::read(path).map_err(|source| SpoolError::Io {
            path: path.to_owned(),
            source,
        })?;
        Entry::decode(&bytes)
    }

    /// Deletes an entry whose event is committed (already gone is fine: another drainer took it).
    pub fn remove(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Moves an entry that can never be stored into `quarantine/`, with the reason beside it
    /// (`<name>.reason`), for a person to look at.
    pub fn quarantine(&self, path: &Path, reason: &str) -> io::Result<PathBuf> {
        let dir = self.dir.join(QUARANTINE_DIR);
        create_private_dir(&dir)?;
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other("an entry without a file name"))?;
        let target = dir.join(name);
        std::fs::rename(path, &target)?;
        let mut note = target.clone().into_os_string();
        note.push(".reason");
        if let Ok(mut f) = create_new_private(Path::new(&note)) {
            let _ = writeln!(f, "{reason}");
        }
        Ok(target)
    }

    /// Records that the worker took a connection and never answered (see [`UNRESPONSIVE_MARKER`]).
    pub fn mark_worker_unresponsive(&self) -> io::Result<()> {
        create_private_dir(&self.dir)?;
        let path = self.dir.join(UNRESPONSIVE_MARKER);
        // Rewritten whole, so the mtime is now (an `open` alone would not move it).
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.write_all(b"1")
    }

    /// Whether a hook found the worker unresponsive within the last [`UNRESPONSIVE_WINDOW`].
    pub fn worker_unresponsive_recently(&self) -> bool {
        std::fs::metadata(self.dir.join(UNRESPONSIVE_MARKER))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < UNRESPONSIVE_WINDOW)
    }

    /// The worker answered again.
    pub fn clear_worker_unresponsive(&self) {
        let _ = std::fs::remove_file(self.dir.join(UNRESPONSIVE_MARKER));
    }

    /// Entries in quarantine (0 when none).
    pub fn quarantined(&self) -> usize {
        std::fs::read_dir(self.dir.join(QUARANTINE_DIR))
            .map(|read| {
                read.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == EXT))
                    .count()
            })
            .unwrap_or(0)
    }
}

/// Creates `dir` and any missing parent private to the user (0700 on Unix).
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// A new file (never an existing one, so two hooks can never share a temp file), 0600 on Unix.
fn create_new_private(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Makes the rename durable (best effort: not every platform can open a directory).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HookEvent;

    fn entry(event: &str, body: &str) -> Entry {
        Entry {
            event: event.into(),
            received_at_ms: 1_764_750_000_000,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn entries_round_trip_in_arrival_order_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::new(tmp.path().join("data/spool"));
        assert_eq!(spool.pending().unwrap(), Vec::<PathBuf>::new());
        let mut later = entry("Stop", r#"{"session_id":"s"}"#);
        later.received_at_ms += 5;
        let first = entry("PostToolUse", "{\"a\":\n1}");
        let b = spool.write(&later).unwrap();
        let a = spool.write(&first).unwrap();
        assert_eq!(spool.pending().unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(spool.backlog(), 2);
        assert_eq!(spool.read(&a).unwrap(), first);
        assert_eq!(spool.read(&b).unwrap(), later);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(spool.dir()), 0o700);
            assert_eq!(mode(&tmp.path().join("data")), 0o700);
            assert_eq!(mode(&a), 0o600);
        }
        spool.remove(&a).unwrap();
        spool.remove(&a).unwrap();
        assert_eq!(spool.pending().unwrap(), vec![b]);
    }

    #[test]
    fn damaged_entries_are_corrupt_and_quarantined_aside() {
        let whole = entry("PostToolUse", r#"{"session_id":"s","tool_name":"Bash"}"#).encode();
        for (name, bytes) in [
            ("truncated", whole[..whole.len() - 3].to_vec()),
            ("no header", b"garbage".to_vec()),
            ("bad header", b"{\"v\":1}\n{}".to_vec()),
            (
                "future version",
                b"{\"v\":9,\"event\":\"Stop\",\"received_at_ms\":1,\"len\":2}\n{}".to_vec(),
            ),
            (
                "bad event",
                b"{\"v\":1,\"event\":\"../x\",\"received_at_ms\":1,\"len\":2}\n{}".to_vec(),
            ),
            ("empty", Vec::new()),
        ] {
            assert!(
                matches!(Entry::decode(&bytes), Err(SpoolError::Corrupt(_))),
                "{name} was read as an entry"
            );
        }
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::new(tmp.path().join("spool"));
        let good = spool.write(&entry("Stop", "{}")).unwrap();
        let bad = spool.dir().join("0000000000001-1-000000000.hook");
        std::fs::write(&bad, &whole[..10]).unwrap();
        let moved = spool.quarantine(&bad, "truncated").unwrap();
        assert!(moved.starts_with(spool.dir().join(QUARANTINE_DIR)));
        assert_eq!(spool.pending().unwrap(), vec![good]);
        assert_eq!(spool.quarantined(), 1);
    }

    #[test]
    fn an_unresponsive_mark_is_recent_until_cleared_and_never_an_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::new(tmp.path().join("spool"));
        assert!(!spool.worker_unresponsive_recently());
        spool.mark_worker_unresponsive().unwrap();
        assert!(spool.worker_unresponsive_recently());
        assert!(spool.pending().unwrap().is_empty());
        assert_eq!(spool.backlog(), 0);
        spool.clear_worker_unresponsive();
        assert!(!spool.worker_unresponsive_recently());
    }

    #[test]
    fn temp_files_are_never_pending() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::new(tmp.path());
        std::fs::write(tmp.path().join(".0000000000001-1-1.hook.tmp"), "half").unwrap();
        std::fs::write(tmp.path().join("notes.txt"), "x").unwrap();
        assert!(spool.pending().unwrap().is_empty());
        assert_eq!(spool.backlog(), 0);
    }

    /// The spool keeps the filtered body; the worker filters it again. The dedup key must not change,
    /// or a hung worker that stored the live copy would store the spooled one too.
    #[test]
    fn refiltering_a_spooled_body_keeps_its_dedup_key() {
        let bodies = [
            (
                "UserPromptSubmit",
                r#"{"session_id":"s1","cwd":"/x/app","prompt":"deploy with ANTHROPIC_API_KEY=sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA and <private>my pin 1234</private> then","n":5.555555555555555e+49}"#,
            ),
            (
                "Stop",
                r#"{"session_id":"s1","note":"token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB, password=hunter2hunter2","nested":{"Authorization":"Bearer abcdefghijklmnopqrstuvwxyz0123456789"}}"#,
            ),
            (
                "PostToolUse",
                r#"{"session_id":"s1","tool_name":"Bash","tool_use_id":"t1","tool_response":{"stdout":"AKIAIOSFODNN7EXAMPLE <private>x"}}"#,
            ),
        ];
        for (event, body) in bodies {
            let live = HookEvent::parse(event, body.as_bytes()).unwrap();
            let spooled = HookEvent::parse(event, live.payload_json().as_bytes()).unwrap();
            assert_eq!(live.event_key, spooled.event_key, "{event}: {body}");
            assert_eq!(live.payload_json(), spooled.payload_json());
        }
    }
}
