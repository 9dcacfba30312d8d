//! `reev config`, `--help` and `reev man`: one rule for the config file, each command's own
//! flags, global flags under their own heading, and every man page reev(1) cites.

use crate::common::Project;

fn project() -> Project {
    let p = Project::new();
    p.agents(&[("a", &["true"])]).simple_benchmark("x");
    p
}

#[test]
fn a_config_file_named_explicitly_must_exist_for_every_command() {
    let p = project();
    p.reev(&["config", "--config", "nosuch.yml"])
        .code(2)
        .stderr_has("nosuch.yml");
    p.reev(&["run", "--config", "nosuch.yml"])
        .code(2)
        .stderr_has("nosuch.yml");
    // Commands without --config read REEV_CONFIG: the same rule.
    let out = p
        .cmd(&["query", "SELECT 1"])
        .env("REEV_CONFIG", "nosuch.yml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch.yml"));
    // The default reev.yml may be absent where no agents are needed.
    std::fs::remove_file(p.join("reev.yml")).unwrap();
    let out = p.reev(&["config"]);
    out.ok();
    assert!(out.stdout.contains("# default"), "{}", out.stdout);
}

#[test]
fn config_takes_only_settings_flags() {
    let p = project();
    let help = p.reev(&["config", "--help"]);
    help.ok();
    for absent in [
        "--resume",
        "--keep-workdirs",
        "--fail-on-failed",
        "--shard",
        "--agent",
    ] {
        assert!(!help.stdout.contains(absent), "{absent}:\n{}", help.stdout);
    }
    for present in [
        "--config",
        "--db",
        "--jobs",
        "--attempts",
        "--timeout",
        "--runs-dir",
        "--out",
    ] {
        assert!(help.stdout.contains(present), "{present}:\n{}", help.stdout);
    }
    p.reev(&["config", "--resume", "x"]).code(2);
    let out = p.reev(&["config", "--attempts", "4", "--jobs", "2"]);
    out.ok();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("attempts ") && l.contains('4') && l.contains("command line")),
        "{}",
        out.stdout
    );
}

#[test]
fn global_flags_have_their_own_heading_in_every_help() {
    let p = project();
    let top = p.reev(&["--help"]);
    let commands: Vec<String> = top
        .stdout
        .split("Commands:")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // "  name   description"; wrapped descriptions are indented further.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 12, "{commands:?}");
    let mut helps = vec![(String::from("reev"), top.stdout.clone())];
    for c in &commands {
        let h = p.reev(&[c, "--help"]);
        h.ok();
        helps.push((c.clone(), h.stdout.clone()));
    }
    for (c, text) in helps {
        let (own, global) = text
            .split_once("Global options:")
            .unwrap_or_else(|| panic!("{c}: no Global options heading:\n{text}"));
        for flag in ["--verbose", "--quiet", "--log-format"] {
            assert!(global.contains(flag), "{c}: {flag} not under the heading");
            assert!(!own.contains(flag), "{c}: {flag} among the command's own");
        }
    }
}

#[test]
fn man_pages_exist_for_every_command_reev_1_cites() {
    let p = project();
    let main = p.reev(&["man"]);
    main.ok();
    assert!(main.stdout.contains(".TH reev 1"), "{}", main.stdout);
    let cited: Vec<String> = regex::Regex::new(r"reev\\-([a-z]+)\(1\)")
        .unwrap()
        .captures_iter(&main.stdout)
        .map(|c| c[1].to_string())
        .collect();
    assert!(cited.len() >= 12, "{cited:?}");
    let run = p.reev(&["man", "run"]);
    run.ok();
    assert!(run.stdout.contains(".TH reev-run 1"), "{}", run.stdout);
    assert!(run.stdout.contains("\\-\\-resume"), "{}", run.stdout);
    let dir = p.join("man1");
    p.reev(&["man", "--out", dir.to_str().unwrap()]).ok();
    assert!(dir.join("reev.1").is_file());
    for c in &cited {
        let page = dir.join(format!("reev-{c}.1"));
        assert!(page.is_file(), "reev(1) cites reev-{c}(1), not written");
        assert!(std::fs::read_to_string(&page)
            .unwrap()
            .contains(&format!(".TH reev-{c} 1")));
    }
    p.reev(&["man", "nosuch"]).code(2).stderr_has("run");
}
