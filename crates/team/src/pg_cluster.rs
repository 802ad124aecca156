//! A private, throwaway PostgreSQL server for tests and benchmarks: `initdb` into a temp directory and
//! `pg_ctl start` on a free port, trusting only local connections.
//!
//! It runs Debian's own binaries (`/usr/lib/postgresql/<v>/bin`). PostgreSQL refuses to run as root, so
//! as root it runs them as the `postgres` user the package creates. Set `CLAUDE_MEM_TEST_PG_URL` to an
//! existing server's URL (a role that may `CREATE DATABASE`) to use that instead.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH): `apt-get install -y postgresql`")]
    NotInstalled,
    #[error("{step} failed: {detail}")]
    Step { step: &'static str, detail: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub struct TempCluster {
    /// Dropped last: the data directory goes once the server is stopped.
    dir: Option<tempfile::TempDir>,
    bin: PathBuf,
    as_postgres: bool,
    /// `postgres://…/postgres` on the server (the maintenance database).
    admin_url: String,
    external: bool,
}

fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl TempCluster {
    /// Starts a fresh server (or adopts `CLAUDE_MEM_TEST_PG_URL`) with durability off: test data only.
    pub fn start() -> Result<Self, ClusterError> {
        Self::start_with(false)
    }

    /// A server that syncs commits like a production one, for benchmarks compared with SQLite (which
    /// syncs its WAL).
    pub fn start_durable() -> Result<Self, ClusterError> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Result<Self, ClusterError> {
        if let Ok(url) = std::env::var("CLAUDE_MEM_TEST_PG_URL") {
            return Ok(Self {
                dir: None,
                bin: PathBuf::new(),
                as_postgres: false,
                admin_url: url,
                external: true,
            });
        }
        let bin = find_bin_dir().ok_or(ClusterError::NotInstalled)?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("claude-mem-pg-")
            .tempdir()?;
        let data = dir.path().join("data");
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()?;
            if !status.success() {
                return Err(ClusterError::Step {
                    step: "chown to postgres",
                    detail: status.to_string(),
                });
            }
        }
        let port = free_port()?;
        let cluster = Self {
            dir: Some(dir),
            bin,
            as_postgres,
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            external: false,
        };
        cluster.run(
            "initdb",
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        let socket_dir = cluster.root().join("sock");
        std::fs::create_dir_all(&socket_dir)?;
        if as_postgres {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&socket_dir)
                .status()?;
        }
        // Durability off for tests: they hold test data only, and fsync would dominate them.
        let durability = if durable {
            ""
        } else {
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        };
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {}{durability} -c max_connections=200 -c shared_buffers=128MB",
            socket_dir.display()
        );
        cluster.run(
            "pg_ctl start",
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &cluster.root().join("server.log").to_string_lossy(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        Ok(cluster)
    }

    fn root(&self) -> &Path {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("/"))
    }

    fn run(&self, step: &'static str, tool: &str, args: &[&str]) -> Result<(), ClusterError> {
        let exe = self.bin.join(tool);
        let output = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()?
        } else {
            Command::new(&exe).args(args).output()?
        };
        if output.status.success() {
            Ok(())
        } else {
            Err(ClusterError::Step {
                step,
                detail: format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            })
        }
    }

    /// The maintenance database's URL.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// Creates an empty database and returns its URL: one per test, so tests share a server, not data.
    pub async fn create_database(&self, name: &str) -> Result<String, ClusterError> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
        let safe: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {safe}"))
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {safe}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let base = self
            .admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&self.admin_url);
        Ok(format!("{base}/{safe}"))
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if self.external {
            return;
        }
        let data = self.root().join("data");
        let _ = self.run(
            "pg_ctl stop",
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-m", "immediate", "stop"],
        );
    }
}
