//! Accepted runs as data: the `accepted.json` files `reev accept` writes into the runs tree
//! (the truth, which outlives any database), and the `accepted_runs` table derived from them.
//!
//! Every load rewrites the table from the files in its own transaction (so `--rebuild` and a
//! fresh database keep every acceptance, and a load opens the database once); `reev accept`
//! writes it at once when it can (`sync_db`). The loader's walk does not list the files: they
//! are neither manifests nor sessions, and are read here, one per run directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use duckdb::{params, Connection};
use serde::{Deserialize, Serialize};

use super::ctx::sql;
use super::Mode;
use crate::error::{Error, Result};

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

/// Replace the `accepted_runs` table by `found` (all of them: the files are the truth), in
/// the caller's transaction.
pub fn sync(conn: &Connection, db: &Path, found: &[(PathBuf, Acceptance)]) -> Result<()> {
    conn.execute("DELETE FROM accepted_runs", [])
        .map_err(sql(db, "clearing accepted_runs"))?;
    for (path, a) in found {
        conn.execute(
            "INSERT OR REPLACE INTO accepted_runs VALUES (?, ?, ?, ?)",
            params![a.run_id, a.accepted_at, a.note, path.display().to_string()],
        )
        .map_err(sql(
            db,
            format!("recording the acceptance of run {}", a.run_id),
        ))?;
    }
    Ok(())
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
    let _lock = super::lock_writer(db, wait)?;
    let conn = super::open(db, Mode::ReadWrite, wait)?;
    if !super::schema_is_current(&conn) {
        return Err(Error::input(format!(
            "{} has an older schema; `reev load --rebuild` rebuilds it",
            db.display()
        )));
    }
    conn.execute_batch("BEGIN TRANSACTION")
        .map_err(sql(db, "recording acceptances"))?;
    sync(&conn, db, &found)?;
    conn.execute_batch("COMMIT")
        .map_err(sql(db, "recording acceptances"))?;
    Ok(())
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
