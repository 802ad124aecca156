//! What an indexed memory is (an observation, a session summary or a user prompt) and the one `i64` key
//! space that names any of them.
//!
//! SQLite numbers each table on its own, so observation 7, summary 7 and prompt 7 all exist. Every index
//! entry and every [`crate::Hit`] therefore carries a *key*: the row id with the source's tag in the bits
//! above [`Source::MAX_ID`]. Observations have tag 0, so an observation's key is its id: everything that
//! searched observations before (recall, the benchmarks, the evaluation, existing API clients) sees
//! exactly the ids it saw before.

use serde::{Deserialize, Serialize};

/// Bits of a key that hold the row id; the tag sits above them.
const TAG_SHIFT: u32 = 56;

/// The kind of row an index entry was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `observations`: what the compressor (or `save_memory`) made of the work.
    Observation,
    /// `session_summaries`: what a session asked for, investigated, learned and completed.
    Summary,
    /// `user_prompts`: what the user typed.
    Prompt,
}

impl Source {
    /// Every source, in the order search merges ties (observations first: they are what recall and
    /// `get_observations` work with).
    pub const ALL: [Source; 3] = [Source::Observation, Source::Summary, Source::Prompt];

    /// The largest row id a key can carry. SQLite assigns ids from 1 upwards, so only an imported file
    /// with absurd ids could exceed it; such rows are left out of the indexes rather than colliding
    /// with another source's keys.
    pub const MAX_ID: i64 = (1 << TAG_SHIFT) - 1;

    fn tag(self) -> i64 {
        match self {
            Source::Observation => 0,
            Source::Summary => 1,
            Source::Prompt => 2,
        }
    }

    /// The key of row `id` of this source; `None` for an id no key can hold (negative or past
    /// [`Source::MAX_ID`]).
    pub fn key(self, id: i64) -> Option<i64> {
        (0..=Self::MAX_ID)
            .contains(&id)
            .then_some((self.tag() << TAG_SHIFT) | id)
    }

    /// The source and row id a key names; `None` for a key no source made.
    pub fn of_key(key: i64) -> Option<(Source, i64)> {
        if key < 0 {
            return None;
        }
        let id = key & Self::MAX_ID;
        let source = match key >> TAG_SHIFT {
            0 => Source::Observation,
            1 => Source::Summary,
            2 => Source::Prompt,
            _ => return None,
        };
        Some((source, id))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Observation => "observation",
            Source::Summary => "summary",
            Source::Prompt => "prompt",
        }
    }

    /// The names the API, the MCP tool and the CLI accept (singular or plural, any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "observation" | "observations" => Some(Source::Observation),
            "summary" | "summaries" => Some(Source::Summary),
            "prompt" | "prompts" => Some(Source::Prompt),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_keys_are_their_ids_and_every_key_round_trips() {
        assert_eq!(Source::Observation.key(42), Some(42));
        for source in Source::ALL {
            for id in [0, 1, 7, 123_456_789, Source::MAX_ID] {
                let key = source.key(id).unwrap();
                assert!(key >= 0);
                assert_eq!(Source::of_key(key), Some((source, id)));
            }
        }
        // The same row number in two tables gives two keys.
        assert_ne!(Source::Summary.key(7), Source::Prompt.key(7));
        assert_ne!(Source::Summary.key(7), Source::Observation.key(7));
    }

    #[test]
    fn ids_no_key_can_hold_are_refused() {
        for source in Source::ALL {
            assert_eq!(source.key(-1), None);
            assert_eq!(source.key(Source::MAX_ID + 1), None);
            assert_eq!(source.key(i64::MAX), None);
        }
        assert_eq!(Source::of_key(-5), None);
        assert_eq!(Source::of_key(3 << 56), None);
        assert_eq!(Source::of_key(i64::MAX), None);
    }

    #[test]
    fn names_parse_both_ways() {
        for source in Source::ALL {
            assert_eq!(Source::parse(source.as_str()), Some(source));
        }
        assert_eq!(Source::parse(" Prompts "), Some(Source::Prompt));
        assert_eq!(Source::parse("poem"), None);
        assert_eq!(
            serde_json::to_value(Source::Summary).unwrap(),
            serde_json::json!("summary")
        );
    }
}
