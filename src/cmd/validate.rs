//! `reev validate`: check benchmark files and the agent config, reporting every error.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::spec::{self, ValidateOptions};

pub fn validate(opts: ValidateOptions) -> Result<()> {
    // Which of the given paths is the agent config: the --config file, or any reev.yml/.yaml.
    let is_config = |p: &PathBuf| {
        p == &opts.suite.config
            || matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("reev.yml" | "reev.yaml")
            )
    };
    let (configs, benches): (Vec<PathBuf>, Vec<PathBuf>) = if opts.paths.is_empty() {
        (
            vec![opts.suite.config.clone()],
            vec![opts.suite.benchmarks.clone()],
        )
    } else {
        opts.paths
            .iter()
            .cloned()
            .partition(|p| p.is_file() && is_config(p))
    };
    let mut diags = Vec::new();
    let mut agents = 0;
    let mut sweeps = String::new();
    for c in &configs {
        match spec::agent::load(c) {
            Ok(cfg) => {
                agents += cfg.agents.len();
                sweeps.push_str(&expansions(&cfg));
            }
            Err(d) => diags.extend(d),
        }
    }
    let mut benchmarks = 0;
    if !benches.is_empty() {
        match spec::load_benchmarks(&benches) {
            Ok(b) => benchmarks = b.len(),
            Err(d) => diags.extend(d),
        }
    }
    if !diags.is_empty() {
        return Err(Error::diagnostics(&diags));
    }
    super::print(&format!(
        "ok: {benchmarks} benchmarks, {agents} agents\n{sweeps}"
    ))
}

/// One line per cell of every `matrix:`: `chat.glm-4.6_0  (chat: model=glm-4.6 temperature=0)`.
fn expansions(cfg: &spec::agent::AgentConfig) -> String {
    cfg.agents
        .values()
        .filter_map(|a| {
            a.declared.as_ref().map(|d| {
                format!(
                    "  {}\t({d}: {})\n",
                    a.name,
                    super::list::matrix_text(&a.matrix)
                )
            })
        })
        .collect()
}
