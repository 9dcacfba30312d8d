//! `reev list`: the plan without running it; filters and shards.

use crate::common::Project;
use std::collections::BTreeSet;

fn project() -> Project {
    let p = Project::new();
    p.agents(&[("a1", &["true"]), ("a2", &["true"])]);
    for id in ["alpha.one", "alpha.two", "beta.one", "gamma"] {
        p.simple_benchmark(id);
    }
    p.write(
        "benchmarks/tagged.yml",
        "id: tagged\ndescription: d\ntags: [slow, net]\nprompt: p\nground_truth:\n  assertions:\n    - exit_code: 0\n",
    );
    p
}

fn rows(out: &str) -> BTreeSet<String> {
    out.lines().skip(1).map(String::from).collect()
}

#[test]
fn lists_the_full_matrix_without_running() {
    let p = project();
    let out = p.reev(&["list", "--attempts", "3"]);
    out.ok();
    assert_eq!(rows(&out.stdout).len(), 5 * 2 * 3);
    assert!(!p.join("runs").exists(), "list must not run anything");
}

#[test]
fn filters_tags_and_agents_narrow_the_plan() {
    let p = project();
    let out = p.reev(&["list", "--filter", "alpha.*", "--agent", "a2"]);
    let r = rows(&out.ok().stdout);
    assert_eq!(r.len(), 2);
    assert!(r
        .iter()
        .all(|l| l.contains("\ta2\t") && l.starts_with("alpha.")));
    let r = rows(&p.reev(&["list", "--tag", "net"]).ok().stdout);
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|l| l.starts_with("tagged\t")));
    p.reev(&["list", "--filter", "nomatch*"])
        .code(2)
        .stderr_has("no benchmark matches");
    p.reev(&["list", "--filter", "[bad"])
        .code(2)
        .stderr_has("--filter");
}

#[test]
fn shards_are_disjoint_and_their_union_is_the_plan() {
    let p = project();
    let full = rows(&p.reev(&["list", "--attempts", "3"]).ok().stdout);
    for n in [1u32, 2, 3, 7] {
        let mut union = BTreeSet::new();
        let mut sizes = Vec::new();
        for k in 1..=n {
            let part = rows(
                &p.reev(&["list", "--attempts", "3", "--shard", &format!("{k}/{n}")])
                    .ok()
                    .stdout,
            );
            sizes.push(part.len());
            for row in part {
                assert!(union.insert(row), "shards {n} overlap");
            }
        }
        assert_eq!(union, full, "shards of {n}");
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= 1, "unbalanced shards {sizes:?}");
    }
    p.reev(&["list", "--shard", "0/3"]).code(2);
    p.reev(&["list", "--shard", "4/3"]).code(2);
}

#[test]
fn json_format_is_machine_readable() {
    let p = project();
    let out = p.reev(&["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.ok().stdout).expect("json");
    assert_eq!(v.as_array().unwrap().len(), 10);
    assert!(v[0]["benchmark_sha256"].as_str().unwrap().len() == 64);
}
