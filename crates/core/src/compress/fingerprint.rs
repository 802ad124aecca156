//! The fingerprint of the compressor configuration: when it changes, events parked under the old one are
//! retried ([`crate::Store::retry_parked_if_config_changed`]), since the reason they failed (a wrong key, a
//! model that does not exist, an unreachable URL) may be gone.
//!
//! It is a SHA-256 over what decides how events are compressed: the compressor the worker built (its
//! `provider:model` name, which resolves `auto`), the endpoints, each API key's own SHA-256 (so fixing a
//! wrong key counts as a change, while neither the key nor anything short of brute-forcing a random key
//! can be read back), the language, the mode and the custom prompt's text. Nothing in it is secret.

use crate::settings::Settings;
use sha2::{Digest, Sha256};

fn key_hash(key: Option<&str>) -> String {
    match key.map(str::trim).filter(|k| !k.is_empty()) {
        Some(k) => hex::encode(Sha256::digest(k.as_bytes())),
        None => "none".into(),
    }
}

/// `compressor` is the running compressor's name (`anthropic:claude-haiku-4-5`, `local`…);
/// `custom_prompt` the text of `prompts/compression.md` when `compression.mode` is `custom`.
pub fn fingerprint(settings: &Settings, compressor: &str, custom_prompt: Option<&str>) -> String {
    let c = &settings.compression;
    let parts = [
        format!("compressor={compressor}"),
        format!("provider={}", c.provider),
        format!("anthropic_model={}", c.anthropic_model),
        format!("anthropic_base_url={}", c.anthropic_base_url),
        format!("anthropic_key={}", key_hash(c.anthropic_key())),
        format!("openai_model={}", c.openai_model),
        format!("openai_base_url={}", c.openai_base_url),
        format!("openai_key={}", key_hash(c.openai_api_key.as_deref())),
        format!("language={}", c.language.trim()),
        format!("mode={}", c.mode),
        format!(
            "custom_prompt={}",
            custom_prompt.map_or_else(|| "none".into(), |p| hex::encode(Sha256::digest(p))),
        ),
    ];
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::fingerprint;
    use crate::settings::Settings;

    #[test]
    fn changes_with_what_decides_compression_and_holds_no_secret() {
        let mut s = Settings::default();
        s.compression.anthropic_api_key = Some("sk-ant-wrong".into());
        let base = fingerprint(&s, "anthropic:claude-haiku-4-5", None);
        assert_eq!(base, fingerprint(&s, "anthropic:claude-haiku-4-5", None));
        assert!(!base.contains("sk-ant"));
        assert_eq!(base.len(), 64);
        let mut fixed = s.clone();
        fixed.compression.anthropic_api_key = Some("sk-ant-right".into());
        let mut zh = s.clone();
        zh.compression.language = "zh".into();
        let mut concise = s.clone();
        concise.compression.mode = "concise".into();
        let mut url = s.clone();
        url.compression.anthropic_base_url = "http://127.0.0.1:9/".into();
        for (what, other) in [
            (
                "key",
                fingerprint(&fixed, "anthropic:claude-haiku-4-5", None),
            ),
            (
                "language",
                fingerprint(&zh, "anthropic:claude-haiku-4-5", None),
            ),
            (
                "mode",
                fingerprint(&concise, "anthropic:claude-haiku-4-5", None),
            ),
            (
                "base url",
                fingerprint(&url, "anthropic:claude-haiku-4-5", None),
            ),
            ("compressor", fingerprint(&s, "local", None)),
            (
                "prompt",
                fingerprint(&s, "anthropic:claude-haiku-4-5", Some("x")),
            ),
        ] {
            assert_ne!(base, other, "{what} must change the fingerprint");
        }
        // Settings that do not decide how events are compressed leave it alone.
        let mut batch = s.clone();
        batch.compression.batch_size = 3;
        assert_eq!(
            base,
            fingerprint(&batch, "anthropic:claude-haiku-4-5", None)
        );
    }
}
