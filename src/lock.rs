//! Exclusive OS file locks (flock) with bounded waits: released by the kernel however reev
//! exits. The lock file records who holds it and since when, for the next one's message.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub struct Lock {
    file: File,
}

impl Lock {
    /// Add a line to the lock file for whoever reads it next (`reev status`).
    pub fn note(&self, line: &str) {
        let _ = writeln!(&self.file, "{line}");
    }
}

/// Whether someone holds the lock on `path`, without creating it; `None` when there is no
/// lock file. Takes a shared lock for an instant, so an acquirer must allow a short wait.
pub fn is_held(path: &Path) -> Option<bool> {
    let file = File::open(path).ok()?;
    Some(rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared).is_err())
}

/// `<path>.lock`, beside `path`.
pub fn beside(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| std::ffi::OsString::from("reev"));
    name.push(".lock");
    path.with_file_name(name)
}

/// Take the lock on `path`, waiting at most `wait`; `busy` says what the holder is doing.
pub fn acquire(path: &Path, wait: Duration, busy: &str) -> Result<Lock> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
    }
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io("cannot open lock file", path, e))?;
    let deadline = Instant::now() + wait;
    loop {
        let err =
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(e) => std::io::Error::from(e),
            };
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(Error::io("cannot lock", path, err));
        }
        if Instant::now() >= deadline {
            let holder = std::fs::read_to_string(path).unwrap_or_default();
            let holder = holder.trim();
            return Err(Error::env(format!(
                "{busy} ({}, lock {}); wait for it with --wait DURATION, or try again later",
                if holder.is_empty() {
                    "holder unknown"
                } else {
                    holder
                },
                path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = file.set_len(0);
    let _ = writeln!(
        file,
        "held by pid {} on {} since {}",
        std::process::id(),
        crate::manifest::hostname(),
        crate::timestamp::rfc3339(chrono::Utc::now())
    );
    let _ = file.flush();
    Ok(Lock { file })
}
