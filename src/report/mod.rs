//! `reev report`: gather a run's numbers once, render them in every requested format.
//!
//! Three rooms, data flowing one way: `gather` reads the database into the model, `gate`
//! judges it (regressions, the error rate, accepted runs), `render` writes each format from
//! the shared [`Report`]. This file runs them in that order.

pub mod gate;
pub mod gather;
pub mod model;
pub mod render;
pub mod text;

#[cfg(test)]
mod snapshot_tests;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::store::{self, Mode};
pub use gather::data::Baseline;
use gather::data::{self, Ctx};
use gather::{completeness, timed, trace};
pub use model::Report;
pub use render::{renderer, Format, Renderer};
pub use text::*;
// `reev load` and the settings reach the gate's acceptances and error-rate parser here.
pub use gate::{accept, error_rate};

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub db: PathBuf,
    pub wait: Duration,
    pub run: String,
    pub baseline: Baseline,
    pub out: PathBuf,
    pub formats: Vec<Format>,
    pub fail_on_regression: bool,
    /// With --fail-on-regression: do not fail on an incomplete run.
    pub allow_incomplete: bool,
    /// An agent whose error rate is above this (a fraction) fails the gate.
    pub max_error_rate: f64,
}

/// Build the report from the database: gather, then judge.
pub fn gather(
    conn: &duckdb::Connection,
    run: &str,
    baseline: &Baseline,
    max_error_rate: f64,
) -> Result<Report> {
    let ctx = Ctx { conn };
    let run_id = timed("resolve", || ctx.resolve_run(run))?;
    let replayed_from = timed("replayed_from", || ctx.replayed_from(&run_id))?;
    let judged = timed("gate", || {
        judge(
            &ctx,
            &run_id,
            replayed_from.as_deref(),
            baseline,
            max_error_rate,
        )
    })?;
    let (baseline_run_id, mut gate) = match judged {
        Some((b, g)) => (Some(b), Some(g)),
        None => (None, None),
    };
    let mut agents = timed("agents", || ctx.agents(&run_id))?;
    let matrix = timed("matrix", || ctx.matrix(&run_id, &mut agents))?;
    timed("agent_matrix", || ctx.agent_matrix(&run_id, &mut agents))?;
    let mut benchmarks: Vec<String> = matrix.iter().map(|c| c.benchmark_id.clone()).collect();
    benchmarks.dedup();
    let mut regressions = gate
        .as_ref()
        .map(|g| g.regressions.clone())
        .unwrap_or_default();
    error_rate::judge(&agents, max_error_rate, &mut regressions, gate.as_mut());
    let mut sessions = timed("sessions", || ctx.sessions(&run_id))?;
    let chosen = trace::chosen(&sessions);
    timed("traces", || {
        trace::attach(conn, &run_id, &chosen, &mut sessions)
    })?;
    let (flaky, changes) = timed("flaky", || ctx.flaky(&run_id))?;
    let descriptions = timed("descriptions", || ctx.descriptions(&run_id))?;
    let trends = timed("trends", || ctx.trends(&run_id))?;
    let histograms = timed("histograms", || ctx.histograms(&run_id))?;
    let completeness = timed("completeness", || completeness::gather(conn, &run_id))?;
    let failures = data::failures(&sessions);
    Ok(Report {
        agents,
        max_error_rate,
        benchmarks,
        descriptions,
        matrix,
        flaky,
        changes,
        trends,
        histograms,
        slowest: data::slowest(&sessions),
        failures,
        sessions,
        regressions,
        gate,
        generated_at: crate::timestamp::rfc3339(chrono::Utc::now()),
        reev_version: env!("CARGO_PKG_VERSION").to_string(),
        timings: Default::default(),
        completeness,
        run_id,
        replayed_from,
        baseline_run_id,
    })
}

/// The gate against `baseline`: the baseline run and the gate's verdict, or `None` when
/// there is nothing to compare with (or a replay would be compared with a live run).
fn judge(
    ctx: &Ctx,
    run_id: &str,
    replayed_from: Option<&str>,
    baseline: &Baseline,
    max_error_rate: f64,
) -> Result<Option<(String, gate::Gate)>> {
    let gate_against = |explicit: Option<&str>| -> Result<Option<(String, gate::Gate)>> {
        let past = timed("gate history", || ctx.past(run_id, explicit))?;
        let accepted = timed("accepted", || accept::accepted(ctx.conn))?;
        timed("gate judging", || {
            Ok(gate::history::gate(
                &past,
                &accepted,
                run_id,
                explicit,
                max_error_rate,
            ))
        })
    };
    let explicit = match baseline {
        Baseline::None => return Ok(None),
        // The default: the last comparable run that passed the gate or was accepted (of the
        // same kind: replayed or live).
        Baseline::Passed => return gate_against(None),
        Baseline::Previous => ctx.previous(run_id)?,
        Baseline::Run(id) => Some(ctx.resolve_run(id)?),
    };
    let Some(b) = explicit else {
        return Ok(None);
    };
    // A replay did not call the model: never compared with a live run.
    if ctx.replayed_from(&b)?.is_some() != replayed_from.is_some() {
        tracing::warn!(
            "baseline {b} and run {run_id} are not both replayed or both live: not compared"
        );
        return Ok(None);
    }
    gate_against(Some(&b))
}

/// The gate replayed over the latest `runs` complete runs, per agent (`reev calibrate`).
pub fn calibrate(conn: &duckdb::Connection, runs: u32) -> Result<Vec<gate::regress::Replay>> {
    let (all, data) = Ctx { conn }.calibration(i64::from(runs))?;
    Ok(gate::history::calibrate(&all, &data))
}

/// Write `<out>/<run_id>/<files>` and point `<out>/latest` at that directory.
pub fn report(opts: &ReportOptions) -> Result<Report> {
    let renderers: Vec<Box<dyn Renderer>> = opts.formats.iter().map(|f| renderer(*f)).collect();
    let t0 = Instant::now();
    let conn = store::open(&opts.db, Mode::ReadOnly, opts.wait)?;
    let mut report = gather(&conn, &opts.run, &opts.baseline, opts.max_error_rate)?;
    drop(conn);
    report.timings.query_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let t1 = Instant::now();
    // The run id comes from the database, which got it from files: one that is not a plain
    // name (a `../` in a tampered session file) must not take the report outside --out.
    crate::spec::check_name("run id", &report.run_id).map_err(|e| {
        Error::input(format!(
            "refusing to write a report outside {}: {e}",
            opts.out.display()
        ))
    })?;
    let dir = opts.out.join(&report.run_id);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io("cannot create report directory", &dir, e))?;
    let mut rendered = Vec::new();
    for r in &renderers {
        rendered.push((r.file_name(), r.render(&report)));
    }
    report.timings.render_ms = t1.elapsed().as_secs_f64() * 1000.0;
    for (name, text) in rendered {
        write_atomic(&dir.join(name), text.as_bytes())?;
    }
    point_latest(&opts.out, &report.run_id)?;
    Ok(report)
}

/// Replace a report file atomically (reports are derived, so they may be regenerated).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Error::io("cannot write report", path, e))
}

/// `<out>/latest` -> `<run_id>`, swapped atomically.
fn point_latest(out: &Path, run_id: &str) -> Result<()> {
    let link = out.join("latest");
    let tmp = out.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(run_id, &tmp)
        .and_then(|_| std::fs::rename(&tmp, &link))
        .map_err(|e| Error::io("cannot point latest at the report in", &link, e))
}
