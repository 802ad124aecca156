//! Stages the built viewer (`frontend/dist`) for embedding. Without a build (a fresh clone before
//! `npm run build`) a one-page notice is embedded instead, so the Rust side always compiles and the
//! worker says how to get the viewer rather than answering 404.

use std::path::{Path, PathBuf};

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = manifest.join("../../frontend/dist");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("viewer");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!(
        "cargo:rerun-if-changed={}",
        dist.join("index.html").display()
    );
    println!("cargo:rerun-if-changed={}", dist.join("assets").display());
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    if dist.join("index.html").is_file() {
        copy_dir(&dist, &out)?;
    } else {
        std::fs::create_dir_all(&out)?;
        std::fs::write(
            out.join("index.html"),
            "<!doctype html><meta charset=utf-8><title>claude-mem</title>\
             <p>The claude-mem viewer was not built into this binary. Run <code>npm ci &amp;&amp; npm run build</code> \
             in <code>frontend/</code>, then rebuild. The API is up: <a href=\"/api/health\">/api/health</a>.</p>",
        )?;
    }
    Ok(())
}
