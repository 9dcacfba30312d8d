//! `reev list`: print the plan without running it.

use crate::error::{Error, Result};
use crate::plan::{self, ListOptions};

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
            .map(|t| {
                let mut row = serde_json::json!({"benchmark_id": t.benchmark_id, "agent": t.agent, "attempt": t.attempt, "benchmark_sha256": t.benchmark_sha256});
                if let Some(a) = suite.agent(&t.agent).filter(|a| !a.matrix.is_empty()) {
                    row["matrix"] = a.matrix.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str()))).collect();
                }
                row
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &rows).map_err(|e| io(e.into()))?;
        writeln!(out).map_err(io)?;
    } else {
        // The matrix column only when some agent sweeps: a plan without one reads as before.
        let sweeps = tasks
            .iter()
            .any(|t| suite.agent(&t.agent).is_some_and(|a| !a.matrix.is_empty()));
        let head = if sweeps { "\tmatrix" } else { "" };
        writeln!(out, "benchmark\tagent\tattempt\tbenchmark_sha256{head}").map_err(io)?;
        for t in &tasks {
            let matrix = match suite.agent(&t.agent) {
                Some(a) if sweeps => format!("\t{}", matrix_text(&a.matrix)),
                _ => String::new(),
            };
            writeln!(
                out,
                "{}\t{}\t{}\t{}{matrix}",
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

/// A cell's values as `model=glm-4.6 temperature=0`; `-` for an agent without `matrix:`.
pub fn matrix_text(values: &[(String, String)]) -> String {
    if values.is_empty() {
        return "-".to_string();
    }
    crate::spec::matrix::text(values.iter().map(|(k, v)| (k, v)))
}
