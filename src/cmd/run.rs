//! `reev run`: plan, write the manifest, execute pending sessions in parallel, summarise.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::exec::{self, interrupt, Outcome};
use crate::logging::Progress;
use crate::manifest::{self, RunManifest};
use crate::plan::{self, Selection, Shard, Task};
use crate::run::budget::{self, Budget};
use crate::run::retry::{self, Pending, Retry};
use crate::session::{self, Status};
use crate::spec::{check_name, Suite, SuitePaths};

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
    pub retry: crate::run::retry::Retry,
    /// Set by `reev batch` (its argv): the printed resume commands are that batch again, so
    /// that finishing the run also loads and reports it.
    pub batch_argv: Option<Vec<String>>,
    /// The database and reports directory, which sessions may not write (with the runs
    /// tree, the config file and the benchmarks, see [`protected`]).
    pub protect: Vec<PathBuf>,
    /// `--replay RUN_ID`: model calls answered from that run's cassettes.
    pub replay: Option<String>,
}

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

impl RunReport {
    pub fn all_succeeded(&self) -> bool {
        self.by_agent.values().all(|t| t.succeeded == t.sessions)
    }
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

pub fn run(opts: RunOptions, quiet: bool) -> Result<RunReport> {
    interrupt::install().map_err(|e| Error::env(format!("cannot install signal handlers: {e}")))?;
    let suite = super::load_suite(&opts.suite)?;
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
        Some(id) => resume_plan(&opts, &suite, id)?,
        None => new_plan(&opts, &suite)?,
    };
    let resume = resume_of(&opts, &planned, opts.max_cost);
    let pending: Vec<Pending> = planned
        .tasks
        .iter()
        .filter_map(|t| retry::pending(&planned.run_dir, t, opts.retry, opts.resume.is_some()))
        .collect();
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
    let protect = protected(&opts)?;
    let status_log = crate::run::status_log::StatusLog::open(&abs_run_dir, planned.shard);
    let ctx = exec::Context {
        suite: &suite,
        run_id: &planned.run_id,
        run_dir: &abs_run_dir,
        timeout: planned.timeout,
        grace: opts.kill_grace,
        keep_workdirs: opts.keep_workdirs,
        area: &area,
        host: &host,
        protect: &protect,
        status_log: &status_log,
        replay: replay.as_ref(),
    };
    let started = Instant::now();
    let budget = Budget::new(opts.max_cost, spent_before(&planned, opts.max_cost));
    let outcomes = execute(&ctx, &pending, opts.jobs, opts.retry, quiet, &budget)?;
    exec::workdir::remove_all(&area);
    sync_session_dirs(&planned.run_dir, &planned.tasks)?;
    let (report, failures, interrupted) = tally(&planned, &pending, outcomes);
    // After a budget stop the resume needs a new budget (or none), not the one used up.
    let resume = match report.not_launched {
        0 => resume,
        _ => resume_of(&opts, &planned, None),
    };
    if report.not_launched > 0 {
        note_budget_stop(&planned, &budget, report.not_launched);
    }
    tracing::info!(
        "run {} finished in {:.1} s",
        planned.run_id,
        started.elapsed().as_secs_f64()
    );
    super::print(&summary(&report))?;
    conclude(report, failures, interrupted, &resume, opts.fail_on_failed)
}

/// Run the pending sessions on `jobs` worker threads; writer threads write (and fsync)
/// finished sessions meanwhile, in batches of what finished together (`exec::commit`), so
/// an agent never waits for the previous session's fsync.
/// Once `budget` is used up no further session starts.
fn execute(
    ctx: &exec::Context,
    pending: &[Pending],
    jobs: usize,
    retry: Retry,
    quiet: bool,
    budget: &Budget,
) -> Result<Vec<Outcome>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("reev-session-{i}"))
        .build()
        .map_err(|e| Error::env(format!("cannot start {jobs} worker threads: {e}")))?;
    let progress = Progress::new(pending.len() as u64, quiet);
    let writers = jobs.clamp(1, 4);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Box<exec::Finished>>(256);
    let rx = std::sync::Mutex::new(rx);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                scope.spawn(|| {
                    let mut written = Vec::new();
                    loop {
                        // Whatever finished meanwhile is written as one batch (group commit).
                        let batch = match rx.lock() {
                            Ok(rx) => exec::commit::next_batch(&rx),
                            Err(_) => break,
                        };
                        if batch.is_empty() {
                            break;
                        }
                        for outcome in exec::commit::write_batch(&batch, ctx.status_log) {
                            tick(&progress, &outcome);
                            written.push(outcome);
                        }
                    }
                    written
                })
            })
            .collect();
        let mut outcomes: Vec<Outcome> = pool.install(|| {
            pending
                .par_iter()
                .with_max_len(1)
                .map_with(tx, |tx, p| match launch(ctx, p, retry, budget) {
                    Outcome::Finished(done) => match tx.send(done) {
                        Ok(()) => None,
                        Err(e) => Some(exec::write_session(&e.0, ctx.status_log)),
                    },
                    other => {
                        tick(&progress, &other);
                        Some(other)
                    }
                })
                .flatten()
                .collect()
        });
        for h in handles {
            outcomes.extend(h.join().unwrap_or_default());
        }
        outcomes
    });
    progress.finish();
    Ok(outcomes)
}

/// Run one session (its tries) unless the budget is used up; what each try cost counts
/// against the budget.
fn launch(ctx: &exec::Context, p: &Pending, retry: Retry, budget: &Budget) -> Outcome {
    if budget.exhausted() {
        if budget.first_refusal() {
            tracing::warn!(
                "run {}: the budget of {} USD is used up ({:.6} USD spent); no more sessions are launched, running ones finish",
                ctx.run_id,
                budget.max().unwrap_or_default(),
                budget.spent()
            );
        }
        return Outcome::OverBudget;
    }
    retry::run_tries(ctx, p, retry, budget)
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

/// Count every planned session with a file — those written before this invocation (on
/// --resume) by reading them, the rest from the outcomes — plus the failures and the
/// sessions an interruption left undone.
fn tally(
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
        let mut e = Error::interrupted(sig);
        e.message.push_str(&format!(
            "\n{interrupted} planned sessions were not completed; finish the run with `{resume}`"
        ));
        return Err(e);
    }
    if let Some(first) = failures.first() {
        let mut e = Error::new(
            failures.iter().map(|e| e.kind).max().unwrap_or(first.kind),
            format!(
                "{} sessions could not be recorded; first: {}",
                failures.len(),
                first.chain()
            ),
        );
        e.message.push_str(&format!(
            "\nfix the cause, then finish the run with `{resume}`"
        ));
        return Err(e);
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

/// The exact command that finishes this run (or this shard of it), as printed.
fn resume_of(opts: &RunOptions, planned: &Planned, max_cost: Option<f64>) -> String {
    super::resume::Resume {
        run_id: planned.run_id.clone(),
        shard: planned.shard,
        runs_dir: opts.runs_dir.clone(),
        config: Some(opts.suite.config.clone()),
        benchmarks: Some(opts.suite.benchmarks.clone()),
        // A resume retries errored sessions only when asked: a run that was retrying them
        // would otherwise take an error written just before the interruption as its result.
        retry_errors: planned.retry_errors,
        max_cost,
        batch: opts.batch_argv.clone(),
        start: None,
    }
    .render()
}

fn tick(progress: &Progress, outcome: &Outcome) {
    match outcome {
        Outcome::Written { status, .. } => progress.tick(*status != Status::Succeeded),
        Outcome::Failed(e) => {
            tracing::error!("{e}");
            progress.tick(true)
        }
        Outcome::Finished(_) | Outcome::NotStarted | Outcome::Interrupted | Outcome::OverBudget => {
        }
    }
}

/// A run (or shard) ready to execute: its plan, and its lock, held until the run ends.
struct Planned {
    run_id: String,
    run_dir: PathBuf,
    tasks: Vec<Task>,
    timeout: Option<Duration>,
    shard: Option<Shard>,
    lock: crate::lock::Lock,
    /// The retries a resume command carries: this invocation's, or the run's own.
    retry_errors: u32,
}

/// One reev at a time per run, or per shard of a run: a second `run --resume` of the same
/// run would execute the same missing sessions twice. Shards of one run each take their own
/// (`runs/<run_id>/.lock.shard-K-of-N`), so they run side by side in one tree.
fn lock_run(run_dir: &Path, run_id: &str, shard: Option<Shard>) -> Result<crate::lock::Lock> {
    let what = match shard {
        Some(s) => format!("another reev is running shard {s} of run {run_id}"),
        None => format!("another reev is running run {run_id}"),
    };
    // A short wait: `reev status` takes the lock for an instant to see whether it is held.
    crate::lock::acquire(
        &run_dir.join(manifest::lock_name(shard)),
        Duration::from_millis(300),
        &what,
    )
}

fn new_plan(opts: &RunOptions, suite: &Suite) -> Result<Planned> {
    let run_id = opts.run_id.clone().unwrap_or_else(manifest::new_run_id);
    check_name("run id", &run_id).map_err(Error::input)?;
    let shard = opts.selection.shard;
    // The whole run's plan, so every shard's manifest says what a complete run holds.
    let whole = plan::plan(
        suite,
        &Selection {
            shard: None,
            ..opts.selection.clone()
        },
        &run_id,
    )?;
    let mut run_planned: BTreeMap<String, u64> = BTreeMap::new();
    for t in &whole {
        *run_planned.entry(t.agent.clone()).or_default() += 1;
    }
    let tasks = match shard {
        Some(s) => plan::shard_of(whole, s),
        None => whole,
    };
    let run_dir = manifest::create_run_dir(&opts.runs_dir, &run_id, shard)?;
    let lock = lock_run(&run_dir, &run_id, shard)?;
    if let Some(s) = shard {
        manifest::check_shard_free(&run_dir, &run_id, s)?;
    }
    let m = RunManifest {
        schema_version: manifest::SCHEMA_VERSION,
        run_id: run_id.clone(),
        created_at: crate::timestamp::rfc3339(chrono::Utc::now()),
        reev_version: env!("CARGO_PKG_VERSION").to_string(),
        host: manifest::hostname(),
        git_commit: manifest::git_commit(&suite.config.dir),
        command_line: std::env::args().collect(),
        selection: opts.selection.clone(),
        timeout_ms: opts.timeout.map(|t| t.as_millis() as u64),
        jobs: opts.jobs,
        benchmarks: suite
            .benchmarks
            .iter()
            .map(|b| (b.id.clone(), b.sha256.clone()))
            .collect(),
        agents: suite
            .config
            .agents
            .iter()
            .map(|(n, a)| (n.clone(), a.command.clone()))
            .collect(),
        plan: tasks.clone(),
        run_planned,
        machine: Some(machine_at_start()),
        suite: Some(suite_record(&opts.suite)?),
        retry_errors: opts.retry.errors,
    };
    manifest::write(&run_dir, &m)?;
    write_copies(&run_dir, suite, &tasks)?;
    Ok(Planned {
        run_id,
        run_dir,
        tasks,
        timeout: opts.timeout,
        shard,
        lock,
        retry_errors: opts.retry.errors,
    })
}

/// The config file (with the digest of its bytes) and benchmarks directory, for the manifest.
fn suite_record(paths: &crate::spec::SuitePaths) -> Result<manifest::SuiteRecord> {
    let bytes = std::fs::read(&paths.config)
        .map_err(|e| Error::io("cannot read config", &paths.config, e))?;
    Ok(manifest::SuiteRecord {
        config: paths.config.clone(),
        config_sha256: crate::digest::sha256_hex(&bytes),
        benchmarks: paths.benchmarks.clone(),
    })
}

/// The machine as the run starts; says so once when the kernel has no PSI to record.
fn machine_at_start() -> crate::machine::Snapshot {
    let m = crate::machine::snapshot();
    if m.cpu_pressure.is_none() {
        tracing::info!("no CPU pressure information (/proc/pressure/cpu): the regression gate will not know whether the machine was busy");
    }
    m
}

fn resume_plan(opts: &RunOptions, suite: &Suite, run_id: &str) -> Result<Planned> {
    check_name("run id", run_id).map_err(Error::input)?;
    let s = &opts.selection;
    if !s.agents.is_empty() || !s.tags.is_empty() || !s.filters.is_empty() || s.attempts != 1 {
        return Err(Error::input(
            "--resume runs the plan recorded in the run manifest; drop --agent, --tag, --filter and --attempts",
        ));
    }
    let run_dir = opts.runs_dir.join(run_id);
    if !run_dir.is_dir() {
        return Err(Error::input(format!("no run at {}", run_dir.display())));
    }
    let m = manifest::read(&run_dir, s.shard)?;
    // Without --shard, a run with one shard manifest resumes that shard.
    let shard = m.selection.shard;
    let lock = lock_run(&run_dir, run_id, shard)?;
    check_suite_still_has(opts, suite, &m)?;
    let timeout = opts.timeout.or(m.timeout_ms.map(Duration::from_millis));
    let tasks = m
        .plan
        .into_iter()
        .map(|t| Task {
            benchmark_sha256: suite
                .benchmark(&t.benchmark_id)
                .map(|b| b.sha256.clone())
                .unwrap_or(t.benchmark_sha256),
            ..t
        })
        .collect::<Vec<_>>();
    write_copies(&run_dir, suite, &tasks)?;
    Ok(Planned {
        run_id: run_id.to_string(),
        run_dir,
        tasks,
        timeout,
        shard,
        lock,
        retry_errors: opts.retry.errors.max(m.retry_errors),
    })
}

/// Every benchmark and agent the manifest plans must still be in the suite. A benchmark
/// edited since the run was planned is said once (not once per planned session); a missing
/// one, when the run was planned with another config or benchmarks directory, comes with the
/// command that names them.
fn check_suite_still_has(opts: &RunOptions, suite: &Suite, m: &RunManifest) -> Result<()> {
    let run_id = &m.run_id;
    let elsewhere = planned_elsewhere(opts, m);
    let mut changed = BTreeSet::new();
    for t in &m.plan {
        match suite.benchmark(&t.benchmark_id) {
            None => {
                return Err(Error::input(format!(
                    "run {run_id} plans benchmark `{}`, which is no longer in the suite{elsewhere}",
                    t.benchmark_id
                )))
            }
            Some(b) if b.sha256 != t.benchmark_sha256 => {
                changed.insert(b.id.as_str());
            }
            Some(_) => {}
        }
        if suite.agent(&t.agent).is_none() {
            return Err(Error::input(format!(
                "run {run_id} plans agent `{}`, which {} no longer defines{elsewhere}",
                t.agent,
                suite.config.path.display()
            )));
        }
    }
    for id in changed {
        tracing::warn!(
            "benchmark `{id}` changed since run {run_id} was planned; resumed sessions record the new version"
        );
    }
    if let (Some(was), Ok(now)) = (&m.suite, suite_record(&opts.suite)) {
        if was.config != now.config {
            tracing::warn!(
                "run {run_id} was planned with config {}; resumed sessions use the agents of {}",
                was.config.display(),
                now.config.display()
            );
        } else if was.config_sha256 != now.config_sha256 {
            tracing::warn!(
                "{} changed since run {run_id} was planned; resumed sessions use the agents it defines now",
                now.config.display()
            );
        }
    }
    Ok(())
}

/// When the run was planned with another config file or benchmarks directory than this
/// resume loads: what to add to an error, with the command that names them.
fn planned_elsewhere(opts: &RunOptions, m: &RunManifest) -> String {
    let Some(was) = &m.suite else {
        return String::new();
    };
    if was.config == opts.suite.config && was.benchmarks == opts.suite.benchmarks {
        return String::new();
    }
    let cmd = super::resume::Resume {
        run_id: m.run_id.clone(),
        shard: m.selection.shard,
        runs_dir: opts.runs_dir.clone(),
        config: Some(was.config.clone()),
        benchmarks: Some(was.benchmarks.clone()),
        retry_errors: opts.retry.errors,
        max_cost: opts.max_cost,
        batch: opts.batch_argv.clone(),
        start: None,
    };
    format!(
        "; the run was planned with config {} and benchmarks {}: finish it with `{}`",
        was.config.display(),
        was.benchmarks.display(),
        cmd.render()
    )
}

/// Copies of the benchmark versions the plan uses, for the store.
fn write_copies(run_dir: &Path, suite: &Suite, tasks: &[Task]) -> Result<()> {
    let ids: BTreeSet<&str> = tasks.iter().map(|t| t.benchmark_id.as_str()).collect();
    manifest::write_benchmark_copies(
        run_dir,
        ids.into_iter().filter_map(|id| suite.benchmark(id)),
    )
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

/// The per-agent table printed on stdout when a run ends.
fn summary(r: &RunReport) -> String {
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
