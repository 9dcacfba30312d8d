//! `reev export`: a table of the store to CSV, JSON lines or Parquet.

use crate::error::Result;
use crate::export::{self, ExportOptions};

pub fn export(opts: ExportOptions) -> Result<()> {
    let n = export::export(&opts)?;
    tracing::info!("exported {n} rows");
    Ok(())
}
