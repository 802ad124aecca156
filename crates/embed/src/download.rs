//! Resumable, checksum-pinned HTTP downloads: a list of files, each with its URL, expected SHA-256,
//! optional size and destination, fetched one after the other with a progress callback.
//!
//! Written for the embedding model (see [`crate::model_download`]) but kept free of anything
//! model-specific so the same code can fetch release binaries later. The rules it keeps:
//!
//! - **Nothing unverified is ever in place.** Bytes go to `<dest>.part`; only a file whose SHA-256
//!   matches the pinned one is renamed to `dest`. A mismatch deletes the partial file (a mirror
//!   serving other bytes must not be resumed into) and is an error naming the file and both digests.
//! - **Resumable.** A `.part` left by a cut connection is continued with `Range: bytes=N-`. A server
//!   that ignores the range (200 instead of 206) or answers a different start restarts the file from
//!   zero, truncating, so the result is never a splice of two bodies.
//! - **Idempotent.** A destination that already has the pinned digest is not fetched again.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// One file to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadFile {
    pub url: String,
    /// Lower-case hex SHA-256 the bytes must have.
    pub sha256: String,
    /// Expected length, when known: it makes progress totals exact before the first response and lets
    /// a `.part` longer than the file be discarded without a request.
    pub size: Option<u64>,
    pub dest: PathBuf,
}

/// Where a download stands, reported after every chunk written and at each file boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Index of the file being fetched in the list.
    pub file: usize,
    /// Bytes of all files that are on disk (verified, resumed or just written).
    pub done: u64,
    /// Sum of the known sizes (files without a size count what their server announced, once known).
    pub total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("cannot reach {url}: {message}")]
    Http { url: String, message: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error(
        "{file}: the download does not match the pinned SHA-256 (expected {expected}, got {actual}); \
         the file was deleted and nothing was installed"
    )]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("{file}: expected {expected} bytes, the server sent {actual}")]
    Size {
        file: String,
        expected: u64,
        actual: u64,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DownloadError {
    /// Whether trying again later may succeed (network trouble), as opposed to content that is wrong
    /// however often it is fetched.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Checksum { .. } | Self::Size { .. } | Self::Io { .. } => false,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `dest` with `.part` appended to its file name.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(|n| n.to_owned()).unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

/// SHA-256 of a file, hex. Blocking (reads the whole file): run it off the async runtime.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

async fn sha256_file_async(path: &Path) -> Result<String, DownloadError> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || sha256_file(&owned))
        .await
        .map_err(|e| DownloadError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(io_err(path))
}

/// Whether `path` exists with exactly this digest (and size, when given; checked first, it is free).
pub async fn is_verified(path: &Path, sha256: &str, size: Option<u64>) -> bool {
    let Ok(meta) = tokio::fs::metadata(path).await else {
        return false;
    };
    if !meta.is_file() || size.is_some_and(|s| s != meta.len()) {
        return false;
    }
    sha256_file_async(path)
        .await
        .is_ok_and(|d| d.eq_ignore_ascii_case(sha256))
}

/// Fetches every file in order (see the module doc for the guarantees). `progress` is called often;
/// keep it cheap. Stops at the first failure: files already verified stay in place, a cut file keeps
/// its `.part` for the next call.
pub async fn download_files(
    client: &reqwest::Client,
    files: &[DownloadFile],
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), DownloadError> {
    let mut total: u64 = files.iter().filter_map(|f| f.size).sum();
    let mut done_before: u64 = 0;
    for (index, file) in files.iter().enumerate() {
        let mut report = |file_done: u64, announced: Option<u64>| {
            if file.size.is_none() {
                if let Some(n) = announced {
                    total += n;
                }
            }
            progress(Progress {
                file: index,
                done: done_before + file_done,
                total,
            });
        };
        let len = fetch_one(client, file, &mut report).await?;
        done_before += len;
        progress(Progress {
            file: index,
            done: done_before,
            total,
        });
    }
    Ok(())
}

/// Fetches one file into place; returns its length.
async fn fetch_one(
    client: &reqwest::Client,
    file: &DownloadFile,
    report: &mut (dyn FnMut(u64, Option<u64>) + Send),
) -> Result<u64, DownloadError> {
    if is_verified(&file.dest, &file.sha256, file.size).await {
        let len = tokio::fs::metadata(&file.dest)
            .await
            .map_err(io_err(&file.dest))?
            .len();
        tracing::debug!(dest = %file.dest.display(), "already downloaded and verified");
        return Ok(len);
    }
    if let Some(parent) = file.dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(io_err(parent))?;
    }
    let part = part_path(&file.dest);
    let mut have = tokio::fs::metadata(&part)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    if file.size.is_some_and(|s| have > s) {
        have = 0;
    }
    // A complete `.part` (cut after the last byte, or a crash before the rename) needs no request.
    let complete = file.size.is_some_and(|s| s == have && have > 0);
    if !complete {
        stream_into(client, file, &part, have, report).await?;
    }
    let actual = sha256_file_async(&part).await?;
    if !actual.eq_ignore_ascii_case(&file.sha256) {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(DownloadError::Checksum {
            file: file_label(file),
            expected: file.sha256.clone(),
            actual,
        });
    }
    let len = tokio::fs::metadata(&part)
        .await
        .map_err(io_err(&part))?
        .len();
    tokio::fs::rename(&part, &file.dest)
        .await
        .map_err(io_err(&file.dest))?;
    Ok(len)
}

fn file_label(file: &DownloadFile) -> String {
    file.dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.url.clone())
}

/// Requests the bytes from `have` on and appends them to `part` (or rewrites it from zero when the
/// server does not continue where we are).
async fn stream_into(
    client: &reqwest::Client,
    file: &DownloadFile,
    part: &Path,
    have: u64,
    report: &mut (dyn FnMut(u64, Option<u64>) + Send),
) -> Result<(), DownloadError> {
    let http = |e: reqwest::Error| DownloadError::Http {
        url: file.url.clone(),
        message: e.without_url().to_string(),
    };
    let mut request = client.get(&file.url);
    if have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let mut response = request.send().await.map_err(http)?;
    let status = response.status().as_u16();
    let start = match status {
        206 if have > 0 && content_range_start(&response) == Some(have) => have,
        // 200 (range ignored), or a 206 from another offset: start over, never splice.
        200 | 206 => {
            if have > 0 {
                tracing::info!(url = %file.url, status, "the server did not resume; downloading from the start");
            }
            0
        }
        // The `.part` is as long as the file (or longer): the digest check decides.
        416 if have > 0 => return Ok(()),
        _ => {
            return Err(DownloadError::Status {
                url: file.url.clone(),
                status,
            })
        }
    };
    if start == 0 && status == 206 {
        // A partial answer from another offset is useless from zero too: ask again for the whole.
        response = client.get(&file.url).send().await.map_err(http)?;
        if response.status().as_u16() != 200 {
            return Err(DownloadError::Status {
                url: file.url.clone(),
                status: response.status().as_u16(),
            });
        }
    }
    let announced = response.content_length().map(|n| n + start);
    if let (Some(expected), Some(actual)) = (file.size, announced) {
        if expected != actual {
            return Err(DownloadError::Size {
                file: file_label(file),
                expected,
                actual,
            });
        }
    }
    let mut out = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(start == 0)
        .open(part)
        .await
        .map_err(io_err(part))?;
    if start > 0 {
        out.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(io_err(part))?;
        out.set_len(start).await.map_err(io_err(part))?;
    }
    let mut written = start;
    report(written, announced);
    let result = async {
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            out.write_all(&chunk).await.map_err(io_err(part))?;
            written += chunk.len() as u64;
            if file.size.is_some_and(|s| written > s) {
                return Err(DownloadError::Size {
                    file: file_label(file),
                    expected: file.size.unwrap_or_default(),
                    actual: written,
                });
            }
            report(written, None);
        }
        Ok(())
    }
    .await;
    // What arrived is kept (flushed to disk) for the next attempt even when the body was cut.
    let flushed = async {
        out.flush().await?;
        out.sync_all().await
    }
    .await
    .map_err(io_err(part));
    result?;
    flushed?;
    if let Some(expected) = file.size {
        if written != expected {
            return Err(DownloadError::Size {
                file: file_label(file),
                expected,
                actual: written,
            });
        }
    }
    Ok(())
}

/// The first byte position of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response
        .headers()
        .get(reqwest::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_path_appends_to_the_name() {
        assert_eq!(
            part_path(Path::new("/m/model.safetensors")),
            PathBuf::from("/m/model.safetensors.part")
        );
        assert_eq!(
            part_path(Path::new("/m/1_Pooling/config.json")),
            PathBuf::from("/m/1_Pooling/config.json.part")
        );
    }

    #[test]
    fn sha256_of_a_known_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn transient_errors_are_network_ones() {
        let http = DownloadError::Http {
            url: "u".into(),
            message: "refused".into(),
        };
        assert!(http.is_transient());
        let bad = DownloadError::Checksum {
            file: "f".into(),
            expected: "a".into(),
            actual: "b".into(),
        };
        assert!(!bad.is_transient());
        let gone = DownloadError::Status {
            url: "u".into(),
            status: 404,
        };
        assert!(!gone.is_transient());
    }
}
