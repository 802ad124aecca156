//! Feature-hashing embedder: the fallback when the MiniLM files are not installed.
//!
//! It captures only lexical overlap, but tuned for what memories contain: code identifiers and
//! paths are split into their words so "store db" finds `src/store/db.rs` and "next page" finds
//! `Paginator::next_page`, and character trigrams tolerate inflection ("crash" / "crashes").
//! Hashing is FNV-1a plus a fixed mixer, never `std`'s randomly seeded hasher, because vectors
//! are persisted: the same text must map to the same vector on every run and platform.

use crate::{l2_normalize, EmbedError, Embedder};

/// Deterministic, model-free embedder. Cheap enough to run inline on small batches.
pub struct HashEmbedder {
    dim: usize,
    id: String,
}

impl HashEmbedder {
    /// `dim` is clamped to at least 1 so a misconfiguration cannot divide by zero.
    pub fn new(dim: usize) -> Self {
        let dim = dim.max(1);
        Self {
            dim,
            id: format!("hash-{dim}"),
        }
    }

    fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dim];
        let mut any = false;
        for chunk in text.split_whitespace() {
            let parts = identifier_parts(chunk);
            let words: Vec<&String> = parts.iter().filter(|p| !is_stopword(p)).collect();
            for word in &words {
                any = true;
                self.add(&mut v, b'w', word.as_bytes(), 1.0);
                let grams = trigrams(word);
                // Each word's trigrams together weigh as much as the word itself, so long words
                // do not drown short ones.
                let w = 1.0 / (grams.len().max(1) as f32).sqrt();
                for g in &grams {
                    self.add(&mut v, b't', g.as_bytes(), w);
                }
            }
            if parts.len() > 1 {
                // The whole identifier, normalised (nextPage == next_page), so an exact
                // identifier match outranks texts that merely share its words.
                self.add(&mut v, b'c', parts.join("_").as_bytes(), 1.0);
            }
        }
        if !any {
            // Keeps the unit-norm contract for empty or stopword-only text.
            self.add(&mut v, b'e', b"", 1.0);
        }
        l2_normalize(&mut v);
        v
    }

    /// Signed feature hashing: the sign bit makes colliding features cancel on average instead
    /// of always adding up, which keeps unrelated texts near orthogonal.
    fn add(&self, v: &mut [f32], namespace: u8, feature: &[u8], weight: f32) {
        let h = mix64(fnv1a64(namespace, feature));
        let idx = (h % self.dim as u64) as usize;
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[idx] += sign * weight;
    }
}

impl Embedder for HashEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn semantic(&self) -> bool {
        false
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

/// Lowercased word parts of a whitespace-free chunk: split on every non-alphanumeric character
/// (covers snake_case, kebab-case, paths, `::`) and on camelCase boundaries, keeping acronyms
/// whole ("HTTPServer" → http, server).
pub(crate) fn identifier_parts(chunk: &str) -> Vec<String> {
    let mut parts = Vec::new();
    for run in chunk.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = run.chars().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (a, b) = (chars[i - 1], chars[i]);
            let lower_to_upper = (a.is_lowercase() || a.is_numeric()) && b.is_uppercase();
            let acronym_end = a.is_uppercase()
                && b.is_uppercase()
                && chars.get(i + 1).is_some_and(|c| c.is_lowercase());
            if lower_to_upper || acronym_end {
                parts.push(chars[start..i].iter().collect::<String>());
                start = i;
            }
        }
        if start < chars.len() {
            parts.push(chars[start..].iter().collect::<String>());
        }
    }
    parts.into_iter().map(|p| p.to_lowercase()).collect()
}

/// Trigrams of the word framed by boundary markers, so prefixes and suffixes count too.
fn trigrams(word: &str) -> Vec<String> {
    let framed: Vec<char> = std::iter::once('<')
        .chain(word.chars())
        .chain(std::iter::once('>'))
        .collect();
    framed
        .windows(3)
        .map(|w| w.iter().collect::<String>())
        .collect()
}

/// Words too common to say anything about a memory; left in, they make every pair of English
/// sentences look related.
fn is_stopword(word: &str) -> bool {
    matches!(
        word,
        "a" | "an"
            | "the"
            | "is"
            | "are"
            | "was"
            | "were"
            | "be"
            | "been"
            | "to"
            | "of"
            | "in"
            | "on"
            | "at"
            | "for"
            | "and"
            | "or"
            | "with"
            | "by"
            | "it"
            | "its"
            | "this"
            | "that"
            | "as"
            | "from"
            | "when"
    )
}

fn fnv1a64(namespace: u8, bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for &b in std::iter::once(&namespace).chain(bytes) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// splitmix64's finaliser: FNV-1a's high bits are poorly mixed for short inputs, and the sign
/// comes from the top bit.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosine;

    fn one(e: &HashEmbedder, t: &str) -> Vec<f32> {
        e.embed(&[t]).unwrap().remove(0)
    }

    #[test]
    fn splits_identifiers() {
        assert_eq!(
            identifier_parts("src/store/db.rs"),
            ["src", "store", "db", "rs"]
        );
        assert_eq!(
            identifier_parts("Paginator::next_page"),
            ["paginator", "next", "page"]
        );
        assert_eq!(
            identifier_parts("getUserProfile()"),
            ["get", "user", "profile"]
        );
        assert_eq!(identifier_parts("HTTPServer"), ["http", "server"]);
        assert_eq!(identifier_parts("base64Encode"), ["base64", "encode"]);
        assert_eq!(
            identifier_parts("kebab-case-name"),
            ["kebab", "case", "name"]
        );
        assert!(identifier_parts("::").is_empty());
    }

    #[test]
    fn deterministic_with_pinned_values() {
        let a = HashEmbedder::new(384);
        let b = HashEmbedder::new(384);
        let text = "Fixed off-by-one in Paginator::next_page";
        let va = one(&a, text);
        assert_eq!(va, one(&b, text));
        // Pinned hash outputs: a change here means persisted vectors no longer match, which
        // must come with a new embedder id.
        assert_eq!(fnv1a64(b'w', b"store"), 0x6322_c51c_95a8_8307);
        assert_eq!(mix64(1), 0x5692_161d_100b_05e5);
    }

    #[test]
    fn dim_id_and_unit_norm() {
        let e = HashEmbedder::new(384);
        assert_eq!(e.dim(), 384);
        assert_eq!(e.id(), "hash-384");
        for t in [
            "",
            "the",
            "src/store/db.rs",
            "日本語のテキスト",
            "a b c d e f g",
        ] {
            let v = one(&e, t);
            assert_eq!(v.len(), 384);
            let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((n - 1.0).abs() < 1e-5, "{t:?} norm {n}");
        }
        assert_eq!(HashEmbedder::new(0).dim(), 1);
        assert!(e.embed(&[]).unwrap().is_empty());
    }

    #[test]
    fn identifier_splitting_finds_paths() {
        let e = HashEmbedder::new(384);
        let path = one(&e, "src/store/db.rs");
        let query = one(&e, "store db");
        let unrelated = one(&e, "the login page crashes when the password is empty");
        let near = cosine(&query, &path);
        let far = cosine(&query, &unrelated);
        assert!(near > 0.4, "store db vs path: {near}");
        assert!(near > far + 0.3, "near {near} far {far}");

        let ident = one(&e, "Paginator::next_page");
        assert!(cosine(&one(&e, "next page"), &ident) > cosine(&one(&e, "next page"), &path));
        // Same identifier in two spellings.
        assert!(cosine(&one(&e, "nextPage"), &one(&e, "next_page")) > 0.99);
    }

    #[test]
    fn trigrams_tolerate_inflection() {
        let e = HashEmbedder::new(384);
        let q = one(&e, "crash");
        assert!(cosine(&q, &one(&e, "crashes")) > cosine(&q, &one(&e, "password")) + 0.2);
    }
}
