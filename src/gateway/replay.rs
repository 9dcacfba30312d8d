//! Replay (`reev run --replay RUN_ID`): each session's gateway answers from the cassette of
//! the same benchmark x agent x attempt (and try) in RUN_ID, in order, and never contacts an
//! upstream. Cassettes are found through the session files, which hold their digests: one
//! edited since its run is refused before anything starts, naming the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::record::{self, Call, Cassette};
use crate::error::Error;
use crate::session::SessionFile;

/// A session's place in a run: agent, benchmark, attempt, try.
pub type Key = (String, String, u32, u32);

/// The cassettes of the run being replayed, checked and loaded before the replay starts.
pub struct Source {
    pub run_id: String,
    cassettes: HashMap<Key, Arc<Cassette>>,
}

impl Source {
    /// Load the cassettes of run `run_id` (under `runs_dir`) for `wanted` sessions.
    /// Errors: the run does not exist, none of them has a cassette, a cassette is missing or
    /// was edited since its session file was written.
    pub fn load(runs_dir: &Path, run_id: &str, wanted: &[Key]) -> Result<Source, Error> {
        let run_dir = runs_dir.join(run_id);
        if !run_dir.is_dir() {
            return Err(Error::input(format!(
                "--replay {run_id}: no such run in {}",
                runs_dir.display()
            )));
        }
        let mut cassettes = HashMap::new();
        for key in wanted {
            let session = run_dir.join(crate::session::relative_path(&key.0, &key.1, key.2, key.3));
            let Some(file) = read_session(&session)? else {
                continue;
            };
            let Some(g) = file.gateway else { continue };
            let cassette = load_cassette(&run_dir, &g.cassette, &g.cassette_sha256)?;
            cassettes.insert(key.clone(), Arc::new(cassette));
        }
        if cassettes.is_empty() {
            return Err(Error::input(format!(
                "--replay {run_id}: the run has no model-call cassettes for the selected sessions \
                 (only sessions of agents with `gateway:` in reev.yml record them); nothing was run"
            )));
        }
        Ok(Source {
            run_id: run_id.to_string(),
            cassettes,
        })
    }

    /// The cassette of one session, when the replayed run has it.
    pub fn cassette(&self, key: &Key) -> Option<Arc<Cassette>> {
        self.cassettes.get(key).cloned()
    }
}

fn read_session(path: &Path) -> Result<Option<SessionFile>, Error> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("--replay: cannot read", path, e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::input(format!(
            "--replay: {} is not a session file: {e}",
            path.display()
        ))
    })
}

/// The run about to start, as far as replay is concerned.
pub struct Wanted<'a> {
    pub runs_dir: &'a std::path::Path,
    /// `--resume RUN_ID`.
    pub resume: Option<&'a str>,
    pub selection: &'a crate::plan::Selection,
    /// `--replay RUN_ID`.
    pub replay: Option<&'a str>,
    /// `--retry-errors`: the tries each session may have.
    pub retry_errors: u32,
}

/// Before a run starts: for `--replay`, the cassettes of the sessions it will run (checked);
/// for a live run, that every `api_key_env` of a planned agent is set. A `--resume` of a
/// replayed run replays again (its manifest's command line says from which run).
pub fn prepare(run: Wanted, suite: &crate::spec::Suite) -> Result<Option<Source>, Error> {
    let (tasks, replay) = match run.resume {
        Some(id) => match crate::manifest::read(&run.runs_dir.join(id), run.selection.shard) {
            Ok(m) => (m.plan, replayed_in(&m.command_line)),
            // `--resume` itself says what is wrong with the run.
            Err(_) => return Ok(None),
        },
        None => (
            crate::plan::plan(suite, run.selection, "check")?,
            run.replay.map(str::to_string),
        ),
    };
    let gateway_of = |t: &crate::plan::Task| suite.agent(&t.agent).and_then(|a| a.gateway.as_ref());
    let Some(run_id) = replay else {
        for t in &tasks {
            let var = gateway_of(t).and_then(|g| g.api_key_env.as_ref());
            if let Some(var) = var.filter(|v| std::env::var_os(v).is_none()) {
                return Err(Error::input(format!(
                    "agent `{}`: gateway.api_key_env names {var}, which is not set (reev sends its value upstream; a --replay needs none)",
                    t.agent
                )));
            }
        }
        return Ok(None);
    };
    let wanted: Vec<Key> = tasks
        .iter()
        .filter(|t| gateway_of(t).is_some())
        .flat_map(|t| {
            (1..=1 + run.retry_errors)
                .map(|k| (t.agent.clone(), t.benchmark_id.clone(), t.attempt, k))
        })
        .collect();
    Source::load(run.runs_dir, &run_id, &wanted).map(Some)
}

/// The run a command line replayed (`--replay ID` or `--replay=ID`).
fn replayed_in(command_line: &[String]) -> Option<String> {
    command_line
        .windows(2)
        .find(|w| w[0] == "--replay")
        .map(|w| w[1].clone())
        .or_else(|| {
            command_line
                .iter()
                .find_map(|a| a.strip_prefix("--replay=").map(str::to_string))
        })
}

/// Read a cassette and check it against the digest its session file holds.
fn load_cassette(run_dir: &Path, rel: &str, sha256: &str) -> Result<Cassette, Error> {
    let path: PathBuf = run_dir.join(rel);
    if Path::new(rel).is_absolute() || rel.split('/').any(|c| c == "..") {
        return Err(Error::input(format!(
            "--replay: a session file names the cassette `{rel}`, outside its run directory"
        )));
    }
    let bytes = std::fs::read(&path)
        .map_err(|e| Error::io("--replay: cannot read the cassette", &path, e))?;
    let actual = record::hex(&Sha256::digest(&bytes));
    if actual != sha256 {
        return Err(Error::input(format!(
            "--replay: the cassette {} was changed after its run (SHA-256 {actual}, the session file says {sha256}); refusing to replay it",
            path.display()
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::input(format!(
            "--replay: {} is not a cassette: {e}",
            path.display()
        ))
    })
}

/// The recorded call that answers `call` (the `call.seq`-th request of the session), or why
/// none does: past the cassette's end, or the first differing JSON path.
pub fn answer(from_run: &str, calls: &[Call], call: &Call) -> Result<Call, String> {
    let n = call.seq;
    let Some(recorded) = calls.get(n as usize - 1) else {
        return Err(format!(
            "replay of run {from_run}: request {n} ({} {}) is not in the cassette, which holds {} request(s)",
            call.method,
            call.path,
            calls.len()
        ));
    };
    if recorded.method != call.method || recorded.path != call.path {
        return Err(format!(
            "replay of run {from_run}: request {n} is {} {}, the cassette's is {} {}",
            call.method, call.path, recorded.method, recorded.path
        ));
    }
    if recorded.request_sha256 != call.request_sha256 {
        let at = record::first_difference(&recorded.request, &call.request).unwrap_or_default();
        let at = if at.is_empty() { "/".to_string() } else { at };
        return Err(format!(
            "replay of run {from_run}: request {n} differs from the cassette at {at}"
        ));
    }
    Ok(recorded.clone())
}
