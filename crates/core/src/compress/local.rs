//! The local compressor: deterministic rules over tool names, inputs and outputs. It is the default when no
//! API key is configured and the fallback when the LLM budget is spent, so its output is what most users
//! get back from search and the SessionStart context: it writes memories, not logs.
//!
//! One observation per coherent piece of work — a prompt's turn, split after each commit — titled by what
//! was done and how it ended (the commit message when there is one, "Fixed … — tests pass", "Tests fail:
//! …"), with the files, commands, errors and outcome as facts and the prompt quoted once. Shell chains are
//! parsed ([`shell`]) and classified by the program that matters; failed commands keep their real error
//! text; types come from outcomes (a failure, an edit, then a pass is a `bugfix`); risky commands and
//! redacted secrets make a `security_alert`. Fixed text is English or Chinese ([`lang`]).

mod errtext;
mod lang;
mod shell;

pub use lang::Lang;
pub(crate) use lang::{is_edit_title, is_explored_title, ran_command};

use super::{tool_events, CompressError, Compressed, Compressor, Summarized, ToolEvent};

use crate::model::{ObservationDraft, ObservationType, QueuedEvent, SessionContext, SummaryDraft};
use async_trait::async_trait;
use lang::M;
use regex::Regex;
use serde_json::Value;
use shell::{Cmd, Kind, Risk};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::LazyLock;

pub const NAME: &str = "local";

/// The concept that marks a local `bugfix` the events show: a command failed, files were edited, and the
/// same command then passed. The context builder trusts a local `bugfix` only with it.
pub const FIXED_FAILURE: &str = "fixed-failure";
/// The concept of an observation whose work ended in a failure nobody fixed (yet).
pub const FAILURE: &str = "failure";

/// `min_significance` compares against these scores (0–1): a piece of work below it makes no observation.
mod score {
    pub const TRIVIAL: f32 = 0.1;
    pub const LOOKUP: f32 = 0.25;
    pub const SEARCH: f32 = 0.35;
    pub const COMMAND: f32 = 0.35;
    pub const EXPLORATION: f32 = 0.4;
    pub const RESEARCH: f32 = 0.45;
    pub const BUILD: f32 = 0.5;
    pub const TESTS: f32 = 0.6;
    pub const FAILURE: f32 = 0.6;
    pub const DEPENDENCY: f32 = 0.6;
    pub const EDIT: f32 = 0.7;
    pub const ACTION: f32 = 0.7;
    pub const COMMIT: f32 = 0.75;
}

#[derive(Debug, Clone)]
pub struct LocalCompressor {
    min_significance: f32,
    lang: Lang,
}

impl LocalCompressor {
    /// `language` is `compression.language` (`en`, `zh`, `zh-CN`…); unknown languages write English.
    pub fn new(min_significance: f32, language: &str) -> Self {
        Self {
            min_significance,
            lang: Lang::from_code(language),
        }
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }
}

impl Default for LocalCompressor {
    fn default() -> Self {
        Self::new(0.3, "en")
    }
}

#[async_trait]
impl Compressor for LocalCompressor {
    fn name(&self) -> &str {
        NAME
    }

    async fn compress(
        &self,
        ctx: &SessionContext,
        events: &[QueuedEvent],
    ) -> Result<Compressed, CompressError> {
        Ok(Compressed {
            observations: compress_events_in(
                self.lang,
                ctx,
                events,
                &HashSet::new(),
                self.min_significance,
            ),
            usage: Vec::new(),
            compressor: NAME.to_owned(),
            model: None,
        })
    }

    async fn summarize(
        &self,
        ctx: &SessionContext,
        events: &[QueuedEvent],
        observations: &[ObservationDraft],
        last_assistant_message: Option<&str>,
    ) -> Result<Summarized, CompressError> {
        Ok(Summarized {
            summary: summarize_in(self.lang, ctx, events, observations, last_assistant_message),
            usage: Vec::new(),
            compressor: NAME.to_owned(),
            model: None,
        })
    }
}

/// The program and first subcommand of a shell command line's meaningful command (`cd x && cargo test`
/// → `cargo`, `test`).
pub(crate) fn program(command: &str) -> (String, String) {
    shell::program(command)
}

/// The rules in English, callable without a runtime (benchmarks, the LLM fallback path).
pub fn compress_events(
    ctx: &SessionContext,
    events: &[QueuedEvent],
    already_seen_tool_ids: &HashSet<String>,
    min_significance: f32,
) -> Vec<ObservationDraft> {
    compress_events_in(
        Lang::En,
        ctx,
        events,
        already_seen_tool_ids,
        min_significance,
    )
}

/// The rules, writing in `lang`.
pub fn compress_events_in(
    lang: Lang,
    ctx: &SessionContext,
    events: &[QueuedEvent],
    already_seen_tool_ids: &HashSet<String>,
    min_significance: f32,
) -> Vec<ObservationDraft> {
    let tools = tool_events(events, already_seen_tool_ids);
    let mut turns: BTreeMap<i64, Vec<Step>> = BTreeMap::new();
    for t in &tools {
        turns
            .entry(t.prompt_number)
            .or_default()
            .push(analyze(ctx, t));
    }
    let mut out = Vec::new();
    for (prompt, steps) in turns {
        out.extend(turn_cards(lang, ctx, prompt, &steps, min_significance));
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// One tool call, understood.

/// A shell command and how it ended.
#[derive(Debug)]
struct Run {
    /// The meaningful command's own text (`git commit -m "…"` of `git add -A && git commit -m "…"`).
    shown: String,
    description: String,
    cmds: Vec<Cmd>,
    kind: Kind,
    prog: String,
    /// Reruns of one check share it.
    key: String,
    failed: bool,
    /// The real error: past `Exit code N`, the assertion or error line.
    error: Option<String>,
    /// Other problems the failed run reported (lint findings in other files, a second error), a few.
    details: Vec<String>,
    /// Errors or exceptions a successful run printed (a `grep` of a log): what was being looked for.
    findings: Vec<String>,
    /// What a successful script, migration or deploy printed that holds values (counts, timings, sizes).
    digest: Option<String>,
    failing_tests: Vec<String>,
    /// `test result: ok. 3 passed…`.
    result: Option<String>,
    commit: Option<String>,
    push: Option<String>,
    tag: Option<String>,
    pr: Option<String>,
    packages: Vec<String>,
    output: String,
}

#[derive(Debug)]
enum Act {
    Read(String),
    Search {
        pattern: String,
        found: Vec<String>,
    },
    Edit {
        file: String,
        created: bool,
        pairs: Vec<(String, String)>,
    },
    Bash(Box<Run>),
    Web {
        target: String,
        result: String,
    },
    Task {
        description: String,
        result: String,
    },
    Tool {
        name: String,
        input: String,
        result: String,
    },
    FileFail {
        tool: String,
        file: String,
        error: String,
    },
    Skip,
}

#[derive(Debug)]
struct Step<'a> {
    t: &'a ToolEvent<'a>,
    act: Act,
    significance: f32,
    /// Looks around only: left out of the memory (and not cited) unless everything is kept.
    trivial: bool,
    risks: Vec<(Risk, String)>,
    /// Kinds of `[REDACTED:<kind>]` markers in the call.
    secrets: Vec<String>,
}

impl Step<'_> {
    fn run(&self) -> Option<&Run> {
        match &self.act {
            Act::Bash(r) => Some(r),
            _ => None,
        }
    }
    fn is_edit(&self) -> bool {
        matches!(self.act, Act::Edit { .. })
    }
    fn commit(&self) -> Option<&str> {
        self.run().and_then(|r| r.commit.as_deref())
    }
}

fn file_of(t: &ToolEvent) -> Option<String> {
    t.input_str("file_path")
        .or_else(|| t.input_str("notebook_path"))
        .or_else(|| t.input_str("path"))
        .map(str::to_owned)
}

fn analyze<'a>(ctx: &SessionContext, t: &'a ToolEvent<'a>) -> Step<'a> {
    let mut secrets = Vec::new();
    redactions(t.input, &mut secrets);
    redactions(t.response, &mut secrets);
    if let Some(e) = t.error {
        redaction_kinds(e, &mut secrets);
    }
    let mut risks = Vec::new();
    let (act, significance, trivial) = match t.tool_name {
        "Bash" => {
            let run = bash(t);
            for r in shell::risks(t.input_str("command").unwrap_or(""), &run.cmds) {
                risks.push((r, run.shown.clone()));
            }
            let (significance, trivial) = match run.kind {
                // Looking around that turned up an error (a `grep` of a log) found what was sought.
                Kind::Trivial | Kind::GitRead if !run.findings.is_empty() => (score::SEARCH, false),
                Kind::Trivial | Kind::GitRead if run.failed => (score::LOOKUP, true),
                Kind::Trivial | Kind::GitRead => (score::TRIVIAL, true),
                _ if run.failed => (score::FAILURE, false),
                Kind::Commit => (score::COMMIT, false),
                Kind::Push | Kind::Tag | Kind::PullRequest | Kind::Deploy | Kind::Migrate => {
                    (score::ACTION, false)
                }
                Kind::Install => (score::DEPENDENCY, false),
                Kind::Test => (score::TESTS, false),
                Kind::Build | Kind::Lint | Kind::Format | Kind::Merge => (score::BUILD, false),
                Kind::GitWrite | Kind::Other => (score::COMMAND, false),
            };
            (Act::Bash(Box::new(run)), significance, trivial)
        }
        "Read" | "NotebookRead" | "Edit" | "MultiEdit" | "Write" | "NotebookEdit" if t.failed() => {
            let file = file_of(t)
                .map(|p| display_path(ctx, &p))
                .unwrap_or_default();
            let error = t.error.unwrap_or("failed").to_owned();
            let e = error.to_ascii_lowercase();
            // A read of a file that is not there, an edit whose old text moved: routine.
            let routine = e.contains("does not exist")
                || e.contains("no such file")
                || e.contains("not found")
                || t.tool_name != "Read" && t.tool_name != "NotebookRead";
            let act = Act::FileFail {
                tool: t.tool_name.to_owned(),
                file,
                error,
            };
            if routine {
                (act, score::TRIVIAL, true)
            } else {
                (act, score::FAILURE, false)
            }
        }
        "Read" | "NotebookRead" => {
            let file = file_of(t)
                .map(|p| display_path(ctx, &p))
                .unwrap_or_default();
            (Act::Read(file), score::LOOKUP, false)
        }
        "Edit" | "MultiEdit" | "Write" | "NotebookEdit" => {
            let file = file_of(t)
                .map(|p| display_path(ctx, &p))
                .unwrap_or_default();
            let created = t.tool_name == "Write"
                && t.response.get("type").and_then(Value::as_str) == Some("create");
            let pairs = edit_pairs(t);
            for (_, new) in &pairs {
                for r in shell::code_risks(new) {
                    risks.push((r, file.clone()));
                }
            }
            (
                Act::Edit {
                    file,
                    created,
                    pairs,
                },
                score::EDIT,
                false,
            )
        }
        "Grep" | "Glob" => {
            let pattern = t.input_str("pattern").unwrap_or("").to_owned();
            let found: Vec<String> = t
                .response
                .get("filenames")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .take(20)
                        .map(|p| display_path(ctx, p))
                        .collect()
                })
                .unwrap_or_default();
            (Act::Search { pattern, found }, score::SEARCH, false)
        }
        "WebFetch" | "WebSearch" => {
            let target = t
                .input_str("url")
                .or_else(|| t.input_str("query"))
                .unwrap_or("");
            (
                Act::Web {
                    target: clip(target, 120),
                    result: clip(&squash(&response_text(t)), 200),
                },
                score::RESEARCH,
                false,
            )
        }
        "Task" | "Agent" => {
            let description = t
                .input_str("description")
                .or_else(|| t.input_str("prompt"))
                .unwrap_or("subtask");
            (
                Act::Task {
                    description: clip(one_line(description), 120),
                    result: clip(&squash(&response_text(t)), 320),
                },
                score::EXPLORATION,
                false,
            )
        }
        "TodoWrite" | "TodoRead" | "ExitPlanMode" | "BashOutput" | "KillShell" => {
            (Act::Skip, 0.0, true)
        }
        name => {
            let shown = match name.strip_prefix("mcp__") {
                Some(rest) => rest.replacen("__", " ", 1),
                None => name.to_owned(),
            };
            let significance = if t.failed() {
                score::FAILURE
            } else if name.starts_with("mcp__") {
                score::EXPLORATION
            } else {
                score::COMMAND
            };
            (
                Act::Tool {
                    name: shown,
                    input: clip(&t.input.to_string(), 160),
                    result: clip(one_line(&response_text(t)), 240),
                },
                significance,
                false,
            )
        }
    };
    Step {
        t,
        act,
        significance,
        trivial,
        risks,
        secrets,
    }
}

fn edit_pairs(t: &ToolEvent) -> Vec<(String, String)> {
    let own = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    match t.tool_name {
        "MultiEdit" => t
            .input
            .get("edits")
            .and_then(Value::as_array)
            .map(|edits| {
                edits
                    .iter()
                    .map(|e| (own(e.get("old_string")), own(e.get("new_string"))))
                    .collect()
            })
            .unwrap_or_default(),
        "Write" => vec![(String::new(), own(t.input.get("content")))],
        "NotebookEdit" => vec![(String::new(), own(t.input.get("new_source")))],
        _ => vec![(
            own(t.input.get("old_string")),
            own(t.input.get("new_string")),
        )],
    }
}

const REDACTED: &str = "[REDACTED:";

fn redactions(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => redaction_kinds(s, out),
        Value::Array(a) => a.iter().for_each(|v| redactions(v, out)),
        Value::Object(m) => m.values().for_each(|v| redactions(v, out)),
        _ => {}
    }
}

fn redaction_kinds(s: &str, out: &mut Vec<String>) {
    let mut rest = s;
    while let Some(at) = rest.find(REDACTED) {
        rest = &rest[at + REDACTED.len()..];
        let kind = rest.split(']').next().unwrap_or("").trim();
        if !kind.is_empty() && kind.len() < 40 && !out.iter().any(|k| k == kind) {
            out.push(kind.to_owned());
        }
    }
}

fn bash(t: &ToolEvent) -> Run {
    let command = t.input_str("command").unwrap_or("").trim();
    let cmds = shell::parse(command);
    let primary = shell::primary(&cmds);
    let kind = primary.map(|c| c.kind).unwrap_or(Kind::Other);
    let shown = primary
        .map(|c| clip(one_line(&c.text), 100))
        .unwrap_or_else(|| clip(one_line(command), 100));
    let output = response_text(t);
    let error_text = t
        .error
        .map(str::to_owned)
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| output.clone());
    // A test run piped into `tail` exits 0; its output still says it failed.
    let failed = t.failed() || (kind == Kind::Test && TESTS_FAILED.is_match(&output));
    let (error, failing_tests, details) = if failed {
        error_info(&error_text)
    } else {
        (None, Vec::new(), Vec::new())
    };
    let quiet = matches!(kind, Kind::Test | Kind::Build | Kind::Lint | Kind::Format);
    let findings = if failed || quiet {
        Vec::new()
    } else {
        findings_in(&output)
    };
    let digest = (!failed && matches!(kind, Kind::Other | Kind::Deploy | Kind::Migrate))
        .then(|| digest_of(&output, &findings))
        .flatten();
    let result = (kind == Kind::Test)
        .then(|| TEST_RESULT.find_iter(&output).last())
        .flatten()
        .map(|m| clip(m.as_str().trim(), 120));
    let mut run = Run {
        shown,
        description: t.input_str("description").unwrap_or("").to_owned(),
        kind,
        prog: primary.map(|c| c.prog.clone()).unwrap_or_default(),
        key: primary.map(Cmd::check_key).unwrap_or_default(),
        failed,
        error,
        details,
        findings,
        digest,
        failing_tests,
        result,
        commit: None,
        push: None,
        tag: None,
        pr: None,
        packages: Vec::new(),
        output: clip(one_line(output.trim()), 160),
        cmds: Vec::new(),
    };
    for c in &cmds {
        match c.kind {
            Kind::Commit => {
                run.commit = shell::commit_message(c)
                    .or_else(|| (!run.description.is_empty()).then(|| run.description.clone()))
                    .map(|m| clip(&m, 160));
                if let Some(m) = run.commit.as_ref().filter(|_| run.kind == Kind::Commit) {
                    // Not `git commit -m "$(cat <<'EOF'`.
                    run.shown = format!("git commit -m \"{}\"", clip(m, 80));
                }
            }
            Kind::Push => run.push = Some(shell::push_target(c)),
            Kind::Tag => run.tag = c.after_sub().last().map(str::to_owned),
            Kind::PullRequest => {
                run.pr = c
                    .option("-t", "--title")
                    .map(|s| clip(s, 120))
                    .or_else(|| Some(run.shown.clone()))
            }
            Kind::Install => run.packages.extend(shell::packages(c)),
            _ => {}
        }
    }
    // `git commit … && git push` refused by the remote: the commit was made, the push is what failed,
    // and a later push is what passes.
    if failed && run.commit.is_some() && REJECTED.is_match(&error_text) {
        if let Some(p) = cmds.iter().find(|c| c.kind == Kind::Push) {
            run.key = p.check_key();
            run.shown = clip(one_line(&p.text), 100);
        }
    }
    run.cmds = cmds;
    run
}

static REJECTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[rejected\]|\[remote rejected\]|failed to push some refs")
        .expect("constant regex")
});

/// An exception reported with its message (`KeyError: 'x'`, `PendingMigrationError (Migrations are…`,
/// `[SchemaError] …`), as a log prints it.
static REPORTED_EXCEPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Z][A-Za-z0-9]*[a-z0-9](?:Error|Exception)(?:: | \(|\] )")
        .expect("constant regex")
});
/// A line of source code rather than of a log (`raise KeyError(…)`, `} catch (IOException e)`), as a
/// `cat` or `grep -n` of a source file prints it.
static CODE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[\w./-]*:)?(?:\d+[:-])?\s*(?:raise|throw|except|catch|class|def|fn|func|import|from|assert|return|@|#|//|/?\*|\})")
        .expect("constant regex")
});

/// Lines that report an exception or error (`KeyError: …`, `java.lang.NullPointerException: …`,
/// `ActiveRecord::PendingMigrationError (…)`) or a failure status (`CrashLoopBackOff`, `ECONNREFUSED`)
/// in the output of a run that succeeded, a few: a `grep` of a log or a `kubectl get pods` that turned up
/// a problem found what was being looked for.
fn findings_in(output: &str) -> Vec<String> {
    unique(
        output
            .lines()
            .map(str::trim)
            .filter(|l| {
                (REPORTED_EXCEPTION.is_match(l) || errtext::reports_status(l))
                    && !CODE_LINE.is_match(l)
            })
            .map(|l| errtext::clip_keeping(&squash(l), 160)),
    )
    .into_iter()
    .take(2)
    .collect()
}

/// The lines of a successful run's output that hold values (a benchmark's timings, rows inserted, a
/// plan's sizes), the last few: results come last. None when it printed none.
fn digest_of(output: &str, findings: &[String]) -> Option<String> {
    let lines: Vec<String> = output
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.starts_with('>')
                && l.chars().any(|c| c.is_ascii_digit())
                && l.chars().filter(|c| c.is_alphabetic()).count() >= 2
        })
        .map(|l| clip(&squash(l), 90))
        .filter(|l| !findings.iter().any(|f| f.contains(l.trim_end_matches('…'))))
        .collect();
    let lines = unique(lines);
    let last: Vec<String> = lines[lines.len().saturating_sub(3)..].to_vec();
    (!last.is_empty()).then(|| last.join("; "))
}

static ERROR_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(error|failed|failure|panicked|exception|traceback|fatal|denied|refused|cannot|can't|not found|no such)\b")
        .expect("constant regex")
});
static TEST_RESULT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(test result: \w+\. \d+ passed; \d+ failed[^\n]*|\d+ passed(?:, \d+ (?:failed|skipped))*(?: in [\d.]+s)?|Tests?:\s+[^\n]*\d+ (?:passed|failed)[^\n]*|\d+ (?:tests?|examples?), \d+ failures?|^ok\s+\S+\s+[\d.]+s)",
    )
    .expect("constant regex")
});
static TESTS_FAILED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)test result: FAILED|\b[1-9]\d* failed\b|^FAIL\b|--- FAIL:|\b[1-9]\d* failures?\b",
    )
    .expect("constant regex")
});
static FAILING_TEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^\s*(?:test (\S+) \.\.\. FAILED|FAILED (\S+?)(?: - .*)?$|--- FAIL: (\S+)|● (.+?)\s*$|(?:×|✕|✗) (.+?)(?: \d+ms)?\s*$)")
        .expect("constant regex")
});
static ASSERTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^\s*(?:E\s+)?((?:assertion\b.*failed.*|AssertionError.*|assert .*|Expected:? .*|expected .* (?:to|but) .*))$")
        .expect("constant regex")
});
static PANIC_OLD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"panicked at '([^\n]*)', ").expect("constant regex"));
static EXCEPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b.*").expect("constant regex")
});

/// A name of an exception or error type: `KeyError`, `NullPointerException`, `InvalidContentEntryDataError`
/// (not the bare word `Error`).
static EXCEPTION_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Z][A-Za-z0-9]*[a-z0-9](?:Error|Exception)\b").expect("constant regex")
});
/// ESLint's report: a file's path on a line of its own, then `  48:6  warning  message  rule` lines.
static DIAGNOSTIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s+(\d+):\d+\s+(error|warning)\s+(.+?)\s{2,}(\S+)\s*$").expect("constant regex")
});

/// Lint findings as one line each, `InvoiceTable.tsx:48 rule: message`; errors first.
fn diagnostics(text: &str) -> Vec<String> {
    let mut file = "";
    let mut found: Vec<(bool, String)> = Vec::new();
    for l in text.lines() {
        let t = l.trim();
        if !l.starts_with(char::is_whitespace)
            && !t.is_empty()
            && !t.contains(' ')
            && t.contains('/')
        {
            file = t.rsplit('/').next().unwrap_or(t);
            continue;
        }
        if let Some(c) = DIAGNOSTIC.captures(l) {
            found.push((
                &c[2] == "error",
                format!("{file}:{} {}: {}", &c[1], &c[4], c[3].trim()),
            ));
        }
    }
    found.sort_by_key(|(error, _)| !error);
    found.into_iter().map(|(_, d)| d).collect()
}

static DECLARED_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    // `e:` is the Kotlin compiler's, `E:` apt's.
    Regex::new(r"^(?:error|Error|ERROR|fatal|FATAL|e|E)(?:\[\w+\])?:\s*\S").expect("constant regex")
});

static LOCATED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\w./-]+\.\w+(?::\d+){1,2}:\s+\S").expect("constant regex"));

/// Tools' closing lines that only repeat that something above failed.
const TRAILERS: [&str; 5] = [
    "error: test failed",
    "error: could not compile",
    "error: failed to push some refs",
    "error: Recipe `",
    "make: ***",
];

/// A line that only sums up a run (`1 failed, 1 passed in 0.41s`, `✖ 2 problems`), not an error.
fn is_summary(l: &str) -> bool {
    TRAILERS.iter().any(|t| l.starts_with(t))
        || l.starts_with("test result:")
        || l.starts_with("failures:")
        || l.starts_with('✖')
        || TEST_RESULT.is_match(l)
        || FAILING_TEST.is_match(l)
}

/// The error a person would want remembered, the failing tests' names, and a few other problems the run
/// reported. Claude Code puts `Exit code N` first: it is skipped, and the first meaningful line after it
/// is kept when nothing looks more specific.
fn error_info(text: &str) -> (Option<String>, Vec<String>, Vec<String>) {
    let body: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        // Terraform draws its errors in a box: `│ Error: …`.
        .map(|l| l.trim_start_matches(['│', '┃', '║', '╷', '╵']))
        .filter(|l| !l.trim().is_empty())
        .skip_while(|l| l.trim_start().starts_with("Exit code"))
        // `> app@1.0 build` / `> astro build`: npm echoing the script it runs.
        .filter(|l| !l.trim_start().starts_with("> "))
        .collect();
    let tests: Vec<String> = unique(
        FAILING_TEST
            .captures_iter(text)
            .filter_map(|c| (1..=5).find_map(|i| c.get(i)))
            .map(|m| clip(m.as_str().trim(), 80))
            .filter(|n| !n.starts_with("Test suite failed")),
    )
    .into_iter()
    .take(5)
    .collect();
    let lint = diagnostics(text);
    // A line that ends in `:` introduces the real error on the next one
    // (`StandardError: An error has occurred, … canceled:` then `PG::DuplicateTable: …`).
    let or_next = |i: usize| -> String {
        let l = body[i].trim();
        match body.get(i + 1).map(|n| n.trim()) {
            Some(next)
                if l.ends_with(':')
                    && (ERROR_LINE.is_match(next) || EXCEPTION_NAME.is_match(next)) =>
            {
                next.to_owned()
            }
            _ => l.to_owned(),
        }
    };
    let strip_e = |l: &str| -> String {
        // pytest marks the exception line `E   KeyError: 'x'`.
        l.strip_prefix("E ").map(str::trim).unwrap_or(l).to_owned()
    };
    let line = if text.contains("Traceback (most recent call last)") {
        body.iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| EXCEPTION.is_match(l))
            .map(str::to_owned)
    } else {
        None
    };
    let line = line
        .or_else(|| PANIC_OLD.captures(text).map(|c| c[1].to_owned()))
        .or_else(|| {
            // Rust ≥ 1.73: the message is the line after `panicked at file:line:col:`.
            body.iter()
                .position(|l| l.contains("panicked at") && l.trim_end().ends_with(':'))
                .and_then(|i| body.get(i + 1))
                .map(|l| {
                    let mut msg = l.trim().to_owned();
                    // `assertion `left == right` failed` is followed by the values.
                    let at = body.iter().position(|x| x.trim() == msg).unwrap_or(0);
                    for extra in body.iter().skip(at + 1).take(2) {
                        let e = extra.trim();
                        if e.starts_with("left:") || e.starts_with("right:") {
                            msg.push_str("; ");
                            msg.push_str(e);
                        }
                    }
                    msg
                })
        })
        .or_else(|| ASSERTION.captures(text).map(|c| c[1].trim().to_owned()))
        .or_else(|| {
            body.iter()
                .map(|l| l.trim())
                .find(|l| l.contains("[rejected]"))
                .map(str::to_owned)
        })
        .or_else(|| lint.first().cloned());
    // Past the shapes above (a traceback, a panic, an assertion, a rejected push, lint findings), the
    // first line of a kind is only a guess; `weak` marks the guesses by error words or position alone.
    let mut weak = false;
    let line = line
        .or_else(|| {
            // What the tool itself calls its error: `Error: …`, `error[E0308]: …`, `fatal: …`, `e: …`.
            body.iter()
                .position(|l| DECLARED_ERROR.is_match(l.trim()) && !is_summary(l.trim()))
                .map(or_next)
        })
        .or_else(|| {
            body.iter()
                .position(|l| EXCEPTION_NAME.is_match(l) && !is_summary(l.trim()))
                .map(|i| strip_e(&or_next(i)))
        })
        .or_else(|| {
            weak = true;
            body.iter()
                .position(|l| ERROR_LINE.is_match(l) && !is_summary(l.trim()))
                .map(or_next)
        })
        .or_else(|| {
            // A compiler's `file:line:col: message`.
            body.iter()
                .map(|l| l.trim())
                .find(|l| LOCATED.is_match(l))
                .map(str::to_owned)
        })
        .or_else(|| body.first().map(|l| l.trim().to_owned()));
    // When the line chosen is only a tool's trailer or banner (`collect2: error: ld returned 1 exit
    // status`, `FAILURE: Build failed with an exception.`), or names nothing while another line clearly
    // does, the line that names the error (`undefined reference to …`, `… checksum mismatch …`) is kept
    // instead. A line found by its shape (a panic's message, an assertion) or named an error by the tool
    // itself (`Error: …`) needs a wider margin than a guess by error words.
    let ranked: Vec<String> = errtext::informative(&body, 5)
        .into_iter()
        // ESLint's rows are in `lint` already, as `file:line rule: message`.
        .filter(|l| !DIAGNOSTIC.is_match(&format!(" {l}")))
        .take(4)
        .collect();
    let margin = if weak { 1 } else { 2 };
    let line = match (line, ranked.first()) {
        (Some(l), Some(best))
            if errtext::is_generic(&l)
                || errtext::score(&l) < 2
                    && errtext::score(best) > errtext::score(&l).max(0) + margin =>
        {
            Some(strip_e(best))
        }
        (None, Some(best)) => Some(strip_e(best)),
        (l, _) => l,
    };
    let line = line.map(|l| errtext::clip_keeping(&squash(&l), 160));
    // Other problems: more lint findings, the other lines that name an error, other exceptions, other
    // `error…` lines.
    let details: Vec<String> = unique(
        lint.iter()
            .skip(1)
            .cloned()
            .chain(ranked.iter().map(|l| strip_e(l)))
            .chain(
                body.iter()
                    .map(|l| l.trim())
                    .filter(|l| {
                        !is_summary(l)
                            && (EXCEPTION_NAME.is_match(l)
                                || l.starts_with("error")
                                || l.starts_with("Error"))
                    })
                    .map(strip_e),
            )
            .map(|d| errtext::clip_keeping(&squash(&d), 120)),
    )
    .into_iter()
    .filter(|d| {
        let d = d.trim_end_matches('…');
        line.as_deref()
            .is_none_or(|l| !l.contains(d) && !d.contains(l.trim_end_matches('…')))
    })
    .take(3)
    .collect();
    (line, tests, details)
}

// ---------------------------------------------------------------------------------------------------
// A turn: its outcomes, its pieces of work, their cards.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FixedBy {
    Edit,
    /// Another command between the failure and the pass (an install, a config change): the cause was
    /// not in the code.
    Command(usize),
    Rerun,
}

#[derive(Debug, Clone, Copy)]
struct Fix {
    fail: usize,
    pass: usize,
    by: FixedBy,
}

/// Which failures of the turn later passed, and how; which were left failing.
fn outcomes(steps: &[Step]) -> (Vec<Fix>, Vec<usize>) {
    let mut fixes = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let Some(run) = s.run().filter(|r| r.failed && !s.trivial) else {
            continue;
        };
        let same = |o: &Step| o.run().is_some_and(|r| r.key == run.key && !o.trivial);
        let pass = steps[i + 1..]
            .iter()
            .position(|o| same(o) && !o.run().is_some_and(|r| r.failed))
            .map(|p| p + i + 1);
        let refailed = steps[i + 1..pass.unwrap_or(steps.len())].iter().any(same);
        match pass {
            // Only the last failure before the pass is "the" failure fixed.
            Some(_) if refailed => {}
            Some(pass) => {
                let between = &steps[i + 1..pass];
                let by = if between.iter().any(Step::is_edit) {
                    FixedBy::Edit
                } else if let Some(c) = fixing_command(between) {
                    FixedBy::Command(i + 1 + c)
                } else {
                    FixedBy::Rerun
                };
                fixes.push(Fix { fail: i, pass, by });
            }
            None if !refailed => open.push(i),
            None => {}
        }
    }
    (fixes, open)
}

/// Which command between a failure and its pass made the difference: the last one that changes
/// something (a checks' rerun only shows it), else the first that is not looking around.
fn fixing_command(between: &[Step]) -> Option<usize> {
    let works = |o: &Step| o.run().is_some() && !o.trivial;
    between
        .iter()
        .rposition(|o| {
            works(o)
                && o.run().is_some_and(|r| {
                    !matches!(r.kind, Kind::Test | Kind::Build | Kind::Lint | Kind::Format)
                })
        })
        .or_else(|| between.iter().position(works))
}

/// The user states a decision: "let's go with…", "we decided…", "decision: …".
static DECISION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:we|i)(?:'ve| have)? decided\b|\bdecided to\b|\bdecision:|\blet'?s go with\b|\bwe(?:'ll| will) go with\b|\bgoing forward,? (?:we|use)\b|决定|就用")
        .expect("constant regex")
});

fn decision_in(prompt: &str) -> Option<String> {
    let m = DECISION.find(prompt)?;
    // The sentence it is in.
    let start = prompt[..m.start()]
        .rfind(['.', '!', '?', '\n', '。'])
        .map(|i| i + prompt[i..].chars().next().map_or(1, char::len_utf8))
        .unwrap_or(0);
    let end = prompt[m.end()..]
        .find(['.', '!', '?', '\n', '。'])
        .map(|i| m.end() + i)
        .unwrap_or(prompt.len());
    Some(clip(prompt[start..end].trim(), 200))
}

fn turn_cards(
    lang: Lang,
    ctx: &SessionContext,
    prompt: i64,
    steps: &[Step],
    min_significance: f32,
) -> Vec<ObservationDraft> {
    let keep_all = min_significance <= score::TRIVIAL;
    let (fixes, open) = outcomes(steps);
    // Pieces of work: the turn, cut after each commit (a push right after it belongs to it).
    let mut units: Vec<Vec<usize>> = vec![Vec::new()];
    let mut closed = false;
    for (i, s) in steps.iter().enumerate() {
        let follows_commit = s.trivial
            || s.run().is_some_and(|r| {
                r.commit.is_none() && matches!(r.kind, Kind::Push | Kind::Tag | Kind::PullRequest)
            });
        if closed && !follows_commit {
            units.push(Vec::new());
            closed = false;
        }
        units.last_mut().expect("one unit").push(i);
        if s.commit().is_some() {
            closed = true;
        }
    }
    // Looking around after the work (a `git log`, a re-read) is part of the work before it.
    let mut merged: Vec<Vec<usize>> = Vec::new();
    for u in units.into_iter().filter(|u| !u.is_empty()) {
        let works = u
            .iter()
            .any(|&i| steps[i].is_edit() || steps[i].run().is_some_and(|_| !steps[i].trivial));
        match merged.last_mut() {
            Some(prev) if !works => prev.extend(u),
            _ => merged.push(u),
        }
    }
    let decision = ctx.prompt(prompt).and_then(decision_in);
    let mut cards: Vec<ObservationDraft> = Vec::new();
    for (n, unit) in merged.iter().enumerate() {
        let decision = if n == 0 { decision.as_deref() } else { None };
        if let Some((obs, significance)) =
            unit_card(lang, ctx, steps, unit, &fixes, &open, decision, keep_all)
        {
            if significance >= min_significance {
                cards.push(obs);
            }
        }
    }
    if let Some(alert) = security_card(lang, steps) {
        // Each event is cited once: the alert's are its own; a card left with none is said by the alert.
        for c in &mut cards {
            c.source_event_ids
                .retain(|id| !alert.source_event_ids.contains(id));
        }
        cards.retain(|c| !c.source_event_ids.is_empty());
        cards.push(alert);
    }
    // The prompt, quoted once.
    if let (Some(first), Some(p)) = (cards.first_mut(), ctx.prompt(prompt)) {
        // The whole prompt, not its first line; past 200 characters, the names it mentions.
        let quote = lang.f(M::Request, &[&clip_code(&squash(p), 200)]);
        first.narrative = if first.narrative.is_empty() {
            format!("{quote}{}", lang.stop().trim_end())
        } else {
            format!("{quote}{}{}", lang.stop(), first.narrative)
        };
    }
    cards
}

fn new_draft(kind: ObservationType, title: String, steps: &[&Step]) -> ObservationDraft {
    let mut ids: Vec<i64> = steps.iter().map(|s| s.t.event_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ObservationDraft {
        kind,
        title: clip(one_line(&title), 120),
        subtitle: String::new(),
        narrative: String::new(),
        facts: Vec::new(),
        concepts: Vec::new(),
        files_read: Vec::new(),
        files_modified: Vec::new(),
        keywords: Vec::new(),
        source_event_ids: ids,
        prompt_number: steps.iter().map(|s| s.t.prompt_number).max().unwrap_or(0),
        input_tokens: 0,
        output_tokens: 0,
    }
}

fn tick(s: &str, max: usize) -> String {
    format!("`{}`", clip(s, max))
}

/// A type from a commit message's own words (`feat:`, "Add …", "Refactor …"), when the events say none.
fn commit_kind(message: &str) -> ObservationType {
    let m = message.trim().to_ascii_lowercase();
    let starts = |ps: &[&str]| ps.iter().any(|p| m.starts_with(p));
    if starts(&["fix", "hotfix", "bugfix"]) {
        ObservationType::Bugfix
    } else if starts(&["feat", "add ", "implement", "introduce", "support "]) {
        ObservationType::Feature
    } else if starts(&[
        "refactor", "rename", "extract", "move ", "simplify", "clean up", "cleanup", "tidy",
    ]) {
        ObservationType::Refactor
    } else {
        ObservationType::Change
    }
}

/// What a failing run says, short: its failing tests, else its error line.
fn problem_of(run: &Run, max: usize) -> String {
    if !run.failing_tests.is_empty() {
        return clip(
            &run.failing_tests[..run.failing_tests.len().min(2)].join(", "),
            max,
        );
    }
    clip(run.error.as_deref().unwrap_or("failed"), max)
}

#[allow(clippy::too_many_arguments)]
fn unit_card(
    lang: Lang,
    _ctx: &SessionContext,
    all: &[Step],
    unit: &[usize],
    fixes: &[Fix],
    open: &[usize],
    decision: Option<&str>,
    keep_all: bool,
) -> Option<(ObservationDraft, f32)> {
    let idx: Vec<usize> = unit
        .iter()
        .copied()
        .filter(|&i| keep_all || !all[i].trivial)
        .collect();
    if idx.is_empty() {
        return None;
    }
    let steps: Vec<&Step> = idx.iter().map(|&i| &all[i]).collect();
    let in_unit = |i: usize| idx.contains(&i);

    // What the piece of work holds.
    let mut modified: Vec<String> = Vec::new();
    let mut created: Vec<String> = Vec::new();
    let mut new_text = String::new();
    let mut old_text = String::new();
    let mut edit_facts: Vec<String> = Vec::new();
    // Per edit: its file and the identifiers it introduced, for the edits past those shown in full.
    let mut edit_idents: Vec<(String, Vec<String>)> = Vec::new();
    let mut read: Vec<String> = Vec::new();
    let mut patterns: Vec<String> = Vec::new();
    let mut search_facts: Vec<String> = Vec::new();
    let mut web: Vec<String> = Vec::new();
    let mut web_facts: Vec<String> = Vec::new();
    let mut enclosing: Vec<String> = Vec::new();
    let mut config_keys: Vec<String> = Vec::new();
    let mut tasks: Vec<(String, String)> = Vec::new();
    let mut tools: Vec<(String, String, String)> = Vec::new();
    let mut file_fails: Vec<(String, String, String)> = Vec::new();
    let mut runs: Vec<(usize, &Run)> = Vec::new();
    for &i in &idx {
        match &all[i].act {
            Act::Read(f) => read.push(f.clone()),
            Act::Search { pattern, found } => {
                patterns.push(tick(pattern, 60));
                read.extend(found.iter().take(8).cloned());
                search_facts
                    .push(lang.f(M::FactSearch, &[&clip(pattern, 80), &lang.list(found, 4)]));
            }
            Act::Edit {
                file,
                created: c,
                pairs,
            } => {
                modified.push(file.clone());
                if *c {
                    created.push(file.clone());
                }
                for (old, new) in pairs {
                    new_text.push_str(new);
                    new_text.push('\n');
                    old_text.push_str(old);
                    old_text.push('\n');
                    enclosing.extend(enclosing_symbol(all, i, old));
                    let (removed, added) = changed_lines(old, new);
                    if is_config(file) {
                        config_keys.extend(added.iter().filter_map(|l| config_key(l)));
                    }
                    let removed = removed.join(" ⏎ ");
                    let added = added.join(" ⏎ ");
                    let before = identifiers(&removed);
                    edit_idents.push((
                        file.clone(),
                        distinctive_identifiers(&added)
                            .into_iter()
                            .filter(|w| !before.contains(w))
                            .collect(),
                    ));
                    edit_facts.push(if old.trim().is_empty() {
                        lang.f(
                            M::FactWrote,
                            &[
                                file,
                                &new.lines().count().to_string(),
                                &errtext::gist(new, 160),
                            ],
                        )
                    } else if removed.is_empty() {
                        lang.f(M::FactAdded, &[file, &clip_code(&added, 200)])
                    } else if added.is_empty() {
                        lang.f(M::FactRemoved, &[file, &clip(&removed, 100)])
                    } else {
                        lang.f(
                            M::FactChanged,
                            &[file, &clip(&removed, 60), &clip_code(&added, 180)],
                        )
                    });
                }
            }
            Act::Bash(r) => runs.push((i, r)),
            Act::Web { target, result } => {
                web.push(target.clone());
                if !result.is_empty() {
                    web_facts.push(lang.f(M::FactFetched, &[&clip(target, 80), result]));
                }
            }
            Act::Task {
                description,
                result,
            } => tasks.push((description.clone(), result.clone())),
            Act::Tool {
                name,
                input,
                result,
            } => tools.push((name.clone(), input.clone(), result.clone())),
            Act::FileFail { tool, file, error } => {
                file_fails.push((tool.clone(), file.clone(), error.clone()))
            }
            Act::Skip => {}
        }
    }
    let modified = unique(modified);
    let created = unique(created);
    let read: Vec<String> = unique(read)
        .into_iter()
        .filter(|f| !modified.contains(f))
        .collect();
    let patterns = unique(patterns);
    let symbols: Vec<String> = {
        let all_syms = code_symbols(&new_text);
        let old_syms = code_symbols(&old_text);
        // Symbols the edits introduced first, then those they touched.
        let mut s: Vec<String> = all_syms
            .iter()
            .filter(|s| !old_syms.contains(s))
            .cloned()
            .collect();
        s.extend(
            all_syms
                .into_iter()
                .filter(|x| !s.contains(x))
                .collect::<Vec<_>>(),
        );
        // Then the functions the edits were in, as `git diff` names them in its hunk headers, and the
        // keys an edit of a config file set (`queue_adapter:`, `timeout =`): a config edit has no
        // function to name it by.
        for e in unique(enclosing).into_iter().chain(unique(config_keys)) {
            if !s.contains(&e) {
                s.push(e);
            }
        }
        s
    };
    let unit_fixes: Vec<&Fix> = fixes
        .iter()
        .filter(|f| match f.by {
            FixedBy::Edit => (f.fail + 1..f.pass).any(|e| all[e].is_edit() && in_unit(e)),
            _ => in_unit(f.fail) || in_unit(f.pass),
        })
        .collect();
    let edit_fixes: Vec<&&Fix> = unit_fixes
        .iter()
        .filter(|f| f.by == FixedBy::Edit)
        .collect();
    let unit_open: Vec<&Run> = open
        .iter()
        .filter(|&&i| in_unit(i))
        .filter_map(|&i| all[i].run())
        .collect();
    let commit = runs.iter().rev().find_map(|(_, r)| r.commit.clone());
    let pushes: Vec<String> = runs
        .iter()
        .filter(|(_, r)| !r.failed)
        .filter_map(|(_, r)| r.push.clone())
        .collect();
    let packages = unique(runs.iter().flat_map(|(_, r)| r.packages.iter().cloned()));
    let last_edit = idx.iter().rev().find(|&&i| all[i].is_edit()).copied();
    // How the work ended: the last check after the last edit (tests first).
    let last_check = |kinds: &[Kind]| {
        runs.iter()
            .rev()
            .filter(|(i, _)| last_edit.is_none_or(|e| *i > e))
            .find(|(_, r)| kinds.contains(&r.kind))
            .map(|(_, r)| *r)
    };
    let ending_run = last_check(&[Kind::Test]).or_else(|| last_check(&[Kind::Build, Kind::Lint]));

    // Type and concepts, from what happened.
    let mut concepts: Vec<String> = Vec::new();
    let has_action = runs.iter().any(|(_, r)| {
        matches!(
            r.kind,
            Kind::Commit
                | Kind::Push
                | Kind::Tag
                | Kind::PullRequest
                | Kind::Merge
                | Kind::Install
                | Kind::Migrate
                | Kind::Deploy
                | Kind::GitWrite
        )
    });
    let kind = if !edit_fixes.is_empty() {
        concepts.push("problem-solution".into());
        concepts.push(FIXED_FAILURE.into());
        ObservationType::Bugfix
    } else if decision.is_some() {
        concepts.push("why-it-exists".into());
        ObservationType::Decision
    } else if let Some(m) = &commit {
        match commit_kind(m) {
            // A message that says "fix" is the user's word for it, but no failure was seen fixed.
            ObservationType::Bugfix if modified.is_empty() => ObservationType::Change,
            k => k,
        }
    } else if !created.is_empty() {
        ObservationType::Feature
    } else if !modified.is_empty()
        || has_action
        || !unit_open.is_empty()
        || unit_fixes
            .iter()
            .any(|f| matches!(f.by, FixedBy::Command(_)))
    {
        ObservationType::Change
    } else {
        ObservationType::Discovery
    };
    if !modified.is_empty() {
        concepts.push("what-changed".into());
    }
    if unit_fixes
        .iter()
        .any(|f| matches!(f.by, FixedBy::Command(_)))
    {
        concepts.push("gotcha".into());
    }
    if !unit_open.is_empty() {
        concepts.push(FAILURE.into());
    }
    if kind == ObservationType::Discovery && (!read.is_empty() || !patterns.is_empty()) {
        concepts.push("how-it-works".into());
    }

    // Title: the commit message; else what was done and how it ended.
    let files_short = lang.list(&modified, 2);
    let ending = |r: &Run| -> String {
        match (r.kind, r.failed) {
            (Kind::Test, false) => lang.t(M::EndTestsPass).to_owned(),
            (Kind::Test, true) => lang.f(M::EndTestsFail, &[&problem_of(r, 60)]),
            (Kind::Build, true) => lang.f(M::EndBuildFail, &[&problem_of(r, 60)]),
            (_, false) => lang.f(M::EndCheckPass, &[&clip(&r.shown, 40)]),
            (_, true) => lang.f(M::EndCheckFail, &[&clip(&r.shown, 40), &problem_of(r, 50)]),
        }
    };
    let primary_run = unit_open
        .first()
        .copied()
        .or_else(|| runs.iter().map(|(_, r)| *r).max_by_key(|r| r.kind));
    let mut command_card = false;
    let title = if let Some(m) = &commit {
        m.clone()
    } else if let Some(f) = edit_fixes.first() {
        let failed = all[f.fail].run().expect("a fix is of a run");
        let passed = all[f.pass].run().expect("a fix is of a run");
        let files = if files_short.is_empty() {
            "…".into()
        } else {
            files_short.clone()
        };
        lang.f(M::TitleFixed, &[&problem_of(failed, 60), &files]) + &ending(passed)
    } else if let Some((f, c)) = modified
        .is_empty()
        .then(|| {
            unit_fixes.iter().find_map(|f| match f.by {
                FixedBy::Command(c) => Some((f, c)),
                _ => None,
            })
        })
        .flatten()
    {
        // A failure a command cleared (an install, a permission change, a lock released).
        let failed = all[f.fail].run().expect("a fix is of a run");
        let passed = all[f.pass].run().expect("a fix is of a run");
        let by = all[c].run().map(|r| clip(&r.shown, 50)).unwrap_or_default();
        lang.f(M::TitleFixedBy, &[&problem_of(failed, 60), &by]) + &ending(passed)
    } else if !modified.is_empty() {
        let subject = if symbols.is_empty() {
            files_short.clone()
        } else {
            lang.f(M::InFiles, &[&lang.list(&symbols, 2), &files_short])
        };
        let verb = if created.len() == modified.len() {
            M::TitleCreated
        } else {
            M::TitleChanged
        };
        lang.f(verb, &[&subject]) + &ending_run.map(ending).unwrap_or_default()
    } else if let Some(r) = primary_run {
        command_card = true;
        let shown = clip(&r.shown, 70);
        let problem = problem_of(r, 100);
        match (r.kind, r.failed) {
            (Kind::Push, false) => lang.f(
                M::TitlePushed,
                &[if pushes.iter().any(|p| !p.is_empty()) {
                    &pushes[0]
                } else {
                    "origin"
                }],
            ),
            (Kind::Push, true) => lang.f(
                M::TitlePushRejected,
                &[
                    r.push
                        .as_deref()
                        .filter(|p| !p.is_empty())
                        .unwrap_or("HEAD"),
                    &problem,
                ],
            ),
            (Kind::Tag, false) => lang.f(M::TitleTagged, &[r.tag.as_deref().unwrap_or(&shown)]),
            (Kind::PullRequest, false) => lang.f(M::TitlePr, &[r.pr.as_deref().unwrap_or(&shown)]),
            (Kind::Install, false) if !packages.is_empty() => {
                lang.f(M::TitleDeps, &[&lang.list(&packages, 4), &r.prog])
            }
            (Kind::Install, false) => lang.f(M::TitleDepsInstalled, &[&shown]),
            (Kind::Install, true) => lang.f(M::TitleDepsFail, &[&shown, &problem]),
            (Kind::Migrate, false) => lang.f(M::TitleMigrated, &[&shown]),
            (Kind::Migrate, true) => lang.f(M::TitleMigrateFail, &[&shown, &problem]),
            (Kind::Deploy, false) => lang.f(M::TitleDeployed, &[&shown]),
            (Kind::Deploy, true) => lang.f(M::TitleDeployFail, &[&shown, &problem]),
            (Kind::Test, false) => {
                let t = lang.f(M::TitleTestsPass, &[&shown]);
                match &r.result {
                    Some(res) if lang == Lang::Zh => format!("{t}（{}）", clip(res, 50)),
                    Some(res) => format!("{t} ({})", clip(res, 50)),
                    None => t,
                }
            }
            (Kind::Test, true) => lang.f(M::TitleTestsFail, &[&shown, &problem]),
            (Kind::Build, false) => lang.f(M::TitleBuildOk, &[&shown]),
            (Kind::Build, true) => lang.f(M::TitleBuildFail, &[&shown, &problem]),
            (Kind::Lint, false) => lang.f(M::TitleLintOk, &[&shown]),
            (Kind::Lint, true) => lang.f(M::TitleLintFail, &[&shown, &problem]),
            (Kind::Format, false) => lang.f(M::TitleFormatted, &[&shown]),
            (_, true) => lang.f(M::TitleRanFail, &[&shown, &problem]),
            (_, false) => lang.f(M::TitleRan, &[&shown]),
        }
    } else if !patterns.is_empty() || read.len() > 1 || !web.is_empty() {
        let mut subject: Vec<String> = patterns.iter().take(2).cloned().collect();
        subject.extend(web.iter().take(1).cloned());
        let files = lang.list(&read, 3);
        let subject = match (subject.is_empty(), files.is_empty()) {
            (true, _) => files,
            (false, true) => lang.list(&subject, 3),
            (false, false) => lang.f(M::InFiles, &[&lang.list(&subject, 3), &files]),
        };
        lang.f(M::TitleExplored, &[&subject])
    } else if let Some((d, _)) = tasks.first() {
        lang.f(M::TitleDelegated, &[d])
    } else if let Some((name, _, _)) = tools.first() {
        lang.f(M::TitleUsed, &[name])
    } else if let Some((tool, file, error)) = file_fails.first() {
        lang.f(
            M::TitleFileToolFail,
            &[tool, file, &clip(one_line(error), 70)],
        )
    } else if let Some(f) = read.first() {
        lang.f(M::TitleExplored, &[f])
    } else {
        return None;
    };

    let mut obs = new_draft(kind, title, &steps);

    // Facts: the decision, the command of a command card, fixes, failures, commits, edits, runs.
    let mut facts: Vec<String> = Vec::new();
    if let Some(d) = decision {
        facts.push(lang.f(M::FactDecision, &[d]));
    }
    if command_card {
        if let Some(r) = primary_run {
            // "ran `…`" then its outcome: the context builder folds reruns of one command by them.
            facts.push(lang.f(M::FactRan, &[&clip(&r.shown, 160)]));
            if r.failed {
                let problem = match (r.failing_tests.as_slice(), r.error.as_deref()) {
                    ([], _) | (_, None) => problem_of(r, 200),
                    (tests, Some(e)) => format!(
                        "{}: {}",
                        clip(&tests[..tests.len().min(2)].join(", "), 80),
                        clip(e, 160)
                    ),
                };
                facts.push(lang.f(M::FactFailed, &[&problem]));
            } else if let Some(res) = &r.result {
                facts.push(res.clone());
            } else if let Some(d) = &r.digest {
                facts.push(d.clone());
            }
        }
    }
    let mut reported: Vec<&Run> = Vec::new();
    for f in &unit_fixes {
        let failed = all[f.fail].run().expect("a fix is of a run");
        // Every distinct error the command showed before it passed, not only the last.
        let errors = unique(
            all[..f.pass]
                .iter()
                .filter_map(Step::run)
                .filter(|r| r.failed && r.key == failed.key)
                .filter_map(|r| r.error.clone()),
        );
        let error = if errors.is_empty() {
            "?".to_owned()
        } else {
            clip(&errors.join(" / "), 200)
        };
        let error = match failed.failing_tests.as_slice() {
            [] => error,
            tests => format!("{}: {}", clip(&tests.join(", "), 80), error),
        };
        facts.push(lang.f(M::FactFixed, &[&clip(&failed.shown, 80), &error]));
        reported.push(failed);
    }
    for r in &unit_open {
        if !command_card || !std::ptr::eq(*r, primary_run.expect("open run")) {
            facts.push(lang.f(
                M::FactCmdFailed,
                &[
                    &clip(&r.shown, 80),
                    &clip(r.error.as_deref().unwrap_or("?"), 160),
                ],
            ));
        }
        for t in r.failing_tests.iter().take(3) {
            facts.push(lang.f(M::FactTestFailed, &[t]));
        }
        reported.push(r);
    }
    for r in reported.iter().filter(|r| !r.details.is_empty()).take(2) {
        facts.push(lang.f(
            M::FactReported,
            &[&clip(&r.shown, 60), &clip(&r.details.join("; "), 240)],
        ));
    }
    for (r, finding) in runs
        .iter()
        .flat_map(|(_, r)| r.findings.iter().map(move |f| (*r, f)))
        .take(3)
    {
        facts.push(lang.f(M::FactShowed, &[&clip(&r.shown, 60), finding]));
    }
    if let Some(m) = &commit {
        facts.push(lang.f(M::FactCommit, &[m]));
    }
    for p in &pushes {
        facts.push(lang.f(M::FactPushed, &[if p.is_empty() { "origin" } else { p }]));
    }
    if !packages.is_empty() {
        facts.push(lang.f(M::FactPackages, &[&lang.list(&packages, 8)]));
    }
    if edit_facts.len() > 4 {
        // The edits past the fourth in one line: their files and the names they brought in.
        let rest = &edit_idents[4.min(edit_idents.len())..];
        let files = unique(rest.iter().map(|(f, _)| f.clone()));
        let idents: Vec<String> = unique(rest.iter().flat_map(|(_, ids)| ids.iter().cloned()))
            .into_iter()
            .take(8)
            .collect();
        edit_facts.truncate(4);
        if !idents.is_empty() {
            edit_facts.push(lang.f(
                M::FactAdded,
                &[&lang.list(&files, 3), &clip(&idents.join(", "), 160)],
            ));
        }
    }
    facts.extend(edit_facts);
    // Each command once: reruns with no edit in between fold into one line.
    // A folded run keeps every distinct error its reruns printed, not only the last one's: a check that
    // failed one way and then another says both.
    let mut folded: Vec<(String, usize, usize, &Run, Vec<String>)> = Vec::new();
    let mut last_edit_seen = 0usize;
    for (i, r) in &runs {
        let edits_before = idx.iter().filter(|&&e| e < *i && all[e].is_edit()).count();
        let key = r.key.clone();
        let error = r.error.clone().filter(|_| r.failed);
        match folded.last_mut() {
            Some(last) if last.0 == key && edits_before == last_edit_seen => {
                last.1 += 1;
                last.2 += usize::from(r.failed);
                last.3 = r;
                last.4.extend(error);
            }
            _ => folded.push((
                key,
                1,
                usize::from(r.failed),
                r,
                error.into_iter().collect(),
            )),
        }
        last_edit_seen = edits_before;
    }
    let ran: Vec<String> = unique(folded.iter().map(|(_, _, _, r, _)| tick(&r.shown, 60)));
    for (_, count, failed, r, errors) in &folded {
        if command_card && folded.len() == 1 && *count == 1 {
            break;
        }
        if command_card && *count == 1 && primary_run.is_some_and(|p| std::ptr::eq(*r, p)) {
            // Said by the card's first facts.
            continue;
        }
        if (!r.failed && matches!(r.kind, Kind::Commit | Kind::Push)) || (*count == 1 && r.failed) {
            // Said by the commit, push, fix and still-failing facts.
            continue;
        }
        let outcome = if r.failed {
            let errors = unique(errors.iter().rev().cloned());
            if errors.len() > 1 && r.failing_tests.is_empty() {
                clip(&errors.join(" / "), 200)
            } else {
                problem_of(r, 100)
            }
        } else {
            r.result.clone().unwrap_or_else(|| "ok".into())
        };
        facts.push(if *count > 1 {
            lang.f(
                M::FactRerun,
                &[
                    &clip(&r.shown, 60),
                    &count.to_string(),
                    &failed.to_string(),
                    &outcome,
                ],
            )
        } else if r.failed {
            lang.f(M::FactCmdFailed, &[&clip(&r.shown, 80), &outcome])
        } else if let Some(res) = &r.result {
            lang.f(M::FactPassed, &[&clip(&r.shown, 80), res])
        } else if let Some(d) = &r.digest {
            lang.f(M::FactOutput, &[&clip(&r.shown, 80), d])
        } else {
            lang.f(M::FactOk, &[&clip(&r.shown, 80)])
        });
    }
    facts.extend(search_facts.into_iter().take(2));
    for (d, result) in tasks.iter().take(2).filter(|(_, r)| !r.is_empty()) {
        facts.push(lang.f(M::FactSubagent, &[&clip(d, 60), result]));
    }
    facts.extend(web_facts.into_iter().take(2));
    for (name, input, result) in tools.iter().take(2) {
        facts.push(format!("{name}({input}) → {}", clip(result, 120)));
    }
    for (tool, file, error) in file_fails.iter().take(2) {
        facts.push(lang.f(
            M::TitleFileToolFail,
            &[tool, file, &clip(one_line(error), 120)],
        ));
    }
    let mut facts = unique(facts);
    facts.truncate(12);

    // Narrative: what was looked at, done and how it ended, in a few sentences.
    let mut said: Vec<String> = Vec::new();
    let changed: Vec<String> = modified
        .iter()
        .filter(|f| !created.contains(f))
        .cloned()
        .collect();
    if !changed.is_empty() {
        said.push(lang.f(M::Edited, &[&lang.list(&changed, 8)]));
    }
    if !created.is_empty() {
        said.push(lang.f(M::Created, &[&lang.list(&created, 8)]));
    }
    if !symbols.is_empty() {
        let touches = lang.f(M::Touches, &[&lang.list(&symbols, 6)]);
        match said.last_mut() {
            Some(edited) => {
                edited.push_str(if lang == Lang::Zh { "，" } else { ", " });
                edited.push_str(&touches);
            }
            None => said.push(touches),
        }
    }
    if !read.is_empty() {
        said.push(lang.f(M::Read, &[&lang.list(&read, 6)]));
    }
    if !patterns.is_empty() {
        said.push(lang.f(M::Searched, &[&lang.list(&patterns, 4)]));
    }
    if !web.is_empty() {
        said.push(lang.f(M::Researched, &[&lang.list(&web, 3)]));
    }
    for (d, result) in tasks.iter().take(2) {
        said.push(lang.f(M::Delegated, &[d, result]));
    }
    for (name, input, result) in tools.iter().take(2) {
        said.push(format!("{name} {input}: {}", clip(result, 160)));
    }
    if !ran.is_empty() {
        said.push(lang.f(M::RanCommands, &[&lang.list(&ran, 5)]));
    }
    for f in &unit_fixes {
        let failed = all[f.fail].run().expect("a fix is of a run");
        let err = clip(failed.error.as_deref().unwrap_or("?"), 120);
        said.push(match f.by {
            FixedBy::Edit => lang.f(M::FixedByEdit, &[&clip(&failed.shown, 60), &err]),
            FixedBy::Command(c) => lang.f(
                M::FixedByCommand,
                &[
                    &clip(&failed.shown, 60),
                    &err,
                    &all[c].run().map(|r| clip(&r.shown, 60)).unwrap_or_default(),
                ],
            ),
            FixedBy::Rerun => lang.f(M::PassedOnRerun, &[&clip(&failed.shown, 60), &err]),
        });
    }
    for r in &unit_open {
        said.push(lang.f(
            M::StillFails,
            &[
                &clip(&r.shown, 60),
                &clip(r.error.as_deref().unwrap_or("?"), 160),
            ],
        ));
    }
    if let Some(m) = &commit {
        let mut s = lang.f(M::Committed, &[m]);
        if let Some(p) = pushes.first() {
            s.push_str(if lang == Lang::Zh { "，" } else { ", " });
            s.push_str(&lang.f(M::Pushed, &[if p.is_empty() { "origin" } else { p }]));
        }
        said.push(s);
    }
    if let Some(r) = ending_run.filter(|r| !r.failed && edit_fixes.is_empty()) {
        if let Some(res) = &r.result {
            said.push(lang.f(M::CheckPasses, &[&clip(&r.shown, 60), res]));
        }
    }
    if said.is_empty() {
        if let Some(r) = primary_run {
            if !r.output.is_empty() {
                said.push(r.output.clone());
            }
        }
    }
    let stop = lang.stop();
    let mut narrative = said
        .iter()
        .map(|s| s.trim_end_matches(['.', '。']))
        .collect::<Vec<_>>()
        .join(stop);
    if !narrative.is_empty() {
        narrative.push_str(stop.trim_end());
    }
    obs.narrative = clip(&narrative, 1200);

    obs.subtitle = if !symbols.is_empty() {
        clip(&lang.f(M::Touches, &[&lang.list(&symbols, 5)]), 120)
    } else if !modified.is_empty() {
        clip(&lang.list(&modified, 4), 120)
    } else {
        primary_run
            .map(|r| clip(&r.description, 120))
            .unwrap_or_default()
    };
    obs.facts = facts;
    obs.concepts = unique(concepts);
    obs.files_modified = modified.clone();
    obs.files_read = read.iter().take(20).cloned().collect();
    obs.keywords = unique(
        modified
            .iter()
            .chain(read.iter().take(6))
            .flat_map(|f| path_keywords(f))
            .chain(symbols.iter().cloned())
            .chain(
                modified
                    .iter()
                    .filter_map(|f| language_of(f).map(str::to_owned)),
            )
            .chain(patterns.iter().flat_map(|p| identifiers(p)).take(8))
            .chain(runs.iter().map(|(_, r)| r.prog.clone()))
            .chain(packages.iter().cloned())
            .chain(
                unit_open
                    .iter()
                    .flat_map(|r| r.failing_tests.iter().cloned()),
            )
            .filter(|w| w.len() < 60),
    )
    .into_iter()
    .take(24)
    .collect();

    let mut significance = steps.iter().map(|s| s.significance).fold(0.0, f32::max);
    if read.len() >= 2 {
        significance = significance.max(score::EXPLORATION);
    }
    Some((obs, significance))
}

/// One `security_alert` for the turn's risky commands and redacted secrets.
fn security_card(lang: Lang, steps: &[Step]) -> Option<ObservationDraft> {
    let involved: Vec<&Step> = steps
        .iter()
        .filter(|s| !s.risks.is_empty() || !s.secrets.is_empty())
        .collect();
    if involved.is_empty() {
        return None;
    }
    let risk_text = |r: Risk| {
        lang.t(match r {
            Risk::PipeToShell => M::RiskPipeToShell,
            Risk::WorldWritable => M::RiskWorldWritable,
            Risk::TlsDisabled => M::RiskTlsDisabled,
            Risk::HostKeyCheckDisabled => M::RiskHostKey,
            Risk::ForcePushMain => M::RiskForcePush,
            Risk::RemoveRoot => M::RiskRemoveRoot,
        })
    };
    let where_of = |s: &Step| match &s.act {
        Act::Bash(r) => lang.f(M::WhereOutput, &[&clip(&r.shown, 60)]),
        Act::Edit { file, .. } | Act::Read(file) => file.clone(),
        _ => lang.f(M::WhereInput, &[s.t.tool_name]),
    };
    let mut facts = Vec::new();
    let mut title = None;
    for s in &involved {
        for (r, what) in &s.risks {
            facts.push(lang.f(M::FactRisk, &[risk_text(*r), &clip(what, 120)]));
            title.get_or_insert_with(|| lang.f(M::TitleRisky, &[risk_text(*r), &clip(what, 60)]));
        }
    }
    for s in &involved {
        if !s.secrets.is_empty() {
            let kinds = s.secrets.join(", ");
            let place = where_of(s);
            facts.push(lang.f(M::FactSecret, &[&kinds, &place]));
            title.get_or_insert_with(|| lang.f(M::TitleSecret, &[&kinds, &place]));
        }
    }
    let mut obs = new_draft(ObservationType::SecurityAlert, title?, &involved);
    obs.narrative = lang.sentence(&facts);
    obs.facts = unique(facts);
    obs.keywords = unique(
        involved
            .iter()
            .flat_map(|s| s.secrets.iter().cloned())
            .chain(["security".to_owned()]),
    );
    obs.files_modified = unique(involved.iter().filter_map(|s| match &s.act {
        Act::Edit { file, .. } => Some(file.clone()),
        _ => None,
    }));
    Some(obs)
}

// ---------------------------------------------------------------------------------------------------
// Summaries.

/// A local summary in English; see [`summarize_in`].
pub fn summarize(
    ctx: &SessionContext,
    events: &[QueuedEvent],
    observations: &[ObservationDraft],
    last_assistant_message: Option<&str>,
) -> SummaryDraft {
    summarize_in(Lang::En, ctx, events, observations, last_assistant_message)
}

fn fact_after<'a>(fact: &'a str, templates: &[&str]) -> Option<&'a str> {
    templates.iter().find_map(|t| {
        let prefix = t.split("{0}").next().unwrap_or(t);
        fact.strip_prefix(prefix)
    })
}

/// A local summary from the turn's observations: the request; what was looked at; what got done
/// (commits included); the errors found and fixed; the failures left open.
pub fn summarize_in(
    lang: Lang,
    ctx: &SessionContext,
    events: &[QueuedEvent],
    observations: &[ObservationDraft],
    last_assistant_message: Option<&str>,
) -> SummaryDraft {
    let prompt_number = events.iter().map(|e| e.prompt_number).max().unwrap_or(0);
    let request = ctx
        .prompt(prompt_number)
        .or_else(|| ctx.prompts.last().map(|(_, t)| t.as_str()))
        .map(|p| clip(p.trim(), 500))
        .unwrap_or_default();
    let tools = tool_events(events, &HashSet::new());
    let read: Vec<String> = unique(
        observations
            .iter()
            .flat_map(|o| o.files_read.iter().cloned())
            .chain(
                tools
                    .iter()
                    .filter(|t| t.tool_name == "Read")
                    .filter_map(|t| t.input_str("file_path"))
                    .map(|p| display_path(ctx, p)),
            ),
    );
    let searches: Vec<String> = unique(
        tools
            .iter()
            .filter(|t| matches!(t.tool_name, "Grep" | "Glob"))
            .filter_map(|t| t.input_str("pattern"))
            .map(|p| tick(p, 40)),
    );
    let commands: Vec<String> = unique(
        tools
            .iter()
            .filter(|t| t.tool_name == "Bash")
            .map(bash)
            .filter(|r| !matches!(r.kind, Kind::Trivial | Kind::GitRead))
            .map(|r| tick(&r.shown, 50)),
    );
    let mut investigated = Vec::new();
    if !read.is_empty() {
        investigated.push(lang.f(M::SumRead, &[&lang.list(&read, 8)]));
    }
    if !searches.is_empty() {
        investigated.push(lang.f(M::SumSearched, &[&lang.list(&searches, 5)]));
    }
    if !commands.is_empty() {
        investigated.push(lang.f(M::SumRan, &[&lang.list(&commands, 5)]));
    }

    let is_failure = |o: &ObservationDraft| o.concepts.iter().any(|c| c == FAILURE || c == "error");
    // Done: the work's titles (a commit's is its message), then Claude's last word.
    let mut completed: Vec<String> = unique(
        observations
            .iter()
            .filter(|o| {
                !matches!(
                    o.kind,
                    ObservationType::Discovery
                        | ObservationType::SecurityAlert
                        | ObservationType::SecurityNote
                )
            })
            .filter(|o| {
                !is_failure(o) || !o.files_modified.is_empty() || o.kind == ObservationType::Bugfix
            })
            .map(|o| clip(o.title.trim(), 160)),
    );
    let commit_templates = [Lang::En.t(M::FactCommit), Lang::Zh.t(M::FactCommit)];
    for o in observations {
        for f in &o.facts {
            if let Some(m) = fact_after(f, &commit_templates) {
                if !completed.iter().any(|c| c.contains(m.trim())) {
                    completed.push(lang.f(M::Committed, &[m.trim()]));
                }
            }
        }
    }
    completed.truncate(8);
    if let Some(msg) = last_assistant_message
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        completed.push(lang.f(M::SumLastWord, &[&clip(one_line(msg), 240)]));
    }
    // Learned: errors found and fixed (and how), gotchas.
    let fix_templates = [Lang::En.t(M::FactFixed), Lang::Zh.t(M::FactFixed)];
    let learned: Vec<String> = unique(observations.iter().flat_map(|o| {
        o.facts
            .iter()
            .filter(|f| fact_after(f, &fix_templates).is_some())
            .map(|f| lang.f(M::SumLearnedFix, &[f]))
            .chain(
                o.concepts
                    .iter()
                    .any(|c| c == "gotcha")
                    .then(|| clip(&o.title, 160)),
            )
            .collect::<Vec<_>>()
    }))
    .into_iter()
    .take(5)
    .collect();
    // Next: the failures left open.
    // Next: the failures left open — the failing command's own fact, else the card's title.
    let failed_prefixes: Vec<&str> = [Lang::En, Lang::Zh]
        .iter()
        .map(|l| {
            let t = l.t(M::FactCmdFailed);
            let (_, sep) = t.split_once("`{0}`").unwrap_or(("", t));
            sep.split("{1}").next().unwrap_or(sep)
        })
        .collect();
    let failed_fact = |f: &str| {
        f.starts_with('`')
            && f[1..]
                .split_once('`')
                .is_some_and(|(_, rest)| failed_prefixes.iter().any(|p| rest.starts_with(p)))
    };
    let mut next: Vec<String> =
        unique(observations.iter().filter(|o| is_failure(o)).flat_map(|o| {
            let facts: Vec<String> = o
                .facts
                .iter()
                .filter(|f| failed_fact(f))
                .map(|f| lang.f(M::SumResolve, &[&clip(f, 200)]))
                .collect();
            if facts.is_empty() {
                vec![lang.f(M::SumResolve, &[&clip(o.title.trim(), 160)])]
            } else {
                facts
            }
        }));
    if next.is_empty() {
        // Observations made elsewhere (an LLM, an earlier batch): the events still show what failed.
        let runs: Vec<(i64, String, bool, String)> = tools
            .iter()
            .filter(|t| t.tool_name == "Bash")
            .map(|t| {
                let r = bash(t);
                (t.event_id, r.key.clone(), r.failed, {
                    let shown = clip(&r.shown, 60);
                    lang.f(
                        M::TitleRanFail,
                        &[&shown, &clip(r.error.as_deref().unwrap_or("?"), 120)],
                    )
                })
            })
            .collect();
        if let Some((id, key, _, what)) = runs.iter().rev().find(|r| r.2) {
            let passed_later = runs.iter().any(|r| r.0 > *id && &r.1 == key && !r.2);
            if !passed_later {
                next.push(lang.f(M::SumResolve, &[what]));
            }
        }
    }
    next.truncate(3);
    SummaryDraft {
        request,
        investigated: lang.sentence(&investigated),
        learned: lang.sentence(&learned),
        completed: lang.sentence(&completed),
        next_steps: lang.sentence(&next),
    }
}

// ---------------------------------------------------------------------------------------------------
// Helpers.

fn display_path(ctx: &SessionContext, path: &str) -> String {
    let cwd = ctx.cwd.trim_end_matches('/');
    if !cwd.is_empty() {
        if let Some(rest) = path.strip_prefix(cwd).and_then(|r| r.strip_prefix('/')) {
            return rest.to_owned();
        }
    }
    path.to_owned()
}

fn language_of(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1;
    Some(match ext {
        "rs" => "rust",
        "ts" | "tsx" => "typescript",
        "js" | "jsx" | "mjs" => "javascript",
        "py" => "python",
        "go" => "go",
        "java" => "java",
        "kt" => "kotlin",
        "rb" => "ruby",
        "c" | "h" => "c",
        "cc" | "cpp" | "hpp" => "c++",
        "svelte" => "svelte",
        "sql" => "sql",
        "md" => "docs",
        "toml" | "yaml" | "yml" | "json" => "config",
        _ => return None,
    })
}

/// Files whose edits are best named by the keys they set.
fn is_config(path: &str) -> bool {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    matches!(
        ext,
        "toml" | "yaml" | "yml" | "json" | "ini" | "cfg" | "conf" | "env" | "properties" | "tfvars"
    ) || path
        .rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with(".env"))
}

/// The key a config line sets: `timeout: 5s`, `max_conns = 20`, `"name": …`, `RUST_LOG=debug`.
fn config_key(line: &str) -> Option<String> {
    static KEY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"^-?\s*["']?([A-Za-z_][A-Za-z0-9_.-]{2,})["']?\s*(?::(?:\s|$)|=)"#)
            .expect("constant regex")
    });
    KEY.captures(line.trim())
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_owned())
}

fn path_keywords(path: &str) -> Vec<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    unique(
        [name.to_owned(), stem.to_owned()]
            .into_iter()
            .filter(|s| !s.is_empty()),
    )
}

static SYMBOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:fn|def|class|struct|enum|trait|interface|function|type|impl|const|static|mod|func|fun|record)\s+([A-Za-z_][A-Za-z0-9_]{2,})")
        .expect("constant regex")
});
/// A Java / C# / Kotlin-style method declaration: modifiers, a return type, the name, `(`.
static METHOD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^[ \t]*(?:(?:public|private|protected|static|final|abstract|synchronized|override|async|virtual)\s+)*(?:void|[A-Z][\w<>\[\],.?]*)\s+([a-z][A-Za-z0-9_]{2,})\s*\(")
        .expect("constant regex")
});

fn code_symbols(code: &str) -> Vec<String> {
    unique(
        SYMBOL
            .captures_iter(code)
            .chain(METHOD.captures_iter(code))
            .filter_map(|c| c.get(1))
            .map(|m| m.as_str().to_owned()),
    )
    .into_iter()
    .take(12)
    .collect()
}

fn identifiers(text: &str) -> Vec<String> {
    static IDENT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]{2,}").expect("constant regex"));
    unique(IDENT.find_iter(text).map(|m| m.as_str().to_owned()))
}

/// The lines an edit removed and added, past the lines it kept at either end; blank and
/// punctuation-only lines (`}`, `);`) left out.
fn changed_lines<'a>(old: &'a str, new: &'a str) -> (Vec<&'a str>, Vec<&'a str>) {
    let o: Vec<&str> = old.lines().map(str::trim).collect();
    let n: Vec<&str> = new.lines().map(str::trim).collect();
    let pre = o.iter().zip(&n).take_while(|(a, b)| a == b).count();
    let suf = o[pre..]
        .iter()
        .rev()
        .zip(n[pre..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let keep = |ls: &[&'a str]| -> Vec<&'a str> {
        ls.iter()
            .copied()
            .filter(|l| l.chars().any(char::is_alphanumeric))
            .collect()
    };
    (keep(&o[pre..o.len() - suf]), keep(&n[pre..n.len() - suf]))
}

/// The function or type an edit was made in: the nearest definition above its old text in the file as
/// Claude Code last showed it (the edit's `originalFile`, else an earlier read of the file), the way
/// `git diff` names a hunk.
fn enclosing_symbol(all: &[Step], at: usize, old: &str) -> Option<String> {
    let first = old.lines().map(str::trim).find(|l| !l.is_empty())?;
    let file = file_of(all[at].t)?;
    let mut texts: Vec<&str> = Vec::new();
    if let Some(o) = all[at]
        .t
        .response
        .get("originalFile")
        .and_then(Value::as_str)
    {
        texts.push(o);
    }
    for s in all[..at].iter().rev() {
        if matches!(s.act, Act::Read(_)) && file_of(s.t).as_deref() == Some(file.as_str()) {
            if let Some(c) =
                s.t.response
                    .pointer("/file/content")
                    .and_then(Value::as_str)
            {
                texts.push(c);
            }
        }
    }
    texts.iter().find_map(|text| {
        let lines: Vec<&str> = text.lines().collect();
        let pos = lines.iter().position(|l| l.contains(first))?;
        lines[..pos]
            .iter()
            .rev()
            .find_map(|l| code_symbols(l).into_iter().next())
    })
}

/// Names that identify code, not English: with `_`, `.`/`::` paths, inner capitals or digits
/// (`queue_adapter`, `RoundingMode.HALF_EVEN`, `useCallback`, `v2`), at least 4 characters.
fn distinctive_identifiers(text: &str) -> Vec<String> {
    static PATH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::)[A-Za-z_][A-Za-z0-9_]*)*")
            .expect("constant regex")
    });
    unique(
        PATH.find_iter(text)
            .map(|m| m.as_str())
            .filter(|w| {
                w.chars().count() >= 4
                    && (w.contains(['_', '.', ':'])
                        || w.chars().skip(1).any(|c| c.is_ascii_uppercase())
                        || w.chars().any(|c| c.is_ascii_digit()))
            })
            .map(str::to_owned),
    )
}

/// [`clip`] for code: the distinctive identifiers of the part cut off are kept after the cut, up to
/// about 60 more characters, so a long edit still names what it introduced.
fn clip_code(s: &str, max_chars: usize) -> String {
    let clipped = clip(s, max_chars);
    if clipped == s {
        return clipped;
    }
    let head = clipped.trim_end_matches('…');
    let rest = s.get(head.len()..).unwrap_or("");
    let mut extra = String::new();
    for w in distinctive_identifiers(rest) {
        if head.contains(&w) || extra.contains(&w) {
            continue;
        }
        if extra.chars().count() + w.chars().count() > 60 {
            break;
        }
        extra.push(' ');
        extra.push_str(&w);
    }
    if extra.is_empty() {
        clipped
    } else {
        format!("{head} …{extra}")
    }
}

/// Whitespace runs as one space.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A tool's answer as text; a subagent's is `{"content": [{"type": "text", "text": …}]}`.
fn response_text(t: &ToolEvent) -> String {
    let text = t.response_text();
    if !text.is_empty() {
        return text;
    }
    t.response
        .get("content")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn one_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// Cuts at a char boundary and marks the cut.
pub fn clip(s: &str, max_chars: usize) -> String {
    let mut chars = s.char_indices();
    match chars.nth(max_chars) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…", s[..cut].trim_end()),
    }
}

fn unique(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty() && seen.insert(i.clone()))
        .collect()
}

#[cfg(test)]
mod tests;
