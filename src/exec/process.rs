//! One agent process: a PID namespace where available (a resident init's, or its own; see
//! `sandbox::spawn`), else its own process group; concurrent capped capture, hard timeout,
//! rusage.

use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};

use super::interrupt;
use crate::sandbox::spawn::Started;

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
    pub plan: Option<&'a crate::sandbox::namespace::Plan>,
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

impl Finished {
    /// Nothing known yet of a process started at `started_at`.
    fn blank(started_at: DateTime<Utc>) -> Self {
        Finished {
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
        }
    }
}

/// What a `linger` spawn left running: its process group and, when namespaced, its init
/// (still unreaped, on the stack `Started` owns).
pub struct Lingering {
    pgid: i32,
    init: Option<Started>,
    /// In a plain process group: the setup's exited leader, left unreaped (a zombie) so
    /// that its pid — the group's id — cannot be given to another process, whose group
    /// `kill_group` would then kill.
    zombie_leader: bool,
}

impl std::fmt::Debug for Lingering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lingering")
            .field("pgid", &self.pgid)
            .field("namespaced", &self.init.is_some())
            .finish()
    }
}

/// Kill what a `linger` spawn left running. The group id cannot have been reused: in a
/// plain process group the leader is still an unreaped zombie (reaped here, after the
/// kill), and a namespace's init is alive until killed here (and reaped when its `Started`
/// drops).
pub fn kill_group(left: Lingering) {
    signal_group(left.pgid, Signal::KILL);
    drop(left.init);
    if left.zombie_leader {
        if let Some(pid) = rustix::process::Pid::from_raw(left.pgid) {
            while let Err(rustix::io::Errno::INTR) =
                rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
            {
            }
        }
    }
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
        let request = plan.request(spec.argv, &environment(spec), spec.cwd, spec.linger);
        let (started, fds) = crate::sandbox::spawn::spawn(&request, plan)?;
        return Ok((started.pid, fds, Some(started)));
    }
    let mut cmd = Command::new(program);
    if spec.env_clear {
        cmd.env_clear();
    }
    for held in super::secrets::held() {
        cmd.env_remove(held);
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

/// The program's environment: reev's (or none, with a sandbox's `env:`), then the session's.
/// Variables that are not UTF-8 are left out (the request is JSON).
fn environment(spec: &Spawn) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = if spec.env_clear {
        Vec::new()
    } else {
        super::secrets::inherited()
    };
    for (k, v) in spec.env {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

/// Run one process to completion. `Err` means it could not be started.
pub fn run(spec: &Spawn) -> std::io::Result<Finished> {
    let mut r = Running::start(spec)?;
    loop {
        let now = Instant::now();
        if r.over(now) {
            break;
        }
        let Some(ready) = r.poll(now) else {
            continue;
        };
        r.transfer(&ready);
        r.watch(&ready);
    }
    Ok(r.finish())
}

/// A process `run` is watching: its pipes, its deadlines and what it has found so far.
struct Running<'a> {
    spec: &'a Spawn<'a>,
    pid: i32,
    started: Instant,
    deadline: Instant,
    /// reev's ends of the pipes, each `None` once done with (end of file; all written).
    stdin: Option<OwnedFd>,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    /// `None` where pidfds are not to be had: then the process is polled for every 5 ms.
    pidfd: Option<OwnedFd>,
    namespaced: Option<Started>,
    /// Bytes of `spec.stdin` written.
    written: usize,
    /// When the process (group) gets SIGKILL, once asked to stop with SIGTERM.
    kill_at: Option<Instant>,
    /// A resident init was asked (USR1) to kill everything in its namespace.
    emptied: bool,
    reaped: bool,
    /// After the process ended: how long its pipes are still read.
    drain_until: Option<Instant>,
    buf: Vec<u8>,
    f: Finished,
}

/// Which of the polled descriptors have something to say.
struct Ready {
    out: bool,
    err: bool,
    stdin: bool,
    pid: bool,
    status: bool,
    wake: bool,
}

impl<'a> Running<'a> {
    fn start(spec: &'a Spawn<'a>) -> std::io::Result<Self> {
        let started_at = Utc::now();
        let started = Instant::now();
        let (pid, [stdin, out, err], namespaced) = start(spec)?;
        interrupt::register_group(pid);
        for fd in [&stdin, &out, &err] {
            set_nonblocking(fd);
        }
        Ok(Running {
            spec,
            pid,
            started,
            deadline: started + spec.timeout,
            stdin: (!spec.stdin.is_empty()).then_some(stdin),
            out: Some(out),
            err: Some(err),
            pidfd: pidfd_open(pid),
            namespaced,
            written: 0,
            kill_at: None,
            emptied: false,
            reaped: false,
            drain_until: None,
            buf: vec![0u8; 64 * 1024],
            f: Finished::blank(started_at),
        })
    }

    /// Reaped, and its output read to the end (or for as long as is waited for it).
    fn over(&self, now: Instant) -> bool {
        self.reaped
            && (self.out.is_none() && self.err.is_none()
                || self.drain_until.is_some_and(|d| now >= d))
    }

    /// Wait for output, room in stdin, the process's end, reev's interruption or the next
    /// deadline; `None` when the poll failed (and is to be tried again).
    fn poll(&self, now: Instant) -> Option<Ready> {
        // Decide what to wait for and for how long.
        let mut wait_until = if self.reaped {
            self.drain_until.unwrap_or(now)
        } else {
            self.kill_at.unwrap_or(self.deadline)
        };
        if self.pidfd.is_none() && !self.reaped {
            wait_until = wait_until.min(now + Duration::from_millis(5));
        }
        let timeout_ms = wait_until
            .saturating_duration_since(now)
            .as_millis()
            .min(60_000) as i32;

        let mut fds: Vec<PollFd> = Vec::with_capacity(6);
        let i_out = slot(&mut fds, self.out.as_ref().map(AsFd::as_fd), PollFlags::IN);
        let i_err = slot(&mut fds, self.err.as_ref().map(AsFd::as_fd), PollFlags::IN);
        let i_in = slot(
            &mut fds,
            self.stdin.as_ref().map(AsFd::as_fd),
            PollFlags::OUT,
        );
        let pidfd = self.pidfd.as_ref().filter(|_| !self.reaped);
        let i_pid = slot(&mut fds, pidfd.map(AsFd::as_fd), PollFlags::IN);
        // A lingering setup's init and a resident init report the program's end on the
        // status socket and stay.
        let lingering = self.spec.linger && !self.reaped;
        let init =
            (self.namespaced.as_ref()).filter(|s| !self.reaped && (lingering || s.in_resident()));
        let i_status = slot(&mut fds, init.map(Started::status_fd), PollFlags::IN);
        let deaf = self.f.interrupted || self.reaped || self.spec.through_stop;
        let wake = interrupt::wake_fd().filter(|_| !deaf);
        let i_wake = slot(&mut fds, wake, PollFlags::IN);
        let timeout = rustix::event::Timespec {
            tv_sec: i64::from(timeout_ms / 1000),
            tv_nsec: i64::from(timeout_ms % 1000) * 1_000_000,
        };
        if let Err(e) = rustix::event::poll(&mut fds, Some(&timeout)) {
            if e != rustix::io::Errno::INTR {
                tracing::warn!(pid = self.pid, "poll failed: {e}");
                std::thread::sleep(Duration::from_millis(5));
            }
            return None;
        }
        let ready = |i: Option<usize>| i.is_some_and(|i| !fds[i].revents().is_empty());
        Some(Ready {
            out: ready(i_out),
            err: ready(i_err),
            stdin: ready(i_in),
            pid: ready(i_pid),
            status: ready(i_status),
            wake: ready(i_wake),
        })
    }

    /// Read the output that is there, write what stdin takes, pass on reev's interruption.
    fn transfer(&mut self, ready: &Ready) {
        let cap = self.spec.cap;
        if ready.out && drain(&mut self.out, &mut self.f.stdout, &mut self.buf, cap) {
            self.out = None;
        }
        if ready.err && drain(&mut self.err, &mut self.f.stderr, &mut self.buf, cap) {
            self.err = None;
        }
        if ready.stdin {
            if let Some(fd) = &self.stdin {
                let input = self.spec.stdin;
                match rustix::io::write(fd, &input[self.written..]) {
                    Ok(k) => self.written += k,
                    Err(rustix::io::Errno::AGAIN) => {}
                    Err(_) => self.written = input.len(), // EPIPE: the agent closed stdin
                }
                if self.written >= input.len() {
                    self.stdin = None;
                }
            }
        }
        if ready.wake && !self.f.interrupted {
            self.f.interrupted = true;
            signal_group(self.pid, Signal::TERM);
            self.kill_at = Some(Instant::now() + self.spec.grace);
        }
    }

    /// Settle a process that ended; stop one that is past its deadline or was asked to.
    fn watch(&mut self, ready: &Ready) {
        let resident = self.namespaced.as_ref().is_some_and(Started::in_resident);
        let exited = if self.reaped {
            false
        } else if resident && ready.status {
            true
        } else if self.pidfd.is_some() {
            ready.pid
        } else {
            has_exited(self.pid)
        };
        // A lingering setup's init reports its command's end through the status pipe and
        // stays; one that timed out or was interrupted ends like any other process.
        let lingers = self.spec.linger && !self.f.timed_out && !self.f.interrupted;
        let setup_ended = !exited && lingers && ready.status;
        let now = Instant::now();
        if exited || setup_ended {
            self.f.wall = now - self.started;
            self.f.finished_at = Utc::now();
            let keep = lingers && (setup_ended || self.namespaced.is_none());
            self.f.group = settle(self.pid, keep, &mut self.f, &mut self.namespaced);
            self.reaped = true;
            self.stdin = None;
            self.drain_until = Some(now + DRAIN);
            return;
        }
        if !self.reaped {
            if self.kill_at.is_none() && now >= self.deadline {
                self.f.timed_out = true;
                signal_group(self.pid, Signal::TERM);
                self.kill_at = Some(now + self.spec.grace);
            } else if self.kill_at.is_some_and(|k| now >= k) {
                if resident && !self.emptied {
                    // A resident init kills everything in its namespace itself and still
                    // reports what the process used; killed itself only if it does not.
                    if let Some(init) = Pid::from_raw(self.pid) {
                        let _ = rustix::process::kill_process(init, Signal::USR1);
                    }
                    self.emptied = true;
                    self.kill_at = Some(now + self.spec.grace);
                } else {
                    signal_group(self.pid, Signal::KILL);
                    self.kill_at = Some(now + Duration::from_secs(3600));
                }
            }
        }
    }

    fn finish(self) -> Finished {
        // A lingering setup's background processes may hold its pipes: expected, not a warning.
        if (self.out.is_some() || self.err.is_some()) && self.f.group.is_none() {
            tracing::warn!(
                pid = self.pid,
                "output pipe still held open by a process outside the agent's process group; stopped reading"
            );
        }
        self.f
    }
}

/// Read everything available; true at end of file.
fn drain(fd: &mut Option<OwnedFd>, cap_to: &mut Captured, buf: &mut [u8], cap: usize) -> bool {
    let Some(owned) = fd.as_ref() else {
        return true;
    };
    loop {
        match rustix::io::read(owned, &mut *buf) {
            Ok(0) => return true,
            Ok(k) => cap_to.push(&buf[..k], cap),
            Err(rustix::io::Errno::AGAIN) => return false,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return true,
        }
    }
}

/// One more descriptor to poll, if there is one; its index.
fn slot<'a>(
    fds: &mut Vec<PollFd<'a>>,
    fd: Option<BorrowedFd<'a>>,
    events: PollFlags,
) -> Option<usize> {
    fds.push(PollFd::from_borrowed_fd(fd?, events));
    Some(fds.len() - 1)
}

fn signal_group(pgid: i32, sig: Signal) {
    // ESRCH (the group is gone) is fine.
    if let Some(pgid) = Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(pgid, sig);
    }
}

/// The process (or its init) ended, or a lingering setup's command did: record how, and kill
/// what it left behind — unless `keep`, then return what [`kill_group`] ends after teardown.
fn settle(
    pid: i32,
    keep: bool,
    f: &mut Finished,
    namespaced: &mut Option<Started>,
) -> Option<Lingering> {
    if let Some(started) = namespaced.as_mut().filter(|s| s.in_resident()) {
        // The resident init killed and reaped what the program left; it serves on.
        match started.exit() {
            Some((status, usage)) => {
                record_status(status, f);
                if let Some(u) = usage {
                    f.user = Duration::from_micros(u.user_us);
                    f.system = Duration::from_micros(u.system_us);
                    f.peak_rss_bytes = u.max_rss_kib.saturating_mul(1024);
                }
            }
            // Killed (with its namespace) after the grace period.
            None => f.signal = Some(libc::SIGKILL),
        }
        interrupt::unregister_group(pid);
        return None;
    }
    if !keep {
        // The leader is a zombie until reaped, so its process group id cannot be reused:
        // kill whatever it left behind before reaping it.
        signal_group(pid, Signal::KILL);
        reap(pid, f, namespaced.as_mut());
        interrupt::unregister_group(pid);
        return None;
    }
    let mut init = namespaced.take();
    match &mut init {
        // The init stays, unreaped, with its namespace: the status comes from its socket.
        Some(started) => {
            if let Some(status) = started.agent_status() {
                record_status(status, f);
            }
        }
        // The leader's status is read, but the leader stays a zombie until `kill_group`.
        None => peek_status(pid, f),
    }
    let zombie_leader = init.is_none();
    Some(Lingering {
        pgid: pid,
        init,
        zombie_leader,
    })
}

/// How an exited process ended, leaving it unreaped (`waitid` with `WNOWAIT`).
fn peek_status(pid: i32, f: &mut Finished) {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    let options = rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT;
    loop {
        match rustix::process::waitid(rustix::process::WaitId::Pid(p), options) {
            Ok(Some(st)) => {
                f.exit_code = st.exit_status();
                f.signal = st.terminating_signal();
                return;
            }
            Err(rustix::io::Errno::INTR) => continue,
            Ok(None) | Err(_) => {
                tracing::warn!(pid, "waitid found no exited setup process");
                return;
            }
        }
    }
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
    let mut slot = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    let ru = loop {
        // SAFETY: valid pointers to status and rusage; zero is a valid rusage, and wait4
        // fills it in on success (neither rustix nor std returns a child's rusage).
        let (r, ru) = unsafe {
            (
                libc::wait4(pid, &mut status, 0, slot.as_mut_ptr()),
                slot.assume_init(),
            )
        };
        if r == pid {
            break ru;
        }
        if r < 0 && std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
            continue;
        }
        tracing::warn!(pid, "wait4 failed: {}", std::io::Error::last_os_error());
        return;
    };
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
    let Some(p) = Pid::from_raw(pid) else {
        return true;
    };
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    matches!(
        rustix::process::waitid(WaitId::Pid(p), options),
        Ok(Some(_))
    )
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    rustix::process::pidfd_open(Pid::from_raw(pid)?, PidfdFlags::empty()).ok()
}

fn set_nonblocking(fd: impl AsFd) {
    if let Ok(flags) = rustix::fs::fcntl_getfl(&fd) {
        let _ = rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK);
    }
}
