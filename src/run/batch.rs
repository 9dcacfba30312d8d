//! `reev batch`'s orchestration: run -> load -> report in one process, under a lock in the
//! runs tree. Exit code: environment errors (3) win over input errors (2), which win over
//! failed benchmarks or regressions when gated (1).
//!
//! The three steps are the commands themselves (each prints what it prints alone), handed
//! in by `cmd::batch` as [`Steps`]; how a batch holds its stdout under `-q` is there too.

use crate::error::{Error, Kind, Result};
use crate::report::ReportOptions;
use crate::store::load::LoadOptions;

use super::{RunOptions, RunReport};

#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub run: RunOptions,
    pub load: LoadOptions,
    pub report: ReportOptions,
}

/// Keep the error that decides the exit code: Env > Input > Failed; messages accumulate.
pub fn worse(a: Option<Error>, b: Error) -> Option<Error> {
    Some(match a {
        None => b,
        Some(a) => {
            let (hi, lo) = if b.kind > a.kind { (b, a) } else { (a, b) };
            Error::new(hi.kind, format!("{}\n{}", hi.chain(), lo.chain()))
        }
    })
}

/// The batch lock, directly under the runs tree (a file, so no loader takes it for a run).
pub const BATCH_LOCK: &str = ".batch.lock";

/// The commands a batch runs, in order.
pub struct Steps {
    pub run: fn(RunOptions, bool) -> Result<RunReport>,
    pub load: fn(LoadOptions) -> Result<()>,
    pub report: fn(ReportOptions) -> Result<()>,
}

/// A failed batch, and the run whose report it wrote (to name it in the error).
#[derive(Debug)]
pub struct Failure {
    pub error: Error,
    pub report: Option<String>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            error,
            report: None,
        }
    }
}

/// Run, load and report, under the batch lock; every step's error is kept, the worst decides.
pub fn steps(
    opts: BatchOptions,
    quiet: bool,
    commands: &Steps,
) -> std::result::Result<(), Failure> {
    // Inside the runs tree, not beside it: `runs/` is the batch's own (ignored) territory,
    // and a lock file beside it would be an untracked file in the project root.
    let lock_file = opts.run.runs_dir.join(BATCH_LOCK);
    let _lock = crate::lock::acquire(
        &lock_file,
        opts.load.wait,
        &format!(
            "another reev batch is running on {}",
            opts.run.runs_dir.display()
        ),
    )?;
    let mut outcome: Option<Error> = None;

    // 1. Run. Failed sessions are data; anything else stops the batch here. Its printed
    // resume commands are this batch again, so that finishing the run loads and reports it.
    let run_opts = RunOptions {
        batch_argv: Some(std::env::args().collect()),
        ..opts.run.clone()
    };
    let run_id = match (commands.run)(run_opts, quiet) {
        Ok(r) => r.run_id,
        Err(e) if e.kind == Kind::Failed => {
            outcome = worse(outcome, e);
            latest_run_id(&opts)?
        }
        Err(e) => return Err(e.into()),
    };

    // 2. Load everything new (this run, and anything an earlier batch could not load).
    match (commands.load)(opts.load.clone()) {
        Ok(()) => {}
        Err(e) if e.kind == Kind::Failed => outcome = worse(outcome, e),
        Err(e) => {
            return Err(worse(outcome, e)
                .unwrap_or_else(|| Error::env("load failed"))
                .into())
        }
    }

    // 3. Report this run.
    let report = ReportOptions {
        run: run_id.clone(),
        ..opts.report.clone()
    };
    let written = match (commands.report)(report) {
        Ok(()) => true,
        Err(e) => {
            // A failed gate still wrote the report; an error before it did not.
            let gated = e.kind == Kind::Failed;
            outcome = worse(outcome, e);
            gated
        }
    };
    match outcome {
        None => Ok(()),
        Some(error) => Err(Failure {
            error,
            report: written.then_some(run_id),
        }),
    }
}

/// When the run step ended with failed sessions, the run id is in the manifest it wrote.
fn latest_run_id(opts: &BatchOptions) -> Result<String> {
    if let Some(id) = opts.run.resume.clone().or(opts.run.run_id.clone()) {
        return Ok(id);
    }
    let mut runs: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(&opts.run.runs_dir)
        .map_err(|e| Error::io("cannot list", &opts.run.runs_dir, e))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            Some((
                e.metadata()
                    .ok()?
                    .created()
                    .or(e.metadata().ok()?.modified())
                    .ok()?,
                e.file_name().to_string_lossy().into_owned(),
            ))
        })
        .collect();
    runs.sort();
    runs.pop()
        .map(|(_, id)| id)
        .ok_or_else(|| Error::env(format!("no run found in {}", opts.run.runs_dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_beats_input_beats_failed() {
        let e = worse(None, Error::failed("f"));
        let e = worse(e, Error::env("e"));
        let e = worse(e, Error::input("i")).unwrap();
        assert_eq!(e.kind.exit_code(), 3);
        assert!(e.message.contains('f') && e.message.contains('i'));
        let e = worse(worse(None, Error::input("i")), Error::failed("f")).unwrap();
        assert_eq!(e.kind.exit_code(), 2);
    }
}
