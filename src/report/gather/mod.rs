//! Reading a run from the database into the report model: the aggregates (DuckDB) and their
//! statistics, the sessions with their traces, completeness, what the gate needs of the runs
//! before, and `reev compare`'s sides.

pub mod column;
pub mod compare;
pub mod completeness;
pub mod data;
pub mod model;
pub mod samples;
pub mod trace;

use crate::error::Result;

/// Run one step of gathering, saying at debug level (`-v`) how long it took: where a slow
/// report spends its time.
pub fn timed<T>(step: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = std::time::Instant::now();
    let out = f();
    tracing::debug!(
        step,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "report query"
    );
    out
}
