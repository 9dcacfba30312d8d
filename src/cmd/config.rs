//! `reev config` (the effective configuration and its sources) and `reev man`.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::config::Entry;
use crate::error::{Error, Result};

pub fn print(entries: &[Entry]) -> Result<()> {
    let width = entries.iter().map(|e| e.key.len()).max().unwrap_or(0);
    let vwidth = entries.iter().map(|e| e.value.len()).max().unwrap_or(0);
    for e in entries {
        println!("{:<width$}  {:<vwidth$}  # {}", e.key, e.value, e.source);
    }
    Ok(())
}

pub fn man() -> Result<()> {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .map_err(|e| Error::env(format!("cannot write the man page: {e}")))
}
