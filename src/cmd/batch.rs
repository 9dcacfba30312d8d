//! `reev batch`: run -> load -> report in one process (`run::batch`), each step the command
//! itself.
//!
//! Made for cron: with `-q` a batch that succeeds writes nothing at all (stdout is held and
//! dropped), and one that fails writes what it held — the run's summary, the load line, the
//! report paths — besides the regressions and the error on stderr; so cron mails exactly the
//! failures. With `--log-format json` its stdout lines are JSON log objects too.

use crate::error::Result;
use crate::run::batch::{self, BatchOptions, Steps};

pub fn batch(opts: BatchOptions, quiet: bool) -> Result<()> {
    let json = crate::logging::is_json();
    if quiet {
        super::set_stdout(super::Stdout::Held {
            json,
            text: String::new(),
        });
        crate::logging::hold_warnings();
    } else {
        super::set_stdout(super::Stdout::Direct { json });
    }
    let reports = opts.report.out.clone();
    let commands = Steps {
        run: super::run::run,
        load: super::load::load,
        report: super::report::report,
    };
    match batch::steps(opts, quiet, &commands) {
        // Success under -q: what was held is dropped.
        Ok(()) => {
            crate::logging::release_held(false);
            super::set_stdout(super::Stdout::Direct { json });
            Ok(())
        }
        Err(e) => {
            crate::logging::release_held(true);
            super::release_stdout()?;
            Err(match &e.report {
                Some(dir) => e.error.with_note(&format!(
                    "the report: {}",
                    reports.join(dir).join("report.md").display()
                )),
                None => e.error,
            })
        }
    }
}
