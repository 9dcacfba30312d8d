//! A run (or one shard of it) made ready to execute: a new plan and its manifest, or the
//! plan a run recorded when it is resumed; the run's lock; the benchmark copies; and the
//! command that finishes it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::manifest::{self, RunManifest};
use crate::plan::{self, Selection, Shard, Task};
use crate::spec::{check_name, Suite};

use super::RunOptions;

/// A run (or shard) ready to execute: its plan, and its lock, held until the run ends.
pub struct Planned {
    pub run_id: String,
    pub run_dir: PathBuf,
    pub tasks: Vec<Task>,
    pub timeout: Option<Duration>,
    pub shard: Option<Shard>,
    pub lock: crate::lock::Lock,
    /// The retries a resume command carries: this invocation's, or the run's own.
    pub retry_errors: u32,
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

/// A new run (or shard): its plan, run directory, lock, manifest and benchmark copies.
pub fn new_plan(opts: &RunOptions, suite: &Suite) -> Result<Planned> {
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

/// `--resume RUN_ID`: the plan the run (or shard) recorded, under its lock.
pub fn resume_plan(opts: &RunOptions, suite: &Suite, run_id: &str) -> Result<Planned> {
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

/// The exact command that finishes this run (or this shard of it), as printed.
pub fn resume_of(opts: &RunOptions, planned: &Planned, max_cost: Option<f64>) -> String {
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
