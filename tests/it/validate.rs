//! `reev validate` and the validation `reev run` does first: every bad input gets a clear error.

use crate::common;
use crate::common::Project;

fn project() -> Project {
    let p = Project::new();
    p.agents(&[("ok", &["true"])]).simple_benchmark("good");
    p
}

/// `reev run` on a broken suite: exit 2, the same message, and no session started.
fn run_refuses(p: &Project, needle: &str) {
    p.reev(&["run"]).code(2).stderr_has(needle);
    assert!(common::session_files(&p.join("runs")).is_empty());
    assert!(
        !p.join("runs").exists() || std::fs::read_dir(p.join("runs")).unwrap().next().is_none()
    );
}

#[test]
fn valid_suite_passes() {
    let p = project();
    let out = p.reev(&["validate"]);
    out.ok();
    assert!(
        out.stdout.contains("1 benchmarks, 1 agents"),
        "{}",
        out.stdout
    );
}

#[test]
fn shipped_suite_is_valid() {
    let out = common::reev_in_repo(&["validate"]);
    out.ok();
    let stdout = &out.stdout;
    let n: usize = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("count");
    assert!(n >= 12, "{stdout}");
}

#[test]
fn bad_yaml_reports_line_and_column() {
    let p = project();
    p.write(
        "benchmarks/broken.yml",
        "id: broken\ndescription: x\nprompt: [unclosed\ntags: []\n",
    );
    let out = p.reev(&["validate"]);
    out.code(2);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("broken.yml"))
        .expect("names the file");
    // file:line:col: message
    let after = line.split("broken.yml:").nth(1).expect("position");
    let mut parts = after.split(':');
    let l: u64 = parts.next().unwrap().parse().expect("line number");
    let c: u64 = parts.next().unwrap().parse().expect("column number");
    assert!((3..=5).contains(&l), "{line}");
    assert!(c >= 1, "{line}");
    run_refuses(&p, "broken.yml:");
}

#[test]
fn unknown_field_is_an_error_with_position() {
    let p = project();
    p.write(
        "benchmarks/typo.yml",
        "id: typo\ndescription: x\nprompt: p\ndescripton: oops\nground_truth:\n  assertions:\n    - exit_code: 0\n",
    );
    let out = p.reev(&["validate"]);
    out.code(2)
        .stderr_has("typo.yml:4:")
        .stderr_has("descripton");
    run_refuses(&p, "descripton");
}

#[test]
fn unknown_field_in_assertion_is_an_error() {
    let p = project();
    p.write(
        "benchmarks/a.yml",
        "id: a\ndescription: x\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n      wieght: 2\n",
    );
    p.reev(&["validate"])
        .code(2)
        .stderr_has("a.yml:7:")
        .stderr_has("wieght");
}

#[test]
fn duplicate_id_names_both_files() {
    let p = project();
    p.write(
        "benchmarks/sub/again.yml",
        "id: good\ndescription: x\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n",
    );
    let out = p.reev(&["validate"]);
    out.code(2).stderr_has("duplicate benchmark id `good`");
    assert!(
        out.stderr.contains("again.yml:1:") || out.stderr.contains("good.yml:1:"),
        "{}",
        out.stderr
    );
    run_refuses(&p, "duplicate benchmark id");
}

#[test]
fn unsafe_id_is_rejected_at_its_position() {
    let p = project();
    p.write(
        "benchmarks/evil.yml",
        "description: x\nid: ../../etc/passwd\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n",
    );
    p.reev(&["validate"])
        .code(2)
        .stderr_has("evil.yml:2:")
        .stderr_has("is not allowed");
    run_refuses(&p, "is not allowed");
}

#[test]
fn escaping_initial_state_path_is_rejected() {
    let p = project();
    p.write(
        "benchmarks/esc.yml",
        "id: esc\ndescription: x\nprompt: p\ninitial_state:\n  - path: ok.txt\n    content: fine\n  - path: ../../outside.txt\n    content: nope\n  - path: /etc/x\n    content: nope\nground_truth:\n  assertions:\n    - file_exists: ../x\n",
    );
    let out = p.reev(&["validate"]);
    out.code(2)
        .stderr_has("esc.yml:7:")
        .stderr_has("escapes the scratch directory")
        .stderr_has("esc.yml:9:")
        .stderr_has("esc.yml:13:");
    run_refuses(&p, "escapes the scratch directory");
    assert!(!p.path().parent().unwrap().join("outside.txt").exists());
}

#[test]
fn missing_agent_is_a_usage_error_and_nothing_runs() {
    let p = project();
    let out = p.reev(&["run", "--agent", "nosuch"]);
    out.code(2)
        .stderr_has("unknown agent `nosuch`")
        .stderr_has("ok");
    assert!(common::session_files(&p.join("runs")).is_empty());
    p.reev(&["list", "--agent", "nosuch"]).code(2);
}

#[test]
fn missing_config_names_the_file() {
    let p = Project::new();
    p.simple_benchmark("a");
    p.reev(&["validate"])
        .code(2)
        .stderr_has("reev.yml")
        .stderr_has("cannot read agent config");
}

#[test]
fn agent_config_errors_have_positions() {
    let p = Project::new();
    p.simple_benchmark("a");
    p.write("reev.yml", "agents:\n  good:\n    command: [true]\n  Bad Name:\n    command: [x, \"{nope}\"]\n    colour: red\n");
    let out = p.reev(&["validate"]);
    out.code(2).stderr_has("reev.yml:6:").stderr_has("colour");
    p.write(
        "reev.yml",
        "agents:\n  good:\n    command: [true]\n  bad/name:\n    command: [x, \"{nope}\"]\n",
    );
    p.reev(&["validate"])
        .code(2)
        .stderr_has("reev.yml:4:")
        .stderr_has("agent name `bad/name`")
        .stderr_has("unknown placeholder {nope}");
}

#[test]
fn every_bad_file_is_reported_not_just_the_first() {
    let p = project();
    p.write("benchmarks/one.yml", "id: [\n");
    p.write("benchmarks/two.yml", "id: two\nbogus: 1\n");
    let out = p.reev(&["validate"]);
    out.code(2)
        .stderr_has("one.yml:")
        .stderr_has("two.yml:")
        .stderr_has("2 errors found");
}

#[test]
fn validate_takes_explicit_paths() {
    let p = project();
    p.write(
        "elsewhere/x.yml",
        "id: x\ndescription: d\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n",
    );
    p.reev(&["validate", "elsewhere", "reev.yml"]).ok();
    p.write("elsewhere/y.yml", "id: y\n");
    p.reev(&["validate", "elsewhere/y.yml"])
        .code(2)
        .stderr_has("y.yml");
}

#[test]
fn alias_bomb_is_rejected_quickly() {
    let p = project();
    // A billion laughs inside a free-form JSON value, where every alias would be expanded.
    let mut y = String::from(
        "id: bomb\ndescription: x\nprompt: p\ninitial_state:\n  - path: x.json\n    json:\n      a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..12 {
        let prev = format!("*a{}", i - 1);
        y.push_str(&format!(
            "      a{i}: &a{i} [{}]\n",
            vec![prev; 10].join(", ")
        ));
    }
    y.push_str("ground_truth:\n  assertions:\n    - exit_code: 0\n");
    p.write("benchmarks/bomb.yml", &y);
    let out = p.reev(&["validate"]);
    out.code(2)
        .stderr_has("bomb.yml:")
        .stderr_has("(an alias bomb?), reev's limit for one YAML file");
    assert!(!out.stderr.contains("budget breached"), "{}", out.stderr);
    assert!(out.elapsed.as_secs() < 10, "took {:?}", out.elapsed);
}

#[test]
fn a_hundred_thousand_plain_assertions_load() {
    let p = project();
    let mut y = String::from("id: many\ndescription: x\nprompt: p\nground_truth:\n  assertions:\n");
    for i in 0..100_000 {
        y.push_str(&format!(
            "    - stdout_contains: \"line {i}\"\n      name: n{i}\n      weight: 1\n"
        ));
    }
    p.write("benchmarks/many.yml", &y);
    let out = p.reev(&["validate"]);
    out.ok();
    assert!(out.stdout.contains("2 benchmarks"), "{}", out.stdout);
    assert!(out.elapsed.as_secs() < 30, "took {:?}", out.elapsed);
}

#[test]
fn yaml_durations_share_the_cli_range_and_say_where() {
    for (file, text, needle) in [
        (
            "benchmarks/t.yml",
            "id: t\ndescription: d\nprompt: p\ntimeout: 10000000000000000000\nground_truth:\n  assertions:\n    - exit_code: 0\n",
            "t.yml:4:",
        ),
        (
            "benchmarks/t.yml",
            "id: t\ndescription: d\nprompt: p\ntimeout: 1e300\nground_truth:\n  assertions:\n    - exit_code: 0\n",
            "t.yml:4:",
        ),
        (
            "benchmarks/t.yml",
            "id: t\ndescription: d\nprompt: p\ntimeout: 8days\nground_truth:\n  assertions:\n    - exit_code: 0\n",
            "t.yml:4:",
        ),
        (
            "benchmarks/t.yml",
            "id: t\ndescription: d\nprompt: p\nground_truth:\n  assertions:\n    - duration_at_most: 1e19\n",
            "t.yml:6:",
        ),
        (
            "reev.yml",
            "agents:\n  ok:\n    command: [\"true\"]\n    timeout: 1e19\n",
            "reev.yml:4:",
        ),
    ] {
        let p = project();
        p.write(file, text);
        let out = p.reev(&["validate"]);
        out.code(2).stderr_has(needle).stderr_has("out of range");
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        run_refuses(&p, "out of range");
    }
    let p = project();
    p.write("benchmarks/z.yml", "id: z\ndescription: d\nprompt: p\ntimeout: 0\nground_truth:\n  assertions:\n    - exit_code: 0\n");
    p.reev(&["validate"])
        .code(2)
        .stderr_has("z.yml:4:")
        .stderr_has("between 1ms and 7 days");
}

#[test]
fn assertion_needs_exactly_one_check_and_sane_values() {
    let p = project();
    p.write(
        "benchmarks/c.yml",
        "id: c\ndescription: x\nprompt: p\nground_truth:\n  pass_threshold: 1.5\n  assertions:\n    - exit_code: 0\n      stdout_contains: x\n    - weight: -1\n      exit_code: 0\n    - stdout_matches: '(['\n    - json_value: {path: /a}\n",
    );
    let out = p.reev(&["validate"]);
    out.code(2)
        .stderr_has("pass_threshold must be between 0 and 1")
        .stderr_has("exactly one check")
        .stderr_has("weight must be a positive number")
        .stderr_has("invalid regex")
        .stderr_has("give `equals`, `at_least` or `at_most`");
}

#[test]
fn sandbox_sizes_and_keys_are_checked_with_their_position() {
    for (bad, needle, line) in [
        ("memory: 2GB", "binary units", 6),
        ("memory: 2048", "needs a unit", 6),
        ("file_size: lots", "not a size", 6),
        ("network: offline", "offline", 6),
        ("filesystem: readonly", "readonly", 6),
        ("processes: 0", "at least 1", 6),
        ("cpus: 2", "cpus", 6),
    ] {
        let p = Project::new();
        p.write(
            "reev.yml",
            &format!("agents:\n  boxed:\n    command: [\"true\"]\n    sandbox:\n      env: [PATH]\n      {bad}\n"),
        )
        .simple_benchmark("good");
        let out = p.reev(&["validate"]);
        out.code(2).stderr_has(needle);
        assert!(
            out.stderr.contains(&format!("reev.yml:{line}:")),
            "{bad}: no file:line:col in {}",
            out.stderr
        );
        run_refuses(&p, needle);
    }
    // The same keys under `settings:` are checked too.
    let p = Project::new();
    p.write(
        "reev.yml",
        "settings:\n  sandbox:\n    memory: 1.5GiB\nagents:\n  ok:\n    command: [\"true\"]\n",
    )
    .simple_benchmark("good");
    p.reev(&["validate"]).code(2).stderr_has("reev.yml:3:");
    // And good ones pass.
    let p = Project::new();
    p.write(
        "reev.yml",
        "settings:\n  sandbox:\n    memory: 2GiB\n    file_size: 256MiB\n    processes: 256\nagents:\n  ok:\n    command: [\"true\"]\n    sandbox:\n      network: none\n      filesystem: scratch\n      env: [PATH, HOME]\n",
    )
    .simple_benchmark("good");
    p.reev(&["validate"]).ok();
}

/// `prices:` is checked strictly: each bad entry is named with file, line and column.
#[test]
fn bad_prices_are_errors_with_positions() {
    let p = project();
    let agents = "agents:\n  ok:\n    command: [\"true\"]\n";
    for (prices, needle) in [
        (
            "prices:\n  m: {input: -1, output: 2}\n",
            "reev.yml:2:14: prices.m.input: `-1` is not a price",
        ),
        (
            "prices:\n  m: {input: 1, output: .nan}\n",
            "reev.yml:2:25: non-finite float",
        ),
        (
            "prices:\n  m: {input: 1, output: 2, cached: 0.1}\n",
            "reev.yml:2:",
        ),
        ("prices:\n  m: {input: 1}\n", "missing field `output`"),
        ("prices:\n  m: {input: one, output: 2}\n", "reev.yml:2:"),
        (
            "prices:\n  \"\": {input: 1, output: 2}\n",
            "reev.yml:2:3: prices: a model name must not be empty",
        ),
    ] {
        p.write("reev.yml", &format!("{prices}{agents}"));
        let out = p.reev(&["validate"]);
        out.code(2).stderr_has(needle);
        run_refuses(&p, needle);
    }
    // Valid prices, integers or not, pass.
    p.write("reev.yml", &format!("prices:\n  glm-4.6: {{input: 0.6, output: 2.2}}\n  free: {{input: 0, output: 0}}\n{agents}"));
    p.reev(&["validate"]).ok();
}

#[test]
fn the_llm_example_config_is_valid() {
    common::reev_in_repo(&["validate", "--config", "examples/llm/reev.yml"]).ok();
}

#[test]
fn verify_and_trace_checks_are_validated_with_their_position() {
    for (bad, needle) in [
        ("verify: {command: []}", "command must name a program"),
        (
            "verify: {command: [python3, \"{bench_dir}/c.py\"]}",
            "unknown placeholder {bench_dir}",
        ),
        (
            "verify: {command: [python3], timeout: 0s}",
            "between 1ms and 7 days",
        ),
        ("verify: {command: [python3], retries: 2}", "retries"),
        (
            "event: {type: tool_call}",
            "give `at_least`, `at_most` or both",
        ),
        (
            "event: {type: tool_call, at_least: 3, at_most: 1}",
            "at_least (3) is greater than at_most (1)",
        ),
        (
            "event: {type: tool_call, at_least: -1}",
            "(whole numbers from 0), not -1",
        ),
        (
            "event: {type: tool_call, at_most: 1.5}",
            "(whole numbers from 0), not 1.5",
        ),
        ("event: {type: \"\", at_least: 1}", "`type` cannot be empty"),
        ("event: {kind: tool_call, at_least: 1}", "kind"),
        (
            "metric: {name: tokens}",
            "give `at_least`, `at_most` or both",
        ),
        (
            "metric: {name: tokens, at_least: 5, at_most: 1}",
            "greater than at_most",
        ),
        ("metric: {name: tokens, at_most: .nan}", "finite"),
        ("metric: {name: tokens, below: 3}", "below"),
        ("tool_sequence: []", "at least one tool name"),
        (
            "tool_sequence: [read_file, \"\"]",
            "a tool name cannot be empty",
        ),
    ] {
        let p = project();
        p.write(
            "benchmarks/c.yml",
            &format!("id: c\ndescription: x\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n    - {bad}\n"),
        );
        let out = p.reev(&["validate"]);
        out.code(2).stderr_has(needle);
        assert!(
            out.stderr.contains("c.yml:7:"),
            "{bad}: no file:line:col in {}",
            out.stderr
        );
        run_refuses(&p, needle);
    }
    // Two checks in one assertion are refused like any other pair.
    let p = project();
    p.write(
        "benchmarks/c.yml",
        "id: c\ndescription: x\nprompt: p\nground_truth:\n  assertions:\n    - metric: {name: t, at_most: 1}\n      tool_sequence: [a]\n",
    );
    p.reev(&["validate"])
        .code(2)
        .stderr_has("exactly one check");
    // Good ones pass, and `{benchmark_dir}` is a known agent placeholder.
    let p = Project::new();
    p.agents(&[("ok", &["sh", "{benchmark_dir}/agent.sh"])]);
    p.write(
        "benchmarks/c.yml",
        "id: c\ndescription: x\nprompt: p\nground_truth:\n  assertions:\n    - verify: {command: [python3, \"{benchmark_dir}/c.py\", \"{workdir}\"], timeout: 30s}\n      weight: 3\n    - event: {type: tool_call, name: read_file, at_least: 1, at_most: 3}\n    - metric: {name: tokens, at_most: 2000}\n    - tool_sequence: [read_file, write_file]\n",
    );
    p.reev(&["validate"]).ok();
}

/// Issue 17, defect 10: "strict" parsing took quoted numbers (`exit_code: "0"`). A quoted
/// number is a string: a type error with file:line:col, in benchmarks, prices and settings.
#[test]
fn quoted_numbers_are_refused_with_their_position() {
    let p = project();
    let bench = |assertions: &str, threshold: &str| {
        format!("id: q\ndescription: d\nprompt: p\nground_truth:\n{threshold}  assertions:\n{assertions}")
    };
    for (text, needle) in [
        (bench("    - exit_code: \"0\"\n", ""), "q.yml:6:18: "),
        (
            bench("    - exit_code: 0\n      weight: \"2\"\n", ""),
            "q.yml:7:15: ",
        ),
        (
            bench("    - exit_code: 0\n", "  pass_threshold: \"0.5\"\n"),
            "q.yml:5:19: ",
        ),
        (
            bench("    - json_value: {path: /a, at_least: \"1\"}\n", ""),
            "q.yml:6:40: ",
        ),
        (
            bench("    - metric: {name: tokens, at_most: '5'}\n", ""),
            "q.yml:6:",
        ),
    ] {
        p.write("benchmarks/q.yml", &text);
        let out = p.reev(&["validate"]);
        out.code(2)
            .stderr_has(needle)
            .stderr_has("found the string");
        run_refuses(&p, needle);
    }
    std::fs::remove_file(p.join("benchmarks/q.yml")).unwrap();
    let agents = "agents:\n  ok:\n    command: [\"true\"]\n";
    for (head, needle) in [
        (
            "prices:\n  m: {input: \"1\", output: 2}\n",
            "reev.yml:2:14: ",
        ),
        ("settings:\n  jobs: \"4\"\n", "settings.jobs: "),
        ("settings:\n  max_cost: '0.5'\n", "settings.max_cost: "),
    ] {
        p.write("reev.yml", &format!("{head}{agents}"));
        p.reev(&["validate"])
            .code(2)
            .stderr_has(needle)
            .stderr_has("found the string");
    }
    // Unquoted, the same values are fine.
    p.write(
        "reev.yml",
        &format!("settings:\n  jobs: 4\n  max_cost: 0.5\nprices:\n  m: {{input: 1, output: 2.5}}\n{agents}"),
    );
    p.write(
        "benchmarks/q.yml",
        &bench(
            "    - exit_code: 0\n      weight: 2\n",
            "  pass_threshold: 0.5\n",
        ),
    );
    p.reev(&["validate"]).ok();
}
