//! `reev status [RUN_ID]`: the runs in a runs tree and how far each got, read from files
//! alone by `run::status`, printed as a table or JSON.

use crate::error::{Error, Result};
use crate::run::status::{self, StatusFormat, StatusOptions};

/// Prints every run it can read. A run it cannot read (a corrupt manifest, `sessions` that
/// is not a directory) is listed as `unreadable` with its problem, and the exit code is
/// that problem's kind — 2 for invalid files, 3 for I/O errors (the worse of them) — after
/// everything else was printed.
pub fn status(opts: StatusOptions) -> Result<()> {
    let (runs, problems) = status::read(&opts)?;
    match opts.format {
        StatusFormat::Json => {
            let text = serde_json::to_string_pretty(&runs)
                .map_err(|e| Error::env(format!("cannot encode status: {e}")))?;
            super::print(&format!("{text}\n"))?
        }
        StatusFormat::Table => super::print(&status::table(&runs))?,
    }
    let worst = problems.into_iter().fold(None, crate::run::batch::worse);
    match worst {
        None => Ok(()),
        Some(e) => Err(e.with_note("the other runs are listed; fix or move the unreadable ones")),
    }
}
