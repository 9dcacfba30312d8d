//! `reev accept RUN` says "this run is the new normal" (its changes were intended), so the
//! regression gate takes it as a baseline and into its history even though it did not pass
//! the gate. This writes the acceptance file; the store keeps the file format and the
//! `accepted_runs` table derived from the files (`store/accepted.rs`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use crate::store::accepted::{accepted, sync_db, Acceptance, FILE};

/// Write `<runs_dir>/<run>/accepted.json` (replacing an earlier acceptance of the run) and
/// return its path. The run must be in the runs tree: a manifest or sessions in its directory.
pub fn write(runs_dir: &Path, run_id: &str, note: Option<String>) -> Result<PathBuf> {
    crate::spec::check_name("run id", run_id).map_err(Error::input)?;
    let dir = runs_dir.join(run_id);
    let is_run = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name == "sessions" || crate::manifest::is_manifest_name(&name)
            })
        })
        .unwrap_or(false);
    if !is_run {
        return Err(Error::input(format!(
            "run `{run_id}` is not in the runs tree {} (no run manifest or sessions in {}); give --runs-dir",
            runs_dir.display(),
            dir.display()
        )));
    }
    let a = Acceptance {
        run_id: run_id.to_string(),
        accepted_at: crate::timestamp::rfc3339(chrono::Utc::now()),
        note,
    };
    let path = dir.join(FILE);
    let text = serde_json::to_string_pretty(&a)
        .map_err(|e| Error::env(format!("cannot encode the acceptance of {run_id}: {e}")))?;
    // Written beside and renamed: a reader never sees half a file.
    let tmp = dir.join(format!(".{FILE}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, format!("{text}\n"))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| Error::io("cannot write the acceptance", &path, e))?;
    Ok(path)
}
