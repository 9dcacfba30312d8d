//! Configuration precedence: command line > environment (`REEV_*`) > the config file's
//! `settings:` section > built-in defaults — and where each effective value came from.
//! The settings themselves are declared once, in `settings.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::ArgMatches;
use serde::Deserialize;

use crate::cli::{
    AttemptsArg, BatchArgs, BudgetArg, Cli, Command, ConfigArgs, DbArgs, ErrorRateArg, ExecArgs,
    Limits, ReportFlags, ReportsDirArg, Retries, RunsDirArg, SelectArgs, SuiteArgs,
};
use crate::error::{Error, Result};
use crate::settings::{keys, Key};

/// The `settings:` section of reev.yml: each key's value as text, for the key's one parser.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    values: BTreeMap<String, String>,
}

impl Settings {
    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// Settings whose value is a number in YAML (the others are text: durations, paths, `10%`).
const NUMERIC: [&str; 4] = ["jobs", "attempts", "retry_errors", "max_cost"];

#[derive(Debug, Deserialize)]
struct FileWithSettings {
    #[serde(default)]
    settings: BTreeMap<String, serde_json::Value>,
    #[allow(dead_code)]
    #[serde(default)]
    agents: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    CommandLine,
    Environment(String),
    ConfigFile(PathBuf),
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::CommandLine => f.write_str("command line"),
            Source::Environment(var) => write!(f, "environment {var}"),
            Source::ConfigFile(p) => write!(f, "config file {}", p.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: &'static str,
    pub value: String,
    pub source: Source,
}

/// The settings of `path`. One rule for every command: a config file named explicitly
/// (`--config`, `REEV_CONFIG`) must exist; only the default `reev.yml` may be absent.
fn read_settings(path: &Path, explicit: bool) -> Result<Settings> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Settings::default())
        }
        Err(e) => {
            return Err(Error::input(format!(
                "{}: cannot read config: {e}",
                path.display()
            )))
        }
    };
    // Only `settings:` matters here; `agents:` is validated where agents are needed.
    let file: FileWithSettings =
        crate::spec::parse_yaml(path, &text).map_err(|d| Error::input(d.to_string()))?;
    let mut values = BTreeMap::new();
    for (name, value) in file.settings {
        if !keys::NAMES.contains(&name.as_str()) {
            return Err(Error::input(format!(
                "{}: settings.{name}: unknown setting (known: {})",
                path.display(),
                keys::NAMES.join(", ")
            )));
        }
        let text = match value {
            // Strict as the rest of the file: a quoted number is a string, not a number.
            serde_json::Value::String(s) if NUMERIC.contains(&name.as_str()) => {
                return Err(Error::input(format!(
                    "{}: settings.{name}: expected a number, found the string \"{s}\": write numbers without quotes",
                    path.display()
                )))
            }
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            // `sandbox:` is a mapping, read with the agents.
            _ if name == "sandbox" => continue,
            other => {
                return Err(Error::input(format!(
                    "{}: settings.{name}: expected a single value, found {other}",
                    path.display()
                )))
            }
        };
        values.insert(name, text);
    }
    Ok(Settings { values })
}

/// Resolves settings into their slots and records where each value came from.
pub struct Resolver<'a> {
    m: &'a ArgMatches,
    file: PathBuf,
    settings: &'a Settings,
    entries: Vec<Entry>,
}

impl Resolver<'_> {
    /// The one precedence rule: a value clap took from the command line or the environment
    /// stays; else the config file's; else the default already in `slot`.
    pub fn pick<T>(&mut self, key: &Key<T>, slot: &mut T) -> Result<()> {
        let given = self.m.try_get_raw(key.name).ok().flatten().is_some();
        let source = match given.then(|| self.m.value_source(key.name)).flatten() {
            Some(ValueSource::CommandLine) => Source::CommandLine,
            Some(ValueSource::EnvVariable) => Source::Environment(key.env.to_string()),
            _ => match self.settings.get(key.name) {
                Some(v) => {
                    *slot = (key.parse)(v).map_err(|e| {
                        Error::input(format!(
                            "{}: settings.{}: {e}",
                            self.file.display(),
                            key.name
                        ))
                    })?;
                    Source::ConfigFile(self.file.clone())
                }
                None => Source::Default,
            },
        };
        self.entries.push(Entry {
            key: key.name,
            value: (key.show)(slot),
            source,
        });
        Ok(())
    }

    /// Whether `name` was given on the command line itself (not the environment or a file).
    pub fn on_command_line(&self, name: &str) -> bool {
        self.m.value_source(name) == Some(ValueSource::CommandLine)
    }
}

/// An argument group whose settings follow the precedence rule; each group resolves its own
/// fields, so a command resolves exactly the flags it has.
pub trait Resolve {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()>;
}

/// The config file a command reads: `--config`, else `REEV_CONFIG`, else `reev.yml`; and
/// whether it was named explicitly (then it must exist).
fn config_path(cli: &Cli, sub: &ArgMatches) -> (PathBuf, bool) {
    if let Some(path) = cli.command.suite().map(|s| &s.config) {
        let explicit = matches!(
            sub.value_source("config"),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        return (path.clone(), explicit);
    }
    match std::env::var_os(keys::CONFIG) {
        Some(p) => (PathBuf::from(p), true),
        None => (PathBuf::from("reev.yml"), false),
    }
}

/// Fill in values from the config file where neither the command line nor the environment
/// gave one. Returns the effective settings with their sources.
pub fn apply(cli: &mut Cli, m: &ArgMatches) -> Result<Vec<Entry>> {
    let sub = m.subcommand().map(|(_, sm)| sm).unwrap_or(m);
    let (file, explicit) = config_path(cli, sub);
    let settings = read_settings(&file, explicit)?;
    let mut top = Resolver {
        m,
        file: file.clone(),
        settings: &settings,
        entries: Vec::new(),
    };
    top.pick(&keys::LOG_FORMAT, &mut cli.log_format)?;
    let mut r = Resolver {
        m: sub,
        file,
        settings: &settings,
        entries: top.entries,
    };
    cli.command.resolve(&mut r)?;
    Ok(r.entries)
}

/// `--resume` runs the plan the run recorded: attempts from the environment or the config
/// file are defaults for new runs, not a request to change that plan. Only an `--attempts` on
/// the command line is kept (and rejected by resume). Likewise `--retry-errors`: a resume
/// retries errored sessions only when asked on its own command line.
pub fn keep_only_command_line_on_resume(
    r: &Resolver,
    attempts: &mut Option<u32>,
    retry_errors: &mut Option<u32>,
) {
    if !r.on_command_line(keys::ATTEMPTS.name) {
        *attempts = None;
    }
    if !r.on_command_line(keys::RETRY_ERRORS.name) {
        *retry_errors = None;
    }
}

impl Resolve for SuiteArgs {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        r.pick(&keys::BENCHMARKS, &mut self.benchmarks)
    }
}

impl Resolve for AttemptsArg {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        r.pick(&keys::ATTEMPTS, &mut self.attempts)
    }
}

impl Resolve for SelectArgs {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        self.attempts.resolve(r)
    }
}

impl Resolve for RunsDirArg {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        // The first tree is the setting (clap's default makes one); `load`'s further trees
        // come from its command line only.
        match self.runs_dirs.first_mut() {
            Some(first) => r.pick(&keys::RUNS_DIR, first),
            None => Ok(()),
        }
    }
}

impl Resolve for Limits {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        r.pick(&keys::JOBS, &mut self.jobs)?;
        r.pick(&keys::TIMEOUT, &mut self.timeout)
    }
}

impl Resolve for BudgetArg {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        r.pick(&keys::MAX_COST, &mut self.max_cost)
    }
}

impl Resolve for Retries {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        r.pick(&keys::RETRY_ERRORS, &mut self.retry_errors)?;
        r.pick(&keys::RETRY_DELAY, &mut self.retry_delay)
    }
}

impl Resolve for ExecArgs {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        self.runs.resolve(r)?;
        self.limits.resolve(r)?;
        self.budget.resolve(r)?;
        self.retries.resolve(r)
    }
}

impl Resolve for DbArgs {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        r.pick(&keys::DB, &mut self.db)?;
        r.pick(&keys::WAIT, &mut self.wait)
    }
}

impl Resolve for ReportsDirArg {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        r.pick(&keys::REPORTS_DIR, &mut self.reports_dir)
    }
}

impl Resolve for ErrorRateArg {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        r.pick(&keys::MAX_ERROR_RATE, &mut self.max_error_rate)
    }
}

impl Resolve for ReportFlags {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        self.reports.resolve(r)?;
        self.error_rate.resolve(r)
    }
}

/// `run` and `batch`: the suite, the selection and how to execute, then what a resume keeps.
fn resolve_run(
    r: &mut Resolver,
    suite: &mut SuiteArgs,
    select: &mut SelectArgs,
    exec: &mut ExecArgs,
) -> Result<()> {
    suite.resolve(r)?;
    select.resolve(r)?;
    exec.resolve(r)?;
    if exec.resume.is_some() {
        keep_only_command_line_on_resume(
            r,
            &mut select.attempts.attempts,
            &mut exec.retries.retry_errors,
        );
    }
    Ok(())
}

impl Resolve for BatchArgs {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        resolve_run(r, &mut self.suite, &mut self.select, &mut self.exec)?;
        self.db.resolve(r)?;
        self.report.resolve(r)
    }
}

/// `reev config`: every setting, in the order `batch` resolves them.
impl Resolve for ConfigArgs {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        self.suite.resolve(r)?;
        self.attempts.resolve(r)?;
        self.runs.resolve(r)?;
        self.limits.resolve(r)?;
        self.budget.resolve(r)?;
        self.retries.resolve(r)?;
        self.db.resolve(r)?;
        self.reports.resolve(r)?;
        self.error_rate.resolve(r)
    }
}

impl Resolve for Command {
    fn resolve(&mut self, r: &mut Resolver) -> Result<()> {
        match self {
            Command::Run(a) => resolve_run(r, &mut a.suite, &mut a.select, &mut a.exec),
            Command::Validate(a) => a.suite.resolve(r),
            Command::List(a) => {
                a.suite.resolve(r)?;
                a.select.resolve(r)
            }
            Command::Load(a) => {
                a.db.resolve(r)?;
                a.runs.resolve(r)
            }
            Command::Query(a) => a.db.resolve(r),
            Command::Report(a) => {
                a.db.resolve(r)?;
                a.report.resolve(r)
            }
            Command::Export(a) => a.db.resolve(r),
            Command::Show(a) => a.db.resolve(r),
            Command::Calibrate(a) => a.db.resolve(r),
            Command::Compare(a) => a.db.resolve(r),
            Command::Accept(a) => {
                a.db.resolve(r)?;
                a.runs.resolve(r)
            }
            Command::Batch(a) => a.resolve(r),
            Command::Config(a) => a.resolve(r),
            Command::Status(a) => a.runs.resolve(r),
            Command::Completions { .. } | Command::Man(_) => Ok(()),
        }
    }
}
