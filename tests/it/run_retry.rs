//! `reev run --retry-errors`: sessions that ended `error` are run again, every try is its own
//! write-once file, and the latest try is the session's result in status, store and reports.

use crate::common;
use crate::common::Project;
use serde_json::Value;

/// An agent that exits 75 (EX_TEMPFAIL) on its first `fails` calls, then succeeds. The count
/// lives beside reev.yml, outside every scratch directory.
fn flaky_agent(p: &Project, fails: u32) {
    let script = format!(
        "n=$(cat {{config_dir}}/calls 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{config_dir}}/calls; \
         [ $n -gt {fails} ] || {{ echo model API down >&2; exit 75; }}; echo ok"
    );
    p.agents(&[("flaky", &["sh", "-c", &script])]);
    p.write(
        "benchmarks/b.yml",
        "id: b\ndescription: d\nprompt: p\ntimeout: 30s\nground_truth:\n  assertions:\n    - stdout_contains: ok\n",
    );
}

fn names(p: &Project, run: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p.join(&format!("runs/{run}/sessions/flaky")))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The sorted listing a session leaves with tries ending in these statuses: its session files
/// only (statuses go to the run's status log, not to a marker file per session).
fn listing(statuses: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = (0..statuses.len())
        .map(|i| match i {
            0 => "b@1.json".to_string(),
            i => format!("b@1.try{}.json", i + 1),
        })
        .collect();
    v.sort();
    v
}

fn read(p: &Project, rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(p.join(rel)).unwrap()).unwrap()
}

/// `reev run --run-id r1 --retry-errors N` without backoff waits; it must exit 0.
fn retrying_run(p: &Project, retries: &str) -> common::Out {
    let out = p.reev(&[
        "run",
        "--run-id",
        "r1",
        "--retry-errors",
        retries,
        "--retry-delay",
        "0s",
    ]);
    out.ok();
    out
}

fn query(p: &Project, sql: &str) -> String {
    let out = p.reev(&["query", "--format", "csv", sql]);
    out.ok();
    out.stdout
}

#[test]
fn exit_75_is_retried_until_success_and_every_try_is_kept() {
    let p = Project::new();
    flaky_agent(&p, 2);
    let out = retrying_run(&p, "3");
    assert!(
        out.stderr
            .contains("try 1: error: the agent reported a temporary failure"),
        "{}",
        out.stderr
    );
    assert_eq!(names(&p, "r1"), listing(&["error", "error", "succeeded"]));
    let tries: Vec<Value> = ["b@1.json", "b@1.try2.json", "b@1.try3.json"]
        .iter()
        .map(|f| read(&p, &format!("runs/r1/sessions/flaky/{f}")))
        .collect();
    assert!(
        tries[0].get("try").is_none(),
        "a first try looks as before retries"
    );
    assert_eq!(tries[1]["try"], 2);
    assert_eq!(tries[2]["try"], 3);
    assert_eq!(tries[0]["status"], "error");
    assert_eq!(tries[1]["status"], "error");
    assert_eq!(tries[2]["status"], "succeeded");
    let mut ids: Vec<&str> = tries
        .iter()
        .map(|t| t["session_id"].as_str().unwrap())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "every try has its own session id");
    // The run's summary counts the session once, by its latest try.
    assert!(
        out.stdout
            .contains("flaky                           1         1"),
        "{}",
        out.stdout
    );
    // So does `reev status`, from the status log alone: one line per try, in order.
    let log = std::fs::read_to_string(p.join("runs/r1/status.log")).unwrap();
    assert_eq!(
        log,
        "flaky/b@1 error\nflaky/b@1.try2 error\nflaky/b@1.try3 succeeded\n"
    );
    let status = p.reev(&["status", "--format", "json"]);
    status.ok();
    let s: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(s[0]["done"], 1);
    assert_eq!(s[0]["succeeded"], 1);
    assert_eq!(s[0]["error"], 0);
    assert_eq!(s[0]["state"], "complete");
    // The store keeps every try; latest_sessions and the report see the latest.
    p.reev(&["load"]).ok();
    assert_eq!(
        query(
            &p,
            "SELECT try_number, status FROM sessions ORDER BY try_number"
        ),
        "try_number,status\n1,error\n2,error\n3,succeeded\n"
    );
    assert_eq!(
        query(&p, "SELECT try_number, status FROM latest_sessions"),
        "try_number,status\n3,succeeded\n"
    );
    // The sessions export has every try, with its number as the last column.
    let csv = p.reev(&["export", "--table", "sessions"]);
    csv.ok();
    let tries: Vec<&str> = csv
        .stdout
        .lines()
        .map(|l| l.rsplit(',').next().unwrap_or_default())
        .collect();
    assert_eq!(tries, ["try_number", "1", "2", "3"]);
    p.reev(&["report"]).ok();
    let r = read(&p, "reports/r1/report.json");
    assert_eq!(r["agents"][0]["sessions"], 1);
    assert_eq!(r["agents"][0]["errors"], 0);
    assert_eq!(r["agents"][0]["success_rate"], 1.0);
    assert_eq!(r["completeness"]["complete"], true);
}

#[test]
fn retries_exhausted_leave_the_session_error() {
    let p = Project::new();
    flaky_agent(&p, 100);
    p.reev(&[
        "run",
        "--run-id",
        "r1",
        "--retry-errors",
        "2",
        "--retry-delay",
        "0s",
        "--keep-workdirs",
    ])
    .ok();
    assert_eq!(names(&p, "r1"), listing(&["error", "error", "error"]));
    assert_eq!(
        std::fs::read_to_string(p.join("calls")).unwrap().trim(),
        "3"
    );
    // Each try kept its own scratch directory.
    let mut kept: Vec<String> = std::fs::read_dir(p.join("runs/r1/work/flaky"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .map(|n| n.split(".try-").next().unwrap_or_default().to_string())
        .collect();
    kept.sort();
    assert_eq!(kept, ["b@1", "b@1.try2", "b@1.try3"]);
    p.reev(&["load"]).ok();
    p.reev(&["report"]).ok();
    let r = read(&p, "reports/r1/report.json");
    assert_eq!(r["agents"][0]["sessions"], 1);
    assert_eq!(r["agents"][0]["errors"], 1);
    assert_eq!(r["agents"][0]["error_rate"], 1.0);
}

#[test]
fn resume_retries_errored_sessions_only_when_asked() {
    let p = Project::new();
    flaky_agent(&p, 1);
    p.reev(&["run", "--run-id", "r1"]).ok();
    assert_eq!(names(&p, "r1"), listing(&["error"]));
    // A plain resume finds the run complete: an error is a result.
    p.reev(&["run", "--resume", "r1"]).ok();
    assert_eq!(names(&p, "r1"), listing(&["error"]));
    // So does one where retries come only from the environment (a default for new runs).
    p.cmd(&["run", "--resume", "r1"])
        .env("REEV_RETRY_ERRORS", "3")
        .output()
        .unwrap();
    assert_eq!(names(&p, "r1"), listing(&["error"]));
    const RETRY: [&str; 7] = [
        "run",
        "--resume",
        "r1",
        "--retry-errors",
        "2",
        "--retry-delay",
        "0s",
    ];
    p.reev(&RETRY).ok().stderr_has("1 to run");
    assert_eq!(names(&p, "r1"), listing(&["error", "succeeded"]));
    // A finished session is never run again.
    p.reev(&RETRY).ok().stderr_has("0 to run");
    assert_eq!(names(&p, "r1"), listing(&["error", "succeeded"]));
}

/// The resume command a retrying run prints (for after an interruption or a `kill -9`) keeps
/// retrying: without `--retry-errors` it would take an errored try as the session's result.
#[test]
fn the_printed_resume_command_of_a_retrying_run_retries_too() {
    let p = Project::new();
    flaky_agent(&p, 2);
    let out = retrying_run(&p, "1");
    assert_eq!(names(&p, "r1"), listing(&["error", "error"]));
    let start = out
        .stderr
        .find("`reev run --resume ")
        .unwrap_or_else(|| panic!("no resume command on stderr:\n{}", out.stderr));
    let rest = &out.stderr[start + 1..];
    let printed: Vec<&str> = rest[..rest.find('`').unwrap()].split_whitespace().collect();
    assert_eq!(
        printed,
        ["reev", "run", "--resume", "r1", "--retry-errors", "1"]
    );
    p.reev(&printed[1..]).ok().stderr_has("1 to run");
    assert_eq!(names(&p, "r1"), listing(&["error", "error", "succeeded"]));
}

#[test]
fn settings_give_the_retries_of_new_runs() {
    let p = Project::new();
    flaky_agent(&p, 1);
    let yml = std::fs::read_to_string(p.join("reev.yml")).unwrap();
    p.write(
        "reev.yml",
        &format!("{yml}settings:\n  retry_errors: 1\n  retry_delay: 10ms\n"),
    );
    let cfg = p.reev(&["config"]);
    cfg.ok();
    for (key, value) in [("retry_errors", "1"), ("retry_delay", "10ms")] {
        let line = cfg.stdout.lines().find(|l| l.starts_with(key));
        let words: Vec<&str> = line.unwrap_or_default().split_whitespace().collect();
        assert!(
            words.get(1) == Some(&value) && words.get(2..5) == Some(&["#", "config", "file"]),
            "{key}:\n{}",
            cfg.stdout
        );
    }
    p.reev(&["run", "--run-id", "r1"]).ok();
    assert_eq!(names(&p, "r1"), listing(&["error", "succeeded"]));
}

#[test]
fn bad_retry_values_are_usage_errors() {
    let p = Project::new();
    flaky_agent(&p, 0);
    p.reev(&["run", "--retry-errors", "101"]).code(2);
    p.reev(&["run", "--retry-errors", "-1"]).code(2);
    p.reev(&["run", "--retry-delay", "soon"]).code(2);
    let yml = std::fs::read_to_string(p.join("reev.yml")).unwrap();
    p.write(
        "reev.yml",
        &format!("{yml}settings:\n  retry_errors: 1000\n"),
    );
    p.reev(&["run"])
        .code(2)
        .stderr_has("settings.retry_errors: `1000` is not a number of retries (0 to 100)");
    assert!(!p.join("runs").exists(), "nothing ran");
}

#[test]
fn batch_retries_and_gates_on_the_latest_tries() {
    let p = Project::new();
    flaky_agent(&p, 1);
    // The first try's error is retried, so the run's error rate is 0 and the gate passes.
    p.reev(&[
        "batch",
        "--retry-errors",
        "1",
        "--retry-delay",
        "0s",
        "--fail-on-regression",
        "--baseline",
        "none",
    ])
    .ok();
    assert_eq!(p.sessions().len(), 2, "both tries are kept");
    // Without retries the error stands, and the gate fails on the error rate.
    std::fs::remove_file(p.join("calls")).unwrap();
    p.reev(&["batch", "--fail-on-regression", "--baseline", "none"])
        .code(1)
        .stderr_has("regression: error_rate flaky: error rate 100.0%");
}
