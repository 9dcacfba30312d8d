//! Shared helper for integration tests: a temporary project directory and the built `reev`.
#![allow(dead_code)]

pub mod analyst;
pub mod gen;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const REEV: &str = env!("CARGO_BIN_EXE_reev");
/// The session init reev finds beside itself.
pub const REEV_INIT: &str = env!("CARGO_BIN_EXE_reev-init");

/// The Python with the test dependencies (duckdb, xmlschema): `make test` exports
/// REEV_TEST_PYTHON, the virtual environment `make dev-deps` made; else `python3` on PATH.
/// Agents in tests keep plain `python3`: they need only the standard library.
pub fn python() -> String {
    std::env::var("REEV_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// Run a Python snippet with [`python`] (`python -c SCRIPT ARGS...`), which must succeed
/// (its stderr shows otherwise); returns its stdout.
pub fn python_ok<A: AsRef<std::ffi::OsStr>>(script: &str, args: &[A]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 with the test dependencies (make dev-deps)");
    assert!(
        out.status.success(),
        "python -c {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// reev run in the repository itself (the shipped suite, `examples/`), as a user of a clone.
pub fn reev_in_repo(args: &[&str]) -> Out {
    let started = Instant::now();
    let out = Command::new(REEV)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run reev");
    Out::new(out, started.elapsed())
}

/// Assert that a JUnit file validates against the common schema (tests/data/junit.xsd).
pub fn junit_is_valid(junit: &Path) {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit.xsd");
    python_ok(
        "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2]); print('valid')",
        &[xsd.as_path(), junit],
    );
}

/// A throwaway project: its own reev.yml, benchmarks/ and runs/.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        Project {
            dir: tempfile::Builder::new()
                .prefix("reev-test-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> &Self {
        let p = self.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
        self
    }

    /// reev.yml with the given agents: (name, argv, extra yaml lines).
    pub fn agents(&self, agents: &[(&str, &[&str])]) -> &Self {
        let mut y = String::from("agents:\n");
        for (name, argv) in agents {
            let argv: Vec<String> = argv
                .iter()
                .map(|a| serde_json::to_string(a).expect("json"))
                .collect();
            y.push_str(&format!("  {name}:\n    command: [{}]\n", argv.join(", ")));
        }
        self.write("reev.yml", &y)
    }

    /// reev.yml with `head` (YAML: `settings:`, `prices:`) and agents that each run one
    /// shell script: (name, script).
    pub fn sh_agents(&self, head: &str, agents: &[(&str, String)]) -> &Self {
        let mut y = format!("{head}agents:\n");
        for (name, script) in agents {
            let script = serde_json::to_string(script).expect("json");
            y.push_str(&format!("  {name}:\n    command: [sh, -c, {script}]\n"));
        }
        self.write("reev.yml", &y)
    }

    /// Every agent of reev.yml gets `sandbox: {filesystem: host}`: for tests whose agents
    /// write into the runs tree on purpose (read-only to agents by default).
    pub fn unprotected(&self) -> &Self {
        let yml = std::fs::read_to_string(self.join("reev.yml")).expect("reev.yml");
        let mut out = String::new();
        for line in yml.lines() {
            out.push_str(line);
            out.push('\n');
            if line.starts_with("    command:") {
                out.push_str("    sandbox:\n      filesystem: host\n");
            }
        }
        self.write("reev.yml", &out)
    }

    /// A benchmark that passes when the agent exits 0.
    pub fn simple_benchmark(&self, id: &str) -> &Self {
        self.write(
            &format!("benchmarks/{id}.yml"),
            &format!(
                "id: {id}\ndescription: test benchmark {id}\ntags: [t]\nprompt: do {id}\ntimeout: 30s\nground_truth:\n  assertions:\n    - exit_code: 0\n"
            ),
        )
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(REEV);
        c.args(args)
            .current_dir(self.path())
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    pub fn reev(&self, args: &[&str]) -> Out {
        let started = Instant::now();
        let out = self.cmd(args).output().expect("run reev");
        Out::new(out, started.elapsed())
    }

    /// The single number a query against `db` answers (`reev query`, CSV).
    pub fn count(&self, db: &str, sql: &str) -> i64 {
        let out = self.reev(&["query", "--db", db, "--format", "csv", sql]);
        out.ok();
        out.stdout
            .lines()
            .nth(1)
            .expect("a row")
            .trim()
            .parse()
            .expect("a number")
    }

    /// Every session file under runs/, parsed.
    pub fn sessions(&self) -> Vec<serde_json::Value> {
        session_files(&self.join("runs"))
            .iter()
            .map(|p| {
                serde_json::from_slice(&std::fs::read(p).expect("read")).expect("session json")
            })
            .collect()
    }

    /// The single run directory under runs/.
    pub fn run_dir(&self) -> PathBuf {
        let runs: Vec<PathBuf> = std::fs::read_dir(self.join("runs"))
            .expect("runs dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        assert_eq!(runs.len(), 1, "expected one run, found {runs:?}");
        runs[0].clone()
    }
}

/// Shell text appending `event` (one JSON line) to the session's events file.
pub fn emit(event: &str) -> String {
    format!("printf '%s\\n' '{event}' >> \"$REEV_EVENTS\"")
}

/// Session files (*.json under a sessions/ directory), sorted.
pub fn session_files(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk(root)
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.components().any(|c| c.as_os_str() == "sessions")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    v.sort();
    v
}

/// Every file below root.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl From<Output> for Out {
    fn from(o: Output) -> Self {
        Out::new(o, Duration::ZERO)
    }
}

impl Out {
    fn new(o: Output, elapsed: Duration) -> Self {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            elapsed,
        }
    }

    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// Is this pid gone (or a zombie nobody reaped yet)?
pub fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(true),
    }
}

/// Poll until `f` is true or the time runs out.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// The shipped suite (benchmarks/, agents/, reev.yml) copied into a fresh directory.
pub fn shipped_suite() -> Project {
    let p = Project::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["benchmarks", "agents"] {
        copy_dir(&repo.join(dir), &p.join(dir));
    }
    std::fs::copy(repo.join("reev.yml"), p.join("reev.yml")).unwrap();
    p
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Run reev with stdout a pipe whose read end is already closed: every write fails with EPIPE.
pub fn into_closed_pipe(p: &Project, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = p
        .cmd(args)
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
