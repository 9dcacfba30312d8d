//! Containment of one session: whether namespaces are available (probed once), the
//! namespace plan for the agent, its environment filter, rlimits, cgroups (root, cgroup v1)
//! and what the limits did to it afterwards.
//!
//! Every session runs in its own PID namespace where the kernel allows it, sandbox or not,
//! so that agents never outlive reev. A session whose agent asks for a `sandbox:` where
//! namespaces are unavailable is an error, never silently unsandboxed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use reev_sandbox::{Resource, Rlimit};

use super::namespace::{Containment, Plan, Protect};
use super::SandboxError;
use crate::exec::workdir::Workdir;
use crate::spec::sandbox::{Filesystem, Network, Sandbox};

/// The session's private TMPDIR under `filesystem: scratch`, beside `scratch/`.
const TMP: &str = "tmp";

static AVAILABLE: OnceLock<Result<(), SandboxError>> = OnceLock::new();

/// Can sessions get namespaces? Probed once; the first "no" is logged once.
pub fn available() -> Result<(), &'static SandboxError> {
    AVAILABLE
        .get_or_init(|| {
            // An agent of reev's uid must not read reev's environment (the secrets a
            // sandbox's `env:` filtered out) or reach its cwd, root and namespaces through
            // /proc/<reev>/: only a non-dumpable process's /proc entries are closed to it.
            let _ = rustix::process::set_dumpable_behavior(
                rustix::process::DumpableBehavior::NotDumpable,
            );
            let r = super::namespace::probe();
            if let Err(why) = &r {
                tracing::warn!(
                    "agents run in process groups, not PID namespaces ({why}): results are NOT \
                     protected (an agent can write the runs tree, the database, the config and \
                     the suite's verifiers), an agent process that calls setsid can outlive a \
                     kill -9 of reev, and agents with a `sandbox:` fail as errors"
                );
            }
            r
        })
        .as_ref()
        .copied()
}

/// Before a run: is the session init program there, and of this build? Its absence (or
/// another build's, whose messages differ) is an error for the whole run — never a silent
/// fall-back to unprotected sessions — unless REEV_NO_NAMESPACES asks for process groups.
pub fn ready() -> Result<(), SandboxError> {
    if std::env::var_os("REEV_NO_NAMESPACES").is_some_and(|v| !v.is_empty() && v != "0") {
        return Ok(());
    }
    let init = super::namespace::init_program()?;
    super::namespace::same_protocol(init)
}

/// What a session's agent is started with.
#[derive(Debug, Default)]
pub struct Prepared {
    /// `None`: a plain process group (namespaces unavailable).
    pub plan: Option<Plan>,
    /// Start from an empty environment (sandbox.env given) rather than reev's.
    pub env_clear: bool,
    /// Variables of reev's environment that pass the filter, then TMPDIR when private.
    pub env: Vec<(String, String)>,
    sandbox: Option<Sandbox>,
    /// The private TMPDIR (`filesystem: scratch`).
    tmp: Option<PathBuf>,
    memory_cgroup: Option<Cgroup>,
    pids_cgroup: Option<Cgroup>,
}

/// A session's cgroup directory, removed when the session is over.
#[derive(Debug)]
struct Cgroup(PathBuf);

/// Where a cgroup v1 controller is mounted and usable by us (root only).
fn v1_controller(name: &str) -> Option<PathBuf> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let dir = Path::new("/sys/fs/cgroup").join(name);
    dir.join("cgroup.procs").exists().then_some(dir)
}

fn new_cgroup(controller: &Path, settings: &[(&str, String)]) -> std::io::Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    static SWEPT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let ours = controller.join("reev");
    if let Ok(mut swept) = SWEPT.lock() {
        if !swept.contains(&ours) {
            sweep_stale(&ours);
            swept.push(ours.clone());
        }
    }
    let dir = ours.join(format!(
        "{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    for (file, value) in settings {
        let path = dir.join(file);
        if path.exists() {
            std::fs::write(&path, value)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        }
    }
    Ok(dir)
}

/// Remove the session cgroups (`<pid>.<n>`) of reev processes that are gone — a `kill -9`
/// runs no cleanup — once per process and controller, as stale scratch areas are. A cgroup
/// that still holds a process cannot be removed, so a reused pid costs nothing but a try.
fn sweep_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.split_once('.'))
            .and_then(|(pid, _)| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        let gone = rustix::process::Pid::from_raw(pid)
            .is_some_and(|p| rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH));
        if gone {
            match std::fs::remove_dir(entry.path()) {
                Ok(()) => tracing::debug!("removed stale cgroup {}", entry.path().display()),
                Err(e) => tracing::debug!("stale cgroup {}: {e}", entry.path().display()),
            }
        }
    }
}

impl Prepared {
    /// Everything for one session; `protect` are the paths no session may write (see
    /// `Context::protect`). `Err` is the session's error message.
    pub fn new(
        sandbox: Option<&Sandbox>,
        work: &Workdir,
        protect: &[PathBuf],
    ) -> Result<Self, SandboxError> {
        let (scratch, events) = (work.scratch.as_path(), work.events.as_path());
        let own = scratch.parent().unwrap_or(scratch);
        let mut p = Prepared {
            sandbox: sandbox.cloned(),
            ..Default::default()
        };
        if let Err(why) = available() {
            return match sandbox {
                None => Ok(p),
                Some(_) => Err(SandboxError::Unavailable(Box::new(why.clone()))),
            };
        }
        let protect = Protect {
            read_only: protect,
            own,
        };
        let Some(s) = sandbox else {
            p.plan = Some(Plan::new(
                Containment::Protected,
                false,
                false,
                &protect,
                &[],
                &[],
            ));
            return Ok(p);
        };
        if s.env.is_some() {
            p.env_clear = true;
            p.env = crate::exec::secrets::inherited()
                .into_iter()
                .filter(|(k, _)| s.passes_env(k))
                .collect();
        }
        let tmp = own.join(TMP);
        let mut writable: Vec<&Path> = Vec::new();
        if s.filesystem == Filesystem::Scratch {
            empty_tmp(work)
                .map_err(|e| SandboxError::io(format!("cannot prepare {}", tmp.display()), e))?;
            // The events file must exist to stay writable as a mount of its own.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(events)
                .map_err(|e| SandboxError::io(format!("cannot create {}", events.display()), e))?;
            p.env.retain(|(k, _)| k != "TMPDIR");
            p.env
                .push(("TMPDIR".to_string(), tmp.to_string_lossy().into_owned()));
            writable = vec![scratch, events, &tmp];
            p.tmp = Some(tmp.clone());
        }
        let (cgroups, rlimits) = p.limits(s)?;
        let containment = match s.filesystem {
            Filesystem::Host => Containment::Host,
            Filesystem::Protected => Containment::Protected,
            Filesystem::Scratch => Containment::Scratch,
        };
        // `filesystem: host`, written out, keeps reev's own powers (today's full access).
        let hardened = containment != Containment::Host;
        let mut plan = Plan::new(
            containment,
            hardened,
            s.network == Network::None,
            &protect,
            &writable,
            &cgroups,
        );
        plan.rlimits = rlimits;
        plan.close_inherited = true;
        p.plan = Some(plan);
        Ok(p)
    }

    /// The cgroups to join and rlimits to apply for the sandbox's `memory`, `processes` and
    /// `file_size` (a cgroup where reev is root with cgroup v1, else an rlimit).
    fn limits(&mut self, s: &Sandbox) -> Result<(Vec<PathBuf>, Vec<Rlimit>), SandboxError> {
        let mut join = Vec::new();
        let mut rlimits = Vec::new();
        let limit = |resource, limit| Rlimit { resource, limit };
        if let Some(mem) = s.memory {
            match v1_controller("memory") {
                Some(ctl) => {
                    let bytes = mem.0.to_string();
                    let dir = new_cgroup(
                        &ctl,
                        &[
                            ("memory.limit_in_bytes", bytes.clone()),
                            ("memory.memsw.limit_in_bytes", bytes),
                        ],
                    )
                    .map_err(|e| cgroup("memory", e))?;
                    join.push(dir.join("cgroup.procs"));
                    self.memory_cgroup = Some(Cgroup(dir));
                }
                None => {
                    static NOTED: std::sync::Once = std::sync::Once::new();
                    NOTED.call_once(|| {
                        tracing::warn!(
                            "sandbox.memory is enforced as RLIMIT_AS (address space, per process), \
                             not as a cgroup limit on the session: reev is not root or has no \
                             cgroup v1 memory controller; an agent that exceeds it sees failed \
                             allocations instead of being killed"
                        )
                    });
                    rlimits.push(limit(Resource::AddressSpace, mem.0))
                }
            }
        }
        if let Some(n) = s.processes {
            match (v1_controller("pids"), rustix::process::getuid().is_root()) {
                (Some(ctl), _) => {
                    let dir = new_cgroup(&ctl, &[("pids.max", n.to_string())])
                        .map_err(|e| cgroup("pids", e))?;
                    join.push(dir.join("cgroup.procs"));
                    self.pids_cgroup = Some(Cgroup(dir));
                }
                (None, true) => return Err(SandboxError::NoPidsLimitForRoot),
                // Counted per uid within the session's own user namespace.
                (None, false) => rlimits.push(limit(Resource::Processes, u64::from(n))),
            }
        }
        if let Some(size) = s.file_size {
            rlimits.push(limit(Resource::FileSize, size.0));
        }
        Ok((join, rlimits))
    }

    /// Empty the private TMPDIR again, so that verifiers do not start among (or write
    /// through) what the agent left there.
    pub fn fresh_tmp(&self, work: &Workdir) -> Result<(), SandboxError> {
        match &self.tmp {
            Some(t) => empty_tmp(work)
                .map_err(|e| SandboxError::io(format!("cannot empty {}", t.display()), e)),
            None => Ok(()),
        }
    }

    /// Why a limit stopped the agent, if one did: the session's error.
    pub fn verdict(&self, signal: Option<i32>) -> Option<String> {
        let s = self.sandbox.as_ref()?;
        if let (Some(Cgroup(dir)), Some(mem)) = (&self.memory_cgroup, s.memory) {
            let kills = std::fs::read_to_string(dir.join("memory.oom_control"))
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
                })
                .unwrap_or(0);
            if kills > 0 {
                return Some(format!(
                    "killed at its memory limit: sandbox.memory {mem} (cgroup memory.limit_in_bytes); \
                     {kills} process(es) OOM-killed"
                ));
            }
        }
        if let (Some(libc::SIGXFSZ), Some(size)) = (signal, s.file_size) {
            return Some(format!(
                "killed at its file size limit: sandbox.file_size {size} (RLIMIT_FSIZE, SIGXFSZ)"
            ));
        }
        None
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The namespace is gone when the session ends, but the kernel may take a moment to
        // let go of the last exiting task.
        for _ in 0..50 {
            match std::fs::remove_dir(&self.0) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                _ => break,
            }
        }
    }
}

/// Empty the session's private TMPDIR beneath its directory, never following a link and
/// making read-only directories writable as it goes: an agent that left one behind must not
/// make every later session of this worker fail.
fn cgroup(controller: &'static str, e: std::io::Error) -> SandboxError {
    SandboxError::Cgroup {
        controller,
        source: std::sync::Arc::new(e),
    }
}

fn empty_tmp(work: &Workdir) -> std::io::Result<()> {
    work.root_dir
        .ensure_subdir(OsStr::new(TMP))
        .and_then(|d| d.empty())
}
