//! `reev calibrate`: the regression gate replayed on same-code comparisons among stored runs.

use crate::common;
use crate::common::gen;

use crate::common::Project;
use serde_json::Value;

/// `n` runs of two agents whose run medians wander by a few percent from night to night.
fn nights(p: &Project, n: u32, slow_from: u32) {
    for r in 0..n {
        let offset = [100, 106, 97, 103, 94, 101, 108, 99, 95, 104][(r % 10) as usize];
        let factor = if r >= slow_from { 2 } else { 1 };
        let specs = gen::matrix(&["a1", "a2"], 8, 3, move |_, b, t| {
            let i = (b as u64 * 3 + t as u64 + r as u64) * 37 % 41;
            (b != 7, (1000 + i * 10) * offset / 100 * factor)
        });
        gen::run(&p.join("runs"), &format!("night{r:02}"), r + 1, &specs);
    }
    p.reev(&["load"]).ok();
}

#[test]
fn calibrate_replays_the_gate_over_the_stored_runs() {
    let p = Project::new();
    nights(&p, 12, u32::MAX);
    let out = p.reev(&["calibrate"]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("agent"), "{}", out.stdout);
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    let out = p.reev(&["calibrate", "--format", "json"]);
    out.ok();
    let rows: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r["comparisons"], 11, "{r}");
        assert_eq!(r["alarms"], 0, "same-code nights raised alarms: {r}");
    }
    // Fewer runs asked for, fewer comparisons.
    let out = p.reev(&["calibrate", "--runs", "5", "--format", "json"]);
    let r: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(r["comparisons"], 4);
}

#[test]
fn calibrate_counts_a_real_step_in_the_history() {
    let p = Project::new();
    nights(&p, 12, 9);
    let out = p.reev(&["calibrate", "--format", "json"]);
    out.ok();
    let r: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert!(r["by_kind"]["slower"].as_u64().unwrap_or(0) >= 1, "{r}");
}

#[test]
fn calibrate_on_an_empty_database_says_what_to_do() {
    let p = Project::new();
    std::fs::create_dir_all(p.join("runs")).unwrap();
    p.reev(&["load"]).ok();
    p.reev(&["calibrate"]).code(2).stderr_has("reev run");
}

#[test]
fn a_reader_that_goes_away_ends_calibrate_quietly() {
    let p = Project::new();
    nights(&p, 6, 99);
    for format in ["table", "json"] {
        let (code, stderr) = common::into_closed_pipe(&p, &["calibrate", "--format", format]);
        assert_eq!(code, Some(141), "{format}: {stderr}");
        assert!(stderr.is_empty(), "{format}: {stderr}");
    }
}
