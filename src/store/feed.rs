//! The loader's end of the walk: runs arrive from the walker (`scan.rs`) in order, and the
//! files the ledger knows unchanged are counted and dropped on arrival. Memory then holds
//! what this load has to read and a bounded number of runs ahead, never the whole tree: a
//! no-op reload of 1,000,000 files keeps none of them.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;

use super::error::StoreError;
use super::ledger::{seen, Known, Seen};
use super::parse::MAX_SESSION_FILE;
use super::scan::{Found, Msg};
use crate::error::Result;

/// Of one run: the files to look at (not known unchanged) and the paths that failed.
pub struct Part {
    pub files: Vec<(Found, Seen)>,
    pub errors: Vec<(PathBuf, String)>,
}

pub struct Feed {
    rx: Receiver<Msg>,
    ahead: VecDeque<Part>,
    /// Whether the walker said it walked everything.
    done: bool,
    /// Files found so far, and of them those known unchanged.
    pub seen: u64,
    pub unchanged: u64,
}

/// Bytes a file will cost to read (an oversized one is quarantined unread).
pub fn cost(f: &Found) -> u64 {
    f.size.min(MAX_SESSION_FILE)
}

impl Feed {
    pub fn new(rx: Receiver<Msg>) -> Self {
        Feed {
            rx,
            ahead: VecDeque::new(),
            done: false,
            seen: 0,
            unchanged: 0,
        }
    }

    /// The next run with anything to do, or `None` once the walk is over.
    pub fn next(&mut self, known: &Known) -> Result<Option<Part>> {
        match self.ahead.pop_front() {
            Some(p) => Ok(Some(p)),
            None => self.pull(known),
        }
    }

    /// Walk on until more than `limit` bytes of files wait to be read, or the walk is over;
    /// returns the bytes waiting. Nothing waits (0, and no failed path) on a no-op.
    pub fn read_ahead(&mut self, known: &Known, limit: u64) -> Result<u64> {
        let mut waiting: u64 = self.ahead.iter().map(part_cost).sum();
        while waiting <= limit {
            let Some(part) = self.pull(known)? else { break };
            waiting += part_cost(&part);
            self.ahead.push_back(part);
        }
        Ok(waiting)
    }

    /// Whether nothing at all is waiting: no file to read and no path that failed.
    pub fn nothing_ahead(&self) -> bool {
        self.ahead.is_empty()
    }

    fn pull(&mut self, known: &Known) -> Result<Option<Part>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let scan = match self.rx.recv() {
                Ok(Msg::Run(scan)) => scan,
                Ok(Msg::Done) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(_) => return Err(StoreError::WalkCut.into()),
            };
            self.seen += scan.files.len() as u64;
            let mut files = Vec::new();
            for f in scan.files {
                match seen(known, &f) {
                    Seen::Unchanged => self.unchanged += 1,
                    s => files.push((f, s)),
                }
            }
            if !files.is_empty() || !scan.errors.is_empty() {
                return Ok(Some(Part {
                    files,
                    errors: scan.errors,
                }));
            }
        }
    }
}

fn part_cost(p: &Part) -> u64 {
    p.files.iter().map(|(f, _)| cost(f)).sum()
}
