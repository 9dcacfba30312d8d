//! Building a database beside the live file and renaming it into place.
//!
//! Used by `--rebuild` (a fresh file) and by a load while analysts hold the database open
//! read-only (a copy of the live file): open readers keep the inode they have, with its
//! snapshot; every connection opened after the rename sees the new file. The rename is the
//! commit point, so a load killed before it leaves the live file untouched.

use std::path::{Path, PathBuf};

use super::error::StoreError;
use crate::error::Result;
use crate::session;

/// `<db>.wal`, DuckDB's write-ahead log beside the database file.
pub fn wal_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".wal");
    PathBuf::from(s)
}

fn file_name(db: &Path) -> String {
    db.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `<db>.<what>-<pid>.tmp`: where a database is built before it replaces `db`.
pub fn tmp_path(db: &Path, what: &str) -> PathBuf {
    db.with_file_name(format!(
        "{}.{what}-{}.tmp",
        file_name(db),
        std::process::id()
    ))
}

/// Remove databases half-built beside `db` by killed loads. Only called under the writer
/// lock, so no live reev is building one.
pub fn clean_stale(db: &Path) {
    let prefix = format!("{}.", file_name(db));
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let ours = (rest.starts_with("rebuild-") || rest.starts_with("load-"))
            && (rest.ends_with(".tmp") || rest.ends_with(".tmp.wal"));
        if ours {
            tracing::info!("removing {}, left by an interrupted load", name);
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Remove a database built beside and not installed.
pub fn discard(tmp: &Path) {
    let _ = std::fs::remove_file(tmp);
    let _ = std::fs::remove_file(wal_path(tmp));
}

/// Copy the live database (and its WAL, which may hold committed transactions not yet
/// checkpointed) to `tmp`. A reflink where the filesystem has them (btrfs, XFS) costs
/// nothing; elsewhere `std::fs::copy` copies in the kernel (`copy_file_range`).
pub fn copy_live(db: &Path, tmp: &Path) -> Result<()> {
    discard(tmp);
    for (from, to) in [
        (db.to_path_buf(), tmp.to_path_buf()),
        (wal_path(db), wal_path(tmp)),
    ] {
        if !from.exists() {
            continue;
        }
        if !reflink(&from, &to) {
            std::fs::copy(&from, &to).map_err(|e| {
                discard(tmp);
                StoreError::io(format!("cannot copy {} to", from.display()), &to, e)
            })?;
        }
    }
    Ok(())
}

fn reflink(from: &Path, to: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(src) = std::fs::File::open(from) else {
        return false;
    };
    let Ok(dst) = std::fs::File::create(to) else {
        return false;
    };
    // SAFETY: FICLONE takes the source descriptor as its argument and touches no memory.
    let ok = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) } == 0;
    if !ok {
        let _ = std::fs::remove_file(to);
    }
    ok
}

/// Make the database built at `tmp` the live `db`: fsync it, drop the old WAL, rename.
pub fn install(tmp: &Path, db: &Path) -> Result<()> {
    // The new file must hold everything by itself: its WAL (the copied live WAL, this load's
    // commits) is folded in when its connection closes. If that checkpoint failed (disk
    // full), renaming the file alone would drop those commits: keep the old database.
    if std::fs::metadata(wal_path(tmp)).is_ok_and(|m| m.len() > 0) {
        return Err(StoreError::NotCheckpointed {
            tmp: tmp.to_path_buf(),
            db: db.to_path_buf(),
        }
        .into());
    }
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io("cannot sync", tmp, e))?;
    // A WAL beside the old file belongs to the old database; it must not meet the new one.
    // Removing it first is safe: a crash before the rename loses at most committed loads
    // whose ledger rows go with them, so the next load reads those files again.
    let _ = std::fs::remove_file(wal_path(db));
    std::fs::rename(tmp, db)
        .map_err(|e| StoreError::io("cannot move the new database into place at", db, e))?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = session::sync_dir(dir);
    }
    Ok(())
}
