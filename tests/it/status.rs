//! `reev status`: runs, their progress and how to finish them, from the runs tree alone.

use crate::common;
use crate::common::{session_files, wait_for, Project};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn status_json(p: &Project, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["status", "--format", "json"];
    args.extend_from_slice(extra);
    let out = p.reev(&args);
    serde_json::from_str(&out.ok().stdout).expect("status json")
}

/// Two agents: one passes, one fails; three benchmarks.
fn project() -> Project {
    let p = Project::new();
    p.agents(&[("pass", &["true"]), ("fail", &["false"])]);
    for b in ["a", "b", "c"] {
        p.simple_benchmark(b);
    }
    p
}

#[test]
fn a_finished_run_is_complete_with_counts_per_status() {
    let p = project();
    p.reev(&["run", "--attempts", "2"]).ok();
    let runs = status_json(&p, &[]);
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(r["state"], "complete");
    assert_eq!(r["planned"], 12);
    assert_eq!(r["done"], 12);
    assert_eq!(r["succeeded"], 6);
    assert_eq!(r["failed"], 6);
    assert_eq!(r["timed_out"], 0);
    assert_eq!(r["error"], 0);
    assert_eq!(r["resume"], serde_json::json!([]));
    // The one run by id, and the table.
    let id = r["run_id"].as_str().unwrap();
    assert_eq!(status_json(&p, &[id])[0]["run_id"], id);
    let table = p.reev(&["status"]);
    let line = table.ok().stdout.lines().nth(1).unwrap().to_string();
    assert!(line.starts_with(id) && line.contains("complete"), "{line}");
}

/// A session leaves one file, its session file: statuses go to one append-only log per run
/// (an inode per session less on a disk), which status reads; a run of an older reev, with
/// a marker file beside each session file, is still counted, and a session file that
/// neither records (a crash before its log line) is done with its status unknown.
#[test]
fn statuses_come_from_the_status_log_or_an_older_runs_markers() {
    let p = project();
    p.reev(&["run", "--run-id", "r1"]).ok();
    let run = p.join("runs/r1");
    let agents = ["pass", "fail"];
    for agent in agents {
        let names: Vec<String> = std::fs::read_dir(run.join("sessions").join(agent))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| n.ends_with(".json")), "{names:?}");
    }
    let log = std::fs::read_to_string(run.join("status.log")).unwrap();
    let mut lines: Vec<&str> = log.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "fail/a@1 failed",
            "fail/b@1 failed",
            "fail/c@1 failed",
            "pass/a@1 succeeded",
            "pass/b@1 succeeded",
            "pass/c@1 succeeded"
        ]
    );
    // The log lost its last lines (a crash): those sessions are done, status unknown.
    let kept: String = log.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(run.join("status.log"), kept).unwrap();
    let r = &status_json(&p, &["r1"])[0];
    assert_eq!(r["done"], 6);
    assert_eq!(r["state"], "complete");
    let known = ["succeeded", "failed"].map(|k| r[k].as_u64().unwrap());
    assert_eq!(known.iter().sum::<u64>(), 4, "{r}");
    // An older reev's run: no log, an empty marker beside each session file.
    std::fs::remove_file(run.join("status.log")).unwrap();
    for agent in agents {
        let status = if agent == "pass" {
            "succeeded"
        } else {
            "failed"
        };
        for b in ["a", "b", "c"] {
            std::fs::write(run.join(format!("sessions/{agent}/{b}@1.{status}")), "").unwrap();
        }
    }
    let r = &status_json(&p, &["r1"])[0];
    assert_eq!(
        (r["succeeded"].as_u64(), r["failed"].as_u64()),
        (Some(3), Some(3)),
        "{r}"
    );
}

#[test]
fn a_reader_that_goes_away_ends_status_quietly() {
    let p = project();
    p.reev(&["run"]).ok();
    for format in ["table", "json"] {
        let (code, stderr) = common::into_closed_pipe(&p, &["status", "--format", format]);
        assert_eq!(code, Some(141), "{format}: {stderr}");
        assert!(stderr.is_empty(), "{format}: {stderr}");
    }
}

#[test]
fn runs_are_listed_newest_first() {
    let p = project();
    for id in ["zzz-first", "aaa-second", "mmm-third"] {
        p.reev(&["run", "--run-id", id]).ok();
        std::thread::sleep(Duration::from_millis(20));
    }
    let ids: Vec<String> = status_json(&p, &[])
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["mmm-third", "aaa-second", "zzz-first"]);
}

#[test]
fn a_running_run_names_its_holder_and_an_eta() {
    let p = Project::new();
    p.agents(&[("slow", &["sh", "-c", "sleep 0.3"])])
        .simple_benchmark("a");
    let mut child = p
        .cmd(&["run", "--attempts", "20", "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runs = p.join("runs");
    assert!(wait_for(Duration::from_secs(20), || session_files(&runs)
        .len()
        >= 2));
    let r = status_json(&p, &[]).remove(0);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(r["state"], "running", "{r}");
    let h = &r["holders"][0];
    assert_eq!(h["pid"], child.id());
    assert!(!h["host"].as_str().unwrap().is_empty());
    assert!(h["since"].as_str().unwrap().ends_with('Z'), "{h}");
    assert!(h["eta"].as_str().is_some_and(|e| e.ends_with('Z')), "{h}");
    assert_eq!(r["planned"], 20);
    // The holder is gone now: the run is incomplete, with the command that finishes it.
    let r = status_json(&p, &[]).remove(0);
    assert_eq!(r["state"], "incomplete", "{r}");
    let cmd = r["resume"][0].as_str().unwrap();
    assert_eq!(
        cmd,
        format!("reev run --resume {}", r["run_id"].as_str().unwrap())
    );
    p.agents(&[("slow", &["true"])]);
    let argv: Vec<&str> = cmd.split_whitespace().skip(1).collect();
    p.reev(&argv).ok();
    let r = status_json(&p, &[]).remove(0);
    assert_eq!(r["state"], "complete", "{r}");
    assert_eq!(r["done"], 20);
}

#[test]
fn missing_shards_are_named_with_the_command_that_runs_them() {
    let p = project();
    for k in ["1/3", "3/3"] {
        p.reev(&["run", "--run-id", "night", "--attempts", "2", "--shard", k])
            .ok();
    }
    let r = status_json(&p, &["night"]).remove(0);
    assert_eq!(r["state"], "incomplete");
    assert_eq!(r["planned"], 12);
    assert_eq!(r["shard_count"], 3);
    assert_eq!(r["shards_present"], serde_json::json!([1, 3]));
    assert_eq!(r["shards_missing"], serde_json::json!([2]));
    let cmd = r["resume"][0].as_str().unwrap();
    assert_eq!(cmd, "reev run --run-id night --shard 2/3 --attempts 2");
    let argv: Vec<&str> = cmd.split_whitespace().skip(1).collect();
    p.reev(&argv).ok();
    let r = status_json(&p, &["night"]).remove(0);
    assert_eq!(r["state"], "complete", "{r}");
    assert_eq!(r["done"], 12);
}

#[test]
fn status_reads_listings_not_session_files() {
    let p = project();
    p.reev(&["run", "--run-id", "r"]).ok();
    // A session file that cannot be read without blocking forever: a FIFO.
    let f = p.join("runs/r/sessions/pass/a@1.json");
    std::fs::remove_file(&f).unwrap();
    let c = std::ffi::CString::new(f.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let t0 = Instant::now();
    let mut child = p
        .cmd(&["status", "--format", "json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || child
            .try_wait()
            .unwrap()
            .is_some()),
        "status opened a session file"
    );
    let out = child.wait_with_output().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    let r: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r[0]["done"], 6);
}

#[test]
fn no_runs_and_unknown_runs() {
    let p = project();
    assert_eq!(status_json(&p, &[]), Vec::<Value>::new());
    p.reev(&["status", "nosuch"]).code(2);
    p.reev(&["status", "../etc"]).code(2);
    p.reev(&["status", "--format", "xml"]).code(2);
}

/// Issue 17 defect 8: one corrupt manifest or a `sessions` that is a file does not hide the
/// other runs; the bad run is named, listed `unreadable`, and the exit code is an input
/// error's (2), after everything was printed.
#[test]
fn an_unreadable_run_is_named_and_the_others_still_listed() {
    let p = project();
    for id in ["good", "corrupt", "flat"] {
        p.reev(&["run", "--run-id", id]).ok();
    }
    std::fs::write(p.join("runs/corrupt/run.json"), "{\"run_id\": \"corr").unwrap();
    let sessions = p.join("runs/flat/sessions");
    std::fs::remove_dir_all(&sessions).unwrap();
    std::fs::write(&sessions, "not a directory").unwrap();
    for format in ["json", "table"] {
        let out = p.reev(&["status", "--format", format]);
        out.code(2)
            .stderr_has("runs/corrupt/run.json")
            .stderr_has("runs/flat/sessions is not a directory");
        assert!(out.stdout.contains("good"), "{}", out.stdout);
        if format == "json" {
            let runs: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
            let state = |id: &str| {
                runs.iter()
                    .find(|r| r["run_id"] == id)
                    .unwrap_or_else(|| panic!("{id} not listed: {runs:?}"))["state"]
                    .clone()
            };
            assert_eq!(state("good"), "complete");
            assert_eq!(state("corrupt"), "unreadable");
            assert_eq!(state("flat"), "unreadable");
        } else {
            assert!(out.stdout.contains("unreadable"), "{}", out.stdout);
        }
    }
    // The bad run alone: the same, for that run.
    let out = p.reev(&["status", "corrupt", "--format", "json"]);
    out.code(2);
    let runs: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(runs[0]["state"], "unreadable");
    assert!(runs[0]["problem"].as_str().unwrap().contains("run.json"));
}

/// Issue 22 defect 7: the columns line up for run ids longer than 32 characters (the
/// Kubernetes example's `k8s-<uid>` ids are 40).
#[test]
fn columns_align_for_long_run_ids() {
    let p = project();
    let long = "k8s-0f4c6b1e-8d2a-4c3b-9e7f-1a2b3c4d5e6f";
    assert_eq!(long.len(), 40);
    for id in [long, "short"] {
        p.reev(&["run", "--run-id", id]).ok();
    }
    let out = p.reev(&["status"]);
    let lines: Vec<&str> = out.ok().stdout.lines().take(3).collect();
    let column = |l: &str, word: &str| {
        l.find(word)
            .unwrap_or_else(|| panic!("{word} not in {l:?}"))
    };
    let state = column(lines[0], "state");
    assert_eq!(column(lines[1], "complete"), state, "{lines:#?}");
    assert_eq!(column(lines[2], "complete"), state, "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{long} "))),
        "{lines:#?}"
    );
}
