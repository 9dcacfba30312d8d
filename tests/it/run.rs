//! `reev run`: execution, session files, timeouts, caps, signals, resume, parallelism, shards.

use crate::common;
use crate::common::{dead, session_files, wait_for, Project};
use serde_json::Value;
use std::time::Duration;

#[test]
fn shipped_suite_deterministic_agent_scores_one() {
    let p = Project::new();
    let runs = p.join("runs");
    let runs = runs.to_str().expect("a UTF-8 temp path");
    let out = common::reev_in_repo(&["run", "--agent", "deterministic", "--runs-dir", runs]);
    out.ok();
    let sessions = p.sessions();
    assert!(sessions.len() >= 12);
    for s in &sessions {
        assert_eq!(s["status"], "succeeded", "{}", s["benchmark_id"]);
        assert_eq!(s["score"], 1.0);
        assert!(
            !s["events"].as_array().unwrap().is_empty(),
            "agent events become the trace"
        );
        assert!(s["metrics"]["steps"].is_number());
    }
    let stdout = &out.stdout;
    assert!(stdout.contains("deterministic"), "{stdout}");
    assert!(stdout.contains("run: "), "{stdout}");
}

#[test]
fn session_file_has_the_documented_fields() {
    let p = Project::new();
    p.agents(&[("echo", &["sh", "-c", "echo hello; echo oops >&2; exit 3"])]);
    p.write(
        "benchmarks/b.yml",
        "id: b\ndescription: d\nprompt: p\ninitial_state:\n  - path: data/in.json\n    json: {n: 2}\nground_truth:\n  pass_threshold: 0.5\n  assertions:\n    - exit_code: 3\n      weight: 3\n    - stdout_equals: nope\n",
    );
    p.reev(&["run", "--run-id", "r1"]).ok();
    let s = &p.sessions()[0];
    for field in [
        "schema_version",
        "session_id",
        "run_id",
        "benchmark_id",
        "benchmark_sha256",
        "agent",
        "agent_command",
        "attempt",
        "status",
        "score",
        "pass_threshold",
        "assertions",
        "exit_code",
        "signal",
        "started_at",
        "finished_at",
        "duration_ms",
        "cpu_user_ms",
        "cpu_system_ms",
        "peak_rss_bytes",
        "stdout",
        "stderr",
        "events",
        "metrics",
        "host",
        "reev_version",
    ] {
        assert!(s.get(field).is_some(), "missing {field}");
    }
    assert_eq!(s["schema_version"], 1);
    assert_eq!(s["run_id"], "r1");
    assert_eq!(s["exit_code"], 3);
    assert_eq!(s["score"], 0.75);
    assert_eq!(s["status"], "succeeded");
    assert_eq!(s["stdout"]["text"], "hello\n");
    assert_eq!(s["stderr"]["text"], "oops\n");
    let a = &s["assertions"][1];
    assert_eq!(a["type"], "stdout_equals");
    assert_eq!(a["passed"], false);
    assert_eq!(a["expected"], "nope");
    assert!(s["started_at"].as_str().unwrap().ends_with('Z'));
    let bytes = std::fs::read(p.join("benchmarks/b.yml")).unwrap();
    let digest = sha256_hex(&bytes);
    assert_eq!(s["benchmark_sha256"], digest.as_str());
    // The manifest was written, with the plan.
    let m: Value =
        serde_json::from_slice(&std::fs::read(p.join("runs/r1/run.json")).unwrap()).unwrap();
    assert_eq!(m["plan"].as_array().unwrap().len(), 1);
    assert_eq!(m["plan"][0]["session_id"], s["session_id"]);
    // Scratch directories are removed afterwards.
    assert!(!p.join("runs/r1/work").exists());
}

/// Shell text that starts `cmd` in the background and waits until it has written its pid as
/// the test sees it to `file`. `$!` will not do: inside the agent's PID namespace it is a
/// namespace pid; /proc/self/stat (of the host's /proc) names the pid outside. The file is
/// written whole by a rename, so a test listing the directory never reads it empty.
fn bg(cmd: &str, file: &str) -> String {
    format!(
        "sh -c 't=$(mktemp); cut -d\" \" -f4 /proc/self/stat > \"$t\"; mv \"$t\" \"{file}\"; exec {cmd}' & \
         while [ ! -s \"{file}\" ]; do sleep 0.01; done;"
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn prompt_with_shell_metacharacters_arrives_byte_for_byte() {
    let p = Project::new();
    let prompt = "$(touch pwned1); `touch pwned2` && rm -rf ./x || echo \"dq\" 'sq' > out.txt | cat; * ? [a] ~ # ! \\ {events} %s\n\ttab";
    p.agents(&[(
        "probe",
        &[
            "python3",
            "-c",
            "import sys, os, json; print(json.dumps({'argv': sys.argv[1], 'env': os.environ['REEV_PROMPT'], 'stdin': sys.stdin.read()}))",
            "{prompt}",
        ],
    )]);
    let yaml_prompt = serde_json::to_string(prompt).unwrap();
    p.write(
        "benchmarks/meta.yml",
        &format!("id: meta\ndescription: d\nprompt: {yaml_prompt}\nground_truth:\n  assertions:\n    - exit_code: 0\n"),
    );
    p.reev(&["run", "--keep-workdirs"]).ok();
    let s = &p.sessions()[0];
    let seen: Value =
        serde_json::from_str(s["stdout"]["text"].as_str().unwrap()).expect("agent output");
    assert_eq!(seen["argv"], prompt);
    assert_eq!(seen["env"], prompt);
    assert_eq!(seen["stdin"], prompt);
    let files = common::walk(p.path());
    assert!(
        !files.iter().any(|f| f.to_string_lossy().contains("pwned")),
        "{files:?}"
    );
    assert!(!files.iter().any(|f| f.ends_with("out.txt")));
}

#[test]
fn agent_receives_the_reev_environment_and_its_events_become_the_trace() {
    let p = Project::new();
    p.agents(&[(
        "env",
        &[
            "sh",
            "-c",
            "echo \"$REEV_SESSION_ID $REEV_BENCHMARK_ID $REEV_ATTEMPT $REEV_BENCHMARK_DIR\"; pwd; \
             echo '{\"type\":\"tool_call\",\"name\":\"ls\",\"input\":{}}' >> \"$REEV_EVENTS\"; \
             echo 'this is not json' >> \"$REEV_EVENTS\"; \
             echo '{\"type\":\"metric\",\"name\":\"tokens\",\"value\":12.5}' >> \"$REEV_EVENTS\"",
        ],
    )])
    .simple_benchmark("envb");
    p.reev(&["run", "--attempts", "2"]).ok();
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 2);
    for s in &sessions {
        let text = s["stdout"]["text"].as_str().unwrap();
        let first: Vec<&str> = text.lines().next().unwrap().split(' ').collect();
        assert_eq!(first[0], s["session_id"].as_str().unwrap());
        assert_eq!(first[1], "envb");
        assert_eq!(first[2], s["attempt"].to_string());
        let bdir = p.join("benchmarks").canonicalize().unwrap();
        assert_eq!(first[3], bdir.to_str().unwrap());
        assert!(
            text.lines().nth(1).unwrap().ends_with("/scratch"),
            "cwd is the scratch dir: {text}"
        );
        let kinds: Vec<&str> = s["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["tool_call", "error", "metric"]);
        assert_eq!(s["events"][1]["raw"], "this is not json");
        assert_eq!(s["metrics"]["tokens"], 12.5);
    }
    assert_ne!(sessions[0]["session_id"], sessions[1]["session_id"]);
}

#[test]
fn initial_state_and_assertions_over_files_and_json() {
    let p = Project::new();
    p.agents(&[(
        "w",
        &["sh", "-c", "cat seed/a.txt > copy.txt; echo '{\"n\": 5, \"s\": \"x\"}'; echo '{\"v\": [1, 2.0]}' > out.json"],
    )]);
    p.write(
        "benchmarks/f.yml",
        "id: f\ndescription: d\nprompt: p\ntimeout: 10s\ninitial_state:\n  - path: seed/a.txt\n    content: \"seeded text\\n\"\n  - path: run.sh\n    content: \"#!/bin/sh\\n\"\n    executable: true\nground_truth:\n  assertions:\n    - file_exists: copy.txt\n    - file_contains: {path: copy.txt, value: seeded}\n    - json_value: {path: /n, at_least: 5, at_most: 5}\n    - json_value: {path: s, equals: x}\n    - json_value: {file: out.json, path: /v/1, equals: 2}\n    - stdout_matches: '\"n\": \\d'\n    - stdout_contains: '\"s\"'\n    - duration_at_most: 10s\n    - file_exists: missing.txt\n    - json_value: {file: out.json, path: /v/0, at_least: 2}\n",
    );
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    let passed: Vec<bool> = s["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["passed"].as_bool().unwrap())
        .collect();
    assert_eq!(
        passed,
        [true, true, true, true, true, true, true, true, false, false]
    );
    assert_eq!(s["status"], "failed");
    assert_eq!(s["score"], 0.8);
}

/// Run reev in the project, killing it (and failing) if it does not exit within `limit`.
fn run_within(p: &Project, args: &[&str], limit: Duration) -> common::Out {
    let started = std::time::Instant::now();
    let mut child = p
        .cmd(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn reev");
    let pid = child.id() as i32;
    if !wait_for(limit, || dead(pid)) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("reev {args:?} still running after {limit:?}");
    }
    let out = child.wait_with_output().expect("reev output");
    common::Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

fn messages(s: &Value) -> Vec<String> {
    s["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["passed"], false, "{a}");
            a["message"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_fifo_where_reev_reads_fails_the_assertion_instead_of_hanging() {
    let p = Project::new();
    p.agents(&[(
        "f",
        &["sh", "-c", "mkfifo out.txt out.json \"$REEV_EVENTS\""],
    )]);
    p.write(
        "benchmarks/b.yml",
        "id: b\ndescription: d\nprompt: p\ntimeout: 5s\nground_truth:\n  assertions:\n    - file_contains: {path: out.txt, value: x}\n    - json_value: {file: out.json, path: /a, equals: 1}\n    - file_exists: out.txt\n",
    );
    let out = run_within(&p, &["run"], Duration::from_secs(30));
    out.ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "failed");
    for m in messages(s) {
        assert!(m.contains("is a FIFO, not a regular file"), "{m}");
    }
    let events = s["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = events[0]["error"].as_str().unwrap();
    assert!(e.contains("events file") && e.contains("FIFO"), "{e}");
}

#[test]
fn sigterm_stops_reev_in_a_run_of_agents_that_leave_fifos_behind() {
    let p = Project::new();
    p.agents(&[(
        "f",
        &["sh", "-c", "mkfifo out.txt \"$REEV_EVENTS\"; sleep 0.1"],
    )]);
    p.write(
        "benchmarks/b.yml",
        "id: b\ndescription: d\nprompt: p\ntimeout: 60s\nground_truth:\n  assertions:\n    - file_contains: {path: out.txt, value: x}\n",
    );
    let mut child = p
        .cmd(&["run", "--jobs", "1", "--attempts", "200"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as i32;
    let some_written = || !session_files(&p.join("runs")).is_empty();
    let progressed = wait_for(Duration::from_secs(20), some_written);
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let stopped = wait_for(Duration::from_secs(15), || dead(pid));
    if !stopped {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    assert!(
        progressed,
        "no session finished: reev hangs on the agent's FIFO"
    );
    assert!(stopped, "reev ignored SIGTERM");
    assert_eq!(status.code(), Some(143));
}

#[test]
fn assertions_read_at_most_the_cap_and_reev_memory_stays_bounded() {
    let p = Project::new();
    p.agents(&[(
        "big",
        &[
            "sh",
            "-c",
            // Two sparse 1 GiB files, and a JSON array of 4 million zeros just under the cap.
            "truncate -s 1G out.json; truncate -s 1G out.txt; { printf '['; yes 0, | head -n 4000000 | tr -d '\\n'; printf '0]'; } > small.json",
        ],
    )]);
    p.write(
        "benchmarks/b.yml",
        "id: b\ndescription: d\nprompt: p\ntimeout: 30s\nground_truth:\n  assertions:\n    - json_value: {file: out.json, path: /a, equals: 1}\n    - file_contains: {path: out.txt, value: x}\n    - json_value: {file: small.json, path: /4000000, equals: 0}\n",
    );
    // reev's own peak RSS (and its agent's): the largest child of a small Python wrapper.
    let wrapper = "import resource, subprocess, sys\nr = subprocess.run(sys.argv[1:])\nprint(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\nsys.exit(r.returncode)";
    let out = std::process::Command::new("python3")
        .args(["-c", wrapper, common::REEV, "run"])
        .current_dir(p.path())
        .env_remove("RUST_LOG")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let peak_kib: u64 = stdout.lines().last().unwrap().trim().parse().unwrap();
    // As a whole serde_json::Value the array alone would take over 300 MB.
    assert!(peak_kib < 100 * 1024, "reev peaked at {peak_kib} KiB");
    let s = &p.sessions()[0];
    let a = s["assertions"].as_array().unwrap();
    for big in &a[..2] {
        assert_eq!(big["passed"], false);
        let m = big["message"].as_str().unwrap();
        assert!(
            m.contains("is 1073741824 bytes, over the limit of 8388608 bytes (8 MiB)"),
            "{m}"
        );
    }
    assert_eq!(
        a[2]["passed"], true,
        "files under the cap are read: {}",
        a[2]
    );
}

#[test]
fn a_scratch_dir_swapped_for_a_symlink_is_neither_read_nor_emptied() {
    let p = Project::new();
    let outside = p.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        outside.join("canary.txt"),
        "{\"type\":\"leak\",\"secret\":\"s3cr3t\"}\n",
    )
    .unwrap();
    std::fs::write(outside.join("out.txt"), "s3cr3t").unwrap();
    let o = outside.to_str().unwrap();
    let swap = format!(
        "rm -rf \"$REEV_WORKDIR\"; ln -s {o} \"$REEV_WORKDIR\"; ln -s {o}/canary.txt \"$REEV_EVENTS\""
    );
    p.agents(&[("swap", &["sh", "-c", &swap])]);
    p.write(
        "benchmarks/b.yml",
        "id: b\ndescription: d\nprompt: p\ntimeout: 10s\nground_truth:\n  assertions:\n    - file_contains: {path: out.txt, value: s3cr3t}\n    - file_exists: canary.txt\n    - json_value: {file: canary.txt, path: /secret, equals: s3cr3t}\n",
    );
    // One worker, two attempts: the second session prepares the directory the first replaced.
    p.reev(&["run", "--jobs", "1", "--attempts", "2"]).ok();
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 2);
    for s in &sessions {
        for a in s["assertions"].as_array().unwrap() {
            assert_eq!(a["passed"], false, "read through the link: {a}");
            assert!(!a["actual"].to_string().contains("s3cr3t"), "leaked: {a}");
        }
        let events = s["events"].as_array().unwrap();
        assert_eq!(
            events.len(),
            1,
            "the linked events file was read: {events:?}"
        );
        let e = events[0]["error"].as_str().unwrap();
        assert!(e.contains("symbolic link"), "{e}");
    }
    assert!(
        outside.join("canary.txt").is_file(),
        "the outside dir was emptied"
    );
    assert!(
        outside.join("out.txt").is_file(),
        "the outside dir was emptied"
    );
}

#[test]
fn read_only_and_deep_trees_left_by_an_agent_are_removed_without_following_links() {
    let p = Project::new();
    let outside = p.join("outside");
    std::fs::create_dir_all(outside.join("keep")).unwrap();
    std::fs::write(outside.join("keep/canary.txt"), "c").unwrap();
    let o = outside.to_str().unwrap();
    let mess = format!(
        "d=.; for i in $(seq 300); do d=$d/n; done; mkdir -p $d; touch $d/f; ln -s {o} link; ln -s {o}/keep n/inner; mkdir ro; touch ro/f; chmod 500 ro; mkdir locked; chmod 000 locked; chmod 500 n"
    );
    p.agents(&[("mess", &["sh", "-c", &mess])]);
    p.simple_benchmark("b");
    p.reev(&["run", "--jobs", "1", "--attempts", "2"]).ok();
    assert_eq!(
        p.sessions().len(),
        2,
        "the second session's scratch dir was prepared"
    );
    let run = p.run_dir();
    assert!(
        !run.join("work").exists(),
        "scratch area removed after the run"
    );
    assert!(
        outside.join("keep/canary.txt").is_file(),
        "a link was followed"
    );
}

#[test]
fn a_session_dir_left_read_only_does_not_stop_later_sessions_on_its_worker() {
    let p = Project::new();
    // The events file's directory is the worker's session dir: an agent can chmod it, and
    // (second variant) remove its scratch dir first so reev must recreate it.
    let ro = r#"echo '{"type":"x"}' >> "$REEV_EVENTS"; chmod 500 "$(dirname "$REEV_EVENTS")""#;
    let gone = r#"echo '{"type":"x"}' >> "$REEV_EVENTS"; cd /; rm -rf "$REEV_WORKDIR"; chmod 500 "$(dirname "$REEV_EVENTS")""#;
    p.agents(&[("ro", &["sh", "-c", ro]), ("gone", &["sh", "-c", gone])]);
    p.simple_benchmark("b");
    p.reev(&["run", "--jobs", "1", "--attempts", "3"]).ok();
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 6, "every session recorded");
    for s in &sessions {
        assert_eq!(s["events"].as_array().unwrap().len(), 1, "{s}");
    }
    assert!(!p.run_dir().join("work").exists(), "scratch area removed");
}

#[test]
fn durations_out_of_range_are_usage_errors_never_panics() {
    let p = Project::new();
    p.agents(&[("ok", &["true"])]);
    p.simple_benchmark("b");
    for (flag, value) in [
        ("--timeout", "1e300"),
        ("--timeout", "1e19"),
        ("--timeout", "0"),
        ("--timeout", "0s"),
        ("--timeout", "8days"),
        ("--timeout", "-1"),
        ("--timeout", "NaN"),
        ("--kill-grace", "1e19"),
        ("--kill-grace", "1e300"),
    ] {
        let out = p.reev(&["run", &format!("{flag}={value}")]);
        out.code(2).stderr_has(flag);
        assert!(
            out.stderr.contains("out of range") || out.stderr.contains("non-negative"),
            "{value}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    for (var, value, cmd) in [
        ("REEV_TIMEOUT", "1e19", "run"),
        ("REEV_TIMEOUT", "0", "run"),
        ("REEV_WAIT", "1e300", "load"),
    ] {
        let out = common::Out::from(p.cmd(&[cmd]).env(var, value).output().unwrap());
        out.code(2).stderr_has("out of range");
    }
    for args in [
        &["load", "--wait", "1e19"][..],
        &["load", "--wait", "1e300"],
        &["query", "--wait", "1e19", "SELECT 1"],
    ] {
        p.reev(args)
            .code(2)
            .stderr_has("--wait")
            .stderr_has("out of range");
    }
    p.write(
        "reev.yml",
        "settings:\n  timeout: 1e19\nagents:\n  ok:\n    command: [\"true\"]\n",
    );
    p.reev(&["run"])
        .code(2)
        .stderr_has("reev.yml")
        .stderr_has("settings.timeout")
        .stderr_has("out of range");
    p.write(
        "reev.yml",
        "settings:\n  wait: 1e19\nagents:\n  ok:\n    command: [\"true\"]\n",
    );
    p.reev(&["load"]).code(2).stderr_has("settings.wait");
    // Nothing ran: no agent was left behind by a panic.
    assert!(p.sessions().is_empty());
    // The edges of the range are accepted: a wait of 0 and a time limit of 7 days.
    p.write("reev.yml", "agents:\n  ok:\n    command: [\"true\"]\n");
    p.reev(&["run", "--timeout", "7days", "--kill-grace", "0"])
        .ok();
    assert_eq!(p.sessions()[0]["timeout_ms"], 604_800_000u64);
}

#[test]
fn agent_that_cannot_start_is_an_error_session_and_the_run_goes_on() {
    let p = Project::new();
    p.write("noexec.sh", "#!/bin/sh\necho hi\n");
    let noexec = p.join("noexec.sh").to_string_lossy().into_owned();
    p.agents(&[
        ("missing", &["/nonexistent/agent-binary"]),
        ("noperm", &[noexec.as_str()]),
        ("fine", &["true"]),
    ])
    .simple_benchmark("x");
    let out = p.reev(&["run"]);
    out.ok();
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 3);
    for s in &sessions {
        match s["agent"].as_str().unwrap() {
            "fine" => assert_eq!(s["status"], "succeeded"),
            other => {
                assert_eq!(s["status"], "error", "{other}");
                let e = s["error"].as_str().unwrap();
                assert!(e.contains("cannot start agent"), "{e}");
                assert!(
                    e.contains("No such file") || e.contains("Permission denied"),
                    "{e}"
                );
            }
        }
    }
    assert!(out.stdout.contains("missing"));
}

#[test]
fn fail_on_failed_exits_one_but_failures_are_data_otherwise() {
    let p = Project::new();
    p.agents(&[("no", &["false"])]).simple_benchmark("x");
    p.reev(&["run"]).ok();
    p.reev(&["run", "--fail-on-failed"]).code(1);
    assert_eq!(p.sessions().len(), 2);
}

#[test]
fn timeout_kills_the_group_even_with_a_background_child_holding_stdout() {
    let p = Project::new();
    p.agents(&[(
        "hang",
        &[
            "sh",
            "-c",
            format!(
                "trap '' TERM; {} echo started; sleep 60",
                bg("sleep 60", "$REEV_WORKDIR/../../../../../bg.pid")
            )
            .as_str(),
        ],
    )])
    // The agent writes into the runs tree on purpose (read-only by default).
    .unprotected()
    .simple_benchmark("h");
    let out = p.reev(&["run", "--timeout", "1s", "--kill-grace", "1s"]);
    out.ok();
    // 1 s timeout + 1 s grace (TERM is ignored, so SIGKILL is needed) + a little.
    assert!(
        out.elapsed < Duration::from_millis(4500),
        "took {:?}",
        out.elapsed
    );
    assert!(
        out.elapsed >= Duration::from_millis(1900),
        "grace not honoured: {:?}",
        out.elapsed
    );
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "timed_out");
    assert_eq!(s["signal"], 9);
    assert_eq!(s["stdout"]["text"], "started\n");
    let pid: i32 = std::fs::read_to_string(p.join("runs/bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(2), || dead(pid)),
        "background child {pid} survived"
    );
}

#[test]
fn agent_exit_kills_what_it_left_behind_without_waiting_for_it() {
    let p = Project::new();
    p.agents(&[(
        "leave",
        &[
            "sh",
            "-c",
            format!(
                "{} echo done",
                bg("sleep 60", "$REEV_WORKDIR/../../../../../bg.pid")
            )
            .as_str(),
        ],
    )])
    // The agent writes into the runs tree on purpose (read-only by default).
    .unprotected()
    .simple_benchmark("l");
    let out = p.reev(&["run", "--timeout", "30s"]);
    out.ok();
    assert!(
        out.elapsed < Duration::from_secs(5),
        "waited for the background child: {:?}",
        out.elapsed
    );
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded");
    assert_eq!(s["stdout"]["text"], "done\n");
    let pid: i32 = std::fs::read_to_string(p.join("runs/bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(2), || dead(pid)),
        "left-behind child {pid} survived"
    );
}

#[test]
fn output_is_captured_concurrently_and_capped() {
    let p = Project::new();
    p.agents(&[(
        "loud",
        &["sh", "-c", "(head -c 3000000 /dev/zero | tr '\\0' e >&2) & head -c 3000000 /dev/zero | tr '\\0' o; wait"],
    )])
    // The agent writes into the runs tree on purpose (read-only by default).
    .unprotected()
    .simple_benchmark("loud");
    let out = p.reev(&["run", "--timeout", "20s"]);
    out.ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded");
    for (stream, ch) in [("stdout", 'o'), ("stderr", 'e')] {
        assert_eq!(s[stream]["bytes_total"], 3_000_000, "{stream}");
        assert_eq!(s[stream]["truncated"], true, "{stream}");
        let text = s[stream]["text"].as_str().unwrap();
        assert_eq!(text.len(), 1024 * 1024, "{stream}");
        assert!(text.chars().all(|c| c == ch));
    }
}

#[test]
fn records_cpu_and_memory() {
    let p = Project::new();
    p.agents(&[(
        "busy",
        &[
            "python3",
            "-c",
            "x = bytearray(64 * 1024 * 1024); s = sum(range(3_000_000))",
        ],
    )])
    .simple_benchmark("busy");
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert!(
        s["peak_rss_bytes"].as_u64().unwrap() >= 64 * 1024 * 1024,
        "{}",
        s["peak_rss_bytes"]
    );
    assert!(s["cpu_user_ms"].as_u64().unwrap() + s["cpu_system_ms"].as_u64().unwrap() > 0);
    assert!(s["duration_ms"].as_u64().unwrap() > 0);
}

#[test]
fn sessions_really_run_in_parallel() {
    let p = Project::new();
    p.agents(&[("sleepy", &["sleep", "1"])])
        .simple_benchmark("s");
    let out = p.reev(&["run", "--attempts", "8", "--jobs", "2"]);
    out.ok();
    // Eight 1-second sessions, two at a time: about 4 s, not 8 (and not less than 4).
    assert!(
        out.elapsed >= Duration::from_millis(3900),
        "{:?}",
        out.elapsed
    );
    assert!(
        out.elapsed < Duration::from_millis(6500),
        "{:?}",
        out.elapsed
    );
    // Never more than two at once: check overlap from the recorded times.
    let mut spans: Vec<(String, String)> = p
        .sessions()
        .iter()
        .map(|s| {
            (
                s["started_at"].as_str().unwrap().into(),
                s["finished_at"].as_str().unwrap().into(),
            )
        })
        .collect();
    spans.sort();
    for (i, (start, _)) in spans.iter().enumerate() {
        let running = spans[..i].iter().filter(|(_, end)| end > start).count();
        assert!(running <= 1, "more than 2 sessions at once at {start}");
    }
}

#[test]
fn run_ids_sort_by_time_and_never_collide() {
    let p = Project::new();
    p.agents(&[("t", &["true"])]).simple_benchmark("a");
    for _ in 0..3 {
        p.reev(&["run"]).ok();
    }
    let mut ids: Vec<String> = std::fs::read_dir(p.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    let created: Vec<String> = ids
        .iter()
        .map(|id| {
            let m: Value = serde_json::from_slice(
                &std::fs::read(p.join(&format!("runs/{id}/run.json"))).unwrap(),
            )
            .unwrap();
            m["created_at"].as_str().unwrap().to_string()
        })
        .collect();
    let mut by_time: Vec<(String, String)> = created.into_iter().zip(ids.clone()).collect();
    by_time.sort();
    ids.sort();
    assert_eq!(
        by_time.into_iter().map(|(_, id)| id).collect::<Vec<_>>(),
        ids
    );
}

#[test]
fn an_existing_run_is_never_overwritten() {
    let p = Project::new();
    p.agents(&[("t", &["true"])]).simple_benchmark("a");
    p.reev(&["run", "--run-id", "fixed"]).ok();
    let files = session_files(&p.join("runs"));
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    p.reev(&["run", "--run-id", "fixed"])
        .code(2)
        .stderr_has("already exists");
    // Resuming a complete run runs nothing and changes nothing.
    let out = p.reev(&["run", "--resume", "fixed"]);
    out.ok();
    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(before, after);
    assert_eq!(session_files(&p.join("runs")).len(), 1);
}

#[test]
fn a_session_file_that_appears_meanwhile_is_not_overwritten() {
    let p = Project::new();
    // The agent plants a file where reev is about to write this session's file.
    p.agents(&[(
        "squatter",
        &["sh", "-c", "d=\"$REEV_WORKDIR/../../../../sessions/squatter\"; mkdir -p \"$d\"; echo planted > \"$d/a@1.json\""],
    )])
    // The agent writes into the runs tree on purpose (read-only by default).
    .unprotected()
    .simple_benchmark("a");
    let out = p.reev(&["run", "--run-id", "r"]);
    out.code(2).stderr_has("never overwritten");
    assert_eq!(
        std::fs::read_to_string(p.join("runs/r/sessions/squatter/a@1.json")).unwrap(),
        "planted\n"
    );
    let leftovers: Vec<_> = common::walk(&p.join("runs"))
        .into_iter()
        .filter(|f| f.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn sigterm_stops_cleanly_with_no_partial_file_and_no_orphans() {
    let p = Project::new();
    p.agents(&[(
        "slow",
        &[
            "sh",
            "-c",
            format!(
                "mkdir -p \"$REEV_WORKDIR/../../../../../pids\"; {} wait",
                bg(
                    "sleep 60",
                    "$REEV_WORKDIR/../../../../../pids/$REEV_SESSION_ID"
                )
            )
            .as_str(),
        ],
    )])
    // The agent writes into the runs tree on purpose (read-only by default).
    .unprotected()
    .simple_benchmark("a");
    let mut child = p
        .cmd(&["run", "--attempts", "5", "--jobs", "2", "--run-id", "r"])
        .spawn()
        .unwrap();
    let pids_dir = p.join("runs/pids");
    assert!(wait_for(Duration::from_secs(10), || std::fs::read_dir(
        &pids_dir
    )
    .map(|d| d.count() >= 2)
    .unwrap_or(false)));
    let t0 = std::time::Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    assert!(
        session_files(&p.join("runs")).is_empty(),
        "no session file for killed sessions"
    );
    let tmp: Vec<_> = common::walk(&p.join("runs"))
        .into_iter()
        .filter(|f| f.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    for e in std::fs::read_dir(&pids_dir).unwrap().flatten() {
        let pid: i32 = std::fs::read_to_string(e.path())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            wait_for(Duration::from_secs(2), || dead(pid)),
            "orphan {pid} survived"
        );
    }
    // Resume finishes it: the agent now exits at once.
    p.agents(&[("slow", &["true"])]);
    p.reev(&["run", "--resume", "r"]).ok();
    assert_eq!(session_files(&p.join("runs")).len(), 5);
}

#[test]
fn kill_9_then_resume_runs_exactly_the_missing_sessions() {
    let p = Project::new();
    p.agents(&[(
        "a",
        &[
            "sh",
            "-c",
            "sleep 0.3; echo \"$REEV_SESSION_ID\" >> \"$REEV_WORKDIR/../../../../../ran.log\"",
        ],
    )])
    // The agent writes into the runs tree on purpose (read-only by default).
    .unprotected()
    .simple_benchmark("x")
    .simple_benchmark("y");
    let mut child = p
        .cmd(&["run", "--attempts", "6", "--jobs", "2", "--run-id", "k"])
        .spawn()
        .unwrap();
    let runs = p.join("runs");
    assert!(wait_for(Duration::from_secs(20), || session_files(&runs)
        .len()
        >= 3));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(700)); // let orphaned agents finish
    let before = session_files(&runs);
    assert!(before.len() < 12, "killed too late to test resume");
    for f in &before {
        serde_json::from_slice::<Value>(&std::fs::read(f).unwrap()).expect("only complete files");
    }
    let snapshot: Vec<(std::path::PathBuf, Vec<u8>)> = before
        .iter()
        .map(|f| (f.clone(), std::fs::read(f).unwrap()))
        .collect();
    std::fs::remove_file(p.join("runs/ran.log")).ok();
    p.reev(&["run", "--resume", "k"]).ok();
    let after = session_files(&runs);
    assert_eq!(after.len(), 12, "exactly one file per planned session");
    let ran: Vec<String> = std::fs::read_to_string(p.join("runs/ran.log"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        ran.len(),
        12 - before.len(),
        "resume ran exactly the missing sessions"
    );
    for (f, bytes) in snapshot {
        assert_eq!(
            std::fs::read(&f).unwrap(),
            bytes,
            "{} was rewritten",
            f.display()
        );
    }
    let ids: std::collections::BTreeSet<String> = p
        .sessions()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 12);
}

#[test]
fn shards_split_the_run_and_merge_into_the_whole() {
    let whole = Project::new();
    whole.agents(&[("t", &["true"]), ("u", &["true"])]);
    for b in ["a", "b", "c", "d", "e"] {
        whole.simple_benchmark(b);
    }
    whole
        .reev(&["run", "--run-id", "sharded", "--attempts", "2"])
        .ok();
    let all: std::collections::BTreeSet<String> = whole
        .sessions()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), 20);
    let mut merged = std::collections::BTreeSet::new();
    for k in 1..=3 {
        let dir = whole.join(&format!("shard{k}"));
        whole
            .reev(&[
                "run",
                "--run-id",
                "sharded",
                "--attempts",
                "2",
                "--shard",
                &format!("{k}/3"),
                "--runs-dir",
                dir.to_str().unwrap(),
            ])
            .ok();
        assert!(dir
            .join(format!("sharded/run.shard-{k}-of-3.json"))
            .exists());
        for f in session_files(&dir) {
            let s: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            assert!(
                merged.insert(s["session_id"].as_str().unwrap().to_string()),
                "shards overlap"
            );
        }
    }
    assert_eq!(merged, all);
}

#[test]
fn a_prompt_too_long_for_the_environment_still_arrives_on_stdin() {
    let p = Project::new();
    p.agents(&[(
        "count",
        &[
            "sh",
            "-c",
            "printf '%s ' \"${REEV_PROMPT:-unset}\" | head -c 6; wc -c",
        ],
    )]);
    let prompt = "x".repeat(300 * 1024);
    p.write(
        "benchmarks/big.yml",
        &format!("id: big\ndescription: d\nprompt: {prompt}\nground_truth:\n  assertions:\n    - exit_code: 0\n"),
    );
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded", "{}", s["error"]);
    let out = s["stdout"]["text"].as_str().unwrap();
    assert!(out.starts_with("unset "), "{out}");
    assert_eq!(out[6..].trim(), (300 * 1024).to_string());
}

#[test]
fn a_second_reev_on_the_same_run_exits_at_once() {
    let p = Project::new();
    p.agents(&[("slow", &["sleep", "0.5"])])
        .simple_benchmark("a");
    let first = p
        .cmd(&["run", "--run-id", "r", "--attempts", "4", "--jobs", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || p
        .join("runs/r/run.json")
        .exists()));
    let second = p.reev(&["run", "--resume", "r"]);
    second
        .code(3)
        .stderr_has("another reev is running run r")
        .stderr_has("held by pid");
    assert!(
        second.elapsed < Duration::from_secs(1),
        "{:?}",
        second.elapsed
    );
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(0));
    assert_eq!(
        session_files(&p.join("runs")).len(),
        4,
        "every session ran once"
    );
    // Once the first is done, resuming is allowed again (and finds nothing to do).
    p.reev(&["run", "--resume", "r"]).ok();
}

/// The shipped `flaky` agent fails about a third of its sessions (README), and which ones
/// changes from run to run: its outcome is seeded by the session id, not by (benchmark,
/// attempt), so trends and flakiness reports have something to show.
#[test]
fn shipped_flaky_agent_varies_per_run_at_the_documented_rate() {
    let p = common::shipped_suite();
    const RUNS: usize = 4;
    let mut outcomes: Vec<Vec<(String, u64, bool)>> = Vec::new();
    for i in 0..RUNS {
        let runs_dir = format!("runs{i}");
        p.reev(&[
            "run",
            "--agent",
            "flaky",
            "--attempts",
            "2",
            "--jobs",
            "8",
            "--runs-dir",
            &runs_dir,
        ])
        .ok();
        let mut run: Vec<(String, u64, bool)> = session_files(&p.join(&runs_dir))
            .iter()
            .map(|f| {
                let s: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
                (
                    s["benchmark_id"].as_str().unwrap().to_string(),
                    s["attempt"].as_u64().unwrap(),
                    s["status"] == "succeeded",
                )
            })
            .collect();
        run.sort();
        assert_eq!(run.len(), 13 * 2);
        outcomes.push(run);
    }
    assert!(
        outcomes.windows(2).any(|w| w[0] != w[1]),
        "every run failed the same sessions"
    );
    let sessions = (RUNS * 13 * 2) as f64;
    let failed = outcomes.iter().flatten().filter(|o| !o.2).count() as f64;
    // About a third: 104 sessions at p = 86/256 have a standard deviation of 0.046, so this
    // band is four of them wide on either side.
    let rate = failed / sessions;
    assert!((0.15..=0.52).contains(&rate), "failure rate {rate}");
}

#[test]
fn resume_ignores_attempts_from_settings_and_environment() {
    // `settings: attempts: 3` is the default for new runs; it must not block every --resume.
    let p = Project::new();
    p.write(
        "reev.yml",
        "agents:\n  a:\n    command: [\"true\"]\nsettings:\n  attempts: 3\n",
    )
    .simple_benchmark("x");
    p.reev(&["run", "--run-id", "r"]).ok();
    let files = session_files(&p.join("runs/r"));
    assert_eq!(
        files.len(),
        3,
        "the settings' 3 attempts apply to a new run"
    );
    std::fs::remove_file(&files[1]).unwrap();
    p.reev(&["run", "--resume", "r"]).ok();
    assert_eq!(session_files(&p.join("runs/r")).len(), 3);
    std::fs::remove_file(&files[2]).unwrap();
    let out = p
        .cmd(&["run", "--resume", "r"])
        .env("REEV_ATTEMPTS", "5")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(session_files(&p.join("runs/r")).len(), 3);
    // Asked for on the command line, it is still a contradiction: exit 2.
    p.reev(&["run", "--resume", "r", "--attempts", "2"])
        .code(2)
        .stderr_has("--attempts");
}

#[test]
fn fail_on_failed_summary_is_json_with_json_logs() {
    let p = Project::new();
    p.agents(&[("a", &["false"])]).simple_benchmark("x");
    let out = p.reev(&["run", "--fail-on-failed", "--log-format", "json"]);
    out.code(1);
    let mut found = false;
    for l in out.stderr.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        found |= v["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("some sessions did not succeed"));
    }
    assert!(found, "{}", out.stderr);
}
