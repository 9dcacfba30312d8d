//! `reev run` with the shipped OpenAI-compatible agent (`agents/openai_agent.py`) against a
//! scripted chat-completions server the test starts: model requests, tool calls, tokens and
//! cost end to end (session file, load, report, export), and API failures as exit 75.

use crate::common;
use crate::common::{wait_for, Project};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// The scripted server (`tests/data/scripted_openai.py`), killed when dropped.
pub struct Server {
    child: std::process::Child,
    pub port: u16,
    log: std::path::PathBuf,
}

impl Server {
    pub fn start(p: &Project, script: &Value) -> Server {
        p.write("server/script.json", &script.to_string());
        let port_file = p.join("server/port");
        let log = p.join("server/requests.jsonl");
        let child = std::process::Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/scripted_openai.py"))
            .arg(p.join("server/script.json"))
            .arg(&port_file)
            .arg(&log)
            .spawn()
            .expect("start the scripted server");
        assert!(
            wait_for(Duration::from_secs(30), || port_file.exists()),
            "the scripted server did not start"
        );
        let port = std::fs::read_to_string(&port_file)
            .expect("port file")
            .trim()
            .parse()
            .expect("a port");
        Server { child, port, log }
    }

    /// The request bodies the server received, in order.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("log line"))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// reev.yml with the OpenAI agent pointed at `base_url`, and a price for the scripted model.
fn project_with_agent(p: &Project, base_url: &str) {
    let agent = Path::new(env!("CARGO_MANIFEST_DIR")).join("agents/openai_agent.py");
    p.write(
        "reev.yml",
        &format!(
            "prices:\n  scripted-model: {{input: 2.0, output: 10.0}}\n\
             agents:\n  llm:\n    command: [python3, {agent:?}]\n    env:\n      \
             REEV_OPENAI_BASE_URL: {base_url:?}\n      REEV_OPENAI_MODEL: scripted-model\n      \
             OPENAI_API_KEY: test-key\n      REEV_OPENAI_RETRIES: \"1\"\n      REEV_OPENAI_TIMEOUT: \"20\"\n"
        ),
    );
    transfer_benchmark(p);
}

/// The benchmark the scripted transfer solves: a transfer, then `done` on stdout.
pub fn transfer_benchmark(p: &Project) {
    p.write(
        "benchmarks/transfer.yml",
        "id: transfer\ndescription: a transfer by a model\nprompt: In ledger.json, transfer 30 from alice to bob, then print done.\ntimeout: 60s\n\
         initial_state:\n  - path: ledger.json\n    json: {accounts: {alice: 100, bob: 50}}\n\
         ground_truth:\n  assertions:\n    - exit_code: 0\n    - json_value: {file: ledger.json, path: /accounts/alice, equals: 70}\n    - stdout_contains: done\n",
    );
}

/// Four model turns: three tool calls, then an answer. 700 input and 100 output tokens.
pub fn transfer_script() -> Value {
    json!({"model": "served-name", "turns": [
        {"tool_calls": [{"name": "list_files", "arguments": {}}], "usage": [100, 20]},
        {"tool_calls": [{"name": "read_file", "arguments": {"path": "ledger.json"}}], "usage": [150, 30]},
        {"tool_calls": [{"name": "write_file", "arguments": {"path": "ledger.json",
            "content": "{\"accounts\": {\"alice\": 70, \"bob\": 80}}"}}], "usage": [200, 40]},
        {"content": "done", "usage": [250, 10]}
    ]})
}

#[test]
fn the_openai_agent_records_model_requests_tool_calls_tokens_and_cost() {
    let p = Project::new();
    let server = Server::start(&p, &transfer_script());
    project_with_agent(&p, &format!("http://127.0.0.1:{}/v1", server.port));
    p.reev(&["run", "--run-id", "llm1"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded", "{s:#}");
    assert_eq!(s["input_tokens"], 700);
    assert_eq!(s["output_tokens"], 100);
    let cost = s["cost_usd"].as_f64().expect("cost_usd");
    assert!((cost - 0.0024).abs() < 1e-12, "{cost}");
    let events = s["events"].as_array().expect("events");
    let of = |kind: &str| -> Vec<&Value> { events.iter().filter(|e| e["type"] == kind).collect() };
    let requests = of("model_request");
    assert_eq!(requests.len(), 4);
    assert!(requests
        .iter()
        .all(|e| e["data"]["model"] == "scripted-model"
            && e["data"]["response_model"] == "served-name"));
    let tools: Vec<&str> = of("tool_call")
        .iter()
        .map(|e| e["data"]["name"].as_str().expect("tool name"))
        .collect();
    assert_eq!(tools, ["list_files", "read_file", "write_file"]);
    assert_eq!(s["metrics"]["tokens"], 800.0);
    // What the server saw: the key, the tools, and the tool results sent back.
    let seen = server.requests();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|r| r["auth"] == "Bearer test-key"));
    let names: Vec<&str> = seen[0]["body"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    for t in ["read_file", "write_file", "list_files", "finish"] {
        assert!(names.contains(&t), "{names:?}");
    }
    let last = seen[3]["body"]["messages"].as_array().expect("messages");
    assert!(last.iter().any(|m| m["role"] == "tool"
        && m["content"]
            .as_str()
            .is_some_and(|c| c.contains("\"alice\": 100"))));

    // Loaded, reported and exported.
    p.reev(&["load"]).ok();
    p.reev(&["report", "--run", "llm1"]).ok();
    let report: Value = serde_json::from_slice(
        &std::fs::read(p.join("reports/llm1/report.json")).expect("report.json"),
    )
    .expect("json");
    let a = &report["agents"][0];
    assert_eq!(a["tokens_per_session"], 800.0);
    assert!((a["cost_per_success"].as_f64().expect("cost per success") - 0.0024).abs() < 1e-12);
    let md = std::fs::read_to_string(p.join("reports/llm1/report.md")).expect("report.md");
    assert!(
        md.contains("| llm | 800 | $0.002400 | $0.002400 | 1 of 1 |"),
        "{md}"
    );
    let csv = p
        .reev(&["export", "--table", "sessions"])
        .ok()
        .stdout
        .clone();
    let mut lines = csv.lines();
    let header = lines.next().expect("header");
    assert!(
        header.ends_with(",input_tokens,output_tokens,cost_usd,try_number"),
        "{header}"
    );
    assert!(
        lines.next().expect("row").ends_with(",700,100,0.0024,1"),
        "{csv}"
    );
}

#[test]
fn an_api_that_keeps_failing_makes_the_agent_exit_75_after_its_retries() {
    let p = Project::new();
    let server = Server::start(&p, &json!({"status": 503}));
    project_with_agent(&p, &format!("http://127.0.0.1:{}/v1", server.port));
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["exit_code"], 75, "{s:#}");
    assert_eq!(s["status"], "error", "{s:#}");
    assert!(s["stderr"]["text"]
        .as_str()
        .is_some_and(|t| t.contains("HTTP 503")));
    // One try and one retry (REEV_OPENAI_RETRIES=1); no model request was answered.
    assert_eq!(server.requests().len(), 2);
    assert!(s.get("cost_usd").is_none() && s.get("input_tokens").is_none());
}

#[test]
fn a_passing_api_failure_is_retried_and_the_session_goes_on() {
    let p = Project::new();
    let mut script = transfer_script();
    script["fail_first"] = json!(1);
    let server = Server::start(&p, &script);
    project_with_agent(&p, &format!("http://127.0.0.1:{}/v1", server.port));
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded", "{s:#}");
    // Five requests reached the server, four were answered: only those count.
    assert_eq!(server.requests().len(), 5);
    assert_eq!(s["input_tokens"], 700);
}

#[test]
fn an_unreachable_api_makes_the_agent_exit_75() {
    let p = Project::new();
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    project_with_agent(&p, &format!("http://127.0.0.1:{port}/v1"));
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["exit_code"], 75, "{s:#}");
    assert!(s["stderr"]["text"]
        .as_str()
        .is_some_and(|t| t.contains("cannot reach")));
}

/// The shipped suite with `examples/llm/reev.yml` beside it, as in a clone.
fn llm_example() -> Project {
    let p = common::shipped_suite();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(p.join("examples/llm")).unwrap();
    std::fs::copy(
        repo.join("examples/llm/reev.yml"),
        p.join("examples/llm/reev.yml"),
    )
    .unwrap();
    p
}

/// `reev run` of the LLM example on ledger.transfer with the model at `base_url`; `model`
/// None leaves REEV_OPENAI_MODEL (and OPENAI_MODEL) unset.
fn run_example(p: &Project, base_url: &str, model: Option<&str>) -> common::Out {
    let mut cmd = p.cmd(&[
        "run",
        "--config",
        "examples/llm/reev.yml",
        "--filter",
        "ledger.transfer",
    ]);
    // The example reaches its model through reev's gateway: its `upstream:` is the server.
    let yml = std::fs::read_to_string(p.join("examples/llm/reev.yml")).unwrap();
    p.write(
        "examples/llm/reev.yml",
        &yml.replace(
            "upstream: http://127.0.0.1:8080/v1",
            &format!("upstream: {base_url}"),
        ),
    );
    cmd.env("REEV_OPENAI_BASE_URL", base_url)
        .env_remove("OPENAI_MODEL")
        .env_remove("REEV_OPENAI_MODEL")
        .env_remove("OPENAI_BASE_URL");
    if let Some(m) = model {
        cmd.env("REEV_OPENAI_MODEL", m);
    }
    cmd.output().expect("run reev").into()
}

/// Issue 22, defect 5: the example agent's `timeout: 5m` was cut to the ledger benchmarks'
/// `10s`, so a model doing several tool steps ended `timed_out`. The longer limit wins now:
/// three model requests of 3.5 s each (10.5 s in all) pass ledger.transfer.
#[test]
fn the_llm_example_passes_with_a_slow_model_doing_several_tool_steps() {
    let p = llm_example();
    let ledger = r#"{"currency": "EUR", "accounts": {"alice": 70, "bob": 80, "carol": 0}}"#;
    let server = Server::start(
        &p,
        &json!({"model": "glm-4.6", "delay": 3.5, "turns": [
            {"tool_calls": [{"name": "read_file", "arguments": {"path": "ledger.json"}}], "usage": [100, 20]},
            {"tool_calls": [{"name": "write_file", "arguments": {"path": "ledger.json", "content": ledger}}], "usage": [150, 30]},
            {"tool_calls": [{"name": "finish", "arguments": {"output": "done", "exit_code": 0}}], "usage": [200, 10]}
        ]}),
    );
    let out = run_example(
        &p,
        &format!("http://127.0.0.1:{}/v1", server.port),
        Some("glm-4.6"),
    );
    out.ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded", "{s:#}");
    assert_eq!(s["timeout_ms"], 300_000, "{s:#}");
    assert!(s["duration_ms"].as_u64().unwrap() > 10_000, "{s:#}");
    assert_eq!(server.requests().len(), 3);
}

/// The rule itself: each session gets the longer of its benchmark's and its agent's timeout;
/// `--timeout` cuts both.
#[test]
fn an_agent_that_declares_a_longer_timeout_than_the_benchmark_gets_it() {
    let p = Project::new();
    p.write(
        "reev.yml",
        "agents:\n  patient:\n    command: [sh, -c, \"sleep 1.5\"]\n    timeout: 30s\n  plain:\n    command: [sh, -c, \"sleep 1.5\"]\n",
    );
    p.write(
        "benchmarks/b.yml",
        "id: b\ndescription: d\nprompt: p\ntimeout: 500ms\nground_truth:\n  assertions:\n    - exit_code: 0\n",
    );
    p.reev(&["run", "--run-id", "r1"]).ok();
    let by_agent = |run: &str, a: &str| {
        p.sessions()
            .into_iter()
            .find(|s| s["agent"] == a && s["run_id"] == run)
            .expect("session")
    };
    let patient = by_agent("r1", "patient");
    assert_eq!(patient["status"], "succeeded", "{patient:#}");
    assert_eq!(patient["timeout_ms"], 30_000);
    let plain = by_agent("r1", "plain");
    assert_eq!(plain["status"], "timed_out", "{plain:#}");
    assert_eq!(plain["timeout_ms"], 500);
    p.reev(&["run", "--run-id", "r2", "--timeout", "500ms"])
        .ok();
    assert_eq!(by_agent("r2", "patient")["status"], "timed_out");
}

/// Issue 22, defect 5: a misconfigured LLM agent (no REEV_OPENAI_MODEL) exited 1 and was
/// counted `failed` with a partial score; a server that answers with something that is not
/// HTTP crashed it the same way. Both are exit 75: `error`, not judged.
#[test]
fn a_misconfigured_llm_agent_or_a_broken_server_is_an_error_not_a_failure() {
    let p = llm_example();
    let server = Server::start(&p, &json!({"garbage": true}));
    let url = format!("http://127.0.0.1:{}/v1", server.port);
    run_example(&p, &url, None);
    let s = &p.sessions()[0];
    assert_eq!(s["exit_code"], 75, "{s:#}");
    assert_eq!(s["status"], "error", "{s:#}");
    assert!(s["stderr"]["text"]
        .as_str()
        .is_some_and(|t| t.contains("REEV_OPENAI_MODEL")));
    std::fs::remove_dir_all(p.join("runs")).unwrap();
    run_example(&p, &url, Some("glm-4.6"));
    let s = &p.sessions()[0];
    assert_eq!(s["exit_code"], 75, "{s:#}");
    assert_eq!(s["status"], "error", "{s:#}");
}

/// The commands `examples/llm/reev.yml` documents, read from its comments and run as written
/// (its `upstream:` pointed at a scripted model that finishes at once): the live night records
/// every session's model calls; with the model gone, the replay gives the same statuses and
/// scores, at no cost.
#[test]
fn the_llm_example_records_and_replays_as_written() {
    let p = llm_example();
    let server = Server::start(
        &p,
        &json!({"model": "glm-4.6", "turns": [
            {"tool_calls": [{"name": "finish", "arguments": {"output": "done", "exit_code": 0}}], "usage": [100, 10]}
        ]}),
    );
    let yml = std::fs::read_to_string(p.join("examples/llm/reev.yml")).unwrap();
    p.write(
        "examples/llm/reev.yml",
        &yml.replace(
            "upstream: http://127.0.0.1:8080/v1",
            &format!("upstream: http://127.0.0.1:{}/v1", server.port),
        ),
    );
    let documented: Vec<String> = yml
        .lines()
        .filter_map(|l| l.trim_start_matches('#').trim().strip_prefix("reev "))
        .map(|l| l.split(" # ").next().unwrap_or(l).trim().to_string())
        .collect();
    assert_eq!(documented.len(), 2, "{documented:?}");
    let model = yml
        .lines()
        .find_map(|l| {
            l.trim_start_matches('#')
                .trim()
                .strip_prefix("export REEV_OPENAI_MODEL=")
        })
        .map(|v| v.split_whitespace().next().unwrap_or(v).to_string())
        .expect("the documented model variable");
    let run = |line: &str| -> common::Out {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut cmd = p.cmd(&words);
        cmd.env("REEV_OPENAI_MODEL", &model)
            .env_remove("OPENAI_MODEL")
            .env_remove("REEV_OPENAI_BASE_URL")
            .env_remove("OPENAI_BASE_URL");
        cmd.output().expect("run reev").into()
    };
    run(&documented[0]).ok();
    let nightly = p.sessions();
    assert!(nightly.len() >= 10, "{}", nightly.len());
    for s in &nightly {
        assert!(
            s["gateway"]["calls"]
                .as_array()
                .is_some_and(|c| !c.is_empty()),
            "{s:#}"
        );
        assert_eq!(s["input_tokens"], 100, "{s:#}");
    }
    drop(server);
    run(&documented[1]).ok();
    let by_key = |run: &str| -> std::collections::BTreeMap<String, Value> {
        common::session_files(&p.join(&format!("runs/{run}")))
            .iter()
            .map(|f| {
                let s: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
                (format!("{}@{}", s["benchmark_id"], s["attempt"]), s)
            })
            .collect()
    };
    let (live, again) = (by_key("nightly"), by_key("recheck"));
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        again.keys().collect::<Vec<_>>()
    );
    for (k, s) in &again {
        assert_eq!(s["status"], live[k]["status"], "{k}: {s:#}");
        assert_eq!(s["score"], live[k]["score"], "{k}");
        assert_eq!(s["gateway"]["replayed_from"], "nightly", "{k}");
        assert_eq!(s["cost_usd"], 0.0, "{k}");
    }
}
