//! The current try of each session is decided at load time (`sessions.latest_try` for a try
//! superseded by one loaded with it, `superseded_tries` for one a later load superseded):
//! whatever order tries arrive in, over however many loads, `current_sessions` holds exactly
//! what ranking every session's tries would pick, committed rows never change, and reloading
//! adds nothing.

use crate::common::gen;
use crate::common::Project;
use std::path::{Path, PathBuf};

/// What ranking all tries picks: the definition `current_sessions` had before version 4.
const RANKED: &str = "SELECT session_id FROM sessions QUALIFY row_number() OVER (
    PARTITION BY run_id, benchmark_id, agent, attempt ORDER BY try_number DESC, session_id DESC) = 1";

/// The session ids a query returns, sorted, as CSV text.
fn ids(p: &Project, sql: &str) -> String {
    let out = p.reev(&[
        "query",
        "--format",
        "csv",
        &format!("SELECT session_id FROM ({sql}) ORDER BY 1"),
    ]);
    out.ok();
    out.stdout.clone()
}

/// Write try `k` of `bench.00@1` (agent `a`) of run `run_id` under `root`, from the first
/// try gen wrote: its own session id, `try: k`, `error` unless it is the last try.
fn write_try(first: &Path, root: &Path, run_id: &str, k: u32, last: bool) -> PathBuf {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first).expect("read first try")).expect("json");
    v["session_id"] = format!("{run_id}-try{k}").into();
    v["try"] = k.into();
    v["status"] = if last { "succeeded" } else { "error" }.into();
    let path = root
        .join(run_id)
        .join("sessions/a")
        .join(format!("bench.00@1.try{k}.json"));
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, serde_json::to_vec(&v).expect("json")).expect("write");
    path
}

/// A run `r` of 3 benchmarks whose first benchmark was tried 3 times; the tries and the
/// other files are staged in `staged/` so that a test moves them into runs/ in any order.
fn staged(p: &Project) -> (Vec<PathBuf>, PathBuf) {
    let stage = p.join("staged");
    let specs = gen::matrix(&["a"], 3, 1, |_, b, _| (b != 0, 10));
    gen::run(&stage, "r", 1, &specs);
    let first = stage.join("r/sessions/a/bench.00@1.json");
    let tries = vec![
        first.clone(),
        write_try(&first, &stage, "r", 2, false),
        write_try(&first, &stage, "r", 3, true),
    ];
    (tries, stage)
}

fn place(p: &Project, stage: &Path, file: &Path) {
    let rel = file.strip_prefix(stage).expect("staged file");
    let to = p.join("runs").join(rel);
    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    std::fs::copy(file, to).expect("copy");
}

/// The totals the loader keeps per run and per run × benchmark × agent equal what
/// aggregating the current sessions gives, and latest_sessions equals its old definition.
fn totals_agree(p: &Project) {
    let csv = |sql: &str| {
        let out = p.reev(&["query", "--format", "csv", sql]);
        out.ok();
        out.stdout.clone()
    };
    assert_eq!(
        csv("SELECT run_id, sessions, started_max FROM current_runs ORDER BY ALL"),
        csv("SELECT run_id, count(*) AS sessions, max(started_at) AS started_max FROM current_sessions GROUP BY run_id ORDER BY ALL")
    );
    let old_latest = "WITH runs_by_pair AS (
            SELECT benchmark_id, agent, run_id, max(started_at) AS run_started
            FROM current_sessions GROUP BY benchmark_id, agent, run_id
        ), latest AS (
            SELECT benchmark_id, agent, run_id FROM runs_by_pair
            QUALIFY row_number() OVER (PARTITION BY benchmark_id, agent ORDER BY run_started DESC, run_id DESC) = 1
        )
        SELECT s.session_id FROM current_sessions s JOIN latest USING (benchmark_id, agent, run_id) ORDER BY 1";
    assert_eq!(
        csv("SELECT session_id FROM latest_sessions ORDER BY 1"),
        csv(old_latest)
    );
    // Each run has one number however many loads brought its sessions, and every row of a
    // session carries its run's (what reports filter on).
    let count = |sql: &str| p.count("reev.duckdb", sql);
    assert_eq!(
        count("SELECT count(*) FROM run_numbers"),
        count("SELECT count(DISTINCT run_id) FROM sessions")
    );
    assert_eq!(
        count("SELECT count(DISTINCT run_no) FROM run_numbers"),
        count("SELECT count(*) FROM run_numbers")
    );
    for totals in ["run_totals", "pair_totals"] {
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM {totals} t JOIN run_numbers n USING (run_id)
                 WHERE t.run_no <> n.run_no"
            )),
            0,
            "{totals}"
        );
    }
    for child in ["assertions", "events", "session_matrix", "spans"] {
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM {child} c JOIN sessions s USING (session_id)
                 JOIN run_numbers n ON n.run_id = s.run_id
                 WHERE c.run_no <> n.run_no OR s.run_no <> n.run_no"
            )),
            0,
            "{child}"
        );
    }
}

/// (tries marked superseded in their own rows, tries recorded in `superseded_tries`).
fn superseded(p: &Project) -> (i64, i64) {
    (
        p.count(
            "reev.duckdb",
            "SELECT count(*) FROM sessions WHERE NOT latest_try",
        ),
        p.count("reev.duckdb", "SELECT count(*) FROM superseded_tries"),
    )
}

#[test]
fn the_latest_try_is_current_whatever_order_the_tries_are_loaded_in() {
    let p = Project::new();
    let (tries, stage) = staged(&p);
    // The other sessions first, then try 3 before tries 1 and 2 (a later load may bring
    // an earlier try: another shard's copy, a tree copied in pieces).
    for f in crate::common::session_files(&stage) {
        if !tries.contains(&f) {
            place(&p, &stage, &f);
        }
    }
    place(&p, &stage, &tries[2]);
    p.reev(&["load"]).ok();
    assert_eq!(superseded(&p), (0, 0), "one try of each session so far");
    assert_eq!(ids(&p, "SELECT * FROM current_sessions"), ids(&p, RANKED));
    place(&p, &stage, &tries[0]);
    p.reev(&["load"]).ok();
    assert_eq!(
        superseded(&p),
        (1, 0),
        "try 1 arrived after try 3: superseded, marked in its own row as it was loaded"
    );
    totals_agree(&p);
    place(&p, &stage, &tries[1]);
    p.reev(&["load"]).ok();
    assert_eq!(superseded(&p), (2, 0));
    let current = ids(&p, "SELECT * FROM current_sessions");
    assert_eq!(current, ids(&p, RANKED));
    assert!(current.contains("r-try3"), "{current}");
    assert!(!current.contains("r-try2"), "{current}");
    assert_eq!(
        p.count("reev.duckdb", "SELECT count(*) FROM current_sessions"),
        3
    );
    // Reloading (nothing new) and rebuilding give the same table, without duplicates.
    p.reev(&["load"]).ok();
    assert_eq!(superseded(&p), (2, 0));
    p.reev(&["load", "--rebuild"]).ok();
    assert_eq!(superseded(&p), (2, 0));
    totals_agree(&p);
    assert_eq!(ids(&p, "SELECT * FROM current_sessions"), current);
    assert_eq!(ids(&p, "SELECT * FROM latest_sessions"), current);
}

#[test]
fn a_try_readers_have_seen_is_recorded_beside_its_unchanged_row_when_a_later_one_comes() {
    let p = Project::new();
    let (tries, stage) = staged(&p);
    // Try 2 is loaded (and read) first; try 3 comes in a later load, then try 1.
    for f in crate::common::session_files(&stage) {
        if !tries.contains(&f) {
            place(&p, &stage, &f);
        }
    }
    place(&p, &stage, &tries[1]);
    p.reev(&["load"]).ok();
    assert_eq!(superseded(&p), (0, 0), "one try of each session so far");
    let row = |p: &Project| {
        ids(
            p,
            "SELECT session_id FROM sessions WHERE session_id = 'r-try2' AND latest_try",
        )
    };
    let seen = row(&p);
    assert!(seen.contains("r-try2"), "{seen}");
    place(&p, &stage, &tries[2]);
    p.reev(&["load"]).ok();
    assert_eq!(
        superseded(&p),
        (0, 1),
        "try 2 was loaded before try 3 came: recorded beside its row"
    );
    assert_eq!(row(&p), seen, "the row a reader saw is unchanged");
    totals_agree(&p);
    place(&p, &stage, &tries[0]);
    p.reev(&["load"]).ok();
    assert_eq!(
        superseded(&p),
        (1, 1),
        "try 1 came after try 3: marked in its own row as it was loaded"
    );
    let current = ids(&p, "SELECT * FROM current_sessions");
    assert_eq!(current, ids(&p, RANKED));
    assert!(
        current.contains("r-try3") && !current.contains("r-try2"),
        "{current}"
    );
    totals_agree(&p);
    // Rebuilding loads the tries together: both are marked in their rows.
    p.reev(&["load", "--rebuild"]).ok();
    assert_eq!(superseded(&p), (2, 0));
    assert_eq!(ids(&p, "SELECT * FROM current_sessions"), current);
    totals_agree(&p);
}

#[test]
fn tries_loaded_together_pick_the_same_current_try_as_ranking_them() {
    let p = Project::new();
    let (_, stage) = staged(&p);
    for f in crate::common::session_files(&stage) {
        place(&p, &stage, &f);
    }
    // A hand-made tree may hold two files of the same try: the larger session id wins,
    // as ranking picks it.
    let twin = p.join("runs/r/sessions/a/bench.01@1.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&twin).expect("read")).expect("json");
    v["session_id"] = "zz-twin".into();
    std::fs::write(
        p.join("runs/r/sessions/a/bench.01@1.copy.json"),
        v.to_string(),
    )
    .expect("w");
    p.reev(&["load"]).ok();
    let current = ids(&p, "SELECT * FROM current_sessions");
    assert_eq!(current, ids(&p, RANKED));
    assert!(
        current.contains("zz-twin") && current.contains("r-try3"),
        "{current}"
    );
    assert_eq!(
        superseded(&p),
        (3, 0),
        "loaded together: marked in their rows"
    );
    totals_agree(&p);
}

/// A session whose number (`session_no`) a recorded superseded try already has would vanish
/// from `current_sessions`: the load that brings it is refused, even when it supersedes
/// nothing itself. (Ids sharing 64 bits of SHA-256 cannot be made by hand, so the recorded
/// try is forged with the DuckDB CLI.)
#[test]
fn a_new_session_sharing_a_superseded_tries_number_is_refused() {
    let Some(cli) = crate::load::duckdb_cli() else {
        assert!(std::env::var_os("CI").is_none(), "no DuckDB CLI");
        eprintln!("\n\n*** SKIPPED: no DuckDB CLI found ***\n\n");
        return;
    };
    let p = Project::new();
    let (tries, stage) = staged(&p);
    // A session that is no try of another: loading it supersedes nothing.
    let plain = crate::common::session_files(&stage)
        .into_iter()
        .find(|f| !tries.contains(f))
        .expect("a session that is not a try");
    for f in crate::common::session_files(&stage) {
        if f != plain {
            place(&p, &stage, &f);
        }
    }
    p.reev(&["load"]).ok();
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plain).expect("read")).expect("json");
    let id = v["session_id"].as_str().expect("session_id").to_string();
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    let number = i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    let out = std::process::Command::new(&cli)
        .arg(p.join("reev.duckdb"))
        .arg(format!(
            "INSERT INTO superseded_tries VALUES ({number}, 'forged-try')"
        ))
        .output()
        .expect("duckdb cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    place(&p, &stage, &plain);
    let out = p.reev(&["load"]);
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("forged-try") && out.stderr.contains(&id),
        "{}",
        out.stderr
    );
    assert_eq!(
        p.count(
            "reev.duckdb",
            &format!("SELECT count(*) FROM sessions WHERE session_id = '{id}'")
        ),
        0,
        "the load was rolled back"
    );
}
