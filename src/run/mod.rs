//! Running a plan: planning or resuming the run (`planned.rs`), the pool that executes its
//! sessions (`pool.rs`), the shard's cost budget, the retry policy, the tally and how the
//! run ends (`tally.rs`), the per-run status log and the status read from the runs tree
//! (`status.rs`, `holders.rs`), the printed commands that finish a run (`resume.rs`), and
//! `reev batch`'s run -> load -> report (`batch.rs`).

pub mod batch;
pub mod budget;
pub mod holders;
pub mod planned;
pub mod pool;
pub mod resume;
pub mod retry;
pub mod status;
pub mod status_log;
pub mod tally;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::exec::{self, interrupt, Outcome};
use crate::manifest;
use crate::plan::{Selection, Task};
use crate::session;
use crate::spec::{Suite, SuitePaths};

use budget::Budget;
use planned::{resume_of, Planned};
use retry::Pending;
pub use tally::{AgentTally, Ended, RunReport};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub suite: SuitePaths,
    pub selection: Selection,
    pub jobs: usize,
    pub timeout: Option<Duration>,
    pub kill_grace: Duration,
    pub run_id: Option<String>,
    pub resume: Option<String>,
    pub runs_dir: PathBuf,
    pub keep_workdirs: bool,
    pub fail_on_failed: bool,
    /// `--max-cost`: stop launching sessions once the run has cost this many USD.
    pub max_cost: Option<f64>,
    /// `--retry-errors` and its backoff; on `--resume`, also whether errored sessions are retried.
    pub retry: retry::Retry,
    /// Set by `reev batch` (its argv): the printed resume commands are that batch again, so
    /// that finishing the run also loads and reports it.
    pub batch_argv: Option<Vec<String>>,
    /// The database and reports directory, which sessions may not write (with the runs
    /// tree, the config file and the benchmarks, see [`protected`]).
    pub protect: Vec<PathBuf>,
    /// `--replay RUN_ID`: model calls answered from that run's cassettes.
    pub replay: Option<String>,
}

/// Plan (or resume) the run, execute its pending sessions, and tally them. What the run
/// comes to — the exit — is [`Ended::conclude`]; the caller prints [`tally::summary`] first.
pub fn run(opts: &RunOptions, quiet: bool) -> Result<Ended> {
    interrupt::install().map_err(|e| Error::env(format!("cannot install signal handlers: {e}")))?;
    let suite = crate::spec::load(&opts.suite).map_err(|d| Error::diagnostics(&d))?;
    // Before the run exists: a replay without cassettes, or a missing key, is said at once.
    let wanted = crate::gateway::replay::Wanted {
        runs_dir: &opts.runs_dir,
        resume: opts.resume.as_deref(),
        selection: &opts.selection,
        replay: opts.replay.as_deref(),
        retry_errors: opts.retry.errors,
    };
    let replay = crate::gateway::replay::prepare(wanted, &suite)?;
    let planned = match &opts.resume {
        Some(id) => planned::resume_plan(opts, &suite, id)?,
        None => planned::new_plan(opts, &suite)?,
    };
    let resume = resume_of(opts, &planned, opts.max_cost);
    let pending: Vec<Pending> = planned
        .tasks
        .iter()
        .filter_map(|t| retry::pending(&planned.run_dir, t, opts.retry, opts.resume.is_some()))
        .collect();
    announce(opts, &planned, &pending, &resume);
    let (outcomes, budget, started) =
        execute(opts, &suite, &planned, replay.as_ref(), &pending, quiet)?;
    let (report, failures, interrupted) = tally::tally(&planned, &pending, outcomes);
    // After a budget stop the resume needs a new budget (or none), not the one used up.
    let resume = match report.not_launched {
        0 => resume,
        _ => resume_of(opts, &planned, None),
    };
    if report.not_launched > 0 {
        note_budget_stop(&planned, &budget, report.not_launched);
    }
    tracing::info!(
        "run {} finished in {:.1} s",
        planned.run_id,
        started.elapsed().as_secs_f64()
    );
    Ok(Ended {
        report,
        failures,
        interrupted,
        resume,
    })
}

/// Say what is about to run (and how to finish it), on stderr and in the lock file.
fn announce(opts: &RunOptions, planned: &Planned, pending: &[Pending], resume: &str) {
    tracing::info!(
        "run {}: {} sessions planned, {} to run, {} at once; if it is interrupted, finish it with `{resume}`",
        planned.run_id,
        planned.tasks.len(),
        pending.len(),
        opts.jobs
    );
    if planned.tasks.is_empty() {
        tracing::warn!("this shard of the plan is empty; nothing to run");
    }
    // For `reev status`: what this holder set out to do, beside who it is.
    planned.lock.note(&format!(
        "sessions: {} planned, {} to run",
        planned.tasks.len(),
        pending.len()
    ));
}

/// Execute the pending sessions in this reev's scratch area, then make their files durable.
/// Returns their outcomes, the budget they spent, and when they started.
fn execute(
    opts: &RunOptions,
    suite: &Suite,
    planned: &Planned,
    replay: Option<&crate::gateway::replay::Source>,
    pending: &[Pending],
    quiet: bool,
) -> Result<(Vec<Outcome>, Budget, Instant)> {
    // Agents run inside their scratch directories: every path they are given must be absolute.
    let abs_run_dir = std::path::absolute(&planned.run_dir)
        .map_err(|e| Error::io("cannot resolve", &planned.run_dir, e))?;
    let area = exec::workdir::Area::create(&abs_run_dir).map_err(|e| {
        Error::io(
            "cannot create this reev's scratch area in",
            &abs_run_dir.join("work"),
            e,
        )
    })?;
    let host = manifest::hostname();
    crate::sandbox::prepare::ready()?;
    // The gateways' keys: reev sends them upstream; no process it starts inherits them.
    exec::secrets::hold(
        suite
            .config
            .agents
            .values()
            .filter_map(|a| a.gateway.as_ref()?.api_key_env.clone()),
    );
    let protect = protected(opts)?;
    let status_log = status_log::StatusLog::open(&abs_run_dir, planned.shard);
    let ctx = exec::Context {
        suite,
        run_id: &planned.run_id,
        run_dir: &abs_run_dir,
        timeout: planned.timeout,
        grace: opts.kill_grace,
        keep_workdirs: opts.keep_workdirs,
        area: &area,
        host: &host,
        protect: &protect,
        status_log: &status_log,
        replay,
    };
    let started = Instant::now();
    let budget = Budget::new(opts.max_cost, spent_before(planned, opts.max_cost));
    let outcomes = pool::execute(&ctx, pending, opts.jobs, opts.retry, quiet, &budget)?;
    exec::workdir::remove_all(&area);
    sync_session_dirs(&planned.run_dir, &planned.tasks)?;
    Ok((outcomes, budget, started))
}

/// What no session may write, made absolute (agents run elsewhere): the runs tree, the
/// config file, the benchmarks directory, and the database and reports directory.
fn protected(opts: &RunOptions) -> Result<Vec<PathBuf>> {
    [&opts.runs_dir, &opts.suite.config, &opts.suite.benchmarks]
        .into_iter()
        .chain(&opts.protect)
        .map(|p| std::path::absolute(p).map_err(|e| Error::io("cannot resolve", p, e)))
        .collect()
}

/// On `--resume` with `--max-cost`: what the run's existing session files (every try) cost.
fn spent_before(planned: &Planned, max_cost: Option<f64>) -> f64 {
    if max_cost.is_none() {
        return 0.0;
    }
    let run_dir = &planned.run_dir;
    planned
        .tasks
        .iter()
        .flat_map(|t| {
            (1..=retry::latest_try(run_dir, t)).map(move |k| exec::final_path(run_dir, t, k))
        })
        .filter_map(|path| session::read(&path).ok())
        .filter_map(|s| s.cost_usd)
        .sum()
}

/// Say on stderr, and in `budget-stop.json` for `reev status`, that the budget stopped the run.
fn note_budget_stop(planned: &Planned, budget: &Budget, not_launched: u64) {
    let note = budget::StopNote {
        max_cost_usd: budget.max().unwrap_or_default(),
        spent_usd: budget.spent(),
        not_launched,
        stopped_at: crate::timestamp::rfc3339(chrono::Utc::now()),
    };
    if let Err(e) = budget::write_note(&planned.run_dir, planned.shard, &note) {
        tracing::warn!(
            "cannot record the budget stop in {}: {e}",
            planned
                .run_dir
                .join(budget::note_name(planned.shard))
                .display()
        );
    }
}

/// Make the names of all session files (and cassettes) durable: one fsync per directory,
/// not per file.
fn sync_session_dirs(run_dir: &Path, tasks: &[Task]) -> Result<()> {
    let agents: BTreeSet<&str> = tasks.iter().map(|t| t.agent.as_str()).collect();
    for top in ["sessions", "cassettes"] {
        for agent in &agents {
            let dir = run_dir.join(top).join(agent);
            if dir.is_dir() {
                session::sync_dir(&dir).map_err(|e| Error::io("cannot sync", &dir, e))?;
            }
        }
        let dir = run_dir.join(top);
        if dir.is_dir() {
            session::sync_dir(&dir).map_err(|e| Error::io("cannot sync", &dir, e))?;
        }
    }
    Ok(())
}
