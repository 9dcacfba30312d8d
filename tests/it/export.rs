//! `reev export`: CSV that real CSV readers read back, neutralised formulas, JSON lines, Parquet.

use crate::common;
use crate::common::gen;

use crate::common::Project;

fn project() -> Project {
    let p = Project::new();
    let mut specs = gen::matrix(&["a1", "a2"], 3, 2, |_, b, t| (b != 1, 100 * t as u64));
    specs[0].error = Some("=HYPERLINK(\"http://evil\",\"x\")".into());
    specs[1].error = Some("-2+3".into());
    specs[2].error = Some("multi\nline, with \"quotes\"".into());
    gen::run(&p.join("runs"), "r1", 1, &specs);
    gen::run(
        &p.join("runs"),
        "r2",
        90,
        &gen::matrix(&["a1"], 2, 1, |_, _, _| (true, 5)),
    );
    p.reev(&["load"]).ok();
    p
}

#[test]
fn csv_reads_back_with_pythons_csv_module() {
    let p = project();
    p.reev(&["export", "--table", "sessions", "--out", "s.csv"])
        .ok();
    let check = r#"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline='')))
print(json.dumps(rows))
"#;
    let stdout = common::python_ok(check, &[p.join("s.csv")]);
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows.len(), 14, "one row per session");
    let q = p.reev(&[
        "query",
        "--format",
        "json",
        "SELECT session_id, run_id, score, duration_ms, status, error FROM sessions",
    ]);
    let db: Vec<serde_json::Value> = serde_json::from_str(&q.ok().stdout).unwrap();
    for d in &db {
        let row = rows
            .iter()
            .find(|r| r["session_id"] == d["session_id"])
            .expect("every session exported");
        assert_eq!(row["run_id"], d["run_id"]);
        assert_eq!(row["status"], d["status"]);
        assert_eq!(
            row["duration_ms"].as_str().unwrap(),
            d["duration_ms"].to_string()
        );
        assert_eq!(
            row["score"].as_str().unwrap().parse::<f64>().unwrap(),
            d["score"].as_f64().unwrap()
        );
        let err = d["error"].as_str().unwrap_or("");
        let cell = row["error"].as_str().unwrap();
        if err.starts_with(['=', '+', '-', '@']) {
            assert_eq!(cell, format!("'{err}"), "formula neutralised");
        } else {
            assert_eq!(cell, err, "text intact, newlines and quotes included");
        }
    }
    // Header in the documented order.
    let header = std::fs::read_to_string(p.join("s.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        header.starts_with(
            "session_id,run_id,benchmark_id,benchmark_sha256,agent,attempt,status,score"
        ),
        "{header}"
    );
    // --raw keeps them as they are.
    let raw = p.reev(&["export", "--raw"]);
    assert!(raw.ok().stdout.contains("\"=HYPERLINK("));
}

#[test]
fn filters_by_run_and_date_and_exports_every_table() {
    let p = project();
    let lines = |args: &[&str]| p.reev(args).ok().stdout.lines().count();
    assert_eq!(lines(&["export", "--run", "r2"]), 1 + 2);
    assert_eq!(lines(&["export", "--since", "2026-01-01T01:00:00Z"]), 1 + 2);
    assert_eq!(lines(&["export", "--since", "2026-01-02"]), 1);
    for t in ["agents", "benchmarks", "assertions", "events", "runs"] {
        p.reev(&["export", "--table", t]).ok();
    }
    assert_eq!(lines(&["export", "--table", "agents"]), 1 + 3);
    assert_eq!(
        lines(&["export", "--table", "assertions", "--run", "r1"]),
        1 + 12
    );
    p.reev(&["export", "--since", "yesterday"])
        .code(2)
        .stderr_has("--since");
}

#[test]
fn json_lines_keep_numbers_as_numbers() {
    let p = project();
    let out = p.reev(&["export", "--format", "json", "--run", "r2"]);
    let rows: Vec<serde_json::Value> = out
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["score"].is_f64() && rows[0]["duration_ms"].is_i64());
}

#[test]
fn parquet_files_and_date_partitions() {
    let p = project();
    p.reev(&["export", "--format", "parquet", "--out", "s.parquet"])
        .ok();
    p.reev(&["export", "--format", "parquet"])
        .code(2)
        .stderr_has("stdout");
    p.reev(&[
        "export",
        "--format",
        "parquet",
        "--partition-by-date",
        "--out",
        "parts",
    ])
    .ok();
    let check = "import duckdb, sys; c = duckdb.connect(); q = lambda s: c.execute(s).fetchall()[0][0]; print(q(f\"select count(*) from read_parquet('{sys.argv[1]}')\"), q(f\"select count(*) from read_parquet('{sys.argv[2]}/*/*.parquet', hive_partitioning=true)\"))";
    let stdout = common::python_ok(check, &[p.join("s.parquet"), p.join("parts")]);
    assert_eq!(stdout.trim(), "14 14");
    assert!(p.join("parts/date=2026-01-01").is_dir());
}

/// JSON lines of one table of a real run's database.
fn json_rows(p: &Project, table: &str) -> Vec<serde_json::Value> {
    p.reev(&["export", "--table", table, "--format", "json"])
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn json_lines_carry_json_columns_as_json_and_timestamps_in_utc() {
    let p = Project::new();
    p.agents(&[(
        "a",
        &[
            "sh",
            "-c",
            r#"echo '{"type":"tool_call","name":"read_file","input":{"path":"x.json"}}' >> "$REEV_EVENTS"; echo '{"n": {"k": [1, "three"]}}'"#,
        ],
    )]);
    p.write(
        "benchmarks/b.yml",
        "id: b\ndescription: d\ntags: [ledger, write]\nprompt: p\nground_truth:\n  assertions:\n    - json_value: {path: /n, equals: {k: [1, two]}}\n",
    );
    p.reev(&["run", "--run-id", "r1"]).ok();
    p.reev(&["load"]).ok();
    let benchmarks = json_rows(&p, "benchmarks");
    assert_eq!(
        benchmarks[0]["tags"],
        serde_json::json!(["ledger", "write"])
    );
    let events = json_rows(&p, "events");
    let call = events.iter().find(|e| e["type"] == "tool_call").unwrap();
    assert_eq!(call["data"]["input"]["path"], "x.json", "{call}");
    let assertions = json_rows(&p, "assertions");
    assert_eq!(
        assertions[0]["expected"],
        serde_json::json!({"k": [1, "two"]})
    );
    assert_eq!(
        assertions[0]["actual"],
        serde_json::json!({"k": [1, "three"]})
    );
    // Timestamps: RFC 3339 in UTC, exactly as the session file and manifest have them.
    let session = &p.sessions()[0];
    let sessions = json_rows(&p, "sessions");
    assert_eq!(sessions[0]["started_at"], session["started_at"]);
    assert_eq!(sessions[0]["finished_at"], session["finished_at"]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("runs/r1/run.json")).unwrap()).unwrap();
    let runs = json_rows(&p, "runs");
    assert_eq!(runs[0]["created_at"], manifest["created_at"]);
    for t in [&sessions[0]["started_at"], &runs[0]["created_at"]] {
        let t = t.as_str().unwrap();
        assert!(t.ends_with('Z'), "{t}");
        chrono::DateTime::parse_from_rfc3339(t).unwrap();
    }
    // `reev query --format json` says the same.
    let q = p.reev(&["query", "--format", "json", "SELECT tags FROM benchmarks"]);
    let q: serde_json::Value = serde_json::from_str(&q.ok().stdout).unwrap();
    assert_eq!(q[0]["tags"], serde_json::json!(["ledger", "write"]));
}

#[test]
fn an_unknown_run_is_an_input_error_naming_it() {
    let p = project();
    for format in ["csv", "json"] {
        let out = p.reev(&["export", "--run", "nosuchrun", "--format", format]);
        out.code(2).stderr_has("nosuchrun");
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    p.reev(&["export", "--table", "runs", "--run", "nosuchrun"])
        .code(2)
        .stderr_has("nosuchrun");
    p.reev(&[
        "export",
        "--format",
        "parquet",
        "--out",
        "x.parquet",
        "--run",
        "nosuchrun",
    ])
    .code(2);
    assert!(!p.join("x.parquet").exists());
    // A known run still exports.
    assert_eq!(
        p.reev(&["export", "--run", "r2"])
            .ok()
            .stdout
            .lines()
            .count(),
        3
    );
}

#[test]
fn a_session_where_nothing_passes_scores_plus_zero_everywhere() {
    let p = Project::new();
    p.agents(&[("bad", &["sh", "-c", "exit 1"])]);
    p.write(
        "benchmarks/b.yml",
        "id: b\ndescription: d\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n    - stdout_contains: never\n",
    );
    p.reev(&["run"]).ok();
    let file = std::fs::read_to_string(&common::session_files(&p.join("runs"))[0]).unwrap();
    assert!(file.contains("\"score\": 0.0"), "{file}");
    assert!(!file.contains("-0.0"), "{file}");
    p.reev(&["load"]).ok();
    let q = p.reev(&[
        "query",
        "--format",
        "csv",
        "SELECT score, CAST(score AS VARCHAR) AS s FROM sessions",
    ]);
    assert_eq!(
        q.ok().stdout.lines().nth(1),
        Some("0.0,0.0"),
        "{}",
        q.stdout
    );
    p.reev(&["export", "--table", "sessions", "--out", "s.csv"])
        .ok();
    let score = std::process::Command::new("python3")
        .args([
            "-c",
            "import csv, sys; print(next(csv.DictReader(open(sys.argv[1], newline='')))['score'])",
        ])
        .arg(p.join("s.csv"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&score.stdout).trim(), "0.0");
    p.reev(&["report"]).ok();
    let md: String = common::walk(&p.path().join("reports"))
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "md"))
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(md.contains("(score 0.00)"), "{md}");
    assert!(!md.contains("-0.00"), "{md}");
}

#[test]
fn export_into_a_closed_pipe_ends_quietly() {
    let p = Project::new();
    p.agents(&[("a", &["true"])]).simple_benchmark("x");
    p.reev(&["run"]).ok();
    p.reev(&["load"]).ok();
    for format in ["csv", "json"] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = p
            .cmd(&["export", "--format", format])
            .stdout(std::process::Stdio::from(writer))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{format}: {stderr}");
        assert!(stderr.is_empty(), "{format}: {stderr}");
    }
}

/// Tokens and cost are the last columns of `sessions` in every format: numbers where the
/// session file has them, null where it does not (sessions of older reev, unpriced models).
#[test]
fn sessions_carry_tokens_and_cost_in_every_format() {
    let p = Project::new();
    let mut specs = gen::matrix(&["a"], 2, 1, |_, _, _| (true, 10));
    specs[0].cost_usd = Some(0.25);
    gen::run(&p.join("runs"), "r", 1, &specs);
    p.reev(&["load"]).ok();
    let json = p.reev(&["export", "--format", "json"]).ok().stdout.clone();
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cols = |r: &serde_json::Value| {
        (
            r["input_tokens"].clone(),
            r["output_tokens"].clone(),
            r["cost_usd"].clone(),
        )
    };
    assert_eq!(cols(&rows[0]), (1000.into(), 0.into(), 0.25.into()));
    assert_eq!(
        cols(&rows[1]),
        (
            serde_json::Value::Null,
            serde_json::Value::Null,
            serde_json::Value::Null
        )
    );
    p.reev(&["export", "--format", "parquet", "--out", "s.parquet"])
        .ok();
    let check = "import duckdb, sys; print(duckdb.connect().execute(f\"select input_tokens, output_tokens, cost_usd from read_parquet('{sys.argv[1]}') order by started_at\").fetchall())";
    let out = std::process::Command::new(common::python())
        .args(["-c", check])
        .arg(p.join("s.parquet"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        "[(1000, 0, 0.25), (None, None, None)]",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 22 defect 7: CSV timestamps carry their zone, exactly as the JSON export's.
#[test]
fn csv_timestamps_are_rfc3339_with_the_zone_like_json() {
    let p = Project::new();
    p.agents(&[("a", &["true"])]).simple_benchmark("b");
    p.reev(&["run", "--run-id", "r1"]).ok();
    p.reev(&["load"]).ok();
    let csv = p.reev(&["export", "--table", "sessions", "--format", "csv"]);
    let text = csv.ok().stdout.clone();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let col = header.iter().position(|h| h == "started_at").unwrap();
    let session = &p.sessions()[0];
    assert_eq!(&row[col], session["started_at"].as_str().unwrap(), "{text}");
    assert!(row[col].ends_with('Z'), "{}", &row[col]);
    let json = json_rows(&p, "sessions");
    assert_eq!(json[0]["started_at"].as_str().unwrap(), &row[col]);
}
