//! Starting an agent inside its own PID namespace (and, when asked, user, mount and network
//! namespaces), so that no agent process outlives its session or reev.
//!
//! The process tree (`spawn` starts it):
//! - the init, reev's child and PID 1 of the new namespaces: a `clone(CLONE_VM)` child that
//!   runs on a stack of its own in reev's memory, so starting it copies no page tables (a
//!   `fork` of reev, three per session, cost 1–2 ms each under load). It joins the session's
//!   cgroups, maps the user namespace, makes the mounts, starts the agent, then reaps every
//!   orphan, turns SIGTERM/SIGINT/SIGHUP into `kill(-1, sig)` for the whole namespace,
//!   reports the agent's raw wait status through a pipe and exits when the agent does — at
//!   which point the kernel SIGKILLs whatever is left in the namespace, setsid'd daemons
//!   included. (A namespace init ignores signals it has no handler for, which is why it is
//!   a tiny init and not the agent.) It dies with reev's thread (PR_SET_PDEATHSIG).
//! - the agent: started from the init with `clone(CLONE_VM | CLONE_VFORK)` (what
//!   posix_spawn does): redirects stdio, applies the rlimits and execs.
//!
//! Both run without allocating. reev's thread waits, blocked, until the agent has exec'd
//! (the setup pipe reaches end of file) or a step failed (the pipe carries the step and
//! errno); only then may the init's libc calls touch the `errno` it shares with that thread.
//! After that the init uses `rawsys` only, and reads nothing of reev's memory but its stack.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;

use super::rawsys;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// Paths that stay writable under `filesystem: scratch` (scratch, events file, TMPDIR).
const MAX_WRITABLE: usize = 4;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Everything the namespaces need, prepared once per session before spawning.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Non-root: a user namespace first, mapping our uid/gid to themselves.
    user: Option<UserMaps>,
    /// CLONE_NEWPID plus CLONE_NEWNS / CLONE_NEWNET as the sandbox asks.
    flags: libc::c_int,
    /// `network: none` as root: this worker's empty network namespace (see `netns`), or -1.
    netns: RawFd,
    /// `filesystem: scratch`: these stay writable, the rest becomes read-only.
    writable: Vec<CString>,
    /// Files (cgroup.procs) into which the init writes "0" to move itself, first thing.
    join: Vec<CString>,
    /// (resource, limit) applied in the agent.
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// A sandboxed agent gets no descriptor but its stdio: not those reev inherited without
    /// close-on-exec (a CI runner's log pipe, a jobserver), which would reach outside the
    /// sandbox. Unsandboxed agents keep them, as with `REEV_NO_NAMESPACES` (std's spawn).
    pub close_inherited: bool,
}

#[derive(Debug, Clone)]
struct UserMaps {
    setgroups: CString,
    uid_map: CString,
    gid_map: CString,
    uid_line: Vec<u8>,
    gid_line: Vec<u8>,
}

fn cstr(s: &str) -> CString {
    // The literals passed here contain no NUL.
    CString::new(s).unwrap_or_default()
}

/// What one spawn hands to its init and agent, all prepared by reev before `clone`.
pub struct Launch<'a> {
    pub plan: &'a Plan,
    /// Where the agent may be: execve is tried on each in turn, as execvp would.
    pub candidates: &'a [*const libc::c_char],
    /// NULL-terminated argument and environment vectors.
    pub argv: *const *const libc::c_char,
    pub envp: *const *const libc::c_char,
    pub cwd: &'a CString,
    /// The agent's stdin, stdout and stderr (the pipes' child ends).
    pub stdio: [RawFd; 3],
    /// Written by the init or agent when a step fails; end of file when the agent runs.
    pub setup: RawFd,
    /// The agent's raw wait status, written by the init at the end.
    pub status: RawFd,
    /// Readable once reev has exited (a pidfd of reev), or -1.
    pub reev_gone: RawFd,
    /// The top of the agent's stack.
    pub agent_stack: *mut libc::c_void,
    /// A benchmark's `setup:`: once the agent (the setup command) has ended and its status is
    /// written, the init stays — and with it the namespace and whatever the setup started in
    /// the background — until reev kills it after `teardown:` (see `process::kill_group`).
    pub linger: bool,
}

/// The step that failed, as carried by the setup pipe (its index in `STEPS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Step {
    Signals,
    DeathSignal,
    ProcessGroup,
    Cgroup,
    UserMaps,
    Network,
    Mounts,
    Chdir,
    Clone,
    Stdio,
    Rlimits,
    Exec,
}

/// What each `Step` was doing, in the enum's order.
const STEPS: [&str; 12] = [
    "resetting signal handlers",
    "asking to die with reev",
    "creating the session's process group",
    "joining the session's cgroup",
    "mapping the user namespace",
    "entering the worker's empty network namespace",
    "making the filesystem read-only but the scratch area",
    "entering the scratch directory",
    "starting the agent process",
    "connecting the agent's stdin, stdout and stderr",
    "applying the sandbox's rlimits",
    "executing the agent",
];

/// The step a setup pipe's code names, if any.
pub fn describe_step(code: i32) -> Option<&'static str> {
    STEPS.get(usize::try_from(code).ok()?).copied()
}

type StepResult = Result<(), (Step, io::Error)>;

fn at(step: Step) -> impl Fn(io::Error) -> (Step, io::Error) {
    move |e| (step, e)
}

impl Plan {
    /// A plan for one session. `writable` non-empty means `filesystem: scratch`.
    pub fn new(
        network_none: bool,
        writable: &[&std::path::Path],
        join: &[std::path::PathBuf],
    ) -> io::Result<Plan> {
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let user = (uid != 0).then(|| UserMaps {
            setgroups: cstr("/proc/self/setgroups"),
            uid_map: cstr("/proc/self/uid_map"),
            gid_map: cstr("/proc/self/gid_map"),
            uid_line: format!("{uid} {uid} 1\n").into_bytes(),
            gid_line: format!("{gid} {gid} 1\n").into_bytes(),
        });
        let mut flags = libc::CLONE_NEWPID;
        let netns = if network_none {
            super::netns::for_this_worker()
        } else {
            None
        };
        if network_none && netns.is_none() {
            flags |= libc::CLONE_NEWNET;
        }
        if !writable.is_empty() {
            flags |= libc::CLONE_NEWNS;
        }
        if writable.len() > MAX_WRITABLE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "too many writable paths",
            ));
        }
        Ok(Plan {
            user,
            flags,
            netns: netns.unwrap_or(-1),
            writable: writable
                .iter()
                .map(|p| path_cstring(p))
                .collect::<io::Result<_>>()?,
            join: join
                .iter()
                .map(|p| path_cstring(p))
                .collect::<io::Result<_>>()?,
            rlimits: Vec::new(),
            close_inherited: false,
        })
    }

    /// The `clone` flags of the init: the namespaces, a user namespace first when not root.
    pub fn clone_flags(&self) -> libc::c_int {
        if self.user.is_some() {
            self.flags | libc::CLONE_NEWUSER
        } else {
            self.flags
        }
    }
}

pub fn path_cstring(p: &std::path::Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// The init: PID 1 of the session's namespaces. `arg` is the spawn's `Launch`.
pub extern "C" fn init_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points at the Launch that reev keeps alive, blocked, until the setup pipe
    // reaches end of file, which happens only in `detach` below; every call is
    // async-signal-safe and nothing allocates.
    unsafe {
        let launch = &*(arg as *const Launch);
        let (setup, status, linger) = (launch.setup, launch.status, launch.linger);
        let agent = match launch.setup_init().and_then(|()| launch.start_agent()) {
            Ok(pid) => pid,
            Err((step, e)) => fail(setup, step, &e),
        };
        handle_all(kill_namespace);
        // From here on: rawsys only, and nothing of reev's memory.
        let status = detach(status);
        rawsys::unblock_all();
        loop {
            let mut st = 0;
            let r = rawsys::wait_any(&mut st);
            if r == agent as isize {
                rawsys::write(status, &st.to_ne_bytes());
                if !linger {
                    rawsys::exit(0);
                }
                // Keep reaping what the setup left running; reev kills us after teardown.
                continue;
            }
            if r == -(libc::ECHILD as isize) {
                rawsys::exit(1);
            }
        }
    }
}

/// Report the failed step and its errno through the setup pipe, and end.
unsafe fn fail(setup: RawFd, step: Step, e: &io::Error) -> ! {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&(step as i32).to_ne_bytes());
    msg[4..].copy_from_slice(&e.raw_os_error().unwrap_or(libc::EIO).to_ne_bytes());
    rawsys::write(setup, &msg);
    rawsys::exit(127)
}

impl Launch<'_> {
    /// The init's setup, in order: signals, death signal, process group, cgroups, user
    /// namespace maps, mounts, working directory.
    unsafe fn setup_init(&self) -> StepResult {
        reset_handlers().map_err(at(Step::Signals))?;
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))
            .map_err(at(Step::DeathSignal))?;
        if self.reev_gone >= 0 {
            let mut p = libc::pollfd {
                fd: self.reev_gone,
                events: libc::POLLIN,
                revents: 0,
            };
            if libc::poll(&mut p, 1, 0) > 0 {
                rawsys::exit(1); // reev died before we asked to die with it.
            }
        }
        check(libc::setpgid(0, 0)).map_err(at(Step::ProcessGroup))?;
        let plan = self.plan;
        for file in &plan.join {
            write_file(file, b"0").map_err(at(Step::Cgroup))?;
        }
        if let Some(u) = &plan.user {
            write_file(&u.setgroups, b"deny").map_err(at(Step::UserMaps))?;
            write_file(&u.uid_map, &u.uid_line).map_err(at(Step::UserMaps))?;
            write_file(&u.gid_map, &u.gid_line).map_err(at(Step::UserMaps))?;
        }
        if plan.netns >= 0 {
            check(libc::setns(plan.netns, libc::CLONE_NEWNET)).map_err(at(Step::Network))?;
        }
        if !plan.writable.is_empty() {
            plan.read_only_but_writable().map_err(at(Step::Mounts))?;
        }
        check(libc::chdir(self.cwd.as_ptr())).map_err(at(Step::Chdir))
    }

    /// Start the agent sharing our memory; returns once it has exec'd (or failed, having
    /// said so through the setup pipe).
    unsafe fn start_agent(&self) -> Result<libc::pid_t, (Step, io::Error)> {
        let pid = libc::clone(
            agent_main,
            self.agent_stack,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            self as *const Launch as *mut libc::c_void,
        );
        if pid < 0 {
            return Err((Step::Clone, io::Error::last_os_error()));
        }
        Ok(pid)
    }

    /// The agent, before exec: stdio, rlimits, default signals.
    unsafe fn setup_agent(&self) -> StepResult {
        // Move the pipes above 2 first, so that dup2 never overwrites one with another.
        let mut high = [-1; 3];
        for (i, &fd) in self.stdio.iter().enumerate() {
            high[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3);
            if high[i] < 0 {
                return Err((Step::Stdio, io::Error::last_os_error()));
            }
        }
        for (target, &fd) in high.iter().enumerate() {
            check(libc::dup2(fd, target as libc::c_int)).map_err(at(Step::Stdio))?;
        }
        if self.plan.close_inherited {
            close_on_exec_from(3);
        }
        for &(resource, limit) in &self.plan.rlimits {
            let r = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            check(libc::setrlimit(resource, &r)).map_err(at(Step::Rlimits))?;
        }
        // As std does for its children: SIGPIPE back to its default, no signal blocked.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        check(libc::sigprocmask(
            libc::SIG_SETMASK,
            &none,
            std::ptr::null_mut(),
        ))
        .map_err(at(Step::Signals))
    }

    /// execve each candidate in turn, as execvp does: EACCES is remembered, a missing file
    /// tries the next one, any other error stops.
    unsafe fn exec(&self) -> io::Error {
        let mut denied = false;
        let mut last = io::Error::from_raw_os_error(libc::ENOENT);
        for &path in self.candidates {
            libc::execve(path, self.argv, self.envp);
            last = io::Error::last_os_error();
            match last.raw_os_error() {
                Some(libc::EACCES) => denied = true,
                Some(libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV) => {}
                _ => return last,
            }
        }
        if denied {
            io::Error::from_raw_os_error(libc::EACCES)
        } else {
            last
        }
    }
}

/// The agent's process until exec. `arg` is the spawn's `Launch`.
extern "C" fn agent_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the init (our parent, suspended by CLONE_VFORK) and reev's thread (blocked on
    // the setup pipe) keep the Launch alive; only async-signal-safe calls follow.
    unsafe {
        let launch = &*(arg as *const Launch);
        if let Err((step, e)) = launch.setup_agent() {
            fail(launch.setup, step, &e);
        }
        let e = launch.exec();
        fail(launch.setup, Step::Exec, &e)
    }
}

impl Plan {
    /// `filesystem: scratch`: clone the writable paths, make every mount read-only, then
    /// put the (writable) clones back over their paths.
    unsafe fn read_only_but_writable(&self) -> io::Result<()> {
        // Our mount changes must not propagate back to reev's namespace.
        check(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        let mut clones = [-1 as libc::c_int; MAX_WRITABLE];
        for (i, path) in self.writable.iter().enumerate().take(MAX_WRITABLE) {
            let fd = libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                path.as_ptr(),
                OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint,
            );
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            clones[i] = fd as libc::c_int;
        }
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_RDONLY,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        check_long(libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        ))?;
        for (i, path) in self.writable.iter().enumerate().take(MAX_WRITABLE) {
            check_long(libc::syscall(
                libc::SYS_move_mount,
                clones[i],
                c"".as_ptr(),
                libc::AT_FDCWD,
                path.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            ))?;
            libc::close(clones[i]);
        }
        Ok(())
    }
}

extern "C" fn kill_namespace(sig: libc::c_int) {
    // -1 is every process of this PID namespace but us.
    rawsys::kill(-1, sig);
}

/// The init's handlers: SIGTERM, SIGINT and SIGHUP go to the whole namespace.
unsafe fn handle_all(handler: extern "C" fn(libc::c_int)) {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigfillset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// reev's own handlers (signal-hook's among them) came along with its memory: back to the
/// default, so that no signal runs reev's code in the init or the agent.
unsafe fn reset_handlers() -> io::Result<()> {
    // Inclusive: SIGRTMAX is a signal too, and reev (or a library) may handle it.
    for sig in 1..=libc::SIGRTMAX() {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
            continue; // SIGKILL, SIGSTOP, the C library's own
        }
        if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            check(libc::sigaction(sig, &sa, std::ptr::null_mut()))?;
        }
    }
    Ok(())
}

/// Close descriptors `first..=last`: close_range(2), or, on kernels before 5.9 (ENOSYS), one
/// close each up to a bound — a descriptor left open here would keep a pipe of reev's open.
unsafe fn close_from_to(first: libc::c_int, last: libc::c_int) {
    let r = rawsys::syscall4(
        libc::SYS_close_range,
        first as usize,
        last as u32 as usize,
        0,
        0,
    );
    if r == 0 {
        return;
    }
    for fd in first..=last.min(65_535) {
        rawsys::syscall4(libc::SYS_close, fd as usize, 0, 0, 0);
    }
}

/// Mark every descriptor from `first` up close-on-exec — marked, not closed, so that the
/// setup pipe still reports a failed exec. close_range(CLOSE_RANGE_CLOEXEC) needs Linux 5.11;
/// before that, one fcntl each up to the descriptor limit.
unsafe fn close_on_exec_from(first: libc::c_int) {
    const CLOSE_RANGE_CLOEXEC: usize = 1 << 2;
    let all = rawsys::syscall4(
        libc::SYS_close_range,
        first as usize,
        u32::MAX as usize,
        CLOSE_RANGE_CLOEXEC,
        0,
    );
    if all == 0 {
        return;
    }
    let mut lim: libc::rlimit = std::mem::zeroed();
    let last = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
        lim.rlim_cur.min(65_536) as libc::c_int
    } else {
        1024
    };
    for fd in first..last {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
}

/// Close every descriptor but `keep` — the setup pipe among them, which lets reev's thread
/// go on — and point stdin/stdout/stderr at /dev/null so the agent's pipes reach end of file
/// when the agent's side closes them. Returns where `keep` is now.
unsafe fn detach(keep: libc::c_int) -> libc::c_int {
    // A reev started with stdin, stdout or stderr closed hands out 0..2 for pipes: the status
    // pipe there would be replaced by /dev/null below, and the agent's exit status lost (the
    // session would record the init's exit 0). Move it above 2 first.
    let keep = if keep < 3 {
        match rawsys::dup_at_least(keep, 3) {
            moved if moved >= 3 => moved as libc::c_int,
            _ => keep,
        }
    } else {
        keep
    };
    // Opened first, from a static path: once the setup pipe closes, reev may free the Launch.
    let null = rawsys::syscall4(
        libc::SYS_openat,
        libc::AT_FDCWD as isize as usize,
        c"/dev/null".as_ptr() as usize,
        (libc::O_RDWR | libc::O_CLOEXEC) as usize,
        0,
    ) as libc::c_int;
    for fd in 0..3 {
        if null >= 0 {
            rawsys::syscall4(libc::SYS_dup3, null as usize, fd, 0, 0);
        }
    }
    for (first, last) in [(3, keep - 1), (keep + 1, libc::c_int::MAX)] {
        if first <= last {
            close_from_to(first, last);
        }
    }
    keep
}

unsafe fn write_file(path: &CString, bytes: &[u8]) -> io::Result<()> {
    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
    let err = io::Error::last_os_error();
    libc::close(fd);
    if n != bytes.len() as isize {
        return Err(err);
    }
    Ok(())
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn check_long(r: libc::c_long) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Can this process create the namespaces a session needs? Tried once in a throwaway
/// child: user (when not root), PID, mount and network namespaces.
pub fn probe() -> Result<(), String> {
    if std::env::var_os("REEV_NO_NAMESPACES").is_some_and(|v| !v.is_empty() && v != "0") {
        return Err("REEV_NO_NAMESPACES is set".to_string());
    }
    // Only the user maps are taken from the plan (the flags below are explicit).
    let plan = Plan::new(false, &[], &[]).map_err(|e| format!("cannot prepare: {e}"))?;
    // SAFETY: the child only makes async-signal-safe calls and ends in _exit.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return Err(format!("fork: {}", io::Error::last_os_error()));
        }
        if pid == 0 {
            // The exit code is the errno of the first step that failed.
            let step = |r: io::Result<()>| {
                if let Err(e) = r {
                    libc::_exit(e.raw_os_error().unwrap_or(1).clamp(1, 255));
                }
            };
            if let Some(u) = &plan.user {
                step(check(libc::unshare(libc::CLONE_NEWUSER)));
                step(write_file(&u.setgroups, b"deny"));
                step(write_file(&u.uid_map, &u.uid_line));
                step(write_file(&u.gid_map, &u.gid_line));
            }
            step(check(libc::unshare(
                libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWNET,
            )));
            libc::_exit(0);
        }
        let mut st = 0;
        while libc::waitpid(pid, &mut st, 0) < 0 {
            if *libc::__errno_location() != libc::EINTR {
                return Err(format!("waitpid: {}", io::Error::last_os_error()));
            }
        }
        match (libc::WIFEXITED(st), libc::WEXITSTATUS(st)) {
            (true, 0) => Ok(()),
            (true, errno) => Err(format!(
                "the kernel refuses {} namespaces: {}",
                if plan.user.is_some() {
                    "unprivileged user, PID, mount or network"
                } else {
                    "PID, mount or network"
                },
                io::Error::from_raw_os_error(errno)
            )),
            _ => Err("the namespace probe died".to_string()),
        }
    }
}
