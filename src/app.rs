//! The entry point: parses the command line, runs one command, and is the one place where
//! errors become messages on stderr and exit codes.

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, LogFormat};
use crate::logging::{self, Verbosity};
use crate::{cmd, config, error};

/// Run reev with this process's arguments; never returns.
pub fn main() -> ! {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = Cli::command()
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (mut cli, matches) = match parsed {
        Ok(p) => p,
        Err(e) if e.use_stderr() && logging::json_requested(&args) => {
            logging::set_json(true);
            exit_with(error::Error::input(e.render().to_string().trim_end()))
        }
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    logging::set_json(cli.log_format == LogFormat::Json);
    let settings = match config::apply(&mut cli, &matches) {
        Ok(s) => s,
        Err(e) => exit_with(e),
    };
    logging::init(Verbosity {
        verbose: cli.verbose,
        quiet: cli.quiet,
        json: cli.log_format == LogFormat::Json,
        // A batch is for cron: only warnings and errors unless asked for more.
        default_level: if matches!(cli.command, Command::Batch(_)) {
            "warn"
        } else {
            "info"
        },
    });
    let result = match cli.command {
        Command::Run(args) => cmd::run::run(args.into(), cli.quiet).map(|_| ()),
        Command::Validate(args) => cmd::validate::validate(args.into()),
        Command::List(args) => cmd::list::list(args.into()),
        Command::Load(args) => cmd::load::load(args.into()),
        Command::Query(args) => cmd::query::query(args.into()),
        Command::Report(args) => cmd::report::report(args.into()),
        Command::Export(args) => cmd::export::export(args.into()),
        Command::Show(args) => cmd::show::show(args.into()),
        Command::Status(args) => cmd::status::status(args.into()),
        Command::Batch(args) => cmd::batch::batch(args.into(), cli.quiet),
        Command::Calibrate(args) => cmd::calibrate::calibrate(args),
        Command::Accept(args) => cmd::accept::accept(args),
        Command::Compare(args) => cmd::compare::compare(args),
        Command::Config(_) => cmd::config::print(&settings),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "reev", &mut out);
            cmd::print(&String::from_utf8_lossy(&out))
        }
        Command::Man(args) => cmd::config::man(args),
    };
    if let Err(e) = result {
        exit_with(e);
    }
    std::process::exit(0)
}

/// The one place errors become messages on stderr and exit codes.
fn exit_with(e: error::Error) -> ! {
    if !e.message.is_empty() {
        logging::line(tracing::Level::ERROR, &e.chain());
    }
    std::process::exit(e.kind.exit_code());
}
