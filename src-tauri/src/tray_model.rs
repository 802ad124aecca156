//! The tray's state and menu as plain data: what the menu shows for a worker state, what each item does,
//! and how a health answer maps to a state. The Tauri side only renders this, so it is testable without
//! a display.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerStatus {
    Running,
    /// Capture paused: hooks are acknowledged and dropped.
    Paused,
    /// The worker answers but is not well (its database cannot be written, a capture switch failed, an
    /// answer that is not a worker's); the reason is shown in the tooltip.
    Error(String),
    /// Nothing answers: no worker is running. Told apart from `Error` by its icon (a hollow ring with
    /// a cross, where an error is a red warning triangle), since the fix differs: start it, not repair it.
    Down(String),
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
    let reachable = !matches!(status, WorkerStatus::Error(_) | WorkerStatus::Down(_));
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
        WorkerStatus::Paused => "Capture paused: nothing is kept".into(),
        WorkerStatus::Error(reason) => format!("Worker error: {reason}"),
        WorkerStatus::Down(reason) => format!("Worker not running: {reason}"),
    }
}

pub fn tooltip(status: &WorkerStatus, url: &str) -> String {
    format!("claude-mem — {} ({url})", status_line(status))
}

/// What `/api/health` (or the failure to get it) means for the tray.
pub fn status_from_health(health: Result<Value, String>) -> WorkerStatus {
    match health {
        Err(e) => WorkerStatus::Down(e),
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

/// The tray icon for a state (PNG bytes). Drawn to read at a tray's 22 px by shape, not only colour:
/// running is the orange disc with three dots, paused a grey disc with two bars, an error a red triangle
/// with "!", a worker that is down a hollow grey ring with a cross.
pub fn icon(status: &WorkerStatus) -> &'static [u8] {
    match status {
        WorkerStatus::Running => include_bytes!("../../icons/tray.png"),
        WorkerStatus::Paused => include_bytes!("../../icons/tray-paused.png"),
        WorkerStatus::Error(_) => include_bytes!("../../icons/tray-error.png"),
        WorkerStatus::Down(_) => include_bytes!("../../icons/tray-down.png"),
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
            WorkerStatus::Down("refused".into()),
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
            WorkerStatus::Down("refused".into())
        );
        assert!(tooltip(&WorkerStatus::Paused, "http://127.0.0.1:37777").contains("paused"));
        assert!(tooltip(&WorkerStatus::Down("refused".into()), "u").contains("not running"));
        assert!(tooltip(&WorkerStatus::Error("disk full".into()), "u").contains("error"));
    }

    /// Four states, four icons, and each different enough to tell apart at the tray's 22 px: compared
    /// after scaling to 22×22, every pair differs in a good share of its pixels.
    #[test]
    fn every_state_has_its_own_legible_icon() {
        let states = [
            WorkerStatus::Running,
            WorkerStatus::Paused,
            WorkerStatus::Error("e".into()),
            WorkerStatus::Down("d".into()),
        ];
        let small: Vec<Vec<[u8; 4]>> = states.iter().map(|s| at_22px(icon(s))).collect();
        for i in 0..small.len() {
            for j in i + 1..small.len() {
                let differing = small[i]
                    .iter()
                    .zip(&small[j])
                    .filter(|(a, b)| {
                        a.iter()
                            .zip(b.iter())
                            .map(|(x, y)| x.abs_diff(*y) as u32)
                            .sum::<u32>()
                            > 120
                    })
                    .count();
                assert!(
                    differing > 22 * 22 / 5,
                    "{:?} and {:?} differ in only {differing} of {} pixels at 22 px",
                    states[i],
                    states[j],
                    22 * 22
                );
            }
        }
    }

    /// The icon decoded and box-filtered down to 22×22 RGBA.
    fn at_22px(png: &[u8]) -> Vec<[u8; 4]> {
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().expect("png");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        assert_eq!(info.color_type, png::ColorType::Rgba, "tray icons are RGBA");
        let (w, h) = (info.width as usize, info.height as usize);
        let mut out = vec![[0u8; 4]; 22 * 22];
        for (n, px) in out.iter_mut().enumerate() {
            let (ox, oy) = (n % 22, n / 22);
            let (x0, x1) = (ox * w / 22, ((ox + 1) * w / 22).max(ox * w / 22 + 1));
            let (y0, y1) = (oy * h / 22, ((oy + 1) * h / 22).max(oy * h / 22 + 1));
            let mut sum = [0u32; 4];
            for y in y0..y1 {
                for x in x0..x1 {
                    let i = (y * w + x) * 4;
                    for c in 0..4 {
                        sum[c] += u32::from(buf[i + c]);
                    }
                }
            }
            let count = ((x1 - x0) * (y1 - y0)) as u32;
            *px = sum.map(|v| (v / count) as u8);
        }
        out
    }
}
