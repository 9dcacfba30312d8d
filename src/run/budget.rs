//! `--max-cost`: the run's spending so far, whether another session may start, and the
//! write-once note (`budget-stop.json`) that tells `reev status` a run was stopped by it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::plan::Shard;

/// The run's cost so far against its budget. Sessions without a `cost_usd` count as 0.
#[derive(Debug)]
pub struct Budget {
    max_usd: Option<f64>,
    spent: Mutex<f64>,
    announced: AtomicBool,
}

impl Budget {
    /// `spent` is what the run's existing session files cost (on `--resume`).
    pub fn new(max_usd: Option<f64>, spent: f64) -> Self {
        Budget {
            max_usd,
            spent: Mutex::new(spent),
            announced: AtomicBool::new(false),
        }
    }

    pub fn add(&self, cost: Option<f64>) {
        if let (Some(c), Ok(mut s)) = (cost, self.spent.lock()) {
            *s += c;
        }
    }

    pub fn spent(&self) -> f64 {
        self.spent.lock().map(|s| *s).unwrap_or(f64::INFINITY)
    }

    /// The budget is used up: no new session may start (running ones finish).
    pub fn exhausted(&self) -> bool {
        self.max_usd.is_some_and(|max| self.spent() >= max)
    }

    /// True the first time only: the run says once that it stops launching sessions.
    pub fn first_refusal(&self) -> bool {
        !self.announced.swap(true, Ordering::Relaxed)
    }

    pub fn max(&self) -> Option<f64> {
        self.max_usd
    }
}

/// What `budget-stop.json` records: the budget, what was spent, and how many planned
/// sessions were not launched (they have no session file; `--resume` runs them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopNote {
    pub max_cost_usd: f64,
    pub spent_usd: f64,
    pub not_launched: u64,
    pub stopped_at: String,
}

/// `budget-stop.json`, or `budget-stop.shard-K-of-N.json` for a shard.
pub fn note_name(shard: Option<Shard>) -> String {
    match shard {
        None => "budget-stop.json".to_string(),
        Some(s) => format!("budget-stop.shard-{}-of-{}.json", s.index, s.count),
    }
}

pub fn is_note_name(name: &str) -> bool {
    name.starts_with("budget-stop.") && name.ends_with(".json")
}

/// Write the note once. A note from an earlier stop of the same run is kept: it is write-once
/// like every file of a run, and `reev status` only needs to know that a budget stopped it.
pub fn write_note(run_dir: &Path, shard: Option<Shard>, note: &StopNote) -> std::io::Result<()> {
    let path = run_dir.join(note_name(shard));
    let bytes = serde_json::to_vec_pretty(note).map_err(std::io::Error::other)?;
    match crate::session::write_new(&path, &bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// Text that is not a positive, finite number of US dollars.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a budget: a positive number of US dollars, e.g. 2.50")]
pub struct NotABudget(String);

/// Parse `--max-cost`: a positive, finite number of USD.
pub fn parse_usd(text: &str) -> Result<f64, NotABudget> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(NotABudget(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_is_exhausted_once_reached() {
        let b = Budget::new(Some(1.0), 0.25);
        assert!(!b.exhausted());
        b.add(None);
        b.add(Some(0.5));
        assert!(!b.exhausted());
        b.add(Some(0.25));
        assert!(b.exhausted());
        assert!(!Budget::new(None, 1e9).exhausted());
        assert!(parse_usd("0").is_err() && parse_usd("nan").is_err() && parse_usd("-1").is_err());
        assert_eq!(parse_usd("2.5"), Ok(2.5));
    }
}
