//! Starting an agent inside its own PID namespace (and, when asked, user, mount and network
//! namespaces), from `Command::pre_exec`, so that no agent process outlives reev.
//!
//! The process tree, all forked from reev's spawning thread:
//! - P1 (reev's child, in reev's PID namespace and the session's process group): dies with
//!   reev (PR_SET_PDEATHSIG), creates the namespaces, forks P2, forwards SIGTERM/SIGINT to
//!   it, waits for it and exits exactly as the agent did (same code, or the same signal).
//!   `wait4` on P1 therefore reports the agent's status and its waited descendants' rusage.
//! - P2, PID 1 of the new namespace: dies with P1, forks P3, reaps every orphan, turns
//!   SIGTERM/SIGINT into `kill(-1, sig)` for the whole namespace, and exits when P3 does —
//!   at which point the kernel SIGKILLs whatever is left in the namespace, setsid'd
//!   daemons included. (A namespace init ignores signals it has no handler for, which is
//!   why it is a tiny init and not the agent.)
//! - P3: applies the rlimits and returns to std, which execs the agent.
//!
//! Everything after `fork` must be async-signal-safe: every path and byte written is
//! prepared in [`Plan`] before spawning; no allocation happens in the child.

use std::ffi::CString;
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

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

/// Everything the child needs, prepared before `fork`.
#[derive(Debug, Clone)]
pub struct Plan {
    /// reev's pid: P1 checks it is still its parent after asking to die with it.
    parent: libc::pid_t,
    /// Non-root: a user namespace first, mapping our uid/gid to themselves.
    user: Option<UserMaps>,
    /// CLONE_NEWPID plus CLONE_NEWNS / CLONE_NEWNET as the sandbox asks.
    flags: libc::c_int,
    /// `filesystem: scratch`: these stay writable, the rest becomes read-only.
    writable: Vec<CString>,
    /// Re-entered after the mounts change, so the agent's cwd is the writable clone.
    cwd: Option<CString>,
    /// Files (cgroup.procs) into which P1 writes "0" to move itself, before any namespace.
    join: Vec<CString>,
    /// (resource, limit) applied in P3, the agent.
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// For a benchmark's `setup:`: P1 exits as soon as P3 does, but P2 (and with it the
    /// namespace and whatever P3 started in the background) stays, in the session's process
    /// group, until reev kills that group after `teardown:`.
    pub linger: bool,
    dev_null: CString,
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

impl Plan {
    /// A plan for one session. `writable` non-empty means `filesystem: scratch`.
    pub fn new(
        network_none: bool,
        writable: &[&std::path::Path],
        cwd: &std::path::Path,
        join: &[std::path::PathBuf],
    ) -> io::Result<Plan> {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &std::path::Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
        };
        // SAFETY: getuid/getgid/getpid have no preconditions.
        let (uid, gid, parent) = unsafe { (libc::getuid(), libc::getgid(), libc::getpid()) };
        let user = (uid != 0).then(|| UserMaps {
            setgroups: cstr("/proc/self/setgroups"),
            uid_map: cstr("/proc/self/uid_map"),
            gid_map: cstr("/proc/self/gid_map"),
            uid_line: format!("{uid} {uid} 1\n").into_bytes(),
            gid_line: format!("{gid} {gid} 1\n").into_bytes(),
        });
        let mut flags = libc::CLONE_NEWPID;
        if network_none {
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
            parent,
            user,
            flags,
            writable: writable.iter().map(|p| c(p)).collect::<io::Result<_>>()?,
            cwd: if writable.is_empty() {
                None
            } else {
                Some(c(cwd)?)
            },
            join: join.iter().map(|p| c(p)).collect::<io::Result<_>>()?,
            rlimits: Vec::new(),
            linger: false,
            dev_null: cstr("/dev/null"),
        })
    }

    /// Runs in the forked child (P1) from `pre_exec`. Returns only in P3, which std then
    /// execs; P1 and P2 end in `_exit`.
    ///
    /// # Safety
    /// Only from `pre_exec`: the caller is a freshly forked, single-threaded child.
    pub unsafe fn enter(&self) -> io::Result<()> {
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        if libc::getppid() != self.parent {
            // reev died between fork and prctl: nobody will ever read our result.
            libc::_exit(1);
        }
        for file in &self.join {
            write_file(file, b"0")?;
        }
        if let Some(u) = &self.user {
            check(libc::unshare(libc::CLONE_NEWUSER))?;
            write_file(&u.setgroups, b"deny")?;
            write_file(&u.uid_map, &u.uid_line)?;
            write_file(&u.gid_map, &u.gid_line)?;
        }
        check(libc::unshare(self.flags))?;
        if !self.writable.is_empty() {
            self.read_only_but_writable()?;
        }
        if let Some(cwd) = &self.cwd {
            check(libc::chdir(cwd.as_ptr()))?;
        }
        // P2 reports the agent's raw wait status through this pipe; P2 also learns from it
        // whether P1 is still alive (no reader left: POLLERR on the write end).
        let mut pipe = [0; 2];
        check(libc::pipe2(pipe.as_mut_ptr(), 0))?;
        // A lingering P2 outlives P1, and with it its PR_SET_PDEATHSIG: it watches reev through
        // a pidfd instead (-1 where the kernel has no pidfd_open: then only reev's kill of the
        // process group ends it, and a `kill -9` of reev leaves it running).
        let reev = if self.linger {
            libc::syscall(libc::SYS_pidfd_open, self.parent, 0) as libc::c_int
        } else {
            -1
        };
        let p2 = libc::fork();
        if p2 < 0 {
            return Err(io::Error::last_os_error());
        }
        if p2 == 0 {
            libc::close(pipe[0]);
            return self.init(pipe[1], reev);
        }
        libc::close(pipe[1]);
        supervise(p2, pipe[0], &self.dev_null, self.linger)
    }

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

    /// P2: PID 1 of the new namespace. Returns only in P3. `reev`: a pidfd of reev, or -1.
    unsafe fn init(&self, status: libc::c_int, mut reev: libc::c_int) -> io::Result<()> {
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        let mut p = libc::pollfd {
            fd: status,
            events: 0,
            revents: 0,
        };
        if libc::poll(&mut p, 1, 0) < 0 || p.revents & libc::POLLERR != 0 {
            libc::_exit(1); // P1 already died: so must we.
        }
        let agent = libc::fork();
        if agent < 0 {
            return Err(io::Error::last_os_error());
        }
        if agent == 0 {
            libc::close(status);
            for &(resource, limit) in &self.rlimits {
                let r = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                check(libc::setrlimit(resource, &r))?;
            }
            return Ok(());
        }
        CHILD.store(agent, Ordering::SeqCst);
        handle(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP], kill_namespace);
        if reev >= 0 {
            // Kept beside `status`, the one range of descriptors `detach` leaves open.
            libc::dup2(reev, status + 1);
            reev = status + 1;
        }
        detach(status, status.max(reev), &self.dev_null);
        let mut lingering = false;
        loop {
            let mut st = 0;
            let r = if lingering && reev >= 0 {
                watch_and_reap(reev, &mut st)
            } else {
                libc::waitpid(-1, &mut st, 0)
            };
            if r == agent {
                let bytes = st.to_ne_bytes();
                if self.linger {
                    // Outlive P1, which exits with this status: reev kills the process group
                    // (us, and so the namespace) once teardown is done.
                    libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0);
                    libc::write(status, bytes.as_ptr().cast(), bytes.len());
                    libc::close(status);
                    lingering = true;
                    continue;
                }
                libc::write(status, bytes.as_ptr().cast(), bytes.len());
                libc::_exit(0);
            }
            if r < 0 && *libc::__errno_location() == libc::ECHILD {
                libc::_exit(1);
            }
        }
    }
}

/// A lingering P2: reap whatever exited (`waitpid` with WNOHANG; ECHILD ends P2 at once when
/// nothing is left), else wait a moment for reev to end (then end the namespace with it).
unsafe fn watch_and_reap(reev: libc::c_int, st: &mut libc::c_int) -> libc::pid_t {
    let r = libc::waitpid(-1, st, libc::WNOHANG);
    if r != 0 {
        return r;
    }
    let mut p = libc::pollfd {
        fd: reev,
        events: libc::POLLIN,
        revents: 0,
    };
    if libc::poll(&mut p, 1, 200) > 0 && p.revents != 0 {
        libc::kill(-1, libc::SIGKILL);
        libc::_exit(1);
    }
    0
}

/// P1's child (P2), or P2's child (P3): whom a signal handler passes signals on to.
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    // SAFETY: kill is async-signal-safe.
    unsafe { libc::kill(CHILD.load(Ordering::SeqCst), sig) };
}

extern "C" fn kill_namespace(sig: libc::c_int) {
    // SAFETY: kill is async-signal-safe; -1 is every process of this PID namespace but us.
    unsafe { libc::kill(-1, sig) };
}

unsafe fn handle(signals: &[libc::c_int], handler: extern "C" fn(libc::c_int)) {
    for &sig in signals {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// Close descriptors `first..=last`: close_range(2), or, on kernels before 5.9 (ENOSYS), one
/// close(2) each up to the descriptor limit — a descriptor left open here would keep std's
/// exec-error pipe open and make `spawn` wait for the whole session.
unsafe fn close_from_to(first: libc::c_int, last: libc::c_int) {
    if libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32) == 0 {
        return;
    }
    let mut lim: libc::rlimit = std::mem::zeroed();
    let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
        lim.rlim_cur.min(1 << 20) as libc::c_int
    } else {
        1024
    };
    for fd in first..=last.min(max - 1) {
        libc::close(fd);
    }
}

/// Close every descriptor but `keep..=last_kept` — std's exec-error pipe among them, or `spawn` would
/// wait for the agent to end — and point stdin/stdout/stderr at /dev/null so the agent's
/// pipes reach end of file when the agent's side closes them.
unsafe fn detach(keep: libc::c_int, last_kept: libc::c_int, dev_null: &CString) {
    if keep > 3 {
        close_from_to(3, keep - 1);
    }
    close_from_to(last_kept + 1, libc::c_int::MAX);
    let null = libc::open(dev_null.as_ptr(), libc::O_RDWR);
    if null >= 0 {
        for fd in 0..3 {
            libc::dup2(null, fd);
        }
        if null > 2 {
            libc::close(null);
        }
    }
}

/// P1: wait for the namespace's init and end the way the agent ended.
/// With `linger`, P1 ends as soon as P2 reports the status, leaving P2 running.
unsafe fn supervise(init: libc::pid_t, status: libc::c_int, dev_null: &CString, linger: bool) -> ! {
    CHILD.store(init, Ordering::SeqCst);
    handle(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP], forward);
    detach(status, status, dev_null);
    let mut st = 0;
    let mut raw = [0u8; 4];
    if linger {
        loop {
            let n = libc::read(status, raw.as_mut_ptr().cast(), raw.len());
            if n == 4 {
                exit_as(i32::from_ne_bytes(raw));
            }
            if n >= 0 || *libc::__errno_location() != libc::EINTR {
                break; // P2 ended without a status: wait for it as usual
            }
        }
    }
    loop {
        let r = libc::waitpid(init, &mut st, 0);
        if r == init {
            break;
        }
        if r < 0 && *libc::__errno_location() != libc::EINTR {
            libc::_exit(127);
        }
    }
    if libc::read(status, raw.as_mut_ptr().cast(), raw.len()) == 4 {
        st = i32::from_ne_bytes(raw);
    }
    exit_as(st)
}

/// End the way a process with wait status `st` ended: the same exit code, or the same signal.
unsafe fn exit_as(st: libc::c_int) -> ! {
    if libc::WIFSIGNALED(st) {
        let sig = libc::WTERMSIG(st);
        // Die of the same signal, without a core file of our own.
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), sig);
        libc::_exit(128 + sig);
    }
    libc::_exit(libc::WEXITSTATUS(st))
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
    let plan = Plan::new(true, &[], std::path::Path::new("/"), &[])
        .map_err(|e| format!("cannot prepare: {e}"))?;
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
