//! A tokenizer that understands code. Memories are full of identifiers and paths (`parseConfigFile`,
//! `retry_with_backoff`, `src/store/db.rs`); people search for them loosely ("parse config", "store db").
//! Each identifier is indexed whole *and* as its parts, at the same position, so both the exact name and
//! its words match, and phrase queries over the words still line up.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

#[derive(Clone, Default)]
pub struct CodeTokenizer;

pub struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// Splits one identifier at case changes, digits↔letters and `_`/`-`: `HTTPServerError2` →
/// `http`, `server`, `error`, `2`.
pub fn identifier_parts(word: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    for (i, &(at, c)) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if let Some(s) = start.take() {
                parts.push((s, at));
            }
            continue;
        }
        let Some(s) = start else {
            start = Some(at);
            continue;
        };
        let prev = chars[i - 1].1;
        let next = chars.get(i + 1).map(|x| x.1);
        let boundary = (prev.is_lowercase() && c.is_uppercase())
            || (prev.is_alphabetic() && c.is_numeric())
            || (prev.is_numeric() && c.is_alphabetic())
            // "HTTPServer": split before the last capital of a run when a lowercase follows.
            || (prev.is_uppercase() && c.is_uppercase() && next.is_some_and(|n| n.is_lowercase()));
        if boundary {
            parts.push((s, at));
            start = Some(at);
        }
    }
    if let Some(s) = start {
        parts.push((s, word.len()));
    }
    parts
}

pub fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut position = 0;
    // Words are runs of alphanumerics and `_`; everything else (spaces, `/`, `.`, `::`, `-`) separates.
    let mut word_start: Option<usize> = None;
    let flush = |start: usize, end: usize, tokens: &mut Vec<Token>, position: &mut usize| {
        let word = &text[start..end];
        let parts = identifier_parts(word);
        let whole = word.trim_matches('_').to_lowercase();
        if whole.is_empty() {
            return;
        }
        if parts.len() > 1 {
            tokens.push(Token {
                offset_from: start,
                offset_to: end,
                position: *position,
                text: whole,
                position_length: parts.len(),
            });
            for (i, (s, e)) in parts.iter().enumerate() {
                tokens.push(Token {
                    offset_from: start + s,
                    offset_to: start + e,
                    position: *position + i,
                    text: word[*s..*e].to_lowercase(),
                    position_length: 1,
                });
            }
            *position += parts.len();
        } else {
            tokens.push(Token {
                offset_from: start,
                offset_to: end,
                position: *position,
                text: whole,
                position_length: 1,
            });
            *position += 1;
        }
    };
    for (at, c) in text.char_indices() {
        if c.is_alphanumeric() || c == '_' {
            if word_start.is_none() {
                word_start = Some(at);
            }
        } else if let Some(s) = word_start.take() {
            flush(s, at, &mut tokens, &mut position);
        }
    }
    if let Some(s) = word_start {
        flush(s, text.len(), &mut tokens, &mut position);
    }
    tokens.retain(|t| t.text.len() <= 64);
    tokens
}

/// Function words a query carries but that say nothing about which memory is meant. Tantivy's English
/// list (Lucene's 33 words) leaves out the question words people type ("how did we …", "what was …"),
/// and a question word no memory contains would otherwise count as an informative word nothing matched.
/// Only queries are filtered: memories are indexed whole, so phrases still line up.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "an", "and", "any", "are", "as", "at", "be",
    "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "done",
    "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me",
    "my", "of", "on", "or", "our", "ours", "should", "so", "some", "such", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "us", "was", "we",
    "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would",
    "you", "your",
];

/// Whether a lowercase query token is a function word (see [`STOPWORDS`]).
pub fn is_stopword(token: &str) -> bool {
    STOPWORDS.binary_search(&token).is_ok()
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = VecTokenStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream {
            tokens: tokenize(text),
            next: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        tokenize(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn identifiers_are_indexed_whole_and_in_parts() {
        assert_eq!(
            texts("parseConfigFile"),
            ["parseconfigfile", "parse", "config", "file"]
        );
        assert_eq!(
            texts("retry_with_backoff"),
            ["retry_with_backoff", "retry", "with", "backoff"]
        );
        assert_eq!(
            texts("HTTPServerError2"),
            ["httpservererror2", "http", "server", "error", "2"]
        );
        assert_eq!(texts("src/store/db.rs"), ["src", "store", "db", "rs"]);
        assert_eq!(
            texts("Paginator::next_page"),
            ["paginator", "next_page", "next", "page"]
        );
        assert_eq!(texts("plain words here"), ["plain", "words", "here"]);
    }

    #[test]
    fn parts_share_positions_so_phrases_work() {
        let t = tokenize("call parseConfigFile now");
        let pos: Vec<(String, usize)> = t.into_iter().map(|t| (t.text, t.position)).collect();
        assert_eq!(
            pos,
            [
                ("call".into(), 0),
                ("parseconfigfile".into(), 1),
                ("parse".into(), 1),
                ("config".into(), 2),
                ("file".into(), 3),
                ("now".into(), 4)
            ]
        );
    }

    #[test]
    fn unicode_is_safe() {
        assert_eq!(texts("naïve café_ü"), ["naïve", "café_ü", "café", "ü"]);
    }

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_stopword("how") && is_stopword("the") && !is_stopword("backoff"));
    }
}
