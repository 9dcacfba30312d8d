//! Reading, digesting and parsing session files off the loader's thread.
//!
//! Batches run on an I/O pool of more threads than cores: a cold load reads a million small
//! files that are not in the page cache, each read waits on the disk, and more reads in
//! flight keep the disk busy (on the 2-core bench machine 16 readers read 50,000 uncached
//! files in half the time 2 do). A batch is parsed while the loader appends the one before
//! it, so reading and appending overlap instead of taking turns.

use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver};

use rayon::prelude::*;

use super::error::StoreError;
use super::keys::{hex, Digest};
use super::ledger::Seen;
use super::rows;
use super::scan::Found;
use crate::digest::sha256_hex;
use crate::error::Result;
use crate::session::{self, SessionFile};

/// The largest session file reev reads. Files reev writes stay far below it: captured output
/// is capped at 1 MiB per stream and events at 8 MiB of input (JSON escaping can grow each a
/// few times). A larger file is quarantined unread, so a stray multi-GB file cannot exhaust
/// memory.
pub const MAX_SESSION_FILE: u64 = 128 << 20;

/// One session file to read: what the ledger said of it, and for a touched file the digest
/// it had when loaded.
pub struct Job {
    pub file: Found,
    pub seen: Seen,
    pub loaded: Option<Digest>,
}

/// What reading one session file decided.
pub enum Parsed {
    /// Touched (new size or mtime) but the same bytes as loaded.
    Touched,
    Quarantine(String),
    Changed {
        loaded: String,
        found: String,
    },
    Session(Box<SessionFile>, String),
}

/// Threads of the I/O pool: reads wait on the disk far more than they compute.
pub fn io_pool() -> Result<rayon::ThreadPool> {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    rayon::ThreadPoolBuilder::new()
        .num_threads((4 * cpus).clamp(8, 32))
        .thread_name(|i| format!("reev-read-{i}"))
        .build()
        .map_err(|e| StoreError::Readers(e).into())
}

/// A pipeline of one batch: [`Parser::push`] starts a batch and hands back the one before.
pub struct Parser<'p> {
    pool: &'p rayon::ThreadPool,
    pending: Option<Receiver<Vec<(Found, Parsed)>>>,
}

impl<'p> Parser<'p> {
    pub fn new(pool: &'p rayon::ThreadPool) -> Self {
        Parser {
            pool,
            pending: None,
        }
    }

    /// Start reading `batch`; returns the batch started before it, parsed, in order.
    pub fn push(&mut self, batch: Vec<Job>) -> Result<Option<Vec<(Found, Parsed)>>> {
        let (tx, rx) = sync_channel(1);
        self.pool.spawn(move || {
            let parsed: Vec<(Found, Parsed)> = batch
                .into_par_iter()
                .map(|j| {
                    let p = parse_one(&j);
                    (j.file, p)
                })
                .collect();
            let _ = tx.send(parsed);
        });
        let previous = self.finish();
        self.pending = Some(rx);
        previous
    }

    /// The batch still being read, parsed.
    pub fn finish(&mut self) -> Result<Option<Vec<(Found, Parsed)>>> {
        match self.pending.take() {
            None => Ok(None),
            Some(rx) => rx
                .recv()
                .map(Some)
                .map_err(|_| StoreError::ReaderPanicked.into()),
        }
    }
}

fn too_big(size: u64) -> String {
    format!(
        "{size} bytes ({:.1} MiB), more than the largest session file reev reads ({} MiB); not read",
        size as f64 / f64::from(1 << 20),
        MAX_SESSION_FILE >> 20
    )
}

/// The file's bytes, never more than [`MAX_SESSION_FILE`] (it may have grown since the walk).
fn read_capped(f: &Found) -> std::result::Result<Vec<u8>, String> {
    if f.size > MAX_SESSION_FILE {
        return Err(too_big(f.size));
    }
    let file = std::fs::File::open(&f.path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::with_capacity(f.size as usize);
    file.take(MAX_SESSION_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_SESSION_FILE {
        let size = std::fs::metadata(&f.path).map_or(bytes.len() as u64, |m| m.len());
        return Err(too_big(size));
    }
    Ok(bytes)
}

/// Read, digest, parse and check one session file (on a reader thread).
fn parse_one(j: &Job) -> Parsed {
    let bytes = match read_capped(&j.file) {
        Ok(b) => b,
        Err(e) => return Parsed::Quarantine(e),
    };
    let sha = sha256_hex(&bytes);
    if j.seen == Seen::Touched {
        let old = j.loaded.map(|d| hex(&d)).unwrap_or_default();
        return if old == sha {
            Parsed::Touched
        } else {
            Parsed::Changed {
                loaded: old,
                found: sha,
            }
        };
    }
    if bytes.is_empty() {
        return Parsed::Quarantine("empty file (zero bytes)".into());
    }
    match session::parse(&bytes) {
        Ok(s) => match rows::check_session(&s) {
            Ok(()) => Parsed::Session(Box::new(s), sha),
            Err(e) => Parsed::Quarantine(e.to_string()),
        },
        // The parser rejects invalid UTF-8 anywhere (in strings too), so only a file it
        // rejected is checked for it, to say so instead of naming a byte offset.
        Err(_) if std::str::from_utf8(&bytes).is_err() => {
            Parsed::Quarantine("not valid UTF-8".into())
        }
        Err(e) => Parsed::Quarantine(e.to_string()),
    }
}
