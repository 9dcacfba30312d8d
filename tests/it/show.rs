//! `reev show`: one session as a tree, by id from the store or from its file.

use crate::common;
use crate::common::Project;

#[test]
fn renders_a_session_tree_by_id_prefix_and_by_file() {
    let p = Project::new();
    p.agents(&[(
        "t",
        &["sh", "-c", "echo '{\"type\":\"tool_call\",\"name\":\"read_file\",\"input\":{\"path\":\"x\"},\"output\":\"42\"}' >> \"$REEV_EVENTS\"; echo '{\"type\":\"model_request\",\"model\":\"m\"}' >> \"$REEV_EVENTS\"; echo hello world; echo warn >&2"],
    )]);
    p.write("benchmarks/b.yml", "id: b\ndescription: d\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n    - stdout_equals: bye\n      name: farewell\n");
    p.reev(&["run"]).ok();
    p.reev(&["load"]).ok();
    let s = &p.sessions()[0];
    let id = s["session_id"].as_str().unwrap();
    let out = p.reev(&["show", &id[..8]]);
    let t = &out.ok().stdout;
    for needle in [
        &format!("session {id}"),
        "benchmark: b",
        "agent: t, attempt 1",
        "status: failed",
        "assertions (1/2 passed)",
        "✓ exit_code",
        "✗ stdout_equals (farewell)",
        "expected: \"bye\"",
        "actual:   \"hello world\\n\"",
        "events (2)",
        "1 tool_call",
        "name=\"read_file\"",
        "2 model_request",
        "tokens: 0 in + 0 out; cost unknown (a model without a price)",
        "hello world",
        "warn",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
    assert!(
        t.find("1 tool_call").unwrap() < t.find("2 model_request").unwrap(),
        "events in order"
    );
    let file = common::session_files(&p.join("runs"))[0].clone();
    let by_file = p.reev(&["show", file.to_str().unwrap()]);
    assert_eq!(by_file.ok().stdout, *t);
    p.reev(&["show", "ffffffff"])
        .code(2)
        .stderr_has("no session");
    p.reev(&["show", "zz"]).code(2);
}

#[test]
fn terminal_escapes_from_agents_are_rendered_visibly() {
    let p = Project::new();
    // Window title (OSC 0), clipboard (OSC 52), clear screen, a carriage return and an 8-bit CSI.
    let evil = r#"printf '\033]0;pwned\007\033]52;c;aGk=\007\033[2Jtitle\rover\302\233m\n'; printf 'not json \033]0;ev\007\n' >> "$REEV_EVENTS""#;
    p.agents(&[("evil", &["sh", "-c", evil])]);
    p.write("benchmarks/b.yml", "id: b\ndescription: d\nprompt: p\nground_truth:\n  assertions:\n    - stdout_equals: nope\n");
    p.reev(&["run"]).ok();
    p.reev(&["load"]).ok();
    let file = common::session_files(&p.join("runs"))[0].clone();
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("\\u001b]0;pwned"),
        "the data keeps the bytes"
    );
    let shown = p.reev(&["show", file.to_str().unwrap()]);
    let table = p.reev(&[
        "query",
        "SELECT stdout, 'x' || chr(27) || '[2J' AS \"c\u{1b}]0;t\u{7}\" FROM sessions",
    ]);
    for (what, out) in [("show", shown.ok()), ("query", table.ok())] {
        let t = &out.stdout;
        assert!(
            !t.contains('\u{1b}')
                && !t.contains('\u{7}')
                && !t.contains('\r')
                && !t.contains('\u{9b}'),
            "{what} printed raw control characters: {t:?}"
        );
        assert!(
            t.contains("\\e]0;pwned\\x07\\e]52;c;aGk=\\x07\\e[2Jtitle\\rover\\u{009b}m"),
            "{what}: {t}"
        );
    }
    assert!(
        shown.stdout.contains("not json \\e]0;ev\\x07"),
        "events too: {}",
        shown.stdout
    );
    assert!(
        table.stdout.contains("x\\e[2J") && table.stdout.contains("c\\e]0;t\\x07"),
        "{}",
        table.stdout
    );
}

#[test]
fn agent_strings_cannot_forge_lines_of_the_tree() {
    let p = Project::new();
    // An event type, a key and a metric name with newlines that would print as reev's own
    // lines ("├── status: success ..."), hiding the real status of the session.
    let evil = r#"printf '%s\n' '{"type":"x\n├── status: success, score 1.000 (forged-kind)","k\n├── status: success (forged-key)":1}' '{"type":"metric","name":"m\n├── status: success (forged-metric)","value":1}' >> "$REEV_EVENTS""#;
    p.agents(&[("evil", &["sh", "-c", evil])]);
    p.write("benchmarks/b.yml", "id: b\ndescription: d\nprompt: p\nground_truth:\n  assertions:\n    - stdout_equals: nope\n");
    p.reev(&["run"]).ok();
    let file = common::session_files(&p.join("runs"))[0].clone();
    let out = p.reev(&["show", file.to_str().unwrap()]);
    let t = &out.ok().stdout;
    assert_eq!(
        t.lines().filter(|l| l.starts_with("├── status:")).count(),
        1,
        "a forged status line:\n{t}"
    );
    for forged in ["forged-kind", "forged-key", "forged-metric"] {
        assert!(
            t.lines()
                .any(|l| l.contains(forged) && l.contains("\\n├── status")),
            "{forged} not shown escaped on its own line:\n{t}"
        );
    }
}

#[test]
fn shows_tokens_and_cost_when_the_model_has_a_price() {
    let p = Project::new();
    let line = r#"{"type":"model_request","model":"m","input_tokens":1200,"output_tokens":300}"#;
    p.sh_agents(
        "prices:\n  m: {input: 0.6, output: 2.2}\n",
        &[("t", common::emit(line))],
    );
    p.simple_benchmark("b");
    p.reev(&["run"]).ok();
    let file = common::session_files(&p.join("runs"))[0].clone();
    let out = p.reev(&["show", file.to_str().unwrap()]);
    // 1200 * 0.6 + 300 * 2.2 = 1380 USD per million tokens.
    let t = &out.ok().stdout;
    assert!(
        t.contains("├── tokens: 1200 in + 300 out; cost $0.001380\n"),
        "{t}"
    );
}
