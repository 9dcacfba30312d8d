//! `reev run` and money: tokens and `cost_usd` in session files by the config's `prices:`,
//! and `--max-cost`, which stops launching sessions once the run's cost reaches the budget.

use crate::common;
use crate::common::Project;
use serde_json::Value;

/// An agent whose one model request uses `tokens` input tokens (and a tenth as many output
/// tokens) of `model`.
fn spender(model: &str, tokens: u64) -> String {
    common::emit(&format!(
        "{{\"type\":\"model_request\",\"model\":\"{model}\",\"input_tokens\":{tokens},\"output_tokens\":{}}}",
        tokens / 10
    ))
}

/// reev.yml with prices (USD per million tokens: m input 1, output 10) and the given agents,
/// plus `n` benchmarks.
fn project(agents: &[(&str, String)], n: usize, settings: &str) -> Project {
    let p = Project::new();
    p.sh_agents(
        &format!("{settings}prices:\n  m: {{input: 1.0, output: 10.0}}\n"),
        agents,
    );
    for i in 1..=n {
        p.simple_benchmark(&format!("b{i}"));
    }
    p
}

fn status(p: &Project, run: &str) -> Value {
    let out = p.reev(&["status", run, "--format", "json"]);
    out.ok();
    serde_json::from_str::<Value>(&out.stdout).expect("status json")[0].clone()
}

#[test]
fn sessions_record_tokens_and_cost_by_the_price_table() {
    // 1000 input + 100 output tokens of m: 1000 * 1 + 100 * 10 = 2000 USD per million.
    let p = project(
        &[
            ("priced", spender("m", 1000)),
            ("unpriced", spender("other", 1000)),
            ("silent", "true".into()),
        ],
        1,
        "",
    );
    p.reev(&["run", "--run-id", "r"]).ok();
    let by_agent = |a: &str| {
        p.sessions()
            .into_iter()
            .find(|s| s["agent"] == a)
            .expect("session")
    };
    let priced = by_agent("priced");
    assert_eq!(
        (
            priced["input_tokens"].clone(),
            priced["output_tokens"].clone()
        ),
        (1000.into(), 100.into())
    );
    assert!((priced["cost_usd"].as_f64().expect("cost") - 0.002).abs() < 1e-12);
    // A model without a price: tokens known, cost unknown (absent, null in the database).
    let unpriced = by_agent("unpriced");
    assert_eq!(unpriced["input_tokens"], 1000);
    assert!(unpriced.get("cost_usd").is_none(), "{unpriced:#}");
    // No model request at all: neither, as in files of older reev versions.
    let silent = by_agent("silent");
    assert!(silent.get("input_tokens").is_none() && silent.get("cost_usd").is_none());
    p.reev(&["load"]).ok();
    let out = p.reev(&[
        "query",
        "--format",
        "csv",
        "SELECT agent, input_tokens, output_tokens, cost_usd FROM sessions ORDER BY agent",
    ]);
    assert_eq!(
        out.ok().stdout,
        "agent,input_tokens,output_tokens,cost_usd\npriced,1000,100,0.002\nsilent,,,\nunpriced,1000,100,\n"
    );
}

/// Issue 17, defect 7: token sums wrapped (u64 `.sum()` over models in release) and counts
/// past i64::MAX loaded as negative BIGINTs. They saturate at i64::MAX now, and say so.
#[test]
fn absurd_token_counts_saturate_at_bigint_max_and_are_flagged() {
    let three = |models: [&str; 3]| {
        models
            .iter()
            .map(|m| spender(m, 7_000_000_000_000_000_000))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let p = project(
        &[
            ("spread", three(["m", "x", "y"])),
            ("one", three(["m", "m", "m"])),
            ("small", spender("m", 7)),
        ],
        1,
        "",
    );
    p.reev(&["run", "--run-id", "r"]).ok();
    for s in p.sessions() {
        let flagged = s["events"].as_array().expect("events").iter().any(|e| {
            e["type"] == "error" && e["error"].as_str().is_some_and(|m| m.contains("saturated"))
        });
        if s["agent"] == "small" {
            assert_eq!(s["input_tokens"], 7, "{s:#}");
            assert!(!flagged, "{s:#}");
            continue;
        }
        assert_eq!(s["input_tokens"], i64::MAX, "{}: {s:#}", s["agent"]);
        assert!(flagged, "{s:#}");
    }
    p.reev(&["load"]).ok();
    let out = p.reev(&[
        "query",
        "--format",
        "csv",
        "SELECT agent, input_tokens, output_tokens FROM sessions ORDER BY agent",
    ]);
    let (max, out_max) = (i64::MAX, 3 * 700_000_000_000_000_000u64);
    assert_eq!(
        out.ok().stdout,
        format!("agent,input_tokens,output_tokens\none,{max},{out_max}\nsmall,7,0\nspread,{max},{out_max}\n")
    );
    // The report sums them without overflowing DuckDB's BIGINT.
    p.reev(&["report"]).ok();
}

#[test]
fn max_cost_stops_launching_sessions_and_resume_finishes_the_run() {
    let p = project(&[("a", spender("m", 1000))], 5, "");
    // 0.002 USD per session: the budget is reached by the second session.
    let out = p.reev(&["run", "--run-id", "r", "--jobs", "1", "--max-cost", "0.003"]);
    out.code(1)
        .stderr_has("budget of 0.003 USD is used up")
        .stderr_has("reev run --resume r");
    assert!(
        out.stdout.contains("not launched (--max-cost): 3"),
        "{}",
        out.stdout
    );
    assert_eq!(p.sessions().len(), 2);
    let st = status(&p, "r");
    assert_eq!(st["state"], "stopped_by_budget", "{st:#}");
    assert_eq!(
        (st["planned"].clone(), st["done"].clone()),
        (5.into(), 2.into())
    );
    assert_eq!(st["resume"][0], "reev run --resume r");
    let table = p.reev(&["status"]).ok().stdout.clone();
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["r", "stopped_by_budget", "5", "2"], "{table}");
    assert!(
        table.contains("finish with: reev run --resume r"),
        "{table}"
    );
    let note: Value = serde_json::from_slice(
        &std::fs::read(p.join("runs/r/budget-stop.json")).expect("budget note"),
    )
    .expect("json");
    assert_eq!(
        (note["not_launched"].clone(), note["max_cost_usd"].clone()),
        (3.into(), 0.003.into())
    );

    // A resume counts what the run already spent (0.004): one more session, then stop.
    p.reev(&["run", "--resume", "r", "--jobs", "1", "--max-cost", "0.005"])
        .code(1);
    assert_eq!(p.sessions().len(), 3);
    // Without a budget it finishes; the loader ignores the note.
    p.reev(&["run", "--resume", "r"]).ok();
    assert_eq!(p.sessions().len(), 5);
    assert_eq!(status(&p, "r")["state"], "complete");
    p.reev(&["load"]).ok();
}

#[test]
fn sessions_without_a_cost_count_as_nothing_against_the_budget() {
    let p = project(&[("a", spender("unknown-model", 1000))], 3, "");
    p.reev(&["run", "--jobs", "1", "--max-cost", "0.000001"])
        .ok();
    assert_eq!(p.sessions().len(), 3);
}

#[test]
fn max_cost_from_the_config_file_applies_and_shows_in_config() {
    let p = project(
        &[("a", spender("m", 1000))],
        3,
        "settings:\n  max_cost: 0.001\n",
    );
    p.reev(&["config"])
        .ok()
        .stdout
        .lines()
        .find(|l| l.starts_with("max_cost"))
        .filter(|l| l.contains("0.001 USD") && l.contains("config file"))
        .expect("max_cost in reev config");
    p.reev(&["run", "--jobs", "1"]).code(1);
    assert_eq!(p.sessions().len(), 1);
}

#[test]
fn a_bad_budget_is_a_usage_error_before_anything_runs() {
    let p = project(&[("a", spender("m", 1000))], 1, "");
    for bad in ["0", "-1", "abc", "inf", "NaN"] {
        p.reev(&["run", &format!("--max-cost={bad}")])
            .code(2)
            .stderr_has("is not a budget");
    }
    let p2 = project(
        &[("a", spender("m", 1000))],
        1,
        "settings:\n  max_cost: -2\n",
    );
    p2.reev(&["run"]).code(2).stderr_has("settings.max_cost");
    assert!(!p.join("runs").exists() && !p2.join("runs").exists());
}
