//! Durable vectors: every memory's embedding, per embedder, in `memory_vectors` (migration 0004).
//!
//! The vector graph under `index/` is a cache of these rows: when it is missing, damaged or built for
//! another embedder it is rebuilt from here without calling the model, and a new embedder fills its own
//! rows in the background while the old embedder's keep serving. A row names its memory by table
//! (`source`: `observation`, `summary`, `prompt`) and row id, so deleting the memory deletes the vector
//! (triggers) and no other crate's key layout leaks into the schema.
//!
//! Vectors are stored as f32 or as int8 with one f32 scale per vector ([`VectorEncoding`]): a quarter of
//! the bytes, and every embedder here returns unit vectors whose components sit well inside the int8
//! range once scaled by their largest magnitude.

use super::{Store, StoreError};
use sqlx::{Connection, Row};
use std::collections::HashMap;

/// How a vector's components are written in `memory_vectors.vector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VectorEncoding {
    /// `dim` little-endian f32s: exact.
    #[default]
    F32,
    /// A little-endian f32 scale, then `dim` int8s; component `i` is `scale * q[i]`. The scale is the
    /// vector's largest magnitude / 127, so the largest component is exact and the others are off by at
    /// most half a step.
    Int8,
}

impl VectorEncoding {
    fn code(self) -> i64 {
        match self {
            VectorEncoding::F32 => 0,
            VectorEncoding::Int8 => 1,
        }
    }

    fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(VectorEncoding::F32),
            1 => Some(VectorEncoding::Int8),
            _ => None,
        }
    }

    /// `f32` or `int8` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" | "float" => Some(VectorEncoding::F32),
            "int8" | "i8" | "q8" => Some(VectorEncoding::Int8),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VectorEncoding::F32 => "f32",
            VectorEncoding::Int8 => "int8",
        }
    }

    /// Bytes one stored vector of `dim` components takes (the blob alone).
    pub fn encoded_len(self, dim: usize) -> usize {
        match self {
            VectorEncoding::F32 => 4 * dim,
            VectorEncoding::Int8 => 4 + dim,
        }
    }
}

/// The per-vector scale and int8 components of `v` (see [`VectorEncoding::Int8`]). A zero (or
/// non-finite) vector gets scale 0 and zero components.
pub fn quantize(v: &[f32]) -> (f32, Vec<i8>) {
    let max = v
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return (0.0, vec![0; v.len()]);
    }
    let scale = max / 127.0;
    let q = v
        .iter()
        .map(|x| {
            let x = if x.is_finite() { *x } else { 0.0 };
            (x / scale).round().clamp(-127.0, 127.0) as i8
        })
        .collect();
    (scale, q)
}

/// The blob `v` is stored as.
pub fn encode(encoding: VectorEncoding, v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoding.encoded_len(v.len()));
    match encoding {
        VectorEncoding::F32 => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        VectorEncoding::Int8 => {
            let (scale, q) = quantize(v);
            out.extend(scale.to_le_bytes());
            out.extend(q.iter().map(|x| *x as u8));
        }
    }
    out
}

/// Reads a stored blob back; `None` when its length does not fit `dim` (a damaged row is skipped, and
/// its memory re-embedded, rather than put into the graph with the wrong shape).
pub fn decode(encoding: VectorEncoding, dim: usize, blob: &[u8]) -> Option<Vec<f32>> {
    if blob.len() != encoding.encoded_len(dim) {
        return None;
    }
    let f32_at = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    Some(match encoding {
        VectorEncoding::F32 => blob.chunks_exact(4).map(f32_at).collect(),
        VectorEncoding::Int8 => {
            let scale = f32_at(&blob[..4]);
            blob[4..]
                .iter()
                .map(|q| scale * f32::from(*q as i8))
                .collect()
        }
    })
}

/// What `v` reads back as once stored with `encoding`: what the graph is given, so a graph built live
/// and one rebuilt from the database hold exactly the same vectors.
pub fn round_trip(encoding: VectorEncoding, v: &[f32]) -> Vec<f32> {
    match encoding {
        VectorEncoding::F32 => v.to_vec(),
        VectorEncoding::Int8 => {
            let (scale, q) = quantize(v);
            q.iter().map(|x| scale * f32::from(*x)).collect()
        }
    }
}

/// One memory's vector and the filter metadata it was indexed with.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVector {
    pub row_id: i64,
    pub vector: Vec<f32>,
    pub project: String,
    pub kind: String,
    pub created_at: i64,
}

/// The table a `source` names; `None` for anything else (the name is spliced into SQL, so only these
/// three can ever reach it).
fn table_of(source: &str) -> Option<&'static str> {
    match source {
        "observation" => Some("observations"),
        "summary" => Some("session_summaries"),
        "prompt" => Some("user_prompts"),
        _ => None,
    }
}

fn unknown_source(source: &str) -> StoreError {
    StoreError::Commit(format!("no memory table is called {source:?}"))
}

/// Rows of one table per query at most (well under SQLite's bound-parameter limit).
const IN_CHUNK: usize = 500;

/// How many vectors an embedder has stored, and their bytes (blobs only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VectorStorage {
    pub vectors: i64,
    pub bytes: i64,
}

impl Store {
    /// Stores (or replaces) vectors of one source made by `embedder`, in one transaction.
    pub async fn put_vectors(
        &self,
        embedder: &str,
        encoding: VectorEncoding,
        source: &str,
        items: Vec<StoredVector>,
    ) -> Result<(), StoreError> {
        table_of(source).ok_or_else(|| unknown_source(source))?;
        if items.is_empty() {
            return Ok(());
        }
        let embedder = embedder.to_owned();
        let source = source.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let mut tx = conn.begin().await?;
                for item in &items {
                    sqlx::query(
                        "INSERT OR REPLACE INTO memory_vectors
                             (embedder, source, row_id, dim, encoding, vector, project, kind, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )
                    .bind(&embedder)
                    .bind(&source)
                    .bind(item.row_id)
                    .bind(item.vector.len() as i64)
                    .bind(encoding.code())
                    .bind(encode(encoding, &item.vector))
                    .bind(&item.project)
                    .bind(&item.kind)
                    .bind(item.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            })
        })
        .await
    }

    /// The stored vectors of `embedder` (of dimension `dim`) among `row_ids` of `source`, by row id.
    pub async fn vectors_for(
        &self,
        embedder: &str,
        dim: usize,
        source: &str,
        row_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<f32>>, StoreError> {
        table_of(source).ok_or_else(|| unknown_source(source))?;
        let mut found = HashMap::with_capacity(row_ids.len());
        for chunk in row_ids.chunks(IN_CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT row_id, encoding, vector FROM memory_vectors
                 WHERE embedder = ? AND source = ? AND dim = ? AND row_id IN ({marks})"
            );
            let mut query = sqlx::query(&sql)
                .bind(embedder)
                .bind(source)
                .bind(dim as i64);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(self.read_pool()).await? {
                let row_id: i64 = row.try_get("row_id")?;
                let blob: Vec<u8> = row.try_get("vector")?;
                let vector = VectorEncoding::from_code(row.try_get("encoding")?)
                    .and_then(|e| decode(e, dim, &blob));
                if let Some(v) = vector {
                    found.insert(row_id, v);
                }
            }
        }
        Ok(found)
    }

    /// Up to `limit` stored vectors of `embedder` for `source`, past `after_row_id`, in row id order:
    /// a graph rebuild reads them page by page. Rows whose memory is gone, and damaged blobs, are left
    /// out.
    pub async fn stored_vectors(
        &self,
        embedder: &str,
        dim: usize,
        source: &str,
        after_row_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredVector>, StoreError> {
        let table = table_of(source).ok_or_else(|| unknown_source(source))?;
        let sql = format!(
            "SELECT v.row_id, v.encoding, v.vector, v.project, v.kind, v.created_at
             FROM memory_vectors v
             WHERE v.embedder = ?1 AND v.source = ?2 AND v.dim = ?3 AND v.row_id > ?4
               AND EXISTS (SELECT 1 FROM {table} m WHERE m.id = v.row_id)
             ORDER BY v.row_id LIMIT ?5"
        );
        let rows = sqlx::query(&sql)
            .bind(embedder)
            .bind(source)
            .bind(dim as i64)
            .bind(after_row_id)
            .bind(limit)
            .fetch_all(self.read_pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let blob: Vec<u8> = row.try_get("vector")?;
            let Some(vector) = VectorEncoding::from_code(row.try_get("encoding")?)
                .and_then(|e| decode(e, dim, &blob))
            else {
                continue;
            };
            out.push(StoredVector {
                row_id: row.try_get("row_id")?,
                vector,
                project: row.try_get("project")?,
                kind: row.try_get("kind")?,
                created_at: row.try_get("created_at")?,
            });
        }
        Ok(out)
    }

    /// Up to `limit` ids of `source` past `after_row_id` that have no vector of `embedder` yet: what a
    /// new embedder (or a store from before durable vectors) still has to embed.
    pub async fn rows_without_vectors(
        &self,
        embedder: &str,
        source: &str,
        after_row_id: i64,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let table = table_of(source).ok_or_else(|| unknown_source(source))?;
        let sql = format!(
            "SELECT m.id FROM {table} m
             WHERE m.id > ?1 AND NOT EXISTS (
                 SELECT 1 FROM memory_vectors v
                 WHERE v.embedder = ?2 AND v.source = ?3 AND v.row_id = m.id)
             ORDER BY m.id LIMIT ?4"
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(after_row_id)
            .bind(embedder)
            .bind(source)
            .bind(limit)
            .fetch_all(self.read_pool())
            .await?)
    }

    /// How many vectors of `embedder` (dimension `dim`) `source` has stored.
    pub async fn count_vectors(
        &self,
        embedder: &str,
        dim: usize,
        source: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM memory_vectors WHERE embedder = ?1 AND source = ?2 AND dim = ?3",
        )
        .bind(embedder)
        .bind(source)
        .bind(dim as i64)
        .fetch_one(self.read_pool())
        .await?)
    }

    /// Memories of every kind that can have a vector (observations, summaries, prompts).
    pub async fn memory_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM observations) + (SELECT COUNT(*) FROM session_summaries)
                  + (SELECT COUNT(*) FROM user_prompts)",
        )
        .fetch_one(self.read_pool())
        .await?)
    }

    /// How many vectors `embedder` has stored (all sources) and their bytes.
    pub async fn vector_storage(&self, embedder: &str) -> Result<VectorStorage, StoreError> {
        let (vectors, bytes): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), SUM(length(vector)) FROM memory_vectors WHERE embedder = ?1",
        )
        .bind(embedder)
        .fetch_one(self.read_pool())
        .await?;
        Ok(VectorStorage {
            vectors,
            bytes: bytes.unwrap_or(0),
        })
    }

    /// Deletes every vector not made by `keep`: once a switch to `keep` is complete, the old embedder's
    /// rows only cost space. Returns how many went.
    pub async fn delete_vectors_except(&self, keep: &str) -> Result<u64, StoreError> {
        let keep = keep.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                Ok(
                    sqlx::query("DELETE FROM memory_vectors WHERE embedder != ?1")
                        .bind(&keep)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected(),
                )
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_keeps_unit_vectors_close_and_f32_is_exact() {
        let v: Vec<f32> = (0..384)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 300.0)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let v: Vec<f32> = v.iter().map(|x| x / norm).collect();
        let exact = decode(VectorEncoding::F32, 384, &encode(VectorEncoding::F32, &v)).unwrap();
        assert_eq!(exact, v);
        let blob = encode(VectorEncoding::Int8, &v);
        assert_eq!(blob.len(), 388);
        let back = decode(VectorEncoding::Int8, 384, &blob).unwrap();
        assert_eq!(back, round_trip(VectorEncoding::Int8, &v));
        let cos: f32 = v.iter().zip(&back).map(|(a, b)| a * b).sum::<f32>()
            / back.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(cos > 0.9999, "cosine {cos}");
        let step = v.iter().fold(0.0f32, |m, x| m.max(x.abs())) / 127.0;
        for (a, b) in v.iter().zip(&back) {
            assert!((a - b).abs() <= step / 2.0 + 1e-6);
        }
        assert_eq!(decode(VectorEncoding::Int8, 383, &blob), None);
        assert_eq!(quantize(&[0.0, 0.0]), (0.0, vec![0, 0]));
        assert_eq!(VectorEncoding::parse(" INT8 "), Some(VectorEncoding::Int8));
        assert_eq!(VectorEncoding::parse("f16"), None);
    }

    fn memory(text: &str) -> crate::model::NewMemory {
        crate::model::NewMemory {
            project: "p".into(),
            title: String::new(),
            text: text.into(),
            kind: crate::model::ObservationType::Discovery,
            concepts: vec![],
            files: vec![],
        }
    }

    fn item(row_id: i64, x: f32) -> StoredVector {
        StoredVector {
            row_id,
            vector: vec![x, 1.0 - x, 0.5],
            project: "p".into(),
            kind: "discovery".into(),
            created_at: row_id,
        }
    }

    /// Vectors are kept per embedder, read back by id or page by page, leave with their memory, and
    /// say which memories still need one.
    #[tokio::test]
    async fn vectors_round_trip_per_embedder_and_leave_with_their_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
        let mut ids = Vec::new();
        for t in ["one", "two", "three"] {
            ids.push(store.save_memory(memory(t)).await.unwrap().id);
        }
        let (a, b, c) = (ids[0], ids[1], ids[2]);
        store
            .put_vectors(
                "e1",
                VectorEncoding::F32,
                "observation",
                vec![item(a, 0.25), item(b, 0.5)],
            )
            .await
            .unwrap();
        store
            .put_vectors(
                "e2",
                VectorEncoding::Int8,
                "observation",
                vec![item(a, 0.75)],
            )
            .await
            .unwrap();
        assert!(store
            .put_vectors("e1", VectorEncoding::F32, "events", vec![item(a, 0.1)])
            .await
            .is_err());
        let got = store
            .vectors_for("e1", 3, "observation", &ids)
            .await
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[&a], item(a, 0.25).vector);
        // Another dimension is another embedder's shape: not served.
        assert!(store
            .vectors_for("e1", 4, "observation", &ids)
            .await
            .unwrap()
            .is_empty());
        let e2 = store
            .vectors_for("e2", 3, "observation", &ids)
            .await
            .unwrap();
        assert!((e2[&a][0] - 0.75).abs() < 0.01);
        assert_eq!(
            store
                .rows_without_vectors("e1", "observation", 0, 10)
                .await
                .unwrap(),
            vec![c]
        );
        assert_eq!(
            store
                .rows_without_vectors("e2", "observation", a, 10)
                .await
                .unwrap(),
            vec![b, c]
        );
        let page = store
            .stored_vectors("e1", 3, "observation", 0, 1)
            .await
            .unwrap();
        assert_eq!(page, vec![item(a, 0.25)]);
        let rest = store
            .stored_vectors("e1", 3, "observation", a, 10)
            .await
            .unwrap();
        assert_eq!(rest, vec![item(b, 0.5)]);
        let storage = store.vector_storage("e1").await.unwrap();
        assert_eq!(
            storage,
            VectorStorage {
                vectors: 2,
                bytes: 24
            }
        );
        assert_eq!(store.vector_storage("e2").await.unwrap().bytes, 7);

        // Deleting the memory deletes its vectors, for every embedder.
        store
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM observations WHERE id = ?1")
                        .bind(a)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        assert!(store
            .vectors_for("e2", 3, "observation", &ids)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .stored_vectors("e1", 3, "observation", 0, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(store.delete_vectors_except("e2").await.unwrap(), 1);
        assert_eq!(store.vector_storage("e1").await.unwrap().vectors, 0);
    }
}
