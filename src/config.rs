//! Configuration precedence: command line > environment (`REEV_*`) > the config file's
//! `settings:` section > built-in defaults — and where each effective value came from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::ArgMatches;
use serde::Deserialize;

use crate::cli::{
    BatchArgs, Cli, Command, ConfigArgs, DbArgs, ExecArgs, LogFormat, ReportFlags, SelectArgs,
    SuiteArgs,
};
use crate::error::{Error, Result};

/// The `settings:` section of reev.yml. Every key is optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub runs_dir: Option<String>,
    pub db: Option<String>,
    pub wait: Option<String>,
    pub reports_dir: Option<String>,
    pub benchmarks: Option<String>,
    pub jobs: Option<u32>,
    pub attempts: Option<u32>,
    pub timeout: Option<String>,
    pub log_format: Option<String>,
    /// `--max-cost`, in US dollars.
    pub max_cost: Option<f64>,
    pub retry_errors: Option<u32>,
    pub retry_delay: Option<String>,
    pub max_error_rate: Option<String>,
    /// The agents' default sandbox; parsed and checked with the agents (spec::sandbox).
    #[allow(dead_code)]
    pub sandbox: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct FileWithSettings {
    #[serde(default)]
    settings: Settings,
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
    Ok(file.settings)
}

/// Resolves one setting into `slot` and records where its value came from.
struct Resolver<'a> {
    m: &'a ArgMatches,
    file: PathBuf,
    entries: Vec<Entry>,
}

impl Resolver<'_> {
    fn pick<T>(
        &mut self,
        (id, key, env): (&str, &'static str, &str),
        from_file: Option<String>,
        slot: &mut T,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
        show: impl Fn(&T) -> String,
    ) -> Result<()> {
        let source = match self
            .m
            .try_get_raw(id)
            .ok()
            .flatten()
            .and(self.m.value_source(id))
        {
            Some(ValueSource::CommandLine) => Source::CommandLine,
            Some(ValueSource::EnvVariable) => Source::Environment(env.to_string()),
            _ => match from_file {
                Some(v) => {
                    *slot = parse(&v).map_err(|e| {
                        Error::input(format!("{}: settings.{key}: {e}", self.file.display()))
                    })?;
                    Source::ConfigFile(self.file.clone())
                }
                None => Source::Default,
            },
        };
        self.entries.push(Entry {
            key,
            value: show(slot),
            source,
        });
        Ok(())
    }

    fn suite(&mut self, s: &mut SuiteArgs, st: &Settings) -> Result<()> {
        self.pick(
            ("benchmarks", "benchmarks", "REEV_BENCHMARKS"),
            st.benchmarks.clone(),
            &mut s.benchmarks,
            |v| Ok(v.into()),
            |v| v.display().to_string(),
        )
    }

    fn select(&mut self, s: &mut SelectArgs, st: &Settings) -> Result<()> {
        self.attempts(&mut s.attempts, st)
    }

    fn attempts(&mut self, slot: &mut Option<u32>, st: &Settings) -> Result<()> {
        self.pick(
            ("attempts", "attempts", "REEV_ATTEMPTS"),
            st.attempts.map(|a| a.to_string()),
            slot,
            |v| match v.parse::<u32>() {
                Ok(n @ 1..=100_000) => Ok(Some(n)),
                _ => Err(format!("`{v}` is not a number of attempts (1 to 100000)")),
            },
            |v| v.unwrap_or(1).to_string(),
        )
    }

    /// `--resume` runs the plan the run recorded: attempts from the environment or the
    /// config file are defaults for new runs, not a request to change that plan. Only an
    /// `--attempts` on the command line is kept (and rejected by resume).
    fn drop_attempts_on_resume(&self, s: &mut SelectArgs, resume: bool) {
        if resume && self.m.value_source("attempts") != Some(ValueSource::CommandLine) {
            s.attempts = None;
        }
    }

    fn exec(&mut self, e: &mut ExecArgs, st: &Settings) -> Result<()> {
        self.runs_dir(&mut e.runs.runs_dir, st)?;
        self.jobs(&mut e.jobs, st)?;
        self.timeout(&mut e.timeout, st)?;
        self.max_cost(&mut e.max_cost, st)?;
        self.retry(&mut e.retry_errors, &mut e.retry_delay, st)?;
        // `--resume` retries errored sessions only when asked on its command line: a default
        // from the environment or the config file is for new runs.
        if e.resume.is_some()
            && self.m.value_source("retry_errors") != Some(ValueSource::CommandLine)
        {
            e.retry_errors = None;
        }
        Ok(())
    }

    fn retry(
        &mut self,
        errors: &mut Option<u32>,
        delay: &mut Duration,
        st: &Settings,
    ) -> Result<()> {
        self.pick(
            ("retry_errors", "retry_errors", "REEV_RETRY_ERRORS"),
            st.retry_errors.map(|n| n.to_string()),
            errors,
            |v| match v.parse::<u32>() {
                Ok(n @ 0..=100) => Ok(Some(n)),
                _ => Err(format!("`{v}` is not a number of retries (0 to 100)")),
            },
            |v| v.unwrap_or(0).to_string(),
        )?;
        self.pick(
            ("retry_delay", "retry_delay", "REEV_RETRY_DELAY"),
            st.retry_delay.clone(),
            delay,
            crate::duration::parse_wait,
            |v| humantime::format_duration(*v).to_string(),
        )
    }

    fn max_cost(&mut self, slot: &mut Option<f64>, st: &Settings) -> Result<()> {
        self.pick(
            ("max_cost", "max_cost", "REEV_MAX_COST"),
            st.max_cost.map(|c| c.to_string()),
            slot,
            |v| crate::exec::budget::parse_usd(v).map(Some),
            |v| v.map_or_else(|| "none".to_string(), |c| format!("{c} USD")),
        )
    }

    fn runs_dir(&mut self, slot: &mut PathBuf, st: &Settings) -> Result<()> {
        self.pick(
            ("runs_dir", "runs_dir", "REEV_RUNS_DIR"),
            st.runs_dir.clone(),
            slot,
            |v| Ok(v.into()),
            |v| v.display().to_string(),
        )
    }

    fn jobs(&mut self, slot: &mut Option<u32>, st: &Settings) -> Result<()> {
        self.pick(
            ("jobs", "jobs", "REEV_JOBS"),
            st.jobs.map(|j| j.to_string()),
            slot,
            |v| match v.parse::<u32>() {
                Ok(n @ 1..=4096) => Ok(Some(n)),
                _ => Err(format!("`{v}` is not a number of jobs (1 to 4096)")),
            },
            |v| {
                v.map(|j| j.to_string())
                    .unwrap_or_else(|| format!("{} (cores)", crate::cli::default_jobs()))
            },
        )
    }

    fn timeout(&mut self, slot: &mut Option<Duration>, st: &Settings) -> Result<()> {
        self.pick(
            ("timeout", "timeout", "REEV_TIMEOUT"),
            st.timeout.clone(),
            slot,
            |v| crate::duration::parse_timeout(v).map(Some),
            |v| {
                v.map(|d| humantime::format_duration(d).to_string())
                    .unwrap_or_else(|| "per benchmark and agent".into())
            },
        )
    }

    fn db(&mut self, d: &mut DbArgs, st: &Settings) -> Result<()> {
        self.pick(
            ("db", "db", "REEV_DB"),
            st.db.clone(),
            &mut d.db,
            |v| Ok(v.into()),
            |v| v.display().to_string(),
        )?;
        self.pick(
            ("wait", "wait", "REEV_WAIT"),
            st.wait.clone(),
            &mut d.wait,
            crate::duration::parse_wait,
            |v| humantime::format_duration(*v).to_string(),
        )
    }

    fn report(&mut self, r: &mut ReportFlags, st: &Settings) -> Result<()> {
        self.reports_dir(&mut r.reports_dir, st)?;
        self.max_error_rate(&mut r.max_error_rate, st)
    }

    fn max_error_rate(&mut self, slot: &mut f64, st: &Settings) -> Result<()> {
        self.pick(
            ("max_error_rate", "max_error_rate", "REEV_MAX_ERROR_RATE"),
            st.max_error_rate.clone(),
            slot,
            crate::report::error_rate::parse,
            |v| format!("{:.1}%", v * 100.0),
        )
    }

    fn reports_dir(&mut self, slot: &mut PathBuf, st: &Settings) -> Result<()> {
        self.pick(
            ("reports_dir", "reports_dir", "REEV_REPORTS_DIR"),
            st.reports_dir.clone(),
            slot,
            |v| Ok(v.into()),
            |v| v.display().to_string(),
        )
    }

    fn batch(&mut self, b: &mut BatchArgs, st: &Settings) -> Result<()> {
        self.suite(&mut b.suite, st)?;
        self.select(&mut b.select, st)?;
        self.drop_attempts_on_resume(&mut b.select, b.exec.resume.is_some());
        self.exec(&mut b.exec, st)?;
        self.db(&mut b.db, st)?;
        self.report(&mut b.report, st)
    }

    /// `reev config`: every setting, in the order `batch` resolves them.
    fn config(&mut self, c: &mut ConfigArgs, st: &Settings) -> Result<()> {
        self.suite(&mut c.suite, st)?;
        self.attempts(&mut c.attempts, st)?;
        self.runs_dir(&mut c.runs.runs_dir, st)?;
        self.jobs(&mut c.jobs, st)?;
        self.timeout(&mut c.timeout, st)?;
        self.max_cost(&mut c.max_cost, st)?;
        self.retry(&mut c.retry_errors, &mut c.retry_delay, st)?;
        self.db(&mut c.db, st)?;
        self.reports_dir(&mut c.reports_dir, st)?;
        self.max_error_rate(&mut c.max_error_rate, st)
    }
}

/// The config file a command reads: `--config`, else `REEV_CONFIG`, else `reev.yml`; and
/// whether it was named explicitly (then it must exist).
fn config_path(cli: &Cli, sub: &ArgMatches) -> (PathBuf, bool) {
    let from_suite = match &cli.command {
        Command::Run(a) => Some(&a.suite.config),
        Command::Validate(a) => Some(&a.suite.config),
        Command::List(a) => Some(&a.suite.config),
        Command::Batch(a) => Some(&a.suite.config),
        Command::Config(a) => Some(&a.suite.config),
        _ => None,
    };
    if let Some(path) = from_suite {
        let explicit = matches!(
            sub.value_source("config"),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        return (path.clone(), explicit);
    }
    match std::env::var_os("REEV_CONFIG") {
        Some(p) => (PathBuf::from(p), true),
        None => (PathBuf::from("reev.yml"), false),
    }
}

/// Fill in values from the config file where neither the command line nor the environment
/// gave one. Returns the effective settings with their sources.
pub fn apply(cli: &mut Cli, m: &ArgMatches) -> Result<Vec<Entry>> {
    let sub = m.subcommand().map(|(_, sm)| sm).unwrap_or(m);
    let (file, explicit) = config_path(cli, sub);
    let st = read_settings(&file, explicit)?;
    let mut top = Resolver {
        m,
        file: file.clone(),
        entries: Vec::new(),
    };
    top.pick(
        ("log_format", "log_format", "REEV_LOG_FORMAT"),
        st.log_format.clone(),
        &mut cli.log_format,
        |v| {
            <LogFormat as clap::ValueEnum>::from_str(v, false)
                .map_err(|_| format!("`{v}` is not a log format (text, json)"))
        },
        |v| format!("{v:?}").to_lowercase(),
    )?;
    let mut r = Resolver {
        m: sub,
        file,
        entries: top.entries,
    };
    match &mut cli.command {
        Command::Run(a) => {
            r.suite(&mut a.suite, &st)?;
            r.select(&mut a.select, &st)?;
            r.drop_attempts_on_resume(&mut a.select, a.exec.resume.is_some());
            r.exec(&mut a.exec, &st)?;
        }
        Command::Validate(a) => r.suite(&mut a.suite, &st)?,
        Command::List(a) => {
            r.suite(&mut a.suite, &st)?;
            r.select(&mut a.select, &st)?;
        }
        Command::Load(a) => {
            r.db(&mut a.db, &st)?;
            if a.runs_dirs.is_empty() {
                if let Some(d) = &st.runs_dir {
                    a.runs_dirs.push(d.into());
                }
            }
        }
        Command::Query(a) => r.db(&mut a.db, &st)?,
        Command::Report(a) => {
            r.db(&mut a.db, &st)?;
            r.report(&mut a.report, &st)?;
        }
        Command::Export(a) => r.db(&mut a.db, &st)?,
        Command::Show(a) => r.db(&mut a.db, &st)?,
        Command::Calibrate(a) => r.db(&mut a.db, &st)?,
        Command::Compare(a) => r.db(&mut a.db, &st)?,
        Command::Batch(a) => r.batch(a, &st)?,
        Command::Config(a) => r.config(a, &st)?,
        Command::Status(a) => r.runs_dir(&mut a.runs.runs_dir, &st)?,
        Command::Completions { .. } | Command::Man(_) => {}
    }
    Ok(r.entries)
}
