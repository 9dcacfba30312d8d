//! The system calls of `reev-init` that neither std nor rustix wraps safely: clone, the
//! signal mask, `sigwaitinfo` and `sigtimedwait`, `wait4` (its rusage), `keyctl`, the
//! scheduling and I/O priorities, `kill(-1)`,
//! `unshare`, `mount_setattr`, `close_range`.
//! `reev-init` is single-threaded (it never starts a thread), which is what makes `clone`
//! and `unshare` sound here.

use std::io;

/// The signals the inits handle synchronously: forwarded (TERM, INT, HUP), reaped (CHLD),
/// or, from reev, "kill everything in the namespace but yourself" (USR1: a resident init
/// then still reports what the killed process used).
pub const HANDLED: [libc::c_int; 5] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGCHLD,
    libc::SIGUSR1,
];

/// Which side of a fork this is.
pub enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// `clone(CLONE_PARENT | SIGCHLD | namespaces)`: a copy of this process, in new
/// `namespaces`, that is a child of our parent (reev), not of ours — what makes the served
/// sessions reev's own children.
pub fn clone_parent(namespaces: libc::c_int) -> io::Result<Forked> {
    let flags = (libc::CLONE_PARENT | libc::SIGCHLD | namespaces) as libc::c_ulong;
    // SAFETY: like fork in a single-threaded process (bubblewrap's raw_clone): no stack is
    // given, so the child runs on a copy of ours; the C library's per-thread data keeps the
    // parent's thread id, which nothing in reev-init uses (no threads, no raise).
    match unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// `unshare(flags)` (the probe).
pub fn unshare(flags: rustix::thread::UnshareFlags) -> io::Result<()> {
    // SAFETY: the flags never include CLONE_FILES or CLONE_FS sharing changes that could
    // invalidate descriptors or paths std holds; reev-init is single-threaded.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(io::Error::from)
}

/// In a session cloned from the zygote: let go of the control socket (fd 0, which only the
/// zygote reads) and put /dev/null there, so that reev sees the zygote's end when it ends.
pub fn release_control() {
    // SAFETY: fd 0 is the control socket, used only through `io::stdin()` in the zygote's
    // loop, which this clone never returns to.
    unsafe { libc::close(0) };
    // The lowest free descriptor: 0 again.
    let _ = std::fs::File::open("/dev/null").map(std::os::fd::IntoRawFd::into_raw_fd);
}

/// Block `HANDLED`, so that they wait for `wait_signal` (and a PID 1 receives them from
/// reev's namespace at all: a blocked signal is never discarded as unhandled).
pub fn block_handled() -> io::Result<()> {
    let set = handled_set();
    // SAFETY: a valid, initialised signal set; the old mask is not asked for.
    let r = unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unblock `HANDLED` again: for the agent, between fork and exec. A process inherits its
/// parent's signal mask through exec, and a shell started with SIGCHLD blocked waits forever
/// in `wait` for a child that already exited (and with TERM blocked, ignores reev's TERM).
/// Async-signal-safe: one system call on the calling thread's own mask.
pub fn unblock_handled() -> io::Result<()> {
    let set = handled_set();
    // SAFETY: a valid, initialised signal set; the old mask is not asked for.
    let r = unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn handled_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before any use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; the signal numbers are valid.
    unsafe {
        libc::sigemptyset(&mut set);
        for sig in HANDLED {
            libc::sigaddset(&mut set, sig);
        }
    }
    set
}

/// Wait for one of the blocked `HANDLED` signals; its number.
pub fn wait_signal() -> libc::c_int {
    let set = handled_set();
    loop {
        // SAFETY: a valid signal set; the siginfo is not asked for.
        let sig = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
        if sig > 0 {
            return sig;
        }
    }
}

/// Discard the blocked `HANDLED` signals that are pending (`sigtimedwait` without waiting).
pub fn drain_handled() {
    let set = handled_set();
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: a valid signal set and timespec, alive for the call; no siginfo asked for.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) };
        if sig <= 0 {
            return;
        }
    }
}

/// `wait4(-1, …)`: a child that ended, with its wait status and rusage (its own and its
/// waited-for descendants'); `None` when there is none (`nohang`) or no child at all.
pub fn wait_any(nohang: bool) -> Option<(libc::pid_t, i32, crate::message::Usage)> {
    let options = if nohang { libc::WNOHANG } else { 0 };
    let mut status: libc::c_int = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    let pid = loop {
        // SAFETY: valid pointers to a status and a zeroed rusage (a valid value), both
        // alive for the call; wait4 fills them in on success.
        let pid = unsafe { libc::wait4(-1, &mut status, options, usage.as_mut_ptr()) };
        if pid < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        break pid;
    };
    if pid <= 0 {
        return None;
    }
    // SAFETY: zero-initialised above, and filled in by wait4.
    let ru = unsafe { usage.assume_init() };
    let us = |t: libc::timeval| (t.tv_sec.max(0) as u64) * 1_000_000 + t.tv_usec.max(0) as u64;
    let used = crate::message::Usage {
        user_us: us(ru.ru_utime),
        system_us: us(ru.ru_stime),
        max_rss_kib: ru.ru_maxrss.max(0) as u64,
    };
    Some((pid, status, used))
}

/// Empty the session keyring (see [`new_session_keyring`]) and this uid's user keyring and
/// user-session keyring (in this user namespace): the
/// keys a process of one session put there would otherwise be read by the next one in the
/// same resident init (keyrings are per uid and user namespace, not per process tree).
/// Failure (no keyrings in this kernel) leaves nothing to clear.
pub fn clear_user_keyrings() {
    const KEYCTL_CLEAR: libc::c_long = 7;
    const KEY_SPEC_USER_KEYRING: libc::c_long = -4;
    const KEY_SPEC_USER_SESSION_KEYRING: libc::c_long = -5;
    const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
    for ring in [
        KEY_SPEC_SESSION_KEYRING,
        KEY_SPEC_USER_KEYRING,
        KEY_SPEC_USER_SESSION_KEYRING,
    ] {
        // SAFETY: keyctl(KEYCTL_CLEAR, id) takes two integers and touches no memory of ours.
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_CLEAR, ring) };
    }
}

/// Join a new, anonymous session keyring: what reev was started with (a login's, systemd's
/// `KeyringMode=private` one) is not passed on to the programs, who share this one instead,
/// emptied before each (see [`clear_user_keyrings`]).
pub fn new_session_keyring() {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: a null name asks for an anonymous keyring; no memory of ours is touched.
    unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0usize) };
}

/// The calling process's scheduling policy, its static priority and its I/O priority: what
/// every process it starts inherits (`-1` where one cannot be read).
pub fn scheduling() -> [i64; 3] {
    // SAFETY: sched_getscheduler(0) asks about the caller and takes no pointer.
    let policy = unsafe { libc::sched_getscheduler(0) };
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: a valid sched_param, alive for the call, which fills it in.
    let priority = match unsafe { libc::sched_getparam(0, &mut param) } {
        0 => param.sched_priority,
        _ => -1,
    };
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, 0) asks about the caller; integers only.
    let io = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    [i64::from(policy), i64::from(priority), io]
}

/// `kill(pid, sig)`; `pid` -1 is every process of this PID namespace but the caller.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill takes plain integers; ESRCH (nobody left) is fine.
    unsafe { libc::kill(pid, sig) };
}

/// `mount_setattr(path, AT_RECURSIVE, {attr_set: MOUNT_ATTR_RDONLY})`: the mount at `path`
/// and every mount below it become read-only.
pub fn read_only_recursive(path: &std::ffi::CStr) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a NUL-terminated path and a mount_attr of the size passed, both alive for the
    // call; the kernel only reads them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mark every descriptor from 3 up close-on-exec (the socket to reev already is).
pub fn close_inherited_on_exec() {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on descriptors; no
    // descriptor is closed under std's feet.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if r == 0 {
        return;
    }
    // Before Linux 5.11: one descriptor at a time, those /proc/self/fd lists.
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for fd in dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
    {
        if fd >= 3 {
            // SAFETY: fcntl(F_SETFD) on a number that is, or was, a descriptor: at worst EBADF.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}
