//! `reev run` containment: agents die with reev (PID namespaces, or process groups as the
//! fallback), and the `sandbox:` section — network, env, filesystem, memory, processes,
//! file size — enforced through the real binary, as root and as an unprivileged user.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::common::{dead, wait_for, Project};
use serde_json::Value;

const FALLBACK_WARNING: &str = "agents run in process groups, not PID namespaces";

/// A benchmark that passes on exit 0, with a short timeout.
fn project(agents_yaml: &str) -> Project {
    let p = Project::new();
    p.write("reev.yml", agents_yaml).simple_benchmark("x");
    p
}

fn host_pid(file: &Path) -> Option<i32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Shell text: start a double-forked, setsid'd `sleep 1000` that writes its pid (as seen from
/// outside any namespace: the host's /proc) to `file`, and wait until it has.
fn setsid_sleeper(f: &str) -> String {
    format!(
        "setsid sh -c 'cut -d\" \" -f4 /proc/self/stat > {f}.tmp; mv {f}.tmp {f}; exec sleep 1000' & \
         while [ ! -s {f} ]; do sleep 0.01; done;"
    )
}

fn is_sleeper(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("sleep"))
        .unwrap_or(false)
}

fn yaml_argv(argv: &[&str]) -> String {
    let parts: Vec<String> = argv
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect();
    format!("[{}]", parts.join(", "))
}

fn one_agent(name: &str, argv: &[&str], extra: &str) -> String {
    format!(
        "agents:\n  {name}:\n    command: {}\n{extra}",
        yaml_argv(argv)
    )
}

fn only_session(p: &Project) -> Value {
    let s = p.sessions();
    assert_eq!(s.len(), 1, "{s:?}");
    s.into_iter().next().unwrap()
}

fn kill_9_of_reev_takes_setsid_descendants() -> bool {
    let p = Project::new();
    let pidfile = p.join("sleeper.pid");
    let script = format!("{} sleep 1000", setsid_sleeper(&pidfile.to_string_lossy()));
    p.write("reev.yml", &one_agent("stay", &["sh", "-c", &script], ""))
        .simple_benchmark("x");
    let mut reev = p.cmd(&["run", "--timeout", "60s"]).spawn().unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || host_pid(&pidfile).is_some()),
        "the agent never started its sleeper"
    );
    let pid = host_pid(&pidfile).unwrap();
    assert!(is_sleeper(pid), "{pid} is not the sleeper");
    reev.kill().unwrap(); // SIGKILL
    reev.wait().unwrap();
    let gone = wait_for(Duration::from_secs(2), || dead(pid));
    if !gone {
        // SAFETY: the test's own leftover, so the machine is not littered.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    gone
}

#[test]
fn kill_9_of_reev_takes_every_agent_process_with_it_even_setsid_ones() {
    assert!(
        kill_9_of_reev_takes_setsid_descendants(),
        "a setsid'd agent process outlived kill -9 of reev"
    );
}

#[test]
fn a_timed_out_session_leaves_no_setsid_grandchild_behind() {
    let p = Project::new();
    let pidfile = p.join("sleeper.pid");
    let script = format!("{} sleep 1000", setsid_sleeper(&pidfile.to_string_lossy()));
    p.write("reev.yml", &one_agent("hang", &["sh", "-c", &script], ""))
        .simple_benchmark("x");
    p.reev(&["run", "--timeout", "1s", "--kill-grace", "1s"])
        .ok();
    let s = only_session(&p);
    assert_eq!(s["status"], "timed_out");
    assert_eq!(s["signal"], libc::SIGTERM, "{s}");
    let pid = host_pid(&pidfile).expect("sleeper pid");
    assert!(
        wait_for(Duration::from_secs(2), || dead(pid)),
        "setsid'd grandchild {pid} survived the timeout"
    );
}

/// Exit codes, signals, CPU time and exec failures read the same in both modes.
fn agent_facts(no_namespaces: bool) {
    let p = Project::new();
    let burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: sum(range(20000))";
    p.write(
        "reev.yml",
        &format!(
            "agents:\n  seven:\n    command: {}\n  usr1:\n    command: {}\n  burn:\n    command: {}\n  missing:\n    command: [/nonexistent/agent-binary]\n",
            yaml_argv(&["sh", "-c", "echo out; echo err >&2; exit 7"]),
            yaml_argv(&["sh", "-c", "kill -USR1 $$"]),
            yaml_argv(&["python3", "-c", burn]),
        ),
    )
    .simple_benchmark("x");
    let mut cmd = p.cmd(&["run", "--jobs", "2"]);
    if no_namespaces {
        cmd.env("REEV_NO_NAMESPACES", "1");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches(FALLBACK_WARNING).count(),
        usize::from(no_namespaces),
        "{stderr}"
    );
    for s in p.sessions() {
        match s["agent"].as_str().unwrap() {
            "seven" => {
                assert_eq!(s["exit_code"], 7);
                assert_eq!(s["signal"], Value::Null);
                assert_eq!(s["stdout"]["text"], "out\n");
                assert_eq!(s["stderr"]["text"], "err\n");
            }
            "usr1" => {
                assert_eq!(s["signal"], libc::SIGUSR1, "{s}");
                assert_eq!(s["exit_code"], Value::Null);
            }
            "burn" => {
                assert_eq!(s["status"], "succeeded");
                let cpu = s["cpu_user_ms"].as_u64().unwrap();
                assert!(
                    cpu >= 200,
                    "cpu_user_ms {cpu}: the agent's CPU time is lost"
                );
            }
            "missing" => {
                assert_eq!(s["status"], "error");
                let e = s["error"].as_str().unwrap();
                assert!(
                    e.contains("cannot start agent") && e.contains("No such file"),
                    "{e}"
                );
            }
            other => panic!("{other}"),
        }
    }
}

#[test]
fn exit_codes_signals_cpu_and_exec_failures_in_a_pid_namespace() {
    agent_facts(false);
}

#[test]
fn exit_codes_signals_cpu_and_exec_failures_in_process_groups_with_one_warning() {
    agent_facts(true);
}

#[test]
fn a_sandbox_where_namespaces_are_unavailable_is_an_error_never_unsandboxed() {
    let p = project(&one_agent(
        "boxed",
        &["sh", "-c", "echo ran > ran.txt"],
        "    sandbox:\n      network: none\n",
    ));
    let out = p
        .cmd(&["run"])
        .env("REEV_NO_NAMESPACES", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = only_session(&p);
    assert_eq!(s["status"], "error");
    let e = s["error"].as_str().unwrap();
    assert!(e.contains("namespaces are unavailable"), "{e}");
    assert_eq!(s["exit_code"], Value::Null, "the agent must not have run");
}

#[test]
fn network_none_cannot_reach_a_listener_on_localhost() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = format!(
        "import socket\ns = socket.socket()\ns.settimeout(3)\ntry:\n    s.connect(('127.0.0.1', {port}))\n    print('connected')\nexcept OSError as e:\n    print('blocked', e)\n"
    );
    let p = Project::new();
    p.write(
        "reev.yml",
        &format!(
            "agents:\n  boxed:\n    command: {argv}\n    sandbox:\n      network: none\n  open:\n    command: {argv}\n    sandbox:\n      network: host\n",
            argv = yaml_argv(&["python3", "-c", &probe])
        ),
    )
    .simple_benchmark("x");
    p.reev(&["run"]).ok();
    for s in p.sessions() {
        let text = s["stdout"]["text"].as_str().unwrap();
        match s["agent"].as_str().unwrap() {
            "boxed" => assert!(text.starts_with("blocked"), "{s}"),
            _ => assert_eq!(text, "connected\n", "{s}"),
        }
    }
}

#[test]
fn env_passes_only_the_listed_variables_and_reev_ones() {
    let p = project(&one_agent(
        "boxed",
        &["sh", "-c", "env"],
        "    env:\n      FROM_YML: fromyml\n    sandbox:\n      env: [PATH, ALLOWED_VAR]\n",
    ));
    let out = p
        .cmd(&["run"])
        .env("ALLOWED_VAR", "visible")
        .env("SECRET_TOKEN", "hunter2")
        .env("REEV_TEST_MARK", "mark")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = only_session(&p);
    let env = s["stdout"]["text"].as_str().unwrap();
    assert!(env.contains("ALLOWED_VAR=visible"), "{env}");
    assert!(env.contains("REEV_TEST_MARK=mark"), "{env}");
    assert!(env.contains("REEV_SESSION_ID="), "{env}");
    assert!(env.contains("FROM_YML=fromyml"), "agent's own env: {env}");
    assert!(!env.contains("SECRET_TOKEN"), "{env}");
    assert!(!env.contains("hunter2"), "{env}");
}

#[test]
fn a_sandboxed_agent_gets_no_descriptor_reev_inherited_but_its_stdio() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let script = "for fd in 7 8; do [ -e /proc/self/fd/$fd ] && echo inherited-$fd; done; \
                  ls /proc/self/fd | wc -l";
    let p = project(&format!(
        "{}  open:\n    command: {}\n",
        one_agent(
            "boxed",
            &["sh", "-c", script],
            "    sandbox:\n      network: none\n"
        ),
        yaml_argv(&["sh", "-c", script]),
    ));
    let secret = std::fs::File::create(p.join("runner-log")).unwrap();
    let raw = secret.as_raw_fd();
    let mut cmd = p.cmd(&["run"]);
    // SAFETY: between fork and exec only dup2, which is async-signal-safe; it clears
    // close-on-exec on 7 and 8, as a CI runner or a jobserver hands descriptors down.
    unsafe {
        cmd.pre_exec(move || {
            for fd in [7, 8] {
                if libc::dup2(raw, fd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let by_agent = |a: &str| {
        p.sessions()
            .into_iter()
            .find(|s| s["agent"] == a)
            .unwrap_or_else(|| panic!("no session of {a}"))["stdout"]["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // 0, 1, 2 and the directory `ls` reads.
    assert_eq!(by_agent("boxed"), "4\n");
    // Without a sandbox the agent keeps them, as std's spawn (REEV_NO_NAMESPACES) does.
    assert!(by_agent("open").starts_with("inherited-7\ninherited-8\n"));
}

/// A parent that ignores SIGCHLD (it survives exec) must not cost sessions their status.
fn statuses_with_sigchld_ignored(no_namespaces: bool) {
    use std::os::unix::process::CommandExt;
    let p = project(&one_agent("three", &["sh", "-c", "exit 3"], ""));
    let mut cmd = p.cmd(&["run", "--attempts", "3", "--timeout", "20s"]);
    if no_namespaces {
        cmd.env("REEV_NO_NAMESPACES", "1");
    }
    // SAFETY: between fork and exec only signal(), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGCHLD, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Generous: only a hang (as before the fix) takes this long.
    let finished = wait_for(Duration::from_secs(120), || {
        child.try_wait().unwrap().is_some()
    });
    if !finished {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        finished,
        "reev never finished (no_namespaces: {no_namespaces})"
    );
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 3);
    for s in sessions {
        assert_eq!(s["exit_code"], 3, "{s}");
        assert_eq!(s["status"], "failed", "{s}");
    }
}

#[test]
fn an_ignored_sigchld_inherited_by_reev_does_not_lose_exit_codes() {
    statuses_with_sigchld_ignored(false);
    statuses_with_sigchld_ignored(true);
}

#[test]
fn settings_sandbox_is_the_default_and_agent_keys_override_it() {
    let p = project(&format!(
        "settings:\n  sandbox:\n    env: [PATH]\n    network: none\n{}",
        one_agent(
            "boxed",
            &["sh", "-c", "echo \"secret=$SECRET_TOKEN ok=$ALLOWED_VAR\""],
            "    sandbox:\n      env: [PATH, ALLOWED_VAR]\n",
        )
    ));
    let out = p
        .cmd(&["run"])
        .env("ALLOWED_VAR", "v")
        .env("SECRET_TOKEN", "hunter2")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(only_session(&p)["stdout"]["text"], "secret= ok=v\n");
}

#[test]
fn filesystem_scratch_writes_only_inside_scratch_events_and_tmpdir() {
    let p = Project::new();
    let outside = p.join("outside.txt");
    std::fs::write(&outside, "original").unwrap();
    let script = format!(
        "echo inside > inside.txt && echo wrote-inside; \
         echo evil > {o} 2>/dev/null && echo wrote-outside; \
         echo evil > ../escape.txt 2>/dev/null && echo wrote-parent; \
         echo t > \"$TMPDIR/t\" && echo wrote-tmp; \
         echo '{{\"type\":\"metric\",\"name\":\"m\",\"value\":1}}' >> \"$REEV_EVENTS\"",
        o = outside.display()
    );
    p.write(
        "reev.yml",
        &one_agent(
            "boxed",
            &["sh", "-c", &script],
            "    sandbox:\n      filesystem: scratch\n",
        ),
    );
    p.write(
        "benchmarks/x.yml",
        "id: x\ndescription: d\nprompt: p\ntimeout: 30s\nground_truth:\n  assertions:\n    - file_contains: {path: inside.txt, value: inside}\n",
    );
    p.reev(&["run"]).ok();
    let s = only_session(&p);
    assert_eq!(s["stdout"]["text"], "wrote-inside\nwrote-tmp\n", "{s}");
    assert_eq!(s["status"], "succeeded", "{s}");
    assert_eq!(s["metrics"]["m"], 1.0, "events file stays writable: {s}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "original");
}

#[test]
fn memory_limit_stops_the_agent_with_an_error_naming_the_limit() {
    let p = project(&one_agent(
        "hog",
        &[
            "python3",
            "-c",
            "x = [bytearray(16 * 1024 * 1024) for _ in range(32)]\nprint('survived')",
        ],
        "    sandbox:\n      memory: 64MiB\n",
    ));
    p.reev(&["run"]).ok();
    let s = only_session(&p);
    assert_ne!(s["stdout"]["text"], "survived\n", "{s}");
    assert_ne!(s["status"], "succeeded", "{s}");
    if uses_cgroups() {
        assert_eq!(s["status"], "error", "{s}");
        let e = s["error"].as_str().unwrap();
        assert!(e.contains("memory limit") && e.contains("64MiB"), "{e}");
    } else {
        // Unprivileged: an address-space limit; the allocation fails inside the agent.
        assert!(
            s["stderr"]["text"]
                .as_str()
                .unwrap()
                .contains("MemoryError"),
            "{s}"
        );
    }
}

#[test]
fn cgroups_left_by_a_kill_9_of_reev_are_removed_by_the_next_run() {
    if !uses_cgroups() {
        return; // RLIMIT_AS instead: nothing is created, nothing can leak.
    }
    let p = project(&one_agent(
        "held",
        &["sh", "-c", "touch started; sleep 1000"],
        "    sandbox:\n      memory: 256MiB\n",
    ));
    let mut reev = p
        .cmd(&["run", "--keep-workdirs", "--timeout", "60s"])
        .spawn()
        .unwrap();
    let started = || {
        common::walk(&p.join("runs"))
            .iter()
            .any(|f| f.ends_with("started"))
    };
    assert!(
        wait_for(Duration::from_secs(10), started),
        "the agent never started"
    );
    let ours = format!("{}.", reev.id());
    let leftovers = || {
        std::fs::read_dir("/sys/fs/cgroup/memory/reev")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&ours))
            .count()
    };
    assert_eq!(leftovers(), 1, "the session's cgroup");
    reev.kill().unwrap(); // SIGKILL: no cleanup runs
    reev.wait().unwrap();
    assert_eq!(leftovers(), 1, "a kill -9 leaves the cgroup behind");
    p.write(
        "reev.yml",
        &one_agent("held", &["true"], "    sandbox:\n      memory: 256MiB\n"),
    );
    let out = p.cmd(&["run"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        wait_for(Duration::from_secs(2), || leftovers() == 0),
        "the next run did not remove the dead reev's cgroup"
    );
}

fn uses_cgroups() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() == 0 };
    root && Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

#[test]
fn processes_limit_caps_forks() {
    let script = "import os, time\nn = 0\nfor _ in range(60):\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n    if pid == 0:\n        time.sleep(3)\n        os._exit(0)\n    n += 1\nprint(n)\n";
    let p = project(&one_agent(
        "forker",
        &["python3", "-c", script],
        "    sandbox:\n      processes: 16\n",
    ));
    p.reev(&["run"]).ok();
    let s = only_session(&p);
    let n: u32 = s["stdout"]["text"]
        .as_str()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!((1..16).contains(&n), "forked {n} with processes: 16; {s}");
}

#[test]
fn file_size_limit_caps_writes() {
    let script = "import os\ntry:\n    with open('big', 'wb') as f:\n        f.write(b'x' * (3 * 1024 * 1024))\n    print('wrote')\nexcept OSError as e:\n    print('refused', e.errno)\nprint(os.path.getsize('big'))\n";
    let p = project(&one_agent(
        "writer",
        &["python3", "-c", script],
        "    sandbox:\n      file_size: 1MiB\n",
    ));
    p.reev(&["run"]).ok();
    let s = only_session(&p);
    let text = s["stdout"]["text"].as_str().unwrap();
    assert!(text.starts_with(&format!("refused {}", libc::EFBIG)), "{s}");
    assert_eq!(text.lines().nth(1), Some("1048576"), "{s}");
}

/// The unprivileged path: user namespaces for a non-root user, rlimits instead of cgroups.
/// Run reev with `args` in `p` as an unprivileged user: as nobody (setpriv) when the tests
/// run as root, which needs a copy of the binaries and a project that nobody can write.
/// Returns reev's stderr.
fn run_unprivileged(p: &Project, args: &[&str]) -> String {
    let out = unprivileged(p, args, &[]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// reev `args` in `p` as nobody (or as the unprivileged user the tests run as), with `env`
/// added; reev and reev-init are copied where nobody can run them.
pub fn unprivileged(p: &Project, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    if !rustix::process::geteuid().is_root() {
        return p.cmd(args).envs(env.iter().copied()).output().unwrap();
    }
    let bin_dir = tempfile::Builder::new()
        .prefix("reev-bin-")
        .tempdir()
        .unwrap();
    let bin = bin_dir.path().join("reev");
    std::fs::copy(common::REEV, &bin).unwrap();
    std::fs::copy(common::REEV_INIT, bin_dir.path().join("reev-init")).unwrap();
    for d in [bin_dir.path(), p.path(), &p.join("benchmarks")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    for f in common::walk(p.path()) {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(p.path())
        .output()
        .unwrap()
}

#[test]
fn a_read_only_directory_left_in_tmp_does_not_break_the_next_session() {
    // Each attempt checks that its TMPDIR starts empty, then leaves in it what a non-root
    // `rm -rf` cannot remove: a read-only directory with a file inside. The attempts run one
    // after another on one worker, which reuses the directory.
    let p = project(&one_agent(
        "litter",
        &[
            "sh",
            "-c",
            "[ -z \"$(ls -A \"$TMPDIR\")\" ] || echo dirty; mkdir \"$TMPDIR/ro\" && \
             echo x > \"$TMPDIR/ro/f\" && chmod 0555 \"$TMPDIR/ro\" && echo clean",
        ],
        "    sandbox:\n      filesystem: scratch\n",
    ));
    run_unprivileged(&p, &["run", "--jobs", "1", "--attempts", "3"]);
    let sessions = p.sessions();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    for s in &sessions {
        assert_eq!(s["status"], "succeeded", "{s}");
        assert_eq!(s["stdout"]["text"], "clean\n", "{s}");
    }
}

#[test]
fn an_unprivileged_user_gets_the_same_sandbox() {
    let p = Project::new();
    let outside = p.join("outside.txt");
    std::fs::write(&outside, "original").unwrap();
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o666)).unwrap();
    // The session has its own /proc: the sleeper is known outside by its unique argument.
    let tag = format!("1000.{}", std::process::id());
    let script = format!(
        "echo inside > inside.txt; echo evil > {o} 2>/dev/null && echo wrote-outside; \
         python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 9), 2)' 2>/dev/null && echo connected; \
         setsid sleep {tag} < /dev/null > /dev/null 2>&1 & echo done",
        o = outside.display(),
    );
    p.write(
        "reev.yml",
        &one_agent(
            "boxed",
            &["sh", "-c", &script],
            "    sandbox:\n      network: none\n      filesystem: scratch\n      processes: 64\n      memory: 1GiB\n",
        ),
    );
    p.simple_benchmark("x");
    let stderr = run_unprivileged(&p, &["run", "--keep-workdirs"]);
    assert_eq!(
        stderr
            .matches("sandbox.memory is enforced as RLIMIT_AS")
            .count(),
        1,
        "the fallback is said once: {stderr}"
    );
    let s = only_session(&p);
    assert_eq!(s["status"], "succeeded", "{s}");
    assert_eq!(s["stdout"]["text"], "done\n", "{s}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "original");
    assert!(
        wait_for(Duration::from_secs(2), || !sleeping(&tag)),
        "the sleeper outlived its session"
    );
}

/// Is a live process on the host running `sleep <tag>`?
fn sleeping(tag: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        let alive = e
            .file_name()
            .to_string_lossy()
            .parse::<i32>()
            .is_ok_and(|pid| !dead(pid));
        alive
            && std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == tag.as_bytes()))
    })
}
