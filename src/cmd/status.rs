//! `reev status [RUN_ID]`: the runs in a runs tree and how far each got, from files alone —
//! manifests, directory listings and lock files; never the database and never the contents
//! of a session file, so it answers at once for a thousand runs and while runs are going.
//!
//! Counts per status come from the run's status log (`status.log`, one line per session file
//! written, see `run::status_log`), or from the empty marker files older reev versions wrote
//! beside each session file (`<benchmark>@<attempt>.<status>`); a session file that neither
//! records (a crash in between) counts as done, status unknown.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::manifest;
use crate::plan::{Selection, Shard};
use crate::run::budget;
use crate::session::Status;
use crate::spec::check_name;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// One line per run, then how to finish the incomplete ones.
    Table,
    /// One JSON array of runs, for scripts.
    Json,
}

#[derive(Debug, Clone)]
pub struct StatusOptions {
    pub run_id: Option<String>,
    pub runs_dir: PathBuf,
    pub format: StatusFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// A reev holds the run's (or a shard's) lock.
    Running,
    /// Every planned session of every shard has its file.
    Complete,
    /// Nobody is at work and sessions or shards are missing: resume it.
    Incomplete,
    /// Incomplete because `--max-cost` stopped launching sessions (a `budget-stop*.json`
    /// note in the run directory); resume it with a larger budget, or none.
    StoppedByBudget,
    /// Its manifest or directories cannot be read (`problem` says why); the other runs are
    /// listed all the same.
    Unreadable,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Complete => "complete",
            State::Incomplete => "incomplete",
            State::StoppedByBudget => "stopped_by_budget",
            State::Unreadable => "unreadable",
        }
    }
}

/// A reev at work on the run, from its lock file.
#[derive(Debug, Clone, Serialize)]
pub struct Holder {
    /// K/N, or null for an unsharded run.
    pub shard: Option<String>,
    pub pid: Option<u32>,
    pub host: Option<String>,
    pub since: Option<String>,
    /// Estimated end (RFC 3339), from the rate since `since`; null until a session finished.
    pub eta: Option<String>,
    /// Sessions it set out to run (the lock file's second line).
    #[serde(skip)]
    to_run: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    pub run_id: String,
    pub created_at: Option<String>,
    pub state: State,
    /// Sessions of the whole run (every shard); null when no manifest says.
    pub planned: Option<u64>,
    pub done: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub error: u64,
    /// N, when the run is split into shards.
    pub shard_count: Option<u32>,
    pub shards_present: Vec<u32>,
    pub shards_missing: Vec<u32>,
    pub holders: Vec<Holder>,
    /// Sessions whose latest try is `error` with fewer tries than the run's `--retry-errors`
    /// allows: cut short by a signal or the budget, they still owe their retries.
    pub retries_owed: u64,
    /// The exact commands that finish the run, when it is incomplete.
    pub resume: Vec<String>,
    /// Why the run is `unreadable` (the file and the error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl RunStatus {
    /// A run that could not be read: its id and why.
    fn unreadable(run_id: &str, problem: &Error) -> Self {
        RunStatus {
            problem: Some(problem.message.clone()),
            ..RunStatus::blank(run_id, State::Unreadable)
        }
    }

    /// `run_id` in `state`, nothing counted yet.
    fn blank(run_id: &str, state: State) -> Self {
        RunStatus {
            run_id: run_id.to_string(),
            created_at: None,
            state,
            planned: None,
            done: 0,
            succeeded: 0,
            failed: 0,
            timed_out: 0,
            error: 0,
            shard_count: None,
            shards_present: Vec::new(),
            shards_missing: Vec::new(),
            holders: Vec::new(),
            retries_owed: 0,
            resume: Vec::new(),
            problem: None,
        }
    }
}

/// What `status` needs of a manifest (the rest is skipped unread by serde).
#[derive(Debug, Deserialize)]
struct LightManifest {
    created_at: String,
    selection: Selection,
    #[serde(default)]
    run_planned: BTreeMap<String, u64>,
    plan: Vec<LightTask>,
    #[serde(default)]
    command_line: Vec<String>,
    #[serde(default)]
    suite: Option<manifest::SuiteRecord>,
    #[serde(default)]
    retry_errors: u32,
}

#[derive(Debug, Deserialize)]
struct LightTask {
    benchmark_id: String,
    agent: String,
    attempt: u32,
}

/// Prints every run it can read. A run it cannot read (a corrupt manifest, `sessions` that
/// is not a directory) is listed as `unreadable` with its problem, and the exit code is
/// that problem's kind — 2 for invalid files, 3 for I/O errors (the worse of them) — after
/// everything else was printed.
pub fn status(opts: StatusOptions) -> Result<()> {
    let (runs, problems) = match &opts.run_id {
        Some(id) => {
            check_name("run id", id).map_err(Error::input)?;
            let dir = opts.runs_dir.join(id);
            if !dir.is_dir() {
                return Err(Error::input(format!("no run at {}", dir.display())));
            }
            match run_status(&opts.runs_dir, id) {
                Ok(Some(s)) => (vec![s], Vec::new()),
                Ok(None) => {
                    return Err(Error::input(format!(
                        "{} has no run manifest",
                        dir.display()
                    )))
                }
                Err(e) => (vec![RunStatus::unreadable(id, &e)], vec![e]),
            }
        }
        None => all_runs(&opts.runs_dir)?,
    };
    match opts.format {
        StatusFormat::Json => {
            let text = serde_json::to_string_pretty(&runs)
                .map_err(|e| Error::env(format!("cannot encode status: {e}")))?;
            super::print(&format!("{text}\n"))?
        }
        StatusFormat::Table => super::print(&table(&runs))?,
    }
    let worst = problems.into_iter().fold(None, super::batch::worse);
    match worst {
        None => Ok(()),
        Some(mut e) => {
            e.message
                .push_str("\nthe other runs are listed; fix or move the unreadable ones");
            Err(e)
        }
    }
}

/// Every run under `runs_dir`, newest first, and the problems of those that cannot be read.
fn all_runs(runs_dir: &Path) -> Result<(Vec<RunStatus>, Vec<Error>)> {
    let entries = match std::fs::read_dir(runs_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(Error::io("cannot list", runs_dir, e)),
    };
    let mut runs = Vec::new();
    let mut problems = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if check_name("run id", &name).is_err() || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        match run_status(runs_dir, &name) {
            Ok(Some(s)) => runs.push(s),
            Ok(None) => {}
            Err(e) => {
                runs.push(RunStatus::unreadable(&name, &e));
                problems.push(Error::new(e.kind, format!("run {name}: {}", e.chain())));
            }
        }
    }
    runs.sort_by(|a, b| (&b.created_at, &b.run_id).cmp(&(&a.created_at, &a.run_id)));
    Ok((runs, problems))
}

/// One run's status; `None` for a directory that holds no manifest and no held lock.
fn run_status(runs_dir: &Path, run_id: &str) -> Result<Option<RunStatus>> {
    let dir = runs_dir.join(run_id);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io("cannot list", &dir, e))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let mut manifests: Vec<(Option<Shard>, LightManifest)> = Vec::new();
    for name in names.iter().filter(|n| manifest::is_manifest_name(n)) {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        let m: LightManifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(format!("{}: invalid run manifest: {e}", path.display())))?;
        manifests.push((manifest::parse_shard_name(name), m));
    }
    let holders = holders(&dir, &names);
    if manifests.is_empty() && holders.is_empty() {
        return Ok(None);
    }
    let listing = list_sessions(&dir)?;
    let mut s = RunStatus {
        created_at: manifests.iter().map(|(_, m)| m.created_at.clone()).min(),
        shard_count: manifests
            .iter()
            .filter_map(|(s, _)| s.map(|s| s.count))
            .max(),
        shards_present: manifests
            .iter()
            .filter_map(|(s, _)| s.map(|s| s.index))
            .collect(),
        ..RunStatus::blank(run_id, State::Incomplete)
    };
    s.shards_present.sort_unstable();
    let logged = crate::run::status_log::read(&dir, &names);
    count_statuses(&listing, &logged, &mut s);
    if let Some(n) = s.shard_count {
        s.shards_missing = (1..=n).filter(|k| !s.shards_present.contains(k)).collect();
    }
    s.planned = planned_total(&manifests, s.shard_count);
    // Per manifest (shard): how many of its planned sessions have a file.
    let mut unfinished: Vec<Option<Shard>> = Vec::new();
    let mut progress: BTreeMap<Option<String>, (u64, u64)> = BTreeMap::new();
    for (shard, m) in &manifests {
        let done = m
            .plan
            .iter()
            .filter(|t| {
                listing.get(&t.agent).is_some_and(|files| {
                    files.contains(&format!("{}@{}.json", t.benchmark_id, t.attempt))
                })
            })
            .count() as u64;
        let planned = m.plan.len() as u64;
        let owed = m
            .plan
            .iter()
            .filter(|t| owes_retries(&listing, &logged, t, m.retry_errors))
            .count() as u64;
        s.retries_owed += owed;
        if done < planned || owed > 0 {
            unfinished.push(*shard);
        }
        progress.insert(shard.map(|s| s.to_string()), (planned, done));
    }
    s.holders = holders
        .into_iter()
        .map(|h| with_eta(h, &progress))
        .collect();
    s.state = if !s.holders.is_empty() {
        State::Running
    } else if unfinished.is_empty() && s.shards_missing.is_empty() {
        State::Complete
    } else if names.iter().any(|n| budget::is_note_name(n)) {
        State::StoppedByBudget
    } else {
        State::Incomplete
    };
    if matches!(s.state, State::Incomplete | State::StoppedByBudget) {
        s.resume = resume_commands(runs_dir, run_id, &unfinished, &s.shards_missing, &manifests);
    }
    Ok(Some(s))
}

/// Did `t` end `error` on a try before its last (`retry_errors` allows 1 + that many)? A
/// signal or the budget cut it short between two tries: the run still owes its retries.
/// (Its latest try's status comes from the run's status log, like the counts.)
fn owes_retries(
    listing: &BTreeMap<String, BTreeSet<String>>,
    logged: &HashMap<(String, String), Status>,
    t: &LightTask,
    retry_errors: u32,
) -> bool {
    let Some(files) = listing.get(&t.agent).filter(|_| retry_errors > 0) else {
        return false;
    };
    let base = format!("{}@{}", t.benchmark_id, t.attempt);
    let mut k = 0;
    while files.contains(&crate::session::try_file_name(&base, k + 1)) {
        k += 1;
    }
    let Some(stem) = crate::session::try_file_name(&base, k)
        .strip_suffix(".json")
        .map(str::to_string)
    else {
        return false;
    };
    k >= 1
        && k < 1 + retry_errors
        && session_status(&t.agent, &stem, files, logged) == Some(Status::Error)
}

/// Sessions planned for the whole run: the manifests' `run_planned`, else (older manifests)
/// the sum of the plans present, when no shard is missing.
fn planned_total(manifests: &[(Option<Shard>, LightManifest)], shards: Option<u32>) -> Option<u64> {
    if let Some((_, m)) = manifests.iter().find(|(_, m)| !m.run_planned.is_empty()) {
        return Some(m.run_planned.values().sum());
    }
    let present = manifests.len() as u32;
    ((manifests.len() == 1 && shards.is_none()) || shards == Some(present))
        .then(|| manifests.iter().map(|(_, m)| m.plan.len() as u64).sum())
}

/// Agent -> file names in `sessions/<agent>/`: one listing per agent.
fn list_sessions(run_dir: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let sessions = run_dir.join("sessions");
    let mut out = BTreeMap::new();
    let agents = match std::fs::read_dir(&sessions) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        // A damaged run (not a failing disk): invalid input, like a corrupt manifest.
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(Error::input(format!(
                "{} is not a directory",
                sessions.display()
            )))
        }
        Err(e) => return Err(Error::io("cannot list", &sessions, e)),
    };
    for agent in agents.flatten() {
        let Ok(name) = agent.file_name().into_string() else {
            continue;
        };
        if !agent.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = agent.path();
        let files: BTreeSet<String> = std::fs::read_dir(&path)
            .map_err(|e| Error::io("cannot list", &path, e))?
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.insert(name, files);
    }
    Ok(out)
}

/// Done = session files; per status = the status log, or the markers of older runs.
fn count_statuses(
    listing: &BTreeMap<String, BTreeSet<String>>,
    logged: &HashMap<(String, String), Status>,
    s: &mut RunStatus,
) {
    for (agent, files) in listing {
        for f in files {
            if f.starts_with('.') {
                continue;
            }
            if let Some(stem) = f.strip_suffix(".json") {
                // A session counts once, by its latest try (tries are written in order).
                let (base, k) = crate::session::split_try(stem);
                if files.contains(&crate::session::try_file_name(base, k + 1)) {
                    continue;
                }
                s.done += 1;
                match session_status(agent, stem, files, logged) {
                    Some(Status::Succeeded) => s.succeeded += 1,
                    Some(Status::Failed) => s.failed += 1,
                    Some(Status::TimedOut) => s.timed_out += 1,
                    Some(Status::Error) => s.error += 1,
                    None => {}
                }
            }
        }
    }
}

/// The status of the session file `<agent>/<stem>.json`: from the status log, else from the
/// marker file an older reev wrote beside it; `None` when neither records it.
fn session_status(
    agent: &str,
    stem: &str,
    files: &BTreeSet<String>,
    logged: &HashMap<(String, String), Status>,
) -> Option<Status> {
    if let Some(st) = logged.get(&(agent.to_string(), stem.to_string())) {
        return Some(*st);
    }
    [
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Error,
    ]
    .into_iter()
    .find(|st| files.contains(&format!("{stem}.{}", st.as_str())))
}

/// The held locks among the run directory's `.lock` and `.lock.shard-K-of-N` files.
fn holders(dir: &Path, names: &[String]) -> Vec<Holder> {
    let mut out = Vec::new();
    for name in names {
        let shard = if name == ".lock" {
            None
        } else if let Some(rest) = name.strip_prefix(".lock.shard-") {
            match rest
                .split_once("-of-")
                .and_then(|(k, n)| format!("{k}/{n}").parse::<Shard>().ok())
            {
                Some(s) => Some(s.to_string()),
                None => continue,
            }
        } else {
            continue;
        };
        let path = dir.join(name);
        if crate::lock::is_held(&path) != Some(true) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut h = parse_holder(&text);
        h.shard = shard;
        out.push(h);
    }
    out
}

/// "held by pid P on HOST since T" (see `lock::acquire`), then "sessions: P planned, T to
/// run" (see `cmd::run::run`).
fn parse_holder(text: &str) -> Holder {
    let first = text.lines().next().unwrap_or_default();
    let to_run = text
        .lines()
        .find_map(|l| l.strip_prefix("sessions: "))
        .and_then(|l| l.split_once(" planned, "))
        .and_then(|(_, rest)| rest.strip_suffix(" to run"))
        .and_then(|n| n.trim().parse().ok());
    let word_after = |key: &str| {
        first
            .split_once(key)
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .map(str::to_string)
    };
    Holder {
        shard: None,
        pid: word_after("pid ").and_then(|p| p.parse().ok()),
        host: word_after(" on "),
        since: word_after(" since "),
        eta: None,
        to_run,
    }
}

/// ETA from the holder's rate: the sessions it finished since it started (its lock file
/// says how many it set out to run) over the time since, applied to what is left.
fn with_eta(mut h: Holder, progress: &BTreeMap<Option<String>, (u64, u64)>) -> Holder {
    let (Some(&(planned, done)), Some(to_run)) = (progress.get(&h.shard), h.to_run) else {
        return h;
    };
    let Some(since) = h
        .since
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    else {
        return h;
    };
    let remaining = planned.saturating_sub(done);
    let finished = to_run.saturating_sub(remaining);
    let now = chrono::Utc::now();
    let elapsed = (now - since.with_timezone(&chrono::Utc)).num_milliseconds();
    if finished == 0 || elapsed <= 0 {
        return h;
    }
    let ms = elapsed as f64 / finished as f64 * remaining as f64;
    h.eta = Some(crate::timestamp::rfc3339(
        now + chrono::Duration::milliseconds(ms as i64),
    ));
    h
}

/// Commands that finish the run: resume each unfinished shard (or the run), as the `reev
/// batch` that started it when one did; start each shard that never started with the
/// selection the others recorded. Each names the config and benchmarks the run used.
fn resume_commands(
    runs_dir: &Path,
    run_id: &str,
    unfinished: &[Option<Shard>],
    missing: &[u32],
    manifests: &[(Option<Shard>, LightManifest)],
) -> Vec<String> {
    let command = |m: &LightManifest, shard: Option<Shard>, start: Option<Selection>| {
        super::resume::Resume {
            run_id: run_id.to_string(),
            shard,
            runs_dir: runs_dir.to_path_buf(),
            config: m.suite.as_ref().map(|s| s.config.clone()),
            benchmarks: m.suite.as_ref().map(|s| s.benchmarks.clone()),
            retry_errors: m.retry_errors,
            max_cost: None,
            batch: (start.is_none() && super::resume::is_batch(&m.command_line))
                .then(|| m.command_line.clone()),
            start,
        }
        .render()
    };
    let mut out: Vec<String> = unfinished
        .iter()
        .filter_map(|shard| manifests.iter().find(|(s, _)| s == shard))
        .map(|(shard, m)| command(m, *shard, None))
        .collect();
    if let Some((Some(any), m)) = manifests.first() {
        for &k in missing {
            let shard = Shard {
                index: k,
                count: any.count,
            };
            out.push(command(m, Some(shard), Some(m.selection.clone())));
        }
    }
    out
}

/// The table printed for people: one line per run, then who runs it or how to finish it.
fn table(runs: &[RunStatus]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    // As wide as the longest state shown (`stopped_by_budget` is longer than the others).
    let w = runs
        .iter()
        .map(|r| r.state.as_str().len())
        .max()
        .unwrap_or(0)
        .max(10);
    // As wide as the longest run id (Kubernetes' `k8s-<uid>` ids are 40 characters).
    let id_w = runs
        .iter()
        .map(|r| r.run_id.len())
        .max()
        .unwrap_or(0)
        .max(32);
    let _ = writeln!(
        out,
        "{:<id_w$} {:<w$} {:>7} {:>6} {:>9} {:>6} {:>9} {:>5} {:>7}",
        "run_id", "state", "planned", "done", "succeeded", "failed", "timed_out", "error", "shards"
    );
    for r in runs {
        let shards = match r.shard_count {
            Some(n) => format!("{}/{n}", r.shards_present.len()),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<id_w$} {:<w$} {:>7} {:>6} {:>9} {:>6} {:>9} {:>5} {:>7}",
            r.run_id,
            r.state.as_str(),
            r.planned
                .map(|p| p.to_string())
                .unwrap_or_else(|| "?".into()),
            r.done,
            r.succeeded,
            r.failed,
            r.timed_out,
            r.error,
            shards
        );
        for h in &r.holders {
            let _ = writeln!(
                out,
                "  running{}: pid {} on {} since {}, ETA {}",
                h.shard
                    .as_deref()
                    .map(|s| format!(" shard {s}"))
                    .unwrap_or_default(),
                h.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
                h.host.as_deref().unwrap_or("?"),
                h.since.as_deref().unwrap_or("?"),
                h.eta.as_deref().unwrap_or("unknown")
            );
        }
        if let Some(p) = &r.problem {
            let _ = writeln!(out, "  unreadable: {p}");
        }
        if r.retries_owed > 0 {
            let _ = writeln!(
                out,
                "  {} sessions ended `error` with retries left (cut short)",
                r.retries_owed
            );
        }
        for c in &r.resume {
            let _ = writeln!(out, "  finish with: {c}");
        }
    }
    out
}
