//! `claude-mem models download` and the worker's background fetch: all-MiniLM-L6-v2 from Hugging Face
//! (or a mirror) at a pinned revision, every file checked against a pinned SHA-256, then installed
//! through [`install_model`] so a broken download never replaces a working install.
//!
//! Why not the `hf-hub` crate: it downloads into Hugging Face's own cache layout (`blobs/` plus
//! symlinked `snapshots/<commit>/`, `refs/`), validates against the server's ETag (a git blob SHA-1 for
//! small files) rather than digests we pin, and brings its own HTTP stack and API churn (its sync API
//! moved to a new client). We want the opposite: bytes whose SHA-256 is compiled into the binary,
//! installed as plain files in our own models directory, resumable, with the same code reusable for
//! other artefacts ([`crate::download`]). The URL layout is all we share with it
//! (`{endpoint}/{repo}/resolve/{revision}/{file}`, `HF_ENDPOINT` for mirrors).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::download::{download_files, is_verified, DownloadError, DownloadFile, Progress};
use crate::{install_model, EmbedError};

/// Where the model comes from when nothing else is configured.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
pub const MINILM_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// The Hugging Face commit the digests below were taken at. A newer upload of the repository cannot
/// change what users get: the digests would not match.
pub const MINILM_REVISION: &str = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41";

/// One file of the pinned model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedFile {
    /// Path inside the repository (and inside the installed model directory).
    pub name: &'static str,
    pub sha256: &'static str,
    pub size: u64,
}

const fn pinned(name: &'static str, sha256: &'static str, size: u64) -> PinnedFile {
    PinnedFile { name, sha256, size }
}

/// Every file [`install_model`] copies (required and optional), small ones first so a wrong mirror
/// fails before the 87 MiB of weights. Digests and sizes of the real Hugging Face content.
#[rustfmt::skip]
pub const MINILM_FILES: [PinnedFile; 9] = [
    pinned("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", 612),
    pinned("tokenizer_config.json", "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b", 350),
    pinned("special_tokens_map.json", "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3", 112),
    pinned("sentence_bert_config.json", "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7", 53),
    pinned("modules.json", "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf", 349),
    pinned("1_Pooling/config.json", "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23", 190),
    pinned("vocab.txt", "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3", 231_508),
    pinned("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466_247),
    pinned("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", 90_868_376),
];

/// Total bytes of [`MINILM_FILES`].
pub fn minilm_download_size() -> u64 {
    MINILM_FILES.iter().map(|f| f.size).sum()
}

/// The endpoint to use: an explicit one (a flag), else the setting (`search.model_endpoint`, which
/// `CLAUDE_MEM_MODEL_ENDPOINT` overrides), else `HF_ENDPOINT` (what every Hugging Face tool honours for
/// mirrors), else huggingface.co. Empty values count as unset; a trailing `/` is dropped.
pub fn resolve_endpoint(
    explicit: Option<&str>,
    setting: &str,
    hf_endpoint: Option<&str>,
) -> String {
    [explicit, Some(setting), hf_endpoint]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or(DEFAULT_ENDPOINT)
        .trim_end_matches('/')
        .to_owned()
}

/// What to fetch, from where, into which model directory.
#[derive(Debug, Clone)]
pub struct ModelDownload {
    pub endpoint: String,
    pub revision: String,
    /// The installed model's directory (`search.model_dir`, resolved).
    pub model_dir: PathBuf,
    /// Download even when the installed files already match the pins.
    pub force: bool,
}

impl ModelDownload {
    pub fn new(endpoint: String, model_dir: PathBuf) -> Self {
        Self {
            endpoint,
            revision: MINILM_REVISION.to_owned(),
            model_dir,
            force: false,
        }
    }

    /// `{endpoint}/{repo}/resolve/{revision}/{file}`.
    pub fn url(&self, file: &str) -> String {
        format!(
            "{}/{MINILM_REPO}/resolve/{}/{file}",
            self.endpoint.trim_end_matches('/'),
            self.revision
        )
    }

    /// Where the files are downloaded before they are installed: beside the model directory (same
    /// filesystem, inside the data directory), and kept between attempts so a cut download resumes.
    pub fn staging_dir(&self) -> PathBuf {
        let name = self
            .model_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        self.model_dir.with_file_name(format!(".{name}.download"))
    }

    fn files(&self) -> Vec<DownloadFile> {
        let staging = self.staging_dir();
        MINILM_FILES
            .iter()
            .map(|f| DownloadFile {
                url: self.url(f.name),
                sha256: f.sha256.to_owned(),
                size: Some(f.size),
                dest: staging.join(f.name),
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The model directory already held exactly the pinned files.
    AlreadyInstalled,
    Installed,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelDownloadError {
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error("the downloaded model does not install: {0}")]
    Install(#[from] EmbedError),
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    #[error(
        "another download of the model is under way ({0} is locked); try again when it is done"
    )]
    Busy(String),
}

impl ModelDownloadError {
    /// Network trouble, worth another try later.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Download(e) => e.is_transient(),
            Self::Busy(_) => true,
            Self::Install(_) | Self::Client(_) => false,
        }
    }
}

/// Whether `model_dir` holds every pinned file with its pinned digest. Reads ~90 MB.
pub async fn installed_matches_pins(model_dir: &Path) -> bool {
    for f in &MINILM_FILES {
        if !is_verified(&model_dir.join(f.name), f.sha256, Some(f.size)).await {
            return false;
        }
    }
    true
}

/// The HTTP client downloads use: generous read timeout (a stalled mirror must not hang a worker task
/// forever) but no total one (87 MiB on a slow link takes what it takes).
pub fn http_client() -> Result<reqwest::Client, ModelDownloadError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("claude-mem/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ModelDownloadError::Client(e.to_string()))
}

/// Takes the staging directory's advisory lock (released when the file is dropped, or by the OS when
/// the process dies, so a crash leaves nothing to clean up).
fn lock_staging(staging: &Path) -> Result<std::fs::File, ModelDownloadError> {
    use fs4::fs_std::FileExt;
    let io = |e: std::io::Error| {
        ModelDownloadError::Download(DownloadError::Io {
            path: staging.to_owned(),
            source: e,
        })
    };
    std::fs::create_dir_all(staging).map_err(io)?;
    let path = staging.join(".lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    if !file.try_lock_exclusive().map_err(io)? {
        return Err(ModelDownloadError::Busy(path.display().to_string()));
    }
    Ok(file)
}

/// Downloads (resuming what an earlier attempt left), verifies and installs the model. The staging
/// directory is removed once the model is installed.
pub async fn download_model(
    request: &ModelDownload,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Outcome, ModelDownloadError> {
    if !request.force && installed_matches_pins(&request.model_dir).await {
        return Ok(Outcome::AlreadyInstalled);
    }
    let client = http_client()?;
    let staging = request.staging_dir();
    // Held until the end of this function: the CLI and a worker must not write the same `.part`.
    let _lock = lock_staging(&staging)?;
    tracing::info!(
        endpoint = %request.endpoint,
        revision = %request.revision,
        staging = %staging.display(),
        "downloading all-MiniLM-L6-v2"
    );
    download_files(&client, &request.files(), progress).await?;
    let to = request.model_dir.clone();
    let from = staging.clone();
    tokio::task::spawn_blocking(move || install_model(&from, &to))
        .await
        .map_err(|e| EmbedError::Load(format!("installing: {e}")))??;
    if let Err(e) = tokio::fs::remove_dir_all(&staging).await {
        tracing::warn!(error = %e, staging = %staging.display(), "cannot remove the download directory");
    }
    tracing::info!(model_dir = %request.model_dir.display(), "all-MiniLM-L6-v2 installed");
    Ok(Outcome::Installed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_covers_every_file_install_copies() {
        let pinned: Vec<&str> = MINILM_FILES.iter().map(|f| f.name).collect();
        for name in crate::minilm::REQUIRED_FILES
            .iter()
            .chain(crate::install::OPTIONAL_FILES.iter())
        {
            assert!(pinned.contains(name), "{name} is not pinned");
        }
        assert_eq!(pinned.len(), 9);
        for f in &MINILM_FILES {
            assert_eq!(f.sha256.len(), 64, "{}", f.name);
            assert!(f.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn endpoint_precedence_and_url_layout() {
        assert_eq!(resolve_endpoint(None, "", None), DEFAULT_ENDPOINT);
        assert_eq!(
            resolve_endpoint(None, " ", Some("https://hf-mirror.com/")),
            "https://hf-mirror.com"
        );
        assert_eq!(
            resolve_endpoint(None, "http://mirror.local", Some("https://hf-mirror.com")),
            "http://mirror.local"
        );
        assert_eq!(
            resolve_endpoint(Some("http://flag"), "http://setting", Some("http://env")),
            "http://flag"
        );
        let d = ModelDownload::new(
            "http://m/".into(),
            PathBuf::from("/data/models/all-MiniLM-L6-v2"),
        );
        assert_eq!(
            d.url("1_Pooling/config.json"),
            format!("http://m/sentence-transformers/all-MiniLM-L6-v2/resolve/{MINILM_REVISION}/1_Pooling/config.json")
        );
        assert_eq!(
            d.staging_dir(),
            PathBuf::from("/data/models/.all-MiniLM-L6-v2.download")
        );
    }

    /// The pins are the shared copy's bytes (the real Hugging Face content), when that copy is here.
    #[test]
    fn pins_match_the_shared_model_files() {
        let dir = std::env::var_os("CLAUDE_MEM_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../../shared/models/all-MiniLM-L6-v2")
            });
        if !dir.is_dir() {
            eprintln!("skipped: {} missing", dir.display());
            return;
        }
        for f in &MINILM_FILES {
            let path = dir.join(f.name);
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                f.size,
                "{}",
                f.name
            );
            assert_eq!(
                crate::download::sha256_file(&path).unwrap(),
                f.sha256,
                "{}",
                f.name
            );
        }
    }
}
