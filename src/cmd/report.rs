//! `reev report`: write the reports of a run; with --fail-on-regression, a CI gate.

use crate::error::{Error, Result};
use crate::report::{self, ReportOptions};

pub fn report(opts: ReportOptions) -> Result<()> {
    let r = report::report(&opts)?;
    let dir = opts.out.join(&r.run_id);
    let mut paths = String::new();
    for f in &opts.formats {
        if let Some(renderer) = report::renderer(f) {
            paths.push_str(&format!("{}\n", dir.join(renderer.file_name()).display()));
        }
    }
    super::print(&paths)?;
    tracing::info!(
        "report of run {} ({} sessions): queries {:.0} ms, rendering {:.0} ms",
        r.run_id,
        r.sessions.len(),
        r.timings.query_ms,
        r.timings.render_ms
    );
    for c in r.gate.iter().flat_map(|g| &g.checks) {
        if c.outcome == report::regress::Outcome::Inconclusive {
            eprintln!("reev: inconclusive: {} {}: {}", c.kind, c.agent, c.observed);
        }
    }
    match (&r.baseline_run_id, r.regressions.is_empty()) {
        (None, _) => tracing::info!("no baseline run to compare with"),
        (Some(b), true) => tracing::info!("no regressions against baseline {b}"),
        (Some(b), false) => {
            for g in &r.regressions {
                crate::logging::line(
                    tracing::Level::WARN,
                    &format!("regression: {} {}: {}", g.kind, g.agent, g.detail),
                );
            }
            if opts.fail_on_regression {
                return Err(Error::failed(format!(
                    "{} regression(s) against baseline {b} (--fail-on-regression)",
                    r.regressions.len()
                )));
            }
        }
    }
    Ok(())
}
