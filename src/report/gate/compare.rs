//! `reev compare`: two runs (or two agents of one run) side by side — per agent and per
//! benchmark: success, score, duration, tokens and cost with deltas; significance by the
//! gate's own tests (`stats::fisher_lower`, `stats::mann_whitney_greater`, the gate's alpha
//! and minimum slowdown from `regress::Thresholds`); newly failing and newly passing
//! benchmarks. One model ([`Comparison`]), read by `gather::compare`, rendered by
//! `render::compare`.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::regress::Thresholds;
use crate::error::{Error, Result};
use crate::report::gather::compare::{rows, sides, Row, Side};
use crate::report::gather::data::Ctx;
use crate::session::Status;
use crate::stats;

/// Per-session samples a test needs on each side before reev states a p-value: with fewer, a
/// rank test cannot reach any useful significance, and the comparison says "too few".
pub const MIN_SAMPLES: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub before: Side,
    pub after: Side,
    pub generated_at: String,
    pub reev_version: String,
    /// The significance level of each test (the gate's alpha over the agent pairs compared).
    pub alpha: f64,
    pub agents: Vec<AgentDelta>,
    pub benchmarks: Vec<BenchDelta>,
    /// (agent pair, benchmark) that passed every judged attempt before and none now.
    pub newly_failing: Vec<BenchRef>,
    /// ... and the other way round.
    pub newly_passing: Vec<BenchRef>,
    /// What `--fail-on-regression` fails on: newly failing benchmarks and significant
    /// success drops, slowdowns and cost increases, one sentence each.
    pub regressions: Vec<String>,
}

/// A benchmark of one agent pair.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BenchRef {
    pub agent: String,
    pub benchmark_id: String,
}

/// The numbers of one side of an agent pair (or of one benchmark's side).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Measures {
    pub agent: String,
    pub sessions: u64,
    /// Sessions that did not end `error` (the judged ones).
    pub judged: u64,
    pub succeeded: u64,
    #[serde(flatten)]
    pub rates: Rates,
}

/// The measures compared, per side, or after minus before; `None` where a side lacks one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rates {
    pub success_rate: Option<f64>,
    pub mean_score: Option<f64>,
    pub median_duration_ms: Option<f64>,
    pub tokens_per_session: Option<f64>,
    pub cost_per_session: Option<f64>,
}

impl Rates {
    /// `self - before`, measure by measure.
    pub fn minus(&self, before: &Rates) -> Rates {
        let d = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        Rates {
            success_rate: d(self.success_rate, before.success_rate),
            mean_score: d(self.mean_score, before.mean_score),
            median_duration_ms: d(self.median_duration_ms, before.median_duration_ms),
            tokens_per_session: d(self.tokens_per_session, before.tokens_per_session),
            cost_per_session: d(self.cost_per_session, before.cost_per_session),
        }
    }
}

/// One agent pair: the agent in the before run against the same agent in the after run, or
/// `--agent X --agent Y`.
#[derive(Debug, Clone, Serialize)]
pub struct AgentDelta {
    /// `X` when both sides are the same agent, else `X → Y`.
    pub agent: String,
    pub before: Measures,
    pub after: Measures,
    pub success: Test,
    pub duration: Test,
    pub cost: Test,
}

/// A difference and its test: `delta` is after minus before; `p_worse` the one-sided p-value
/// that after is worse, `p_better` that it is better; `None` where the samples do not allow a
/// test (see [`MIN_SAMPLES`]).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Test {
    pub delta: Option<f64>,
    pub p_worse: Option<f64>,
    pub p_better: Option<f64>,
    /// `worse`, `better`, `same` (no significant difference), or `untested`.
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Worse,
    Better,
    Same,
    #[default]
    Untested,
}

/// One benchmark of one agent pair.
#[derive(Debug, Clone, Serialize)]
pub struct BenchDelta {
    pub agent: String,
    pub benchmark_id: String,
    pub before: Option<Cell>,
    pub after: Option<Cell>,
    /// After minus before, where both sides have the measure.
    pub delta: Rates,
    pub change: Change,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub attempts: u64,
    pub succeeded: u64,
    /// Of the judged attempts (an `error` session has no score); `None` when none was.
    pub mean_score: Option<f64>,
    pub median_duration_ms: f64,
    /// Input + output tokens and cost per session, over the sessions that have them.
    pub tokens_per_session: Option<f64>,
    pub cost_per_session: Option<f64>,
    pub session_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    NewlyFailing,
    NewlyPassing,
    /// Fewer successes per attempt than before (but not newly failing).
    Worse,
    Better,
    Same,
    OnlyBefore,
    OnlyAfter,
}

/// What to compare: `runs` is one run (then `agents` names two agents of it) or two; `agents`
/// is empty (every agent both runs have), one (that agent on both sides) or two.
pub fn compare(
    conn: &duckdb::Connection,
    runs: &[String],
    agents: &[String],
) -> Result<Comparison> {
    let ctx = Ctx { conn };
    let (before, after) = sides(&ctx, runs, agents)?;
    let a = rows(conn, &before)?;
    let b = rows(conn, &after)?;
    let pairs = agent_pairs(&before, &after, &a, &b)?;
    let t = Thresholds::default();
    let alpha = t.alpha / pairs.len().max(1) as f64;
    let mut c = Comparison {
        before,
        after,
        generated_at: crate::timestamp::rfc3339(chrono::Utc::now()),
        reev_version: env!("CARGO_PKG_VERSION").to_string(),
        alpha,
        agents: Vec::new(),
        benchmarks: Vec::new(),
        newly_failing: Vec::new(),
        newly_passing: Vec::new(),
        regressions: Vec::new(),
    };
    for (x, y) in &pairs {
        let label = if x == y {
            x.clone()
        } else {
            format!("{x} → {y}")
        };
        let mine = |rows: &[Row], agent: &str| -> Vec<Row> {
            rows.iter().filter(|r| r.agent == agent).cloned().collect()
        };
        let (ra, rb) = (mine(&a, x), mine(&b, y));
        c.agents
            .push(agent_delta(&label, x, y, &ra, &rb, alpha, &t));
        c.benchmarks.extend(bench_deltas(&label, &ra, &rb));
    }
    for d in &c.benchmarks {
        let r = BenchRef {
            agent: d.agent.clone(),
            benchmark_id: d.benchmark_id.clone(),
        };
        match d.change {
            Change::NewlyFailing => c.newly_failing.push(r),
            Change::NewlyPassing => c.newly_passing.push(r),
            _ => {}
        }
    }
    c.regressions = regressions(&c);
    Ok(c)
}

/// The agents compared: the named ones, or every agent both runs have (said when none).
fn agent_pairs(before: &Side, after: &Side, a: &[Row], b: &[Row]) -> Result<Vec<(String, String)>> {
    if let (Some(x), Some(y)) = (&before.agent, &after.agent) {
        return Ok(vec![(x.clone(), y.clone())]);
    }
    let names =
        |rows: &[Row]| -> BTreeSet<String> { rows.iter().map(|r| r.agent.clone()).collect() };
    let (na, nb) = (names(a), names(b));
    let common: Vec<(String, String)> = na
        .intersection(&nb)
        .map(|n| (n.clone(), n.clone()))
        .collect();
    if common.is_empty() {
        return Err(Error::input(format!(
            "runs {} and {} have no agent in common ({} vs {}); name them with --agent X --agent Y",
            before.run_id,
            after.run_id,
            na.into_iter().collect::<Vec<_>>().join(", "),
            nb.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(common)
}

fn measures<R: Borrow<Row>>(agent: &str, rows: &[R]) -> Measures {
    let rows: Vec<&Row> = rows.iter().map(Borrow::borrow).collect();
    let judged: Vec<&Row> = rows
        .iter()
        .copied()
        .filter(|r| r.status != Status::Error)
        .collect();
    let ok = judged
        .iter()
        .filter(|r| r.status == Status::Succeeded)
        .count() as u64;
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    Measures {
        agent: agent.to_string(),
        sessions: rows.len() as u64,
        judged: judged.len() as u64,
        succeeded: ok,
        rates: Rates {
            success_rate: (!judged.is_empty()).then(|| ok as f64 / judged.len() as f64),
            mean_score: mean(rows.iter().filter_map(|r| r.score).collect()),
            median_duration_ms: stats::median(
                &rows.iter().map(|r| r.duration_ms).collect::<Vec<_>>(),
            ),
            tokens_per_session: mean(rows.iter().filter_map(|r| r.tokens).collect()),
            cost_per_session: mean(rows.iter().filter_map(|r| r.cost).collect()),
        },
    }
}

fn agent_delta(
    label: &str,
    x: &str,
    y: &str,
    a: &[Row],
    b: &[Row],
    alpha: f64,
    t: &Thresholds,
) -> AgentDelta {
    let (before, after) = (measures(x, a), measures(y, b));
    let delta = after.rates.minus(&before.rates);
    // Success: the gate's one-sided Fisher exact test, each way.
    let success = if before.judged > 0 && after.judged > 0 {
        let worse = stats::fisher_lower(
            before.succeeded,
            before.judged,
            after.succeeded,
            after.judged,
        );
        let better = stats::fisher_lower(
            after.succeeded,
            after.judged,
            before.succeeded,
            before.judged,
        );
        test(delta.success_rate, Some(worse), Some(better), alpha, |_| {
            true
        })
    } else {
        Test::default()
    };
    let durations = |rows: &[Row]| rows.iter().map(|r| r.duration_ms).collect::<Vec<_>>();
    // Slower counts as the gate counts it: significant and by at least the minimum slowdown.
    let slow_enough = matches!((before.rates.median_duration_ms, after.rates.median_duration_ms), (Some(b), Some(a)) if a >= b * (1.0 + t.min_slowdown));
    let duration = rank_test(
        delta.median_duration_ms,
        &durations(a),
        &durations(b),
        alpha,
        |worse| !worse || slow_enough,
    );
    let costs = |rows: &[Row]| rows.iter().filter_map(|r| r.cost).collect::<Vec<_>>();
    let cost = rank_test(delta.cost_per_session, &costs(a), &costs(b), alpha, |_| {
        true
    });
    AgentDelta {
        agent: label.to_string(),
        before,
        after,
        success,
        duration,
        cost,
    }
}

/// Mann-Whitney both ways (higher is worse: time, cost), when each side has enough samples.
fn rank_test(
    delta: Option<f64>,
    before: &[f64],
    after: &[f64],
    alpha: f64,
    counts: impl Fn(bool) -> bool,
) -> Test {
    if before.len() < MIN_SAMPLES || after.len() < MIN_SAMPLES {
        return Test {
            delta,
            ..Default::default()
        };
    }
    let (_, worse) = stats::mann_whitney_greater(before, after);
    let (_, better) = stats::mann_whitney_greater(after, before);
    test(delta, Some(worse), Some(better), alpha, counts)
}

/// The verdict of a two-way test; `counts(worse)` may veto a significant result that is too
/// small to matter.
fn test(
    delta: Option<f64>,
    p_worse: Option<f64>,
    p_better: Option<f64>,
    alpha: f64,
    counts: impl Fn(bool) -> bool,
) -> Test {
    let verdict = match (p_worse, p_better) {
        (Some(w), _) if w < alpha && counts(true) => Verdict::Worse,
        (_, Some(b)) if b < alpha && counts(false) => Verdict::Better,
        (Some(_), Some(_)) => Verdict::Same,
        _ => Verdict::Untested,
    };
    Test {
        delta,
        p_worse,
        p_better,
        verdict,
    }
}

/// One benchmark's side: the same measures as an agent's (see [`measures`]), and its sessions.
fn cell(rows: &[&Row]) -> Option<(Cell, Rates)> {
    if rows.is_empty() {
        return None;
    }
    let m = measures("", rows);
    let cell = Cell {
        attempts: m.judged,
        succeeded: m.succeeded,
        mean_score: m.rates.mean_score,
        median_duration_ms: m.rates.median_duration_ms.unwrap_or(0.0),
        tokens_per_session: m.rates.tokens_per_session,
        cost_per_session: m.rates.cost_per_session,
        session_ids: rows.iter().map(|r| r.session_id.clone()).collect(),
    };
    Some((cell, m.rates))
}

fn bench_deltas(label: &str, a: &[Row], b: &[Row]) -> Vec<BenchDelta> {
    let mut by: BTreeMap<&str, (Vec<&Row>, Vec<&Row>)> = BTreeMap::new();
    for r in a {
        by.entry(&r.benchmark_id).or_default().0.push(r);
    }
    for r in b {
        by.entry(&r.benchmark_id).or_default().1.push(r);
    }
    by.into_iter()
        .map(|(bench, (x, y))| {
            let (before, after) = (cell(&x), cell(&y));
            let delta = match (&before, &after) {
                (Some((_, b)), Some((_, a))) => a.minus(b),
                _ => Rates::default(),
            };
            let (before, after) = (before.map(|c| c.0), after.map(|c| c.0));
            BenchDelta {
                agent: label.to_string(),
                benchmark_id: bench.to_string(),
                change: change(before.as_ref(), after.as_ref()),
                delta,
                before,
                after,
            }
        })
        .collect()
}

/// Passing: every judged attempt succeeded; failing: none did. Only error sessions (nothing
/// judged) compare as `same`.
fn change(before: Option<&Cell>, after: Option<&Cell>) -> Change {
    let (b, a) = match (before, after) {
        (Some(b), Some(a)) => (b, a),
        (Some(_), None) => return Change::OnlyBefore,
        _ => return Change::OnlyAfter,
    };
    if b.attempts == 0 || a.attempts == 0 {
        return Change::Same;
    }
    let passing = |c: &Cell| c.succeeded == c.attempts;
    let failing = |c: &Cell| c.succeeded == 0;
    let rate = |c: &Cell| c.succeeded as f64 / c.attempts as f64;
    if passing(b) && failing(a) {
        Change::NewlyFailing
    } else if failing(b) && passing(a) {
        Change::NewlyPassing
    } else if rate(a) < rate(b) {
        Change::Worse
    } else if rate(a) > rate(b) {
        Change::Better
    } else {
        Change::Same
    }
}

fn regressions(c: &Comparison) -> Vec<String> {
    let mut out: Vec<String> = c
        .newly_failing
        .iter()
        .map(|r| format!("{} {}: newly failing", r.agent, r.benchmark_id))
        .collect();
    for a in &c.agents {
        for (what, t) in [
            ("success rate", &a.success),
            ("duration", &a.duration),
            ("cost", &a.cost),
        ] {
            if t.verdict == Verdict::Worse {
                out.push(format!(
                    "{}: {what} worse (p = {:.2e} < {:.2e})",
                    a.agent,
                    t.p_worse.unwrap_or(1.0),
                    c.alpha
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(attempts: u64, succeeded: u64) -> Cell {
        Cell {
            attempts,
            succeeded,
            mean_score: None,
            median_duration_ms: 0.0,
            tokens_per_session: None,
            cost_per_session: None,
            session_ids: Vec::new(),
        }
    }

    #[test]
    fn changes_are_classified_by_all_or_nothing() {
        assert_eq!(change(Some(&c(3, 3)), Some(&c(3, 0))), Change::NewlyFailing);
        assert_eq!(change(Some(&c(2, 0)), Some(&c(2, 2))), Change::NewlyPassing);
        assert_eq!(change(Some(&c(3, 3)), Some(&c(3, 2))), Change::Worse);
        assert_eq!(change(Some(&c(3, 1)), Some(&c(3, 1))), Change::Same);
        assert_eq!(change(None, Some(&c(1, 1))), Change::OnlyAfter);
    }

    #[test]
    fn a_tiny_sample_is_not_tested() {
        let t = rank_test(Some(5.0), &[1.0, 2.0], &[9.0, 9.0], 0.01, |_| true);
        assert_eq!(t.verdict, Verdict::Untested);
        assert!(t.p_worse.is_none());
    }
}
