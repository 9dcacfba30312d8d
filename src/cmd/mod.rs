//! One module per command: each takes typed options and returns a `Result` for `main` to map.

pub mod batch;
pub mod calibrate;
pub mod compare;
pub mod config;
pub mod export;
pub mod list;
pub mod load;
pub mod query;
pub mod report;
pub mod retry;
pub mod run;
pub mod show;
pub mod status;
pub mod validate;

use crate::error::Error;
use crate::spec::{self, Suite, SuitePaths};

/// Write `text` to stdout. A reader that went away (`reev ... | head`) ends reev quietly
/// with 141, like a Unix tool killed by SIGPIPE; see `Error::stdout`.
pub fn print(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::stdout)
}

/// Load the suite or fail with every diagnostic.
pub fn load_suite(paths: &SuitePaths) -> Result<Suite, Error> {
    spec::load(paths).map_err(|d| Error::diagnostics(&d))
}
