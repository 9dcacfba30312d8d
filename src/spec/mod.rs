//! The suite: benchmark files and agent definitions, loaded and validated together.

pub mod agent;
pub mod benchmark;
pub mod checks;
mod invalid;
pub mod matrix;
pub mod placeholders;
pub mod prices;
pub mod sandbox;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use walkdir::WalkDir;

pub use agent::{Agent, AgentConfig};
pub use benchmark::Benchmark;
pub use yaml::parse as parse_yaml;

use crate::error::{Classify, Diagnostic, Kind};

/// Where to find the suite.
#[derive(Debug, Clone)]
pub struct SuitePaths {
    pub config: PathBuf,
    pub benchmarks: PathBuf,
}

/// What `reev validate` checks: these files or directories (benchmarks and/or an agent
/// config), or, when none are given, the suite.
#[derive(Debug)]
pub struct ValidateOptions {
    pub paths: Vec<PathBuf>,
    pub suite: SuitePaths,
}

/// Everything needed to plan: agents by name and benchmarks sorted by id.
#[derive(Debug, Clone)]
pub struct Suite {
    pub config: AgentConfig,
    pub benchmarks: Vec<Benchmark>,
}

impl Suite {
    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.config.agents.get(name)
    }

    pub fn benchmark(&self, id: &str) -> Option<&Benchmark> {
        self.benchmarks.iter().find(|b| b.id == id)
    }
}

/// Load the agent config and every benchmark; collect every problem rather than stopping at one.
pub fn load(paths: &SuitePaths) -> Result<Suite, Vec<Diagnostic>> {
    let config = agent::load(&paths.config);
    let benchmarks = load_benchmarks(std::slice::from_ref(&paths.benchmarks));
    match (config, benchmarks) {
        (Ok(config), Ok(benchmarks)) => Ok(Suite { config, benchmarks }),
        (c, b) => {
            let mut diags = c.err().unwrap_or_default();
            diags.extend(b.err().unwrap_or_default());
            Err(diags)
        }
    }
}

/// Every `*.yml` / `*.yaml` under the given files or directories, parsed in parallel,
/// sorted by id, with duplicate ids reported at the second occurrence.
pub fn load_benchmarks(roots: &[PathBuf]) -> Result<Vec<Benchmark>, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let files = benchmark_files(roots, &mut diags);
    if files.is_empty() && diags.is_empty() {
        for root in roots {
            diags.push(Diagnostic::new(
                root,
                "no benchmark files (*.yml, *.yaml) found here",
            ));
        }
    }
    let parsed: Vec<Result<Benchmark, Vec<Diagnostic>>> = files
        .par_iter()
        .map(|path| {
            let bytes = std::fs::read(path)
                .map_err(|e| vec![Diagnostic::new(path, format!("cannot read: {e}"))])?;
            benchmark::parse(path, &bytes)
        })
        .collect();
    let mut benchmarks: Vec<Benchmark> = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for result in parsed {
        match result {
            Ok(b) => {
                if let Some(first) = seen.get(&b.id) {
                    let line = id_line(&b.yaml);
                    diags.push(Diagnostic::at(
                        &b.path,
                        line,
                        1,
                        format!(
                            "duplicate benchmark id `{}` (first defined in {})",
                            b.id,
                            first.display()
                        ),
                    ));
                } else {
                    seen.insert(b.id.clone(), b.path.clone());
                    benchmarks.push(b);
                }
            }
            Err(d) => diags.extend(d),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    benchmarks.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(benchmarks)
}

/// The line of the top-level `id:` key, for duplicate-id messages (0 when not found).
fn id_line(yaml: &str) -> u64 {
    yaml.lines()
        .position(|l| l.starts_with("id:"))
        .map(|i| i as u64 + 1)
        .unwrap_or(0)
}

fn benchmark_files(roots: &[PathBuf], diags: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for root in roots {
        if root.is_file() {
            files.push(root.clone());
            continue;
        }
        if !root.exists() {
            diags.push(Diagnostic::new(root, "no such file or directory"));
            continue;
        }
        for entry in WalkDir::new(root).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() && is_yaml(e.path()) => files.push(e.into_path()),
                Ok(_) => {}
                Err(e) => {
                    let path = e.path().unwrap_or(root).to_path_buf();
                    diags.push(Diagnostic::new(&path, format!("cannot read: {e}")));
                }
            }
        }
    }
    files
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    )
}

/// The one rule for every name reev puts in a path: run ids (generated, `--run-id`,
/// `--resume`), benchmark ids and agent names. 1-128 characters from `[A-Za-z0-9._-]`,
/// starting with a letter or digit: no `/`, no `..`, no leading `-` or `.`, so a name is
/// always one plain path component and never an option or a hidden file. Upper case is
/// allowed because generated run ids carry `T` and `Z` (`20261122T031927.676Z-de2bf2`).
pub fn check_name(what: &str, name: &str) -> Result<(), InvalidName> {
    let mut chars = name.chars();
    let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok_first && ok_rest && name.len() <= 128 {
        Ok(())
    } else {
        Err(InvalidName {
            what: what.to_string(),
            name: name.to_string(),
        })
    }
}

/// A name [`check_name`] refuses: what it names (`run id`, `agent name`, ...) and the name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{name}` is not allowed: use 1-128 characters from [A-Za-z0-9._-], starting with a letter or digit")]
pub struct InvalidName {
    pub what: String,
    pub name: String,
}

/// A name the user gave (a flag, a file): an input error, exit code 2.
impl Classify for InvalidName {
    fn kind(&self) -> Kind {
        Kind::Input
    }
}

/// The sentence, for callers that collect problems as text (the store's checks of a file's
/// ids) or put it inside a sentence of their own.
impl From<InvalidName> for String {
    fn from(e: InvalidName) -> String {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert!(super::check_name("id", "ledger.transfer-1_a").is_ok());
        assert!(super::check_name("id", "Nightly-A.1").is_ok());
        assert!(super::check_name("id", &"a".repeat(128)).is_ok());
        for bad in [
            "",
            "-x",
            ".x",
            "_x",
            "a/b",
            "a b",
            "../x",
            "é",
            "a\nb",
            &"a".repeat(129),
        ] {
            assert!(super::check_name("id", bad).is_err(), "{bad}");
        }
        assert_eq!(
            super::check_name("run id", "a/b").unwrap_err().to_string(),
            "run id `a/b` is not allowed: use 1-128 characters from [A-Za-z0-9._-], starting with a letter or digit"
        );
    }
}
