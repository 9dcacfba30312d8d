//! Accepted runs: `reev accept RUN` says "this run is the new normal" (its changes were
//! intended), so the regression gate takes it as a baseline and into its history even though
//! it did not pass the gate.
//!
//! The acceptance is a file in the run's directory, `<runs>/<run>/accepted.json`: the runs
//! tree is the source of truth and outlives any database. The `accepted_runs` table is derived
//! from those files — written by `reev accept` itself and rebuilt from the files by every
//! `reev load` (so `--rebuild` and a fresh database keep every acceptance). The loader's walk
//! ignores the file (it is neither a manifest nor a session).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use duckdb::{params, Connection};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{self, Mode};

/// The acceptance file, in the run's directory.
pub const FILE: &str = "accepted.json";

/// One acceptance, as its file holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    pub run_id: String,
    pub accepted_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Write `<runs_dir>/<run>/accepted.json` (replacing an earlier acceptance of the run) and
/// return its path. The run must be in the runs tree: a manifest or sessions in its directory.
pub fn write(runs_dir: &Path, run_id: &str, note: Option<String>) -> Result<PathBuf> {
    crate::spec::check_name("run id", run_id).map_err(Error::input)?;
    let dir = runs_dir.join(run_id);
    let is_run = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name == "sessions" || crate::manifest::is_manifest_name(&name)
            })
        })
        .unwrap_or(false);
    if !is_run {
        return Err(Error::input(format!(
            "run `{run_id}` is not in the runs tree {} (no run manifest or sessions in {}); give --runs-dir",
            runs_dir.display(),
            dir.display()
        )));
    }
    let a = Acceptance {
        run_id: run_id.to_string(),
        accepted_at: crate::timestamp::rfc3339(chrono::Utc::now()),
        note,
    };
    let path = dir.join(FILE);
    let text = serde_json::to_string_pretty(&a)
        .map_err(|e| Error::env(format!("cannot encode the acceptance of {run_id}: {e}")))?;
    // Written beside and renamed: a reader never sees half a file.
    let tmp = dir.join(format!(".{FILE}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, format!("{text}\n"))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| Error::io("cannot write the acceptance", &path, e))?;
    Ok(path)
}

/// Every acceptance file under `roots` (`<root>/<run>/accepted.json`). A file that cannot be
/// read, or that names another run than its directory, is skipped with a warning naming it.
pub fn read_all(roots: &[PathBuf]) -> Vec<(PathBuf, Acceptance)> {
    let mut out = Vec::new();
    for root in roots {
        let Ok(runs) = std::fs::read_dir(root) else {
            continue;
        };
        for run in runs.flatten() {
            // Run directories only (the runs tree also holds `.batch.lock` and a README).
            if !run.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = run.path().join(FILE);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::warn!("cannot read the acceptance {}: {e}", path.display());
                    continue;
                }
            };
            match serde_json::from_slice::<Acceptance>(&bytes) {
                Ok(a) if a.run_id == run.file_name().to_string_lossy() => out.push((path, a)),
                Ok(a) => tracing::warn!(
                    "{} accepts run `{}`, not the run of its directory: ignored",
                    path.display(),
                    a.run_id
                ),
                Err(e) => tracing::warn!("{} is not an acceptance: {e}; ignored", path.display()),
            }
        }
    }
    out
}

/// Replace the `accepted_runs` table by `found` (all of them: the files are the truth).
pub fn sync(conn: &Connection, db: &Path, found: &[(PathBuf, Acceptance)]) -> Result<()> {
    let sql = |what: &'static str| {
        move |e: duckdb::Error| {
            Error::env(format!(
                "{}: {what} in table accepted_runs failed: {e}",
                db.display()
            ))
        }
    };
    // The table is part of the schema (`store/schema.rs`).
    conn.execute_batch("BEGIN TRANSACTION; DELETE FROM accepted_runs;")
        .map_err(sql("clearing"))?;
    for (path, a) in found {
        conn.execute(
            "INSERT OR REPLACE INTO accepted_runs VALUES (?, ?, ?, ?)",
            params![a.run_id, a.accepted_at, a.note, path.display().to_string()],
        )
        .map_err(sql("inserting"))?;
    }
    conn.execute_batch("COMMIT").map_err(sql("committing"))
}

/// Bring the database's `accepted_runs` in line with the files under `roots`, when the
/// database exists and can be written within `wait`; otherwise the next load does it.
pub fn sync_db(db: &Path, roots: &[PathBuf], wait: Duration) -> Result<()> {
    if !db.is_file() {
        return Ok(());
    }
    let found = read_all(roots);
    // As every writer: under the writer lock, and only into a database of this schema (an
    // older one is rebuilt from the files, acceptances included, by `reev load --rebuild`).
    let _lock = store::lock_writer(db, wait)?;
    let conn = store::open(db, Mode::ReadWrite, wait)?;
    if !store::schema_is_current(&conn) {
        return Err(Error::input(format!(
            "{} has an older schema; `reev load --rebuild` rebuilds it",
            db.display()
        )));
    }
    sync(&conn, db, &found)
}

/// The accepted runs the database knows (none when no run was ever accepted).
pub fn accepted(conn: &Connection) -> Result<BTreeSet<String>> {
    let err = |e: duckdb::Error| Error::env(format!("reading accepted_runs failed: {e}"));
    let mut st = conn
        .prepare("SELECT run_id FROM accepted_runs")
        .map_err(err)?;
    let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(err)?;
    rows.collect::<std::result::Result<_, _>>().map_err(err)
}
