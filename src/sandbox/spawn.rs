//! reev's side of starting a namespaced session process (see `namespace`): each worker
//! thread starts one `reev-init` with std's `Command` (posix_spawn: no page table of reev
//! copied, no code of reev's run in the child) and sends it one
//! [`Request`](reev_sandbox::Request) per process, with the process's own session socket
//! and stdio; `reev-init` clones itself into the session's namespaces as its PID 1 — reev's child, in a
//! process group of its own — and reev waits on the session socket for `Started` (the
//! program has exec'd) or `Failed`. Exec'ing `reev-init` once per session instead cost
//! about a millisecond each (loading a program), more than the rest of a session.
//!
//! Most processes do not get namespaces of their own, though: a worker keeps resident
//! inits ([`Resident`]), each PID 1 of namespaces made once, and sends each process that
//! fits one to it (a clone of the zygote per process cost as much again as the session).
//! Such a process is not reev's child: its end is the `Exited` its init reports, with the
//! rusage reev cannot `wait4` for.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use reev_sandbox::{message, Request, Status, Step, Usage};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::namespace::{self, Plan};

/// A started session process: its init's pid (also its process group) and the socket
/// on which the init reports.
pub struct Started {
    pub pid: libc::pid_t,
    socket: OwnedFd,
    /// Not yet waited for: dropping kills and reaps it.
    unreaped: bool,
    /// Started by this worker's resident init (`pid`), which outlives the process: its end
    /// is the `Exited` report (or the init's death), not the init's exit.
    resident: bool,
    /// `Exited` was read.
    ended: bool,
}

impl Started {
    /// Whether the process runs in this worker's resident init (see [`Started::resident`]).
    pub fn in_resident(&self) -> bool {
        self.resident
    }

    /// The process's raw wait status and, from a resident init, what it used; `None` when
    /// the init was killed before it could report.
    pub fn exit(&mut self) -> Option<(i32, Option<Usage>)> {
        loop {
            match message::recv_status(&self.socket) {
                Ok(Some(Status::Exited {
                    status,
                    usage,
                    retired,
                })) => {
                    self.ended = true;
                    if retired {
                        forget_resident(self.pid);
                    }
                    return Some((status, usage));
                }
                Ok(Some(_)) => continue,
                _ => {
                    if self.resident {
                        // Killed, or wedged: not to be sent another process.
                        self.ended = true;
                        forget_resident(self.pid);
                    }
                    return None;
                }
            }
        }
    }

    /// The init has been reaped.
    pub fn reaped(&mut self) {
        self.unreaped = false;
    }

    /// Readable when the init has reported the program's end (or is gone): how a lingering
    /// setup's init, which does not exit, tells that its command ended.
    pub fn status_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// The program's raw wait status, as the init reported it (None: the init was killed
    /// before it could).
    pub fn agent_status(&mut self) -> Option<i32> {
        self.exit().map(|(status, _)| status)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if self.resident && !self.ended {
            // Abandoned while it runs (reev is unwinding): the resident init goes with it,
            // and this worker's next process gets a new one.
            if let Some(pid) = rustix::process::Pid::from_raw(self.pid) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            return;
        }
        if self.unreaped {
            // An init still runs (reev is unwinding, or a lingering setup is over): its
            // death ends its PID namespace and all in it.
            let Some(pid) = rustix::process::Pid::from_raw(self.pid) else {
                return;
            };
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            while let Err(rustix::io::Errno::INTR) =
                rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
            {
            }
        }
    }
}

/// This worker's `reev-init`, serving its sessions one at a time (see the crate's `init`):
/// exec'd once per worker thread, it clones itself for each session, so that a session
/// costs no program load.
struct Zygote {
    control: OwnedFd,
    pid: rustix::process::Pid,
}

impl Zygote {
    fn start() -> io::Result<Zygote> {
        let init = namespace::init_program().map_err(io::Error::other)?;
        let (ours, theirs) = seqpacket()?;
        // An empty environment: each request carries its process's.
        let child = Command::new(init)
            .env_clear()
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot start {}: {e}", init.display()))
            })?;
        let pid = rustix::process::Pid::from_raw(child.id() as i32)
            .ok_or_else(|| io::Error::other("reev-init has no pid"))?;
        Ok(Zygote { control: ours, pid })
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        // Closing the control socket ends it; then it is reaped.
        let _ = rustix::net::shutdown(&self.control, rustix::net::Shutdown::Both);
        let _ = rustix::process::waitpid(Some(self.pid), rustix::process::WaitOptions::empty());
    }
}

/// One of this worker's resident inits (see the crate's `init`): PID 1 of the namespaces it was
/// made for, running every later process that fits them, one at a time — a process start
/// each, where a namespace per process costs a copy of `reev-init` too. reev's child.
struct Resident {
    /// The request it was made with (no program: no argv, environment or directory).
    made: Request,
    control: OwnedFd,
    pid: libc::pid_t,
    /// The files and directories it mounted (read-only and writable), held open as they
    /// were when it made the mounts (held, so that their inode numbers cannot be given to
    /// a new file): one replaced since — reev recreates what an agent swapped for a link or
    /// a FIFO, an editor saves a config by renaming — is not what the mount shows, so a new
    /// resident init is made.
    sources: Vec<(std::path::PathBuf, Option<OwnedFd>)>,
}

impl Resident {
    /// Ask the zygote for a resident init in the namespaces `request` needs.
    fn start(request: &Request, plan: &Plan) -> io::Result<Resident> {
        let made = Request {
            argv: Vec::new(),
            env: Vec::new(),
            cwd: "/".into(),
            resident: true,
            ..request.clone()
        };
        let (ours, theirs) = seqpacket()?;
        let null = std::fs::File::open("/dev/null")?;
        let mut fds: Vec<BorrowedFd> = vec![theirs.as_fd(), null.as_fd(), null.as_fd()];
        fds.push(null.as_fd());
        fds.extend(plan.netns());
        let pid = fork_session(&made, &fds)?;
        drop(fds);
        drop(theirs);
        let sources = (made.mounts.read_only.iter())
            .chain(&made.mounts.writable)
            .map(|p| {
                let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC;
                let fd = rustix::fs::open(p, flags, rustix::fs::Mode::empty()).ok();
                (p.clone(), fd)
            })
            .collect();
        let resident = Resident {
            made,
            control: ours,
            pid,
            sources,
        };
        match message::recv_status(&resident.control)? {
            Some(Status::Serving) => Ok(resident),
            Some(Status::Failed {
                step,
                errno,
                message,
            }) => {
                let kind = io::Error::from_raw_os_error(errno).kind();
                Err(io::Error::new(kind, format!("{step}: {message}")))
            }
            other => Err(io::Error::other(format!(
                "reev-init's resident init ended without serving (it said {other:?})"
            ))),
        }
    }
}

impl Resident {
    /// Does every path it mounted still lead to what it mounted?
    fn mounts_current(&self) -> bool {
        let id = |st: rustix::fs::Stat| (st.st_dev, st.st_ino);
        self.sources.iter().all(|(path, held)| {
            let now = rustix::fs::stat(path).ok().map(id);
            let then = held
                .as_ref()
                .and_then(|fd| rustix::fs::fstat(fd).ok())
                .map(id);
            now == then
        })
    }
}

/// Take the resident init with this pid out of this worker's (killed and reaped): it
/// retired, or it died or stopped answering with a process.
pub fn forget_resident(pid: libc::pid_t) {
    RESIDENTS.with(|cell| cell.borrow_mut().retain(|r| r.pid != pid));
}

impl Drop for Resident {
    fn drop(&mut self) {
        // Nothing of it is kept: killed (its namespace with it) and reaped, whatever it did.
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            while let Err(rustix::io::Errno::INTR) =
                rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
            {
            }
        }
    }
}

/// How many resident inits a worker keeps, for as many kinds of session (sandboxed or not,
/// network or not) taking turns on it; the longest unused goes first.
const MAX_RESIDENTS: usize = 4;

thread_local! {
    static ZYGOTE: std::cell::RefCell<Option<Zygote>> = const { std::cell::RefCell::new(None) };
    static RESIDENTS: std::cell::RefCell<Vec<Resident>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// End this worker thread's resident init and zygote, and reap them (their CPU time, and
/// that of every process they reaped, is then reev's children's): when a run's sessions
/// are done. They would otherwise end with the thread (their death signal), unreaped.
pub fn release_worker() {
    RESIDENTS.with(|cell| cell.borrow_mut().clear());
    ZYGOTE.with(|cell| cell.borrow_mut().take());
}

/// Send `request` to this worker's resident init, made (again) when there is none that it
/// fits, or when the last one is gone (killed with a process that outlived its grace
/// period); the resident init's pid.
fn in_resident(request: &Request, plan: &Plan, fds: &[BorrowedFd]) -> io::Result<libc::pid_t> {
    RESIDENTS.with(|cell| {
        let mut residents = cell.borrow_mut();
        for _ in 0..2 {
            let found = residents.iter().position(|r| request.fits(&r.made));
            let i = match found {
                // Kept last: the longest unused goes first when a fifth kind comes.
                Some(i) if residents[i].mounts_current() => {
                    let used = residents.remove(i);
                    residents.push(used);
                    residents.len() - 1
                }
                _ => {
                    if let Some(i) = found {
                        residents.remove(i);
                        // Its namespaces came from the zygote, whose own protected mounts
                        // (see the crate's `shared_mounts`) are as old: a new one too.
                        ZYGOTE.with(|z| z.borrow_mut().take());
                    }
                    if residents.len() >= MAX_RESIDENTS {
                        residents.remove(0);
                    }
                    residents.push(Resident::start(request, plan)?);
                    residents.len() - 1
                }
            };
            match message::send_request(&residents[i].control, request, fds) {
                Ok(()) => return Ok(residents[i].pid),
                Err(_) => drop(residents.remove(i)),
            }
        }
        Err(io::Error::other(
            "reev-init's resident init ended unexpectedly (twice in a row)",
        ))
    })
}

/// Send one request to this worker's `reev-init` (started on first use, again if it died);
/// the pid of the session's init (PID 1 of its namespace, reev's child).
fn fork_session(request: &Request, fds: &[BorrowedFd]) -> io::Result<libc::pid_t> {
    ZYGOTE.with(|cell| {
        let mut slot = cell.borrow_mut();
        for _ in 0..2 {
            if slot.is_none() {
                *slot = Some(Zygote::start()?);
            }
            let Some(zygote) = slot.as_ref() else {
                continue;
            };
            let sent = message::send_request(&zygote.control, request, fds);
            match sent.and_then(|()| message::recv_status(&zygote.control)) {
                Ok(Some(Status::Forked { pid })) => return Ok(pid),
                Ok(Some(Status::Failed { step, message, .. })) => {
                    return Err(io::Error::other(format!("{step}: {message}")))
                }
                // Gone (or talking nonsense): a fresh one, once.
                Ok(_) | Err(_) => *slot = None,
            }
        }
        Err(io::Error::other(
            "reev-init ended unexpectedly (twice in a row); see its message above",
        ))
    })
}

/// Start `request`'s program (see [`Plan::request`]) through `reev-init` in the namespaces
/// of `plan`. Returns once it has exec'd, with reev's ends of its stdin, stdout and stderr.
pub fn spawn(request: &Request, plan: &Plan) -> io::Result<(Started, [OwnedFd; 3])> {
    let (ours, theirs) = seqpacket()?;
    let (stdin_r, stdin_w) = pipe()?;
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    let mut fds: Vec<BorrowedFd> = vec![
        theirs.as_fd(),
        stdin_r.as_fd(),
        stdout_w.as_fd(),
        stderr_w.as_fd(),
    ];
    let resident = request.may_be_resident();
    let pid = if resident {
        in_resident(request, plan, &fds)?
    } else {
        fds.extend(plan.netns());
        fork_session(request, &fds)?
    };
    drop(fds);
    drop((theirs, stdin_r, stdout_w, stderr_w));
    let mut started = Started {
        pid,
        socket: ours,
        unreaped: !resident,
        resident,
        ended: false,
    };
    match message::recv_status(&started.socket)? {
        Some(Status::Started { .. }) => Ok((started, [stdin_w, stdout_r, stderr_r])),
        Some(Status::Failed {
            step,
            errno,
            message,
        }) => {
            // A per-session init is killed and reaped; a resident one serves on.
            started.ended = true;
            drop(started);
            // An exec failure reads as std's would ("No such file or directory"); others say
            // which step of entering the namespaces failed.
            let kind = io::Error::from_raw_os_error(errno).kind();
            Err(match step {
                Step::Exec => io::Error::from_raw_os_error(errno),
                _ => io::Error::new(kind, format!("{step}: {message}")),
            })
        }
        other => {
            let status = if resident {
                // Gone or confused: killed and reaped here (not by `started`, whose pid may
                // be another process's once reaped); this worker's next process gets a new one.
                started.ended = true;
                forget_resident(pid);
                String::from("the resident init")
            } else {
                started.reaped(); // reaped below, with its status
                child_status(started.pid)
            };
            drop(started);
            Err(io::Error::other(format!(
                "reev-init ended without starting the program ({}; {status})",
                match other {
                    Some(s) => format!("it said {s:?}"),
                    None => "it said nothing".to_string(),
                }
            )))
        }
    }
}

fn seqpacket() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Reap a failed init and say how it ended.
fn child_status(pid: libc::pid_t) -> String {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return String::new();
    };
    match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
        Ok(Some((_, st))) => format!("wait status {:#x}", st.as_raw()),
        Ok(None) => "not reaped".to_string(),
        Err(e) => format!("wait: {e}"),
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = io::pipe()?;
    Ok((OwnedFd::from(r), OwnedFd::from(w)))
}
