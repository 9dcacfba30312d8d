//! The command line: clap definitions, turned into typed options before any logic runs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::cmd::query::QueryOptions;
use crate::cmd::status::StatusFormat;
use crate::cmd::{list::ListOptions, run::RunOptions, validate::ValidateOptions};
use crate::plan::{Selection, Shard};
use crate::spec::SuitePaths;
use crate::store::load::LoadOptions;

#[derive(Debug, Parser)]
#[command(
    name = "reev",
    version,
    about = "Run benchmark suites in parallel, keep immutable session files, load them into DuckDB, report.",
    after_help = "Exit codes: 0 success; 1 benchmarks failed or regression (when gated); 2 usage or input error; 3 environment error; 128+N stopped by signal N."
)]
pub struct Cli {
    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Only errors on stderr; no progress.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,
    /// Log line format on stderr: text, or json (every stderr line one JSON object, for log collectors).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", env = "REEV_LOG_FORMAT", help_heading = GLOBAL)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan and execute sessions: every (benchmark x agent x attempt), in parallel.
    Run(RunArgs),
    /// Check benchmark files and the agent config; report every error with file, line and column.
    Validate(ValidateArgs),
    /// Print the plan (one line per session) without running anything.
    List(ListArgs),
    /// Load session files into DuckDB, idempotently (only what is new goes in).
    Load(LoadArgs),
    /// Run read-only SQL against the database.
    Query(QueryArgs),
    /// Write a run's reports (Markdown, HTML, JSON, JUnit); optionally gate on regressions.
    Report(ReportArgs),
    /// Export a table as CSV, JSON lines or Parquet, to a file or stdout.
    Export(ExportArgs),
    /// Show one session as a tree: assertions, events, output.
    Show(ShowArgs),
    /// Run, load and report in one process, under a lock: safe for cron and CI.
    Batch(BatchArgs),
    /// Show runs from the runs tree alone (no database): progress, state, how to resume.
    Status(StatusArgs),
    /// Print the effective configuration and where each value came from.
    Config(ConfigArgs),
    /// Replay the regression gate on same-code comparisons among stored runs: its false-alarm rate.
    Calibrate(CalibrateArgs),
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): reev(1), or reev-COMMAND(1); or write all of them into a directory.
    Man(ManArgs),
}

/// The heading of the flags every command takes, apart from its own.
const GLOBAL: &str = "Global options";

/// `--log-format`: how stderr lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `reev list --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Tsv,
    Json,
}

/// `--format` of `report` and `batch`: the report files to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    #[value(alias = "markdown")]
    Md,
    Html,
    Json,
    Junit,
}

impl ReportFormat {
    /// The name `report::renderer` knows it by.
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Md => "md",
            ReportFormat::Html => "html",
            ReportFormat::Json => "json",
            ReportFormat::Junit => "junit",
        }
    }
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command (run, load, ...): print reev-COMMAND(1) instead of reev(1).
    #[arg(value_name = "COMMAND", conflicts_with = "out")]
    pub command: Option<String>,
    /// Write every page (reev.1, reev-run.1, ...) into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `reev config`: only the flags that are settings (see README, "Configuration").
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// Attempts per (benchmark, agent).
    #[arg(long, value_name = "N", env = "REEV_ATTEMPTS", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub attempts: Option<u32>,
    /// Sessions at once. Default: the number of cores.
    #[arg(short, long, value_name = "N", env = "REEV_JOBS", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub jobs: Option<u32>,
    /// Hard time limit per session.
    #[arg(long, value_name = "DURATION", env = "REEV_TIMEOUT", value_parser = crate::duration::parse_timeout)]
    pub timeout: Option<Duration>,
    /// A run's budget in US dollars (`run --max-cost`).
    #[arg(long, value_name = "USD", env = "REEV_MAX_COST", value_parser = crate::exec::budget::parse_usd)]
    pub max_cost: Option<f64>,
    /// Tries after an `error` session's first.
    #[arg(long, value_name = "N", env = "REEV_RETRY_ERRORS", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retry_errors: Option<u32>,
    /// Wait before the first retry.
    #[arg(long, value_name = "DURATION", env = "REEV_RETRY_DELAY", default_value = "1s", value_parser = crate::duration::parse_wait)]
    pub retry_delay: Duration,
    /// Error rate above which an agent fails the gate.
    #[arg(long, value_name = "RATE", env = "REEV_MAX_ERROR_RATE", default_value = "10%", value_parser = crate::report::error_rate::parse)]
    pub max_error_rate: f64,
    #[command(flatten)]
    pub runs: RunsDirArg,
    #[command(flatten)]
    pub db: DbArgs,
    /// Directory for reports.
    #[arg(
        long = "out",
        value_name = "DIR",
        default_value = "reports",
        env = "REEV_REPORTS_DIR"
    )]
    pub reports_dir: PathBuf,
}

/// The runs tree: one definition for every command that reads or writes it.
#[derive(Debug, Args, Clone)]
pub struct RunsDirArg {
    /// Root of the runs tree.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "runs",
        env = "REEV_RUNS_DIR"
    )]
    pub runs_dir: PathBuf,
}

/// `reev status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this run (default: every run, newest first).
    #[arg(value_name = "RUN_ID")]
    pub run_id: Option<String>,
    #[command(flatten)]
    pub runs: RunsDirArg,
    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

/// Where the suite lives.
#[derive(Debug, Args, Clone)]
pub struct SuiteArgs {
    /// Agent configuration file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "reev.yml",
        env = "REEV_CONFIG"
    )]
    pub config: PathBuf,
    /// Directory of benchmark files (*.yml, searched recursively).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "benchmarks",
        env = "REEV_BENCHMARKS"
    )]
    pub benchmarks: PathBuf,
}

/// Which sessions to plan.
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// Only this agent (repeatable). Default: every agent in the config.
    #[arg(long = "agent", value_name = "NAME")]
    pub agents: Vec<String>,
    /// Only benchmarks carrying this tag (repeatable; any tag matches).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only benchmarks whose id matches this glob (repeatable; any glob matches).
    #[arg(long = "filter", value_name = "GLOB")]
    pub filters: Vec<String>,
    /// Attempts per (benchmark, agent) [default: 1]. Not with --resume (the run keeps its plan).
    #[arg(long, value_name = "N", env = "REEV_ATTEMPTS", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub attempts: Option<u32>,
    /// Run only shard K of N (1-based); shards are disjoint and together make the full plan.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// How to execute a run.
#[derive(Debug, Args, Clone)]
pub struct ExecArgs {
    /// Sessions at once. Default: the number of cores.
    #[arg(short, long, value_name = "N", env = "REEV_JOBS", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub jobs: Option<u32>,
    /// Hard time limit per session, overriding benchmark and agent timeouts (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", env = "REEV_TIMEOUT", value_parser = crate::duration::parse_timeout)]
    pub timeout: Option<Duration>,
    /// How long a timed-out or interrupted session gets after SIGTERM before SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = crate::duration::parse_wait)]
    pub kill_grace: Duration,
    /// Name of the new run (default: a time-sortable unique id).
    #[arg(long, value_name = "ID", conflicts_with = "resume")]
    pub run_id: Option<String>,
    /// Finish an interrupted run: execute exactly its planned sessions that have no session file
    /// (with --retry-errors, also those whose latest try is `error`).
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Answer every model call (agents with `gateway:`) from the cassettes of run RUN_ID —
    /// the same benchmark, agent, attempt and try — never contacting the model.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "resume")]
    pub replay: Option<String>,
    #[command(flatten)]
    pub runs: RunsDirArg,
    /// Keep each session's scratch directory under runs/<run_id>/work/.
    #[arg(long)]
    pub keep_workdirs: bool,
    /// Exit 1 when any session did not succeed (default: failed benchmarks are data, exit 0).
    #[arg(long)]
    pub fail_on_failed: bool,
    /// Stop launching sessions once the run's sessions cost this many US dollars (by the
    /// config's `prices:`; sessions without a cost count as 0). Running sessions finish; exit 1.
    #[arg(long, value_name = "USD", env = "REEV_MAX_COST", value_parser = crate::exec::budget::parse_usd)]
    pub max_cost: Option<f64>,
    /// Run a session that ended `error` (not judged) again, up to N more times [default: 0].
    /// With --resume: also retry sessions whose latest try is `error`.
    #[arg(long, value_name = "N", env = "REEV_RETRY_ERRORS", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retry_errors: Option<u32>,
    /// Wait before the first retry; doubled before each further one, at most 60s.
    #[arg(long, value_name = "DURATION", env = "REEV_RETRY_DELAY", default_value = "1s", value_parser = crate::duration::parse_wait)]
    pub retry_delay: Duration,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Benchmark files or directories, and/or the agent config; default: --config and --benchmarks.
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub suite: SuiteArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "tsv")]
    pub format: ListFormat,
}

/// Which database, and how long to wait for it.
#[derive(Debug, Args, Clone)]
pub struct DbArgs {
    /// The DuckDB database file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "reev.duckdb",
        env = "REEV_DB"
    )]
    pub db: PathBuf,
    /// How long to wait while another process holds the database or the batch lock (0 = fail at once, exit 3).
    #[arg(long, value_name = "DURATION", default_value = "0s", env = "REEV_WAIT", value_parser = crate::duration::parse_wait)]
    pub wait: Duration,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Runs tree to load (repeatable; default `runs`).
    #[arg(long = "runs-dir", value_name = "DIR", env = "REEV_RUNS_DIR")]
    pub runs_dirs: Vec<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
    /// Build a fresh database from all files beside the old one, then swap it in atomically.
    #[arg(long)]
    pub rebuild: bool,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL to run (read-only).
    pub sql: String,
    #[command(flatten)]
    pub db: DbArgs,
    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: crate::cmd::query::Format,
}

/// `reev calibrate`: the gate's false alarms, replayed on the stored history.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// How many of the latest complete runs to replay over.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(2..))]
    pub runs: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CalibrateFormat::Table)]
    pub format: CalibrateFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CalibrateFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The run to report: a run id, or `latest`.
    #[arg(long, value_name = "RUN_ID", default_value = "latest")]
    pub run: String,
    #[command(flatten)]
    pub report: ReportFlags,
}

/// What to report and where.
#[derive(Debug, Args, Clone)]
pub struct ReportFlags {
    /// Compare with: a run id, `previous` (the run before), or `none`.
    #[arg(long, value_name = "RUN_ID", default_value = "previous")]
    pub baseline: String,
    /// Directory for reports; each run gets <out>/<run_id>/, and <out>/latest points at the newest.
    #[arg(
        long = "out",
        value_name = "DIR",
        default_value = "reports",
        env = "REEV_REPORTS_DIR"
    )]
    pub reports_dir: PathBuf,
    /// Formats, comma-separated: md, html, json, junit.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "md,html,json,junit",
        value_delimiter = ','
    )]
    pub format: Vec<ReportFormat>,
    /// Exit 1 when a regression against the baseline is found.
    #[arg(long)]
    pub fail_on_regression: bool,
    /// With --fail-on-regression: do not fail when the run is incomplete (sessions or shards missing).
    #[arg(long)]
    pub allow_incomplete: bool,
    /// An agent whose sessions ended `error` more often than this fails the gate (0.1 or 10%).
    #[arg(long, value_name = "RATE", env = "REEV_MAX_ERROR_RATE", default_value = "10%", value_parser = crate::report::error_rate::parse)]
    pub max_error_rate: f64,
}

/// `reev batch`: the run flags, the database, and the report flags.
#[derive(Debug, Args, Clone)]
pub struct BatchArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub report: ReportFlags,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// What to export.
    #[arg(long, value_name = "TABLE", default_value = "sessions")]
    pub table: crate::export::Table,
    /// Output format (json = JSON lines).
    #[arg(long, value_name = "FORMAT", default_value = "csv")]
    pub format: crate::export::Format,
    /// Output file, or - for stdout.
    #[arg(long, value_name = "FILE", default_value = "-")]
    pub out: PathBuf,
    /// Only this run.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Only sessions started on or after this date (2026-11-01) or time (RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Keep text cells exactly as they are (no neutralising of =, +, -, @ at the start).
    #[arg(long)]
    pub raw: bool,
    /// Parquet: write a directory partitioned by date (date=YYYY-MM-DD/), for Spark or Trino.
    #[arg(long)]
    pub partition_by_date: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A session id (or unique prefix), or the path of a session file.
    pub session: String,
    #[command(flatten)]
    pub db: DbArgs,
    /// Bytes of stdout and stderr to show (their tails).
    #[arg(long, value_name = "BYTES", default_value_t = 2000)]
    pub tail: usize,
}

impl SuiteArgs {
    fn into_paths(self) -> SuitePaths {
        SuitePaths {
            config: self.config,
            benchmarks: self.benchmarks,
        }
    }
}

impl SelectArgs {
    fn into_selection(self) -> Selection {
        Selection {
            agents: self.agents,
            tags: self.tags,
            filters: self.filters,
            attempts: self.attempts.unwrap_or(1),
            shard: self.shard,
        }
    }
}

impl From<RunArgs> for RunOptions {
    fn from(a: RunArgs) -> Self {
        run_options(a.suite, a.select, a.exec)
    }
}

pub fn run_options(suite: SuiteArgs, select: SelectArgs, e: ExecArgs) -> RunOptions {
    RunOptions {
        suite: suite.into_paths(),
        selection: select.into_selection(),
        jobs: e.jobs.map(|j| j as usize).unwrap_or_else(default_jobs),
        timeout: e.timeout,
        kill_grace: e.kill_grace,
        run_id: e.run_id,
        resume: e.resume,
        runs_dir: e.runs.runs_dir,
        keep_workdirs: e.keep_workdirs,
        fail_on_failed: e.fail_on_failed,
        max_cost: e.max_cost,
        retry: crate::cmd::retry::Retry {
            errors: e.retry_errors.unwrap_or(0),
            delay: e.retry_delay,
        },
        replay: e.replay,
    }
}

impl From<BatchArgs> for crate::cmd::batch::BatchOptions {
    fn from(a: BatchArgs) -> Self {
        let runs_dir = a.exec.runs.runs_dir.clone();
        crate::cmd::batch::BatchOptions {
            run: run_options(a.suite, a.select, a.exec),
            load: LoadOptions {
                roots: vec![runs_dir],
                db: a.db.db.clone(),
                rebuild: false,
                wait: a.db.wait,
            },
            report: report_options(a.db, "latest".into(), a.report),
        }
    }
}

fn report_options(db: DbArgs, run: String, r: ReportFlags) -> crate::report::ReportOptions {
    crate::report::ReportOptions {
        db: db.db,
        wait: db.wait,
        run,
        baseline: r.baseline,
        out: r.reports_dir,
        formats: r.format.iter().map(|f| f.name().to_string()).collect(),
        fail_on_regression: r.fail_on_regression,
        allow_incomplete: r.allow_incomplete,
        max_error_rate: r.max_error_rate,
    }
}

impl From<ValidateArgs> for ValidateOptions {
    fn from(a: ValidateArgs) -> Self {
        ValidateOptions {
            paths: a.paths,
            suite: a.suite.into_paths(),
        }
    }
}

impl From<ListArgs> for ListOptions {
    fn from(a: ListArgs) -> Self {
        ListOptions {
            suite: a.suite.into_paths(),
            selection: a.select.into_selection(),
            json: a.format == ListFormat::Json,
        }
    }
}

impl From<LoadArgs> for LoadOptions {
    fn from(a: LoadArgs) -> Self {
        LoadOptions {
            roots: if a.runs_dirs.is_empty() {
                vec![PathBuf::from("runs")]
            } else {
                a.runs_dirs
            },
            db: a.db.db,
            rebuild: a.rebuild,
            wait: a.db.wait,
        }
    }
}

impl From<QueryArgs> for QueryOptions {
    fn from(a: QueryArgs) -> Self {
        QueryOptions {
            sql: a.sql,
            db: a.db.db,
            format: a.format,
            wait: a.db.wait,
        }
    }
}

impl From<ReportArgs> for crate::report::ReportOptions {
    fn from(a: ReportArgs) -> Self {
        report_options(a.db, a.run, a.report)
    }
}

impl From<ExportArgs> for crate::export::ExportOptions {
    fn from(a: ExportArgs) -> Self {
        crate::export::ExportOptions {
            db: a.db.db,
            wait: a.db.wait,
            table: a.table,
            format: a.format,
            out: Some(a.out),
            run: a.run,
            since: a.since,
            raw: a.raw,
            partition_by_date: a.partition_by_date,
        }
    }
}

impl From<ShowArgs> for crate::cmd::show::ShowOptions {
    fn from(a: ShowArgs) -> Self {
        crate::cmd::show::ShowOptions {
            session: a.session,
            db: a.db.db,
            wait: a.db.wait,
            tail: a.tail,
        }
    }
}

pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
