//! Loading files into DuckDB: what is new goes in, in one transaction, exactly once.
//!
//! [`load`] walks the trees and lets `target.rs` decide where the load is written: in place
//! when nobody holds the database, or into a copy beside it that is renamed into place when
//! analysts hold it open read-only (`swap.rs`); a read-write holder is waited for or named.
//! `txn.rs` then runs the load's transaction: a `Loader` owns the connection, the ledger
//! (`ledger.rs`) and the appenders (`rows.rs`). The flow is one way: this module calls
//! `target.rs`, which calls `txn.rs`, which calls the steps; what they all share is in
//! `ctx.rs`.
//!
//! The runs trees are walked on another thread and arrive run by run (`scan.rs`, `feed.rs`);
//! known files are recognised from the `loaded_files` ledger by path, size and mtime without
//! being read, and dropped at once; a changed size or mtime triggers a digest check. Session
//! files are read and parsed on an I/O pool (`parse.rs`) in batches bounded by count and by
//! bytes, so memory stays bounded whatever the tree's and the files' sizes, and appended
//! with DuckDB's Appender while the next batch is read.

use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use super::ctx::Ctx;
pub use super::ctx::{Conflict, ConflictKind, LoadSummary};
use super::error::StoreError;
use super::feed::Feed;
use super::target::{self, Target};
use super::{lock_writer, parse, scan, swap};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub roots: Vec<PathBuf>,
    pub db: PathBuf,
    pub rebuild: bool,
    pub wait: Duration,
}

/// Runs the walker may be ahead of the loader (each held in memory until loaded).
const RUNS_AHEAD: usize = 8;

pub fn load(opts: &LoadOptions) -> Result<LoadSummary> {
    let started = Instant::now();
    for root in &opts.roots {
        if !root.is_dir() {
            return Err(Error::input(format!(
                "runs directory {} does not exist (give it with --runs-dir)",
                root.display()
            )));
        }
    }
    let db = &opts.db;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::io("cannot create directory", dir, e))?;
    }
    let _lock = lock_writer(db, opts.wait)?;
    swap::clean_stale(db);
    let pool = parse::io_pool()?;
    let ctx = Ctx {
        db,
        roots: &opts.roots,
        pool: &pool,
        started,
        wait: opts.wait,
    };
    // Walk the trees on another thread while the database is opened and the ledger read;
    // the walker runs at most RUNS_AHEAD runs ahead of the loader.
    let mut sum = std::thread::scope(|s| {
        let (tx, rx) = sync_channel(RUNS_AHEAD);
        let (roots, pool) = (ctx.roots, ctx.pool);
        let walker = s.spawn(move || scan::stream(roots, pool, &tx));
        let feed = Feed::new(rx);
        let loaded = (|| match target::choose(db, opts.wait)? {
            // A rebuild replaces the file too: a read-write holder is waited for or named,
            // as for any load; readers keep their snapshot.
            target if opts.rebuild => {
                drop(target);
                target::rebuild(feed, &ctx)
            }
            Target::InPlace(conn) => target::in_place(conn, feed, &ctx),
            Target::Readers => target::beside_readers(feed, &ctx),
        })();
        // The feed is gone, so a walker still sending stops; a panic in it has already
        // failed the load (its stream ended without `Done`).
        let _ = walker.join();
        loaded
    })?;
    sum.elapsed = started.elapsed();
    Ok(sum)
}
