//! Which lines of a command's output say what went wrong, and how to shorten them without losing it.
//!
//! A failed build or deploy prints many lines, and the one a person would want remembered is rarely the
//! first or the last: `collect2: error: ld returned 1 exit status` and Gradle's `FAILURE: Build failed with
//! an exception.` only say *that* something failed, while the line that says *what* (`undefined reference
//! to …`, `… checksum mismatch …`, `[SSL: CERTIFICATE_VERIFY_FAILED]`) sits in between. These rules score
//! lines by the signs of a specific error that tools share (error codes, exception and status names,
//! failure phrases, `file:line` locations) and mark tools' generic closing lines, so the card keeps the
//! informative lines, a few, and keeps their distinctive tokens even when a long line has to be cut.

use regex::Regex;
use std::sync::LazyLock;

/// Tools' lines that only say that something failed, not what: build-tool banners, linker and make
/// trailers, "see above" pointers. Chosen only when nothing more specific was printed.
static GENERIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^(?:
            failure:\ build\ failed\ with\ an\ exception
          | build\ failed\b
          | \*\ what\ went\ wrong
          | \*\ try:
          | execution\ failed\ for\ task
          | failed\ to\ execute\ goal
          | collect2:\ error:\ ld\ returned
          | .*\breturned\ \d+\ exit\ status
          | g?make(?:\[\d+\])?:\ \*\*\*
          | error:\ could\ not\ compile
          | error:\ aborting\ due\ to
          | error:\ test\ failed
          | error:\ failed\ to\ push\ some\ refs
          | error:\ recipe\ `
          | for\ more\ information\ about\ this\ error
          | traceback\ \(most\ recent\ call\ last\)
          | the\ above\ exception\ was\ the\ direct\ cause
          | during\ handling\ of\ the\ above\ exception
          | (?:error:\ )?process\ completed\ with\ exit\ code
          | command\ failed\ with\ exit\ code
          | .*\bexited\ with\ (?:code|status)\ \d+\s*$
          | \d+\ errors?\ (?:generated|found)\.?$
          | found\ \d+\ errors?\b
          | fail(?:ed|ure)?[.!]?$
          | error[.!:]?$
          | \S+\ aborted!$
        )",
    )
    .expect("constant regex")
});

/// Lines that frame an error rather than state it: stack frames, source echoed under a compiler message,
/// gutters and carets, hints.
static FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^\s*(?:\d+\s*\||\|\s|\||\^|at\s|File\s"|\.\.\.\s*$|#\d+\s|=\s*(?:help|note):|hint:|help:|note:)"#,
    )
    .expect("constant regex")
});

/// Words that name what failed, across tools and languages.
static PHRASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)undefined (?:reference|symbol)|unresolved (?:reference|import|external|symbol)|cannot find|can't find|could not find|not found|no such|does(?: not|n't) exist|already exists|mismatch|denied|refused|timed out|deadline|exceeded|conflict|deadlock|out of memory|unable to|could not resolve|cannot resolve|invalid|not allowed|forbidden|unauthori[sz]ed|incompatible|not supported|is not defined|has no attribute|cannot borrow|cannot move|does not live long enough|mismatched types|violates|duplicate|missing|requires? |overflow|segmentation fault|core dumped|\bkilled\b|aborted|panicked|assertion|not (?:concurrency-)?safe|does not conform|expected .{1,80}(?:found|got|but)",
    )
    .expect("constant regex")
});

/// An error code: `error[E0502]`, `TS2304`, `GH006`, `ORA-00942`.
static CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\berror\[[A-Z]?\d{3,5}\]|\b[A-Z]{2,5}-?\d{3,5}\b").expect("constant regex")
});

/// A name of an exception or error type (`KeyError`, `SSLCertVerificationError`), not the bare word.
static EXCEPTION_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Z][A-Za-z0-9]*[a-z0-9](?:Error|Exception)\b").expect("constant regex")
});

/// A status word in CamelCase that ends in a failure (`ImagePullBackOff`, `OOMKilled`,
/// `DeadlineExceeded`, `AccessDenied`).
static STATUS_CAMEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:[A-Z][A-Za-z0-9]*[a-z0-9]|[A-Z]{2,})(?:BackOff|Killed|Failed|Failure|Denied|Refused|Evicted|Exceeded|NotFound|Timeout|TimedOut|Conflict|Mismatch|Invalid|Unavailable|Unauthorized|Forbidden|Rejected|Aborted|Crashed)\b",
    )
    .expect("constant regex")
});

/// A status constant in ALL_CAPS_WITH_UNDERSCORES (`CERTIFICATE_VERIFY_FAILED`, `ERR_MODULE_NOT_FOUND`).
static STATUS_CAPS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+\b").expect("constant regex"));

/// A POSIX-style error name (`ENOENT`, `EACCES`, `ECONNREFUSED`).
static ERRNO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bE[A-Z]{4,}\b").expect("constant regex"));
/// All-caps words that start with E and are not error names.
const NOT_ERRNO: [&str; 8] = [
    "ERROR",
    "ERRORS",
    "EXCEPTION",
    "EXPECTED",
    "EXITED",
    "ENABLED",
    "ENTRY",
    "EMPTY",
];

/// An HTTP error status as clients and servers print it.
static HTTP_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\bHTTP/[\d.]+\s+[45]\d\d\b|\b(?:status|status code|response code|code)[:= ]+[45]\d\d\b|\b[45]\d\d (?:Bad Request|Unauthorized|Forbidden|Not Found|Method Not Allowed|Conflict|Gone|Unprocessable|Too Many Requests|Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout)",
    )
    .expect("constant regex")
});

/// A tool naming its message an error: `error:`, `ERROR`, `fatal:`, `panic:`.
static DECLARED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:[\w./-]+:\s*)?(?:error|fatal|panic)\b|\berror:|\bERROR\b|\bFATAL\b|\bfatal:",
    )
    .expect("constant regex")
});

/// A source location: `src/a.rs:12:5`, `main.cpp:(.text+0x1f4)`, `schema.ts(7,64)`.
static LOCATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\w./-]+\.\w{1,5}(?::\d+(?::\d+)?|:\(|\(\d+,\d+\))").expect("constant regex")
});

fn errno(l: &str) -> bool {
    ERRNO.find_iter(l).any(|m| !NOT_ERRNO.contains(&m.as_str()))
}

/// Whether a line only says that something failed (a tool's banner or trailer).
pub(super) fn is_generic(line: &str) -> bool {
    GENERIC.is_match(line.trim())
}

/// How much a line says about what went wrong: ≥ 2 names the error, ≤ 0 frames or sums it up.
pub(super) fn score(line: &str) -> i32 {
    let l = line.trim();
    if l.chars().filter(|c| c.is_alphanumeric()).count() < 6 {
        return -5;
    }
    if is_generic(l) {
        return -4;
    }
    let mut s = 0;
    if FRAME.is_match(line) {
        s -= 2;
    }
    if PHRASE.is_match(l) {
        s += 2;
    }
    if CODE.is_match(l) {
        s += 2;
    }
    if EXCEPTION_NAME.is_match(l) {
        s += 2;
    }
    if STATUS_CAMEL.is_match(l) || STATUS_CAPS.is_match(l) || errno(l) {
        s += 2;
    }
    if HTTP_STATUS.is_match(l) {
        s += 2;
    }
    if DECLARED.is_match(l) {
        s += 1;
    }
    if LOCATION.is_match(l) {
        s += 1;
    }
    if l.ends_with(':') {
        // `thread 'x' panicked at src/a.rs:3:9:`, `in function `main':`: it introduces the error, on
        // the next line.
        s -= 1;
    }
    s
}

/// The lines that name what went wrong (score ≥ 2), best first (ties: in order), at most `max`.
pub(super) fn informative(lines: &[&str], max: usize) -> Vec<String> {
    let mut scored: Vec<(i32, usize, String)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (score(l), i, l.trim().to_owned()))
        .filter(|(s, _, _)| *s >= 2)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<String> = Vec::new();
    for (_, _, l) in scored {
        if !out.iter().any(|o| o == &l) {
            out.push(l);
        }
        if out.len() == max {
            break;
        }
    }
    out
}

/// Whether a line of a command that succeeded reports a failure status (a `kubectl get pods` row in
/// `CrashLoopBackOff`, a log line with `ECONNREFUSED` or `CERTIFICATE_VERIFY_FAILED`).
pub(super) fn reports_status(line: &str) -> bool {
    STATUS_CAMEL.is_match(line)
        || errno(line)
        || STATUS_CAPS
            .find_iter(line)
            .any(|m| is_failure_constant(m.as_str()))
}

/// A constant that names a failure: it ends in one (`CERTIFICATE_VERIFY_FAILED`, `LOCK_TIMEOUT`) or is
/// an `ERR_…` code; `ERROR_LOG` or `MAX_RETRIES` are settings, not statuses.
fn is_failure_constant(w: &str) -> bool {
    const ENDS: [&str; 13] = [
        "FAIL",
        "FAILED",
        "FAILURE",
        "ERROR",
        "DENIED",
        "REFUSED",
        "TIMEOUT",
        "INVALID",
        "MISMATCH",
        "EXCEEDED",
        "FOUND",
        "UNAVAILABLE",
        "REJECTED",
    ];
    w.starts_with("ERR_")
        || w.rsplit('_')
            .next()
            .is_some_and(|last| ENDS.contains(&last))
}

/// The tokens of a text that identify an error: codes, exception, status and errno names, bracketed
/// tags (`[SSL: …]`), HTTP statuses.
fn key_tokens(text: &str) -> Vec<String> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for re in [
        &*CODE,
        &*EXCEPTION_NAME,
        &*STATUS_CAMEL,
        &*STATUS_CAPS,
        &*HTTP_STATUS,
    ] {
        found.extend(
            re.find_iter(text)
                .map(|m| (m.start(), m.as_str().to_owned())),
        );
    }
    found.extend(
        ERRNO
            .find_iter(text)
            .filter(|m| !NOT_ERRNO.contains(&m.as_str()))
            .map(|m| (m.start(), m.as_str().to_owned())),
    );
    found.sort();
    let mut out: Vec<String> = Vec::new();
    for (_, t) in found {
        if !out.iter().any(|o| o.contains(&t)) {
            out.push(t);
        }
    }
    out
}

/// [`super::clip`], but the distinctive tokens of the part cut off (an error code, a status name at the
/// end of a long exception line) are kept after the cut, up to about 60 more characters.
pub(super) fn clip_keeping(s: &str, max_chars: usize) -> String {
    let clipped = super::clip(s, max_chars);
    if clipped == s {
        return clipped;
    }
    let head = clipped.trim_end_matches('…');
    let rest = s.get(head.len()..).unwrap_or("");
    let mut extra = String::new();
    for t in key_tokens(rest) {
        if head.contains(&t) || extra.contains(&t) {
            continue;
        }
        if extra.chars().count() + t.chars().count() > 60 {
            break;
        }
        extra.push(' ');
        extra.push_str(&t);
    }
    if extra.is_empty() {
        clipped
    } else {
        format!("{head} …{extra}")
    }
}

/// Lines that only bring names into scope (an item of Go's `import (…)` block is a quoted path on its
/// own): left out of a written file's gist.
static IMPORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^(?:import\s|import\(|from\s+\S+\s+import\s|use\s|package\s|#include\b|#!|extern crate\s|using\s|require\(|(?:const|let|var)\s+\w+\s*=\s*require\(|(?:\w+\s+)?"[^"]*"\s*$)"#)
        .expect("constant regex")
});

/// What a newly written file holds, short: its lines past imports and blank or punctuation-only ones,
/// joined with ` ⏎ ` and cut at `max_chars`, so a small config or migration is kept whole and a larger
/// file by its first definitions (not only its first line, usually an import).
pub(super) fn gist(content: &str, max_chars: usize) -> String {
    let lines: Vec<&str> = content
        .lines()
        .map(str::trim)
        .filter(|l| l.chars().any(char::is_alphanumeric))
        .collect();
    let kept: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !IMPORT.is_match(l))
        .collect();
    let kept = if kept.is_empty() { lines } else { kept };
    super::clip(&super::squash(&kept.join(" ⏎ ")), max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_score_below_the_lines_that_name_the_error() {
        let linker = "main.cpp:(.text+0x1f4): undefined reference to `World::tick(double)'";
        assert!(is_generic("collect2: error: ld returned 1 exit status"));
        assert!(is_generic("FAILURE: Build failed with an exception."));
        assert!(is_generic("gmake[2]: *** [Makefile:12: app] Error 1"));
        assert!(score(linker) >= 2);
        assert!(score("collect2: error: ld returned 1 exit status") < 0);
        assert!(score("   at com.acme.Foo.bar(Foo.java:12)") < 2);
        assert!(score("error[E0499]: cannot borrow `x` as mutable more than once") >= 4);
        assert!(score("Error response from daemon: HTTP/1.1 403 Forbidden") >= 4);
        let lines = [
            "Linking CXX executable app",
            "/usr/bin/ld: app.o: in function `main':",
            linker,
            "collect2: error: ld returned 1 exit status",
        ];
        assert_eq!(informative(&lines, 2), vec![linker.to_owned()]);
    }

    #[test]
    fn status_words_are_recognised() {
        assert!(reports_status("api-5f6d 0/1 CrashLoopBackOff 4 2m"));
        assert!(reports_status("worker-1 0/1 OOMKilled 1 9m"));
        assert!(reports_status("connect ECONNREFUSED 127.0.0.1:5432"));
        assert!(reports_status("ssl: SSL_HANDSHAKE_FAILED"));
        assert!(!reports_status("web-1 1/1 Running 0 3d"));
        assert!(!reports_status("MAX_CONNECTIONS=20 ERROR_LOG=/var/log/x"));
    }

    #[test]
    fn a_long_line_keeps_its_error_code_past_the_cut() {
        let long = format!(
            "requests.exceptions.ConnectionError: {} (Caused by NewConnectionError('[Errno 111] ECONNREFUSED'))",
            "x".repeat(150)
        );
        let c = clip_keeping(&long, 100);
        assert!(c.contains("ECONNREFUSED"), "{c}");
        assert!(c.chars().count() < 180, "{c}");
        assert_eq!(clip_keeping("short", 100), "short");
    }

    #[test]
    fn a_written_file_is_summed_up_past_its_imports() {
        let g = gist(
            "import os\nfrom x import y\n\nRETRIES = 3\nTIMEOUT_S = 10\n",
            100,
        );
        assert_eq!(g, "RETRIES = 3 ⏎ TIMEOUT_S = 10");
        assert_eq!(gist("import os\n", 100), "import os");
    }
}
