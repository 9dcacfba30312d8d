//! reev's side of starting a namespaced session process (see `namespace`): each worker
//! thread starts one `reev-init` with std's `Command` (posix_spawn: no page table of reev
//! copied, no code of reev's run in the child) and sends it one
//! [`Request`](reev_sandbox::Request) per process, with the process's own session socket
//! and stdio; `reev-init` clones itself into the session's namespaces as its PID 1 — reev's child, in a
//! process group of its own — and reev waits on the session socket for `Started` (the
//! program has exec'd) or `Failed`. Exec'ing `reev-init` once per session instead cost
//! about a millisecond each (loading a program), more than the rest of a session.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use reev_sandbox::{message, Request, Status, Step};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::namespace::{self, Plan};

/// A started session process: its init's pid (also its process group) and the socket
/// on which the init reports.
pub struct Started {
    pub pid: libc::pid_t,
    socket: OwnedFd,
    /// Not yet waited for: dropping kills and reaps it.
    unreaped: bool,
}

impl Started {
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
    pub fn agent_status(&self) -> Option<i32> {
        loop {
            match message::recv_status(&self.socket) {
                Ok(Some(Status::Exited { status })) => return Some(status),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
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

thread_local! {
    static ZYGOTE: std::cell::RefCell<Option<Zygote>> = const { std::cell::RefCell::new(None) };
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
    fds.extend(plan.netns());
    let pid = fork_session(request, &fds)?;
    drop(fds);
    drop((theirs, stdin_r, stdout_w, stderr_w));
    let mut started = Started {
        pid,
        socket: ours,
        unreaped: true,
    };
    match message::recv_status(&started.socket)? {
        Some(Status::Started { .. }) => Ok((started, [stdin_w, stdout_r, stderr_r])),
        Some(Status::Failed {
            step,
            errno,
            message,
        }) => {
            drop(started); // kills and reaps the init
                           // An exec failure reads as std's would ("No such file or directory"); others
                           // say which step of entering the namespaces failed.
            let kind = io::Error::from_raw_os_error(errno).kind();
            Err(match step {
                Step::Exec => io::Error::from_raw_os_error(errno),
                _ => io::Error::new(kind, format!("{step}: {message}")),
            })
        }
        other => {
            started.reaped(); // reaped below, with its status
            let status = child_status(started.pid);
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
