//! `reev run` recovery and scale-out, driven as users drive it: default (generated) run ids,
//! the exact resume command reev prints, `kill -9` at random moments, and the shard command
//! lines of `examples/` run concurrently against one runs tree.

use crate::common;
use crate::common::{dead, session_files, wait_for, Project, REEV};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// Start `reev run ARGS` with stderr going to `log` (so it can be read while reev runs).
fn spawn_logged(p: &Project, args: &[&str], log: &Path) -> Child {
    p.cmd(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// The resume command reev printed on stderr (the last one), as argv.
fn printed_resume(stderr: &str) -> Vec<String> {
    let start = stderr
        .rfind("`reev run --resume ")
        .unwrap_or_else(|| panic!("no resume command on stderr:\n{stderr}"));
    let rest = &stderr[start + 1..];
    let cmd = &rest[..rest.find('`').unwrap()];
    cmd.split_whitespace().map(String::from).collect()
}

/// Run a printed `reev ...` command line in the project.
fn run_printed(p: &Project, argv: &[String]) -> common::Out {
    assert_eq!(argv[0], "reev", "{argv:?}");
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    p.reev(&args)
}

fn session_ids(p: &Project) -> BTreeSet<String> {
    p.sessions()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_generated_run_id_resumes_with_the_command_reev_printed_after_sigterm() {
    let p = Project::new();
    p.agents(&[("slow", &["sh", "-c", "sleep 0.4"])])
        .simple_benchmark("a");
    let log = p.join("stderr.log");
    let mut child = spawn_logged(&p, &["run", "--attempts", "6", "--jobs", "2"], &log);
    let runs = p.join("runs");
    assert!(wait_for(Duration::from_secs(20), || session_files(&runs)
        .len()
        >= 2));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(128 + libc::SIGTERM));
    let stderr = std::fs::read_to_string(&log).unwrap();
    let argv = printed_resume(&stderr);
    let run_id = &argv[3];
    // A generated id: time, `T`, `Z` and random hex — the shape that was rejected before.
    assert!(
        run_id.contains('T') && run_id.contains('Z'),
        "not a generated id: {run_id}"
    );
    assert!(
        session_files(&runs).len() < 6,
        "killed too late to test resume"
    );
    run_printed(&p, &argv).ok();
    assert_eq!(session_files(&runs).len(), 6);
    assert_eq!(session_ids(&p).len(), 6);
}

#[test]
fn a_generated_run_id_resumes_with_the_command_reev_printed_after_kill_9() {
    let p = Project::new();
    p.agents(&[("slow", &["sh", "-c", "sleep 0.3"])])
        .simple_benchmark("a")
        .simple_benchmark("b");
    let log = p.join("stderr.log");
    let mut child = spawn_logged(&p, &["run", "--attempts", "4", "--jobs", "2"], &log);
    let runs = p.join("runs");
    assert!(wait_for(Duration::from_secs(20), || session_files(&runs)
        .len()
        >= 2));
    child.kill().unwrap(); // SIGKILL: reev prints nothing more; its first lines must do.
    child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    let argv = printed_resume(&stderr);
    assert!(
        session_files(&runs).len() < 8,
        "killed too late to test resume"
    );
    run_printed(&p, &argv).ok();
    assert_eq!(session_files(&runs).len(), 8);
    // And the same id is accepted by --run-id for a new run elsewhere: one rule.
    let id = argv[3].clone();
    p.reev(&["run", "--run-id", &id, "--runs-dir", "other"])
        .ok();
}

#[test]
fn ids_with_upper_case_are_one_rule_for_run_ids_benchmarks_and_agents() {
    let p = Project::new();
    p.agents(&[("Agent-A", &["true"])])
        .simple_benchmark("Bench.B");
    p.reev(&["run", "--run-id", "Nightly-2026.A"]).ok();
    p.reev(&["run", "--resume", "Nightly-2026.A"]).ok();
    for bad in ["../x", "-x", ".x", "a/b"] {
        p.reev(&["run", "--run-id", bad]).code(2);
    }
}

/// The agent of the kill tests: records its pid outside the runs tree, marks its events and
/// its scratch dir with a token of its own, sleeps, marks them again, and prints what its
/// scratch dir holds. A session that recorded any other token got another process's writes.
fn marking_agent(p: &Project) -> String {
    let pids = p.join("pids.log");
    format!(
        "tok=\"$$-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \\n')\"; echo $$ >> '{}'; \
         echo \"{{\\\"type\\\":\\\"mark\\\",\\\"tok\\\":\\\"$tok\\\"}}\" >> \"$REEV_EVENTS\"; echo \"$tok\" >> mark; \
         sleep 0.4; \
         echo \"{{\\\"type\\\":\\\"mark\\\",\\\"tok\\\":\\\"$tok\\\"}}\" >> \"$REEV_EVENTS\"; echo \"$tok\" >> mark; \
         echo \"own $tok\"; cat mark",
        pids.display()
    )
}

/// Every session recorded only its own agent's marks, in its events and its scratch dir.
fn assert_no_foreign_writes(p: &Project) {
    for s in p.sessions() {
        let out = s["stdout"]["text"].as_str().unwrap();
        let mut lines = out.lines();
        let own = lines
            .next()
            .and_then(|l| l.strip_prefix("own "))
            .unwrap_or_else(|| panic!("no own token in {out:?}"))
            .to_string();
        for l in lines {
            assert_eq!(
                l, own,
                "session {} found another process's file in its scratch dir: {out}",
                s["session_id"]
            );
        }
        let marks: Vec<&Value> = s["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "mark")
            .collect();
        assert_eq!(marks.len(), 2, "{}", s["events"]);
        for m in marks {
            assert_eq!(
                m["data"]["tok"], own,
                "session {} recorded another process's events",
                s["session_id"]
            );
        }
    }
}

/// A deterministic spread of kill moments between 0.25 s and 1.45 s.
fn moment(i: u64) -> Duration {
    Duration::from_millis(250 + (i * 7919 + 13) % 1200)
}

#[test]
fn kill_9_at_random_moments_then_resume_gives_one_clean_file_per_session() {
    let p = Project::new();
    let script = marking_agent(&p);
    p.agents(&[("m", &["sh", "-c", &script])]);
    for b in ["a", "b", "c", "d"] {
        p.simple_benchmark(b);
    }
    let runs = p.join("runs");
    let log = p.join("stderr.log");
    let mut resume: Option<Vec<String>> = None;
    for round in 0..10u64 {
        let mut child = match &resume {
            None => spawn_logged(&p, &["run", "--attempts", "10", "--jobs", "3"], &log),
            Some(argv) => {
                let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
                spawn_logged(&p, &args, &log)
            }
        };
        std::thread::sleep(moment(round));
        child.kill().unwrap();
        child.wait().unwrap();
        if resume.is_none() {
            resume = Some(printed_resume(&std::fs::read_to_string(&log).unwrap()));
        }
        // Only complete session files, ever.
        for f in session_files(&runs) {
            serde_json::from_slice::<Value>(&std::fs::read(&f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
    }
    assert!(
        session_files(&runs).len() < 40,
        "the kills came too late to test anything"
    );
    run_printed(&p, resume.as_ref().unwrap()).ok();
    assert_eq!(
        session_files(&runs).len(),
        40,
        "one file per planned session"
    );
    assert_eq!(session_ids(&p).len(), 40);
    assert_no_foreign_writes(&p);
    // Scratch areas of the killed reevs are gone; the run's own is removed at its end.
    assert!(!p.run_dir().join("work").exists());
}

/// Session files written by this reev that are open and not yet linked: the unnamed files
/// of a batch in flight (`/proc/PID/fd` shows them as `<dir>/#<inode> (deleted)`).
fn unnamed_in_flight(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .filter(|t| t.contains("/runs/r1/sessions/") && t.ends_with("(deleted)"))
        .count()
}

/// Group commit: `kill -9` while a batch of session files is being made durable (written,
/// synced, not yet linked) leaves each of them absent — never in part, never under a
/// temporary name — and the resume runs exactly the missing sessions; the files written
/// before stay as they were.
#[test]
fn kill_9_during_a_batch_flush_leaves_whole_files_or_none_and_resume_runs_the_rest() {
    let p = Project::new();
    p.agents(&[("fast", &["true"])]);
    for b in ["a", "b", "c", "d", "e", "f"] {
        p.simple_benchmark(b);
    }
    let runs = p.join("runs");
    let log = p.join("stderr.log");
    let mut child = p
        .cmd(&["run", "--run-id", "r1", "--attempts", "3", "--jobs", "4"])
        // Every batch waits between its flush and its links: the kill lands in that window.
        .env("REEV_TEST_COMMIT_PAUSE_MS", "1500")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(
        wait_for(Duration::from_secs(20), || unnamed_in_flight(pid) >= 2),
        "no batch of session files in flight"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let before: BTreeMap<PathBuf, Vec<u8>> = session_files(&runs)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            serde_json::from_slice::<Value>(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, bytes)
        })
        .collect();
    assert!(before.len() <= 18 - 2, "the batch in flight left files");
    let leftovers: Vec<PathBuf> = common::walk(&runs)
        .into_iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let argv = printed_resume(&std::fs::read_to_string(&log).unwrap());
    run_printed(&p, &argv).ok();
    assert_eq!(
        session_files(&runs).len(),
        18,
        "one file per planned session"
    );
    assert_eq!(session_ids(&p).len(), 18);
    for (f, bytes) in &before {
        assert_eq!(&std::fs::read(f).unwrap(), bytes, "{} changed", f.display());
    }
    let status = p.reev(&["status", "--format", "json", "r1"]);
    let s: Value = serde_json::from_str(&status.ok().stdout).unwrap();
    assert_eq!(
        (s[0]["done"].as_u64(), s[0]["succeeded"].as_u64()),
        (Some(18), Some(18))
    );
}

/// Issue 8 part 3b (PID namespaces + PDEATHSIG): `kill -9` of reev takes every agent
/// process with it, including ones that called setsid.
#[test]
fn kill_9_of_reev_leaves_no_agent_alive() {
    let p = Project::new();
    let pids = p.join("pids.log");
    let script = format!(
        "echo $$ >> '{0}'; setsid sh -c 'echo $$ >> \"{0}\"; exec sleep 60' & exec sleep 60",
        pids.display()
    );
    p.agents(&[("s", &["sh", "-c", &script])])
        .simple_benchmark("a");
    let mut child = p
        .cmd(&["run", "--attempts", "4", "--jobs", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&pids)
            .map(|t| t.lines().count() >= 8)
            .unwrap_or(false)
    }));
    child.kill().unwrap();
    child.wait().unwrap();
    // Agents in PID namespaces report their namespace pids: find them from outside instead,
    // as every process whose working directory lies in this project.
    let under = |dir: &Path| -> Vec<i32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| {
                std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c.starts_with(dir))
                    && !dead(pid)
            })
            .collect()
    };
    wait_for(Duration::from_secs(3), || under(p.path()).is_empty());
    let survivors = under(p.path());
    for &pid in &survivors {
        unsafe { libc::kill(pid, libc::SIGKILL) }; // leave nothing behind either way
    }
    assert!(
        survivors.is_empty(),
        "agent processes {survivors:?} outlived reev"
    );
}

/// The `reev run` command of an example file, as argv for `sh -c`, with its environment.
struct ShardJob {
    script: String,
    env: Vec<(String, String)>,
    shards: u32,
}

/// examples/kubernetes/indexed-job.yaml: the Indexed Job's container command and env.
fn kubernetes_job(run_id: &str) -> ShardJob {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/kubernetes/indexed-job.yaml")).unwrap();
    for doc in text.split("\n---\n") {
        let v: Value = serde_saphyr::from_str(doc).unwrap();
        if v["spec"]["completionMode"] != "Indexed" {
            continue;
        }
        let shards = v["spec"]["completions"].as_u64().unwrap() as u32;
        let c = &v["spec"]["template"]["spec"]["containers"][0];
        let mut argv: Vec<String> = c["command"]
            .as_array()
            .unwrap()
            .iter()
            .chain(c["args"].as_array().into_iter().flatten())
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert_eq!(&argv[..2], ["sh", "-c"], "{argv:?}");
        let script = argv.remove(2);
        assert!(script.contains("reev run"), "{script}");
        let mut env = Vec::new();
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap().to_string();
            // The runs tree is the test's own; a run id from the pod's env is pinned.
            let value = match name.as_str() {
                "REEV_RUNS_DIR" => "runs".to_string(),
                "RUN_ID" => run_id.to_string(),
                _ => e["value"].as_str().unwrap_or("x").to_string(),
            };
            env.push((name, value));
        }
        if !env.iter().any(|(k, _)| k == "RUN_ID") {
            env.push(("RUN_ID".into(), run_id.into()));
        }
        return ShardJob {
            script,
            env,
            shards,
        };
    }
    panic!("no Indexed Job in the Kubernetes example");
}

/// examples/github/reev.yml: the shard job's `reev run` step and the matrix.
fn github_job(run_id: &str) -> ShardJob {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/github/reev.yml")).unwrap();
    let v: Value = serde_saphyr::from_str(&text).unwrap();
    let (_, job) = v["jobs"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, j)| j["strategy"]["matrix"]["shard"].is_array())
        .expect("a job with a shard matrix");
    let shards = job["strategy"]["matrix"]["shard"].as_array().unwrap().len() as u32;
    let script = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains("reev run"))
        .expect("a `reev run` step")
        .to_string();
    ShardJob {
        script,
        env: vec![("RUN_ID".into(), run_id.into())],
        shards,
    }
}

/// Substitute what the CI system would: GitHub expressions, the binary's path.
fn github_script(script: &str, shard: u32) -> String {
    let expr = regex::Regex::new(r"\$\{\{\s*([^}]*?)\s*\}\}").unwrap();
    expr.replace_all(script, |c: &regex::Captures| match &c[1] {
        "matrix.shard" => shard.to_string(),
        other => panic!("unexpected expression {other} in {script}"),
    })
    .into_owned()
}

/// A PATH with `reev` (for the pods) first, and `.target/release/reev` (for the workflow).
fn install_reev(p: &Project) -> String {
    let bin = p.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(REEV, bin.join("reev")).unwrap();
    std::fs::create_dir_all(p.join(".target/release")).unwrap();
    std::os::unix::fs::symlink(REEV, p.join(".target/release/reev")).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn shard_project() -> Project {
    let p = Project::new();
    p.agents(&[("t", &["sh", "-c", "sleep 0.05"]), ("u", &["true"])]);
    for b in ["a", "b", "c", "d", "e"] {
        p.simple_benchmark(b);
    }
    p
}

/// `reev list` with the shard command's selection: the whole plan's size.
fn plan_size(p: &Project, script: &str) -> usize {
    let attempts = regex::Regex::new(r"--attempts[ =](\d+)")
        .unwrap()
        .captures(script)
        .map(|c| c[1].to_string())
        .unwrap_or_else(|| "1".into());
    let out = p.reev(&["list", "--attempts", &attempts]);
    out.ok().stdout.lines().skip(1).count()
}

/// Run every shard of `job` at once in `p`, all into `runs/`; all must succeed.
fn run_shards_concurrently(
    p: &Project,
    job: &ShardJob,
    path: &str,
    script: impl Fn(u32) -> String,
) {
    let children: Vec<(u32, Child)> = (1..=job.shards)
        .map(|k| {
            let mut c = std::process::Command::new("sh");
            c.arg("-c")
                .arg(script(k))
                .current_dir(p.path())
                .env("PATH", path)
                .env("JOB_COMPLETION_INDEX", (k - 1).to_string())
                .env_remove("RUST_LOG")
                .env_remove("REEV_RUNS_DIR")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            for (key, v) in &job.env {
                c.env(key, v);
            }
            (k, c.spawn().unwrap())
        })
        .collect();
    for (k, child) in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "shard {k} of {}: {}",
            job.shards,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Each shard resumes alone: remove one session file of shard K, `--resume RUN --shard K/N`
/// puts exactly it back and touches nothing else.
fn each_shard_resumes_alone(p: &Project, run_id: &str, shards: u32) {
    let run_dir = p.join("runs").join(run_id);
    for k in 1..=shards {
        let m: Value = serde_json::from_slice(
            &std::fs::read(run_dir.join(format!("run.shard-{k}-of-{shards}.json"))).unwrap(),
        )
        .unwrap();
        let t = &m["plan"][0];
        let file = run_dir.join(format!(
            "sessions/{}/{}@{}.json",
            t["agent"].as_str().unwrap(),
            t["benchmark_id"].as_str().unwrap(),
            t["attempt"]
        ));
        std::fs::remove_file(&file).unwrap();
        let before: BTreeMap<PathBuf, Vec<u8>> = session_files(&p.join("runs"))
            .into_iter()
            .map(|f| {
                let b = std::fs::read(&f).unwrap();
                (f, b)
            })
            .collect();
        let out = p.reev(&[
            "run",
            "--resume",
            run_id,
            "--shard",
            &format!("{k}/{shards}"),
        ]);
        out.ok();
        assert!(file.exists(), "shard {k} did not redo {}", file.display());
        for (f, bytes) in before {
            assert_eq!(
                std::fs::read(&f).unwrap(),
                bytes,
                "{} was rewritten",
                f.display()
            );
        }
    }
}

fn check_example(job: ShardJob, run_id: &str, script: impl Fn(u32) -> String) {
    let p = shard_project();
    let path = install_reev(&p);
    assert!(job.shards >= 2, "the example runs {} shards", job.shards);
    run_shards_concurrently(&p, &job, &path, &script);
    let planned = plan_size(&p, &job.script);
    assert_eq!(
        session_files(&p.join("runs")).len(),
        planned,
        "sessions = plan"
    );
    assert_eq!(session_ids(&p).len(), planned);
    each_shard_resumes_alone(&p, run_id, job.shards);
    // One after another works too: a shard of the same run started again is refused, not
    // run twice.
    let again = std::process::Command::new("sh")
        .arg("-c")
        .arg(script(1))
        .current_dir(p.path())
        .env("PATH", &path)
        .env("JOB_COMPLETION_INDEX", "0")
        .envs(job.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("REEV_RUNS_DIR")
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(session_files(&p.join("runs")).len(), planned);
}

#[test]
fn kubernetes_example_shards_run_concurrently_into_one_tree() {
    let run_id = "nightly-k8s-1";
    let job = kubernetes_job(run_id);
    let script = job.script.clone();
    check_example(job, run_id, move |_| script.clone());
}

#[test]
fn github_example_shards_run_concurrently_into_one_tree() {
    let run_id = "gh-4242";
    let job = github_job(run_id);
    let script = job.script.clone();
    check_example(job, run_id, move |k| github_script(&script, k));
}

#[test]
fn an_unsharded_run_and_shards_of_one_id_do_not_mix() {
    let p = shard_project();
    p.reev(&["run", "--run-id", "one"]).ok();
    p.reev(&["run", "--run-id", "one", "--shard", "1/2"])
        .code(2)
        .stderr_has("unsharded");
    p.reev(&["run", "--run-id", "two", "--shard", "1/2"]).ok();
    p.reev(&["run", "--run-id", "two", "--shard", "2/3"])
        .code(2)
        .stderr_has("same N");
    p.reev(&["run", "--run-id", "two"]).code(2);
    // Resuming without --shard when several shards are there says which to pick.
    p.reev(&["run", "--run-id", "two", "--shard", "2/2"]).ok();
    p.reev(&["run", "--resume", "two"])
        .code(2)
        .stderr_has("--shard K/N");
}
