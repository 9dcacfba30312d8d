//! `reev report`: write the reports of a run; with --fail-on-regression, a CI gate.

use crate::error::{Error, Result};
use crate::report::{self, ReportOptions};

pub fn report(opts: ReportOptions) -> Result<()> {
    let r = report::report(&opts)?;
    let dir = opts.out.join(&r.run_id);
    let mut paths = String::new();
    for f in &opts.formats {
        let renderer = report::renderer(*f);
        paths.push_str(&format!("{}\n", dir.join(renderer.file_name()).display()));
    }
    super::print(&paths)?;
    tracing::info!(
        "report of run {} ({}): queries {:.0} ms, rendering {:.0} ms",
        r.run_id,
        r.completeness.summary(),
        r.timings.query_ms,
        r.timings.render_ms
    );
    let incomplete = gate_completeness(&opts, &r);
    for c in r.gate.iter().flat_map(|g| &g.checks) {
        if c.outcome == report::gate::regress::Outcome::Inconclusive {
            crate::logging::line(
                tracing::Level::WARN,
                &format!("inconclusive: {} {}: {}", c.kind, c.agent, c.observed),
            );
        }
    }
    // The error-rate check needs no baseline; the others do.
    let against = match &r.baseline_run_id {
        Some(b) => format!(" against baseline {b}"),
        None => String::new(),
    };
    if let Some(g) = &r.gate {
        gate_state(g);
    }
    match (&r.baseline_run_id, r.regressions.is_empty()) {
        (None, true) => tracing::info!("no baseline run to compare with"),
        (Some(b), true) => tracing::info!("no regressions against baseline {b}"),
        (_, false) => {
            for g in &r.regressions {
                crate::logging::line(
                    tracing::Level::WARN,
                    &format!("regression: {} {}: {}", g.kind, g.agent, g.detail),
                );
            }
            if opts.fail_on_regression {
                return Err(Error::failed(format!(
                    "{} regression(s){against} (--fail-on-regression); when the change is intended, `reev accept {}` makes this run the new baseline",
                    r.regressions.len(),
                    r.run_id
                )));
            }
        }
    }
    if let Some(e) = incomplete {
        return Err(e);
    }
    Ok(())
}

/// What the gate's state means for the next nights: learning, or runs left out of its history.
fn gate_state(g: &report::gate::Gate) {
    if g.learning {
        tracing::info!(
            "the gate is learning: {} of {} comparable runs of history; no check fails until it has them",
            g.history_runs.len(),
            g.thresholds.min_history
        );
    }
    if !g.left_out.is_empty() {
        tracing::info!(
            "left out of the gate's history (they failed it and were not accepted): {}",
            g.left_out.join(", ")
        );
    }
}

/// An incomplete run (lost shard, killed run) is said so on stderr; under
/// --fail-on-regression it fails the gate (exit 1) unless --allow-incomplete. The error is
/// returned after the regressions are printed, so both show.
fn gate_completeness(opts: &ReportOptions, r: &report::Report) -> Option<Error> {
    let c = &r.completeness;
    if c.complete {
        return None;
    }
    tracing::warn!("run {} is incomplete: {}", r.run_id, c.summary());
    if opts.fail_on_regression && !opts.allow_incomplete {
        return Some(Error::failed(format!(
            "run {} is incomplete ({}); finish it or load the missing shards, or pass --allow-incomplete",
            r.run_id,
            c.summary()
        )));
    }
    None
}
