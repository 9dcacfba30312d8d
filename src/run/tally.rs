//! What a run comes to: per agent, how many sessions ended how and their scores; the
//! failures and interruptions that decide the exit; the table printed when a run ends.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::exec::{self, interrupt, Outcome};
use crate::session::{self, Status};

use super::planned::Planned;
use super::retry::{self, Pending};

/// What a finished run reports; `reev batch` builds on it.
#[derive(Debug)]
pub struct RunReport {
    pub run_id: String,
    pub run_dir: PathBuf,
    pub by_agent: BTreeMap<String, AgentTally>,
    /// Planned sessions `--max-cost` kept from starting.
    pub not_launched: u64,
}

#[derive(Debug, Default, Clone)]
pub struct AgentTally {
    pub sessions: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub error: u64,
    /// Scores of the judged sessions (`error` ones have none).
    pub score_sum: f64,
}

impl AgentTally {
    fn add(&mut self, status: Status, score: f64) {
        self.sessions += 1;
        if status != Status::Error {
            self.score_sum += score;
        }
        match status {
            Status::Succeeded => self.succeeded += 1,
            Status::Failed => self.failed += 1,
            Status::TimedOut => self.timed_out += 1,
            Status::Error => self.error += 1,
        }
    }
}

/// A run that executed: its tally, and what decides how it ends (see [`Ended::conclude`]).
#[derive(Debug)]
pub struct Ended {
    pub report: RunReport,
    /// Sessions that could not be recorded.
    pub failures: Vec<Error>,
    /// Planned sessions an interruption left undone.
    pub interrupted: usize,
    /// The command that finishes the run.
    pub resume: String,
}

impl Ended {
    /// The exit: interrupted, sessions that could not be recorded, --fail-on-failed, or success.
    pub fn conclude(self, fail_on_failed: bool) -> Result<RunReport> {
        conclude(
            self.report,
            self.failures,
            self.interrupted,
            &self.resume,
            fail_on_failed,
        )
    }
}

impl RunReport {
    pub fn all_succeeded(&self) -> bool {
        self.by_agent.values().all(|t| t.succeeded == t.sessions)
    }
}

/// Count every planned session with a file — those written before this invocation (on
/// --resume) by reading them, the rest from the outcomes — plus the failures and the
/// sessions an interruption left undone.
pub fn tally(
    planned: &Planned,
    pending: &[Pending],
    outcomes: Vec<Outcome>,
) -> (RunReport, Vec<Error>, usize) {
    let mut report = RunReport {
        run_id: planned.run_id.clone(),
        run_dir: planned.run_dir.clone(),
        by_agent: BTreeMap::new(),
        not_launched: 0,
    };
    let ran_now: BTreeSet<&str> = pending.iter().map(|p| p.task.session_id.as_str()).collect();
    for t in planned
        .tasks
        .iter()
        .filter(|t| !ran_now.contains(t.session_id.as_str()))
    {
        let latest = retry::latest_try(&planned.run_dir, t);
        let path = exec::final_path(&planned.run_dir, t, latest);
        match session::read(&path) {
            Ok(s) => report
                .by_agent
                .entry(s.agent.clone())
                .or_default()
                .add(s.status, s.score),
            Err(e) => tracing::warn!("{}: {e}", path.display()),
        }
    }
    let mut failures = Vec::new();
    let mut interrupted = 0usize;
    for o in outcomes {
        match o {
            Outcome::Written {
                agent,
                status,
                score,
            } => report.by_agent.entry(agent).or_default().add(status, score),
            Outcome::Failed(e) => failures.push(e),
            Outcome::NotStarted | Outcome::Interrupted => interrupted += 1,
            Outcome::OverBudget => report.not_launched += 1,
            Outcome::Finished(_) => {}
        }
    }
    (report, failures, interrupted)
}

/// The exit: interrupted, sessions that could not be recorded, --fail-on-failed, or success.
fn conclude(
    report: RunReport,
    failures: Vec<Error>,
    interrupted: usize,
    resume: &str,
    fail_on_failed: bool,
) -> Result<RunReport> {
    if let Some(sig) = interrupt::requested() {
        // In the error, not a warning: it is printed even under -q (`reev batch -q` in cron).
        // Not only sessions never started: a session interrupted between two tries still
        // owes its retries, which the printed command (with --retry-errors) runs.
        return Err(Error::interrupted(sig).with_note(&format!(
            "{interrupted} planned sessions were not completed; finish the run with `{resume}`"
        )));
    }
    if let Some(first) = failures.first() {
        let e = Error::new(
            failures.iter().map(|e| e.kind).max().unwrap_or(first.kind),
            format!(
                "{} sessions could not be recorded; first: {}",
                failures.len(),
                first.chain()
            ),
        );
        return Err(e.with_note(&format!(
            "fix the cause, then finish the run with `{resume}`"
        )));
    }
    if report.not_launched > 0 {
        return Err(Error::failed(format!(
            "the run was stopped by --max-cost: {} planned sessions were not launched; run them with `{resume}` (with a larger --max-cost, or none)",
            report.not_launched
        )));
    }
    if fail_on_failed && !report.all_succeeded() {
        return Err(Error::failed(
            "some sessions did not succeed (--fail-on-failed)",
        ));
    }
    Ok(report)
}

/// The per-agent table printed on stdout when a run ends.
pub fn summary(r: &RunReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:>8} {:>9} {:>6} {:>9} {:>5} {:>10}",
        "agent", "sessions", "succeeded", "failed", "timed_out", "error", "mean_score"
    );
    for (agent, t) in &r.by_agent {
        // Over the judged sessions; none judged (all `error`): no mean score, "–".
        let judged = t.sessions - t.error;
        let mean = crate::report::score((judged > 0).then(|| t.score_sum / judged as f64), 3);
        let _ = writeln!(
            s,
            "{:<24} {:>8} {:>9} {:>6} {:>9} {:>5} {:>10}",
            agent, t.sessions, t.succeeded, t.failed, t.timed_out, t.error, mean
        );
    }
    if r.not_launched > 0 {
        let _ = writeln!(s, "not launched (--max-cost): {}", r.not_launched);
    }
    let _ = writeln!(s, "run: {}", r.run_dir.display());
    s
}
