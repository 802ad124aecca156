//! A Claude Code hook event as the worker accepts it: parsed, checked and keyed before anything is stored.
//!
//! Validation is deliberately narrow: the few fields we rely on must have the right type, everything else
//! is kept verbatim, because every Claude Code release adds fields and unknown events must be stored, not
//! refused.

use crate::project::project_from_cwd;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Events that carry one tool call identified by `tool_use_id`.
const TOOL_EVENTS: &[&str] = &["PreToolUse", "PostToolUse", "PostToolUseFailure"];

#[derive(Debug, Clone, PartialEq)]
pub struct HookEvent {
    /// Canonical PascalCase name (`PostToolUse`), as Claude Code spells it.
    pub event_name: String,
    pub session_id: String,
    pub cwd: String,
    pub project: String,
    pub transcript_path: Option<String>,
    pub tool_name: Option<String>,
    pub prompt: Option<String>,
    pub prompt_id: Option<String>,
    /// SessionEnd's `reason`.
    pub end_reason: Option<String>,
    /// Deduplication key: a redelivered event maps to the same key and is stored once.
    pub event_key: String,
    /// The whole hook JSON, unknown fields included, after privacy filtering.
    pub payload: Map<String, Value>,
    /// What privacy filtering removed (counts only, never the content).
    pub privacy: claude_mem_privacy::Report,
    /// When the hook received the event, Unix ms, when that was before it reached the store (an event
    /// drained from the hook spool after an outage); `None` means now. The store dates the event, its
    /// prompt and its session's activity by it, so an outage does not reorder or re-date history.
    pub received_at_ms: Option<i64>,
    /// `payload` serialized once: hashed for the key and stored as is.
    payload_text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookEventError {
    #[error("unknown hook event name {0:?}: expected letters, digits, '-' or '_' (1-64 chars)")]
    InvalidEventName(String),
    #[error("body is not valid UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    #[error("body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("body must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("missing required field {0:?}")]
    MissingField(&'static str),
    #[error("field {field:?} must be {expected}, got {got}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        got: &'static str,
    },
    #[error("field {0:?} is too long ({1} bytes, at most {2})")]
    TooLong(&'static str, usize, usize),
    #[error("hook_event_name {body:?} does not match the endpoint's event {path:?}")]
    EventMismatch { path: String, body: String },
}

impl HookEventError {
    /// A stable machine-readable code for API answers and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidEventName(_) => "invalid_event_name",
            Self::NotUtf8(_) => "invalid_utf8",
            Self::MalformedJson(_) => "malformed_json",
            Self::NotAnObject(_) => "not_an_object",
            Self::MissingField(_) => "missing_field",
            Self::WrongType { .. } => "wrong_type",
            Self::TooLong(..) => "field_too_long",
            Self::EventMismatch { .. } => "event_mismatch",
        }
    }

    /// Whether the body could not be read at all (400) rather than read but refused (422).
    pub fn is_syntax_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidEventName(_) | Self::NotUtf8(_) | Self::MalformedJson(_)
        )
    }
}

/// `session-start`, `session_start`, `sessionstart`? No: `SessionStart` and its kebab/snake spellings map to
/// `SessionStart`; names already in PascalCase (including events we do not know yet) are kept.
pub fn normalize_event_name(raw: &str) -> Result<String, HookEventError> {
    let valid = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && raw.starts_with(|c: char| c.is_ascii_alphabetic());
    if !valid {
        return Err(HookEventError::InvalidEventName(raw.to_owned()));
    }
    if !raw.contains(['-', '_']) && raw.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Ok(raw.to_owned());
    }
    Ok(raw
        .split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const MAX_ID_LEN: usize = 256;

fn optional_string(
    map: &Map<String, Value>,
    field: &'static str,
    max_len: usize,
) -> Result<Option<String>, HookEventError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > max_len => {
            Err(HookEventError::TooLong(field, s.len(), max_len))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(HookEventError::WrongType {
            field,
            expected: "a string",
            got: type_name(other),
        }),
    }
}

fn required_string(
    map: &Map<String, Value>,
    field: &'static str,
    max_len: usize,
) -> Result<String, HookEventError> {
    optional_string(map, field, max_len)?
        .filter(|s| !s.trim().is_empty())
        .ok_or(HookEventError::MissingField(field))
}

impl HookEvent {
    /// Parses the body posted to `/hooks/{event}` (or read on stdin by `claude-mem hook`).
    pub fn parse(path_event: &str, body: &[u8]) -> Result<Self, HookEventError> {
        let event_name = normalize_event_name(path_event)?;
        let text =
            std::str::from_utf8(body).map_err(|e| HookEventError::NotUtf8(e.valid_up_to()))?;
        let value: Value =
            serde_json::from_str(text).map_err(|e| HookEventError::MalformedJson(e.to_string()))?;
        let mut value = match value {
            Value::Object(map) => Value::Object(map),
            other => return Err(HookEventError::NotAnObject(type_name(&other))),
        };
        // Before anything is read, keyed, stored or logged: <private> spans go, secrets are redacted.
        let privacy = claude_mem_privacy::redactor().clean_json(&mut value);
        let Value::Object(payload) = value else {
            return Err(HookEventError::NotAnObject("a non-object"));
        };

        if let Some(body_event) = optional_string(&payload, "hook_event_name", 64)? {
            if body_event != event_name {
                return Err(HookEventError::EventMismatch {
                    path: event_name,
                    body: body_event,
                });
            }
        }
        let session_id = required_string(&payload, "session_id", MAX_ID_LEN)?;
        let cwd = optional_string(&payload, "cwd", 4096)?.unwrap_or_default();
        let transcript_path = optional_string(&payload, "transcript_path", 4096)?;
        let prompt_id = optional_string(&payload, "prompt_id", MAX_ID_LEN)?;
        let tool_use_id = optional_string(&payload, "tool_use_id", MAX_ID_LEN)?;
        let is_tool_event = TOOL_EVENTS.contains(&event_name.as_str());
        let tool_name = if is_tool_event {
            Some(required_string(&payload, "tool_name", MAX_ID_LEN)?)
        } else {
            optional_string(&payload, "tool_name", MAX_ID_LEN)?
        };
        let prompt = if event_name == "UserPromptSubmit" {
            Some(
                optional_string(&payload, "prompt", usize::MAX)?
                    .ok_or(HookEventError::MissingField("prompt"))?,
            )
        } else {
            None
        };
        let end_reason = if event_name == "SessionEnd" {
            optional_string(&payload, "reason", MAX_ID_LEN)?
        } else {
            None
        };

        let payload_text = serde_json::to_string(&payload).unwrap_or_else(|_| "{}".to_owned());
        let event_key = match (&tool_use_id, is_tool_event) {
            (Some(id), true) => event_key(&event_name, &session_id, id),
            _ => {
                // No natural id: identical content is the same delivery. Key order is kept as received
                // (preserve_order), so a byte-identical redelivery hashes identically.
                let digest = Sha256::digest(payload_text.as_bytes());
                event_key(&event_name, &session_id, &hex::encode(&digest[..16]))
            }
        };

        Ok(Self {
            project: project_from_cwd(&cwd),
            event_name,
            session_id,
            cwd,
            transcript_path,
            tool_name,
            prompt,
            prompt_id,
            end_reason,
            event_key,
            payload,
            privacy,
            received_at_ms: None,
            payload_text,
        })
    }

    pub fn payload_json(&self) -> &str {
        &self.payload_text
    }

    /// Whether this event carries one tool call (PreToolUse, PostToolUse, PostToolUseFailure): then
    /// `tool_name` is always set.
    pub fn is_tool_event(&self) -> bool {
        TOOL_EVENTS.contains(&self.event_name.as_str())
    }
}

/// The dedup key of one delivery: `{event}:{session}:{id}` with `\` and `:` escaped (`\\`, `\:`) in the
/// session and the id, so the key splits back into exactly its parts and two different (session, id)
/// pairs never share one (`a:b` + `c` and `a` + `b:c` did before migration 0003). Event names are
/// `[A-Za-z][A-Za-z0-9]*` and need no escaping. The team store keys events the same way.
pub fn event_key(event_name: &str, session_id: &str, id: &str) -> String {
    format!(
        "{event_name}:{}:{}",
        escape_key_part(session_id),
        escape_key_part(id)
    )
}

/// `s` with `\` and `:` escaped by a backslash (borrowed when there is nothing to escape).
pub fn escape_key_part(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains([':', '\\']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c == ':' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    std::borrow::Cow::Owned(out)
}

/// The properties every input to `HookEvent::parse` must have, checked on one fuzz input: the first line is
/// the endpoint's event name (`/hooks/{event}`), the rest the body (no newline: the whole input is a
/// `PostToolUse` body). Shared by the `hook_event` fuzz target and the test that replays every input the
/// fuzzer ever crashed on (`fuzz/regressions/hook_event/`), so a find stays fixed under `cargo test` too.
pub fn check_fuzz_input(data: &[u8]) -> Result<(), String> {
    let (path_event, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => ("PostToolUse".to_owned(), data),
    };
    let e = match HookEvent::parse(&path_event, body) {
        Ok(e) => e,
        Err(e) if e.code().is_empty() || e.to_string().is_empty() => {
            return Err(format!("refusal without a code or a message: {e:?}"))
        }
        Err(_) => return Ok(()),
    };
    // The dedup key names the event and session, so two sessions can never collide.
    let prefix = format!("{}:{}:", e.event_name, escape_key_part(&e.session_id));
    if !e.event_key.starts_with(&prefix) {
        return Err(format!("key {} does not start with {prefix}", e.event_key));
    }
    if e.session_id.trim().is_empty() || e.project.is_empty() {
        return Err(format!("accepted an empty session or project: {e:?}"));
    }
    // What is stored is the filtered payload, value for value (numbers included: floats round-trip).
    let stored: Value = serde_json::from_str(e.payload_json())
        .map_err(|err| format!("stored payload is not JSON ({err}): {}", e.payload_json()))?;
    if stored != Value::Object(e.payload.clone()) {
        return Err(format!(
            "stored payload differs from the parsed one:\n stored: {stored}\n parsed: {}",
            Value::Object(e.payload.clone())
        ));
    }
    // A redelivery of the same bytes maps to the same key (that is what dedup relies on).
    match HookEvent::parse(&path_event, body) {
        Ok(again) if again.event_key == e.event_key => Ok(()),
        Ok(again) => Err(format!(
            "same input, keys {} and {}",
            e.event_key, again.event_key
        )),
        Err(err) => Err(format!("same input accepted, then refused: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_to_claude_codes_spelling() {
        assert_eq!(
            normalize_event_name("session-start").unwrap(),
            "SessionStart"
        );
        assert_eq!(
            normalize_event_name("post_tool_use").unwrap(),
            "PostToolUse"
        );
        assert_eq!(normalize_event_name("PostToolUse").unwrap(), "PostToolUse");
        assert_eq!(
            normalize_event_name("FutureEvent2").unwrap(),
            "FutureEvent2"
        );
        assert!(normalize_event_name("").is_err());
        assert!(normalize_event_name("../etc").is_err());
        assert!(normalize_event_name("1abc").is_err());
    }

    #[test]
    fn tool_events_key_on_tool_use_id() {
        let body = br#"{"session_id":"s1","cwd":"/x/app","tool_name":"Bash","tool_use_id":"t1","duration_ms":3}"#;
        let a = HookEvent::parse("PostToolUse", body).unwrap();
        let b = HookEvent::parse(
            "PostToolUse",
            br#"{"session_id":"s1","tool_name":"Bash","tool_use_id":"t1","duration_ms":9}"#,
        )
        .unwrap();
        assert_eq!(a.event_key, b.event_key);
        assert_eq!(a.project, "app");
        assert_eq!(a.tool_name.as_deref(), Some("Bash"));
    }

    #[test]
    fn keys_escape_their_separator() {
        let parse = |session: &str, id: &str| {
            let body = serde_json::json!({
                "session_id": session, "cwd": "/x/app", "tool_name": "Bash", "tool_use_id": id
            });
            HookEvent::parse("PostToolUse", body.to_string().as_bytes()).unwrap()
        };
        let a = parse("a:b", "c");
        let b = parse("a", "b:c");
        assert_ne!(a.event_key, b.event_key);
        assert_eq!(a.event_key, "PostToolUse:a\\:b:c");
        assert_eq!(b.event_key, "PostToolUse:a:b\\:c");
        assert_ne!(parse("a\\", "b").event_key, parse("a", "\\b").event_key);
        assert_eq!(
            parse("s1", "t1").event_key,
            "PostToolUse:s1:t1",
            "plain ids are unchanged"
        );
    }

    #[test]
    fn other_events_key_on_content() {
        let a = HookEvent::parse(
            "Stop",
            br#"{"session_id":"s1","last_assistant_message":"a"}"#,
        )
        .unwrap();
        let b = HookEvent::parse(
            "Stop",
            br#"{"session_id":"s1","last_assistant_message":"a"}"#,
        )
        .unwrap();
        let c = HookEvent::parse(
            "Stop",
            br#"{"session_id":"s1","last_assistant_message":"b"}"#,
        )
        .unwrap();
        assert_eq!(a.event_key, b.event_key);
        assert_ne!(a.event_key, c.event_key);
    }

    #[test]
    fn bad_bodies_are_refused_with_a_reason() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("Stop", b"{not json", "malformed_json"),
            ("Stop", b"[1,2]", "not_an_object"),
            ("Stop", b"{\"cwd\":\"/x\"}", "missing_field"),
            ("Stop", b"{\"session_id\":42}", "wrong_type"),
            ("Stop", b"{\"session_id\":\"\"}", "missing_field"),
            ("Stop", b"{\"session_id\":\"s\",\"cwd\":[]}", "wrong_type"),
            ("Stop", b"\xff\xfe{}", "invalid_utf8"),
            ("PostToolUse", b"{\"session_id\":\"s\"}", "missing_field"),
            (
                "UserPromptSubmit",
                b"{\"session_id\":\"s\"}",
                "missing_field",
            ),
            (
                "Stop",
                b"{\"session_id\":\"s\",\"hook_event_name\":\"SessionEnd\"}",
                "event_mismatch",
            ),
            ("no/slash", b"{}", "invalid_event_name"),
        ];
        for (event, body, code) in cases {
            let err = HookEvent::parse(event, body).unwrap_err();
            assert_eq!(
                err.code(),
                *code,
                "{event} {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn secrets_and_private_spans_are_gone_before_anything_else_sees_them() {
        let key = format!("sk-ant-api03-{}", "x".repeat(40));
        let body = format!(
            r#"{{"session_id":"s","prompt":"use {key} <private>my secret plan</private> now","tool_input":{{"password":"hunter2"}}}}"#
        );
        let e = HookEvent::parse("UserPromptSubmit", body.as_bytes()).unwrap();
        let all = e.payload_json();
        assert!(
            !all.contains(&key) && !all.contains("my secret plan") && !all.contains("hunter2"),
            "{all}"
        );
        assert!(
            e.prompt.as_deref().unwrap().contains("[REDACTED"),
            "{:?}",
            e.prompt
        );
        assert!(
            e.privacy.secrets >= 2 && e.privacy.private_spans == 1,
            "{:?}",
            e.privacy
        );
    }

    #[test]
    fn unknown_fields_and_events_are_kept() {
        let e = HookEvent::parse(
            "BrandNewEvent",
            br#"{"session_id":"s","hook_event_name":"BrandNewEvent","shiny":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(e.payload["shiny"]["x"], 1);
        assert_eq!(e.project, "unknown");
    }

    /// Every input the fuzzer ever crashed on, kept minimised in `fuzz/regressions/hook_event/`.
    #[test]
    fn fuzz_regressions_stay_fixed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/regressions/hook_event");
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        inputs.sort();
        assert!(
            !inputs.is_empty(),
            "no regression inputs in {}",
            dir.display()
        );
        for path in inputs {
            let data = std::fs::read(&path).unwrap();
            if let Err(why) = check_fuzz_input(&data) {
                panic!("{}: {why}", path.display());
            }
        }
    }

    /// The fuzzer's first find: serde_json's fast float parsing is off by one in the last digit for some
    /// numbers, so the stored payload was not the payload Claude Code sent.
    #[test]
    fn floats_are_stored_exactly_as_sent() {
        let body =
            br#"{"session_id":"s","tasks":[5.555555555555555e+49,0.1,1e-7,123456789.12345678]}"#;
        let e = HookEvent::parse("Stop", body).unwrap();
        assert_eq!(
            e.payload_json(),
            r#"{"session_id":"s","tasks":[5.555555555555555e+49,0.1,1e-7,123456789.12345678]}"#
        );
    }
}
