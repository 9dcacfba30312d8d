//! Executing sessions: scratch directory, agent process, assertions, write-once session file.

pub mod commit;
pub mod fixture;
pub mod interrupt;
pub mod models;
pub mod port;
pub mod process;
pub mod secrets;
pub mod vars;
pub mod workdir;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::judge::{assertions, events, verify};
use crate::plan::Task;
use crate::run::status_log;
use crate::sandbox::{beneath, prepare as sandbox};
use crate::session::{self, Output, SessionFile, Status};
use crate::spec::{Agent, Benchmark, Suite};
use crate::timestamp::rfc3339;
use fixture::Role;

/// Timeout when neither `--timeout`, the benchmark nor the agent sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest prompt also passed as `REEV_PROMPT`.
pub const MAX_ENV_PROMPT: usize = 100 * 1024;
/// Bytes kept of stdout and of stderr.
pub const OUTPUT_CAP: usize = 1024 * 1024;

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
    /// Absolute paths no session may write (runs tree, database, reports, config, suite):
    /// read-only in every session's mount namespace but `filesystem: host`.
    pub protect: &'a [std::path::PathBuf],
    /// Where written sessions' statuses are recorded (`reev status` reads it).
    pub status_log: &'a status_log::StatusLog,
    /// `--replay`: the run whose cassettes answer the sessions' model calls.
    pub replay: Option<&'a crate::gateway::replay::Source>,
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
    /// `--max-cost` was used up before it started; no file written.
    OverBudget,
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
    /// The session's model calls (`cassettes/...`, named in `file.gateway`) and their bytes,
    /// written just before the session file.
    pub cassette: Option<(PathBuf, Vec<u8>)>,
}

/// Where try `try_number` (from 1) of a planned session is written.
pub fn final_path(run_dir: &Path, task: &Task, try_number: u32) -> PathBuf {
    run_dir.join(session::relative_path(
        &task.agent,
        &task.benchmark_id,
        task.attempt,
        try_number,
    ))
}

/// The effective time limit: `--timeout`, else the longer of benchmark and agent, else 300 s.
/// A benchmark's limit is about its task, an agent's about how it works (an LLM agent doing
/// several tool steps, each a model request, needs longer than a script): an agent that
/// declares a longer limit gets it, and a benchmark that needs longer than an agent's usual
/// limit gets that. Only `--timeout` cuts both. Parsers keep every limit in range; the clamp
/// also covers a hand-edited manifest on resume, so `Instant + timeout` can never overflow.
pub fn timeout_for(cli: Option<Duration>, b: &Benchmark, a: &Agent) -> Duration {
    cli.or(match (b.timeout, a.timeout) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    })
    .unwrap_or(DEFAULT_TIMEOUT)
    .clamp(crate::duration::MIN_TIMEOUT, crate::duration::MAX)
}

/// Run try `try_number` (from 1) of a planned session.
pub fn run_session(ctx: &Context, planned: &Task, try_number: u32) -> Outcome {
    if interrupt::requested().is_some() {
        return Outcome::NotStarted;
    }
    let task = &Task {
        session_id: crate::plan::try_session_id(&planned.session_id, try_number),
        ..planned.clone()
    };
    let (Some(bench), Some(agent)) = (
        ctx.suite.benchmark(&task.benchmark_id),
        ctx.suite.agent(&task.agent),
    ) else {
        return Outcome::Failed(Error::input(format!(
            "session {}: benchmark `{}` or agent `{}` is not in the suite",
            task.session_id, task.benchmark_id, task.agent
        )));
    };
    let file_name = session::try_file_name(
        &format!("{}@{}", task.benchmark_id, task.attempt),
        try_number,
    );
    let stem = file_name.strip_suffix(".json").unwrap_or(&file_name);
    let root = workdir::Workdir::location(ctx.area, ctx.keep_workdirs, &task.agent, stem);
    let work = match workdir::Workdir::prepare(ctx.area, ctx.run_dir, root, &bench.initial_state) {
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
    let Some((mut file, cassette)) = execute(ctx, task, bench, agent, &work, timeout, try_number)
    else {
        return Outcome::Interrupted;
    };
    file.try_number = try_number;
    Outcome::Finished(Box::new(Finished {
        path: final_path(ctx.run_dir, task, try_number),
        file,
        cassette: cassette.map(|bytes| {
            (
                ctx.run_dir.join(models::cassette_path(task, try_number)),
                bytes,
            )
        }),
    }))
}

/// Write the session's cassette (its model calls), before its session file: a session file
/// always finds the cassette it names. A cassette without its session file is what a crash
/// left: the session runs again and its new cassette replaces that one (nothing refers to it).
fn write_cassette(done: &Finished) -> Result<(), Outcome> {
    let Some((cassette, bytes)) = &done.cassette else {
        return Ok(());
    };
    let written = place_cassette(cassette, &done.path, || session::write_new(cassette, bytes));
    written.map_err(|e| {
        Outcome::Failed(Error::io(
            &format!(
                "session {}: cannot write its cassette",
                done.file.session_id
            ),
            cassette,
            e,
        ))
    })
}

/// Put a session's cassette in place with `place` (a write or a link, never replacing a
/// file). A cassette already there without its session file is what a crash left between
/// the two (the session ran again): it is removed and `place` tried once more.
fn place_cassette(
    cassette: &std::path::Path,
    session: &std::path::Path,
    place: impl Fn() -> std::io::Result<()>,
) -> std::io::Result<()> {
    match place() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !session.exists() => {
            std::fs::remove_file(cassette)?;
            place()
        }
        other => other,
    }
}

/// Write one finished session's file (fsynced, never replacing one), then record its status
/// in the run's status log. Sessions finishing together are written as a batch instead
/// ([`commit::write_batch`]); this is for one on its own (a try to be retried).
pub fn write_session(done: &Finished, log: &status_log::StatusLog) -> Outcome {
    if let Err(failed) = write_cassette(done) {
        return failed;
    }
    let written = serde_json::to_vec_pretty(&done.file)
        .map_err(std::io::Error::other)
        .and_then(|bytes| session::write_new(&done.path, &bytes));
    match written {
        Ok(()) => commit::written(done, log),
        Err(e) => commit::failed(done, e),
    }
}

/// Exit status with which an agent says it could not be judged (its model API failed, ...):
/// EX_TEMPFAIL from sysexits.h. The session is `error`, and `--retry-errors` tries it again.
pub const EX_TEMPFAIL: i32 = 75;

/// Reserve the port, run setup, agent and teardown, and judge; `None` when reev was
/// interrupted meanwhile.
fn execute(
    ctx: &Context,
    task: &Task,
    bench: &Benchmark,
    agent: &Agent,
    work: &workdir::Workdir,
    timeout: Duration,
    try_number: u32,
) -> Option<(SessionFile, Option<Vec<u8>>)> {
    let mut file = blank_file(ctx, task, bench, agent, timeout);
    let mut port = match port::Reservation::new() {
        Ok(p) => p,
        Err(e) => {
            let why = format!("cannot reserve a TCP port for the session: {e}");
            return not_started(file, task, why);
        }
    };
    let listener = match models::register(ctx, task, agent, try_number) {
        Ok(h) => h,
        Err(e) => return not_started(file, task, format!("agent `{}`: {e}", agent.name)),
    };
    file.port = Some(port.port);
    let vars = vars::Vars {
        attempt: task.attempt.to_string(),
        scratch: work.scratch.to_string_lossy().into_owned(),
        events: work.events.to_string_lossy().into_owned(),
        config_dir: ctx.suite.config.dir.to_string_lossy().into_owned(),
        port: port.port.to_string(),
        benchmark_dir: bench.dir.to_string_lossy().into_owned(),
        gateway_url: listener.gateway_url().unwrap_or_default(),
    };
    let values = vars.agent_values(task, bench, agent);
    let argv: Vec<String> = vars::expand_all(&agent.command, &values);
    // Containment is prepared first: a sandbox that cannot be had makes the session an error.
    let prepared = match sandbox::Prepared::new(agent.sandbox.as_ref(), work, ctx.protect) {
        Ok(p) => p,
        Err(why) => {
            let why = format!(
                "cannot start agent `{}` ({}): sandbox: {why}",
                agent.name, argv[0]
            );
            return not_started(file, task, why);
        }
    };
    let env = vars::environment(ctx, task, bench, agent, &vars, prepared.env.clone());
    let launch = fixture::Launch {
        env: &env,
        cwd: &work.scratch,
        timeout,
        grace: ctx.grace,
        env_clear: prepared.env_clear,
        plan: prepared.plan.as_ref(),
    };
    // The session's own processes may bind the port from here on (see `port`).
    port.release();
    let run = Session {
        bench,
        agent,
        work,
        launch: &launch,
        prepared: &prepared,
        values: &values,
        prices: &ctx.suite.config.prices,
        listener_env: &listener.env(),
        listener: &listener,
    };
    let file = run.fixtures_and_agent(&argv, file)?;
    Some(with_cassette(ctx, task, try_number, &listener, file))
}

/// A session that could not start: an `error`, saying `why` (also in reev's log).
fn not_started(
    mut file: SessionFile,
    task: &Task,
    why: String,
) -> Option<(SessionFile, Option<Vec<u8>>)> {
    tracing::warn!(session = %task.session_id, "{why}");
    file.error = Some(why);
    Some((file, None))
}

/// The finished session with what the gateway recorded (its calls summed into the file, the
/// cassette's bytes beside it); a cassette that cannot be made makes the session an `error`.
fn with_cassette(
    ctx: &Context,
    task: &Task,
    try_number: u32,
    listener: &crate::listener::Handle,
    mut file: SessionFile,
) -> (SessionFile, Option<Vec<u8>>) {
    let mut cassette = None;
    if let Some(rec) = listener.finish().gateway {
        let rel = models::cassette_path(task, try_number);
        match models::settle(&mut file, rec, &rel, &ctx.suite.config.prices) {
            Ok(bytes) => cassette = Some(bytes),
            Err(e) => {
                file.status = Status::Error;
                file.error = Some(e.to_string());
            }
        }
    }
    if file.status == Status::Error {
        tracing::warn!(session = %task.session_id, "{}", file.error.as_deref().unwrap_or_default());
    }
    (file, cassette)
}

/// One session's processes, ready to start.
struct Session<'a> {
    bench: &'a Benchmark,
    agent: &'a Agent,
    work: &'a workdir::Workdir,
    launch: &'a fixture::Launch<'a>,
    prepared: &'a sandbox::Prepared,
    values: &'a [(&'a str, &'a str)],
    prices: &'a crate::spec::prices::Prices,
    /// The agent's own variables from the run's listener (`OPENAI_BASE_URL`, `TRACEPARENT`...).
    listener_env: &'a [(String, String)],
    /// Its registration on the listener: the spans it sent over OTLP are taken from there.
    listener: &'a crate::listener::Handle,
}

impl Session<'_> {
    /// Setup, the agent unless setup failed, teardown whatever happened (a SIGINT/SIGTERM
    /// included: what setup made must not outlive the session), then the setup's process
    /// group killed; `None` when reev was interrupted meanwhile.
    fn fixtures_and_agent(&self, argv: &[String], file: SessionFile) -> Option<SessionFile> {
        let (bench, launch) = (self.bench, self.launch);
        let mut setup = bench
            .setup
            .as_ref()
            .map(|s| fixture::run(launch, vars::expand_all(s, self.values), Role::Setup));
        let stopped = setup.as_ref().is_some_and(|s| s.interrupted);
        let judged = if stopped {
            None
        } else if setup.as_ref().is_none_or(|s| s.record.ok()) {
            run_agent(self, argv, file)
        } else {
            Some(file)
        };
        // The teardown runs through a stop (only a second signal kills it): it undoes what
        // setup made outside the session's processes (a container, a file, a cloud resource).
        let teardown = bench
            .teardown
            .as_ref()
            .map(|t| fixture::run(launch, vars::expand_all(t, self.values), Role::Teardown));
        if let Some(group) = setup.as_mut().and_then(|s| s.group.take()) {
            process::kill_group(group);
        }
        let mut file = judged?;
        if let Some(s) = setup {
            if !s.record.ok() {
                file.status = Status::Error;
                file.error = Some(format!(
                    "setup {}; the agent was not run",
                    s.record.failure()
                ));
            }
            file.setup = Some(s.record);
        }
        if let Some(t) = teardown {
            file.teardown = Some(t.record);
        }
        Some(file)
    }
}

/// The session's record before anything ran: `error`, nothing measured.
fn blank_file(
    ctx: &Context,
    task: &Task,
    bench: &Benchmark,
    agent: &Agent,
    timeout: Duration,
) -> SessionFile {
    let now = rfc3339(chrono::Utc::now());
    SessionFile {
        schema_version: session::SCHEMA_VERSION,
        session_id: task.session_id.clone(),
        run_id: ctx.run_id.to_string(),
        benchmark_id: bench.id.clone(),
        benchmark_sha256: bench.sha256.clone(),
        agent: agent.name.clone(),
        agent_command: agent.command.clone(),
        matrix: agent.matrix.iter().cloned().collect(),
        attempt: task.attempt,
        status: Status::Error,
        score: 0.0,
        pass_threshold: bench.pass_threshold,
        assertions: Vec::new(),
        exit_code: None,
        signal: None,
        error: None,
        started_at: now.clone(),
        finished_at: now,
        duration_ms: 0,
        timeout_ms: timeout.as_millis() as u64,
        cpu_user_ms: 0,
        cpu_system_ms: 0,
        peak_rss_bytes: 0,
        pressure: None,
        stdout: Output::default(),
        stderr: Output::default(),
        events: Vec::new(),
        events_dropped: 0,
        metrics: Default::default(),
        input_tokens: None,
        output_tokens: None,
        cost_usd: None,
        host: ctx.host.to_string(),
        reev_version: env!("CARGO_PKG_VERSION").to_string(),
        try_number: 1,
        port: None,
        setup: None,
        teardown: None,
        spans: Vec::new(),
        otlp: Default::default(),
        gateway: None,
    }
}

/// Run the agent and judge what it left; `None` when reev was interrupted meanwhile.
fn run_agent(s: &Session, argv: &[String], mut file: SessionFile) -> Option<SessionFile> {
    let (bench, agent, launch) = (s.bench, s.agent, s.launch);
    let started_at = chrono::Utc::now();
    file.started_at = rfc3339(started_at);
    let counters = crate::machine::Counters::now();
    let env = [launch.env, s.listener_env].concat();
    let ran = process::run(&process::Spawn {
        argv,
        env: &env,
        cwd: launch.cwd,
        stdin: bench.prompt.as_bytes(),
        timeout: launch.timeout,
        grace: launch.grace,
        cap: OUTPUT_CAP,
        env_clear: launch.env_clear,
        plan: launch.plan,
        linger: false,
        through_stop: false,
    });
    file.pressure = counters.until(&crate::machine::Counters::now());
    let done = match ran {
        Ok(done) => done,
        Err(e) => {
            file.error = Some(format!(
                "cannot start agent `{}` ({}): {e}",
                agent.name, argv[0]
            ));
            file.finished_at = rfc3339(chrono::Utc::now());
            return Some(file);
        }
    };
    if done.interrupted {
        return None;
    }
    let (trace, received) = judge(s, &mut file, &done)?;
    file.events = trace.events;
    file.events_dropped = trace.dropped;
    file.metrics = trace.metrics;
    file.spans = received.spans;
    file.otlp = received.stats;
    record_usage(&mut file, &trace.usage, s.prices);
    Some(file)
}

/// The session's trace: its events file read in the agent's `events_format`, merged with
/// the spans it sent over OTLP (taken once its requests in flight are done, after at most the
/// listener's grace); returns the spans of both.
fn read_trace(s: &Session) -> (events::Trace, crate::otlp::Received) {
    let (mut trace, mut received) =
        crate::otlp::formats::read(&s.work.root_dir, workdir::EVENTS, s.agent.events_format);
    let sent = s.listener.finish_otlp();
    crate::otlp::merge(&mut trace, &sent);
    received.absorb(sent);
    (trace, received)
}

/// The agent's result, assertions, score and status into the session record; returns the
/// agent's events (and their tokens) and spans for the caller to record, `None` when reev
/// was interrupted while a verifier ran.
fn judge(
    s: &Session,
    file: &mut SessionFile,
    done: &process::Finished,
) -> Option<(events::Trace, crate::otlp::Received)> {
    let bench = s.bench;
    let (trace, received) = read_trace(s);
    // Read before any verifier runs in the same cgroups.
    let limit_hit = s.prepared.verdict(done.signal);
    let tempfail = done.exit_code == Some(EX_TEMPFAIL);
    let skip = if done.timed_out {
        Some("the agent timed out")
    } else if limit_hit.is_some() {
        Some("the agent was stopped at a sandbox limit")
    } else if tempfail {
        Some("the agent reported a temporary failure")
    } else {
        None
    };
    let judged = run_checks(s, done, &trace, skip);
    if judged.interrupted {
        return None;
    }
    let score = assertions::score(&judged.results);
    file.status = if done.timed_out {
        Status::TimedOut
    } else if limit_hit.is_some() || tempfail || judged.error.is_some() {
        Status::Error
    } else if score >= bench.pass_threshold {
        Status::Succeeded
    } else {
        Status::Failed
    };
    file.error = if done.timed_out {
        Some(format!(
            "timed out after {} ms; process group killed",
            file.timeout_ms
        ))
    } else if tempfail && limit_hit.is_none() {
        Some(format!(
            "the agent reported a temporary failure (exit {EX_TEMPFAIL}, EX_TEMPFAIL): not judged"
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
    Some((trace, received))
}

/// The session's tokens, summed over its model requests, and their cost by `prices` now (so
/// the file stays true when prices change later); all absent without a model request.
/// Sums saturate at [`crate::spec::prices::MAX_TOKENS`] (the database's BIGINT); a session that reached it gets an
/// `error` event saying so after its trace, since its counts are then a floor, not a total.
fn record_usage(
    file: &mut SessionFile,
    usage: &std::collections::BTreeMap<String, crate::spec::prices::Tokens>,
    prices: &crate::spec::prices::Prices,
) {
    use crate::spec::prices::{add_tokens, MAX_TOKENS};
    if usage.is_empty() {
        return;
    }
    let input = usage.values().fold(0, |sum, t| add_tokens(sum, t.input));
    let output = usage.values().fold(0, |sum, t| add_tokens(sum, t.output));
    file.input_tokens = Some(input);
    file.output_tokens = Some(output);
    file.cost_usd = prices.cost(usage);
    if input == MAX_TOKENS || output == MAX_TOKENS {
        file.events.push(session::Event {
            seq: file.events.last().map_or(0, |e| e.seq) + 1,
            kind: session::EventKind::Error,
            data: None,
            error: Some(format!(
                "token counts reached {MAX_TOKENS}, the most reev records: input_tokens and \
                 output_tokens are saturated there, not exact"
            )),
            raw: None,
        });
    }
}

/// Evaluate every assertion; verifier programs run here, after the agent's output is saved
/// for them (`REEV_STDOUT`, `REEV_STDERR`), unless `skip` says why they must not. They get
/// the agent's placeholders, environment and sandbox.
fn run_checks(
    s: &Session,
    done: &process::Finished,
    trace: &events::Trace,
    skip: Option<&str>,
) -> assertions::Judgement {
    let (bench, work, launch) = (s.bench, s.work, s.launch);
    let has_verifier = bench
        .assertions
        .iter()
        .any(|a| matches!(a.check, crate::spec::benchmark::Check::Verify(_)));
    // Verifiers find the scratch dir and the saved output by path: an agent that moved its
    // directories and left others (or symlinks) in their place would have them judge those.
    let moved =
        |dir: &beneath::Dir, path: Option<&Path>| !path.is_some_and(|p| dir.is_reached_by(p));
    let skip = skip.or_else(|| {
        (moved(&work.root_dir, work.events.parent())
            || moved(&work.scratch_dir, Some(&work.scratch)))
        .then_some("the agent moved or replaced its session directory or scratch directory")
    });
    let mut env = launch.env.to_vec();
    let mut saved = Ok(());
    if has_verifier && skip.is_none() {
        saved = save_output(work, done, &mut env)
            .and_then(|()| s.prepared.fresh_tmp(work).map_err(|e| e.to_string()));
    }
    let runner = verify::Runner {
        values: s.values,
        env: &env,
        cwd: &work.scratch,
        grace: launch.grace,
        env_clear: launch.env_clear,
        plan: launch.plan,
    };
    let verifier = match (skip, &saved) {
        (Some(why), _) => Err(why),
        (None, Err(why)) => Err(why.as_str()),
        (None, Ok(())) => Ok(&runner),
    };
    let mut judged = assertions::evaluate(
        &bench.assertions,
        &assertions::FinalState {
            stdout: &done.stdout.bytes,
            exit_code: done.exit_code,
            duration: done.wall,
            scratch: &work.scratch_dir,
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
