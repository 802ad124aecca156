//! Editing settings from the viewer (`GET`/`PUT /api/settings`): a described list of fields, and
//! changes addressed by dotted key, validated as a whole before anything is written.
//!
//! The fields are the editable rows of [`super::keys::KEYS`], the one table of settings keys: each
//! carries a sentence a user understands, an honest flag for whether the running worker picks it up
//! without a restart, and the environment variable that overrides it.

use super::keys::{self, FieldKind, KEYS};
use super::{Settings, SettingsError};
use serde::Serialize;
use serde_json::{Map, Value};

use FieldKind::*;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldInfo {
    pub key: &'static str,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    pub description: &'static str,
    /// Secrets are write-only: always null here, with `is_set` telling whether one is stored.
    pub value: Value,
    pub default: Value,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub options: &'static [&'static str],
    pub restart_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_set: Option<bool>,
    /// What the running worker uses when that is not `value`: an environment variable overrides the
    /// file, or the file was saved since the start and the key waits for a restart. Absent when the
    /// worker runs with the file's value. For secrets it is never a value: see `running_is_set`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<Value>,
    /// For secrets: whether the running worker has one (from the file or the environment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_is_set: Option<bool>,
    /// The environment variable that overrides this key in the running worker, when one is set: the
    /// page labels the field with it, since editing the file changes nothing while it is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overridden_by: Option<&'static str>,
    /// Saved since the worker started and read only at start: the running worker does not use it yet.
    /// Set by the caller, who knows what the file said at the start (`None` here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_restart: Option<bool>,
}

/// A number as a person wrote it. `f32` settings reach JSON through `f64`, so 0.3 became
/// 0.30000001192092896 on the page; a value an `f32` holds exactly is written with the `f32`'s
/// shortest form instead. `f64` values (0.1, 2.75) are left alone: they do not survive the round trip.
fn tidy_number(v: Value) -> Value {
    let Value::Number(n) = &v else { return v };
    let Some(f) = n.as_f64().filter(|_| n.is_f64()) else {
        return v;
    };
    let narrow = f as f32;
    if f64::from(narrow) != f || !narrow.is_finite() {
        return v;
    }
    narrow
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(v, Value::Number)
}

/// A refusal as a sentence for the page and the CLI: "is outside 1..=3650" becomes "must be from 1 to
/// 3650", serde's "invalid value: integer `99999`, expected u16" becomes "99999 is too large …", a
/// trailing full stop is added.
pub fn humanize(message: &str) -> String {
    let mut out = message.trim().to_owned();
    if let Some((value, range)) = out.split_once(" is outside ") {
        if let Some((lo, hi)) = range.trim_end_matches('.').split_once("..=") {
            out = format!("{value} is out of range: use a number from {lo} to {hi}");
        }
    }
    if let Some(rest) = out.strip_prefix("invalid value: integer `") {
        if let Some((value, expected)) = rest.split_once("`, expected ") {
            let range = match expected.trim() {
                "u16" => Some((0u64, u64::from(u16::MAX))),
                "u32" => Some((0, u64::from(u32::MAX))),
                "u8" => Some((0, u64::from(u8::MAX))),
                t if t.starts_with('u') => Some((0, u64::MAX)),
                _ => None,
            };
            out = match range {
                Some((_, hi)) if value.starts_with('-') => {
                    format!("{value} is negative: use a number from 0 to {hi}")
                }
                Some((lo, hi)) => format!("{value} is too large: use a number from {lo} to {hi}"),
                None => format!("{value} is not accepted here ({expected})"),
            };
        }
    }
    if let Some(rest) = out.strip_prefix("invalid type: ") {
        out = format!("wrong kind of value: {rest}");
    }
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    let mut chars = out.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() => {
            format!("{}{}", c.to_ascii_uppercase(), chars.as_str())
        }
        _ => out,
    }
}

/// The value at a dotted key (`compression.batch_size`) of a settings JSON tree.
pub fn lookup<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(root, |v, part| v.get(part))
}

fn to_value(s: &Settings) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// Every editable field with its current value (secrets masked).
pub fn fields(settings: &Settings) -> Vec<FieldInfo> {
    let current = to_value(settings);
    let defaults = to_value(&Settings::default());
    KEYS.iter()
        .filter(|s| s.editable)
        .map(|s| {
            let value = tidy_number(lookup(&current, s.key).cloned().unwrap_or(Value::Null));
            let secret = s.kind == Secret;
            FieldInfo {
                key: s.key,
                kind: s.kind,
                description: s.description,
                is_set: secret.then(|| !value.is_null()),
                value: if secret { Value::Null } else { value },
                default: if secret {
                    Value::Null
                } else {
                    tidy_number(lookup(&defaults, s.key).cloned().unwrap_or(Value::Null))
                },
                options: s.options,
                restart_required: !s.live,
                running: None,
                running_is_set: None,
                overridden_by: None,
                pending_restart: None,
            }
        })
        .collect()
}

/// [`fields`] of the file, each labelled with what the running worker actually uses where that
/// differs (`running`), and with the environment variable responsible (`overridden_by`, looked up
/// through `env` so tests need not touch the process environment). A page that showed the file alone
/// said "port 37777" while the worker listened elsewhere.
pub fn fields_running(
    file: &Settings,
    running: &Settings,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<FieldInfo> {
    let now = to_value(running);
    fields(file)
        .into_iter()
        .map(|mut f| {
            let used = tidy_number(lookup(&now, f.key).cloned().unwrap_or(Value::Null));
            let var = keys::key(f.key)
                .and_then(|k| k.env.var())
                .filter(|var| env(var).is_some_and(|v| !v.trim().is_empty()));
            if f.kind == Secret {
                let used_set = !used.is_null();
                if Some(used_set) != f.is_set {
                    f.running_is_set = Some(used_set);
                }
                // A key in the file wins over ANTHROPIC_API_KEY / CLAUDE_MEM_OPENAI_API_KEY.
                f.overridden_by = var.filter(|_| f.is_set == Some(false) && used_set);
            } else {
                let differs = used != f.value;
                if differs {
                    f.running = Some(used);
                }
                f.overridden_by = var.filter(|_| differs);
            }
            f
        })
        .collect()
}

/// Puts `value` at the dotted `key` of a settings JSON tree (null removes it) and returns what was
/// there (null: nothing). The one setter behind both the page's changes ([`apply_changes`]) and the
/// environment's overrides ([`Settings::apply_env`]); neither checks the result, their callers do.
pub(super) fn set_key(root: &mut Value, key: &str, value: Value) -> Result<Value, String> {
    let (parent_path, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let parent = if parent_path.is_empty() {
        Some(root)
    } else {
        parent_path
            .split('.')
            .try_fold(root, |v, part| v.get_mut(part))
    };
    let Some(Value::Object(map)) = parent else {
        return Err("has no place in the settings file".into());
    };
    let before = if value.is_null() {
        map.remove(leaf)
    } else {
        map.insert(leaf.to_owned(), value)
    };
    Ok(before.unwrap_or(Value::Null))
}

/// `settings` with `changes` (dotted key → new value; null clears a secret) applied and validated.
/// Returns the new settings and the changed keys that only take effect after a restart.
pub fn apply_changes(
    settings: &Settings,
    changes: &Map<String, Value>,
) -> Result<(Settings, Vec<String>), SettingsError> {
    let mut root = to_value(settings);
    let mut restart = Vec::new();
    for (key, new) in changes {
        let invalid = |message: String| SettingsError::Invalid {
            field: key.clone(),
            message: humanize(&message),
        };
        let spec = keys::key(key)
            .filter(|s| s.editable)
            .ok_or_else(|| invalid(format!("{key} is not a setting the viewer can change")))?;
        let ok = match (spec.kind, new) {
            (Number, Value::Number(_)) => true,
            (Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Boolean, Value::Bool(_)) => true,
            (Text | Enum, Value::String(_)) => true,
            (Secret, Value::String(_) | Value::Null) => true,
            (List, Value::Array(items)) => items.iter().all(Value::is_string),
            (Object, Value::Object(_)) => true,
            _ => false,
        };
        if !ok {
            let wanted = match spec.kind {
                Number => "a number",
                Integer => "a whole number",
                Boolean => "on or off (true or false)",
                Text | Enum | Secret => "text",
                List => "a list of names",
                Object => "an object",
            };
            return Err(invalid(format!("{new} is not {wanted}")));
        }
        if spec.kind == Enum && !spec.options.iter().any(|o| Some(*o) == new.as_str()) {
            return Err(invalid(format!(
                "{new} is not one of {}",
                spec.options.join(", ")
            )));
        }
        let value = match new {
            Value::String(s) if spec.kind == Secret && s.trim().is_empty() => Value::Null,
            Value::String(s) if spec.kind == Secret => Value::String(s.trim().to_owned()),
            v => v.clone(),
        };
        let before = set_key(&mut root, key, value.clone()).map_err(invalid)?;
        if before != value && !spec.live {
            restart.push(key.clone());
        }
    }
    let updated: Settings = serde_json::from_value(root).map_err(|e| {
        // serde names the value, not the key: the key is the changed one whose value it names, else
        // the first changed one.
        let text = e.to_string();
        let field = changes
            .iter()
            .find(|(_, v)| text.contains(&format!("`{v}`")))
            .or_else(|| changes.iter().next())
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        SettingsError::Invalid {
            field,
            message: humanize(text.split(" at line ").next().unwrap_or(&text)),
        }
    })?;
    updated.validate().map_err(|e| match e {
        SettingsError::Invalid { field, message } => SettingsError::Invalid {
            field,
            message: humanize(&message),
        },
        other => other,
    })?;
    Ok((updated, restart))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn changes(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn every_field_resolves_to_a_value_in_the_defaults() {
        let all = fields(&Settings::default());
        assert_eq!(all.len(), KEYS.iter().filter(|k| k.editable).count());
        for f in &all {
            if f.kind != FieldKind::Secret {
                assert!(!f.value.is_null(), "{} has no value", f.key);
                assert_eq!(f.value, f.default, "{}", f.key);
            }
        }
    }

    #[test]
    fn secrets_are_write_only() {
        let (s, restart) = apply_changes(
            &Settings::default(),
            &changes(json!({"compression.anthropic_api_key": "sk-ant-test"})),
        )
        .unwrap();
        assert_eq!(
            s.compression.anthropic_api_key.as_deref(),
            Some("sk-ant-test")
        );
        assert_eq!(restart, vec!["compression.anthropic_api_key"]);
        let f = fields(&s);
        let key = f
            .iter()
            .find(|f| f.key == "compression.anthropic_api_key")
            .unwrap();
        assert_eq!(key.value, Value::Null);
        assert_eq!(key.is_set, Some(true));
        let (cleared, _) =
            apply_changes(&s, &changes(json!({"compression.anthropic_api_key": null}))).unwrap();
        assert_eq!(cleared.compression.anthropic_api_key, None);
    }

    #[test]
    fn live_fields_need_no_restart_and_bad_values_name_their_field() {
        let (s, restart) = apply_changes(
            &Settings::default(),
            &changes(json!({"context.budget_tokens": 1200, "compression.daily_budget_usd": 2.5})),
        )
        .unwrap();
        assert_eq!(s.context.budget_tokens, 1200);
        assert_eq!(s.compression.daily_budget_usd, 2.5);
        assert_eq!(restart, vec!["compression.daily_budget_usd"]);

        let (s, restart) = apply_changes(
            &Settings::default(),
            &changes(json!({"capture.skip_tools": ["Read", "mcp__github__*"]})),
        )
        .unwrap();
        assert_eq!(s.capture.skip_tools, ["Read", "mcp__github__*"]);
        assert!(restart.is_empty());
        let field = fields(&s)
            .into_iter()
            .find(|f| f.key == "capture.skip_tools")
            .unwrap();
        assert_eq!(field.kind, FieldKind::List);
        assert_eq!(field.value, json!(["Read", "mcp__github__*"]));
        assert_eq!(field.default, json!(super::super::DEFAULT_SKIP_TOOLS));

        for (bad, field) in [
            (
                json!({"capture.skip_tools": "TodoWrite"}),
                "capture.skip_tools",
            ),
            (json!({"capture.skip_tools": [1]}), "capture.skip_tools"),
            (json!({"capture.skip_tools": ["a b"]}), "capture.skip_tools"),
            (json!({"port": "eighty"}), "port"),
            (json!({"port": 1.5}), "port"),
            (json!({"context.budget_tokens": 5}), "context.budget_tokens"),
            (json!({"search.embedder": "word2vec"}), "search.embedder"),
            (json!({"nope": 1}), "nope"),
        ] {
            match apply_changes(&Settings::default(), &changes(bad.clone())) {
                Err(SettingsError::Invalid { field: f, .. }) => assert_eq!(f, field, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn f32_values_show_as_written() {
        let all = fields(&Settings::default());
        let get = |k: &str| all.iter().find(|f| f.key == k).unwrap().clone();
        assert_eq!(get("compression.min_significance").value, json!(0.3));
        assert_eq!(get("compression.min_significance").default, json!(0.3));
        assert_eq!(get("search.text_weight").value, json!(0.3));
        assert_eq!(get("search.vector_weight").value, json!(0.7));
        // f64 values are not squeezed through f32.
        let mut s = Settings::default();
        s.compression.daily_budget_usd = 0.1;
        let f = fields(&s);
        let budget = f
            .iter()
            .find(|f| f.key == "compression.daily_budget_usd")
            .unwrap();
        assert_eq!(budget.value, json!(0.1));
    }

    #[test]
    fn refusals_read_as_sentences() {
        let refuse = |v: Value| match apply_changes(&Settings::default(), &changes(v.clone())) {
            Err(SettingsError::Invalid { field, message }) => (field, message),
            other => panic!("{v}: {other:?}"),
        };
        let (field, msg) = refuse(json!({"port": 99999}));
        assert_eq!(field, "port");
        assert_eq!(msg, "99999 is too large: use a number from 0 to 65535.");
        let (_, msg) = refuse(json!({"log_retention_days": 0}));
        assert_eq!(msg, "0 is out of range: use a number from 1 to 3650.");
        let (_, msg) = refuse(json!({"log_retention_days": -3}));
        assert!(msg.starts_with("-3 is negative"), "{msg}");
        let (_, msg) = refuse(json!({"search.embedder": "word2vec"}));
        assert_eq!(
            msg,
            "\"word2vec\" is not one of auto, minilm, hash, openai."
        );
        let (_, msg) = refuse(json!({"port": "eighty"}));
        assert_eq!(msg, "\"eighty\" is not a whole number.");
        let (field, msg) = refuse(json!({"log_level": "verbose!!"}));
        assert_eq!(field, "log_level");
        assert!(msg.starts_with("\"verbose!!\" is not a log level"), "{msg}");
        for (_, m) in [refuse(json!({"port": 0})), refuse(json!({"nope": 1}))] {
            assert!(!m.contains("..=") && !m.contains("expected u"), "{m}");
            assert!(m.ends_with('.'), "{m}");
        }
    }

    #[test]
    fn running_values_and_environment_overrides_are_labelled() {
        let file = Settings::default();
        let mut running = file.clone();
        let env: std::collections::HashMap<&str, &str> = [
            ("CLAUDE_MEM_PORT", "41234"),
            ("ANTHROPIC_API_KEY", "sk-ant-env"),
            ("CLAUDE_MEM_LOG_LEVEL", "info"),
        ]
        .into_iter()
        .collect();
        let lookup = |k: &str| env.get(k).map(|v| v.to_string());
        running.apply_env(lookup).unwrap();
        running.hook_timeout_ms = 2500; // saved since the start, waiting for a restart
        let all = fields_running(&file, &running, lookup);
        let get = |k: &str| all.iter().find(|f| f.key == k).unwrap().clone();
        let port = get("port");
        assert_eq!(
            (port.value.clone(), port.running.clone()),
            (json!(37777), Some(json!(41234)))
        );
        assert_eq!(port.overridden_by, Some("CLAUDE_MEM_PORT"));
        let key = get("compression.anthropic_api_key");
        assert_eq!((key.is_set, key.running_is_set), (Some(false), Some(true)));
        assert_eq!(key.overridden_by, Some("ANTHROPIC_API_KEY"));
        assert_eq!(key.value, Value::Null, "never a secret's value");
        let pending = get("hook_timeout_ms");
        assert_eq!(pending.running, Some(json!(2500)));
        assert_eq!(pending.overridden_by, None);
        // Set, but to what the file says: nothing to label.
        let level = get("log_level");
        assert_eq!((level.running, level.overridden_by), (None, None));
        assert_eq!(
            get("compression.min_significance").running,
            None,
            "no f32 noise either"
        );
    }

    #[test]
    fn language_and_mode_are_editable_and_checked() {
        let (s, restart) = apply_changes(
            &Settings::default(),
            &changes(json!({"compression.language": "zh-CN", "compression.mode": "concise"})),
        )
        .unwrap();
        assert_eq!(s.compression.language_code(), "zh");
        assert_eq!(s.compression.mode, "concise");
        assert_eq!(restart.len(), 2, "the compressor is built at start");
        let language = fields(&s)
            .into_iter()
            .find(|f| f.key == "compression.language")
            .unwrap();
        assert_eq!(language.options, ["en", "zh"], "suggestions for free text");
        assert!(apply_changes(&s, &changes(json!({"compression.mode": "loud"}))).is_err());
        assert!(apply_changes(&s, &changes(json!({"compression.language": "zh CN!"}))).is_err());
    }
}
