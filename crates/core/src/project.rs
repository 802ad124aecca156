//! Which project an event belongs to. Claude Code reports the working directory, which may be a
//! subfolder; memories are grouped by the repository that contains it so that `cd src` does not split a
//! project in two, and a linked worktree (`git worktree add ../feature`) belongs to its main repository:
//! the work done on a branch checked out elsewhere is the same project's history.

use std::path::{Path, PathBuf};

/// The main repository's root for a linked worktree whose `.git` is a file (`gitdir: <main>/.git/worktrees/<name>`
/// with a `commondir` file pointing back at `<main>/.git`). `None` for anything else, a submodule
/// included (its gitdir has no `commondir`: it is its own project).
fn worktree_main_root(dot_git_file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dot_git_file).ok()?;
    let gitdir = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
    let base = dot_git_file.parent()?;
    let gitdir = base.join(gitdir);
    let common = std::fs::read_to_string(gitdir.join("commondir")).ok()?;
    let common = gitdir.join(common.trim());
    let common = common.canonicalize().unwrap_or(common);
    // `<main>/.git` → `<main>`; a bare repository (`<name>.git`) is its own root.
    if common.file_name().is_some_and(|n| n == ".git") {
        common.parent().map(Path::to_path_buf)
    } else {
        Some(common)
    }
}

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
    let repo = path.ancestors().find(|dir| dir.join(".git").exists());
    let main = repo
        .map(|dir| dir.join(".git"))
        .filter(|git| git.is_file())
        .and_then(|git| worktree_main_root(&git));
    let root = main.as_deref().or(repo).unwrap_or(path);
    root.file_name()
        .and_then(|n| n.to_str())
        .map(|n| {
            n.strip_suffix(".git")
                .filter(|s| !s.is_empty())
                .unwrap_or(n)
        })
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

    /// A real `git worktree add`, so the layout is git's own, not our idea of it.
    #[test]
    fn a_linked_worktree_belongs_to_its_main_repository() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str], cwd: &Path| {
            let out = std::process::Command::new("git")
                .args(args)
                .current_dir(cwd)
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.com")
                .output()
                .expect("git");
            assert!(out.status.success(), "git {args:?}: {out:?}");
        };
        let main = dir.path().join("shop");
        std::fs::create_dir_all(&main).unwrap();
        git(&["init", "-q"], &main);
        git(&["commit", "-q", "--allow-empty", "-m", "init"], &main);
        git(&["worktree", "add", "-q", "../shop-feature"], &main);
        let linked = dir.path().join("shop-feature");
        assert!(linked.join(".git").is_file());
        std::fs::create_dir_all(linked.join("src")).unwrap();
        assert_eq!(project_from_cwd(linked.to_str().unwrap()), "shop");
        assert_eq!(
            project_from_cwd(linked.join("src").to_str().unwrap()),
            "shop"
        );

        // A submodule's `.git` is a file too, but it is a project of its own.
        let sub = dir.path().join("vendored");
        std::fs::create_dir_all(sub.join("lib")).unwrap();
        std::fs::create_dir_all(dir.path().join("modules/vendored")).unwrap();
        std::fs::write(sub.join(".git"), "gitdir: ../modules/vendored\n").unwrap();
        assert_eq!(
            project_from_cwd(sub.join("lib").to_str().unwrap()),
            "vendored"
        );
    }

    #[test]
    fn a_bare_repositorys_worktree_is_named_without_dot_git() {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("api.git");
        std::fs::create_dir_all(bare.join("worktrees/main")).unwrap();
        std::fs::write(bare.join("worktrees/main/commondir"), "../..\n").unwrap();
        let tree = dir.path().join("main");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(
            tree.join(".git"),
            format!("gitdir: {}\n", bare.join("worktrees/main").display()),
        )
        .unwrap();
        assert_eq!(project_from_cwd(tree.to_str().unwrap()), "api");
    }
}
