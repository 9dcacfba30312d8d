//! The gate over the runs before the reported one: which of them passed (or were accepted) and
//! so are baseline and history, the verdict of the reported run, and the false alarms replayed.

use std::collections::BTreeSet;

use super::regress::{self, Replay, Thresholds, Verdict};
use super::Gate;
use crate::report::gather::data::{Past, HISTORY};
use crate::report::gather::model::RunAgent;
use crate::report::gather::samples::RunAgents;

/// The past runs, what the gate knows of them, and the gate's settings.
struct Judge<'a> {
    past: &'a Past,
    accepted: &'a BTreeSet<String>,
    max_error_rate: f64,
    t: Thresholds,
}

/// The regression gate: `run` against its baseline and the recent history of each agent,
/// with each check's false-alarm rate replayed over the stored runs before `run`.
///
/// The history is the comparable runs before `run` that passed the gate or were accepted
/// (`reev accept`); the baseline is the last of them unless `explicit` names one. So a
/// lasting regression keeps failing until it is fixed or accepted, and never becomes the
/// normal later runs are judged by. `None` when there is no run to compare with.
pub fn gate(
    past: &Past,
    accepted: &BTreeSet<String>,
    run: &str,
    explicit: Option<&str>,
    max_error_rate: f64,
) -> Option<(String, Gate)> {
    let j = Judge {
        past,
        accepted,
        max_error_rate,
        t: Thresholds::default(),
    };
    let (passed, left_out) = j.fold(&past.before);
    let baseline = explicit.map(str::to_string).or(passed.last().cloned())?;
    let history = &passed[passed.len().saturating_sub(HISTORY as usize)..];
    let (v, agents) = j.judge(history, &baseline, run);
    let t = j.t;
    let mut gate = Gate {
        history_runs: history.to_vec(),
        left_out,
        learning: v.learning,
        thresholds: t,
        regressions: v.regressions,
        checks: v.checks,
        replay: Vec::new(),
    };
    for agent in &agents {
        let mine: Vec<&RunAgent> = past
            .before
            .iter()
            .filter_map(|r| past.data.get(&(r.clone(), agent.clone())))
            .collect();
        gate.replay
            .push(regress::replay(&mine, agents.len(), HISTORY as usize, &t));
    }
    Some((baseline, gate))
}

/// Every agent's replay over `all` (oldest first; for `reev calibrate`).
pub fn calibrate(all: &[String], data: &RunAgents) -> Vec<Replay> {
    let agents: BTreeSet<&String> = data.keys().map(|(_, a)| a).collect();
    let t = Thresholds::default();
    agents
        .iter()
        .map(|agent| {
            let mine: Vec<&RunAgent> = all
                .iter()
                .filter_map(|r| data.get(&(r.clone(), agent.to_string())))
                .collect();
            regress::replay(&mine, agents.len(), HISTORY as usize, &t)
        })
        .collect()
}

impl Judge<'_> {
    /// `run` judged per agent against `baseline` and `history` (runs, oldest first): the
    /// verdicts merged, and the agents compared.
    fn judge(&self, history: &[String], baseline: &str, run: &str) -> (Verdict, Vec<String>) {
        let agents: Vec<String> = self
            .past
            .data
            .keys()
            .filter(|(r, a)| {
                r == run
                    && self
                        .past
                        .data
                        .contains_key(&(baseline.to_string(), a.clone()))
            })
            .map(|(_, a)| a.clone())
            .collect();
        let mut out = Verdict::default();
        for agent in &agents {
            let key = |r: &str| (r.to_string(), agent.clone());
            let mine: Vec<&RunAgent> = history
                .iter()
                .filter_map(|r| self.past.data.get(&key(r)))
                .collect();
            let (Some(base), Some(cur)) = (
                self.past.data.get(&key(baseline)),
                self.past.data.get(&key(run)),
            ) else {
                continue;
            };
            let v = regress::judge(&mine, base, cur, agents.len(), &self.t);
            out.learning |= v.learning;
            out.regressions.extend(v.regressions);
            out.checks.extend(v.checks);
        }
        (out, agents)
    }

    /// No agent of `run` ended `error` more often than the gate allows.
    fn errors_ok(&self, run: &str) -> bool {
        self.past
            .errors
            .iter()
            .all(|((r, _), rate)| r != run || *rate <= self.max_error_rate)
    }

    /// Replay the gate over `before` (oldest first): each run against the last one that passed
    /// (or was accepted) and the passed runs before it. Returns the runs that passed or were
    /// accepted, and those left out (failed, not accepted), oldest first. The oldest run has
    /// nothing before it to be judged by and counts as passed unless its error rate failed.
    fn fold(&self, before: &[String]) -> (Vec<String>, Vec<String>) {
        let (mut passed, mut left_out): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
        for r in before {
            let ok = self.accepted.contains(r)
                || (self.errors_ok(r)
                    && passed.last().is_none_or(|base| {
                        let history = &passed[passed.len().saturating_sub(HISTORY as usize)..];
                        self.judge(history, base, r).0.regressions.is_empty()
                    }));
            if ok {
                passed.push(r.clone());
            } else {
                left_out.push(r.clone());
            }
        }
        (passed, left_out)
    }
}
