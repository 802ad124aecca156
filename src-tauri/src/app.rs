//! The GUI: one window showing the viewer (the worker's own page, so the window and a browser tab are the
//! same thing), a tray icon whose menu drives the worker, and autostart at login.

use crate::tray_model::{self, Action, ItemKind, WorkerStatus};
use crate::worker_host::Hosted;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder, WindowEvent};
use tauri_plugin_autostart::ManagerExt;

pub const MAIN_WINDOW: &str = "main";
const TRAY_ID: &str = "claude-mem";
const HEALTH_EVERY: Duration = Duration::from_secs(5);

/// What the menu handlers need, kept in Tauri's state.
pub struct Shell {
    pub url: String,
    pub data_dir: PathBuf,
    pub logs_dir: PathBuf,
    pub hosted: Mutex<Option<Hosted>>,
    pub status: Mutex<WorkerStatus>,
}

/// Shows the viewer window, creating it on first use.
pub fn show_viewer<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        w.show()?;
        w.unminimize()?;
        return w.set_focus();
    }
    let shell = app.state::<Arc<Shell>>().inner().clone();
    // The window is a browser like any other: it gets in with a one-time code the worker swaps for its
    // session cookie (see claude_mem_server::auth). Without one it shows the page saying how to sign in.
    let url = match viewer_link(&shell.url, &shell.data_dir) {
        Ok(link) => link,
        Err(e) => {
            tracing::warn!(error = %e, "cannot get a sign-in code for the viewer window");
            shell.url.clone()
        }
    };
    let parsed = tauri::Url::parse(&url).map_err(tauri::Error::InvalidUrl)?;
    WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::External(parsed))
        .title("claude-mem")
        .inner_size(1100.0, 760.0)
        .min_inner_size(380.0, 480.0)
        .build()?;
    Ok(())
}

fn build_menu<R: Runtime>(
    app: &AppHandle<R>,
    status: &WorkerStatus,
    autostart: bool,
) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    let claude_code = crate::claude_code::cli_path().map(|_| crate::claude_code::connected());
    for item in tray_model::menu(status, autostart, claude_code) {
        match item.kind {
            ItemKind::Separator => menu.append(&PredefinedMenuItem::separator(app)?)?,
            ItemKind::Normal => menu.append(&MenuItem::with_id(
                app,
                item.id,
                &item.label,
                item.enabled,
                None::<&str>,
            )?)?,
            ItemKind::Check(checked) => menu.append(&CheckMenuItem::with_id(
                app,
                item.id,
                &item.label,
                item.enabled,
                checked,
                None::<&str>,
            )?)?,
        }
    }
    Ok(menu)
}

fn autostart_enabled<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.autolaunch().is_enabled().unwrap_or(false)
}

/// Re-renders the tray for `status` (menu, icon, tooltip).
pub fn refresh_tray<R: Runtime>(app: &AppHandle<R>, status: &WorkerStatus) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let url = app.state::<Arc<Shell>>().url.clone();
    let result = (|| -> tauri::Result<()> {
        tray.set_menu(Some(build_menu(app, status, autostart_enabled(app))?))?;
        tray.set_icon(Some(Image::from_bytes(tray_model::icon(status))?))?;
        tray.set_tooltip(Some(tray_model::tooltip(status, &url)))?;
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot update the tray");
    }
}

pub fn create_tray<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<TrayIcon<R>> {
    let status = WorkerStatus::Running;
    let url = app.state::<Arc<Shell>>().url.clone();
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(tray_model::icon(&status))?)
        .tooltip(tray_model::tooltip(&status, &url))
        .menu(&build_menu(app, &status, autostart_enabled(app))?)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()))
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                ..
            } = event
            {
                if let Err(e) = show_viewer(tray.app_handle()) {
                    tracing::warn!(error = %e, "cannot open the viewer");
                }
            }
        })
        .build(app)
}

fn open_path(path: &std::path::Path) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener).arg(path).spawn() {
        tracing::warn!(error = %e, path = %path.display(), "cannot open the folder");
    }
}

/// `Bearer <token>` from the data directory's `api-token` (the worker wants it on every memory route).
fn authorization(data_dir: &std::path::Path) -> String {
    claude_mem_server::auth::client_authorization(&claude_mem_core::DataDir::new(data_dir))
        .unwrap_or_default()
}

/// A one-time sign-in link to the viewer (`POST /api/auth/code` with the token).
pub fn viewer_link(url: &str, data_dir: &std::path::Path) -> Result<String, String> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3)))
        .build()
        .new_agent();
    let answer: serde_json::Value = agent
        .post(format!("{url}{}", claude_mem_server::auth::CODE_PATH))
        .header("authorization", &authorization(data_dir))
        .send_json(serde_json::json!({}))
        .map_err(|e| e.to_string())?
        .body_mut()
        .read_json()
        .map_err(|e| e.to_string())?;
    let path = answer["path"]
        .as_str()
        .ok_or("no sign-in path in the answer")?;
    Ok(format!("{url}{path}"))
}

/// Asks the worker (ours or the one attached to) to pause or resume capture.
pub fn set_capture(url: &str, data_dir: &std::path::Path, paused: bool) -> Result<(), String> {
    ureq::put(format!("{url}/api/capture"))
        .header("authorization", &authorization(data_dir))
        .send_json(serde_json::json!({ "paused": paused }))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub fn fetch_health(url: &str, data_dir: &std::path::Path) -> Result<serde_json::Value, String> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .new_agent();
    agent
        .get(format!("{url}/api/health"))
        .header("authorization", &authorization(data_dir))
        .call()
        .map_err(|e| e.to_string())?
        .body_mut()
        .read_json()
        .map_err(|e| e.to_string())
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let shell = app.state::<Arc<Shell>>().inner().clone();
    match tray_model::action_for(id) {
        Some(Action::OpenViewer) => {
            if let Err(e) = show_viewer(app) {
                tracing::warn!(error = %e, "cannot open the viewer");
            }
        }
        Some(Action::ToggleCapture) => {
            let paused = matches!(
                *shell.status.lock().unwrap_or_else(|p| p.into_inner()),
                WorkerStatus::Paused
            );
            let status = match set_capture(&shell.url, &shell.data_dir, !paused) {
                Ok(()) if paused => WorkerStatus::Running,
                Ok(()) => WorkerStatus::Paused,
                Err(e) => WorkerStatus::Error(e),
            };
            *shell.status.lock().unwrap_or_else(|p| p.into_inner()) = status.clone();
            refresh_tray(app, &status);
        }
        Some(Action::ToggleAutostart) => {
            let manager = app.autolaunch();
            let result = if autostart_enabled(app) {
                manager.disable()
            } else {
                manager.enable()
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot change start at login");
            }
            let status = shell
                .status
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            refresh_tray(app, &status);
        }
        Some(Action::ToggleClaudeCode) => {
            let result = match crate::claude_code::cli_path() {
                Some(cli) => {
                    crate::claude_code::set_connected(&cli, !crate::claude_code::connected())
                }
                None => Err("the claude-mem CLI is not installed beside the app or on PATH".into()),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot connect or disconnect Claude Code");
            }
            let status = shell
                .status
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            refresh_tray(app, &status);
        }
        Some(Action::OpenDataFolder) => open_path(&shell.data_dir),
        Some(Action::OpenLogs) => open_path(&shell.logs_dir),
        Some(Action::Quit) => {
            if let Some(mut hosted) = shell
                .hosted
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                hosted.stop();
            }
            app.exit(0);
        }
        None => {}
    }
}

/// Polls the worker's health and keeps the tray in step (paused from the viewer, worker gone, …).
pub fn watch_health<R: Runtime>(app: AppHandle<R>) {
    std::thread::spawn(move || loop {
        let shell = app.state::<Arc<Shell>>().inner().clone();
        let status = tray_model::status_from_health(fetch_health(&shell.url, &shell.data_dir));
        let changed = {
            let mut current = shell.status.lock().unwrap_or_else(|p| p.into_inner());
            let changed = *current != status;
            *current = status.clone();
            changed
        };
        if changed {
            tracing::info!(status = ?status, "worker status changed");
            let handle = app.clone();
            let _ = app.run_on_main_thread(move || refresh_tray(&handle, &status));
        }
        std::thread::sleep(HEALTH_EVERY);
    });
}

/// Closing the window keeps the app (and the worker) running in the tray.
pub fn on_window_event<R: Runtime>(window: &tauri::Window<R>, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        if window.label() == MAIN_WINDOW {
            api.prevent_close();
            let _ = window.hide();
        }
    }
}

/// Everything the app registers, shared by the real run and the mock-runtime tests. Single instance is
/// added by [`run`] (it claims a D-Bus name, which the mock runtime's identifier cannot), and the tray is
/// optional because its menus are GTK objects, which the mock runtime does not initialise; the tray is
/// covered by `tray_model`'s tests and the Xvfb smoke test.
pub fn builder<R: Runtime>(shell: Arc<Shell>, minimized: bool, tray: bool) -> tauri::Builder<R> {
    tauri::Builder::<R>::new()
        .plugin(
            // Launched at login without a window; the file is ~/.config/autostart/claude-mem.desktop.
            tauri_plugin_autostart::Builder::new()
                .app_name("claude-mem")
                .args(["--minimized"])
                .build(),
        )
        .manage(shell)
        .on_window_event(on_window_event)
        .setup(move |app| {
            let handle = app.handle().clone();
            if !tray {
                tracing::info!("started without a tray icon");
            } else if let Err(e) = create_tray(&handle) {
                // Some desktops have no tray (GNOME without the extension): the window still works.
                tracing::error!(error = %e, "cannot create the tray icon; continuing without it");
            }
            if !minimized {
                show_viewer(&handle)?;
            }
            watch_health(handle);
            Ok(())
        })
}

pub fn run(shell: Arc<Shell>, minimized: bool) -> anyhow::Result<()> {
    let app = builder::<tauri::Wry>(shell.clone(), minimized, true)
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            // A second launch focuses the first instead of starting a second worker.
            if let Err(e) = show_viewer(app) {
                tracing::warn!(error = %e, "cannot focus the running instance");
            }
        }))
        .build(tauri::generate_context!())?;
    app.run(move |_, event| {
        if let tauri::RunEvent::Exit = event {
            if let Some(mut hosted) = shell
                .hosted
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                hosted.stop();
            }
        }
    });
    Ok(())
}
