//! reev's side of starting a namespaced session (see `namespace` for the process tree):
//! everything the init and the agent need is prepared here — vectors, pipes, a stack — then
//! one `clone(CLONE_VM | namespaces)`, and the thread waits for the agent to have exec'd.
//! Like posix_spawn, no page table of reev is copied: that was most of the cost of
//! containment (see README, "Sandbox").

use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::OnceLock;

use super::namespace::{self, Launch, Plan, Step};
use super::process::Spawn;

/// 64 KiB, not one 4 KiB page: mprotect needs page-aligned offsets, and Linux pages are up to
/// 64 KiB (aarch64 kernels built for 16 or 64 KiB pages would refuse a 4 KiB guard at 68 KiB,
/// failing every namespaced session); a wider guard also cannot be jumped by a large signal
/// frame (AVX-512/AMX state) landing on an almost full stack. PROT_NONE costs no memory.
const GUARD: usize = 64 * 1024;
/// Both multiples of 64 KiB, for the same reason.
const AGENT_STACK: usize = 64 * 1024;
const INIT_STACK: usize = 128 * 1024;

/// A started session: its init's pid (also its process group), the status pipe, the stack.
pub struct Started {
    pub pid: libc::pid_t,
    status: OwnedFd,
    stack: Stack,
}

impl Started {
    /// The init has been reaped: its stack may be freed.
    pub fn reaped(&mut self) {
        self.stack.pid = 0;
    }

    /// The pipe that becomes readable when the init has written the agent's status: how a
    /// lingering init (which does not exit) tells that its setup command ended.
    pub fn status_fd(&self) -> RawFd {
        self.status.as_raw_fd()
    }

    /// The agent's raw wait status, as the init reported it (None: the init was killed first).
    pub fn agent_status(&self) -> Option<i32> {
        let mut raw = [0u8; 4];
        let mut file = std::fs::File::from(self.status.try_clone().ok()?);
        set_nonblocking(file.as_raw_fd());
        match file.read(&mut raw) {
            Ok(4) => Some(i32::from_ne_bytes(raw)),
            _ => None,
        }
    }
}

/// The memory the init and the agent run on, in reev's address space:
/// [guard][agent stack][guard][init stack].
struct Stack {
    base: *mut libc::c_void,
    len: usize,
    /// The init running on it, until reaped (0 then).
    pid: libc::pid_t,
}

impl Stack {
    fn new() -> io::Result<Stack> {
        let len = 2 * GUARD + AGENT_STACK + INIT_STACK;
        // SAFETY: a fresh anonymous mapping; we check the result.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Stack { base, len, pid: 0 };
        for offset in [0, GUARD + AGENT_STACK] {
            // SAFETY: both guard pages lie inside the mapping.
            if unsafe { libc::mprotect(stack.at(offset), GUARD, libc::PROT_NONE) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(stack)
    }

    fn at(&self, offset: usize) -> *mut libc::c_void {
        // SAFETY: callers pass offsets within (or one past) the mapping.
        unsafe { self.base.cast::<u8>().add(offset).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.pid > 0 {
            // An init still runs on this memory (reev is unwinding, or the agent never
            // started): it must be gone before the memory is.
            // SAFETY: our own unreaped child; kill and waitpid take plain values.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                let mut st = 0;
                while libc::waitpid(self.pid, &mut st, libc::__WALL) < 0
                    && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
                {
                }
            }
        }
        // SAFETY: our mapping, which nothing runs on any more.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Start `spec`'s agent in the namespaces of `plan`. Returns once the agent has exec'd, with
/// reev's ends of its stdin, stdout and stderr.
pub fn spawn(spec: &Spawn, plan: &Plan) -> io::Result<(Started, [OwnedFd; 3])> {
    let env = environment(spec);
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let candidates = candidates(&spec.argv[0], path)?;
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| cstring(a.as_bytes().to_vec()))
        .collect::<io::Result<_>>()?;
    let envp: Vec<CString> = env
        .into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            cstring(kv)
        })
        .collect::<io::Result<_>>()?;
    let cwd = namespace::path_cstring(spec.cwd)?;
    let (argv_ptrs, envp_ptrs) = (nul_terminated(&argv), nul_terminated(&envp));
    let cand_ptrs: Vec<*const libc::c_char> = candidates.iter().map(|c| c.as_ptr()).collect();

    let (stdin_r, stdin_w) = pipe()?;
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    let (setup_r, setup_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let mut stack = Stack::new()?;
    let launch = Launch {
        plan,
        candidates: &cand_ptrs,
        argv: argv_ptrs.as_ptr(),
        envp: envp_ptrs.as_ptr(),
        cwd: &cwd,
        stdio: [
            stdin_r.as_raw_fd(),
            stdout_w.as_raw_fd(),
            stderr_w.as_raw_fd(),
        ],
        setup: setup_w.as_raw_fd(),
        status: status_w.as_raw_fd(),
        reev_gone: reev_pidfd(),
        agent_stack: stack.at(GUARD + AGENT_STACK),
        linger: spec.linger,
    };
    stack.pid = clone_init(&launch, stack.at(stack.len))
        .map_err(|e| io::Error::new(e.kind(), format!("creating the session's namespaces: {e}")))?;
    drop((stdin_r, stdout_w, stderr_w, setup_w, status_w));
    // Blocked here until the agent has exec'd or a step failed: `launch` (and all it points
    // at) lives to the end of this function, past this read.
    let (report, got) = read_report(&setup_r)?;
    if got == report.len() {
        let code = i32::from_ne_bytes([report[0], report[1], report[2], report[3]]);
        let errno = i32::from_ne_bytes([report[4], report[5], report[6], report[7]]);
        drop(stack); // kills and reaps the init
        let e = io::Error::from_raw_os_error(errno);
        // An exec failure reads as std's would ("No such file or directory"); others say
        // which step of entering the namespaces failed.
        return Err(match namespace::describe_step(code) {
            Some(step) if code != Step::Exec as i32 => {
                io::Error::new(e.kind(), format!("{step}: {e}"))
            }
            _ => e,
        });
    }
    let started = Started {
        pid: stack.pid,
        status: status_r,
        stack,
    };
    Ok((started, [stdin_w, stdout_r, stderr_r]))
}

/// Read the setup pipe to end of file: the step and errno a failed step wrote (8 bytes), or
/// nothing once the agent has exec'd. Through `rawsys`, not std: the init shares this
/// thread's `errno` and reads it after its own failed calls, so this thread must not write
/// it until released (std's `read_to_end` would, with the ESPIPE of an `lseek` on the pipe,
/// or a retried EINTR) — a failed step could otherwise be reported with reev's errno.
fn read_report(setup: &OwnedFd) -> io::Result<([u8; 8], usize)> {
    let mut report = [0u8; 8];
    let mut got = 0;
    loop {
        let mut chunk = [0u8; 8];
        let n = super::rawsys::read(setup.as_raw_fd(), &mut chunk);
        if n == -(libc::EINTR as isize) {
            continue;
        }
        if n < 0 {
            // Not seen on a pipe; the caller's `?` drops the stack, which kills the init.
            return Err(io::Error::from_raw_os_error(-n as i32));
        }
        if n == 0 {
            return Ok((report, got)); // the init and the agent closed it
        }
        let n = n as usize;
        let take = n.min(report.len() - got);
        report[got..got + take].copy_from_slice(&chunk[..take]);
        got += take;
    }
}

/// `clone` the init with every signal blocked, so that none runs reev's handlers in it
/// before it has reset them.
fn clone_init(launch: &Launch, stack_top: *mut libc::c_void) -> io::Result<libc::pid_t> {
    // SAFETY: sigset_t is plain data; pthread_sigmask and clone get valid pointers; the init
    // runs `init_main` on its own stack and reads `launch`, which the caller keeps alive and
    // unchanged until the init has closed the setup pipe.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            namespace::init_main,
            stack_top,
            launch.plan.clone_flags() | libc::CLONE_VM | libc::SIGCHLD,
            launch as *const Launch as *mut libc::c_void,
        );
        let err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(err);
        }
        Ok(pid)
    }
}

/// The agent's environment: reev's (or none, with a sandbox's `env:`), then the session's.
fn environment(spec: &Spawn) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = if spec.env_clear {
        Vec::new()
    } else {
        std::env::vars_os().collect()
    };
    for (k, v) in spec.env {
        env.retain(|(key, _)| key != OsStr::new(k));
        env.push((k.into(), v.into()));
    }
    env
}

/// Where execvp would look for `program`: itself when it has a slash, else each directory of
/// the agent's PATH (the C library's default when it has none).
fn candidates(program: &str, path: Option<&OsStr>) -> io::Result<Vec<CString>> {
    if program.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    if program.contains('/') {
        return Ok(vec![cstring(program.as_bytes().to_vec())?]);
    }
    let path = path.unwrap_or(OsStr::new("/bin:/usr/bin"));
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let mut full = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            full.push(b'/');
            full.extend_from_slice(program.as_bytes());
            cstring(full)
        })
        .collect()
}

fn cstring(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "an argument or environment variable contains a NUL byte",
        )
    })
}

fn nul_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = io::pipe()?;
    Ok((OwnedFd::from(r), OwnedFd::from(w)))
}

/// A pidfd of reev itself, opened once: the init polls it to learn whether reev died before
/// the init asked to die with it. -1 where the kernel has no pidfds.
fn reev_pidfd() -> RawFd {
    static FD: OnceLock<Option<OwnedFd>> = OnceLock::new();
    FD.get_or_init(|| {
        // SAFETY: pidfd_open takes a pid and flags; we check the result.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), 0) };
        // SAFETY: a fresh descriptor that we own.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    })
    .as_ref()
    .map_or(-1, |fd| fd.as_raw_fd())
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}
