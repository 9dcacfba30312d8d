//! Group commit of session files: the sessions that finished while the previous batch was
//! being written are written together and share their flush.
//!
//! A writer thread takes every finished session waiting in the queue (up to [`MAX_BATCH`]),
//! writes each into an unnamed file (`O_TMPFILE`) in its directory, then makes them all
//! durable at once — their `fsync`s issued concurrently, so the disk's cache flushes they
//! ask for are merged by the block layer instead of waited for one after the other — and
//! only then links each under its name, never replacing a file. So the guarantees of
//! [`session::write_new`] hold for every file of a batch: a crash at any instant (in the
//! middle of a batch too) leaves each session file whole or absent, with no temporary name,
//! and `--resume` runs exactly the absent ones. The names become durable with the one
//! `fsync` per directory at the end of the run (`cmd/run.rs`), as before.
//!
//! A session with a model gateway has a second file, its cassette: written, made durable and
//! linked the same way in the same batch, the cassette named before the session file.
//!
//! After its file is linked, each session's status is appended to the run's status log.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use super::{place_cassette, write_cassette, write_session, Finished, Outcome};
use crate::error::Error;
use crate::run::status_log::StatusLog;
use crate::session;

/// Sessions written together at most (bounded, so one batch's bytes stay small in memory).
pub const MAX_BATCH: usize = 64;
/// Threads that issue a batch's `fsync`s at once.
const SYNCERS: usize = 4;

/// The next batch: blocks for the first finished session, then takes what else is waiting.
/// Empty once the queue is closed and drained.
pub fn next_batch(rx: &Receiver<Box<Finished>>) -> Vec<Box<Finished>> {
    let Ok(first) = rx.recv() else {
        return Vec::new();
    };
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    batch
}

/// One session of a batch on its way: its unnamed file (and its cassette's, for a session
/// with a model gateway), written, not yet durable or named.
struct Unnamed<'a> {
    done: &'a Finished,
    file: File,
    cassette: Option<File>,
}

impl Unnamed<'_> {
    /// Both files durable.
    fn sync(&self) -> std::io::Result<()> {
        self.file.sync_all()?;
        self.cassette.as_ref().map_or(Ok(()), File::sync_all)
    }

    /// The cassette named first, then the session file: a session file always finds the
    /// cassette it names (a stale one a crash left is replaced, see `place_cassette`).
    fn link(&self) -> std::io::Result<()> {
        if let (Some(f), Some((path, _))) = (&self.cassette, &self.done.cassette) {
            place_cassette(path, &self.done.path, || session::link_unnamed(f, path))?;
        }
        session::link_unnamed(&self.file, &self.done.path)
    }
}

/// Write a batch of finished sessions (see the module doc); one outcome per session, in
/// order of the batch.
pub fn write_batch(batch: &[Box<Finished>], log: &StatusLog) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(batch.len());
    let mut unnamed: Vec<(usize, Unnamed)> = Vec::new();
    for (i, done) in batch.iter().enumerate() {
        match write_unnamed(done) {
            Ok(Some(u)) => {
                unnamed.push((i, u));
                outcomes.push(None);
            }
            // No O_TMPFILE here: this one goes the way of a single write (a named
            // temporary file, fsynced and renamed), its cassette first.
            Ok(None) => outcomes.push(Some(match write_cassette(done) {
                Ok(()) => write_session(done, log),
                Err(failed) => failed,
            })),
            Err(e) => outcomes.push(Some(failed(done, e))),
        }
    }
    let synced = sync_all(unnamed);
    test_pause();
    for (i, u, result) in synced {
        let result = result.and_then(|()| u.link());
        outcomes[i] = Some(match result {
            Ok(()) => written(u.done, log),
            // No /proc to link through (a bare container): the single write's way.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !u.done.path.exists() => {
                write_session(u.done, log)
            }
            Err(e) => failed(u.done, e),
        });
    }
    outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| Outcome::Failed(Error::env("a session of a batch was not written")))
        })
        .collect()
}

/// The session's bytes (and its cassette's) in unnamed files in their directories; `None`
/// where the filesystem has no unnamed files.
fn write_unnamed(done: &Finished) -> std::io::Result<Option<Unnamed<'_>>> {
    let bytes = serde_json::to_vec_pretty(&done.file).map_err(std::io::Error::other)?;
    let Some(file) = unnamed_with(&done.path, &bytes)? else {
        return Ok(None);
    };
    let cassette = match &done.cassette {
        None => None,
        Some((path, bytes)) => match unnamed_with(path, bytes)? {
            Some(f) => Some(f),
            None => return Ok(None),
        },
    };
    Ok(Some(Unnamed {
        done,
        file,
        cassette,
    }))
}

/// `bytes` in an unnamed file in `path`'s directory (made when missing); `None` where the
/// filesystem has no unnamed files.
fn unnamed_with(path: &Path, bytes: &[u8]) -> std::io::Result<Option<File>> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = match session::create_unnamed(dir) {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    file.write_all(bytes)?;
    Ok(Some(file))
}

/// `fsync` every file of the batch, from up to [`SYNCERS`] threads at once.
fn sync_all(unnamed: Vec<(usize, Unnamed)>) -> Vec<(usize, Unnamed, std::io::Result<()>)> {
    if unnamed.len() <= 1 {
        return unnamed
            .into_iter()
            .map(|(i, u)| {
                let r = u.sync();
                (i, u, r)
            })
            .collect();
    }
    let per = unnamed.len().div_ceil(SYNCERS);
    let mut parts: Vec<Vec<(usize, Unnamed)>> = Vec::new();
    let mut rest = unnamed.into_iter().peekable();
    while rest.peek().is_some() {
        parts.push(rest.by_ref().take(per).collect());
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    part.into_iter()
                        .map(|(i, u)| {
                            let r = u.sync();
                            (i, u, r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// A session file linked into place: its status goes to the log.
pub(super) fn written(done: &Finished, log: &StatusLog) -> Outcome {
    let file = &done.file;
    let stem = done.path.file_stem().map(|s| s.to_string_lossy());
    log.append(
        &file.agent,
        stem.as_deref().unwrap_or_default(),
        file.status,
    );
    Outcome::Written {
        agent: file.agent.clone(),
        status: file.status,
        score: file.score,
    }
}

/// A session file that could not be written; an existing file is never replaced.
pub(super) fn failed(done: &Finished, e: std::io::Error) -> Outcome {
    let (path, id) = (&done.path, &done.file.session_id);
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        return Outcome::Failed(Error::input(format!(
            "session {id}: {} already exists and is never overwritten (is another reev resuming this run?)",
            path.display()
        )));
    }
    Outcome::Failed(Error::io(&format!("session {id}: cannot write"), path, e))
}

/// For the crash tests only: `REEV_TEST_COMMIT_PAUSE_MS` holds every batch between its
/// flush and its links, so that a test can kill reev while a batch is in flight.
fn test_pause() {
    static PAUSE: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    let pause = PAUSE.get_or_init(|| {
        std::env::var("REEV_TEST_COMMIT_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
    });
    if let Some(d) = pause {
        std::thread::sleep(*d);
    }
}
