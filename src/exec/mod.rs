//! Executing sessions: scratch directory, agent process, assertions, write-once session file.

pub mod assertions;
pub mod beneath;
pub mod events;
pub mod interrupt;
pub mod json_at;
pub mod namespace;
pub mod process;
pub mod sandbox;
pub mod trace_checks;
pub mod verify;
pub mod workdir;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::plan::Task;
use crate::session::{self, Output, SessionFile, Status};
use crate::spec::{agent, Agent, Benchmark, Suite};

/// Timeout when neither `--timeout`, the benchmark nor the agent sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest prompt also passed as `REEV_PROMPT`.
pub const MAX_ENV_PROMPT: usize = 100 * 1024;
/// Bytes kept of stdout and of stderr.
pub const OUTPUT_CAP: usize = 1024 * 1024;
/// Largest file an assertion (`file_contains`, `json_value` with `file:`) reads; a larger
/// one fails the assertion, so reev's memory stays bounded whatever an agent writes.
pub const ASSERTION_READ_CAP: u64 = 8 * 1024 * 1024;

/// What every session of one run shares.
pub struct Context<'a> {
    pub suite: &'a Suite,
    pub run_id: &'a str,
    pub run_dir: &'a Path,
    pub timeout: Option<Duration>,
    pub grace: Duration,
    pub keep_workdirs: bool,
    /// This reev process's scratch area in the run (never shared with another process).
    pub area: &'a workdir::Area,
    pub host: &'a str,
}

/// How one planned session ended, as far as the run is concerned.
#[derive(Debug)]
pub enum Outcome {
    /// It ran; its session file is ready to be written (see [`write_session`]).
    Finished(Box<Finished>),
    /// Its session file was written.
    Written {
        agent: String,
        status: Status,
        score: f64,
    },
    /// reev was asked to stop before it started.
    NotStarted,
    /// reev was asked to stop while it ran; its process group was killed, no file written.
    Interrupted,
    /// reev could not do its part (disk, I/O); no file written.
    Failed(Error),
}

/// A session that ran, and where its file goes.
#[derive(Debug)]
pub struct Finished {
    pub path: PathBuf,
    pub file: SessionFile,
}

pub fn final_path(run_dir: &Path, task: &Task) -> PathBuf {
    run_dir.join(session::relative_path(
        &task.agent,
        &task.benchmark_id,
        task.attempt,
    ))
}

/// The effective time limit: `--timeout`, else the tighter of benchmark and agent, else 300 s.
/// Parsers keep every limit in range; the clamp also covers a hand-edited manifest on resume,
/// so `Instant + timeout` can never overflow.
pub fn timeout_for(cli: Option<Duration>, b: &Benchmark, a: &Agent) -> Duration {
    cli.or(match (b.timeout, a.timeout) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    })
    .unwrap_or(DEFAULT_TIMEOUT)
    .clamp(crate::duration::MIN_TIMEOUT, crate::duration::MAX)
}

pub fn run_session(ctx: &Context, task: &Task) -> Outcome {
    if interrupt::requested().is_some() {
        return Outcome::NotStarted;
    }
    let (Some(bench), Some(agent)) = (
        ctx.suite.benchmark(&task.benchmark_id),
        ctx.suite.agent(&task.agent),
    ) else {
        return Outcome::Failed(Error::input(format!(
            "session {}: benchmark `{}` or agent `{}` is not in the suite",
            task.session_id, task.benchmark_id, task.agent
        )));
    };
    let root = workdir::Workdir::location(
        ctx.area,
        ctx.keep_workdirs,
        &task.agent,
        &task.benchmark_id,
        task.attempt,
    );
    let work = match workdir::Workdir::prepare(ctx.run_dir, root, &bench.initial_state) {
        Ok(w) => w,
        Err(e) => {
            return Outcome::Failed(Error::env(format!(
                "session {} ({} / {} #{}): cannot prepare scratch directory under {}: {e}",
                task.session_id,
                task.benchmark_id,
                task.agent,
                task.attempt,
                ctx.area.dir.display()
            )))
        }
    };
    let timeout = timeout_for(ctx.timeout, bench, agent);
    let file = execute(ctx, task, bench, agent, &work, timeout);
    let Some(file) = file else {
        return Outcome::Interrupted;
    };
    Outcome::Finished(Box::new(Finished {
        path: final_path(ctx.run_dir, task),
        file,
    }))
}

/// Write a finished session's file (fsynced, never replacing one). Runs on writer threads,
/// so an agent never waits for the previous session's fsync.
pub fn write_session(done: &Finished) -> Outcome {
    let (path, file) = (&done.path, &done.file);
    let written = serde_json::to_vec_pretty(file)
        .map_err(std::io::Error::other)
        .and_then(|bytes| session::write_new(path, &bytes));
    match written {
        Ok(()) => {
            mark_status(path, file.status);
            Outcome::Written {
                agent: file.agent.clone(),
                status: file.status,
                score: file.score,
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Outcome::Failed(Error::input(format!(
            "session {}: {} already exists and is never overwritten (is another reev resuming this run?)",
            file.session_id,
            path.display()
        ))),
        Err(e) => Outcome::Failed(Error::io(&format!("session {}: cannot write", file.session_id), path, e)),
    }
}

/// The session's status as an empty file beside it (`<benchmark>@<attempt>.<status>`), so that
/// `reev status` counts statuses from directory listings without reading session files.
/// Derived data, not fsynced: after a crash a missing marker only makes a status unknown.
fn mark_status(session_path: &Path, status: Status) {
    let marker = session_path.with_extension(status.as_str());
    if let Err(e) = std::fs::File::create(&marker) {
        tracing::debug!("cannot write status marker {}: {e}", marker.display());
    }
}

/// Run the agent and judge the result; `None` when reev was interrupted meanwhile.
fn execute(
    ctx: &Context,
    task: &Task,
    bench: &Benchmark,
    agent: &Agent,
    work: &workdir::Workdir,
    timeout: Duration,
) -> Option<SessionFile> {
    let attempt = task.attempt.to_string();
    let scratch = work.scratch.to_string_lossy().into_owned();
    let events = work.events.to_string_lossy().into_owned();
    let config_dir = ctx.suite.config.dir.to_string_lossy().into_owned();
    let benchmark_dir = bench.dir.to_string_lossy().into_owned();
    let values = [
        ("prompt", bench.prompt.as_str()),
        ("config_dir", config_dir.as_str()),
        ("workdir", scratch.as_str()),
        ("events", events.as_str()),
        ("session_id", task.session_id.as_str()),
        ("benchmark_id", task.benchmark_id.as_str()),
        ("attempt", attempt.as_str()),
        ("agent", task.agent.as_str()),
        ("benchmark_dir", benchmark_dir.as_str()),
    ];
    let argv: Vec<String> = agent
        .command
        .iter()
        .map(|a| agent::expand(a, &values))
        .collect();
    // Containment is prepared first: a sandbox that cannot be had makes the session an error.
    let prepared = sandbox::Prepared::new(agent.sandbox.as_ref(), &work.scratch, &work.events);
    let mut env: Vec<(String, String)> =
        prepared.as_ref().map(|p| p.env.clone()).unwrap_or_default();
    env.extend(
        agent
            .env
            .iter()
            .map(|(k, v)| (k.clone(), agent::expand(v, &values))),
    );
    for (k, v) in [
        ("REEV_SESSION_ID", task.session_id.as_str()),
        ("REEV_RUN_ID", ctx.run_id),
        ("REEV_BENCHMARK_ID", task.benchmark_id.as_str()),
        ("REEV_AGENT", task.agent.as_str()),
        ("REEV_ATTEMPT", attempt.as_str()),
        ("REEV_EVENTS", events.as_str()),
        ("REEV_WORKDIR", scratch.as_str()),
    ] {
        env.push((k.to_string(), v.to_string()));
    }
    // The kernel refuses any single environment string over 128 KiB (MAX_ARG_STRLEN): a longer
    // prompt arrives on stdin (and in argv placeholders, if the agent asks) but not here.
    if bench.prompt.len() <= MAX_ENV_PROMPT {
        env.push(("REEV_PROMPT".to_string(), bench.prompt.clone()));
    }
    let started_at = chrono::Utc::now();
    let counters = crate::machine::Counters::now();
    let ran = match &prepared {
        Ok(p) => process::run(&process::Spawn {
            argv: &argv,
            env: &env,
            cwd: &work.scratch,
            stdin: bench.prompt.as_bytes(),
            timeout,
            grace: ctx.grace,
            cap: OUTPUT_CAP,
            env_clear: p.env_clear,
            plan: p.plan.as_ref(),
        }),
        Err(why) => Err(std::io::Error::other(format!("sandbox: {why}"))),
    };
    let pressure = counters.until(&crate::machine::Counters::now());
    let mut file = SessionFile {
        schema_version: session::SCHEMA_VERSION,
        session_id: task.session_id.clone(),
        run_id: ctx.run_id.to_string(),
        benchmark_id: bench.id.clone(),
        benchmark_sha256: bench.sha256.clone(),
        agent: agent.name.clone(),
        agent_command: agent.command.clone(),
        attempt: task.attempt,
        status: Status::Error,
        score: 0.0,
        pass_threshold: bench.pass_threshold,
        assertions: Vec::new(),
        exit_code: None,
        signal: None,
        error: None,
        started_at: rfc3339(started_at),
        finished_at: rfc3339(started_at),
        duration_ms: 0,
        timeout_ms: timeout.as_millis() as u64,
        cpu_user_ms: 0,
        cpu_system_ms: 0,
        peak_rss_bytes: 0,
        pressure,
        stdout: Output::default(),
        stderr: Output::default(),
        events: Vec::new(),
        events_dropped: 0,
        metrics: Default::default(),
        host: ctx.host.to_string(),
        reev_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let done = match ran {
        Ok(done) => done,
        Err(e) => {
            file.error = Some(format!(
                "cannot start agent `{}` ({}): {e}",
                agent.name, argv[0]
            ));
            file.finished_at = rfc3339(chrono::Utc::now());
            tracing::warn!(session = %task.session_id, "{}", file.error.as_deref().unwrap_or_default());
            return Some(file);
        }
    };
    if done.interrupted {
        return None;
    }
    let trace = events::read(&work.root_dir, workdir::EVENTS);
    // Read before any verifier runs in the same cgroups.
    let limit_hit = prepared.as_ref().ok().and_then(|p| p.verdict(done.signal));
    let skip = if done.timed_out {
        Some("the agent timed out")
    } else if limit_hit.is_some() {
        Some("the agent was stopped at a sandbox limit")
    } else {
        None
    };
    let judged = judge(
        &Judging {
            ctx,
            bench,
            work,
            values: &values,
            env: &env,
            prepared: prepared.as_ref().ok(),
        },
        &done,
        &trace,
        skip,
    );
    if judged.interrupted {
        return None;
    }
    let score = assertions::score(&judged.results);
    file.status = if done.timed_out {
        Status::TimedOut
    } else if limit_hit.is_some() || judged.error.is_some() {
        Status::Error
    } else if score >= bench.pass_threshold {
        Status::Succeeded
    } else {
        Status::Failed
    };
    file.error = if done.timed_out {
        Some(format!(
            "timed out after {} ms; process group killed",
            timeout.as_millis()
        ))
    } else {
        limit_hit.or(judged.error)
    };
    file.score = score;
    file.assertions = judged.results;
    file.exit_code = done.exit_code;
    file.signal = done.signal;
    file.started_at = rfc3339(done.started_at);
    file.finished_at = rfc3339(done.finished_at);
    file.duration_ms = done.wall.as_millis() as u64;
    file.cpu_user_ms = done.user.as_millis() as u64;
    file.cpu_system_ms = done.system.as_millis() as u64;
    file.peak_rss_bytes = done.peak_rss_bytes;
    file.stdout = output(&done.stdout);
    file.stderr = output(&done.stderr);
    file.events = trace.events;
    file.events_dropped = trace.dropped;
    file.metrics = trace.metrics;
    Some(file)
}

/// What judging a session needs besides the agent's result.
struct Judging<'a> {
    ctx: &'a Context<'a>,
    bench: &'a Benchmark,
    work: &'a workdir::Workdir,
    /// The agent's placeholders and environment: verifiers get the same.
    values: &'a [(&'a str, &'a str)],
    env: &'a [(String, String)],
    prepared: Option<&'a sandbox::Prepared>,
}

/// Evaluate every assertion; verifier programs run here, after the agent's output is saved
/// for them (`REEV_STDOUT`, `REEV_STDERR`), unless `skip` says why they must not.
fn judge(
    j: &Judging,
    done: &process::Finished,
    trace: &events::Trace,
    skip: Option<&str>,
) -> assertions::Judgement {
    let has_verifier = j
        .bench
        .assertions
        .iter()
        .any(|a| matches!(a.check, crate::spec::benchmark::Check::Verify(_)));
    // Verifiers find the scratch dir and the saved output by path: an agent that moved its
    // directories and left others (or symlinks) in their place would have them judge those.
    let moved = |dir: &beneath::Dir, path: Option<&Path>| !path.is_some_and(|p| dir.is_at(p));
    let skip = skip.or_else(|| {
        (moved(&j.work.root_dir, j.work.events.parent())
            || moved(&j.work.scratch_dir, Some(&j.work.scratch)))
        .then_some("the agent moved or replaced its session directory or scratch directory")
    });
    let mut env = j.env.to_vec();
    let mut saved = Ok(());
    if has_verifier && skip.is_none() {
        saved = save_output(j.work, done, &mut env)
            .and_then(|()| j.prepared.map_or(Ok(()), sandbox::Prepared::fresh_tmp));
        env.push((
            "REEV_BENCHMARK_DIR".to_string(),
            j.bench.dir.to_string_lossy().into_owned(),
        ));
    }
    let runner = verify::Runner {
        values: j.values,
        env: &env,
        cwd: &j.work.scratch,
        grace: j.ctx.grace,
        env_clear: j.prepared.is_some_and(|p| p.env_clear),
        plan: j.prepared.and_then(|p| p.plan.as_ref()),
    };
    let verifier = match (skip, &saved) {
        (Some(why), _) => Err(why),
        (None, Err(why)) => Err(why.as_str()),
        (None, Ok(())) => Ok(&runner),
    };
    let mut judged = assertions::evaluate(
        &j.bench.assertions,
        &assertions::FinalState {
            stdout: &done.stdout.bytes,
            exit_code: done.exit_code,
            duration: done.wall,
            scratch: &j.work.scratch_dir,
            events: &trace.events,
            unread: trace.unread().as_deref(),
            metrics: &trace.metrics,
            verifier,
        },
    );
    if let Err(why) = saved {
        judged.error = judged.error.or(Some(why));
    }
    judged
}

/// Write the agent's captured stdout and stderr beside its events file (never through a
/// link the agent left there) and name them in `env`.
fn save_output(
    work: &workdir::Workdir,
    done: &process::Finished,
    env: &mut Vec<(String, String)>,
) -> Result<(), String> {
    for (var, name, captured) in [
        ("REEV_STDOUT", workdir::STDOUT, &done.stdout),
        ("REEV_STDERR", workdir::STDERR, &done.stderr),
    ] {
        let path = work.save(name, &captured.bytes).map_err(|e| {
            format!(
                "cannot save the agent's output for its verifiers at {}: {e}",
                work.events.with_file_name(name).display()
            )
        })?;
        env.push((var.to_string(), path.to_string_lossy().into_owned()));
    }
    Ok(())
}

fn output(c: &process::Captured) -> Output {
    Output {
        text: String::from_utf8_lossy(&c.bytes).into_owned(),
        bytes_total: c.total,
        truncated: c.truncated,
    }
}

pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
