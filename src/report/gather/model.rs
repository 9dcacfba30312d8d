//! What the database says of a run, per agent, benchmark and session: the gathered part of
//! the report model.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::session::AssertionKind;
use crate::session::Status;

#[derive(Debug, Clone, Serialize)]
pub struct AgentSummary {
    pub agent: String,
    pub sessions: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub errors: u64,
    /// Succeeded over judged sessions: `error` sessions (not judged) are left out; null when
    /// no session was judged.
    pub success_rate: Option<f64>,
    /// Sessions that ended `error` (latest try), over all sessions.
    pub error_rate: f64,
    /// Wilson 95% interval; null when no session was judged.
    pub success_rate_ci: Option<[f64; 2]>,
    /// Mean score of the judged sessions (an `error` session has none); null without one.
    pub mean_score: Option<f64>,
    /// Student-t 95% interval of the mean score.
    pub mean_score_ci: Option<[f64; 2]>,
    pub p50_duration_ms: f64,
    pub p95_duration_ms: f64,
    pub p99_duration_ms: f64,
    pub mean_cpu_ms: f64,
    pub max_peak_rss_bytes: u64,
    pub mean_peak_rss_bytes: f64,
    /// Mean input + output tokens over the sessions that reported model requests.
    pub tokens_per_session: Option<f64>,
    /// Mean `cost_usd` over the priced sessions (`priced_sessions` of `sessions`).
    pub cost_per_session: Option<f64>,
    /// The priced sessions' total cost over the succeeded sessions; null without a success.
    pub cost_per_success: Option<f64>,
    pub priced_sessions: u64,
    /// Attempts per benchmark (the k of pass@k), when there is more than one.
    pub k: u64,
    pub pass_at_1: f64,
    pub pass_at_k: f64,
    pub pass_hat_k: f64,
    /// The agent's `matrix:` values (key -> value) when it is a cell of a sweep.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub matrix: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MatrixCell {
    pub benchmark_id: String,
    pub agent: String,
    pub attempts: u64,
    pub succeeded: u64,
    /// Mean score of the judged attempts; null when every attempt ended `error`.
    pub mean_score: Option<f64>,
    pub latest_status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct Flaky {
    pub benchmark_id: String,
    pub agent: String,
    pub succeeded: u64,
    pub sessions: u64,
    pub runs: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepChange {
    pub benchmark_id: String,
    pub agent: String,
    /// true: it succeeded before and fails since `since_run`; false: fixed since then.
    pub broke: bool,
    pub since_run: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    pub agent: String,
    pub run_id: String,
    pub started_at: String,
    /// Null when no session of the run was judged.
    pub success_rate: Option<f64>,
    pub p95_duration_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Histogram {
    pub agent: String,
    /// Upper bounds of the bins, in ms, and the count in each.
    pub bins: Vec<(f64, u64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionBrief {
    pub session_id: String,
    pub benchmark_id: String,
    pub agent: String,
    pub attempt: u64,
    pub status: Status,
    /// Null for an `error` session: not judged, no score.
    pub score: Option<f64>,
    pub duration_ms: u64,
    pub error: Option<String>,
    pub stdout_tail: String,
    pub failing: Vec<FailedAssertion>,
    /// Input + output tokens and cost of the session's model requests, when known.
    pub tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    /// The first events of the session's trace: failures, and every session the viewer
    /// details (see `trace::MAX_DETAILED`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<TraceEvent>,
    /// The viewer's page of the session (every assertion, passing ones too, with the
    /// verifier's run; the stderr tail); absent past `trace::MAX_DETAILED` sessions.
    /// Not in report.json, which keeps the failing assertions above.
    #[serde(skip)]
    pub detail: Option<SessionDetail>,
}

/// What the viewer shows of a session beyond its brief.
#[derive(Debug, Clone, Default)]
pub struct SessionDetail {
    pub assertions: Vec<AssertionView>,
    pub stderr_tail: String,
    /// The first spans the agent sent over OTLP (its span tree), when it sent any.
    pub spans: Vec<crate::otlp::span::SpanRecord>,
}

/// One assertion of a session as the viewer shows it.
#[derive(Debug, Clone)]
pub struct AssertionView {
    pub kind: AssertionKind,
    pub name: Option<String>,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
    pub message: String,
    /// How a `verify:` program ran, for verifier assertions.
    pub verifier: Option<crate::session::VerifierRun>,
}

/// One event of a session's trace, as a report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TraceEvent {
    pub seq: u64,
    /// The event's `type`: tool_call, model_request, metric, error, ... or any type an agent
    /// wrote of its own, shown as written.
    pub kind: crate::session::EventKind,
    /// The event's `name` (the tool, the metric).
    pub name: Option<String>,
    /// The event's other fields as compact JSON, cut short.
    pub detail: String,
    /// Why the line could not be read as an event, when it could not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedAssertion {
    pub kind: AssertionKind,
    pub name: Option<String>,
    pub expected: String,
    pub actual: String,
    pub message: String,
}

pub type Failure = SessionBrief;

/// One agent in one run: everything a check needs.
#[derive(Debug, Clone, Default)]
pub struct RunAgent {
    pub run_id: String,
    pub agent: String,
    /// Wall time and CPU time (user + system) of each session, ms.
    pub durations: Vec<f64>,
    pub cpu: Vec<f64>,
    /// Cost in USD of each session that has one (`cost_usd`; unpriced sessions are left out).
    pub costs: Vec<f64>,
    /// Benchmark -> (attempts, succeeded).
    pub benchmarks: BTreeMap<String, (u64, u64)>,
    /// Share of the sessions' wall time with CPU / memory stall (PSI some); `None` without PSI.
    pub cpu_pressure: Option<f64>,
    pub memory_pressure: Option<f64>,
}

impl RunAgent {
    pub fn counts(&self, skip: &[String]) -> (u64, u64) {
        self.benchmarks
            .iter()
            .filter(|(b, _)| !skip.contains(b))
            .fold((0, 0), |(n, ok), (_, c)| (n + c.0, ok + c.1))
    }
    pub fn rate(&self, skip: &[String]) -> Option<f64> {
        let (n, ok) = self.counts(skip);
        (n > 0).then(|| ok as f64 / n as f64)
    }
}
