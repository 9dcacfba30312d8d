//! The run manifest (`runs/<run_id>/run.json`, written once before the first session) and run ids.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::plan::{Selection, Shard, Task};
use crate::session;

/// 2: adds `run_planned` (manifests of version 1 still load; the field is then empty).
/// 3: adds `suite` (the config file and benchmarks directory used) and `retry_errors`.
pub const SCHEMA_VERSION: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunManifest {
    pub schema_version: u32,
    pub run_id: String,
    pub created_at: String,
    pub reev_version: String,
    pub host: String,
    /// `git rev-parse HEAD` of the suite's directory, when it is a git checkout.
    pub git_commit: Option<String>,
    pub command_line: Vec<String>,
    pub selection: Selection,
    /// `--timeout`, when given; otherwise each benchmark's and agent's own.
    pub timeout_ms: Option<u64>,
    pub jobs: usize,
    /// Benchmark id -> SHA-256 of its file when the run was planned.
    pub benchmarks: BTreeMap<String, String>,
    /// Agent name -> argv template.
    pub agents: BTreeMap<String, Vec<String>>,
    pub plan: Vec<Task>,
    /// Sessions per agent in the whole run's plan — every shard together — so that any one
    /// shard's manifest says what a complete run holds (empty in manifests of older reev).
    #[serde(default)]
    pub run_planned: BTreeMap<String, u64>,
    /// The machine when the run started (CPU count, load average, PSI); absent in manifests
    /// written by older reev versions. Each session records the pressure during itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<crate::machine::Snapshot>,
    /// The config file and benchmarks directory the run was planned with, so that every
    /// command that finishes the run (`reev status` too) names them; absent before version 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<SuiteRecord>,
    /// `--retry-errors` of the run: an `error` session with fewer tries than 1 + this was cut
    /// short (interrupted, or stopped by the budget) and still owes its retries.
    #[serde(default)]
    pub retry_errors: u32,
}

/// Where the suite of a run came from, as the user named it (relative paths are relative to
/// the directory reev ran in, like `--runs-dir`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteRecord {
    pub config: PathBuf,
    /// SHA-256 of the config file's bytes when the run was planned.
    pub config_sha256: String,
    pub benchmarks: PathBuf,
}

/// `run.json`, or `run.shard-K-of-N.json` for a shard, so shards merge into one tree without conflict.
pub fn file_name(shard: Option<Shard>) -> String {
    match shard {
        None => "run.json".to_string(),
        Some(s) => format!("run.shard-{}-of-{}.json", s.index, s.count),
    }
}

pub fn is_manifest_name(name: &str) -> bool {
    name == "run.json" || (name.starts_with("run.shard-") && name.ends_with(".json"))
}

/// A new run id: UTC time to the millisecond, then random hex, so ids sort by time and do not
/// collide across machines; the run directory is created exclusively, so not on one machine either.
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = chrono::Utc::now();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.timestamp_nanos_opt().unwrap_or_default() as u128);
    h.write_u32(std::process::id());
    format!(
        "{}-{:06x}",
        now.format("%Y%m%dT%H%M%S%.3fZ"),
        h.finish() & 0xff_ffff
    )
}

/// Create `runs_dir/<run_id>`. An unsharded run creates it exclusively. Shards of one run
/// share it — started together or one after another, on one tree or merged later — so a
/// shard creates it if absent; it conflicts only with an unsharded run of that id, with
/// shards of another count, or with the same shard already started.
pub fn create_run_dir(runs_dir: &Path, run_id: &str, shard: Option<Shard>) -> Result<PathBuf> {
    std::fs::create_dir_all(runs_dir)
        .map_err(|e| Error::io("cannot create runs directory", runs_dir, e))?;
    let dir = runs_dir.join(run_id);
    match std::fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match shard {
            None => Err(Error::input(format!(
                "run {} already exists; pick another --run-id, or finish it with --resume {run_id}",
                dir.display()
            ))),
            Some(_) if dir.is_dir() => Ok(dir),
            Some(_) => Err(Error::input(format!(
                "{} exists and is not a run directory",
                dir.display()
            ))),
        },
        Err(e) => Err(Error::io("cannot create run directory", &dir, e)),
    }
}

/// Before shard `shard` of `run_id` writes its manifest (under its own lock): refuse when
/// the directory holds an unsharded run, shards of another count, or this shard already.
pub fn check_shard_free(run_dir: &Path, run_id: &str, shard: Shard) -> Result<()> {
    let names = manifest_names(run_dir)?;
    let mine = file_name(Some(shard));
    for name in names {
        if name == mine {
            return Err(Error::input(format!(
                "shard {shard} of run {run_id} already exists in {}; finish it with --resume {run_id} --shard {shard}",
                run_dir.display()
            )));
        }
        match parse_shard_name(&name) {
            Some(other) if other.count == shard.count => {}
            Some(other) => {
                return Err(Error::input(format!(
                    "run {run_id} in {} is split into {} shards (found shard {other}); every shard of one run needs the same N",
                    run_dir.display(),
                    other.count
                )))
            }
            None => {
                return Err(Error::input(format!(
                    "run {run_id} in {} is an unsharded run; pick another --run-id for shards",
                    run_dir.display()
                )))
            }
        }
    }
    Ok(())
}

/// The shard a manifest file name is for (`run.shard-K-of-N.json`), `None` for `run.json`.
pub fn parse_shard_name(name: &str) -> Option<Shard> {
    let middle = name.strip_prefix("run.shard-")?.strip_suffix(".json")?;
    let (k, n) = middle.split_once("-of-")?;
    format!("{k}/{n}").parse().ok()
}

/// File names of the manifests in a run directory, sorted.
pub fn manifest_names(run_dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(run_dir)
        .map_err(|e| Error::io("cannot list", run_dir, e))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_manifest_name(n))
        .collect();
    names.sort();
    Ok(names)
}

/// The run lock of a run or of one shard: `.lock`, or `.lock.shard-K-of-N`, so shards of one
/// run each run (and resume) under their own lock.
pub fn lock_name(shard: Option<Shard>) -> String {
    match shard {
        None => ".lock".to_string(),
        Some(s) => format!(".lock.shard-{}-of-{}", s.index, s.count),
    }
}

pub fn write(run_dir: &Path, manifest: &RunManifest) -> Result<PathBuf> {
    let path = run_dir.join(file_name(manifest.selection.shard));
    let bytes = serde_json::to_vec_pretty(manifest)
        .map_err(|e| Error::env(format!("cannot encode run manifest: {e}")))?;
    session::write_new(&path, &bytes)
        .map_err(|e| Error::io("cannot write run manifest", &path, e))?;
    session::sync_dir(run_dir).map_err(|e| Error::io("cannot sync", run_dir, e))?;
    Ok(path)
}

/// The manifest of `run_dir`: `run.json`, or the shard's own, or the only shard manifest there.
pub fn read(run_dir: &Path, shard: Option<Shard>) -> Result<RunManifest> {
    if !run_dir.is_dir() {
        return Err(Error::input(format!("no run at {}", run_dir.display())));
    }
    let path = match shard {
        Some(_) => run_dir.join(file_name(shard)),
        None if run_dir.join("run.json").exists() => run_dir.join("run.json"),
        None => {
            let mut found = manifest_names(run_dir)?;
            match found.len() {
                1 => run_dir.join(found.remove(0)),
                0 => {
                    return Err(Error::input(format!(
                        "{} has no run manifest (run.json)",
                        run_dir.display()
                    )))
                }
                _ => {
                    return Err(Error::input(format!(
                    "{} holds the manifests of several shards ({}); resume one with --shard K/N",
                    run_dir.display(),
                    found.join(", ")
                )))
                }
            }
        }
    };
    let bytes = std::fs::read(&path)
        .map_err(|e| Error::input(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::input(format!("{}: invalid run manifest: {e}", path.display())))
}

pub fn hostname() -> String {
    let name = rustix::system::uname();
    match name.nodename().to_bytes() {
        [] => "unknown".into(),
        bytes => String::from_utf8_lossy(bytes).into_owned(),
    }
}

pub fn git_commit(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Keep the exact bytes of every benchmark version a run uses, content-addressed:
/// `runs/<run_id>/benchmarks/<sha256>.yml`. Written once; an existing copy is the same bytes.
pub fn write_benchmark_copies<'a>(
    run_dir: &Path,
    benchmarks: impl Iterator<Item = &'a crate::spec::Benchmark>,
) -> Result<()> {
    for b in benchmarks {
        let path = run_dir.join("benchmarks").join(format!("{}.yml", b.sha256));
        match session::write_new(&path, b.yaml.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(Error::io(
                    "cannot keep a copy of the benchmark at",
                    &path,
                    e,
                ))
            }
        }
    }
    let dir = run_dir.join("benchmarks");
    if dir.is_dir() {
        session::sync_dir(&dir).map_err(|e| Error::io("cannot sync", &dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_manifest_and_lock_names_round_trip() {
        let s: Shard = "2/4".parse().unwrap();
        assert_eq!(parse_shard_name(&file_name(Some(s))), Some(s));
        assert_eq!(parse_shard_name("run.json"), None);
        assert_eq!(parse_shard_name("run.shard-5-of-4.json"), None);
        assert_eq!(lock_name(Some(s)), ".lock.shard-2-of-4");
        assert_eq!(lock_name(None), ".lock");
    }

    #[test]
    fn new_run_ids_are_valid_names() {
        assert!(crate::spec::check_name("run id", &new_run_id()).is_ok());
    }

    #[test]
    fn shards_share_a_run_directory_an_unsharded_run_does_not() {
        let root = tempfile::tempdir().unwrap();
        let s1: Shard = "1/2".parse().unwrap();
        let s2: Shard = "2/2".parse().unwrap();
        let dir = create_run_dir(root.path(), "r", Some(s1)).unwrap();
        assert_eq!(create_run_dir(root.path(), "r", Some(s2)).unwrap(), dir);
        assert!(create_run_dir(root.path(), "r", None).is_err());
        std::fs::write(dir.join(file_name(Some(s1))), "{}").unwrap();
        assert!(check_shard_free(&dir, "r", s2).is_ok());
        assert!(check_shard_free(&dir, "r", s1).is_err());
        assert!(check_shard_free(&dir, "r", "1/3".parse().unwrap()).is_err());
    }
}
