//! The regression gate: what counts as worse than before, judged so it does not cry wolf.
//!
//! Every check compares the candidate run with the recent history of the same agent (the last
//! `history` complete runs before it) as well as with its baseline run, because runs of the same
//! code differ from night to night (machine load, caches, a neighbour) by more than the sessions
//! within one run suggest:
//! - *slower*, per agent: the candidate's median duration exceeds the median of the history's
//!   run medians by more than `k` run-to-run spreads (1.4826 x MAD of those medians) **and** by at
//!   least `min_slowdown`, **and** a one-sided Mann–Whitney U test against the baseline run gives
//!   p < alpha / agents. When the candidate saw CPU pressure (Linux PSI) its history did not, the
//!   same test is applied to CPU time: a slowdown that did not show in CPU time is
//!   *inconclusive* (the machine was busy) and does not fail the gate;
//! - *success-rate drop*, per agent: one-sided Fisher exact test against the history pooled with
//!   the baseline run, the counts deflated by the run-to-run overdispersion seen in the history, over benchmarks
//!   that did not flip on their own across the history, **and** the rate below the history's
//!   median rate by more than `k` spreads;
//! - *costlier*, per agent: cost per session (`cost_usd` of the priced sessions), by the same
//!   method as *slower*;
//! - *new failure*, per (benchmark, agent): it succeeded in every baseline attempt and in every
//!   run of the history, and fails in every attempt now.
//!
//! With fewer than `min_history` runs of history the gate is *learning*: every check says so
//! (outcome `learning`) and none fails the gate; a large effect (`learning_slowdown`,
//! `learning_drop`, or a new failure) is still described in the check's observation. The
//! caller (`data.rs`) gives only comparable runs that passed the gate (or were accepted) as
//! history, so a regression never becomes the normal it is judged against.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{CheckKind, Regression};
use crate::report::gather::model::RunAgent;
use crate::stats;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    pub alpha: f64,
    /// Minimum relative slowdown of the median, against the history's.
    pub min_slowdown: f64,
    /// Run-to-run spreads the candidate must exceed the history by.
    pub k: f64,
    /// Runs of history below which the gate is learning.
    pub min_history: usize,
    /// While learning: the slowdown and the success-rate drop that still count.
    pub learning_slowdown: f64,
    pub learning_drop: f64,
    /// Percentage points of CPU pressure (PSI some) above the history that make a run "busy".
    pub busy_margin: f64,
    /// On a busy machine, the share of the wall-time slowdown that CPU time must have grown by.
    pub cpu_share: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            alpha: 0.01,
            min_slowdown: 0.10,
            k: 3.0,
            min_history: 5,
            learning_slowdown: 0.35,
            learning_drop: 0.20,
            busy_margin: 0.10,
            cpu_share: 0.25,
        }
    }
}

/// What one check of one agent compared, its threshold, and what came out.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    pub kind: CheckKind,
    pub agent: String,
    pub compared_with: String,
    pub threshold: String,
    pub observed: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Regression,
    /// Slower in wall time only, on a machine busier than in the history: not gated.
    Inconclusive,
    /// Too little comparable history to know run-to-run noise: reported, never gated.
    Learning,
}

/// The gate's verdict on one agent.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub regressions: Vec<Regression>,
    pub checks: Vec<Check>,
    pub learning: bool,
}

/// Judge `cur` against `base` and `history` (complete runs before `cur`, oldest first).
/// `agents` is the number of agents compared (for the Bonferroni correction).
pub fn judge(
    history: &[&RunAgent],
    base: &RunAgent,
    cur: &RunAgent,
    agents: usize,
    t: &Thresholds,
) -> Verdict {
    let alpha = t.alpha / agents.max(1) as f64;
    let mut v = Verdict {
        learning: history.len() < t.min_history,
        ..Default::default()
    };
    let c = Case {
        history,
        base,
        cur,
        alpha,
        t,
    };
    if !cur.durations.is_empty() && !base.durations.is_empty() {
        slower(c, &mut v);
    }
    if !cur.costs.is_empty() && !base.costs.is_empty() {
        costlier(c, &mut v);
    }
    success_drop(c, &mut v);
    new_failures(history, base, cur, &mut v);
    if v.learning {
        still_learning(&mut v, history.len(), t.min_history);
    }
    v
}

/// While learning no check fails the gate: each says `learning`, and one that saw a large
/// effect says what it would have flagged.
fn still_learning(v: &mut Verdict, have: usize, need: usize) {
    v.regressions.clear();
    for c in &mut v.checks {
        let saw = match c.outcome {
            Outcome::Regression => "a large effect, not gated yet: ",
            _ => "",
        };
        c.outcome = Outcome::Learning;
        c.observed = format!(
            "learning ({have} of {need} comparable runs of history): {saw}{}",
            c.observed
        );
    }
}

/// One comparison: the candidate, its baseline and history, the corrected alpha, the thresholds.
#[derive(Clone, Copy)]
struct Case<'a> {
    history: &'a [&'a RunAgent],
    base: &'a RunAgent,
    cur: &'a RunAgent,
    alpha: f64,
    t: &'a Thresholds,
}

/// Median and run-to-run spread (1.4826 x MAD, at least 2% of the median) of per-run values.
fn center_spread(values: &[f64]) -> Option<(f64, f64)> {
    let c = stats::median(values)?;
    let mad = stats::median(&values.iter().map(|x| (x - c).abs()).collect::<Vec<_>>())?;
    Some((c, (1.4826 * mad).max(0.02 * c.abs())))
}

/// The run-level test of a duration-like measure: (history center, threshold, exceeded).
struct Level {
    center: f64,
    limit: f64,
    cur: f64,
    p: f64,
    from: String,
}

/// Milliseconds, as the duration checks state them.
fn in_ms(x: f64) -> String {
    format!("{x:.0} ms")
}

/// A per-session value (wall time, CPU time, cost) of one run against its history: the run's
/// median must exceed the history's by `k` run-to-run spreads and `min_slowdown`, and the
/// Mann-Whitney test against the baseline must agree. `unit` writes a value for the report.
fn level(c: Case, pick: fn(&RunAgent) -> &[f64], unit: fn(f64) -> String) -> Option<(Level, bool)> {
    let (history, base, cur, alpha, t) = (c.history, c.base, c.cur, c.alpha, c.t);
    let med = |r: &RunAgent| stats::median(pick(r));
    let meds: Vec<f64> = history.iter().filter_map(|r| med(r)).collect();
    let mc = med(cur)?;
    let (_, p) = stats::mann_whitney_greater(pick(base), pick(cur));
    let (center, limit, from) = if meds.len() >= t.min_history {
        let (c, s) = center_spread(&meds)?;
        let limit = (c + t.k * s).max(c * (1.0 + t.min_slowdown));
        let from = format!(
            "median of the last {} runs' medians ({}, run-to-run spread {})",
            meds.len(),
            unit(c),
            unit(s)
        );
        (c, limit, from)
    } else {
        // Learning: the history (or the baseline alone) cannot tell run-to-run noise yet.
        let c = stats::median(&meds).or(med(base))?;
        let from = format!(
            "median of {} earlier run(s) ({}); gate still learning",
            meds.len(),
            unit(c)
        );
        (c, c * (1.0 + t.learning_slowdown), from)
    };
    let hit = c_pos(center) && mc > limit && p < alpha;
    Some((
        Level {
            center,
            limit,
            cur: mc,
            p,
            from,
        },
        hit,
    ))
}

fn c_pos(c: f64) -> bool {
    c > 0.0 && c.is_finite()
}

/// CPU pressure of `cur` above the history's median (percentage points as a fraction), or None.
fn busier(history: &[&RunAgent], cur: &RunAgent) -> Option<(f64, f64)> {
    let known: Vec<f64> = history.iter().filter_map(|r| r.cpu_pressure).collect();
    Some((cur.cpu_pressure?, stats::median(&known)?))
}

fn slower(c: Case, v: &mut Verdict) {
    let (history, base, cur, alpha, t) = (c.history, c.base, c.cur, c.alpha, c.t);
    let Some((wall, hit)) = level(c, |r| &r.durations, in_ms) else {
        return;
    };
    let pressure = busier(history, cur);
    let busy = pressure.is_some_and(|(c, h)| c - h > t.busy_margin);
    let pressure_text = match pressure {
        Some((c, h)) => format!(
            "CPU pressure {:.0}% vs {:.0}% in the history",
            c * 100.0,
            h * 100.0
        ),
        None => "CPU pressure unknown (no PSI recorded)".to_string(),
    };
    let mut outcome = if hit {
        Outcome::Regression
    } else {
        Outcome::Pass
    };
    let mut detail = format!(
        "median duration {:.0} ms -> {:.0} ms (+{:.0}% over the history), Mann-Whitney p = {:.2e} against baseline {}",
        wall.center,
        wall.cur,
        (wall.cur / wall.center - 1.0) * 100.0,
        wall.p,
        base.run_id
    );
    if hit && busy {
        let cpu = level(c, |r| &r.cpu, in_ms);
        // CPU time must explain a fair share of the slowdown: on a busy machine a few ms more
        // CPU (page faults, cache misses, a slower fork) comes with every wall-time slowdown.
        let grew = cpu.as_ref().is_some_and(|(c, hit)| {
            *hit && c.cur - c.center >= t.cpu_share * (wall.cur - wall.center)
        });
        let cpu_text = match &cpu {
            Some((c, _)) => format!("median CPU time {:.0} ms -> {:.0} ms", c.center, c.cur),
            None => "CPU time unknown".to_string(),
        };
        detail = format!("{detail}; the machine was busy ({pressure_text}); {cpu_text}");
        if !grew {
            outcome = Outcome::Inconclusive;
            detail = format!("inconclusive: the machine was busy: {detail}, which did not grow");
        }
    }
    if outcome == Outcome::Regression {
        v.regressions.push(Regression {
            kind: CheckKind::Slower,
            agent: cur.agent.clone(),
            benchmark_id: None,
            baseline: wall.center,
            current: wall.cur,
            p_value: Some(wall.p),
            detail: detail.clone(),
        });
    }
    v.checks.push(Check {
        kind: CheckKind::Slower,
        agent: cur.agent.clone(),
        compared_with: format!("{}; baseline run {} (Mann-Whitney)", wall.from, base.run_id),
        threshold: format!(
            "median > {:.0} ms and Mann-Whitney p < {alpha:.2e}; wall time only counts on a machine no more than {:.0} points busier than the history, otherwise CPU time must grow too (by the same test, and by at least {:.0}% of the wall-time slowdown)",
            wall.limit,
            t.busy_margin * 100.0,
            t.cpu_share * 100.0
        ),
        observed: if outcome == Outcome::Inconclusive {
            detail
        } else {
            format!("median {:.0} ms, p = {:.2e}; {pressure_text}", wall.cur, wall.p)
        },
        outcome,
    });
}

/// *costlier*, per agent: cost per session judged like wall time (without the busy-machine
/// exception: the machine's load does not change what a model request costs).
fn costlier(c: Case, v: &mut Verdict) {
    let usd = |x: f64| crate::report::text::usd(Some(x));
    let Some((cost, hit)) = level(c, |r| &r.costs, usd) else {
        return;
    };
    let detail = format!(
        "median cost per session {} -> {} (+{:.0}% over the history), Mann-Whitney p = {:.2e} against baseline {}",
        usd(cost.center),
        usd(cost.cur),
        (cost.cur / cost.center - 1.0) * 100.0,
        cost.p,
        c.base.run_id
    );
    if hit {
        v.regressions.push(Regression {
            kind: CheckKind::Costlier,
            agent: c.cur.agent.clone(),
            benchmark_id: None,
            baseline: cost.center,
            current: cost.cur,
            p_value: Some(cost.p),
            detail: detail.clone(),
        });
    }
    v.checks.push(Check {
        kind: CheckKind::Costlier,
        agent: c.cur.agent.clone(),
        compared_with: format!(
            "{}; baseline run {} (Mann-Whitney)",
            cost.from, c.base.run_id
        ),
        threshold: format!(
            "median cost per session > {} and Mann-Whitney p < {:.2e}",
            usd(cost.limit),
            c.alpha
        ),
        observed: detail,
        outcome: if hit {
            Outcome::Regression
        } else {
            Outcome::Pass
        },
    });
}

/// Benchmarks that flipped on their own across the history: all attempts passed in one run and
/// all failed in another. They say nothing about the agent's code.
fn flippers(history: &[&RunAgent]) -> Vec<String> {
    let mut seen: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
    for r in history {
        for (b, (n, ok)) in &r.benchmarks {
            let e = seen.entry(b.as_str()).or_default();
            e.0 |= *n > 0 && ok == n;
            e.1 |= *n > 0 && *ok == 0;
        }
    }
    seen.into_iter()
        .filter(|(_, (all, none))| *all && *none)
        .map(|(b, _)| b.to_string())
        .collect()
}

/// Run-to-run overdispersion of the success rate: observed variance of the history's run rates
/// over the binomial variance, at least 1.
fn overdispersion(history: &[&RunAgent], skip: &[String]) -> f64 {
    let counts: Vec<(u64, u64)> = history.iter().map(|r| r.counts(skip)).collect();
    let (n, ok) = counts.iter().fold((0, 0), |(n, ok), c| (n + c.0, ok + c.1));
    if counts.len() < 3 || n == 0 {
        return 1.0;
    }
    let p = ok as f64 / n as f64;
    // Pearson chi-square over runs / degrees of freedom: the quasi-binomial dispersion.
    let chi2: f64 = counts
        .iter()
        .filter(|c| c.0 > 0)
        .map(|(n, ok)| {
            let e = p * *n as f64;
            let var = e * (1.0 - p);
            if var > 0.0 {
                (*ok as f64 - e).powi(2) / var
            } else {
                0.0
            }
        })
        .sum();
    (chi2 / (counts.len() - 1) as f64).max(1.0)
}

/// The success rate below which the candidate has dropped, and what it was derived from: the
/// history's median rate less `k` run-to-run spreads, or while learning the pooled rate `rb`
/// (over `pooled` runs) less `learning_drop`. `cn` is the candidate's sessions.
fn rate_floor(c: Case, skip: &[String], rb: f64, cn: u64, pooled: usize) -> (f64, String) {
    let rates: Vec<f64> = c.history.iter().filter_map(|r| r.rate(skip)).collect();
    if rates.len() >= c.t.min_history {
        let (center, s) = center_spread(&rates).unwrap_or((rb, 0.0));
        // The spread of a rate has a floor too: one session of the run.
        let s = s.max(1.0 / cn as f64);
        (
            center - c.t.k * s,
            format!(
                "median success rate of the last {} runs ({:.1}%, run-to-run spread {:.1} points)",
                rates.len(),
                center * 100.0,
                s * 100.0
            ),
        )
    } else {
        (
            rb - c.t.learning_drop,
            format!(
                "{} earlier run(s) pooled ({:.1}%); gate still learning",
                pooled,
                rb * 100.0
            ),
        )
    }
}

fn success_drop(c: Case, v: &mut Verdict) {
    let (history, base, cur, alpha) = (c.history, c.base, c.cur, c.alpha);
    let skip = flippers(history);
    // The reference is the history pooled (with the baseline run): far more sessions than one
    // run, and the overdispersion below keeps it honest about run-to-run variation.
    let mut pool: Vec<&RunAgent> = history.to_vec();
    if !pool.iter().any(|r| r.run_id == base.run_id) {
        pool.push(base);
    }
    let (bn, bok) = pool
        .iter()
        .map(|r| r.counts(&skip))
        .fold((0, 0), |(n, ok), c| (n + c.0, ok + c.1));
    let (cn, cok) = cur.counts(&skip);
    if bn == 0 || cn == 0 {
        return;
    }
    let phi = overdispersion(history, &skip);
    let deflate = |x: u64| (x as f64 / phi).round() as u64;
    let p = stats::fisher_lower(deflate(bok), deflate(bn), deflate(cok), deflate(cn));
    let (rb, rc) = (bok as f64 / bn as f64, cok as f64 / cn as f64);
    let (floor, from) = rate_floor(c, &skip, rb, cn, pool.len());
    let hit = rc < rb && rc < floor && p < alpha;
    let flaky_text = if skip.is_empty() {
        String::new()
    } else {
        format!(
            "; {} benchmark(s) that flipped on their own left out ({})",
            skip.len(),
            skip.join(", ")
        )
    };
    let detail = format!(
        "success rate {:.1}% in {} earlier run(s) -> {:.1}% ({bok}/{bn} -> {cok}/{cn}), Fisher exact p = {p:.2e} (counts / {phi:.2} for run-to-run variation){flaky_text}",
        rb * 100.0,
        pool.len(),
        rc * 100.0,
    );
    if hit {
        v.regressions.push(Regression {
            kind: CheckKind::SuccessRateDrop,
            agent: cur.agent.clone(),
            benchmark_id: None,
            baseline: rb,
            current: rc,
            p_value: Some(p),
            detail: detail.clone(),
        });
    }
    v.checks.push(Check {
        kind: CheckKind::SuccessRateDrop,
        agent: cur.agent.clone(),
        compared_with: format!("{from} (Fisher, pooled)"),
        threshold: format!(
            "rate < {:.1}% and Fisher p < {alpha:.2e}",
            floor.max(0.0) * 100.0
        ),
        observed: detail,
        outcome: if hit {
            Outcome::Regression
        } else {
            Outcome::Pass
        },
    });
}

fn new_failures(history: &[&RunAgent], base: &RunAgent, cur: &RunAgent, v: &mut Verdict) {
    let mut found = 0;
    for (b, (n, ok)) in &cur.benchmarks {
        let Some((bn, bok)) = base.benchmarks.get(b) else {
            continue;
        };
        let clean = history
            .iter()
            .all(|r| r.benchmarks.get(b).is_none_or(|(n, ok)| n == ok));
        if *bn > 0 && bok == bn && clean && *n > 0 && *ok == 0 {
            found += 1;
            v.regressions.push(Regression {
                kind: CheckKind::NewFailure,
                agent: cur.agent.clone(),
                benchmark_id: Some(b.clone()),
                baseline: 1.0,
                current: 0.0,
                p_value: None,
                detail: format!(
                    "{b} passed all {bn} baseline attempts (and the last {} runs) and failed all {n} now",
                    history.len()
                ),
            });
        }
    }
    v.checks.push(Check {
        kind: CheckKind::NewFailure,
        agent: cur.agent.clone(),
        compared_with: format!(
            "each benchmark in baseline run {} and the last {} runs",
            base.run_id,
            history.len()
        ),
        threshold: "passed every attempt before, fails every attempt now".into(),
        observed: format!("{found} benchmark(s)"),
        outcome: if found > 0 {
            Outcome::Regression
        } else {
            Outcome::Pass
        },
    });
}

/// The gate replayed on same-code comparisons: each stored run against the one before it, with
/// the history before it. Past consecutive runs are taken to be the same code, so every alarm
/// here estimates a false alarm.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Replay {
    pub agent: String,
    pub comparisons: u64,
    /// Comparisons in which the gate would have failed (any regression).
    pub alarms: u64,
    pub inconclusive: u64,
    /// Alarms per check kind.
    pub by_kind: BTreeMap<CheckKind, u64>,
}

/// Replay the gate over `runs` (one agent, oldest first, the newest last).
pub fn replay(runs: &[&RunAgent], agents: usize, history: usize, t: &Thresholds) -> Replay {
    let mut out = Replay {
        agent: runs.first().map(|r| r.agent.clone()).unwrap_or_default(),
        comparisons: 0,
        alarms: 0,
        inconclusive: 0,
        by_kind: BTreeMap::new(),
    };
    for i in 1..runs.len() {
        let past = &runs[i.saturating_sub(history)..i];
        let v = judge(past, runs[i - 1], runs[i], agents, t);
        out.comparisons += 1;
        out.alarms += u64::from(!v.regressions.is_empty());
        out.inconclusive += u64::from(v.checks.iter().any(|c| c.outcome == Outcome::Inconclusive));
        for r in &v.regressions {
            *out.by_kind.entry(r.kind).or_default() += 1;
        }
    }
    out
}

#[cfg(test)]
#[path = "regress_sim.rs"]
mod sim;
