//! `reev load` and `reev query`: an idempotent, crash-safe DuckDB store, through the binary.

use crate::common;
use crate::common::analyst;
use crate::common::gen;

use crate::common::{session_files, wait_for, Project};
use analyst::Analyst;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const DATA_TABLES: &[&str] = &[
    "runs",
    "benchmarks",
    "sessions",
    "output_parts",
    "assertions",
    "events",
    "metrics",
];

/// Every data table, sorted, as CSV: equal dumps mean equal contents.
fn dump(p: &Project, db: &str) -> BTreeMap<String, String> {
    DATA_TABLES
        .iter()
        .map(|t| {
            let out = p.reev(&[
                "query",
                "--db",
                db,
                "--format",
                "csv",
                &format!("SELECT * FROM {t} ORDER BY ALL"),
            ]);
            out.ok();
            (t.to_string(), out.stdout)
        })
        .collect()
}

fn count(p: &Project, db: &str, sql: &str) -> i64 {
    p.count(db, sql)
}

/// A project with two real runs of a small suite.
fn with_runs() -> Project {
    let p = Project::new();
    p.agents(&[
        ("good", &["sh", "-c", "echo ok; echo '{\"type\":\"metric\",\"name\":\"tokens\",\"value\":7}' >> \"$REEV_EVENTS\""]),
        ("bad", &["sh", "-c", "echo nope; exit 1"]),
    ]);
    for id in ["a", "b", "c"] {
        p.write(
            &format!("benchmarks/{id}.yml"),
            &format!("id: {id}\ndescription: d\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n    - stdout_contains: ok\n"),
        );
    }
    p.reev(&["run", "--attempts", "2", "--run-id", "r1"]).ok();
    p.reev(&["run", "--run-id", "r2"]).ok();
    p
}

#[test]
fn loads_every_table_with_real_types() {
    let p = with_runs();
    let out = p.reev(&["load"]);
    out.ok();
    assert!(out.stdout.contains("0 quarantined"), "{}", out.stdout);
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM sessions"),
        18
    );
    assert_eq!(count(&p, "reev.duckdb", "SELECT count(*) FROM runs"), 2);
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM benchmarks"),
        3
    );
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM assertions"),
        36
    );
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(*) FROM metrics WHERE name = 'tokens' AND value = 7"
        ),
        9
    );
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(*) FROM events WHERE type = 'metric'"
        ),
        9
    );
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(*) FROM loaded_files WHERE kind = 'session'"
        ),
        18
    );
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT files_new FROM loads"),
        18 + 2 + 3
    );
    // Real column types, not text.
    let types = p.reev(&[
        "query",
        "--format",
        "csv",
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'sessions' ORDER BY ordinal_position",
    ]);
    let t = &types.ok().stdout;
    for (col, ty) in [
        ("started_at", "TIMESTAMP"),
        ("score", "DOUBLE"),
        ("duration_ms", "BIGINT"),
        ("agent_command", "JSON"),
        ("stdout_truncated", "BOOLEAN"),
    ] {
        assert!(
            t.contains(&format!("{col},{ty}")),
            "{col} is not {ty}:\n{t}"
        );
    }
    // Each session links to the benchmark version it ran with.
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM sessions s JOIN benchmarks b ON b.benchmark_id = s.benchmark_id AND b.sha256 = s.benchmark_sha256"),
        18
    );
}

#[test]
fn loading_twice_or_from_two_copies_never_duplicates() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    let first = dump(&p, "reev.duckdb");
    let again = p.reev(&["load"]);
    again.ok();
    assert!(again.stdout.contains(" 0 new"), "{}", again.stdout);
    assert_eq!(dump(&p, "reev.duckdb"), first);
    // A second copy of the tree, as if merged from another machine.
    copy_tree(&p.join("runs"), &p.join("copy"));
    p.reev(&["load", "--runs-dir", "copy"]).ok();
    assert_eq!(dump(&p, "reev.duckdb"), first);
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(*) FROM loaded_files WHERE kind = 'session'"
        ),
        36
    );
}

fn copy_tree(from: &Path, to: &Path) {
    for f in common::walk(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}

#[test]
fn deleting_the_database_and_loading_again_reproduces_it() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    let before = dump(&p, "reev.duckdb");
    std::fs::remove_file(p.join("reev.duckdb")).unwrap();
    p.reev(&["load"]).ok();
    assert_eq!(dump(&p, "reev.duckdb"), before);
    // --rebuild swaps in a database built from all files: the same content again.
    p.reev(&["load", "--rebuild"]).ok();
    assert_eq!(dump(&p, "reev.duckdb"), before);
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM loads"),
        1,
        "a rebuilt database starts a new history"
    );
    let leftovers: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".rebuild-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_reload_with_nothing_new_does_not_read_known_files() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    let before = dump(&p, "reev.duckdb");
    // Same size, same mtime, different bytes: only a reader would notice. The loader must not.
    let f = &session_files(&p.join("runs"))[0];
    let mtime = std::fs::metadata(f).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(f).unwrap();
    let i = bytes.iter().position(|b| *b == b'"').unwrap();
    bytes[i + 1] = bytes[i + 1].to_ascii_uppercase();
    std::fs::write(f, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let out = p.reev(&["load"]);
    out.ok();
    assert!(out.stdout.contains(" 0 new"), "{}", out.stdout);
    assert_eq!(dump(&p, "reev.duckdb"), before);
    // A changed mtime triggers the digest check, which finds the change.
    std::fs::File::options()
        .write(true)
        .open(f)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    p.reev(&["load"])
        .code(1)
        .stderr_has("changed after it was loaded");
}

#[test]
fn a_file_changed_after_loading_is_reported_and_never_replaces_data() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    let before = dump(&p, "reev.duckdb");
    let f = &session_files(&p.join("runs"))[0];
    let old_sha = sha(f);
    let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
    s["score"] = serde_json::json!(0.123);
    std::fs::write(f, serde_json::to_vec_pretty(&s).unwrap()).unwrap();
    let out = p.reev(&["load"]);
    out.code(1)
        .stderr_has(&f.display().to_string())
        .stderr_has(s["session_id"].as_str().unwrap())
        .stderr_has(&old_sha)
        .stderr_has(&sha(f));
    assert_eq!(dump(&p, "reev.duckdb"), before);
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(*) FROM conflicts WHERE kind = 'changed_after_load'"
        ),
        1
    );
}

#[test]
fn two_files_claiming_one_session_id_are_reported() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    let before = dump(&p, "reev.duckdb");
    let f = &session_files(&p.join("runs"))[0];
    let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
    s["host"] = serde_json::json!("an impostor");
    let impostor = p.join("other/r9/sessions/x/y@1.json");
    std::fs::create_dir_all(impostor.parent().unwrap()).unwrap();
    std::fs::write(&impostor, serde_json::to_vec_pretty(&s).unwrap()).unwrap();
    let out = p.reev(&["load", "--runs-dir", "other"]);
    out.code(1)
        .stderr_has("claims a session id already loaded")
        .stderr_has(s["session_id"].as_str().unwrap())
        .stderr_has(&sha(f))
        .stderr_has(&sha(&impostor));
    assert_eq!(dump(&p, "reev.duckdb"), before);
}

fn sha(f: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(f)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn bad_files_are_quarantined_and_valid_ones_still_load() {
    let p = with_runs();
    let dir = p.join("runs/r2/sessions/good");
    let valid = session_files(&p.join("runs")).len();
    let good: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&session_files(&dir)[0]).unwrap()).unwrap();
    let mut v = good.clone();
    v["schema_version"] = serde_json::json!(99);
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("status");
    let full = serde_json::to_vec(&good).unwrap();
    let bad: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated@1.json",
            full[..full.len() / 2].to_vec(),
            "not a session file",
        ),
        ("empty@1.json", Vec::new(), "empty file"),
        (
            "latin1@1.json",
            b"{\"schema_version\": 1, \"x\": \"\xe9\"}".to_vec(),
            "not valid UTF-8",
        ),
        (
            "future@1.json",
            serde_json::to_vec(&v).unwrap(),
            "unsupported schema_version 99",
        ),
        (
            "missing@1.json",
            serde_json::to_vec(&missing).unwrap(),
            "missing field `status`",
        ),
        (
            ".tmp-123-0-crashed@1.json",
            full[..10].to_vec(),
            "leftover temporary file",
        ),
    ];
    for (name, bytes, _) in &bad {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let out = p.reev(&["load"]);
    out.code(1);
    for (name, _, why) in &bad {
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{}", out.stderr));
        assert!(line.contains(why), "{name}: {line}");
    }
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM sessions"),
        valid as i64
    );
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM current_quarantine"),
        bad.len() as i64
    );
    // Fix one (a valid new session), remove the rest: the next load picks it up, cleanly.
    let mut fixed = good.clone();
    fixed["session_id"] = serde_json::json!("fixed0000000000000000000");
    std::fs::write(
        dir.join("truncated@1.json"),
        serde_json::to_vec(&fixed).unwrap(),
    )
    .unwrap();
    for (name, _, _) in &bad[1..] {
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    p.reev(&["load"]).ok();
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM sessions"),
        valid as i64 + 1
    );
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM current_quarantine"),
        0
    );
}

#[test]
fn an_unreadable_file_is_quarantined() {
    let p = with_runs();
    let f = session_files(&p.join("runs"))[0].clone();
    std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let as_root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if as_root {
        // root reads anything: run reev as nobody, on a tree nobody may otherwise read.
        std::process::Command::new("chmod")
            .args(["-R", "a+rwX"])
            .arg(p.path())
            .status()
            .unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
        std::fs::set_permissions(
            p.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            common::REEV,
            "load",
        ]);
        c
    } else {
        let mut c = std::process::Command::new(common::REEV);
        c.arg("load");
        c
    };
    let out = cmd
        .current_dir(p.path())
        .env("HOME", p.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&f.display().to_string()) && stderr.contains("cannot read"),
        "{stderr}"
    );
    let total = session_files(&p.join("runs")).len() as i64;
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM sessions"),
        total - 1
    );
}

#[test]
fn a_second_loader_waits_or_exits_3() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    // Hold the writer lock the way a running `reev load` does.
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(p.join("reev.duckdb.lock"))
        .unwrap();
    use std::os::fd::AsRawFd;
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let out = p.reev(&["load"]);
    out.code(3)
        .stderr_has("another reev is writing")
        .stderr_has("--wait");
    assert!(out.elapsed < Duration::from_secs(3));
    let mut waiting = p
        .cmd(&["load", "--wait", "20s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "it should be waiting"
    );
    drop(lock);
    assert!(wait_for(Duration::from_secs(15), || waiting
        .try_wait()
        .unwrap()
        .is_some()));
    assert_eq!(waiting.wait().unwrap().code(), Some(0));
}

#[test]
fn an_analysts_read_only_connection_never_blocks_a_load() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    p.reev(&["run", "--run-id", "r3"]).ok();
    // A real second process (DuckDB's Python client) holds the database open read-only,
    // as a notebook does.
    let q = "select count(*) from sessions";
    let (mut analyst, first) = Analyst::open(&p.join("reev.duckdb"), true, q);
    assert_eq!(first, "18", "the analyst sees the complete earlier load");
    let out = p.reev(&["load"]);
    out.ok();
    assert!(out.elapsed < Duration::from_secs(20), "{:?}", out.elapsed);
    assert_eq!(
        analyst.ask(),
        "18",
        "the open connection keeps its snapshot"
    );
    assert_eq!(
        count(&p, "reev.duckdb", q),
        24,
        "a new connection sees the load"
    );
    // Still open: the next load (nothing new) goes through too, and leaves no copies behind.
    p.reev(&["load"]).ok();
    analyst.close();
    let names: Vec<String> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("reev.duckdb"))
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "reev.duckdb" || n == "reev.duckdb.lock"),
        "{names:?}"
    );
}

#[test]
fn a_rebuild_never_replaces_a_database_open_read_write() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    let q = "select count(*) from sessions";
    let (writer, first) = Analyst::open(&p.join("reev.duckdb"), false, q);
    assert_eq!(first, "18");
    let out = p.reev(&["load", "--rebuild"]);
    out.code(3)
        .stderr_has("open read-write by")
        .stderr_has(&format!("PID {}", writer.pid()));
    writer.close();
    p.reev(&["load", "--rebuild"]).ok();
    assert_eq!(count(&p, "reev.duckdb", q), 18);
}

#[test]
fn a_read_write_holder_is_waited_for_or_named() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    p.reev(&["run", "--run-id", "r3"]).ok();
    let q = "select count(*) from sessions";
    let (writer, first) = Analyst::open(&p.join("reev.duckdb"), false, q);
    assert_eq!(first, "18");
    let out = p.reev(&["load"]);
    out.code(3)
        .stderr_has("open read-write by")
        .stderr_has(&format!("PID {}", writer.pid()))
        .stderr_has("--wait");
    let waiting = p
        .cmd(&["load", "--wait", "20s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    writer.close();
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(&p, "reev.duckdb", q), 24);
}

#[test]
fn query_is_read_only_and_speaks_three_formats() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    p.reev(&["query", "DELETE FROM sessions"])
        .code(2)
        .stderr_has("query failed");
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM sessions"),
        18
    );
    let t = p.reev(&[
        "query",
        "SELECT agent, sessions FROM agent_performance ORDER BY agent",
    ]);
    t.ok();
    assert!(
        t.stdout.contains("agent") && t.stdout.contains("bad") && t.stdout.contains("(2 rows)"),
        "{}",
        t.stdout
    );
    let j = p.reev(&[
        "query",
        "--format",
        "json",
        "SELECT * FROM run_summary ORDER BY run_id, agent",
    ]);
    let rows: serde_json::Value = serde_json::from_str(&j.ok().stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 4);
    assert_eq!(rows[0]["run_id"], "r1");
    assert!(rows[0]["sessions"].is_number());
    p.reev(&["query", "--db", "missing.duckdb", "SELECT 1"])
        .code(2)
        .stderr_has("no database");
}

#[test]
fn analyst_views_answer_the_documented_questions() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    let perf = p.reev(&[
        "query",
        "--format",
        "json",
        "SELECT * FROM agent_performance ORDER BY agent",
    ]);
    let perf: serde_json::Value = serde_json::from_str(&perf.ok().stdout).unwrap();
    assert_eq!(perf[0]["agent"], "bad");
    assert_eq!(perf[0]["success_rate"], 0.0);
    assert_eq!(perf[1]["agent"], "good");
    assert_eq!(perf[1]["success_rate"], 1.0);
    assert_eq!(perf[1]["sessions"], 9);
    assert!(perf[1]["p95_duration_ms"].is_number());
    let m = p.reev(&[
        "query",
        "--format",
        "json",
        "SELECT * FROM benchmark_matrix ORDER BY benchmark_id, agent",
    ]);
    let m: serde_json::Value = serde_json::from_str(&m.ok().stdout).unwrap();
    assert_eq!(m.as_array().unwrap().len(), 6);
    assert!(m
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["run_id"] == "r2" && r["attempts"] == 1));
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM latest_sessions"),
        6
    );
}

/// A later run of some pairs, loaded on its own, becomes their latest run; the other pairs
/// keep theirs (the loader recomputes the latest run of the pairs a load touches).
#[test]
fn latest_sessions_follow_a_later_run_of_some_pairs() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    p.reev(&["run", "--run-id", "r3", "--filter", "a"]).ok();
    p.reev(&["load"]).ok();
    let latest = |run: &str| {
        count(
            &p,
            "reev.duckdb",
            &format!("SELECT count(*) FROM latest_sessions WHERE run_id = '{run}'"),
        )
    };
    assert_eq!((latest("r3"), latest("r2"), latest("r1")), (2, 4, 0));
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(*) FROM benchmark_matrix WHERE run_id = 'r3' AND benchmark_id = 'a'"
        ),
        2
    );
}

#[test]
fn benchmark_versions_are_kept_apart() {
    let p = with_runs();
    p.write("benchmarks/a.yml", "id: a\ndescription: edited\nprompt: p2\nground_truth:\n  assertions:\n    - exit_code: 0\n");
    p.reev(&["run", "--run-id", "r3", "--filter", "a"]).ok();
    p.reev(&["load"]).ok();
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(*) FROM benchmarks WHERE benchmark_id = 'a'"
        ),
        2
    );
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(DISTINCT benchmark_sha256) FROM sessions WHERE benchmark_id = 'a'"
        ),
        2
    );
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM sessions s JOIN benchmarks b ON b.benchmark_id = s.benchmark_id AND b.sha256 = s.benchmark_sha256 WHERE s.run_id = 'r3'"),
        2
    );
    assert_eq!(count(&p, "reev.duckdb", "SELECT count(*) FROM (SELECT sha256 FROM benchmarks GROUP BY sha256 HAVING count(*) > 1)"), 0);
}

#[test]
fn a_killed_load_leaves_the_database_as_before_or_as_after() {
    let p = Project::new();
    gen::runs_tree(&p.join("runs"), 1, 300, 1);
    p.reev(&["load"]).ok();
    let before = dump(&p, "reev.duckdb");
    gen::runs_tree(&p.join("runs"), 4, 1500, 2);
    // The complete result, computed on a copy.
    copy_tree(&p.join("runs"), &p.join("ref/runs"));
    std::fs::copy(p.join("reev.duckdb"), p.join("ref.duckdb")).unwrap();
    p.reev(&["load", "--db", "ref.duckdb", "--runs-dir", "ref/runs"])
        .ok();
    let after = dump(&p, "ref.duckdb");
    assert_ne!(before, after);
    let mut outcomes = (0, 0);
    for (i, delay_ms) in [30u64, 120, 250, 400, 700, 1000].into_iter().enumerate() {
        let mut child = p
            .cmd(&["load"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        // The loader writes its pid into the lock file once it holds the lock: a kill that
        // finds it there landed inside the load, not before it began.
        let lock = std::fs::read_to_string(p.join("reev.duckdb.lock")).unwrap_or_default();
        let started = lock.contains(&format!("pid {} ", child.id()));
        let now = dump(&p, "reev.duckdb");
        if now == before {
            outcomes.0 += usize::from(started);
        } else if now == after {
            outcomes.1 += 1;
            break;
        } else {
            panic!(
                "kill #{i} after {delay_ms} ms left a database that is neither before nor after"
            );
        }
    }
    assert!(
        outcomes.0 > 0,
        "no kill landed inside a load; the test proved nothing"
    );
    p.reev(&["load"]).ok();
    assert_eq!(dump(&p, "reev.duckdb"), after);
}

mod property {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

        /// Random subsets of one tree (copied into separate trees, as from several machines),
        /// loaded in random orders, give exactly the tables of one load of all files.
        #[test]
        fn any_subsets_in_any_order_equal_one_full_load(
            assignment in proptest::collection::vec(1u8..16, 64),
            order in Just(()).prop_perturb(|_, mut rng| {
                let mut v: Vec<usize> = (0..4).collect();
                for i in (1..v.len()).rev() {
                    let j = (rng.next_u32() as usize) % (i + 1);
                    v.swap(i, j);
                }
                v
            })
        ) {
            let p = Project::new();
            gen::runs_tree(&p.join("runs"), 3, 20, 7);
            p.reev(&["load", "--db", "full.duckdb"]).ok();
            let full = dump(&p, "full.duckdb");
            // Each file goes to a random non-empty set of the four partial trees.
            let files = common::walk(&p.join("runs"));
            for (i, f) in files.iter().enumerate() {
                let mask = assignment[i % assignment.len()];
                for k in 0..4 {
                    if mask & (1 << k) != 0 {
                        let dest = p.join(&format!("part{k}")).join(f.strip_prefix(p.join("runs")).unwrap());
                        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                        std::fs::copy(f, &dest).unwrap();
                    }
                }
            }
            for k in &order {
                let dir = format!("part{k}");
                if p.join(&dir).exists() {
                    p.reev(&["load", "--db", "parts.duckdb", "--runs-dir", &dir]).ok();
                }
            }
            prop_assert_eq!(dump(&p, "parts.duckdb"), full);
        }
    }
}

#[test]
fn rebuild_swaps_in_a_new_database_while_a_reader_keeps_its_snapshot() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    p.reev(&["run", "--run-id", "r3"]).ok();
    // The analyst opens the old database and keeps it open across the rebuild.
    let script = "import duckdb, sys\n\
        con = duckdb.connect(sys.argv[1], read_only=True)\n\
        print(con.execute('select count(*) from sessions').fetchall()[0][0], flush=True)\n\
        sys.stdin.readline()\n\
        print(con.execute('select count(*) from sessions').fetchall()[0][0], flush=True)\n";
    let mut analyst = std::process::Command::new(common::python())
        .args(["-c", script])
        .arg(p.join("reev.duckdb"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with duckdb");
    use std::io::{BufRead, Write};
    let mut lines = std::io::BufReader::new(analyst.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "18");
    // A rebuild does not touch the old file.
    p.reev(&["load", "--rebuild"]).ok();
    analyst.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "18",
        "the reader keeps its snapshot"
    );
    analyst.wait().unwrap();
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM sessions"),
        24,
        "the next reader sees the rebuild"
    );
}

#[test]
fn a_missing_runs_directory_is_a_usage_error() {
    let p = Project::new();
    p.reev(&["load", "--runs-dir", "nope"])
        .code(2)
        .stderr_has("nope does not exist");
    assert!(!p.join("reev.duckdb").exists(), "nothing created");
}

#[test]
fn a_tree_restored_without_its_mtimes_is_recognised_once_and_recorded() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    let before = dump(&p, "reev.duckdb");
    let ledger_rows = count(&p, "reev.duckdb", "SELECT count(*) FROM loaded_files");
    // Every file gets a new mtime, as after a copy or restore that drops them.
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    for f in common::walk(&p.join("runs")) {
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(later)
            .unwrap();
    }
    let out = p.reev(&["load"]);
    out.ok();
    assert!(out.stdout.contains(" 0 new"), "{}", out.stdout);
    assert_eq!(dump(&p, "reev.duckdb"), before);
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM loaded_files"),
        ledger_rows,
        "no duplicate ledger rows"
    );
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(*) - count(DISTINCT path) FROM loaded_files"
        ),
        0
    );
    // The new mtimes were recorded: the next load does not read the files again (a same-size
    // change with the recorded mtime goes unnoticed, which only a reader would see).
    let f = &session_files(&p.join("runs"))[0];
    let mut bytes = std::fs::read(f).unwrap();
    let i = bytes.iter().position(|b| *b == b'"').unwrap();
    bytes[i + 1] = bytes[i + 1].to_ascii_uppercase();
    std::fs::write(f, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(f)
        .unwrap()
        .set_modified(later)
        .unwrap();
    p.reev(&["load"]).ok();
    assert_eq!(dump(&p, "reev.duckdb"), before);
}

/// Text that does not compress away, with multi-byte characters to cut around.
fn noisy_text(len: usize, seed: u64) -> String {
    let mut x = seed | 1;
    let mut s = String::with_capacity(len + 4);
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 61 {
            0 => s.push('é'),
            1 => s.push('→'),
            2 => s.push('\n'),
            n => s.push((b'!' + (n as u8 % 90)) as char),
        }
    }
    while s.len() > len {
        s.pop();
    }
    s
}

/// Give every session file under `root` a stdout and stderr of these lengths.
fn make_chatty(root: &Path, stdout_len: usize, stderr_len: usize) -> Vec<(String, String)> {
    let mut texts = Vec::new();
    for (i, f) in session_files(root).iter().enumerate() {
        let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let (out, err) = (
            noisy_text(stdout_len, 2 * i as u64 + 7),
            noisy_text(stderr_len, 2 * i as u64 + 8),
        );
        s["stdout"] = serde_json::json!({"text": out, "bytes_total": out.len(), "truncated": true});
        s["stderr"] = serde_json::json!({"text": err, "bytes_total": err.len(), "truncated": true});
        std::fs::write(f, serde_json::to_vec(&s).unwrap()).unwrap();
        texts.push((s["session_id"].as_str().unwrap().to_string(), out));
    }
    texts
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn long_output_is_stored_whole_and_reads_back_byte_for_byte() {
    let p = Project::new();
    gen::runs_tree(&p.join("runs"), 1, 6, 3);
    let texts = make_chatty(&p.join("runs"), 100_003, 20_000);
    p.reev(&["load"]).ok();
    for (sid, text) in &texts {
        let q = |sql: &str| {
            let out = p.reev(&["query", "--format", "csv", sql]);
            out.ok();
            out.stdout.lines().nth(1).unwrap_or_default().to_string()
        };
        assert_eq!(
            q(&format!("SELECT sha256(text) FROM session_output WHERE session_id = '{sid}' AND stream = 'stdout'")),
            sha256_hex(text),
            "session_output gives the whole text back"
        );
        let tail = &text[text
            .char_indices()
            .map(|(i, _)| i)
            .find(|i| text.len() - i <= 16384)
            .unwrap()..];
        assert_eq!(
            q(&format!(
                "SELECT sha256(stdout) FROM sessions WHERE session_id = '{sid}'"
            )),
            sha256_hex(tail),
            "sessions.stdout holds the last 16 KiB"
        );
    }
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM session_output"),
        12
    );
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT max(strlen(text)) FROM output_parts"
        ),
        16384
    );
}

/// Peak resident memory of a finished child, from the kernel (`wait4`), in MiB.
#[allow(clippy::zombie_processes)] // reaped by wait4, which std does not know about
fn run_measured(mut cmd: std::process::Command) -> (i32, u64) {
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data the kernel fills in; the pid is our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert_eq!(pid, child.id() as i32);
    (libc::WEXITSTATUS(status), ru.ru_maxrss as u64 / 1024)
}

/// 300 sessions with stdout and stderr at the 1 MiB capture cap: 600 MiB of text load with
/// exit 0 in bounded memory (before: DuckDB's "failed to pin block", 1.7 GB, nothing loaded).
#[test]
#[ignore = "heavy: 600 MiB of session files"]
fn chatty_sessions_at_the_output_caps_load_in_bounded_memory() {
    let p = Project::new();
    gen::runs_tree(&p.join("runs"), 2, 150, 5);
    make_chatty(&p.join("runs"), 1 << 20, 1 << 20);
    let (code, peak) = run_measured(p.cmd(&["load"]));
    assert_eq!(code, 0);
    eprintln!("peak RSS of the load: {peak} MiB");
    assert!(peak < 500, "peak RSS {peak} MiB");
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM sessions"),
        300
    );
    // Every byte is back: bytes_total is each text's length in these files.
    let whole = count(
        &p,
        "reev.duckdb",
        "SELECT sum(strlen(text)) FROM session_output",
    );
    let total = count(
        &p,
        "reev.duckdb",
        "SELECT sum(stdout_bytes + stderr_bytes) FROM sessions",
    );
    assert_eq!(whole, total);
    assert!(whole > 599 << 20, "{whole}");
    // And the next load of the same tree is a no-op.
    let out = p.reev(&["load"]);
    out.ok();
    assert!(out.stdout.contains(" 0 new"), "{}", out.stdout);
}

/// The DuckDB CLI analysts install (PyPI `duckdb-cli`, pinned in requirements-dev.txt):
/// `$REEV_DUCKDB_CLI`, beside `$REEV_TEST_PYTHON` or in the Makefile's venv, or on PATH.
pub(crate) fn duckdb_cli() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("REEV_DUCKDB_CLI") {
        return Some(p.into());
    }
    let venvs = [
        std::env::var_os("REEV_TEST_PYTHON")
            .and_then(|p| Path::new(&p).parent().map(|d| d.join("duckdb"))),
        std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/reev/venv/bin/duckdb")),
    ];
    if let Some(found) = venvs.into_iter().flatten().find(|p| p.is_file()) {
        return Some(found);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("duckdb"))
            .find(|p| p.is_file())
    })
}

#[test]
fn the_database_opens_in_the_duckdb_cli_analysts_install() {
    let Some(cli) = duckdb_cli() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no DuckDB CLI: pip install -r requirements-dev.txt (duckdb-cli) or set REEV_DUCKDB_CLI"
        );
        eprintln!("\n\n*** SKIPPED: no DuckDB CLI found (set REEV_DUCKDB_CLI or pip install duckdb-cli==1.5.6) ***\n\n");
        return;
    };
    let p = with_runs();
    p.reev(&["load"]).ok();
    let version = std::process::Command::new(&cli)
        .arg("--version")
        .output()
        .unwrap();
    eprintln!(
        "DuckDB CLI: {}",
        String::from_utf8_lossy(&version.stdout).trim()
    );
    for db in ["reev.duckdb", "rebuilt.duckdb"] {
        if db == "rebuilt.duckdb" {
            p.reev(&["load", "--db", db, "--rebuild"]).ok();
        }
        let out = std::process::Command::new(&cli)
            .args(["-readonly", "-csv", "-noheader"])
            .arg(p.join(db))
            .arg("SELECT count(*) FROM sessions JOIN runs USING (run_id)")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} cannot read {db}: {}",
            cli.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "18");
    }
}

#[test]
fn agent_names_in_a_manifests_whole_run_plan_follow_the_run_time_rules() {
    let p = with_runs();
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("runs/r2/run.json")).unwrap()).unwrap();
    m["run_id"] = serde_json::json!("r8");
    m["run_planned"] = serde_json::json!({"../x": 3});
    p.write("runs/r8/run.json", &serde_json::to_string(&m).unwrap());
    let out = p.reev(&["load"]);
    out.code(1)
        .stderr_has("run_planned agent `../x` is not allowed");
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(*) FROM runs WHERE run_id = 'r8'"
        ),
        0
    );
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM sessions"),
        18
    );
}

#[test]
fn ids_read_from_files_follow_the_run_time_rules() {
    let p = with_runs();
    let good = session_files(&p.join("runs"))[0].clone();
    let base: serde_json::Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    let bad = [
        ("run_id", "../escaped-report"),
        ("agent", "a/b"),
        ("benchmark_id", ".."),
        ("session_id", "../../x"),
    ];
    for (i, (field, value)) in bad.iter().enumerate() {
        let mut s = base.clone();
        s["session_id"] = serde_json::json!(format!("feed{i:04}"));
        s[*field] = serde_json::json!(value);
        p.write(
            &format!("runs/r1/sessions/merged/tampered{i}.json"),
            &serde_json::to_string(&s).unwrap(),
        );
    }
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("runs/r2/run.json")).unwrap()).unwrap();
    m["run_id"] = serde_json::json!("../escaped-run");
    p.write("runs/r9/run.json", &serde_json::to_string(&m).unwrap());
    let out = p.reev(&["load"]);
    out.code(1);
    for (field, value) in bad {
        out.stderr_has(&format!("{field} `{value}` is not allowed"));
    }
    out.stderr_has("run_id `../escaped-run` is not allowed");
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM quarantine"),
        5
    );
    assert_eq!(
        count(&p, "reev.duckdb", "SELECT count(*) FROM sessions"),
        18
    );
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(*) FROM runs WHERE run_id NOT IN ('r1', 'r2')"
        ),
        0
    );
    p.reev(&["report"]).ok();
    assert!(!p.join("escaped-report").exists());
}

/// A database of schema version 2 (before tokens and cost) is refused with the command that
/// converts it; `--rebuild` builds the current version from the files, tokens and cost included.
#[test]
fn a_version_2_database_is_rebuilt_with_tokens_and_cost() {
    let p = Project::new();
    let mut specs = gen::matrix(&["a"], 2, 1, |_, _, _| (true, 10));
    specs[0].cost_usd = Some(0.5);
    gen::run(&p.join("runs"), "r", 1, &specs);
    p.reev(&["load"]).ok();
    // What reev 2 left: no token or cost columns, version 2 in reev_meta.
    let downgrade = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); \
        [c.execute(f'ALTER TABLE sessions DROP COLUMN {col}') for col in ('input_tokens', 'output_tokens', 'cost_usd')]; \
        c.execute(\"UPDATE reev_meta SET value = '2' WHERE key = 'schema_version'\"); c.close()";
    common::python_ok(downgrade, &[p.join("reev.duckdb")]);
    p.reev(&["load"])
        .code(2)
        .stderr_has("schema version 2, this reev uses 6")
        .stderr_has("reev load --rebuild");
    p.reev(&["load", "--rebuild"]).ok();
    let out = p.reev(&[
        "query",
        "--format",
        "csv",
        "SELECT sum(cost_usd), count(cost_usd), sum(input_tokens) FROM sessions",
    ]);
    assert_eq!(out.ok().stdout.lines().nth(1), Some("0.5,1,1000"));
}

#[test]
fn a_database_of_schema_2_is_refused_by_every_command_until_rebuilt() {
    let p = with_runs();
    p.reev(&["load"]).ok();
    // What an earlier reev left: the same file, recording schema version 2.
    common::python_ok(
        "import duckdb, sys; duckdb.connect(sys.argv[1]).execute(\"UPDATE reev_meta SET value = '2' WHERE key = 'schema_version'\")",
        &[p.join("reev.duckdb")],
    );
    let says = "has schema version 2, this reev uses 6; rebuild it from the files with `reev load --rebuild`";
    p.reev(&["load"]).code(2).stderr_has(says);
    p.reev(&["report"]).code(2).stderr_has(says);
    p.reev(&["query", "SELECT 1"]).code(2).stderr_has(says);
    p.reev(&["export"]).code(2).stderr_has(says);
    p.reev(&["load", "--rebuild"]).ok();
    assert_eq!(
        count(
            &p,
            "reev.duckdb",
            "SELECT count(*) FROM sessions WHERE try_number = 1"
        ),
        18
    );
    p.reev(&["report"]).ok();
}
