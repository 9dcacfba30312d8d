//! SIGINT/SIGTERM handling: stop launching, wake every running session so it kills its group.
//!
//! The first signal sets a flag and makes an eventfd readable; every session polls that fd
//! and terminates its process group (SIGTERM, then SIGKILL after the grace period). A second
//! signal SIGKILLs every registered group at once and exits.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
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
    // SAFETY: eventfd has no memory-safety preconditions; we check the result.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that we own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
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
pub fn wake_fd() -> Option<RawFd> {
    WAKE.get().map(|fd| fd.as_raw_fd())
}

fn wake() {
    if let Some(fd) = wake_fd() {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a valid u64 to an eventfd.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
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
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}
