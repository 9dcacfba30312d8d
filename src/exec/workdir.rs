//! A session's scratch directory: where it lives, emptied or created, seeded from `initial_state`.
//!
//! Every reev process has its own scratch area in a run, `work/try-<token>/`, where the
//! token (pid and random bits) is never used by another process: agents of a killed reev
//! that live on can only write into their own process's area, never into the scratch dir or
//! events file of a session that a later `--resume` (or another shard) runs. The area holds
//! `.owner`, flock-ed for the process's lifetime, so the next reev knows a dead one's area
//! and removes it (an area is made as `.new-<token>` and renamed once locked, so that no
//! other shard's sweep sees it unlocked). Inside its area each worker thread reuses one directory (`<n>/`),
//! emptied before every session: creating and removing a directory tree per session costs
//! more than a trivial agent's whole run on some filesystems. With `--keep-workdirs` every
//! session gets its own (`work/<agent>/<benchmark_id>@<attempt>.try-<token>`), kept afterwards.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use crate::sandbox::beneath::Dir;

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
/// The agent's captured stdout and stderr, written beside the events file (outside the
/// scratch dir, so no file assertion sees them) for verifiers: `REEV_STDOUT`, `REEV_STDERR`.
pub const STDOUT: &str = "agent.stdout";
pub const STDERR: &str = "agent.stderr";

/// This reev process's scratch area in one run: `run_dir/work/try-<token>/`.
pub struct Area {
    pub run_dir: PathBuf,
    /// `work/try-<token>`
    pub dir: PathBuf,
    pub token: String,
    /// `dir`, opened once: each session's worker directory is opened beneath it.
    dir_fd: Dir,
    /// `.owner` inside `dir`, flock-ed while this process lives (released by the kernel
    /// however it ends; opened close-on-exec, so agents never inherit it).
    _owner: File,
}

impl Area {
    /// Create this process's area, after removing the areas of reev processes that are gone.
    pub fn create(run_dir: &Path) -> std::io::Result<Self> {
        let work = run_dir.join("work");
        std::fs::create_dir_all(&work)?;
        remove_stale(&work);
        let token = process_token();
        let dir = work.join(format!("try-{token}"));
        // Made under a name `remove_stale` skips and renamed once `.owner` is locked: another
        // shard's sweep could otherwise lock a `.owner` not yet locked and remove the area.
        let building = work.join(format!(".new-{token}"));
        // Another shard that finishes removes `work/` when it is empty (`remove_all`), which
        // can happen between our create_dir_all and create_dir: make `work/` again then.
        let mut tries = 0;
        while let Err(e) = std::fs::create_dir(&building) {
            tries += 1;
            if e.kind() != std::io::ErrorKind::NotFound || tries > 10 {
                return Err(e);
            }
            std::fs::create_dir_all(&work)?;
        }
        let owner = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(building.join(".owner"))?;
        rustix::fs::flock(&owner, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
        std::fs::rename(&building, &dir)?;
        Ok(Area {
            run_dir: run_dir.to_path_buf(),
            dir_fd: Dir::open(&dir)?,
            dir,
            token,
            _owner: owner,
        })
    }
}

/// `<pid>-<16 hex digits>`: unique to this reev process (the pid alone is reused, and is the
/// same in every container of a shared volume).
fn process_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    format!("{}-{:016x}", std::process::id(), h.finish())
}

/// Remove the `try-*` areas under `work` whose owner is gone (its `.owner` lock can be
/// taken). Symlinks are never followed: a `try-*` that is not a real directory is left alone.
fn remove_stale(work: &Path) {
    let Ok(entries) = std::fs::read_dir(work) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("try-") {
            continue;
        }
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = entry.path();
        let owner = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(dir.join(".owner"));
        let owner = match owner {
            Ok(f) => f,
            // A reev killed between creating its area and its `.owner` (a moment): the area
            // is empty and nobody's once it is a minute old.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && older_than_a_minute(&entry) => {
                let _ = std::fs::remove_dir(&dir);
                continue;
            }
            Err(_) => continue,
        };
        if rustix::fs::flock(&owner, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err()
        {
            continue; // its reev is still running
        }
        match Dir::open(work).and_then(|d| d.remove_tree(&name)) {
            Ok(()) => tracing::debug!("removed {} of a reev that is gone", dir.display()),
            Err(e) => tracing::warn!(
                "could not remove {} of a reev that is gone: {e}",
                dir.display()
            ),
        }
    }
}

fn older_than_a_minute(entry: &std::fs::DirEntry) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > std::time::Duration::from_secs(60))
}

impl Workdir {
    /// The directory a session uses: its own when kept, else its worker's in this
    /// process's area. `stem` is its session file's (`<benchmark>@<attempt>[.try<k>]`), so
    /// every try of a session keeps its own directory.
    pub fn location(area: &Area, keep: bool, agent: &str, stem: &str) -> PathBuf {
        match (keep, rayon::current_thread_index()) {
            (false, Some(worker)) => area.dir.join(worker.to_string()),
            (false, None) => area.dir.join(agent).join(stem),
            (true, _) => area
                .run_dir
                .join("work")
                .join(agent)
                .join(format!("{stem}.try-{}", area.token)),
        }
    }

    /// Make `root` an empty scratch directory (removing what an earlier session or an
    /// interrupted run left there) and seed it. `root` lies under `base` (the run directory);
    /// the directories from `base` down are opened without following symlinks, so an agent
    /// that swapped any of them for a link does not make reev empty or read another place.
    pub fn prepare(
        area: &Area,
        base: &Path,
        root: PathBuf,
        seed: &[SeedFile],
    ) -> std::io::Result<Self> {
        let scratch = root.join("scratch");
        let events = root.join(EVENTS);
        let root_dir = match (root.parent(), root.file_name()) {
            // A worker's directory, beneath the area opened once — while the area is still
            // where its path says (an agent can reach it, and may have moved it).
            (Some(parent), Some(name)) if parent == area.dir && area.dir_fd.is_at(&area.dir) => {
                let dir = area.dir_fd.ensure_subdir(name)?;
                dir.make_writable();
                dir
            }
            _ => open_under(base, &root)?,
        };
        // The agent can reach this directory ($REEV_EVENTS is in it): left read-only, reev could
        // neither remove the events file nor recreate `scratch`, and every later session on
        // this worker would fail to start.
        root_dir.make_writable();
        let scratch_dir = root_dir.ensure_subdir(OsStr::new("scratch"))?;
        scratch_dir.empty()?;
        // The agent may have left a directory, FIFO or symlink under any of these names:
        // removed (never followed) whatever it is, or every later session here would fail.
        for name in [STDOUT, STDERR] {
            root_dir.remove_tree(OsStr::new(name))?;
        }
        // Emptied in place: a sandboxed session's namespace mounts the file itself, and a
        // worker's resident init keeps that mount for its later sessions.
        root_dir.empty_file(OsStr::new(EVENTS))?;
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

    /// Save `bytes` as the file `name` beside the events file (`STDOUT`, `STDERR`), replacing
    /// whatever the agent left there without following it; its path.
    pub fn save(&self, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        self.root_dir.make_writable();
        self.root_dir.remove_tree(OsStr::new(name))?;
        self.root_dir
            .create_file(Path::new(name), 0o644)?
            .write_all(bytes)?;
        Ok(self.events.with_file_name(name))
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

/// Remove this process's scratch area once its sessions are done, never following a
/// symlink an agent left in it, and `work/` with it when no other reev (another shard) has
/// anything there.
pub fn remove_all(area: &Area) {
    let work = area.run_dir.join("work");
    let removed = Dir::open(&work)
        .and_then(|d| d.remove_tree(area.dir.file_name().unwrap_or(OsStr::new(""))));
    if let Err(e) = removed {
        tracing::warn!(
            "could not remove scratch directories {}: {e}",
            area.dir.display()
        );
    }
    let _ = std::fs::remove_dir(&work);
}
