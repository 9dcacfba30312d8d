//! Issue 17: an agent can never reach its judge. The exact probes of a hostile agent — find
//! reev through `PPid:` in /proc, forge its session file and status marker through
//! `/proc/<pid>/cwd` and `/proc/<pid>/root`, remount `/` read-write, `setns` into reev's
//! network namespace, read reev's environment — run through the real binary, as root and
//! as `nobody`, and are shown blocked; a default (unsandboxed) agent cannot write the runs
//! tree, the database, the config or a verifier script, and its real session file is
//! written; the session init is a program of its own that reev finds or names.

use crate::common::{self, Project};
use crate::run_sandbox::unprivileged;
use serde_json::Value;

const SECRET: &str = "sk-reev-test-secret-4242";

/// The hostile agent (Python, ctypes only). It prints one line per probe: what it reached,
/// never how; then exits 1, so that the honest verdict is `failed`.
const HOSTILE: &str = r#"
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
port, run, SECRET = int(sys.argv[1]), sys.argv[2], sys.argv[3]
project = os.path.realpath(os.path.join(os.getcwd(), "../../../../../.."))
session = os.path.join("runs", run, "sessions", "hostile", "x@1")
forged = '{"status": "succeeded", "score": 1.0}'

def ancestors():
    pid, seen = os.getpid(), []
    while pid > 0:
        try:
            status = open(f"/proc/{pid}/status").read()
        except OSError:
            break
        seen.append(pid)
        pid = int([l.split()[1] for l in status.splitlines() if l.startswith("PPid:")][0])
    return seen[1:]

def forge(base):
    try:
        with open(os.path.join(base, session + ".json"), "x") as f:
            f.write(forged)
        open(os.path.join(base, session + ".succeeded"), "w").close()
        return True
    except OSError:
        pass
    try:
        # The run's status log, which `reev status` counts from.
        with open(os.path.join(base, "runs", run, "status.log"), "a") as f:
            f.write("hostile/x@1 succeeded\n")
        return True
    except OSError:
        return False

pids = ancestors()
print("ancestors", len(pids))
for pid in pids:
    comm = open(f"/proc/{pid}/comm").read().strip()
    if comm == "reev":
        print("found reev")
    if forge(f"/proc/{pid}/cwd"):
        print("FORGED through cwd of", comm)
    if forge(f"/proc/{pid}/root" + project):
        print("FORGED through root of", comm)
    try:
        if SECRET.encode() in open(f"/proc/{pid}/environ", "rb").read():
            print("SECRET read from", comm)
    except OSError:
        pass
if SECRET in os.environ.get("OPENAI_API_KEY", ""):
    print("SECRET in own environment")
MS_REMOUNT, MS_BIND = 32, 4096
if libc.mount(None, b"/", None, MS_REMOUNT | MS_BIND, None) == 0:
    print("REMOUNTED /")
if forge(project):
    print("FORGED directly")
for pid in pids + [1]:
    try:
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    except OSError:
        continue
    if libc.setns(fd, 0x40000000) == 0:
        try:
            socket.create_connection(("127.0.0.1", port), 2).close()
            print("CONNECTED to the host through", pid)
        except OSError:
            pass
caps = [l for l in open("/proc/self/status").read().splitlines() if l.startswith("CapEff:")]
print(caps[0].replace("\t", " "))
sys.exit(1)
"#;

fn hostile_project(port: u16) -> Project {
    let p = Project::new();
    p.write("hostile.py", HOSTILE);
    let agent = format!(
        "agents:\n  hostile:\n    command: [python3, {py:?}, \"{port}\", r1, {SECRET}]\n    sandbox:\n      \
         filesystem: scratch\n      network: none\n      env: [PATH]\n",
        py = p.join("hostile.py").display().to_string()
    );
    p.write("reev.yml", &agent).simple_benchmark("x");
    p
}

/// The probes found nothing: no forged file, no marker, no connection, no secret, no
/// capability; the session file is reev's own (`failed`, the agent's exit 1), which reev
/// could write (exit 2 would say a file was already there).
fn assert_contained(p: &Project, out: &std::process::Output) {
    let stderr_of_reev = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(2), "{stderr_of_reev}");
    let sessions = p.join("runs/r1/sessions/hostile");
    let s: Value =
        serde_json::from_slice(&std::fs::read(sessions.join("x@1.json")).unwrap()).unwrap();
    let text = s["stdout"]["text"].as_str().unwrap_or_default();
    assert_eq!(s["status"], "failed", "{s}\n{stderr_of_reev}");
    assert_eq!(s["exit_code"], 1, "{s}");
    for reached in ["FORGED", "REMOUNTED", "CONNECTED", "SECRET", "found reev"] {
        assert!(!text.contains(reached), "{reached}: {text}");
    }
    assert!(text.contains("CapEff: 0000000000000000"), "{text}");
    assert!(!sessions.join("x@1.succeeded").exists());
    assert_eq!(
        std::fs::read_to_string(p.join("runs/r1/status.log")).unwrap_or_default(),
        "hostile/x@1 failed\n",
        "the status log holds reev's line only"
    );
}

fn listener() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn a_hostile_sandboxed_agent_cannot_forge_its_result_escape_or_read_reevs_secrets() {
    let (_l, port) = listener();
    let p = hostile_project(port);
    let out = p
        .cmd(&["run", "--run-id", "r1"])
        .env("OPENAI_API_KEY", SECRET)
        .output()
        .unwrap();
    assert_contained(&p, &out);
}

#[test]
fn the_same_probes_are_blocked_for_an_unprivileged_reev() {
    let (_l, port) = listener();
    let p = hostile_project(port);
    let out = unprivileged(
        &p,
        &["run", "--run-id", "r1"],
        &[("OPENAI_API_KEY", SECRET)],
    );
    assert_contained(&p, &out);
}

/// An unsandboxed agent tries to write everything that judges it; prints what it could.
const TAMPER: &str = r##"
p=../../../../../..
echo forged > "$p/runs/r1/sessions/w/x@1.json" 2>/dev/null && echo "wrote the session file"
touch "$p/runs/r1/sessions/w/x@1.succeeded" 2>/dev/null && echo "wrote the marker"
echo "w/x@1 succeeded" >> "$p/runs/r1/status.log" 2>/dev/null && echo "wrote the status log"
mkdir "$p/runs/r2" 2>/dev/null && echo "wrote the runs tree"
echo junk >> "$p/reev.duckdb" 2>/dev/null && echo "wrote the database"
echo "# junk" >> "$p/reev.yml" 2>/dev/null && echo "wrote the config"
echo "exit 0" > "$p/benchmarks/v.sh" 2>/dev/null && echo "wrote the verifier"
mkdir -p "$p/reports/x" 2>/dev/null && echo "wrote the reports"
echo ok > out.txt && echo '{"type":"note"}' >> "$REEV_EVENTS" && echo "own area writable"
"##;

fn tamper_project(extra: &str) -> Project {
    let p = Project::new();
    p.write(
        "reev.yml",
        &format!(
            "agents:\n  w:\n    command: [sh, -c, {}]\n{extra}",
            serde_json::to_string(TAMPER).unwrap()
        ),
    );
    // The verifier fails the agent unless it was rewritten.
    p.write("benchmarks/v.sh", "exit 1\n");
    p.write(
        "benchmarks/x.yml",
        "id: x\ndescription: d\nprompt: p\nground_truth:\n  assertions:\n    - verify: {command: [sh, \"{benchmark_dir}/v.sh\"]}\n",
    );
    p.write("reev.duckdb", "not really a database\n");
    std::fs::create_dir_all(p.join("reports")).unwrap();
    p
}

/// None of the writes happened; the session file is reev's, judged by the real verifier.
fn assert_untouched(p: &Project, stderr: &str) {
    let s: Value = serde_json::from_slice(
        &std::fs::read(p.join("runs/r1/sessions/w/x@1.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("no session file of reev's ({e}): {stderr}"));
    let text = s["stdout"]["text"].as_str().unwrap_or_default();
    assert_eq!(text, "own area writable\n", "{s}");
    assert_eq!(s["status"], "failed", "{s}");
    assert_eq!(
        std::fs::read_to_string(p.join("benchmarks/v.sh")).unwrap(),
        "exit 1\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.join("reev.duckdb")).unwrap(),
        "not really a database\n"
    );
    assert!(!std::fs::read_to_string(p.join("reev.yml"))
        .unwrap()
        .ends_with("# junk\n"));
    assert!(!p.join("runs/r2").exists() && !p.join("reports/x").exists());
    assert!(!p.join("runs/r1/sessions/w/x@1.succeeded").exists());
    assert_eq!(
        std::fs::read_to_string(p.join("runs/r1/status.log")).unwrap_or_default(),
        "w/x@1 failed\n"
    );
}

#[test]
fn by_default_an_agent_cannot_write_the_runs_tree_database_config_or_verifier() {
    let p = tamper_project("");
    let out = p.cmd(&["run", "--run-id", "r1"]).output().unwrap();
    assert_untouched(&p, &String::from_utf8_lossy(&out.stderr));
}

#[test]
fn by_default_an_unprivileged_agent_cannot_either() {
    let p = tamper_project("");
    let out = unprivileged(&p, &["run", "--run-id", "r1"], &[]);
    assert_untouched(&p, &String::from_utf8_lossy(&out.stderr));
}

#[test]
fn filesystem_host_written_out_keeps_full_access() {
    let p = tamper_project("    sandbox:\n      filesystem: host\n");
    p.cmd(&["run", "--run-id", "r1"]).output().unwrap();
    assert!(p.join("reports/x").is_dir(), "host access was taken away");
    assert!(std::fs::read_to_string(p.join("reev.yml"))
        .unwrap()
        .ends_with("# junk\n"));
}

#[test]
fn without_namespaces_reev_warns_once_that_results_are_not_protected() {
    let p = tamper_project("");
    let out = p
        .cmd(&["run", "--run-id", "r1", "--attempts", "2"])
        .env("REEV_NO_NAMESPACES", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("results are NOT protected").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_missing_session_init_is_an_error_that_names_where_reev_looked() {
    let p = Project::new();
    p.agents(&[("a", &["true"])]).simple_benchmark("x");
    let out = p
        .cmd(&["run"])
        .env("REEV_INIT", "/nonexistent/reev-init")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("/nonexistent/reev-init"), "{stderr}");
    assert!(!p.join("runs").exists() || common::session_files(&p.join("runs")).is_empty());

    // A reev copied without its reev-init says where it looked: beside itself.
    let alone = tempfile::tempdir().unwrap();
    let bin = alone.path().join("reev");
    std::fs::copy(common::REEV, &bin).unwrap();
    let out = std::process::Command::new(&bin)
        .arg("run")
        .current_dir(p.path())
        .env_remove("REEV_INIT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let beside = alone.path().join("reev-init");
    assert!(stderr.contains(&beside.display().to_string()), "{stderr}");
    // The same copy with REEV_INIT runs.
    let out = std::process::Command::new(&bin)
        .arg("run")
        .current_dir(p.path())
        .env("REEV_INIT", common::REEV_INIT)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A reev-init of another build (an older install, a stale REEV_INIT) speaks other messages:
/// reev refuses it before any session, naming it and how to mend it, instead of every
/// session failing with what the init misread. An older init knows no `--protocol`.
#[test]
fn a_session_init_of_another_build_is_refused_before_the_run() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::new();
    p.agents(&[("a", &["true"])]).simple_benchmark("x");
    for (script, said) in [
        ("#!/bin/sh\necho 1\n", "protocol 1"),
        ("#!/bin/sh\ncat > /dev/null\n", "protocol none it can name"),
    ] {
        let init = p.join("old-reev-init");
        std::fs::write(&init, script).unwrap();
        std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = p.cmd(&["run"]).env("REEV_INIT", &init).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains(&init.display().to_string()), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
        assert!(stderr.contains("make install"), "{stderr}");
        assert!(!p.join("runs").exists() || common::session_files(&p.join("runs")).is_empty());
    }
}

/// Defect 6: in the process-group fallback, a setup whose leader exits (and whose group
/// has no member left) used to be reaped at once; its pid — the group id — could then be
/// given to another process that leads a group of its own, which teardown's kill of the
/// setup's group SIGKILLed. The agent here makes that happen deliberately: it asks the
/// kernel (ns_last_pid, root only) for the setup's pid for a setsid'd sleeper.
#[test]
fn the_fallback_never_kills_a_group_that_reused_the_setups_pid() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to steer pid allocation");
        return;
    }
    let p = Project::new();
    let agent = r#"
import os, sys, time
setup = int(open("../setup.pid").read())
def leader():
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.execvp("sleep", ["sleep", "60"])
    return pid
for _ in range(200):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(setup - 1))
    got = leader()
    if got == setup:
        break
    os.kill(got, 9)
    os.waitpid(got, 0)
else:
    got = leader()
print("reused" if got == setup else "not reused")
open("../sleeper.pid", "w").write(str(got))
"#;
    p.write(
        "reev.yml",
        &format!(
            "agents:\n  a:\n    command: [python3, -c, {}]\n",
            serde_json::to_string(agent).unwrap()
        ),
    );
    p.write(
        "benchmarks/x.yml",
        "id: x\ndescription: d\nprompt: p\nsetup: [sh, -c, \"echo $$ > ../setup.pid\"]\nteardown: [\"true\"]\nground_truth:\n  assertions:\n    - exit_code: 0\n",
    );
    let out = p
        .cmd(&["run", "--keep-workdirs"])
        .env("REEV_NO_NAMESPACES", "1")
        .output()
        .unwrap();
    let pidfile = common::walk(&p.join("runs"))
        .into_iter()
        .find(|f| f.ends_with("sleeper.pid"))
        .unwrap_or_else(|| panic!("no sleeper: {out:?}"));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive =
        std::fs::read_to_string(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.contains("sleep"));
    let said = p.sessions()[0]["stdout"]["text"].to_string();
    if alive {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
    assert!(
        alive,
        "teardown's kill of the setup's group took pid {pid} ({said})"
    );
}

/// The init blocks the signals it waits for (CHLD, TERM, INT, HUP); the agent, its setup and
/// its verifiers must start with none blocked. A shell that inherited a blocked SIGCHLD waited
/// forever for a background job that had already exited (and ignored reev's TERM), so a
/// session that takes 50 ms ended `timed_out` now and then; each of the agent's children is
/// checked too, with and without a sandbox.
#[test]
fn agents_start_with_no_signal_blocked() {
    let p = Project::new();
    let probe = "import signal; print(sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))";
    let py = common::python();
    let script = format!("{py} -c '{probe}'; ({py} -c '{probe}') & wait");
    p.write(
        "reev.yml",
        &format!(
            "agents:\n  plain:\n    command: [sh, -c, {s}]\n  boxed:\n    command: [sh, -c, {s}]\n    sandbox: {{network: none, filesystem: scratch}}\n",
            s = serde_json::to_string(&script).unwrap()
        ),
    );
    p.simple_benchmark("b");
    p.reev(&["run", "--attempts", "3"]).ok();
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 6);
    for s in &sessions {
        assert_eq!(s["status"], "succeeded", "{s}");
        assert_eq!(s["stdout"]["text"], "[]\n[]\n", "{s}");
    }
}

/// One worker runs protected sessions and `filesystem: host` ones in turn: each gets its own
/// view, whichever ran before it on the same `reev-init` (a root worker's protected mounts
/// are made once and shared by its protected sessions; a host session goes back to reev's).
#[test]
fn protected_and_host_sessions_take_turns_on_one_worker() {
    let p = Project::new();
    let probe = |name: &str| {
        format!(
            "touch {}/runs/probe-{name}-$REEV_ATTEMPT 2>/dev/null; exit 0",
            p.path().display()
        )
    };
    p.write(
        "reev.yml",
        &format!(
            "agents:\n  guarded:\n    command: [sh, -c, {:?}]\n  open:\n    command: [sh, -c, {:?}]\n    sandbox: {{filesystem: host}}\n",
            probe("guarded"),
            probe("open")
        ),
    );
    p.simple_benchmark("b");
    p.reev(&["run", "--jobs", "1", "--attempts", "3"]).ok();
    for attempt in 1..=3 {
        assert!(
            !p.join(&format!("runs/probe-guarded-{attempt}")).exists(),
            "a protected session wrote the runs tree (attempt {attempt})"
        );
        assert!(
            p.join(&format!("runs/probe-open-{attempt}")).exists(),
            "a host session could not write (attempt {attempt})"
        );
    }
}

/// The sandboxed agent of `sessions_of_one_worker_share_a_resident_init_but_nothing_else`:
/// prints its pid and every process its /proc shows, records one event, then leaves a
/// daemon behind (setsid: out of its process group).
const NEIGHBOUR: &str = r#"echo "self $$"
for d in /proc/[0-9]*; do echo "proc $(cat "$d/comm" 2>/dev/null)"; done
echo "{\"type\":\"metric\",\"name\":\"attempt\",\"value\":$REEV_ATTEMPT}" >> "$REEV_EVENTS"
chmod 444 "$REEV_EVENTS"
setsid sleep 6007 < /dev/null > /dev/null 2>&1 &
exit 0"#;

/// A worker's sandboxed sessions run one after another under one resident init (PID 1 of
/// their namespaces stays; a namespace per session cost more than a trivial session), yet
/// each starts with nothing of the one before: not the daemon it left, not its events (the
/// events file is mounted, so it is emptied in place, not replaced). Fails on a resident
/// that keeps a replaced events file mounted, or lets a daemon live on.
#[test]
fn sessions_of_one_worker_share_a_resident_init_but_nothing_else() {
    let p = Project::new();
    p.write(
        "reev.yml",
        &format!(
            "agents:\n  boxed:\n    command: [sh, -c, {NEIGHBOUR:?}]\n    sandbox: {{network: none, filesystem: scratch}}\n"
        ),
    );
    p.simple_benchmark("b");
    p.reev(&["run", "--jobs", "1", "--attempts", "3"]).ok();
    let mut sessions = p.sessions();
    sessions.sort_by_key(|s| s["attempt"].as_u64());
    assert_eq!(sessions.len(), 3);
    let mut pids = Vec::new();
    for s in &sessions {
        let attempt = s["attempt"].as_u64().unwrap();
        assert_eq!(s["status"], "succeeded", "{s:#}");
        let out = s["stdout"]["text"].as_str().unwrap();
        assert!(
            !out.lines().any(|l| l == "proc sleep"),
            "attempt {attempt} saw a daemon an earlier session left:\n{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("proc ") && l.contains("reev-init")),
            "attempt {attempt}: PID 1 of its namespace is not reev-init:\n{out}"
        );
        let procs = out.lines().filter(|l| l.starts_with("proc ")).count();
        assert!(
            procs <= 4,
            "attempt {attempt} saw {procs} processes:\n{out}"
        );
        let values: Vec<u64> = s["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["data"]["value"].as_u64())
            .collect();
        assert_eq!(
            values,
            [attempt],
            "attempt {attempt}'s events: {:#}",
            s["events"]
        );
        let pid: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("self "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {out}"));
        pids.push(pid);
    }
    // One namespace, its PID 1 kept: pids go on counting instead of starting at 2 again.
    assert!(
        pids[2] > pids[0],
        "pids {pids:?}: a PID namespace per session"
    );
    assert!(
        !host_has_process("sleep\u{0}6007"),
        "a daemon a session left outlived the run"
    );
}

/// Whether any process on the host has this NUL-separated command line prefix.
fn host_has_process(cmdline: &str) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|c| c.starts_with(cmdline.as_bytes()))
}

/// A process that ignores TERM past its grace period is killed with its worker's resident
/// init and everything in that namespace; the worker's next session gets a new init and
/// runs as usual.
#[test]
fn a_process_killed_after_its_grace_period_takes_its_resident_init_and_the_next_runs() {
    let p = Project::new();
    let agent =
        r#"if [ "$REEV_ATTEMPT" = 1 ]; then trap '' TERM; while :; do :; done; fi; echo fine"#;
    p.write(
        "reev.yml",
        &format!("agents:\n  stubborn:\n    command: [sh, -c, {agent:?}]\n"),
    );
    p.simple_benchmark("b");
    let out = p.reev(&[
        "run",
        "--jobs",
        "1",
        "--attempts",
        "2",
        "--timeout",
        "1s",
        "--kill-grace",
        "1s",
    ]);
    out.ok();
    assert!(
        out.elapsed < std::time::Duration::from_secs(10),
        "took {:?}",
        out.elapsed
    );
    let mut sessions = p.sessions();
    sessions.sort_by_key(|s| s["attempt"].as_u64());
    assert_eq!(sessions[0]["status"], "timed_out", "{:#}", sessions[0]);
    assert_eq!(sessions[0]["signal"], 9);
    // What the killed process used is still recorded (its init reports it).
    let cpu = sessions[0]["cpu_user_ms"].as_u64().unwrap_or(0);
    assert!(
        cpu >= 300,
        "{cpu} ms of CPU recorded for 2 s of a busy loop"
    );
    assert_eq!(sessions[1]["status"], "succeeded", "{:#}", sessions[1]);
    assert_eq!(sessions[1]["stdout"]["text"], "fine\n");
}

/// An agent lowers its resident init's file size limit (`prlimit --pid 1`: the same uid
/// may, non-dumpable or not), which every later process of that init would inherit; the
/// init retires instead, and the next session writes as usual. As root and as `nobody`.
#[test]
fn an_agent_that_lowers_its_inits_limits_does_not_reach_the_next_session() {
    let agent = r#"prlimit --pid 1 --fsize=0:0 2>/dev/null; echo x > "$TMPDIR/f" && echo wrote"#;
    let project = || {
        let p = Project::new();
        p.write(
            "reev.yml",
            &format!(
                "agents:\n  limiter:\n    command: [sh, -c, {agent:?}]\n    sandbox: {{network: none, filesystem: scratch}}\n"
            ),
        );
        p.simple_benchmark("b");
        p
    };
    let check = |p: &Project, who: &str| {
        let sessions = p.sessions();
        assert_eq!(sessions.len(), 3, "{who}");
        for s in &sessions {
            assert_eq!(s["status"], "succeeded", "{who}: {s:#}");
            assert_eq!(s["stdout"]["text"], "wrote\n", "{who}: {s:#}");
        }
    };
    let args = ["run", "--jobs", "1", "--attempts", "3"];
    let p = project();
    p.reev(&args).ok();
    check(&p, "root");
    let q = project();
    let out = unprivileged(&q, &args, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check(&q, "nobody");
}

/// The key each attempt looks for, then leaves in its uid's user keyring (x86-64 syscall
/// numbers: add_key 248, keyctl 250; KEYCTL_SEARCH 10; KEY_SPEC_USER_KEYRING -4).
const KEY_LEAK: &str = r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
found = libc.syscall(250, 10, -4, b"user", b"reev-leak", 0)
print("found" if found > 0 else "none")
libc.syscall(248, b"user", b"reev-leak", b"answer", 6, -4)
"#;

/// Keyrings belong to a uid in a user namespace, not to a process tree: a key one session
/// leaves in its user keyring would be read by the next session of the same resident init.
/// Each session starts with its user keyrings emptied.
#[test]
fn a_key_one_session_leaves_in_its_keyring_is_gone_for_the_next() {
    if !cfg!(target_arch = "x86_64") {
        return;
    }
    let p = Project::new();
    p.write("leak.py", KEY_LEAK);
    let script = p.join("leak.py");
    p.write(
        "reev.yml",
        &format!(
            "agents:\n  leaker:\n    command: [python3, {:?}]\n    sandbox: {{network: none, filesystem: scratch}}\n",
            script.display().to_string()
        ),
    );
    p.simple_benchmark("b");
    p.reev(&["run", "--jobs", "1", "--attempts", "3"]).ok();
    for s in p.sessions() {
        assert_eq!(s["stdout"]["text"], "none\n", "{s:#}");
    }
}

/// Prints the scheduling the agent started with, then pins its init (PID 1) to one CPU and
/// makes it idle-only: what `sched_setaffinity` and `sched_setscheduler` allow any process
/// of the same uid.
const SLOWER: &str = r#"
import os
print(os.sched_getscheduler(0), sorted(os.sched_getaffinity(0)))
for change in (lambda: os.sched_setaffinity(1, {0}),
               lambda: os.sched_setscheduler(1, os.SCHED_IDLE, os.sched_param(0))):
    try:
        change()
    except OSError:
        pass
"#;

/// An agent that pins its init to one CPU and makes it idle-only would slow every later
/// process that init starts; the init retires instead, and each session starts scheduled as
/// the first did.
#[test]
fn an_agent_that_reschedules_its_init_does_not_slow_the_next_session() {
    let p = Project::new();
    p.write("slower.py", SLOWER);
    let script = p.join("slower.py").display().to_string();
    p.write(
        "reev.yml",
        &format!(
            "agents:\n  slower:\n    command: [python3, {script:?}]\n    sandbox: {{network: none, filesystem: scratch}}\n"
        ),
    );
    p.simple_benchmark("b");
    p.reev(&["run", "--jobs", "1", "--attempts", "3"]).ok();
    let mut sessions = p.sessions();
    sessions.sort_by_key(|s| s["attempt"].as_u64());
    let first = sessions[0]["stdout"]["text"].clone();
    for s in &sessions {
        assert_eq!(s["stdout"]["text"], first, "{s:#}");
    }
}
