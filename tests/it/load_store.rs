//! `reev load` never blocks and never breaks, through the binary: a load built beside a
//! database that readers hold bars read-write opens of the old file until the rename, a
//! no-op load with readers writes nothing, and an oversized session file is quarantined
//! without being read.

use crate::common;
use crate::common::analyst;
use crate::common::gen;

use crate::common::Project;
use analyst::Analyst;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;

const SESSIONS: &str = "select count(*) from sessions";

fn count(p: &Project, sql: &str) -> i64 {
    p.count("reev.duckdb", sql)
}

/// A project whose database holds 20 sessions, and its database file.
fn loaded() -> (Project, std::path::PathBuf) {
    let p = Project::new();
    gen::runs_tree(&p.join("runs"), 2, 10, 1);
    p.reev(&["load"]).ok();
    let db = p.join("reev.duckdb");
    (p, db)
}

/// Open `db` read-write in another real process (Python's duckdb, as an analyst would):
/// `Ok(())` when it opened, else DuckDB's error.
fn open_read_write(db: &Path) -> Result<(), String> {
    let script = "import duckdb, sys\n\
        try:\n    duckdb.connect(sys.argv[1]).close(); print('opened')\n\
        except Exception as e:\n    print('refused:', e)\n";
    let out = std::process::Command::new(common::python())
        .args(["-c", script])
        .arg(db)
        .output()
        .expect("python3 with duckdb");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if text == "opened" {
        Ok(())
    } else {
        Err(text)
    }
}

fn names_beside(p: &Project) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("reev.duckdb"))
        .collect();
    names.sort();
    names
}

#[test]
fn while_a_load_is_built_beside_the_old_file_cannot_be_opened_read_write() {
    let (p, db) = loaded();
    let (reader, first) = Analyst::open(&db, true, SESSIONS);
    assert_eq!(first, "20");
    // Enough new files that the load is still running when it says it works on a copy.
    gen::runs_tree(&p.join("runs"), 8, 500, 2);
    let mut load = p
        .cmd(&["-v", "load"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = load.id() as i32;
    let mut stderr = BufReader::new(load.stderr.take().unwrap()).lines();
    let said = stderr
        .by_ref()
        .map_while(|l| l.ok())
        .find(|l| l.contains("loading into a copy of"));
    assert!(said.is_some(), "the load never said it loads into a copy");
    // Hold the load inside its window: the copy is being filled, the rename not done.
    // SAFETY: signalling a child we started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let tmp = p.join(&format!("reev.duckdb.load-{pid}.tmp"));
    assert!(
        tmp.exists(),
        "stopped inside the window: {:?}",
        names_beside(&p)
    );
    // The reader goes away; nothing but the load holds the old file now. A read-write open
    // would succeed, and its writes would be lost at the rename.
    reader.close();
    let refused = open_read_write(&db).expect_err("a read-write open of the old file must fail");
    assert!(refused.contains("lock"), "{refused}");
    // Readers still get in.
    let (late_reader, n) = Analyst::open(&db, true, SESSIONS);
    assert_eq!(n, "20");
    late_reader.close();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    stderr.for_each(drop);
    assert_eq!(load.wait().unwrap().code(), Some(0));
    // After the rename the (new) file opens read-write again, with everything loaded.
    open_read_write(&db).expect("the new database opens read-write");
    assert_eq!(count(&p, SESSIONS), 20 + 8 * 500);
    assert_eq!(names_beside(&p), ["reev.duckdb", "reev.duckdb.lock"]);
}

#[test]
fn a_no_op_load_while_readers_hold_the_database_writes_nothing() {
    let (p, db) = loaded();
    let loads = count(&p, "select count(*) from loads");
    let before = std::fs::metadata(&db).unwrap();
    let (reader, first) = Analyst::open(&db, true, SESSIONS);
    assert_eq!(first, "20");
    let out = p.reev(&["-v", "load"]);
    out.ok().stderr_has("not written");
    assert!(out.stdout.contains("nothing new"), "{}", out.stdout);
    assert!(
        !out.stderr.contains("loading into a copy"),
        "{}",
        out.stderr
    );
    let after = std::fs::metadata(&db).unwrap();
    assert_eq!(after.ino(), before.ino(), "the database was not replaced");
    assert_eq!(after.len(), before.len());
    assert_eq!(after.mtime_nsec(), before.mtime_nsec(), "nor written");
    assert_eq!(names_beside(&p), ["reev.duckdb", "reev.duckdb.lock"]);
    reader.close();
    assert_eq!(count(&p, "select count(*) from loads"), loads);
    // Something new with a reader open is loaded beside and renamed in, as before.
    gen::runs_tree(&p.join("runs2"), 1, 5, 3);
    let (reader, _) = Analyst::open(&db, true, SESSIONS);
    p.reev(&["load", "--runs-dir", "runs", "--runs-dir", "runs2"])
        .ok();
    reader.close();
    assert_ne!(std::fs::metadata(&db).unwrap().ino(), before.ino());
    assert_eq!(count(&p, SESSIONS), 25);
}

#[test]
fn a_session_file_over_the_size_cap_is_quarantined_without_being_read() {
    let p = Project::new();
    let files = gen::runs_tree(&p.join("runs"), 1, 4, 1);
    // 3 GiB that take no disk: reading it whole would take 3 GiB of memory.
    let big = files[0].with_file_name("huge@1.json");
    let status = std::process::Command::new("truncate")
        .args(["-s", "3G"])
        .arg(&big)
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let out = p.reev(&["load"]);
    out.code(1)
        .stderr_has(&format!("quarantined {}", big.display()))
        .stderr_has("3221225472 bytes")
        .stderr_has("more than the largest session file reev reads (128 MiB); not read");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "not read: {:?}",
        started.elapsed()
    );
    assert_eq!(count(&p, SESSIONS), 4, "every valid file was loaded");
    let q = format!(
        "select count(*) from quarantine where path = '{}' and error like '%3221225472 bytes%'",
        big.display()
    );
    assert_eq!(count(&p, &q), 1);
}
