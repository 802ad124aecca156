//! The local compressor: deterministic rules over tool names, inputs and outputs. It is the default when no
//! API key is configured and the fallback when the LLM budget is spent, so it has to produce memories that
//! are genuinely useful for search and recall: which files were read and changed, which commands ran and
//! how they ended, what was searched for, what failed and why, all tied to the user's request.

use super::{
    tool_events, CompressError, Compressed, Compressor, ObservationDraft, ObservationType,
    QueuedEvent, SessionContext, Summarized, SummaryDraft, ToolEvent,
};
use async_trait::async_trait;
use regex::Regex;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::LazyLock;

pub const NAME: &str = "local";

/// `min_significance` compares against these scores (0–1): below it an event makes no observation.
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
    pub const COMMIT: f32 = 0.75;
}

#[derive(Debug, Clone)]
pub struct LocalCompressor {
    min_significance: f32,
}

impl LocalCompressor {
    pub fn new(min_significance: f32) -> Self {
        Self { min_significance }
    }
}

impl Default for LocalCompressor {
    fn default() -> Self {
        Self::new(0.3)
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
            observations: compress_events(ctx, events, &HashSet::new(), self.min_significance),
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
            summary: summarize(ctx, events, observations, last_assistant_message),
            usage: Vec::new(),
            compressor: NAME.to_owned(),
            model: None,
        })
    }
}

struct Candidate {
    obs: ObservationDraft,
    significance: f32,
}

/// The rules, callable without a runtime (benchmarks, the LLM fallback path).
pub fn compress_events(
    ctx: &SessionContext,
    events: &[QueuedEvent],
    already_seen_tool_ids: &HashSet<String>,
    min_significance: f32,
) -> Vec<ObservationDraft> {
    let tools = tool_events(events, already_seen_tool_ids);
    let mut out: Vec<Candidate> = Vec::new();
    // Reads and edits of one prompt are merged: "explored 6 files" is one memory, not six.
    let mut reads: BTreeMap<i64, Vec<&ToolEvent>> = BTreeMap::new();
    // Edits keep their position in the batch: whether one fixed a failure depends on what ran before
    // and after it.
    let mut edits: BTreeMap<(i64, String), Vec<(usize, &ToolEvent)>> = BTreeMap::new();
    for (at, t) in tools.iter().enumerate() {
        match t.tool_name {
            "Read" | "NotebookRead" if !t.failed() => {
                reads.entry(t.prompt_number).or_default().push(t)
            }
            "Edit" | "MultiEdit" | "Write" | "NotebookEdit" if !t.failed() => {
                let path = t
                    .input_str("file_path")
                    .or_else(|| t.input_str("notebook_path"))
                    .unwrap_or("")
                    .to_owned();
                edits
                    .entry((t.prompt_number, path))
                    .or_default()
                    .push((at, t))
            }
            _ => out.extend(single(ctx, t)),
        }
    }
    for (prompt, group) in reads {
        out.push(reads_candidate(ctx, prompt, &group));
    }
    for ((prompt, path), group) in edits {
        let positions: Vec<usize> = group.iter().map(|(at, _)| *at).collect();
        let fixed = fixed_failure(&tools, prompt, &positions);
        let group: Vec<&ToolEvent> = group.into_iter().map(|(_, t)| t).collect();
        out.push(edit_candidate(ctx, prompt, &path, &group, fixed));
    }
    out.sort_by_key(|c| c.obs.source_event_ids.first().copied().unwrap_or(0));
    out.into_iter()
        .filter(|c| c.significance >= min_significance)
        .map(|c| c.obs)
        .collect()
}

fn base(kind: ObservationType, title: String, t: &[&ToolEvent]) -> ObservationDraft {
    let mut ids: Vec<i64> = t.iter().map(|t| t.event_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ObservationDraft {
        kind,
        title: clip(&title, 120),
        subtitle: String::new(),
        narrative: String::new(),
        facts: Vec::new(),
        concepts: Vec::new(),
        files_read: Vec::new(),
        files_modified: Vec::new(),
        keywords: Vec::new(),
        source_event_ids: ids,
        prompt_number: t.iter().map(|t| t.prompt_number).max().unwrap_or(0),
        input_tokens: 0,
        output_tokens: 0,
    }
}

fn request_clause(ctx: &SessionContext, prompt: i64) -> String {
    ctx.prompt(prompt)
        .map(|p| format!(" while working on \"{}\"", clip(one_line(p), 160)))
        .unwrap_or_default()
}

fn reads_candidate(ctx: &SessionContext, prompt: i64, group: &[&ToolEvent]) -> Candidate {
    let files: Vec<String> = unique(
        group
            .iter()
            .filter_map(|t| {
                t.input_str("file_path")
                    .or_else(|| t.input_str("notebook_path"))
            })
            .map(|p| display_path(ctx, p)),
    );
    let title = match files.as_slice() {
        [one] => format!("Read {one}"),
        many => format!("Explored {} files: {}", many.len(), list(many, 4)),
    };
    let mut obs = base(ObservationType::Discovery, title, group);
    obs.narrative = format!("Read {}{}.", list(&files, 12), request_clause(ctx, prompt));
    obs.keywords = unique(files.iter().flat_map(|f| path_keywords(f)));
    obs.files_read = files;
    obs.concepts = vec!["exploration".into()];
    let significance = if obs.files_read.len() >= 2 {
        score::EXPLORATION
    } else {
        score::LOOKUP
    };
    Candidate { obs, significance }
}

/// The concept that marks an edit the batch shows fixing a failure. The context builder trusts a local
/// `bugfix` only with it: before it existed, the local rules typed edits by the words of the prompt.
pub const FIXED_FAILURE: &str = "fixed-failure";

/// The type of an edit, from what happened rather than from the words of the prompt: a prompt that says
/// "fix" is followed by refactors, renames and test edits just as often, so its words made every edit of
/// the turn a `bugfix`. An edit is a `bugfix` only when the batch shows it fixed something (see
/// [`fixed_failure`]); a new file is a `feature`; anything else is a `change`, since structure-only
/// refactors cannot be told apart from behaviour changes by the events alone.
fn edit_kind(created: bool, fixed: Option<&ToolEvent>) -> ObservationType {
    if fixed.is_some() {
        ObservationType::Bugfix
    } else if created {
        ObservationType::Feature
    } else {
        ObservationType::Change
    }
}

/// The command whose failure an edit fixed: in the same prompt turn it failed before one of the edits and
/// succeeded after it (the same program and subcommand, so `cargo test -p a` then `cargo test -p a x`
/// count). Only what this batch holds is seen; a rerun that lands in a later batch leaves a `change`.
fn fixed_failure<'a>(
    tools: &'a [ToolEvent<'a>],
    prompt: i64,
    edit_positions: &[usize],
) -> Option<&'a ToolEvent<'a>> {
    let key = |t: &ToolEvent| -> Option<(String, String)> {
        if t.tool_name != "Bash" || t.prompt_number != prompt {
            return None;
        }
        let (prog, sub) = program(one_line(t.input_str("command").unwrap_or("")));
        (!prog.is_empty() && !is_trivial(&prog, &sub)).then_some((prog, sub))
    };
    edit_positions.iter().find_map(|&edit| {
        tools[..edit].iter().rev().find(|f| {
            f.failed()
                && key(f).is_some_and(|k| {
                    tools[edit + 1..]
                        .iter()
                        .any(|s| !s.failed() && key(s).as_ref() == Some(&k))
                })
        })
    })
}

fn edit_candidate(
    ctx: &SessionContext,
    prompt: i64,
    path: &str,
    group: &[&ToolEvent],
    fixed: Option<&ToolEvent>,
) -> Candidate {
    let shown = display_path(ctx, path);
    let created = group.iter().any(|t| {
        t.tool_name == "Write" && t.response.get("type").and_then(Value::as_str) == Some("create")
    });
    let kind = edit_kind(created, fixed);
    let verb = if created {
        "Created"
    } else if group.iter().all(|t| t.tool_name == "Write") {
        "Rewrote"
    } else {
        "Edited"
    };
    let title = match fixed {
        // The fix is what the next session wants to find, so the title says it.
        Some(f) => format!(
            "{verb} {shown}, fixing `{}`",
            clip(one_line(f.input_str("command").unwrap_or("")), 60)
        ),
        None => format!("{verb} {shown}"),
    };
    let mut obs = base(kind, title, group);
    let mut facts = Vec::new();
    let mut new_text = String::new();
    for t in group {
        let pairs: Vec<(&str, &str)> = match t.tool_name {
            "MultiEdit" => t
                .input
                .get("edits")
                .and_then(Value::as_array)
                .map(|edits| {
                    edits
                        .iter()
                        .map(|e| {
                            (
                                e.get("old_string").and_then(Value::as_str).unwrap_or(""),
                                e.get("new_string").and_then(Value::as_str).unwrap_or(""),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            "Write" => vec![("", t.input_str("content").unwrap_or(""))],
            "NotebookEdit" => vec![("", t.input_str("new_source").unwrap_or(""))],
            _ => vec![(
                t.input_str("old_string").unwrap_or(""),
                t.input_str("new_string").unwrap_or(""),
            )],
        };
        for (old, new) in pairs {
            new_text.push_str(new);
            new_text.push('\n');
            let fact = if old.trim().is_empty() {
                format!(
                    "{shown}: wrote {} lines starting `{}`",
                    new.lines().count(),
                    clip(one_line(new), 80)
                )
            } else {
                format!(
                    "{shown}: `{}` → `{}`",
                    clip(one_line(old), 60),
                    clip(one_line(new), 60)
                )
            };
            facts.push(fact);
        }
    }
    let symbols = code_symbols(&new_text);
    obs.subtitle = if symbols.is_empty() {
        format!("{} change(s) to {shown}", facts.len())
    } else {
        format!("touches {}", list(&symbols, 5))
    };
    obs.narrative = format!(
        "{verb} {shown}{} ({} change(s){}).",
        request_clause(ctx, prompt),
        facts.len(),
        if symbols.is_empty() {
            String::new()
        } else {
            format!("; symbols: {}", list(&symbols, 8))
        }
    );
    let mut fix_concept = None;
    if let Some(f) = fixed {
        let command = clip(one_line(f.input_str("command").unwrap_or("")), 80);
        let error = f
            .error
            .map(str::to_owned)
            .unwrap_or_else(|| f.response_text());
        let cause = clip(first_error(&error).unwrap_or("it failed"), 120);
        obs.narrative.push_str(&format!(
            " It fixed `{command}`, which failed before the edit ({cause}) and passed after it."
        ));
        facts.insert(
            0,
            format!("fixed `{command}`: failed before ({cause}), passed after"),
        );
        fix_concept = Some(FIXED_FAILURE.to_string());
    }
    facts.truncate(8);
    obs.facts = facts;
    obs.files_modified = vec![shown.clone()];
    obs.keywords = unique(
        path_keywords(&shown)
            .into_iter()
            .chain(symbols.iter().cloned()),
    );
    obs.concepts = unique(
        ["code-change".to_string(), kind.as_str().to_string()]
            .into_iter()
            .chain(fix_concept)
            .chain(language_of(&shown).map(str::to_owned)),
    );
    Candidate {
        obs,
        significance: score::EDIT,
    }
}

fn single(ctx: &SessionContext, t: &ToolEvent) -> Option<Candidate> {
    match t.tool_name {
        "Bash" => Some(bash(ctx, t)),
        "Read" | "NotebookRead" | "Edit" | "MultiEdit" | "Write" | "NotebookEdit" => {
            Some(failed_file_tool(ctx, t))
        }
        "Grep" | "Glob" => Some(search(ctx, t)),
        "WebFetch" | "WebSearch" => Some(research(ctx, t)),
        "Task" | "Agent" => Some(delegation(ctx, t)),
        "TodoWrite" | "TodoRead" | "ExitPlanMode" | "BashOutput" | "KillShell" => None,
        name if name.starts_with("mcp__") => Some(mcp(ctx, t)),
        _ => Some(generic(ctx, t)),
    }
}

static ERROR_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?im)^.*\b(error|failed|failure|panicked|exception|traceback|fatal)\b.*$")
        .expect("constant regex")
});
static TEST_RESULT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(test result: \w+\. \d+ passed; \d+ failed[^\n]*|\d+ passed(?:, \d+ (?:failed|skipped))*(?: in [\d.]+s)?|Tests?:\s+[^\n]*\d+ (?:passed|failed)[^\n]*|\d+ (?:tests?|examples?), \d+ failures?)",
    )
    .expect("constant regex")
});

fn first_error(text: &str) -> Option<&str> {
    ERROR_LINE
        .find(text)
        .map(|m| m.as_str().trim())
        .or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty()))
}

/// The program a shell command runs, past `sudo`, `env`, `VAR=x` prefixes, plus its first subcommand.
pub(crate) fn program(command: &str) -> (String, String) {
    let mut words = command
        .split_whitespace()
        .skip_while(|w| *w == "sudo" || *w == "env" || (w.contains('=') && !w.starts_with('-')));
    let prog = words
        .next()
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned())
        .unwrap_or_default();
    let sub = words.find(|w| !w.starts_with('-')).unwrap_or("").to_owned();
    (prog, sub)
}

/// Commands that only look around: their success is no memory, and their failure is no failure fixed.
fn is_trivial(prog: &str, sub: &str) -> bool {
    matches!(
        prog,
        "ls" | "pwd"
            | "cd"
            | "echo"
            | "cat"
            | "head"
            | "tail"
            | "which"
            | "whoami"
            | "date"
            | "clear"
            | "true"
            | "wc"
            | "tree"
            | "file"
            | "stat"
            | "printf"
            | "sleep"
            | "env"
    ) || (prog == "git"
        && matches!(
            sub,
            "status" | "log" | "diff" | "show" | "branch" | "remote"
        ))
}

fn bash(ctx: &SessionContext, t: &ToolEvent) -> Candidate {
    let command = t.input_str("command").unwrap_or("").trim();
    // Only the first line of a script matters for classification.
    let first = one_line(command);
    let description = t.input_str("description").unwrap_or("");
    let (prog, sub) = program(first);
    let output = t.response_text();
    let shown = clip(first, 80);
    let is_tests = matches!(
        (prog.as_str(), sub.as_str()),
        ("cargo", "test" | "nextest")
            | ("npm" | "pnpm" | "yarn" | "bun", "test")
            | ("go", "test")
            | ("mvn" | "gradle" | "make", "test")
            | ("dotnet", "test")
    ) || matches!(
        prog.as_str(),
        "pytest" | "jest" | "vitest" | "rspec" | "ctest" | "phpunit"
    ) || first.contains("-m pytest")
        || (matches!(prog.as_str(), "npm" | "pnpm" | "yarn") && first.contains("run test"));
    let is_build = matches!(
        (prog.as_str(), sub.as_str()),
        ("cargo", "build" | "check" | "clippy" | "fmt")
            | ("npm" | "pnpm" | "yarn", "run" | "build")
            | ("go", "build" | "vet")
            | ("mvn", "package" | "compile" | "install")
            | ("gradle", "build")
    ) || matches!(
        prog.as_str(),
        "make" | "tsc" | "cmake" | "ninja" | "gcc" | "clang" | "rustc" | "eslint" | "ruff" | "mypy"
    );
    let is_dependency = matches!(
        (prog.as_str(), sub.as_str()),
        ("cargo", "add" | "remove")
            | (
                "npm" | "pnpm" | "yarn" | "bun",
                "install" | "add" | "i" | "remove"
            )
            | ("pip" | "pip3" | "uv" | "poetry", "install" | "add")
            | ("go", "get")
            | ("apt-get" | "apt" | "brew", "install")
    ) && first.split_whitespace().count() > 2;
    let is_trivial = is_trivial(&prog, &sub);
    let failed = t.failed();

    let mut concepts = vec!["shell".to_owned()];
    let mut facts = vec![format!("ran `{}`", clip(first, 160))];
    let (kind, title, significance) = if failed {
        let error = t.error.map(str::to_owned).unwrap_or_else(|| output.clone());
        // A refused push says why on its `[rejected]` line; the `error:` line after it only says that it
        // was refused.
        let rejected = (prog == "git")
            .then(|| {
                error
                    .lines()
                    .map(str::trim)
                    .find(|l| l.contains("[rejected]"))
            })
            .flatten();
        let line = rejected
            .or_else(|| first_error(&error))
            .unwrap_or("no output");
        facts.push(format!("failed: {}", clip(line, 200)));
        if let Some(code) = error.lines().next().filter(|l| l.starts_with("Exit code")) {
            facts.push(code.to_owned());
        }
        // Still a `discovery` (what was learned: this fails, and why), the closest of the types there are,
        // but marked as a failure of its kind so that search and recall can tell it from a lookup.
        concepts.push("error".into());
        concepts.push("failure".into());
        if is_tests {
            concepts.push("testing".into());
        } else if is_build {
            concepts.push("build".into());
        } else if prog == "git" {
            concepts.push("version-control".into());
        }
        let significance = if is_trivial {
            score::LOOKUP
        } else {
            score::FAILURE
        };
        let verb = if rejected.is_some() {
            "rejected"
        } else {
            "failed"
        };
        (
            ObservationType::Discovery,
            format!("`{shown}` {verb}: {}", clip(line, 80)),
            significance,
        )
    } else if is_tests {
        concepts.push("testing".into());
        let result = TEST_RESULT
            .find_iter(&output)
            .last()
            .map(|m| m.as_str().trim().to_owned());
        if let Some(r) = &result {
            facts.push(r.clone());
        }
        let title = match &result {
            Some(r) => format!("Tests: {} ({shown})", clip(r, 60)),
            None => format!("Ran tests: {shown}"),
        };
        (ObservationType::Discovery, title, score::TESTS)
    } else if prog == "git" && sub == "commit" {
        concepts.push("version-control".into());
        let message = commit_message(first).unwrap_or_else(|| description.to_owned());
        facts.push(format!("commit: {}", clip(&message, 160)));
        (
            ObservationType::Change,
            format!("Committed: {}", clip(&message, 90)),
            score::COMMIT,
        )
    } else if is_dependency {
        concepts.push("dependencies".into());
        (
            ObservationType::Change,
            format!("Dependencies: {shown}"),
            score::DEPENDENCY,
        )
    } else if is_build {
        concepts.push("build".into());
        (
            ObservationType::Discovery,
            format!("Built/checked: {shown}"),
            score::BUILD,
        )
    } else if prog == "git" {
        concepts.push("version-control".into());
        (
            ObservationType::Change,
            format!("git {sub}: {shown}"),
            score::BUILD,
        )
    } else if is_trivial {
        (
            ObservationType::Discovery,
            format!("Ran `{shown}`"),
            score::TRIVIAL,
        )
    } else {
        (
            ObservationType::Discovery,
            format!("Ran `{shown}`"),
            score::COMMAND,
        )
    };
    let mut obs = base(kind, title, &[t]);
    obs.subtitle = clip(description, 120);
    let tail = clip(one_line(output.trim()), 160);
    obs.narrative = format!(
        "{}{}{}{}",
        if description.is_empty() {
            format!("Ran `{}`", clip(first, 160))
        } else {
            format!("{description}: `{}`", clip(first, 160))
        },
        request_clause(ctx, t.prompt_number),
        if failed { " — it failed" } else { "" },
        if tail.is_empty() {
            ".".to_owned()
        } else {
            format!(". Output: {tail}")
        },
    );
    obs.facts = facts;
    obs.concepts = unique(concepts);
    obs.keywords = unique(
        [prog.clone(), sub.clone()]
            .into_iter()
            .filter(|w| !w.is_empty() && w.len() < 40),
    );
    Candidate { obs, significance }
}

fn commit_message(command: &str) -> Option<String> {
    static MSG: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"-m\s*(?:"([^"]*)"|'([^']*)'|(\S+))"#).expect("constant regex")
    });
    let c = MSG.captures(command)?;
    c.get(1)
        .or_else(|| c.get(2))
        .or_else(|| c.get(3))
        .map(|m| m.as_str().to_owned())
}

fn failed_file_tool(ctx: &SessionContext, t: &ToolEvent) -> Candidate {
    let path = t
        .input_str("file_path")
        .or_else(|| t.input_str("notebook_path"))
        .map(|p| display_path(ctx, p))
        .unwrap_or_default();
    let error = t.error.unwrap_or("failed");
    let missing = {
        let e = error.to_ascii_lowercase();
        e.contains("does not exist") || e.contains("no such file") || e.contains("not found")
    };
    let mut obs = base(
        ObservationType::Discovery,
        format!(
            "{} {path} failed: {}",
            t.tool_name,
            clip(one_line(error), 70)
        ),
        &[t],
    );
    obs.narrative = format!("{} of {path} failed: {}.", t.tool_name, clip(error, 300));
    obs.facts = vec![clip(one_line(error), 200)];
    obs.concepts = vec!["error".into()];
    obs.keywords = path_keywords(&path);
    // A read of a file that is not there is routine exploration, not a memory.
    let significance = if missing {
        score::TRIVIAL
    } else {
        score::FAILURE
    };
    Candidate { obs, significance }
}

fn search(ctx: &SessionContext, t: &ToolEvent) -> Candidate {
    let pattern = t.input_str("pattern").unwrap_or("");
    let scope = t
        .input_str("path")
        .map(|p| display_path(ctx, p))
        .or_else(|| t.input_str("glob").map(str::to_owned))
        .unwrap_or_default();
    let found: Vec<String> = t
        .response
        .get("filenames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|p| display_path(ctx, p))
                .collect()
        })
        .unwrap_or_default();
    let what = if t.tool_name == "Glob" {
        "files matching"
    } else {
        ""
    };
    let mut obs = base(
        ObservationType::Discovery,
        format!("Searched for {what}`{}`", clip(pattern, 80))
            .replace("for files matching`", "for files matching `"),
        &[t],
    );
    obs.subtitle = if scope.is_empty() {
        String::new()
    } else {
        format!("in {scope}")
    };
    obs.narrative = format!(
        "Searched for `{}`{}{}{}.",
        clip(pattern, 120),
        if scope.is_empty() {
            String::new()
        } else {
            format!(" in {scope}")
        },
        request_clause(ctx, t.prompt_number),
        if found.is_empty() {
            String::new()
        } else {
            format!("; found {}", list(&found, 6))
        }
    );
    obs.facts = vec![format!("pattern `{}`", clip(pattern, 120))];
    if !found.is_empty() {
        obs.facts.push(format!("{} match(es)", found.len()));
    }
    obs.keywords = unique(
        identifiers(pattern)
            .into_iter()
            .chain(found.iter().flat_map(|f| path_keywords(f)))
            .take(12),
    );
    obs.files_read = found.into_iter().take(20).collect();
    obs.concepts = vec!["code-search".into()];
    Candidate {
        obs,
        significance: score::SEARCH,
    }
}

fn research(ctx: &SessionContext, t: &ToolEvent) -> Candidate {
    let target = t
        .input_str("url")
        .or_else(|| t.input_str("query"))
        .unwrap_or("");
    let verb = if t.tool_name == "WebSearch" {
        "Searched the web for"
    } else {
        "Fetched"
    };
    let mut obs = base(
        ObservationType::Discovery,
        format!("{verb} {}", clip(target, 90)),
        &[t],
    );
    obs.narrative = format!(
        "{verb} {}{}. {}",
        clip(target, 200),
        request_clause(ctx, t.prompt_number),
        clip(one_line(&t.response_text()), 240)
    )
    .trim_end()
    .to_owned();
    if let Some(p) = t.input_str("prompt") {
        obs.facts.push(format!("asked: {}", clip(p, 160)));
    }
    obs.concepts = vec!["research".into()];
    obs.keywords = identifiers(target).into_iter().take(8).collect();
    Candidate {
        obs,
        significance: score::RESEARCH,
    }
}

fn delegation(ctx: &SessionContext, t: &ToolEvent) -> Candidate {
    let description = t
        .input_str("description")
        .or_else(|| t.input_str("prompt"))
        .unwrap_or("subtask");
    let mut obs = base(
        ObservationType::Discovery,
        format!("Delegated: {}", clip(one_line(description), 90)),
        &[t],
    );
    obs.subtitle = t.input_str("subagent_type").unwrap_or("").to_owned();
    obs.narrative = format!(
        "Delegated \"{}\" to a subagent{}. Result: {}",
        clip(description, 200),
        request_clause(ctx, t.prompt_number),
        clip(one_line(&t.response_text()), 300)
    );
    obs.concepts = vec!["delegation".into()];
    Candidate {
        obs,
        significance: score::EXPLORATION,
    }
}

fn mcp(ctx: &SessionContext, t: &ToolEvent) -> Candidate {
    let mut parts = t.tool_name.trim_start_matches("mcp__").splitn(2, "__");
    let server = parts.next().unwrap_or("");
    let tool = parts.next().unwrap_or("");
    let input = clip(&t.input.to_string(), 160);
    let mut obs = base(
        ObservationType::Discovery,
        format!("Used {server} {tool}"),
        &[t],
    );
    obs.narrative = format!(
        "Called the MCP tool {tool} of {server} with {input}{}. Result: {}",
        request_clause(ctx, t.prompt_number),
        clip(one_line(&t.response_text()), 240)
    );
    obs.facts = vec![format!("{server}.{tool}({input})")];
    obs.concepts = vec!["mcp".into()];
    obs.keywords = unique(
        [server.to_owned(), tool.to_owned()]
            .into_iter()
            .filter(|s| !s.is_empty()),
    );
    Candidate {
        obs,
        significance: if t.failed() {
            score::FAILURE
        } else {
            score::EXPLORATION
        },
    }
}

fn generic(ctx: &SessionContext, t: &ToolEvent) -> Candidate {
    let mut obs = base(
        ObservationType::Discovery,
        format!("Used {}", t.tool_name),
        &[t],
    );
    obs.narrative = format!(
        "Used {} with {}{}.",
        t.tool_name,
        clip(&t.input.to_string(), 160),
        request_clause(ctx, t.prompt_number)
    );
    obs.keywords = vec![t.tool_name.to_owned()];
    Candidate {
        obs,
        significance: if t.failed() {
            score::FAILURE
        } else {
            score::COMMAND
        },
    }
}

/// A local summary: the request, then what the events and observations show was looked at, learned and
/// done. Plain sentences, so it reads well when injected at the next SessionStart.
pub fn summarize(
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
            .map(|p| format!("`{}`", clip(p, 40))),
    );
    let commands: Vec<String> = unique(
        tools
            .iter()
            .filter(|t| t.tool_name == "Bash")
            .filter_map(|t| t.input_str("command"))
            .map(|c| format!("`{}`", clip(one_line(c), 50))),
    );
    let mut investigated = Vec::new();
    if !read.is_empty() {
        investigated.push(format!("read {}", list(&read, 8)));
    }
    if !searches.is_empty() {
        investigated.push(format!("searched for {}", list(&searches, 5)));
    }
    if !commands.is_empty() {
        investigated.push(format!("ran {}", list(&commands, 5)));
    }
    let learned: Vec<String> = unique(observations.iter().flat_map(|o| {
        o.facts
            .iter()
            .filter(|f| {
                f.starts_with("failed:") || f.contains("passed") || f.starts_with("Exit code")
            })
            .cloned()
    }));
    let modified: Vec<String> = unique(
        observations
            .iter()
            .flat_map(|o| o.files_modified.iter().cloned()),
    );
    let commits: Vec<String> = unique(
        observations
            .iter()
            .filter(|o| o.title.starts_with("Committed: "))
            .map(|o| o.title.trim_start_matches("Committed: ").to_owned()),
    );
    let mut completed = Vec::new();
    if !modified.is_empty() {
        completed.push(format!("changed {}", list(&modified, 10)));
    }
    if !commits.is_empty() {
        completed.push(format!("committed {}", list(&commits, 3)));
    }
    if let Some(msg) = last_assistant_message
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        completed.push(format!("Claude's last word: {}", clip(one_line(msg), 240)));
    }
    let last_failure = tools.iter().rev().find(|t| t.failed()).and_then(|t| {
        let later_success = tools
            .iter()
            .any(|o| o.event_id > t.event_id && o.tool_name == t.tool_name && !o.failed());
        (!later_success).then(|| {
            let what = t.input_str("command").map(one_line).unwrap_or(t.tool_name);
            format!(
                "resolve the failure of `{}`: {}",
                clip(what, 60),
                clip(
                    first_error(t.error.unwrap_or("")).unwrap_or("see output"),
                    120
                )
            )
        })
    });
    SummaryDraft {
        request,
        investigated: sentence(&investigated),
        learned: sentence(&learned),
        completed: sentence(&completed),
        next_steps: last_failure.map(|f| sentence(&[f])).unwrap_or_default(),
    }
}

fn sentence(parts: &[String]) -> String {
    if parts.is_empty() {
        return String::new();
    }
    let mut s = parts.join("; ");
    if let Some(first) = s.get(..1) {
        s = first.to_uppercase() + &s[1..];
    }
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// Paths relative to the session's directory read better and match how people type them.
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
    Regex::new(r"\b(?:fn|def|class|struct|enum|trait|interface|function|type|impl|const|static|mod|func)\s+([A-Za-z_][A-Za-z0-9_]{2,})")
        .expect("constant regex")
});

fn code_symbols(code: &str) -> Vec<String> {
    unique(
        SYMBOL
            .captures_iter(code)
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

fn list(items: &[String], max: usize) -> String {
    match items.len() {
        0 => String::new(),
        n if n <= max => items.join(", "),
        n => format!("{} and {} more", items[..max].join(", "), n - max),
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
