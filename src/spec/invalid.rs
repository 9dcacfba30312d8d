//! What can be wrong with one assertion as written in a benchmark file, typed: the problem
//! and where the YAML says it. `benchmark.rs` turns each into a diagnostic at its file, line
//! and column (`assertion N: <problem>`); the text of every variant is that diagnostic's.

use std::path::{Component, Path, PathBuf};

use serde_saphyr::Location;

/// What is wrong with one assertion, and where, when the YAML has a position for it.
#[derive(Debug)]
pub(super) struct Invalid {
    pub at: Option<Location>,
    pub problem: Problem,
}

impl Invalid {
    pub(super) fn at(at: Option<Location>, problem: impl Into<Problem>) -> Self {
        Invalid {
            at,
            problem: problem.into(),
        }
    }
}

/// Every way one assertion can be wrong; the text follows `assertion N: ` in its diagnostic.
#[derive(Debug, thiserror::Error)]
pub(super) enum Problem {
    #[error("weight must be a positive number, not {0}")]
    Weight(f64),
    #[error(
        "give exactly one check (exit_code, stdout_equals, stdout_contains, stdout_matches, \
         file_exists, file_contains, json_value, duration_at_most, verify, event, metric, \
         tool_sequence); found {0}"
    )]
    CheckCount(usize),
    #[error("stdout_matches: invalid regex: {0}")]
    Regex(regex::Error),
    #[error(transparent)]
    Path(#[from] UnsafePath),
    #[error("json_value: `equals` cannot be combined with `at_least` / `at_most`")]
    JsonEqualsAndBounds,
    #[error("json_value: give `equals`, `at_least` or `at_most`")]
    JsonNoExpectation,
    #[error("verify: command must name a program (an argv list)")]
    VerifyNoProgram,
    /// One sentence of [`super::placeholders::unknown_placeholders`].
    #[error("verify: {0}")]
    VerifyPlaceholder(String),
    #[error("event: `type` cannot be empty")]
    EventTypeEmpty,
    #[error("event: bounds are counts (whole numbers from 0), not {0}")]
    EventCount(f64),
    #[error("metric: `name` cannot be empty")]
    MetricNameEmpty,
    #[error(transparent)]
    Bounds(#[from] Bounds),
    #[error("tool_sequence: list at least one tool name")]
    NoTools,
    #[error("tool_sequence: a tool name cannot be empty")]
    EmptyTool,
}

/// Bounds of an `event:` or `metric:` (`what`) that nothing could meet or that are missing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum Bounds {
    #[error("{0}: give `at_least`, `at_most` or both")]
    Missing(&'static str),
    #[error("{0}: bounds must be finite numbers")]
    NotFinite(&'static str),
    #[error("{what}: at_least ({lo}) is greater than at_most ({hi}); nothing could pass")]
    Crossed {
        what: &'static str,
        lo: f64,
        hi: f64,
    },
}

/// At least one bound, each a finite number, and `at_least <= at_most`.
pub(super) fn bounds(what: &'static str, lo: Option<f64>, hi: Option<f64>) -> Result<(), Bounds> {
    if lo.is_none() && hi.is_none() {
        return Err(Bounds::Missing(what));
    }
    if lo.into_iter().chain(hi).any(|x| !x.is_finite()) {
        return Err(Bounds::NotFinite(what));
    }
    if let (Some(lo), Some(hi)) = (lo, hi) {
        if lo > hi {
            return Err(Bounds::Crossed { what, lo, hi });
        }
    }
    Ok(())
}

/// Why a path in a benchmark cannot name a file inside the scratch directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafePath {
    #[error("path is empty")]
    Empty,
    #[error("path contains a NUL byte")]
    Nul,
    #[error("`{0}` escapes the scratch directory (`..` is not allowed)")]
    Parent(String),
    #[error("`{0}` escapes the scratch directory (absolute paths are not allowed)")]
    Absolute(String),
    #[error("`{0}` names the scratch directory itself, not a file")]
    ScratchItself(String),
}

/// A path that stays inside the scratch directory: relative, no `..`, not empty.
pub fn safe_relative(path: &str) -> Result<PathBuf, UnsafePath> {
    if path.is_empty() {
        return Err(UnsafePath::Empty);
    }
    if path.contains('\0') {
        return Err(UnsafePath::Nul);
    }
    let p = Path::new(path);
    let mut clean = PathBuf::new();
    for comp in p.components() {
        match comp {
            Component::Normal(c) => clean.push(c),
            Component::CurDir => {}
            Component::ParentDir => return Err(UnsafePath::Parent(path.to_string())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnsafePath::Absolute(path.to_string()))
            }
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(UnsafePath::ScratchItself(path.to_string()));
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths() {
        assert!(safe_relative("a/b.txt").is_ok());
        assert!(safe_relative("./a").is_ok());
        assert!(safe_relative("../a").is_err());
        assert!(safe_relative("a/../../b").is_err());
        assert!(safe_relative("/etc/passwd").is_err());
        assert!(safe_relative(".").is_err());
        assert!(safe_relative("").is_err());
    }
}
