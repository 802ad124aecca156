//! `claude-mem models install --from DIR`: installs model files fetched by any means (an offline
//! machine, a copy from another one). `claude-mem models download` and the worker's background fetch
//! ([`crate::model_download`]) end here too, so every install is checked the same way.

use std::path::Path;

use crate::minilm::{MiniLm, REQUIRED_FILES};
use crate::EmbedError;

/// Small sentence-transformers metadata, copied when present so the installed directory is
/// still a complete model for other tools; the runtime itself does not read them.
pub(crate) const OPTIONAL_FILES: [&str; 6] = [
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentence_bert_config.json",
    "modules.json",
    "vocab.txt",
    "1_Pooling/config.json",
];

/// Copies the model files (config.json, tokenizer.json, model.safetensors, and the small json files) from `from` into `to`, verifying they load. For `claude-mem models install --from DIR`.
///
/// The source is loaded before anything is written, so a broken download never replaces a
/// working install; each file is written under a temporary name and renamed, so a crash
/// mid-copy leaves no truncated model file behind; and the result is loaded again at the end.
pub fn install_model(from: &Path, to: &Path) -> Result<(), EmbedError> {
    MiniLm::load(from)?;

    let io = |what: &str, path: &Path, e: std::io::Error| {
        EmbedError::Load(format!("{what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(to).map_err(|e| io("creating", to, e))?;
    let optional = OPTIONAL_FILES
        .iter()
        .filter(|name| from.join(name).is_file());
    for name in REQUIRED_FILES.iter().chain(optional) {
        let src = from.join(name);
        let dst = to.join(name);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
        }
        let tmp = dst.with_file_name(format!(
            ".{}.installing",
            dst.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("model-file")
        ));
        // A leftover from an interrupted install may be read-only (copies keep the source's
        // mode), which would make the copy below fail.
        let _ = std::fs::remove_file(&tmp);
        std::fs::copy(&src, &tmp).map_err(|e| io("copying", &src, e))?;
        std::fs::rename(&tmp, &dst).map_err(|e| io("moving into place", &dst, e))?;
    }

    MiniLm::load(to).map(|_| ())
}
