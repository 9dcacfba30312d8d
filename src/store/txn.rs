//! One load's transaction: an open database made [`Ready`] (configured, schema checked,
//! ledger read), and the `Loader` that takes every file the walk hands over, run by run,
//! appends what is new, records quarantine and conflicts, and commits (once, or chunk by
//! chunk for a database built beside the live one).
//!
//! Session files are read and parsed on an I/O pool (`parse.rs`) in batches bounded by count
//! and by bytes, so memory stays bounded whatever the tree's and the files' sizes, and
//! appended with DuckDB's Appender while the next batch is read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use duckdb::{params, Connection};

use super::ctx::{sql, Commits, Conflict, ConflictKind, Ctx, LoadSummary, CHUNK_BYTES};
use super::error::StoreError;
use super::feed::{self, Feed};
use super::keys::{hex, unhex};
use super::ledger::{read_known, record_touched, Known, Seen};
use super::parse::{Job, Parsed, Parser};
use super::rows::{self, Keys, Writers};
use super::rss::rss;
use super::run_numbers::RunNumbers;
use super::scan::{Found, Kind};
use super::{accepted, ensure_schema, tries};
use crate::digest::sha256_hex;
use crate::error::Result;
use crate::manifest::RunManifest;

/// Session files parsed per batch at most...
const BATCH: usize = 2048;
/// ...and at most this many bytes of them (at least one file): a batch of chatty sessions
/// (1 MiB of stdout and of stderr each) is a few dozen files, not two thousand.
const BATCH_BYTES: u64 = 32 << 20;
/// DuckDB's memory limit while loading (it spills beyond it; text is stored in parts of at
/// most `schema::TEXT_PART` so that it can). DuckDB allocates more outside this pool; 160 MB
/// keeps a load of 1,000,000 sessions near 400 MiB, with little cost in time (measured
/// against 256 MB: 200,000 sessions 40 MB less, same time within the noise).
const LOAD_MEMORY_LIMIT: &str = "160MB";

/// A chunked load checkpoints every this many chunks (about 1 GiB of files).
const CHECKPOINT_CHUNKS: u32 = 11;

/// An open database, configured, with its schema and ledger read: ready to load into.
pub struct Ready<'a> {
    conn: Connection,
    db: &'a Path,
    pub known: Known,
    load_id: i64,
    numbers: RunNumbers,
}

impl<'a> Ready<'a> {
    pub fn new(conn: Connection, db: &'a Path, started: Instant) -> Result<Self> {
        Self::configure(&conn, db)?;
        tracing::debug!("opened at {:?} rss {}", started.elapsed(), rss());
        let known = read_known(&conn, db)?;
        tracing::debug!("ledger read at {:?} rss {}", started.elapsed(), rss());
        Self::assemble(conn, db, known)
    }

    /// A copy of a database whose ledger was already read.
    pub fn with_known(conn: Connection, db: &'a Path, known: Known) -> Result<Self> {
        Self::configure(&conn, db)?;
        Self::assemble(conn, db, known)
    }

    fn assemble(conn: Connection, db: &'a Path, known: Known) -> Result<Self> {
        let load_id: i64 = conn
            .query_row("SELECT coalesce(max(load_id), 0) + 1 FROM loads", [], |r| {
                r.get(0)
            })
            .map_err(sql(db, "reading loads"))?;
        let numbers = RunNumbers::read(&conn, db)?;
        Ok(Ready {
            conn,
            db,
            known,
            load_id,
            numbers,
        })
    }

    fn configure(conn: &Connection, db: &Path) -> Result<()> {
        // Bound DuckDB's own memory: a large load spills to disk instead of growing.
        conn.execute_batch(&format!(
            "SET memory_limit = '{LOAD_MEMORY_LIMIT}'; SET preserve_insertion_order = false"
        ))
        .map_err(sql(db, "configuring the load"))?;
        ensure_schema(conn, db)
    }

    pub fn close(self) -> Known {
        drop(self.conn);
        self.known
    }

    /// The load itself; on error nothing of it is committed to the live file.
    pub fn load(self, mut feed: Feed, ctx: &Ctx, commits: Commits) -> Result<LoadSummary> {
        let started_at = chrono::Utc::now();
        let (conn, db, started) = (&self.conn, self.db, ctx.started);
        tracing::debug!(
            "{} known files at {:?} rss {}",
            self.known.file_count(),
            started.elapsed(),
            rss()
        );
        if commits == Commits::Chunked {
            // Each chunk's commit goes to the WAL only; one checkpoint at the end writes the
            // tables. (An automatic checkpoint per chunk rewrites the tables' open row groups
            // every time: quadratic.)
            conn.execute_batch("SET checkpoint_threshold = '1TB'")
                .map_err(sql(db, "configuring the load"))?;
        }
        conn.execute_batch("BEGIN TRANSACTION")
            .map_err(sql(db, "beginning the load transaction"))?;
        let result = (|| -> Result<LoadSummary> {
            let mut loader = Loader {
                conn,
                db,
                known: self.known,
                w: Writers::new(conn, db, self.load_id)?,
                pool: ctx.pool,
                commits,
                uncommitted: 0,
                chunks: 0,
                runs: BTreeSet::new(),
                numbers: self.numbers,
                appended: Vec::new(),
                sum: LoadSummary {
                    load_id: self.load_id,
                    ..Default::default()
                },
            };
            loader.all(&mut feed, started)?;
            loader.sum.seen = feed.seen;
            loader.sum.skipped += feed.unchanged;
            loader.finish(ctx.roots, started_at)
        })();
        let sum = match result {
            Ok(sum) => {
                conn.execute_batch("COMMIT")
                    .map_err(sql(db, "committing the load"))?;
                // New matrix keys become columns of `agent_matrix`.
                super::schema::refresh_agent_matrix(conn)
                    .map_err(sql(db, "writing the agent_matrix view"))?;
                sum
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        // Fold the WAL into the database file now, so readers open a compact file; a load
        // that added only its own bookkeeping row leaves that to automatic checkpoints.
        if sum.new > 0 {
            conn.execute_batch("CHECKPOINT")
                .map_err(sql(db, "checkpointing"))?;
        }
        tracing::debug!("committed at {:?} rss {}", started.elapsed(), rss());
        drop(self.conn);
        tracing::debug!("closed at {:?}", started.elapsed());
        Ok(sum)
    }
}

/// One load's transaction: the connection, what the database already holds, the appenders,
/// and what this load found.
struct Loader<'c> {
    conn: &'c Connection,
    db: &'c Path,
    known: Known,
    w: Writers<'c>,
    pool: &'c rayon::ThreadPool,
    commits: Commits,
    /// Bytes of files read since the last commit.
    uncommitted: u64,
    /// Chunks committed so far.
    chunks: u32,
    /// Runs this load added sessions to: their tries are ranked again at the end.
    runs: BTreeSet<String>,
    numbers: RunNumbers,
    /// The `session_no` of every session this load appended (8 bytes each): a superseded try
    /// among them is marked in its own row, which no reader has seen yet; a superseded try
    /// of an earlier load goes to `superseded_tries` (`tries.rs`).
    appended: Vec<i64>,
    sum: LoadSummary,
}

impl Loader<'_> {
    /// Every file the walk hands over, run by run: manifests and benchmark copies at once,
    /// session files in batches, each read while the one before it is appended.
    fn all(&mut self, feed: &mut Feed, started: Instant) -> Result<()> {
        let mut parser = Parser::new(self.pool);
        let mut batch: Vec<Job> = Vec::new();
        let mut bytes = 0;
        let mut done = 0usize;
        while let Some(part) = feed.next(&self.known)? {
            for (path, err) in part.errors {
                self.quarantine(path.display().to_string(), err);
            }
            for (f, seen) in part.files {
                match f.kind {
                    Kind::Leftover => self.quarantine(
                        f.path.display().to_string(),
                        "leftover temporary file of an interrupted write; delete it when no reev is running".into(),
                    ),
                    Kind::Manifest => self.manifest(&f, seen)?,
                    Kind::Benchmark => self.benchmark(&f, seen)?,
                    Kind::Session => {
                        // A new file is checked against the loaded session ids, a touched
                        // one against its digest: both need the details.
                        self.known.ensure_details(self.conn, self.db)?;
                        let loaded = match seen {
                            Seen::Touched => self.known.file_sha(&f),
                            _ => None,
                        };
                        bytes += feed::cost(&f);
                        batch.push(Job { file: f, seen, loaded });
                    }
                }
                if batch.len() >= BATCH || bytes >= BATCH_BYTES {
                    done += batch.len();
                    let previous = parser.push(std::mem::take(&mut batch))?;
                    self.record_batch(previous, bytes)?;
                    bytes = 0;
                    tracing::trace!(
                        "{done} session files at {:?}, rss {}",
                        started.elapsed(),
                        rss()
                    );
                }
            }
        }
        let previous = parser.push(batch)?;
        self.record_batch(previous, bytes)?;
        let last = parser.finish()?;
        self.record_batch(last, 0)?;
        record_touched(self.conn, self.db, &self.w.touched)?;
        tracing::debug!("files classified at {:?} rss {}", started.elapsed(), rss());
        Ok(())
    }

    /// Append a parsed batch, in order; `bytes` were read since (they count toward the
    /// chunk that is committed next).
    fn record_batch(&mut self, parsed: Option<Vec<(Found, Parsed)>>, bytes: u64) -> Result<()> {
        for (f, p) in parsed.into_iter().flatten() {
            self.record(&f, p)?;
        }
        self.uncommitted += bytes;
        self.commit_if_due()
    }

    /// In [`Commits::Chunked`] mode, commit what was appended once a chunk is full.
    fn commit_if_due(&mut self) -> Result<()> {
        if self.commits == Commits::One || self.uncommitted < CHUNK_BYTES {
            return Ok(());
        }
        self.w.flush(self.db)?;
        self.chunks += 1;
        // Every few chunks the WAL is folded into the file: committed rows not yet
        // checkpointed stay in DuckDB's memory (or its spill files) and make the final
        // checkpoint of a million sessions peak above the memory limit.
        let sql_text = if self.chunks.is_multiple_of(CHECKPOINT_CHUNKS) {
            "COMMIT; CHECKPOINT; BEGIN TRANSACTION"
        } else {
            "COMMIT; BEGIN TRANSACTION"
        };
        self.conn
            .execute_batch(sql_text)
            .map_err(sql(self.db, "committing a chunk of the load"))?;
        self.uncommitted = 0;
        Ok(())
    }

    fn quarantine(&mut self, path: String, error: String) {
        self.sum.quarantined.push((path, error));
    }

    /// Record problems and the load itself; the caller commits.
    fn finish(
        mut self,
        roots: &[PathBuf],
        started_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<LoadSummary> {
        let db = self.db;
        for (path, error) in &self.sum.quarantined {
            self.w.quarantine(db, path, error)?;
        }
        for c in &self.sum.conflicts {
            self.w.conflict(db, c)?;
        }
        self.w.flush(db)?;
        drop(self.w);
        tries::record_superseded(self.conn, db, self.sum.load_id, &self.runs, self.appended)?;
        // Acceptances follow their files, in the load's own transaction.
        accepted::sync(self.conn, db, &accepted::read_all(roots))?;
        let roots_json = serde_json::to_string(
            &roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default();
        let sum = self.sum;
        self.conn
            .execute(
                "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    sum.load_id,
                    rows::ts(started_at),
                    rows::ts(chrono::Utc::now()),
                    roots_json,
                    sum.seen as i64,
                    sum.new as i64,
                    sum.skipped as i64,
                    sum.quarantined.len() as i64,
                    sum.conflicts.len() as i64,
                    env!("CARGO_PKG_VERSION"),
                ],
            )
            .map_err(sql(db, "recording the load"))?;
        Ok(sum)
    }

    fn manifest(&mut self, f: &Found, seen: Seen) -> Result<()> {
        let Some((path, bytes, sha)) = self.read_if_changed(f, seen)? else {
            return Ok(());
        };
        let m: RunManifest = match serde_json::from_slice(&bytes)
            .map_err(StoreError::Manifest)
            .and_then(|m| rows::check_manifest(&m).map(|()| m))
        {
            Ok(m) => m,
            Err(e) => {
                self.quarantine(path, e.to_string());
                return Ok(());
            }
        };
        let name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let key = (m.run_id.clone(), name.clone());
        match self.known.runs.get(&key) {
            Some(old) if *old == sha => {
                // The same manifest from another copy of the tree: remember this path too.
                if seen == Seen::New {
                    self.w.ledger(self.db, f, &sha, None)?;
                }
                self.sum.skipped += 1;
                return Ok(());
            }
            Some(old) => {
                self.sum.conflicts.push(Conflict {
                    path,
                    session_id: None,
                    kind: ConflictKind::ManifestChanged,
                    loaded_sha256: old.clone(),
                    found_sha256: sha,
                    loaded_path: None,
                });
                return Ok(());
            }
            None => {}
        }
        rows::insert_run(self.conn, self.db, &m, &name, &sha)?;
        self.known.runs.insert(key, sha.clone());
        self.w.ledger(self.db, f, &sha, None)?;
        self.sum.new += 1;
        Ok(())
    }

    fn benchmark(&mut self, f: &Found, seen: Seen) -> Result<()> {
        let Some((path, bytes, sha)) = self.read_if_changed(f, seen)? else {
            return Ok(());
        };
        let stem = f
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if stem != sha {
            self.quarantine(
                path,
                format!("benchmark copy does not match its name: its SHA-256 is {sha}"),
            );
            return Ok(());
        }
        // The parser applies the run-time rules, the id's included.
        let b = match crate::spec::benchmark::parse(&f.path, &bytes) {
            Ok(b) => b,
            Err(d) => {
                let msg = d
                    .iter()
                    .map(|d| d.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                self.quarantine(path, format!("invalid benchmark copy: {msg}"));
                return Ok(());
            }
        };
        if self.known.benchmarks.insert((b.id.clone(), sha.clone())) {
            self.conn
                .execute(
                    "INSERT INTO benchmarks VALUES (?, ?, ?, ?, ?)",
                    params![
                        b.id,
                        sha,
                        b.description,
                        serde_json::to_string(&b.tags).unwrap_or_default(),
                        b.yaml
                    ],
                )
                .map_err(sql(self.db, "inserting a benchmark version"))?;
            self.sum.new += 1;
        } else {
            self.sum.skipped += 1;
        }
        // Each path is walked once per load, so what this load adds is never looked up again.
        self.w.ledger(self.db, f, &sha, None)?;
        Ok(())
    }

    /// Skip a file touched with the same bytes (its new size and mtime are recorded);
    /// otherwise read and digest it, quarantining it when it cannot be read. Returns (path,
    /// bytes, sha256). (Files known unchanged never get here: `feed.rs` drops them.)
    fn read_if_changed(
        &mut self,
        f: &Found,
        state: Seen,
    ) -> Result<Option<(String, Vec<u8>, String)>> {
        let path = f.path.display().to_string();
        let bytes = match std::fs::read(&f.path) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.quarantine(path, format!("cannot read: {e}"));
                return Ok(None);
            }
        };
        let sha = sha256_hex(&bytes);
        if state == Seen::Touched {
            self.known.ensure_details(self.conn, self.db)?;
            if self.known.file_sha(f).is_some_and(|k| hex(&k) == sha) {
                self.w.touched.push((path, f.size as i64, f.mtime_ns));
                self.sum.skipped += 1;
                return Ok(None);
            }
        }
        Ok(Some((path, bytes, sha)))
    }

    fn record(&mut self, f: &Found, p: Parsed) -> Result<()> {
        let db = self.db;
        let path = f.path.display().to_string();
        match p {
            Parsed::Touched => {
                self.w.touched.push((path, f.size as i64, f.mtime_ns));
                self.sum.skipped += 1;
            }
            Parsed::Quarantine(e) => self.quarantine(path, e),
            Parsed::Changed { loaded, found } => {
                let session_id = Known::lookup(
                    self.conn,
                    db,
                    "SELECT session_id FROM loaded_files WHERE path = ? LIMIT 1",
                    &path,
                );
                self.sum.conflicts.push(Conflict {
                    path,
                    session_id,
                    kind: ConflictKind::ChangedAfterLoad,
                    loaded_sha256: loaded,
                    found_sha256: found,
                    loaded_path: None,
                })
            }
            Parsed::Session(s, sha) => match self.known.session(&s.session_id).map(|d| hex(&d)) {
                Some(old) if old == sha => {
                    // The same file again, from another copy of the tree: remember the path only.
                    self.w.ledger(db, f, &sha, Some(&s.session_id))?;
                    self.sum.skipped += 1;
                }
                Some(old) => {
                    let loaded_path = Known::lookup(
                        self.conn,
                        db,
                        "SELECT path FROM loaded_files WHERE session_id = ? LIMIT 1",
                        &s.session_id,
                    );
                    self.sum.conflicts.push(Conflict {
                        path,
                        session_id: Some(s.session_id.clone()),
                        kind: ConflictKind::DuplicateSessionId,
                        loaded_sha256: old,
                        found_sha256: sha,
                        loaded_path,
                    })
                }
                None => {
                    let keys = Keys {
                        run_no: self.numbers.of(self.conn, db, &s.run_id)?,
                        session_no: tries::session_no(&s.session_id),
                    };
                    rows::append_session(&mut self.w, db, &s, &sha, keys)?;
                    self.appended.push(keys.session_no);
                    if !self.runs.contains(&s.run_id) {
                        self.runs.insert(s.run_id.clone());
                    }
                    self.w.ledger(db, f, &sha, Some(&s.session_id))?;
                    // Only the session index grows: a second copy in this same load must be
                    // recognised, and each path is walked once per load.
                    if let Some(d) = unhex(&sha) {
                        self.known.add_session(&s.session_id, d);
                    }
                    self.sum.new += 1;
                }
            },
        }
        Ok(())
    }
}
