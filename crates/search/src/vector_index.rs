//! Vector index: hnsw_rs (cosine) over observation embeddings, with the metadata filters need.
//!
//! HNSW graphs cannot delete, so deletes are tombstones filtered at query time and dropped by the next
//! rebuild. The graph is dumped with hnsw_rs's own format beside a small JSON file of ids, filter metadata
//! and tombstones, so a restart reloads instead of re-embedding.
//!
//! hnsw_rs trusts its files: on a truncated or garbled dump its loader calls `process::exit(1)` or
//! allocates whatever length a damaged record claims, which no `catch_unwind` can stop. So every save
//! ends with a manifest (`vectors.manifest.json`: each file's size and SHA-256, written atomically after
//! the files), and a load checks the files against it before hnsw_rs reads a byte: a mismatch, a missing
//! file or a missing or garbled manifest is an error, which the caller answers with a rebuild from
//! SQLite. A dump from before manifests (none beside it) is walked record by record instead, which is
//! what hnsw_rs would read, and gets its manifest once it loads.

use crate::{Filters, SearchError};
use hnsw_rs::hnswio::HnswIo;
use hnsw_rs::prelude::{AnnT, Distance, Hnsw, PointId};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;

const BASENAME: &str = "vectors";
/// The manifest of a vector directory: what [`VectorIndex::save`] wrote, with sizes and checksums.
pub const MANIFEST: &str = "vectors.manifest.json";
const GRAPH_FILE: &str = "vectors.hnsw.graph";
const DATA_FILE: &str = "vectors.hnsw.data";
const SIDECAR_FILE: &str = "vectors.meta.json";
/// hnsw_rs's data-file magic (`hnswio::MAGICDATAP`), for walking a dump that has no manifest.
const MAGIC_DATA: u32 = 0xa67f_0000;
/// The graph-file formats hnsw_rs 0.3 loads without exiting (`MAGICDESCR_3`, `MAGICDESCR_4`).
const GRAPH_MAGICS: [u32; 2] = [0x002a_6771, 0x002a_6779];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct FileSum {
    size: u64,
    sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct Manifest {
    version: u32,
    files: std::collections::BTreeMap<String, FileSum>,
}

fn sum_file(path: &Path) -> Result<FileSum, SearchError> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok(FileSum {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn corrupt(message: String) -> SearchError {
    SearchError::Vector(message)
}

/// Checks the files of a vector directory against its manifest, before anything parses them. `Ok(false)`:
/// there is no manifest (a dump from an older version); `Err`: what does not match.
pub fn verify_files(dir: &Path) -> Result<bool, SearchError> {
    let bytes = match std::fs::read(dir.join(MANIFEST)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(format!("{MANIFEST} is unreadable: {e}")))?;
    if !manifest.files.contains_key(SIDECAR_FILE) {
        return Err(corrupt(format!("{MANIFEST} does not list {SIDECAR_FILE}")));
    }
    for (name, want) in &manifest.files {
        let path = dir.join(name);
        let size = std::fs::metadata(&path)
            .map_err(|e| corrupt(format!("{name}: {e}")))?
            .len();
        if size != want.size {
            return Err(corrupt(format!(
                "{name} is {size} bytes, {} were written",
                want.size
            )));
        }
        if sum_file(&path)?.sha256 != want.sha256 {
            return Err(corrupt(format!("{name} does not match its checksum")));
        }
    }
    Ok(true)
}

/// Walks a graph dump's data file as hnsw_rs would read it, without trusting any length in it: the
/// header's dimension must be `dim`, every record must hold exactly one vector of it, and the file must
/// end at a record boundary after `points` records. For dumps older than manifests.
fn walk_data_file(path: &Path, dim: usize, points: usize) -> Result<(), SearchError> {
    use std::io::Read;
    let len = std::fs::metadata(path)?.len();
    let mut r = std::io::BufReader::new(std::fs::File::open(path)?);
    let bad = |what: &str| corrupt(format!("{DATA_FILE} is damaged: {what}"));
    let mut u32b = [0u8; 4];
    let mut u64b = [0u8; 8];
    let read = |r: &mut std::io::BufReader<std::fs::File>, b: &mut [u8]| {
        r.read_exact(b).map_err(|_| bad("it ends inside a record"))
    };
    read(&mut r, &mut u32b)?;
    if u32::from_ne_bytes(u32b) != MAGIC_DATA {
        return Err(bad("wrong magic"));
    }
    read(&mut r, &mut u64b)?;
    if u64::from_ne_bytes(u64b) != dim as u64 {
        return Err(bad("wrong dimension"));
    }
    let record = (dim * std::mem::size_of::<f32>()) as u64;
    let mut offset = 12u64;
    let mut seen = 0usize;
    let mut skip = vec![0u8; record as usize];
    while offset < len {
        read(&mut r, &mut u32b)?;
        if u32::from_ne_bytes(u32b) != MAGIC_DATA {
            return Err(bad("a record has a wrong magic"));
        }
        read(&mut r, &mut u64b)?;
        read(&mut r, &mut u64b)?;
        if u64::from_ne_bytes(u64b) != record {
            return Err(bad("a record has a wrong length"));
        }
        read(&mut r, &mut skip)?;
        offset += 20 + record;
        seen += 1;
    }
    if seen != points {
        return Err(bad(&format!("{seen} records for {points} points")));
    }
    Ok(())
}

const MAX_CONNECTIONS: usize = 16;
const EF_CONSTRUCTION: usize = 200;

/// Cosine distance for vectors that are already L2-normalised (every embedder normalises), so it is one
/// dot product. hnsw_rs's `DistCosine` recomputes both norms in f64 with a single accumulator, which does
/// not vectorise and was most of a query's time at 100K vectors; eight independent lanes let the compiler
/// use SIMD. Clamped at 0 because rounding can push the dot of a vector with itself past 1.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0.0f32; LANES];
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VectorMeta {
    pub project: String,
    pub kind: String,
    pub created_at: i64,
}

#[derive(Serialize, Deserialize, Default)]
struct Sidecar {
    dim: usize,
    meta: HashMap<i64, VectorMeta>,
    tombstones: HashSet<i64>,
}

pub struct VectorIndex {
    hnsw: Hnsw<'static, f32, UnitCosine>,
    dim: usize,
    meta: HashMap<i64, VectorMeta>,
    tombstones: HashSet<i64>,
    /// Where each memory's vector sits in the graph, so a candidate found by full text alone can be given
    /// its real cosine (hybrid scores every candidate on both sides).
    points: HashMap<i64, PointId>,
    /// A fixed, evenly spread sample of stored vectors: how similar the query is to memories in general,
    /// the background a relevant memory must stand out from.
    sample: Vec<(i64, Vec<f32>)>,
}

/// Vectors kept for the background estimate: enough for a stable mean and spread, few enough that
/// scanning them costs microseconds.
const SAMPLE_SIZE: usize = 256;

/// How similar a query is to stored memories in general: the mean and standard deviation of its cosine
/// over the background sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Background {
    pub mean: f32,
    pub std: f32,
}

fn new_graph(capacity: usize) -> Hnsw<'static, f32, UnitCosine> {
    Hnsw::new(
        MAX_CONNECTIONS,
        capacity.max(10_000),
        16,
        EF_CONSTRUCTION,
        UnitCosine,
    )
}

impl VectorIndex {
    pub fn new(dim: usize, capacity: usize) -> Self {
        Self {
            hnsw: new_graph(capacity),
            dim,
            meta: HashMap::new(),
            tombstones: HashSet::new(),
            points: HashMap::new(),
            sample: Vec::new(),
        }
    }

    /// Learns where new points landed in the graph (hnsw_rs does not say on insert) and keeps the
    /// background sample filled. A sample slot is chosen by a hash of the id, so the same memories always
    /// make the same sample, whatever the order they were indexed in.
    fn index_points(&mut self) {
        if self.points.len() == self.hnsw.get_nb_point() {
            return;
        }
        let mut fresh = Vec::new();
        for p in self.hnsw.get_point_indexation() {
            let id = p.get_origin_id() as i64;
            if let std::collections::hash_map::Entry::Vacant(slot) = self.points.entry(id) {
                slot.insert(p.get_point_id());
                fresh.push((id, p.get_v().to_vec()));
            }
        }
        fresh.sort_by_key(|(id, _)| *id);
        for (id, v) in fresh {
            if self.sample.len() < SAMPLE_SIZE {
                self.sample.push((id, v));
            } else {
                let slot =
                    (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % (self.points.len() as u64);
                if let Some(entry) = self.sample.get_mut(slot as usize) {
                    *entry = (id, v);
                }
            }
        }
    }

    /// Exact cosine of `query` with each of `ids` that has a live vector (others are left out).
    pub fn similarities(&self, query: &[f32], ids: &[i64]) -> Vec<(i64, f32)> {
        if query.len() != self.dim {
            return Vec::new();
        }
        let indexation = self.hnsw.get_point_indexation();
        ids.iter()
            .filter(|id| !self.tombstones.contains(id))
            .filter_map(|id| {
                let v = indexation.get_point_data(self.points.get(id)?)?;
                Some((*id, dot(query, &v)))
            })
            .collect()
    }

    /// The query's cosine with memories in general (the background sample); `None` while the index holds
    /// too few memories for a spread to mean anything.
    pub fn background(&self, query: &[f32]) -> Option<Background> {
        if query.len() != self.dim || self.sample.len() < 8 {
            return None;
        }
        let sims: Vec<f32> = self.sample.iter().map(|(_, v)| dot(query, v)).collect();
        let n = sims.len() as f32;
        let mean = sims.iter().sum::<f32>() / n;
        let var = sims.iter().map(|s| (s - mean) * (s - mean)).sum::<f32>() / n;
        Some(Background {
            mean,
            std: var.sqrt().max(1e-3),
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Live vectors (tombstones excluded).
    pub fn len(&self) -> usize {
        self.meta.len() - self.tombstones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, id: i64) -> bool {
        self.meta.contains_key(&id) && !self.tombstones.contains(&id)
    }

    /// Inserts vectors for new ids; ids already present are skipped (observations do not change).
    pub fn insert(
        &mut self,
        items: Vec<(i64, Vec<f32>, VectorMeta)>,
    ) -> Result<usize, SearchError> {
        let mut batch = Vec::with_capacity(items.len());
        for (id, vector, meta) in items {
            if vector.len() != self.dim {
                return Err(SearchError::Incompatible(format!(
                    "vector of dimension {} in an index of dimension {}",
                    vector.len(),
                    self.dim
                )));
            }
            if self.meta.contains_key(&id) {
                continue;
            }
            let Ok(data_id) = usize::try_from(id) else {
                continue;
            };
            self.meta.insert(id, meta);
            batch.push((vector, data_id));
        }
        let refs: Vec<(&Vec<f32>, usize)> = batch.iter().map(|(v, id)| (v, *id)).collect();
        if refs.len() > 1 {
            self.hnsw.parallel_insert(&refs);
        } else if let Some((v, id)) = refs.first() {
            self.hnsw.insert((v.as_slice(), *id));
        }
        let inserted = refs.len();
        self.index_points();
        Ok(inserted)
    }

    /// Every live vector with its metadata, by id: what a store from before durable vectors is seeded
    /// with, so upgrading costs no model call.
    pub fn entries(&self) -> Vec<(i64, Vec<f32>, VectorMeta)> {
        let mut out: Vec<(i64, Vec<f32>, VectorMeta)> = self
            .hnsw
            .get_point_indexation()
            .into_iter()
            .filter_map(|p| {
                let id = p.get_origin_id() as i64;
                if self.tombstones.contains(&id) {
                    return None;
                }
                let meta = self.meta.get(&id)?.clone();
                Some((id, p.get_v().to_vec(), meta))
            })
            .collect();
        out.sort_by_key(|e| e.0);
        out
    }

    pub fn delete(&mut self, id: i64) {
        if self.meta.contains_key(&id) {
            self.tombstones.insert(id);
        }
    }

    /// Nearest neighbours passing `filters`: (id, cosine similarity), best first.
    pub fn search(&self, query: &[f32], filters: &Filters, k: usize) -> Vec<(i64, f32)> {
        if self.is_empty() || query.len() != self.dim {
            return Vec::new();
        }
        // Checked for every point the graph visits: without filters only the tombstones matter (and
        // without tombstones nothing does), so the sidecar's map is not consulted at all.
        let unfiltered = filters.project.is_none()
            && filters.kind.is_none()
            && filters.since_ms.is_none()
            && filters.until_ms.is_none();
        let no_tombstones = self.tombstones.is_empty();
        let accept = |data_id: &usize| -> bool {
            let id = *data_id as i64;
            if !no_tombstones && self.tombstones.contains(&id) {
                return false;
            }
            if unfiltered {
                return true;
            }
            let Some(m) = self.meta.get(&id) else {
                return false;
            };
            filters.project.as_ref().is_none_or(|p| &m.project == p)
                && filters.kind.as_ref().is_none_or(|k| &m.kind == k)
                && filters.since_ms.is_none_or(|s| m.created_at >= s)
                && filters.until_ms.is_none_or(|u| m.created_at <= u)
        };
        // ef = 2k measured as the knee at 100K: recall@k against exact search stays ≥ 0.98 for half the
        // distance evaluations of 4k (docs/BENCHMARKS.md).
        let ef = (k * 2).max(64);
        self.hnsw
            .search_filter(query, k, ef, Some(&accept))
            .into_iter()
            .map(|n| (n.d_id as i64, 1.0 - n.distance))
            .collect()
    }

    /// Exact nearest neighbours by scanning every vector: the oracle the benchmark measures the graph's
    /// recall against. Linear in the index size, so never on a request path.
    pub fn exact_search(&self, query: &[f32], k: usize) -> Vec<(i64, f32)> {
        if query.len() != self.dim {
            return Vec::new();
        }
        let mut all: Vec<(i64, f32)> = self
            .hnsw
            .get_point_indexation()
            .into_iter()
            .map(|p| (p.get_origin_id() as i64, dot(query, p.get_v())))
            .filter(|(id, _)| !self.tombstones.contains(id))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    /// Dumps the graph and the sidecar into `dir` (replacing what was there), then the manifest that
    /// vouches for them. The manifest goes first out of the way, so a crash mid-dump leaves files that
    /// no manifest vouches for (a rebuild), never a manifest over half-written files.
    pub fn save(&self, dir: &Path) -> Result<(), SearchError> {
        std::fs::create_dir_all(dir)?;
        match std::fs::remove_file(dir.join(MANIFEST)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        let mut files = vec![SIDECAR_FILE];
        if !self.meta.is_empty() {
            let name = self
                .hnsw
                .file_dump(dir, BASENAME)
                .map_err(|e| SearchError::Vector(e.to_string()))?;
            if name != BASENAME {
                // hnsw_rs picked another name (it does for graphs it thinks are memory-mapped): move
                // the pair where a load looks.
                for ext in ["hnsw.graph", "hnsw.data"] {
                    std::fs::rename(
                        dir.join(format!("{name}.{ext}")),
                        dir.join(format!("{BASENAME}.{ext}")),
                    )?;
                }
            }
            files.extend([GRAPH_FILE, DATA_FILE]);
        }
        let sidecar = Sidecar {
            dim: self.dim,
            meta: self.meta.clone(),
            tombstones: self.tombstones.clone(),
        };
        claude_mem_core::paths::write_atomically(
            &dir.join(SIDECAR_FILE),
            &serde_json::to_vec(&sidecar)?,
        )?;
        write_manifest(dir, &files)
    }

    /// Reloads what [`VectorIndex::save`] wrote, after checking the files against the manifest (see the
    /// module). Missing, unreadable or damaged files are an error: rebuild.
    pub fn load(dir: &Path, dim: usize) -> Result<Self, SearchError> {
        let vouched = verify_files(dir)?;
        let sidecar: Sidecar = serde_json::from_slice(&std::fs::read(dir.join(SIDECAR_FILE))?)?;
        if sidecar.dim != dim {
            return Err(SearchError::Incompatible(format!(
                "stored vectors have dimension {}, the embedder makes {dim}",
                sidecar.dim
            )));
        }
        if sidecar.meta.is_empty() {
            if !vouched {
                write_manifest(dir, &[SIDECAR_FILE])?;
            }
            return Ok(Self::new(dim, 0));
        }
        if vouched {
            let listed: Manifest = serde_json::from_slice(&std::fs::read(dir.join(MANIFEST))?)?;
            if !(listed.files.contains_key(GRAPH_FILE) && listed.files.contains_key(DATA_FILE)) {
                return Err(corrupt(format!(
                    "{MANIFEST} does not list the graph of {} vectors",
                    sidecar.meta.len()
                )));
            }
        } else {
            // An older dump: nothing vouches for it, so walk what hnsw_rs would trust. The graph's
            // header names its format: one hnsw_rs cannot read makes it exit too.
            let mut magic = [0u8; 4];
            std::io::Read::read_exact(&mut std::fs::File::open(dir.join(GRAPH_FILE))?, &mut magic)
                .map_err(|_| corrupt(format!("{GRAPH_FILE} is damaged: no header")))?;
            if !GRAPH_MAGICS.contains(&u32::from_ne_bytes(magic)) {
                return Err(corrupt(format!("{GRAPH_FILE} is damaged: unknown format")));
            }
            walk_data_file(&dir.join(DATA_FILE), dim, sidecar.meta.len())?;
        }
        // hnsw_rs ties the graph's lifetime to its loader; one loader per process start is leaked (a few
        // hundred bytes, data is copied since mmap is off) so the graph can live as long as the worker.
        let root = dir;
        let dir = dir.to_owned();
        // hnsw_rs unwraps inside its loader on some corrupt files; a corrupt derived index must mean
        // "rebuild", never a crashed worker.
        let loaded = std::panic::catch_unwind(move || {
            let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(&dir, BASENAME)));
            // Not `load_hnsw`: it marks the graph as memory-mapped (even with mmap off), and such a graph
            // refuses to overwrite its dump: every later save went to a fresh `vectors-NNNN.*` pair
            // beside the stale `vectors.*` one.
            io.load_hnsw_with_dist::<f32, UnitCosine>(UnitCosine)
        });
        let hnsw: Hnsw<'static, f32, UnitCosine> = match loaded {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                return Err(SearchError::Vector(format!(
                    "cannot reload the vector graph: {e}"
                )))
            }
            Err(_) => {
                return Err(SearchError::Vector(
                    "the vector graph file is corrupt".into(),
                ))
            }
        };
        if hnsw.get_nb_point() != sidecar.meta.len() {
            return Err(SearchError::Vector(format!(
                "vector graph has {} points but its sidecar lists {}",
                hnsw.get_nb_point(),
                sidecar.meta.len()
            )));
        }
        if !vouched {
            write_manifest(root, &[SIDECAR_FILE, GRAPH_FILE, DATA_FILE])?;
        }
        let mut index = Self {
            hnsw,
            dim,
            meta: sidecar.meta,
            tombstones: sidecar.tombstones,
            points: HashMap::new(),
            sample: Vec::new(),
        };
        index.index_points();
        Ok(index)
    }
}

fn write_manifest(dir: &Path, files: &[&str]) -> Result<(), SearchError> {
    let mut manifest = Manifest {
        version: 1,
        ..Default::default()
    };
    for name in files {
        manifest
            .files
            .insert((*name).to_owned(), sum_file(&dir.join(name))?);
    }
    claude_mem_core::paths::write_atomically(
        &dir.join(MANIFEST),
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn meta(project: &str, t: i64) -> VectorMeta {
        VectorMeta {
            project: project.into(),
            kind: "bugfix".into(),
            created_at: t,
        }
    }

    fn sample() -> VectorIndex {
        let mut idx = VectorIndex::new(3, 100);
        idx.insert(vec![
            (1, unit(&[1.0, 0.0, 0.0]), meta("a", 1)),
            (2, unit(&[0.9, 0.1, 0.0]), meta("b", 2)),
            (3, unit(&[0.0, 1.0, 0.0]), meta("a", 3)),
            (4, unit(&[0.0, 0.0, 1.0]), meta("a", 4)),
        ])
        .unwrap();
        idx
    }

    #[test]
    fn nearest_first_with_filters_and_tombstones() {
        let mut idx = sample();
        let q = unit(&[1.0, 0.05, 0.0]);
        let hits = idx.search(&q, &Filters::default(), 2);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 2]);
        assert!(hits[0].1 > 0.99);
        let only_b = Filters {
            project: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(
            idx.search(&q, &only_b, 3)
                .iter()
                .map(|h| h.0)
                .collect::<Vec<_>>(),
            [2]
        );
        idx.delete(1);
        assert_eq!(idx.search(&q, &Filters::default(), 1)[0].0, 2);
        assert_eq!(idx.len(), 3);
        assert!(idx.insert(vec![(9, vec![1.0, 0.0], meta("a", 0))]).is_err());
    }

    #[test]
    fn save_and_reload_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = sample();
        idx.delete(4);
        idx.save(dir.path()).unwrap();
        let back = VectorIndex::load(dir.path(), 3).unwrap();
        assert_eq!(back.len(), 3);
        // A reloaded graph saves over its own files (no `vectors-NNNN` pair beside them).
        back.save(dir.path()).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [DATA_FILE, GRAPH_FILE, MANIFEST, SIDECAR_FILE],
            "{names:?}"
        );
        let back = VectorIndex::load(dir.path(), 3).unwrap();
        assert_eq!(back.len(), 3);
        assert!(!back.contains(4));
        let q = unit(&[0.0, 1.0, 0.1]);
        assert_eq!(back.search(&q, &Filters::default(), 1)[0].0, 3);
        assert!(matches!(
            VectorIndex::load(dir.path(), 5),
            Err(SearchError::Incompatible(_))
        ));
        std::fs::write(dir.path().join("vectors.hnsw.graph"), b"garbage").unwrap();
        assert!(VectorIndex::load(dir.path(), 3).is_err());
    }

    /// hnsw_rs exits the process on a truncated data file: the manifest must stop it first, for every
    /// file and every kind of damage, and a dump without a manifest is walked before it is trusted.
    #[test]
    fn damaged_files_are_refused_before_hnsw_reads_them() {
        type Damage = fn(&Path);
        let damages: &[(&str, Damage)] = &[
            ("truncate", |p| {
                let len = std::fs::metadata(p).unwrap().len();
                let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
                f.set_len(len.saturating_sub(100).min(len / 2)).unwrap();
            }),
            ("garble", |p| {
                let mut b = std::fs::read(p).unwrap();
                let mid = b.len() / 2;
                b[mid] ^= 0xff;
                std::fs::write(p, b).unwrap();
            }),
            ("delete", |p| std::fs::remove_file(p).unwrap()),
        ];
        for file in [GRAPH_FILE, DATA_FILE, SIDECAR_FILE, MANIFEST] {
            for (how, damage) in damages {
                let dir = tempfile::tempdir().unwrap();
                sample().save(dir.path()).unwrap();
                assert!(verify_files(dir.path()).unwrap());
                damage(&dir.path().join(file));
                let loaded = VectorIndex::load(dir.path(), 3);
                if file == MANIFEST && *how == "delete" {
                    // An older dump: walked, loaded, and given a manifest.
                    assert_eq!(loaded.unwrap().len(), 4);
                    assert!(verify_files(dir.path()).unwrap());
                } else {
                    assert!(loaded.is_err(), "{how} {file} was loaded");
                }
            }
        }
        // Without a manifest, a graph of a format hnsw_rs would exit on is refused.
        let dir = tempfile::tempdir().unwrap();
        sample().save(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join(MANIFEST)).unwrap();
        let graph = dir.path().join(GRAPH_FILE);
        let mut bytes = std::fs::read(&graph).unwrap();
        bytes[..4].copy_from_slice(&0x002a_677fu32.to_ne_bytes());
        std::fs::write(&graph, bytes).unwrap();
        assert!(VectorIndex::load(dir.path(), 3).is_err());
        // Without a manifest, a truncated data file is caught by the walk.
        let dir = tempfile::tempdir().unwrap();
        sample().save(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join(MANIFEST)).unwrap();
        let data = dir.path().join(DATA_FILE);
        let len = std::fs::metadata(&data).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&data)
            .unwrap()
            .set_len(len - 5)
            .unwrap();
        assert!(VectorIndex::load(dir.path(), 3).is_err());
    }
}
