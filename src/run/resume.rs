//! The commands reev prints to finish a run — on the start line, when a budget stops it,
//! when a signal interrupts it, and in `reev status` — each one complete enough to be run as
//! printed: the config file, the benchmarks directory and the runs tree the run used, its
//! retries, and for a run started by `reev batch`, the `reev batch` that also loads and reports.

use std::path::{Path, PathBuf};

use crate::plan::{Selection, Shard};

/// The defaults of `--config`, `--benchmarks` and `--runs-dir`: a command leaves them out.
const DEFAULT_CONFIG: &str = "reev.yml";
const DEFAULT_BENCHMARKS: &str = "benchmarks";
const DEFAULT_RUNS_DIR: &str = "runs";

/// Everything a resume of one run (or one shard) needs on its command line.
#[derive(Debug, Clone)]
pub struct Resume {
    pub run_id: String,
    pub shard: Option<Shard>,
    pub runs_dir: PathBuf,
    /// The config file and benchmarks directory (None: not known, e.g. an old manifest).
    pub config: Option<PathBuf>,
    pub benchmarks: Option<PathBuf>,
    /// `--retry-errors`: a resume retries errored sessions only when asked.
    pub retry_errors: u32,
    /// `--max-cost` to carry on (not after a budget stop: that resume needs a new budget).
    pub max_cost: Option<f64>,
    /// The argv of the `reev batch` that started the run: the resume is that batch again.
    pub batch: Option<Vec<String>>,
    /// Not a resume but the start of a shard that never started (`shard` is set), with the
    /// selection the other shards recorded.
    pub start: Option<Selection>,
}

/// Flags a resume must not repeat (the plan is recorded) or that [`Resume`] sets itself,
/// each with a value.
const REPLACED: &[&str] = &[
    "--run-id",
    "--resume",
    "--attempts",
    "--agent",
    "--tag",
    "--filter",
    "--shard",
    "--config",
    "--benchmarks",
    "--runs-dir",
    "--retry-errors",
    "--max-cost",
];

impl Resume {
    /// The command line, words quoted for a POSIX shell where needed.
    pub fn render(&self) -> String {
        let mut words: Vec<String> = match &self.batch {
            Some(argv) => batch_words(argv),
            None => vec!["reev".into(), "run".into()],
        };
        let mut flag = |f: &str, v: String| words.extend([f.to_string(), v]);
        match &self.start {
            None => flag("--resume", self.run_id.clone()),
            Some(_) => flag("--run-id", self.run_id.clone()),
        }
        if let Some(s) = self.shard {
            flag("--shard", s.to_string());
        }
        if let Some(sel) = &self.start {
            for a in &sel.agents {
                flag("--agent", a.clone());
            }
            for t in &sel.tags {
                flag("--tag", t.clone());
            }
            for f in &sel.filters {
                flag("--filter", f.clone());
            }
            if sel.attempts != 1 {
                flag("--attempts", sel.attempts.to_string());
            }
        }
        let paths = [
            ("--config", self.config.as_deref(), DEFAULT_CONFIG),
            (
                "--benchmarks",
                self.benchmarks.as_deref(),
                DEFAULT_BENCHMARKS,
            ),
            (
                "--runs-dir",
                Some(self.runs_dir.as_path()),
                DEFAULT_RUNS_DIR,
            ),
        ];
        for (f, path, default) in paths {
            if let Some(p) = path.filter(|p| *p != Path::new(default)) {
                flag(f, p.to_string_lossy().into_owned());
            }
        }
        if self.retry_errors > 0 {
            flag("--retry-errors", self.retry_errors.to_string());
        }
        if let Some(c) = self.max_cost {
            flag("--max-cost", c.to_string());
        }
        words
            .iter()
            .map(|w| shell_word(w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `reev`, the global flags and `batch` with its own flags, from a batch's argv (program
/// name first), without the flags [`Resume`] replaces.
fn batch_words(argv: &[String]) -> Vec<String> {
    let mut out = vec!["reev".to_string()];
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        if REPLACED.contains(&a.as_str()) {
            args.next();
            continue;
        }
        if REPLACED
            .iter()
            .any(|f| a.strip_prefix(f).is_some_and(|rest| rest.starts_with('=')))
        {
            continue;
        }
        out.push(a.clone());
    }
    out
}

/// Is `argv` (program name first) a `reev batch`? Global flags may come before it.
pub fn is_batch(argv: &[String]) -> bool {
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--log-format" => {
                args.next();
            }
            s if s.starts_with('-') => {}
            s => return s == "batch",
        }
    }
    false
}

/// `s` quoted for a POSIX shell when it needs it.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '=' | ':' | ',' | '@')
        })
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resume() -> Resume {
        Resume {
            run_id: "r".into(),
            shard: None,
            runs_dir: "runs".into(),
            config: Some("reev.yml".into()),
            benchmarks: Some("benchmarks".into()),
            retry_errors: 0,
            max_cost: None,
            batch: None,
            start: None,
        }
    }

    #[test]
    fn defaults_are_left_out_and_the_rest_is_named() {
        assert_eq!(resume().render(), "reev run --resume r");
        let r = Resume {
            shard: Some("2/4".parse().unwrap()),
            config: Some("examples/llm/reev.yml".into()),
            benchmarks: Some("/else where".into()),
            runs_dir: "/data/runs".into(),
            retry_errors: 3,
            max_cost: Some(2.5),
            ..resume()
        };
        assert_eq!(
            r.render(),
            "reev run --resume r --shard 2/4 --config examples/llm/reev.yml --benchmarks '/else where' --runs-dir /data/runs --retry-errors 3 --max-cost 2.5"
        );
    }

    #[test]
    fn a_missing_shard_starts_with_the_recorded_selection() {
        let r = Resume {
            shard: Some("2/3".parse().unwrap()),
            start: Some(Selection {
                agents: vec!["a".into()],
                tags: vec!["t x".into()],
                filters: vec![],
                attempts: 2,
                shard: None,
            }),
            ..resume()
        };
        assert_eq!(
            r.render(),
            "reev run --run-id r --shard 2/3 --agent a --tag 't x' --attempts 2"
        );
    }

    #[test]
    fn a_batch_resumes_as_the_same_batch_without_its_plan_flags() {
        let argv: Vec<String> = [
            "/usr/local/bin/reev",
            "-q",
            "--log-format",
            "json",
            "batch",
            "--attempts",
            "3",
            "--run-id=n1",
            "--agent",
            "a",
            "--fail-on-regression",
            "--db",
            "x.duckdb",
        ]
        .map(String::from)
        .to_vec();
        assert!(is_batch(&argv));
        assert!(!is_batch(&["reev".into(), "run".into()]));
        let r = Resume {
            batch: Some(argv),
            retry_errors: 1,
            ..resume()
        };
        assert_eq!(
            r.render(),
            "reev -q --log-format json batch --fail-on-regression --db x.duckdb --resume r --retry-errors 1"
        );
    }
}
