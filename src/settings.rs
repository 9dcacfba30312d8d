//! Each setting declared once: its `settings:` key in reev.yml (also its clap argument id),
//! its `REEV_*` environment variable (the clap attribute names the same constant), the one
//! parser that reads it from a flag, the environment and the file alike (ranges included), and
//! how `reev config` shows it. `config.rs` applies the precedence; `cli.rs` defines each flag
//! once, in small flattened argument groups.

/// Parallel sessions when nothing sets `--jobs`: one per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// One setting: how it is named in `settings:`, in clap and in the environment, how text
/// becomes its value, and how `reev config` shows the value.
pub struct Key<T> {
    /// The key under `settings:` in reev.yml, and the clap argument id.
    pub name: &'static str,
    /// The `REEV_*` environment variable.
    pub env: &'static str,
    pub parse: fn(&str) -> std::result::Result<T, Invalid>,
    pub show: fn(&T) -> String,
}

/// Why a setting's text is not a value of it (from a flag, the environment or `settings:`).
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// Not a whole number in the setting's range.
    #[error("`{text}` is not a number of {what} ({min} to {max})")]
    Count {
        text: String,
        what: &'static str,
        min: u32,
        max: u32,
    },
    #[error("`{0}` is not a log format (text, json)")]
    LogFormat(String),
    #[error(transparent)]
    Duration(#[from] crate::duration::DurationError),
    #[error(transparent)]
    Budget(#[from] crate::run::budget::NotABudget),
    /// `--max-error-rate`: its parser (`report::error_rate`) says why in a sentence.
    #[error("{0}")]
    Rate(String),
}

/// Every setting reev reads from flags, the environment and `settings:`. `sandbox` is also
/// allowed under `settings:` but is a structure, validated with the agents (spec::sandbox).
pub mod keys {
    use super::{default_jobs, Invalid, Key};
    use crate::logging::LogFormat;
    use std::path::PathBuf;
    use std::time::Duration;

    fn path(v: &str) -> Result<PathBuf, Invalid> {
        Ok(v.into())
    }
    #[allow(clippy::ptr_arg)] // the type `Key<PathBuf>::show` must have
    fn show_path(p: &PathBuf) -> String {
        p.display().to_string()
    }
    fn show_duration(d: &Duration) -> String {
        humantime::format_duration(*d).to_string()
    }

    /// A whole number in `range`, or a sentence naming what it counts and the range.
    fn count(
        v: &str,
        range: std::ops::RangeInclusive<u32>,
        what: &'static str,
    ) -> Result<u32, Invalid> {
        match v.trim().parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(Invalid::Count {
                text: v.to_string(),
                what,
                min: *range.start(),
                max: *range.end(),
            }),
        }
    }
    /// Number of attempts per (benchmark, agent): 1 to 100,000.
    pub fn attempts(v: &str) -> Result<u32, Invalid> {
        count(v, 1..=100_000, "attempts")
    }
    /// Number of parallel sessions: 1 to 4096.
    pub fn jobs(v: &str) -> Result<u32, Invalid> {
        count(v, 1..=4096, "jobs")
    }
    /// Retries of a session that ended `error`: 0 to 100.
    pub fn retry_errors(v: &str) -> Result<u32, Invalid> {
        count(v, 0..=100, "retries")
    }
    pub fn log_format(v: &str) -> Result<LogFormat, Invalid> {
        <LogFormat as clap::ValueEnum>::from_str(v, false)
            .map_err(|_| Invalid::LogFormat(v.to_string()))
    }

    pub const CONFIG: &str = "REEV_CONFIG";
    pub const LOG_FORMAT: Key<LogFormat> = Key {
        name: "log_format",
        env: "REEV_LOG_FORMAT",
        parse: log_format,
        show: |v| format!("{v:?}").to_lowercase(),
    };
    pub const BENCHMARKS: Key<PathBuf> = Key {
        name: "benchmarks",
        env: "REEV_BENCHMARKS",
        parse: path,
        show: show_path,
    };
    pub const ATTEMPTS: Key<Option<u32>> = Key {
        name: "attempts",
        env: "REEV_ATTEMPTS",
        parse: |v| attempts(v).map(Some),
        show: |v| v.unwrap_or(1).to_string(),
    };
    pub const RUNS_DIR: Key<PathBuf> = Key {
        name: "runs_dir",
        env: "REEV_RUNS_DIR",
        parse: path,
        show: show_path,
    };
    pub const JOBS: Key<Option<u32>> = Key {
        name: "jobs",
        env: "REEV_JOBS",
        parse: |v| jobs(v).map(Some),
        show: |v| match v {
            Some(j) => j.to_string(),
            None => format!("{} (cores)", default_jobs()),
        },
    };
    pub const TIMEOUT: Key<Option<Duration>> = Key {
        name: "timeout",
        env: "REEV_TIMEOUT",
        parse: |v| Ok(Some(crate::duration::parse_timeout(v)?)),
        show: |v| match v {
            Some(d) => humantime::format_duration(*d).to_string(),
            None => "per benchmark and agent".into(),
        },
    };
    pub const MAX_COST: Key<Option<f64>> = Key {
        name: "max_cost",
        env: "REEV_MAX_COST",
        parse: |v| Ok(Some(crate::run::budget::parse_usd(v)?)),
        show: |v| v.map_or_else(|| "none".to_string(), |c| format!("{c} USD")),
    };
    pub const RETRY_ERRORS: Key<Option<u32>> = Key {
        name: "retry_errors",
        env: "REEV_RETRY_ERRORS",
        parse: |v| retry_errors(v).map(Some),
        show: |v| v.unwrap_or(0).to_string(),
    };
    pub const RETRY_DELAY: Key<Duration> = Key {
        name: "retry_delay",
        env: "REEV_RETRY_DELAY",
        parse: |v| Ok(crate::duration::parse_wait(v)?),
        show: show_duration,
    };
    pub const DB: Key<PathBuf> = Key {
        name: "db",
        env: "REEV_DB",
        parse: path,
        show: show_path,
    };
    pub const WAIT: Key<Duration> = Key {
        name: "wait",
        env: "REEV_WAIT",
        parse: |v| Ok(crate::duration::parse_wait(v)?),
        show: show_duration,
    };
    pub const REPORTS_DIR: Key<PathBuf> = Key {
        name: "reports_dir",
        env: "REEV_REPORTS_DIR",
        parse: path,
        show: show_path,
    };
    pub const MAX_ERROR_RATE: Key<f64> = Key {
        name: "max_error_rate",
        env: "REEV_MAX_ERROR_RATE",
        parse: |v| crate::report::error_rate::parse(v).map_err(Invalid::Rate),
        show: |v| format!("{:.1}%", v * 100.0),
    };

    /// Every key `settings:` may hold, for the unknown-key message.
    pub const NAMES: &[&str] = &[
        LOG_FORMAT.name,
        BENCHMARKS.name,
        ATTEMPTS.name,
        RUNS_DIR.name,
        JOBS.name,
        TIMEOUT.name,
        MAX_COST.name,
        RETRY_ERRORS.name,
        RETRY_DELAY.name,
        DB.name,
        WAIT.name,
        REPORTS_DIR.name,
        MAX_ERROR_RATE.name,
        "sandbox",
    ];
}
