//! Which hook events capture leaves out, decided before anything is stored.
//!
//! A tool event (PreToolUse, PostToolUse, PostToolUseFailure) is skipped when its tool is one of
//! claude-mem's own MCP tools — a lookup in memory is not new work, and storing it would fill the next
//! session's context with "Used claude-mem search" — or when the user's `capture.skip_tools` names it.
//! A skipped event is answered like a stored one: Claude Code never sees the difference.
//!
//! Any event is skipped, with no context given back, in a place `capture.exclude` names: a client's
//! folder, a secret project. Entries with a `/` (or a leading `~`) are paths or path globs matched
//! against the working directory and each folder above it, so excluding a folder excludes everything
//! under it; entries without one are project names or name globs (`acme-*`).

use crate::hook_event::HookEvent;
use crate::settings::CaptureSettings;
pub use claude_mem_llm::claude_code::{INTERNAL_CWD_DIR, INTERNAL_ENV};

/// Our key under `mcpServers` (`claude-mem install --mcp`, the plugin's `.mcp.json`). Claude Code names
/// the tools of a user- or project-scoped server `mcp__<server>__<tool>`.
pub const MCP_SERVER_NAME: &str = "claude-mem";
/// The plugin's name (`plugin/.claude-plugin/plugin.json`): a plugin's server `S` of plugin `P` gets tools
/// named `mcp__plugin_<P>_<S>__<tool>`.
pub const PLUGIN_NAME: &str = "claude-mem";

/// Why a hook event was not stored; the label is what `/metrics` counts it under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// One of claude-mem's own MCP tools (`search`, `timeline`, `get_observations`, `save_memory`, …).
    OwnTool,
    /// Named by `capture.skip_tools`.
    SkipList,
    /// Any event of claude-mem's own Claude Code session (the `claude-code` compressor's CLI), recognised by
    /// its working directory: compressing must never feed the memory it writes.
    Internal,
    /// Any event in a place `capture.exclude` names.
    Excluded,
    /// Any event of a session the user turned off (`CLAUDE_MEM=off`, `/claude-mem:off`).
    SessionOff,
}

impl SkipReason {
    pub const ALL: [SkipReason; 5] = [
        SkipReason::OwnTool,
        SkipReason::SkipList,
        SkipReason::Internal,
        SkipReason::Excluded,
        SkipReason::SessionOff,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SkipReason::OwnTool => "own_tool",
            SkipReason::SkipList => "skip_list",
            SkipReason::Internal => "internal",
            SkipReason::Excluded => "excluded",
            SkipReason::SessionOff => "session_off",
        }
    }
}

/// Whether an exclude entry is a path (or path glob) rather than a project name.
fn is_path_entry(entry: &str) -> bool {
    entry.contains('/') || entry.contains('\\') || entry.starts_with('~')
}

/// `~` and `~/…` with the home directory (`HOME`, else `USERPROFILE`); other entries as they are.
fn expand_home(entry: &str) -> String {
    let home = || {
        std::env::var("HOME")
            .ok()
            .or_else(|| std::env::var("USERPROFILE").ok())
            .filter(|h| !h.is_empty())
    };
    match entry.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => match home() {
            Some(home) => format!("{}{rest}", home.trim_end_matches('/')),
            None => entry.to_owned(),
        },
        _ => entry.to_owned(),
    }
}

/// The matcher for one `capture.exclude` entry: `*` stays inside one folder, `**` crosses folders.
pub fn exclude_glob(entry: &str) -> Result<globset::GlobMatcher, globset::Error> {
    let pattern = expand_home(entry.trim());
    let pattern = if is_path_entry(entry) {
        pattern.trim_end_matches('/').to_owned()
    } else {
        pattern
    };
    Ok(globset::GlobBuilder::new(&pattern)
        .literal_separator(true)
        .build()?
        .compile_matcher())
}

/// Whether `capture.exclude` names the place of an event in `cwd`, of project `project`.
pub fn is_excluded(settings: &CaptureSettings, cwd: &str, project: &str) -> bool {
    let cwd = std::path::Path::new(cwd.trim_end_matches('/'));
    settings.exclude.iter().any(|entry| {
        // Entries were validated when the settings were loaded; one that fails here excludes nothing.
        let Ok(glob) = exclude_glob(entry) else {
            return false;
        };
        if is_path_entry(entry) {
            cwd.is_absolute() && cwd.ancestors().any(|dir| glob.is_match(dir))
        } else {
            glob.is_match(project)
        }
    })
}

/// Whether `tool_name` is a tool of claude-mem's MCP server, registered either way: by
/// `claude-mem install --mcp` (`mcp__claude-mem__search`) or by the plugin
/// (`mcp__plugin_claude-mem_claude-mem__search`).
pub fn is_claude_mem_tool(tool_name: &str) -> bool {
    let Some(rest) = tool_name.strip_prefix("mcp__") else {
        return false;
    };
    let server = rest
        .strip_prefix("plugin_")
        .and_then(|r| r.strip_prefix(PLUGIN_NAME))
        .and_then(|r| r.strip_prefix('_'))
        .unwrap_or(rest);
    server
        .strip_prefix(MCP_SERVER_NAME)
        .and_then(|r| r.strip_prefix("__"))
        .is_some_and(|tool| !tool.is_empty())
}

/// Whether `cwd` is the directory the `claude-code` compressor runs the CLI in
/// (`<data dir>/claude-code-cwd`): a session there is claude-mem's own, even if the user's hooks fired.
pub fn is_internal_cwd(cwd: &str) -> bool {
    let cwd = cwd.trim_end_matches(['/', '\\']);
    cwd.rsplit(['/', '\\']).next() == Some(INTERNAL_CWD_DIR) && cwd.len() > INTERNAL_CWD_DIR.len()
}

/// Whether an entry of `capture.skip_tools` names `tool_name`: equal, or a prefix when it ends in `*`.
fn matches(entry: &str, tool_name: &str) -> bool {
    match entry.strip_suffix('*') {
        Some(prefix) => tool_name.starts_with(prefix),
        None => entry == tool_name,
    }
}

/// Why a call of `tool_name` is not captured, if it is not.
pub fn tool_skip_reason(settings: &CaptureSettings, tool_name: &str) -> Option<SkipReason> {
    if is_claude_mem_tool(tool_name) {
        Some(SkipReason::OwnTool)
    } else if settings.skip_tools.iter().any(|e| matches(e, tool_name)) {
        Some(SkipReason::SkipList)
    } else {
        None
    }
}

/// Why `event` is not stored, if it is not. Apart from claude-mem's own compressor session (skipped whole),
/// only tool events are ever skipped: a prompt, a stop or a session's end always counts, whatever tool name
/// it might carry.
pub fn skip_reason(settings: &CaptureSettings, event: &HookEvent) -> Option<SkipReason> {
    if is_internal_cwd(&event.cwd) {
        return Some(SkipReason::Internal);
    }
    if is_excluded(settings, &event.cwd, &event.project) {
        return Some(SkipReason::Excluded);
    }
    if !event.is_tool_event() {
        return None;
    }
    tool_skip_reason(settings, event.tool_name.as_deref()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, body: &str) -> HookEvent {
        HookEvent::parse(name, body.as_bytes()).unwrap()
    }

    fn post_tool_use(tool: &str) -> HookEvent {
        event(
            "PostToolUse",
            &format!(
                r#"{{"session_id":"s","cwd":"/x/app","tool_name":"{tool}","tool_use_id":"t1"}}"#
            ),
        )
    }

    #[test]
    fn claude_mems_own_tools_are_recognised_by_both_registrations() {
        for own in [
            "mcp__claude-mem__search",
            "mcp__claude-mem__get_observations",
            "mcp__claude-mem__timeline",
            "mcp__claude-mem__save_memory",
            "mcp__claude-mem__a_tool_added_later",
            "mcp__plugin_claude-mem_claude-mem__search",
            "mcp__plugin_claude-mem_claude-mem__save_memory",
        ] {
            assert!(is_claude_mem_tool(own), "{own}");
        }
        for other in [
            "Bash",
            "mcp__tiny__echo",
            "mcp__claude-mem",
            "mcp__claude-mem__",
            "mcp__claude-memory__search",
            "mcp__claude-mem-extra__search",
            "mcp__plugin_claude-mem_other__search",
            "mcp__plugin_other_claude-mem__search",
            "claude-mem__search",
            "MCP__claude-mem__search",
        ] {
            assert!(!is_claude_mem_tool(other), "{other}");
        }
    }

    #[test]
    fn own_tools_are_skipped_whatever_the_list_says() {
        let empty = CaptureSettings {
            skip_tools: vec![],
            ..CaptureSettings::default()
        };
        for settings in [CaptureSettings::default(), empty] {
            for event_name in ["PreToolUse", "PostToolUse", "PostToolUseFailure"] {
                let e = event(
                    event_name,
                    r#"{"session_id":"s","tool_name":"mcp__claude-mem__search","tool_use_id":"t"}"#,
                );
                assert_eq!(
                    skip_reason(&settings, &e),
                    Some(SkipReason::OwnTool),
                    "{event_name}"
                );
            }
        }
    }

    #[test]
    fn the_default_list_is_the_originals_and_real_work_is_kept() {
        let settings = CaptureSettings::default();
        for tool in [
            "TodoWrite",
            "AskUserQuestion",
            "ListMcpResourcesTool",
            "SlashCommand",
            "Skill",
        ] {
            assert_eq!(
                skip_reason(&settings, &post_tool_use(tool)),
                Some(SkipReason::SkipList),
                "{tool}"
            );
        }
        for tool in [
            "Bash",
            "Edit",
            "Read",
            "mcp__tiny__echo",
            "todowrite",
            "Skills",
        ] {
            assert_eq!(skip_reason(&settings, &post_tool_use(tool)), None, "{tool}");
        }
    }

    #[test]
    fn a_trailing_star_matches_a_prefix_and_an_empty_list_keeps_everything_else() {
        let settings = CaptureSettings {
            skip_tools: vec!["mcp__github__*".into(), "WebFetch".into()],
            ..CaptureSettings::default()
        };
        assert_eq!(
            tool_skip_reason(&settings, "mcp__github__create_issue"),
            Some(SkipReason::SkipList)
        );
        assert_eq!(
            tool_skip_reason(&settings, "WebFetch"),
            Some(SkipReason::SkipList)
        );
        assert_eq!(tool_skip_reason(&settings, "WebFetcher"), None);
        assert_eq!(tool_skip_reason(&settings, "mcp__gitlab__x"), None);
        assert_eq!(tool_skip_reason(&settings, "TodoWrite"), None);
    }

    #[test]
    fn only_tool_events_are_skipped() {
        let settings = CaptureSettings::default();
        // A prompt or a stop that happens to carry a tool name still counts.
        for name in ["UserPromptSubmit", "Stop", "PermissionRequest"] {
            let e = event(
                name,
                r#"{"session_id":"s","prompt":"p","tool_name":"mcp__claude-mem__search"}"#,
            );
            assert_eq!(skip_reason(&settings, &e), None, "{name}");
        }
    }

    #[test]
    fn names_match_what_the_installer_and_the_plugin_register() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugin");
        let read = |p: &str| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(root.join(p)).unwrap()).unwrap()
        };
        let plugin = read(".claude-plugin/plugin.json");
        assert_eq!(plugin["name"], PLUGIN_NAME);
        let servers = read(".mcp.json");
        let names: Vec<&String> = servers["mcpServers"].as_object().unwrap().keys().collect();
        assert_eq!(names, vec![MCP_SERVER_NAME]);
    }

    #[test]
    fn excluded_places_skip_every_event_and_only_there() {
        let home = std::env::var("HOME").unwrap_or_default();
        let settings = CaptureSettings {
            exclude: vec![
                "/srv/clients/acme".into(),
                "~/secret/*".into(),
                "**/private-*".into(),
                "scratch-*".into(),
            ],
            ..CaptureSettings::default()
        };
        let at = |cwd: &str, project: &str| is_excluded(&settings, cwd, project);
        // A folder, everything under it, and nothing beside it.
        assert!(at("/srv/clients/acme", "acme"));
        assert!(at("/srv/clients/acme/src/api/", "acme"));
        assert!(!at("/srv/clients/acme-2", "acme-2"));
        // `~` is the home directory; `*` stays in one folder but what is under a match is excluded too.
        assert!(at(&format!("{home}/secret/diary"), "diary"));
        assert!(at(&format!("{home}/secret/diary/2026"), "diary"));
        assert!(!at(&format!("{home}/secretive"), "secretive"));
        assert!(at("/home/x/work/private-notes/a", "private-notes"));
        // Names without a `/` are project names.
        assert!(at("/anywhere/at/all", "scratch-pad"));
        assert!(!at("/anywhere/scratch-pad-not", "pad"));
        // Every event there, not only tool events.
        let prompt = HookEvent::parse(
            "UserPromptSubmit",
            br#"{"session_id":"s","cwd":"/srv/clients/acme/web","prompt":"hi"}"#,
        )
        .unwrap();
        assert_eq!(skip_reason(&settings, &prompt), Some(SkipReason::Excluded));
        assert_eq!(skip_reason(&CaptureSettings::default(), &prompt), None);
    }

    #[test]
    fn the_compressors_own_session_is_never_captured() {
        let settings = CaptureSettings::default();
        for (name, body) in [
            (
                "SessionStart",
                r#"{"session_id":"s","cwd":"/home/u/.claude-mem/claude-code-cwd","source":"startup"}"#,
            ),
            (
                "UserPromptSubmit",
                r#"{"session_id":"s","cwd":"/home/u/.claude-mem/claude-code-cwd/","prompt":"Events"}"#,
            ),
            (
                "PostToolUse",
                r#"{"session_id":"s","cwd":"C:\\Users\\u\\.claude-mem\\claude-code-cwd","tool_name":"Bash","tool_use_id":"t"}"#,
            ),
        ] {
            assert_eq!(
                skip_reason(&settings, &event(name, body)),
                Some(SkipReason::Internal),
                "{body}"
            );
        }
        for cwd in [
            "/home/u/work/app",
            "/home/u/claude-code-cwd-notes",
            "claude-code-cwd",
            "",
        ] {
            assert!(!is_internal_cwd(cwd), "{cwd}");
        }
        assert!(is_internal_cwd("/x/claude-code-cwd"));
    }
}
