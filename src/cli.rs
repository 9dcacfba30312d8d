//! The command line: clap definitions, turned into typed options before any logic runs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::export::query::QueryOptions;
use crate::plan::{ListOptions, Selection, Shard};
use crate::run::batch::BatchOptions;
use crate::run::status::{StatusFormat, StatusOptions};
use crate::run::RunOptions;
use crate::settings::{default_jobs, keys};
use crate::show::ShowOptions;
use crate::spec::{SuitePaths, ValidateOptions};
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
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", env = keys::LOG_FORMAT.env, help_heading = GLOBAL)]
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
    /// Accept a run as the gate's new normal: later runs are compared with it (see `report`).
    Accept(AcceptArgs),
    /// Compare two runs, or two agents of one run: per agent and benchmark, with deltas and tests.
    Compare(CompareArgs),
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

pub use crate::logging::LogFormat;

/// `reev list --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Tsv,
    Json,
}

/// `--format` of `report` and `batch`: the report files to write, each a renderer.
pub use crate::report::Format as ReportFormat;

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command (run, load, ...): print reev-COMMAND(1) instead of reev(1).
    #[arg(value_name = "COMMAND", conflicts_with = "out")]
    pub command: Option<String>,
    /// Write every page (reev.1, reev-run.1, ...) into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `reev config`: only the flags that are settings (see README, "Configuration"), each the
/// same definition `run`, `batch` and `report` use.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    #[command(flatten)]
    pub attempts: AttemptsArg,
    #[command(flatten)]
    pub runs: RunsDirArg,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub budget: BudgetArg,
    #[command(flatten)]
    pub retries: Retries,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub reports: ReportsDirArg,
    #[command(flatten)]
    pub error_rate: ErrorRateArg,
}

/// `--attempts`.
#[derive(Debug, Args, Clone)]
pub struct AttemptsArg {
    /// Attempts per (benchmark, agent) [default: 1]. A resumed run keeps the plan it recorded.
    #[arg(long, value_name = "N", env = keys::ATTEMPTS.env, value_parser = keys::attempts)]
    pub attempts: Option<u32>,
}

/// `--jobs` and `--timeout`: how many sessions at once, and for how long each.
#[derive(Debug, Args, Clone)]
pub struct Limits {
    /// Sessions at once. Default: the number of cores.
    #[arg(short, long, value_name = "N", env = keys::JOBS.env, value_parser = keys::jobs)]
    pub jobs: Option<u32>,
    /// Hard time limit per session, overriding benchmark and agent timeouts (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", env = keys::TIMEOUT.env, value_parser = crate::duration::parse_timeout)]
    pub timeout: Option<Duration>,
}

/// `--max-cost`.
#[derive(Debug, Args, Clone)]
pub struct BudgetArg {
    /// Stop launching sessions once the run's sessions cost this many US dollars (by the
    /// config's `prices:`; sessions without a cost count as 0). Running sessions finish; exit 1.
    #[arg(long, value_name = "USD", env = keys::MAX_COST.env, value_parser = crate::run::budget::parse_usd)]
    pub max_cost: Option<f64>,
}

/// `--retry-errors` and `--retry-delay`.
#[derive(Debug, Args, Clone)]
pub struct Retries {
    /// Run a session that ended `error` (not judged) again, up to N more times [default: 0].
    /// A resumed run also retries sessions whose latest try is `error`.
    #[arg(long, value_name = "N", env = keys::RETRY_ERRORS.env, value_parser = keys::retry_errors)]
    pub retry_errors: Option<u32>,
    /// Wait before the first retry; doubled before each further one, at most 60s.
    #[arg(long, value_name = "DURATION", env = keys::RETRY_DELAY.env, default_value = "1s", value_parser = crate::duration::parse_wait)]
    pub retry_delay: Duration,
}

/// `--out`: where reports go.
#[derive(Debug, Args, Clone)]
pub struct ReportsDirArg {
    /// Directory for reports; each run gets <out>/<run_id>/, and <out>/latest points at the newest.
    #[arg(
        long = "out",
        value_name = "DIR",
        default_value = "reports",
        env = keys::REPORTS_DIR.env
    )]
    pub reports_dir: PathBuf,
}

/// `--max-error-rate`.
#[derive(Debug, Args, Clone)]
pub struct ErrorRateArg {
    /// An agent whose sessions ended `error` more often than this fails the gate (0.1 or 10%).
    #[arg(long, value_name = "RATE", env = keys::MAX_ERROR_RATE.env, default_value = "10%", value_parser = crate::report::error_rate::parse)]
    pub max_error_rate: f64,
}

/// The runs tree: one definition for every command that reads or writes it. Given once,
/// except to `load`, which walks several (see [`LoadArgs`]).
#[derive(Debug, Args, Clone)]
pub struct RunsDirArg {
    /// Root of the runs tree.
    #[arg(
        long = "runs-dir",
        id = keys::RUNS_DIR.name,
        value_name = "DIR",
        default_value = "runs",
        env = keys::RUNS_DIR.env,
        action = ArgAction::Set
    )]
    pub runs_dirs: Vec<PathBuf>,
}

/// `load`'s `--runs-dir`: the one definition, made repeatable, with its own help (in place,
/// so the flags keep their order).
fn repeatable_runs_dir(a: clap::Arg) -> clap::Arg {
    if a.get_id() != keys::RUNS_DIR.name {
        return a;
    }
    a.action(ArgAction::Append)
        .hide_default_value(true)
        .help("Runs tree to load (repeatable; default `runs`)")
}

impl RunsDirArg {
    /// The runs tree (the first one, where `load` was given several).
    pub fn runs_dir(&self) -> PathBuf {
        self.runs_dirs
            .first()
            .cloned()
            .unwrap_or_else(|| "runs".into())
    }
}

/// `reev accept`.
#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// The run whose results are intended: the gate's baseline from now on.
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,
    /// Why (kept in the acceptance file and the accepted_runs table).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub runs: RunsDirArg,
    #[command(flatten)]
    pub db: DbArgs,
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
        env = keys::CONFIG
    )]
    pub config: PathBuf,
    /// Directory of benchmark files (*.yml, searched recursively).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "benchmarks",
        env = keys::BENCHMARKS.env
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
    #[command(flatten)]
    pub attempts: AttemptsArg,
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
    #[command(flatten)]
    pub limits: Limits,
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
    #[command(flatten)]
    pub budget: BudgetArg,
    #[command(flatten)]
    pub retries: Retries,
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
        env = keys::DB.env
    )]
    pub db: PathBuf,
    /// How long to wait while another process holds the database or the batch lock (0 = fail at once, exit 3).
    #[arg(long, value_name = "DURATION", default_value = "0s", env = keys::WAIT.env, value_parser = crate::duration::parse_wait)]
    pub wait: Duration,
}

// `load` walks every runs tree it is given: the same `--runs-dir`, repeatable.
#[derive(Debug, Args)]
#[command(mut_args(repeatable_runs_dir))]
pub struct LoadArgs {
    #[command(flatten)]
    pub runs: RunsDirArg,
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
    pub format: crate::export::query::Format,
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

/// `reev compare A B`, `reev compare A --agent X --agent Y`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The run before (or `previous`: the run before the second) and the run after; one run
    /// with two --agent compares two agents of it.
    #[arg(value_name = "RUN_ID", required = true, num_args = 1..=2)]
    pub runs: Vec<String>,
    /// Only this agent (once), or this agent before and that agent after (twice).
    #[arg(long = "agent", value_name = "AGENT")]
    pub agents: Vec<String>,
    #[command(flatten)]
    pub db: DbArgs,
    /// Output format, written to stdout (or --out).
    #[arg(long, value_enum, default_value_t = CompareFormat::Md)]
    pub format: CompareFormat,
    /// Write the comparison to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 1 when a benchmark newly fails or success, duration or cost is significantly worse.
    #[arg(long)]
    pub fail_on_regression: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    Md,
    Html,
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
    /// Compare with: `passed` (the last comparable run that passed the gate or was accepted
    /// with `reev accept`), a run id, `previous` (the run before), or `none`.
    #[arg(long, value_name = "RUN_ID", default_value = "passed", value_parser = crate::report::Baseline::parse_arg)]
    pub baseline: crate::report::Baseline,
    #[command(flatten)]
    pub reports: ReportsDirArg,
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
    #[command(flatten)]
    pub error_rate: ErrorRateArg,
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
            attempts: self.attempts.attempts.unwrap_or(1),
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
        jobs: e
            .limits
            .jobs
            .map(|j| j as usize)
            .unwrap_or_else(default_jobs),
        timeout: e.limits.timeout,
        kill_grace: e.kill_grace,
        run_id: e.run_id,
        resume: e.resume,
        runs_dir: e.runs.runs_dir(),
        keep_workdirs: e.keep_workdirs,
        fail_on_failed: e.fail_on_failed,
        max_cost: e.budget.max_cost,
        retry: crate::run::retry::Retry {
            errors: e.retries.retry_errors.unwrap_or(0),
            delay: e.retries.retry_delay,
        },
        batch_argv: None,
        // `reev batch` replaces these with the database and reports directory it uses.
        protect: [("REEV_DB", "reev.duckdb"), ("REEV_REPORTS_DIR", "reports")]
            .into_iter()
            .map(|(var, default)| std::env::var_os(var).unwrap_or(default.into()).into())
            .collect(),
        replay: e.replay,
    }
}

impl From<BatchArgs> for BatchOptions {
    fn from(a: BatchArgs) -> Self {
        let runs_dir = a.exec.runs.runs_dir();
        let mut run = run_options(a.suite, a.select, a.exec);
        run.protect = vec![a.db.db.clone(), a.report.reports.reports_dir.clone()];
        BatchOptions {
            run,
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
        out: r.reports.reports_dir,
        formats: r.format,
        fail_on_regression: r.fail_on_regression,
        allow_incomplete: r.allow_incomplete,
        max_error_rate: r.error_rate.max_error_rate,
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
            roots: a.runs.runs_dirs,
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

impl From<ShowArgs> for ShowOptions {
    fn from(a: ShowArgs) -> Self {
        ShowOptions {
            session: a.session,
            db: a.db.db,
            wait: a.db.wait,
            tail: a.tail,
        }
    }
}

impl From<StatusArgs> for StatusOptions {
    fn from(a: StatusArgs) -> Self {
        StatusOptions {
            run_id: a.run_id,
            runs_dir: a.runs.runs_dir(),
            format: a.format,
        }
    }
}

impl Command {
    /// The suite flags (`--config`, `--benchmarks`) of the commands that read a suite.
    pub fn suite(&self) -> Option<&SuiteArgs> {
        match self {
            Command::Run(a) => Some(&a.suite),
            Command::Validate(a) => Some(&a.suite),
            Command::List(a) => Some(&a.suite),
            Command::Batch(a) => Some(&a.suite),
            Command::Config(a) => Some(&a.suite),
            _ => None,
        }
    }
}
