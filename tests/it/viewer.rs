//! report.html as a viewer: every session has its page, every link resolves, nothing loads
//! from the network, the filter works (in headless Chromium where it is installed); the heat
//! map is coloured by success; a deterministic agent that broke is a change, not flaky;
//! report.md folds how the gate decided.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, Project};
use crate::compare::hrefs;
use crate::report::section;
use serde_json::Value;

/// The shipped suite run with `deterministic` and `naive`: four nights of history, then
/// `night-1`, then `night-2` with `deterministic` broken (exit 3); reported against `night-1`.
/// (The gate is learning, and reports no regression, with fewer than five comparable runs
/// of history.)
fn two_nights() -> Project {
    let p = common::shipped_suite();
    let agents = ["--agent", "deterministic", "--agent", "naive"];
    for night in ["h-1", "h-2", "h-3", "h-4", "night-1"] {
        p.reev(&[&["run", "--run-id", night][..], &agents].concat())
            .ok();
    }
    let yml = std::fs::read_to_string(p.join("reev.yml")).unwrap();
    p.write(
        "reev.yml",
        &yml.replace(
            r#"command: [python3, "{config_dir}/agents/ledger_agent.py", --mode, reference]"#,
            r#"command: [sh, -c, "exit 3"]"#,
        ),
    );
    p.reev(&[&["run", "--run-id", "night-2"][..], &agents].concat())
        .ok();
    p.reev(&["load"]).ok();
    p.reev(&[
        "report",
        "--baseline",
        "night-1",
        "--format",
        "html,json,md",
    ])
    .ok();
    p
}

fn read(p: &Project, rel: &str) -> String {
    std::fs::read_to_string(p.join(rel)).unwrap()
}

#[test]
fn every_session_has_a_page_and_every_link_resolves() {
    let p = two_nights();
    let html = read(&p, "reports/night-2/report.html");
    let r: Value = serde_json::from_str(&read(&p, "reports/night-2/report.json")).unwrap();
    let sessions = r["sessions"].as_array().unwrap();
    assert_eq!(
        html.matches("<article class=\"session\"").count(),
        sessions.len()
    );
    for s in sessions {
        let id = s["session_id"].as_str().unwrap();
        assert!(html.contains(&format!("id=\"s-{id}\"")), "no page for {id}");
    }
    let targets = hrefs(&html);
    assert!(
        targets.len() > sessions.len(),
        "links to every session and section"
    );
    for t in &targets {
        assert!(
            html.contains(&format!("id=\"{t}\"")),
            "href=\"#{t}\" has no target"
        );
    }
    // Offline: nothing fetched from anywhere.
    let remote = regex::Regex::new(r#"(?i)(src|href)\s*=\s*"?(https?:)?//"#).unwrap();
    assert!(!remote.is_match(&html), "a remote src or href");
    // The regressions, the heat map and the slowest sessions link to session pages.
    for title in ["Regressions", "Benchmark matrix", "Slowest sessions"] {
        assert!(
            section(&html, title).contains("href=\"#s-"),
            "{title} links no session"
        );
    }
    // A passing session's page has its assertions (passing ones marked) and the verifier run.
    let passing = sessions
        .iter()
        .find(|s| s["status"] == "succeeded" && s["benchmark_id"] == "ledger.transfer")
        .expect("a passing transfer");
    let page = page(&html, passing["session_id"].as_str().unwrap());
    assert!(page.contains("Assertions (5 of 5 passed)"), "{page}");
    assert!(page.contains("verifier: <code>python3 "), "{page}");
    assert!(page.contains("trace: "), "{page}");
    // Failures grouped by benchmark, one group per failing benchmark.
    let groups = section(&html, "Failures (")
        .matches("<details class=\"group\"")
        .count();
    let failing: std::collections::BTreeSet<&str> = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["benchmark_id"].as_str().unwrap())
        .collect();
    assert_eq!(groups, failing.len());
}

#[test]
fn a_deterministic_agent_that_broke_is_a_change_not_flaky() {
    let p = two_nights();
    let r: Value = serde_json::from_str(&read(&p, "reports/night-2/report.json")).unwrap();
    let flaky: Vec<&Value> = r["flaky"].as_array().unwrap().iter().collect();
    assert!(
        flaky.iter().all(|f| f["agent"] != "deterministic"),
        "a broken deterministic agent is not flaky: {flaky:?}"
    );
    let changes = r["changes"].as_array().unwrap();
    assert!(!changes.is_empty());
    assert!(changes.iter().all(|c| c["agent"] == "deterministic"
        && c["broke"] == true
        && c["since_run"] == "night-2"));
    let md = read(&p, "reports/night-2/report.md");
    assert!(md.contains("**Changed**"), "{md}");
    // report.md folds how the gate decided, as a list that reads as plain text.
    let fold = &md[md
        .find("<details><summary>How the gate decided")
        .expect("folded")..];
    let fold = &fold[..fold.find("</details>").unwrap()];
    assert!(!fold.contains("|---"), "no wide table in the fold: {fold}");
    assert!(
        fold.contains("\n- **new_failure** deterministic: regression"),
        "{fold}"
    );
    assert!(fold.contains("\n  - threshold: "), "{fold}");
}

#[test]
fn the_heat_map_is_coloured_by_success_not_mean_score() {
    let p = Project::new();
    p.agents(&[("a", &["sh", "-c", "echo almost"])]);
    // Nine tenths of the weight pass, the threshold is all of it: score 0.9, failed.
    p.write(
        "benchmarks/mostly.yml",
        "id: mostly\ndescription: mostly right\nprompt: p\nground_truth:\n  pass_threshold: 1.0\n  assertions:\n    - exit_code: 0\n      weight: 9\n    - stdout_contains: never\n",
    );
    p.reev(&["run", "--attempts", "3"]).ok();
    p.reev(&["load"]).ok();
    p.reev(&["report", "--format", "html"]).ok();
    let html = std::fs::read_to_string(
        std::fs::read_dir(p.join("reports"))
            .unwrap()
            .flatten()
            .find(|e| e.file_name() != "latest")
            .unwrap()
            .path()
            .join("report.html"),
    )
    .unwrap();
    let hm = section(&html, "Benchmark matrix");
    assert!(hm.contains("0/3"), "{hm}");
    assert!(
        hm.contains("background:hsl(0,65%,82%)"),
        "0/3 is red whatever the score: {hm}"
    );
}

/// A session's page.
fn page<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("id=\"s-{id}\"")).expect("the page");
    let rest = &html[start..];
    &rest[..rest.find("</article>").unwrap()]
}

/// Chromium, when installed.
fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Run headless Chromium on `url`, offline (every host resolves to nothing), with `args`
/// (`--dump-dom`, `--screenshot=...`); its stdout.
fn headless(browser: &Path, profile: &Path, url: &str, args: &[&str]) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_viewer_works_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("the_viewer_works_in_headless_chromium: skipped, no Chromium installed (apt-get install chromium)");
        return;
    };
    let p = two_nights();
    let file = p.join("reports/night-2/report.html");
    let url = format!("file://{}", file.display());
    let profile = p.join("chromium-profile");
    // Loaded (scripts run), every in-page link still has its target in the live DOM.
    let dom = headless(&browser, &profile, &url, &["--dump-dom"]);
    for t in hrefs(&dom) {
        assert!(
            dom.contains(&format!("id=\"{t}\"")),
            "#{t} missing in the DOM"
        );
    }
    let failures = read(&p, "reports/night-2/report.json");
    let r: Value = serde_json::from_str(&failures).unwrap();
    let n = r["failures"].as_array().unwrap().len();
    assert!(
        dom.contains(&format!("{n} failure(s) shown")),
        "the filter script ran"
    );
    // Filtered by the query string: only naive's failed sessions stay visible.
    let dom = headless(
        &browser,
        &profile,
        &format!("{url}?agent=naive&status=failed"),
        &["--dump-dom"],
    );
    let rows = regex::Regex::new(r#"<tr data-agent="([^"]+)" data-status="([^"]+)"( hidden="")?>"#)
        .unwrap();
    let (mut shown, mut hidden) = (0, 0);
    for c in rows.captures_iter(&dom) {
        let visible = c.get(3).is_none();
        assert_eq!(visible, &c[1] == "naive" && &c[2] == "failed", "{}", &c[0]);
        if visible {
            shown += 1
        } else {
            hidden += 1
        }
    }
    assert!(shown > 0 && hidden > 0, "{shown} shown, {hidden} hidden");
    let naive_failures = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["agent"] == "naive" && f["status"] == "failed")
        .count();
    assert!(dom.contains(&format!("{naive_failures} failure(s) shown")));
    // Screenshots to look at: the top of the report and one session's own page.
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
    std::fs::create_dir_all(&shots).unwrap();
    // A failure of naive's: it has a trace and a verifier run to show.
    let sid = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["agent"] == "naive")
        .and_then(|f| f["session_id"].as_str())
        .unwrap();
    for (name, target) in [
        ("viewer-report", url.clone()),
        ("viewer-session", format!("{url}#s-{sid}")),
    ] {
        let png = shots.join(format!("{name}.png"));
        headless(
            &browser,
            &profile,
            &target,
            &[
                "--window-size=1280,1800",
                "--hide-scrollbars",
                &format!("--screenshot={}", png.display()),
            ],
        );
        let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(size > 30_000, "{name}.png is {size} bytes: blank?");
    }
}
