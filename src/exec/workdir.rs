//! A session's scratch directory: emptied or created, then seeded from `initial_state`.
//!
//! Without `--keep-workdirs` each worker thread reuses one directory (`work/.worker/<n>`),
//! emptied before every session: creating and removing a directory tree per session costs
//! more than a trivial agent's whole run on some filesystems. With `--keep-workdirs` every
//! session gets its own (`work/<agent>/<benchmark_id>@<attempt>`), kept afterwards.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::beneath::Dir;

use crate::spec::benchmark::SeedFile;

pub struct Workdir {
    /// `root/scratch`: the agent's working directory.
    pub scratch: PathBuf,
    /// `root/events.jsonl`: the file named by REEV_EVENTS.
    pub events: PathBuf,
    /// `root`, opened before the agent starts: the events file is read through it.
    pub root_dir: Dir,
    /// `root/scratch`, opened before the agent starts: assertions read through it, so an
    /// agent that replaces the directory with a symlink does not redirect them.
    pub scratch_dir: Dir,
}

/// The events file's name in a session's directory.
pub const EVENTS: &str = "events.jsonl";

impl Workdir {
    /// The directory a session uses: its own when kept, else its worker's.
    pub fn location(
        run_dir: &Path,
        keep: bool,
        agent: &str,
        benchmark_id: &str,
        attempt: u32,
    ) -> PathBuf {
        let work = run_dir.join("work");
        match (keep, rayon::current_thread_index()) {
            (false, Some(worker)) => work.join(".worker").join(worker.to_string()),
            _ => work.join(agent).join(format!("{benchmark_id}@{attempt}")),
        }
    }

    /// Make `root` an empty scratch directory (removing what an earlier session or an
    /// interrupted run left there) and seed it. `root` lies under `base` (the run directory);
    /// the directories from `base` down are opened without following symlinks, so an agent
    /// that swapped any of them for a link does not make reev empty or read another place.
    pub fn prepare(base: &Path, root: PathBuf, seed: &[SeedFile]) -> std::io::Result<Self> {
        let scratch = root.join("scratch");
        let events = root.join(EVENTS);
        let root_dir = open_under(base, &root)?;
        // The agent can reach this directory ($REEV_EVENTS is in it): left read-only, reev could
        // neither remove the events file nor recreate `scratch`, and every later session on
        // this worker would fail to start.
        root_dir.make_writable();
        let scratch_dir = root_dir.ensure_subdir(OsStr::new("scratch"))?;
        scratch_dir.empty()?;
        root_dir.unlink(OsStr::new(EVENTS))?;
        for file in seed {
            let mode = if file.executable { 0o755 } else { 0o644 };
            scratch_dir
                .create_file(&file.path, mode)?
                .write_all(&file.contents)?;
        }
        Ok(Workdir {
            events,
            scratch,
            root_dir,
            scratch_dir,
        })
    }
}

/// The directory `root`, created as needed: the part below `base` walked one component at a
/// time without following symlinks (`base` itself is the user's and may be a link).
fn open_under(base: &Path, root: &Path) -> std::io::Result<Dir> {
    let (start, rel) = match root.strip_prefix(base) {
        Ok(rel) => (base, rel),
        Err(_) => match (root.parent(), root.file_name()) {
            (Some(parent), Some(name)) => (parent, Path::new(name)),
            _ => (root, Path::new("")),
        },
    };
    std::fs::create_dir_all(start)?;
    let mut dir = Dir::open(start)?;
    for c in rel.components() {
        if let Component::Normal(name) = c {
            dir = dir.ensure_subdir(name)?;
            // `work/` and `.worker/` are reachable from the agent's dir too: a read-only one
            // would stop reev creating other workers' dirs.
            dir.make_writable();
        }
    }
    Ok(dir)
}

/// Remove a run's scratch area once its sessions are done (unless --keep-workdirs), never
/// following a symlink an agent left in it.
pub fn remove_all(run_dir: &Path) {
    let removed = Dir::open(run_dir).and_then(|d| d.remove_tree(OsStr::new("work")));
    if let Err(e) = removed {
        tracing::warn!(
            "could not remove scratch directories {}: {e}",
            run_dir.join("work").display()
        );
    }
}
