//! Privacy filtering for claude-mem.
//!
//! Everything a hook delivers (prompts, tool inputs, tool outputs) passes through here before it is written
//! to SQLite, logged, or sent to an LLM. Two things happen, in this order:
//!
//! 1. `<private>…</private>` spans are dropped. The user asked for them not to be remembered, so nothing of
//!    them survives, not even a marker; an unclosed tag drops the rest of the string (fail closed).
//! 2. Secrets are replaced by `[REDACTED:<kind>]`. The kind stays so that a memory still says *that* a key
//!    was there ("set ANTHROPIC_API_KEY") without saying *what* it was.
//!
//! The rules lean two ways at once. A secret that slips through is stored forever and shipped to a third
//! party, so every well-known token format is matched by its prefix wherever it appears. But a memory built
//! from mangled code is worth little, so the generic rules (assignments, bearer tokens) only fire on shapes
//! that config files and shells use, not on the code that merely *handles* secrets
//! (`let token = next_token();`). See [`Redactor`] for the assignment rule.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

#[cfg(test)]
mod tests;

/// Every kind that can appear in a `[REDACTED:<kind>]` marker. Stable: tests, metrics and users grep for them.
pub const KINDS: &[&str] = &[
    "private_key",
    "anthropic_key",
    "openai_key",
    "github_token",
    "gitlab_token",
    "slack_token",
    "slack_webhook",
    "stripe_key",
    "google_api_key",
    "google_oauth",
    "npm_token",
    "pypi_token",
    "huggingface_token",
    "sendgrid_key",
    "aws_access_key",
    "aws_secret",
    "jwt",
    "url_password",
    "auth_header",
    "bearer_token",
    "basic_auth",
    "env_secret",
    "secret_field",
];

const MARKER_OPEN: &str = "[REDACTED:";

/// What was removed, for logs/metrics (never the secret itself).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub private_spans: usize,
    pub secrets: usize,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.private_spans == 0 && self.secrets == 0
    }

    pub fn add(&mut self, other: Report) {
        self.private_spans += other.private_spans;
        self.secrets += other.secrets;
    }
}

impl std::ops::AddAssign for Report {
    fn add_assign(&mut self, other: Report) {
        self.add(other);
    }
}

/// Decides whether one regex match is a secret, and which bytes of it to replace (often a capture group, so
/// that `Bearer `, the variable name or the URL's host stay readable). `None` means "looked like one, isn't".
type Check = fn(&Captures<'_>, &'static str) -> Option<(Range<usize>, &'static str)>;

struct Rule {
    kind: &'static str,
    re: Regex,
    check: Check,
}

/// Compiled patterns; cheap to share (`Sync`). `Redactor::default()` / `Redactor::new()` give the built-in
/// rules.
///
/// # The assignment rule (`env_secret`)
///
/// An assignment is redacted when its NAME has a secret word as one of its parts — split on `_ - .` and
/// camelCase, so `DB_PASSWORD`, `apiKey`, `client-secret`, `_authToken`, `x.api_key` count but `tokenizer`,
/// `author` and `max_tokens` do not — and its VALUE has the shape a literal has in `.env`, shell, YAML, TOML,
/// INI or JSON text:
///
/// * a quoted string (`"…"`, `'…'`, or `\"…\"` inside escaped JSON): always a literal, so always redacted
///   (only the inside; the quotes stay so that JSON text stays JSON);
/// * an unquoted value that runs to the end of the line (a trailing `# comment` is allowed) and has no
///   spaces, parentheses, brackets, braces, commas or semicolons: `password: hunter2`, `API_KEY=abc`;
/// * in the tight shell form `NAME=value` (no spaces around `=`), also a value ended by whitespace, `;`,
///   `&` or `|`: `DB_PASSWORD=x psql …`, `--token=x`.
///
/// Why so narrow: in source code the right-hand side of `token = …` is almost always an expression that
/// *fetches* the secret (`next_token();`, `os.getenv("TOKEN")`, `self.token`, `Option<String>,`), and
/// redacting it would corrupt the code that memories are made of without protecting anything. Literals are
/// what leak. For the same reason these values are never treated as secrets: empty, purely numeric up to
/// 8 digits (`max_token_length=4096`), `true/false/yes/no/on/off/null/none/nil/undefined`, placeholders
/// (`$VAR`, `${VAR}`, `{{ x }}`, `%s`, `<your-key>`, `****`), and, unquoted after a name that is not
/// SCREAMING_CASE (so code, not `.env`), dotted paths (`process.env.TOKEN`), type names and the name itself.
///
/// A name whose last part only describes the secret (`TOKEN_URL`, `PASSWORD_FILE`, `auth_method`,
/// `token_type`, `password_hash_algorithm`, `access_key_id`) holds no secret and is left alone; `PWD` and
/// `OLDPWD` are the shell's working directory. A `password_hash` *is* redacted: hashes can be cracked.
pub struct Redactor {
    /// One cheap pass that says "no rule can match here", so that clean text (the common case) is not
    /// scanned once per rule.
    prefilter: Regex,
    rules: Vec<Rule>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field(
                "rules",
                &self.rules.iter().map(|r| r.kind).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in privacy pattern compiles")
}

fn rule(kind: &'static str, pattern: &str, check: Check) -> Rule {
    Rule {
        kind,
        re: compile(pattern),
        check,
    }
}

/// Name parts that mark an assignment or JSON key as holding a secret; kept in one place so that the
/// prefilter, the assignment regex and the word test agree.
const NAME_KEYWORDS: &str = r"secret|token|passw(?:or)?d|pwd|passphrase|cred|auth|api[_-]?key|(?:access|private|signing|encryption|master)[_-]?key";

impl Redactor {
    pub fn new() -> Self {
        // A quoted name or value may sit inside escaped JSON (`\"password\": \"x\"`), hence the `\\?`.
        let name_tail = r#"(?:\\?["'])?[ \t]*[:=][ \t]*(?:\\?["'])?"#;
        // An unquoted assignment value: no spaces, quotes, brackets or separators (see `Redactor`).
        let bare = r#"[^\s"'`(),;&|\\<>\[\]{}]+"#;
        // The end of a line: real, escaped inside JSON source text (`\n`), or the end of a string literal.
        let eol = r#"(?:[ \t]*(?:#[^\n]*)?\r?$|[ \t]*\\[nrt]|[ \t]*["'`])"#;
        let eol_or_term = format!(r"(?:{eol}|[\s;&|])");
        let rules = vec![
            // Whole block, header lines included; an unterminated block (a truncated `head id_rsa`) takes
            // everything that still looks like key material.
            rule(
                "private_key",
                r"(?s)-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=:,\s\\-]*)",
                check_plain,
            ),
            // api03, admin01, oat01 (Claude Code OAuth) … all share the prefix.
            rule(
                "anthropic_key",
                r"(?-u:\b)sk-ant-[A-Za-z0-9_-]{8,}",
                check_plain,
            ),
            // Project/service-account/admin keys carry a typed prefix; legacy keys are `sk-` + 48 alphanumerics.
            // The legacy branch admits no `-` so that kebab-case words after `sk-` are not keys.
            rule(
                "openai_key",
                r"(?-u:\b)sk-(?:(?:proj|svcacct|admin|None)-(?P<typed>[A-Za-z0-9_-]{8,})|(?P<legacy>[A-Za-z0-9]{20,})(?-u:\b))",
                check_openai,
            ),
            rule(
                "github_token",
                r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,})(?-u:\b)",
                check_plain,
            ),
            rule(
                "gitlab_token",
                r"(?-u:\b)(?:gl(?:pat|ptt|dt|rt|soat|cbt|imt|ft|oas|agent)-[A-Za-z0-9_.-]{16,}|GR1348941[A-Za-z0-9_-]{20,})",
                check_plain,
            ),
            rule(
                "slack_token",
                r"(?-u:\b)(?:xox[abeoprs]-[A-Za-z0-9-]{10,}|xapp-[0-9]+-[A-Za-z0-9-]{10,})",
                check_plain,
            ),
            // The path is the credential; the host says what it was.
            rule(
                "slack_webhook",
                r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9_/-]{10,})",
                check_plain,
            ),
            // `pk_` keys are publishable by design and stay.
            rule(
                "stripe_key",
                r"(?-u:\b)(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9+/=]{20,})",
                check_plain,
            ),
            rule(
                "google_api_key",
                r"(?-u:\b)AIza[0-9A-Za-z_-]{35}",
                check_plain,
            ),
            rule(
                "google_oauth",
                r"(?-u:\b)(?:GOCSPX-[A-Za-z0-9_-]{20,}|ya29\.[A-Za-z0-9_-]{20,})",
                check_plain,
            ),
            // Exactly 36 alphanumerics: `npm_config_registry` and friends have underscores.
            rule(
                "npm_token",
                r"(?-u:\b)npm_[A-Za-z0-9]{36}(?-u:\b)",
                check_plain,
            ),
            rule(
                "pypi_token",
                r"(?-u:\b)pypi-AgE[A-Za-z0-9_-]{50,}",
                check_plain,
            ),
            rule(
                "huggingface_token",
                r"(?-u:\b)hf_[A-Za-z0-9]{30,}(?-u:\b)",
                check_plain,
            ),
            rule(
                "sendgrid_key",
                r"(?-u:\b)SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
                check_plain,
            ),
            // Access key IDs (long-term AKIA, temporary ASIA, …): not secret alone, but half of a pair.
            rule(
                "aws_access_key",
                r"(?-u:\b)(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?-u:\b)",
                check_plain,
            ),
            // Header and payload are base64url JSON objects, so both start `eyJ`; the signature may be empty.
            rule(
                "jwt",
                r"(?-u:\b)eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
                check_plain,
            ),
            // Only the password: scheme, user and host are what make the line useful.
            rule(
                "url_password",
                r#"(?i)(?-u:\b)[a-z][a-z0-9+.-]*://[^\s:@/?#\[\]"'<>]*:(?P<s>[^\s@/?#"'<>]+)@"#,
                check_url_password,
            ),
            // The header name's three real-world casings are spelled out: a case-insensitive 13-letter
            // literal defeats the literal prefilter and costs a full automaton pass over clean text.
            rule(
                "auth_header",
                &format!(
                    r#"(?-u:\b)(?:[Aa]uthorization|AUTHORIZATION){name_tail}(?i:(?P<scheme>bearer|basic|token|digest|negotiate|ntlm|apikey|api-key)[ \t]+)?(?P<s>[^\s"'`,;\\()<>\[\]{{}}]+)(?P<next>[(<\[{{])?"#
                ),
                check_auth_header,
            ),
            rule(
                "bearer_token",
                r"(?i)(?-u:\b)bearer[ \t]+(?P<s>[A-Za-z0-9._~+/-]{8,}=*)",
                check_bearer,
            ),
            rule(
                "basic_auth",
                r"(?-u:\b)[Bb]asic[ \t]+(?P<s>(?:[A-Za-z0-9+/]{4}){2,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)(?:[^A-Za-z0-9+/=]|$)",
                check_basic,
            ),
            // `curl -u user:pass`, `--user=user:pass`.
            rule(
                "basic_auth",
                r#"(?:^|[ \t])(?:-u|--user)[ \t=]+["']?[^\s:"'$]+:(?P<s>[^\s"']+)"#,
                check_user_password,
            ),
            // ~/.aws/credentials, `aws configure`, and the SecretAccessKey of STS JSON.
            rule(
                "aws_secret",
                &format!(r"(?i)secret_?access_?key{name_tail}(?P<s>[A-Za-z0-9/+=]{{16,}})"),
                check_plain,
            ),
            rule(
                "env_secret",
                &format!(
                    r#"(?m)(?-u:\b)(?P<name>[A-Za-z0-9_.-]*(?i:{NAME_KEYWORDS})[A-Za-z0-9_.-]*)(?:\\?["'])?(?:=(?P<tbare>{bare}){eol_or_term}|[ \t]*[:=][ \t]*(?:"(?P<dq>(?:[^"\\\n]|\\.)*)"|'(?P<sq>(?:[^'\\\n]|\\.)*)'|\\"(?P<eq>[^"\\\n]*)\\"|(?P<bare>{bare}){eol}))"#
                ),
                check_env,
            ),
        ];
        let prefilter = compile(&format!(
            r"-----BEGIN|sk-|sk_|rk_|whsec_|gh[pousr]_|github_pat_|gl[a-z]{{2,5}}-|GR1348941|xox|xapp-|hooks\.slack\.com|AIza|GOCSPX-|ya29\.|npm_|pypi-|hf_|SG\.|AKIA|ASIA|ABIA|ACCA|A3T|eyJ|://|-u[ \t]|--user|(?i:bearer|basic|{NAME_KEYWORDS})"
        ));
        Redactor { prefilter, rules }
    }

    /// Drops <private> spans then redacts secrets in one string.
    pub fn clean_str<'a>(&self, s: &'a str) -> (Cow<'a, str>, Report) {
        let (text, private_spans) = strip_private(s);
        let mut report = Report {
            private_spans,
            secrets: 0,
        };
        let text = match text {
            Cow::Borrowed(b) => {
                let (t, n) = self.redact_secrets(b);
                report.secrets = n;
                t
            }
            Cow::Owned(o) => {
                let (t, n) = self.redact_secrets(&o);
                report.secrets = n;
                match t {
                    Cow::Borrowed(_) => Cow::Owned(o),
                    Cow::Owned(t) => Cow::Owned(t),
                }
            }
        };
        (text, report)
    }

    /// Cleans an owned string in place; for callers that already hold a `String` and want no copy when it
    /// is clean.
    pub fn clean_string(&self, s: &mut String) -> Report {
        let (cleaned, report) = self.clean_str(s);
        if let Cow::Owned(new) = cleaned {
            *s = new;
        }
        report
    }

    /// Only the secret rules, without `<private>` handling; returns how many secrets were replaced.
    pub fn redact_secrets<'a>(&self, s: &'a str) -> (Cow<'a, str>, usize) {
        if !self.prefilter.is_match(s) {
            return (Cow::Borrowed(s), 0);
        }
        let mut text = Cow::Borrowed(s);
        let mut count = 0;
        for rule in &self.rules {
            if let Some((new, n)) = apply(rule, &text) {
                text = Cow::Owned(new);
                count += n;
            }
        }
        (text, count)
    }

    /// Same, walking every string in a JSON value in place (object values, array items, nested). An object
    /// value whose KEY names a secret (password, passwd, secret, token, api_key, apikey, access_key,
    /// private_key, client_secret, authorization, credentials, …, case-insensitive, `-`/`_` variants) is
    /// replaced whole when it is a string/number. Keys are cleaned like values (a secret used as a key
    /// is as much a secret); order is kept, and a cleaned key that collides with another gets a `#n`
    /// suffix so no entry is lost.
    ///
    /// An array under such a key has its string/number items replaced the same way (`"tokens"` is not such
    /// a key, `"credentials"` is); an object under it is walked normally, since its own keys say more.
    pub fn clean_json(&self, v: &mut Value) -> Report {
        let mut report = Report::default();
        self.walk(v, &mut report);
        report
    }

    /// A text that may hold JSON (lists and payloads kept as text in SQLite and in exports): walked as
    /// JSON when it is an object or array, so a redaction can never break its syntax, and written back
    /// only when something changed; cleaned as plain text otherwise.
    pub fn clean_json_text(&self, s: &mut String) -> Report {
        let t = s.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            if let Ok(mut v) = serde_json::from_str::<Value>(s) {
                let report = self.clean_json(&mut v);
                if !report.is_clean() {
                    if let Ok(text) = serde_json::to_string(&v) {
                        *s = text;
                    }
                }
                return report;
            }
        }
        self.clean_string(s)
    }

    /// Every string of a row (an export's line, a memory's fields) through [`Self::clean_json_text`];
    /// keys and non-string values are left as they are. The one path for rows that enter from outside.
    pub fn clean_row(&self, row: &mut serde_json::Map<String, Value>) -> Report {
        let mut report = Report::default();
        for value in row.values_mut() {
            match value {
                Value::String(s) => report.add(self.clean_json_text(s)),
                Value::Array(_) | Value::Object(_) => report.add(self.clean_json(value)),
                _ => {}
            }
        }
        report
    }

    fn walk(&self, v: &mut Value, report: &mut Report) {
        match v {
            Value::String(s) => report.add(self.clean_string(s)),
            Value::Array(items) => {
                for item in items {
                    self.walk(item, report);
                }
            }
            Value::Object(map) => {
                self.clean_keys(map, report);
                for (key, value) in map.iter_mut() {
                    if !is_secret_key(key) {
                        self.walk(value, report);
                        continue;
                    }
                    match value {
                        Value::Array(items) => {
                            for item in items {
                                if !redact_scalar(item, report) {
                                    self.walk(item, report);
                                }
                            }
                        }
                        other => {
                            if !redact_scalar(other, report) {
                                self.walk(other, report);
                            }
                        }
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

impl Redactor {
    /// Rewrites the object's keys that carry a secret or a `<private>` span; untouched (no copy) when
    /// none does.
    fn clean_keys(&self, map: &mut serde_json::Map<String, Value>, report: &mut Report) {
        if !map
            .keys()
            .any(|k| matches!(self.clean_str(k).0, Cow::Owned(_)))
        {
            return;
        }
        let old = std::mem::take(map);
        for (key, value) in old {
            let (clean, r) = self.clean_str(&key);
            report.add(r);
            let mut key = clean.into_owned();
            if map.contains_key(&key) {
                let mut n = 2;
                while map.contains_key(&format!("{key}#{n}")) {
                    n += 1;
                }
                key = format!("{key}#{n}");
            }
            map.insert(key, value);
        }
    }
}

/// Replaces a string/number that sits under a secret-named key. Returns false when the value is not a
/// scalar to replace (so the caller walks it instead).
fn redact_scalar(v: &mut Value, report: &mut Report) -> bool {
    match v {
        Value::Number(_) => {}
        // Empty strings and our own markers carry nothing; leaving them keeps the walk idempotent.
        Value::String(s) if s.trim().is_empty() || is_marker(s.trim()) => return true,
        Value::String(_) => {}
        _ => return false,
    }
    *v = Value::String(format!("{MARKER_OPEN}secret_field]"));
    report.secrets += 1;
    true
}

/// A process-wide default instance (std::sync::LazyLock).
pub fn redactor() -> &'static Redactor {
    static DEFAULT: LazyLock<Redactor> = LazyLock::new(Redactor::new);
    &DEFAULT
}

/// Tags are matched case-insensitively and may carry attributes; `<private_key>` and `<privateKey>` (XML
/// config) are not tags of ours.
static PRIVATE_TAG: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)<(?P<close>/?)private(?:\s[^<>]*)?>"));

/// Removes `<private>…</private>` spans and returns how many top-level spans went.
///
/// Nesting is counted, so `<private>a<private>b</private>c</private>` loses `c` too; an unclosed tag drops
/// everything to the end (the user meant it private, and a missing close tag is no reason to store it); a
/// stray closing tag is left as text, since nothing before it was marked.
pub fn strip_private(s: &str) -> (Cow<'_, str>, usize) {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut kept_from = 0;
    let mut spans = 0;
    for caps in PRIVATE_TAG.captures_iter(s) {
        let Some(tag) = caps.get(0) else { continue };
        let closing = caps.name("close").is_some_and(|c| !c.is_empty());
        if !closing {
            if depth == 0 {
                out.push_str(&s[kept_from..tag.start()]);
                spans += 1;
            }
            depth += 1;
        } else if depth > 0 {
            depth -= 1;
            if depth == 0 {
                kept_from = tag.end();
            }
        }
    }
    if spans == 0 {
        return (Cow::Borrowed(s), 0);
    }
    if depth == 0 {
        out.push_str(&s[kept_from..]);
    }
    (Cow::Owned(out), spans)
}

/// Runs one rule over `text`; `None` when it changed nothing (so the caller keeps borrowing).
fn apply(rule: &Rule, text: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut last = 0;
    let mut count = 0;
    for caps in rule.re.captures_iter(text) {
        let Some((range, kind)) = (rule.check)(&caps, rule.kind) else {
            continue;
        };
        if range.start < last || range.is_empty() {
            continue;
        }
        if count == 0 {
            out.reserve(text.len() + 32);
        }
        out.push_str(&text[last..range.start]);
        out.push_str(MARKER_OPEN);
        out.push_str(kind);
        out.push(']');
        last = range.end;
        count += 1;
    }
    if count == 0 {
        return None;
    }
    out.push_str(&text[last..]);
    Some((out, count))
}

/// The part to replace: the `s` group when the pattern has one, else the whole match.
fn secret_part<'h>(caps: &Captures<'h>) -> Option<regex::Match<'h>> {
    caps.name("s").or_else(|| caps.get(0))
}

fn check_plain(caps: &Captures<'_>, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    let m = secret_part(caps)?;
    (!is_marker(m.as_str())).then(|| (m.range(), kind))
}

fn check_openai(caps: &Captures<'_>, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    // A bare `sk-` + 20 letters can be a slug (`sk-internationalization`); real legacy keys are random.
    if let Some(legacy) = caps.name("legacy") {
        if !looks_random(legacy.as_str()) {
            return None;
        }
    }
    check_plain(caps, kind)
}

fn check_url_password(
    caps: &Captures<'_>,
    kind: &'static str,
) -> Option<(Range<usize>, &'static str)> {
    let m = caps.name("s")?;
    (!is_marker(m.as_str()) && !is_placeholder(m.as_str())).then(|| (m.range(), kind))
}

const AUTH_SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "token",
    "digest",
    "negotiate",
    "ntlm",
    "apikey",
    "api-key",
];

/// In an `Authorization` header everything after the scheme is a credential, whatever its length; without
/// a scheme the value must look like a literal, not like code reading a header (`authorization: Option<…>`).
fn check_auth_header(
    caps: &Captures<'_>,
    _kind: &'static str,
) -> Option<(Range<usize>, &'static str)> {
    let m = caps.name("s")?;
    let v = m.as_str();
    if is_marker(v) || is_placeholder(v) {
        return None;
    }
    let kind = match caps.name("scheme") {
        Some(scheme) if scheme.as_str().eq_ignore_ascii_case("bearer") => "bearer_token",
        Some(scheme) if scheme.as_str().eq_ignore_ascii_case("basic") => "basic_auth",
        Some(_) => "auth_header",
        None => {
            let scheme_only = AUTH_SCHEMES.iter().any(|s| v.eq_ignore_ascii_case(s));
            if caps.name("next").is_some()
                || scheme_only
                || is_non_secret_value(v)
                || is_code_like(v, "authorization")
            {
                return None;
            }
            "auth_header"
        }
    };
    Some((m.range(), kind))
}

/// Outside a header, "bearer" is also an English word ("Bearer tokens expire"), so the token must look
/// generated: letters and digits, or long and mixed-case.
fn check_bearer(caps: &Captures<'_>, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    let m = caps.name("s")?;
    let v = m.as_str();
    let has_digit = v.bytes().any(|b| b.is_ascii_digit());
    let has_alpha = v.bytes().any(|b| b.is_ascii_alphabetic());
    let token_like = (has_digit && has_alpha) || (v.len() >= 32 && looks_random(v));
    (token_like && !is_marker(v)).then(|| (m.range(), kind))
}

/// Outside a header, "basic" is a common word; a real credential decodes to `user:password`.
fn check_basic(caps: &Captures<'_>, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    let m = caps.name("s")?;
    let decoded = base64_decode(m.as_str())?;
    let printable = decoded.iter().all(|b| (0x20..0x7f).contains(b));
    (printable && decoded.contains(&b':')).then(|| (m.range(), kind))
}

/// `docker run -u 1000:1000` is a uid:gid, not a password.
fn check_user_password(
    caps: &Captures<'_>,
    kind: &'static str,
) -> Option<(Range<usize>, &'static str)> {
    let m = caps.name("s")?;
    let v = m.as_str();
    (!v.starts_with('$') && !is_non_secret_value(v)).then(|| (m.range(), kind))
}

fn check_env(caps: &Captures<'_>, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    let name = caps.name("name")?.as_str();
    if !is_secret_name(name) {
        return None;
    }
    if let Some(m) = caps
        .name("dq")
        .or_else(|| caps.name("sq"))
        .or_else(|| caps.name("eq"))
    {
        let v = m.as_str();
        return (!is_non_secret_value(v) && !is_string_gap(v)).then(|| (m.range(), kind));
    }
    // The regex already required the line end (or, in the tight `NAME=value` form, a separator) after it.
    let m = caps.name("tbare").or_else(|| caps.name("bare"))?;
    let v = m.as_str();
    (!is_non_secret_value(v) && !is_code_like(v, name)).then(|| (m.range(), kind))
}

/// `"token: " + tok + "!"` puts the *gap between two literals* where a quoted value would be.
fn is_string_gap(v: &str) -> bool {
    v.starts_with(char::is_whitespace)
        && v.trim_start()
            .starts_with(['+', ',', '.', '%', ')', '&', '|'])
}

fn is_marker(v: &str) -> bool {
    v.strip_prefix(MARKER_OPEN)
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|kind| {
            !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
}

/// Already redacted by a more specific rule (`"private_key": "[REDACTED:private_key]\\n"`): leave it, so
/// the specific kind survives and a second pass changes nothing.
fn only_markers(v: &str) -> bool {
    let mut rest = v;
    let mut found = false;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace());
        if let Some(after) = rest
            .strip_prefix("\\n")
            .or_else(|| rest.strip_prefix("\\r"))
            .or_else(|| rest.strip_prefix("\\t"))
        {
            rest = after;
            continue;
        }
        if rest.is_empty() {
            return found;
        }
        let Some(end) = rest.find(']') else {
            return false;
        };
        if !is_marker(&rest[..=end]) {
            return false;
        }
        found = true;
        rest = &rest[end + 1..];
    }
}

/// Values that carry no secret whatever the name says.
fn is_non_secret_value(v: &str) -> bool {
    let t = v.trim();
    if t.is_empty() || only_markers(t) || is_short_number(t) || is_placeholder(t) {
        return true;
    }
    const WORDS: &[&str] = &[
        "true",
        "false",
        "null",
        "none",
        "nil",
        "undefined",
        "yes",
        "no",
        "on",
        "off",
    ];
    WORDS.iter().any(|w| t.eq_ignore_ascii_case(w))
}

/// Purely numeric and at most 8 digits: counts, limits, ports, timeouts (`max_tokens=4096`). Longer numbers
/// can be PINs or account secrets.
fn is_short_number(t: &str) -> bool {
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let mut n = 0;
    let mut dots = 0;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => n += 1,
            b'.' => dots += 1,
            _ => return false,
        }
    }
    (1..=8).contains(&n) && dots <= 1
}

/// References to a secret rather than the secret: shell/template variables, format directives, SQL
/// parameters, angle-bracket fill-ins and masks.
fn is_placeholder(t: &str) -> bool {
    let b = t.as_bytes();
    let ident = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            && !s.as_bytes()[0].is_ascii_digit()
    };
    if let Some(rest) = t.strip_prefix('$') {
        if ident(rest) || (!rest.is_empty() && rest.bytes().all(|c| c.is_ascii_digit())) {
            return true;
        }
        if (rest.starts_with('{') && rest.ends_with('}') && !rest[1..].contains('{'))
            || (rest.starts_with('(') && rest.ends_with(')'))
        {
            return true;
        }
    }
    if t.starts_with("{{") && t.ends_with("}}") {
        return true;
    }
    if b.len() >= 3 && b[0] == b'%' && b[b.len() - 1] == b'%' && ident(&t[1..t.len() - 1]) {
        return true;
    }
    // printf-style directives: %s, %v, %-10s
    if b.len() >= 2
        && b[0] == b'%'
        && b[b.len() - 1].is_ascii_alphabetic()
        && b[1..b.len() - 1]
            .iter()
            .all(|c| matches!(c, b'-' | b'+' | b' ' | b'#' | b'.' | b'0'..=b'9'))
    {
        return true;
    }
    if t == "?" || (t.starts_with('<') && t.ends_with('>') && !t[1..].contains('<')) {
        return true;
    }
    let masked = t.chars().all(|c| matches!(c, '*' | '•' | '…' | '.'))
        || (t.len() >= 3 && t.chars().all(|c| c == 'x' || c == 'X'));
    masked
}

/// Unquoted values that are code, not literals: operators (`==`, `=>`, `:=`, `!Ref`), and — unless the
/// name is SCREAMING_CASE, which is how `.env` files and shells spell variables — dotted paths
/// (`self.token`, `process.env.TOKEN`), type names (`token: string`) and the variable's own name
/// (`password=password` passes a variable through).
fn is_code_like(v: &str, name: &str) -> bool {
    if v.starts_with(['=', ':', '>', '!', '?']) {
        return true;
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        return false;
    }
    let is_ident = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$')
            && !s.as_bytes()[0].is_ascii_digit()
    };
    if v.contains('.') && v.split('.').all(is_ident) {
        return true;
    }
    const TYPES: &[&str] = &[
        "string",
        "str",
        "number",
        "int",
        "integer",
        "bool",
        "boolean",
        "float",
        "double",
        "object",
        "any",
        "unknown",
        "bytes",
        "char",
        "text",
        "void",
        "secretstr",
    ];
    if TYPES.iter().any(|t| v.eq_ignore_ascii_case(t)) {
        return true;
    }
    let last = name.rsplit(['.', '-']).next().unwrap_or(name);
    v == name || v == last
}

/// Random-looking: at least two of lowercase, uppercase, digits. Generated keys always are; words are not.
fn looks_random(v: &str) -> bool {
    let lower = v.bytes().any(|b| b.is_ascii_lowercase());
    let upper = v.bytes().any(|b| b.is_ascii_uppercase());
    let digit = v.bytes().any(|b| b.is_ascii_digit());
    usize::from(lower) + usize::from(upper) + usize::from(digit) >= 2
}

/// Strict standard base64 (padded); only used to confirm a `Basic` credential, so no dependency for it.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) || s.is_empty() {
        return None;
    }
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in body.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A name's parts, lowercased: split on anything not alphanumeric and at camelCase humps
/// (`APIKey` → `api`, `key`; `_authToken` → `auth`, `token`).
fn name_words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !cur.is_empty() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                words.push(std::mem::take(&mut cur));
            }
        }
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// A part that is, or ends in, one of these names a secret (`githubtoken`, `dbpassword` count;
/// `tokenizer`, `tokens`, `secrets: inherit` do not: plurals are counts and lists far more often).
const SECRET_WORDS: &[&str] = &[
    "secret",
    "token",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "credential",
    "credentials",
    "creds",
    "auth",
    "apikey",
    "accesskey",
    "privatekey",
    "secretkey",
    "clientsecret",
];
const SECRET_SUFFIXES: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "apikey",
    "accesskey",
    "privatekey",
    "secretkey",
];
/// `<qualifier> key` pairs: `API_KEY`, `access-key`, `signingKey`.
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "access",
    "private",
    "secret",
    "signing",
    "encryption",
    "master",
    "auth",
    "client",
];
/// A last part that says the value is *about* the secret (where it is, what kind, how long) rather than
/// the secret itself.
const DESCRIPTORS: &[&str] = &[
    "url",
    "uri",
    "urls",
    "endpoint",
    "host",
    "hostname",
    "domain",
    "port",
    "file",
    "filename",
    "path",
    "dir",
    "directory",
    "type",
    "kind",
    "mode",
    "method",
    "methods",
    "provider",
    "enabled",
    "disabled",
    "required",
    "name",
    "names",
    "id",
    "ids",
    "header",
    "scheme",
    "length",
    "len",
    "count",
    "size",
    "limit",
    "max",
    "min",
    "budget",
    "ttl",
    "expiry",
    "expires",
    "expiration",
    "lifetime",
    "timeout",
    "at",
    "algorithm",
    "algo",
    "policy",
    "format",
    "env",
    "var",
    "field",
    "location",
    "issuer",
    "audience",
    "strategy",
    "version",
    "usage",
    "helper",
    "store",
    "label",
    "description",
    "prompt",
    "pattern",
    "regex",
];

fn is_secret_name(name: &str) -> bool {
    // The shell's working directory, not a password.
    if name.eq_ignore_ascii_case("pwd") || name.eq_ignore_ascii_case("oldpwd") {
        return false;
    }
    let words = name_words(name);
    let Some(last) = words.last() else {
        return false;
    };
    if words.len() > 1 && DESCRIPTORS.contains(&last.as_str()) {
        return false;
    }
    words.iter().enumerate().any(|(i, w)| {
        let w = w.trim_end_matches(|c: char| c.is_ascii_digit());
        SECRET_WORDS.contains(&w)
            || SECRET_SUFFIXES
                .iter()
                .any(|s| w.len() > s.len() && w.ends_with(s))
            || (w == "key" && i > 0 && KEY_QUALIFIERS.contains(&words[i - 1].as_str()))
    })
}

/// JSON keys also cover HTTP header dumps: `Authorization`, `Cookie`, `Set-Cookie`.
fn is_secret_key(key: &str) -> bool {
    if is_secret_name(key) {
        return true;
    }
    let words = name_words(key);
    let Some(last) = words.last() else {
        return false;
    };
    if words.len() > 1 && DESCRIPTORS.contains(&last.as_str()) {
        return false;
    }
    words
        .iter()
        .any(|w| matches!(w.as_str(), "authorization" | "cookie" | "cookies"))
}
