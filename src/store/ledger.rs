//! The loaded-files ledger as the loader sees it: which files, runs and benchmark versions
//! the database already holds, read once per load, and the verdict on each file found
//! (unchanged, touched, new) before it is read.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use duckdb::arrow;
use duckdb::arrow::array::{Array, AsArray};
use duckdb::arrow::compute::cast;
use duckdb::arrow::datatypes::DataType;
use duckdb::{params, Connection};

use super::ctx::sql;
use super::error::StoreError;
use super::keys::{key, unhex, Digest, Key};
use super::scan::Found;
use crate::error::Result;

/// One known file: what recognises it unchanged without reading it.
#[derive(Clone, Copy)]
pub struct FileEntry {
    pub size: u64,
    pub mtime_ns: i64,
}

/// Entries added to an [`Index`] before they are merged into its sorted part.
const RECENT: usize = 1 << 16;

/// A map from [`Key`]s, kept as a sorted vector plus a small hash map of recent additions.
/// A hash map of 1,000,000 entries takes twice the memory of its entries (buckets at most
/// 7/8 full, capacity a power of two); a sorted vector takes exactly theirs: 32 MB for the
/// files of a 1,000,000-file ledger instead of 69.
pub struct Index<V> {
    sorted: Vec<(Key, V)>,
    /// Where each range of keys (by their top `bits` bits) starts in `sorted`: keys are
    /// hashes, spread evenly, so a range holds about 4 entries and a lookup touches one or
    /// two cache lines of `sorted`, not the 20 scattered ones of a binary search over
    /// 1,000,000 entries (which made lookups the slowest step of a no-op reload).
    starts: Vec<u32>,
    bits: u32,
    recent: HashMap<Key, V>,
}

impl<V: Copy> Index<V> {
    fn new() -> Self {
        Index {
            sorted: Vec::new(),
            starts: vec![0, 0],
            bits: 0,
            recent: HashMap::new(),
        }
    }

    /// Sort what was read; of two entries with one key the first read is kept.
    fn seal(&mut self) {
        self.sorted.sort_by_key(|e| e.0);
        self.sorted.dedup_by_key(|e| e.0);
        self.sorted.shrink_to_fit();
        self.index_ranges();
    }

    fn index_ranges(&mut self) {
        let n = self.sorted.len();
        self.bits = (n / 4).max(1).ilog2().min(24);
        let ranges = 1usize << self.bits;
        let mut starts = vec![0u32; ranges + 1];
        for (k, _) in &self.sorted {
            starts[self.range(*k) + 1] += 1;
        }
        for i in 1..=ranges {
            starts[i] += starts[i - 1];
        }
        self.starts = starts;
    }

    fn range(&self, k: Key) -> usize {
        match self.bits {
            0 => 0,
            bits => (k >> (128 - bits)) as usize,
        }
    }

    pub fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    pub fn get(&self, k: Key) -> Option<V> {
        if let Some(v) = self.recent.get(&k) {
            return Some(*v);
        }
        let r = self.range(k);
        let (from, to) = (self.starts[r] as usize, self.starts[r + 1] as usize);
        let slice = self.sorted.get(from..to)?;
        let i = slice.binary_search_by_key(&k, |e| e.0).ok()?;
        Some(slice[i].1)
    }

    /// Add an entry whose key is not in the index yet.
    fn add(&mut self, k: Key, v: V) {
        self.recent.insert(k, v);
        if self.recent.len() >= RECENT {
            // Two sorted runs: the stable sort merges them in linear time.
            let mut recent: Vec<(Key, V)> = self.recent.drain().collect();
            recent.sort_unstable_by_key(|e| e.0);
            self.sorted.extend(recent);
            self.sorted.sort_by_key(|e| e.0);
            self.index_ranges();
        }
    }
}

/// What the database already holds, read once per load.
pub struct Known {
    /// key(path) -> the file as loaded
    files: Index<FileEntry>,
    /// key(path) -> digest of the file as loaded; filled with the details (kept apart from
    /// `files` so that a no-op reload of 1,000,000 files does not hold 32 MB of digests).
    shas: Index<Digest>,
    /// key(session_id) -> digest of the file it was loaded from; filled with the details,
    /// so a reload with nothing new never pays for it.
    sessions: Index<Digest>,
    /// Whether `shas` and `sessions` are filled (see `Known::ensure_details`).
    details: bool,
    pub benchmarks: HashSet<(String, String)>,
    /// (run_id, manifest) -> manifest sha256
    pub runs: HashMap<(String, String), String>,
}

impl Known {
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The digest a known file had when it was loaded (after `ensure_details`).
    pub fn file_sha(&self, f: &Found) -> Option<Digest> {
        self.shas.get(f.key)
    }

    /// The digest of the file a session id was loaded from (after `ensure_details`).
    pub fn session(&self, session_id: &str) -> Option<Digest> {
        self.sessions.get(key(session_id))
    }

    /// Remember a session added by this load, so a second copy in the same load is recognised.
    pub fn add_session(&mut self, session_id: &str, sha: Digest) {
        self.sessions.add(key(session_id), sha);
    }

    /// Fill in the digests of known files and the session index (needed once anything is
    /// not unchanged: a touched file is compared by digest, a new one by session id).
    pub fn ensure_details(&mut self, conn: &Connection, db: &Path) -> Result<()> {
        if self.details {
            return Ok(());
        }
        let e = sql(db, "reading the loaded-files ledger");
        let rows = count(conn, db)?;
        self.shas.sorted.reserve_exact(rows);
        let mut st = conn
            .prepare("SELECT path, sha256, session_id FROM loaded_files")
            .map_err(&e)?;
        for batch in st.stream_arrow([]).map_err(&e)? {
            let batch = batch.map_err(&e)?;
            let (paths, shas, sids) = (
                text_column(&batch, 0, db)?,
                text_column(&batch, 1, db)?,
                text_column(&batch, 2, db)?,
            );
            for i in 0..batch.num_rows() {
                let sha = unhex(shas.value(i));
                if let Some(sha) = sha {
                    self.shas.sorted.push((key(paths.value(i)), sha));
                }
                if let (false, Some(sha)) = (sids.is_null(i), sha) {
                    self.sessions.sorted.push((key(sids.value(i)), sha));
                }
            }
        }
        self.shas.seal();
        self.sessions.seal();
        self.details = true;
        Ok(())
    }

    /// A value of the ledger for one path or session id, for the rare conflict message.
    pub fn lookup(conn: &Connection, db: &Path, query: &str, arg: &str) -> Option<String> {
        conn.query_row(query, [arg], |r| r.get::<_, Option<String>>(0))
            .map_err(sql(db, "reading the ledger"))
            .ok()
            .flatten()
    }
}

fn count(conn: &Connection, db: &Path) -> Result<usize, StoreError> {
    conn.query_row("SELECT count(*) FROM loaded_files", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n.max(0) as usize)
    .map_err(sql(db, "counting the loaded-files ledger"))
}

fn text_column(
    batch: &arrow::record_batch::RecordBatch,
    i: usize,
    db: &Path,
) -> Result<arrow::array::StringArray> {
    let col = cast(batch.column(i), &DataType::Utf8).map_err(|source| StoreError::Ledger {
        db: db.to_path_buf(),
        source,
    })?;
    Ok(col.as_string::<i32>().clone())
}

fn int_column(
    batch: &arrow::record_batch::RecordBatch,
    i: usize,
    db: &Path,
) -> Result<arrow::array::Int64Array> {
    let col = cast(batch.column(i), &DataType::Int64).map_err(|source| StoreError::Ledger {
        db: db.to_path_buf(),
        source,
    })?;
    Ok(col.as_primitive::<arrow::datatypes::Int64Type>().clone())
}

pub fn read_known(conn: &Connection, db: &Path) -> Result<Known> {
    let mut known = Known {
        files: Index::new(),
        sessions: Index::new(),
        shas: Index::new(),
        details: false,
        benchmarks: HashSet::new(),
        runs: HashMap::new(),
    };
    // The ledger can hold millions of rows: stream it as Arrow batches (a materialised
    // result of 1,000,000 paths takes 150 MB), and only what recognising an unchanged file
    // needs. Digests and session ids follow on demand.
    let e = sql(db, "reading the loaded-files ledger");
    known.files.sorted.reserve_exact(count(conn, db)?);
    let mut st = conn
        .prepare("SELECT path, size, mtime_ns FROM loaded_files")
        .map_err(&e)?;
    for batch in st.stream_arrow([]).map_err(&e)? {
        let batch = batch.map_err(&e)?;
        let (paths, sizes, mtimes) = (
            text_column(&batch, 0, db)?,
            int_column(&batch, 1, db)?,
            int_column(&batch, 2, db)?,
        );
        for i in 0..batch.num_rows() {
            known.files.sorted.push((
                key(paths.value(i)),
                FileEntry {
                    size: sizes.value(i) as u64,
                    mtime_ns: mtimes.value(i),
                },
            ));
        }
    }
    known.files.seal();
    let e = sql(db, "reading benchmarks");
    let mut st = conn
        .prepare("SELECT benchmark_id, sha256 FROM benchmarks")
        .map_err(&e)?;
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(&e)?;
    for row in rows {
        known.benchmarks.insert(row.map_err(&e)?);
    }
    let e = sql(db, "reading runs");
    let mut st = conn
        .prepare("SELECT run_id, manifest, manifest_sha256 FROM runs")
        .map_err(&e)?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(&e)?;
    for row in rows {
        let (run, manifest, sha) = row.map_err(&e)?;
        known.runs.insert((run, manifest), sha);
    }
    Ok(known)
}

/// The ledger's verdict on a file before reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Same path, size and mtime as when loaded: skip without reading.
    Unchanged,
    /// Same path, but size or mtime differ: digest it and compare with the one loaded
    /// ([`Known::file_sha`], once details are read).
    Touched,
    New,
}

pub fn seen(known: &Known, f: &Found) -> Seen {
    match known.files.get(f.key) {
        Some(e) if e.size == f.size && e.mtime_ns == f.mtime_ns => Seen::Unchanged,
        Some(_) => Seen::Touched,
        None => Seen::New,
    }
}

/// Record new sizes and mtimes of touched-but-identical files in one statement: a tree
/// restored without its mtimes touches every file, and one UPDATE per file would scan the
/// ledger once per file.
pub fn record_touched(
    conn: &Connection,
    db: &Path,
    touched: &[(String, i64, i64)],
) -> Result<(), StoreError> {
    if touched.is_empty() {
        return Ok(());
    }
    let e = sql(db, "updating the ledger");
    conn.execute_batch(
        "CREATE TEMP TABLE reev_touched (path VARCHAR, size BIGINT, mtime_ns BIGINT)",
    )
    .map_err(&e)?;
    {
        let mut app = conn.appender("reev_touched").map_err(&e)?;
        for (path, size, mtime) in touched {
            app.append_row(params![path, size, mtime]).map_err(&e)?;
        }
        app.flush().map_err(&e)?;
    }
    conn.execute_batch(
        "UPDATE loaded_files SET size = t.size, mtime_ns = t.mtime_ns FROM reev_touched t
         WHERE loaded_files.path = t.path;
         DROP TABLE reev_touched;",
    )
    .map_err(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_finds_every_key_and_no_other() {
        let mut index = Index::new();
        let n = RECENT + 5000;
        let keys: Vec<Key> = (0..n).map(|i| key(&format!("/runs/r/{i}.json"))).collect();
        for (i, k) in keys.iter().enumerate().take(3000) {
            index.sorted.push((*k, i));
        }
        index.seal();
        // Past RECENT additions the recent ones are merged into the sorted part.
        for (i, k) in keys.iter().enumerate().skip(3000) {
            index.add(*k, i);
        }
        assert!(index.recent.len() < RECENT);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(index.get(*k), Some(i));
        }
        for extreme in [0, u128::MAX, 1 << 64] {
            assert_eq!(index.get(extreme), None);
        }
        assert_eq!(index.get(key("/runs/r/absent.json")), None);
        assert_eq!(index.len(), n);
        let empty: Index<usize> = Index::new();
        assert_eq!(empty.get(keys[0]), None);
    }
}
