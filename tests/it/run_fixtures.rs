//! `reev run` with benchmark fixtures: `setup:` / `teardown:`, the per-session port
//! (`{port}`, `REEV_PORT`), and exit 75 (EX_TEMPFAIL) as an `error`.

use crate::common;
use crate::common::{dead, wait_for, Project};
use serde_json::Value;
use std::time::Duration;

/// A benchmark with these `setup:` / `teardown:` argv (YAML flow lists) and an agent check.
fn fixture_benchmark(p: &Project, id: &str, setup: &str, teardown: &str, check: &str) {
    let mut y = format!("id: {id}\ndescription: d\nprompt: p\ntimeout: 30s\n");
    if !setup.is_empty() {
        y.push_str(&format!("setup: {setup}\n"));
    }
    if !teardown.is_empty() {
        y.push_str(&format!("teardown: {teardown}\n"));
    }
    y.push_str(&format!("ground_truth:\n  assertions:\n    - {check}\n"));
    p.write(&format!("benchmarks/{id}.yml"), &y);
}

fn session<'a>(sessions: &'a [Value], benchmark: &str) -> &'a Value {
    sessions
        .iter()
        .find(|s| s["benchmark_id"] == benchmark)
        .unwrap_or_else(|| panic!("no session of {benchmark}"))
}

#[test]
fn setup_prepares_what_the_agent_reads_and_teardown_runs_after() {
    let p = Project::new();
    p.agents(&[("a", &["sh", "-c", "cat data.txt"])]);
    fixture_benchmark(
        &p,
        "b",
        r#"[sh, -c, "echo port={port} env=$REEV_PORT > data.txt"]"#,
        r#"[sh, -c, "cat data.txt > {config_dir}/torn-{session_id}"]"#,
        "stdout_contains: port=",
    );
    p.reev(&["run", "--run-id", "r1"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded", "{s:#}");
    let port = s["port"].as_u64().expect("port recorded");
    assert!(port > 0);
    let line = format!("port={port} env={port}\n");
    assert_eq!(s["stdout"]["text"], line.as_str());
    assert_eq!(s["setup"]["exit_code"], 0);
    assert_eq!(
        s["setup"]["command"][2],
        format!("echo port={port} env=$REEV_PORT > data.txt")
    );
    assert_eq!(s["teardown"]["exit_code"], 0);
    let id = s["session_id"].as_str().unwrap();
    // Teardown ran after the agent, in the same scratch directory, with the same port.
    let torn = std::fs::read_to_string(p.join(&format!("torn-{id}"))).unwrap();
    assert_eq!(torn, line);
}

#[test]
fn a_failing_setup_makes_the_session_error_skips_the_agent_and_still_tears_down() {
    let p = Project::new();
    p.agents(&[(
        "a",
        &[
            "sh",
            "-c",
            "touch {config_dir}/agent-ran-{benchmark_id}; echo ok",
        ],
    )]);
    fixture_benchmark(
        &p,
        "broken",
        r#"[sh, -c, "echo cannot start the validator >&2; exit 3"]"#,
        r#"[sh, -c, "touch {config_dir}/torn-{benchmark_id}"]"#,
        "stdout_contains: ok",
    );
    fixture_benchmark(&p, "plain", "", "", "stdout_contains: ok");
    p.reev(&["run", "--run-id", "r1"]).ok();
    let sessions = p.sessions();
    let s = session(&sessions, "broken");
    assert_eq!(s["status"], "error", "{s:#}");
    assert_eq!(s["error"], "setup exited 3; the agent was not run");
    assert_eq!(s["setup"]["exit_code"], 3);
    assert_eq!(s["setup"]["stderr"]["text"], "cannot start the validator\n");
    assert!(
        !p.join("agent-ran-broken").exists(),
        "the agent must not run"
    );
    assert!(p.join("torn-broken").exists(), "teardown runs anyway");
    // The other benchmark of the run is untouched.
    assert_eq!(session(&sessions, "plain")["status"], "succeeded");
    assert!(p.join("agent-ran-plain").exists());
    // `reev show` on the file says why.
    let file = common::session_files(&p.join("runs"))
        .into_iter()
        .find(|f| f.to_string_lossy().contains("broken@1"))
        .unwrap();
    let shown = p.reev(&["show", file.to_str().unwrap()]);
    shown.ok();
    assert!(shown.stdout.contains("setup: exited 3"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("cannot start the validator"),
        "{}",
        shown.stdout
    );
}

#[test]
fn a_setup_that_cannot_start_is_an_error_too() {
    let p = Project::new();
    p.agents(&[("a", &["sh", "-c", "echo ok"])]);
    fixture_benchmark(
        &p,
        "b",
        "[/nonexistent/setup-program]",
        "",
        "stdout_contains: ok",
    );
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "error");
    let e = s["error"].as_str().unwrap();
    assert!(e.starts_with("setup cannot start:"), "{e}");
    assert!(s["setup"]["error"].is_string());
}

#[test]
fn teardown_runs_after_a_timeout_and_the_setup_service_is_dead() {
    let p = Project::new();
    p.write("service.py", SERVICE);
    p.agents(&[("a", &["sleep", "30"])]);
    // The service outlives the setup command itself; teardown finds it on the session's port.
    let service = p.join("service.py").to_string_lossy().into_owned();
    fixture_benchmark(
        &p,
        "b",
        &format!(
            r#"[sh, -c, "python3 {service} {{port}} x > service.log 2>&1 & while [ ! -e ready ]; do sleep 0.05; done"]"#
        ),
        r#"[python3, "{config_dir}/probe.py", "{port}", "{config_dir}"]"#,
        "exit_code: 0",
    );
    p.write("probe.py", PROBE);
    p.reev(&["run", "--timeout", "1s", "--kill-grace", "100ms"])
        .ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "timed_out", "{s:#}");
    assert!(p.join("torn").exists(), "teardown runs after a timeout");
    assert_eq!(
        std::fs::read_to_string(p.join("torn")).unwrap(),
        "service alive",
        "the setup's service lives until teardown: {s:#}"
    );
    assert!(
        wait_for(Duration::from_secs(10), || no_process_with_arg(&service)),
        "the setup's service outlived the session"
    );
}

/// The teardown of that test: is the service still answering on the port?
const PROBE: &str = r#"
import os, socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    state = "service alive"
except OSError as e:
    state = "service gone: %s" % e
open(os.path.join(sys.argv[2], "torn"), "w").write(state)
"#;

/// No live process on the machine has this argument.
fn no_process_with_arg(arg: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().all(|e| {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            return true;
        };
        let Ok(args) = std::fs::read(e.path().join("cmdline")) else {
            return true;
        };
        !args.split(|b| *b == 0).any(|a| a == arg.as_bytes()) || dead(pid)
    })
}

/// The service a setup starts: binds the session's port, says it is ready, then answers every
/// connection with the session id it was started for.
const SERVICE: &str = r#"
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
open("ready", "w").close()
while True:
    c, _ = s.accept()
    c.sendall(sys.argv[2].encode())
    c.close()
"#;

/// The agent: waits until all four sessions are running (so the four services are bound at
/// the same time), then asks its service for the session id.
const CLIENT: &str = r#"
import os, socket, sys, time
d = sys.argv[1]
open(os.path.join(d, "arrived-" + os.environ["REEV_SESSION_ID"]), "w").close()
deadline = time.time() + 25
while len([f for f in os.listdir(d) if f.startswith("arrived-")]) < 4:
    if time.time() > deadline:
        sys.exit("the four sessions never ran together")
    time.sleep(0.05)
c = socket.create_connection(("127.0.0.1", int(os.environ["REEV_PORT"])))
got = c.recv(100).decode()
print(got)
sys.exit(0 if got == os.environ["REEV_SESSION_ID"] else 1)
"#;

#[test]
fn concurrent_sessions_get_distinct_ports_their_services_bind() {
    let p = Project::new();
    p.write("service.py", SERVICE).write("client.py", CLIENT);
    std::fs::create_dir(p.join("meet")).unwrap();
    p.agents(&[(
        "a",
        &["python3", "{config_dir}/client.py", "{config_dir}/meet"],
    )]);
    fixture_benchmark(
        &p,
        "svc",
        r#"[sh, -c, "python3 {config_dir}/service.py {port} {session_id} > service.log 2>&1 & i=0; while [ ! -e ready ]; do i=$((i+1)); [ $i -lt 400 ] || exit 1; sleep 0.05; done"]"#,
        "",
        "exit_code: 0",
    );
    p.reev(&["run", "--attempts", "4", "--jobs", "4"]).ok();
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 4);
    let mut ports: Vec<u64> = sessions
        .iter()
        .map(|s| {
            assert_eq!(s["status"], "succeeded", "{s:#}");
            s["port"].as_u64().unwrap()
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4, "every session has its own port: {ports:?}");
}

#[test]
fn exit_75_is_an_error_not_a_failure() {
    let p = Project::new();
    p.agents(&[("a", &["sh", "-c", "echo model API down >&2; exit 75"])]);
    p.simple_benchmark("b");
    let out = p.reev(&["run"]);
    out.ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "error");
    assert_eq!(s["exit_code"], 75);
    assert_eq!(
        s["error"],
        "the agent reported a temporary failure (exit 75, EX_TEMPFAIL): not judged"
    );
    // Not judged: no mean score in the summary (issue 22, defect 6), not 0.000.
    assert!(out.stdout.contains("1          –"), "{}", out.stdout);
}

#[test]
fn bad_fixtures_are_named_by_validate() {
    let p = Project::new();
    p.agents(&[("a", &["true"])]);
    p.write(
        "benchmarks/b.yml",
        "id: b\ndescription: d\nprompt: p\nsetup: []\nteardown: [sh, -c, \"echo {nope}\"]\nground_truth:\n  assertions:\n    - exit_code: 0\n",
    );
    p.write(
        "benchmarks/c.yml",
        "id: c\ndescription: d\nprompt: p\nsetup: echo not a list\nground_truth:\n  assertions:\n    - exit_code: 0\n",
    );
    p.reev(&["validate"])
        .code(2)
        .stderr_has("b.yml:4:8: setup: give a command as a list of arguments")
        .stderr_has("b.yml:5:11: teardown: unknown placeholder {nope}")
        .stderr_has("c.yml:4:8: ");
    // `run` validates first: nothing is run.
    p.reev(&["run"]).code(2);
    assert!(p.sessions().is_empty());
}

#[test]
fn a_setup_service_dies_with_reev_killed_9() {
    let p = Project::new();
    p.write("service.py", SERVICE);
    let service = p.join("service.py").to_string_lossy().into_owned();
    // The agent says when it runs, i.e. when the service is up; then it waits to be killed.
    p.agents(&[(
        "a",
        &["sh", "-c", "touch {config_dir}/agent-running; sleep 60"],
    )]);
    fixture_benchmark(
        &p,
        "b",
        &format!(
            r#"[sh, -c, "python3 {service} {{port}} x > service.log 2>&1 & while [ ! -e ready ]; do sleep 0.05; done"]"#
        ),
        "",
        "exit_code: 0",
    );
    let mut reev = p.cmd(&["run"]).spawn().unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || p.join("agent-running").exists()),
        "the session never started"
    );
    assert!(!no_process_with_arg(&service), "the service runs");
    reev.kill().unwrap();
    reev.wait().unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || no_process_with_arg(&service)),
        "the setup's service outlived reev"
    );
}

/// Issue 17, defect 5: a SIGTERM or SIGINT during setup or during the agent skipped the
/// teardown, and what setup made stayed. The exit status stays 128 + signal; the resource goes.
#[test]
fn teardown_runs_when_reev_is_stopped_during_setup_or_the_agent() {
    for (signal, during) in [
        (libc::SIGTERM, "setup"),
        (libc::SIGTERM, "agent"),
        (libc::SIGINT, "setup"),
        (libc::SIGINT, "agent"),
    ] {
        let p = Project::new();
        let resource = p.join("resource");
        let (setup_wait, agent_wait) = match during {
            "setup" => ("; sleep 60", ""),
            _ => ("", "; sleep 60"),
        };
        p.agents(&[(
            "a",
            &[
                "sh",
                "-c",
                &format!("touch {{config_dir}}/running{agent_wait}"),
            ],
        )]);
        fixture_benchmark(
            &p,
            "b",
            &format!(
                r#"[sh, -c, "touch {{config_dir}}/resource {{config_dir}}/running{setup_wait}"]"#
            ),
            r#"[sh, -c, "rm {config_dir}/resource"]"#,
            "exit_code: 0",
        );
        let mut reev = p.cmd(&["run"]).spawn().unwrap();
        assert!(
            wait_for(Duration::from_secs(20), || p.join("running").exists()),
            "the {during} never started"
        );
        assert!(resource.exists());
        // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
        unsafe { libc::kill(reev.id() as i32, signal) };
        let status = reev.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(128 + signal),
            "{signal} during {during}"
        );
        assert!(
            !resource.exists(),
            "teardown did not run after signal {signal} during the {during}"
        );
    }
}
