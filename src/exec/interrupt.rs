//! SIGINT/SIGTERM handling: stop launching, wake every running session so it kills its group.
//!
//! The first signal sets a flag and makes an eventfd readable; every session polls that fd
//! and terminates its process group (SIGTERM, then SIGKILL after the grace period). A second
//! signal SIGKILLs every registered group at once and exits.

use std::collections::HashSet;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static WAKE: OnceLock<OwnedFd> = OnceLock::new();
static GROUPS: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Install the handlers. Safe to call more than once; later calls do nothing.
pub fn install() -> std::io::Result<()> {
    if WAKE.get().is_some() {
        return Ok(());
    }
    // An ignored SIGCHLD survives exec (a parent may have set it): the kernel would then reap
    // every agent and namespace init itself, wait4 would fail, and sessions would lose their
    // exit status (or never finish). reev waits for its children, so back to the default.
    // SAFETY: signal with SIG_DFL installs no handler; called before any session starts.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    let flags = rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK;
    let owned = rustix::event::eventfd(0, flags)?;
    if WAKE.set(owned).is_err() {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM])?;
    std::thread::Builder::new()
        .name("reev-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if SIGNAL.swap(sig, Ordering::SeqCst) != 0 {
                    kill_all_groups();
                    std::process::exit(128 + sig);
                }
                tracing::warn!(signal = sig, "stopping: no new sessions; running sessions are being terminated (signal again to kill at once)");
                wake();
            }
        })?;
    Ok(())
}

/// The signal that asked reev to stop, if any.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// A descriptor that becomes readable (and stays readable) once a stop is requested.
pub fn wake_fd() -> Option<BorrowedFd<'static>> {
    WAKE.get().map(|fd| fd.as_fd())
}

fn wake() {
    if let Some(fd) = wake_fd() {
        let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
    }
}

/// Remember a running session's process group so a second signal can kill it.
pub fn register_group(pgid: i32) {
    if let Ok(mut g) = GROUPS.lock() {
        g.get_or_insert_with(HashSet::new).insert(pgid);
    }
}

pub fn unregister_group(pgid: i32) {
    if let Ok(mut g) = GROUPS.lock() {
        if let Some(set) = g.as_mut() {
            set.remove(&pgid);
        }
    }
}

fn kill_all_groups() {
    if let Ok(g) = GROUPS.lock() {
        for pgid in g.iter().flatten() {
            if let Some(pgid) = rustix::process::Pid::from_raw(*pgid) {
                let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
            }
        }
    }
}
