//! Autostart: the SessionStart hook starts a worker when nothing answers on the configured port, so
//! memory works without the user remembering to start anything (issue 19). A worker that is not running
//! loses every event of the session; the first hook of a session is where that can still be avoided.
//!
//! What it does, and why:
//! - Only on SessionStart, only when the connection is *refused* (nothing listens). A worker that answers
//!   slowly, or a port held by something else, is never "fixed" by starting a second worker.
//! - Never under `CLAUDE_MEM_INTERNAL=1` (the compressor's own Claude Code), never for a machine that
//!   sends its hooks to a team server, never when `worker.autostart` / `CLAUDE_MEM_AUTOSTART` is off.
//! - The worker is the desktop app (`claude-mem-app --minimized`) when it is installed and a display is
//!   there, else `claude-mem serve` (this binary). It is fully detached: its own process group, no
//!   inherited stdin/stdout/stderr (Claude Code waits for the hook's pipes to close, so an inherited pipe
//!   would block the session for the worker's lifetime), output to `logs/autostart.log` (emptied at each
//!   start), the data directory as its working directory (never pinning the project's).
//! - Two hooks at once must end with one worker: the starter holds an exclusive lock on
//!   `<data dir>/autostart.lock` while it spawns and waits, and records the spawned pid and time in it.
//!   A hook that cannot take the lock, or that finds a start younger than [`START_GRACE`], waits for the
//!   port instead of spawning. Past that, the worker's own exclusive bind is the last word: a second
//!   worker cannot listen on the port and exits.
//! - The hook's budget (`hook_timeout_ms`) is never exceeded: spawning returns at once and the wait for
//!   the port stops early enough for the event itself to be sent. A worker slower to come up than that
//!   misses this event (the hook fails open as always) and serves the next one.

use claude_mem_core::{DataDir, Settings};
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// In the data directory: held (flock) by the hook that is starting a worker; holds the last start's
/// `{"pid": …, "started_ms": …, "command": …}`.
pub(crate) const LOCK_FILE: &str = "autostart.lock";
/// A start younger than this is assumed still coming up: nobody starts another one meanwhile.
const START_GRACE: Duration = Duration::from_secs(15);
/// How long a connect may take before "something is there, just slow" is assumed. Loopback refuses in
/// microseconds; only a listener that does not accept takes longer.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);
/// Kept free at the end of the hook's budget for the event's own request after the wait.
const SEND_RESERVE: Duration = Duration::from_millis(250);
/// How long `start-worker` waits for the worker it started to listen.
const START_WAIT: Duration = Duration::from_secs(5);
/// The desktop app's binary name.
const APP_BIN: &str = "claude-mem-app";

/// What the SessionStart hook did about the worker (for `CLAUDE_MEM_DEBUG` and tests of the decision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Autostart {
    /// Not this event, or not ours to start (internal, team server, turned off, no data directory).
    NotApplicable(&'static str),
    /// Something answers (or is slow to): nothing to do.
    Running,
    /// Another hook is starting one; `ready` says whether it answered within the budget.
    StartedElsewhere { ready: bool },
    /// This hook started one.
    Started { pid: u32, ready: bool },
    /// Starting failed (the reason is for `CLAUDE_MEM_DEBUG`; the hook still fails open).
    Failed(String),
}

/// Called by the hook command before it sets up the event's request (whose timeout is what is left of
/// the budget after this); never fails, never outlives `deadline` (when the hook's whole budget ends).
/// `team_server`: whether this machine's hooks go to a team server (the hook has read that already).
pub(crate) fn on_hook(
    event: &str,
    settings: &Settings,
    data_dir: Option<&DataDir>,
    team_server: bool,
    deadline: Instant,
) -> Autostart {
    let outcome = ensure_worker(event, settings, data_dir, team_server, deadline);
    // Only what happened is worth a line: `CLAUDE_MEM_DEBUG` output on stderr is what tests and users
    // read when a hook misbehaves, and "not this event" on every tool call would drown it.
    let noteworthy = !matches!(outcome, Autostart::Running | Autostart::NotApplicable(_));
    if std::env::var_os("CLAUDE_MEM_DEBUG").is_some() && noteworthy {
        eprintln!("claude-mem hook: autostart: {outcome:?}");
    }
    outcome
}

/// `claude-mem start-worker`: the SessionStart hook's decision without an event, for the plugin's
/// launcher once it has fetched this binary (the session that triggered the fetch would otherwise run
/// without a worker until its next SessionStart).
pub(crate) fn start_if_down() -> Autostart {
    let data_dir = DataDir::resolve().ok();
    let settings = data_dir
        .as_ref()
        .map(|dir| Settings::load_effective_resilient(&dir.settings()).0)
        .unwrap_or_default();
    let team = crate::client_config::team_server(data_dir.as_ref()).is_some();
    on_hook(
        "SessionStart",
        &settings,
        data_dir.as_ref(),
        team,
        Instant::now() + START_WAIT,
    )
}

fn ensure_worker(
    event: &str,
    settings: &Settings,
    data_dir: Option<&DataDir>,
    team_server: bool,
    deadline: Instant,
) -> Autostart {
    if event != "SessionStart" {
        return Autostart::NotApplicable("only SessionStart starts a worker");
    }
    if std::env::var(claude_mem_core::capture::INTERNAL_ENV).is_ok_and(|v| v.trim() == "1") {
        return Autostart::NotApplicable("CLAUDE_MEM_INTERNAL=1");
    }
    if team_server {
        return Autostart::NotApplicable("hooks go to a team server");
    }
    if !settings.worker.autostart {
        return Autostart::NotApplicable("worker.autostart is off");
    }
    let Some(data_dir) = data_dir else {
        return Autostart::NotApplicable("no data directory");
    };
    let Some(addr) = worker_addr(settings) else {
        return Autostart::Failed(format!("cannot resolve {}", settings.worker_url()));
    };
    if probe(addr, deadline) != Probe::Refused {
        return Autostart::Running;
    }
    let wait_until = deadline.checked_sub(SEND_RESERVE).unwrap_or(deadline);

    if let Err(e) = data_dir.ensure() {
        return Autostart::Failed(format!("cannot prepare the data directory: {e}"));
    }
    let lock_path = data_dir.root().join(LOCK_FILE);
    let mut lock = match open_lock(&lock_path) {
        Ok(f) => f,
        Err(e) => return Autostart::Failed(format!("cannot open {}: {e}", lock_path.display())),
    };
    match fs4::fs_std::FileExt::try_lock_exclusive(&lock) {
        Ok(true) => {}
        // Another hook holds it: it is spawning right now.
        Ok(false) => {
            return Autostart::StartedElsewhere {
                ready: wait_ready(addr, wait_until),
            }
        }
        Err(e) => return Autostart::Failed(format!("cannot lock {}: {e}", lock_path.display())),
    }
    // Under the lock: a start that is still coming up, or one that finished while we waited for the
    // lock, means there is nothing to start.
    if last_start_is_recent(&mut lock) {
        return Autostart::StartedElsewhere {
            ready: wait_ready(addr, wait_until),
        };
    }
    if probe(addr, deadline) != Probe::Refused {
        return Autostart::Running;
    }
    let mut command = worker_command(data_dir);
    let shown = format!("{command:?}");
    let pid = match command.spawn() {
        Ok(child) => child.id(),
        Err(e) => return Autostart::Failed(format!("cannot start {shown}: {e}")),
    };
    let record = serde_json::json!({
        "pid": pid,
        "started_ms": claude_mem_core::clock::now_ms(),
        "command": shown,
    });
    // The record is what keeps a second hook from spawning during the worker's start-up; failing to
    // write it only loses that, the worker's exclusive bind still keeps one.
    let _ = lock
        .set_len(0)
        .and_then(|()| lock.rewind())
        .and_then(|()| writeln!(lock, "{record}"))
        .and_then(|()| lock.flush());
    let ready = wait_ready(addr, wait_until);
    // The lock is released when `lock` is dropped here, after the wait: hooks that came meanwhile saw
    // the lock and waited instead of spawning.
    Autostart::Started { pid, ready }
}

/// The address hooks post to, as a socket address (the same mapping as [`Settings::worker_url`]:
/// `0.0.0.0` and `localhost` are reached on 127.0.0.1).
fn worker_addr(settings: &Settings) -> Option<SocketAddr> {
    let url = settings.worker_url();
    let authority = url.strip_prefix("http://")?;
    authority.to_socket_addrs().ok()?.next()
}

#[derive(Debug, PartialEq, Eq)]
enum Probe {
    /// Something accepted the connection.
    Open,
    /// Nothing listens: the only case in which a worker is started.
    Refused,
    /// Timed out or failed otherwise: something may be there; leave it alone.
    Unknown,
}

fn probe(addr: SocketAddr, deadline: Instant) -> Probe {
    let left = deadline.saturating_duration_since(Instant::now());
    let timeout = left.min(PROBE_TIMEOUT);
    if timeout.is_zero() {
        return Probe::Unknown;
    }
    match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => Probe::Open,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Probe::Refused,
        Err(_) => Probe::Unknown,
    }
}

/// Polls the port until something accepts or `until` passes; true when it answered.
fn wait_ready(addr: SocketAddr, until: Instant) -> bool {
    loop {
        if probe(addr, until) == Probe::Open {
            return true;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(25)));
    }
}

fn open_lock(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Whether the lock file records a start younger than [`START_GRACE`].
fn last_start_is_recent(lock: &mut File) -> bool {
    let mut text = String::new();
    if lock.rewind().is_err() || lock.read_to_string(&mut text).is_err() {
        return false;
    }
    let started = serde_json::from_str::<serde_json::Value>(text.trim())
        .ok()
        .and_then(|v| v.get("started_ms")?.as_i64());
    let Some(started) = started else {
        return false;
    };
    let age = claude_mem_core::clock::now_ms().saturating_sub(started);
    (0..START_GRACE.as_millis() as i64).contains(&age)
}

/// The desktop app next to this binary (how the packages install them) or on PATH.
fn installed_app() -> Option<PathBuf> {
    let name = format!("{APP_BIN}{}", std::env::consts::EXE_SUFFIX);
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(&name)))
        .filter(|p| p.is_file());
    sibling.or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join(&name))
            .find(|p| p.is_file())
    })
}

/// Whether a GUI can open: the app's own rule (on Linux a DISPLAY or WAYLAND_DISPLAY; elsewhere always).
fn display_present() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// The program and arguments to start: the app in the tray when it is installed and can show itself,
/// else this binary's `serve` (servers, SSH sessions, containers).
fn choose_worker(app: Option<PathBuf>, display: bool, exe: PathBuf) -> (PathBuf, &'static str) {
    match app.filter(|_| display) {
        Some(app) => (app, "--minimized"),
        None => (exe, "serve"),
    }
}

/// The detached worker: the app in the tray where it can show one, else `claude-mem serve`.
fn worker_command(data_dir: &DataDir) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("claude-mem"));
    let (program, arg) = choose_worker(installed_app(), display_present(), exe);
    let mut command = Command::new(program);
    command.arg(arg);
    let log = open_start_log(data_dir);
    let (out, err) = match log.and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((out, err)) => (Stdio::from(out), Stdio::from(err)),
        Err(_) => (Stdio::null(), Stdio::null()),
    };
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .current_dir(data_dir.root())
        // The hook's own budget means nothing to the worker; it reads its settings itself.
        .env_remove("CLAUDE_MEM_DEBUG");
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: Claude Code ending the hook (or its group) does not end the worker,
        // and Ctrl-C in the terminal goes to Claude Code, not to it.
        command.process_group(0);
    }
    command
}

/// `logs/autostart.log`: where a worker that fails to start says why (an error before or instead of
/// its own log, such as a refused bind). Emptied at each start, so it holds the stdout and stderr of
/// the last autostarted worker only and does not grow across starts (the worker's own, rotated log is
/// `logs/worker.log.*`). Append mode, so two writers never overwrite each other.
fn open_start_log(data_dir: &DataDir) -> std::io::Result<File> {
    let dir = data_dir.logs();
    std::fs::create_dir_all(&dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(dir.join("autostart.log"))?;
    file.set_len(0)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn only_session_start_of_a_local_worker_with_autostart_on_starts_anything() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        let settings = Settings::default();
        assert!(matches!(
            ensure_worker("Stop", &settings, Some(&data), false, far()),
            Autostart::NotApplicable(_)
        ));
        assert!(matches!(
            ensure_worker("SessionStart", &settings, Some(&data), true, far()),
            Autostart::NotApplicable(_)
        ));
        let mut off = settings.clone();
        off.worker.autostart = false;
        assert_eq!(
            ensure_worker("SessionStart", &off, Some(&data), false, far()),
            Autostart::NotApplicable("worker.autostart is off")
        );
        assert!(!data.root().exists(), "nothing was created");
    }

    #[test]
    fn the_app_is_started_only_where_it_is_installed_and_can_show_itself() {
        let exe = PathBuf::from("/usr/bin/claude-mem");
        let app = Some(PathBuf::from("/usr/bin/claude-mem-app"));
        assert_eq!(
            choose_worker(app.clone(), true, exe.clone()),
            (PathBuf::from("/usr/bin/claude-mem-app"), "--minimized")
        );
        assert_eq!(
            choose_worker(app, false, exe.clone()),
            (exe.clone(), "serve")
        );
        assert_eq!(choose_worker(None, true, exe.clone()), (exe, "serve"));
    }

    #[test]
    fn a_port_that_accepts_is_left_alone() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let settings = Settings {
            port: listener.local_addr().unwrap().port(),
            ..Settings::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        assert_eq!(
            ensure_worker("SessionStart", &settings, Some(&data), false, far()),
            Autostart::Running
        );
        assert!(!data.root().join(LOCK_FILE).exists());
    }

    #[test]
    fn a_free_port_probes_as_refused_and_a_recent_start_is_remembered() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert_eq!(probe(addr, far()), Probe::Refused);
        assert_eq!(
            probe(addr, Instant::now()),
            Probe::Unknown,
            "no budget, no verdict"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        let mut lock = open_lock(&path).unwrap();
        assert!(!last_start_is_recent(&mut lock));
        let now = claude_mem_core::clock::now_ms();
        std::fs::write(&path, format!("{{\"pid\": 1, \"started_ms\": {now}}}\n")).unwrap();
        assert!(last_start_is_recent(&mut lock));
        let old = now - 60_000;
        std::fs::write(&path, format!("{{\"pid\": 1, \"started_ms\": {old}}}\n")).unwrap();
        assert!(!last_start_is_recent(&mut lock));
    }
}
