//! The context block injected at SessionStart (and previewed by `GET /api/context`).
//!
//! Progressive disclosure: the block is an index, not the memories themselves. It carries the last
//! session summary and one line per relevant observation with what a full fetch would cost, so Claude
//! can decide what to pull through the MCP tools instead of paying for everything on every start.
//! The lines are ordered by importance before recency (see [`Tier`] and [`rank`]): what was saved,
//! decided, warned about or fixed first, routine repeats last and folded into one line each.
//! Everything here is deterministic for a given database and clock, which is what makes it testable.

use crate::compress::local;
use crate::model::{ObservationRow, SummaryRow};
use crate::storage::{MemoryReads, StorageError};
use crate::store::MANUAL;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// Observations considered per build. Ranking only reorders recent work, so older memories are left to
/// search; the bound keeps a build at a few milliseconds whatever the database size.
const CANDIDATES: i64 = 300;
/// Saved memories considered per build besides the newest observations.
const SAVED_CANDIDATES: i64 = 100;
/// Recency halves every three days: last week's work still ranks, last quarter's rarely does.
const HALF_LIFE_HOURS: f64 = 72.0;

/// Why the session started, as Claude Code reports it in SessionStart's `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContextSource {
    Startup,
    /// The conversation is reloaded with its earlier context; only what changed since is worth adding.
    Resume,
    /// The conversation was summarised, dropping the earlier injection: inject again.
    Compact,
    Clear,
}

impl ContextSource {
    pub fn parse(s: &str) -> Self {
        match s {
            "resume" => Self::Resume,
            "compact" => Self::Compact,
            "clear" => Self::Clear,
            _ => Self::Startup,
        }
    }
}

/// The language of the block's fixed text (headings, labels, the footer): `compression.language`'s
/// primary subtag when there is a translation ([`crate::settings::LOCAL_LANGUAGES`]), English otherwise.
/// Memories themselves are shown as they were written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    /// `zh`, `zh-CN`, `ZH_tw` → Chinese; anything without a translation → English.
    pub fn from_code(code: &str) -> Self {
        match code
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
            .as_str()
        {
            "zh" => Self::Zh,
            _ => Self::En,
        }
    }

    /// The language the settings ask for (`compression.language`).
    pub fn from_settings(settings: &crate::settings::Settings) -> Self {
        Self::from_code(&settings.compression.language_code())
    }
}

/// The block's fixed text in one language.
struct Texts {
    heading: fn(&str) -> String,
    resume_heading: fn(&str) -> String,
    last_session: fn(&str) -> String,
    request: &'static str,
    completed: &'static str,
    learned: &'static str,
    next_steps: &'static str,
    observations: fn(usize) -> String,
    footer: &'static str,
    recall: &'static str,
    /// `Ran \`{name}\` {n}×{across}{failed}, last: {outcome}`.
    ran: fn(&str, usize, &str, &str, &str) -> String,
    in_sessions: fn(usize) -> String,
    failed_count: fn(usize) -> String,
    ok: &'static str,
    failed: &'static str,
    edited: fn(&str) -> String,
    earlier: &'static str,
}

const EN: Texts = Texts {
    heading: |p| format!("# claude-mem: memories of {p}\n"),
    resume_heading: |p| {
        format!("# claude-mem: new memories of {p} since this session was last active\n")
    },
    last_session: |ago| format!("## Last session ({ago})\n"),
    request: "Request",
    completed: "Completed",
    learned: "Learned",
    next_steps: "Next steps",
    observations: |n| {
        format!("## Observations (most important first, repeats folded; {n} recent)\n")
    },
    footer: FOOTER,
    recall: "Possibly relevant memories (claude-mem; fetch with get_observations):\n",
    ran: |name, n, across, failed, outcome| {
        format!("Ran `{name}` {n}×{across}{failed}, last: {outcome}")
    },
    in_sessions: |n| format!(" in {n} sessions"),
    failed_count: |n| format!(" ({n} failed)"),
    ok: "ok",
    failed: "failed",
    edited: |f| format!("Edited {f}"),
    earlier: "earlier",
};

const ZH: Texts = Texts {
    heading: |p| format!("# claude-mem：{p} 的记忆\n"),
    resume_heading: |p| format!("# claude-mem：本会话上次活动以来 {p} 的新记忆\n"),
    last_session: |ago| format!("## 上次会话（{ago}）\n"),
    request: "请求",
    completed: "已完成",
    learned: "收获",
    next_steps: "下一步",
    observations: |n| format!("## 观察记录（重要的在前，重复的已合并；共 {n} 条近期记录）\n"),
    footer: "用 claude-mem 的 MCP 工具 `get_observations`（传入 id）获取完整条目，用 `timeline` 查看某条前后的记录，\
或用 `search` 搜索更早的记忆。~Nt 是获取一条完整条目的开销。",
    recall: "可能相关的记忆（claude-mem；用 get_observations 获取）：\n",
    ran: |name, n, across, failed, outcome| {
        format!("运行 `{name}` {n}×{across}{failed}，最近一次：{outcome}")
    },
    in_sessions: |n| format!("，跨 {n} 个会话"),
    failed_count: |n| format!("（{n} 次失败）"),
    ok: "成功",
    failed: "失败",
    edited: |f| format!("编辑了 {f}"),
    earlier: "更早",
};

fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
    }
}

#[derive(Debug, Clone)]
pub struct ContextRequest {
    pub project: String,
    pub session_id: Option<String>,
    pub source: ContextSource,
    /// For a resume: when this session was last active. Only newer memories from other sessions are
    /// injected, since the earlier block is still in the resumed conversation.
    pub resumed_after_ms: Option<i64>,
    pub budget_tokens: usize,
    pub max_observations: usize,
    pub now_ms: i64,
    /// The language of the fixed text.
    pub language: Lang,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ContextBlock {
    pub project: String,
    pub source: ContextSource,
    /// What Claude reads; empty when there is nothing worth injecting.
    pub text: String,
    /// Estimated tokens of `text` (see [`estimate_tokens`]).
    pub tokens: usize,
    pub budget_tokens: usize,
    pub summary_id: Option<i64>,
    /// Listed observations, one per line in the order shown (for a line of folded repeats, the newest).
    pub observation_ids: Vec<i64>,
    /// Observations considered before the budget cut.
    pub candidates: usize,
}

/// Token estimate: one token per 3.2 characters, rounded up. Claude's tokenizer is not published; its
/// English and code average 3.5–4 characters per token, so this overestimates slightly and a block
/// built to the estimate stays within the real budget.
pub fn estimate_tokens(text: &str) -> usize {
    (text.chars().count() * 10).div_ceil(32)
}

/// Compact age for an index line: `now`, `5m`, `3h`, `2d`, `3w`, `4mo`, `2y`.
pub fn format_age(now_ms: i64, then_ms: i64) -> String {
    let minutes = (now_ms - then_ms).max(0) / 60_000;
    match minutes {
        0 => "now".into(),
        m if m < 60 => format!("{m}m"),
        m if m < 60 * 24 => format!("{}h", m / 60),
        m if m < 60 * 24 * 14 => format!("{}d", m / (60 * 24)),
        m if m < 60 * 24 * 60 => format!("{}w", m / (60 * 24 * 7)),
        m if m < 60 * 24 * 365 => format!("{}mo", m / (60 * 24 * 30)),
        m => format!("{}y", m / (60 * 24 * 365)),
    }
}

/// Age as a phrase for a heading: `just now` under a minute (and for a clock a little ahead), otherwise
/// [`format_age`] followed by `ago` (`5m ago`, `3h ago`). A compact index line can say `now`; a sentence
/// cannot say "now ago".
pub fn format_ago(now_ms: i64, then_ms: i64) -> String {
    format_ago_in(Lang::En, now_ms, then_ms)
}

/// [`format_ago`] in `lang` (`刚刚`, `5 分钟前`, `3 小时前`).
pub fn format_ago_in(lang: Lang, now_ms: i64, then_ms: i64) -> String {
    let age = format_age(now_ms, then_ms);
    match (lang, age.as_str()) {
        (Lang::En, "now") => "just now".into(),
        (Lang::En, age) => format!("{age} ago"),
        (Lang::Zh, "now") => "刚刚".into(),
        (Lang::Zh, age) => {
            let split = age.find(|c: char| !c.is_ascii_digit()).unwrap_or(age.len());
            let (n, unit) = age.split_at(split);
            let unit = match unit {
                "m" => "分钟",
                "h" => "小时",
                "d" => "天",
                "w" => "周",
                "mo" => "个月",
                _ => "年",
            };
            format!("{n} {unit}前")
        }
    }
}

/// What fetching the full observation would cost, as shown in the index.
pub fn full_entry_tokens(o: &ObservationRow) -> usize {
    let mut n = estimate_tokens(&o.title)
        + estimate_tokens(&o.subtitle)
        + estimate_tokens(&o.narrative)
        + 12;
    for list in [&o.facts, &o.concepts, &o.files_read, &o.files_modified] {
        n += list.iter().map(|s| estimate_tokens(s) + 1).sum::<usize>();
    }
    n
}

fn files_of(o: &ObservationRow) -> Vec<&str> {
    let mut files: Vec<&str> = o
        .files_modified
        .iter()
        .chain(&o.files_read)
        .map(String::as_str)
        .collect();
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(*f));
    files
}

/// One index line: `- #42 bugfix · Fixed the retry backoff · src/queue.rs · 3h · ~180t`.
pub fn index_line(o: &ObservationRow, now_ms: i64) -> String {
    let mut files = files_of(o);
    // "Edited src/lib.rs · src/lib.rs" says it twice.
    files.retain(|f| !o.title.contains(f));
    let mut shown = files.iter().take(2).copied().collect::<Vec<_>>().join(", ");
    if files.len() > 2 {
        shown.push_str(&format!(" +{}", files.len() - 2));
    }
    let mut line = format!("- #{} {} · {}", o.id, o.kind, o.title.trim());
    if !shown.is_empty() {
        line.push_str(" · ");
        line.push_str(&shown);
    }
    line.push_str(&format!(
        " · {} · ~{}t",
        format_age(now_ms, o.created_at),
        full_entry_tokens(o)
    ));
    line
}

fn type_weight(kind: &str) -> f64 {
    match kind {
        "decision" => 0.3,
        "bugfix" => 0.2,
        "feature" => 0.15,
        "refactor" | "discovery" => 0.1,
        _ => 0.05,
    }
}

/// How much a memory matters to the next session, most first. The block is read top down and cut by the
/// budget from the bottom, so the order is the product: what a session cannot rediscover by looking at
/// the code goes first, what it can (or what happened a dozen times) goes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Saved by hand, decisions, gotchas. Someone judged these worth keeping, and they stay true long
    /// after the work that produced them: "deploys go through staging" matters next month too. They come
    /// first however old, up to half the lines (see [`rank`]), so a project with many notes still shows
    /// what was done lately.
    Kept,
    /// Failures that were fixed: the cause and the cure of a bug are what a session is likeliest to need
    /// again, and costly to rediscover.
    Fixed,
    /// Everything else done once: features, changes, findings, failures not (yet) fixed.
    Work,
    /// Repeats and routine checks: the same file edited again and again, the same command rerun, lint /
    /// format / test / build runs. Each was once the hottest thing in the project, which is how file heat
    /// used to put them on the top lines; what they say is "this was worked on a lot", which one folded
    /// line with a count says as well.
    Routine,
}

/// One line of the index: one observation, or a run of routine repeats folded into one.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Newest first; the first is the one the line is about.
    pub members: Vec<&'a ObservationRow>,
    pub tier: Tier,
    score: f64,
}

impl Entry<'_> {
    pub fn newest(&self) -> &ObservationRow {
        self.members[0]
    }
}

/// Concept tags that mark a trap worth warning the next session about.
const GOTCHA_TAGS: [&str; 6] = ["gotcha", "gotchas", "pitfall", "caveat", "footgun", "trap"];

fn is_gotcha(o: &ObservationRow) -> bool {
    o.concepts
        .iter()
        .any(|c| GOTCHA_TAGS.contains(&c.trim().to_ascii_lowercase().as_str()))
        || o.title
            .trim_start()
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("gotcha:"))
}

/// The tier an observation earns on its own (repeats are found later, among the [`Tier::Work`] ones).
fn own_tier(o: &ObservationRow) -> Tier {
    if o.compressor == MANUAL || o.kind == "decision" || is_gotcha(o) {
        Tier::Kept
    } else if o.kind == "bugfix"
        && (o.compressor != local::NAME || o.concepts.iter().any(|c| c == local::FIXED_FAILURE))
    {
        // The local rules used to call every edit of a prompt containing "fix" a bugfix; only the ones
        // marked as having fixed a failure they saw are trusted.
        Tier::Fixed
    } else {
        Tier::Work
    }
}

/// The command of a shell card made by the local rules: their first fact is "ran `…`", or the same in
/// the language they were written in ("运行 `…`").
fn command_of(o: &ObservationRow) -> Option<&str> {
    local::ran_command(o.facts.first()?)
}

fn is_failure(o: &ObservationRow) -> bool {
    o.concepts.iter().any(|c| c == "error" || c == "failure")
}

/// `cargo test`, `npm run lint`, `pytest`…: the name of a test / lint / format / build / type-check
/// command, arguments left out, or None for any other command. Reruns of one check are one routine
/// whatever their arguments (`cargo test -p a`, `cargo test -p b x`).
fn check_name(command: &str) -> Option<String> {
    let (prog, sub) = local::program(command);
    let sub_is = |subs: &[&str]| subs.contains(&sub.as_str());
    let check = match prog.as_str() {
        "cargo" => sub_is(&["test", "nextest", "clippy", "fmt", "check", "build"]),
        "npm" | "pnpm" | "yarn" | "bun" => sub_is(&["test", "run", "lint", "build", "format"]),
        "go" => sub_is(&["test", "vet", "build", "fmt"]),
        "make" | "just" => sub.is_empty() || sub_is(&["test", "check", "lint", "fmt", "build"]),
        "mvn" | "gradle" | "./gradlew" | "dotnet" => true,
        "python" | "python3" | "uv" | "poetry" => {
            sub_is(&["pytest", "mypy", "ruff", "black", "flake8", "pylint"])
        }
        "pytest" | "jest" | "vitest" | "rspec" | "ctest" | "phpunit" | "tsc" | "eslint"
        | "prettier" | "ruff" | "black" | "mypy" | "flake8" | "pylint" | "rustfmt" | "gofmt"
        | "golangci-lint" | "biome" | "clippy-driver" | "shellcheck" => true,
        _ => false,
    };
    if !check {
        return None;
    }
    let mut name = if sub.is_empty() || matches!(prog.as_str(), "mvn" | "gradle" | "./gradlew") {
        prog.clone()
    } else {
        format!("{prog} {sub}")
    };
    if sub == "run" {
        // `npm run lint` and `npm run dev` are different things.
        let script = command
            .split_whitespace()
            .skip_while(|w| *w != "run")
            .nth(1)
            .unwrap_or("");
        name = format!("{name} {script}").trim_end().to_owned();
    }
    Some(name)
}

/// What makes two observations repeats of one routine: the same check, the same command, the same file
/// edited or read by the local rules' cards, or simply the same title.
fn routine_key(o: &ObservationRow) -> String {
    if let Some(command) = command_of(o) {
        return match check_name(command) {
            Some(check) => format!("check:{check}"),
            None => format!("run:{command}"),
        };
    }
    let by_local = o.compressor == local::NAME;
    if let [file] = o.files_modified.as_slice() {
        // Older local cards: "Edited src/a.rs"; current ones: "Changed parse in src/a.rs — tests pass",
        // "Created src/b.rs", "修改 src/a.rs 中的 parse"… (a commit's card is titled by its message).
        let legacy = ["Edited ", "Rewrote ", "Created "]
            .iter()
            .any(|verb| o.title.strip_prefix(verb) == Some(file.as_str()));
        if legacy || (by_local && local::is_edit_title(&o.title)) {
            return format!("edit:{file}");
        }
    }
    if let [file] = o.files_read.as_slice() {
        if o.title.strip_prefix("Read ") == Some(file.as_str())
            || (by_local && o.files_modified.is_empty() && local::is_explored_title(&o.title, file))
        {
            return format!("read:{file}");
        }
    }
    format!("title:{}", o.title.trim().to_lowercase())
}

/// Best first: by [`Tier`], then within a tier by recency (halving every [`HALF_LIFE_HOURS`], so last
/// week's work still ranks and last quarter's rarely does) plus a small weight by type (decisions and
/// fixes outlive changes), then newest id. Repeats among the [`Tier::Work`] observations are folded into
/// one [`Tier::Routine`] entry; a single passing check run is routine too. At most half of
/// `max_lines` (rounded up) go to [`Tier::Kept`]: the rest of the kept memories compete with recent work
/// by recency, so that fifty saved notes do not hide what was done yesterday (search still finds them).
pub fn rank(candidates: &[ObservationRow], now_ms: i64, max_lines: usize) -> Vec<Entry<'_>> {
    let score = |o: &ObservationRow| {
        let age_h = (now_ms - o.created_at).max(0) as f64 / 3_600_000.0;
        0.5f64.powf(age_h / HALF_LIFE_HOURS) + type_weight(&o.kind)
    };
    let newest_first = |a: &&ObservationRow, b: &&ObservationRow| {
        b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id))
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut groups: BTreeMap<String, Vec<&ObservationRow>> = BTreeMap::new();
    for o in candidates {
        match own_tier(o) {
            Tier::Work => groups.entry(routine_key(o)).or_default().push(o),
            tier => entries.push(Entry {
                members: vec![o],
                tier,
                score: score(o),
            }),
        }
    }
    for (key, mut members) in groups {
        members.sort_by(newest_first);
        let newest = members[0];
        let routine = members.len() > 1 || (key.starts_with("check:") && !is_failure(newest));
        entries.push(Entry {
            tier: if routine { Tier::Routine } else { Tier::Work },
            score: score(newest),
            members,
        });
    }
    let by_rank = |a: &Entry, b: &Entry| {
        a.tier
            .cmp(&b.tier)
            .then(b.score.total_cmp(&a.score))
            .then(b.newest().id.cmp(&a.newest().id))
    };
    entries.sort_by(by_rank);
    let quota = max_lines.div_ceil(2).max(1);
    for e in entries
        .iter_mut()
        .filter(|e| e.tier == Tier::Kept)
        .skip(quota)
    {
        e.tier = Tier::Work;
    }
    entries.sort_by(by_rank);
    entries
}

/// The line for an entry: [`index_line`] for one observation; for folded repeats, what was repeated, how
/// often, how the last one ended, and the ids of the newest few (the first is the one the cost is for).
pub fn entry_line(e: &Entry, now_ms: i64) -> String {
    entry_line_in(Lang::En, e, now_ms)
}

/// [`entry_line`] with the fixed words of a folded line in `lang`.
pub fn entry_line_in(lang: Lang, e: &Entry, now_ms: i64) -> String {
    let t = texts(lang);
    let newest = e.newest();
    if e.members.len() == 1 {
        return index_line(newest, now_ms);
    }
    let n = e.members.len();
    let sessions = e
        .members
        .iter()
        .map(|o| o.session_id.as_str())
        .collect::<HashSet<_>>()
        .len();
    let across = if sessions > 1 {
        (t.in_sessions)(sessions)
    } else {
        String::new()
    };
    let what = if let Some(command) = command_of(newest) {
        let all_same = e.members.iter().all(|o| command_of(o) == Some(command));
        let name = match check_name(command) {
            Some(check) if !all_same => check,
            _ => local::clip(command, 60),
        };
        let failed = e.members.iter().filter(|o| is_failure(o)).count();
        let failed = if failed > 0 {
            (t.failed_count)(failed)
        } else {
            String::new()
        };
        let outcome = newest
            .facts
            .iter()
            .skip(1)
            .find(|f| !f.starts_with("Exit code"))
            .map(|f| local::clip(f, 70))
            .unwrap_or_else(|| {
                if is_failure(newest) {
                    t.failed.into()
                } else {
                    t.ok.into()
                }
            });
        (t.ran)(&name, n, &across, &failed, &outcome)
    } else {
        let mut what = local::clip(newest.title.trim(), 90);
        if let Some(file) = routine_key(newest).strip_prefix("edit:") {
            what = (t.edited)(file);
        }
        format!("{what} {n}×{across}")
    };
    let older: Vec<String> = e.members[1..]
        .iter()
        .take(2)
        .map(|o| format!("#{}", o.id))
        .collect();
    let more = if n > 3 {
        format!(" +{}", n - 3)
    } else {
        String::new()
    };
    format!(
        "- #{} {} · {what} · {} · ~{}t · {} {}{more}",
        newest.id,
        newest.kind,
        format_age(now_ms, newest.created_at),
        full_entry_tokens(newest),
        t.earlier,
        older.join(", ")
    )
}

fn summary_section(lang: Lang, s: &SummaryRow, now_ms: i64, budget: usize) -> String {
    let t = texts(lang);
    let mut out = (t.last_session)(&format_ago_in(lang, now_ms, s.created_at));
    for (label, value) in [
        (t.request, &s.request),
        (t.completed, &s.completed),
        (t.learned, &s.learned),
        (t.next_steps, &s.next_steps),
    ] {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let line = format!("- {label}: {}\n", value.replace('\n', " "));
        if estimate_tokens(&out) + estimate_tokens(&line) > budget {
            break;
        }
        out.push_str(&line);
    }
    out
}

const FOOTER: &str =
    "Fetch full entries with the claude-mem MCP tool `get_observations` (ids), look around one \
with `timeline`, or search older memories with `search`. ~Nt is what a full entry costs.";

/// Builds the block for `req` from the store.
pub async fn build_context(
    store: &dyn MemoryReads,
    req: &ContextRequest,
) -> Result<ContextBlock, StorageError> {
    let mut candidates = store
        .recent_project_observations(&req.project, CANDIDATES)
        .await?;
    // Saved memories are listed first however old (see [`Tier::Kept`]), so they are read whether or not
    // they are among the newest.
    let listed: HashSet<i64> = candidates.iter().map(|o| o.id).collect();
    let saved = store.saved_memories(&req.project, SAVED_CANDIDATES).await?;
    candidates.extend(saved.into_iter().filter(|o| !listed.contains(&o.id)));
    let summary = if req.source == ContextSource::Resume {
        None
    } else {
        store.latest_summary(&req.project).await?
    };
    if req.source == ContextSource::Resume {
        let since = req.resumed_after_ms.unwrap_or(i64::MAX);
        candidates
            .retain(|o| o.created_at > since && Some(&o.session_id) != req.session_id.as_ref());
    }
    Ok(render(req, summary.as_ref(), &candidates))
}

/// The pure half of [`build_context`]: ranking and layout within the budget.
pub fn render(
    req: &ContextRequest,
    summary: Option<&SummaryRow>,
    candidates: &[ObservationRow],
) -> ContextBlock {
    let mut block = ContextBlock {
        project: req.project.clone(),
        source: req.source,
        text: String::new(),
        tokens: 0,
        budget_tokens: req.budget_tokens,
        summary_id: None,
        observation_ids: Vec::new(),
        candidates: candidates.len(),
    };
    if summary.is_none() && candidates.is_empty() {
        return block;
    }
    let t = texts(req.language);
    let heading = if req.source == ContextSource::Resume {
        (t.resume_heading)(&req.project)
    } else {
        (t.heading)(&req.project)
    };
    let mut text = heading;
    let footer = format!("\n{}\n", t.footer);
    let reserve = estimate_tokens(&footer);
    let budget = req.budget_tokens;
    if let Some(s) = summary {
        let section = summary_section(
            req.language,
            s,
            req.now_ms,
            (budget / 2).saturating_sub(estimate_tokens(&text)),
        );
        if estimate_tokens(&text) + estimate_tokens(&section) + reserve <= budget {
            text.push_str(&section);
            block.summary_id = Some(s.id);
        }
    }
    let ranked = rank(candidates, req.now_ms, req.max_observations);
    if !ranked.is_empty() {
        let section = (t.observations)(candidates.len());
        let mut used = estimate_tokens(&text) + estimate_tokens(&section) + reserve;
        let mut lines = String::new();
        // The cut keeps a prefix of the ranking: a line is never shown while a more important one that
        // did not fit is dropped.
        for e in ranked.iter().take(req.max_observations) {
            let line = format!("{}\n", entry_line_in(req.language, e, req.now_ms));
            let cost = estimate_tokens(&line);
            if used + cost > budget {
                break;
            }
            used += cost;
            lines.push_str(&line);
            block.observation_ids.push(e.newest().id);
        }
        if !lines.is_empty() {
            text.push_str(&section);
            text.push_str(&lines);
        }
    }
    if block.summary_id.is_none() && block.observation_ids.is_empty() {
        return block;
    }
    text.push_str(&footer);
    block.tokens = estimate_tokens(&text);
    block.text = text;
    block
}

/// The UserPromptSubmit recall: a few search hits as index lines within a small budget.
pub fn render_recall(hits: &[ObservationRow], budget_tokens: usize, now_ms: i64) -> String {
    render_recall_in(Lang::En, hits, budget_tokens, now_ms)
}

/// [`render_recall`] with its heading in `lang`.
pub fn render_recall_in(
    lang: Lang,
    hits: &[ObservationRow],
    budget_tokens: usize,
    now_ms: i64,
) -> String {
    let mut text = String::from(texts(lang).recall);
    let mut used = estimate_tokens(&text);
    let mut any = false;
    for o in hits {
        let line = format!("{}\n", index_line(o, now_ms));
        let cost = estimate_tokens(&line);
        if used + cost > budget_tokens {
            break;
        }
        used += cost;
        text.push_str(&line);
        any = true;
    }
    if any {
        text
    } else {
        String::new()
    }
}

/// File context (PreToolUse before a Read or Edit of `path`, absolute or relative to `cwd`): the 1–3
/// memories of `project` that read or modified the file, decisions and fixes first, then the newest,
/// rendered by [`render_file_context`] within [`crate::settings::FILE_CONTEXT_CHARS`]. Empty when none.
/// One indexed lookup and one fetch: it runs before every such tool call.
pub async fn file_context(
    store: &dyn MemoryReads,
    project: &str,
    cwd: &str,
    path: &str,
    lang: Lang,
    now_ms: i64,
) -> Result<String, StorageError> {
    const MAX_MEMORIES: usize = 3;
    // Memories name files relative to the project (`src/db.rs`); the tool gives an absolute path.
    let cwd = cwd.trim_end_matches('/');
    let relative = path
        .strip_prefix(cwd)
        .map(|p| p.trim_start_matches('/'))
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    // The newest few dozen are plenty to choose three from.
    let recent = store
        .recent_observation_ids_touching(relative, project, 30)
        .await?;
    let mut rows = store.get_observations(&recent).await?;
    let weight = |kind: &str| match kind {
        "decision" | "bugfix" | "security_alert" | "security_note" => 0,
        "feature" | "refactor" => 1,
        _ => 2,
    };
    rows.sort_by(|a, b| {
        weight(&a.kind)
            .cmp(&weight(&b.kind))
            .then(b.created_at.cmp(&a.created_at))
    });
    rows.truncate(MAX_MEMORIES);
    Ok(render_file_context(
        lang,
        &rows,
        crate::settings::FILE_CONTEXT_CHARS,
        now_ms,
    ))
}

/// File context (PreToolUse before a Read or Edit): the recall header, then each memory's index line
/// with the start of its narrative, within `max_chars`. Empty when nothing fits.
pub fn render_file_context(
    lang: Lang,
    hits: &[ObservationRow],
    max_chars: usize,
    now_ms: i64,
) -> String {
    let mut text = String::from(texts(lang).recall);
    let mut any = false;
    for o in hits {
        let mut line = index_line(o, now_ms);
        let narrative: String = o.narrative.split_whitespace().collect::<Vec<_>>().join(" ");
        if !narrative.is_empty() {
            let snippet: String = narrative.chars().take(160).collect();
            let cut = if snippet.len() < narrative.len() {
                "…"
            } else {
                ""
            };
            line.push_str(&format!("\n  {snippet}{cut}"));
        }
        line.push('\n');
        if text.len() + line.len() > max_chars {
            break;
        }
        text.push_str(&line);
        any = true;
    }
    if any {
        text
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests;
