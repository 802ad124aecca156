//! Restoring: fetch, verify everything, and only then swap the database in, keeping the old data.

use crate::create::rfc3339;
use crate::location::{ArchiveRef, Location};
use crate::manifest::{self, Manifest, FORMAT_VERSION};
use crate::{io_err, sha256_file, BackupError, Result, DB_MEMBER, MANIFEST_MEMBER};
use claude_mem_core::DataDir;
use serde::Serialize;
use sqlx::Connection;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The manifest is a few KiB; anything far larger is not ours.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// An archive that passed every check, extracted and waiting in a staging directory.
#[derive(Debug)]
pub struct VerifiedBackup {
    pub manifest: Manifest,
    /// Where it came from (path or URL).
    pub archive: String,
    pub sha256: String,
    /// The `.sha256` sidecar was there and matched (an archive copied without it is still checked
    /// member by member through the manifest).
    pub sidecar_checked: bool,
    db: PathBuf,
    _staging: tempfile::TempDir,
}

#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub database: PathBuf,
    /// Where the replaced database and index went; None when there was nothing to replace.
    pub replaced_dir: Option<PathBuf>,
    /// The names moved there.
    pub moved: Vec<String>,
}

fn verify(reason: impl Into<String>) -> BackupError {
    BackupError::Verify(reason.into())
}

/// Fetches the archive if remote, then checks the sidecar checksum (when present), each member against
/// the manifest, `PRAGMA integrity_check` and the row counts. Nothing outside `staging_root`'s
/// temporary directory is written.
pub async fn verify_archive(
    archive: &ArchiveRef,
    staging_root: &Path,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<VerifiedBackup> {
    std::fs::create_dir_all(staging_root)
        .map_err(io_err(format!("cannot create {}", staging_root.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(".restore-")
        .tempdir_in(staging_root)
        .map_err(io_err(format!(
            "cannot create a temporary directory in {}",
            staging_root.display()
        )))?;
    let described = archive.describe();
    let sidecar_name = format!("{}.sha256", archive.name);

    let (local, sidecar_text) = match &archive.location {
        Location::Dir(dir) => {
            let path = dir.join(&archive.name);
            if !path.is_file() {
                return Err(BackupError::Other(format!(
                    "no backup archive at {described}"
                )));
            }
            let sidecar = match std::fs::read_to_string(dir.join(&sidecar_name)) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(io_err(format!(
                        "cannot read {}",
                        dir.join(&sidecar_name).display()
                    ))(e))
                }
            };
            (path, sidecar)
        }
        remote @ Location::Remote { .. } => {
            progress(&format!("downloading {described}"));
            let path = staging.path().join("archive.tar.gz");
            if !remote.download(&archive.name, &path).await? {
                return Err(BackupError::Other(format!(
                    "no backup archive at {described}"
                )));
            }
            let sidecar_path = staging.path().join("archive.sha256");
            let sidecar = if remote.download(&sidecar_name, &sidecar_path).await? {
                Some(
                    std::fs::read_to_string(&sidecar_path)
                        .map_err(io_err(format!("cannot read {}", sidecar_path.display())))?,
                )
            } else {
                None
            };
            (path, sidecar)
        }
    };

    progress("checking the archive's checksum");
    let (sha256, _) = {
        let local = local.clone();
        tokio::task::spawn_blocking(move || sha256_file(&local))
            .await
            .map_err(|e| BackupError::Other(format!("hashing stopped: {e}")))??
    };
    let sidecar_checked = match sidecar_text {
        Some(text) => {
            let expected = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(verify(format!("{sidecar_name} does not hold a SHA-256")));
            }
            if expected != sha256 {
                return Err(verify(format!(
                    "the archive's SHA-256 is {sha256}, but {sidecar_name} says {expected}: it was \
                     changed or damaged after the backup"
                )));
            }
            true
        }
        None => false,
    };

    progress("extracting");
    let out = staging.path().join("extracted");
    std::fs::create_dir(&out).map_err(io_err(format!("cannot create {}", out.display())))?;
    let limit = restore_limit(&out);
    let members = {
        let (local, out) = (local.clone(), out.clone());
        tokio::task::spawn_blocking(move || extract(&local, &out, limit))
            .await
            .map_err(|e| BackupError::Other(format!("extraction stopped: {e}")))??
    };
    if !members.contains(MANIFEST_MEMBER) {
        return Err(verify("the archive has no manifest.json"));
    }
    let manifest_text = std::fs::read(out.join(MANIFEST_MEMBER))
        .map_err(io_err("cannot read the extracted manifest"))?;
    let manifest: Manifest = serde_json::from_slice(&manifest_text)
        .map_err(|e| verify(format!("manifest.json is not a claude-mem manifest: {e}")))?;
    if manifest.format_version == 0 || manifest.format_version > FORMAT_VERSION {
        return Err(verify(format!(
            "archive format {} is not one this claude-mem reads (up to {FORMAT_VERSION}); upgrade \
             claude-mem to restore it",
            manifest.format_version
        )));
    }
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    if !listed.contains(DB_MEMBER) {
        return Err(verify("the manifest lists no database"));
    }
    for member in &members {
        if member != MANIFEST_MEMBER && !listed.contains(member.as_str()) {
            return Err(verify(format!(
                "{member} is in the archive but not in its manifest"
            )));
        }
    }
    progress("checking each file against the manifest");
    for entry in &manifest.files {
        if !members.contains(&entry.name) {
            return Err(verify(format!(
                "{} is in the manifest but not in the archive",
                entry.name
            )));
        }
        let (sha, size) = sha256_file(&out.join(&entry.name))?;
        if size != entry.size || sha != entry.sha256.to_ascii_lowercase() {
            return Err(verify(format!(
                "{} does not match the manifest (size {size}, SHA-256 {sha}; the manifest says \
                 size {}, SHA-256 {})",
                entry.name, entry.size, entry.sha256
            )));
        }
    }

    let known = manifest::known_schema_version();
    if manifest.schema_version > known {
        return Err(verify(format!(
            "the backup's database schema ({}) is newer than this claude-mem knows ({known}); \
             upgrade claude-mem (the backup was made by {}) to restore it",
            manifest.schema_version, manifest.app_version
        )));
    }

    progress("checking the database (PRAGMA integrity_check, row counts)");
    let db = out.join(DB_MEMBER);
    let mut conn = manifest::open_read_only(&db)
        .await
        .map_err(|e| verify(format!("the database does not open: {e}")))?;
    let checked = async {
        manifest::integrity_check(&mut conn).await?;
        let schema = manifest::schema_version(&mut conn).await?;
        if schema != manifest.schema_version {
            return Err(verify(format!(
                "the database's schema version is {schema}, the manifest says {}",
                manifest.schema_version
            )));
        }
        let counts = manifest::table_counts(&mut conn).await?;
        if counts != manifest.tables {
            let diff = manifest
                .tables
                .iter()
                .map(|(t, n)| (t.as_str(), Some(*n), counts.get(t).copied()))
                .chain(
                    counts
                        .iter()
                        .filter(|(t, _)| !manifest.tables.contains_key(*t))
                        .map(|(t, n)| (t.as_str(), None, Some(*n))),
                )
                .filter(|(_, want, got)| want != got)
                .map(|(t, want, got)| format!("{t}: manifest {want:?}, database {got:?}"))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(verify(format!(
                "row counts differ from the manifest ({diff})"
            )));
        }
        Ok(())
    }
    .await;
    let _ = conn.close().await;
    checked?;

    Ok(VerifiedBackup {
        manifest,
        archive: described,
        sha256,
        sidecar_checked,
        db,
        _staging: staging,
    })
}

/// Set to a number of bytes, the most a restore may unpack (also capped by the free space).
pub const MAX_BYTES_ENV: &str = "CLAUDE_MEM_RESTORE_MAX_BYTES";
/// Left free on the disk after unpacking, so a restore never fills it.
const FREE_SPACE_MARGIN: u64 = 64 << 20;

/// How many bytes the database in an archive may expand to: the free space where it is unpacked (less
/// a margin), and at most [`MAX_BYTES_ENV`] when set.
pub fn restore_limit(staging: &Path) -> u64 {
    let free = fs4::available_space(staging)
        .map(|n| n.saturating_sub(FREE_SPACE_MARGIN))
        .unwrap_or(u64::MAX);
    let cap = std::env::var(MAX_BYTES_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    free.min(cap)
}

/// Unpacks only `manifest.json` and `claude-mem.db`, as plain files at the top level: anything else
/// (directories, links, `../` paths, duplicates) means the archive is not one of ours.
///
/// Sizes are checked before anything is written: the manifest comes first (as [`crate::create`] writes
/// it) and is read into memory (at most [`MAX_MANIFEST_BYTES`]); the database's size in its tar header
/// must equal the manifest's and fit in `limit` (a 9 MB archive whose header says 2 GiB is refused
/// without unpacking a byte of it), and no more than the declared size is ever copied.
pub(crate) fn extract(archive: &Path, out: &Path, limit: u64) -> Result<BTreeSet<String>> {
    let file = std::fs::File::open(archive)
        .map_err(io_err(format!("cannot read {}", archive.display())))?;
    let damaged =
        |e: std::io::Error| verify(format!("the archive is damaged or not a .tar.gz: {e}"));
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut seen = BTreeSet::new();
    let mut declared_db: Option<u64> = None;
    for entry in tar.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let path = entry.path().map_err(damaged)?.into_owned();
        let name = path.to_str().unwrap_or("").to_owned();
        if name != MANIFEST_MEMBER && name != DB_MEMBER {
            return Err(verify(format!(
                "unexpected member {:?} in the archive",
                path.display()
            )));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(verify(format!("{name} is not a plain file")));
        }
        if !seen.insert(name.clone()) {
            return Err(verify(format!("{name} is in the archive twice")));
        }
        let size = entry.size();
        let target = out.join(&name);
        if name == MANIFEST_MEMBER {
            if size > MAX_MANIFEST_BYTES {
                return Err(verify("manifest.json is far too large"));
            }
            let mut text = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(MAX_MANIFEST_BYTES + 1)
                .read_to_end(&mut text)
                .map_err(damaged)?;
            if text.len() as u64 > MAX_MANIFEST_BYTES {
                return Err(verify("manifest.json is far too large"));
            }
            declared_db = serde_json::from_slice::<Manifest>(&text)
                .ok()
                .and_then(|m| m.files.iter().find(|f| f.name == DB_MEMBER).map(|f| f.size));
            std::fs::write(&target, &text)
                .map_err(io_err(format!("cannot write {}", target.display())))?;
            continue;
        }
        // The database: its size is known from the header and the manifest before a byte is written.
        let Some(expected) = declared_db else {
            return Err(verify(
                "the database comes before a manifest that lists it (not an archive claude-mem made)",
            ));
        };
        if size != expected {
            return Err(verify(format!(
                "{name} is {size} bytes in the archive's header, but the manifest says {expected}"
            )));
        }
        if size > limit {
            return Err(verify(format!(
                "{name} would expand to {size} bytes, more than the {limit} bytes this restore may                  write (the free space, less a margin, or {MAX_BYTES_ENV}); nothing was unpacked"
            )));
        }
        let mut dest = std::fs::File::create(&target)
            .map_err(io_err(format!("cannot write {}", target.display())))?;
        let copied = std::io::copy(&mut (&mut entry).take(size), &mut dest).map_err(damaged)?;
        if copied != size {
            return Err(verify(format!(
                "{name} ends after {copied} of its {size} bytes"
            )));
        }
    }
    // tar stops at its end marker; reading on to the end makes gzip check its trailer (CRC, length).
    let mut rest = tar.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(damaged)?;
    Ok(seen)
}

/// Moves the current database (with its -wal and -shm) and the index directory into
/// `<data>/replaced-<UTC time>/`, then puts the verified database in place. The index is moved, not
/// kept, so the worker rebuilds it from the restored database instead of trusting one made from the
/// replaced data. The worker must not be running.
pub fn apply_restore(verified: VerifiedBackup, data_dir: &DataDir) -> Result<Restored> {
    data_dir.ensure().map_err(io_err(format!(
        "cannot create {}",
        data_dir.root().display()
    )))?;
    let database = data_dir.database();
    let db_name = database
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(DB_MEMBER)
        .to_owned();
    let candidates: Vec<(String, PathBuf)> = vec![
        (db_name.clone(), database.clone()),
        (
            format!("{db_name}-wal"),
            data_dir.root().join(format!("{db_name}-wal")),
        ),
        (
            format!("{db_name}-shm"),
            data_dir.root().join(format!("{db_name}-shm")),
        ),
        ("index".to_owned(), data_dir.index()),
    ];
    let present: Vec<&(String, PathBuf)> = candidates
        .iter()
        .filter(|(_, p)| p.symlink_metadata().is_ok())
        .collect();

    let mut replaced_dir = None;
    let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
    if !present.is_empty() {
        let dir = free_replaced_dir(data_dir.root());
        std::fs::create_dir(&dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
        for (name, from) in present {
            let to = dir.join(name);
            if let Err(e) = std::fs::rename(from, &to) {
                undo(&moved);
                return Err(io_err(format!(
                    "cannot move {} to {} (nothing was changed)",
                    from.display(),
                    to.display()
                ))(e));
            }
            moved.push((from.clone(), to));
        }
        replaced_dir = Some(dir);
    }
    if let Err(e) = std::fs::rename(&verified.db, &database) {
        undo(&moved);
        return Err(io_err(format!(
            "cannot put the restored database at {} (the old data was put back)",
            database.display()
        ))(e));
    }
    Ok(Restored {
        database,
        replaced_dir,
        moved: moved
            .iter()
            .filter_map(|(_, to)| to.file_name().and_then(|n| n.to_str()).map(str::to_owned))
            .collect(),
    })
}

fn undo(moved: &[(PathBuf, PathBuf)]) {
    for (from, to) in moved.iter().rev() {
        if let Err(e) = std::fs::rename(to, from) {
            tracing::error!(from = %to.display(), to = %from.display(), error = %e, "could not put data back");
        }
    }
}

fn free_replaced_dir(root: &Path) -> PathBuf {
    let stamp: String = rfc3339(claude_mem_core::clock::now_ms())
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let stamp = format!(
        "{}-{}",
        &stamp[..8.min(stamp.len())],
        &stamp[8.min(stamp.len())..]
    );
    let base = root.join(format!("replaced-{stamp}"));
    if base.symlink_metadata().is_err() {
        return base;
    }
    (2..)
        .map(|n| root.join(format!("replaced-{stamp}-{n}")))
        .find(|p| p.symlink_metadata().is_err())
        .unwrap_or(base)
}
