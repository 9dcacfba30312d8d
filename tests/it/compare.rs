//! `reev compare`: two runs of the shipped suite (one with a broken agent), two agents of one
//! run, the JSON fields, and `--fail-on-regression`.

use crate::common::{self, Project};
use serde_json::Value;

/// The shipped suite run twice with `deterministic` only: as shipped, then broken (exit 3).
fn before_and_broken() -> Project {
    let p = common::shipped_suite();
    p.reev(&["run", "--agent", "deterministic", "--run-id", "before"])
        .ok();
    let yml = std::fs::read_to_string(p.join("reev.yml")).unwrap();
    let broken = yml.replace(
        r#"command: [python3, "{config_dir}/agents/ledger_agent.py", --mode, reference]"#,
        r#"command: [sh, -c, "exit 3"]"#,
    );
    assert_ne!(
        yml, broken,
        "the shipped deterministic agent's command changed"
    );
    p.write("reev.yml", &broken);
    p.reev(&["run", "--agent", "deterministic", "--run-id", "after"]);
    p.reev(&["load"]).ok();
    p
}

fn json(p: &Project, args: &[&str]) -> Value {
    let mut all = vec!["compare", "--format", "json"];
    all.extend(args);
    let out = p.reev(&all);
    out.ok();
    serde_json::from_str(&out.stdout).expect("compare --format json")
}

#[test]
fn two_runs_with_a_broken_agent_show_what_newly_fails_and_gate_on_it() {
    let p = before_and_broken();
    let benchmarks = std::fs::read_dir(p.join("benchmarks/ledger"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yml")
        })
        .count();
    let c = json(&p, &["before", "after"]);
    assert_eq!(c["before"]["run_id"], "before");
    assert_eq!(c["after"]["run_id"], "after");
    let a = &c["agents"][0];
    assert_eq!(a["agent"], "deterministic");
    assert_eq!(a["before"]["success_rate"], 1.0);
    assert_eq!(a["after"]["success_rate"], 0.0);
    assert_eq!(a["success"]["delta"], -1.0);
    assert_eq!(a["success"]["verdict"], "worse", "{a}");
    assert!(a["success"]["p_worse"].as_f64().unwrap() < 1e-3, "{a}");
    for field in [
        "median_duration_ms",
        "mean_score",
        "tokens_per_session",
        "cost_per_session",
    ] {
        assert!(a["before"].get(field).is_some(), "{field}");
    }
    assert!(a["duration"]["verdict"].as_str().is_some());
    assert_eq!(c["newly_failing"].as_array().unwrap().len(), benchmarks);
    assert!(c["newly_passing"].as_array().unwrap().is_empty());
    let b = &c["benchmarks"][0];
    assert_eq!(b["change"], "newly_failing");
    assert_eq!(b["before"]["succeeded"], 1);
    assert_eq!(b["after"]["succeeded"], 0);
    assert_eq!(b["after"]["session_ids"].as_array().unwrap().len(), 1);

    // Without the flag the comparison is data: exit 0. With it, exit 1, said on stderr.
    p.reev(&["compare", "before", "after", "--fail-on-regression"])
        .code(1)
        .stderr_has("newly failing");
    // The other way round, everything is newly passing (and, the broken agent having exited
    // at once, the working one is significantly slower: a regression of its own).
    let back = json(&p, &["after", "before"]);
    assert_eq!(back["newly_passing"].as_array().unwrap().len(), benchmarks);
    assert!(back["newly_failing"].as_array().unwrap().is_empty());
    assert_eq!(back["agents"][0]["success"]["verdict"], "better");
    assert_eq!(back["agents"][0]["duration"]["verdict"], "worse");
    assert_eq!(
        back["regressions"],
        serde_json::json!([format!(
            "deterministic: duration worse (p = {:.2e} < 1.00e-2)",
            back["agents"][0]["duration"]["p_worse"].as_f64().unwrap()
        )])
    );
    // `previous` is the run before the second.
    assert_eq!(
        json(&p, &["previous", "after"])["before"]["run_id"],
        "before"
    );

    let md = p.reev(&["compare", "before", "after"]);
    md.ok();
    assert!(
        md.stdout.contains("# reev compare: before → after"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout.contains("| success rate | 100.0% ("),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("Newly failing: "), "{}", md.stdout);
    let html = p.reev(&["compare", "before", "after", "--format", "html"]);
    html.ok();
    assert!(html.stdout.starts_with("<!DOCTYPE html>"));
    assert!(!html.stdout.contains("http://") && !html.stdout.contains("https://"));
    for target in hrefs(&html.stdout) {
        assert!(
            html.stdout.contains(&format!("id=\"{target}\"")),
            "#{target} missing"
        );
    }
}

#[test]
fn two_agents_of_one_run() {
    let p = common::shipped_suite();
    p.reev(&[
        "run",
        "--agent",
        "deterministic",
        "--agent",
        "naive",
        "--run-id",
        "one",
    ])
    .ok();
    p.reev(&["load"]).ok();
    let c = json(&p, &["one", "--agent", "deterministic", "--agent", "naive"]);
    assert_eq!(c["before"]["agent"], "deterministic");
    assert_eq!(c["after"]["agent"], "naive");
    assert_eq!(c["agents"].as_array().unwrap().len(), 1);
    assert_eq!(c["agents"][0]["agent"], "deterministic → naive");
    let newly: Vec<&str> = c["newly_failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["benchmark_id"].as_str().unwrap())
        .collect();
    assert!(
        !newly.is_empty(),
        "naive fails some benchmarks the reference solves: {c}"
    );
    // One run alone, or the same agent twice, is not a comparison.
    p.reev(&["compare", "one"])
        .code(2)
        .stderr_has("give two runs, or two agents");
    p.reev(&["compare", "one", "nope"])
        .code(2)
        .stderr_has("run `nope` has no sessions");
}

/// Every `href="#x"` target of a page.
pub fn hrefs(html: &str) -> Vec<String> {
    let re = regex::Regex::new(r##"href="#([^"]+)""##).unwrap();
    let mut v: Vec<String> = re.captures_iter(html).map(|c| c[1].to_string()).collect();
    v.sort();
    v.dedup();
    v
}

/// Per benchmark: tokens and cost per session side by side with their deltas, in every
/// format; a benchmark whose sessions all ended `error` (not judged, no score) compares
/// without failing the command.
#[test]
fn per_benchmark_tokens_cost_and_deltas_and_unjudged_sessions() {
    let p = Project::new();
    let tokens = p.join("tokens");
    let script = format!(
        "n=$(cat {t}); echo \"{{\\\"type\\\":\\\"model_request\\\",\\\"model\\\":\\\"m\\\",\\\"input_tokens\\\":$n,\\\"output_tokens\\\":0}}\" >> \"$REEV_EVENTS\"; \
         [ \"$REEV_BENCHMARK_ID\" = down ] && exit 75; exit 0",
        t = tokens.display()
    );
    p.write(
        "reev.yml",
        &format!(
            "prices:\n  m: {{input: 1.0, output: 1.0}}\nagents:\n  a:\n    command: [sh, -c, {script:?}]\n"
        ),
    );
    p.simple_benchmark("up").simple_benchmark("down");
    std::fs::write(&tokens, "100").unwrap();
    p.reev(&["run", "--run-id", "before"]).ok();
    std::fs::write(&tokens, "300").unwrap();
    p.reev(&["run", "--run-id", "after"]).ok();
    p.reev(&["load"]).ok();
    let c = json(&p, &["before", "after"]);
    let up = c["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["benchmark_id"] == "up")
        .expect("up");
    assert_eq!(up["before"]["tokens_per_session"], 100.0, "{up}");
    assert_eq!(up["after"]["tokens_per_session"], 300.0, "{up}");
    assert_eq!(up["delta"]["tokens_per_session"], 200.0, "{up}");
    let cost = up["delta"]["cost_per_session"]
        .as_f64()
        .expect("cost delta");
    assert!((cost - 0.0002).abs() < 1e-12, "{up}");
    assert_eq!(up["delta"]["success_rate"], 0.0, "{up}");
    let down = c["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["benchmark_id"] == "down")
        .expect("down");
    assert!(down["before"]["mean_score"].is_null(), "{down}");
    assert_eq!(down["before"]["attempts"], 0, "{down}");
    let md = p.reev(&["compare", "before", "after"]);
    md.ok();
    assert!(md.stdout.contains("+200 tokens"), "{}", md.stdout);
    assert!(md.stdout.contains("300 tokens"), "{}", md.stdout);
    let html = p.reev(&["compare", "before", "after", "--format", "html"]);
    html.ok();
    assert!(html.stdout.contains("<th>delta</th>"), "{}", html.stdout);
    assert!(html.stdout.contains("+200 tokens"), "{}", html.stdout);
}
