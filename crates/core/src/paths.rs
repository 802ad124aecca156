//! Where claude-mem keeps its files. One directory holds everything (database, settings, derived
//! indexes, logs, backups) so that a backup or a move is a single folder.

use std::io;
use std::path::{Path, PathBuf};

/// Environment variable that moves the whole data directory (tests, portable installs).
pub const DATA_DIR_ENV: &str = "CLAUDE_MEM_DATA_DIR";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$CLAUDE_MEM_DATA_DIR`, else `~/.claude-mem`.
    pub fn resolve() -> io::Result<Self> {
        if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
            return Ok(Self::new(dir));
        }
        let home = directories::BaseDirs::new()
            .map(|b| b.home_dir().to_path_buf())
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "cannot find the home directory")
            })?;
        Ok(Self::new(home.join(".claude-mem")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("claude-mem.db")
    }
    pub fn settings(&self) -> PathBuf {
        self.root.join("settings.json")
    }
    pub fn index(&self) -> PathBuf {
        self.root.join("index")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn backups(&self) -> PathBuf {
        self.root.join("backups")
    }

    /// The custom compression prompt `compression.mode = custom` reads: `prompts/compression.md`.
    pub fn compression_prompt(&self) -> PathBuf {
        self.root.join("prompts").join("compression.md")
    }

    /// The bearer token clients on other machines must send when the worker listens beyond loopback.
    pub fn api_token(&self) -> PathBuf {
        self.root.join("api-token")
    }

    /// Creates the directory private to the user (0700): it holds prompts and tool output. A directory
    /// that already exists with looser modes (made by hand, restored from an archive, created under a
    /// permissive umask) is tightened too, with a warning, and so are the files in it that hold data.
    pub fn ensure(&self) -> io::Result<()> {
        if !self.root.exists() {
            // Private from its creation, so a fresh data directory is not reported (and fixed) as loose.
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(&self.root)?;
        }
        std::fs::create_dir_all(&self.root)?;
        #[cfg(unix)]
        {
            if let Some(old) = restrict(&self.root, 0o700).map_err(|e| named(&self.root, e))? {
                tracing::warn!(
                    path = %self.root.display(),
                    mode = format!("{old:o}"),
                    "the data directory was readable by other users; set it to 0700"
                );
            }
        }
        self.secure_files()?;
        Ok(())
    }

    /// The files holding user data or secrets, which must be private (0600) whatever the umask was
    /// when they were created.
    pub fn private_files(&self) -> Vec<PathBuf> {
        let db = self.database();
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        let mut shm = db.clone().into_os_string();
        shm.push("-shm");
        vec![
            db,
            PathBuf::from(wal),
            PathBuf::from(shm),
            self.settings(),
            crate::Settings::last_good_path(&self.settings()),
            self.api_token(),
        ]
    }

    /// Sets every existing private file to 0600; returns the ones that were looser. Called again after
    /// the database is opened, because SQLite creates it (and its WAL) under the process umask.
    pub fn secure_files(&self) -> io::Result<Vec<PathBuf>> {
        // Mutated only on unix (modes are a unix notion); elsewhere nothing is ever fixed.
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut fixed = Vec::new();
        #[cfg(unix)]
        for path in self.private_files() {
            match restrict(&path, 0o600) {
                Ok(Some(old)) => {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{old:o}"),
                        "a data file was readable by other users; set it to 0600"
                    );
                    fixed.push(path);
                }
                Ok(None) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(named(&path, e)),
            }
        }
        Ok(fixed)
    }
}

/// Replaces `path` with `bytes` so that readers see either the old or the new file, never a mix: a temp
/// file in the same directory, written, fsynced, renamed over `path`, and the directory fsynced. The new
/// file keeps the mode of the one it replaces; a file that did not exist is created private (0600), so
/// no file claude-mem writes is ever readable by other users because of the umask. The one helper for
/// every file we write whole (settings, the token, index manifests and stamps, install backups).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(m) => m.permissions().mode() & 0o7777,
            Err(_) => 0o600,
        }
    };
    #[cfg(not(unix))]
    let mode = 0o600;
    write_atomically_with_mode(path, bytes, mode)
}

/// [`write_atomically`] with an explicit mode for the new file (Unix; ignored elsewhere).
pub fn write_atomically_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(io::Error::other(format!(
            "{} is a directory, not a file: move it away",
            path.display()
        )));
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = create_with_mode(&tmp, mode)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates (or truncates) `path` with `mode` from its first byte (Unix): no window in which the umask's
/// mode exposes what is written. A leftover file keeps its old mode through `open`, so it is forced.
pub fn create_with_mode(path: &Path, mode: u32) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(file)
}

/// Creates (or truncates) `path` private to the user (0600).
pub fn create_private(path: &Path) -> io::Result<std::fs::File> {
    create_with_mode(path, 0o600)
}

/// Makes a rename in `dir` durable (best effort: not every platform can open a directory).
fn sync_dir(dir: Option<&Path>) {
    #[cfg(unix)]
    if let Some(dir) = dir {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// `e` with the path it is about and [`io_hint`]'s cause in its message (same kind).
pub fn named(path: &Path, e: io::Error) -> io::Error {
    let hint = io_hint(path, &e);
    io::Error::new(e.kind(), format!("{}: {e}{hint}", path.display()))
}

/// What an I/O error on `path` is really about, as a parenthesised hint for the message (empty when
/// there is nothing to add): a directory where a file must be, or a file the user running claude-mem
/// cannot write because another user owns it or its mode forbids it.
pub fn io_hint(path: &Path, e: &io::Error) -> String {
    let meta = std::fs::metadata(path).ok();
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        return format!(
            " ({} is a directory; claude-mem needs a file there: move it away)",
            path.display()
        );
    }
    if e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(30) {
        return permission_hint(path, meta.as_ref());
    }
    String::new()
}

/// Why `path` cannot be written: another owner, or its mode (empty when neither explains it).
pub fn permission_hint(path: &Path, meta: Option<&std::fs::Metadata>) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let Some(meta) = meta else {
            return String::new();
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return format!(
                " ({} is owned by uid {}, not by the user running claude-mem (uid {me}): `sudo chown {me} {}`)",
                path.display(),
                meta.uid(),
                path.display()
            );
        }
        if meta.permissions().mode() & 0o200 == 0 {
            return format!(
                " ({} is read-only (mode {:o}): `chmod u+w {}`)",
                path.display(),
                meta.permissions().mode() & 0o7777,
                path.display()
            );
        }
        String::new()
    }
    #[cfg(not(unix))]
    {
        let _ = (path, meta);
        String::new()
    }
}

/// Clears every permission bit outside `mode`; returns the old mode when it had to change.
#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> io::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    let old = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if old & !mode == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(Some(old))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_existing_loose_directory_and_its_files_are_made_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("data"));
        std::fs::create_dir_all(dir.root()).unwrap();
        std::fs::set_permissions(dir.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.database(), b"").unwrap();
        std::fs::set_permissions(dir.database(), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(dir.settings(), b"{}").unwrap();
        std::fs::set_permissions(dir.settings(), std::fs::Permissions::from_mode(0o600)).unwrap();
        dir.ensure().unwrap();
        assert_eq!(mode(dir.root()), 0o700);
        assert_eq!(mode(&dir.database()), 0o600);
        assert_eq!(mode(&dir.settings()), 0o600);
        // Already private: nothing to report the second time.
        assert!(dir.secure_files().unwrap().is_empty());
    }

    #[test]
    fn a_fresh_directory_is_private_from_the_start() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("fresh").join("data"));
        dir.ensure().unwrap();
        assert_eq!(mode(dir.root()), 0o700);
    }

    #[test]
    fn atomic_writes_keep_the_mode_and_create_private_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f.json");
        write_atomically(&path, b"one").unwrap();
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(mode(&path), 0o640);
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        write_atomically_with_mode(&path, b"three", 0o600).unwrap();
        assert_eq!(mode(&path), 0o600);
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file is left behind");
        let d = tmp.path().join("dir");
        std::fs::create_dir(&d).unwrap();
        let e = write_atomically(&d, b"x").unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }
}
