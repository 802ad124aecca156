//! Making a backup: snapshot, manifest, archive, checksum, upload.

use crate::location::{archive_name, archive_time_ms, restrict_to_owner, Location};
use crate::manifest::{self, FileEntry, Manifest, DERIVED_NOTE, FORMAT_VERSION};
use crate::{io_err, sha256_file, sql_err, BackupError, Result, DB_MEMBER, MANIFEST_MEMBER};
use serde::Serialize;
use sqlx::{ConnectOptions, Connection};
use std::path::Path;
use std::time::Duration;

pub struct BackupRequest<'a> {
    /// The live database (the worker may be writing to it).
    pub database: &'a Path,
    /// A directory on the same disk as the data for temporary files (the data directory).
    pub staging_root: &'a Path,
    pub location: &'a Location,
    /// Made by the schedule: named so that `backup.keep` prunes it, and only such archives.
    pub scheduled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The archive's file name.
    pub name: String,
    /// Its full path or URL.
    pub archive: String,
    /// The sidecar holding the archive's checksum.
    pub checksum_file: String,
    pub sha256: String,
    pub size: u64,
    pub manifest: Manifest,
}

/// Takes a consistent snapshot of `database` while it stays in use, packs it with its manifest and
/// puts the archive and its `.sha256` sidecar at the location. `progress` hears each step.
pub async fn create_backup(
    req: BackupRequest<'_>,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<BackupReport> {
    if !req.database.is_file() {
        return Err(BackupError::NoDatabase(req.database.to_owned()));
    }
    std::fs::create_dir_all(req.staging_root).map_err(io_err(format!(
        "cannot create {}",
        req.staging_root.display()
    )))?;
    let staging = tempfile::Builder::new()
        .prefix(".backup-")
        .tempdir_in(req.staging_root)
        .map_err(io_err(format!(
            "cannot create a temporary directory in {}",
            req.staging_root.display()
        )))?;
    let snapshot = staging.path().join(DB_MEMBER);

    progress("snapshotting the database (VACUUM INTO)");
    vacuum_into(req.database, &snapshot).await?;

    progress("checking the snapshot");
    let mut conn = manifest::open_read_only(&snapshot).await?;
    manifest::integrity_check(&mut conn).await?;
    let schema_version = manifest::schema_version(&mut conn).await?;
    let tables = manifest::table_counts(&mut conn).await?;
    let _ = conn.close().await;

    let (sha256, size) = sha256_file(&snapshot)?;
    let now = claude_mem_core::clock::now_ms();
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        created_at: rfc3339(now),
        app_version: claude_mem_core::VERSION.to_owned(),
        schema_version,
        scheduled: req.scheduled,
        tables,
        files: vec![FileEntry {
            name: DB_MEMBER.to_owned(),
            size,
            sha256,
        }],
        note: DERIVED_NOTE.to_owned(),
    };

    let name = free_name(req.location, req.scheduled).await?;
    progress(&format!("packing {name}"));
    let archive = staging.path().join(&name);
    let manifest_json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Other(format!("cannot write the manifest: {e}")))?;
    {
        let archive = archive.clone();
        let snapshot = snapshot.clone();
        tokio::task::spawn_blocking(move || pack(&archive, &manifest_json, &snapshot, now))
            .await
            .map_err(|e| BackupError::Other(format!("packing stopped: {e}")))??;
    }
    let (archive_sha, archive_size) = {
        let archive = archive.clone();
        tokio::task::spawn_blocking(move || sha256_file(&archive))
            .await
            .map_err(|e| BackupError::Other(format!("hashing stopped: {e}")))??
    };
    let sidecar_name = format!("{name}.sha256");
    let sidecar = staging.path().join(&sidecar_name);
    std::fs::write(&sidecar, format!("{archive_sha}  {name}\n"))
        .map_err(io_err(format!("cannot write {}", sidecar.display())))?;

    progress(&format!("writing to {}", req.location.describe()));
    req.location.upload(&archive, &name).await?;
    req.location.upload(&sidecar, &sidecar_name).await?;

    Ok(BackupReport {
        archive: req.location.describe_member(&name),
        checksum_file: req.location.describe_member(&sidecar_name),
        name,
        sha256: archive_sha,
        size: archive_size,
        manifest,
    })
}

/// `VACUUM INTO` from a connection of our own: a read transaction in WAL mode, so writers carry on and
/// the copy is the database as of one instant, compacted.
async fn vacuum_into(database: &Path, snapshot: &Path) -> Result<()> {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(database)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30))
        .disable_statement_logging()
        .connect()
        .await
        .map_err(sql_err(format!("cannot open {}", database.display())))?;
    let target = snapshot
        .to_str()
        .ok_or_else(|| BackupError::Other(format!("{} is not UTF-8", snapshot.display())))?;
    let result = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await
        .map_err(sql_err("VACUUM INTO failed"));
    let _ = conn.close().await;
    result?;
    restrict_to_owner(snapshot)
}

/// A name not taken at the location yet. Names carry the time to the second; a clash (two backups in
/// one second) waits for the next second rather than breaking the name format or its order.
async fn free_name(location: &Location, scheduled: bool) -> Result<String> {
    for _ in 0..5 {
        let now = claude_mem_core::clock::now_ms();
        let name = archive_name(now, scheduled);
        if !location.exists(&name).await? {
            return Ok(name);
        }
        let to_next_second = 1000 - now.rem_euclid(1000) + 10;
        tokio::time::sleep(Duration::from_millis(to_next_second as u64)).await;
    }
    Err(BackupError::Other(format!(
        "no free archive name at {} (another backup keeps taking it)",
        location.describe()
    )))
}

fn pack(archive: &Path, manifest_json: &[u8], snapshot: &Path, now_ms: i64) -> Result<()> {
    let err = || io_err(format!("cannot write {}", archive.display()));
    let file = std::fs::File::create(archive).map_err(err())?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest_json.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(u64::try_from(now_ms / 1000).unwrap_or(0));
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST_MEMBER, manifest_json)
        .map_err(err())?;
    let mut db = std::fs::File::open(snapshot)
        .map_err(io_err(format!("cannot read {}", snapshot.display())))?;
    tar.append_file(DB_MEMBER, &mut db).map_err(err())?;
    let gz = tar.into_inner().map_err(err())?;
    let file = gz.finish().map_err(err())?;
    file.sync_all().map_err(err())?;
    restrict_to_owner(archive)
}

pub(crate) fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{ms} ms since the epoch"))
}

/// The newest scheduled archive at the location: when it was made, by its name.
pub async fn newest_scheduled_ms(location: &Location) -> Result<Option<i64>> {
    Ok(location
        .list()
        .await?
        .iter()
        .filter_map(|n| archive_time_ms(n))
        .filter(|(_, scheduled)| *scheduled)
        .map(|(ms, _)| ms)
        .max())
}

/// Deletes scheduled archives (and their sidecars) beyond the newest `keep`; archives made by hand
/// are never touched. Returns the deleted archives' names.
pub async fn prune_scheduled(location: &Location, keep: usize) -> Result<Vec<String>> {
    let mut scheduled: Vec<(i64, String)> = location
        .list()
        .await?
        .into_iter()
        .filter_map(|n| match archive_time_ms(&n) {
            Some((ms, true)) => Some((ms, n)),
            _ => None,
        })
        .collect();
    scheduled.sort();
    let excess = scheduled.len().saturating_sub(keep);
    let mut deleted = Vec::new();
    for (_, name) in scheduled.into_iter().take(excess) {
        location.delete(&format!("{name}.sha256")).await?;
        location.delete(&name).await?;
        deleted.push(name);
    }
    Ok(deleted)
}
