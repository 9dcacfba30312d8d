//! Walking runs trees and sorting what is found: manifests, benchmark copies, session
//! files, debris of crashed writes, and paths that cannot be read.
//!
//! A no-op reload of 1,000,000 files is mostly this walk, so it is built for speed: runs are
//! walked in parallel (rayon), and handed to the loader run by run as they are walked, so
//! the tree is never held in memory whole; each file is stat'ed relative to its open directory
//! (`fstatat` through `std::fs::DirEntry::metadata`, not a path lookup from the root), and
//! each file's ledger key is computed here, once, off the loader's thread.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;

use rayon::prelude::*;

use super::keys::{key, Key};
use crate::manifest::is_manifest_name;
use crate::session::TMP_PREFIX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<run>/run.json` or `<run>/run.shard-K-of-N.json`
    Manifest,
    /// `<run>/benchmarks/<sha256>.yml`: the benchmark version the run used
    Benchmark,
    /// `<run>/sessions/**/*.json`
    Session,
    /// `.tmp-*`: a temporary file left by a write that never finished
    Leftover,
}

impl Kind {
    /// The value of `loaded_files.kind` (leftovers are never recorded there).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Manifest => "manifest",
            Kind::Benchmark => "benchmark",
            Kind::Session => "session",
            Kind::Leftover => "leftover",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Found {
    /// Absolute path: the key of the loaded-files ledger.
    pub path: PathBuf,
    pub kind: Kind,
    pub size: u64,
    pub mtime_ns: i64,
    /// `keys::key` of the path's display text, the ledger's key for this file.
    pub key: Key,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub files: Vec<Found>,
    /// Paths that could not be read (unreadable directories, vanished entries).
    pub errors: Vec<(PathBuf, String)>,
}

/// What the walker sends the loader, in order: one [`Scan`] per run, then `Done`.
pub enum Msg {
    Run(Scan),
    /// Every root was walked. A stream that ends without it was cut short (the walker
    /// panicked), and the load must fail rather than take a part of the tree for all of it.
    Done,
}

/// Runs walked at once; with the channel's bound this caps how much of the tree is held in
/// memory while the loader works on the runs before.
const GROUP: usize = 8;

/// Walk every root, run by run in name order, and send each run's findings down `tx` in that
/// order (runs are walked in parallel on `pool`, [`GROUP`] at a time). The walk stops early
/// when the loader hangs up. Scratch directories (`<run>/work/`) are skipped.
pub fn stream(roots: &[PathBuf], pool: &rayon::ThreadPool, tx: &SyncSender<Msg>) {
    for root in roots {
        let root = std::path::absolute(root).unwrap_or_else(|_| root.clone());
        let mut runs: Vec<PathBuf> = match std::fs::read_dir(&root) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect(),
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "runs directory does not exist".to_string()
                } else {
                    format!("cannot read: {e}")
                };
                let part = Scan {
                    files: Vec::new(),
                    errors: vec![(root.clone(), why)],
                };
                if tx.send(Msg::Run(part)).is_err() {
                    return;
                }
                continue;
            }
        };
        runs.sort();
        for group in runs.chunks(GROUP) {
            let parts: Vec<Scan> =
                pool.install(|| group.par_iter().map(|run| walk_run(&root, run)).collect());
            for part in parts {
                if tx.send(Msg::Run(part)).is_err() {
                    return;
                }
            }
        }
    }
    let _ = tx.send(Msg::Done);
}

fn walk_run(root: &Path, run: &Path) -> Scan {
    let mut out = Scan::default();
    walk_dir(root, run, 1, &mut out);
    out
}

/// Entries of `dir` in name order, files classified and stat'ed, directories descended.
fn walk_dir(root: &Path, dir: &Path, depth: usize, out: &mut Scan) {
    let mut entries: Vec<std::fs::DirEntry> = match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut v = Vec::new();
            for e in rd {
                match e {
                    Ok(e) => v.push(e),
                    Err(e) => out
                        .errors
                        .push((dir.to_path_buf(), format!("cannot read: {e}"))),
                }
            }
            v
        }
        Err(e) => {
            out.errors
                .push((dir.to_path_buf(), format!("cannot read: {e}")));
            return;
        }
    };
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Ok(ft) = entry.file_type() else {
            out.errors
                .push((entry.path(), "cannot stat: file vanished".into()));
            continue;
        };
        let path = entry.path();
        if ft.is_dir() {
            // Scratch directories of running or crashed runs are not data.
            if !(depth == 1 && entry.file_name() == "work") {
                walk_dir(root, &path, depth + 1, out);
            }
            continue;
        }
        if !ft.is_file() {
            continue;
        }
        let Some(kind) = classify(root, &path) else {
            continue;
        };
        match entry.metadata() {
            Ok(md) => out.files.push(Found {
                key: key(&path.to_string_lossy()),
                path,
                kind,
                size: md.len(),
                mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
            }),
            Err(e) => out.errors.push((path, format!("cannot stat: {e}"))),
        }
    }
}

fn classify(root: &Path, path: &Path) -> Option<Kind> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
    let name = *parts.last()?;
    if name.starts_with(TMP_PREFIX) {
        return Some(Kind::Leftover);
    }
    match parts.as_slice() {
        [_run, file] if is_manifest_name(file) => Some(Kind::Manifest),
        [_run, "benchmarks", file] if file.ends_with(".yml") => Some(Kind::Benchmark),
        [_run, "sessions", .., file] if file.ends_with(".json") && !file.starts_with('.') => {
            Some(Kind::Session)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_runs_layout() {
        let r = Path::new("/r");
        let c = |p: &str| classify(r, &r.join(p));
        assert_eq!(c("run1/run.json"), Some(Kind::Manifest));
        assert_eq!(c("run1/run.shard-2-of-3.json"), Some(Kind::Manifest));
        assert_eq!(c("run1/benchmarks/abc.yml"), Some(Kind::Benchmark));
        assert_eq!(c("run1/sessions/agent/b@1.json"), Some(Kind::Session));
        assert_eq!(
            c("run1/sessions/agent/.tmp-1-2-b@1.json"),
            Some(Kind::Leftover)
        );
        assert_eq!(c("README.md"), None);
        assert_eq!(c("run1/notes.txt"), None);
    }
}
