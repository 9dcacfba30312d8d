//! `reev list`: print the plan without running it.

use crate::error::{Error, Result};
use crate::plan::{self, Selection};
use crate::spec::SuitePaths;

#[derive(Debug)]
pub struct ListOptions {
    pub suite: SuitePaths,
    pub selection: Selection,
    pub json: bool,
}

pub fn list(opts: ListOptions) -> Result<()> {
    let suite = super::load_suite(&opts.suite)?;
    let tasks = plan::plan(&suite, &opts.selection, "list")?;
    let mut out = std::io::stdout().lock();
    let io = Error::stdout;
    use std::io::Write;
    if opts.json {
        // Session ids depend on the run id, which a plan does not have yet: leave them out.
        let rows: Vec<serde_json::Value> = tasks
            .iter()
            .map(|t| serde_json::json!({"benchmark_id": t.benchmark_id, "agent": t.agent, "attempt": t.attempt, "benchmark_sha256": t.benchmark_sha256}))
            .collect();
        serde_json::to_writer_pretty(&mut out, &rows).map_err(|e| io(e.into()))?;
        writeln!(out).map_err(io)?;
    } else {
        writeln!(out, "benchmark\tagent\tattempt\tbenchmark_sha256").map_err(io)?;
        for t in &tasks {
            writeln!(
                out,
                "{}\t{}\t{}\t{}",
                t.benchmark_id,
                t.agent,
                t.attempt,
                &t.benchmark_sha256[..12]
            )
            .map_err(io)?;
        }
    }
    tracing::info!("{} sessions planned", tasks.len());
    Ok(())
}
