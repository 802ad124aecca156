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

    /// Creates the directory private to the user (0700): it holds prompts and tool output.
    pub fn ensure(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.root)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
}
