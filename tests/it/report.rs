//! `reev report`: every format, the content, escaping, and a regression gate that does not cry wolf.

use crate::common;
use crate::common::gen;

use crate::common::Project;
use serde_json::Value;

/// A real run of a small suite with a hostile description and hostile agent output.
fn hostile_project() -> Project {
    let p = Project::new();
    p.agents(&[
        ("good", &["sh", "-c", "echo ok"]),
        ("evil", &["sh", "-c", "echo '<script>alert(1)</script> \"onerror=alert(2) </style><img src=x onerror=alert(3)>'; exit 1"]),
    ]);
    p.write(
        "benchmarks/a.yml",
        "id: a\ndescription: \"<script>alert('desc')</script> </style> \\\"onerror=x\"\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n      name: \"<b>bold</b>\"\n    - stdout_contains: ok\n",
    );
    p.write(
        "benchmarks/b.yml",
        "id: b\ndescription: plain\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n",
    );
    p.reev(&["run", "--attempts", "2", "--run-id", "r1"]).ok();
    p.reev(&["load"]).ok();
    p
}

#[test]
fn writes_every_format_and_points_latest_at_them() {
    let p = hostile_project();
    let out = p.reev(&["report"]);
    out.ok();
    for f in ["report.md", "report.html", "report.json", "junit.xml"] {
        assert!(p.join(&format!("reports/r1/{f}")).is_file(), "{f}");
        assert!(out.stdout.contains(f));
    }
    let latest = std::fs::read_link(p.join("reports/latest")).unwrap();
    assert_eq!(latest, std::path::Path::new("r1"));
    assert!(p.join("reports/latest/report.md").is_file());
    // Only the asked-for formats.
    p.reev(&["report", "--format", "json", "--out", "only"])
        .ok();
    assert!(p.join("only/r1/report.json").is_file() && !p.join("only/r1/report.html").exists());
    p.reev(&["report", "--format", "pdf"])
        .code(2)
        .stderr_has("possible values: md, html, json, junit");
    p.reev(&["report", "--run", "nosuch"])
        .code(2)
        .stderr_has("no sessions");
}

#[test]
fn json_carries_the_numbers_the_database_holds() {
    let p = hostile_project();
    p.reev(&["report"]).ok();
    let r: Value =
        serde_json::from_slice(&std::fs::read(p.join("reports/r1/report.json")).unwrap()).unwrap();
    let agents = r["agents"].as_array().unwrap();
    let good = agents.iter().find(|a| a["agent"] == "good").unwrap();
    let evil = agents.iter().find(|a| a["agent"] == "evil").unwrap();
    assert_eq!(good["sessions"], 4);
    assert_eq!(good["success_rate"], 1.0);
    assert_eq!(evil["success_rate"], 0.0);
    // Wilson interval for 0 of 4 at 95%: [0, 0.4899]
    let hi = evil["success_rate_ci"][1].as_f64().unwrap();
    assert!((hi - 0.4899).abs() < 1e-3, "{hi}");
    assert_eq!(good["k"], 2);
    assert_eq!(good["pass_at_k"], 1.0);
    assert_eq!(evil["pass_hat_k"], 0.0);
    for key in [
        "p50_duration_ms",
        "p95_duration_ms",
        "p99_duration_ms",
        "mean_cpu_ms",
        "max_peak_rss_bytes",
        "mean_score_ci",
    ] {
        assert!(!good[key].is_null(), "{key}");
    }
    assert_eq!(r["matrix"].as_array().unwrap().len(), 4);
    assert_eq!(r["failures"].as_array().unwrap().len(), 4);
    let failing = &r["failures"][0]["failing"];
    assert!(
        !failing.as_array().unwrap().is_empty(),
        "failures carry their failing assertions"
    );
    assert_eq!(r["sessions"].as_array().unwrap().len(), 8);
    assert_eq!(r["slowest"].as_array().unwrap().len(), 8);
    assert!(r["timings"]["query_ms"].is_number());
}

#[test]
fn html_is_self_contained_and_hostile_strings_are_inert() {
    let p = hostile_project();
    p.reev(&["report"]).ok();
    let html = std::fs::read_to_string(p.join("reports/r1/report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<style>") && html.contains("<svg"));
    // One script, the page's own filter (inline); the injected one is shown as text.
    assert_eq!(
        html.to_lowercase().matches("<script").count(),
        1,
        "only our inline script, none injected"
    );
    assert!(html.contains("<script>(function(){"), "inline, no src");
    assert!(
        !html.contains("http://")
            && !html.contains("https://")
            && !html.contains("<link")
            && !html.contains("@import"),
        "no network"
    );
    assert_eq!(
        html.matches("</style>").count(),
        1,
        "an injected </style> must not close ours"
    );
    assert!(
        !html.contains("\"onerror") && !html.contains("<img"),
        "no live attribute or tag"
    );
    assert!(
        html.contains("&lt;script&gt;alert("),
        "the hostile text is shown, escaped"
    );
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"));
    // Markdown escapes HTML too (it is rendered by CI summaries).
    let md = std::fs::read_to_string(p.join("reports/r1/report.md")).unwrap();
    assert!(!md.contains("<script") && !md.contains("<img"), "{md}");
}

#[test]
fn markdown_is_a_short_gfm_summary() {
    let p = hostile_project();
    p.reev(&["report"]).ok();
    let md = std::fs::read_to_string(p.join("reports/r1/report.md")).unwrap();
    assert!(md.contains("| agent | sessions |"));
    assert!(md.contains("|---|"));
    assert!(md.contains("No baseline run"));
    assert!(md.lines().count() < 80, "{}", md.lines().count());
}

#[test]
fn junit_validates_against_the_common_schema() {
    let p = hostile_project();
    p.reev(&["report"]).ok();
    let junit = p.join("reports/r1/junit.xml");
    common::junit_is_valid(&junit);
    let x = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(x.matches("<testsuite ").count(), 2, "one suite per agent");
    assert_eq!(
        x.matches("<testcase ").count(),
        8,
        "one case per benchmark and attempt"
    );
    assert_eq!(x.matches("<failure ").count(), 4);
    assert!(x.contains("name=\"a #2\""));
    assert!(
        x.contains("stdout_contains"),
        "failures carry the failing assertions"
    );
}

fn synthetic(p: &Project, runs: &[(&str, u32, Vec<gen::Spec>)]) {
    for (id, minute, specs) in runs {
        gen::run(&p.join("runs"), id, *minute, specs);
    }
    p.reev(&["load"]).ok();
}

/// Runs `h1`..`h5` (minutes 1 to 5) from `like(seed)`: the history the gate needs before any
/// check may fail (it is learning until then).
fn history(p: &Project, like: impl Fn(u64) -> Vec<gen::Spec>) {
    for i in 1..=5u32 {
        gen::run(
            &p.join("runs"),
            &format!("h{i}"),
            i,
            &like(u64::from(i) * 7),
        );
    }
    p.reev(&["load"]).ok();
}

/// (kind, agent) of each regression in a report.json.
fn regression_kinds(r: &Value) -> Vec<(&str, &str)> {
    r["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["kind"].as_str().unwrap(), g["agent"].as_str().unwrap()))
        .collect()
}

/// A deterministic spread of durations around `base` ms.
fn spread(base: u64, i: u64) -> u64 {
    base + (i * 37 % 41) * base / 100
}

#[test]
fn the_gate_passes_a_run_like_its_baseline_and_catches_a_slowdown() {
    let p = Project::new();
    let like = |seed: u64| {
        gen::matrix(&["a1", "a2"], 10, 3, move |_, b, t| {
            let i = b as u64 * 3 + t as u64 + seed;
            (b != 9, spread(1000, i))
        })
    };
    let slower = gen::matrix(&["a1", "a2"], 10, 3, |a, b, t| {
        (
            b != 9,
            spread(if a == "a1" { 1400 } else { 1000 }, b as u64 * 3 + t as u64),
        )
    });
    history(&p, like);
    synthetic(&p, &[("same", 6, like(5))]);
    let out = p.reev(&["report", "--fail-on-regression"]);
    out.ok();
    let r: Value =
        serde_json::from_slice(&std::fs::read(p.join("reports/same/report.json")).unwrap())
            .unwrap();
    assert_eq!(r["baseline_run_id"], "h5");
    assert_eq!(r["regressions"].as_array().unwrap().len(), 0);
    synthetic(&p, &[("slow", 7, slower)]);
    let out = p.reev(&["report", "--fail-on-regression"]);
    out.code(1).stderr_has("slower a1");
    let r: Value =
        serde_json::from_slice(&std::fs::read(p.join("reports/slow/report.json")).unwrap())
            .unwrap();
    let kinds = regression_kinds(&r);
    assert_eq!(kinds, [("slower", "a1")]);
    // Without the flag the regression is reported, not gated.
    p.reev(&["report"]).ok();
    // An explicit baseline, and none.
    p.reev(&[
        "report",
        "--run",
        "slow",
        "--baseline",
        "same",
        "--fail-on-regression",
    ])
    .code(1);
    p.reev(&[
        "report",
        "--run",
        "slow",
        "--baseline",
        "none",
        "--fail-on-regression",
    ])
    .ok();
}

#[test]
fn the_gate_catches_a_success_drop_and_new_failures() {
    let p = Project::new();
    let base = |_| {
        gen::matrix(&["a1"], 12, 4, |_, b, t| {
            (true, spread(500, b as u64 + t as u64))
        })
    };
    let worse = gen::matrix(&["a1"], 12, 4, |_, b, t| {
        (b >= 6, spread(500, b as u64 + t as u64))
    });
    history(&p, base);
    synthetic(&p, &[("worse", 6, worse)]);
    let out = p.reev(&["report", "--fail-on-regression"]);
    out.code(1)
        .stderr_has("success_rate_drop a1")
        .stderr_has("new_failure a1");
    let r: Value =
        serde_json::from_slice(&std::fs::read(p.join("reports/worse/report.json")).unwrap())
            .unwrap();
    let new: Vec<&str> = r["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["kind"] == "new_failure")
        .map(|g| g["benchmark_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        new,
        ["bench.00", "bench.01", "bench.02", "bench.03", "bench.04", "bench.05"]
    );
}

#[test]
fn trends_flaky_and_pass_at_k_span_runs() {
    let p = Project::new();
    let run = |flip: bool| {
        gen::matrix(&["a1"], 4, 3, move |_, b, t| {
            (b != 3 || (t == 1) != flip, 100 + b as u64)
        })
    };
    synthetic(
        &p,
        &[
            ("r1", 1, run(false)),
            ("r2", 2, run(true)),
            ("r3", 3, run(false)),
        ],
    );
    p.reev(&["report"]).ok();
    let r: Value =
        serde_json::from_slice(&std::fs::read(p.join("reports/r3/report.json")).unwrap()).unwrap();
    let trend_runs: Vec<&str> = r["trends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(trend_runs, ["r1", "r2", "r3"]);
    let flaky: Vec<&str> = r["flaky"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["benchmark_id"].as_str().unwrap())
        .collect();
    assert_eq!(flaky, ["bench.03"]);
    let a = &r["agents"][0];
    assert_eq!(a["k"], 3);
    // bench.03 has 1 of 3: pass@1 = (1+1+1+1/3)/4, pass@3 = 1, pass^3 = 3/4
    assert!((a["pass_at_1"].as_f64().unwrap() - (3.0 + 1.0 / 3.0) / 4.0).abs() < 1e-9);
    assert_eq!(a["pass_at_k"], 1.0);
    assert_eq!(a["pass_hat_k"], 0.75);
}

/// Three runs of two agents, the last with failures whose agent left a trace.
fn three_runs() -> Project {
    let p = Project::new();
    p.agents(&[
        ("good", &["sh", "-c", "echo ok"]),
        (
            "tracer",
            &[
                "sh",
                "-c",
                r#"echo '{"type":"tool_call","name":"read_file","input":{"path":"<ledger>.json"},"output":"{}"}' >> "$REEV_EVENTS"; echo '{"type":"metric","name":"tokens","value":7}' >> "$REEV_EVENTS"; echo nope; exit 1"#,
            ],
        ),
    ]);
    p.simple_benchmark("a").simple_benchmark("b");
    p.write(
        "benchmarks/c.yml",
        "id: c\ndescription: says ok\nprompt: p\nground_truth:\n  assertions:\n    - stdout_contains: ok\n",
    );
    for run in ["night-1", "night-2", "night-3"] {
        p.reev(&["run", "--attempts", "2", "--run-id", run]).ok();
    }
    p.reev(&["load"]).ok();
    p.reev(&["report"]).ok();
    p
}

#[test]
fn html_charts_are_readable_on_their_own() {
    let p = three_runs();
    let html = std::fs::read_to_string(p.join("reports/night-3/report.html")).unwrap();
    let trends = section(&html, "Trends");
    // Axes with units and labels, a tick per run labelled with the run, a legend.
    for needle in [
        "success rate (%)",
        "p95 duration (ms)",
        "run (start time, UTC)",
        ">night-1<",
        ">night-3<",
        ">good<",
        ">tracer<",
        ">100<",
    ] {
        assert!(trends.contains(needle), "trend charts lack {needle:?}");
    }
    // Every point tells its value and run on hover.
    assert!(trends.contains("<circle"));
    assert_eq!(
        trends.matches("<circle").count(),
        trends.matches("</circle>").count()
    );
    assert!(
        trends.contains("tracer: 0.0% (run night-2, started "),
        "{trends}"
    );
    assert!(
        !regex::Regex::new(r"\(max [0-9.]+\)")
            .unwrap()
            .is_match(&html),
        "no bare maximum in place of an axis"
    );
    // Histograms: tick marks with durations, axis labels, bars that tell their range.
    let hist = section(&html, "Duration distribution");
    assert!(hist.contains("duration (ms)") && hist.contains(">sessions<"));
    assert!(hist.contains("<line"), "tick marks");
    assert!(
        regex::Regex::new(r"<title>[\d.]+–[\d.]+ ms: \d+ sessions?</title>")
            .unwrap()
            .is_match(hist)
    );
    // The agents table scrolls inside its column instead of overflowing the page.
    assert!(section(&html, "Agents").contains("<div class=\"scroll\"><table>"));
}

#[test]
fn each_failure_shows_its_trace() {
    let p = three_runs();
    let html = std::fs::read_to_string(p.join("reports/night-3/report.html")).unwrap();
    let failures = section(&html, "Failures (");
    // tracer fails a, b and c twice each: one group per benchmark, a row per session.
    assert_eq!(
        failures.matches("<details class=\"group\"").count(),
        3,
        "{failures}"
    );
    assert_eq!(
        failures.matches("data-agent=\"tracer\"").count(),
        6,
        "{failures}"
    );
    // Each failure's page carries its trace.
    let pages = &html[html.find("id=\"session-pages\"").unwrap()..];
    assert_eq!(pages.matches("trace: 2 events").count(), 6, "{pages}");
    assert!(pages.contains("<td>tool_call</td><td>read_file</td>"));
    assert!(
        pages.contains("&lt;ledger&gt;.json"),
        "tool inputs shown, escaped"
    );
    assert!(!html.contains("<ledger>"));
    let r: Value =
        serde_json::from_slice(&std::fs::read(p.join("reports/night-3/report.json")).unwrap())
            .unwrap();
    assert_eq!(r["failures"][0]["trace"][0]["name"], "read_file");
}

/// The part of the page from a `<h2>` starting with `title` to the next `<h2>`.
pub fn section<'a>(html: &'a str, title: &str) -> &'a str {
    let start = html
        .find(&format!("<h2>{title}"))
        .unwrap_or_else(|| panic!("no section {title}"));
    let rest = &html[start + 4..];
    &rest[..rest.find("<h2>").unwrap_or(rest.len())]
}

/// A shell agent for the gate tests (sh starts in a millisecond even on a loaded machine, so its
/// wall time is its work): counts to `loops` (CPU time), sleeps `sleep` seconds, and when `stall`
/// (percent) is above 0 adds that share of its wall time to the CPU stall counter of the fake PSI
/// files in `psi`, as a neighbour process would; sessions run two at a time, hence the lock.
const PSI_AGENT: &str = r#"
loops=$1; pause=$2; stall=$3; psi=$4
t0=$(date +%s%N)
i=0; while [ $i -lt $loops ]; do i=$((i+1)); done
sleep "$pause"
# Every run does the same bookkeeping (its CPU time is the agent's too); quiet runs add 0.
add=$(( ($(date +%s%N) - t0) / 1000 * stall / 100 ))
flock "$psi/lock" sh -c 'total=$(sed -n "1s/.*total=\([0-9]*\).*/\1/p" "$1/cpu")
  echo "some avg10=50.00 avg60=50.00 avg300=50.00 total=$((total + $2))" > "$1/cpu.tmp"
  mv "$1/cpu.tmp" "$1/cpu"' _ "$psi" "$add"
"#;

/// Run the suite once with the agent's CPU loop, sleep and stall percent, then load.
fn psi_run(p: &Project, id: &str, loops: u32, sleep: &str, stall: u32) {
    let psi = p.join("psi");
    let agent = p.join("agent.sh");
    p.write(
        "reev.yml",
        &format!(
            "agents:\n  a:\n    command: [sh, {:?}, \"{loops}\", \"{sleep}\", \"{stall}\", {:?}]\n",
            agent.display().to_string(),
            psi.display().to_string()
        ),
    );
    let out = p
        .cmd(&["run", "--jobs", "2", "--attempts", "2", "--run-id", id])
        .env("REEV_PRESSURE_DIR", &psi)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p.reev(&["load"]).ok();
}

fn gate_of(p: &Project, run: &str, baseline: &str) -> (i32, String, Value) {
    let out = p
        .cmd(&[
            "report",
            "--run",
            run,
            "--baseline",
            baseline,
            "--format",
            "json,md",
            "--fail-on-regression",
        ])
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(
        &std::fs::read(p.join(&format!("reports/{run}/report.json"))).unwrap(),
    )
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        r,
    )
}

#[test]
fn the_gate_fails_a_real_slowdown_unless_only_a_busy_machine_explains_it() {
    let p = Project::new();
    p.write("agent.sh", PSI_AGENT);
    p.write(
        "psi/cpu",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    );
    p.write(
        "psi/memory",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    );
    for i in 0..6 {
        p.simple_benchmark(&format!("b{i}"));
    }
    for i in 0..6 {
        psi_run(&p, &format!("h{i}"), 2_000, "0.1", 0);
    }
    // The sessions recorded the (fake) machine: no stall on a quiet machine.
    let s = &p.sessions()[0];
    assert_eq!(s["pressure"]["cpu_some_ms"], 0, "{s}");

    // 1. Really slower (60% and more: the sleep grows by 0.1 s), on a machine as quiet as its
    //    history: fails.
    psi_run(&p, "slow", 2_000, "0.2", 0);
    let (code, err, r) = gate_of(&p, "slow", "h5");
    assert_eq!(code, 1, "{err}\n{}", r["gate"]["checks"]);
    assert!(err.contains("regression: slower a"), "{err}");
    assert_eq!(r["gate"]["learning"], false);
    assert_eq!(r["gate"]["history_runs"].as_array().unwrap().len(), 6);
    let md = std::fs::read_to_string(p.join("reports/slow/report.md")).unwrap();
    assert!(md.contains("How the gate decided"), "{md}");
    assert!(md.contains("false alarms replayed"), "{md}");

    // 2. A wall-time slowdown (large, so that it shows through a loaded machine) while the
    //    machine was busy, CPU time unchanged: inconclusive, and the gate passes.
    psi_run(&p, "busy", 2_000, "0.3", 60);
    let s: Vec<Value> = p
        .sessions()
        .into_iter()
        .filter(|s| s["run_id"] == "busy")
        .collect();
    assert!(s
        .iter()
        .all(|s| s["pressure"]["cpu_some_ms"].as_u64().unwrap() > 0));
    let (code, err, r) = gate_of(&p, "busy", "h5");
    assert_eq!(code, 0, "{err}\n{}", r["gate"]["checks"]);
    assert!(
        err.contains("inconclusive: slower a: inconclusive: the machine was busy"),
        "{err}"
    );
    let check = &r["gate"]["checks"][0];
    assert_eq!(check["outcome"], "inconclusive", "{check}");
    assert_eq!(r["regressions"].as_array().unwrap().len(), 0);

    // 3. Busy as well, but the slowdown is in CPU time: still a regression.
    psi_run(&p, "cpu", 150_000, "0.1", 60);
    let (code, err, _) = gate_of(&p, "cpu", "h5");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("regression: slower a"), "{err}");
    assert!(err.contains("the machine was busy"), "{err}");
}

#[test]
fn the_gate_says_when_it_is_still_learning_and_what_each_check_compared() {
    let p = Project::new();
    let like = |seed: u64| {
        gen::matrix(&["a1"], 6, 2, move |_, b, t| {
            (true, spread(1000, b as u64 * 2 + t as u64 + seed))
        })
    };
    synthetic(&p, &[("r1", 1, like(0)), ("r2", 2, like(3))]);
    p.reev(&["report", "--fail-on-regression"]).ok();
    let r: Value =
        serde_json::from_slice(&std::fs::read(p.join("reports/r2/report.json")).unwrap()).unwrap();
    assert_eq!(r["gate"]["learning"], true);
    let kinds: Vec<&str> = r["gate"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["slower", "success_rate_drop", "new_failure", "error_rate"]
    );
    for c in r["gate"]["checks"].as_array().unwrap() {
        assert!(!c["compared_with"].as_str().unwrap().is_empty(), "{c}");
        assert!(!c["threshold"].as_str().unwrap().is_empty(), "{c}");
    }
    let md = std::fs::read_to_string(p.join("reports/r2/report.md")).unwrap();
    assert!(md.contains("The gate is still learning"), "{md}");
    // Sessions from files without PSI (older reev, other kernels) load with NULL pressure.
    let out = p.reev(&[
        "query",
        "--format",
        "csv",
        "SELECT count(*) FROM sessions WHERE psi_cpu_some_ms IS NULL",
    ]);
    out.ok();
    assert!(out.stdout.contains("24"), "{}", out.stdout);
}

/// `make test-heavy`: real batches on this machine (bench/gate_noise.sh, about two minutes):
/// 10 identical batches, two beside a CPU-bound neighbour, give at most one regression; a 60%
/// slower agent and a 40-point success drop are flagged. The script prints the counts.
#[test]
#[ignore]
fn heavy_real_batches_the_gate_survives_noise_and_catches_regressions() {
    let out = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/gate_noise.sh"))
        .arg(common::REEV)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A database loaded by an older reev can hold a run id that is not a plain name; the
/// report refuses it instead of writing outside --out and pointing `latest` there.
#[test]
fn a_run_id_from_the_database_never_takes_the_report_outside_out() {
    let p = hostile_project();
    let tamper = "import duckdb, sys\n\
        con = duckdb.connect(sys.argv[1])\n\
        con.execute(\"UPDATE sessions SET run_id = '../escaped-report'\")\n\
        con.execute(\"UPDATE runs SET run_id = '../escaped-report'\")\n\
        con.execute(\"UPDATE run_totals SET run_id = '../escaped-report'\")\n\
        con.execute(\"UPDATE pair_totals SET run_id = '../escaped-report'\")\n\
        con.execute(\"UPDATE run_numbers SET run_id = '../escaped-report'\")\n\
        con.close()\n";
    common::python_ok(tamper, &[p.join("reev.duckdb")]);
    let out = p.reev(&["report", "--out", "reports"]);
    out.code(2).stderr_has("refusing to write a report outside");
    assert!(!p.join("escaped-report").exists());
    assert!(!p.join("reports/latest").exists());
}

/// Cost per session is gated like duration: a run whose sessions cost far more than its
/// history and baseline fails `--fail-on-regression` as `costlier`; a run like them passes.
#[test]
fn the_gate_catches_a_cost_increase_and_reports_tokens_and_cost() {
    let p = Project::new();
    let priced = |price: u64, seed: u64| {
        let mut specs = gen::matrix(&["a1", "a2"], 10, 2, |_, b, t| {
            (true, spread(1000, b as u64 * 2 + t as u64 + seed))
        });
        for (i, s) in specs.iter_mut().enumerate() {
            let mult = if s.agent == "a1" { price } else { 100 };
            s.cost_usd = Some(spread(mult, i as u64 + seed) as f64 / 100_000.0);
        }
        specs
    };
    history(&p, |seed| priced(100, seed));
    synthetic(&p, &[("same", 6, priced(100, 3))]);
    p.reev(&["report", "--fail-on-regression"]).ok();
    synthetic(&p, &[("dear", 7, priced(200, 0))]);
    let (code, stderr, r) = gate_of(&p, "dear", "same");
    assert_eq!(code, 1, "{stderr}");
    let kinds = regression_kinds(&r);
    assert_eq!(kinds, [("costlier", "a1")]);
    let check = r["gate"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "costlier" && c["agent"] == "a2")
        .expect("the cost check of a2");
    assert_eq!(check["outcome"], "pass");
    // Tokens and cost per agent, in JSON and Markdown.
    let a1 = &r["agents"][0];
    assert_eq!(a1["tokens_per_session"], 1000.0);
    assert_eq!(a1["priced_sessions"], 20);
    let per_session = a1["cost_per_session"].as_f64().unwrap();
    let per_success = a1["cost_per_success"].as_f64().unwrap();
    assert!(per_session > 0.001 && (per_session - per_success).abs() < 1e-12);
    let md = std::fs::read_to_string(p.join("reports/dear/report.md")).unwrap();
    assert!(md.contains("| agent | tokens / session | cost / session | cost / success | priced |"));
    assert!(md.contains("**costlier** a1"), "{md}");
    p.reev(&[
        "report",
        "--run",
        "dear",
        "--baseline",
        "same",
        "--format",
        "html",
    ])
    .ok();
    let html = std::fs::read_to_string(p.join("reports/dear/report.html")).unwrap();
    let start = html
        .find("<h3>Tokens and cost</h3>")
        .expect("the cost table");
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    assert!(
        table.contains("<td class=\"n\">1000</td>") && table.contains("20 of 20"),
        "{table}"
    );
    // Runs without any cost (older session files) have no cost table and no cost check.
    let p2 = Project::new();
    synthetic(
        &p2,
        &[("x", 1, gen::matrix(&["a"], 3, 1, |_, _, _| (true, 100)))],
    );
    p2.reev(&["report"]).ok();
    let md = std::fs::read_to_string(p2.join("reports/x/report.md")).unwrap();
    assert!(!md.contains("cost / session"), "{md}");
}
