//! Configuration precedence: command line > environment (`REEV_*`) > the config file's
//! `settings:` section > built-in defaults — and where each effective value came from.

use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::ArgMatches;
use serde::Deserialize;

use crate::cli::{BatchArgs, Cli, Command, DbArgs, ExecArgs, ReportFlags, SelectArgs, SuiteArgs};
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

fn read_settings(path: &Path) -> Result<Settings> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
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
        self.pick(
            ("attempts", "attempts", "REEV_ATTEMPTS"),
            st.attempts.map(|a| a.to_string()),
            &mut s.attempts,
            |v| v.parse().map_err(|e| format!("{e}")),
            |v| v.to_string(),
        )
    }

    fn exec(&mut self, e: &mut ExecArgs, st: &Settings) -> Result<()> {
        self.pick(
            ("runs_dir", "runs_dir", "REEV_RUNS_DIR"),
            st.runs_dir.clone(),
            &mut e.runs_dir,
            |v| Ok(v.into()),
            |v| v.display().to_string(),
        )?;
        self.pick(
            ("jobs", "jobs", "REEV_JOBS"),
            st.jobs.map(|j| j.to_string()),
            &mut e.jobs,
            |v| v.parse().map(Some).map_err(|e| format!("{e}")),
            |v| {
                v.map(|j| j.to_string())
                    .unwrap_or_else(|| format!("{} (cores)", crate::cli::default_jobs()))
            },
        )?;
        self.pick(
            ("timeout", "timeout", "REEV_TIMEOUT"),
            st.timeout.clone(),
            &mut e.timeout,
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
        self.pick(
            ("reports_dir", "reports_dir", "REEV_REPORTS_DIR"),
            st.reports_dir.clone(),
            &mut r.reports_dir,
            |v| Ok(v.into()),
            |v| v.display().to_string(),
        )
    }

    fn batch(&mut self, b: &mut BatchArgs, st: &Settings) -> Result<()> {
        self.suite(&mut b.suite, st)?;
        self.select(&mut b.select, st)?;
        self.exec(&mut b.exec, st)?;
        self.db(&mut b.db, st)?;
        self.report(&mut b.report, st)
    }
}

/// The config file a command reads: `--config`, else `REEV_CONFIG`, else `reev.yml`.
fn config_path(cli: &Cli) -> PathBuf {
    let from_suite = match &cli.command {
        Command::Run(a) => Some(&a.suite.config),
        Command::Validate(a) => Some(&a.suite.config),
        Command::List(a) => Some(&a.suite.config),
        Command::Batch(a) | Command::Config(a) => Some(&a.suite.config),
        _ => None,
    };
    from_suite
        .cloned()
        .or_else(|| std::env::var_os("REEV_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("reev.yml"))
}

/// Fill in values from the config file where neither the command line nor the environment
/// gave one. Returns the effective settings with their sources.
pub fn apply(cli: &mut Cli, m: &ArgMatches) -> Result<Vec<Entry>> {
    let file = config_path(cli);
    let st = read_settings(&file)?;
    let sub = m.subcommand().map(|(_, sm)| sm).unwrap_or(m);
    let mut top = Resolver {
        m,
        file: file.clone(),
        entries: Vec::new(),
    };
    top.pick(
        ("log_format", "log_format", "REEV_LOG_FORMAT"),
        st.log_format.clone(),
        &mut cli.log_format,
        |v| match v {
            "text" | "json" => Ok(v.to_string()),
            _ => Err(format!("`{v}` is not a log format (text, json)")),
        },
        |v| v.clone(),
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
        Command::Batch(a) | Command::Config(a) => r.batch(a, &st)?,
        Command::Status(a) => r.pick(
            ("runs_dir", "runs_dir", "REEV_RUNS_DIR"),
            st.runs_dir.clone(),
            &mut a.runs_dir,
            |v| Ok(v.into()),
            |v| v.display().to_string(),
        )?,
        Command::Completions { .. } | Command::Man => {}
    }
    Ok(r.entries)
}
