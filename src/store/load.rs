//! Loading files into DuckDB: what is new goes in, in one transaction, exactly once.
//!
//! Known files are recognised from the `loaded_files` ledger by path, size and mtime without
//! being read; a changed size or mtime triggers a digest check. Session files are parsed in
//! parallel (rayon) in batches, so memory stays bounded, and appended with DuckDB's Appender.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use duckdb::arrow;
use duckdb::arrow::array::{Array, AsArray};
use duckdb::arrow::compute::cast;
use duckdb::arrow::datatypes::DataType;
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Appender, Connection};
use rayon::prelude::*;

use super::scan::{self, Found, Kind};
use super::{ensure_schema, lock_writer, open, Mode};
use crate::digest::sha256_hex;
use crate::error::{Error, Result};
use crate::manifest::RunManifest;
use crate::session::{self, SessionFile};

/// Session files parsed per batch: bounds memory for any number of files.
const BATCH: usize = 2048;
/// DuckDB's memory limit while loading (it spills beyond it).
const LOAD_MEMORY_LIMIT: &str = "256MB";

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub roots: Vec<PathBuf>,
    pub db: PathBuf,
    pub rebuild: bool,
    pub wait: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub path: String,
    pub session_id: Option<String>,
    pub kind: &'static str,
    pub loaded_sha256: String,
    pub found_sha256: String,
    pub loaded_path: Option<String>,
}

#[derive(Debug, Default)]
pub struct LoadSummary {
    pub load_id: i64,
    pub seen: u64,
    pub new: u64,
    pub skipped: u64,
    pub quarantined: Vec<(String, String)>,
    pub conflicts: Vec<Conflict>,
    pub elapsed: Duration,
}

pub fn load(opts: &LoadOptions) -> Result<LoadSummary> {
    for root in &opts.roots {
        if !root.is_dir() {
            return Err(Error::input(format!(
                "runs directory {} does not exist (give it with --runs-dir)",
                root.display()
            )));
        }
    }
    let _lock = lock_writer(&opts.db, opts.wait)?;
    if !opts.rebuild {
        return load_into(&opts.db, &opts.roots, opts.wait);
    }
    // Build a fresh database beside the live one, then rename it into place atomically:
    // readers keep the snapshot they have open; the next reader sees the new one.
    let name = opts
        .db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = opts
        .db
        .with_file_name(format!("{name}.rebuild-{}.tmp", std::process::id()));
    let tmp_wal = wal_path(&tmp);
    for p in [&tmp, &tmp_wal] {
        let _ = std::fs::remove_file(p);
    }
    let summary = load_into(&tmp, &opts.roots, opts.wait).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(&tmp_wal);
    })?;
    let io = |what: &str, p: &Path, e| Error::io(what, p, e);
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("cannot sync", &tmp, e))?;
    // A WAL beside the old file belongs to the old database; it must not meet the new one.
    let _ = std::fs::remove_file(wal_path(&opts.db));
    std::fs::rename(&tmp, &opts.db)
        .map_err(|e| io("cannot move rebuilt database into place at", &opts.db, e))?;
    if let Some(dir) = opts.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = session::sync_dir(dir);
    }
    Ok(summary)
}

fn wal_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".wal");
    PathBuf::from(s)
}

/// What the database already holds, read once per load.
struct Known {
    /// path -> (size, mtime_ns, sha256, session_id)
    files: HashMap<String, (u64, i64, String, Option<String>)>,
    /// session_id -> (file sha256, a path it was loaded from); built from `files` on first
    /// use, so a reload with nothing new never pays for it.
    sessions: Option<HashMap<String, (String, String)>>,
    /// Whether `files` holds digests and session ids yet (see `Known::ensure_details`).
    details: bool,
    benchmarks: HashSet<(String, String)>,
    /// (run_id, manifest) -> manifest sha256
    runs: HashMap<(String, String), String>,
}

impl Known {
    /// Fill in the digests and session ids of known files (needed once anything is not
    /// unchanged: a touched file is compared by digest, a new one by session id).
    fn ensure_details(&mut self, conn: &Connection, db: &Path) -> Result<()> {
        if self.details {
            return Ok(());
        }
        let e = sql(db, "reading the loaded-files ledger");
        let mut st = conn
            .prepare("SELECT path, sha256, session_id FROM loaded_files")
            .map_err(&e)?;
        for batch in st.query_arrow([]).map_err(&e)? {
            let (paths, shas, sids) = (
                text_column(&batch, 0, db)?,
                text_column(&batch, 1, db)?,
                text_column(&batch, 2, db)?,
            );
            for i in 0..batch.num_rows() {
                if let Some(entry) = self.files.get_mut(paths.value(i)) {
                    entry.2 = shas.value(i).to_string();
                    entry.3 = (!sids.is_null(i)).then(|| sids.value(i).to_string());
                }
            }
        }
        self.details = true;
        Ok(())
    }

    fn sessions(&mut self) -> &mut HashMap<String, (String, String)> {
        let files = &self.files;
        self.sessions.get_or_insert_with(|| {
            let mut m = HashMap::with_capacity(files.len());
            for (path, (_, _, sha, sid)) in files {
                if let Some(sid) = sid {
                    m.entry(sid.clone())
                        .or_insert_with(|| (sha.clone(), path.clone()));
                }
            }
            m
        })
    }
}

fn sql<'a>(db: &'a Path, what: &str) -> impl Fn(duckdb::Error) -> Error + 'a {
    let what = what.to_string();
    move |e| Error::env(format!("{}: {what}: {e}", db.display()))
}

fn text_column(
    batch: &arrow::record_batch::RecordBatch,
    i: usize,
    db: &Path,
) -> Result<arrow::array::StringArray> {
    let col = cast(batch.column(i), &DataType::Utf8)
        .map_err(|err| Error::env(format!("{}: reading the ledger: {err}", db.display())))?;
    Ok(col.as_string::<i32>().clone())
}

fn int_column(
    batch: &arrow::record_batch::RecordBatch,
    i: usize,
    db: &Path,
) -> Result<arrow::array::Int64Array> {
    let col = cast(batch.column(i), &DataType::Int64)
        .map_err(|err| Error::env(format!("{}: reading the ledger: {err}", db.display())))?;
    Ok(col.as_primitive::<arrow::datatypes::Int64Type>().clone())
}

fn read_known(conn: &Connection, db: &Path) -> Result<Known> {
    let mut known = Known {
        files: HashMap::new(),
        sessions: None,
        details: false,
        benchmarks: HashSet::new(),
        runs: HashMap::new(),
    };
    // The ledger can hold hundreds of thousands of rows: read it as Arrow batches, and only
    // what recognising an unchanged file needs. Digests and session ids follow on demand.
    let e = sql(db, "reading the loaded-files ledger");
    let mut st = conn
        .prepare("SELECT path, size, mtime_ns FROM loaded_files")
        .map_err(&e)?;
    for batch in st.query_arrow([]).map_err(&e)? {
        let (paths, sizes, mtimes) = (
            text_column(&batch, 0, db)?,
            int_column(&batch, 1, db)?,
            int_column(&batch, 2, db)?,
        );
        for i in 0..batch.num_rows() {
            known.files.insert(
                paths.value(i).to_string(),
                (sizes.value(i) as u64, mtimes.value(i), String::new(), None),
            );
        }
    }
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

fn load_into(db: &Path, roots: &[PathBuf], wait: Duration) -> Result<LoadSummary> {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
    }
    // Walk the trees on another thread while the database opens and the ledger is read.
    let (scanned, opened) = std::thread::scope(|s| {
        let walker = s.spawn(|| scan::scan(roots));
        let opened = (|| -> Result<_> {
            let conn = open(db, Mode::ReadWrite, wait)?;
            // Bound DuckDB's own memory: a large load spills to disk instead of growing.
            conn.execute_batch(&format!(
                "SET memory_limit = '{LOAD_MEMORY_LIMIT}'; SET preserve_insertion_order = false"
            ))
            .map_err(sql(db, "configuring the load"))?;
            tracing::debug!("opened at {:?} rss {}", started.elapsed(), rss());
            ensure_schema(&conn, db)?;
            tracing::debug!("schema checked at {:?}", started.elapsed());
            let known = read_known(&conn, db)?;
            tracing::debug!("ledger read at {:?}", started.elapsed());
            let load_id: i64 = conn
                .query_row("SELECT coalesce(max(load_id), 0) + 1 FROM loads", [], |r| {
                    r.get(0)
                })
                .map_err(sql(db, "reading loads"))?;
            Ok((conn, known, load_id))
        })();
        (walker.join().unwrap_or_default(), opened)
    });
    let (conn, mut known, load_id) = opened?;
    tracing::debug!(
        "{} known files, {} found, at {:?} rss {}",
        known.files.len(),
        scanned.files.len(),
        started.elapsed(),
        rss()
    );
    let mut sum = LoadSummary {
        load_id,
        seen: scanned.files.len() as u64,
        ..Default::default()
    };
    for (path, err) in &scanned.errors {
        sum.quarantined
            .push((path.display().to_string(), err.clone()));
    }

    conn.execute_batch("BEGIN TRANSACTION")
        .map_err(sql(db, "beginning the load transaction"))?;
    let result = (|| -> Result<()> {
        let mut w = Writers::new(&conn, db, load_id)?;
        tracing::debug!("appenders at {:?}", started.elapsed());
        for f in scanned.files.iter().filter(|f| f.kind == Kind::Leftover) {
            sum.quarantined.push((
                f.path.display().to_string(),
                "leftover temporary file of an interrupted write; delete it when no reev is running".into(),
            ));
        }
        for f in scanned.files.iter().filter(|f| f.kind == Kind::Manifest) {
            load_manifest(&conn, db, f, &mut known, &mut sum, &mut w)?;
        }
        for f in scanned.files.iter().filter(|f| f.kind == Kind::Benchmark) {
            load_benchmark(&conn, db, f, &mut known, &mut sum, &mut w)?;
        }
        let sessions: Vec<&Found> = scanned
            .files
            .iter()
            .filter(|f| f.kind == Kind::Session)
            .collect();
        for (i, batch) in sessions.chunks(BATCH).enumerate() {
            load_sessions(&conn, db, batch, &mut known, &mut sum, &mut w)?;
            if i % 20 == 19 {
                tracing::trace!(
                    "{} session files at {:?}, rss {}",
                    (i + 1) * BATCH,
                    started.elapsed(),
                    rss()
                );
            }
        }
        record_touched(&conn, db, &w.touched)?;
        for (path, error) in &sum.quarantined {
            w.quarantine
                .append_row(params![load_id, path, error])
                .map_err(sql(db, "recording quarantine"))?;
        }
        for c in &sum.conflicts {
            w.conflicts
                .append_row(params![
                    load_id,
                    c.path,
                    c.session_id,
                    c.kind,
                    c.loaded_sha256,
                    c.found_sha256,
                    c.loaded_path
                ])
                .map_err(sql(db, "recording conflicts"))?;
        }
        tracing::debug!("files classified at {:?} rss {}", started.elapsed(), rss());
        w.flush(db)?;
        drop(w);
        let roots_json = serde_json::to_string(
            &roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default();
        conn.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                load_id,
                ts(started_at),
                ts(chrono::Utc::now()),
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
        Ok(())
    })();
    match result {
        Ok(()) => conn
            .execute_batch("COMMIT")
            .map_err(sql(db, "committing the load"))?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    // Fold the WAL into the database file now, so readers open a compact file; a load that
    // added only its own bookkeeping row leaves that to DuckDB's automatic checkpoints.
    if sum.new > 0 {
        conn.execute_batch("CHECKPOINT")
            .map_err(sql(db, "checkpointing"))?;
    }
    tracing::debug!("committed at {:?} rss {}", started.elapsed(), rss());
    drop(conn);
    tracing::debug!("closed at {:?}", started.elapsed());
    sum.elapsed = started.elapsed();
    Ok(sum)
}

/// One appender per table, open for the whole transaction.
struct Writers<'c> {
    sessions: Appender<'c>,
    assertions: Appender<'c>,
    events: Appender<'c>,
    metrics: Appender<'c>,
    files: Appender<'c>,
    quarantine: Appender<'c>,
    conflicts: Appender<'c>,
    load_id: i64,
    /// Known files whose size or mtime changed but whose bytes did not: (path, size, mtime).
    touched: Vec<(String, i64, i64)>,
}

impl<'c> Writers<'c> {
    fn new(conn: &'c Connection, db: &Path, load_id: i64) -> Result<Self> {
        let a = |t: &str| {
            conn.appender(t)
                .map_err(sql(db, &format!("opening an appender on {t}")))
        };
        Ok(Writers {
            sessions: a("sessions")?,
            assertions: a("assertions")?,
            events: a("events")?,
            metrics: a("metrics")?,
            files: a("loaded_files")?,
            quarantine: a("quarantine")?,
            conflicts: a("conflicts")?,
            load_id,
            touched: Vec::new(),
        })
    }

    fn ledger(
        &mut self,
        db: &Path,
        f: &Found,
        sha: &str,
        kind: &str,
        session_id: Option<&str>,
    ) -> Result<()> {
        self.files
            .append_row(params![
                f.path.display().to_string(),
                f.size as i64,
                f.mtime_ns,
                sha,
                kind,
                session_id,
                self.load_id
            ])
            .map_err(sql(db, "recording a loaded file"))
    }

    fn flush(&mut self, db: &Path) -> Result<()> {
        for a in [
            &mut self.sessions,
            &mut self.assertions,
            &mut self.events,
            &mut self.metrics,
            &mut self.files,
            &mut self.quarantine,
            &mut self.conflicts,
        ] {
            a.flush().map_err(sql(db, "flushing appended rows"))?;
        }
        Ok(())
    }
}

/// The ledger's verdict on a file before reading it.
enum Seen {
    /// Same path, size and mtime as when loaded: skip without reading.
    Unchanged,
    /// Same path, but size or mtime differ: digest it.
    Touched(String, Option<String>),
    New,
}

fn seen(known: &Known, f: &Found) -> Seen {
    match known.files.get(&f.path.display().to_string()) {
        Some((size, mtime, _, _)) if *size == f.size && *mtime == f.mtime_ns => Seen::Unchanged,
        Some((_, _, sha, sid)) => Seen::Touched(sha.clone(), sid.clone()),
        None => Seen::New,
    }
}

/// Record new sizes and mtimes of touched-but-identical files in one statement: a tree
/// restored without its mtimes touches every file, and one UPDATE per file would scan the
/// ledger once per file.
fn record_touched(conn: &Connection, db: &Path, touched: &[(String, i64, i64)]) -> Result<()> {
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

fn load_manifest(
    conn: &Connection,
    db: &Path,
    f: &Found,
    known: &mut Known,
    sum: &mut LoadSummary,
    w: &mut Writers,
) -> Result<()> {
    let Some((path, bytes, sha)) = read_if_changed(conn, db, known, f, sum, w)? else {
        return Ok(());
    };
    let m: RunManifest = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            sum.quarantined
                .push((path, format!("invalid run manifest: {e}")));
            return Ok(());
        }
    };
    let name = f
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let key = (m.run_id.clone(), name.clone());
    match known.runs.get(&key) {
        Some(old) if *old == sha => {
            // The same manifest from another copy of the tree: remember this path too.
            if matches!(seen(known, f), Seen::New) {
                w.ledger(db, f, &sha, "manifest", None)?;
            }
            sum.skipped += 1;
            return Ok(());
        }
        Some(old) => {
            sum.conflicts.push(Conflict {
                path,
                session_id: None,
                kind: "manifest_changed",
                loaded_sha256: old.clone(),
                found_sha256: sha,
                loaded_path: None,
            });
            return Ok(());
        }
        None => {}
    }
    let created = parse_ts(&m.created_at).ok();
    conn.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            m.run_id,
            name,
            m.selection.shard.map(|s| s.to_string()),
            created,
            m.reev_version,
            m.host,
            m.git_commit,
            serde_json::to_string(&m.command_line).unwrap_or_default(),
            serde_json::to_string(&m.selection).unwrap_or_default(),
            m.timeout_ms.map(|t| t as i64),
            m.jobs as i64,
            m.plan.len() as i64,
            sha,
            (!m.run_planned.is_empty())
                .then(|| serde_json::to_string(&m.run_planned).unwrap_or_default()),
            m.machine
                .as_ref()
                .and_then(|x| serde_json::to_string(x).ok()),
        ],
    )
    .map_err(sql(db, "inserting a run"))?;
    known.runs.insert(key, sha.clone());
    w.ledger(db, f, &sha, "manifest", None)?;
    sum.new += 1;
    Ok(())
}

fn load_benchmark(
    conn: &Connection,
    db: &Path,
    f: &Found,
    known: &mut Known,
    sum: &mut LoadSummary,
    w: &mut Writers,
) -> Result<()> {
    let Some((path, bytes, sha)) = read_if_changed(conn, db, known, f, sum, w)? else {
        return Ok(());
    };
    let stem = f
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem != sha {
        sum.quarantined.push((
            path,
            format!("benchmark copy does not match its name: its SHA-256 is {sha}"),
        ));
        return Ok(());
    }
    let b = match crate::spec::benchmark::parse(&f.path, &bytes) {
        Ok(b) => b,
        Err(d) => {
            let msg = d
                .iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            sum.quarantined
                .push((path, format!("invalid benchmark copy: {msg}")));
            return Ok(());
        }
    };
    if known.benchmarks.insert((b.id.clone(), sha.clone())) {
        conn.execute(
            "INSERT INTO benchmarks VALUES (?, ?, ?, ?, ?)",
            params![
                b.id,
                sha,
                b.description,
                serde_json::to_string(&b.tags).unwrap_or_default(),
                b.yaml
            ],
        )
        .map_err(sql(db, "inserting a benchmark version"))?;
        sum.new += 1;
    } else {
        sum.skipped += 1;
    }
    // Each path is walked once per load, so what this load adds is never looked up again.
    w.ledger(db, f, &sha, "benchmark", None)?;
    Ok(())
}

/// Skip a file the ledger knows unchanged, or touched with the same bytes (its new size and
/// mtime are recorded); otherwise read and digest it, quarantining it when it cannot be read.
/// Returns (path, bytes, sha256).
fn read_if_changed(
    conn: &Connection,
    db: &Path,
    known: &mut Known,
    f: &Found,
    sum: &mut LoadSummary,
    w: &mut Writers,
) -> Result<Option<(String, Vec<u8>, String)>> {
    let state = seen(known, f);
    if matches!(state, Seen::Unchanged) {
        sum.skipped += 1;
        return Ok(None);
    }
    let path = f.path.display().to_string();
    let bytes = match std::fs::read(&f.path) {
        Ok(bytes) => bytes,
        Err(e) => {
            sum.quarantined.push((path, format!("cannot read: {e}")));
            return Ok(None);
        }
    };
    let sha = sha256_hex(&bytes);
    if matches!(state, Seen::Touched(..)) {
        known.ensure_details(conn, db)?;
        if known.files.get(&path).is_some_and(|k| k.2 == sha) {
            w.touched.push((path, f.size as i64, f.mtime_ns));
            sum.skipped += 1;
            return Ok(None);
        }
    }
    Ok(Some((path, bytes, sha)))
}

/// What parsing one session file in parallel decided.
enum Parsed {
    Skip,
    Touched,
    Quarantine(String),
    Changed {
        loaded: String,
        found: String,
        session_id: Option<String>,
    },
    Session(Box<SessionFile>, String),
}

fn load_sessions(
    conn: &Connection,
    db: &Path,
    batch: &[&Found],
    known: &mut Known,
    sum: &mut LoadSummary,
    w: &mut Writers,
) -> Result<()> {
    if batch
        .iter()
        .any(|f| !matches!(seen(known, f), Seen::Unchanged))
    {
        known.ensure_details(conn, db)?;
    }
    let frozen = &*known;
    let parsed: Vec<Parsed> = batch
        .par_iter()
        .map(|f| {
            let state = seen(frozen, f);
            if matches!(state, Seen::Unchanged) {
                return Parsed::Skip;
            }
            let bytes = match std::fs::read(&f.path) {
                Ok(b) => b,
                Err(e) => return Parsed::Quarantine(format!("cannot read: {e}")),
            };
            let sha = sha256_hex(&bytes);
            if let Seen::Touched(old, sid) = state {
                return if old == sha {
                    Parsed::Touched
                } else {
                    Parsed::Changed {
                        loaded: old,
                        found: sha,
                        session_id: sid,
                    }
                };
            }
            if bytes.is_empty() {
                return Parsed::Quarantine("empty file (zero bytes)".into());
            }
            if std::str::from_utf8(&bytes).is_err() {
                return Parsed::Quarantine("not valid UTF-8".into());
            }
            match session::parse(&bytes) {
                Ok(s) => match check(&s) {
                    Ok(()) => Parsed::Session(Box::new(s), sha),
                    Err(e) => Parsed::Quarantine(e),
                },
                Err(e) => Parsed::Quarantine(e),
            }
        })
        .collect();
    for (f, p) in batch.iter().zip(parsed) {
        let path = f.path.display().to_string();
        match p {
            Parsed::Skip => sum.skipped += 1,
            Parsed::Touched => {
                w.touched.push((path, f.size as i64, f.mtime_ns));
                sum.skipped += 1;
            }
            Parsed::Quarantine(e) => sum.quarantined.push((path, e)),
            Parsed::Changed {
                loaded,
                found,
                session_id,
            } => sum.conflicts.push(Conflict {
                path,
                session_id,
                kind: "changed_after_load",
                loaded_sha256: loaded,
                found_sha256: found,
                loaded_path: None,
            }),
            Parsed::Session(s, sha) => match known.sessions().get(&s.session_id).cloned() {
                Some((old, _)) if old == sha => {
                    // The same file again, from another copy of the tree: remember the path only.
                    w.ledger(db, f, &sha, "session", Some(&s.session_id))?;
                    sum.skipped += 1;
                }
                Some((old, old_path)) => sum.conflicts.push(Conflict {
                    path,
                    session_id: Some(s.session_id.clone()),
                    kind: "duplicate_session_id",
                    loaded_sha256: old,
                    found_sha256: sha,
                    loaded_path: (!old_path.is_empty()).then_some(old_path),
                }),
                None => {
                    append_session(w, db, &s, &sha)?;
                    w.ledger(db, f, &sha, "session", Some(&s.session_id))?;
                    // Only the session index grows: a second copy in this same load must be
                    // recognised, and each path is walked once per load.
                    // (Without the path: at 200,000 sessions it is tens of MiB.)
                    known
                        .sessions()
                        .insert(s.session_id.clone(), (sha, String::new()));
                    sum.new += 1;
                }
            },
        }
    }
    Ok(())
}

/// Checks beyond the schema that the database relies on.
fn check(s: &SessionFile) -> std::result::Result<(), String> {
    parse_ts(&s.started_at).map_err(|e| format!("started_at: {e}"))?;
    parse_ts(&s.finished_at).map_err(|e| format!("finished_at: {e}"))?;
    if s.session_id.is_empty() || s.run_id.is_empty() {
        return Err("empty session_id or run_id".into());
    }
    Ok(())
}

fn parse_ts(text: &str) -> std::result::Result<Value, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros()))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time: {e}"))
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros())
}

fn append_session(w: &mut Writers, db: &Path, s: &SessionFile, sha: &str) -> Result<()> {
    let e = |what: &str| {
        let what = format!("appending {what} of session {}", s.session_id);
        move |err: duckdb::Error| Error::env(format!("{}: {what}: {err}", db.display()))
    };
    let passed = s.assertions.iter().filter(|a| a.passed).count() as i32;
    let started = parse_ts(&s.started_at).map_err(Error::input)?;
    let finished = parse_ts(&s.finished_at).map_err(Error::input)?;
    w.sessions
        .append_row(params![
            s.session_id,
            s.run_id,
            s.benchmark_id,
            s.benchmark_sha256,
            s.agent,
            serde_json::to_string(&s.agent_command).unwrap_or_default(),
            s.attempt as i32,
            s.status.as_str(),
            s.score,
            s.pass_threshold,
            passed,
            s.assertions.len() as i32,
            s.exit_code,
            s.signal,
            s.error,
            started,
            finished,
            s.duration_ms as i64,
            s.timeout_ms as i64,
            s.cpu_user_ms as i64,
            s.cpu_system_ms as i64,
            s.peak_rss_bytes as i64,
            s.stdout.text,
            s.stdout.bytes_total as i64,
            s.stdout.truncated,
            s.stderr.text,
            s.stderr.bytes_total as i64,
            s.stderr.truncated,
            s.events.len() as i32,
            s.events_dropped as i64,
            s.host,
            s.reev_version,
            sha,
            s.pressure.map(|p| p.cpu_some_ms as i64),
            s.pressure.map(|p| p.memory_some_ms as i64),
            s.pressure.map(|p| p.memory_full_ms as i64),
        ])
        .map_err(e("the session row"))?;
    for (i, a) in s.assertions.iter().enumerate() {
        w.assertions
            .append_row(params![
                s.session_id,
                i as i32,
                a.kind,
                a.name,
                a.weight,
                a.passed,
                a.expected.to_string(),
                a.actual.to_string(),
                a.message,
            ])
            .map_err(e("an assertion"))?;
    }
    for ev in &s.events {
        let name = ev
            .data
            .as_ref()
            .and_then(|d| d.get("name"))
            .and_then(|n| n.as_str());
        w.events
            .append_row(params![
                s.session_id,
                ev.seq as i64,
                ev.kind,
                name,
                ev.data.as_ref().map(|d| d.to_string()),
                ev.error,
                ev.raw,
            ])
            .map_err(e("an event"))?;
    }
    for (name, value) in &s.metrics {
        w.metrics
            .append_row(params![s.session_id, name, value])
            .map_err(e("a metric"))?;
    }
    Ok(())
}

/// Resident memory, for -v logs.
fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l[6..].trim().to_string())
        })
        .unwrap_or_default()
}
