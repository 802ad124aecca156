//! Caps on what one memory may carry, shared by every way a memory enters (`POST /api/memories`, the MCP
//! `save_memory` tool through it, `import` of an export, `import --from-original`) and by what search
//! returns, so a single row can never make every answer that hits it huge (issue 18: 500k `files`).

/// Items per list field.
pub const MAX_FILES: usize = 100;
pub const MAX_FACTS: usize = 50;
pub const MAX_CONCEPTS: usize = 20;
pub const MAX_KEYWORDS: usize = 50;
/// Characters per list item (a path, a fact, a concept).
pub const MAX_ITEM_CHARS: usize = 1_000;
/// Characters of a saved memory's text and title.
pub const MAX_TEXT_CHARS: usize = 10_000;
pub const MAX_TITLE_CHARS: usize = 200;

/// The cap for an observation's list column (`files_read`, `files_modified`, `facts`, `concepts`,
/// `keywords`); `None` for any other column.
pub fn list_cap(column: &str) -> Option<usize> {
    match column {
        "files" | "files_read" | "files_modified" => Some(MAX_FILES),
        "facts" => Some(MAX_FACTS),
        "concepts" => Some(MAX_CONCEPTS),
        "keywords" => Some(MAX_KEYWORDS),
        _ => None,
    }
}

/// Refuses a list over its cap or with an item over [`MAX_ITEM_CHARS`]: the reason names the field and
/// the limit.
pub fn check_list(field: &str, items: &[String]) -> Result<(), String> {
    let cap = list_cap(field).unwrap_or(MAX_FILES);
    if items.len() > cap {
        return Err(format!(
            "{field} has {} items; at most {cap} are accepted",
            items.len()
        ));
    }
    if let Some((i, _)) = items
        .iter()
        .enumerate()
        .find(|(_, s)| s.chars().count() > MAX_ITEM_CHARS)
    {
        return Err(format!(
            "{field}[{i}] is longer than {MAX_ITEM_CHARS} characters"
        ));
    }
    Ok(())
}

/// Cuts a list to its cap and its items to [`MAX_ITEM_CHARS`]; true when something was cut. For input
/// that must not be refused whole (an import) and for answers.
pub fn cap_list(field: &str, items: &mut Vec<String>) -> bool {
    let cap = list_cap(field).unwrap_or(MAX_FILES);
    let mut cut = items.len() > cap;
    items.truncate(cap);
    for item in items.iter_mut() {
        if let Some((at, _)) = item.char_indices().nth(MAX_ITEM_CHARS) {
            item.truncate(at);
            cut = true;
        }
    }
    cut
}

/// [`cap_list`] on a list kept as JSON text (SQLite's columns, an export's rows): the new text when it
/// was cut, `None` when it was within the caps or is not a list of strings.
pub fn cap_list_text(field: &str, text: &str) -> Option<String> {
    let mut items: Vec<String> = serde_json::from_str(text).ok()?;
    cap_list(field, &mut items)
        .then(|| serde_json::to_string(&items).unwrap_or_else(|_| "[]".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_checked_and_cut() {
        let many: Vec<String> = (0..MAX_FILES + 1).map(|i| format!("f{i}")).collect();
        assert!(check_list("files", &many)
            .unwrap_err()
            .contains("at most 100"));
        assert!(check_list("files", &many[..MAX_FILES]).is_ok());
        let long = vec!["é".repeat(MAX_ITEM_CHARS + 1)];
        assert!(check_list("facts", &long).unwrap_err().contains("facts[0]"));
        let mut cut = many.clone();
        assert!(cap_list("files_read", &mut cut));
        assert_eq!(cut.len(), MAX_FILES);
        let mut cut = long.clone();
        assert!(cap_list("facts", &mut cut));
        assert_eq!(cut[0].chars().count(), MAX_ITEM_CHARS);
        let text = serde_json::to_string(&many).unwrap();
        let capped: Vec<String> =
            serde_json::from_str(&cap_list_text("files_read", &text).unwrap()).unwrap();
        assert_eq!(capped.len(), MAX_FILES);
        assert_eq!(cap_list_text("files_read", "[\"a\"]"), None);
        assert_eq!(cap_list_text("files_read", "not json"), None);
    }
}
