//! Where a load is written, and keeping that place safe until it is done: in place when
//! nobody holds the database; into a copy beside it, renamed into place at the end, when
//! analysts hold it open read-only (a no-op writes nothing then) or for `--rebuild`. While
//! a copy is built, read-write opens of the old file are barred (`holders.rs`), so nothing
//! written to it can be lost at the rename.

use std::path::Path;
use std::time::{Duration, Instant};

use duckdb::Connection;

use super::ctx::{sql, Commits, Ctx, LoadSummary, CHUNK_BYTES};
use super::error::{Blocker, StoreError};
use super::feed::Feed;
use super::holders::{self, Holder};
use super::ledger::read_known;
use super::txn::Ready;
use super::{is_lock_error, open_once, schema_is_current, swap, Mode};
use crate::error::Result;

/// Where this load writes.
pub(super) enum Target {
    /// The live file, opened read-write: nobody else had it open.
    InPlace(Connection),
    /// Readers hold the live file open: a load is built in a copy beside it and renamed
    /// into place, so they keep their snapshot.
    Readers,
}

/// Load into the live file, opened read-write, unless the load is big: then it is built
/// beside (one transaction that large makes DuckDB spill and re-read what it holds).
pub(super) fn in_place(conn: Connection, mut feed: Feed, ctx: &Ctx) -> Result<LoadSummary> {
    let ready = Ready::new(conn, ctx.db, ctx.started)?;
    if feed.read_ahead(&ready.known, CHUNK_BYTES)? <= CHUNK_BYTES {
        return ready.load(feed, ctx, Commits::One);
    }
    tracing::info!(
        "more than {} MiB of new files: building the new database beside {}",
        CHUNK_BYTES >> 20,
        ctx.db.display()
    );
    let known = ready.close();
    let _barred = bar_writers(ctx)?;
    beside(ctx.db, true, |tmp, conn| {
        Ready::with_known(conn, tmp, known)?.load(feed, ctx, Commits::Chunked)
    })
}

/// Readers hold the live file: read its ledger through a read-only connection beside
/// theirs; with nothing to load that is all (no copy, nothing written), else load into a
/// copy and rename it into place.
pub(super) fn beside_readers(mut feed: Feed, ctx: &Ctx) -> Result<LoadSummary> {
    let _barred = bar_writers(ctx)?;
    let conn = open_once(ctx.db, Mode::ReadOnly)?
        .map_err(sql(ctx.db, "opening the database read-only"))?;
    // A database of another schema is refused (or rebuilt) by the copy's `ensure_schema`.
    let known = match schema_is_current(&conn) {
        true => Some(read_known(&conn, ctx.db)?),
        false => None,
    };
    drop(conn);
    if let Some(known) = &known {
        feed.read_ahead(known, 0)?;
        if feed.nothing_ahead() {
            tracing::info!(
                "nothing new to load; {} is open read-only, so it was not written",
                ctx.db.display()
            );
            return Ok(LoadSummary {
                seen: feed.seen,
                skipped: feed.unchanged,
                ..Default::default()
            });
        }
    }
    beside(ctx.db, true, |tmp, conn| {
        let ready = match known {
            Some(known) => Ready::with_known(conn, tmp, known)?,
            None => Ready::new(conn, tmp, ctx.started)?,
        };
        ready.load(feed, ctx, Commits::Chunked)
    })
}

pub(super) fn rebuild(feed: Feed, ctx: &Ctx) -> Result<LoadSummary> {
    let _barred = bar_writers(ctx)?;
    beside(ctx.db, false, |tmp, conn| {
        Ready::new(conn, tmp, ctx.started)?.load(feed, ctx, Commits::Chunked)
    })
}

/// Bar read-write opens of the live file until the load is over (see
/// [`holders::WritersBarred`]); a read-write holder is waited for or named.
fn bar_writers(ctx: &Ctx) -> Result<Option<holders::WritersBarred>> {
    until_free(ctx.db, ctx.wait, || {
        match holders::bar_writers(ctx.db).map_err(|e| StoreError::io("cannot lock", ctx.db, e))? {
            Some(barred) => Ok(Ok(barred)),
            None => Ok(Err(match holders::probe(ctx.db) {
                Ok(Holder::Writer { pid }) => Blocker::Writer(holders::describe(pid)),
                _ => Blocker::SomeWriter,
            })),
        }
    })
}

/// Build the database beside `db` (a copy of it, or empty), run `fill` on it, and rename it
/// into place; on any error the half-built file is removed and `db` is untouched.
fn beside(
    db: &Path,
    copy: bool,
    fill: impl FnOnce(&Path, Connection) -> Result<LoadSummary>,
) -> Result<LoadSummary> {
    let tmp = swap::tmp_path(db, if copy { "load" } else { "rebuild" });
    let built = (|| {
        if copy {
            let t = Instant::now();
            swap::copy_live(db, &tmp)?;
            tracing::info!(
                "loading into a copy of {} ({:.2} s to copy)",
                db.display(),
                t.elapsed().as_secs_f64()
            );
        } else {
            swap::discard(&tmp);
        }
        let conn =
            open_once(&tmp, Mode::ReadWrite)?.map_err(sql(&tmp, "opening the new database"))?;
        let sum = fill(&tmp, conn)?;
        swap::install(&tmp, db)?;
        Ok(sum)
    })();
    if built.is_err() {
        swap::discard(&tmp);
    }
    built
}

/// Call `attempt` until it decides (`Ok(Ok(_))`) or `wait` runs out; a blocked attempt says
/// who blocks it (`Ok(Err(blocker))`), named in the error once the wait is over.
fn until_free<T>(
    db: &Path,
    wait: Duration,
    mut attempt: impl FnMut() -> Result<std::result::Result<T, Blocker>>,
) -> Result<T> {
    let deadline = Instant::now() + wait;
    let mut delay = Duration::from_millis(20);
    loop {
        let blocker = match attempt()? {
            Ok(v) => return Ok(v),
            Err(blocker) => blocker,
        };
        if Instant::now() >= deadline {
            return Err(StoreError::Locked {
                db: db.to_path_buf(),
                blocker,
            }
            .into());
        }
        std::thread::sleep(delay.min(deadline.saturating_duration_since(Instant::now())));
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// In place when nobody holds the file; beside it when only readers do; a read-write
/// holder is waited for until `wait` runs out, then named.
pub(super) fn choose(db: &Path, wait: Duration) -> Result<Target> {
    until_free(db, wait, || {
        let holder =
            holders::probe(db).map_err(|e| StoreError::io("cannot check who holds", db, e))?;
        Ok(match holder {
            Holder::Readers { pid } => {
                tracing::info!(
                    "{} is open read-only (by {} and maybe others): loading beside it",
                    db.display(),
                    holders::describe(pid)
                );
                Ok(Target::Readers)
            }
            Holder::Nobody => match open_once(db, Mode::ReadWrite)? {
                Ok(conn) => Ok(Target::InPlace(conn)),
                // Someone opened it between the probe and the open: look again.
                Err(e) if is_lock_error(&e) => Err(Blocker::Lock(e.into())),
                Err(e) => {
                    return Err(StoreError::Open {
                        db: db.to_path_buf(),
                        source: e.into(),
                    }
                    .into())
                }
            },
            Holder::Writer { pid } => Err(Blocker::Writer(holders::describe(pid))),
        })
    })
}
