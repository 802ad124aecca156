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
        std::fs::create_dir_all(&self.root)?;
        #[cfg(unix)]
        {
            if let Some(old) = restrict(&self.root, 0o700)? {
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
            self.api_token(),
        ]
    }

    /// Sets every existing private file to 0600; returns the ones that were looser. Called again after
    /// the database is opened, because SQLite creates it (and its WAL) under the process umask.
    pub fn secure_files(&self) -> io::Result<Vec<PathBuf>> {
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
                Err(e) => return Err(e),
            }
        }
        Ok(fixed)
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
}
