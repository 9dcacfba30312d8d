//! A session's scratch directory: emptied or created, then seeded from `initial_state`.
//!
//! Without `--keep-workdirs` each worker thread reuses one directory (`work/.worker/<n>`),
//! emptied before every session: creating and removing a directory tree per session costs
//! more than a trivial agent's whole run on some filesystems. With `--keep-workdirs` every
//! session gets its own (`work/<agent>/<benchmark_id>@<attempt>`), kept afterwards.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::spec::benchmark::SeedFile;

pub struct Workdir {
    /// `root/scratch`: the agent's working directory.
    pub scratch: PathBuf,
    /// `root/events.jsonl`: the file named by REEV_EVENTS.
    pub events: PathBuf,
}

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
    /// interrupted run left there) and seed it.
    pub fn prepare(root: PathBuf, seed: &[SeedFile]) -> std::io::Result<Self> {
        let scratch = root.join("scratch");
        let events = root.join("events.jsonl");
        match std::fs::read_dir(&scratch) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry?;
                    if entry.file_type()?.is_dir() {
                        remove_tree(&entry.path())?;
                    } else {
                        std::fs::remove_file(entry.path())?;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&scratch)?
            }
            Err(e) => return Err(e),
        }
        match std::fs::remove_file(&events) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        for file in seed {
            let path = scratch.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &file.contents)?;
            if file.executable {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            }
        }
        Ok(Workdir { events, scratch })
    }
}

/// Remove a run's scratch area once its sessions are done (unless --keep-workdirs).
pub fn remove_all(run_dir: &Path) {
    let work = run_dir.join("work");
    if let Err(e) = remove_tree(&work) {
        tracing::warn!(
            "could not remove scratch directories {}: {e}",
            work.display()
        );
    }
}

/// remove_dir_all that first makes read-only directories writable (agents do leave those).
fn remove_tree(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            for entry in walkdir::WalkDir::new(path).into_iter().flatten() {
                if entry.file_type().is_dir() {
                    let _ = std::fs::set_permissions(
                        entry.path(),
                        std::fs::Permissions::from_mode(0o755),
                    );
                }
            }
            std::fs::remove_dir_all(path)
        }
    }
}
