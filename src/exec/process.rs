//! One agent process: its own process group (and PID namespace where available, see
//! `namespace`), concurrent capped capture, hard timeout, rusage.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::interrupt;
use super::spawn::Started;

/// How long to keep reading output after the agent exited and its group was killed.
const DRAIN: Duration = Duration::from_millis(250);

pub struct Spawn<'a> {
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    pub stdin: &'a [u8],
    pub timeout: Duration,
    pub grace: Duration,
    /// Bytes kept of stdout and of stderr, each.
    pub cap: usize,
    /// Start from an empty environment instead of reev's (a sandbox's `env:` list).
    pub env_clear: bool,
    /// Namespaces and limits to start the agent in; `None`: a plain process group.
    pub plan: Option<&'a super::namespace::Plan>,
    /// A `setup:` fixture: when it exits, what it started keeps running (its process group
    /// is left alive, see `namespace::Plan::linger`) until [`kill_group`] after teardown.
    pub linger: bool,
    /// A `teardown:` fixture: a first SIGINT/SIGTERM of reev does not stop it (it cleans up
    /// after the session); a second one kills every group, this one too.
    pub through_stop: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Captured {
    pub bytes: Vec<u8>,
    pub total: u64,
    pub truncated: bool,
}

impl Captured {
    fn push(&mut self, chunk: &[u8], cap: usize) {
        self.total += chunk.len() as u64;
        let room = cap.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
}

#[derive(Debug)]
pub struct Finished {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// Set when reev itself was asked to stop while this process ran.
    pub interrupted: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub wall: Duration,
    pub user: Duration,
    pub system: Duration,
    pub peak_rss_bytes: u64,
    pub stdout: Captured,
    pub stderr: Captured,
    /// With `linger`: what was left running, for [`kill_group`].
    pub group: Option<Lingering>,
}

/// What a `linger` spawn left running: its process group and, when namespaced, its init
/// (still unreaped, on the stack `Started` owns).
pub struct Lingering {
    pgid: i32,
    init: Option<Started>,
}

impl std::fmt::Debug for Lingering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lingering")
            .field("pgid", &self.pgid)
            .field("namespaced", &self.init.is_some())
            .finish()
    }
}

/// Kill what a `linger` spawn left running. Its members keep the group id allocated, so the
/// number cannot have been reused by another group while any of them lives; a namespace's
/// init is killed (which ends its namespace) and reaped when its `Started` drops.
pub fn kill_group(left: Lingering) {
    signal_group(left.pgid, libc::SIGKILL);
    drop(left.init);
    interrupt::unregister_group(left.pgid);
}

/// Start the agent: in its namespaces (`spawn`), or, without a plan, as a plain process
/// group. Returns its pid (the process group's too), reev's ends of stdin, stdout and
/// stderr, and the namespaced start that `reap` completes.
#[allow(clippy::type_complexity)]
fn start(spec: &Spawn) -> std::io::Result<(i32, [OwnedFd; 3], Option<Started>)> {
    let (program, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "empty command"))?;
    if let Some(plan) = spec.plan {
        let (started, fds) = super::spawn::spawn(spec, plan)?;
        return Ok((started.pid, fds, Some(started)));
    }
    let mut cmd = Command::new(program);
    if spec.env_clear {
        cmd.env_clear();
    }
    cmd.args(args)
        .current_dir(spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let piped = || std::io::Error::other("the agent's pipes were not created");
    let fds = [
        OwnedFd::from(child.stdin.take().ok_or_else(piped)?),
        OwnedFd::from(child.stdout.take().ok_or_else(piped)?),
        OwnedFd::from(child.stderr.take().ok_or_else(piped)?),
    ];
    Ok((child.id() as i32, fds, None))
}

/// Run one process to completion. `Err` means it could not be started.
pub fn run(spec: &Spawn) -> std::io::Result<Finished> {
    let started_at = Utc::now();
    let started = Instant::now();
    let (pid, [stdin, out, err], mut namespaced) = start(spec)?;
    interrupt::register_group(pid);

    let mut stdin = Some(stdin);
    let mut out = Some(out);
    let mut err = Some(err);
    for fd in [&stdin, &out, &err].into_iter().flatten() {
        set_nonblocking(fd.as_raw_fd());
    }
    if spec.stdin.is_empty() {
        stdin = None;
    }
    let pidfd = pidfd_open(pid);

    let mut f = Finished {
        exit_code: None,
        signal: None,
        timed_out: false,
        interrupted: false,
        started_at,
        finished_at: started_at,
        wall: Duration::ZERO,
        user: Duration::ZERO,
        system: Duration::ZERO,
        peak_rss_bytes: 0,
        stdout: Captured::default(),
        stderr: Captured::default(),
        group: None,
    };
    let deadline = started + spec.timeout;
    let mut written = 0usize;
    let mut kill_at: Option<Instant> = None;
    let mut reaped = false;
    let mut drain_until: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];

    loop {
        let now = Instant::now();
        if reaped && (out.is_none() && err.is_none() || drain_until.is_some_and(|d| now >= d)) {
            break;
        }
        // Decide what to wait for and for how long.
        let mut wait_until = if reaped {
            drain_until.unwrap_or(now)
        } else {
            kill_at.unwrap_or(deadline)
        };
        if pidfd.is_none() && !reaped {
            wait_until = wait_until.min(now + Duration::from_millis(5));
        }
        let timeout_ms = wait_until
            .saturating_duration_since(now)
            .as_millis()
            .min(60_000) as i32;

        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(5);
        let slot = |fds: &mut Vec<libc::pollfd>, fd: RawFd, events: i16| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            fds.len() - 1
        };
        let i_out = out
            .as_ref()
            .map(|fd| slot(&mut fds, fd.as_raw_fd(), libc::POLLIN));
        let i_err = err
            .as_ref()
            .map(|fd| slot(&mut fds, fd.as_raw_fd(), libc::POLLIN));
        let i_in = stdin
            .as_ref()
            .map(|fd| slot(&mut fds, fd.as_raw_fd(), libc::POLLOUT));
        let i_pid = match (&pidfd, reaped) {
            (Some(fd), false) => Some(slot(&mut fds, fd.as_raw_fd(), libc::POLLIN)),
            _ => None,
        };
        let i_status = match (&namespaced, spec.linger && !reaped) {
            (Some(init), true) => Some(slot(&mut fds, init.status_fd(), libc::POLLIN)),
            _ => None,
        };
        let i_wake = match (
            interrupt::wake_fd(),
            f.interrupted || reaped || spec.through_stop,
        ) {
            (Some(fd), false) => Some(slot(&mut fds, fd, libc::POLLIN)),
            _ => None,
        };
        // SAFETY: fds is a valid slice of pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                tracing::warn!(pid, "poll failed: {e}");
                std::thread::sleep(Duration::from_millis(5));
            }
            continue;
        }
        let ready = |i: Option<usize>| i.is_some_and(|i| fds[i].revents != 0);

        if ready(i_out) && drain(&mut out, &mut f.stdout, &mut buf, spec.cap) {
            out = None;
        }
        if ready(i_err) && drain(&mut err, &mut f.stderr, &mut buf, spec.cap) {
            err = None;
        }
        if ready(i_in) {
            if let Some(fd) = &stdin {
                match borrow(fd).write(&spec.stdin[written..]) {
                    Ok(k) => written += k,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => written = spec.stdin.len(), // EPIPE: the agent closed stdin
                }
                if written >= spec.stdin.len() {
                    stdin = None;
                }
            }
        }
        if ready(i_wake) && !f.interrupted {
            f.interrupted = true;
            signal_group(pid, libc::SIGTERM);
            kill_at = Some(Instant::now() + spec.grace);
        }

        let exited = if reaped {
            false
        } else if pidfd.is_some() {
            ready(i_pid)
        } else {
            has_exited(pid)
        };
        // A lingering setup's init reports its command's end through the status pipe and
        // stays; one that timed out or was interrupted ends like any other process.
        let lingers = spec.linger && !f.timed_out && !f.interrupted;
        let setup_ended = !exited && lingers && ready(i_status);
        let now = Instant::now();
        if exited || setup_ended {
            f.wall = now - started;
            f.finished_at = Utc::now();
            let keep = lingers && (setup_ended || namespaced.is_none());
            f.group = settle(pid, keep, &mut f, &mut namespaced);
            reaped = true;
            stdin = None;
            drain_until = Some(now + DRAIN);
            continue;
        }
        if !reaped {
            if kill_at.is_none() && now >= deadline {
                f.timed_out = true;
                signal_group(pid, libc::SIGTERM);
                kill_at = Some(now + spec.grace);
            } else if kill_at.is_some_and(|k| now >= k) {
                signal_group(pid, libc::SIGKILL);
                kill_at = Some(now + Duration::from_secs(3600));
            }
        }
    }
    // A lingering setup's background processes may hold its pipes: expected, not a warning.
    if (out.is_some() || err.is_some()) && f.group.is_none() {
        tracing::warn!(
            pid,
            "output pipe still held open by a process outside the agent's process group; stopped reading"
        );
    }
    Ok(f)
}

/// Read everything available; true at end of file.
fn drain(fd: &mut Option<OwnedFd>, cap_to: &mut Captured, buf: &mut [u8], cap: usize) -> bool {
    let Some(owned) = fd.as_ref() else {
        return true;
    };
    let mut file = borrow(owned);
    loop {
        match file.read(buf) {
            Ok(0) => return true,
            Ok(k) => cap_to.push(&buf[..k], cap),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

/// A `File` view of a descriptor we keep owning elsewhere; it is never closed through the view.
fn borrow(fd: &OwnedFd) -> std::mem::ManuallyDrop<std::fs::File> {
    // SAFETY: the descriptor stays open for as long as `fd` lives; ManuallyDrop never closes it.
    std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd.as_raw_fd()) })
}

fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions; ESRCH (group gone) is fine.
    unsafe { libc::kill(-pgid, sig) };
}

/// The process (or its init) ended, or a lingering setup's command did: record how, and kill
/// what it left behind — unless `keep`, then return what [`kill_group`] ends after teardown.
fn settle(
    pid: i32,
    keep: bool,
    f: &mut Finished,
    namespaced: &mut Option<Started>,
) -> Option<Lingering> {
    if !keep {
        // The leader is a zombie until reaped, so its process group id cannot be reused:
        // kill whatever it left behind before reaping it.
        signal_group(pid, libc::SIGKILL);
        reap(pid, f, namespaced.as_mut());
        interrupt::unregister_group(pid);
        return None;
    }
    let init = namespaced.take();
    match &init {
        // The init stays, unreaped, with its namespace: the status comes from its pipe.
        Some(started) => {
            if let Some(status) = started.agent_status() {
                record_status(status, f);
            }
        }
        None => reap(pid, f, None),
    }
    Some(Lingering { pgid: pid, init })
}

fn record_status(status: libc::c_int, f: &mut Finished) {
    if libc::WIFEXITED(status) {
        f.exit_code = Some(libc::WEXITSTATUS(status));
    } else if libc::WIFSIGNALED(status) {
        f.signal = Some(libc::WTERMSIG(status));
    }
}

/// Wait for the agent's process (the init, when namespaced) with its rusage; a namespace's
/// init reports the agent's own status, which is what the session records.
fn reap(pid: i32, f: &mut Finished, namespaced: Option<&mut Started>) {
    let mut status: libc::c_int = 0;
    // SAFETY: zeroed rusage is a valid value; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to status and rusage.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
            continue;
        }
        tracing::warn!(pid, "wait4 failed: {}", std::io::Error::last_os_error());
        return;
    }
    if let Some(started) = namespaced {
        started.reaped();
        status = started.agent_status().unwrap_or(status);
    }
    record_status(status, f);
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    f.user = tv(ru.ru_utime);
    f.system = tv(ru.ru_stime);
    f.peak_rss_bytes = (ru.ru_maxrss as u64) * 1024;
}

/// Without a pidfd: has the process exited? (WNOWAIT leaves it to `reap`.)
fn has_exited(pid: i32) -> bool {
    // SAFETY: zeroed siginfo is valid; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to info.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid is valid to read after waitid on Linux.
    r == 0 && unsafe { info.si_pid() } == pid
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; we check the result.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh descriptor that we own.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}
