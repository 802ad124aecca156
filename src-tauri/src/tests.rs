//! The app's wiring on Tauri's mock runtime (no display needed): plugins register, the viewer window
//! opens unless minimized, closing it only hides it, and start-at-login writes the autostart entry.

use crate::app::{self, Shell, MAIN_WINDOW};
use crate::tray_model::WorkerStatus;
use std::sync::{Arc, Mutex};
use tauri::test::{mock_context, noop_assets, MockRuntime};
use tauri::Manager;

fn shell(dir: &std::path::Path) -> Arc<Shell> {
    Arc::new(Shell {
        url: "http://127.0.0.1:9".into(),
        data_dir: dir.to_owned(),
        logs_dir: dir.join("logs"),
        hosted: Mutex::new(None),
        status: Mutex::new(WorkerStatus::Running),
    })
}

/// Builds the app on the mock runtime and runs one event-loop iteration, which runs `setup` (tray, window).
#[allow(deprecated)]
fn build(minimized: bool, dir: &std::path::Path) -> tauri::App<MockRuntime> {
    let mut app = app::builder::<MockRuntime>(shell(dir), minimized, false)
        .build(mock_context(noop_assets()))
        .expect("the app builds on the mock runtime");
    app.run_iteration(|_, _| {});
    app
}

#[test]
fn window_opens_unless_minimized() {
    let dir = tempfile::tempdir().unwrap();
    let app = build(false, dir.path());
    let window = app.get_webview_window(MAIN_WINDOW).expect("viewer window");
    assert_eq!(window.url().unwrap().as_str(), "http://127.0.0.1:9/");

    let minimized = build(true, dir.path());
    assert!(minimized.get_webview_window(MAIN_WINDOW).is_none());
    // The tray's "Open viewer" creates it on demand.
    app::show_viewer(minimized.handle()).unwrap();
    assert!(minimized.get_webview_window(MAIN_WINDOW).is_some());
}

#[test]
fn closing_the_window_keeps_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let app = build(false, dir.path());
    let window = app.get_webview_window(MAIN_WINDOW).unwrap();
    window.close().unwrap();
    // Prevented: the window still exists (hidden) and can be shown again.
    assert!(app.get_webview_window(MAIN_WINDOW).is_some());
    app::show_viewer(app.handle()).unwrap();
}

#[test]
fn start_at_login_writes_and_removes_the_desktop_file() {
    use tauri_plugin_autostart::ManagerExt;
    let home = tempfile::tempdir().unwrap();
    // auto-launch finds the autostart folder through $HOME; no other test here reads it.
    std::env::set_var("HOME", home.path());
    let app = build(true, home.path());
    let manager = app.autolaunch();
    let file = home.path().join(".config/autostart/claude-mem.desktop");
    manager.enable().unwrap();
    let text = std::fs::read_to_string(&file).expect("desktop file written");
    assert!(text.contains("--minimized"), "{text}");
    assert!(text.contains("[Desktop Entry]"), "{text}");
    assert!(manager.is_enabled().unwrap());
    manager.disable().unwrap();
    assert!(!file.exists());
    assert!(!manager.is_enabled().unwrap());
}
