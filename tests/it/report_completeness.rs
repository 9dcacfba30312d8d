//! `reev report` on an incomplete run: a lost shard or a killed run is said so in every
//! format, and `--fail-on-regression` fails on it unless `--allow-incomplete`.

use crate::common;
use crate::common::{session_files, wait_for, Project};
use serde_json::Value;
use std::time::Duration;

fn project() -> Project {
    let p = Project::new();
    p.agents(&[("t", &["true"]), ("u", &["true"])]);
    for b in ["a", "b", "c", "d"] {
        p.simple_benchmark(b);
    }
    p
}

fn read(p: &Project, rel: &str) -> String {
    std::fs::read_to_string(p.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn junit_is_valid(p: &Project, rel: &str) {
    common::junit_is_valid(&p.join(rel));
}

#[test]
fn a_lost_shard_is_reported_and_fails_the_gate() {
    let p = project();
    // Shards 1 and 3 of 3 of one run, into one tree; shard 2 is lost.
    for k in ["1/3", "3/3"] {
        p.reev(&["run", "--run-id", "night", "--attempts", "3", "--shard", k])
            .ok();
    }
    p.reev(&["load"]).ok();
    let present = session_files(&p.join("runs")).len();
    let gate = p.reev(&["report", "--fail-on-regression"]);
    gate.code(1)
        .stderr_has("incomplete")
        .stderr_has(&format!("{present} of 24 planned sessions"))
        .stderr_has("missing shard(s) 2/3");

    let md = read(&p, "reports/night/report.md");
    assert!(md.contains("**Incomplete run**"), "{md}");
    assert!(md.contains("missing shard(s) 2/3"), "{md}");
    assert!(md.contains("| t | 12 |"), "{md}");
    let html = read(&p, "reports/night/report.html");
    assert!(html.contains("Incomplete run") && html.contains("2/3"));
    let json: Value = serde_json::from_str(&read(&p, "reports/night/report.json")).unwrap();
    let c = &json["completeness"];
    assert_eq!(c["complete"], false);
    assert_eq!(c["planned"], 24);
    assert_eq!(c["present"], present);
    assert_eq!(c["shard_count"], 3);
    assert_eq!(c["shards_missing"], serde_json::json!([2]));
    assert_eq!(c["agents"][0]["planned"], 12);
    let junit = read(&p, "reports/night/junit.xml");
    assert!(junit.contains("reev.completeness") && junit.contains("type=\"incomplete\""));
    junit_is_valid(&p, "reports/night/junit.xml");

    // --allow-incomplete lets the gate judge regressions only.
    p.reev(&["report", "--fail-on-regression", "--allow-incomplete"])
        .ok();
    // Without the gate, an incomplete run is a warning, not a failure.
    p.reev(&["report"]).ok().stderr_has("incomplete");

    // The lost shard arrives: complete, and the gate passes.
    p.reev(&[
        "run",
        "--run-id",
        "night",
        "--attempts",
        "3",
        "--shard",
        "2/3",
    ])
    .ok();
    p.reev(&["load"]).ok();
    p.reev(&["report", "--fail-on-regression"]).ok();
    let json: Value = serde_json::from_str(&read(&p, "reports/night/report.json")).unwrap();
    assert_eq!(json["completeness"]["complete"], true);
    assert_eq!(json["completeness"]["present"], 24);
    assert!(read(&p, "reports/night/report.md").contains("Complete: 24 of 24 planned sessions"));
    assert!(!read(&p, "reports/night/junit.xml").contains("reev.completeness"));
}

#[test]
fn a_killed_run_is_incomplete_until_resumed() {
    let p = Project::new();
    p.agents(&[("slow", &["sh", "-c", "sleep 0.3"])])
        .simple_benchmark("a");
    let mut child = p
        .cmd(&["run", "--run-id", "k", "--attempts", "8", "--jobs", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let runs = p.join("runs");
    assert!(wait_for(Duration::from_secs(20), || session_files(&runs)
        .len()
        >= 2));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(session_files(&runs).len() < 8);
    p.reev(&["load"]).ok();
    p.reev(&["report", "--fail-on-regression"])
        .code(1)
        .stderr_has("of 8 planned sessions");
    p.reev(&["run", "--resume", "k"]).ok();
    p.reev(&["load"]).ok();
    p.reev(&["report", "--fail-on-regression"]).ok();
}
