//! `claude-mem update`: replaces this binary with the newest release built for this platform.
//!
//! A release is a directory of files (a GitHub release, or any mirror of one): the binaries
//! `claude-mem-{version}-{target}[.exe]` that `scripts/release.sh` builds, and their `SHA256SUMS`. The
//! sums file names every asset, so it is the manifest too: the version is read from the asset's name,
//! and the asset is fetched by the same resumable, checksum-verified downloader as the embedding model
//! ([`claude_mem_embed::download`]): nothing unverified is ever renamed into place. The plugin's
//! launcher (`plugin/bin/claude-mem-launch`) fetches a first binary the same way from sums pinned in
//! its own text, because no Rust binary exists yet at that point.
//!
//! Trust: the sums come from the same origin as the binaries, so they protect against a cut or altered
//! transfer, not against a compromised release. The origin must therefore be `https://` (plain `http://`
//! only on loopback, for mirrors in tests and air-gapped machines).
//!
//! Replacing a running binary: on Unix the new file is renamed over the old one (the running process
//! keeps its inode); on Windows a running `.exe` cannot be replaced but can be renamed, so the old one
//! is moved aside to `*.old` first. A binary that does not run (`--version`) is never installed.

use anyhow::{bail, Context, Result};
use claude_mem_embed::download::{download_files, DownloadFile};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The project's newest release.
pub const DEFAULT_RELEASE_BASE: &str =
    "https://github.com/claude-mem/claude-mem/releases/latest/download";
/// Overrides [`DEFAULT_RELEASE_BASE`] (a mirror); `--from` overrides both.
pub const RELEASE_BASE_ENV: &str = "CLAUDE_MEM_RELEASE_BASE";
/// The release's manifest: `sha256sum` output over its assets.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// A sums file is a few lines per platform; anything this large is not one.
const MAX_SUMS_BYTES: usize = 64 * 1024;

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// Where the release is: a URL holding `SHA256SUMS` and the binaries (default: the project's latest
    /// GitHub release, or `CLAUDE_MEM_RELEASE_BASE`).
    #[arg(long)]
    from: Option<String>,
    /// Only say whether a newer release exists; change nothing.
    #[arg(long)]
    check: bool,
    /// Install the release's binary even when it is not newer than this one.
    #[arg(long)]
    force: bool,
    /// Replace this file instead of the running binary (packaging and tests).
    #[arg(long, hide = true)]
    to: Option<PathBuf>,
}

/// A `major.minor.patch` version; pre-release suffixes are not published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(u64, u64, u64);

impl Version {
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u64>().ok());
        let version = Self(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(version)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// One binary of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub version: Version,
    /// File name inside the release.
    pub file: String,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// The Rust target triple `scripts/release.sh` builds for this platform, if it builds one.
pub fn current_target() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("x86_64-unknown-linux-gnu"),
        ("linux", "aarch64") => Some("aarch64-unknown-linux-gnu"),
        ("windows", "x86_64") => Some("x86_64-pc-windows-gnu"),
        _ => None,
    }
}

/// The newest asset for `target` in a `SHA256SUMS` text (`<hex>  <name>` or `<hex> *<name>` lines).
/// Lines for other platforms or other files are skipped; a malformed digest is an error, since a sums
/// file that is partly garbage cannot be trusted for the rest.
pub fn find_asset(sums: &str, target: &str) -> Result<Option<Asset>, String> {
    let mut best: Option<Asset> = None;
    for (n, line) in sums.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let (hex, name) = line
            .split_once(' ')
            .ok_or_else(|| format!("line {}: not `<sha256>  <file>`", n + 1))?;
        let name = name.trim_start().trim_start_matches('*');
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("line {}: {hex:?} is not a SHA-256", n + 1));
        }
        let Some(version) = name
            .strip_prefix("claude-mem-")
            .map(|rest| rest.strip_suffix(".exe").unwrap_or(rest))
            .and_then(|rest| rest.strip_suffix(&format!("-{target}")))
            .and_then(Version::parse)
        else {
            continue;
        };
        if best.as_ref().is_none_or(|b| version > b.version) {
            best = Some(Asset {
                version,
                file: name.to_owned(),
                sha256: hex.to_ascii_lowercase(),
            });
        }
    }
    Ok(best)
}

/// Refuses a release origin whose answers nobody can vouch for: `https://`, or `http://` on loopback.
pub fn check_origin(base: &str) -> Result<()> {
    let url = reqwest::Url::parse(base).with_context(|| format!("{base:?} is not a URL"))?;
    let host = url.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => bail!("{base} is not an https:// URL (plain http:// is accepted only on loopback)"),
    }
}

pub fn run(args: UpdateArgs) -> Result<()> {
    let base = args
        .from
        .or_else(|| {
            std::env::var(RELEASE_BASE_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| DEFAULT_RELEASE_BASE.to_owned());
    let base = base.trim().trim_end_matches('/').to_owned();
    check_origin(&base)?;
    let target = current_target().with_context(|| {
        format!(
            "no claude-mem release is built for {}/{}; build from source (README)",
            std::env::consts::OS,
            std::env::consts::ARCH
        )
    })?;
    let current = Version::parse(env!("CARGO_PKG_VERSION"))
        .context("this build's version is not major.minor.patch")?;
    let dest = match args.to {
        Some(path) => path,
        None => std::env::current_exe().context("cannot locate the running claude-mem binary")?,
    };

    let rt = crate::portability_cmd::runtime()?;
    let client = claude_mem_embed::model_download::http_client()?;
    let sums_url = format!("{base}/{SUMS_FILE}");
    let sums = rt
        .block_on(fetch_text(&client, &sums_url))
        .with_context(|| format!("cannot read the release's {SUMS_FILE}"))?;
    let asset = find_asset(&sums, target)
        .map_err(|e| anyhow::anyhow!("{sums_url}: {e}"))?
        .with_context(|| format!("{sums_url} lists no claude-mem binary for {target}"))?;

    if asset.version <= current && !args.force {
        println!(
            "claude-mem {current} is up to date (newest release: {})",
            asset.version
        );
        return Ok(());
    }
    if args.check {
        println!(
            "claude-mem {} is available (this is {current}): run `claude-mem update`",
            asset.version
        );
        return Ok(());
    }

    let staged = staged_path(&dest);
    let file = DownloadFile {
        url: format!("{base}/{}", asset.file),
        sha256: asset.sha256.clone(),
        size: None,
        dest: staged.clone(),
    };
    eprintln!("downloading {} from {base}", asset.file);
    let (bar, mut progress) = crate::search_cmd::download_bar(0);
    let fetched = rt.block_on(download_files(&client, &[file], &mut progress));
    bar.finish_and_clear();
    fetched.with_context(|| format!("cannot download {}", asset.file))?;

    if let Err(e) = install_staged(&staged, &dest) {
        let _ = std::fs::remove_file(&staged);
        return Err(e);
    }
    println!(
        "updated {} from {current} to {} (SHA-256 {} verified); restart the worker (the app, \
         `claude-mem serve` or `systemctl --user restart claude-mem`) to run it",
        dest.display(),
        asset.version,
        &asset.sha256[..12],
    );
    Ok(())
}

/// Where the new binary is downloaded: beside the destination, so the final rename stays on one
/// filesystem (atomic) and a download cut halfway resumes there next time.
fn staged_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    dest.with_file_name(name)
}

async fn fetch_text(client: &reqwest::Client, url: &str) -> Result<String> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("{url} answered HTTP {status}");
    }
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("{url}: the answer was cut"))?;
    if bytes.len() > MAX_SUMS_BYTES {
        bail!("{url} is {} bytes: not a sums file", bytes.len());
    }
    String::from_utf8(bytes.to_vec()).with_context(|| format!("{url} is not text"))
}

/// Makes the verified download executable, checks that it runs, and moves it over `dest`.
fn install_staged(staged: &Path, dest: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(staged, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", staged.display()))?;
    }
    let out = Command::new(staged)
        .arg("--version")
        .output()
        .with_context(|| format!("the downloaded binary {} does not start", staged.display()))?;
    let says = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !says.starts_with("claude-mem") {
        bail!(
            "the downloaded binary does not run on this machine (`--version` printed {:?}); nothing was replaced",
            says.trim()
        );
    }
    if cfg!(windows) && dest.exists() {
        let mut old = dest.as_os_str().to_os_string();
        old.push(".old");
        let old = PathBuf::from(old);
        let _ = std::fs::remove_file(&old);
        std::fs::rename(dest, &old)
            .with_context(|| format!("cannot move {} aside", dest.display()))?;
    }
    std::fs::rename(staged, dest).with_context(|| format!("cannot replace {}", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn the_newest_asset_of_the_platform_is_chosen() {
        let sums = format!(
            "{A}  claude-mem-0.1.0-x86_64-unknown-linux-gnu\n\
             {B} *claude-mem-0.10.0-x86_64-unknown-linux-gnu\n\
             {A}  claude-mem-0.11.0-aarch64-unknown-linux-gnu\n\
             {A}  claude-mem-0.2.0-x86_64-pc-windows-gnu.exe\n\
             {A}  notes.txt\n"
        );
        let linux = find_asset(&sums, "x86_64-unknown-linux-gnu")
            .unwrap()
            .unwrap();
        assert_eq!(linux.version, Version(0, 10, 0));
        assert_eq!(linux.file, "claude-mem-0.10.0-x86_64-unknown-linux-gnu");
        assert_eq!(linux.sha256, B);
        let windows = find_asset(&sums, "x86_64-pc-windows-gnu").unwrap().unwrap();
        assert_eq!(windows.file, "claude-mem-0.2.0-x86_64-pc-windows-gnu.exe");
        assert_eq!(
            find_asset(&sums, "riscv64gc-unknown-linux-gnu").unwrap(),
            None
        );
    }

    #[test]
    fn a_garbled_sums_file_is_refused() {
        assert!(find_asset("nothex  claude-mem-0.1.0-x86_64-unknown-linux-gnu", "x").is_err());
        assert!(find_asset("justoneword", "x").is_err());
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(Version::parse("0.10.0") > Version::parse("0.9.9"));
        assert_eq!(Version::parse("1.2"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
        assert_eq!(Version::parse("1.2.x"), None);
    }

    #[test]
    fn only_https_or_loopback_http_origins_are_trusted() {
        assert!(check_origin("https://github.com/x/y/releases/latest/download").is_ok());
        assert!(check_origin("http://127.0.0.1:8080/mirror").is_ok());
        assert!(check_origin("http://localhost:9/m").is_ok());
        assert!(check_origin("http://example.com/m").is_err());
        assert!(check_origin("ftp://127.0.0.1/m").is_err());
        assert!(check_origin("not a url").is_err());
    }

    #[test]
    fn this_platform_has_a_target_name() {
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!(current_target(), Some("x86_64-unknown-linux-gnu"));
        }
    }
}
