//! The store's failures: what went wrong and on which database, file, session or query,
//! with the cause kept as `source()`. `?` turns a [`StoreError`] into [`crate::error::Error`]
//! (see [`Classify`]); quarantine reasons are its text.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use crate::error::{Classify, Kind};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A statement, appender or transaction step on the database failed.
    #[error("{}: {what}: {source}", .db.display())]
    Sql {
        db: PathBuf,
        what: Cow<'static, str>,
        source: DuckDb,
    },
    /// One of a session's rows could not be appended.
    #[error("{}: appending {what} of session {session}: {source}", .db.display())]
    Append {
        db: PathBuf,
        what: &'static str,
        session: String,
        source: DuckDb,
    },
    /// A file operation on `path` failed (`what` says which, e.g. "cannot sync").
    #[error("{what} {}: {source}", .path.display())]
    Io {
        what: Cow<'static, str>,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A database built beside the live one still has a WAL: renaming it alone would drop
    /// the commits in it.
    #[error(
        "the new database {} was not checkpointed (its WAL is not empty); {} is unchanged",
        .tmp.display(),
        .db.display()
    )]
    NotCheckpointed { tmp: PathBuf, db: PathBuf },
    /// A column of the ledger could not be read as the loader needs it.
    #[error("{}: reading the ledger: {source}", .db.display())]
    Ledger {
        db: PathBuf,
        source: duckdb::arrow::error::ArrowError,
    },
    /// The database could not be opened (not for a lock: see [`StoreError::Locked`]).
    #[error("cannot open database {}: {source}", .db.display())]
    Open { db: PathBuf, source: DuckDb },
    /// Someone else writes to the database, and the wait for them ran out.
    #[error(
        "database {} is locked by another process: {blocker}\n\
         wait for it (for example --wait 5m), or stop the process named above; \
         analysts should open it read-only, which never blocks a load",
        .db.display()
    )]
    Locked { db: PathBuf, blocker: Blocker },
    /// A time in a file is not RFC 3339.
    #[error("{field}: `{text}` is not an RFC 3339 time: {source}")]
    Time {
        field: &'static str,
        text: String,
        source: chrono::ParseError,
    },
    /// An id that breaks the naming rule (`spec::check_name` says which and why).
    #[error(transparent)]
    Name(#[from] crate::spec::InvalidName),
    /// A run manifest that is not JSON of the manifest's shape.
    #[error("invalid run manifest: {0}")]
    Manifest(#[source] serde_json::Error),
    /// Two session ids share a `session_no`, which would hide one of them.
    #[error(
        "sessions {first} and {second} share the number {number} (the first 64 bits of their ids' SHA-256), \
         which tells superseded tries apart; rename one of them (its session_id) and load again"
    )]
    SharedNumber {
        first: String,
        second: String,
        number: i64,
    },
    #[error("cannot start the file readers: {0}")]
    Readers(#[source] rayon::ThreadPoolBuildError),
    #[error("reading session files failed (a reader panicked)")]
    ReaderPanicked,
    #[error("walking the runs trees failed (the scanner stopped before the end)")]
    WalkCut,
}

impl StoreError {
    /// An I/O failure on `path`; the message is "`what` `path`: cause", as `Error::io` says it.
    pub fn io(
        what: impl Into<Cow<'static, str>>,
        path: &std::path::Path,
        source: std::io::Error,
    ) -> Self {
        StoreError::Io {
            what: what.into(),
            path: path.to_path_buf(),
            source,
        }
    }
}

impl Classify for StoreError {
    fn kind(&self) -> Kind {
        match self {
            StoreError::Time { .. }
            | StoreError::Name(_)
            | StoreError::Manifest(_)
            | StoreError::SharedNumber { .. } => Kind::Input,
            StoreError::Sql { .. }
            | StoreError::Append { .. }
            | StoreError::Io { .. }
            | StoreError::NotCheckpointed { .. }
            | StoreError::Ledger { .. }
            | StoreError::Open { .. }
            | StoreError::Locked { .. }
            | StoreError::Readers(_)
            | StoreError::ReaderPanicked
            | StoreError::WalkCut => Kind::Env,
        }
    }
}

/// Who keeps a load from writing, as named once the wait for them runs out.
#[derive(Debug)]
pub enum Blocker {
    /// A read-write holder, described by `holders::describe`.
    Writer(String),
    /// A read-write holder the lock probe could not name.
    SomeWriter,
    /// DuckDB's own lock error, when the file was opened between the probe and the open.
    Lock(DuckDb),
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::Writer(who) => write!(f, "it is open read-write by {who}"),
            Blocker::SomeWriter => f.write_str("it is open read-write by another process"),
            Blocker::Lock(e) => write!(f, "{e}"),
        }
    }
}

/// A DuckDB failure as a cause. DuckDB's failures have a `source()` of their own that is
/// only a generic status ("Error code 1: Unknown error code"): it says nothing the message
/// does not, so the chain printed on exit stops here for them. Boxed: a DuckDB error is
/// large, and store functions return this on their error path only.
#[derive(Debug)]
pub struct DuckDb(pub Box<duckdb::Error>);

impl From<duckdb::Error> for DuckDb {
    fn from(e: duckdb::Error) -> Self {
        DuckDb(Box::new(e))
    }
}

impl fmt::Display for DuckDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DuckDb {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match *self.0 {
            duckdb::Error::DuckDBFailure(..) => None,
            ref e => e.source(),
        }
    }
}
