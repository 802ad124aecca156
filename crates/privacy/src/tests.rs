//! Fake secrets are assembled at runtime (`cat`) so that secret scanners do not flag this file.

use super::*;
use serde_json::json;

fn cat(parts: &[&str]) -> String {
    parts.concat()
}

fn clean(s: &str) -> (String, Report) {
    let (c, r) = redactor().clean_str(s);
    (c.into_owned(), r)
}

fn marker(kind: &str) -> String {
    format!("[REDACTED:{kind}]")
}

#[track_caller]
fn assert_untouched(s: &str) {
    let (c, r) = redactor().clean_str(s);
    assert!(matches!(c, Cow::Borrowed(_)), "changed: {s:?} -> {c:?}");
    assert!(r.is_clean(), "{s:?}: {r:?}");
}

/// `secret` is embedded in `template` at `{}`; expects exactly it replaced by the kind's marker.
#[track_caller]
fn assert_redacts(template: &str, secret: &str, kind: &str) {
    let input = template.replace("{}", secret);
    let (out, report) = clean(&input);
    let want = template.replace("{}", &marker(kind));
    assert_eq!(out, want, "input: {input:?}");
    if secret.len() >= 4 {
        assert!(!out.contains(secret), "secret survived in {out:?}");
    }
    assert_eq!(report.secrets, template.matches("{}").count(), "{input:?}");
    // Cleaning is idempotent: a second pass finds nothing.
    assert_untouched(&out);
}

// ---------- fake keys ----------

fn anthropic_key() -> String {
    cat(&["sk-", "ant-", "api03-", &"Xy7_kLm9-Qr2".repeat(8), "AA"])
}
fn openai_proj_key() -> String {
    cat(&["sk-", "proj-", &"aB3dE5fG7h_J-".repeat(10)])
}
fn openai_legacy_key() -> String {
    cat(&[
        "sk-",
        "aB3dE5fG7hJ9kL1m",
        "T3Blbk",
        "FJ",
        "nO2pQ4rS6tU8vW0xYz1aB2c",
    ])
}
fn github_classic() -> String {
    cat(&["gh", "p_", &"aB3d".repeat(9)])
}
fn github_fine_grained() -> String {
    cat(&["github_", "pat_", "11ABCDEFG0", &"aB3d_".repeat(16)])
}
fn aws_key_id() -> String {
    cat(&["AKIA", "IOSFODNN7", "EXAMPLE"])
}
fn aws_secret_key() -> String {
    cat(&["wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYEXAMPLEKEY"])
}
fn slack_bot() -> String {
    cat(&[
        "xo",
        "xb-",
        "1234567890-1234567890123-",
        "aB3dE5fG7hJ9kL1mN2oP4qR6",
    ])
}
fn stripe_live() -> String {
    cat(&["sk_", "live_", "4eC39HqLyjWDarjtT1zdp7dc"])
}
fn google_key() -> String {
    let body: String = "SyD-aB3dE5fG7hJ9kL1mN2oP4qR6sT8uV0wXyZ"
        .chars()
        .take(35)
        .collect();
    cat(&["AI", "za", &body])
}
fn gitlab_pat() -> String {
    cat(&["gl", "pat-", "xY3zA_bC5dE-fG7hI9jK"])
}
fn npm_key() -> String {
    cat(&["np", "m_", &"aB3d".repeat(9)])
}
fn hf_key() -> String {
    cat(&["h", "f_", "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH"])
}
fn jwt() -> String {
    cat(&[
        "eyJ",
        "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        ".",
        "eyJ",
        "zdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ",
        ".",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ])
}
fn pem() -> String {
    cat(&[
        "-----BEGIN ",
        "RSA PRIVATE KEY-----\n",
        "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2\n",
        "q7oFvK9sVb3+Qw/ZxT1mLp0==\n",
        "-----END RSA ",
        "PRIVATE KEY-----",
    ])
}

// ---------- Report ----------

#[test]
fn report_add_and_is_clean() {
    let mut r = Report::default();
    assert!(r.is_clean());
    r.add(Report {
        private_spans: 1,
        secrets: 2,
    });
    r += Report {
        private_spans: 0,
        secrets: 3,
    };
    assert_eq!(
        r,
        Report {
            private_spans: 1,
            secrets: 5
        }
    );
    assert!(!r.is_clean());
}

// ---------- <private> ----------

#[test]
fn private_single_span() {
    let (out, n) = strip_private("keep <private>drop me</private> this");
    assert_eq!(out, "keep  this");
    assert_eq!(n, 1);
}

#[test]
fn private_multiple_multiline_case_insensitive() {
    let s = "a<private>x\ny\n</private>b<PRIVATE>z</Private>c<private note=\"why\">w</private >d";
    let (out, report) = clean(s);
    assert_eq!(out, "abcd");
    assert_eq!(
        report,
        Report {
            private_spans: 3,
            secrets: 0
        }
    );
}

#[test]
fn private_unclosed_drops_to_end() {
    let (out, n) = strip_private("visible <private>the rest\nis gone");
    assert_eq!(out, "visible ");
    assert_eq!(n, 1);
}

#[test]
fn private_nested_spans_fail_closed() {
    let (out, n) = strip_private("a<private>b<private>c</private>d</private>e");
    assert_eq!(out, "ae");
    assert_eq!(n, 1);
    let (out, _) = strip_private("a<private>b<private>c</private>d");
    assert_eq!(out, "a");
}

#[test]
fn private_stray_close_and_lookalikes_untouched() {
    assert_untouched("no span here </private> at all");
    assert_untouched("<private_key>path</private_key> <privateKey/> private data");
    let (out, n) = strip_private("plain");
    assert!(matches!(out, Cow::Borrowed(_)));
    assert_eq!(n, 0);
}

#[test]
fn private_with_unicode_around() {
    let (out, n) = strip_private("日本語<private>秘密 🔑</private>テキスト ✓");
    assert_eq!(out, "日本語テキスト ✓");
    assert_eq!(n, 1);
}

#[test]
fn private_span_hides_secret_and_is_counted_separately() {
    let s = format!("<private>{}</private> API_KEY=abc123", anthropic_key());
    let (out, report) = clean(&s);
    assert_eq!(out, format!(" API_KEY={}", marker("env_secret")));
    assert_eq!(
        report,
        Report {
            private_spans: 1,
            secrets: 1
        }
    );
}

// ---------- provider token formats ----------

#[test]
fn short_keys_with_strong_prefixes_redacted() {
    assert_redacts(
        "{}",
        &cat(&["sk-", "ant-", "test-secret-1"]),
        "anthropic_key",
    );
    assert_redacts("{}", &cat(&["sk-", "proj-", "abc123def"]), "openai_key");
    assert_redacts(
        "{}",
        &cat(&["gh", "p_", "abcdEFGH12345678"]),
        "github_token",
    );
}

#[test]
fn anthropic_key_redacted() {
    assert_redacts(
        "export ANTHROPIC_API_KEY={}\n",
        &anthropic_key(),
        "anthropic_key",
    );
    assert_redacts("key is {}.", &anthropic_key(), "anthropic_key");
    let oauth = cat(&["sk-", "ant-", "oat01-", &"Zq9_x".repeat(10)]);
    assert_redacts("token {} here", &oauth, "anthropic_key");
}

#[test]
fn openai_keys_redacted() {
    assert_redacts("OPENAI_API_KEY={}", &openai_proj_key(), "openai_key");
    assert_redacts(
        "client = OpenAI(api_key=\"{}\")",
        &openai_legacy_key(),
        "openai_key",
    );
    let svc = cat(&["sk-", "svcacct-", &"Ab1-Cd2_".repeat(6)]);
    assert_redacts("{}", &svc, "openai_key");
}

#[test]
fn github_tokens_redacted() {
    assert_redacts(
        "git clone https://x-access-token:{}@github.com/o/r",
        &github_classic(),
        "github_token",
    );
    for prefix in ["gho_", "ghu_", "ghs_", "ghr_"] {
        let t = cat(&[prefix, &"Zx9Y".repeat(9)]);
        assert_redacts("token: {}", &t, "github_token");
    }
    assert_redacts(
        "GH_TOKEN={} gh pr list",
        &github_fine_grained(),
        "github_token",
    );
}

#[test]
fn aws_access_key_and_secret_redacted() {
    assert_redacts("aws_access_key_id = {}", &aws_key_id(), "aws_access_key");
    let temp = cat(&["ASIA", "QWERTYUIOP123456"]);
    assert_redacts("\"AccessKeyId\": \"{}\"", &temp, "aws_access_key");
    assert_redacts(
        "[default]\naws_secret_access_key = {}\n",
        &aws_secret_key(),
        "aws_secret",
    );
    assert_redacts(
        "export AWS_SECRET_ACCESS_KEY={}",
        &aws_secret_key(),
        "aws_secret",
    );
    assert_redacts(
        "{\"SecretAccessKey\": \"{}\"}",
        &aws_secret_key(),
        "aws_secret",
    );
}

#[test]
fn slack_tokens_and_webhooks_redacted() {
    assert_redacts("SLACK={}", &slack_bot(), "slack_token");
    for p in ["xoxa-", "xoxp-", "xoxr-", "xoxs-"] {
        assert_redacts(
            "use {} now",
            &cat(&["xo", &p[2..], "2-1234-abcdEFGH1234"]),
            "slack_token",
        );
    }
    let path = cat(&["T00000000/", "B00000000/", "aB3dE5fG7hJ9kL1mN2oP4qR6"]);
    assert_redacts(
        "curl -X POST https://hooks.slack.com/services/{} -d x",
        &path,
        "slack_webhook",
    );
}

#[test]
fn stripe_keys_redacted_publishable_kept() {
    assert_redacts("stripe.api_key = '{}'", &stripe_live(), "stripe_key");
    let restricted = cat(&["rk_", "live_", "51Habc", "DEF123ghi456"]);
    assert_redacts("{}", &restricted, "stripe_key");
    let test = cat(&["sk_", "test_", "4eC39HqLyjWDarjtT1zdp7dc"]);
    assert_redacts("key={}", &test, "stripe_key");
    assert_untouched(&cat(&[
        "Stripe.setPublishableKey(\"pk_",
        "live_",
        "51Habc123\")",
    ]));
}

#[test]
fn google_gitlab_npm_hf_redacted() {
    assert_redacts("?key={}&q=x", &google_key(), "google_api_key");
    assert_redacts(
        "client_secret {}",
        &cat(&["GOC", "SPX-", "aB3dE5fG7hJ9kL1mN2oP4qR6sT8u"]),
        "google_oauth",
    );
    assert_redacts("PRIVATE-TOKEN: {}", &gitlab_pat(), "gitlab_token");
    assert_redacts(
        "//registry.npmjs.org/:_authToken={}",
        &npm_key(),
        "npm_token",
    );
    assert_redacts(
        "huggingface-cli login --token {}",
        &hf_key(),
        "huggingface_token",
    );
    let pypi = cat(&["pypi-", "AgEIcHlwaS5vcmc", &"aB3d-_".repeat(10)]);
    assert_redacts("password = {}", &pypi, "pypi_token");
    let sg = cat(&["SG", ".", "aB3dE5fG7hJ9kL1mN2oP4q", ".", &"xY9z".repeat(11)]);
    assert_redacts("{}", &sg, "sendgrid_key");
}

#[test]
fn jwt_redacted() {
    assert_redacts("id_token: {}", &jwt(), "jwt");
    assert_redacts("cookie session={}; path=/", &jwt(), "jwt");
}

#[test]
fn pem_private_keys_replaced_whole() {
    assert_redacts("before\n{}\nafter", &pem(), "private_key");
    let openssh = cat(&[
        "-----BEGIN OPENSSH ",
        "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH ",
        "PRIVATE KEY-----",
    ]);
    assert_redacts("{}", &openssh, "private_key");
    // Escaped newlines, as in a service-account JSON file read as text.
    let escaped = pem().replace('\n', "\\n");
    assert_redacts("{\"private_key\": \"{}\\n\"}", &escaped, "private_key");
}

#[test]
fn pem_truncated_fails_closed() {
    let head = cat(&[
        "-----BEGIN ",
        "PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7",
    ]);
    let (out, r) = clean(&format!("$ head -3 key.pem\n{head}"));
    assert_eq!(out, format!("$ head -3 key.pem\n{}", marker("private_key")));
    assert_eq!(r.secrets, 1);
}

// ---------- headers ----------

#[test]
fn bearer_tokens_redacted() {
    assert_redacts("Authorization: Bearer {}", "xyz", "bearer_token");
    assert_redacts(
        "curl -H 'Authorization: Bearer {}' https://api.example.com",
        "abc123def456",
        "bearer_token",
    );
    assert_redacts(
        "{\"authorization\": \"bearer {}\"}",
        "opaque-token-value",
        "bearer_token",
    );
    assert_redacts("sent Bearer {} upstream", "a1b2c3d4e5f6", "bearer_token");
    // A JWT keeps its more specific kind.
    assert_redacts("Authorization: Bearer {}", &jwt(), "jwt");
}

#[test]
fn basic_auth_redacted() {
    // "user:pass"
    assert_redacts("Authorization: Basic {}", "dXNlcjpwYXNz", "basic_auth");
    assert_redacts(
        "header Basic {} sent",
        "YWxhZGRpbjpvcGVuc2VzYW1l",
        "basic_auth",
    );
    assert_redacts("curl -u admin:{} https://x", "hunter2", "basic_auth");
    assert_redacts("curl --user=admin:{}", "hunter2", "basic_auth");
}

#[test]
fn other_authorization_values_redacted() {
    assert_redacts("Authorization: token {}", "abc123", "auth_header");
    assert_redacts("Proxy-Authorization: {}", "c2VjcmV0", "auth_header");
}

// ---------- URLs ----------

#[test]
fn url_password_redacted_keeping_scheme_user_host() {
    assert_redacts(
        "DATABASE_URL=postgres://app:{}@db:5432/x",
        "s3cr3t",
        "url_password",
    );
    assert_redacts("redis://:{}@cache:6379/0", "pw-123", "url_password");
    assert_redacts(
        "mongodb+srv://user:{}@cluster0.example.net/db, https://bob:{}@example.com/",
        "p4ss",
        "url_password",
    );
}

#[test]
fn url_query_token_redacted() {
    assert_redacts(
        "GET /callback?access_token={}&state=1",
        "abc123xyz",
        "env_secret",
    );
}

// ---------- assignments ----------

#[test]
fn env_assignments_redact_value_only() {
    assert_redacts("API_KEY={}", "abc", "env_secret");
    assert_redacts("export DB_PASSWORD=\"{}\"", "x y", "env_secret");
    assert_redacts("SECRET_TOKEN: '{}'", "v", "env_secret");
    assert_redacts(
        "{\"password\": \"{}\", \"user\": \"bob\"}",
        "v",
        "env_secret",
    );
    assert_redacts("{'client_secret': '{}'}", "abc", "env_secret");
    assert_redacts("db:\n  password: {}\n  host: db", "hunter2", "env_secret");
    assert_redacts("PASSWORD={} # prod", "abc", "env_secret");
    assert_redacts("MY_TOKEN={}\r\nOTHER=1\r\n", "tok-1", "env_secret");
    assert_redacts("apiKey: \"{}\"", "abc", "env_secret");
    assert_redacts("spring.datasource.password={}", "pa55", "env_secret");
    assert_redacts("AUTH={}", "abcdef", "env_secret");
    assert_redacts("NEXTAUTH_SECRET={}", "abcdef", "env_secret");
    assert_redacts("MAX_TOKENS=12\nGITHUB_TOKEN={}", "abcdef", "env_secret");
    assert_redacts("x_api_key = \"{}\"", "abcdef", "env_secret");
    assert_redacts("PRIVATE_KEY='{}'", "abcdef", "env_secret");
    assert_redacts("DB_CREDENTIALS={}", "u:p", "env_secret");
    assert_redacts("mysql_pwd={}", "abcdef", "env_secret");
    assert_redacts("db_passwd: {}", "abcdef", "env_secret");
    assert_redacts("ENCRYPTION_KEY={}", "abcdef", "env_secret");
    assert_redacts(
        "password_hash = \"{}\"",
        "$argon2id$v=19$m=65536$c2FsdA$aGFzaA",
        "env_secret",
    );
    assert_redacts("PIN_PASSWORD={}", "123456789", "env_secret");
    // SCREAMING_CASE names are env files: a value that would look like code elsewhere is still a literal.
    assert_redacts("PASSWORD={}", "password", "env_secret");
    assert_redacts("SECRET_KEY={}", "my.dotted.secret", "env_secret");
    assert_redacts("DB_PASSWORD: {}", "string", "env_secret");
}

#[test]
fn env_shell_forms() {
    assert_redacts("DB_PASSWORD={} psql -h db", "hunter2", "env_secret");
    assert_redacts("mysql --password={} -u root", "hunter2", "env_secret");
    assert_redacts("export TOKEN={}; ./deploy", "abcdef", "env_secret");
    assert_redacts("A_TOKEN={} && B_SECRET={}", "abcdef", "env_secret");
    assert_redacts("echo \"API_KEY={}\" >> .env", "abcdef", "env_secret");
}

#[test]
fn env_in_escaped_and_raw_json_text() {
    assert_redacts(r#"{\"password\": \"{}\"}"#, "hunter2", "env_secret");
    // JSON source text whose string holds a .env file: the literal `\n` ends the value.
    assert_redacts(
        r#"{"content": "API_KEY={}\nDEBUG=1"}"#,
        "abcdef",
        "env_secret",
    );
    assert_redacts(r#"{"content": "password: {}\nx"}"#, "abcdef", "env_secret");
}

#[test]
fn specific_kind_wins_over_env() {
    assert_redacts(
        "ANTHROPIC_API_KEY=\"{}\"",
        &anthropic_key(),
        "anthropic_key",
    );
    assert_redacts("GITHUB_TOKEN: {}", &github_classic(), "github_token");
}

// ---------- negatives ----------

#[test]
fn ordinary_words_and_numbers_untouched() {
    for s in [
        "The tokenizer splits text into tokens.",
        "max_tokens = 4096",
        "max_tokens=4096",
        "\"max_tokens\": 4096,",
        "MAX_TOKENS: 200000",
        "input_tokens: 123",
        "token_count = 12",
        "timeout_secs=30",
        "see src/tokens.rs and src/auth/mod.rs",
        "ask-anthony about the sk-learn port",
        "sk-internationalization",
        "author: Jane Doe",
        "Bearer tokens expire after an hour.",
        "the bearer of bad news",
        "A basic understanding. Basic auth is enabled.",
        "Basic usage",
        "secrets: inherit",
        "password_hash_algorithm = argon2",
        "auth: true",
        "password: \"\"",
        "password:",
        "token: null",
        "api_key = None",
        "PWD=/home/user/project",
        "OLDPWD=/tmp",
        "TOKEN_URL=https://auth.example.com/oauth/token",
        "PASSWORD_FILE=/run/secrets/db",
        "token_type: bearer",
        "AWS_ACCESS_KEY_ID=",
        "credential.helper=store",
        "TOKENIZERS_PARALLELISM=false",
        "npm_config_registry=https://registry.npmjs.org/",
        "from huggingface_hub import hf_hub_download",
        "ghp_short",
        "AKIA is the prefix of an access key",
        "http://localhost:8080/path@v2",
        "git@github.com:org/repo.git",
        "ssh://git@example.com:22/repo",
        "docker run -u 1000:1000 img",
        "git push -u origin main",
        "https://example.com/?page=2&sort=asc",
    ] {
        assert_untouched(s);
    }
}

#[test]
fn hashes_and_ids_untouched() {
    assert_untouched("commit 3f786850e387550fdab836ed7e6dc881de23001b (HEAD -> main)");
    assert_untouched("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_untouched("id 123e4567-e89b-12d3-a456-426614174000");
    assert_untouched("session_id: 123e4567-e89b-12d3-a456-426614174000");
}

#[test]
fn code_that_handles_secrets_untouched() {
    for s in [
        "let token = next_token();",
        "let token = tok;",
        "const token = process.env.TOKEN;",
        "const password = req.body.password",
        "api_key = os.getenv(\"API_KEY\")",
        "api_key = os.environ[\"API_KEY\"]",
        "client(api_key=api_key, timeout=30)",
        "password=password",
        "fn f(token: &str) -> Result<String> {",
        "    pub token: Option<String>,",
        "token: string;",
        "  token: string",
        "if token == expected {",
        "token := getToken()",
        "self.token = token",
        "char *token = strtok(line, \" \");",
        "for token in tokens {",
        "password = getpass.getpass()",
        "log(\"token: \" + tok + \"!\")",
        "headers[\"Authorization\"] = \"Bearer \" + token",
        "{\"Authorization\": \"Bearer \" + token}",
        "authorization: Option<HeaderValue>,",
        "\"password=%s\" % pw",
        "SELECT * FROM users WHERE password = ?",
        "PASSWORD=$DB_PASSWORD",
        "PASSWORD=${DB_PASSWORD}",
        "token: ${{ secrets.GH_TOKEN }}",
        "API_KEY=<your-api-key>",
        "Authorization: Bearer $TOKEN",
        "TOKEN=$(cat ~/.token)",
        "password: ********",
        "Resource: !Ref SecretToken",
    ] {
        assert_untouched(s);
    }
}

// ---------- unicode ----------

#[test]
fn unicode_around_matches() {
    assert_redacts("Clé ✓ {} — fin ✓", &anthropic_key(), "anthropic_key");
    assert_redacts("鍵は{}です", &github_classic(), "github_token");
    assert_redacts("PASSWORD={}", "pässwörd✓", "env_secret");
    assert_redacts(
        "mot de passe → password: {}\nsuite…",
        "sécurité",
        "env_secret",
    );
    assert_redacts("«Bearer {}»", "a1b2c3d4e5f6", "bearer_token");
}

#[test]
fn many_secrets_in_one_string() {
    let s = format!(
        "{} and {} and API_KEY=zzz\nand <private>p</private> {}",
        stripe_live(),
        aws_key_id(),
        hf_key()
    );
    let (out, r) = clean(&s);
    assert_eq!(
        out,
        format!(
            "{} and {} and API_KEY={}\nand  {}",
            marker("stripe_key"),
            marker("aws_access_key"),
            marker("env_secret"),
            marker("huggingface_token")
        )
    );
    assert_eq!(
        r,
        Report {
            private_spans: 1,
            secrets: 4
        }
    );
}

// ---------- JSON ----------

#[test]
fn json_walks_nested_values() {
    let mut v = json!({
        "session_id": "abc",
        "tool_name": "Bash",
        "tool_input": {
            "command": format!("curl -H 'Authorization: Bearer {}' x", "abc123def456"),
            "env": [["GITHUB_TOKEN", github_classic()], {"note": "<private>hidden</private>ok"}],
        },
        "tool_response": { "stdout": format!("API_KEY=abc\nkey {}", anthropic_key()) },
        "usage": { "input_tokens": 1234, "max_tokens": 4096, "tokens": ["a", "b"] },
        "flag": true,
        "nothing": null,
    });
    let report = redactor().clean_json(&mut v);
    assert_eq!(
        report,
        Report {
            private_spans: 1,
            secrets: 4
        }
    );
    assert_eq!(
        v["tool_input"]["command"],
        format!(
            "curl -H 'Authorization: Bearer {}' x",
            marker("bearer_token")
        )
    );
    assert_eq!(v["tool_input"]["env"][0][1], marker("github_token"));
    assert_eq!(v["tool_input"]["env"][1]["note"], "ok");
    assert_eq!(
        v["tool_response"]["stdout"],
        format!(
            "API_KEY={}\nkey {}",
            marker("env_secret"),
            marker("anthropic_key")
        )
    );
    assert_eq!(
        v["usage"],
        json!({ "input_tokens": 1234, "max_tokens": 4096, "tokens": ["a", "b"] })
    );
    assert_eq!(v["session_id"], "abc");
}

#[test]
fn json_secret_named_keys_replaced_whole() {
    let mut v = json!({
        "password": "correct horse battery staple",
        "Passwd": 12345678,
        "client-secret": "abc",
        "API_KEY": "k",
        "apiKey": "k",
        "accessKey": "k",
        "private_key": "k",
        "Authorization": "Basic whatever",
        "x-api-key": "k",
        "Cookie": "sid=1",
        "credentials": ["one", 2, {"user": "u", "token": "t"}],
        "auth": { "username": "bob", "pass_word_hint": "x", "token": "t2" },
        "token_type": "Bearer",
        "token_count": 10,
        "tokenizer": "bpe",
        "author": "me",
        "secret_enabled": true,
        "password_empty": "",
        "nested": [{"refreshToken": "r"}, [{"SECRET": "s"}]],
    });
    let report = redactor().clean_json(&mut v);
    let r = marker("secret_field");
    assert_eq!(
        v,
        json!({
            "password": r,
            "Passwd": r,
            "client-secret": r,
            "API_KEY": r,
            "apiKey": r,
            "accessKey": r,
            "private_key": r,
            "Authorization": r,
            "x-api-key": r,
            "Cookie": r,
            "credentials": [r, r, {"user": "u", "token": r}],
            "auth": { "username": "bob", "pass_word_hint": "x", "token": r },
            "token_type": "Bearer",
            "token_count": 10,
            "tokenizer": "bpe",
            "author": "me",
            "secret_enabled": true,
            "password_empty": "",
            "nested": [{"refreshToken": r}, [{"SECRET": r}]],
        })
    );
    assert_eq!(report.secrets, 16);
    // Idempotent: markers are left alone on a second pass.
    assert!(redactor().clean_json(&mut v).is_clean());
}

#[test]
fn json_empty_secret_value_kept() {
    let mut v = json!({"password": "", "token": " ", "api_key": false});
    assert!(redactor().clean_json(&mut v).is_clean());
    assert_eq!(v, json!({"password": "", "token": " ", "api_key": false}));
}

#[test]
fn json_secret_keys_redacted_order_kept() {
    let key = anthropic_key();
    let other = format!("token={}", anthropic_key());
    let mut v = json!({
        "first": 1,
        key.clone(): "value",
        "nested": [{ other.clone(): {"password": "p"} }],
        "last": 2,
    });
    let report = redactor().clean_json(&mut v);
    let text = v.to_string();
    assert!(!text.contains(&key) && !text.contains(&other), "{text}");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys[0], "first");
    assert_eq!(keys[3], "last");
    assert!(keys[1].contains("[REDACTED:"), "{keys:?}");
    assert_eq!(v["first"], 1);
    assert_eq!(v[keys[1].as_str()], "value");
    assert!(report.secrets >= 3);
    // Idempotent.
    assert!(redactor().clean_json(&mut v).is_clean());
}

#[test]
fn json_keys_redacted_to_the_same_marker_both_kept() {
    let (a, b) = (anthropic_key(), format!("{}x", anthropic_key()));
    let mut v = json!({ a: 1, b: 2 });
    redactor().clean_json(&mut v);
    let map = v.as_object().unwrap();
    assert_eq!(map.len(), 2, "{v}");
    let values: Vec<&Value> = map.values().collect();
    assert_eq!(values, [&json!(1), &json!(2)]);
}

#[test]
fn json_plain_and_secret_named_keys_unchanged() {
    let mut v = json!({ "password": "x", "api_key": "y", "file_path": "/a/b" });
    redactor().clean_json(&mut v);
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["password", "api_key", "file_path"]);
}

// ---------- API details ----------

#[test]
fn clean_string_in_place() {
    let mut s = String::from("password: hunter2");
    let r = redactor().clean_string(&mut s);
    assert_eq!(s, format!("password: {}", marker("env_secret")));
    assert_eq!(r.secrets, 1);
}

#[test]
fn redactor_is_sync_and_default() {
    fn assert_sync<T: Sync + Send>() {}
    assert_sync::<Redactor>();
    let r = Redactor::default();
    let (out, _) = r.clean_str("API_KEY=abc");
    assert_eq!(out, format!("API_KEY={}", marker("env_secret")));
    assert!(format!("{r:?}").contains("env_secret"));
}

#[test]
fn every_rule_kind_is_listed() {
    for rule in &redactor().rules {
        assert!(
            KINDS.contains(&rule.kind),
            "{} missing from KINDS",
            rule.kind
        );
    }
    for kind in ["auth_header", "bearer_token", "basic_auth", "secret_field"] {
        assert!(KINDS.contains(&kind));
    }
}

#[test]
fn name_words_split() {
    assert_eq!(name_words("APIKey"), ["api", "key"]);
    assert_eq!(name_words("_authToken"), ["auth", "token"]);
    assert_eq!(
        name_words("AWS_SECRET_ACCESS_KEY"),
        ["aws", "secret", "access", "key"]
    );
    assert_eq!(name_words("x-api-key"), ["x", "api", "key"]);
    assert_eq!(name_words("OAuth2Token"), ["o", "auth2", "token"]);
}

#[test]
fn one_megabyte_of_clean_text_stays_borrowed() {
    let chunk = "fn tokenize(input: &str) -> Vec<Token> { let max_tokens = 4096; }\n\
                 The author visited https://example.com/docs?page=2 and read src/auth/tokens.rs.\n\
                 commit 3f786850e387550fdab836ed7e6dc881de23001b — ünïcödé ✓ 日本語\n\
                 let token = next_token(); // basic idea: a bearer of tokens\n";
    let mut text = String::with_capacity(1 << 20);
    while text.len() < 1 << 20 {
        text.push_str(chunk);
    }
    let (out, report) = redactor().clean_str(&text);
    assert!(matches!(out, Cow::Borrowed(_)));
    assert!(report.is_clean());

    let prose =
        "Plain prose without anything that looks sensitive at all, just words. ".repeat(15_000);
    let (out, report) = redactor().clean_str(&prose);
    assert!(matches!(out, Cow::Borrowed(_)));
    assert!(report.is_clean());
}

#[test]
fn secret_at_end_of_large_input_found() {
    let mut text = "ordinary line of text with a tokenizer\n".repeat(30_000);
    text.push_str(&format!("AWS key {}", aws_key_id()));
    let (out, r) = redactor().clean_str(&text);
    assert!(matches!(out, Cow::Owned(_)));
    assert!(out.ends_with(&format!("AWS key {}", marker("aws_access_key"))));
    assert_eq!(r.secrets, 1);
}

/// Shuffled fragments of everything above: never panics (slicing stays on char boundaries), never lets a
/// planted secret through, and a second pass changes nothing.
#[test]
fn mixed_fragments_are_idempotent() {
    let secrets = [
        anthropic_key(),
        openai_proj_key(),
        github_classic(),
        aws_key_id(),
        stripe_live(),
        google_key(),
        npm_key(),
        hf_key(),
        jwt(),
    ];
    let fragments = [
        " ",
        "\n",
        "\r\n",
        "=",
        ": ",
        "\"",
        "'",
        "\\n",
        "\\\"",
        "token",
        "API_KEY",
        "password",
        "Bearer ",
        "Basic ",
        "Authorization: ",
        "https://u:",
        "@h/",
        "<private>",
        "</private>",
        "é",
        "日本",
        "✓",
        "let x = f();",
        "[REDACTED:",
        "]",
        "-----BEGIN PRIVATE KEY-----",
        "-----END PRIVATE KEY-----",
        "abc123",
        "4096",
        "$VAR",
        "#",
        ";",
        "&&",
        "|",
        "(",
        ")",
        "{",
        "}",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..2_000 {
        let mut s = String::new();
        let mut planted = Vec::new();
        for _ in 0..next(24) + 1 {
            if next(8) == 0 {
                let secret = &secrets[next(secrets.len())];
                // Surround with separators so the secret is a whole token, as it is in real text.
                s.push(' ');
                s.push_str(secret);
                s.push(' ');
                planted.push(secret.clone());
            } else {
                s.push_str(fragments[next(fragments.len())]);
            }
        }
        let (once, _) = clean(&s);
        for secret in &planted {
            assert!(!once.contains(secret.as_str()), "{s:?} -> {once:?}");
        }
        let (twice, r) = clean(&once);
        assert_eq!(once, twice, "not idempotent for {s:?}");
        assert!(r.is_clean(), "{once:?}: {r:?}");
    }
}

#[test]
fn hook_payload_shapes() {
    let aws = cat(&["AKIA", "QWERTYUIOPASDFGH"]);
    let openai = cat(&["sk-", "proj-", "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz9Xc8Vb7Nm6"]);
    let github = cat(&["gh", "p_", "abcdefghijklmnopqrstuvwxyz0123456789"]);
    let anthropic = cat(&["sk-", "ant-", "api03-", &"x".repeat(40)]);
    let mut v = json!([
        {"session_id": "s", "cwd": "/home/dev/acme-api", "prompt": format!("deploy with key {openai} please <private>diary</private>")},
        {"tool_name": "Bash", "tool_input": {"command": format!("export AWS_ACCESS_KEY_ID={aws} && ./deploy.sh")},
         "tool_response": {"stdout": format!("using token {github}\ndeployed"), "stderr": "", "interrupted": false}},
        {"tool_name": "Edit", "tool_input": {"file_path": "/home/dev/acme-api/.env", "old_string": "",
         "new_string": format!("GITHUB_TOKEN={github}\nPORT=8080")}},
        {"prompt": format!("use {anthropic} <private>my secret plan</private> now"), "tool_input": {"password": "hunter2"}},
    ]);
    let report = redactor().clean_json(&mut v);
    let all = v.to_string();
    for secret in [&aws, &openai, &github, &anthropic] {
        assert!(!all.contains(secret.as_str()), "{all}");
    }
    assert!(!all.contains("diary") && !all.contains("my secret plan") && !all.contains("hunter2"));
    assert!(
        all.contains("./deploy.sh") && all.contains("PORT=8080") && all.contains("GITHUB_TOKEN=")
    );
    assert_eq!(
        report,
        Report {
            private_spans: 2,
            secrets: 6
        }
    );
}

#[test]
fn json_text_cleaned_structurally_and_rows_walked() {
    let key = anthropic_key();
    let mut list =
        serde_json::to_string(&[format!("password: {key}\"]"), "src/a.rs".into()]).unwrap();
    let report = redactor().clean_json_text(&mut list);
    assert!(report.secrets >= 1);
    let items: Vec<String> = serde_json::from_str(&list).expect("still JSON");
    assert_eq!(items.len(), 2);
    assert!(!list.contains(&key));
    let mut plain = format!("use {key} here");
    redactor().clean_json_text(&mut plain);
    assert!(!plain.contains(&key));
    let mut row =
        json!({ "id": 7, "narrative": format!("k={key}"), "files_read": format!("[\"{key}\"]") });
    let report = redactor().clean_row(row.as_object_mut().unwrap());
    assert_eq!(report.secrets, 2);
    assert_eq!(row["id"], 7);
    assert!(!row.to_string().contains(&key));
}
