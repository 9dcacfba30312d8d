//! `reev report` and `error` sessions: the error rate per agent in every format, success rates
//! over judged sessions only, and the gate's `--max-error-rate`.

use crate::common::Project;
use serde_json::Value;

/// Agent `good` succeeds everywhere; `flaky` exits 75 (EX_TEMPFAIL) on benchmark `a` and
/// succeeds on `b`: 1 error in 2 sessions, and 1 success in 1 judged session.
fn project() -> Project {
    let p = Project::new();
    p.agents(&[
        ("good", &["sh", "-c", "echo ok"]),
        (
            "flaky",
            &["sh", "-c", "[ {benchmark_id} = b ] || exit 75; echo ok"],
        ),
    ]);
    p.simple_benchmark("a").simple_benchmark("b");
    p
}

fn agent<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == name)
        .unwrap()
}

#[test]
fn error_rate_is_shown_and_success_rate_leaves_errors_out() {
    let p = project();
    p.reev(&["run", "--run-id", "r1"]).ok();
    p.reev(&["load"]).ok();
    p.reev(&["report"]).ok();
    let r: Value =
        serde_json::from_slice(&std::fs::read(p.join("reports/r1/report.json")).unwrap()).unwrap();
    let flaky = agent(&r, "flaky");
    assert_eq!(flaky["sessions"], 2);
    assert_eq!(flaky["errors"], 1);
    assert_eq!(flaky["error_rate"], 0.5);
    assert_eq!(flaky["success_rate"], 1.0, "errors are not judged");
    assert_eq!(agent(&r, "good")["error_rate"], 0.0);
    assert_eq!(r["max_error_rate"], 0.1);
    let md = std::fs::read_to_string(p.join("reports/r1/report.md")).unwrap();
    assert!(
        md.contains("| agent | sessions | error rate | success rate"),
        "{md}"
    );
    assert!(md.contains("| flaky | 2 | 50.0% | 100.0%"), "{md}");
    assert!(
        md.contains("Success rates count judged sessions only"),
        "{md}"
    );
    let html = std::fs::read_to_string(p.join("reports/r1/report.html")).unwrap();
    assert!(html.contains("<th>error rate</th>"), "error rate column");
    assert!(
        html.contains("<td class=\"n\">50.0%</td>"),
        "flaky's error rate"
    );
    let junit = std::fs::read_to_string(p.join("reports/r1/junit.xml")).unwrap();
    assert!(
        junit.contains("<property name=\"error_rate\" value=\"0.5000\"/>"),
        "{junit}"
    );
    // The analysts' views agree.
    let out = p.reev(&[
        "query",
        "--format",
        "csv",
        "SELECT agent, success_rate, error_rate FROM run_summary ORDER BY agent",
    ]);
    out.ok();
    assert_eq!(
        out.stdout,
        "agent,success_rate,error_rate\nflaky,1.0,0.5\ngood,1.0,0.0\n"
    );
}

#[test]
fn the_gate_fails_an_agent_above_max_error_rate() {
    let p = project();
    p.reev(&["run", "--run-id", "r1"]).ok();
    p.reev(&["load"]).ok();
    // Without --fail-on-regression the error rate is reported, not gated.
    p.reev(&["report"]).ok().stderr_has(
        "regression: error_rate flaky: error rate 50.0% is above --max-error-rate 10.0%",
    );
    let out = p.reev(&["report", "--fail-on-regression"]);
    out.code(1)
        .stderr_has("regression: error_rate flaky: error rate 50.0%")
        .stderr_has("1 regression(s) (--fail-on-regression)");
    assert!(!out.stderr.contains("error_rate good"), "{}", out.stderr);
    // Below the limit, in either notation, the gate passes.
    p.reev(&["report", "--fail-on-regression", "--max-error-rate", "50%"])
        .ok();
    p.reev(&["report", "--fail-on-regression", "--max-error-rate", "0.6"])
        .ok();
    // And from the config file's settings.
    p.write(
        "reev.yml",
        &format!(
            "{}settings:\n  max_error_rate: 0.5\n",
            std::fs::read_to_string(p.join("reev.yml")).unwrap()
        ),
    );
    p.reev(&["report", "--fail-on-regression"]).ok();
}

#[test]
fn an_agent_over_the_error_rate_is_not_judged_on_success_rate() {
    let p = project();
    p.reev(&["run", "--run-id", "r1"]).ok();
    p.reev(&["run", "--run-id", "r2"]).ok();
    p.reev(&["load"]).ok();
    p.reev(&["report", "--run", "r2", "--baseline", "r1"]).ok();
    let r: Value =
        serde_json::from_slice(&std::fs::read(p.join("reports/r2/report.json")).unwrap()).unwrap();
    let checks: Vec<(&str, &str, &str)> = r["gate"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap(),
                c["agent"].as_str().unwrap(),
                c["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        checks.contains(&("error_rate", "flaky", "regression")),
        "{checks:?}"
    );
    assert!(
        checks.contains(&("error_rate", "good", "pass")),
        "{checks:?}"
    );
    // One run of history: the gate is learning, but the error rate needs none.
    assert!(
        checks.contains(&("success_rate_drop", "good", "learning")),
        "{checks:?}"
    );
    assert!(
        !checks
            .iter()
            .any(|c| c.0 == "success_rate_drop" && c.1 == "flaky"),
        "{checks:?}"
    );
    let kinds: Vec<&str> = r["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["error_rate"]);
}

#[test]
fn a_bad_max_error_rate_is_a_usage_error() {
    let p = project();
    for bad in ["150%", "1.5", "-0.1", "ten"] {
        p.reev(&["report", &format!("--max-error-rate={bad}")])
            .code(2)
            .stderr_has("is not an error rate");
    }
    p.write(
        "reev.yml",
        &format!(
            "{}settings:\n  max_error_rate: 2\n",
            std::fs::read_to_string(p.join("reev.yml")).unwrap()
        ),
    );
    p.reev(&["report"])
        .code(2)
        .stderr_has("settings.max_error_rate: `2` is not an error rate");
}

/// Issue 22, defect 6: with the model server down every session was `error`, yet the summary
/// and the reports showed a mean score (from the assertions that happened to pass) and a
/// success rate of 0.0% (0.0%–100.0%), where `run_summary` said NULL. An unjudged session has
/// no score: every format shows "–" (null in JSON), the database holds NULL.
#[test]
fn sessions_that_were_never_judged_have_no_score_anywhere() {
    let p = Project::new();
    // Leaves the file one assertion checks, then says it could not work (EX_TEMPFAIL).
    p.agents(&[("down", &["sh", "-c", "touch out.txt; exit 75"])]);
    for id in ["a", "b", "c"] {
        p.write(
            &format!("benchmarks/{id}.yml"),
            &format!("id: {id}\ndescription: d\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n    - file_exists: out.txt\n"),
        );
    }
    let out = p.reev(&["run", "--run-id", "r1"]);
    out.ok();
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("down"))
        .expect("summary row");
    assert!(row.trim_end().ends_with('–'), "{}", out.stdout);
    p.reev(&["load"]).ok();
    p.reev(&["report"]).ok();
    let r: Value =
        serde_json::from_slice(&std::fs::read(p.join("reports/r1/report.json")).unwrap()).unwrap();
    let down = agent(&r, "down");
    assert_eq!(down["errors"], 3);
    for key in [
        "mean_score",
        "mean_score_ci",
        "success_rate",
        "success_rate_ci",
    ] {
        assert!(down[key].is_null(), "{key}: {down}");
    }
    assert!(r["matrix"][0]["mean_score"].is_null(), "{}", r["matrix"]);
    assert!(r["sessions"][0]["score"].is_null(), "{}", r["sessions"]);
    let md = std::fs::read_to_string(p.join("reports/r1/report.md")).unwrap();
    assert!(md.contains("| down | 3 | 100.0% | – | – |"), "{md}");
    assert!(md.contains("(score –)"), "{md}");
    let html = std::fs::read_to_string(p.join("reports/r1/report.html")).unwrap();
    assert!(
        html.contains("<td class=\"n\">–<small></small></td>"),
        "{html}"
    );
    assert!(!html.contains("0.333"), "a score of unjudged sessions");
    let out = p.reev(&[
        "query",
        "--format",
        "csv",
        "SELECT count(score), (SELECT mean_score FROM run_summary) FROM sessions",
    ]);
    out.ok();
    assert!(out.stdout.ends_with("\n0,\n"), "{}", out.stdout);
    let sid = r["sessions"][0]["session_id"].as_str().unwrap().to_string();
    let out = p.reev(&["show", &sid]);
    out.ok();
    assert!(
        out.stdout.contains("status: error, score – (not judged)"),
        "{}",
        out.stdout
    );
}
