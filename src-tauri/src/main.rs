//! `claude-mem-app`: the desktop app. One process hosts the worker (the same server as `claude-mem
//! serve`) and, where there is a display, a tray icon and a window showing the viewer.
//!
//! Whether a GUI is possible is decided before Tauri is touched (GTK panics without a display), so the
//! same binary runs on a server or in CI as a plain worker.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod app;
mod claude_code;
mod mode;
mod tray_model;
mod worker_host;

use anyhow::Context;
use claude_mem_core::{DataDir, Settings};
use mode::{Mode, Options};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

fn settings_for(data_dir: &DataDir) -> anyhow::Result<Settings> {
    data_dir.ensure().with_context(|| {
        format!(
            "cannot prepare the data directory {}",
            data_dir.root().display()
        )
    })?;
    let path = data_dir.settings();
    if !path.exists() {
        Settings::default()
            .save(&path)
            .context("cannot write default settings")?;
    }
    // A settings file that is wrong never stops the app: bad keys keep their last good values and are
    // reported (log, `/api/health` warnings).
    let (settings, warnings) = Settings::load_effective_resilient(&path);
    for w in &warnings {
        eprintln!("claude-mem: {w}");
    }
    if warnings.is_empty() {
        let _ = Settings::remember_last_good(&path);
    }
    Ok(settings)
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = Options::parse(&args);
    // Before anything starts: `--help` must never launch a worker or a window.
    if options.help {
        println!("{}", mode::USAGE);
        return Ok(());
    }
    if options.version {
        println!("claude-mem-app {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let mode = mode::decide(&options, |k| {
        std::env::var_os(k).is_some_and(|v| !v.is_empty())
    });
    let data_dir = DataDir::resolve().context("cannot locate the data directory")?;
    let settings = settings_for(&data_dir)?;
    let _log_guard = claude_mem_server::logging::init(&data_dir, &settings)?;
    let started = std::time::Instant::now();
    let mut hosted = worker_host::start(data_dir.clone(), settings)?;
    tracing::info!(
        url = hosted.url(),
        ready_ms = started.elapsed().as_secs_f64() * 1000.0,
        mode = ?mode,
        "claude-mem app: worker ready"
    );
    // Machine-readable, like `serve`: scripts and tests wait for it.
    println!("claude-mem worker listening on {}", hosted.url());
    match mode {
        Mode::Headless(reason) => {
            tracing::info!(reason, "running without a GUI");
            if matches!(hosted, worker_host::Hosted::Attached { .. }) {
                println!(
                    "another claude-mem already serves {}; nothing to do",
                    hosted.url()
                );
                return Ok(());
            }
            wait_for_signal()?;
            hosted.stop();
            Ok(())
        }
        Mode::Gui { minimized } => {
            let shell = Arc::new(app::Shell {
                url: hosted.url().to_owned(),
                data_dir: data_dir.root().to_owned(),
                logs_dir: data_dir.logs(),
                hosted: Mutex::new(Some(hosted)),
                status: Mutex::new(tray_model::WorkerStatus::Running),
            });
            app::run(shell, minimized)
        }
    }
}

fn wait_for_signal() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal runtime")?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        anyhow::Ok(())
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("claude-mem-app: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;
