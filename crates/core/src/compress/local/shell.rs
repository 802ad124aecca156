//! Shell command lines as the local rules see them: a chain (`&&`, `||`, `;`, `|`, `&`, newlines,
//! subshells) split into simple commands, each past its prefixes (`sudo`, `env X=1`, `FOO=bar`, `time`,
//! `npx`…) and classified by the program that matters (`git add -A && git commit -m …` is a commit).
//!
//! Only the operators and heredocs are found here; the words of each simple command (quotes, escapes) are
//! split by the `shlex` crate.

use regex::Regex;
use std::sync::LazyLock;

/// What a simple command does, for titles, types and outcome tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `ls`, `cat`, `grep`, `git status`…: looks around, changes nothing.
    Trivial,
    GitRead,
    /// `git add`, `git checkout`, `git stash`…
    GitWrite,
    Other,
    Format,
    Lint,
    Build,
    Install,
    Test,
    Merge,
    Tag,
    PullRequest,
    Migrate,
    Push,
    Deploy,
    Commit,
}

/// One simple command of a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmd {
    /// Its text as typed (prefixes included), trimmed.
    pub text: String,
    /// Words past the prefixes and redirections.
    pub words: Vec<String>,
    /// The body of a heredoc fed to it (`git commit -F - <<EOF`).
    pub heredoc: Option<String>,
    /// Basename of the program (`./gradlew` → `gradlew`, `python -m pytest` → `pytest`).
    pub prog: String,
    /// The first subcommand (`git -C x commit` → `commit`; `npm run lint` → `run`).
    pub sub: String,
    pub kind: Kind,
}

impl Cmd {
    /// The name reruns of one check share: program, subcommand and, for `npm run x`, the script.
    pub fn check_key(&self) -> String {
        let mut key = format!("{} {}", self.prog, self.sub);
        if matches!(self.sub.as_str(), "run" | "exec" | "x") {
            if let Some(script) = self.after_sub().next() {
                key.push(' ');
                key.push_str(script);
            }
        }
        key.trim().to_owned()
    }

    /// The non-flag words after the subcommand.
    pub fn after_sub(&self) -> impl Iterator<Item = &str> {
        let mut seen_sub = self.sub.is_empty();
        self.words
            .iter()
            .skip(1)
            .map(String::as_str)
            .filter(move |w| {
                if !seen_sub {
                    if *w == self.sub {
                        seen_sub = true;
                    }
                    return false;
                }
                !w.starts_with('-')
            })
    }

    /// The value of an option (`-m msg`, `-mmsg`, `--message=msg`, `--message msg`).
    pub fn option(&self, short: &str, long: &str) -> Option<&str> {
        let mut it = self.words.iter().skip(1);
        while let Some(w) = it.next() {
            if (!short.is_empty() && w == short) || w == long {
                return it.next().map(String::as_str);
            }
            if let Some(v) = w.strip_prefix(long).and_then(|r| r.strip_prefix('=')) {
                return Some(v);
            }
            if short.len() == 2 && w.len() > 2 && w.starts_with('-') && !w.starts_with("--") {
                // `-mmsg` (shlex of `-m"msg"`), or grouped flags ending in it (`-am msg`).
                if w.starts_with(short) {
                    return Some(&w[2..]);
                }
                if w.ends_with(&short[1..]) {
                    return it.next().map(String::as_str);
                }
            }
        }
        None
    }

    pub fn has_flag(&self, flags: &[&str]) -> bool {
        self.words.iter().any(|w| flags.contains(&w.as_str()))
    }
}

/// Splits a command line into its simple commands, in order.
pub fn parse(command: &str) -> Vec<Cmd> {
    split_segments(command)
        .into_iter()
        .filter_map(|(text, heredoc)| simple(text.trim(), heredoc))
        .collect()
}

/// The command of a chain that says what it was for: the commit of `git add -A && git commit`, the tests
/// of `cd x && cargo test 2>&1 | tail`.
pub fn primary(cmds: &[Cmd]) -> Option<&Cmd> {
    cmds.iter().rev().max_by_key(|c| c.kind)
}

/// The program and first subcommand of a command line's primary command.
pub fn program(command: &str) -> (String, String) {
    let cmds = parse(command);
    primary(&cmds)
        .map(|c| (c.prog.clone(), c.sub.clone()))
        .unwrap_or_default()
}

/// Text segments between operators (outside quotes, `$(…)` and backticks), each with its heredoc body.
fn split_segments(command: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut cur = String::new();
    let mut pending_heredocs: Vec<String> = Vec::new();
    let mut heredoc_body: Option<String> = None;
    let (mut single, mut double, mut backtick) = (false, false, false);
    let mut depth = 0usize; // inside `$(…)`
    let chars: Vec<char> = command.chars().collect();
    let mut i = 0;
    let flush = |cur: &mut String, body: &mut Option<String>, out: &mut Vec<_>| {
        if !cur.trim().is_empty() || body.is_some() {
            out.push((std::mem::take(cur), body.take()));
        } else {
            cur.clear();
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if single {
            single = c != '\'';
            cur.push(c);
            i += 1;
            continue;
        }
        if c == '\\' {
            cur.push(c);
            if let Some(n) = next {
                cur.push(n);
            }
            i += 2;
            continue;
        }
        if double {
            if c == '"' && depth == 0 {
                double = false;
            } else if c == '$' && next == Some('(') {
                depth += 1;
            } else if c == ')' && depth > 0 {
                depth -= 1;
            }
            cur.push(c);
            i += 1;
            continue;
        }
        if backtick {
            backtick = c != '`';
            cur.push(c);
            i += 1;
            continue;
        }
        match c {
            '\'' => single = true,
            '"' => double = true,
            '`' => backtick = true,
            '$' if next == Some('(') => {
                depth += 1;
                cur.push_str("$(");
                i += 2;
                continue;
            }
            ')' if depth > 0 => {
                depth -= 1;
                cur.push(c);
                i += 1;
                continue;
            }
            _ => {}
        }
        if depth > 0 || single || double || backtick {
            cur.push(c);
            i += 1;
            continue;
        }
        match c {
            '<' if next == Some('<') && chars.get(i + 2) != Some(&'<') => {
                // A heredoc: remember its delimiter, read its body at the end of the line.
                let mut j = i + 2;
                if chars.get(j) == Some(&'-') {
                    j += 1;
                }
                while chars.get(j).is_some_and(|c| *c == ' ' || *c == '\t') {
                    j += 1;
                }
                let mut delim = String::new();
                while let Some(&d) = chars.get(j) {
                    if d.is_whitespace() || matches!(d, ';' | '&' | '|' | ')' | '<' | '>') {
                        break;
                    }
                    if d != '\'' && d != '"' && d != '\\' {
                        delim.push(d);
                    }
                    j += 1;
                }
                if !delim.is_empty() {
                    pending_heredocs.push(delim);
                }
                cur.extend(&chars[i..j]);
                i = j;
                continue;
            }
            '\n' => {
                let owner_pending = !pending_heredocs.is_empty();
                i += 1;
                if owner_pending {
                    let mut body = String::new();
                    for delim in std::mem::take(&mut pending_heredocs) {
                        loop {
                            let start = i;
                            while i < chars.len() && chars[i] != '\n' {
                                i += 1;
                            }
                            let line: String = chars[start..i].iter().collect();
                            i = (i + 1).min(chars.len());
                            if line.trim() == delim || start >= chars.len() {
                                break;
                            }
                            body.push_str(&line);
                            body.push('\n');
                        }
                    }
                    heredoc_body = Some(body);
                }
                flush(&mut cur, &mut heredoc_body, &mut out);
                continue;
            }
            ';' | '(' | ')' | '{' | '}' => {
                let word_boundary = matches!(c, ';' | '(' | ')')
                    || (cur.trim().is_empty() || cur.ends_with(char::is_whitespace))
                        && next.is_none_or(char::is_whitespace);
                if word_boundary {
                    flush(&mut cur, &mut heredoc_body, &mut out);
                    i += 1;
                    continue;
                }
            }
            '&' | '|' => {
                // `2>&1` and `&>` are redirections, not operators.
                let redirect = cur.ends_with('>') || (c == '&' && next == Some('>'));
                if !redirect {
                    flush(&mut cur, &mut heredoc_body, &mut out);
                    i += if next == Some(c) { 2 } else { 1 };
                    continue;
                }
            }
            _ => {}
        }
        cur.push(c);
        i += 1;
    }
    flush(&mut cur, &mut heredoc_body, &mut out);
    out
}

/// Wrappers that run the next word as the program.
const PREFIXES: [&str; 22] = [
    "sudo", "doas", "env", "time", "nohup", "exec", "command", "builtin", "nice", "timeout",
    "xvfb-run", "stdbuf", "npx", "bunx", "pnpx", "if", "then", "else", "elif", "do", "while", "!",
];

fn is_assignment(w: &str) -> bool {
    w.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    })
}

fn is_redirection(w: &str) -> bool {
    let w = w.trim_start_matches(|c: char| c.is_ascii_digit() || c == '&');
    w.starts_with('>') || w.starts_with('<')
}

fn simple(text: &str, heredoc: Option<String>) -> Option<Cmd> {
    let raw =
        shlex::split(text).unwrap_or_else(|| text.split_whitespace().map(str::to_owned).collect());
    // Redirections and their targets are not words of the command.
    let mut words: Vec<String> = Vec::with_capacity(raw.len());
    let mut skip_next = false;
    for w in raw {
        if skip_next {
            skip_next = false;
            continue;
        }
        if is_redirection(&w) {
            let op_only = w
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '&')
                .trim_start_matches(['<', '>', '&', '|', '-'])
                .is_empty();
            skip_next = op_only;
            continue;
        }
        words.push(w);
    }
    // Past the prefixes.
    let mut start = 0;
    while start < words.len() {
        let w = words[start].as_str();
        if is_assignment(w) {
            start += 1;
            continue;
        }
        if !PREFIXES.contains(&w) {
            break;
        }
        start += 1;
        // Their own options (and option values: `sudo -u root`, `timeout 60`, `nice -n 5`).
        while let Some(o) = words.get(start) {
            if o.starts_with('-') {
                start += 1;
                if matches!(
                    o.as_str(),
                    "-u" | "-g" | "-n" | "-s" | "-k" | "-C" | "--signal"
                ) {
                    start += 1;
                }
            } else if (w == "timeout" && o.chars().next().is_some_and(|c| c.is_ascii_digit()))
                || (w == "env" && is_assignment(o))
            {
                start += 1;
            } else {
                break;
            }
        }
    }
    let mut words: Vec<String> = words.split_off(start.min(words.len()));
    // `bundle exec rspec`, `uv run pytest`, `poetry run x`, `pnpm exec x`, `python -m pytest`.
    loop {
        let two = (
            words.first().map(String::as_str),
            words.get(1).map(String::as_str),
        );
        let drop = match two {
            (Some("bundle"), Some("exec"))
            | (Some("uv" | "poetry" | "pipenv" | "pdm" | "hatch" | "rye"), Some("run"))
            | (Some("pnpm" | "yarn" | "npm"), Some("exec" | "dlx"))
            | (Some("cargo"), Some("+nightly" | "+stable" | "+beta")) => {
                if words[0] == "cargo" {
                    words.remove(1);
                    continue;
                }
                2
            }
            (Some(p), Some("-m")) if p.starts_with("python") && words.len() > 2 => 2,
            _ => 0,
        };
        if drop == 0 || words.len() <= drop {
            break;
        }
        words.drain(..drop);
    }
    if words.is_empty() {
        return None;
    }
    let prog = words[0].rsplit('/').next().unwrap_or(&words[0]).to_owned();
    if matches!(prog.as_str(), "fi" | "done" | "esac" | "{" | "}") {
        return None;
    }
    let sub = subcommand(&prog, &words);
    let mut cmd = Cmd {
        text: text.to_owned(),
        words,
        heredoc,
        prog,
        sub,
        kind: Kind::Other,
    };
    cmd.kind = classify(&cmd);
    Some(cmd)
}

/// The first word past the program's global options.
fn subcommand(prog: &str, words: &[String]) -> String {
    let takes_value: &[&str] = match prog {
        "git" => &["-C", "-c", "--git-dir", "--work-tree", "--namespace"],
        "cargo" => &["--manifest-path", "--config", "-Z"],
        "npm" | "pnpm" | "yarn" => &["--prefix", "-C", "--cwd", "--filter", "-F", "-w"],
        "docker" => &["-H", "--context", "-c", "--config"],
        "kubectl" => &["-n", "--namespace", "--context", "--kubeconfig"],
        "helm" => &["-n", "--namespace", "--kube-context"],
        "terraform" => &["-chdir"],
        "go" => &["-C"],
        _ => &[],
    };
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        if w.starts_with('-') || w.starts_with('+') {
            if takes_value.contains(&w.as_str()) {
                it.next();
            }
            continue;
        }
        return w.clone();
    }
    String::new()
}

const TRIVIAL: [&str; 52] = [
    "ls", "pwd", "cd", "echo", "cat", "head", "tail", "which", "type", "whoami", "date", "clear",
    "true", "false", "wc", "tree", "file", "stat", "printf", "sleep", "grep", "egrep", "rg", "ag",
    "find", "fd", "sort", "uniq", "less", "more", "du", "df", "ps", "uname", "hostname", "id",
    "history", "awk", "jq", "export", "source", ".", "set", "unset", "read", "test", "[", "xxd",
    "realpath", "dirname", "basename", "readlink",
];

fn classify(c: &Cmd) -> Kind {
    let (prog, sub) = (c.prog.as_str(), c.sub.as_str());
    let script = || c.after_sub().next().unwrap_or("").to_owned();
    let script_kind = |s: &str| -> Option<Kind> {
        let s = s.to_ascii_lowercase();
        Some(if s.starts_with("test") || s.starts_with("e2e") {
            Kind::Test
        } else if s.starts_with("lint") || s.starts_with("typecheck") || s == "check" {
            Kind::Lint
        } else if s.starts_with("fmt") || s.starts_with("format") || s.starts_with("prettier") {
            Kind::Format
        } else if s.starts_with("build") || s.starts_with("compile") {
            Kind::Build
        } else if s.starts_with("migrat") || s.starts_with("db:migrate") {
            Kind::Migrate
        } else if s.starts_with("deploy") || s.starts_with("release") {
            Kind::Deploy
        } else {
            return None;
        })
    };
    match prog {
        "git" => match sub {
            "commit" => Kind::Commit,
            "push" => Kind::Push,
            "tag" if c.after_sub().next().is_some() => Kind::Tag,
            "merge" | "rebase" | "cherry-pick" => Kind::Merge,
            "status" | "log" | "diff" | "show" | "remote" | "fetch" | "blame" | "grep"
            | "ls-files" | "rev-parse" | "describe" | "shortlog" | "reflog" | "tag" | "config" => {
                Kind::GitRead
            }
            "branch" if c.after_sub().next().is_none() => Kind::GitRead,
            _ => Kind::GitWrite,
        },
        "gh" => match (sub, c.after_sub().next()) {
            ("pr", Some("create")) => Kind::PullRequest,
            ("pr", Some("merge")) => Kind::Merge,
            ("release", Some("create")) => Kind::Tag,
            _ => Kind::GitRead,
        },
        "cargo" => match sub {
            "test" | "t" | "nextest" | "bench" => Kind::Test,
            "build" | "b" | "check" | "c" | "doc" => Kind::Build,
            "clippy" | "audit" | "deny" => Kind::Lint,
            "fmt" => Kind::Format,
            "add" | "remove" | "rm" | "install" | "update" => Kind::Install,
            "sqlx" => Kind::Migrate,
            "publish" => Kind::Deploy,
            _ => Kind::Other,
        },
        "npm" | "pnpm" | "yarn" | "bun" | "deno" => match sub {
            "test" | "t" => Kind::Test,
            "install" | "i" | "add" | "remove" | "rm" | "uninstall" | "un" | "ci" | "update"
            | "up" => Kind::Install,
            "run" | "run-script" => script_kind(&script()).unwrap_or(Kind::Other),
            "publish" => Kind::Deploy,
            "" if prog == "yarn" || prog == "pnpm" => Kind::Install,
            s => script_kind(s).unwrap_or(Kind::Other),
        },
        "go" => match sub {
            "test" => Kind::Test,
            "build" | "install" => Kind::Build,
            "vet" => Kind::Lint,
            "fmt" => Kind::Format,
            "get" | "mod" => Kind::Install,
            _ => Kind::Other,
        },
        "pytest" | "py.test" | "jest" | "vitest" | "mocha" | "rspec" | "ctest" | "phpunit"
        | "tox" | "nox" | "unittest" | "ava" | "tap" | "karma" | "cypress" => Kind::Test,
        "playwright" if sub == "test" => Kind::Test,
        "rails" | "rake" => match sub {
            s if s.starts_with("db:") => Kind::Migrate,
            "test" | "spec" => Kind::Test,
            _ => Kind::Other,
        },
        "mix" | "dotnet" | "mvn" | "gradle" | "gradlew" | "mvnw" | "sbt" | "make" | "just"
        | "swift" => match sub {
            "test" | "check" | "verify" | "spec" => Kind::Test,
            "ecto.migrate" | "migrate" => Kind::Migrate,
            "deps.get" | "restore" | "add" => Kind::Install,
            "lint" | "clippy" => Kind::Lint,
            "fmt" | "format" => Kind::Format,
            "deploy" | "publish" | "release" => Kind::Deploy,
            _ => Kind::Build,
        },
        "tsc" | "cmake" | "ninja" | "gcc" | "g++" | "clang" | "rustc" | "webpack" | "vite"
        | "esbuild" | "rollup" | "javac" | "bazel" => Kind::Build,
        "next" | "nuxt" if sub == "build" => Kind::Build,
        "docker" | "podman" => match sub {
            "build" => Kind::Build,
            "push" => Kind::Deploy,
            "compose" if c.after_sub().any(|w| w == "push") => Kind::Deploy,
            "ps" | "images" | "logs" | "inspect" => Kind::Trivial,
            _ => Kind::Other,
        },
        "eslint" | "ruff" | "mypy" | "flake8" | "pylint" | "golangci-lint" | "shellcheck"
        | "clippy-driver" | "biome" | "stylelint" | "pyright" | "hadolint" | "tflint" => {
            if sub == "format" {
                Kind::Format
            } else {
                Kind::Lint
            }
        }
        "prettier" | "black" | "rustfmt" | "gofmt" | "isort" | "clang-format" | "dprint" => {
            Kind::Format
        }
        "pip" | "pip3" | "uv" | "poetry" | "pipenv" | "conda" | "gem" | "bundle" | "composer"
        | "apt" | "apt-get" | "brew" | "dnf" | "yum" | "apk" | "pacman" | "rustup" => match sub {
            "install" | "add" | "remove" | "uninstall" | "require" | "sync" | "update"
            | "upgrade" | "pip" | "lock" => Kind::Install,
            "" if prog == "bundle" => Kind::Install,
            "run" => Kind::Other,
            _ => Kind::Other,
        },
        "sqlx" | "diesel" | "alembic" | "flyway" | "liquibase" | "goose" | "dbmate" | "migrate"
        | "sequelize" | "knex" | "atlas" => Kind::Migrate,
        "prisma" if matches!(sub, "migrate" | "db") => Kind::Migrate,
        "python" | "python3" | "php" if sub == "manage.py" || sub == "artisan" => {
            match c.after_sub().next().unwrap_or("") {
                s if s.starts_with("migrat") || s == "makemigrations" => Kind::Migrate,
                "test" => Kind::Test,
                _ => Kind::Other,
            }
        }
        "kubectl" | "oc" => match sub {
            "apply" | "rollout" | "set" | "scale" | "delete" | "create" | "patch" | "replace" => {
                Kind::Deploy
            }
            _ => Kind::Trivial,
        },
        "helm" => match sub {
            "install" | "upgrade" | "rollback" | "uninstall" => Kind::Deploy,
            _ => Kind::Other,
        },
        "terraform" | "tofu" | "pulumi" => match sub {
            "apply" | "destroy" | "up" => Kind::Deploy,
            _ => Kind::Other,
        },
        "fly" | "flyctl" | "vercel" | "netlify" | "wrangler" | "firebase" | "eb" | "serverless"
        | "sls" | "railway" | "heroku" | "cap" => match sub {
            "deploy" | "publish" | "up" | "releases:rollback" => Kind::Deploy,
            "" if prog == "vercel" => Kind::Deploy,
            _ if c.has_flag(&["--prod"]) => Kind::Deploy,
            _ => Kind::Other,
        },
        "gcloud" | "aws" | "az"
            if c.words
                .iter()
                .any(|w| w == "deploy" || w == "update-service") =>
        {
            Kind::Deploy
        }
        "ansible-playbook" => Kind::Deploy,
        p if TRIVIAL.contains(&p) => Kind::Trivial,
        _ => Kind::Other,
    }
}

/// Why a command line (or code written by an edit) puts the user at risk, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    PipeToShell,
    WorldWritable,
    TlsDisabled,
    HostKeyCheckDisabled,
    ForcePushMain,
    RemoveRoot,
}

static PIPE_TO_SHELL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:ba|z|da|k|fi)?sh\b|\b(?:ba|z)?sh\s+(?:-c\s+)?[\x22']?\$\(\s*(?:curl|wget)|\b(?:ba|z)?sh\s+<\(\s*(?:curl|wget)|\beval\s+[\x22']?\$\(\s*(?:curl|wget)|\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+)?python3?\b",
    )
    .expect("constant regex")
});
static WORLD_WRITABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bchmod\s+(?:-\S+\s+)*(?:0?777|a\+rwx|ugo\+rwx|o\+w)\b").expect("constant regex")
});
static TLS_OFF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\bcurl\b[^|;&\n]*\s(?:--insecure\b|-[a-zA-Z]*k[a-zA-Z]*(?:\s|$))|--no-check-certificate|--insecure-skip-tls-verify|\bverify\s*=\s*False\b|NODE_TLS_REJECT_UNAUTHORIZED\s*=\s*[\x22']?0|GIT_SSL_NO_VERIFY\s*=\s*[\x22']?(?:1|true)|PYTHONHTTPSVERIFY\s*=\s*[\x22']?0|http\.sslVerify\s+false|strict-ssl\s+false|rejectUnauthorized\s*:\s*false|InsecureSkipVerify\s*:\s*true|danger_accept_invalid_certs\s*\(\s*true|CURLOPT_SSL_VERIFYPEER\s*,\s*(?:0|false)|ssl_verify\s*=\s*False",
    )
    .expect("constant regex")
});
static HOST_KEY_OFF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"StrictHostKeyChecking\s*=?\s*no").expect("constant regex"));
static RM_ROOT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\brm\s+-[a-zA-Z]*r[a-zA-Z]*\s+(?:-\S+\s+)*(?:/|~/?|\$HOME/?|/\*)(?:\s|$)")
        .expect("constant regex")
});

/// Risks in a command line.
pub fn risks(command: &str, cmds: &[Cmd]) -> Vec<Risk> {
    let mut out = Vec::new();
    if PIPE_TO_SHELL.is_match(command) {
        out.push(Risk::PipeToShell);
    }
    if WORLD_WRITABLE.is_match(command) {
        out.push(Risk::WorldWritable);
    }
    if TLS_OFF.is_match(command) {
        out.push(Risk::TlsDisabled);
    }
    if HOST_KEY_OFF.is_match(command) {
        out.push(Risk::HostKeyCheckDisabled);
    }
    if RM_ROOT.is_match(command) {
        out.push(Risk::RemoveRoot);
    }
    let force_main = cmds.iter().any(|c| {
        c.kind == Kind::Push
            && (c.has_flag(&["--force", "-f"]) || c.words.iter().any(|w| w.starts_with("+")))
            && c.after_sub().any(|w| {
                let branch = w.trim_start_matches('+');
                let branch = branch.rsplit(':').next().unwrap_or(branch);
                matches!(branch, "main" | "master")
            })
    });
    if force_main {
        out.push(Risk::ForcePushMain);
    }
    out
}

/// Risks in code an edit wrote (TLS checks turned off in a client, mostly).
pub fn code_risks(text: &str) -> Vec<Risk> {
    let mut out = Vec::new();
    if TLS_OFF.is_match(text) {
        out.push(Risk::TlsDisabled);
    }
    if WORLD_WRITABLE.is_match(text) || text.contains("0o777") {
        out.push(Risk::WorldWritable);
    }
    out
}

/// The message of a commit command: `-m`/`--message` (first paragraph), a `$(cat <<EOF …)` message, or a
/// heredoc given to `-F -`.
pub fn commit_message(c: &Cmd) -> Option<String> {
    let raw = c.option("-m", "--message").map(str::to_owned).or_else(|| {
        c.option("-F", "--file")
            .filter(|f| *f == "-")
            .and(c.heredoc.clone())
    })?;
    let text = if raw.trim_start().starts_with("$(") {
        // `"$(cat <<'EOF'\nmessage\n…\nEOF\n)"`: the lines between the heredoc's first line and its end.
        let mut lines = raw.lines();
        let first = lines.next().unwrap_or("");
        let delim = first
            .split("<<")
            .nth(1)
            .map(|d| {
                d.trim()
                    .trim_start_matches('-')
                    .trim_matches(|c| c == '\'' || c == '"' || c == ')')
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default();
        lines
            .take_while(|l| delim.is_empty() || l.trim() != delim)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        raw
    };
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())?
        .to_owned();
    Some(first)
}

/// Where a push went: `origin main`, or `origin` / the current branch when not named.
pub fn push_target(c: &Cmd) -> String {
    c.after_sub().take(2).collect::<Vec<_>>().join(" ")
}

/// Packages a dependency command adds or removes (`cargo add serde tokio` → serde, tokio).
pub fn packages(c: &Cmd) -> Vec<String> {
    if c.kind != Kind::Install {
        return Vec::new();
    }
    // The non-flag words after the subcommand, less the values of flags that take one.
    const VALUED: [&str; 14] = [
        "--features",
        "-F",
        "--registry",
        "--index-url",
        "-i",
        "-r",
        "--requirement",
        "--rename",
        "--branch",
        "--git",
        "--path",
        "--vers",
        "--target",
        "-p",
    ];
    let mut words: Vec<&str> = Vec::new();
    let mut past_sub = false;
    let mut skip = false;
    for w in c.words.iter().skip(1).map(String::as_str) {
        if skip {
            skip = false;
        } else if !past_sub {
            past_sub = w == c.sub;
        } else if w.starts_with('-') {
            skip = VALUED.contains(&w);
        } else {
            words.push(w);
        }
    }
    // `uv pip install x`, `go mod tidy` (no packages), `poetry add x`.
    if c.sub == "pip" && words.first() == Some(&"install") {
        words.remove(0);
    }
    if c.sub == "mod" {
        return Vec::new();
    }
    words
        .into_iter()
        .filter(|w| !w.contains('/') || w.starts_with('@') || c.prog == "go")
        .filter(|w| !w.ends_with(".txt") && !w.ends_with(".toml") && *w != ".")
        .take(8)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progs(line: &str) -> Vec<(String, String, Kind)> {
        parse(line)
            .into_iter()
            .map(|c| (c.prog, c.sub, c.kind))
            .collect()
    }

    #[test]
    fn chains_prefixes_and_subshells() {
        let p = progs("git add -A && git commit -m \"Fix token refresh\" && git push");
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].2, Kind::Commit);
        assert_eq!(p[2].2, Kind::Push);
        let p = progs("cd crates/core && RUST_LOG=debug cargo test -p core 2>&1 | tail -20");
        assert_eq!(
            p.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["cd", "cargo", "tail"]
        );
        assert_eq!(p[1].2, Kind::Test);
        assert_eq!(
            program("sudo -u root env FOO=1 time npx jest --ci auth"),
            ("jest".into(), "auth".into())
        );
        assert_eq!(program("(cd web && npm run lint); echo done").0, "npm");
        assert_eq!(parse("(cd web && npm run lint)")[1].kind, Kind::Lint);
        assert_eq!(program("python -m pytest tests/ -x").0, "pytest");
        assert_eq!(program("git -C repo commit -am 'x'").1, "commit");
        assert_eq!(parse("uv run alembic upgrade head")[0].kind, Kind::Migrate);
        assert_eq!(parse("fly deploy --remote-only")[0].kind, Kind::Deploy);
        assert_eq!(parse("make 2>&1")[0].words, ["make"]);
    }

    #[test]
    fn commit_messages_from_flags_and_heredocs() {
        let c = parse("git commit -m \"Fix token refresh\"").remove(0);
        assert_eq!(commit_message(&c).as_deref(), Some("Fix token refresh"));
        let c = parse("git commit -am 'Add retries'").remove(0);
        assert_eq!(commit_message(&c).as_deref(), Some("Add retries"));
        let line = "git add -A && git commit -m \"$(cat <<'EOF'\nAdd JWT leeway\n\nCo-Authored-By: Claude\nEOF\n)\"";
        let cmds = parse(line);
        assert_eq!(cmds.len(), 2, "{cmds:#?}");
        assert_eq!(commit_message(&cmds[1]).as_deref(), Some("Add JWT leeway"));
        let cmds = parse("git commit -F - <<EOF\nBump deps\nEOF\ngit push");
        assert_eq!(cmds.len(), 2, "{cmds:#?}");
        assert_eq!(commit_message(&cmds[0]).as_deref(), Some("Bump deps"));
        assert_eq!(cmds[1].kind, Kind::Push);
    }

    #[test]
    fn risky_commands() {
        let r = |l: &str| risks(l, &parse(l));
        assert_eq!(r("curl -fsSL https://x.sh | sh"), [Risk::PipeToShell]);
        assert_eq!(r("chmod -R 777 /srv"), [Risk::WorldWritable]);
        assert_eq!(r("curl -sk https://api"), [Risk::TlsDisabled]);
        assert_eq!(
            r("NODE_TLS_REJECT_UNAUTHORIZED=0 npm test"),
            [Risk::TlsDisabled]
        );
        assert_eq!(r("git push --force origin main"), [Risk::ForcePushMain]);
        assert!(r("git push --force origin feature/x").is_empty());
        assert!(r("curl -s https://api | jq .").is_empty());
        assert!(r("cargo test -k").is_empty());
    }
}
