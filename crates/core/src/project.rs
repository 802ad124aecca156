//! Which project an event belongs to. Claude Code reports the working directory, which may be a
//! subfolder; memories are grouped by the repository that contains it so that `cd src` does not split a
//! project in two.

use std::path::Path;

/// The name of the git root above `cwd` (or of `cwd` itself when it is not in a repository or no longer
/// exists on this machine). Never empty.
pub fn project_from_cwd(cwd: &str) -> String {
    let trimmed = cwd.trim_end_matches('/');
    if trimmed.is_empty() {
        return if cwd.is_empty() {
            "unknown".into()
        } else {
            "/".into()
        };
    }
    let path = Path::new(trimmed);
    let root = path
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .unwrap_or(path);
    root.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directory_falls_back_to_its_name() {
        assert_eq!(project_from_cwd("/home/dev/work/acme-api"), "acme-api");
        assert_eq!(project_from_cwd("/home/dev/work/acme-api/"), "acme-api");
        assert_eq!(project_from_cwd(""), "unknown");
    }

    #[test]
    fn subfolder_of_a_repository_maps_to_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("shop");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("src/store")).unwrap();
        let cwd = repo.join("src/store");
        assert_eq!(project_from_cwd(cwd.to_str().unwrap()), "shop");
    }
}
