//! `reev accept RUN`: take a run as the regression gate's new normal (its changes were
//! intended). Later runs are compared with it, and it joins the gate's history.

use crate::cli::AcceptArgs;
use crate::error::Result;
use crate::report::gate::accept;

pub fn accept(args: AcceptArgs) -> Result<()> {
    let runs_dir = args.runs.runs_dir();
    let path = accept::write(&runs_dir, &args.run_id, args.note)?;
    // The file is the record; the database follows it now if it can, else at the next load.
    if let Err(e) = accept::sync_db(&args.db.db, std::slice::from_ref(&runs_dir), args.db.wait) {
        tracing::warn!(
            "{}; the acceptance is recorded in {} and the next `reev load` brings it into the database",
            e.message,
            path.display()
        );
    }
    tracing::info!(
        "run {} accepted: the gate compares later runs with it",
        args.run_id
    );
    super::print(&format!("{}\n", path.display()))
}
