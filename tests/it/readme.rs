//! The README as a newcomer meets it: the quick tour pasted into a fresh copy of the suite,
//! links that stay inside the repository, and release asset names that `cargo binstall` finds.

use crate::common;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// The first ```sh block after `heading`.
fn block_after(text: &str, heading: &str) -> Vec<String> {
    let after = text.split_once(heading).expect("heading").1;
    let body = after.split_once("```sh\n").expect("```sh block").1;
    let body = body.split_once("```").expect("closing fence").0;
    body.lines().map(str::to_string).collect()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Every line of the quick tour, pasted into a fresh copy of the shipped suite with the built
/// reev on PATH, exits 0 (as the README says) — in order, in one directory. It runs the whole
/// shipped suite twice (~25 s), so it is heavy: `.ci/setup-checks` runs it on every CI run.
#[test]
#[ignore]
fn quick_tour_works_pasted_into_a_fresh_copy() {
    let lines = block_after(&readme(), "## Quick tour");
    assert!(lines.len() >= 8, "{lines:?}");
    let dir = tempfile::tempdir().unwrap();
    for d in ["benchmarks", "agents"] {
        copy_tree(&root().join(d), &dir.path().join(d));
    }
    // As in a fresh clone: runs/ and reports/ hold only their README, whatever `make run`
    // left in this checkout (its `reports/latest` link would be copied as a directory).
    for d in ["runs", "reports"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
        std::fs::copy(
            root().join(d).join("README.md"),
            dir.path().join(d).join("README.md"),
        )
        .unwrap();
    }
    std::fs::copy(root().join("reev.yml"), dir.path().join("reev.yml")).unwrap();
    let bin = Path::new(common::REEV).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (i, line) in lines.iter().enumerate() {
        let out = std::process::Command::new("bash")
            .args(["-c", line])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env_remove("RUST_LOG")
            .env_remove("REEV_CONFIG")
            .env_remove("REEV_DB")
            .env_remove("REEV_RUNS_DIR")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README line failed ({:?}): {line}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Issue 22, defect 4: the tour's last line (`reev batch`, a 1-attempt run after the
        // 3-attempt one) flagged the flaky agent while the gate had one run of history.
        if i + 1 == lines.len() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("regression"), "{line}\n{stderr}");
        }
    }
    assert!(dir.path().join("sessions.csv").is_file());
    assert!(dir.path().join("reports/tour/report.md").is_file());
}

/// Markdown links `[text](target)` of a file.
fn links(text: &str) -> Vec<String> {
    regex::Regex::new(r"\]\(([^)\s]+)\)")
        .unwrap()
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect()
}

#[test]
fn docs_link_nothing_outside_the_repository() {
    let repo = root().canonicalize().unwrap();
    let mut files: Vec<PathBuf> = vec![repo.join("README.md")];
    files.extend(
        common::walk(&repo.join("docs"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    assert!(files.len() >= 2, "docs/ARCHITECTURE.md exists: {files:?}");
    let mut checked = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            !text.contains("../shared"),
            "{} points outside the repository",
            f.display()
        );
        for target in links(&text) {
            if target.starts_with('#') || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap();
            let resolved = f.parent().unwrap().join(path);
            let resolved = resolved
                .canonicalize()
                .unwrap_or_else(|e| panic!("{}: link {target}: {e}", f.display()));
            assert!(
                resolved.starts_with(&repo),
                "{}: link {target} leaves the repository",
                f.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "only {checked} links checked");
}

/// The release workflow's archive names, rendered from Cargo.toml's binstall template, agree.
#[test]
fn binstall_metadata_matches_the_release_assets() {
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let table = cargo
        .split_once("[package.metadata.binstall]")
        .expect("binstall table")
        .1;
    let field = |k: &str| {
        regex::Regex::new(&format!(r#"(?m)^{k} = "([^"]+)""#))
            .unwrap()
            .captures(table)
            .unwrap_or_else(|| panic!("{k} missing"))[1]
            .to_string()
    };
    let render = |t: &str, target: &str| {
        t.replace("{ version }", "1.2.3")
            .replace("{ target }", target)
            .replace("{ bin }", "reev")
            .replace("{ binary-ext }", "")
    };
    let wf = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    assert!(wf.contains(r#"name="reev-$TAG-${{ matrix.target }}""#));
    assert!(wf.contains(r#"tar -C dist -czf "dist/$name.tar.gz" "$name""#));
    assert!(wf.contains(r#"cp "target/${{ matrix.target }}/release/reev""#));
    for target in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
        assert!(
            wf.contains(&format!("target: {target}")),
            "{target} not built"
        );
        let name = format!("reev-v1.2.3-{target}");
        assert!(
            render(&field("pkg-url"), target).ends_with(&format!("/v1.2.3/{name}.tar.gz")),
            "{}",
            field("pkg-url")
        );
        assert_eq!(render(&field("bin-dir"), target), format!("{name}/reev"));
    }
    assert_eq!(field("pkg-fmt"), "tgz");
}
