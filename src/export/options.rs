//! What `reev export` is asked for, and the check that `--run` names a run the store knows:
//! shared by the table writers here and the OTLP export (`crate::otlp::export`), which the
//! export dispatches to, so this module imports neither.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Table {
    Sessions,
    Agents,
    Benchmarks,
    Assertions,
    Events,
    Runs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Parquet,
    /// OTLP/JSON traces, one `ExportTraceServiceRequest` per session and line (`--table` is
    /// not used: the sessions with their events, spans and verifier runs).
    OtlpJson,
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub db: PathBuf,
    pub wait: Duration,
    pub table: Table,
    pub format: Format,
    /// None or "-" for stdout.
    pub out: Option<PathBuf>,
    pub run: Option<String>,
    pub since: Option<String>,
    /// Do not neutralise spreadsheet formulas in CSV text cells.
    pub raw: bool,
    /// Parquet only: write a directory partitioned by date (`date=YYYY-MM-DD/`).
    pub partition_by_date: bool,
}

/// `--run` names a run the database knows (a manifest or a session), else exit 2: an empty
/// export of a mistyped run id would look like a run with nothing in it.
pub(crate) fn check_run(conn: &duckdb::Connection, run: &str) -> Result<()> {
    let known: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)
                 OR EXISTS (SELECT 1 FROM sessions WHERE run_id = ?1)",
            [run],
            |r| r.get(0),
        )
        .map_err(|e| Error::env(format!("cannot look up run `{run}`: {e}")))?;
    if known {
        Ok(())
    } else {
        Err(Error::input(format!(
            "--run `{run}`: no such run in the database (`reev query \"SELECT DISTINCT run_id FROM sessions\"` lists them)"
        )))
    }
}
