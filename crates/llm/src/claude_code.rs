//! The user's own Claude Code CLI as a structured-output provider: `claude -p` run headless, on the
//! user's Claude subscription (or whatever login the CLI has), with no API key of ours.
//!
//! One call is one short-lived process: the system prompt and the output schema go on the command line
//! (`--system-prompt`, `--json-schema`: Claude Code then offers the model a `StructuredOutput` tool and
//! validates its input against the schema), the user message goes on stdin (never argv: it holds the
//! user's tool output, which `ps` would show), and `--output-format json` prints one result object with
//! `structured_output`, `usage`, `modelUsage` and `total_cost_usd`.
//!
//! **No recursion.** The spawned session is itself a Claude Code session, and claude-mem is installed in
//! Claude Code as hooks, a plugin or an MCP server. Upstream's observer sessions fired the user's hooks and
//! flooded the memory with their own events. Every layer the CLI offers is closed, so that neither our
//! hooks nor the user's hooks, plugins or MCP servers run: `--setting-sources ""` (no user, project or
//! local settings, hence no hooks and no enabled plugins), `--settings {"disableAllHooks": true}`,
//! `CLAUDE_CODE_SAFE_MODE=1` (customisations off, auth untouched; ignored by versions that predate it),
//! `--strict-mcp-config` with an empty `--mcp-config`, `--tools ""`, `--disable-slash-commands`,
//! `--no-session-persistence`, and a neutral working directory with nothing in it (the caller's choice,
//! see [`ClaudeCodeClient::with_cwd`]). On top of that the child gets [`INTERNAL_ENV`]`=1`, which
//! `claude-mem hook` honours by dropping the event, and the worker's ingest drops every event whose `cwd`
//! is a directory named [`INTERNAL_CWD_DIR`].
//!
//! Retries are the caller's, as for the HTTP clients: the CLI's own retry loop is turned off
//! (`CLAUDE_CODE_MAX_RETRIES=0`) so that one call is one attempt and failures come back classified.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{LlmError, StructuredLlm, StructuredRequest, StructuredResponse, Usage};

/// Set to `1` in the spawned CLI's environment; `claude-mem hook` drops any event it is given under it.
pub const INTERNAL_ENV: &str = "CLAUDE_MEM_INTERNAL";
/// The name of the working directory the CLI is started in (`<data dir>/claude-code-cwd`). Hook events
/// whose `cwd` is a directory of this name are never stored.
pub const INTERNAL_CWD_DIR: &str = "claude-code-cwd";
/// The provider name in logs, `llm_usage.provider` and the compressor name (`claude-code:haiku`).
pub const PROVIDER: &str = "claude-code";
/// The model alias used when none is configured: the small, fast one.
pub const DEFAULT_MODEL: &str = "haiku";

/// Turns the model gets to call the structured-output tool (Claude Code re-asks once when the model
/// answers in prose).
const MAX_TURNS: u32 = 3;
/// How much of stderr or of a non-JSON stdout to quote in an error.
const SNIPPET_CHARS: usize = 300;
/// Stdout beyond this is not a result object of ours.
const MAX_STDOUT_BYTES: u64 = 32 * 1024 * 1024;

/// Runs `claude -p` for each call. Cheap to build; nothing is spawned until [`StructuredLlm::call`].
#[derive(Debug, Clone)]
pub struct ClaudeCodeClient {
    /// As configured: a path, or a bare name looked up on `PATH` (and the CLI's usual install places).
    program: String,
    model: String,
    timeout: Duration,
    cwd: Option<PathBuf>,
}

impl ClaudeCodeClient {
    /// `program` empty means `claude` found on `PATH`; `model` empty means [`DEFAULT_MODEL`]. `timeout`
    /// bounds the whole run; past it the process is killed.
    pub fn new(program: &str, model: &str, timeout: Duration) -> Result<Self, LlmError> {
        let program = program.trim();
        let model = model.trim();
        if model.chars().any(char::is_whitespace) {
            return Err(LlmError::Config(format!(
                "Claude Code model {model:?} contains whitespace"
            )));
        }
        Ok(Self {
            program: if program.is_empty() {
                "claude".into()
            } else {
                program.into()
            },
            model: if model.is_empty() {
                DEFAULT_MODEL.into()
            } else {
                model.into()
            },
            timeout,
            cwd: None,
        })
    }

    /// The directory the CLI runs in: should be an empty directory of claude-mem's own named
    /// [`INTERNAL_CWD_DIR`] (created when missing), so no project's `CLAUDE.md`, `.mcp.json` or
    /// `.claude/` is picked up and the worker recognises the session as its own.
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// The executable a call would start now, if there is one.
    pub fn resolve_program(&self) -> Option<PathBuf> {
        find_cli(&self.program)
    }

    /// The command line of one call (without the prompt, which goes on stdin).
    fn args(&self, req: &StructuredRequest) -> Vec<String> {
        let no_hooks = json!({"disableAllHooks": true}).to_string();
        let no_mcp = json!({"mcpServers": {}}).to_string();
        [
            "-p",
            "--output-format",
            "json",
            "--model",
            &self.model,
            "--system-prompt",
            &req.system,
            "--json-schema",
            &req.tool.input_schema.to_string(),
            "--tools",
            "",
            "--setting-sources",
            "",
            "--settings",
            &no_hooks,
            "--strict-mcp-config",
            "--mcp-config",
            &no_mcp,
            "--disable-slash-commands",
            "--no-session-persistence",
            "--max-turns",
            &MAX_TURNS.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    async fn run(&self, program: &Path, req: &StructuredRequest) -> Result<Output, LlmError> {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(self.args(req))
            .env(INTERNAL_ENV, "1")
            .env("CLAUDE_CODE_SAFE_MODE", "1")
            .env("CLAUDE_CODE_MAX_RETRIES", "0")
            .env("CLAUDE_CODE_MAX_OUTPUT_TOKENS", req.max_tokens.to_string())
            .env("DISABLE_AUTOUPDATER", "1")
            // Not a user's terminal session: no tips, no update checks, no bug-report prompts.
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(cwd) = &self.cwd {
            std::fs::create_dir_all(cwd)
                .map_err(|e| LlmError::Config(format!("cannot create {}: {e}", cwd.display())))?;
            cmd.current_dir(cwd);
        }
        let mut child = cmd.spawn().map_err(|e| spawn_error(program, &e))?;
        let mut stdin = child.stdin.take();
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        // The tool description is not a CLI option: it closes the user message instead.
        let prompt = format!(
            "{}\n\nAnswer by calling the StructuredOutput tool ({}).\n",
            req.user.trim_end(),
            req.tool.description.trim_end_matches('.')
        );
        let write = async move {
            if let Some(mut w) = stdin.take() {
                // A child that exits without reading everything is reported by its output, not here.
                let _ = w.write_all(prompt.as_bytes()).await;
                let _ = w.shutdown().await;
            }
        };
        let read_out = async move {
            let mut buf = Vec::new();
            if let Some(r) = stdout.take() {
                let _ = r.take(MAX_STDOUT_BYTES).read_to_end(&mut buf).await;
            }
            buf
        };
        let read_err = async move {
            let mut buf = Vec::new();
            if let Some(r) = stderr.take() {
                let _ = r.take(1024 * 1024).read_to_end(&mut buf).await;
            }
            buf
        };
        let all = async {
            let ((), out, err) = tokio::join!(write, read_out, read_err);
            let status = child.wait().await;
            (status, out, err)
        };
        // On timeout `all` is dropped, and with it the child: `kill_on_drop` ends the process.
        let (status, stdout, stderr) = tokio::time::timeout(self.timeout, all)
            .await
            .map_err(|_| LlmError::Timeout)?;
        let status = status.map_err(|e| LlmError::Network(format!("waiting for claude: {e}")))?;
        Ok(Output {
            success: status.success(),
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

struct Output {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn spawn_error(program: &Path, e: &std::io::Error) -> LlmError {
    match e.kind() {
        std::io::ErrorKind::NotFound => LlmError::Config(format!(
            "the Claude Code CLI was not found at {} (set compression.claude_code_path)",
            program.display()
        )),
        _ => LlmError::Config(format!("cannot start {}: {e}", program.display())),
    }
}

#[async_trait::async_trait]
impl StructuredLlm for ClaudeCodeClient {
    fn provider(&self) -> &str {
        PROVIDER
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn call(&self, req: &StructuredRequest) -> Result<StructuredResponse, LlmError> {
        let program = self.resolve_program().ok_or_else(|| {
            LlmError::Config(format!(
                "the Claude Code CLI {:?} was not found (set compression.claude_code_path)",
                self.program
            ))
        })?;
        let out = self.run(&program, req).await?;
        parse_output(&out.stdout, &self.model, now_secs()).map_err(|e| match e {
            // No result object at all: the process itself failed; say how.
            Unparsed::NotJson => process_error(&out),
            Unparsed::Llm(e) => e,
        })
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why stdout did not give a response.
#[derive(Debug, PartialEq)]
enum Unparsed {
    /// Not a result object: look at the exit status and stderr instead.
    NotJson,
    Llm(LlmError),
}

fn snippet(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(SNIPPET_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// A run that printed no result object: a crash, an option this CLI does not know, a signal.
fn process_error(out: &Output) -> LlmError {
    let stderr = snippet(&out.stderr);
    let detail = if stderr.is_empty() {
        snippet(&out.stdout)
    } else {
        stderr
    };
    let lower = detail.to_lowercase();
    if lower.contains("unknown option") || lower.contains("unknown command") {
        return LlmError::Config(format!(
            "this Claude Code CLI is too old for claude-mem (needs --json-schema, --tools, \
             --setting-sources; 2.x works): {detail}"
        ));
    }
    if let Some(e) = classify_message(&detail) {
        return e;
    }
    let how = match (out.success, out.code) {
        (true, _) => "claude exited without a result".to_owned(),
        (false, Some(code)) => format!("claude exited with status {code}"),
        (false, None) => "claude was killed by a signal".to_owned(),
    };
    // Crashes are worth another try later; a config problem shows up as one of the cases above.
    LlmError::Server {
        status: 500,
        message: if detail.is_empty() {
            how
        } else {
            format!("{how}: {detail}")
        },
    }
}

/// Failures recognisable from Claude Code's own wording (its login and plan-limit messages carry no
/// HTTP status).
fn classify_message(text: &str) -> Option<LlmError> {
    let lower = text.to_lowercase();
    let auth = [
        "not logged in",
        "/login",
        "invalid api key",
        "oauth token has expired",
        "oauth token revoked",
        "authentication_error",
        "failed to authenticate",
    ];
    if auth.iter().any(|p| lower.contains(p)) {
        return Some(LlmError::Auth(format!("Claude Code: {}", snippet(text))));
    }
    let limit = [
        "usage limit",
        "limit reached",
        "hit your limit",
        "rate limit",
        "rate_limit",
    ];
    if limit.iter().any(|p| lower.contains(p)) {
        return Some(LlmError::RateLimited {
            retry_after: None,
            message: format!("Claude Code: {}", snippet(text)),
        });
    }
    None
}

/// `Claude AI usage limit reached|1767225600`: the plan's limit and the epoch second it resets.
fn limit_reset(text: &str, now: u64) -> Option<Duration> {
    let (_, tail) = text.rsplit_once('|')?;
    let reset: u64 = tail.trim().parse().ok()?;
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

fn u64_at(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The model that did the work: the `modelUsage` entry with the most output (Claude Code may use a
/// second small model on the side), else the configured alias.
fn reported_model(v: &Value, configured: &str) -> String {
    v.get("modelUsage")
        .and_then(Value::as_object)
        .and_then(|m| {
            m.iter()
                .max_by_key(|(_, u)| u64_at(u, "outputTokens") + u64_at(u, "inputTokens"))
                .map(|(name, _)| name.clone())
        })
        .unwrap_or_else(|| configured.to_owned())
}

/// A JSON object in `text`, bare or in a Markdown code fence: what a model that skipped the tool may
/// still have written.
fn object_in_text(text: &str) -> Option<Value> {
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|r| r.trim_end().strip_suffix("```"))
        .unwrap_or(t);
    match serde_json::from_str::<Value>(t.trim()) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// The result object `claude -p --output-format json` prints, as a response or a classified error.
fn parse_output(
    stdout: &str,
    configured_model: &str,
    now: u64,
) -> Result<StructuredResponse, Unparsed> {
    // Some versions print warnings before the object: take the last line that parses.
    let v = serde_json::from_str::<Value>(stdout.trim())
        .ok()
        .filter(Value::is_object)
        .or_else(|| {
            stdout
                .lines()
                .rev()
                .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
                .find(|v| v.get("type").and_then(Value::as_str) == Some("result"))
        })
        .ok_or(Unparsed::NotJson)?;
    if v.get("type").and_then(Value::as_str) != Some("result") {
        return Err(Unparsed::NotJson);
    }
    let text = v.get("result").and_then(Value::as_str).unwrap_or("");
    let subtype = v.get("subtype").and_then(Value::as_str).unwrap_or("");
    let is_error =
        v.get("is_error").and_then(Value::as_bool).unwrap_or(false) || subtype.starts_with("error");
    if is_error {
        return Err(Unparsed::Llm(result_error(&v, text, subtype, now)));
    }
    let usage = v.get("usage").cloned().unwrap_or(Value::Null);
    let usage = Usage {
        input_tokens: u64_at(&usage, "input_tokens"),
        output_tokens: u64_at(&usage, "output_tokens"),
        cache_write_tokens: u64_at(&usage, "cache_creation_input_tokens"),
        cache_read_tokens: u64_at(&usage, "cache_read_input_tokens"),
    };
    let value = match v.get("structured_output") {
        Some(o @ Value::Object(_)) => o.clone(),
        _ => object_in_text(text).ok_or_else(|| {
            Unparsed::Llm(LlmError::MalformedOutput(format!(
                "Claude Code answered without the structured output: {}",
                snippet(text)
            )))
        })?,
    };
    let reported_cost_usd = v
        .get("total_cost_usd")
        .and_then(Value::as_f64)
        .filter(|c| c.is_finite() && *c >= 0.0);
    Ok(StructuredResponse {
        reported_cost_usd,
        value,
        usage,
        model: reported_model(&v, configured_model),
        request_id: v
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        stop_reason: v
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// An `is_error` result: by the API status Claude Code saw when there was one, else by its wording.
fn result_error(v: &Value, text: &str, subtype: &str, now: u64) -> LlmError {
    let message = format!(
        "Claude Code: {}",
        snippet(if text.is_empty() { subtype } else { text })
    );
    let status = v
        .get("api_error_status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok());
    if let Some(status) = status {
        return match status {
            429 => LlmError::RateLimited {
                retry_after: limit_reset(text, now),
                message,
            },
            529 => LlmError::Overloaded {
                retry_after: None,
                message,
            },
            401..=403 => LlmError::Auth(message),
            408 => LlmError::Timeout,
            500..=599 => LlmError::Server { status, message },
            400..=499 => LlmError::BadRequest { status, message },
            _ => LlmError::Server { status, message },
        };
    }
    match subtype {
        "error_max_turns" | "error_max_structured_output_retries" => {
            return LlmError::MalformedOutput(format!(
                "Claude Code gave no structured output ({subtype})"
            ))
        }
        "error_max_budget_usd" => return LlmError::Auth(message),
        _ => {}
    }
    match classify_message(text) {
        Some(LlmError::RateLimited { message, .. }) => LlmError::RateLimited {
            retry_after: limit_reset(text, now),
            message,
        },
        Some(e) => e,
        // `error_during_execution` and the like: not the request's fault, worth another try.
        None => LlmError::Server {
            status: 500,
            message,
        },
    }
}

/// The CLI to run: `configured` when it names a file (a path, `~/` expanded), else `configured` (or
/// `claude`) on `PATH`, else the places Claude Code's installers put it (`~/.claude/local/claude`,
/// `~/.local/bin/claude`; on macOS also Homebrew's), which a worker started by a desktop session may not
/// have on its `PATH`.
pub fn find_cli(configured: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    find_cli_in(
        configured,
        std::env::var_os("PATH").as_deref(),
        home.as_deref(),
    )
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

fn find_cli_in(
    configured: &str,
    path: Option<&std::ffi::OsStr>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    let configured = configured.trim();
    let name = if configured.is_empty() {
        "claude"
    } else {
        configured
    };
    let expanded = match (name.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(name),
    };
    if expanded.components().count() > 1 || expanded.is_absolute() {
        // A path: that file or nothing (a wrong path must not silently run another CLI).
        return is_executable(&expanded).then_some(expanded);
    }
    let exe_names: &[String] = &if cfg!(windows) {
        vec![
            format!("{name}.exe"),
            format!("{name}.cmd"),
            name.to_owned(),
        ]
    } else {
        vec![name.to_owned()]
    };
    if let Some(path) = path {
        for dir in std::env::split_paths(path) {
            for n in exe_names {
                let candidate = dir.join(n);
                if is_executable(&candidate) {
                    return Some(candidate);
                }
            }
        }
    }
    if name != "claude" {
        return None;
    }
    let mut places: Vec<PathBuf> = home
        .map(|h| vec![h.join(".claude/local/claude"), h.join(".local/bin/claude")])
        .unwrap_or_default();
    if cfg!(target_os = "macos") {
        // A desktop app on macOS starts without the shell's PATH.
        places.extend(["/opt/homebrew/bin/claude", "/usr/local/bin/claude"].map(PathBuf::from));
    }
    places.into_iter().find(|p| is_executable(p))
}

/// Whether Claude Code has a login it can use without us, judged from local files and the environment
/// only (no process, no network), so `compression.provider = auto` can choose it cheaply:
///
/// - `CLAUDE_CODE_OAUTH_TOKEN` is set (`claude setup-token`), or
/// - `<config>/.credentials.json` holds a `claudeAiOauth` token (Linux, Windows: where `/login` stores it), or
/// - `~/.claude.json` (`<config>/.claude.json` under `CLAUDE_CONFIG_DIR`) records an `oauthAccount` or a
///   `primaryApiKey`: written on every platform at login, and the only trace on macOS, whose token lives in
///   the keychain, which is not read.
///
/// A fresh install, or a test sandbox with only `hasCompletedOnboarding`, is not logged in.
pub fn has_login() -> bool {
    has_login_in(
        |k| std::env::var(k).ok(),
        std::env::var_os("HOME").map(PathBuf::from).as_deref(),
    )
}

fn has_login_in(env: impl Fn(&str) -> Option<String>, home: Option<&Path>) -> bool {
    if env("CLAUDE_CODE_OAUTH_TOKEN").is_some_and(|t| !t.trim().is_empty()) {
        return true;
    }
    let config_dir = env("CLAUDE_CONFIG_DIR")
        .filter(|d| !d.trim().is_empty())
        .map(PathBuf::from);
    let (config_dir, state_file) = match (config_dir, home) {
        (Some(dir), _) => (dir.clone(), dir.join(".claude.json")),
        (None, Some(home)) => (home.join(".claude"), home.join(".claude.json")),
        (None, None) => return false,
    };
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    };
    let present = |v: Option<&Value>| match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    };
    if let Some(creds) = read(&config_dir.join(".credentials.json")) {
        if present(creds.pointer("/claudeAiOauth/accessToken"))
            || present(creds.pointer("/claudeAiOauth/refreshToken"))
        {
            return true;
        }
    }
    read(&state_file)
        .is_some_and(|s| present(s.get("oauthAccount")) || present(s.get("primaryApiKey")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolSpec;

    const NOW: u64 = 1_800_000_000;

    fn ok_result() -> Value {
        json!({
            "type": "result", "subtype": "success", "is_error": false, "api_error_status": null,
            "num_turns": 2, "result": "{\"observations\":[]}", "stop_reason": "tool_use",
            "session_id": "a5190dad-5e9d-42a6-9329-48bf6aaf0f12", "total_cost_usd": 0.000035,
            "usage": {"input_tokens": 10, "cache_creation_input_tokens": 7, "cache_read_input_tokens": 3,
                      "output_tokens": 5, "service_tier": "standard"},
            "modelUsage": {
                "claude-haiku-4-5-20251001": {"inputTokens": 10, "outputTokens": 5, "costUSD": 0.000035},
                "claude-3-5-haiku-20241022": {"inputTokens": 2, "outputTokens": 1, "costUSD": 0.000001}
            },
            "structured_output": {"observations": [{"type": "discovery", "title": "t"}]},
            "terminal_reason": "completed"
        })
    }

    fn parse(v: &Value) -> Result<StructuredResponse, Unparsed> {
        parse_output(&v.to_string(), "haiku", NOW)
    }

    fn err(v: Value) -> LlmError {
        match parse(&v) {
            Err(Unparsed::Llm(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn error_result(status: Option<u16>, text: &str) -> Value {
        json!({"type": "result", "subtype": "success", "is_error": true, "api_error_status": status,
               "result": text, "total_cost_usd": 0, "usage": {"input_tokens": 0, "output_tokens": 0}})
    }

    #[test]
    fn a_success_gives_the_structured_output_usage_and_exact_model() {
        let r = parse(&ok_result()).unwrap();
        assert_eq!(r.reported_cost_usd, Some(0.000035));
        assert_eq!(
            r.value,
            json!({"observations": [{"type": "discovery", "title": "t"}]})
        );
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 10,
                output_tokens: 5,
                cache_write_tokens: 7,
                cache_read_tokens: 3
            }
        );
        assert_eq!(r.model, "claude-haiku-4-5-20251001");
        assert_eq!(
            r.request_id.as_deref(),
            Some("a5190dad-5e9d-42a6-9329-48bf6aaf0f12")
        );
        assert_eq!(r.stop_reason.as_deref(), Some("tool_use"));
    }

    #[test]
    fn without_structured_output_a_json_result_text_still_counts() {
        let mut v = ok_result();
        v.as_object_mut().unwrap().remove("structured_output");
        v.as_object_mut().unwrap().remove("modelUsage");
        v["result"] = json!("```json\n{\"observations\": []}\n```");
        let r = parse(&v).unwrap();
        assert_eq!(r.value, json!({"observations": []}));
        assert_eq!(r.model, "haiku");
        v["result"] = json!("I looked at the events and found nothing.");
        assert!(matches!(err(v), LlmError::MalformedOutput(m) if m.contains("found nothing")));
    }

    #[test]
    fn warnings_before_the_result_line_are_skipped() {
        let out = format!("Warning: something\n{}\n", ok_result());
        assert!(parse_output(&out, "haiku", NOW).is_ok());
        assert_eq!(
            parse_output("", "haiku", NOW).unwrap_err(),
            Unparsed::NotJson
        );
        assert_eq!(
            parse_output("error: unknown option '--json-schema'", "haiku", NOW).unwrap_err(),
            Unparsed::NotJson
        );
        assert_eq!(
            parse_output("{\"type\":\"system\"}", "haiku", NOW).unwrap_err(),
            Unparsed::NotJson
        );
    }

    #[test]
    fn api_statuses_map_to_the_error_classes() {
        let cases = [
            (401, "Failed to authenticate. API Error: 401"),
            (400, "API Error: 400 prompt is too long"),
            (429, "API Error: Request rejected (429)"),
            (529, "API Error: 529 overloaded"),
            (500, "API Error: 500 api_error"),
            (408, "timeout"),
        ];
        let got: Vec<LlmError> = cases
            .iter()
            .map(|(s, t)| err(error_result(Some(*s), t)))
            .collect();
        assert!(matches!(got[0], LlmError::Auth(_)), "{:?}", got[0]);
        assert!(
            matches!(got[1], LlmError::BadRequest { status: 400, .. }),
            "{:?}",
            got[1]
        );
        assert!(
            matches!(got[2], LlmError::RateLimited { .. }),
            "{:?}",
            got[2]
        );
        assert!(
            matches!(got[3], LlmError::Overloaded { .. }),
            "{:?}",
            got[3]
        );
        assert!(
            matches!(got[4], LlmError::Server { status: 500, .. }),
            "{:?}",
            got[4]
        );
        assert_eq!(got[5], LlmError::Timeout);
        let transient: Vec<bool> = got.iter().map(LlmError::is_transient).collect();
        assert_eq!(transient, [false, false, true, true, true, true]);
    }

    #[test]
    fn login_and_plan_limits_are_recognised_by_wording() {
        let e = err(error_result(None, "Not logged in · Please run /login"));
        assert!(
            matches!(&e, LlmError::Auth(m) if m.contains("Not logged in")),
            "{e:?}"
        );
        assert!(!e.is_transient());
        let reset = NOW + 3600;
        let e = err(error_result(
            None,
            &format!("Claude AI usage limit reached|{reset}"),
        ));
        assert!(e.is_transient());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
        let e = err(error_result(None, "You've hit your limit · resets 3pm"));
        assert!(
            matches!(
                e,
                LlmError::RateLimited {
                    retry_after: None,
                    ..
                }
            ),
            "{e:?}"
        );
        // An unexplained failure during execution is worth another try.
        let mut v = error_result(None, "");
        v["subtype"] = json!("error_during_execution");
        assert!(err(v).is_transient());
        let mut v = error_result(None, "");
        v["subtype"] = json!("error_max_turns");
        assert!(matches!(err(v), LlmError::MalformedOutput(_)));
    }

    #[test]
    fn process_failures_without_a_result() {
        let out = |success, code, stderr: &str| Output {
            success,
            code,
            stdout: String::new(),
            stderr: stderr.into(),
        };
        let e = process_error(&out(
            false,
            Some(1),
            "error: unknown option '--json-schema'",
        ));
        assert!(
            matches!(&e, LlmError::Config(m) if m.contains("too old")),
            "{e:?}"
        );
        let e = process_error(&out(false, None, ""));
        assert!(e.is_transient(), "{e:?}");
        assert!(e.to_string().contains("signal"));
        let e = process_error(&out(false, Some(1), "Invalid API key · Please run /login"));
        assert!(matches!(e, LlmError::Auth(_)), "{e:?}");
    }

    fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        p
    }

    #[test]
    fn the_cli_is_found_by_path_name_or_install_place() {
        let dir = std::env::temp_dir().join(format!("cm-find-cli-{}", std::process::id()));
        let bin = dir.join("bin");
        let home = dir.join("home");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(home.join(".local/bin")).unwrap();
        let on_path = write_script(&bin, "claude", "exit 0");
        let path = std::env::join_paths([&bin]).unwrap();
        assert_eq!(
            find_cli_in("", Some(&path), Some(&home)),
            Some(on_path.clone())
        );
        assert_eq!(
            find_cli_in(on_path.to_str().unwrap(), None, None),
            Some(on_path.clone())
        );
        assert_eq!(
            find_cli_in("/nonexistent/claude", Some(&path), Some(&home)),
            None
        );
        assert_eq!(find_cli_in("", None, Some(&home)), None);
        let installed = write_script(&home.join(".local/bin"), "claude", "exit 0");
        assert_eq!(find_cli_in("", None, Some(&home)), Some(installed.clone()));
        assert_eq!(
            find_cli_in("~/.local/bin/claude", None, Some(&home)),
            Some(installed)
        );
        // Not executable: not a CLI.
        std::fs::write(bin.join("plain"), "x").unwrap();
        assert_eq!(find_cli_in("plain", Some(&path), None), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn login_is_judged_from_files_and_env_only() {
        let dir = std::env::temp_dir().join(format!("cm-login-{}", std::process::id()));
        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".claude")).unwrap();
        let none = |_: &str| None;
        assert!(!has_login_in(none, Some(&home)));
        assert!(!has_login_in(none, None));
        // What the test sandboxes write: onboarding done, no login.
        std::fs::write(
            home.join(".claude.json"),
            r#"{"hasCompletedOnboarding": true}"#,
        )
        .unwrap();
        assert!(!has_login_in(none, Some(&home)));
        assert!(has_login_in(
            |k| (k == "CLAUDE_CODE_OAUTH_TOKEN").then(|| "sk-ant-oat01-x".to_owned()),
            Some(&home)
        ));
        std::fs::write(
            home.join(".claude/.credentials.json"),
            r#"{"claudeAiOauth": {"accessToken": "a", "refreshToken": "r"}}"#,
        )
        .unwrap();
        assert!(has_login_in(none, Some(&home)));
        std::fs::remove_file(home.join(".claude/.credentials.json")).unwrap();
        std::fs::write(
            home.join(".claude.json"),
            r#"{"hasCompletedOnboarding": true, "oauthAccount": {"emailAddress": "a@b.c"}}"#,
        )
        .unwrap();
        assert!(has_login_in(none, Some(&home)));
        // CLAUDE_CONFIG_DIR moves both files.
        let cfg = dir.join("cfg");
        std::fs::create_dir_all(&cfg).unwrap();
        let in_cfg =
            |k: &str| (k == "CLAUDE_CONFIG_DIR").then(|| cfg.to_string_lossy().into_owned());
        assert!(!has_login_in(in_cfg, Some(&home)));
        std::fs::write(cfg.join(".claude.json"), r#"{"primaryApiKey": "sk-ant-x"}"#).unwrap();
        assert!(has_login_in(in_cfg, Some(&home)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn request() -> StructuredRequest {
        StructuredRequest {
            system: "You are a memory.".into(),
            user: "Events: one".into(),
            tool: ToolSpec {
                name: "record".into(),
                description: "Record it.".into(),
                input_schema: json!({"type": "object", "properties": {}}),
            },
            max_tokens: 1000,
            temperature: 0.0,
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_fake_cli_is_run_with_the_guards_and_the_prompt_on_stdin() {
        let dir = std::env::temp_dir().join(format!("cm-fake-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let script = write_script(
            &dir,
            "claude",
            &format!(
                "printf '%s\\n' \"$@\" > {log}.args; cat > {log}.stdin; pwd > {log}.cwd; \
                 echo \"$CLAUDE_MEM_INTERNAL\" > {log}.env\n\
                 echo '{result}'",
                log = log.display(),
                result = ok_result()
            ),
        );
        let cwd = dir.join(INTERNAL_CWD_DIR);
        let client = ClaudeCodeClient::new(script.to_str().unwrap(), "", Duration::from_secs(20))
            .unwrap()
            .with_cwd(&cwd);
        assert_eq!(
            (client.provider(), client.model()),
            ("claude-code", "haiku")
        );
        let r = client.call(&request()).await.unwrap();
        assert_eq!(r.usage.output_tokens, 5);
        let args = std::fs::read_to_string(format!("{}.args", log.display())).unwrap();
        let args: Vec<&str> = args.lines().collect();
        for flag in [
            "-p",
            "--strict-mcp-config",
            "--no-session-persistence",
            "--disable-slash-commands",
        ] {
            assert!(args.contains(&flag), "{flag} missing from {args:?}");
        }
        let after = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
        assert_eq!(after("--tools"), "");
        assert_eq!(after("--setting-sources"), "");
        assert_eq!(after("--model"), "haiku");
        assert_eq!(after("--output-format"), "json");
        assert_eq!(after("--system-prompt"), "You are a memory.");
        assert!(after("--settings").contains("disableAllHooks"));
        assert!(
            !args.iter().any(|a| a.contains("Events: one")),
            "prompt leaked to argv"
        );
        let stdin = std::fs::read_to_string(format!("{}.stdin", log.display())).unwrap();
        assert!(stdin.starts_with("Events: one"), "{stdin}");
        assert!(
            stdin.contains("StructuredOutput tool (Record it)"),
            "{stdin}"
        );
        let ran_in = std::fs::read_to_string(format!("{}.cwd", log.display())).unwrap();
        assert!(ran_in.trim().ends_with(INTERNAL_CWD_DIR), "{ran_in}");
        let env = std::fs::read_to_string(format!("{}.env", log.display())).unwrap();
        assert_eq!(env.trim(), "1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_hanging_cli_times_out_and_a_missing_one_is_a_config_error() {
        let dir = std::env::temp_dir().join(format!("cm-hang-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("pid");
        let script = write_script(
            &dir,
            "claude",
            &format!("echo $$ > {}; exec sleep 30", pid_file.display()),
        );
        let client = ClaudeCodeClient::new(
            script.to_str().unwrap(),
            "haiku",
            Duration::from_millis(700),
        )
        .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            client.call(&request()).await.unwrap_err(),
            LlmError::Timeout
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        // kill_on_drop: the process is gone soon after.
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let mut alive = true;
        for _ in 0..50 {
            alive = Path::new(&format!("/proc/{}", pid.trim())).exists()
                && !std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                    .unwrap_or_default()
                    .contains(") Z ");
            if !alive {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            !alive || !cfg!(target_os = "linux"),
            "the timed-out CLI still runs"
        );

        let missing = ClaudeCodeClient::new(
            dir.join("nope").to_str().unwrap(),
            "",
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(missing.resolve_program().is_none());
        let e = missing.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::Config(m) if m.contains("not found")),
            "{e:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
