//! The context block injected at SessionStart (and previewed by `GET /api/context`).
//!
//! Progressive disclosure: the block is an index, not the memories themselves. It carries the last
//! session summary and one line per relevant observation with what a full fetch would cost, so Claude
//! can decide what to pull through the MCP tools instead of paying for everything on every start.
//! Everything here is deterministic for a given database and clock, which is what makes it testable.

use crate::store::{ObservationRow, Store, StoreError, SummaryRow};
use serde::Serialize;
use std::collections::HashMap;

/// Observations considered per build. Ranking only reorders recent work, so older memories are left to
/// search; the bound keeps a build at a few milliseconds whatever the database size.
const CANDIDATES: i64 = 300;
/// Recency halves every three days: last week's work still ranks, last quarter's rarely does.
const HALF_LIFE_HOURS: f64 = 72.0;

/// Why the session started, as Claude Code reports it in SessionStart's `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContextBlock {
    pub project: String,
    pub source: ContextSource,
    /// What Claude reads; empty when there is nothing worth injecting.
    pub text: String,
    /// Estimated tokens of `text` (see [`estimate_tokens`]).
    pub tokens: usize,
    pub budget_tokens: usize,
    pub summary_id: Option<i64>,
    /// Listed observations, in the order shown.
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
    let files = files_of(o);
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

/// Best first. Score = recency (halving every [`HALF_LIFE_HOURS`]) + 0.5 × how hot the observation's
/// hottest file is among the candidates (edits count twice: files being worked on are what the next
/// session most likely touches) + a small weight by type (decisions and fixes outlive changes).
pub fn rank(candidates: &[ObservationRow], now_ms: i64) -> Vec<&ObservationRow> {
    let mut heat: HashMap<&str, f64> = HashMap::new();
    for o in candidates {
        for f in &o.files_modified {
            *heat.entry(f).or_default() += 2.0;
        }
        for f in &o.files_read {
            *heat.entry(f).or_default() += 1.0;
        }
    }
    let hottest = heat.values().copied().fold(0.0, f64::max).max(1.0);
    let mut scored: Vec<(f64, &ObservationRow)> = candidates
        .iter()
        .map(|o| {
            let age_h = (now_ms - o.created_at).max(0) as f64 / 3_600_000.0;
            let recency = 0.5f64.powf(age_h / HALF_LIFE_HOURS);
            let hot = files_of(o)
                .iter()
                .map(|f| heat.get(f).copied().unwrap_or(0.0) / hottest)
                .fold(0.0, f64::max);
            (recency + 0.5 * hot + type_weight(&o.kind), o)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.id.cmp(&a.1.id)));
    scored.into_iter().map(|(_, o)| o).collect()
}

fn summary_section(s: &SummaryRow, now_ms: i64, budget: usize) -> String {
    let mut out = format!(
        "## Last session ({} ago)\n",
        format_age(now_ms, s.created_at)
    );
    for (label, value) in [
        ("Request", &s.request),
        ("Completed", &s.completed),
        ("Learned", &s.learned),
        ("Next steps", &s.next_steps),
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
    store: &Store,
    req: &ContextRequest,
) -> Result<ContextBlock, StoreError> {
    let mut candidates = store
        .recent_project_observations(&req.project, CANDIDATES)
        .await?;
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
    let heading = if req.source == ContextSource::Resume {
        format!(
            "# claude-mem: new memories of {} since this session was last active\n",
            req.project
        )
    } else {
        format!("# claude-mem: memories of {}\n", req.project)
    };
    let mut text = heading;
    let footer = format!("\n{FOOTER}\n");
    let reserve = estimate_tokens(&footer);
    let budget = req.budget_tokens;
    if let Some(s) = summary {
        let section = summary_section(
            s,
            req.now_ms,
            (budget / 2).saturating_sub(estimate_tokens(&text)),
        );
        if estimate_tokens(&text) + estimate_tokens(&section) + reserve <= budget {
            text.push_str(&section);
            block.summary_id = Some(s.id);
        }
    }
    let ranked = rank(candidates, req.now_ms);
    if !ranked.is_empty() {
        let section = format!(
            "## Observations (most relevant first; {} recent)\n",
            ranked.len()
        );
        let mut used = estimate_tokens(&text) + estimate_tokens(&section) + reserve;
        let mut lines = String::new();
        for o in ranked.iter().take(req.max_observations) {
            let line = format!("{}\n", index_line(o, req.now_ms));
            let cost = estimate_tokens(&line);
            if used + cost > budget {
                break;
            }
            used += cost;
            lines.push_str(&line);
            block.observation_ids.push(o.id);
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
    let mut text =
        String::from("Possibly relevant memories (claude-mem; fetch with get_observations):\n");
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

#[cfg(test)]
mod tests;
