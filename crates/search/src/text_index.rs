//! Full-text index (Tantivy, BM25) over observations. Derived data: it can always be rebuilt from SQLite.

use crate::code_tokenizer::{is_stopword, tokenize, CodeTokenizer};
use crate::{Doc, Filters, SearchError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, EnableScoring, FuzzyTermQuery, Occur, PhraseQuery, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, STRING,
};
use tantivy::{
    doc, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, Term, TERMINATED,
};

const TOKENIZER: &str = "code";
/// Text fields and how much a match in each counts: a hit in the title or a keyword says more than one
/// somewhere in the narrative.
const WEIGHTS: [(&str, f32); 8] = [
    ("title", 3.0),
    ("keywords", 2.0),
    ("files", 2.0),
    ("subtitle", 1.5),
    ("concepts", 1.5),
    ("facts", 1.2),
    ("narrative", 1.0),
    ("type_text", 0.5),
];

/// A word no memory contains, matched by edit distance instead, counts for this share of a real match:
/// a typo is probably the word it resembles, but not certainly.
const FUZZY_SHARE: f32 = 0.5;
/// Words shorter than this are never matched fuzzily: one edit turns them into too many other words.
const FUZZY_MIN_CHARS: usize = 4;

/// BM25's inverse document frequency, as Tantivy computes it.
fn idf(doc_freq: u64, doc_count: u64) -> f32 {
    let x = (doc_count.saturating_sub(doc_freq) as f32 + 0.5) / (doc_freq as f32 + 0.5);
    (1.0 + x).ln()
}

/// One content word of a query, with how informative it is in this index.
#[derive(Debug, Clone, PartialEq)]
struct QueryWord {
    text: String,
    /// Per text field: documents containing the word.
    doc_freqs: Vec<u64>,
}

impl QueryWord {
    fn unseen(&self) -> bool {
        self.doc_freqs.iter().all(|df| *df == 0)
    }

    /// Typos are only guessed for words no memory contains, never for exact identifiers that exist.
    fn fuzzy_distance(&self) -> Option<u8> {
        let chars = self.text.chars().count();
        if !self.unseen() || chars < FUZZY_MIN_CHARS || !self.text.chars().all(char::is_alphabetic)
        {
            return None;
        }
        Some(if chars >= 8 { 2 } else { 1 })
    }
}

pub struct TextIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    id: Field,
    project: Field,
    kind: Field,
    created_at: Field,
    text_fields: Vec<(Field, f32)>,
}

fn schema() -> Schema {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    b.add_i64_field(
        "id",
        NumericOptions::default()
            .set_indexed()
            .set_stored()
            .set_fast(),
    );
    b.add_text_field("project", STRING);
    b.add_text_field("type", STRING);
    b.add_i64_field(
        "created_at",
        NumericOptions::default().set_indexed().set_fast(),
    );
    for (name, _) in WEIGHTS {
        b.add_text_field(name, text.clone());
    }
    b.build()
}

impl TextIndex {
    /// Opens the index in `dir`, creating it when empty. A directory holding an index of another schema is
    /// an error: the caller rebuilds.
    pub fn open_or_create(dir: &Path) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir)?;
        let directory = tantivy::directory::MmapDirectory::open(dir)?;
        let index = if Index::exists(&directory)? {
            Index::open(directory)?
        } else {
            Index::create(directory, schema(), tantivy::IndexSettings::default())?
        };
        if index.schema() != schema() {
            return Err(SearchError::Incompatible("full-text schema changed".into()));
        }
        // Every segment file ends in a checksum. Reading them all at start costs a sequential read of
        // the index; not doing it means a damaged segment opens fine and fails (or panics inside
        // Tantivy) on the first query that touches it, long after a rebuild would have been free.
        let damaged = index.validate_checksum()?;
        if !damaged.is_empty() {
            let mut names: Vec<String> = damaged.iter().map(|p| p.display().to_string()).collect();
            names.sort();
            return Err(SearchError::Text(tantivy::TantivyError::DataCorruption(
                tantivy::error::DataCorruption::comment_only(format!(
                    "checksum mismatch in {}",
                    names.join(", ")
                )),
            )));
        }
        Self::from_index(index)
    }

    pub fn in_memory() -> Result<Self, SearchError> {
        Self::from_index(Index::create_in_ram(schema()))
    }

    fn from_index(index: Index) -> Result<Self, SearchError> {
        index.tokenizers().register(TOKENIZER, CodeTokenizer);
        let s = index.schema();
        let field = |name: &str| s.get_field(name).map_err(SearchError::from);
        let text_fields = WEIGHTS
            .iter()
            .map(|(name, w)| Ok((field(name)?, *w)))
            .collect::<Result<Vec<_>, SearchError>>()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let writer = index.writer(50_000_000)?;
        Ok(Self {
            id: field("id")?,
            project: field("project")?,
            kind: field("type")?,
            created_at: field("created_at")?,
            text_fields,
            writer: Mutex::new(writer),
            reader,
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, IndexWriter>, SearchError> {
        self.writer
            .lock()
            .map_err(|_| SearchError::Incompatible("index writer poisoned".into()))
    }

    /// Adds (or replaces) documents; visible after [`TextIndex::commit`].
    pub fn add(&self, docs: &[Doc]) -> Result<(), SearchError> {
        let writer = self.lock()?;
        for d in docs {
            writer.delete_term(Term::from_field_i64(self.id, d.id));
            let mut doc = doc!(
                self.id => d.id,
                self.project => d.project.clone(),
                self.kind => d.kind.clone(),
                self.created_at => d.created_at,
            );
            let values = [
                d.title.clone(),
                d.keywords.join(" "),
                d.files.join(" "),
                d.subtitle.clone(),
                d.concepts.join(" "),
                d.facts.join("\n"),
                d.narrative.clone(),
                d.kind.clone(),
            ];
            for ((field, _), value) in self.text_fields.iter().zip(values) {
                doc.add_text(*field, value);
            }
            writer.add_document(doc)?;
        }
        Ok(())
    }

    pub fn delete(&self, id: i64) -> Result<(), SearchError> {
        self.lock()?.delete_term(Term::from_field_i64(self.id, id));
        Ok(())
    }

    /// Makes pending changes durable and searchable.
    pub fn commit(&self) -> Result<(), SearchError> {
        self.lock()?.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    pub fn clear(&self) -> Result<(), SearchError> {
        let mut w = self.lock()?;
        w.delete_all_documents()?;
        w.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The query's content words (stopwords dropped unless nothing else is left; each word once), with
    /// their document frequencies in this index.
    fn query_words(&self, searcher: &Searcher, free: &str) -> Vec<QueryWord> {
        let mut texts: Vec<String> = Vec::new();
        for token in tokenize(free) {
            if !texts.contains(&token.text) {
                texts.push(token.text);
            }
        }
        if texts.iter().any(|t| !is_stopword(t)) {
            texts.retain(|t| !is_stopword(t));
        }
        texts
            .into_iter()
            .map(|text| {
                let doc_freqs = self
                    .text_fields
                    .iter()
                    .map(|(field, _)| {
                        searcher
                            .doc_freq(&Term::from_field_text(*field, &text))
                            .unwrap_or(0)
                    })
                    .collect();
                QueryWord { text, doc_freqs }
            })
            .collect()
    }

    /// What a memory scores when it contains every content word of `query` once, each in the field
    /// where that word counts most: the scale that turns a BM25 score into the share of the query a
    /// memory matches (`bm25 / reference`, about 1 for a full match, more when words repeat across
    /// fields). Words no memory contains count at the highest IDF: a query about something never stored
    /// then matches only a small share, which is what lets search say "nothing relevant".
    pub fn reference(&self, query: &str) -> f32 {
        let searcher = self.reader.searcher();
        let n = searcher.num_docs();
        let (phrases, free) = split_phrases(query);
        let all = format!("{free} {}", phrases.join(" "));
        self.query_words(&searcher, &all)
            .iter()
            .map(|w| {
                if w.unseen() {
                    return idf(0, n);
                }
                w.doc_freqs
                    .iter()
                    .zip(&self.text_fields)
                    .filter(|(df, _)| **df > 0)
                    .map(|(df, (_, weight))| weight * idf(*df, n))
                    .fold(0.0, f32::max)
            })
            .sum()
    }

    fn build_query(&self, query: &str, filters: &Filters) -> Option<Box<dyn Query>> {
        let (phrases, free) = split_phrases(query);
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let searcher = self.reader.searcher();
        let unseen_idf = idf(0, searcher.num_docs());
        for word in self.query_words(&searcher, &free) {
            for (field, weight) in &self.text_fields {
                let term = Term::from_field_text(*field, &word.text);
                let q: Box<dyn Query> = match word.fuzzy_distance() {
                    // A fuzzy match scores a constant (its boost): a share of what the unseen word
                    // adds to the reference.
                    Some(distance) => Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new(term, distance, true)),
                        weight * unseen_idf * FUZZY_SHARE,
                    )),
                    None => Box::new(BoostQuery::new(
                        Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                        *weight,
                    )),
                };
                should.push((Occur::Should, q));
            }
        }
        for phrase in phrases {
            // Only single-word tokens: the whole-identifier token overlaps its parts.
            let words: Vec<String> = tokenize(&phrase)
                .into_iter()
                .filter(|t| t.position_length == 1)
                .map(|t| t.text)
                .collect();
            if words.is_empty() {
                continue;
            }
            let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (field, weight) in &self.text_fields {
                let q: Box<dyn Query> = if words.len() == 1 {
                    Box::new(TermQuery::new(
                        Term::from_field_text(*field, &words[0]),
                        IndexRecordOption::WithFreqs,
                    ))
                } else {
                    Box::new(PhraseQuery::new(
                        words
                            .iter()
                            .map(|w| Term::from_field_text(*field, w))
                            .collect(),
                    ))
                };
                alternatives.push((Occur::Should, Box::new(BoostQuery::new(q, *weight))));
            }
            must.push((Occur::Must, Box::new(BooleanQuery::new(alternatives))));
        }
        if must.is_empty() && should.is_empty() {
            return None;
        }
        let mut clauses = must;
        if !should.is_empty() {
            let occur = if clauses.is_empty() {
                Occur::Must
            } else {
                Occur::Should
            };
            clauses.push((occur, Box::new(BooleanQuery::new(should))));
        }
        if let Some(p) = &filters.project {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(self.project, p),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        if let Some(k) = &filters.kind {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(self.kind, k),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        if filters.since_ms.is_some() || filters.until_ms.is_some() {
            let bound = |ms: Option<i64>| match ms {
                Some(ms) => std::ops::Bound::Included(Term::from_field_i64(self.created_at, ms)),
                None => std::ops::Bound::Unbounded,
            };
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(filters.since_ms),
                    bound(filters.until_ms),
                )),
            ));
        }
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    /// BM25 hits, best first: (observation id, score).
    pub fn search(
        &self,
        query: &str,
        filters: &Filters,
        limit: usize,
    ) -> Result<Vec<(i64, f32)>, SearchError> {
        let Some(q) = self.build_query(query, filters) else {
            return Ok(Vec::new());
        };
        self.run(q.as_ref(), limit)
    }

    fn run(&self, q: &dyn Query, limit: usize) -> Result<Vec<(i64, f32)>, SearchError> {
        let searcher = self.reader.searcher();
        let top = searcher.search(q, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        // Ids come from the fast-field column, not the stored document: loading stored docs decompresses a
        // block per hit and was most of a 50-candidate query's time.
        let columns = searcher
            .segment_readers()
            .iter()
            .map(|segment| segment.fast_fields().i64("id"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let id = columns
                .get(address.segment_ord as usize)
                .and_then(|column| column.first(address.doc_id));
            if let Some(id) = id {
                out.push((id, score));
            }
        }
        Ok(out)
    }
}

impl TextIndex {
    /// The share of `query`'s content words each of `ids` contains, each word weighted by its IDF (a word
    /// no memory contains weighs the most; one matched only by edit distance counts [`FUZZY_SHARE`]):
    /// 1 means the memory contains every informative word asked for. Unlike BM25 it is bounded and does
    /// not grow when a word repeats across fields, so it can say how much of a question a memory answers.
    pub fn coverage(&self, query: &str, ids: &[i64]) -> Result<HashMap<i64, f32>, SearchError> {
        let mut shares: HashMap<i64, f32> = HashMap::new();
        if ids.is_empty() {
            return Ok(shares);
        }
        let searcher = self.reader.searcher();
        let n = searcher.num_docs();
        let (phrases, free) = split_phrases(query);
        let words = self.query_words(&searcher, &format!("{free} {}", phrases.join(" ")));
        let weight = |w: &QueryWord| idf(w.doc_freqs.iter().copied().max().unwrap_or(0), n);
        let total: f32 = words.iter().map(weight).sum();
        if total <= 0.0 {
            return Ok(shares);
        }
        let by_segment = self.locate(&searcher, ids)?;
        for w in &words {
            let add = weight(w) / total;
            if let Some(d) = w.fuzzy_distance() {
                // A typo: the fuzzy automaton over every field, seeked to the candidates.
                let fields: Vec<(Occur, Box<dyn Query>)> = self
                    .text_fields
                    .iter()
                    .map(|(field, _)| {
                        let term = Term::from_field_text(*field, &w.text);
                        let q: Box<dyn Query> = Box::new(FuzzyTermQuery::new(term, d, true));
                        (Occur::Should, q)
                    })
                    .collect();
                let fuzzy = BooleanQuery::new(fields)
                    .weight(EnableScoring::disabled_from_searcher(&searcher))?;
                for (segment, docs) in searcher.segment_readers().iter().zip(&by_segment) {
                    if docs.is_empty() {
                        continue;
                    }
                    let mut scorer = fuzzy.scorer(segment, 1.0)?;
                    for (doc, id) in docs {
                        if scorer.doc() <= *doc && scorer.seek(*doc) == *doc {
                            *shares.entry(*id).or_insert(0.0) += FUZZY_SHARE * add;
                        }
                    }
                }
                continue;
            }
            if w.unseen() {
                continue;
            }
            for (segment, docs) in searcher.segment_readers().iter().zip(&by_segment) {
                if docs.is_empty() {
                    continue;
                }
                let mut found = vec![false; docs.len()];
                for ((field, _), df) in self.text_fields.iter().zip(&w.doc_freqs) {
                    if *df == 0 {
                        continue;
                    }
                    let term = Term::from_field_text(*field, &w.text);
                    let Some(mut postings) = segment
                        .inverted_index(*field)?
                        .read_postings(&term, IndexRecordOption::Basic)?
                    else {
                        continue;
                    };
                    for (slot, (doc, _)) in docs.iter().enumerate() {
                        if !found[slot] && postings.doc() <= *doc && postings.seek(*doc) == *doc {
                            found[slot] = true;
                        }
                    }
                }
                for ((_, id), hit) in docs.iter().zip(found) {
                    if hit {
                        *shares.entry(*id).or_insert(0.0) += add;
                    }
                }
            }
        }
        Ok(shares)
    }

    /// BM25 scores of exactly these memories for `query` (those that match at all): the text side of a
    /// candidate that only the vector side found.
    pub fn score_ids(
        &self,
        query: &str,
        filters: &Filters,
        ids: &[i64],
    ) -> Result<Vec<(i64, f32)>, SearchError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let Some(q) = self.build_query(query, filters) else {
            return Ok(Vec::new());
        };
        // The query's scorer seeked to each candidate's document: the same BM25 a search computes, without
        // collecting every match of the query.
        let searcher = self.reader.searcher();
        let weight = q.weight(EnableScoring::enabled_from_searcher(&searcher))?;
        let mut out = Vec::new();
        for (segment, docs) in searcher
            .segment_readers()
            .iter()
            .zip(self.locate(&searcher, ids)?)
        {
            if docs.is_empty() {
                continue;
            }
            let mut scorer = weight.scorer(segment, 1.0)?;
            for (doc, id) in docs {
                if scorer.doc() <= doc && scorer.seek(doc) == doc {
                    out.push((id, scorer.score()));
                }
            }
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
        Ok(out)
    }

    /// Where each of `ids` lives: per segment, its live (document, id) pairs in document order. Each id is
    /// looked up in the id field's term dictionary of the segments whose id range holds it (segments are
    /// written in id order, so that is mostly one); a `TermSetQuery` instead streams the whole dictionary
    /// through an automaton, which at 100K memories was the largest cost of a hybrid query.
    fn locate(
        &self,
        searcher: &Searcher,
        ids: &[i64],
    ) -> Result<Vec<Vec<(u32, i64)>>, SearchError> {
        let mut sorted: Vec<i64> = ids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut by_segment = Vec::with_capacity(searcher.segment_readers().len());
        for segment in searcher.segment_readers() {
            let mut docs: Vec<(u32, i64)> = Vec::new();
            let column = segment.fast_fields().i64("id")?;
            let (lo, hi) = (column.min_value(), column.max_value());
            let inverted = segment.inverted_index(self.id)?;
            for id in sorted.iter().filter(|id| (lo..=hi).contains(*id)) {
                let term = Term::from_field_i64(self.id, *id);
                let Some(mut postings) = inverted.read_postings(&term, IndexRecordOption::Basic)?
                else {
                    continue;
                };
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    if !segment.is_deleted(doc) {
                        docs.push((doc, *id));
                    }
                    doc = postings.advance();
                }
            }
            docs.sort_unstable();
            by_segment.push(docs);
        }
        Ok(by_segment)
    }
}

/// `say "exact words" here` → (["exact words"], "say  here").
fn split_phrases(query: &str) -> (Vec<String>, String) {
    let mut phrases = Vec::new();
    let mut free = String::new();
    let mut parts = query.split('"');
    let mut inside = false;
    for part in parts.by_ref() {
        if inside {
            phrases.push(part.to_owned());
        } else {
            free.push_str(part);
            free.push(' ');
        }
        inside = !inside;
    }
    (phrases, free)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: i64, project: &str, title: &str, files: &[&str], created_at: i64) -> Doc {
        Doc {
            id,
            project: project.into(),
            kind: "bugfix".into(),
            created_at,
            title: title.into(),
            files: files.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn index() -> TextIndex {
        let idx = TextIndex::in_memory().unwrap();
        idx.add(&[
            doc(
                1,
                "api",
                "Fixed parseConfigFile crash on empty input",
                &["src/config/parse.rs"],
                10,
            ),
            doc(
                2,
                "api",
                "Added WAL mode to the store",
                &["src/store/db.rs"],
                20,
            ),
            doc(
                3,
                "web",
                "Refactored useAuth hook",
                &["web/src/hooks/useAuth.ts"],
                30,
            ),
            doc(4, "api", "Parse errors now carry the line number", &[], 40),
        ])
        .unwrap();
        idx.commit().unwrap();
        idx
    }

    fn ids(hits: Vec<(i64, f32)>) -> Vec<i64> {
        hits.into_iter().map(|h| h.0).collect()
    }

    #[test]
    fn identifiers_and_paths_match_loosely() {
        let idx = index();
        let f = Filters::default();
        assert_eq!(ids(idx.search("store db", &f, 5).unwrap())[0], 2);
        assert_eq!(ids(idx.search("parse config", &f, 5).unwrap())[0], 1);
        assert_eq!(ids(idx.search("parseConfigFile", &f, 5).unwrap())[0], 1);
        assert_eq!(ids(idx.search("use auth", &f, 5).unwrap())[0], 3);
    }

    #[test]
    fn phrases_and_filters() {
        let idx = index();
        let f = Filters::default();
        assert_eq!(ids(idx.search("\"line number\"", &f, 5).unwrap()), [4]);
        assert!(idx.search("\"number line\"", &f, 5).unwrap().is_empty());
        let web = Filters {
            project: Some("web".into()),
            ..Default::default()
        };
        assert_eq!(
            ids(idx.search("refactored hook parse", &web, 5).unwrap()),
            [3]
        );
        let recent = Filters {
            since_ms: Some(25),
            ..Default::default()
        };
        assert_eq!(ids(idx.search("parse", &recent, 5).unwrap()), [4]);
        assert!(idx.search("   ", &f, 5).unwrap().is_empty());
    }

    #[test]
    fn re_adding_replaces_and_delete_removes() {
        let idx = index();
        idx.add(&[doc(
            2,
            "api",
            "Switched the store to rollback journal",
            &[],
            50,
        )])
        .unwrap();
        idx.delete(3).unwrap();
        idx.commit().unwrap();
        assert_eq!(idx.num_docs(), 3);
        assert!(idx
            .search("WAL", &Filters::default(), 5)
            .unwrap()
            .is_empty());
        assert!(idx
            .search("useAuth", &Filters::default(), 5)
            .unwrap()
            .is_empty());
    }
}
