//! The regression gate over nights (issue 22): a lasting regression keeps failing until it is
//! fixed or accepted (`reev accept`), the gate says "learning" and fails nothing until it has
//! enough comparable history, and unjudged (`error`) sessions have no score anywhere.

use crate::common::gen;
use crate::common::Project;
use serde_json::Value;

/// Two agents, ten benchmarks, two attempts; `a1` passes only benchmarks 5..9 when `broken`.
fn night(broken: bool, seed: u64) -> Vec<gen::Spec> {
    gen::matrix(&["a1", "a2"], 10, 2, move |a, b, t| {
        let d = 1000 + (b as u64 * 2 + t as u64 + seed) * 37 % 41 * 10;
        (!(broken && a == "a1" && b < 5), d)
    })
}

/// Write run `id` (started `minute` past midnight) and load it.
fn add(p: &Project, id: &str, minute: u32, specs: &[gen::Spec]) {
    gen::run(&p.join("runs"), id, minute, specs);
    p.reev(&["load"]).ok();
}

/// `reev report --run RUN --fail-on-regression [extra]`: exit code, stderr, report.json.
fn gate(p: &Project, run: &str, extra: &[&str]) -> (i32, String, Value) {
    let mut args = vec![
        "report",
        "--run",
        run,
        "--fail-on-regression",
        "--format",
        "json,md",
    ];
    args.extend_from_slice(extra);
    let out = p.reev(&args);
    let r: Value = serde_json::from_slice(
        &std::fs::read(p.join(&format!("reports/{run}/report.json"))).expect("report.json"),
    )
    .expect("json");
    (out.code, out.stderr.clone(), r)
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_str().expect("string"))
        .collect()
}

/// Issue 22, defect 3: night 1 broken failed the gate, night 2 still broken passed (its
/// baseline was the broken night). The baseline is now the last run that passed the gate; the
/// regression keeps failing until fixed or accepted, and `--baseline RUN` still works.
#[test]
fn a_lasting_regression_keeps_failing_until_fixed_or_accepted() {
    let p = Project::new();
    for i in 1..=5 {
        add(&p, &format!("h{i}"), i, &night(false, u64::from(i)));
    }
    add(&p, "night1", 6, &night(true, 6));
    let (code, err, r) = gate(&p, "night1", &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(r["baseline_run_id"], "h5");

    add(&p, "night2", 7, &night(true, 7));
    let (code, err, r) = gate(&p, "night2", &[]);
    assert_eq!(code, 1, "still broken must still fail: {err}");
    assert!(err.contains("reev accept night2"), "{err}");
    assert_eq!(r["baseline_run_id"], "h5");
    assert_eq!(names(&r["gate"]["left_out"]), ["night1"]);
    assert_eq!(
        names(&r["gate"]["history_runs"]),
        ["h1", "h2", "h3", "h4", "h5"]
    );

    // Fixed: passes against the last good night.
    add(&p, "fixed", 8, &night(false, 8));
    let (code, err, r) = gate(&p, "fixed", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["baseline_run_id"], "h5");

    // Broken again, then accepted: the accepted run is the new baseline and normal.
    add(&p, "night4", 9, &night(true, 9));
    assert_eq!(gate(&p, "night4", &[]).0, 1);
    let out = p.reev(&[
        "accept",
        "night4",
        "--note",
        "a1 dropped the old API on purpose",
    ]);
    out.ok();
    let file = p.join("runs/night4/accepted.json");
    assert_eq!(out.stdout.trim(), "runs/night4/accepted.json");
    let a: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(a["run_id"], "night4");
    add(&p, "night5", 10, &night(true, 10));
    let (code, err, r) = gate(&p, "night5", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["baseline_run_id"], "night4");
    // An explicit baseline still wins (the history keeps the accepted night4: it is normal).
    let (_, _, r) = gate(&p, "night5", &["--baseline", "h5"]);
    assert_eq!(r["baseline_run_id"], "h5");
    assert!(names(&r["gate"]["history_runs"]).contains(&"night4"));

    // The acceptance lives in the runs tree: a rebuilt database keeps it.
    p.reev(&["load", "--rebuild"]).ok();
    assert_eq!(
        p.count(
            "reev.duckdb",
            "SELECT count(*) FROM accepted_runs WHERE run_id = 'night4'"
        ),
        1
    );
    assert_eq!(gate(&p, "night5", &[]).0, 0);
    // A run that is not in the runs tree cannot be accepted.
    p.reev(&["accept", "nosuch"]).code(2).stderr_has("nosuch");
}

/// Issue 22, defect 4: with 1-2 runs of history `new_failure` fired (the README's quick tour,
/// the GitHub example). Every check says "learning" and fails nothing until the gate has
/// `min_history` comparable runs; runs of other benchmarks or agents do not count.
#[test]
fn the_gate_fails_nothing_while_it_learns_and_counts_only_comparable_runs() {
    let p = Project::new();
    add(&p, "first", 1, &night(false, 1));
    // Filtered runs (one benchmark, one agent): complete, but not comparable.
    for i in 2..=6 {
        let one: Vec<gen::Spec> = night(false, u64::from(i))
            .into_iter()
            .filter(|s| s.agent == "a1" && s.benchmark == "bench.00")
            .collect();
        add(&p, &format!("filtered{i}"), i, &one);
    }
    add(&p, "broken", 7, &night(true, 7));
    let (code, err, r) = gate(&p, "broken", &[]);
    assert_eq!(code, 0, "a learning gate failed CI: {err}");
    assert!(!err.contains("regression:"), "{err}");
    assert_eq!(r["baseline_run_id"], "first");
    assert_eq!(names(&r["gate"]["history_runs"]), ["first"]);
    assert_eq!(r["gate"]["learning"], true);
    let checks = r["gate"]["checks"].as_array().unwrap();
    for c in checks.iter().filter(|c| c["kind"] != "error_rate") {
        assert_eq!(c["outcome"], "learning", "{c}");
    }
    // What it would have flagged is still said.
    assert!(
        checks.iter().any(|c| c["kind"] == "new_failure"
            && c["observed"].as_str().unwrap().contains("a large effect")),
        "{checks:?}"
    );
    assert!(r["regressions"].as_array().unwrap().is_empty());
    let md = std::fs::read_to_string(p.join("reports/broken/report.md")).unwrap();
    assert!(md.contains("The gate is still learning"), "{md}");
}
