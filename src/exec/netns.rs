//! `network: none` without a new network namespace per session: creating one (loopback,
//! sysctl tables, devices) and tearing it down was most of what the sandbox cost beyond a
//! PID namespace. Each worker thread gets one empty network namespace, made once, which the
//! sessions it runs — one at a time — enter with setns. Only as root: an unprivileged
//! session's namespaces belong to its own user namespace, which could not enter it.

use std::cell::OnceCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

thread_local! {
    static EMPTY: OnceCell<Option<OwnedFd>> = const { OnceCell::new() };
}

/// This worker's empty network namespace, made on first use; `None` when not root or when
/// the kernel refuses (the session then gets a network namespace of its own).
pub fn for_this_worker() -> Option<RawFd> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    EMPTY.with(|cell| cell.get_or_init(make).as_ref().map(|fd| fd.as_raw_fd()))
}

/// A throwaway thread unshares its network namespace and hands back a descriptor of it;
/// the namespace lives as long as the descriptor.
fn make() -> Option<OwnedFd> {
    let made = std::thread::Builder::new()
        .name("reev-netns".into())
        .spawn(|| {
            // SAFETY: unshare and open take plain values and a static path; results checked.
            unsafe {
                if libc::unshare(libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let fd = libc::open(
                    c"/proc/thread-self/ns/net".as_ptr(),
                    libc::O_RDONLY | libc::O_CLOEXEC,
                );
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(OwnedFd::from_raw_fd(fd))
            }
        })
        .ok()?
        .join()
        .ok()?;
    match made {
        Ok(fd) => Some(fd),
        Err(e) => {
            tracing::debug!("no shared empty network namespace ({e}); one per session instead");
            None
        }
    }
}
