//! `matrix:` on an agent: one agent per combination, with readable ids, placeholders and
//! `REEV_MATRIX_*` variables; `list` and `validate` show the expansion; sessions and the
//! database keep the values; strict validation names file, line and column.

use crate::common::Project;
use serde_json::Value;

const CONFIG: &str = r#"agents:
  chat:
    description: one agent per model and temperature
    command: [sh, -c, 'echo "model={model} t={temperature} env=$REEV_MATRIX_MODEL/$REEV_MATRIX_TEMPERATURE"']
    matrix: {model: [glm-4.6, openai/gpt-4o-mini], temperature: [0, 0.7]}
  plain:
    command: [sh, -c, "echo ok"]
"#;

fn project() -> Project {
    let p = Project::new();
    p.write("reev.yml", CONFIG).simple_benchmark("a");
    p
}

const IDS: [&str; 4] = [
    "chat.glm-4.6_0",
    "chat.glm-4.6_0.7",
    "chat.openai-gpt-4o-mini_0",
    "chat.openai-gpt-4o-mini_0.7",
];

#[test]
fn list_and_validate_show_the_expansion() {
    let p = project();
    let v = p.reev(&["validate"]);
    v.ok();
    assert!(v.stdout.contains("1 benchmarks, 5 agents"), "{}", v.stdout);
    assert!(
        v.stdout.contains(
            "chat.openai-gpt-4o-mini_0.7\t(chat: model=openai/gpt-4o-mini temperature=0.7)"
        ),
        "{}",
        v.stdout
    );
    let list = p.reev(&["list"]);
    list.ok();
    let rows: Vec<Vec<&str>> = list
        .stdout
        .lines()
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "benchmark",
            "agent",
            "attempt",
            "benchmark_sha256",
            "matrix"
        ]
    );
    let agents: Vec<&str> = rows[1..].iter().map(|r| r[1]).collect();
    let mut want: Vec<&str> = IDS.to_vec();
    want.push("plain");
    assert_eq!(agents, want);
    assert_eq!(rows[2][4], "model=glm-4.6 temperature=0.7");
    assert_eq!(rows[5][4], "-");
    // The declared name selects every cell; a cell id selects one.
    let chat = p.reev(&["list", "--agent", "chat", "--format", "json"]);
    chat.ok();
    let plan: Vec<Value> = serde_json::from_str(&chat.stdout).unwrap();
    assert_eq!(plan.len(), 4);
    assert_eq!(plan[3]["matrix"]["model"], "openai/gpt-4o-mini");
    assert_eq!(plan[3]["matrix"]["temperature"], "0.7");
    p.reev(&["list", "--agent", "chat.glm-4.6_0"]).ok();
}

#[test]
fn sessions_get_the_values_and_the_database_groups_by_them() {
    let p = project();
    p.reev(&["run", "--run-id", "sweep"]).ok();
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 5);
    for s in &sessions {
        let agent = s["agent"].as_str().unwrap();
        if agent == "plain" {
            assert!(s.get("matrix").is_none(), "{s}");
            continue;
        }
        let (model, t) = (
            s["matrix"]["model"].as_str().unwrap(),
            s["matrix"]["temperature"].as_str().unwrap(),
        );
        assert_eq!(
            s["stdout"]["text"].as_str().unwrap().trim(),
            format!("model={model} t={t} env={model}/{t}"),
            "placeholders and REEV_MATRIX_* for {agent}"
        );
    }
    p.reev(&["load"]).ok();
    let out = p.reev(&[
        "query",
        "--format",
        "csv",
        "SELECT m.model, m.temperature, count(*) AS n, avg(s.score) AS score FROM current_sessions s JOIN agent_matrix m USING (run_id, agent) GROUP BY ALL ORDER BY ALL",
    ]);
    out.ok();
    assert_eq!(
        out.stdout,
        "model,temperature,n,score\nglm-4.6,0,1,1.0\nglm-4.6,0.7,1,1.0\nopenai/gpt-4o-mini,0,1,1.0\nopenai/gpt-4o-mini,0.7,1,1.0\n"
    );
    // The report shows the values per agent; compare reads the cell ids naturally.
    p.reev(&["report", "--format", "html,json"]).ok();
    let r: Value =
        serde_json::from_slice(&std::fs::read(p.join("reports/sweep/report.json")).unwrap())
            .unwrap();
    assert_eq!(r["agents"][0]["matrix"]["model"], "glm-4.6");
    let html = std::fs::read_to_string(p.join("reports/sweep/report.html")).unwrap();
    assert!(html.contains("<th>model</th><th>temperature</th>"));
    p.reev(&[
        "compare",
        "sweep",
        "--agent",
        "chat.glm-4.6_0",
        "--agent",
        "chat.openai-gpt-4o-mini_0",
    ])
    .ok();
}

#[test]
fn bad_matrices_are_refused_with_file_line_and_column() {
    let p = Project::new();
    p.simple_benchmark("a");
    p.write(
        "reev.yml",
        "agents:\n  chat:\n    command: [echo, \"{model}\"]\n    matrix:\n      Model: [a]\n      prompt: [x]\n      seed: []\n      temperature: [[1], 2, 2]\n",
    );
    let out = p.reev(&["validate"]);
    out.code(2);
    for needle in [
        "reev.yml:5:7: agent `chat`: matrix: key `Model` must be lower-case",
        "reev.yml:6:7: agent `chat`: matrix: key `prompt` is one of reev's own placeholders",
        "reev.yml:7:13: agent `chat`: matrix: `seed` needs at least one value",
        "is not a string, number or boolean",
        "`temperature` lists `2` twice",
        "unknown placeholder {model}",
    ] {
        assert!(
            out.stderr.contains(needle),
            "lacks {needle:?}:\n{}",
            out.stderr
        );
    }
    // A cell id that another agent already has.
    p.write(
        "reev.yml",
        "agents:\n  chat.a:\n    command: [echo]\n  chat:\n    command: [echo, \"{m}\"]\n    matrix: {m: [a, b]}\n",
    );
    p.reev(&["validate"])
        .code(2)
        .stderr_has("agent id `chat.a` is both a cell of `chat`'s matrix and an agent");
    // `run` refuses what `validate` refuses, before any session.
    p.reev(&["run"]).code(2);
}
