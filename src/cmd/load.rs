//! `reev load`: session files -> DuckDB, idempotently; problems listed on stderr.

use crate::error::{Error, Result};
use crate::store::load::{load as load_files, ConflictKind, LoadOptions};

pub fn load(opts: LoadOptions) -> Result<()> {
    // Acceptances (`reev accept`) are files in the runs tree; the load's transaction
    // rewrites the table from them.
    let sum = load_files(&opts)?;
    for (path, error) in &sum.quarantined {
        crate::logging::line(
            tracing::Level::WARN,
            &format!("quarantined {path}: {error}"),
        );
    }
    for c in &sum.conflicts {
        let what = match c.kind {
            ConflictKind::ManifestChanged => "manifest changed".to_string(),
            ConflictKind::ChangedAfterLoad => "changed after it was loaded".to_string(),
            ConflictKind::DuplicateSessionId => format!(
                "claims a session id already loaded from another file{}",
                c.loaded_path
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            ),
        };
        crate::logging::line(tracing::Level::WARN, &format!(
            "conflict: {} {what}: session {}, loaded sha256 {}, found sha256 {}; the loaded data is kept",
            c.path,
            c.session_id.as_deref().unwrap_or("-"),
            c.loaded_sha256,
            c.found_sha256
        ));
    }
    if sum.load_id == 0 {
        // Readers held the database and nothing was new: it was not written at all.
        return super::print(&format!(
            "nothing new for {} (open read-only, so not written): {} files seen, {} skipped ({:.2} s)\n",
            opts.db.display(),
            sum.seen,
            sum.skipped,
            sum.elapsed.as_secs_f64()
        ));
    }
    super::print(&format!(
        "load {} into {}: {} files seen, {} new, {} skipped, {} quarantined, {} conflicts ({:.2} s)\n",
        sum.load_id,
        opts.db.display(),
        sum.seen,
        sum.new,
        sum.skipped,
        sum.quarantined.len(),
        sum.conflicts.len(),
        sum.elapsed.as_secs_f64()
    ))?;
    if !sum.quarantined.is_empty() || !sum.conflicts.is_empty() {
        return Err(Error::failed(format!(
            "{} files quarantined and {} conflicts (listed above; see the quarantine and conflicts tables); every valid file was loaded",
            sum.quarantined.len(),
            sum.conflicts.len()
        )));
    }
    Ok(())
}
