//! The report's data: everything every output format shows, gathered once (`gather`) and
//! judged (`gate`); the renderers read only this.

use serde::Serialize;

use super::gate::{Gate, Regression};
use super::gather::completeness::Completeness;
use super::gather::model::*;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run_id: String,
    /// The run whose recorded model answers this run replayed (`reev run --replay`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed_from: Option<String>,
    pub baseline_run_id: Option<String>,
    pub generated_at: String,
    pub reev_version: String,
    pub agents: Vec<AgentSummary>,
    /// `--max-error-rate`: an agent above it fails the gate (kind `error_rate`).
    pub max_error_rate: f64,
    pub benchmarks: Vec<String>,
    /// Benchmark id -> description of the version this run used.
    pub descriptions: std::collections::BTreeMap<String, String>,
    pub matrix: Vec<MatrixCell>,
    /// Mixed outcomes without a step change over the recent runs.
    pub flaky: Vec<Flaky>,
    /// Benchmarks whose outcome changed once and stayed (broke or got fixed), not flaky.
    pub changes: Vec<StepChange>,
    pub trends: Vec<TrendPoint>,
    pub histograms: Vec<Histogram>,
    pub slowest: Vec<SessionBrief>,
    pub failures: Vec<Failure>,
    pub regressions: Vec<Regression>,
    /// How the regression gate decided: each check's comparison, threshold and replayed
    /// false-alarm rate; absent without a baseline.
    pub gate: Option<Gate>,
    /// Every session of the run (JUnit lists them all).
    pub sessions: Vec<SessionBrief>,
    pub timings: Timings,
    /// Planned against present sessions, and missing shards.
    pub completeness: Completeness,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Timings {
    pub query_ms: f64,
    pub render_ms: f64,
}
