//! Helpers for the cross-process tests: the real `claude-mem` binary, started on an ephemeral port with
//! its own data directory and HOME, talked to over real HTTP.

pub mod team;

use serde_json::Value;
use std::io::Write;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The `claude-mem` binary cargo built beside this test (`target/<profile>/claude-mem`), or
/// `$CLAUDE_MEM_BIN`.
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CLAUDE_MEM_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = profile_dir.join(format!("claude-mem{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} missing: build the workspace first",
        bin.display()
    );
    bin
}

/// `shared/fixtures/hooks`: real payloads captured from Claude Code, kept beside the repository.
pub fn fixtures_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("CLAUDE_MEM_FIXTURES") {
        return PathBuf::from(p);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/hooks");
    assert!(
        dir.is_dir(),
        "{} missing: the shared fixtures must sit beside the repository (or set CLAUDE_MEM_FIXTURES)",
        dir.display()
    );
    dir
}

/// Every fixture: (file name, event name, parsed JSON).
pub fn fixtures() -> Vec<(String, String, Value)> {
    let mut out: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("read fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read fixture");
            let json: Value = serde_json::from_str(&text).expect("fixture is JSON");
            let event = json["hook_event_name"]
                .as_str()
                .expect("hook_event_name")
                .to_owned();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                event,
                json,
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 10,
        "expected the captured fixtures, found {}",
        out.len()
    );
    out
}

/// A private sandbox: data directory and HOME, removed on drop.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

/// The API token every sandbox starts with (the worker keeps an existing `api-token`), so the helpers
/// here can send it without knowing which worker they talk to. Tests of the token's creation use
/// [`Sandbox::without_token`].
pub const TEST_TOKEN: &str = "7e57000000000000000000000000000000000000000000000000000000007e57";

impl Sandbox {
    /// A sandbox whose data directory holds [`TEST_TOKEN`] as its API token (0600).
    pub fn new() -> Self {
        let sandbox = Self::without_token();
        sandbox.plant_token();
        sandbox
    }

    /// Writes [`TEST_TOKEN`] as the data directory's `api-token` (0600), creating the directory (0700):
    /// again after something is mounted over it.
    pub fn plant_token(&self) {
        let data = self.data_dir();
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let token = data.join("api-token");
        std::fs::write(&token, format!("{TEST_TOKEN}\n")).expect("api-token");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    /// A sandbox with nothing in it yet: the worker makes its own token.
    pub fn without_token() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The API token in the data directory (what the user's own tools send).
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("api-token"))
            .expect("api-token")
            .trim()
            .to_owned()
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    pub fn database(&self) -> PathBuf {
        self.data_dir().join("claude-mem.db")
    }
    /// A `claude-mem` command confined to this sandbox.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(bin());
        std::fs::create_dir_all(self.home()).expect("home");
        cmd.env("CLAUDE_MEM_DATA_DIR", self.data_dir())
            .env("HOME", self.home())
            .env_remove("CLAUDE_MEM_PORT")
            .env_remove("CLAUDE_MEM_HOST")
            // A SessionStart hook with no worker on the port would start one (autostart) and leave it
            // running after the test; tests/worker_autostart.rs turns it back on.
            .env("CLAUDE_MEM_AUTOSTART", "0")
            // No test reaches the internet: the worker would fetch the embedding model from Hugging Face
            // (and every test would then run on MiniLM). tests/model_download.rs turns it back on,
            // against a local mirror.
            .env("CLAUDE_MEM_MODEL_DOWNLOAD", "off")
            .env_remove("CLAUDE_MEM_MODEL_ENDPOINT")
            .env_remove("HF_ENDPOINT")
            // Never let a developer's real key reach a test.
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("CLAUDE_MEM_COMPRESSOR")
            .env_remove("CLAUDE_MEM_ANTHROPIC_BASE_URL");
        cmd
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

/// A running `claude-mem serve`.
pub struct Worker {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    pub base: String,
    pub port: u16,
}

impl Worker {
    pub fn start(sandbox: &Sandbox) -> Self {
        Self::start_with(sandbox, &[])
    }

    pub fn start_with(sandbox: &Sandbox, env: &[(&str, &str)]) -> Self {
        let mut cmd = sandbox.command();
        cmd.args(["serve", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("CLAUDE_MEM_LOG_LEVEL", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn claude-mem serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read serve banner");
        if line.is_empty() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("claude-mem serve exited before listening: {err}");
        }
        let base = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("url in banner")
            .to_owned();
        let port = base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        // Drain stderr in the background so a chatty worker never blocks on a full pipe.
        if let Some(mut err) = child.stderr.take() {
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = err.read_to_end(&mut sink);
            });
        }
        Self {
            child,
            _stdout: stdout,
            base,
            port,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: no shutdown code runs, as in a crash or an OOM kill.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Polls `/api/health` until the processor has nothing pending (or the deadline passes).
    pub fn wait_until_processed(&self, deadline: Duration) -> Value {
        let start = Instant::now();
        loop {
            let (_, health) = get_json(self, "/api/health");
            if health["counts"]["pending"] == 0 {
                return health;
            }
            assert!(
                start.elapsed() < deadline,
                "still pending after {deadline:?}: {health}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then wait: the graceful path a user's logout or `systemctl stop` takes.
    pub fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        wait_with_deadline(&mut self.child, Duration::from_secs(20))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` every `every` until it yields a value; panics with `what` (and the last probe's note)
/// once `deadline` has passed.
pub fn poll<T>(
    what: &str,
    deadline: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(v) => return v,
            Err(note) => assert!(
                start.elapsed() < deadline,
                "{what}: not after {deadline:?}: {note}"
            ),
        }
        std::thread::sleep(every);
    }
}

pub fn wait_with_deadline(child: &mut Child, deadline: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A client that sends [`TEST_TOKEN`], as the user's own tools send the token (a request's own
/// `Authorization` header wins).
pub fn http() -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {TEST_TOKEN}").parse().expect("header"),
    );
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()
        .expect("http client")
}

/// A client without the token (a stranger: another user, a web page).
pub fn http_anonymous() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// POSTs raw bytes to `/hooks/{event}`; returns (status, parsed JSON body).
pub fn post_hook(worker: &Worker, event: &str, body: impl Into<Vec<u8>>) -> (u16, Value) {
    let response = http()
        .post(worker.url(&format!("/hooks/{event}")))
        .header("content-type", "application/json")
        .body(body.into())
        .send()
        .expect("POST hook");
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    let json =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"));
    (status, json)
}

pub fn get_json(worker: &Worker, path: &str) -> (u16, Value) {
    let response = http().get(worker.url(path)).send().expect("GET");
    let status = response.status().as_u16();
    (status, response.json().expect("JSON body"))
}

/// The worker's `/metrics` page (Prometheus text).
pub fn metrics_text(worker: &Worker) -> String {
    let response = http()
        .get(worker.url("/metrics"))
        .send()
        .expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    response.text().expect("metrics text")
}

/// Runs a query against the worker's SQLite file directly (not through the API): the test sees what is
/// really on disk.
pub fn sqlite_rows(db: &Path, sql: &str) -> Vec<Vec<Value>> {
    use sqlx::{ConnectOptions, Row};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true)
            .connect()
            .await
            .expect("open sqlite");
        let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("query");
        rows.iter()
            .map(|row| {
                (0..row.columns().len())
                    .map(|i| {
                        row.try_get::<i64, _>(i)
                            .map(Value::from)
                            .or_else(|_| row.try_get::<f64, _>(i).map(Value::from))
                            .or_else(|_| row.try_get::<String, _>(i).map(Value::from))
                            .unwrap_or(Value::Null)
                    })
                    .collect()
            })
            .collect()
    })
}

pub fn sqlite_count(db: &Path, sql: &str) -> i64 {
    sqlite_rows(db, sql)[0][0].as_i64().expect("count")
}

/// A loopback port that nothing listens on (bound, then released): for commands that must find no worker.
/// A port that accepts every connection and never answers, as a wedged worker would (the connections
/// are held for the rest of the test process).
pub fn hung_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Runs statements against a SQLite file directly (creating it if needed), waiting out a worker's write
/// lock: tests seed rows the API cannot make (old timestamps, foreign schemas).
pub fn exec_sql(db: &Path, statements: &[&str]) {
    use sqlx::ConnectOptions;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("open sqlite");
        for s in statements {
            sqlx::query(s).execute(&mut conn).await.expect(s);
        }
    });
}

/// Writes a hook's payload to its stdin and closes it. A hook may leave without reading it (under
/// `CLAUDE_MEM_INTERNAL=1`, or with autostart off and nothing to do): a closed pipe is its answer, not a
/// test failure.
pub fn feed_stdin(child: &mut Child, input: &[u8]) {
    let mut stdin = child.stdin.take().expect("stdin piped");
    if let Err(e) = stdin.write_all(input) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
}

/// Runs `claude-mem hook EVENT` (the command already pointed at its worker) with `stdin` as the payload, as
/// Claude Code does; returns its output and how long it took.
pub fn run_hook(mut cmd: Command, event: &str, stdin: &str) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .args(["hook", event])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hook");
    feed_stdin(&mut child, stdin.as_bytes());
    let output = child.wait_with_output().expect("hook output");
    (output, start.elapsed())
}

/// The command's stdout, after asserting it succeeded (its stderr and stdout shown when it did not).
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The version scripts/setup.sh installs (keep the two in step); hooks behave per version.
pub const CLAUDE_CODE_VERSION: &str = "2.1.197";

/// The CLI: `$CLAUDE_CODE_BIN`, else the platform binary of the npm package in `tests/.claude-code/`.
pub fn claude_code_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("CLAUDE_CODE_BIN") {
        return PathBuf::from(p);
    }
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".claude-code/node_modules/@anthropic-ai");
    let platform = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-x64",
        ("linux", "aarch64") => "linux-arm64",
        ("macos", "aarch64") => "darwin-arm64",
        ("macos", "x86_64") => "darwin-x64",
        (os, arch) => panic!("no Claude Code binary is published for {os}/{arch}"),
    };
    let candidates = [
        root.join(format!("claude-code-{platform}/claude")),
        root.join("claude-code/bin/claude.exe"),
    ];
    let found = candidates.iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "the Claude Code CLI is missing (looked for {}): run `CLAUDE_MEM_SETUP_TESTS=1 scripts/setup.sh`, \
             which installs @anthropic-ai/claude-code@{CLAUDE_CODE_VERSION} into tests/.claude-code/ \
             (or set CLAUDE_CODE_BIN){}",
            candidates[0].display(),
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                "; CI must have it"
            } else {
                ""
            }
        )
    });
    let out = Command::new(found)
        .arg("--version")
        .env("DISABLE_AUTOUPDATER", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", found.display()));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.starts_with(CLAUDE_CODE_VERSION),
        "{} is Claude Code {version:?}, this test is written against {CLAUDE_CODE_VERSION}: rerun \
         `CLAUDE_MEM_SETUP_TESTS=1 scripts/setup.sh`",
        found.display()
    );
    found.clone()
}

/// A real Claude Code session in print mode, as every real-CLI test runs it: a clean environment (the
/// claude-mem binary's directory first on PATH, since hooks and the plugin start `claude-mem` by name),
/// the sandbox's HOME and data directory, hooks aimed at `port` with autostart off (the test decides
/// which worker runs), the Anthropic wire mock at `mock_url`, and stream-json output. The caller adds
/// `--debug-file`, extra arguments and where the output goes.
pub fn claude_code_session(
    sandbox: &Sandbox,
    project: &Path,
    port: u16,
    mock_url: &str,
    prompt: &str,
) -> Command {
    let bin_dir = bin().parent().expect("binary directory").to_owned();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.to_string_lossy());
    let mut cmd = Command::new(claude_code_cli());
    cmd.current_dir(project)
        .env_clear()
        .env("PATH", path)
        .env("HOME", sandbox.home())
        .env("LANG", "C.UTF-8")
        .env("TERM", "dumb")
        .env("CLAUDE_MEM_DATA_DIR", sandbox.data_dir())
        .env("CLAUDE_MEM_PORT", port.to_string())
        .env("CLAUDE_MEM_AUTOSTART", "0")
        .env("ANTHROPIC_BASE_URL", mock_url)
        .env("ANTHROPIC_API_KEY", "sk-ant-test-000")
        .env("IS_SANDBOX", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .args(["-p", prompt, "--dangerously-skip-permissions"])
        .args(["--output-format", "stream-json", "--verbose"])
        .stdin(Stdio::null());
    cmd
}

/// A worker for the damaged-index tests: events compressed at once, the hashing embedder.
pub const SEARCH_ENV: &[(&str, &str)] = &[
    ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
    ("CLAUDE_MEM_EMBEDDER", "hash"),
];

/// Three sessions, each editing one file: the local compressor turns each into an observation whose title
/// names the file.
pub fn store_memories(worker: &Worker) {
    let cwd = "/home/dev/work/acme-api";
    for (i, file) in [
        "src/api/routes.rs",
        "src/auth/login.rs",
        "src/queue/retry.rs",
    ]
    .iter()
    .enumerate()
    {
        let session = format!("idx-{i}");
        let prompt = serde_json::json!({"session_id": session, "cwd": cwd, "prompt": "work"});
        assert_eq!(
            post_hook(worker, "UserPromptSubmit", prompt.to_string()).0,
            200
        );
        let edit = serde_json::json!({"session_id": session, "cwd": cwd, "tool_name": "Edit",
            "tool_use_id": format!("t{i}"),
            "tool_input": {"file_path": format!("{cwd}/{file}"), "old_string": "todo!()",
                           "new_string": "fn handler() {}"},
            "tool_response": {}});
        assert_eq!(post_hook(worker, "PostToolUse", edit.to_string()).0, 200);
    }
}

/// Polls until `query` finds an observation whose title contains `expect`; every answer on the way must
/// be a 200 (search answers while the index rebuilds).
pub fn wait_found(worker: &Worker, query: &str, expect: &str) {
    let start = Instant::now();
    loop {
        let (status, answer) = get_json(
            worker,
            &format!("/api/search?q={}&limit=5", query.replace(' ', "%20")),
        );
        assert_eq!(status, 200, "search while the index rebuilds: {answer}");
        let found = answer["results"].as_array().is_some_and(|r| {
            r.iter().any(|x| {
                x["observation"]["title"]
                    .as_str()
                    .is_some_and(|t| t.contains(expect))
            })
        });
        if found {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{query:?} never found {expect:?}: {answer}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Lines of Claude Code's debug log that report a hook going wrong: an unreachable http hook
/// (`[ERROR] Hooks: HTTP hook error: connect ECONNREFUSED …`), a hook that answered badly or failed
/// (`"Hook Stop (Stop) error:…"`, `HTTP hook must return JSON…`, `… failed to run: …`), a timeout.
/// Telemetry that has nowhere to go (`[3P telemetry] Event dropped … hook_execution_start`) is not one.
pub fn claude_code_hook_errors(debug: &str) -> Vec<&str> {
    debug
        .lines()
        .filter(|l| !l.contains("[3P telemetry]"))
        .filter(|l| {
            let lower = l.to_lowercase();
            let about_hooks = lower.contains("hook");
            (l.contains("[ERROR]") && (about_hooks || lower.contains("failed to run")))
                || (about_hooks
                    && [
                        ") error:",
                        "must return",
                        "timed out",
                        "timeout",
                        "non-blocking",
                        "cancelled",
                    ]
                    .iter()
                    .any(|w| lower.contains(w)))
        })
        .collect()
}

/// A directory served over loopback HTTP by Python's `http.server`: a stand-in for a release host
/// (GitHub releases) that the launcher and `claude-mem update` fetch from.
pub struct StaticMirror {
    child: Child,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl StaticMirror {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("mirror dir");
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        let stdout = child.stdout.take().expect("mirror stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("mirror banner");
        // "Serving HTTP on 127.0.0.1 port 43123 (http://127.0.0.1:43123/) ..."
        let port: u16 = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in the mirror's banner: {line:?}"));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    /// Publishes this build's `claude-mem` as release `version` for this platform, with its
    /// `SHA256SUMS`, as `scripts/release.sh` lays a release out; returns the sums file's path.
    /// The binary is stripped, as the release profile does (`strip = true`): a third of the debug
    /// build's size, which is what a user downloads.
    pub fn publish_release(&self, version: &str) -> PathBuf {
        let published = self.published(version);
        let name = published.file_name().expect("release name").to_owned();
        let out = Command::new("strip")
            .arg("-o")
            .arg(&published)
            .arg(bin())
            .output()
            .expect("strip (binutils)");
        assert!(out.status.success(), "strip: {out:?}");
        let out = Command::new("sha256sum")
            .arg(&name)
            .current_dir(self.dir.path())
            .output()
            .expect("sha256sum");
        let sums = self.dir.path().join("SHA256SUMS");
        std::fs::write(&sums, &out.stdout).expect("write SHA256SUMS");
        sums
    }
}

impl StaticMirror {
    /// Where `publish_release(version)` puts this platform's binary.
    pub fn published(&self, version: &str) -> PathBuf {
        let target = match (std::env::consts::OS, std::env::consts::ARCH) {
            ("linux", "x86_64") => "x86_64-unknown-linux-gnu",
            ("linux", "aarch64") => "aarch64-unknown-linux-gnu",
            (os, arch) => panic!("no release target for {os}/{arch}"),
        };
        self.dir
            .path()
            .join(format!("claude-mem-{version}-{target}"))
    }
}

impl Drop for StaticMirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of the plugin (`plugin/`, modes kept) in `dest`, its launcher pinned to the release whose
/// `SHA256SUMS` is `sums` (with `scripts/pin-release.sh`, as a release does) when given.
pub fn plugin_copy(dest: &Path, pinned: Option<(&str, &Path)>) -> PathBuf {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("plugin copy dir");
        for entry in std::fs::read_dir(from).expect("read plugin dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                copy_dir(&path, &to.join(entry.file_name()));
            } else {
                std::fs::copy(&path, to.join(entry.file_name())).expect("copy plugin file");
            }
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let copy = dest.join("plugin");
    copy_dir(&repo.join("plugin"), &copy);
    if let Some((version, sums)) = pinned {
        let out = Command::new(repo.join("scripts/pin-release.sh"))
            .arg(version)
            .arg(sums)
            .arg(copy.join("bin/claude-mem-launch"))
            .output()
            .expect("scripts/pin-release.sh");
        assert!(
            out.status.success(),
            "pin-release: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    copy
}

/// Runs tests/mcp_client.py (the official Python MCP SDK's stdio client) against `claude-mem mcp` with
/// the sandbox's data directory and `env` (e.g. `CLAUDE_MEM_PORT`); returns its JSON report.
pub fn mcp_client_report(sandbox: &Sandbox, env: &[(&str, &str)], args: &[&str]) -> Value {
    let project_dir = sandbox.dir.path().join("mcp-proj");
    std::fs::create_dir_all(&project_dir).expect("project dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp_client.py");
    // HOME stays the developer's: python3 may be a pyenv shim that finds its interpreter through it.
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg("--bin")
        .arg(bin())
        .arg("--cwd")
        .arg(&project_dir)
        .args(args)
        .env("CLAUDE_MEM_DATA_DIR", sandbox.data_dir())
        .env_remove("CLAUDE_MEM_PORT")
        .env_remove("CLAUDE_MEM_HOST")
        .env_remove("CLAUDE_MEM_SERVER")
        .env_remove("CLAUDE_MEM_TOKEN")
        .env_remove("CLAUDE_PROJECT_DIR")
        .env_remove("CLAUDE_MEM_DEBUG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): run scripts/setup.sh"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(3),
        "the Python `mcp` package is missing: run scripts/setup.sh \
         (or python3 -m pip install 'mcp>=1.2'). {stdout}"
    );
    assert!(
        out.status.success(),
        "mcp_client.py failed: {stderr}\n{stdout}"
    );
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("mcp_client.py printed no JSON ({e}): {stdout}\n{stderr}"));
    assert!(
        report.get("session_error").is_none(),
        "the MCP session broke: {report:#}\nserver stderr: {stderr}"
    );
    report
}

/// A stranger's server on a port: answers every request with `{}` and counts what it received, so a
/// test can prove that nothing was sent to it.
pub struct Decoy {
    pub port: u16,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Decoy {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("decoy bind");
        let port = listener.local_addr().expect("decoy addr").port();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                );
            }
        });
        Self { port, hits }
    }

    /// Connections received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}
