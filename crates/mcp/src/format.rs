//! Turning the worker's JSON into text for the model.
//!
//! Every token a tool returns is paid for in the model's context, so the search index is one short line
//! per hit and the full entries are fetched only for the ids the model picks (progressive disclosure).
//! The functions take `serde_json::Value` as the worker serialises it, and treat every field as optional:
//! an older or newer worker must degrade the text, not fail the tool.

use serde_json::Value;

const DAY_MS: i64 = 86_400_000;

/// At most this many files are named on an index line; the full lists are in `get_observations`.
const INDEX_FILES: usize = 2;

fn str_field<'a>(o: &'a Value, key: &str) -> &'a str {
    o.get(key).and_then(Value::as_str).unwrap_or("")
}

fn list_field(o: &Value, key: &str) -> Vec<String> {
    o.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn id_of(o: &Value) -> String {
    o.get("id")
        .and_then(Value::as_i64)
        .map_or_else(|| "?".into(), |id| id.to_string())
}

/// `3h ago`, `2d ago`: relative ages are shorter than dates and what the model needs to judge freshness.
pub fn age(now_ms: i64, created_ms: i64) -> String {
    let delta = (now_ms - created_ms).max(0);
    let minutes = delta / 60_000;
    match minutes {
        0 => "just now".into(),
        1..=59 => format!("{minutes}m ago"),
        60..=1439 => format!("{}h ago", minutes / 60),
        _ if delta < 60 * DAY_MS => format!("{}d ago", delta / DAY_MS),
        _ if delta < 730 * DAY_MS => format!("{}mo ago", delta / (30 * DAY_MS)),
        _ => format!("{}y ago", delta / (365 * DAY_MS)),
    }
}

/// Modified files first (what the work was about), then read ones, without repeats.
fn files_of(o: &Value) -> Vec<String> {
    let mut files = list_field(o, "files_modified");
    for f in list_field(o, "files_read") {
        if !files.contains(&f) {
            files.push(f);
        }
    }
    files
}

fn short_files(o: &Value) -> String {
    let files = files_of(o);
    if files.is_empty() {
        return "-".into();
    }
    let mut out = files
        .iter()
        .take(INDEX_FILES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if files.len() > INDEX_FILES {
        out.push_str(&format!(" +{}", files.len() - INDEX_FILES));
    }
    out
}

/// One index line: `#12 · bugfix · Fix the WAL pool · src/store/db.rs · 3h ago`.
pub fn index_line(o: &Value, now_ms: i64) -> String {
    let created = o
        .get("created_at")
        .and_then(Value::as_i64)
        .unwrap_or(now_ms);
    format!(
        "#{} · {} · {} · {} · {}",
        id_of(o),
        str_field(o, "type"),
        one_line(str_field(o, "title")),
        short_files(o),
        age(now_ms, created)
    )
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `s` on one line, cut to `max` characters with an ellipsis.
fn clipped(s: &str, max: usize) -> String {
    let line = one_line(s);
    if line.chars().count() <= max {
        return line;
    }
    let mut out: String = line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A session summary's index line. It has no `#id`: `get_observations` reads observations only, and the
/// line already says what the summary holds (`summary · request → completed · session · age`).
pub fn summary_line(s: &Value, now_ms: i64) -> String {
    let created = s
        .get("created_at")
        .and_then(Value::as_i64)
        .unwrap_or(now_ms);
    let mut line = format!("summary · {}", clipped(str_field(s, "request"), 120));
    let completed = str_field(s, "completed");
    if !completed.trim().is_empty() {
        line.push_str(&format!(" → {}", clipped(completed, 160)));
    }
    format!(
        "{line} · session {} · {}",
        str_field(s, "session_id"),
        age(now_ms, created)
    )
}

/// A user prompt's index line: `prompt · "text" · session · age` (no `#id`, like a summary's).
pub fn prompt_line(p: &Value, now_ms: i64) -> String {
    let created = p
        .get("created_at")
        .and_then(Value::as_i64)
        .unwrap_or(now_ms);
    format!(
        "prompt · \"{}\" · session {} · {}",
        clipped(str_field(p, "prompt"), 200),
        str_field(p, "session_id"),
        age(now_ms, created)
    )
}

/// The `search` tool's answer: a header, one line per hit, and the next step. A result without `kind`
/// comes from a worker that searched observations only.
pub fn search_index(body: &Value, query: &str, now_ms: i64) -> String {
    let hits: Vec<(&str, &Value)> = body
        .get("results")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|x| {
                    let kind = x
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("observation");
                    Some((kind, x.get(kind)?))
                })
                .collect()
        })
        .unwrap_or_default();
    if hits.is_empty() {
        return format!(
            "No memories match {query:?}. Try other words, mode \"text\" for exact identifiers, or drop filters."
        );
    }
    let newest = body.get("order").and_then(Value::as_str) == Some("newest");
    let mut out = format!(
        "{} memories for {query:?} ({}; #id · type · title · files · age):\n",
        hits.len(),
        if newest { "newest first" } else { "best first" }
    );
    let mut observations = 0;
    for (kind, row) in &hits {
        match *kind {
            "summary" => out.push_str(&summary_line(row, now_ms)),
            "prompt" => out.push_str(&prompt_line(row, now_ms)),
            _ => {
                observations += 1;
                out.push_str(&index_line(row, now_ms));
            }
        }
        out.push('\n');
    }
    if observations > 0 {
        out.push_str("Details: get_observations with the ids you need. Context around one: timeline with anchor=<id>.");
    } else {
        out.push_str("Summary and prompt lines are shown in full; search kind=observation for the work itself.");
    }
    out
}

/// The `timeline` tool's answer: chronological lines, the anchor marked with `>`.
pub fn timeline(body: &Value, now_ms: i64) -> String {
    let anchor = body.get("anchor").and_then(Value::as_i64);
    let items: Vec<&Value> = body
        .get("observations")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if items.is_empty() {
        return "No memories in that window.".into();
    }
    let mut out = format!(
        "{} memories, oldest first ({}#id · type · title · files · when):\n",
        items.len(),
        if anchor.is_some() {
            "> marks the anchor; "
        } else {
            ""
        }
    );
    for o in items {
        let is_anchor = anchor.is_some() && o.get("id").and_then(Value::as_i64) == anchor;
        let created = o
            .get("created_at")
            .and_then(Value::as_i64)
            .unwrap_or(now_ms);
        out.push_str(if is_anchor { "> " } else { "  " });
        out.push_str(&format!(
            "#{} · {} · {} · {} · {}\n",
            id_of(o),
            str_field(o, "type"),
            one_line(str_field(o, "title")),
            short_files(o),
            claude_mem_api::clock::format_utc(created)
        ));
    }
    out.pop();
    out
}

/// One full entry as compact markdown.
pub fn observation(o: &Value, now_ms: i64) -> String {
    let created = o
        .get("created_at")
        .and_then(Value::as_i64)
        .unwrap_or(now_ms);
    let mut out = format!(
        "## #{} · {} · {}\n",
        id_of(o),
        str_field(o, "type"),
        one_line(str_field(o, "title"))
    );
    let subtitle = str_field(o, "subtitle");
    if !subtitle.trim().is_empty() {
        out.push_str(&format!("_{}_\n", one_line(subtitle)));
    }
    out.push_str(&format!(
        "project {} · session {} · {} ({})\n",
        str_field(o, "project"),
        str_field(o, "session_id"),
        claude_mem_api::clock::format_utc(created),
        age(now_ms, created)
    ));
    let narrative = str_field(o, "narrative").trim();
    if !narrative.is_empty() {
        out.push('\n');
        out.push_str(narrative);
        out.push('\n');
    }
    let facts = list_field(o, "facts");
    if !facts.is_empty() {
        out.push_str("\nFacts:\n");
        for f in facts {
            out.push_str(&format!("- {}\n", one_line(&f)));
        }
    }
    for (label, key) in [
        ("Concepts", "concepts"),
        ("Files modified", "files_modified"),
        ("Files read", "files_read"),
    ] {
        let values = list_field(o, key);
        if !values.is_empty() {
            out.push_str(&format!("{label}: {}\n", values.join(", ")));
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_793_000_000_000;

    fn obs() -> Value {
        json!({
            "id": 12, "type": "bugfix", "title": "Fix the\nWAL pool", "subtitle": "db opened twice",
            "narrative": "The pool opened the database twice.", "facts": ["WAL needs one writer"],
            "concepts": ["sqlite"], "files_modified": ["src/db.rs"],
            "files_read": ["src/db.rs", "src/a.rs", "src/b.rs"], "project": "shop",
            "session_id": "s1", "created_at": NOW - 3 * 3_600_000
        })
    }

    #[test]
    fn index_lines_are_short_and_complete() {
        assert_eq!(
            index_line(&obs(), NOW),
            "#12 · bugfix · Fix the WAL pool · src/db.rs, src/a.rs +1 · 3h ago"
        );
        let body = json!({"results": [{"score": 1.0, "observation": obs()}]});
        let text = search_index(&body, "wal", NOW);
        assert!(text.starts_with("1 memories for \"wal\""), "{text}");
        assert!(search_index(&json!({"results": []}), "x", NOW).starts_with("No memories"));
    }

    #[test]
    fn summaries_and_prompts_get_their_own_lines() {
        let body = json!({"order": "newest", "results": [
            {"kind": "prompt", "score": 0.9, "prompt": {"id": 3, "session_id": "s1",
                "prompt": "why is the\ncart total off?", "created_at": NOW - 60_000}},
            {"kind": "summary", "score": 0.8, "summary": {"id": 2, "session_id": "s1",
                "request": "fix totals", "completed": "Changed src/cart.rs.", "created_at": NOW - 2 * DAY_MS}},
            {"kind": "observation", "score": 0.7, "observation": obs()},
        ]});
        let text = search_index(&body, "cart", NOW);
        assert!(
            text.starts_with("3 memories for \"cart\" (newest first"),
            "{text}"
        );
        assert!(
            text.contains("\nprompt · \"why is the cart total off?\" · session s1 · 1m ago\n"),
            "{text}"
        );
        assert!(
            text.contains("\nsummary · fix totals → Changed src/cart.rs. · session s1 · 2d ago\n"),
            "{text}"
        );
        assert!(text.contains("\n#12 · bugfix"), "{text}");
        assert!(text.ends_with("timeline with anchor=<id>."), "{text}");
        let prompts_only = json!({"results": [{"kind": "prompt", "prompt": {"prompt": "x"}}]});
        assert!(search_index(&prompts_only, "x", NOW).contains("shown in full"));
        // Long text is clipped; missing fields degrade.
        let long = json!({"prompt": "word ".repeat(100)});
        assert!(prompt_line(&long, NOW).chars().count() < 260);
        assert!(summary_line(&json!({}), NOW).starts_with("summary · "));
    }

    #[test]
    fn full_entries_carry_every_field() {
        let text = observation(&obs(), NOW);
        for part in [
            "## #12 · bugfix",
            "_db opened twice_",
            "session s1",
            "The pool opened",
            "- WAL needs one writer",
            "Concepts: sqlite",
            "Files read: src/db.rs, src/a.rs, src/b.rs",
        ] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
        // Missing fields degrade, never panic.
        assert!(observation(&json!({}), NOW).starts_with("## #? ·"));
    }

    #[test]
    fn timeline_marks_the_anchor() {
        let mut other = obs();
        other["id"] = json!(11);
        let text = timeline(&json!({"anchor": 12, "observations": [other, obs()]}), NOW);
        assert!(text.contains("\n  #11 ·"), "{text}");
        assert!(text.contains("\n> #12 ·"), "{text}");
    }

    #[test]
    fn ages_grow_in_sensible_units() {
        assert_eq!(age(NOW, NOW), "just now");
        assert_eq!(age(NOW, NOW - 5 * 60_000), "5m ago");
        assert_eq!(age(NOW, NOW - 2 * DAY_MS), "2d ago");
        assert_eq!(age(NOW, NOW - 90 * DAY_MS), "3mo ago");
        assert_eq!(age(NOW, NOW + 5_000), "just now");
    }
}
