//! Every report format pinned by a snapshot over one fixed report built in code (no database,
//! no process): two agents, two benchmarks, a success, a failure with its assertions and
//! output, an error, a gate with a regression, and completeness both ways. Times, versions and
//! timestamps are fixed in the fixture, so the snapshots only change when a format does.

use std::collections::BTreeMap;

use super::gate::compare::{
    AgentDelta, BenchDelta, BenchRef, Cell, Change, Comparison, Measures, Rates, Test, Verdict,
};
use super::gate::regress::{Check, Outcome, Replay, Thresholds};
use super::gate::{CheckKind, Gate, Regression};
use super::gather::compare::Side;
use super::gather::completeness::{AgentCompleteness, Completeness};
use super::gather::model::*;
use super::model::{Report, Timings};
use super::render::{compare, renderer, Format};
use crate::session::AssertionKind;
use crate::session::Status;

const AT: &str = "2026-01-02T03:04:05.678Z";

fn agent(name: &str, succeeded: u64, failed: u64, errors: u64) -> AgentSummary {
    let sessions = succeeded + failed + errors;
    let judged = succeeded + failed;
    AgentSummary {
        agent: name.into(),
        sessions,
        succeeded,
        failed,
        timed_out: 0,
        errors,
        success_rate: (judged > 0).then(|| succeeded as f64 / judged as f64),
        error_rate: errors as f64 / sessions as f64,
        success_rate_ci: (judged > 0).then_some([0.2, 0.9]),
        mean_score: (judged > 0).then_some(0.75),
        mean_score_ci: None,
        p50_duration_ms: 1200.0,
        p95_duration_ms: 2400.0,
        p99_duration_ms: 2500.0,
        mean_cpu_ms: 300.0,
        max_peak_rss_bytes: 64 << 20,
        mean_peak_rss_bytes: 48.0 * 1024.0 * 1024.0,
        tokens_per_session: Some(1500.0),
        cost_per_session: Some(0.0123),
        cost_per_success: Some(0.0246),
        priced_sessions: sessions,
        k: 2,
        pass_at_1: 0.5,
        pass_at_k: 1.0,
        pass_hat_k: 0.25,
        matrix: BTreeMap::new(),
    }
}

fn session(agent: &str, bench: &str, attempt: u64, status: Status) -> SessionBrief {
    let failed = status != Status::Succeeded && status != Status::Error;
    SessionBrief {
        session_id: format!("{agent}-{bench}-{attempt}"),
        benchmark_id: bench.into(),
        agent: agent.into(),
        attempt,
        status,
        score: (status != Status::Error).then_some(if failed { 0.5 } else { 1.0 }),
        duration_ms: 1000 + 100 * attempt,
        error: (status == Status::Error).then(|| "agent exited 75 <tempfail>".into()),
        stdout_tail: if status == Status::Succeeded {
            String::new()
        } else {
            "line one\n<b>two</b> & \"three\"\n".into()
        },
        failing: if failed {
            vec![FailedAssertion {
                kind: AssertionKind::StdoutContains,
                name: Some("says ok".into()),
                expected: "\"ok\"".into(),
                actual: "\"nope\"".into(),
                message: "stdout does not contain \"ok\"".into(),
            }]
        } else {
            Vec::new()
        },
        tokens: Some(1500),
        cost_usd: Some(0.0123),
        trace: vec![TraceEvent {
            seq: 1,
            kind: crate::session::EventKind::ToolCall,
            name: Some("bash".into()),
            detail: "{\"input\":\"ls\"}".into(),
            error: None,
        }],
        detail: Some(SessionDetail {
            assertions: vec![AssertionView {
                kind: AssertionKind::ExitCode,
                name: None,
                passed: !failed,
                expected: "0".into(),
                actual: if failed { "1" } else { "0" }.into(),
                message: String::new(),
                verifier: None,
            }],
            stderr_tail: "warning: slow disk\n".into(),
            spans: Vec::new(),
        }),
    }
}

fn complete() -> Completeness {
    Completeness {
        complete: true,
        plan_known: true,
        planned: 5,
        present: 5,
        shard_count: None,
        shards_present: Vec::new(),
        shards_missing: Vec::new(),
        agents: vec![
            AgentCompleteness {
                agent: "alpha".into(),
                planned: Some(3),
                present: 3,
            },
            AgentCompleteness {
                agent: "beta".into(),
                planned: Some(2),
                present: 2,
            },
        ],
    }
}

fn incomplete() -> Completeness {
    Completeness {
        complete: false,
        planned: 8,
        shard_count: Some(2),
        shards_present: vec![1],
        shards_missing: vec![2],
        agents: vec![
            AgentCompleteness {
                agent: "alpha".into(),
                planned: Some(4),
                present: 3,
            },
            AgentCompleteness {
                agent: "beta".into(),
                planned: Some(4),
                present: 2,
            },
        ],
        ..complete()
    }
}

fn gate() -> Gate {
    let slower = Regression {
        kind: CheckKind::Slower,
        agent: "alpha".into(),
        benchmark_id: None,
        baseline: 1000.0,
        current: 1500.0,
        p_value: Some(0.001),
        detail: "median duration 1000 ms -> 1500 ms (+50% over the history)".into(),
    };
    Gate {
        history_runs: vec!["h1".into(), "h2".into()],
        left_out: vec!["bad".into()],
        learning: false,
        thresholds: Thresholds::default(),
        regressions: vec![slower],
        checks: vec![
            Check {
                kind: CheckKind::Slower,
                agent: "alpha".into(),
                compared_with: "median of the last 2 runs' medians".into(),
                threshold: "median > 1200 ms".into(),
                observed: "median 1500 ms".into(),
                outcome: Outcome::Regression,
            },
            Check {
                kind: CheckKind::SuccessRateDrop,
                agent: "beta".into(),
                compared_with: "2 earlier run(s) pooled".into(),
                threshold: "rate < 40.0%".into(),
                observed: "success rate 100.0% -> 100.0%".into(),
                outcome: Outcome::Pass,
            },
        ],
        replay: vec![Replay {
            agent: "alpha".into(),
            comparisons: 4,
            alarms: 1,
            inconclusive: 0,
            by_kind: BTreeMap::from([(CheckKind::Slower, 1)]),
        }],
    }
}

/// The report every format is pinned over; `incomplete` for a run with a lost shard.
fn report(completeness: Completeness) -> Report {
    let sessions = vec![
        session("alpha", "add", 1, Status::Succeeded),
        session("alpha", "add", 2, Status::Failed),
        session("alpha", "sub", 1, Status::Error),
        session("beta", "add", 1, Status::Succeeded),
        session("beta", "sub", 1, Status::Succeeded),
    ];
    let regressions = gate().regressions;
    Report {
        run_id: "night-2".into(),
        replayed_from: None,
        baseline_run_id: Some("night-1".into()),
        generated_at: AT.into(),
        reev_version: "0.0.0-test".into(),
        agents: vec![agent("alpha", 1, 1, 1), agent("beta", 2, 0, 0)],
        max_error_rate: 0.1,
        benchmarks: vec!["add".into(), "sub".into()],
        descriptions: BTreeMap::from([
            ("add".into(), "Adds <two> numbers".into()),
            ("sub".into(), "Subtracts".into()),
        ]),
        matrix: vec![
            cell("add", "alpha", 2, 1, Status::Failed),
            cell("add", "beta", 1, 1, Status::Succeeded),
            cell("sub", "alpha", 1, 0, Status::Error),
            cell("sub", "beta", 1, 1, Status::Succeeded),
        ],
        flaky: vec![Flaky {
            benchmark_id: "add".into(),
            agent: "alpha".into(),
            succeeded: 3,
            sessions: 6,
            runs: 3,
        }],
        changes: vec![StepChange {
            benchmark_id: "sub".into(),
            agent: "alpha".into(),
            broke: true,
            since_run: "night-1".into(),
        }],
        trends: vec![
            trend("alpha", "night-1", Some(1.0)),
            trend("alpha", "night-2", Some(0.5)),
            trend("beta", "night-1", Some(1.0)),
            trend("beta", "night-2", None),
        ],
        histograms: vec![Histogram {
            agent: "alpha".into(),
            bins: vec![(1000.0, 1), (2000.0, 2)],
        }],
        slowest: super::gather::data::slowest(&sessions),
        failures: super::gather::data::failures(&sessions),
        sessions,
        regressions,
        gate: Some(gate()),
        timings: Timings::default(),
        completeness,
    }
}

fn cell(bench: &str, agent: &str, attempts: u64, ok: u64, latest: Status) -> MatrixCell {
    MatrixCell {
        benchmark_id: bench.into(),
        agent: agent.into(),
        attempts,
        succeeded: ok,
        mean_score: (latest != Status::Error).then_some(ok as f64 / attempts as f64),
        latest_status: latest,
    }
}

fn trend(agent: &str, run: &str, rate: Option<f64>) -> TrendPoint {
    TrendPoint {
        agent: agent.into(),
        run_id: run.into(),
        started_at: AT.into(),
        success_rate: rate,
        p95_duration_ms: 2000.0,
    }
}

fn render(format: Format, c: Completeness) -> String {
    renderer(format).render(&report(c))
}

#[test]
fn markdown() {
    insta::assert_snapshot!(render(Format::Md, complete()));
}

#[test]
fn markdown_incomplete() {
    insta::assert_snapshot!(render(Format::Md, incomplete()));
}

#[test]
fn html() {
    insta::assert_snapshot!(render(Format::Html, complete()));
}

#[test]
fn html_incomplete() {
    insta::assert_snapshot!(render(Format::Html, incomplete()));
}

#[test]
fn json() {
    insta::assert_snapshot!(render(Format::Json, complete()));
}

#[test]
fn json_incomplete() {
    insta::assert_snapshot!(render(Format::Json, incomplete()));
}

#[test]
fn junit() {
    insta::assert_snapshot!(render(Format::Junit, complete()));
}

#[test]
fn junit_incomplete() {
    insta::assert_snapshot!(render(Format::Junit, incomplete()));
}

fn measures(agent: &str, ok: u64, ms: f64) -> Measures {
    Measures {
        agent: agent.into(),
        sessions: 4,
        judged: 4,
        succeeded: ok,
        rates: Rates {
            success_rate: Some(ok as f64 / 4.0),
            mean_score: Some(ok as f64 / 4.0),
            median_duration_ms: Some(ms),
            tokens_per_session: Some(1000.0),
            cost_per_session: Some(0.01),
        },
    }
}

fn compare_cell(ok: u64, ms: f64) -> Cell {
    Cell {
        attempts: 2,
        succeeded: ok,
        mean_score: Some(ok as f64 / 2.0),
        median_duration_ms: ms,
        tokens_per_session: Some(1000.0),
        cost_per_session: Some(0.01),
        session_ids: vec![format!("s-{ok}-{ms}")],
    }
}

/// `reev compare night-1 night-2`: one agent got slower and lost a benchmark.
fn comparison() -> Comparison {
    let test = |delta: f64, verdict| Test {
        delta: Some(delta),
        p_worse: Some(0.004),
        p_better: Some(0.99),
        verdict,
    };
    Comparison {
        before: Side {
            run_id: "night-1".into(),
            agent: None,
        },
        after: Side {
            run_id: "night-2".into(),
            agent: None,
        },
        generated_at: AT.into(),
        reev_version: "0.0.0-test".into(),
        alpha: 0.01,
        agents: vec![AgentDelta {
            agent: "alpha".into(),
            before: measures("alpha", 4, 1000.0),
            after: measures("alpha", 2, 1500.0),
            success: test(-0.5, Verdict::Same),
            duration: test(500.0, Verdict::Worse),
            cost: Test::default(),
        }],
        benchmarks: vec![
            BenchDelta {
                agent: "alpha".into(),
                benchmark_id: "add".into(),
                before: Some(compare_cell(2, 1000.0)),
                after: Some(compare_cell(0, 1500.0)),
                delta: Rates {
                    success_rate: Some(-1.0),
                    mean_score: Some(-1.0),
                    median_duration_ms: Some(500.0),
                    tokens_per_session: Some(0.0),
                    cost_per_session: Some(0.0),
                },
                change: Change::NewlyFailing,
            },
            BenchDelta {
                agent: "alpha".into(),
                benchmark_id: "sub".into(),
                before: Some(compare_cell(2, 1000.0)),
                after: None,
                delta: Rates::default(),
                change: Change::OnlyBefore,
            },
        ],
        newly_failing: vec![BenchRef {
            agent: "alpha".into(),
            benchmark_id: "add".into(),
        }],
        newly_passing: Vec::new(),
        regressions: vec!["alpha: add newly fails".into()],
    }
}

#[test]
fn compare_markdown() {
    insta::assert_snapshot!(compare::render(&comparison(), compare::Format::Md));
}

#[test]
fn compare_html() {
    insta::assert_snapshot!(compare::render(&comparison(), compare::Format::Html));
}

#[test]
fn compare_json() {
    insta::assert_snapshot!(compare::render(&comparison(), compare::Format::Json));
}
