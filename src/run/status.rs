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

use super::budget;
use crate::error::{Error, Result};
use crate::manifest;
use crate::plan::{Selection, Shard};
use crate::session::Status;
use crate::spec::check_name;

use super::holders::{self, Holder};

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
            problem: Some(problem.chain()),
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

/// The runs `opts` asks for — one, or every run under the runs tree, newest first — and the
/// problems of those that cannot be read (each listed as `unreadable`, never hiding the
/// others).
pub fn read(opts: &StatusOptions) -> Result<(Vec<RunStatus>, Vec<Error>)> {
    let Some(id) = &opts.run_id else {
        return all_runs(&opts.runs_dir);
    };
    check_name("run id", id).map_err(Error::input)?;
    let dir = opts.runs_dir.join(id);
    if !dir.is_dir() {
        return Err(Error::input(format!("no run at {}", dir.display())));
    }
    match run_status(&opts.runs_dir, id) {
        Ok(Some(s)) => Ok((vec![s], Vec::new())),
        Ok(None) => Err(Error::input(format!(
            "{} has no run manifest",
            dir.display()
        ))),
        Err(e) => Ok((vec![RunStatus::unreadable(id, &e)], vec![e])),
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
    let manifests = read_manifests(&dir, &names)?;
    let held = holders::holders(&dir, &names);
    if manifests.is_empty() && held.is_empty() {
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
    let logged = super::status_log::read(&dir, &names);
    count_statuses(&listing, &logged, &mut s);
    if let Some(n) = s.shard_count {
        s.shards_missing = (1..=n).filter(|k| !s.shards_present.contains(k)).collect();
    }
    s.planned = planned_total(&manifests, s.shard_count);
    let shards = shard_progress(&manifests, &listing, &logged);
    s.retries_owed = shards.retries_owed;
    s.holders = held
        .into_iter()
        .map(|h| holders::with_eta(h, &shards.progress))
        .collect();
    s.state = if !s.holders.is_empty() {
        State::Running
    } else if shards.unfinished.is_empty() && s.shards_missing.is_empty() {
        State::Complete
    } else if names.iter().any(|n| budget::is_note_name(n)) {
        State::StoppedByBudget
    } else {
        State::Incomplete
    };
    if matches!(s.state, State::Incomplete | State::StoppedByBudget) {
        s.resume = resume_commands(
            runs_dir,
            run_id,
            &shards.unfinished,
            &s.shards_missing,
            &manifests,
        );
    }
    Ok(Some(s))
}

/// The run's manifests (`run.json`, `run.shard-K-of-N.json`) among the directory's `names`.
fn read_manifests(dir: &Path, names: &[String]) -> Result<Vec<(Option<Shard>, LightManifest)>> {
    let mut manifests = Vec::new();
    for name in names.iter().filter(|n| manifest::is_manifest_name(n)) {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        let m: LightManifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(format!("{}: invalid run manifest: {e}", path.display())))?;
        manifests.push((manifest::parse_shard_name(name), m));
    }
    Ok(manifests)
}

/// How far each manifest (shard) got.
struct ShardProgress {
    /// The shards (or the unsharded run) with planned sessions still missing or owing retries.
    unfinished: Vec<Option<Shard>>,
    /// Per shard (K/N, or none): sessions planned and sessions with a file.
    progress: BTreeMap<Option<String>, (u64, u64)>,
    /// Sessions that still owe retries (see [`owes_retries`]).
    retries_owed: u64,
}

/// Per manifest (shard): how many of its planned sessions have a file, and which owe retries.
fn shard_progress(
    manifests: &[(Option<Shard>, LightManifest)],
    listing: &BTreeMap<String, BTreeSet<String>>,
    logged: &HashMap<(String, String), Status>,
) -> ShardProgress {
    let mut out = ShardProgress {
        unfinished: Vec::new(),
        progress: BTreeMap::new(),
        retries_owed: 0,
    };
    for (shard, m) in manifests {
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
            .filter(|t| owes_retries(listing, logged, t, m.retry_errors))
            .count() as u64;
        out.retries_owed += owed;
        if done < planned || owed > 0 {
            out.unfinished.push(*shard);
        }
        out.progress
            .insert(shard.map(|s| s.to_string()), (planned, done));
    }
    out
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
    Status::ALL
        .into_iter()
        .find(|st| files.contains(&format!("{stem}.{}", st.as_str())))
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
pub fn table(runs: &[RunStatus]) -> String {
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
