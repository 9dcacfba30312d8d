//! A session's scratch directory: created fresh, seeded from `initial_state`, removed after.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::spec::benchmark::SeedFile;

pub struct Workdir {
    /// runs/<run_id>/work/<agent>/<benchmark_id>@<attempt>
    pub root: PathBuf,
    /// `root/scratch`: the agent's working directory.
    pub scratch: PathBuf,
    /// `root/events.jsonl`: the file named by REEV_EVENTS.
    pub events: PathBuf,
}

impl Workdir {
    /// Create it fresh (a stale one from an interrupted run is removed first) and seed it.
    pub fn create(
        run_dir: &Path,
        agent: &str,
        benchmark_id: &str,
        attempt: u32,
        seed: &[SeedFile],
    ) -> std::io::Result<Self> {
        let root = run_dir
            .join("work")
            .join(agent)
            .join(format!("{benchmark_id}@{attempt}"));
        if root.exists() {
            remove_tree(&root)?;
        }
        let scratch = root.join("scratch");
        std::fs::create_dir_all(&scratch)?;
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
        Ok(Workdir {
            events: root.join("events.jsonl"),
            root,
            scratch,
        })
    }

    /// Remove it, logging (not failing) when the agent left something undeletable.
    pub fn remove(&self) {
        if let Err(e) = remove_tree(&self.root) {
            tracing::warn!(
                "could not remove scratch directory {}: {e}",
                self.root.display()
            );
        }
        // Drop now-empty parents (work/<agent>, work) so a finished run keeps only its files.
        for dir in self.root.ancestors().skip(1).take(2) {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
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
