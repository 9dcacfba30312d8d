//! Issue 22 defect 1 and issue 17 defect 11: every resume command reev prints — the start
//! line, the budget stop, the interruption, `reev status` — is run exactly as printed, by a
//! shell, after `--config`, `--benchmarks` elsewhere, `kill -9`, SIGTERM to `reev batch` and
//! SIGTERM during a retry's backoff.

use crate::common::{session_files, wait_for, Out, Project, REEV};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

/// The last command printed between backticks that starts with `reev ` and holds `--resume`.
fn printed(stderr: &str) -> String {
    stderr
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("reev ") && c.contains("--resume"))
        .last()
        .unwrap_or_else(|| panic!("no resume command on stderr:\n{stderr}"))
        .to_string()
}

/// Run a printed command line exactly as a user pastes it: `sh -c LINE` in the project,
/// with `reev` on PATH.
fn run_line(p: &Project, line: &str) -> Out {
    let bin = p.join("bin");
    if !bin.join("reev").exists() {
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(REEV, bin.join("reev")).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::process::Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(p.path())
        .env("PATH", path)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into()
}

fn status(p: &Project, run: &str) -> Value {
    let out = p.reev(&["status", "--format", "json", run]);
    serde_json::from_str::<Vec<Value>>(&out.ok().stdout).unwrap()[0].clone()
}

fn spawn(p: &Project, args: &[&str], log: &Path) -> Child {
    p.cmd(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// A suite kept under `cfg/` like `examples/llm/`: no reev.yml where reev runs. Every
/// session costs 1 USD.
fn llm_like(p: &Project) {
    let line = r#"{"type":"model_request","model":"m","input_tokens":1000000,"output_tokens":0}"#;
    let script = serde_json::to_string(&crate::common::emit(line)).unwrap();
    p.write(
        "cfg/llm.yml",
        &format!(
            "prices:\n  m: {{input: 1.0, output: 1.0}}\nagents:\n  llm:\n    command: [sh, -c, {script}]\n"
        ),
    );
    for b in ["x", "y", "z"] {
        p.simple_benchmark(b);
    }
}

#[test]
fn the_budget_stop_and_status_commands_name_the_config_the_run_used() {
    let p = Project::new();
    llm_like(&p);
    let out = p.reev(&[
        "run",
        "--config",
        "cfg/llm.yml",
        "--max-cost",
        "1",
        "--run-id",
        "budget",
        "--jobs",
        "1",
    ]);
    out.code(1).stderr_has("stopped by --max-cost");
    let cmd = printed(&out.stderr);
    assert_eq!(cmd, "reev run --resume budget --config cfg/llm.yml");
    let st = status(&p, "budget");
    assert_eq!(st["state"], "stopped_by_budget");
    assert_eq!(st["resume"][0], cmd.as_str());
    run_line(&p, &cmd).ok();
    assert_eq!(status(&p, "budget")["state"], "complete");
    assert_eq!(session_files(&p.join("runs")).len(), 3);
    // A bare resume does not silently take another config: it says which one to name.
    p.write("reev.yml", "agents:\n  other:\n    command: [\"true\"]\n");
    p.reev(&["run", "--resume", "budget"])
        .code(2)
        .stderr_has("`reev run --resume budget --config cfg/llm.yml`");
}

#[test]
fn benchmarks_elsewhere_resume_with_the_start_line_after_kill_9() {
    let p = Project::new();
    p.agents(&[("slow", &["sh", "-c", "sleep 0.3"])]);
    let elsewhere = tempfile::tempdir().unwrap();
    for b in ["a", "b"] {
        std::fs::write(
            elsewhere.path().join(format!("{b}.yml")),
            format!("id: {b}\ndescription: d\nprompt: p\ntimeout: 30s\nground_truth:\n  assertions:\n    - exit_code: 0\n"),
        )
        .unwrap();
    }
    let dir = elsewhere.path().to_str().unwrap();
    let log = p.join("stderr.log");
    let mut child = spawn(
        &p,
        &["run", "--benchmarks", dir, "--attempts", "4", "--jobs", "2"],
        &log,
    );
    let runs = p.join("runs");
    assert!(wait_for(Duration::from_secs(20), || session_files(&runs)
        .len()
        >= 2));
    child.kill().unwrap(); // SIGKILL: only the start line was printed.
    child.wait().unwrap();
    assert!(session_files(&runs).len() < 8, "killed too late");
    let cmd = printed(&std::fs::read_to_string(&log).unwrap());
    assert!(cmd.contains(&format!("--benchmarks {dir}")), "{cmd}");
    let id = p
        .run_dir()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(status(&p, &id)["resume"][0], cmd.as_str());
    run_line(&p, &cmd).ok();
    assert_eq!(session_files(&runs).len(), 8);
}

#[test]
fn sigterm_to_a_batch_prints_the_batch_that_finishes_loads_and_reports() {
    let p = Project::new();
    p.agents(&[("slow", &["sh", "-c", "sleep 0.3"])])
        .simple_benchmark("a");
    let log = p.join("stderr.log");
    let mut child = spawn(
        &p,
        &["batch", "--run-id", "n1", "--attempts", "6", "--jobs", "2"],
        &log,
    );
    let runs = p.join("runs");
    assert!(wait_for(Duration::from_secs(20), || session_files(&runs)
        .len()
        >= 2));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(128 + libc::SIGTERM));
    let stderr = std::fs::read_to_string(&log).unwrap();
    let cmd = printed(&stderr);
    assert_eq!(cmd, "reev batch --jobs 2 --resume n1");
    assert!(!p.join("reports/n1").exists());
    // `reev status` names the same batch.
    assert_eq!(status(&p, "n1")["resume"][0], cmd.as_str());
    run_line(&p, &cmd).ok();
    assert_eq!(session_files(&runs).len(), 6);
    assert!(p.join("reports/n1/report.md").is_file());
    assert_eq!(
        p.count(
            "reev.duckdb",
            "SELECT count(*) FROM sessions WHERE run_id = 'n1'"
        ),
        6
    );
}

#[test]
fn sigterm_during_a_retry_backoff_leaves_a_run_status_calls_incomplete() {
    let p = Project::new();
    // Exit 75 (an `error`, retried) on the first call, then succeed.
    let script = "n=$(cat {config_dir}/calls 2>/dev/null || echo 0); n=$((n+1)); echo $n > {config_dir}/calls; \
                  [ $n -gt 1 ] || exit 75; echo ok";
    p.agents(&[("flaky", &["sh", "-c", script])])
        .simple_benchmark("b");
    let log = p.join("stderr.log");
    let mut child = spawn(
        &p,
        &[
            "run",
            "--run-id",
            "r",
            "--retry-errors",
            "3",
            "--retry-delay",
            "60s",
        ],
        &log,
    );
    let first = p.join("runs/r/sessions/flaky/b@1.json");
    assert!(wait_for(Duration::from_secs(20), || first.exists()));
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(128 + libc::SIGTERM));
    let cmd = printed(&std::fs::read_to_string(&log).unwrap());
    assert_eq!(cmd, "reev run --resume r --retry-errors 3");
    let st = status(&p, "r");
    assert_eq!(st["state"], "incomplete", "{st}");
    assert_eq!(st["retries_owed"], 1);
    assert_eq!(st["resume"][0], cmd.as_str());
    let table = p.reev(&["status"]);
    assert!(
        table.ok().stdout.contains(&format!("finish with: {cmd}")),
        "{}",
        table.stdout
    );
    run_line(&p, &cmd).ok();
    let st = status(&p, "r");
    assert_eq!(st["state"], "complete", "{st}");
    assert_eq!(st["succeeded"], 1);
}

#[test]
fn a_resume_after_a_benchmark_edit_warns_once_per_benchmark() {
    let p = Project::new();
    p.agents(&[("a", &["true"])])
        .simple_benchmark("x")
        .simple_benchmark("y");
    p.reev(&["run", "--run-id", "r", "--attempts", "5"]).ok();
    std::fs::remove_file(p.join("runs/r/sessions/a/x@5.json")).unwrap();
    let yml = std::fs::read_to_string(p.join("benchmarks/x.yml")).unwrap();
    p.write(
        "benchmarks/x.yml",
        &yml.replace("test benchmark x", "edited"),
    );
    let out = p.reev(&["run", "--resume", "r"]);
    out.ok();
    let warnings = out
        .stderr
        .matches("changed since run r was planned")
        .count();
    assert_eq!(warnings, 1, "{}", out.stderr);
}
