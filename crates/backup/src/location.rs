//! Where archives live: a local directory or a prefix in S3, Google Cloud Storage or Azure Blob
//! Storage. Object storage credentials come from the usual environment variables (`AWS_*`,
//! `GOOGLE_*`, `AZURE_*`), read by object_store's `from_env()` builders.

use crate::{io_err, remote_err, BackupError, Result};
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::buffered::BufWriter;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

const NAME_PREFIX: &str = "claude-mem-backup-";
const NAME_SUFFIX: &str = ".tar.gz";
/// Marks archives made by the worker's schedule, so pruning never deletes one a person made by hand.
const SCHEDULED_MARK: &str = "-scheduled";

/// `claude-mem-backup-YYYYMMDD-HHMMSS[-scheduled].tar.gz` for an instant (UTC).
pub fn archive_name(at_ms: i64, scheduled: bool) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{NAME_PREFIX}{:04}{:02}{:02}-{:02}{:02}{:02}{}{NAME_SUFFIX}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        if scheduled { SCHEDULED_MARK } else { "" }
    )
}

/// The instant (epoch ms, UTC) an archive's name says it was made, and whether the schedule made it;
/// None for a file that is not a claude-mem archive.
pub fn archive_time_ms(name: &str) -> Option<(i64, bool)> {
    let stem = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
    let (stamp, scheduled) = match stem.strip_suffix(SCHEDULED_MARK) {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let format = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let t = time::PrimitiveDateTime::parse(stamp, &format).ok()?;
    let ms = t.assume_utc().unix_timestamp_nanos() / 1_000_000;
    Some((i64::try_from(ms).ok()?, scheduled))
}

pub fn is_archive_name(name: &str) -> bool {
    archive_time_ms(name).is_some()
}

/// A directory or an object storage prefix that holds archives.
#[derive(Clone)]
pub enum Location {
    Dir(PathBuf),
    Remote {
        /// `scheme://bucket/prefix`, without a trailing slash: how the location is shown.
        url: String,
        store: Arc<dyn ObjectStore>,
        prefix: ObjPath,
    },
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// reqwest is built without a TLS crypto provider of its own (see Cargo.toml); ring is installed as
/// the process default before the first object storage client is made. A second call is a no-op.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Location {
    /// A directory path, `file://DIR`, `s3://bucket/prefix`, `gs://bucket/prefix` or
    /// `az://container/prefix`; empty means `default_dir`.
    pub fn parse(spec: &str, default_dir: &Path) -> Result<Self> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Ok(Self::Dir(default_dir.to_owned()));
        }
        let Some((scheme, rest)) = spec.split_once("://") else {
            return Ok(Self::Dir(PathBuf::from(spec)));
        };
        let bad = |reason: &str| BackupError::Location {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "file" {
            if rest.is_empty() {
                return Err(bad("file:// needs a path"));
            }
            return Ok(Self::Dir(PathBuf::from(rest)));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("the bucket (or container) name is missing"));
        }
        let prefix = prefix.trim_matches('/');
        install_crypto_provider();
        let built: Result<Arc<dyn ObjectStore>, object_store::Error> = match scheme.as_str() {
            "s3" | "s3a" => AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            "gs" => GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            "az" | "azure" => MicrosoftAzureBuilder::from_env()
                .with_container_name(bucket)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            _ => {
                return Err(bad(
                    "unsupported scheme: use a directory, s3://, gs:// or az://",
                ))
            }
        };
        let store = built.map_err(|e| BackupError::Location {
            spec: spec.to_owned(),
            reason: format!(
                "cannot set up the {scheme} client (check its environment variables): {e}"
            ),
        })?;
        let prefix = ObjPath::parse(prefix).map_err(|e| bad(&e.to_string()))?;
        let url = if prefix.as_ref().is_empty() {
            format!("{scheme}://{bucket}")
        } else {
            format!("{scheme}://{bucket}/{prefix}")
        };
        Ok(Self::Remote { url, store, prefix })
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Dir(dir) => dir.display().to_string(),
            Self::Remote { url, .. } => url.clone(),
        }
    }

    /// The full path or URL of `name` here.
    pub fn describe_member(&self, name: &str) -> String {
        match self {
            Self::Dir(dir) => dir.join(name).display().to_string(),
            Self::Remote { url, .. } => format!("{url}/{name}"),
        }
    }

    fn object(prefix: &ObjPath, name: &str) -> ObjPath {
        prefix.clone().join(name)
    }

    pub async fn exists(&self, name: &str) -> Result<bool> {
        match self {
            Self::Dir(dir) => Ok(dir.join(name).exists()),
            Self::Remote { store, prefix, .. } => {
                match store.head(&Self::object(prefix, name)).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(remote_err(format!(
                        "cannot look at {}",
                        self.describe_member(name)
                    ))(e)),
                }
            }
        }
    }

    /// Copies a local file here as `name`. A reader never sees a partial file: locally it is written
    /// under a temporary name and renamed; object stores only show an upload once it completes.
    pub async fn upload(&self, local: &Path, name: &str) -> Result<()> {
        match self {
            Self::Dir(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(io_err(format!("cannot create {}", dir.display())))?;
                let partial = dir.join(format!(".{name}.partial"));
                let target = dir.join(name);
                let copy = std::fs::copy(local, &partial)
                    .map_err(io_err(format!("cannot write {}", partial.display())))
                    .and_then(|_| {
                        restrict_to_owner(&partial)?;
                        std::fs::rename(&partial, &target)
                            .map_err(io_err(format!("cannot write {}", target.display())))
                    });
                if copy.is_err() {
                    let _ = std::fs::remove_file(&partial);
                }
                copy
            }
            Self::Remote { store, prefix, .. } => {
                let what = self.describe_member(name);
                let mut file = tokio::fs::File::open(local)
                    .await
                    .map_err(io_err(format!("cannot read {}", local.display())))?;
                let mut writer = BufWriter::new(store.clone(), Self::object(prefix, name));
                let copied = async {
                    tokio::io::copy(&mut file, &mut writer).await?;
                    writer.shutdown().await
                }
                .await;
                if let Err(e) = copied {
                    let _ = writer.abort().await;
                    return Err(io_err(format!("cannot upload {what}"))(e));
                }
                Ok(())
            }
        }
    }

    /// Copies `name` from here to the local file `dest`; false when there is no such file.
    pub async fn download(&self, name: &str, dest: &Path) -> Result<bool> {
        match self {
            Self::Dir(dir) => {
                let src = dir.join(name);
                match std::fs::copy(&src, dest) {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(io_err(format!("cannot read {}", src.display()))(e)),
                }
            }
            Self::Remote { store, prefix, .. } => {
                let what = self.describe_member(name);
                let got = match store.get(&Self::object(prefix, name)).await {
                    Ok(got) => got,
                    Err(object_store::Error::NotFound { .. }) => return Ok(false),
                    Err(e) => return Err(remote_err(format!("cannot download {what}"))(e)),
                };
                let mut out = tokio::fs::File::create(dest)
                    .await
                    .map_err(io_err(format!("cannot write {}", dest.display())))?;
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(remote_err(format!("cannot download {what}")))?;
                    out.write_all(&chunk)
                        .await
                        .map_err(io_err(format!("cannot write {}", dest.display())))?;
                }
                out.flush()
                    .await
                    .map_err(io_err(format!("cannot write {}", dest.display())))?;
                Ok(true)
            }
        }
    }

    /// Names of the files directly here (not in sub-folders); a missing directory holds nothing.
    pub async fn list(&self) -> Result<Vec<String>> {
        match self {
            Self::Dir(dir) => {
                let entries = match std::fs::read_dir(dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(io_err(format!("cannot list {}", dir.display()))(e)),
                };
                let mut names = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(io_err(format!("cannot list {}", dir.display())))?;
                    if entry.file_type().is_ok_and(|t| t.is_file()) {
                        names.extend(entry.file_name().to_str().map(str::to_owned));
                    }
                }
                names.sort();
                Ok(names)
            }
            Self::Remote {
                store, prefix, url, ..
            } => {
                let prefix_opt = (!prefix.as_ref().is_empty()).then_some(prefix);
                let mut stream = store.list(prefix_opt);
                let mut names = Vec::new();
                while let Some(meta) = stream.next().await {
                    let meta = meta.map_err(remote_err(format!("cannot list {url}")))?;
                    let direct = meta
                        .location
                        .prefix_match(prefix)
                        .is_some_and(|rest| rest.count() == 1);
                    if direct {
                        names.extend(meta.location.filename().map(str::to_owned));
                    }
                }
                names.sort();
                Ok(names)
            }
        }
    }

    /// Deletes `name` here; one already gone is not an error.
    pub async fn delete(&self, name: &str) -> Result<()> {
        match self {
            Self::Dir(dir) => match std::fs::remove_file(dir.join(name)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err(format!(
                    "cannot delete {}",
                    dir.join(name).display()
                ))(e)),
            },
            Self::Remote { store, prefix, .. } => {
                match store.delete(&Self::object(prefix, name)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(remote_err(format!(
                        "cannot delete {}",
                        self.describe_member(name)
                    ))(e)),
                }
            }
        }
    }
}

/// Archives hold prompts and tool output: only their owner may read them.
pub(crate) fn restrict_to_owner(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err(
            format!("cannot set permissions of {}", path.display()),
        ))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// One archive: where it lives and its file name.
#[derive(Debug, Clone)]
pub struct ArchiveRef {
    pub location: Location,
    pub name: String,
}

impl ArchiveRef {
    /// A local path or a `s3://`, `gs://`, `az://` (or `file://`) URL of an archive.
    pub fn parse(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        let bad = |reason: &str| BackupError::Location {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some((scheme, rest)) = spec.split_once("://") {
            let (parent, name) = rest
                .rsplit_once('/')
                .filter(|(parent, name)| !name.is_empty() && !parent.is_empty())
                .ok_or_else(|| bad("the URL names no archive file"))?;
            return Ok(Self {
                location: Location::parse(&format!("{scheme}://{parent}"), Path::new("."))?,
                name: name.to_owned(),
            });
        }
        let path = Path::new(spec);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad("not a file path"))?
            .to_owned();
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        Ok(Self {
            location: Location::Dir(parent),
            name,
        })
    }

    pub fn describe(&self) -> String {
        self.location.describe_member(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_time() {
        let ms = 1_793_491_209_000; // 2026-11-01 00:00:09 UTC
        let manual = archive_name(ms, false);
        assert_eq!(manual, "claude-mem-backup-20261101-000009.tar.gz");
        assert_eq!(archive_time_ms(&manual), Some((ms, false)));
        let scheduled = archive_name(ms + 1000, true);
        assert_eq!(
            scheduled,
            "claude-mem-backup-20261101-000010-scheduled.tar.gz"
        );
        assert_eq!(archive_time_ms(&scheduled), Some((ms + 1000, true)));
        assert!(archive_name(ms, true) < scheduled);
        for other in [
            "claude-mem-backup-20261101-000010.tar.gz.sha256",
            "notes.txt",
            "claude-mem-backup-2026-x.tar.gz",
            ".claude-mem-backup-20261101-000009.tar.gz.partial",
        ] {
            assert!(!is_archive_name(other), "{other}");
        }
    }

    #[test]
    fn locations_parse() {
        let default = Path::new("/data/backups");
        assert!(matches!(Location::parse("", default), Ok(Location::Dir(d)) if d == default));
        assert!(
            matches!(Location::parse("/x/y", default), Ok(Location::Dir(d)) if d == Path::new("/x/y"))
        );
        assert!(
            matches!(Location::parse("file:///x", default), Ok(Location::Dir(d)) if d == Path::new("/x"))
        );
        let err = Location::parse("ftp://host/x", default)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported scheme"), "{err}");
        let err = Location::parse("s3:///x", default).unwrap_err().to_string();
        assert!(err.contains("bucket"), "{err}");
        let remote = Location::parse("s3://bucket/some/prefix/", default).unwrap();
        assert_eq!(remote.describe(), "s3://bucket/some/prefix");
        assert_eq!(
            remote.describe_member("a.tar.gz"),
            "s3://bucket/some/prefix/a.tar.gz"
        );
    }

    #[test]
    fn archive_refs_parse() {
        let local = ArchiveRef::parse("/tmp/b/x.tar.gz").unwrap();
        assert_eq!(local.name, "x.tar.gz");
        assert_eq!(local.describe(), "/tmp/b/x.tar.gz");
        let bare = ArchiveRef::parse("x.tar.gz").unwrap();
        assert_eq!(bare.describe(), "./x.tar.gz");
        let remote = ArchiveRef::parse("s3://bucket/pre/x.tar.gz").unwrap();
        assert_eq!(remote.describe(), "s3://bucket/pre/x.tar.gz");
        let root = ArchiveRef::parse("s3://bucket/x.tar.gz").unwrap();
        assert_eq!(root.describe(), "s3://bucket/x.tar.gz");
        assert!(ArchiveRef::parse("s3://bucket/").is_err());
    }
}
