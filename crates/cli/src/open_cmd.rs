//! `claude-mem open`: the viewer in the default browser, signed in.
//!
//! A browser cannot read the API token, so this asks the worker (with the token) for a one-time code and
//! opens `http://127.0.0.1:PORT/?code=…`; the worker swaps the code for a session cookie and redirects to
//! the viewer. The link works once, for two minutes (`claude_mem_server::auth`).

use anyhow::{bail, Context};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    /// Print the one-time link instead of starting a browser (for a browser on another profile).
    #[arg(long)]
    print: bool,
}

/// A one-time sign-in link to the viewer of the worker at `base`.
pub(crate) fn viewer_link(base: &str) -> anyhow::Result<String> {
    let agent = crate::worker_auth::agent(Duration::from_secs(5));
    let mut response = agent
        .post(&format!("{base}{}", claude_mem_server::auth::CODE_PATH))
        .send_json(serde_json::json!({}))
        .with_context(|| {
            format!(
                "the worker is not reachable at {base} (is `claude-mem serve` or the app running?)"
            )
        })?;
    let status = response.status();
    let body: Value = response
        .body_mut()
        .read_json()
        .with_context(|| format!("the worker answered {status} with something that is not JSON"))?;
    if !status.is_success() {
        bail!(
            "the worker refused: {}: {} (is this the user that runs the worker?)",
            body["error"].as_str().unwrap_or("error"),
            body["reason"].as_str().unwrap_or("")
        );
    }
    let path = body["path"]
        .as_str()
        .context("the worker's answer has no sign-in path")?;
    Ok(format!("{base}{path}"))
}

fn start_browser(url: &str) -> std::io::Result<()> {
    let mut command = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    command
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
}

pub fn run(args: OpenArgs) -> anyhow::Result<()> {
    let (_, settings) = crate::portability_cmd::locate()?;
    let base = settings.worker_url();
    let link = viewer_link(&base)?;
    if args.print {
        println!("{link}");
        return Ok(());
    }
    match start_browser(&link) {
        Ok(()) => {
            println!("opened the viewer at {base}/ (the sign-in link works once, for two minutes)")
        }
        Err(e) => println!(
            "cannot start a browser ({e}); open this link (it works once, for two minutes):\n{link}"
        ),
    }
    Ok(())
}
