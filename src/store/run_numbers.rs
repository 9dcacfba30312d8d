//! Each run's number (`run_numbers`, and `run_no` in `sessions` and the child tables): the
//! integer key every per-run query filters on.
//!
//! Why a number: a report reads one run (and ten or twenty before it) out of a million
//! sessions. DuckDB skips a row group when its zone map (the min and max of a column) rules
//! it out, but it keeps only the first 8 bytes of a string, and the run ids of one day share
//! theirs ("20261203"), so a filter on `run_id` reads every row group of every child table.
//! The loader numbers runs in the order it first meets them, and appends a run's files
//! together, so a run's rows sit in a few row groups with a narrow `run_no` range.
//!
//! A run keeps its number for the life of the database (insert-only, like the data rows);
//! `reev load --rebuild` numbers them again in its own walk's order.

use std::collections::HashMap;
use std::path::Path;

use duckdb::{params, Connection};

use super::ctx::sql;
use crate::error::Result;

/// The runs the database has numbered, and the number the next new run gets.
pub struct RunNumbers {
    known: HashMap<String, i64>,
    next: i64,
}

impl RunNumbers {
    /// The numbers given so far.
    pub fn read(conn: &Connection, db: &Path) -> Result<RunNumbers> {
        let mut st = conn
            .prepare("SELECT run_id, run_no FROM run_numbers")
            .map_err(sql(db, "reading run numbers"))?;
        let known: HashMap<String, i64> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql(db, "reading run numbers"))?
            .collect::<duckdb::Result<_>>()
            .map_err(sql(db, "reading run numbers"))?;
        let next = known.values().copied().max().unwrap_or(0) + 1;
        Ok(RunNumbers { known, next })
    }

    /// The number of `run_id`, given now (in the load's transaction) if it has none yet.
    pub fn of(&mut self, conn: &Connection, db: &Path, run_id: &str) -> Result<i64> {
        if let Some(n) = self.known.get(run_id) {
            return Ok(*n);
        }
        let n = self.next;
        conn.execute("INSERT INTO run_numbers VALUES (?, ?)", params![run_id, n])
            .map_err(sql(db, format!("numbering run {run_id}")))?;
        self.known.insert(run_id.to_string(), n);
        self.next += 1;
        Ok(n)
    }
}
