//! `reev run` judging real agents: verifier programs (`verify:`), trace assertions (`event:`,
//! `metric:`, `tool_sequence:`) and the `{benchmark_dir}` placeholder, through the binary.

use crate::common;

use std::collections::BTreeMap;

use crate::common::{dead, wait_for, Project};
use serde_json::Value;

/// An agent that prints to both streams and writes a small trace: read_file twice, then
/// write_file, a model request, and a `tokens` metric of 1500.
const TRACE_AGENT: &str = r#"echo agent-out; echo agent-err >&2
for l in '{"type":"tool_call","name":"read_file"}' '{"type":"model_request","model":"m"}' \
         '{"type":"tool_call","name":"read_file"}' '{"type":"tool_call","name":"write_file"}' \
         '{"type":"metric","name":"tokens","value":1500}'; do echo "$l" >> "$REEV_EVENTS"; done"#;

fn project() -> Project {
    let p = Project::new();
    p.agents(&[("a", &["sh", "-c", TRACE_AGENT])]);
    p
}

/// benchmarks/<id>.yml with these assertion items (YAML list lines, indented 4).
fn bench(p: &Project, id: &str, assertions: &str) {
    p.write(
        &format!("benchmarks/{id}.yml"),
        &format!(
            "id: {id}\ndescription: d\nprompt: p\ntimeout: 60s\nground_truth:\n  assertions:\n{assertions}"
        ),
    );
}

/// A `verify:` item running `benchmarks/<script>` with python3 through `{benchmark_dir}`.
fn verify_item(script: &str, extra: &str) -> String {
    format!("    - verify: {{command: [python3, \"{{benchmark_dir}}/{script}\"]{extra}}}\n")
}

/// Sessions by benchmark id.
fn by_benchmark(p: &Project) -> BTreeMap<String, Value> {
    p.sessions()
        .into_iter()
        .map(|s| (s["benchmark_id"].as_str().unwrap().to_string(), s))
        .collect()
}

#[test]
fn verifier_pass_partial_credit_and_fail() {
    let p = project();
    p.write(
        "benchmarks/pass.py",
        "print('looked at the ledger')\nprint('{\"message\": \"balances add up\"}')\n",
    );
    p.write(
        "benchmarks/half.py",
        "import json\nprint(json.dumps({'score': 0.5, 'message': 'one of two'}))\n",
    );
    p.write(
        "benchmarks/fail.py",
        "import sys\nprint('wrong balance', file=sys.stderr)\nsys.exit(1)\n",
    );
    bench(&p, "pass", &verify_item("pass.py", ", timeout: 30s"));
    bench(
        &p,
        "half",
        &format!(
            "{}      weight: 3\n    - exit_code: 0\n",
            verify_item("half.py", "")
        ),
    );
    bench(&p, "fail", &verify_item("fail.py", ""));
    p.reev(&["run"]).ok();
    let s = by_benchmark(&p);

    let pass = &s["pass"];
    assert_eq!(pass["status"], "succeeded", "{pass}");
    assert_eq!(pass["score"], 1.0);
    let a = &pass["assertions"][0];
    assert_eq!(a["type"], "verify");
    assert_eq!(a["passed"], true);
    assert_eq!(a["score"], 1.0);
    assert_eq!(a["message"], "passed: balances add up");
    let bdir = std::fs::canonicalize(p.join("benchmarks")).unwrap();
    assert_eq!(
        a["verifier"]["command"],
        serde_json::json!(["python3", format!("{}/pass.py", bdir.display())])
    );
    assert_eq!(a["verifier"]["exit_code"], 0);
    assert_eq!(a["verifier"]["timed_out"], false);
    assert!(a["verifier"]["duration_ms"].is_u64());
    assert!(a["verifier"]["stdout"]["text"]
        .as_str()
        .unwrap()
        .starts_with("looked at the ledger\n"));

    // weight 3 x 0.5 + exit_code 1, over 4.
    let half = &s["half"];
    assert_eq!(half["score"], 0.625, "{half}");
    assert_eq!(half["status"], "failed");
    assert_eq!(half["assertions"][0]["passed"], false);
    assert_eq!(half["assertions"][0]["score"], 0.5);
    assert!(half["error"].is_null());

    let fail = &s["fail"];
    assert_eq!(fail["status"], "failed", "{fail}");
    assert_eq!(fail["score"], 0.0);
    assert_eq!(fail["assertions"][0]["verifier"]["exit_code"], 1);
    assert_eq!(
        fail["assertions"][0]["verifier"]["stderr"]["text"],
        "wrong balance\n"
    );
    assert!(fail["error"].is_null());
    // Other checks keep their old record: no score, no verifier.
    assert!(half["assertions"][1].get("score").is_none());
    assert!(half["assertions"][1].get("verifier").is_none());

    // The files load, and the credit is queryable.
    p.reev(&["load"]).ok();
    let out = p.reev(&[
        "query",
        "--format",
        "csv",
        "SELECT s.benchmark_id, a.passed, a.actual->>'score' AS credit, s.score \
         FROM assertions a JOIN sessions s USING (session_id) WHERE a.type = 'verify' ORDER BY 1",
    ]);
    out.ok();
    assert_eq!(
        out.stdout,
        "benchmark_id,passed,credit,score\nfail,false,0.0,0.0\nhalf,false,0.5,0.625\npass,true,1.0,1.0\n"
    );
}

#[test]
fn a_verifier_that_cannot_judge_makes_the_session_an_error() {
    let p = project();
    let cases = [
        ("crash", "import sys\nsys.exit(3)\n", "exited with code 3"),
        (
            // (not `signal.py`: it would shadow the module it imports)
            "killed",
            "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
            "killed by signal 9",
        ),
        (
            "malformed",
            "print('{\"score\": 0.5,')\n",
            "malformed result line",
        ),
        (
            "pretty",
            "import json\nprint(json.dumps({'score': 1}, indent=2))\n",
            "the result is one JSON object on one line",
        ),
        ("range", "print('{\"score\": 1.5}')\n", "printed score 1.5"),
        (
            "nan",
            "import json\nprint(json.dumps({'score': float('nan')}))\n",
            "malformed result line",
        ),
        (
            "text",
            "print('{\"score\": \"0.5\"}')\n",
            "a score must be a number from 0 to 1",
        ),
        (
            "contradiction",
            "import sys\nprint('{\"score\": 1}')\nsys.exit(1)\n",
            "the two disagree",
        ),
    ];
    for (id, script, _) in cases {
        p.write(&format!("benchmarks/{id}.py"), script);
        bench(
            &p,
            id,
            &format!(
                "    - exit_code: 0\n{}",
                verify_item(&format!("{id}.py"), "")
            ),
        );
    }
    p.write("benchmarks/slow.py", "import time\ntime.sleep(60)\n");
    bench(&p, "slow", &verify_item("slow.py", ", timeout: 1s"));
    bench(
        &p,
        "missing",
        "    - verify: {command: [no-such-verifier-program]}\n",
    );
    p.write("benchmarks/fine.py", "pass\n");
    bench(&p, "fine", &verify_item("fine.py", ""));
    let out = p.reev(&["run", "--jobs", "4", "--kill-grace", "1s"]);
    out.ok();
    let s = by_benchmark(&p);
    for (id, _, needle) in cases {
        let session = &s[id];
        assert_eq!(session["status"], "error", "{id}: {session}");
        let error = session["error"].as_str().unwrap();
        assert!(error.contains("verifier of assertion 2"), "{id}: {error}");
        assert!(error.contains(&format!("{id}.py")), "{id}: {error}");
        assert!(error.contains(needle), "{id}: {error}");
        let a = &session["assertions"][1];
        assert_eq!(a["passed"], false, "{id}");
        assert_eq!(a["message"], error, "{id}");
        // The agent's own assertion was judged all the same.
        assert_eq!(session["assertions"][0]["passed"], true, "{id}");
    }
    assert_eq!(s["killed"]["assertions"][1]["verifier"]["signal"], 9);
    let slow = &s["slow"];
    assert_eq!(slow["status"], "error", "{slow}");
    let error = slow["error"].as_str().unwrap();
    assert!(error.contains("timed out after 1s"), "{error}");
    assert_eq!(slow["assertions"][0]["verifier"]["timed_out"], true);
    assert!(
        out.elapsed.as_secs() < 50,
        "the verifier was not stopped at its timeout"
    );
    // Nothing valid was lost.
    assert_eq!(s["fine"]["status"], "succeeded", "{}", s["fine"]);
}

#[test]
fn verifier_sees_the_session_environment_and_its_output_files() {
    let p = Project::new();
    p.agents(&[(
        "a",
        &[
            "sh",
            "-c",
            "echo \"out $0\"; echo err >&2",
            "{benchmark_dir}",
        ],
    )]);
    p.write(
        "benchmarks/sub/env.py",
        r#"import json, os, sys
keys = ["REEV_WORKDIR", "REEV_EVENTS", "REEV_STDOUT", "REEV_STDERR", "REEV_BENCHMARK_DIR",
        "REEV_SESSION_ID", "REEV_BENCHMARK_ID", "REEV_AGENT", "REEV_ATTEMPT", "REEV_RUN_ID"]
seen = {k: os.environ.get(k) for k in keys}
seen["cwd"] = os.getcwd()
seen["argv1"] = sys.argv[1]
seen["stdout"] = open(os.environ["REEV_STDOUT"]).read()
seen["stderr"] = open(os.environ["REEV_STDERR"]).read()
seen["seed"] = open("seed.txt").read()
print(json.dumps({"message": json.dumps(seen)}))
"#,
    );
    p.write(
        "benchmarks/sub/env.yml",
        "id: env\ndescription: d\nprompt: p\ninitial_state:\n  - path: seed.txt\n    content: seeded\nground_truth:\n  assertions:\n    - verify: {command: [python3, \"{benchmark_dir}/env.py\", \"{session_id}\"]}\n",
    );
    p.reev(&["run", "--run-id", "r1"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded", "{s}");
    let message = s["assertions"][0]["message"].as_str().unwrap();
    let seen: Value = serde_json::from_str(message.strip_prefix("passed: ").unwrap()).unwrap();
    let bdir = std::fs::canonicalize(p.join("benchmarks/sub")).unwrap();
    let bdir = bdir.to_str().unwrap();
    assert_eq!(seen["REEV_BENCHMARK_DIR"], bdir);
    assert_eq!(seen["argv1"], s["session_id"]);
    assert_eq!(seen["REEV_SESSION_ID"], s["session_id"]);
    assert_eq!(seen["REEV_BENCHMARK_ID"], "env");
    assert_eq!(seen["REEV_AGENT"], "a");
    assert_eq!(seen["REEV_ATTEMPT"], "1");
    assert_eq!(seen["REEV_RUN_ID"], "r1");
    assert_eq!(seen["cwd"], seen["REEV_WORKDIR"]);
    assert_eq!(seen["seed"], "seeded");
    // The agent got {benchmark_dir} too; the verifier reads what it printed.
    assert_eq!(seen["stdout"], format!("out {bdir}\n"));
    assert_eq!(seen["stdout"], s["stdout"]["text"]);
    assert_eq!(seen["stderr"], "err\n");
    // The output files lie beside the events file, outside the scratch directory.
    let workdir = std::path::Path::new(seen["REEV_WORKDIR"].as_str().unwrap());
    let root = workdir.parent().unwrap();
    for (var, name) in [
        ("REEV_STDOUT", "agent.stdout"),
        ("REEV_STDERR", "agent.stderr"),
        ("REEV_EVENTS", "events.jsonl"),
    ] {
        assert_eq!(seen[var], root.join(name).to_str().unwrap(), "{var}");
    }
}

#[test]
fn a_sandboxed_verifier_writes_only_inside_scratch() {
    let p = Project::new();
    let outside = p.join("outside.txt");
    std::fs::write(&outside, "original").unwrap();
    p.write(
        "reev.yml",
        "agents:\n  boxed:\n    command: [\"true\"]\n    sandbox:\n      filesystem: scratch\n",
    );
    p.write(
        "benchmarks/v.sh",
        &format!(
            "echo evil > {o} 2>/dev/null && echo wrote-outside\n\
             echo ok > inside.txt && echo wrote-inside\n\
             cat \"$REEV_STDOUT\" > /dev/null && echo read-output\n",
            o = outside.display()
        ),
    );
    bench(
        &p,
        "v",
        // (A later verifier sees what an earlier one wrote; file checks judge only the agent's.)
        "    - verify: {command: [sh, \"{benchmark_dir}/v.sh\"]}\n    - verify: {command: [test, -f, inside.txt]}\n",
    );
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded", "{s}");
    assert_eq!(
        s["assertions"][0]["verifier"]["stdout"]["text"],
        "wrote-inside\nread-output\n"
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "original");
}

#[test]
fn nothing_a_verifier_starts_outlives_it() {
    let p = project();
    let pid_file = p.join("sleeper.pid");
    p.write(
        "benchmarks/v.sh",
        &format!(
            "setsid sh -c 'cut -d\" \" -f4 /proc/self/stat > {f}.tmp; mv {f}.tmp {f}; exec sleep 1000' &\n\
             while [ ! -s {f} ]; do sleep 0.01; done\n",
            f = pid_file.display()
        ),
    );
    bench(
        &p,
        "v",
        "    - verify: {command: [sh, \"{benchmark_dir}/v.sh\"]}\n",
    );
    p.reev(&["run"]).ok();
    assert_eq!(p.sessions()[0]["status"], "succeeded");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_for(std::time::Duration::from_secs(10), || dead(pid)),
        "the verifier's setsid'd sleeper {pid} outlived it"
    );
}

#[test]
fn verifiers_do_not_run_after_the_agent_timed_out() {
    let p = Project::new();
    p.agents(&[("slow", &["sleep", "30"])]);
    let marker = p.join("verifier-ran");
    p.write("benchmarks/v.sh", &format!("touch {}\n", marker.display()));
    p.write(
        "benchmarks/v.yml",
        "id: v\ndescription: d\nprompt: p\ntimeout: 1s\nground_truth:\n  assertions:\n    - verify: {command: [sh, \"{benchmark_dir}/v.sh\"]}\n",
    );
    p.reev(&["run", "--kill-grace", "0s"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "timed_out", "{s}");
    assert_eq!(s["assertions"][0]["passed"], false);
    assert_eq!(
        s["assertions"][0]["message"],
        "not run: the agent timed out"
    );
    assert!(!marker.exists());
}

#[test]
fn event_metric_and_tool_sequence_assertions() {
    let p = project();
    bench(
        &p,
        "t",
        "    - event: {type: tool_call, name: read_file, at_least: 1, at_most: 3}\n\
         \x20   - event: {type: tool_call, at_most: 2}\n\
         \x20   - event: {type: tool_call, name: write_file, at_least: 2}\n\
         \x20   - event: {type: model_request, at_least: 1}\n\
         \x20   - metric: {name: tokens, at_most: 2000}\n\
         \x20   - metric: {name: tokens, at_least: 1600}\n\
         \x20   - metric: {name: cost, at_most: 1}\n\
         \x20   - tool_sequence: [read_file, write_file]\n\
         \x20   - tool_sequence: [write_file, read_file]\n\
         \x20   - tool_sequence: [read_file, read_file, write_file]\n",
    );
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    let got: Vec<(String, bool)> = s["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["type"].as_str().unwrap().to_string(),
                a["passed"].as_bool().unwrap(),
            )
        })
        .collect();
    let want = [
        ("event", true),
        ("event", false),
        ("event", false),
        ("event", true),
        ("metric", true),
        ("metric", false),
        ("metric", false),
        ("tool_sequence", true),
        ("tool_sequence", false),
        ("tool_sequence", true),
    ];
    let want: Vec<(String, bool)> = want.iter().map(|(t, p)| (t.to_string(), *p)).collect();
    assert_eq!(got, want, "{s}");
    let a = &s["assertions"];
    assert_eq!(a[0]["actual"], 2);
    assert_eq!(a[1]["actual"], 3);
    assert_eq!(a[1]["message"], "3 tool_call events, expected at most 2");
    assert_eq!(
        a[2]["message"],
        "1 tool_call `write_file` events, expected at least 2"
    );
    assert_eq!(a[4]["actual"], 1500.0);
    assert_eq!(a[6]["message"], "no metric `cost` was reported");
    assert_eq!(
        a[8]["actual"],
        serde_json::json!(["read_file", "read_file", "write_file"])
    );
    assert!(
        a[8]["message"]
            .as_str()
            .unwrap()
            .contains("missing `read_file`"),
        "{}",
        a[8]
    );
    assert_eq!(s["status"], "failed");
    assert_eq!(s["score"], 0.5);
}

#[test]
fn the_shipped_transfer_verifier_gives_partial_credit_to_a_ledger_that_loses_money() {
    let p = common::shipped_suite();
    p.agents(&[(
        "leaky",
        &[
            "sh",
            "-c",
            "echo '{\"type\":\"tool_call\",\"name\":\"write_file\"}' >> \"$REEV_EVENTS\"; \
             echo '{\"currency\": \"EUR\", \"accounts\": {\"alice\": 70, \"bob\": 50, \"carol\": 0}}' > ledger.json",
        ],
    )]);
    p.reev(&["run", "--filter", "ledger.transfer"]).ok();
    let sessions = p.sessions();
    let s = sessions
        .iter()
        .find(|s| s["benchmark_id"] == "ledger.transfer")
        .expect("a ledger.transfer session");
    assert_eq!(s["status"], "failed", "{s}");
    assert!(s["error"].is_null(), "{s}");
    let by_name = |n: &str| {
        s["assertions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == n)
            .unwrap_or_else(|| panic!("no assertion {n}: {s}"))
            .clone()
    };
    let v = by_name("money is conserved");
    assert_eq!(v["passed"], false);
    assert_eq!(v["score"], 0.5);
    assert_eq!(v["verifier"]["exit_code"], 1);
    assert_eq!(
        v["message"],
        "partial credit, score 0.5: the balances add up to 120, not 150"
    );
    let t = by_name("read before writing");
    assert_eq!(t["passed"], false, "it never read the ledger");
}

#[test]
fn a_run_interrupted_while_a_verifier_runs_writes_no_session_and_resumes() {
    let p = project();
    let pid_file = p.join("verifier.pid");
    let resumed = p.join("resumed");
    // Its host pid (from the host's /proc), then a long sleep unless the run was resumed.
    p.write(
        "benchmarks/v.sh",
        &format!(
            "[ -e {r} ] && exit 0\n\
             exec sh -c 'cut -d\" \" -f4 /proc/self/stat > {f}.tmp; mv {f}.tmp {f}; exec sleep 1000'\n",
            r = resumed.display(),
            f = pid_file.display()
        ),
    );
    bench(
        &p,
        "v",
        "    - verify: {command: [sh, \"{benchmark_dir}/v.sh\"]}\n",
    );
    let mut child = p
        .cmd(&["run", "--run-id", "r"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(std::time::Duration::from_secs(30), || pid_file.exists()),
        "the verifier never started"
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(128 + libc::SIGTERM));
    assert!(
        wait_for(std::time::Duration::from_secs(10), || dead(pid)),
        "the verifier {pid} outlived the interrupted run"
    );
    assert!(
        p.sessions().is_empty(),
        "an interrupted session wrote a file"
    );
    std::fs::write(&resumed, "").unwrap();
    p.reev(&["run", "--resume", "r"]).ok();
    let s = p.sessions();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["status"], "succeeded", "{}", s[0]);
}

#[test]
fn verifiers_run_in_process_groups_where_namespaces_are_unavailable() {
    let p = project();
    p.write("benchmarks/ok.py", "print('{\"score\": 1}')\n");
    bench(&p, "ok", &verify_item("ok.py", ""));
    bench(
        &p,
        "slow",
        "    - verify: {command: [sh, -c, \"sleep 60 & sleep 60\"], timeout: 1s}\n",
    );
    let out = p
        .cmd(&["run", "--kill-grace", "1s"])
        .env("REEV_NO_NAMESPACES", "1")
        .output()
        .unwrap();
    let out = common::Out::from(out);
    out.ok();
    let s = by_benchmark(&p);
    assert_eq!(s["ok"]["status"], "succeeded", "{}", s["ok"]);
    let slow = &s["slow"];
    assert_eq!(slow["status"], "error", "{slow}");
    assert!(
        slow["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 1s"),
        "{slow}"
    );
}

#[test]
fn whatever_the_agent_leaves_where_reev_saves_its_output_is_replaced_not_followed() {
    let p = Project::new();
    let canary = p.join("canary.txt");
    std::fs::write(&canary, "untouched").unwrap();
    // Every attempt leaves something else where reev later writes: directories (the events
    // file's name too), a symlink out of the session's directory, a FIFO.
    let agent = format!(
        r#"root=$(dirname "$REEV_EVENTS"); echo "out-$REEV_ATTEMPT"
case $REEV_ATTEMPT in
1) mkdir -p "$root/agent.stdout/sub" "$root/agent.stderr" "$REEV_EVENTS/sub" ;;
2) ln -s {c} "$root/agent.stdout"; ln -s {c} "$root/agent.stderr" ;;
3) mkfifo "$root/agent.stdout" "$root/agent.stderr" ;;
esac"#,
        c = canary.display()
    );
    p.agents(&[("a", &["sh", "-c", &agent])]);
    p.write(
        "benchmarks/v.sh",
        "[ \"$(cat \"$REEV_STDOUT\")\" = \"out-$REEV_ATTEMPT\" ] && [ -f \"$REEV_STDERR\" ]\n",
    );
    bench(
        &p,
        "v",
        "    - verify: {command: [sh, \"{benchmark_dir}/v.sh\"], timeout: 30s}\n",
    );
    // One worker: every attempt reuses the directory the previous one left.
    p.reev(&["run", "--jobs", "1", "--attempts", "3"]).ok();
    let sessions = p.sessions();
    let got: Vec<(u64, String)> = sessions
        .iter()
        .map(|s| {
            let status = s["status"].as_str().unwrap().to_string();
            (s["attempt"].as_u64().unwrap(), status)
        })
        .collect();
    assert_eq!(
        got,
        [1, 2, 3].map(|a| (a, "succeeded".to_string())),
        "{sessions:?}"
    );
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "untouched");
}

#[test]
fn verifiers_run_after_every_other_check_has_seen_the_agents_files() {
    let p = Project::new();
    p.agents(&[("a", &["sh", "-c", "echo made > out.txt"])]);
    bench(
        &p,
        "v",
        "    - verify: {command: [sh, -c, \"rm out.txt\"]}\n\
         \x20   - file_contains: {path: out.txt, value: made}\n",
    );
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded", "{s}");
    // The records keep the order of the benchmark file.
    assert_eq!(s["assertions"][0]["type"], "verify");
    assert_eq!(s["assertions"][1]["type"], "file_contains");
}

#[test]
fn trace_checks_do_not_pass_on_a_trace_cut_at_the_event_cap() {
    let p = Project::new();
    // A metric early, then 10,000 events (or a 9 MiB line) to fill a cap, then what the checks
    // are about.
    let events = |filler: &str| {
        format!(
            r#"{{ echo '{{"type":"metric","name":"tokens","value":10}}'
{filler}
for i in 1 2 3 4 5; do echo '{{"type":"tool_call","name":"rm"}}'; done
echo '{{"type":"metric","name":"tokens","value":99999}}'; }} >> "$REEV_EVENTS""#
        )
    };
    let many = events(r#"yes '{"type":"pad"}' | head -n 10000"#);
    let big = events(
        r#"echo '{"type":"pad"}'; printf '{"type":"pad","x":"'; head -c 9000000 /dev/zero | tr '\0' a; echo '"}'"#,
    );
    p.agents(&[("many", &["sh", "-c", &many]), ("big", &["sh", "-c", &big])]);
    bench(
        &p,
        "t",
        "    - event: {type: tool_call, at_most: 3}\n\
         \x20   - metric: {name: tokens, at_most: 2000}\n\
         \x20   - tool_sequence: [rm]\n\
         \x20   - event: {type: pad, at_least: 1}\n",
    );
    p.reev(&["run"]).ok();
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 2);
    for (s, unread) in sessions.iter().map(|s| {
        let unread = match s["agent"].as_str().unwrap() {
            "many" => "7 events over the cap of 10000 not read",
            _ => "the events file past its first 8 MiB not read",
        };
        (s, unread)
    }) {
        let a = &s["assertions"];
        for i in [0, 1, 2] {
            assert_eq!(a[i]["passed"], false, "{}", a[i]);
            let m = a[i]["message"].as_str().unwrap();
            assert!(m.contains(unread), "{m}");
        }
        // A lower bound the kept events already meet still holds.
        assert_eq!(a[3]["passed"], true, "{}", a[3]);
    }
}

#[test]
fn a_negative_zero_score_is_recorded_as_zero() {
    let p = project();
    bench(
        &p,
        "z",
        "    - verify: {command: [sh, -c, \"echo '{\\\"score\\\": -0.0}'; exit 1\"]}\n",
    );
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "failed", "{s}");
    let a = &s["assertions"][0];
    // As written in the file: serde_json keeps the sign of a zero.
    assert_eq!(a["score"].to_string(), "0.0", "{a}");
    assert_eq!(a["actual"]["score"].to_string(), "0.0", "{a}");
}

#[test]
fn a_verifier_message_cannot_forge_lines_in_reev_show() {
    let p = project();
    p.write(
        "benchmarks/v.py",
        "import json, sys\nprint(json.dumps({'score': 0, 'message': 'no\\n├── status: succeeded, score 1.000 (threshold 1.000)'}))\nsys.exit(1)\n",
    );
    bench(&p, "v", &verify_item("v.py", ""));
    p.reev(&["run"]).ok();
    let file = common::session_files(&p.run_dir()).remove(0);
    let out = p.reev(&["show", file.to_str().unwrap()]);
    out.ok();
    let statuses: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("├── status:"))
        .collect();
    assert_eq!(statuses.len(), 1, "{}", out.stdout);
    assert!(
        statuses[0].starts_with("├── status: failed"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_result_line_cut_at_the_capture_limit_says_so() {
    let p = project();
    p.write(
        "benchmarks/v.py",
        "import json\nprint(json.dumps({'score': 1, 'message': 'x' * 100000}))\n",
    );
    bench(&p, "v", &verify_item("v.py", ""));
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "error", "{s}");
    let e = s["error"].as_str().unwrap();
    assert!(e.contains("64 KiB"), "{e}");
}

/// Issue 17, defect 9: a result line past the 64 KiB reev reads was unseen, and the exit
/// status alone gave full credit. A cut capture with no result line is an `error` now.
#[test]
fn a_result_line_hidden_past_the_capture_limit_is_an_error_not_full_credit() {
    let p = project();
    p.write(
        "benchmarks/v.py",
        "import json\nfor i in range(20000):\n    print('test log line', i, '.' * 40)\nprint(json.dumps({'score': 0.25}))\n",
    );
    bench(&p, "v", &verify_item("v.py", ""));
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "error", "{s}");
    assert_ne!(s["score"], 1.0, "{s}");
    let e = s["error"].as_str().unwrap();
    assert!(e.contains("64 KiB") && e.contains("no result line"), "{e}");
    assert_eq!(s["assertions"][0]["verifier"]["stdout"]["truncated"], true);
}

#[test]
fn verifiers_never_judge_a_directory_the_agent_put_in_place_of_its_own() {
    let p = Project::new();
    let elsewhere = p.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("out.txt"), "forged\n").unwrap();
    let root = r#"echo real > out.txt; cd "$(dirname "$REEV_EVENTS")""#;
    let forge = |tail: &str| format!("{root}; {tail}");
    let (moved, linked, removed, root_linked) = (
        forge("mv scratch old; mkdir scratch; echo forged > scratch/out.txt"),
        forge(&format!("mv scratch old; ln -s {} scratch", elsewhere.display())),
        forge("rm -rf scratch"),
        // The whole session directory swapped for one whose scratch links back to the real one.
        forge(&format!(
            "s=$(pwd); mv \"$s\" \"$s.old\"; mkdir \"$s\"; ln -s \"$s.old/scratch\" \"$s/scratch\"; \
             echo forged > \"$s/agent.stdout\"; ln -s {} \"$s/x\"",
            elsewhere.display()
        )),
    );
    p.agents(&[
        ("moved", &["sh", "-c", &moved]),
        ("linked", &["sh", "-c", &linked]),
        ("removed", &["sh", "-c", &removed]),
        ("root_linked", &["sh", "-c", &root_linked]),
    ]);
    // By default the session directory cannot be moved (the runs tree is read-only but for
    // it); `filesystem: host` lets the agent try, and reev must still notice.
    let yml = std::fs::read_to_string(p.join("reev.yml")).unwrap();
    p.write(
        "reev.yml",
        &format!("{yml}    sandbox:\n      filesystem: host\n"),
    );
    // Passes only when it judges a forged directory or a forged output file.
    bench(
        &p,
        "v",
        "    - verify: {command: [sh, -c, \"grep -q forged out.txt || grep -q forged \\\"$REEV_STDOUT\\\"\"]}\n\
         \x20   - verify: {command: [\"true\"]}\n",
    );
    p.reev(&["run", "--jobs", "2"]).ok();
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 4);
    for s in &sessions {
        // The agent's doing: failed, not an error that would be retried or left out of rates.
        assert_eq!(s["status"], "failed", "{s}");
        assert!(s["error"].is_null(), "{s}");
        for a in s["assertions"].as_array().unwrap() {
            assert_eq!(
                a["message"],
                "not run: the agent moved or replaced its session directory or scratch directory",
                "{s}"
            );
        }
    }
}

#[test]
fn nothing_the_agent_started_is_left_when_its_verifiers_run() {
    let p = Project::new();
    // A detached daemon; its host pid (from the host's /proc) is left in the scratch dir.
    p.agents(&[(
        "a",
        &[
            "sh",
            "-c",
            "setsid sh -c 'cut -d\" \" -f4 /proc/self/stat > pid.tmp; mv pid.tmp pid; exec sleep 1000' &\n\
             while [ ! -s pid ]; do sleep 0.01; done",
        ],
    )]);
    bench(
        &p,
        "v",
        "    - verify: {command: [sh, -c, \"if [ -e /proc/$(cat pid) ]; then echo alive; exit 1; fi\"]}\n",
    );
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded", "{s}");
}

#[test]
fn the_shipped_transfer_verifier_fails_a_ledger_it_cannot_read_safely_never_hangs() {
    let p = common::shipped_suite();
    let outside = p.join("outside.json");
    std::fs::write(
        &outside,
        r#"{"accounts": {"alice": 70, "bob": 80, "carol": 0}}"#,
    )
    .unwrap();
    p.agents(&[
        ("fifo", &["sh", "-c", "rm ledger.json; mkfifo ledger.json"]),
        (
            "huge",
            &["sh", "-c", "head -c 2000000 /dev/zero > ledger.json"],
        ),
        (
            "link",
            &[
                "sh",
                "-c",
                &format!("ln -sf {} ledger.json", outside.display()),
            ],
        ),
    ]);
    p.reev(&["run", "--filter", "ledger.transfer", "--jobs", "3"])
        .ok();
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 3);
    for s in &sessions {
        // The agent's doing, judged: not an `error` from a verifier that blocked or timed out.
        assert_eq!(s["status"], "failed", "{s}");
        let v = s["assertions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["type"] == "verify")
            .unwrap();
        assert_eq!(v["score"], 0.0, "{v}");
        assert_eq!(v["verifier"]["timed_out"], false, "{v}");
    }
}

#[test]
fn a_sandboxed_verifier_gets_an_empty_tmpdir() {
    let p = Project::new();
    p.write(
        "reev.yml",
        "agents:\n  boxed:\n    command: [sh, -c, 'touch \"$TMPDIR/left\"; mkfifo \"$TMPDIR/fifo\"']\n    sandbox:\n      filesystem: scratch\n",
    );
    bench(
        &p,
        "v",
        "    - verify: {command: [sh, -c, 'ls -A \"$TMPDIR\"; [ -z \"$(ls -A \"$TMPDIR\")\" ]']}\n",
    );
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded", "{s}");
}
