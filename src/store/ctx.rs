//! What every step of one load shares: its context, what it reports (the summary and the
//! conflicts it found), how it commits, and the helper that names the database and the
//! query in a DuckDB failure. The steps (`target.rs`, `txn.rs`, `ledger.rs`, `rows.rs`,
//! `tries.rs`) import this module; `load.rs`, at the top, calls them.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::StoreError;

/// What every step of one load shares.
pub struct Ctx<'a> {
    pub db: &'a Path,
    pub roots: &'a [PathBuf],
    pub pool: &'a rayon::ThreadPool,
    pub started: Instant,
    pub wait: Duration,
}

/// A DuckDB failure while doing `what` to `db`, as a [`StoreError`]; nothing is allocated
/// unless it fails (appenders call this once per row).
pub fn sql<'a>(
    db: &'a Path,
    what: impl Into<Cow<'static, str>>,
) -> impl Fn(duckdb::Error) -> StoreError + 'a {
    let what = what.into();
    move |e| StoreError::Sql {
        db: db.to_path_buf(),
        what: what.clone(),
        source: e.into(),
    }
}

/// Why a file was not loaded although it is valid: the database holds other bytes for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    /// A run manifest with other bytes than the one loaded for its run.
    ManifestChanged,
    /// A loaded session file whose bytes changed since.
    ChangedAfterLoad,
    /// A new file claiming a session id loaded from another file.
    DuplicateSessionId,
}

impl ConflictKind {
    /// The value of `conflicts.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::ManifestChanged => "manifest_changed",
            ConflictKind::ChangedAfterLoad => "changed_after_load",
            ConflictKind::DuplicateSessionId => "duplicate_session_id",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub path: String,
    pub session_id: Option<String>,
    pub kind: ConflictKind,
    pub loaded_sha256: String,
    pub found_sha256: String,
    pub loaded_path: Option<String>,
}

#[derive(Debug, Default)]
pub struct LoadSummary {
    /// The load's id in `loads`; 0 when nothing was written (a no-op while readers hold
    /// the database).
    pub load_id: i64,
    pub seen: u64,
    pub new: u64,
    pub skipped: u64,
    pub quarantined: Vec<(String, String)>,
    pub conflicts: Vec<Conflict>,
    pub elapsed: Duration,
}

/// How the rows reach the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commits {
    /// One transaction: a load into the live file is all or nothing.
    One,
    /// A commit every [`CHUNK_BYTES`] of new files: for a file built beside the live one,
    /// whose rename is the commit point. DuckDB then never holds more than a chunk of
    /// uncommitted rows, which it otherwise spills and reads back, growing faster than the load.
    Chunked,
}

/// A load with more new bytes than this is built beside the live file in chunks.
/// The chunk size trades memory for time: each commit and checkpoint writes the WAL and then
/// the tables again, and that cost grows with the table, so fewer of them keep a large load
/// linear; each chunk's uncommitted rows are held in memory. Measured with
/// `bench/load_scale.sh` (cold 1M / cold 200k, peak RSS at 1M): 64 MiB with a checkpoint
/// every 512 MiB 5.76x, 399 MiB; 64 MiB / 1 GiB 5.25x, 408 MiB; 96 MiB / ~1 GiB 4.92x,
/// 451-471 MiB; 128 MiB / 1 GiB 4.78x, 484 MiB.
pub const CHUNK_BYTES: u64 = 96 << 20;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{sql, ConflictKind};

    #[test]
    fn a_duckdb_failure_names_the_database_and_query_once() {
        let conn = duckdb::Connection::open_in_memory().expect("in-memory database");
        let failure = conn
            .execute_batch("SELECT * FROM no_such_table")
            .expect_err("no such table");
        let text = failure.to_string();
        let e: crate::error::Error = sql(Path::new("reev.duckdb"), "reading runs")(failure).into();
        assert_eq!(e.kind.exit_code(), 3);
        // The cause is kept, and DuckDB's generic status code is not printed after it.
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(e.chain(), format!("reev.duckdb: reading runs: {text}"));
    }

    #[test]
    fn conflict_kinds_keep_their_column_values() {
        let kinds = [
            ConflictKind::ManifestChanged,
            ConflictKind::ChangedAfterLoad,
            ConflictKind::DuplicateSessionId,
        ];
        assert_eq!(
            kinds.map(ConflictKind::as_str),
            [
                "manifest_changed",
                "changed_after_load",
                "duplicate_session_id"
            ]
        );
    }
}
