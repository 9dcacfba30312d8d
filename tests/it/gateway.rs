//! The model gateway through the binary: agents with `gateway:` reach their model through
//! reev's listener, every call is recorded beside the session file (never a credential),
//! tokens and cost come from the gateway, and `reev run --replay RUN_ID` answers from the
//! recorded cassettes with the upstream gone. Upstreams: the scripted server
//! (tests/data/scripted_openai.py) and LiteLLM's proxy with mock responses (PyPI, where the
//! test venv has it).

use crate::common::{self, wait_for, Project};
use crate::run_openai_agent::{transfer_benchmark, transfer_script, Server};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// The key reev sends upstream (from `api_key_env`); it must never reach a file.
const KEY: &str = "sk-reev-test-7f3a9c1e5b";

fn openai_agent() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("agents/openai_agent.py")
        .to_string_lossy()
        .into_owned()
}

/// reev.yml: agent `llm` (the shipped OpenAI agent) through the gateway to `upstream`, plus
/// `extra` agents (YAML under `agents:`).
fn gateway_config(p: &Project, upstream: &str, model: &str, extra: &str) {
    p.write(
        "reev.yml",
        &format!(
            "prices:\n  {model}: {{input: 2.0, output: 10.0}}\n\
             agents:\n  llm:\n    command: [python3, {agent:?}]\n    env:\n      \
             REEV_OPENAI_MODEL: {model}\n      REEV_OPENAI_RETRIES: \"0\"\n      REEV_OPENAI_TIMEOUT: \"20\"\n    \
             gateway: {{upstream: {upstream:?}, api_key_env: REEV_TEST_UPSTREAM_KEY}}\n{extra}",
            agent = openai_agent()
        ),
    );
}

/// `reev ARGS` with the upstream key in reev's environment.
fn reev_with_key(p: &Project, args: &[&str]) -> common::Out {
    common::Out::from(
        p.cmd(args)
            .env("REEV_TEST_UPSTREAM_KEY", KEY)
            .output()
            .expect("run reev"),
    )
}

/// The session files of run `run`, keyed by `agent/benchmark@attempt`.
fn sessions_of(p: &Project, run: &str) -> std::collections::BTreeMap<String, Value> {
    common::session_files(&p.join(&format!("runs/{run}")))
        .iter()
        .map(|f| {
            let s: Value = serde_json::from_slice(&std::fs::read(f).expect("read")).expect("json");
            (
                format!(
                    "{}/{}@{}",
                    s["agent"].as_str().unwrap_or(""),
                    s["benchmark_id"].as_str().unwrap_or(""),
                    s["attempt"]
                ),
                s,
            )
        })
        .collect()
}

/// No file under runs/ holds the upstream key.
fn key_is_nowhere(p: &Project) {
    for f in common::walk(&p.join("runs")) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY),
            "{} holds the API key",
            f.display()
        );
    }
}

/// The scripted model server, an agent behind the gateway that calls it, and the transfer
/// benchmark: what the record-and-replay tests start from. The server lives while it is held.
fn scripted_transfer(p: &Project) -> Server {
    let server = Server::start(p, &transfer_script());
    gateway_config(
        p,
        &format!("http://127.0.0.1:{}/v1", server.port),
        "scripted-model",
        "",
    );
    transfer_benchmark(p);
    server
}

#[test]
fn record_then_replay_with_the_upstream_gone_gives_the_same_statuses_and_scores() {
    let p = Project::new();
    let server = scripted_transfer(&p);
    reev_with_key(
        &p,
        &["run", "--attempts", "2", "--jobs", "2", "--run-id", "rec"],
    )
    .ok();
    let rec = sessions_of(&p, "rec");
    assert_eq!(rec.len(), 2);
    for s in rec.values() {
        assert_eq!(s["status"], "succeeded", "{s:#}");
        let g = &s["gateway"];
        assert_eq!(g["calls"].as_array().map(Vec::len), Some(4), "{g:#}");
        assert_eq!(
            (g["input_tokens"].as_u64(), g["output_tokens"].as_u64()),
            (Some(700), Some(100))
        );
        assert!((s["cost_usd"].as_f64().expect("cost") - 0.0024).abs() < 1e-12);
        assert!(g.get("replayed_from").is_none());
        assert!(p
            .join(&format!(
                "runs/rec/{}",
                g["cassette"].as_str().expect("cassette")
            ))
            .is_file());
    }
    // The upstream got reev's key, whatever the agent sent; the agent was given none.
    let seen = server.requests();
    assert_eq!(seen.len(), 8);
    assert!(
        seen.iter().all(|r| r["auth"] == format!("Bearer {KEY}")),
        "{seen:?}"
    );
    key_is_nowhere(&p);
    drop(server);

    // Replayed: no upstream, no key; same statuses and scores, cost 0, marked as replayed.
    p.reev(&[
        "run",
        "--replay",
        "rec",
        "--attempts",
        "2",
        "--run-id",
        "again",
    ])
    .ok();
    let again = sessions_of(&p, "again");
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        rec.keys().collect::<Vec<_>>()
    );
    for (k, s) in &again {
        assert_eq!(s["status"], rec[k]["status"], "{s:#}");
        assert_eq!(s["score"], rec[k]["score"]);
        assert_eq!(s["cost_usd"], 0.0);
        assert_eq!(s["input_tokens"], 700);
        assert_eq!(s["gateway"]["replayed_from"], "rec");
    }
    p.reev(&["load"]).ok();
    assert_eq!(p.count("reev.duckdb", "SELECT count(*) FROM model_calls WHERE run_id = 'rec' AND NOT replayed AND status = 200"), 8);
    assert_eq!(
        p.count("reev.duckdb", "SELECT count(*) FROM model_calls WHERE run_id = 'again' AND replayed AND replayed_from = 'rec' AND input_tokens > 0"),
        8
    );
    // Reports say the run was replayed, and the gate never takes the live run as its
    // baseline, asked for or by default.
    p.reev(&[
        "report",
        "--run",
        "again",
        "--baseline",
        "rec",
        "--format",
        "html,md,json",
    ])
    .ok()
    .stderr_has("not both replayed or both live");
    let read = |f: &str| std::fs::read_to_string(p.join(&format!("reports/again/{f}"))).expect(f);
    assert!(
        read("report.html").contains("<strong>Replayed</strong> from run <code>rec</code>"),
        "{}",
        read("report.html")
    );
    assert!(read("report.md").contains("**Replayed** from run `rec`"));
    let json: Value = serde_json::from_str(&read("report.json")).expect("json");
    assert!(
        json["baseline_run_id"].is_null(),
        "{}",
        json["baseline_run_id"]
    );
    p.reev(&["report", "--run", "again", "--format", "json"])
        .ok();
    let json: Value = serde_json::from_str(&read("report.json")).expect("json");
    assert!(
        json["baseline_run_id"].is_null(),
        "{}",
        json["baseline_run_id"]
    );
}

#[test]
fn a_changed_prompt_is_an_error_naming_the_request_and_the_json_path() {
    let p = Project::new();
    let server = scripted_transfer(&p);
    reev_with_key(&p, &["run", "--run-id", "rec"]).ok();
    drop(server);
    let bench = std::fs::read_to_string(p.join("benchmarks/transfer.yml")).expect("read");
    p.write(
        "benchmarks/transfer.yml",
        &bench.replace("transfer 30", "transfer 31"),
    );
    p.reev(&["run", "--replay", "rec", "--run-id", "changed"])
        .ok();
    let s = &sessions_of(&p, "changed")["llm/transfer@1"];
    assert_eq!(s["status"], "error", "{s:#}");
    let error = s["error"].as_str().expect("error");
    assert!(
        error.contains(
            "replay of run rec: request 1 differs from the cassette at /messages/1/content"
        ),
        "{error}"
    );
}

#[test]
fn an_edited_cassette_is_refused_naming_the_file() {
    let p = Project::new();
    let _server = scripted_transfer(&p);
    reev_with_key(&p, &["run", "--run-id", "rec"]).ok();
    let cassette = p.join("runs/rec/cassettes/llm/transfer@1.json");
    let text = std::fs::read_to_string(&cassette).expect("cassette");
    std::fs::write(&cassette, text.replace("done", "DONE")).expect("edit");
    let out = p.reev(&["run", "--replay", "rec", "--run-id", "edited"]);
    out.code(2)
        .stderr_has("changed after its run")
        .stderr_has("runs/rec/cassettes/llm/transfer@1.json");
    assert!(!p.join("runs/edited").exists(), "nothing was started");
}

#[test]
fn replaying_a_run_without_cassettes_says_so_before_starting() {
    let p = Project::new();
    p.agents(&[("plain", &["true"])]).simple_benchmark("b");
    p.reev(&["run", "--run-id", "plain"]).ok();
    p.reev(&["run", "--replay", "plain", "--run-id", "r2"])
        .code(2)
        .stderr_has("no model-call cassettes");
    p.reev(&["run", "--replay", "nosuch"])
        .code(2)
        .stderr_has("no such run");
    assert!(!p.join("runs/r2").exists());
}

/// A Python agent that makes one chat request through the gateway and writes no events.
const ONE_REQUEST: &str = r#"
import json, os, sys, urllib.request
body = {"model": "scripted-model", "messages": [{"role": "user", "content": sys.stdin.read()}]}
req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions",
                             json.dumps(body).encode(), {"Content-Type": "application/json",
                             "Authorization": "Bearer agent-own-key"})
try:
    with urllib.request.urlopen(req, timeout=20) as r:
        print(json.load(r)["choices"][0]["message"]["content"])
except Exception as e:
    print(f"request failed: {e}", file=sys.stderr)
    sys.exit(75)
"#;

/// A Python agent that streams one answer (with usage) and prints the text and when its
/// first and last bytes came.
const STREAMER: &str = r#"
import json, os, sys, time, urllib.request
body = {"model": "scripted-model", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": sys.stdin.read()}]}
req = urllib.request.Request(os.environ["REEV_GATEWAY_URL"] + "/chat/completions",
                             json.dumps(body).encode(), {"Content-Type": "application/json"})
t0, first, text = time.monotonic(), None, ""
with urllib.request.urlopen(req, timeout=30) as r:
    for line in r:
        first = first if first is not None else time.monotonic() - t0
        line = line.decode().strip()
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            for c in json.loads(line[5:]).get("choices", []):
                text += c["delta"].get("content") or ""
print(json.dumps({"text": text, "first": first, "total": time.monotonic() - t0}))
"#;

/// An agent (YAML under `agents:`) running a Python `script` through the gateway.
fn script_agent(p: &Project, name: &str, script: &str, upstream: &str, more: &str) -> String {
    p.write(&format!("{name}.py"), script);
    format!(
        "  {name}:\n    command: [python3, {:?}]\n    gateway: {{upstream: {upstream:?}}}\n{more}",
        p.join(&format!("{name}.py")).display()
    )
}

#[test]
fn tokens_and_cost_come_from_the_gateway_for_an_agent_without_events() {
    let p = Project::new();
    let server = Server::start(
        &p,
        &json!({"model": "m", "turns": [{"content": "hello", "usage": [1000, 50]}]}),
    );
    let url = format!("http://127.0.0.1:{}/v1", server.port);
    let agent = script_agent(&p, "quiet", ONE_REQUEST, &url, "");
    p.write(
        "reev.yml",
        &format!("prices:\n  scripted-model: {{input: 2.0, output: 10.0}}\nagents:\n{agent}"),
    );
    p.write(
        "benchmarks/hi.yml",
        "id: hi\ndescription: one greeting\nprompt: say hello\nground_truth:\n  assertions:\n    - stdout_contains: hello\n",
    );
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "succeeded", "{s:#}");
    assert_eq!(s["events"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        (s["input_tokens"].as_u64(), s["output_tokens"].as_u64()),
        (Some(1000), Some(50))
    );
    assert!(
        (s["cost_usd"].as_f64().expect("cost") - 0.0025).abs() < 1e-12,
        "{s:#}"
    );
    // The agent's own Authorization header stayed behind (no api_key_env: none was sent).
    assert_eq!(server.requests()[0]["auth"], Value::Null);
}

#[test]
fn a_stream_passes_chunk_by_chunk_and_replays() {
    let p = Project::new();
    let server = Server::start(
        &p,
        &json!({"model": "m", "piece": 4, "chunk_delay_ms": 150,
                "turns": [{"content": "hello world stream", "usage": [12, 5]}]}),
    );
    let url = format!("http://127.0.0.1:{}/v1", server.port);
    let agent = script_agent(&p, "streamer", STREAMER, &url, "");
    p.write(
        "reev.yml",
        &format!("prices:\n  scripted-model: {{input: 2.0, output: 10.0}}\nagents:\n{agent}"),
    );
    p.write(
        "benchmarks/s.yml",
        "id: s\ndescription: a streamed answer\nprompt: stream it\nground_truth:\n  assertions:\n    - stdout_contains: hello world stream\n",
    );
    p.reev(&["run", "--run-id", "rec"]).ok();
    let s = &sessions_of(&p, "rec")["streamer/s@1"];
    assert_eq!(s["status"], "succeeded", "{s:#}");
    let out: Value =
        serde_json::from_str(s["stdout"]["text"].as_str().expect("stdout").trim()).expect("json");
    // Five pieces 150 ms apart: the first arrived long before the last (no buffering).
    let (first, total) = (
        out["first"].as_f64().expect("first"),
        out["total"].as_f64().expect("total"),
    );
    assert!(
        first + 0.4 < total,
        "first byte {first} s, whole answer {total} s"
    );
    assert_eq!(
        (s["input_tokens"].as_u64(), s["output_tokens"].as_u64()),
        (Some(12), Some(5))
    );
    let cassette: Value = serde_json::from_slice(
        &std::fs::read(p.join("runs/rec/cassettes/streamer/s@1.json")).expect("cassette"),
    )
    .expect("json");
    let call = &cassette["calls"][0];
    assert_eq!(call["content_type"], "text/event-stream");
    assert!(
        call["chunks"].as_array().map(Vec::len).unwrap_or(0) >= 5,
        "{call:#}"
    );
    drop(server);
    p.reev(&["run", "--replay", "rec", "--run-id", "again"])
        .ok();
    let s = &sessions_of(&p, "again")["streamer/s@1"];
    assert_eq!(s["status"], "succeeded", "{s:#}");
    assert_eq!(s["output_tokens"], 5);
}

#[test]
fn an_unreachable_upstream_is_an_error_naming_its_address() {
    let p = Project::new();
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let agent = script_agent(
        &p,
        "quiet",
        ONE_REQUEST,
        &format!("http://127.0.0.1:{port}/v1"),
        "",
    );
    p.write("reev.yml", &format!("agents:\n{agent}"));
    p.simple_benchmark("b");
    p.reev(&["run"]).ok();
    let s = &p.sessions()[0];
    assert_eq!(s["status"], "error", "{s:#}");
    let error = s["error"].as_str().expect("error");
    assert!(
        error.contains(&format!(
            "cannot reach the model upstream http://127.0.0.1:{port}/v1"
        )),
        "{error}"
    );
}

#[test]
fn malformed_json_and_a_cut_stream_are_recorded_as_they_were_and_errors() {
    let p = Project::new();
    let bad = Server::start(
        &p,
        &json!({"model": "m", "malformed": true, "turns": [{"content": "x", "usage": [1, 1]}]}),
    );
    let q = Project::new();
    let cut = Server::start(
        &q,
        &json!({"model": "m", "cut_stream": true, "turns": [{"content": "abcdefghijklmnop", "usage": [1, 1]}]}),
    );
    let a = script_agent(
        &p,
        "quiet",
        ONE_REQUEST,
        &format!("http://127.0.0.1:{}/v1", bad.port),
        "",
    );
    let b = script_agent(
        &p,
        "streamer",
        STREAMER,
        &format!("http://127.0.0.1:{}/v1", cut.port),
        "",
    );
    p.write("reev.yml", &format!("agents:\n{a}{b}"));
    p.simple_benchmark("b");
    p.reev(&["run", "--run-id", "faults"]).ok();
    let all = sessions_of(&p, "faults");
    let quiet = &all["quiet/b@1"];
    assert_eq!(quiet["status"], "error", "{quiet:#}");
    assert!(
        quiet["error"]
            .as_str()
            .is_some_and(|e| e.contains("malformed JSON from the upstream")),
        "{quiet:#}"
    );
    let cassette =
        std::fs::read_to_string(p.join("runs/faults/cassettes/quiet/b@1.json")).expect("cassette");
    assert!(
        cassette.contains(r#""data": "{\"choices\": [""#),
        "{cassette}"
    );
    let streamer = &all["streamer/b@1"];
    assert_eq!(streamer["status"], "error", "{streamer:#}");
    assert!(
        streamer["error"]
            .as_str()
            .is_some_and(|e| e.contains("cut its response")),
        "{streamer:#}"
    );
    let cassette = std::fs::read_to_string(p.join("runs/faults/cassettes/streamer/b@1.json"))
        .expect("cassette");
    assert!(
        cassette.contains("abcd") && !cassette.contains("[DONE]"),
        "{cassette}"
    );
}

/// As root: a `network: none` agent reaches its gateway and nothing else.
#[test]
fn a_network_none_agent_reaches_the_gateway_and_nothing_else() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "skipped: network: none reaches the gateway only as root (README, Model gateway)"
        );
        return;
    }
    let p = Project::new();
    let server = Server::start(
        &p,
        &json!({"model": "m", "turns": [{"content": "hello", "usage": [3, 1]}]}),
    );
    let url = format!("http://127.0.0.1:{}/v1", server.port);
    let probe = format!(
        "{ONE_REQUEST}\nimport socket\ntry:\n    socket.create_connection(('127.0.0.1', {}), timeout=2)\n    print('upstream reachable')\nexcept OSError:\n    print('upstream unreachable')\n",
        server.port
    );
    let agent = script_agent(&p, "boxed", &probe, &url, "    sandbox: {network: none}\n");
    p.write("reev.yml", &format!("agents:\n{agent}"));
    p.write(
        "benchmarks/n.yml",
        "id: n\ndescription: the network is none\nprompt: hi\nground_truth:\n  assertions:\n    - stdout_contains: hello\n    - stdout_contains: upstream unreachable\n",
    );
    p.reev(&["run", "--jobs", "2", "--attempts", "3"]).ok();
    for s in p.sessions() {
        assert_eq!(s["status"], "succeeded", "{s:#}");
    }
}

/// LiteLLM's proxy (PyPI `litellm[proxy]`) with mock responses, killed when dropped.
struct Litellm {
    child: std::process::Child,
    port: u16,
}

impl Drop for Litellm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const LITELLM_KEY: &str = "sk-litellm-master-4d2e8b";

/// Start the proxy when the test venv has it; `None` (test skipped, said on stderr) when not.
fn litellm(p: &Project) -> Option<Litellm> {
    let bin = Path::new(&common::python()).with_file_name("litellm");
    if !bin.is_file() {
        eprintln!(
            "skipped: no {} (pip install 'litellm[proxy]' into the test venv)",
            bin.display()
        );
        return None;
    }
    p.write(
        "litellm.yaml",
        &format!(
            "model_list:\n  - model_name: mock-gpt\n    litellm_params:\n      model: openai/mock-gpt\n      \
             api_key: unused\n      mock_response: \"done\"\ngeneral_settings:\n  master_key: {LITELLM_KEY}\n"
        ),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = std::process::Command::new(&bin)
        .args([
            "--config",
            &p.join("litellm.yaml").to_string_lossy(),
            "--host",
            "127.0.0.1",
        ])
        .args(["--port", &port.to_string()])
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(p.join("litellm.log")).ok()?)
        .spawn()
        .ok()?;
    let proxy = Litellm { child, port };
    let up = wait_for(Duration::from_secs(90), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(
        up,
        "LiteLLM did not start: {}",
        std::fs::read_to_string(p.join("litellm.log")).unwrap_or_default()
    );
    Some(proxy)
}

#[test]
fn litellm_proxy_record_and_replay_plain_and_streamed() {
    let p = Project::new();
    let Some(proxy) = litellm(&p) else { return };
    let url = format!("http://127.0.0.1:{}/v1", proxy.port);
    let streamer = script_agent(
        &p,
        "streamer",
        &STREAMER.replace("scripted-model", "mock-gpt"),
        &url,
        "",
    )
    .replace(
        "gateway: {upstream",
        "gateway: {api_key_env: LITELLM_TEST_KEY, upstream",
    );
    gateway_config(&p, &url, "mock-gpt", &streamer);
    let yml = std::fs::read_to_string(p.join("reev.yml")).expect("yml");
    p.write(
        "reev.yml",
        &yml.replace("REEV_TEST_UPSTREAM_KEY", "LITELLM_TEST_KEY"),
    );
    p.write(
        "benchmarks/d.yml",
        "id: d\ndescription: says done\nprompt: Say done.\nground_truth:\n  assertions:\n    - exit_code: 0\n    - stdout_contains: done\n",
    );
    let run = |args: &[&str]| {
        let out = p
            .cmd(args)
            .env("LITELLM_TEST_KEY", LITELLM_KEY)
            .output()
            .expect("run reev");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["run", "--attempts", "2", "--run-id", "rec"]);
    let rec = sessions_of(&p, "rec");
    assert_eq!(rec.len(), 4);
    for s in rec.values() {
        assert_eq!(s["status"], "succeeded", "{s:#}");
        assert!(s["input_tokens"].as_u64().is_some_and(|t| t > 0), "{s:#}");
    }
    for f in common::walk(&p.join("runs")) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        assert!(!text.contains(LITELLM_KEY), "{} holds the key", f.display());
    }
    drop(proxy);
    p.reev(&[
        "run",
        "--replay",
        "rec",
        "--attempts",
        "2",
        "--run-id",
        "again",
    ])
    .ok();
    let again = sessions_of(&p, "again");
    for (k, s) in &again {
        assert_eq!(
            (&s["status"], &s["score"]),
            (&rec[k]["status"], &rec[k]["score"]),
            "{s:#}"
        );
        assert_eq!(s["gateway"]["replayed_from"], "rec");
    }
    assert_eq!(again.len(), 4);
}

/// The key `api_key_env` names is reev's to send upstream: no process of the session inherits
/// it — not the agent, not a sandboxed agent whose `env:` list names it (nor through the
/// `REEV_*` names a sandbox always passes), not its verifier.
#[test]
fn the_upstream_key_never_enters_the_agent_or_its_verifier() {
    let p = Project::new();
    let probe = "if env | grep -q sk-reev-test; then echo KEY-SEEN; else echo no-key; fi";
    let gw = "gateway: {upstream: \"http://127.0.0.1:9/v1\", api_key_env: REEV_TEST_UPSTREAM_KEY}";
    p.write(
        "reev.yml",
        &format!(
            "agents:\n  plain:\n    command: [sh, -c, {probe:?}]\n    {gw}\n  \
             boxed:\n    command: [sh, -c, {probe:?}]\n    {gw}\n    \
             sandbox: {{network: none, filesystem: scratch, env: [PATH, REEV_TEST_UPSTREAM_KEY]}}\n"
        ),
    );
    p.write(
        "benchmarks/k.yml",
        &format!(
            "id: k\ndescription: the key stays with reev\nprompt: p\nground_truth:\n  assertions:\n    \
             - stdout_contains: no-key\n    - verify: {{command: [sh, -c, {:?}]}}\n",
            "env | grep -q sk-reev-test && exit 1; exit 0"
        ),
    );
    reev_with_key(&p, &["run"]).ok();
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 2);
    for s in &sessions {
        assert_eq!(s["status"], "succeeded", "{s:#}");
        assert_eq!(s["stdout"]["text"], "no-key\n", "{s:#}");
    }
}

/// The agent's model address is the gateway's, however it asks: `{gateway_url}`,
/// `REEV_GATEWAY_URL`, and `OPENAI_BASE_URL`, which replaces one the agent would inherit.
/// When the agent's own `model_request` events count other tokens than the gateway saw, the
/// gateway's count prices the session and the disagreement is recorded and logged.
#[test]
fn the_gateway_url_reaches_the_agent_every_way_and_its_count_wins() {
    let p = Project::new();
    let server = Server::start(
        &p,
        &json!({"model": "m", "turns": [{"content": "hello", "usage": [1000, 50]}]}),
    );
    let url = format!("http://127.0.0.1:{}/v1", server.port);
    let talker = format!(
        "{ONE_REQUEST}\nopen(os.environ[\"REEV_EVENTS\"], \"a\").write(json.dumps({{\"type\": \"model_request\", \"model\": \"scripted-model\", \"input_tokens\": 10, \"output_tokens\": 1}}) + \"\\n\")\n"
    );
    let agent = script_agent(&p, "talker", &talker, &url, "");
    let probe = "echo \"url={gateway_url}\"; echo \"env=$OPENAI_BASE_URL\"; echo \"reev=$REEV_GATEWAY_URL\"";
    p.write(
        "reev.yml",
        &format!(
            "prices:\n  scripted-model: {{input: 2.0, output: 10.0}}\nagents:\n{agent}  probe:\n    command: [sh, -c, {probe:?}]\n    gateway: {{upstream: {url:?}}}\n"
        ),
    );
    p.write(
        "benchmarks/hi.yml",
        "id: hi\ndescription: one greeting\nprompt: say hello\nground_truth:\n  assertions:\n    - exit_code: 0\n",
    );
    let out: common::Out = p
        .cmd(&["run"])
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/inherited/v1")
        .output()
        .expect("run reev")
        .into();
    out.ok();
    let sessions = sessions_of(&p, "");
    let probe = sessions
        .values()
        .find(|s| s["agent"] == "probe")
        .expect("probe session");
    let text = probe["stdout"]["text"].as_str().expect("stdout");
    let urls: Vec<&str> = text
        .lines()
        .map(|l| l.split_once('=').expect("k=v").1)
        .collect();
    assert_eq!(urls.len(), 3, "{text}");
    assert!(
        urls.iter().all(|u| *u == urls[0]),
        "one address every way: {text}"
    );
    assert!(
        urls[0].starts_with("http://127.0.0.1:")
            && urls[0].contains("/s/")
            && urls[0].ends_with("/v1"),
        "{text}"
    );
    let talker = sessions
        .values()
        .find(|s| s["agent"] == "talker")
        .expect("talker session");
    assert_eq!(talker["status"], "succeeded", "{talker:#}");
    assert_eq!(
        talker["input_tokens"], 1000,
        "the gateway's count: {talker:#}"
    );
    assert_eq!(talker["gateway"]["events_input_tokens"], 10, "{talker:#}");
    assert_eq!(talker["gateway"]["events_output_tokens"], 1, "{talker:#}");
    assert!(
        out.stderr.contains("the gateway's count is recorded"),
        "{}",
        out.stderr
    );
}

/// A crash between a session's cassette and its session file leaves the cassette alone:
/// `--resume` runs the session again and its new cassette replaces the stale one (never
/// "already exists"), and the session file names it.
#[test]
fn a_cassette_left_without_its_session_file_is_replaced_on_resume() {
    let p = Project::new();
    let _server = scripted_transfer(&p);
    reev_with_key(&p, &["run", "--run-id", "rec"]).ok();
    let cassette = p.join("runs/rec/cassettes/llm/transfer@1.json");
    let session = p.join("runs/rec/sessions/llm/transfer@1.json");
    std::fs::remove_file(&session).expect("the session file");
    std::fs::write(&cassette, "left by a crash").expect("a stale cassette");
    reev_with_key(&p, &["run", "--resume", "rec"]).ok();
    assert!(session.exists(), "the session ran again");
    let text = std::fs::read_to_string(&cassette).expect("cassette");
    assert_ne!(text, "left by a crash", "the stale cassette was replaced");
    serde_json::from_str::<Value>(&text).expect("a whole cassette");
}
