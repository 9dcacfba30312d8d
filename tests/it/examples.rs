//! The shipped operator examples run exactly as written: the crontab line, the systemd unit's
//! ExecStart, the GitHub workflow's `reev` lines and the Kubernetes Jobs' command lines, with
//! only their install paths (`/usr/local/bin/reev`, `/srv/reev`, `/data`) pointed at a test
//! project. The crontab and the unit must alert exactly when the gate fails.

use crate::common::{session_files, Out, Project, REEV};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;

fn example(rel: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(rel),
    )
    .unwrap()
}

/// A PATH with `reev` first (the Kubernetes pods call it by name).
fn path_with_reev(p: &Project) -> String {
    let bin = p.join("bin");
    if !bin.join("reev").exists() {
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(REEV, bin.join("reev")).unwrap();
    }
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `sh -c LINE` in the project, with a clean log environment and `env`.
fn sh(p: &Project, line: &str, env: &[(&str, &str)]) -> Out {
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg(line)
        .current_dir(p.path())
        .env("PATH", path_with_reev(p))
        .env_remove("RUST_LOG")
        .env_remove("REEV_RUNS_DIR")
        .env_remove("REEV_LOG_FORMAT")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap().into()
}

/// The install paths of the examples, pointed at the project.
fn localise(line: &str, p: &Project) -> String {
    line.replace("/usr/local/bin/reev", REEV)
        .replace("/srv/reev", p.path().to_str().unwrap())
}

/// An agent that passes until `broken` exists, then exits 75 (`error`): every session
/// unjudged, an error rate of 100% that fails the gate with no history needed.
fn gated_project() -> Project {
    let p = Project::new();
    let flag = p.join("broken");
    let script = format!("test ! -e {} || exit 75", flag.display());
    p.agents(&[("a", &["sh", "-c", &script])]);
    for b in ["x", "y"] {
        p.simple_benchmark(b);
    }
    p
}

/// The crontab's job line (what follows the five time fields, as written), and its
/// environment lines (`MAILTO=...`).
fn crontab() -> (String, Vec<(String, String)>) {
    let text = example("crontab");
    let mut env = Vec::new();
    let mut jobs = Vec::new();
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        match l.split_once('=') {
            Some((k, v)) if !k.contains(char::is_whitespace) => {
                env.push((k.to_string(), v.to_string()))
            }
            _ => {
                let mut rest = l.trim_start();
                for _ in 0..5 {
                    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    rest = rest[end..].trim_start();
                }
                jobs.push(rest.to_string());
            }
        }
    }
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    (jobs.remove(0), env)
}

#[test]
fn the_crontab_line_is_silent_on_success_and_mails_a_failed_gate() {
    let (job, env) = crontab();
    assert!(
        env.iter().any(|(k, _)| k == "MAILTO"),
        "cron mails output to MAILTO"
    );
    assert!(!job.contains(">>") && !job.contains("2>&1"), "{job}");
    let p = gated_project();
    let line = localise(&job, &p);
    // Cron mails whatever the job writes: a good night writes nothing at all.
    let night1 = sh(&p, &line, &[]);
    assert_eq!(night1.code, 0, "{}", night1.stderr);
    assert_eq!(night1.stdout, "", "cron would mail this");
    assert_eq!(night1.stderr, "", "cron would mail this");
    assert!(p.join("reports/latest/report.md").exists());
    // A failed gate writes the regression and the report's path: cron mails it.
    std::fs::write(p.join("broken"), "").unwrap();
    let night2 = sh(&p, &line, &[]);
    assert_eq!(night2.code, 1);
    let mail = format!("{}{}", night2.stdout, night2.stderr);
    assert!(mail.contains("regression: error_rate a"), "{mail}");
    let run = std::fs::read_link(p.join("reports/latest")).unwrap();
    let run = run.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        mail.contains(&format!("reports/{run}/report.md")),
        "the report's path: {mail}"
    );
    // An incomplete run (here the budget of the config's `settings:` stopped it) is a
    // failure too: cron mails what is missing and how to finish it.
    std::fs::remove_file(p.join("broken")).unwrap();
    let spend = r#"echo '{"type":"model_request","model":"m","input_tokens":1000000,"output_tokens":0}' >> "$REEV_EVENTS""#;
    p.write(
        "reev.yml",
        &format!(
            "settings:\n  max_cost: 1.5\nprices:\n  m: {{input: 1.0, output: 1.0}}\n\
             agents:\n  a:\n    command: [sh, -c, {spend:?}]\n"
        ),
    );
    let night3 = sh(&p, &line, &[]);
    assert_ne!(night3.code, 0, "{}", night3.stderr);
    let mail = format!("{}{}", night3.stdout, night3.stderr);
    assert!(mail.contains("reev batch"), "how to finish it: {mail}");
    assert!(mail.contains("stopped by --max-cost"), "{mail}");
    assert!(mail.contains("is incomplete"), "{mail}");
}

/// The `Key=value` lines of a unit file.
fn unit_values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(String::from)
        .collect()
}

#[test]
fn the_systemd_unit_fails_exactly_when_the_gate_fails_and_logs_only_json() {
    let unit = example("systemd/reev-batch.service");
    assert!(
        unit_values(&unit, "SuccessExitStatus").is_empty(),
        "a failed gate must fail the unit"
    );
    let on_failure = unit_values(&unit, "OnFailure");
    assert_eq!(on_failure, ["reev-alert@%n.service"]);
    let alert = example("systemd/reev-alert@.service");
    assert!(alert.contains("sendmail"), "{alert}");
    let p = gated_project();
    let exec = localise(&unit_values(&unit, "ExecStart")[0], &p);
    let dir = localise(&unit_values(&unit, "WorkingDirectory")[0], &p);
    assert_eq!(Path::new(&dir), p.path());
    let env: Vec<(String, String)> = unit_values(&unit, "Environment")
        .iter()
        .map(|e| {
            let (k, v) = e.split_once('=').unwrap();
            (k.to_string(), localise(v, &p))
        })
        .collect();
    // systemd runs ExecStart without a shell: split on spaces, as it does for this line.
    let run = || -> Out {
        let argv: Vec<&str> = exec.split_whitespace().collect();
        let mut c = std::process::Command::new(argv[0]);
        c.args(&argv[1..])
            .current_dir(&dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for (k, v) in &env {
            c.env(k, v);
        }
        c.output().unwrap().into()
    };
    let good = run();
    assert_eq!(good.code, 0, "{}", good.stderr);
    std::fs::write(p.join("broken"), "").unwrap();
    let bad = run();
    assert_eq!(
        bad.code, 1,
        "a failed gate is a failed unit: {}",
        bad.stderr
    );
    // The journal gets both streams: every line of both is JSON (`--log-format json`).
    for out in [&good, &bad] {
        for l in out.stdout.lines().chain(out.stderr.lines()) {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v["fields"]["message"].is_string(), "{l}");
        }
    }
    assert!(
        bad.stderr.contains("regression: error_rate a"),
        "{}",
        bad.stderr
    );
    assert!(p.join("reev.duckdb").is_file(), "REEV_DB was used");
}

/// The `run:` lines of a GitHub job that call reev, with the `${{ }}` expressions a runner
/// would substitute.
fn github_reev_lines(job: &str, shard: u32) -> Vec<String> {
    let wf: Value = serde_saphyr::from_str(&example("github/reev.yml")).unwrap();
    let expr = regex::Regex::new(r"\$\{\{\s*([^}]*?)\s*\}\}").unwrap();
    wf["jobs"][job]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .filter(|r| r.contains("release/reev"))
        .map(|r| {
            expr.replace_all(r, |c: &regex::Captures| match &c[1] {
                "matrix.shard" => shard.to_string(),
                other => panic!("unexpected expression {other} in {r}"),
            })
            .into_owned()
        })
        .collect()
}

/// The shipped GitHub workflow as the tests run it: its shard count and where the report
/// job downloads the shards' run files (the download-artifact step's `path`).
struct Workflow {
    wf: Value,
    shards: u32,
    history: String,
}

impl Workflow {
    /// Read the example; `p` gets the built reev where the workflow's lines call it.
    fn read(p: &Project) -> Workflow {
        std::fs::create_dir_all(p.join(".target/release")).unwrap();
        std::os::unix::fs::symlink(REEV, p.join(".target/release/reev")).unwrap();
        let wf: Value = serde_saphyr::from_str(&example("github/reev.yml")).unwrap();
        let shards = wf["jobs"]["shard"]["strategy"]["matrix"]["shard"]
            .as_array()
            .unwrap()
            .len() as u32;
        let history = wf["jobs"]["report"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/download-artifact"))
            })
            .unwrap()["with"]["path"]
            .as_str()
            .unwrap()
            .to_string();
        Workflow {
            wf,
            shards,
            history,
        }
    }

    fn report_steps(&self) -> &Vec<Value> {
        self.wf["jobs"]["report"]["steps"].as_array().unwrap()
    }

    /// One night's shard jobs, each in its own checkout (the suite and the built binary),
    /// their runs/ uploaded and downloaded into `p`'s history.
    fn shard_jobs(&self, p: &Project, night: &str) {
        for k in 1..=self.shards {
            let checkout = Project::new();
            std::fs::copy(p.join("reev.yml"), checkout.join("reev.yml")).unwrap();
            copy_tree(&p.join("benchmarks"), &checkout.join("benchmarks"));
            std::fs::create_dir_all(checkout.join(".target/release")).unwrap();
            std::os::unix::fs::symlink(REEV, checkout.join(".target/release/reev")).unwrap();
            // `reev run` exits 0 whatever its sessions' statuses.
            for line in github_reev_lines("shard", k) {
                sh(&checkout, &line, &[("RUN_ID", night)]).ok();
            }
            copy_tree(&checkout.join("runs"), &p.join(&self.history));
        }
    }
}

#[test]
fn the_github_workflow_keeps_the_run_files_and_rebuilds_its_database_from_them() {
    let p = gated_project();
    let wf = Workflow::read(&p);
    let steps = wf.report_steps();
    let history = wf.history.clone();
    for night in ["gh-1", "gh-2"] {
        wf.shard_jobs(&p, night);
        // The report job's reev lines, as written, in order.
        for line in github_reev_lines("report", 0) {
            sh(&p, &line, &[("RUN_ID", night)]).ok();
        }
    }
    assert!(p.join("reports/gh-2/report.md").is_file());
    let count = |p: &Project| p.count("reev.duckdb", "SELECT count(*) FROM sessions");
    let loaded = count(&p);
    assert_eq!(loaded as usize, session_files(&p.join(&history)).len());
    // The cache was evicted: the next night's load rebuilds the database from the files kept.
    std::fs::remove_file(p.join("reev.duckdb")).unwrap();
    for line in github_reev_lines("report", 0) {
        sh(&p, &line, &[("RUN_ID", "gh-2")]).ok();
    }
    assert_eq!(count(&p), loaded);
    // And the run files are what the workflow keeps: a step commits `history` and pushes it.
    let keeps = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .any(|r| r.contains("git add runs") && r.contains("git push"));
    assert!(keeps, "no step keeps the run files");
}

/// Issue 22, defect 3, through the workflow's own lines: after five good nights (the gate's
/// history), a benchmark that broke fails the report job on the first broken night and on
/// the next one too — the baseline is the last night that passed, not the previous night —
/// and passes again once it is fixed.
#[test]
fn the_github_workflow_keeps_failing_a_lasting_regression_until_fixed() {
    let p = Project::new();
    let flag = p.join("broken");
    // 200 ms a session: a busy machine's few ms of noise on a 5 ms session were a 40%
    // "slowdown" the gate rightly flagged; what this test is about is the broken nights.
    let script = format!("sleep 0.2; test ! -e {} || exit 1", flag.display());
    p.agents(&[("a", &["sh", "-c", &script])]);
    for b in ["x", "y"] {
        p.simple_benchmark(b);
    }
    let wf = Workflow::read(&p);
    let nights = [
        ("n1", false),
        ("n2", false),
        ("n3", false),
        ("n4", false),
        ("n5", false),
        ("n6", true),
        ("n7", true),
        ("n8", false),
    ];
    for (night, broken) in nights {
        if broken {
            std::fs::write(&flag, "").unwrap();
        } else {
            let _ = std::fs::remove_file(&flag);
        }
        wf.shard_jobs(&p, night);
        let mut gate = None;
        for line in github_reev_lines("report", 0) {
            let out = sh(&p, &line, &[("RUN_ID", night)]);
            if line.contains(" report ") {
                gate = Some(out);
            } else {
                out.ok();
            }
        }
        let gate = gate.expect("the workflow's report line");
        gate.code(if broken { 1 } else { 0 });
        if broken {
            gate.stderr_has("new_failure");
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for f in crate::common::walk(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}

/// The Kubernetes example: the Indexed Job's pods (their `sh -c` args, their env with the
/// 40-character `k8s-<uid>` run id) into `/data/runs`, then the merge Job's command line.
#[test]
fn the_kubernetes_jobs_run_as_written_and_status_aligns_their_long_ids() {
    let p = gated_project();
    let text = example("kubernetes/indexed-job.yaml");
    let data = p.join("data");
    let docs: Vec<Value> = text
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect();
    let container = |d: &Value| d["spec"]["template"]["spec"]["containers"][0].clone();
    let args = |c: &Value| -> String {
        assert_eq!(c["command"], serde_json::json!(["sh", "-c"]));
        c["args"][0]
            .as_str()
            .unwrap()
            .replace("/data", data.to_str().unwrap())
    };
    let shards = &docs[0];
    let uid = "0f4c6b1e-8d2a-4c3b-9e7f-1a2b3c4d5e6f";
    let c = container(shards);
    let mut env: Vec<(String, String)> = Vec::new();
    for e in c["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap().to_string();
        let value = match e["value"].as_str() {
            // Kubernetes expands $(VAR) of earlier entries; the uid comes from the Job.
            Some(v) => v
                .replace("$(JOB_UID)", uid)
                .replace("/data", data.to_str().unwrap()),
            None => uid.to_string(),
        };
        env.push((name, value));
    }
    let run_id = &env.iter().find(|(k, _)| k == "RUN_ID").unwrap().1;
    assert_eq!(run_id.len(), 40);
    let count = shards["spec"]["completions"].as_u64().unwrap();
    for index in 0..count {
        let index = index.to_string();
        let mut vars: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        vars.push(("JOB_COMPLETION_INDEX", &index));
        sh(&p, &args(&c), &vars).ok();
    }
    sh(&p, &args(&container(&docs[1])), &[]).ok();
    assert!(data.join(format!("reports/{run_id}/report.md")).is_file());
    let status = p.reev(&["status", "--runs-dir", data.join("runs").to_str().unwrap()]);
    let lines: Vec<&str> = status.ok().stdout.lines().collect();
    assert_eq!(
        lines[0].find("state"),
        lines[1].find("complete"),
        "{lines:#?}"
    );
}
