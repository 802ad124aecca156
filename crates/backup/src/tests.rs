//! Real SQLite files (made by the real store and its migrations), real archives on disk.

use crate::*;
use claude_mem_core::{DataDir, Store};
use sqlx::{ConnectOptions, Connection};
use std::path::Path;

fn quiet(_: &str) {}

/// A data directory whose database the store created, plus a table of our own with rows in it.
async fn data_dir_with_rows(root: &Path, rows: usize) -> DataDir {
    let dir = DataDir::new(root);
    dir.ensure().unwrap();
    let store = Store::open(&dir.database()).await.unwrap();
    store.close().await;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.database())
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE notes (body TEXT)")
        .execute(&mut conn)
        .await
        .unwrap();
    for i in 0..rows {
        sqlx::query("INSERT INTO notes (body) VALUES (?)")
            .bind(format!("note {i}"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    dir
}

async fn backup_to(dir: &DataDir, dest: &Path, scheduled: bool) -> BackupReport {
    let location = Location::Dir(dest.to_owned());
    create_backup(
        BackupRequest {
            database: &dir.database(),
            staging_root: dir.root(),
            location: &location,
            scheduled,
        },
        &quiet,
    )
    .await
    .unwrap()
}

fn archive_ref(path: &Path) -> ArchiveRef {
    ArchiveRef::parse(path.to_str().unwrap()).unwrap()
}

/// Unpacks an archive's members into memory.
fn members(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let file = std::fs::File::open(path).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_str().unwrap().to_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

/// Writes an archive with exactly these members (names taken as given, even hostile ones).
fn write_archive(path: &Path, members: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..`; write the raw name so hostile archives can be made.
        let raw = &mut header.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        tar.append(&header, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[tokio::test]
async fn a_backup_verifies_and_restores_into_a_fresh_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = data_dir_with_rows(&tmp.path().join("data"), 25).await;
    let dest = tmp.path().join("backups");
    let report = backup_to(&dir, &dest, false).await;

    assert!(is_archive_name(&report.name), "{}", report.name);
    assert_eq!(archive_time_ms(&report.name).map(|(_, s)| s), Some(false));
    let archive = dest.join(&report.name);
    let sidecar = std::fs::read_to_string(dest.join(format!("{}.sha256", report.name))).unwrap();
    assert_eq!(sidecar, format!("{}  {}\n", report.sha256, report.name));
    assert_eq!(sha256_file(&archive).unwrap().0, report.sha256);
    assert_eq!(report.manifest.tables["notes"], 25);
    assert!(report.manifest.schema_version >= 1);
    assert!(report.manifest.note.contains("rebuilt"));
    let names: Vec<String> = members(&archive).into_iter().map(|m| m.0).collect();
    assert_eq!(names, [MANIFEST_MEMBER, DB_MEMBER]);
    // No temporary files are left behind in the data directory.
    let leftovers: Vec<_> = std::fs::read_dir(dir.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let fresh = DataDir::new(tmp.path().join("fresh"));
    let verified = verify_archive(&archive_ref(&archive), &tmp.path().join("fresh"), &quiet)
        .await
        .unwrap();
    assert!(verified.sidecar_checked);
    let restored = apply_restore(verified, &fresh).unwrap();
    assert!(restored.replaced_dir.is_none());
    let store = Store::open(&fresh.database()).await.unwrap();
    store.close().await;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(fresh.database())
        .connect()
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 25);
}

#[tokio::test]
async fn a_database_that_does_not_match_its_manifest_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = data_dir_with_rows(&tmp.path().join("data"), 3).await;
    let report = backup_to(&dir, tmp.path(), false).await;
    let parts = members(&tmp.path().join(&report.name));
    let (manifest, mut db) = (parts[0].1.clone(), parts[1].1.clone());
    let last = db.len() - 1;
    db[last] ^= 0xff;

    // Rebuilt without a sidecar, so only the manifest can catch it.
    let forged = tmp.path().join("forged.tar.gz");
    write_archive(&forged, &[(MANIFEST_MEMBER, &manifest), (DB_MEMBER, &db)]);
    let err = verify_archive(&archive_ref(&forged), tmp.path(), &quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match the manifest"), "{err}");

    // A manifest edited to match a database whose rows differ: caught by the counts.
    let mut m: Manifest = serde_json::from_slice(&manifest).unwrap();
    m.tables.insert("notes".into(), 4);
    let edited = serde_json::to_vec(&m).unwrap();
    write_archive(
        &forged,
        &[(MANIFEST_MEMBER, &edited), (DB_MEMBER, &parts[1].1)],
    );
    let err = verify_archive(&archive_ref(&forged), tmp.path(), &quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("row counts differ"), "{err}");
    assert!(
        err.contains("notes: manifest Some(4), database Some(3)"),
        "{err}"
    );

    // A newer schema than this build knows.
    let mut m: Manifest = serde_json::from_slice(&manifest).unwrap();
    m.schema_version = 99_999_999_999_999;
    let edited = serde_json::to_vec(&m).unwrap();
    write_archive(
        &forged,
        &[(MANIFEST_MEMBER, &edited), (DB_MEMBER, &parts[1].1)],
    );
    let err = verify_archive(&archive_ref(&forged), tmp.path(), &quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("upgrade claude-mem"), "{err}");
}

#[tokio::test]
async fn hostile_or_broken_archives_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.tar.gz");
    type Members<'a> = Vec<(&'a str, &'a [u8])>;
    let cases: Vec<(Members, &str)> = vec![
        (vec![("../evil", b"x")], "unexpected member"),
        (vec![("sub/claude-mem.db", b"x")], "unexpected member"),
        (
            vec![(MANIFEST_MEMBER, b"{}"), (MANIFEST_MEMBER, b"{}")],
            "twice",
        ),
        (vec![(DB_MEMBER, b"x")], "before a manifest"),
        (
            vec![(MANIFEST_MEMBER, b"not json")],
            "not a claude-mem manifest",
        ),
    ];
    for (members, expected) in cases {
        write_archive(&path, &members);
        let err = verify_archive(&archive_ref(&path), tmp.path(), &quiet)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{expected}: {err}");
    }
    assert!(!tmp.path().join("evil").exists());

    std::fs::write(&path, b"this is not gzip").unwrap();
    let err = verify_archive(&archive_ref(&path), tmp.path(), &quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("damaged or not a .tar.gz"), "{err}");

    let err = verify_archive(
        &archive_ref(&tmp.path().join("missing.tar.gz")),
        tmp.path(),
        &quiet,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("no backup archive at"), "{err}");
}

#[tokio::test]
async fn a_restore_moves_the_current_data_aside_instead_of_deleting_it() {
    let tmp = tempfile::tempdir().unwrap();
    let source = data_dir_with_rows(&tmp.path().join("source"), 7).await;
    let report = backup_to(&source, &tmp.path().join("b"), false).await;

    let current = data_dir_with_rows(&tmp.path().join("current"), 2).await;
    std::fs::create_dir_all(current.index().join("tantivy")).unwrap();
    std::fs::write(current.index().join("index.json"), b"{}").unwrap();
    std::fs::write(current.root().join("claude-mem.db-wal"), b"").unwrap();
    let old_db = std::fs::read(current.database()).unwrap();

    let archive = tmp.path().join("b").join(&report.name);
    let verified = verify_archive(&archive_ref(&archive), current.root(), &quiet)
        .await
        .unwrap();
    let restored = apply_restore(verified, &current).unwrap();
    let aside = restored.replaced_dir.expect("replaced dir");
    assert!(aside
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("replaced-"));
    assert_eq!(std::fs::read(aside.join("claude-mem.db")).unwrap(), old_db);
    assert!(aside.join("claude-mem.db-wal").exists());
    assert!(aside.join("index/index.json").exists());
    assert!(
        !current.index().exists(),
        "the stale index must not be reused"
    );
    let mut moved = restored.moved.clone();
    moved.sort();
    assert_eq!(moved, ["claude-mem.db", "claude-mem.db-wal", "index"]);
    assert_eq!(
        sha256_file(&current.database()).unwrap().0,
        report.manifest.files[0].sha256
    );
    // Staging directories are gone.
    let hidden: Vec<_> = std::fs::read_dir(current.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[tokio::test]
async fn pruning_keeps_the_newest_scheduled_archives_and_never_manual_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("b");
    std::fs::create_dir_all(&dest).unwrap();
    let day = 86_400_000;
    let base = 1_700_000_000_000;
    for i in 0..5 {
        let name = archive_name(base + i * day, true);
        std::fs::write(dest.join(&name), b"x").unwrap();
        std::fs::write(dest.join(format!("{name}.sha256")), b"x").unwrap();
    }
    let manual = archive_name(base - day, false);
    std::fs::write(dest.join(&manual), b"x").unwrap();
    let location = Location::Dir(dest.clone());
    assert_eq!(
        newest_scheduled_ms(&location).await.unwrap(),
        Some(base + 4 * day)
    );
    let deleted = prune_scheduled(&location, 2).await.unwrap();
    assert_eq!(deleted.len(), 3);
    let left = location.list().await.unwrap();
    assert_eq!(
        left,
        vec![
            manual.clone(),
            archive_name(base + 3 * day, true),
            format!("{}.sha256", archive_name(base + 3 * day, true)),
            archive_name(base + 4 * day, true),
            format!("{}.sha256", archive_name(base + 4 * day, true)),
        ]
    );
}

/// An archive whose manifest and tar header both declare a database of `declared` bytes, followed by
/// only a few bytes of data: what a decompression bomb looks like before it expands.
fn write_bomb(path: &Path, declared: u64, manifest_size: u64) {
    let manifest = serde_json::json!({
        "format_version": 1, "created_at": "2026-01-01T00:00:00Z", "app_version": "0",
        "schema_version": 1, "tables": {}, "note": "",
        "files": [{ "name": DB_MEMBER, "size": manifest_size, "sha256": "00" }],
    })
    .to_string();
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, MANIFEST_MEMBER, manifest.as_bytes())
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(declared);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_path(DB_MEMBER).unwrap();
    header.set_cksum();
    tar.append(&header, &[0u8; 4096][..]).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn declared_sizes_are_checked_before_anything_is_unpacked() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bomb.tar.gz");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // 2 GiB declared, a limit of 1 GiB: refused on the header, the database never created.
    write_bomb(&path, 2 << 30, 2 << 30);
    let archive_len = std::fs::metadata(&path).unwrap().len();
    assert!(archive_len < 64 * 1024, "{archive_len}");
    let err = restore::extract(&path, &out, 1 << 30)
        .unwrap_err()
        .to_string();
    assert!(err.contains("would expand to 2147483648 bytes"), "{err}");
    assert!(!out.join(DB_MEMBER).exists());
    // The header says more than the manifest: refused before writing too.
    write_bomb(&path, 2 << 30, 4096);
    let err = restore::extract(&path, &out, u64::MAX)
        .unwrap_err()
        .to_string();
    assert!(err.contains("but the manifest says 4096"), "{err}");
    assert!(!out.join(DB_MEMBER).exists());
    // Within the limit but the data stops early: no more than the declared size is read, and the
    // short member is reported.
    write_bomb(&path, 8192, 8192);
    let err = restore::extract(&path, &out, 1 << 30)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("damaged") || err.contains("ends after"),
        "{err}"
    );
}

#[tokio::test]
async fn a_restore_larger_than_the_free_space_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("huge.tar.gz");
    write_bomb(&path, 1 << 50, 1 << 50);
    let err = verify_archive(&archive_ref(&path), tmp.path(), &quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("would expand to"), "{err}");
    assert!(restore::restore_limit(tmp.path()) < 1 << 50);
}
