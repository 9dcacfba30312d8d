//! The pool that runs a plan's pending sessions: `jobs` worker threads launch sessions
//! (their tries) while writer threads write and fsync the finished ones, and the budget
//! stops launching once it is used up.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::exec::{self, Outcome};
use crate::logging::Progress;
use crate::session::Status;

use super::budget::Budget;
use super::retry::{self, Pending, Retry};

/// Run the pending sessions on `jobs` worker threads; writer threads write (and fsync)
/// finished sessions meanwhile, in batches of what finished together (`exec::commit`), so
/// an agent never waits for the previous session's fsync.
/// Once `budget` is used up no further session starts.
pub fn execute(
    ctx: &exec::Context,
    pending: &[Pending],
    jobs: usize,
    retry: Retry,
    quiet: bool,
    budget: &Budget,
) -> Result<Vec<Outcome>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("reev-session-{i}"))
        .build()
        .map_err(|e| Error::env(format!("cannot start {jobs} worker threads: {e}")))?;
    let progress = Progress::new(pending.len() as u64, quiet);
    let writers = jobs.clamp(1, 4);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Box<exec::Finished>>(256);
    let rx = std::sync::Mutex::new(rx);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                scope.spawn(|| {
                    let mut written = Vec::new();
                    loop {
                        // Whatever finished meanwhile is written as one batch (group commit).
                        let batch = match rx.lock() {
                            Ok(rx) => exec::commit::next_batch(&rx),
                            Err(_) => break,
                        };
                        if batch.is_empty() {
                            break;
                        }
                        for outcome in exec::commit::write_batch(&batch, ctx.status_log) {
                            tick(&progress, &outcome);
                            written.push(outcome);
                        }
                    }
                    written
                })
            })
            .collect();
        let mut outcomes: Vec<Outcome> = pool.install(|| {
            pending
                .par_iter()
                .with_max_len(1)
                .map_with(tx, |tx, p| match launch(ctx, p, retry, budget) {
                    Outcome::Finished(done) => match tx.send(done) {
                        Ok(()) => None,
                        Err(e) => Some(exec::write_session(&e.0, ctx.status_log)),
                    },
                    other => {
                        tick(&progress, &other);
                        Some(other)
                    }
                })
                .flatten()
                .collect()
        });
        pool.broadcast(|_| crate::sandbox::spawn::release_worker());
        for h in handles {
            outcomes.extend(h.join().unwrap_or_default());
        }
        outcomes
    });
    progress.finish();
    Ok(outcomes)
}

/// Run one session (its tries) unless the budget is used up; what each try cost counts
/// against the budget.
fn launch(ctx: &exec::Context, p: &Pending, retry: Retry, budget: &Budget) -> Outcome {
    if budget.exhausted() {
        if budget.first_refusal() {
            tracing::warn!(
                "run {}: the budget of {} USD is used up ({:.6} USD spent); no more sessions are launched, running ones finish",
                ctx.run_id,
                budget.max().unwrap_or_default(),
                budget.spent()
            );
        }
        return Outcome::OverBudget;
    }
    retry::run_tries(ctx, p, retry, budget)
}

fn tick(progress: &Progress, outcome: &Outcome) {
    match outcome {
        Outcome::Written { status, .. } => progress.tick(*status != Status::Succeeded),
        Outcome::Failed(e) => {
            tracing::error!("{e}");
            progress.tick(true)
        }
        Outcome::Finished(_) | Outcome::NotStarted | Outcome::Interrupted | Outcome::OverBudget => {
        }
    }
}
