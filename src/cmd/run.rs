//! `reev run`: plan, write the manifest, execute pending sessions in parallel (`run::run`),
//! print the per-agent summary, and end as the run did.

use crate::error::Result;
use crate::run::{self, RunOptions, RunReport};

pub fn run(opts: RunOptions, quiet: bool) -> Result<RunReport> {
    let ended = run::run(&opts, quiet)?;
    super::print(&run::tally::summary(&ended.report))?;
    ended.conclude(opts.fail_on_failed)
}
