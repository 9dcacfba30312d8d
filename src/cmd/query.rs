//! `reev query`: read-only SQL against the database (`export::query`), printed on stdout as
//! a table, CSV or JSON.

use crate::error::Result;
use crate::export::query::{self, QueryOptions};

pub fn query(opts: QueryOptions) -> Result<()> {
    query::query(&opts, std::io::stdout().lock())
}
