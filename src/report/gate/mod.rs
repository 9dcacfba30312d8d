//! The gate: what the gathered run is judged against (baseline, history, error rate,
//! accepted runs) and what came out — regressions and each check's comparison.

pub mod accept;
pub mod compare;
pub mod error_rate;
pub mod history;
pub mod regress;

use serde::Serialize;

/// What a check of the gate looks for, and so what a regression is. Declared in the order of
/// their names, so maps keyed by them (a replay's `by_kind`) list them as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Cost per session, per agent.
    Costlier,
    /// Sessions that ended `error` above `--max-error-rate`, per agent.
    ErrorRate,
    /// A benchmark that passed every attempt before fails every attempt now.
    NewFailure,
    /// Median duration, per agent.
    Slower,
    /// Success rate, per agent.
    SuccessRateDrop,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Costlier => "costlier",
            CheckKind::ErrorRate => "error_rate",
            CheckKind::NewFailure => "new_failure",
            CheckKind::Slower => "slower",
            CheckKind::SuccessRateDrop => "success_rate_drop",
        }
    }
}

impl std::fmt::Display for CheckKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Regression {
    pub kind: CheckKind,
    pub agent: String,
    pub benchmark_id: Option<String>,
    pub baseline: f64,
    pub current: f64,
    pub p_value: Option<f64>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    /// The comparable complete runs before this one that passed the gate or were accepted,
    /// that the checks compared with, oldest first.
    pub history_runs: Vec<String>,
    /// Comparable runs that failed the gate and were not accepted (`reev accept`): neither
    /// baseline nor history, so a regression never becomes the normal.
    pub left_out: Vec<String>,
    /// Fewer comparable runs of history than the gate needs to know run-to-run noise: every
    /// check says `learning` and none fails the gate.
    pub learning: bool,
    pub thresholds: regress::Thresholds,
    #[serde(skip)]
    pub regressions: Vec<Regression>,
    pub checks: Vec<regress::Check>,
    /// The gate replayed on same-code comparisons among the stored runs before this one.
    pub replay: Vec<regress::Replay>,
}

impl Gate {
    /// "n of m (x%)": how often `kind` fired for `agent` when the gate was replayed.
    pub fn replayed(&self, agent: &str, kind: CheckKind) -> String {
        match self.replay.iter().find(|p| p.agent == agent) {
            Some(p) if p.comparisons > 0 => {
                let n = p.by_kind.get(&kind).copied().unwrap_or(0);
                format!(
                    "{n} of {} ({:.1}%)",
                    p.comparisons,
                    n as f64 * 100.0 / p.comparisons as f64
                )
            }
            _ => "no history".to_string(),
        }
    }
}
