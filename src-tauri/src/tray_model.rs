//! The tray's state and menu as plain data: what the menu shows for a worker state, what each item does,
//! and how a health answer maps to a state. The Tauri side only renders this, so it is testable without
//! a display.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerStatus {
    Running,
    /// Capture paused: hooks are acknowledged and dropped.
    Paused,
    /// The worker does not answer (or answers nonsense); the reason is shown in the tooltip.
    Error(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    OpenViewer,
    ToggleCapture,
    ToggleAutostart,
    /// Connect / disconnect Claude Code (`claude-mem install` / `uninstall`).
    ToggleClaudeCode,
    OpenDataFolder,
    OpenLogs,
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    Normal,
    Check(bool),
    Separator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: &'static str,
    pub label: String,
    pub kind: ItemKind,
    pub enabled: bool,
}

const ITEMS: [(&str, Action); 7] = [
    ("open-viewer", Action::OpenViewer),
    ("toggle-capture", Action::ToggleCapture),
    ("autostart", Action::ToggleAutostart),
    ("claude-code", Action::ToggleClaudeCode),
    ("open-data", Action::OpenDataFolder),
    ("open-logs", Action::OpenLogs),
    ("quit", Action::Quit),
];

pub fn action_for(id: &str) -> Option<Action> {
    ITEMS.iter().find(|(i, _)| *i == id).map(|(_, a)| *a)
}

fn item(id: &'static str, label: &str, kind: ItemKind, enabled: bool) -> Item {
    Item {
        id,
        label: label.to_owned(),
        kind,
        enabled,
    }
}

/// `claude_code`: whether Claude Code is connected, `None` when the `claude-mem` CLI that connects it is
/// not found (the item is shown, disabled, so the user learns the feature exists).
pub fn menu(status: &WorkerStatus, autostart: bool, claude_code: Option<bool>) -> Vec<Item> {
    let reachable = !matches!(status, WorkerStatus::Error(_));
    let capture_label = match status {
        WorkerStatus::Paused => "Resume capture",
        _ => "Pause capture",
    };
    vec![
        item("status", &status_line(status), ItemKind::Normal, false),
        item("sep-1", "", ItemKind::Separator, false),
        item("open-viewer", "Open viewer", ItemKind::Normal, true),
        item("toggle-capture", capture_label, ItemKind::Normal, reachable),
        item(
            "autostart",
            "Start at login",
            ItemKind::Check(autostart),
            true,
        ),
        item(
            "claude-code",
            "Connect Claude Code",
            ItemKind::Check(claude_code == Some(true)),
            claude_code.is_some(),
        ),
        item("sep-2", "", ItemKind::Separator, false),
        item("open-data", "Open data folder", ItemKind::Normal, true),
        item("open-logs", "Open logs", ItemKind::Normal, true),
        item("sep-3", "", ItemKind::Separator, false),
        item("quit", "Quit claude-mem", ItemKind::Normal, true),
    ]
}

pub fn status_line(status: &WorkerStatus) -> String {
    match status {
        WorkerStatus::Running => "Capturing".into(),
        WorkerStatus::Paused => "Capture paused".into(),
        WorkerStatus::Error(reason) => format!("Worker error: {reason}"),
    }
}

pub fn tooltip(status: &WorkerStatus, url: &str) -> String {
    format!("claude-mem — {} ({url})", status_line(status))
}

/// What `/api/health` (or the failure to get it) means for the tray.
pub fn status_from_health(health: Result<Value, String>) -> WorkerStatus {
    match health {
        Err(e) => WorkerStatus::Error(e),
        Ok(h) if h.get("status").and_then(Value::as_str) != Some("ok") => {
            WorkerStatus::Error("unexpected answer from the worker".into())
        }
        Ok(h) => {
            if h.pointer("/capture/paused").and_then(Value::as_bool) == Some(true) {
                WorkerStatus::Paused
            } else {
                WorkerStatus::Running
            }
        }
    }
}

/// The tray icon for a state (PNG bytes).
pub fn icon(status: &WorkerStatus) -> &'static [u8] {
    match status {
        WorkerStatus::Running => include_bytes!("../../icons/tray.png"),
        WorkerStatus::Paused => include_bytes!("../../icons/tray-paused.png"),
        WorkerStatus::Error(_) => include_bytes!("../../icons/tray-error.png"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_clickable_item_has_an_action() {
        for status in [
            WorkerStatus::Running,
            WorkerStatus::Paused,
            WorkerStatus::Error("down".into()),
        ] {
            for i in menu(&status, false, Some(false)) {
                if i.enabled {
                    assert!(action_for(i.id).is_some(), "{}", i.id);
                }
            }
        }
        assert_eq!(action_for("quit"), Some(Action::Quit));
        assert_eq!(action_for("nope"), None);
    }

    #[test]
    fn menu_follows_the_worker() {
        let running = menu(&WorkerStatus::Running, true, Some(true));
        let connect = running.iter().find(|i| i.id == "claude-code").unwrap();
        assert_eq!(connect.kind, ItemKind::Check(true));
        assert!(connect.enabled);
        assert_eq!(action_for("claude-code"), Some(Action::ToggleClaudeCode));
        let no_cli = menu(&WorkerStatus::Running, true, None);
        let connect = no_cli.iter().find(|i| i.id == "claude-code").unwrap();
        assert_eq!(connect.kind, ItemKind::Check(false));
        assert!(!connect.enabled);
        let capture = running.iter().find(|i| i.id == "toggle-capture").unwrap();
        assert_eq!(capture.label, "Pause capture");
        assert!(capture.enabled);
        let autostart = running.iter().find(|i| i.id == "autostart").unwrap();
        assert_eq!(autostart.kind, ItemKind::Check(true));

        let paused = menu(&WorkerStatus::Paused, false, Some(false));
        assert_eq!(
            paused
                .iter()
                .find(|i| i.id == "toggle-capture")
                .unwrap()
                .label,
            "Resume capture"
        );
        let down = menu(
            &WorkerStatus::Error("connection refused".into()),
            false,
            Some(false),
        );
        assert!(
            !down
                .iter()
                .find(|i| i.id == "toggle-capture")
                .unwrap()
                .enabled
        );
        assert_eq!(down[0].label, "Worker error: connection refused");
    }

    #[test]
    fn health_maps_to_a_state() {
        assert_eq!(
            status_from_health(Ok(json!({"status": "ok", "capture": {"paused": false}}))),
            WorkerStatus::Running
        );
        assert_eq!(
            status_from_health(Ok(json!({"status": "ok", "capture": {"paused": true}}))),
            WorkerStatus::Paused
        );
        assert!(matches!(
            status_from_health(Ok(json!({"hello": 1}))),
            WorkerStatus::Error(_)
        ));
        assert_eq!(
            status_from_health(Err("refused".into())),
            WorkerStatus::Error("refused".into())
        );
        assert!(tooltip(&WorkerStatus::Paused, "http://127.0.0.1:37777").contains("paused"));
        assert_ne!(icon(&WorkerStatus::Running), icon(&WorkerStatus::Paused));
    }
}
