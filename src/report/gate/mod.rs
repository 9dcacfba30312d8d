//! The gate: what the gathered run is judged against (baseline, history, error rate,
//! accepted runs) and what came out — regressions and each check's comparison.

pub mod accept;
pub mod compare;
pub mod error_rate;
pub mod history;
pub mod regress;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Regression {
    /// success_rate_drop | slower | new_failure
    pub kind: String,
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
    pub fn replayed(&self, agent: &str, kind: &str) -> String {
        match self.replay.iter().find(|p| p.agent == agent) {
            Some(p) if p.comparisons > 0 => {
                let n = p.by_kind.get(kind).copied().unwrap_or(0);
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
