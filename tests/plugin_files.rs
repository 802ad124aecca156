//! The Claude Code plugin (`plugin/`) and its marketplace entry (`.claude-plugin/marketplace.json`): the
//! JSON parses, and the plugin wires exactly the hooks `claude-mem install` writes (same events, matchers,
//! handler types, URLs and timeouts), so the two ways to install never drift apart.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// event → [(matcher, handler)], with the binary's path in command hooks reduced to `claude-mem`.
fn hook_table(hooks: &Value) -> BTreeMap<String, Vec<(Value, Value)>> {
    let mut table = BTreeMap::new();
    for (event, groups) in hooks.as_object().expect("hooks is an object") {
        let mut entries = Vec::new();
        for group in groups.as_array().expect("hook groups are an array") {
            for handler in group["hooks"].as_array().expect("handlers are an array") {
                let mut handler = handler.clone();
                if let Some(command) = handler["command"].as_str() {
                    let (program, rest) = command.split_once(' ').unwrap_or((command, ""));
                    let program = program.trim_matches(['\'', '"']);
                    // The installer writes the binary's path; the plugin its launcher, which runs it.
                    assert!(
                        program.ends_with("/claude-mem")
                            || program == "${CLAUDE_PLUGIN_ROOT}/bin/claude-mem-launch",
                        "{event}: unexpected command {command}"
                    );
                    handler["command"] = json!(format!("claude-mem {rest}"));
                }
                entries.push((
                    group.get("matcher").cloned().unwrap_or(Value::Null),
                    handler,
                ));
            }
        }
        table.insert(event.clone(), entries);
    }
    table
}

#[test]
fn the_plugin_wires_the_same_hooks_as_the_installer() {
    let sandbox = Sandbox::new();
    let out = sandbox.command().arg("install").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = read_json(&sandbox.home().join(".claude/settings.json"));
    let plugin = read_json(&repo().join("plugin/hooks/hooks.json"));
    assert!(plugin["description"].is_string());
    let expected = hook_table(&installed["hooks"]);
    let actual = hook_table(&plugin["hooks"]);
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "hook events differ from `claude-mem install`"
    );
    assert_eq!(actual, expected);
    // Claude Code runs no http hooks at SessionStart, so that one must be a command.
    assert_eq!(actual["SessionStart"][0].1["type"], "command");
}

#[test]
fn manifest_mcp_config_and_marketplace_agree() {
    let manifest = read_json(&repo().join("plugin/.claude-plugin/plugin.json"));
    assert_eq!(manifest["name"], "claude-mem");
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert!(manifest["description"]
        .as_str()
        .is_some_and(|d| d.len() > 20));
    assert!(manifest["author"]["name"].is_string());

    let mcp = read_json(&repo().join("plugin/.mcp.json"));
    assert_eq!(
        mcp,
        json!({"mcpServers": {"claude-mem": {
            "command": "${CLAUDE_PLUGIN_ROOT}/bin/claude-mem-launch", "args": ["mcp"]}}})
    );

    let market = read_json(&repo().join(".claude-plugin/marketplace.json"));
    assert_eq!(market["name"], "claude-mem");
    assert!(market["owner"]["name"].is_string());
    let plugins = market["plugins"].as_array().expect("plugins");
    assert_eq!(plugins.len(), 1);
    assert_eq!(plugins[0]["name"], manifest["name"]);
    assert_eq!(plugins[0]["source"], "./plugin");
    assert_eq!(plugins[0]["version"], manifest["version"]);
    assert!(repo()
        .join(plugins[0]["source"].as_str().unwrap())
        .join(".claude-plugin/plugin.json")
        .exists());
}

#[test]
fn the_plugin_mcp_server_is_the_one_install_registers() {
    let sandbox = Sandbox::new();
    let out = sandbox
        .command()
        .args(["install", "--mcp"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let registered = read_json(&sandbox.home().join(".claude.json"));
    let plugin = read_json(&repo().join("plugin/.mcp.json"));
    let ours = &registered["mcpServers"]["claude-mem"];
    let theirs = &plugin["mcpServers"]["claude-mem"];
    assert_eq!(ours["args"], theirs["args"]);
    let command = ours["command"].as_str().unwrap();
    assert!(command.ends_with("/claude-mem"), "{command}");
    assert!(
        theirs["command"]
            .as_str()
            .is_some_and(|c| c.ends_with("/bin/claude-mem-launch")),
        "{theirs}"
    );
}

/// The launcher the plugin's hooks and MCP server run: executable, valid `sh`, and pinned to this
/// version's release for every platform `scripts/release.sh` builds.
#[test]
fn the_launcher_is_executable_and_pinned_to_this_release() {
    use std::os::unix::fs::PermissionsExt;
    let launcher = repo().join("plugin/bin/claude-mem-launch");
    let mode = std::fs::metadata(&launcher).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "not executable: {mode:o}");
    let syntax = std::process::Command::new("sh")
        .arg("-n")
        .arg(&launcher)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{syntax:?}");
    let text = std::fs::read_to_string(&launcher).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert!(text.contains(&format!("\nVERSION={version}\n")));
    for target in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "x86_64-pc-windows-gnu.exe",
    ] {
        let pinned = text.lines().any(|l| {
            l.len() > 66
                && l[..64].bytes().all(|b| b.is_ascii_hexdigit())
                && l[64..] == format!("  claude-mem-{version}-{target}")
        });
        assert!(pinned, "no pinned SHA-256 for {target}");
    }
}
