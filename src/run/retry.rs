//! `--retry-errors`: which tries of a planned session are still to run, and running them.
//!
//! A session that ends `error` (the agent could not start, setup failed, the agent exited 75)
//! could not be judged, so it is run again, up to N more times, after a short backoff. Every
//! try is its own write-once file (`<benchmark>@<attempt>.json`, then `.try2.json`, ...);
//! the latest try is the session's result everywhere (status, store, reports, gate).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::exec::{self, interrupt, Outcome};
use crate::plan::Task;
use crate::run::budget::Budget;
use crate::session::{self, Status};

/// Longest wait between two tries, whatever the base delay and the try number.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How errored sessions are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Tries after the first (0: never retry).
    pub errors: u32,
    /// Wait after the first try; doubled after each further try, at most [`MAX_BACKOFF`].
    pub delay: Duration,
}

/// A planned session still to run: tries `first..=last`.
#[derive(Debug, Clone)]
pub struct Pending<'a> {
    pub task: &'a Task,
    pub first: u32,
    pub last: u32,
}

/// The number of the latest try written for `task` (0: none yet). Tries are written in
/// order, so the first missing number ends the search.
pub fn latest_try(run_dir: &Path, task: &Task) -> u32 {
    let mut k = 0;
    while exec::final_path(run_dir, task, k + 1).exists() {
        k += 1;
    }
    k
}

/// What `task` still needs: everything when it has no file yet; when `resume_errors` and its
/// latest try is `error`, `retry.errors` more tries; else nothing.
pub fn pending<'a>(
    run_dir: &Path,
    task: &'a Task,
    retry: Retry,
    resume_errors: bool,
) -> Option<Pending<'a>> {
    let latest = latest_try(run_dir, task);
    if latest == 0 {
        return Some(Pending {
            task,
            first: 1,
            last: 1 + retry.errors,
        });
    }
    if !resume_errors || retry.errors == 0 {
        return None;
    }
    let path = exec::final_path(run_dir, task, latest);
    match session::read(&path) {
        Ok(s) if s.status == Status::Error => Some(Pending {
            task,
            first: latest + 1,
            last: latest + retry.errors,
        }),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("{}: {e}; not retried", path.display());
            None
        }
    }
}

/// The wait after try `k` (from 1): `delay`, doubled per try, capped.
pub fn backoff(delay: Duration, k: u32) -> Duration {
    delay
        .checked_mul(1u32 << (k - 1).min(16))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

/// Run the tries of one session: each `error` try but the last is written at once and run
/// again after the backoff; the last try's outcome is returned (`Finished`: to be written).
/// Interrupted during a backoff, the errored try just written is the session's result.
/// Each try's cost counts against `budget`; once it is used up, no further try starts.
pub fn run_tries(ctx: &exec::Context, p: &Pending, retry: Retry, budget: &Budget) -> Outcome {
    let mut k = p.first;
    loop {
        let outcome = exec::run_session(ctx, p.task, k);
        if let Outcome::Finished(done) = &outcome {
            budget.add(done.file.cost_usd);
        }
        let done = match outcome {
            Outcome::Finished(done)
                if done.file.status == Status::Error && k < p.last && !budget.exhausted() =>
            {
                done
            }
            other => return other,
        };
        let written = exec::write_session(&done, ctx.status_log);
        if !matches!(written, Outcome::Written { .. }) {
            return written;
        }
        let wait = backoff(retry.delay, k);
        tracing::warn!(
            session = %done.file.session_id,
            "{} / {} #{} try {k}: error: {}; trying again in {} ({} more at most)",
            p.task.benchmark_id,
            p.task.agent,
            p.task.attempt,
            done.file.error.as_deref().unwrap_or("unknown"),
            humantime::format_duration(wait),
            p.last - k
        );
        if !sleep_unless_interrupted(wait) {
            return written;
        }
        k += 1;
    }
}

/// Sleep for `wait`; false as soon as reev is asked to stop.
fn sleep_unless_interrupted(wait: Duration) -> bool {
    let end = Instant::now() + wait;
    loop {
        if interrupt::requested().is_some() {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let d = Duration::from_secs(1);
        assert_eq!(backoff(d, 1), Duration::from_secs(1));
        assert_eq!(backoff(d, 2), Duration::from_secs(2));
        assert_eq!(backoff(d, 3), Duration::from_secs(4));
        assert_eq!(backoff(d, 40), MAX_BACKOFF);
        assert_eq!(backoff(Duration::ZERO, 5), Duration::ZERO);
    }
}
