//! Which tries are superseded, and each run's totals: kept as data the loader writes once,
//! not recomputed per query.
//!
//! A planned session (run × benchmark × agent × attempt) has one try, or several when
//! `--retry-errors` ran it again; its current try is the one with the highest try number
//! (ties, which only hand-made trees have, go to the larger session id). Every report, the
//! gate, `calibrate` and analysts read the current tries (`current_sessions`), so picking
//! them with a window function over all of `sessions` on every query cost ~0.9 s at
//! 1,000,000 sessions. Tries are rare and a try, once superseded, stays superseded (files
//! are write-once and a later try only adds a file), so the loader decides it once:
//!
//! - a try that is superseded when the load that appends it ends (by a try of the same load,
//!   the usual case: `--retry-errors` ran both before `reev load`; or by one loaded before)
//!   gets `latest_try = false` in its own row, before any reader can see that row (the
//!   load's commit, or the rename of a database built beside): `current_sessions` then
//!   filters a column, which costs nothing per query;
//! - a try an earlier load made visible, superseded by one loaded now, is recorded in
//!   `superseded_tries` (insert-only, usually empty or small), which the view anti-joins on
//!   `sessions.session_no`. A row a reader has seen never changes.
//!
//! After the rows of a load are appended, the groups of the runs that load added sessions to
//! are checked again, and whatever is now superseded and not yet marked or recorded is.
//! Whatever order the files of a run arrive in, over however many loads, the current tries
//! end as the window function would have picked them.
//!
//! The same load then records each of those runs' totals (`run_totals`: current sessions,
//! when the latest started, the shape of its agent × benchmark pairs; `pair_totals`: the same
//! per benchmark × agent; `pair_latest`: each of those pairs' latest run) as a new row that
//! supersedes the rows of earlier loads, so reports find the latest runs and
//! `latest_sessions` its pairs in a table of one row per run, not by aggregating all sessions.

use std::collections::BTreeSet;
use std::path::Path;

use duckdb::{params, Connection};
use sha2::{Digest, Sha256};

use super::ctx::sql;
use super::error::StoreError;
use crate::error::Result;

/// `sessions.session_no`: the first 64 bits of the SHA-256 of the session id. Derived from
/// the id alone, so the same files give the same tables whatever order they are loaded in.
/// Two ids sharing a number (odds about 3 in 10^8 in a database of 10^6 sessions) are
/// caught by [`record_superseded`] before they could hide a session.
pub fn session_no(session_id: &str) -> i64 {
    let d = Sha256::digest(session_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    i64::from_be_bytes(first)
}

/// Record the tries that are superseded in `runs` (the runs this load added sessions to)
/// and not marked or recorded yet: a try this load appended (its `session_no` is in
/// `appended`) gets `latest_try = false` in its own row, which no reader has seen yet; a try
/// an earlier load made visible goes to `superseded_tries`, so a row a reader has seen never
/// changes. Runs in the caller's transaction, after the rows are appended.
pub fn record_superseded(
    conn: &Connection,
    db: &Path,
    load_id: i64,
    runs: &BTreeSet<String>,
    appended: Vec<i64>,
) -> Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    conn.execute_batch(
        "CREATE OR REPLACE TEMP TABLE reev_load_runs (run_id VARCHAR NOT NULL PRIMARY KEY, run_no BIGINT)",
    )
    .map_err(sql(db, "listing the runs of the load"))?;
    {
        let mut add = conn
            .prepare(
                "INSERT INTO reev_load_runs SELECT ?, run_no FROM run_numbers WHERE run_id = ?",
            )
            .map_err(sql(db, "listing the runs of the load"))?;
        for run in runs {
            add.execute(params![run, run])
                .map_err(sql(db, format!("listing run {run} of the load")))?;
        }
    }
    let found = conn
        .execute(
            &format!("CREATE OR REPLACE TEMP TABLE reev_superseded AS {SUPERSEDED}"),
            [],
        )
        .map_err(sql(db, "finding superseded tries"))?;
    // Most loads supersede nothing: the load's session numbers (a million on a cold load)
    // are only listed when there is something to sort into marked and recorded.
    if found > 0 {
        sort_superseded(conn, db, appended)?;
    }
    record_totals(conn, db, load_id)?;
    conn.execute_batch("DROP TABLE reev_load_runs; DROP TABLE reev_superseded")
        .map_err(sql(db, "listing the runs of the load"))?;
    // Every load, as a new session may share the number of a try recorded long ago.
    refuse_shared_numbers(conn, db)
}

/// Mark the superseded tries (`reev_superseded`) this load appended in their own rows, and
/// record the others, which an earlier load made visible, beside them.
fn sort_superseded(conn: &Connection, db: &Path, appended: Vec<i64>) -> Result<()> {
    conn.execute_batch("CREATE OR REPLACE TEMP TABLE reev_appended (session_no BIGINT NOT NULL)")
        .map_err(sql(db, "listing the sessions of the load"))?;
    {
        let mut app = conn
            .appender("reev_appended")
            .map_err(sql(db, "listing the sessions of the load"))?;
        for no in appended {
            app.append_row(params![no])
                .map_err(sql(db, "listing the sessions of the load"))?;
        }
    }
    conn.execute(
        "UPDATE sessions SET latest_try = false
         WHERE run_no IN (SELECT run_no FROM reev_load_runs)
           AND session_id IN (SELECT session_id FROM reev_superseded
                              WHERE session_no IN (SELECT session_no FROM reev_appended))",
        [],
    )
    .map_err(sql(db, "marking superseded tries"))?;
    conn.execute(
        "INSERT INTO superseded_tries SELECT session_no, session_id FROM reev_superseded
         WHERE session_no NOT IN (SELECT session_no FROM reev_appended)",
        [],
    )
    .map_err(sql(db, "recording superseded tries"))?;
    conn.execute_batch("DROP TABLE reev_appended")
        .map_err(sql(db, "listing the sessions of the load"))?;
    Ok(())
}

/// The superseded tries of the load's runs (`reev_load_runs`) that are not marked or
/// recorded yet. Only groups with more than one try can hold one: a hash aggregate finds
/// them, and the window then runs over those few rows instead of every session.
const SUPERSEDED: &str = "
    WITH loaded AS (
        SELECT session_no, session_id, latest_try, run_id, benchmark_id, agent, attempt, try_number
        FROM sessions WHERE run_no IN (SELECT run_no FROM reev_load_runs)
    ), tried AS (
        SELECT run_id, benchmark_id, agent, attempt FROM loaded
        GROUP BY ALL HAVING count(*) > 1
    ), ranked AS (
        SELECT l.session_no, l.session_id, l.latest_try
        FROM loaded l JOIN tried USING (run_id, benchmark_id, agent, attempt)
        QUALIFY row_number() OVER (
            PARTITION BY run_id, benchmark_id, agent, attempt
            ORDER BY try_number DESC, session_id DESC) > 1
    )
    SELECT session_no, session_id FROM ranked
    WHERE latest_try AND session_no NOT IN (SELECT session_no FROM superseded_tries)";

/// A superseded try whose `session_no` another session shares would hide that session from
/// `current_sessions`: refuse the load (it rolls back) rather than report wrong numbers.
fn refuse_shared_numbers(conn: &Connection, db: &Path) -> Result<()> {
    let shared: Option<(String, String)> = conn
        .query_row(
            "SELECT x.session_id, s.session_id FROM superseded_tries x JOIN sessions s USING (session_no)
             WHERE s.session_id <> x.session_id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            duckdb::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(sql(db, "checking session numbers"))?;
    match shared {
        None => Ok(()),
        Some((first, second)) => Err(StoreError::SharedNumber {
            number: session_no(&first),
            first,
            second,
        }
        .into()),
    }
}

/// The totals of the load's runs (in `reev_load_runs`) as they are now, tries ranked: a new
/// row per run and per run × benchmark × agent, which supersedes the rows of earlier loads.
fn record_totals(conn: &Connection, db: &Path, load_id: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO run_totals
         SELECT run_id, ?, count(*), max(started_at), any_value(run_no),
                sha256(array_to_string(list_sort(list(DISTINCT agent || chr(31) || benchmark_id)), chr(30)))
         FROM current_sessions
         WHERE run_no IN (SELECT run_no FROM reev_load_runs) GROUP BY run_id",
        params![load_id],
    )
    .map_err(sql(db, "recording the totals of the loaded runs"))?;
    conn.execute(
        "INSERT INTO pair_totals
         SELECT run_id, benchmark_id, agent, ?, max(started_at), any_value(run_no) FROM current_sessions
         WHERE run_no IN (SELECT run_no FROM reev_load_runs) GROUP BY run_id, benchmark_id, agent",
        params![load_id],
    )
    .map_err(sql(db, "recording the totals of the loaded runs"))?;
    // Only the pairs of the load's runs can have a new latest run. Grouped, not ranked with
    // a window: a window over every run's pairs cost twice as much.
    conn.execute(
        "INSERT INTO pair_latest
         WITH touched AS (SELECT DISTINCT benchmark_id, agent FROM pair_totals WHERE load_id = ?),
         runs_by_pair AS (
             SELECT benchmark_id, agent, run_no, any_value(run_id) AS run_id,
                    arg_max(started_max, load_id) AS run_started
             FROM pair_totals JOIN touched USING (benchmark_id, agent)
             GROUP BY benchmark_id, agent, run_no
         )
         SELECT benchmark_id, agent, ?, arg_max(run_no, (run_started, run_id))
         FROM runs_by_pair GROUP BY benchmark_id, agent",
        params![load_id, load_id],
    )
    .map_err(sql(db, "recording the latest run of each pair"))?;
    Ok(())
}
