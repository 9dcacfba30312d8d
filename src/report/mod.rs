//! `reev report`: gather a run's numbers once, render them in every requested format.

pub mod accept;
pub mod compare;
pub mod compare_render;
pub mod completeness;
mod data;
pub mod error_rate;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod regress;
mod svg;
pub mod trace;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::store::{self, Mode};
pub use model::Report;

/// One output format: a file name and a rendering of the report.
pub trait Renderer {
    fn file_name(&self) -> &'static str;
    fn render(&self, report: &Report) -> String;
}

pub fn renderer(name: &str) -> Option<Box<dyn Renderer>> {
    match name {
        "md" | "markdown" => Some(Box::new(markdown::Markdown)),
        "html" => Some(Box::new(html::Html)),
        "json" => Some(Box::new(json::Json)),
        "junit" => Some(Box::new(junit::Junit)),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub db: PathBuf,
    pub wait: Duration,
    pub run: String,
    pub baseline: String,
    pub out: PathBuf,
    pub formats: Vec<String>,
    pub fail_on_regression: bool,
    /// With --fail-on-regression: do not fail on an incomplete run.
    pub allow_incomplete: bool,
    /// An agent whose error rate is above this (a fraction) fails the gate.
    pub max_error_rate: f64,
}

/// Build the report from the database.
pub fn gather(
    conn: &duckdb::Connection,
    run: &str,
    baseline: &str,
    max_error_rate: f64,
) -> Result<Report> {
    let ctx = data::Ctx { conn };
    let run_id = ctx.resolve_run(run)?;
    let replayed_from = ctx.replayed_from(&run_id)?;
    let judged = match baseline {
        "none" => None,
        // The default: the last comparable run that passed the gate or was accepted (of the
        // same kind: replayed or live).
        "passed" => ctx.gate(&run_id, None, max_error_rate)?,
        other => match ctx.resolve_baseline(other, &run_id)? {
            // A replay did not call the model: never compared with a live run.
            Some(b) if ctx.replayed_from(&b)?.is_some() != replayed_from.is_some() => {
                tracing::warn!(
                    "baseline {b} and run {run_id} are not both replayed or both live: not compared"
                );
                None
            }
            Some(b) => ctx.gate(&run_id, Some(&b), max_error_rate)?,
            None => None,
        },
    };
    let (baseline_run_id, mut gate) = match judged {
        Some((b, g)) => (Some(b), Some(g)),
        None => (None, None),
    };
    let mut agents = ctx.agents(&run_id)?;
    let matrix = ctx.matrix(&run_id, &mut agents)?;
    ctx.agent_matrix(&run_id, &mut agents)?;
    let mut benchmarks: Vec<String> = matrix.iter().map(|c| c.benchmark_id.clone()).collect();
    benchmarks.dedup();
    let mut regressions = gate
        .as_ref()
        .map(|g| g.regressions.clone())
        .unwrap_or_default();
    error_rate::judge(&agents, max_error_rate, &mut regressions, gate.as_mut());
    let mut sessions = ctx.sessions(&run_id)?;
    trace::attach(conn, &trace::chosen(&sessions), &mut sessions)?;
    let (flaky, changes) = ctx.flaky(&run_id)?;
    let failures = data::failures(&sessions);
    Ok(Report {
        agents,
        max_error_rate,
        benchmarks,
        descriptions: ctx.descriptions(&run_id)?,
        matrix,
        flaky,
        changes,
        trends: ctx.trends(&run_id)?,
        histograms: ctx.histograms(&run_id)?,
        slowest: data::slowest(&sessions),
        failures,
        sessions,
        regressions,
        gate,
        generated_at: crate::timestamp::rfc3339(chrono::Utc::now()),
        reev_version: env!("CARGO_PKG_VERSION").to_string(),
        timings: Default::default(),
        completeness: completeness::gather(conn, &run_id)?,
        run_id,
        replayed_from,
        baseline_run_id,
    })
}

/// The gate replayed over the latest `runs` complete runs, per agent (`reev calibrate`).
pub fn calibrate(conn: &duckdb::Connection, runs: u32) -> Result<Vec<regress::Replay>> {
    data::Ctx { conn }.calibrate(i64::from(runs))
}

/// Write `<out>/<run_id>/<files>` and point `<out>/latest` at that directory.
pub fn report(opts: &ReportOptions) -> Result<Report> {
    let renderers: Vec<Box<dyn Renderer>> = opts
        .formats
        .iter()
        .map(|f| {
            renderer(f).ok_or_else(|| {
                Error::input(format!(
                    "unknown report format `{f}` (md, html, json, junit)"
                ))
            })
        })
        .collect::<Result<_>>()?;
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

/// Escape text for XML (JUnit; report.html is escaped by its maud templates), content and
/// quoted attributes alike, dropping the control
/// characters XML 1.0 cannot carry. Everything from benchmarks, agents and output goes here.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => o.push(c),
        }
    }
    o
}

/// Text helpers shared by the formats.
pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// What every format shows for a number that does not exist (a session that was not judged
/// has no score; a run with no judged session has no success rate): never 0.
pub const NONE: &str = "–";

/// A value and its interval, `v (lo–hi)` with `f`; [`NONE`] when there is no value.
pub fn with_ci(x: Option<f64>, ci: Option<[f64; 2]>, f: fn(f64) -> String) -> [String; 2] {
    match (x, ci) {
        (Some(x), Some([lo, hi])) => [f(x), format!("{}–{}", f(lo), f(hi))],
        (Some(x), None) => [f(x), String::new()],
        (None, _) => [NONE.to_string(), String::new()],
    }
}

/// A score with `digits` decimals, or [`NONE`].
pub fn score(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| NONE.to_string(), |x| format!("{x:.digits$}"))
}

/// Three decimals: how scores are shown in tables.
pub fn score3(x: f64) -> String {
    format!("{x:.3}")
}

pub fn ms(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{:.1} s", x / 1000.0)
    } else {
        format!("{x:.0} ms")
    }
}

/// US dollars with four significant digits (model requests cost fractions of a cent); `-`
/// when unknown.
pub fn usd(x: Option<f64>) -> String {
    match x {
        None => "-".to_string(),
        Some(x) if x == 0.0 || !x.is_finite() => format!("${x}"),
        Some(x) => {
            let digits = (3 - x.abs().log10().floor() as i32).clamp(2, 10) as usize;
            format!("${x:.digits$}")
        }
    }
}

/// A token count (a mean, so rounded); `-` when unknown.
pub fn tokens(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |t| format!("{t:.0}"))
}

/// The agents' rows for the tokens and cost table: (agent, tokens per session, cost per
/// session, cost per success, priced sessions of all); empty when no agent reported tokens.
pub fn cost_rows(agents: &[model::AgentSummary]) -> Vec<[String; 5]> {
    if agents
        .iter()
        .all(|a| a.tokens_per_session.is_none() && a.priced_sessions == 0)
    {
        return Vec::new();
    }
    agents
        .iter()
        .map(|a| {
            [
                a.agent.clone(),
                tokens(a.tokens_per_session),
                usd(a.cost_per_session),
                usd(a.cost_per_success),
                format!("{} of {}", a.priced_sessions, a.sessions),
            ]
        })
        .collect()
}

pub fn bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn usd_keeps_four_significant_digits() {
        assert_eq!(super::usd(Some(1.23456)), "$1.235");
        assert_eq!(super::usd(Some(1234.5)), "$1234.50");
        assert_eq!(super::usd(Some(0.000123456)), "$0.0001235");
        assert_eq!(super::usd(Some(0.0)), "$0");
        assert_eq!(super::usd(None), "-");
    }
}
