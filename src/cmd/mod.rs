//! One module per command: each takes typed options and returns a `Result` for `main` to map.

pub mod batch;
pub mod config;
pub mod export;
pub mod list;
pub mod load;
pub mod query;
pub mod report;
pub mod run;
pub mod show;
pub mod status;
pub mod validate;

use crate::error::Error;
use crate::spec::{self, Suite, SuitePaths};

/// Load the suite or fail with every diagnostic.
pub fn load_suite(paths: &SuitePaths) -> Result<Suite, Error> {
    spec::load(paths).map_err(|d| Error::diagnostics(&d))
}
