//! `reev config` (the effective configuration and its sources) and `reev man`.

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::config::Entry;
use crate::error::{Error, Result};

pub fn print(entries: &[Entry]) -> Result<()> {
    let width = entries.iter().map(|e| e.key.len()).max().unwrap_or(0);
    let vwidth = entries.iter().map(|e| e.value.len()).max().unwrap_or(0);
    let mut text = String::new();
    for e in entries {
        text.push_str(&format!(
            "{:<width$}  {:<vwidth$}  # {}\n",
            e.key, e.value, e.source
        ));
    }
    super::print(&text)
}

/// `reev man`: reev(1); `reev man run`: reev-run(1); `reev man --out DIR`: every page, so
/// that each page reev(1) cites under SUBCOMMANDS exists.
pub fn man(args: ManArgs) -> Result<()> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        clap_mangen::generate_to(cmd, dir)
            .map_err(|e| Error::io("cannot write man pages into", dir, e))?;
        tracing::info!("man pages written to {}", dir.display());
        return Ok(());
    }
    let page = match &args.command {
        None => cmd,
        Some(name) => cmd.find_subcommand(name).cloned().ok_or_else(|| {
            let names: Vec<String> = Cli::command()
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .filter(|n| n != "help")
                .collect();
            Error::input(format!(
                "no command `{name}`; man pages exist for: {}",
                names.join(", ")
            ))
        })?,
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .map_err(|e| Error::env(format!("cannot render the man page: {e}")))?;
    super::print(&String::from_utf8_lossy(&out))
}
