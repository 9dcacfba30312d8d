//! The DuckDB store: opening it safely (one writer, bounded waits), its schema, and loading.

pub mod accepted;
mod ctx;
mod error;
mod feed;
pub mod holders;
mod keys;
mod ledger;
pub mod load;
mod parse;
mod rows;
mod rss;
mod run_numbers;
pub mod scan;
pub mod schema;
mod spans;
mod swap;
mod target;
mod tries;
mod txn;

use std::path::Path;
use std::time::{Duration, Instant};

use duckdb::{AccessMode, Config, Connection};

use crate::error::{Error, Result};

/// How reev opens the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadWrite,
    ReadOnly,
}

/// The oldest DuckDB storage format reev writes, so that DuckDB 1.4 LTS and every later
/// release (the 1.5 CLI analysts install from PyPI, 2.0 that reev bundles) read the file.
/// It applies when a database file is created; an existing file keeps its format.
pub const STORAGE_VERSION: &str = "v1.4.0";

/// Open `path` once. Read-write opens create the file in [`STORAGE_VERSION`]'s format.
pub fn open_once(
    path: &Path,
    mode: Mode,
) -> Result<std::result::Result<Connection, duckdb::Error>> {
    let config = || -> std::result::Result<Config, duckdb::Error> {
        match mode {
            Mode::ReadWrite => Config::default()
                .access_mode(AccessMode::ReadWrite)?
                .with("storage_compatibility_version", STORAGE_VERSION),
            Mode::ReadOnly => Config::default().access_mode(AccessMode::ReadOnly),
        }
    };
    let config = config().map_err(|e| Error::env(format!("cannot configure DuckDB: {e}")))?;
    Ok(Connection::open_with_flags(path, config))
}

/// Whether opening failed because another process holds DuckDB's file lock.
pub fn is_lock_error(e: &duckdb::Error) -> bool {
    let msg = e.to_string();
    msg.contains("Could not set lock") || msg.contains("Conflicting lock")
}

/// Open `path`, retrying while another process holds DuckDB's lock, for at most `wait`.
/// When the wait runs out the error names the holder as DuckDB reports it (with its PID).
pub fn open(path: &Path, mode: Mode, wait: Duration) -> Result<Connection> {
    let deadline = Instant::now() + wait;
    let mut delay = Duration::from_millis(20);
    loop {
        match open_once(path, mode)? {
            Ok(conn) if mode == Mode::ReadOnly => {
                // Readers rely on the current tables and views (`current_sessions`, ...).
                return match schema_version(&conn) {
                    Some(v) if v != schema::SCHEMA_VERSION.to_string() => {
                        Err(version_error(path, &v))
                    }
                    _ => Ok(conn),
                };
            }
            Ok(conn) => return Ok(conn),
            Err(e) => {
                let locked = is_lock_error(&e);
                if locked && Instant::now() < deadline {
                    std::thread::sleep(
                        delay.min(deadline.saturating_duration_since(Instant::now())),
                    );
                    delay = (delay * 2).min(Duration::from_millis(500));
                    continue;
                }
                if locked {
                    return Err(Error::env(format!(
                        "database {} is locked by another process: {e}\n\
                         wait for it (for example --wait 5m), or stop the process named above",
                        path.display()
                    )));
                }
                if mode == Mode::ReadOnly && !path.exists() {
                    return Err(Error::input(format!(
                        "no database at {}; create it with `reev load`",
                        path.display()
                    )));
                }
                return Err(error::StoreError::Open {
                    db: path.to_path_buf(),
                    source: e.into(),
                }
                .into());
            }
        }
    }
}

/// Take the writer lock `<db>.lock`, held by every writer of the database (load, rebuild).
pub fn lock_writer(db: &Path, wait: Duration) -> Result<crate::lock::Lock> {
    crate::lock::acquire(
        &crate::lock::beside(db),
        wait,
        &format!("another reev is writing to {}", db.display()),
    )
}

/// Whether the database has this reev's schema version.
pub fn schema_is_current(conn: &Connection) -> bool {
    schema_version(conn) == Some(schema::SCHEMA_VERSION.to_string())
}

fn schema_version(conn: &Connection) -> Option<String> {
    conn.query_row(
        "SELECT value FROM reev_meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .ok()
}

/// A database of another schema version: rebuilt from the files, never migrated in place.
fn version_error(db: &Path, found: &str) -> Error {
    Error::input(format!(
        "{} has schema version {found}, this reev uses {}; rebuild it from the files with `reev load --rebuild`",
        db.display(),
        schema::SCHEMA_VERSION
    ))
}

/// Create tables and views if missing; refuse a database of another schema version.
pub fn ensure_schema(conn: &Connection, db: &Path) -> Result<()> {
    let sql_err = ctx::sql(db, "cannot create schema");
    if schema_is_current(conn) {
        return Ok(());
    }
    conn.execute_batch(schema::DDL).map_err(&sql_err)?;
    let found = schema_version(conn);
    match found {
        None => {
            conn.execute(
                "INSERT INTO reev_meta VALUES ('schema_version', ?)",
                [schema::SCHEMA_VERSION.to_string()],
            )
            .map_err(&sql_err)?;
        }
        Some(v) if v == schema::SCHEMA_VERSION.to_string() => {}
        Some(v) => return Err(version_error(db, &v)),
    }
    conn.execute_batch(schema::VIEWS).map_err(&sql_err)?;
    schema::refresh_agent_matrix(conn).map_err(&sql_err)?;
    Ok(())
}
