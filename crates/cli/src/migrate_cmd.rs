//! `claude-mem migrate --to postgres://… --team T --user U`: copies this machine's SQLite store into a
//! team server's PostgreSQL database, as that user of that team.
//!
//! The team and the user are created when they do not exist yet, and the new user's API token is printed
//! once (only its hash is kept): migrating is how most teams start, so the first run should leave the
//! user ready for `claude-mem install --server … --token …`. An existing user gets no new token.
//!
//! Safe beside a running worker (it reads one SQLite snapshot, read-only) and safe to repeat: a second
//! run copies only what is new since the first.

use anyhow::{bail, Context};
use claude_mem_core::DataDir;
use claude_mem_team::migrate::{self, MigrateReport, Progress, TABLES};
use claude_mem_team::PgStore;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The team server's database, `postgres://user:password@host:5432/db` (the environment variable
    /// keeps the password out of the shell history and the process list).
    #[arg(
        long,
        value_name = "URL",
        env = "CLAUDE_MEM_DATABASE_URL",
        hide_env_values = true
    )]
    to: String,
    /// Team that will own the copied memories (created when missing).
    #[arg(long)]
    team: String,
    /// User that will own them (created when missing; the new user's token is printed once).
    #[arg(long)]
    user: String,
    /// SQLite database to copy (default: the data directory's claude-mem.db).
    #[arg(long, value_name = "PATH")]
    from: Option<PathBuf>,
    /// Print the report as JSON (with the new token, when a user was created).
    #[arg(long)]
    json: bool,
}

/// One connection is all a single transaction uses; the second covers the pool's own checks.
const MAX_CONNECTIONS: u32 = 2;

pub fn run(args: MigrateArgs) -> anyhow::Result<()> {
    if !claude_mem_team::is_postgres_url(&args.to) {
        bail!("--to must be a postgres:// or postgresql:// URL");
    }
    let source = match args.from {
        Some(p) => p,
        None => DataDir::resolve()
            .context("cannot locate the data directory")?
            .database(),
    };
    let started = Instant::now();
    let report = crate::portability_cmd::runtime()?.block_on(async {
        let pg = PgStore::connect(&args.to, MAX_CONNECTIONS)
            .await
            .context("cannot open the team database")?;
        let mut bar = Bar::new(!args.json);
        let result =
            migrate::migrate(&source, &pg, &args.team, &args.user, &mut |p| bar.update(p)).await;
        bar.finish();
        pg.close().await;
        result.with_context(|| format!("cannot migrate {}", source.display()))
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_report(&source, &report, started);
    Ok(())
}

fn print_report(source: &std::path::Path, report: &MigrateReport, started: Instant) {
    let o = &report.owner;
    println!(
        "migrated {} into team {:?} as user {:?} in {:.1} s",
        source.display(),
        o.team,
        o.user,
        started.elapsed().as_secs_f64()
    );
    println!(
        "  {:<18} {:>9} {:>9} {:>9}",
        "table", "local", "copied", "present"
    );
    for table in TABLES {
        if let Some(t) = report.tables.get(table) {
            println!(
                "  {table:<18} {:>9} {:>9} {:>9}",
                t.source, t.inserted, t.skipped
            );
        }
    }
    if report.dropped_event_refs > 0 {
        println!(
            "  {} references to hook events that no longer exist locally were dropped",
            report.dropped_event_refs
        );
    }
    if report.created_team {
        println!("created team {:?}", o.team);
    }
    if let Some(token) = &report.token {
        // The one time this token can be shown: the server keeps only its hash.
        println!("created user {:?}; their API token (shown once):", o.user);
        println!("  {token}");
        println!(
            "configure this machine with: claude-mem install --server https://<team server> --token <token>"
        );
    }
    println!(
        "observations get their embeddings from the team server's replicas; run migrate again to copy \
         what this machine records until it is switched over"
    );
}

/// Below this many rows, no progress lines when stderr is not a terminal.
const PLAIN_PROGRESS_ROWS: u64 = 10_000;

/// Progress on stderr: a bar on a terminal, a line per table otherwise (logs of scripted migrations).
struct Bar {
    bar: Option<indicatif::ProgressBar>,
    lines: bool,
    /// Rows of the tables already finished, so the bar counts across tables.
    base: u64,
}

impl Bar {
    fn new(visible: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        Self {
            bar: None,
            lines: visible && !tty,
            base: 0,
        }
        .with_bar(visible && tty)
    }

    fn with_bar(mut self, on: bool) -> Self {
        if on {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg:<18} [{bar:40}] {pos}/{len} rows ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
        self
    }

    fn update(&mut self, p: Progress<'_>) {
        match p {
            Progress::Start { totals } => {
                let total: u64 = totals.iter().map(|(_, n)| n).sum();
                if let Some(bar) = &self.bar {
                    bar.set_length(total);
                }
                // Small stores copy in a blink: lines would only be noise in a script's log.
                self.lines &= total >= PLAIN_PROGRESS_ROWS;
                if self.lines {
                    eprintln!("copying {total} rows");
                }
            }
            Progress::Rows { table, done } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(table);
                    bar.set_position(self.base + done);
                }
            }
            Progress::TableDone { table, copy } => {
                self.base += copy.source;
                if let Some(bar) = &self.bar {
                    bar.set_position(self.base);
                }
                if self.lines {
                    eprintln!(
                        "  {table}: {} copied, {} already present",
                        copy.inserted, copy.skipped
                    );
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
