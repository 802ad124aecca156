//! The app's configuration lives at the repository root (`tauri.conf.json`, beside `icons/`), as the
//! product layout fixes; `src-tauri/tauri.conf.json` links to it so tauri-build, the context macro and the
//! `tauri` CLI all find it where they look, with paths relative to `src-tauri/`.
fn main() {
    tauri_build::build();
}
