//! `reev query`: readable tables, one CSV writer with `reev export`, and the README's example
//! queries answering on a real run of the shipped suite; a reader that goes away early.

use crate::common;
use crate::common::gen;

use std::path::Path;

use crate::common::Project;
use serde_json::Value;

/// A loaded database of one synthetic run, one session of which has a hostile error text.
fn loaded() -> Project {
    let p = Project::new();
    let mut specs = gen::matrix(&["a1"], 3, 1, |_, b, _| (b != 1, 100));
    specs[0].error = Some("=HYPERLINK(\"http://evil\",\"x\")".into());
    specs[1].error = Some("first line\nsecond line".into());
    gen::run(&p.join("runs"), "r1", 1, &specs);
    p.reev(&["load"]).ok();
    p
}

#[test]
fn table_numbers_read_without_float_noise() {
    let p = loaded();
    let sql = "SELECT 292.2::DOUBLE + 0.00000000000005 AS p95, 29.0::DOUBLE / 39 AS rate, \
               1.50::DECIMAL(10,3) AS exact, 123456789012345678901234.5::DECIMAL(38,1) AS wide, \
               12345678901 AS big, 0.1::FLOAT AS f, 2.0::DOUBLE AS whole, \
               'text' AS label";
    let out = p.reev(&["query", sql]);
    let text = &out.ok().stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "header, rule, one row, count:\n{text}");
    let cells: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "292.2",
            "0.74359",
            "1.500",
            "123456789012345678901234.5",
            "12345678901",
            "0.1",
            "2.0",
            "text"
        ],
        "{text}"
    );
    assert!(!text.contains("0000000"), "no float noise:\n{text}");
    // Numbers align right under their header, as in DuckDB's CLI; text aligns left.
    let header = lines[0];
    let end = |line: &str, cell: &str| line.find(cell).map(|i| i + cell.len());
    assert_eq!(end(header, "p95"), end(lines[2], "292.2"), "{text}");
    assert_eq!(header.find("label"), lines[2].find("text"), "{text}");
    assert_eq!(lines[3], "(1 row)");
    // CSV and JSON keep every digit.
    let csv = p.reev(&[
        "query",
        "--format",
        "csv",
        "SELECT 29.0::DOUBLE / 39 AS rate",
    ]);
    assert_eq!(csv.ok().stdout, format!("rate\n{}\n", 29.0f64 / 39.0));
}

#[test]
fn a_newline_in_a_cell_does_not_break_its_row() {
    let p = loaded();
    let out = p.reev(&[
        "query",
        "SELECT benchmark_id, error, 'tab\there' AS t FROM sessions ORDER BY benchmark_id",
    ]);
    let text = &out.ok().stdout;
    assert_eq!(text.lines().count(), 2 + 3 + 1, "one line per row:\n{text}");
    assert!(text.contains("first line\\nsecond line"), "{text}");
    assert!(text.contains("tab\\there"), "{text}");
    assert!(text.contains("NULL"), "{text}");
}

#[test]
fn csv_comes_from_the_export_writer_formulas_neutralised() {
    let p = loaded();
    let sql = "SELECT session_id, error FROM sessions ORDER BY session_id";
    let out = p.reev(&["query", "--format", "csv", sql]);
    let text = &out.ok().stdout;
    assert!(
        text.contains("'=HYPERLINK("),
        "a formula is neutralised as by `reev export`:\n{text}"
    );
    assert!(!text.contains(",=HYPERLINK"), "{text}");
    // The same cells, byte for byte, as `reev export` writes them.
    let export = p.reev(&["export", "--table", "sessions"]);
    let exported = rows_of(&export.ok().stdout, &["session_id", "error"]);
    assert_eq!(rows_of(text, &["session_id", "error"]), exported);
    // The multi-line error survives a real CSV reader.
    assert!(exported.iter().any(|r| r[1] == "first line\nsecond line"));
}

#[test]
fn csv_neutralises_formulas_behind_whitespace_and_in_non_text_columns() {
    let p = loaded();
    let sql = "SELECT ' =HYPERLINK(\"http://x\")' AS spaced, \
               union_value(t := '=cmd|calc') AS u, -5 AS n, 'plain' AS s";
    let out = p.reev(&["query", "--format", "csv", sql]);
    let rows = rows_of(&out.ok().stdout, &["spaced", "u", "n", "s"]);
    assert_eq!(
        rows,
        [["' =HYPERLINK(\"http://x\")", "'=cmd|calc", "-5", "plain"]],
        "{}",
        out.stdout
    );
}

#[test]
fn json_keeps_every_column_when_names_repeat() {
    let p = loaded();
    let out = p.reev(&[
        "query",
        "--format",
        "json",
        "SELECT 1 AS score, 2 AS score, 3 AS score_1",
    ]);
    let rows: serde_json::Value = serde_json::from_str(&out.ok().stdout).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([{"score": 1, "score_1": 2, "score_1_1": 3}]),
        "a repeated column name dropped a value"
    );
}

/// Columns of a CSV text, read by the csv crate's reader, rows sorted.
fn rows_of(csv_text: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let header = r.headers().unwrap().clone();
    let idx: Vec<usize> = columns
        .iter()
        .map(|c| header.iter().position(|h| h == *c).unwrap())
        .collect();
    let mut rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            idx.iter().map(|i| rec[*i].to_string()).collect()
        })
        .collect();
    rows.sort();
    rows
}

/// Every statement of the README's SQL block under "Queries to paste".
fn readme_queries() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("Queries to paste")
        .expect("README has example queries");
    let block = &readme[start..];
    let block = &block[block.find("```sql").expect("a sql block") + 6..];
    let block = &block[..block.find("```").expect("the block ends")];
    // A statement ends with `;` at the end of a line (a `;` inside a literal does not).
    let mut queries = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            queries.push(std::mem::take(&mut current));
        }
    }
    assert!(
        current.trim().is_empty(),
        "a statement without `;`: {current}"
    );
    queries
}

#[test]
fn readme_queries_return_distinct_rows_on_the_shipped_suite() {
    let queries = readme_queries();
    assert!(queries.len() >= 5, "{queries:?}");
    let p = common::shipped_suite();
    p.reev(&["run", "--attempts", "2", "--jobs", "4"]).ok();
    p.reev(&["load"]).ok();
    for q in &queries {
        let out = p.reev(&["query", "--format", "json", q]);
        let rows: Vec<Value> = serde_json::from_str(&out.ok().stdout).unwrap();
        assert!(!rows.is_empty(), "no rows from the README query:\n{q}");
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            assert!(
                seen.insert(r.to_string()),
                "a repeated row {r} from the README query:\n{q}"
            );
        }
    }
    // The agents' model requests carry the fields later tooling reads.
    let out = p.reev(&[
        "query",
        "--format",
        "json",
        "SELECT data->>'model' AS model, (data->>'input_tokens')::BIGINT AS input_tokens, \
         (data->>'output_tokens')::BIGINT AS output_tokens FROM events WHERE type = 'model_request'",
    ]);
    let rows: Vec<Value> = serde_json::from_str(&out.ok().stdout).unwrap();
    assert_eq!(rows.len(), 13 * 3 * 2, "one model request per session");
    assert!(rows
        .iter()
        .all(|r| r["model"].is_string() && r["input_tokens"].as_i64() > Some(0)));
}

#[test]
fn a_reader_that_goes_away_ends_reev_quietly() {
    let p = loaded();
    for format in ["table", "csv", "json"] {
        let (code, stderr) =
            common::into_closed_pipe(&p, &["query", "--format", format, "SELECT * FROM sessions"]);
        assert_eq!(code, Some(141), "{format}: {stderr}");
        assert!(stderr.is_empty(), "{format}: {stderr}");
    }
    // Through a real `head`: the pipeline's output is head's, and reev says nothing.
    let sh = format!(
        "'{}' query 'SELECT s.* FROM sessions s, range(2000)' | head -n 2; echo \"status=${{PIPESTATUS[0]}}\" >&2",
        common::REEV
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &sh])
        .current_dir(p.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert_eq!(stderr.trim(), "status=141", "{stderr}");
}
