//! `claude-mem forget TARGET…` and `claude-mem edit ID`: the user's own hand on the memory (issue 21).
//!
//! Both go through the worker (`POST /api/forget`, `PATCH /api/observations/{id}`), the one process
//! that owns the database and the search indexes, so a forgotten memory leaves both at once; a worker
//! that is not running is started first (as the SessionStart hook would).

use crate::portability_cmd::{locate, running_worker, send_json};
use anyhow::{bail, Context};
use claude_mem_core::Settings;
use serde_json::{json, Value};

#[derive(Debug, clap::Args)]
pub struct ForgetArgs {
    /// What to forget: an observation id (`12`, as search shows `#12`), `summary:ID`, `prompt:ID` or
    /// `session:ID`.
    targets: Vec<String>,
    /// Forget a whole project: every session, memory and event recorded in it.
    #[arg(long, value_name = "NAME", conflicts_with = "targets")]
    project: Option<String>,
    /// Confirm a whole-project forget.
    #[arg(long)]
    yes: bool,
    /// Why (written to the worker's log).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// The observation's id (`#12` in search).
    id: i64,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    narrative: Option<String>,
    /// A fact; repeat for several. Replaces all facts.
    #[arg(long = "fact", value_name = "FACT")]
    facts: Vec<String>,
    /// One of decision, bugfix, feature, refactor, discovery, change, security_alert, security_note.
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
}

/// `{"kind": …, "id": …}` for one command-line target.
fn target(text: &str) -> anyhow::Result<Value> {
    let (kind, id) = text.split_once(':').unwrap_or(("observation", text));
    let kind = match kind {
        "obs" | "observation" => "observation",
        "summary" => "summary",
        "prompt" => "prompt",
        "session" => {
            if id.trim().is_empty() {
                bail!("{text:?}: the session id is empty");
            }
            return Ok(json!({"kind": "session", "id": id.trim()}));
        }
        other => bail!("{text:?}: {other:?} is not observation, summary, prompt or session"),
    };
    let id: i64 = id
        .trim_start_matches('#')
        .parse()
        .with_context(|| format!("{text:?} is not a {kind} id"))?;
    Ok(json!({"kind": kind, "id": id}))
}

/// The running worker's base URL, starting one when none answers.
fn worker(settings: &Settings) -> anyhow::Result<String> {
    if let Some(base) = running_worker(settings) {
        return Ok(base);
    }
    crate::worker_start::start_if_down();
    running_worker(settings).context(
        "no worker is running and none could be started: start one (`claude-mem serve` or the app) and try again",
    )
}

pub fn forget(args: ForgetArgs) -> anyhow::Result<()> {
    let targets: Vec<Value> = match &args.project {
        Some(project) => {
            if !args.yes {
                bail!(
                    "this forgets everything recorded in project {project:?}; add --yes to confirm"
                );
            }
            vec![json!({"kind": "project", "id": project})]
        }
        None if args.targets.is_empty() => {
            bail!("name what to forget: an observation id, summary:ID, prompt:ID or session:ID")
        }
        None => args
            .targets
            .iter()
            .map(|t| target(t))
            .collect::<anyhow::Result<_>>()?,
    };
    let (_, settings) = locate()?;
    let base = worker(&settings)?;
    let answer = send_json(
        "POST",
        &base,
        "/api/forget",
        &json!({"targets": targets, "reason": args.reason}),
    )?;
    let deleted: u64 = answer["deleted"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    let missing = answer["missing"].as_array().cloned().unwrap_or_default();
    if deleted == 0 {
        bail!("nothing to forget: {} not found", describe(&missing));
    }
    println!(
        "Forgot {} of {} ({deleted} rows, search index {}).",
        targets.len() - missing.len(),
        targets.len(),
        answer["index"].as_str().unwrap_or("unchanged")
    );
    if !missing.is_empty() {
        println!("Not found: {}", describe(&missing));
    }
    Ok(())
}

fn describe(targets: &[Value]) -> String {
    targets
        .iter()
        .map(|t| match (t["kind"].as_str(), &t["id"]) {
            (Some("observation"), id) => format!("#{id}"),
            (Some(kind), Value::String(id)) => format!("{kind}:{id}"),
            (Some(kind), id) => format!("{kind}:{id}"),
            _ => t.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn edit(args: EditArgs) -> anyhow::Result<()> {
    let mut body = serde_json::Map::new();
    if let Some(title) = args.title {
        body.insert("title".into(), json!(title));
    }
    if let Some(narrative) = args.narrative {
        body.insert("narrative".into(), json!(narrative));
    }
    if !args.facts.is_empty() {
        body.insert("facts".into(), json!(args.facts));
    }
    if let Some(kind) = args.kind {
        body.insert("type".into(), json!(kind));
    }
    if body.is_empty() {
        bail!("nothing to change: give --title, --narrative, --fact or --type");
    }
    let (_, settings) = locate()?;
    let base = worker(&settings)?;
    let answer = send_json(
        "PATCH",
        &base,
        &format!("/api/observations/{}", args.id),
        &Value::Object(body),
    )?;
    println!(
        "#{} · {} · {}",
        args.id,
        answer["observation"]["type"].as_str().unwrap_or("?"),
        answer["observation"]["title"].as_str().unwrap_or("?")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_as_a_user_types_them() {
        assert_eq!(
            target("12").unwrap(),
            json!({"kind": "observation", "id": 12})
        );
        assert_eq!(
            target("#12").unwrap(),
            json!({"kind": "observation", "id": 12})
        );
        assert_eq!(
            target("summary:4").unwrap(),
            json!({"kind": "summary", "id": 4})
        );
        assert_eq!(
            target("session:abc-1").unwrap(),
            json!({"kind": "session", "id": "abc-1"})
        );
        assert!(target("twelve").is_err());
        assert!(target("memo:3").is_err());
        assert!(target("session:").is_err());
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum SessionCommand {
    /// Stop recording a session and forget what was recorded of it (what `/claude-mem:off` runs).
    Off {
        /// Claude Code's session id.
        session_id: String,
        /// The session's working directory (names its project in the list of sessions not recorded).
        #[arg(long, default_value = "")]
        cwd: String,
    },
    /// The sessions that are not recorded.
    ListOff,
}

pub fn session(cmd: SessionCommand) -> anyhow::Result<()> {
    let (_, settings) = locate()?;
    let base = worker(&settings)?;
    match cmd {
        SessionCommand::Off { session_id, cwd } => {
            let cwd = if cwd.is_empty() {
                std::env::current_dir()
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                cwd
            };
            send_json(
                "POST",
                &base,
                "/api/sessions/off",
                &json!({"session_id": session_id, "cwd": cwd, "how": "command"}),
            )?;
            println!("claude-mem is not recording this session; what it had recorded of it is forgotten.");
        }
        SessionCommand::ListOff => {
            let answer = crate::portability_cmd::get_json(&base, "/api/sessions/off")?;
            for s in answer["sessions"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}  ({})",
                    s["session_id"].as_str().unwrap_or("?"),
                    s["project"].as_str().unwrap_or("?"),
                    s["how"].as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(())
}

#[derive(Debug, clap::Subcommand)]
pub enum ProjectsCommand {
    /// Every project with its sessions, prompts, memories and last activity.
    List,
    /// File a project's whole history under a new name.
    Rename { from: String, to: String },
    /// Move everything of project FROM into project INTO (e.g. two names of one repository).
    Merge { from: String, into: String },
}

pub fn projects(cmd: Option<ProjectsCommand>) -> anyhow::Result<()> {
    let (_, settings) = locate()?;
    let base = worker(&settings)?;
    match cmd.unwrap_or(ProjectsCommand::List) {
        ProjectsCommand::List => {
            let answer = crate::portability_cmd::get_json(&base, "/api/projects")?;
            let projects = answer["projects"].as_array().cloned().unwrap_or_default();
            if projects.is_empty() {
                println!("No projects yet: nothing has been recorded.");
            }
            for p in projects {
                println!(
                    "{:<32} {:>5} sessions {:>6} prompts {:>6} memories",
                    p["name"].as_str().unwrap_or("?"),
                    p["sessions"].as_i64().unwrap_or(0),
                    p["prompts"].as_i64().unwrap_or(0),
                    p["observations"].as_i64().unwrap_or(0),
                );
            }
        }
        ProjectsCommand::Rename { from, to } => rename(&base, &from, &to, false)?,
        ProjectsCommand::Merge { from, into } => rename(&base, &from, &into, true)?,
    }
    Ok(())
}

fn rename(base: &str, from: &str, to: &str, merge: bool) -> anyhow::Result<()> {
    let path = format!("/api/projects/{}/rename", url_segment(from));
    let answer = send_json("POST", base, &path, &json!({"to": to, "merge": merge}))?;
    println!(
        "{} {from} into {to} ({} rows); the search index is being rebuilt.",
        if merge { "Merged" } else { "Renamed" },
        answer["moved"].as_u64().unwrap_or(0)
    );
    Ok(())
}

/// A project name as one URL path segment (names come from directory names: spaces, `#`, `%`…).
fn url_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
