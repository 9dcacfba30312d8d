//! `network: none` without a new network namespace per session: creating one (loopback,
//! sysctl tables, devices) and tearing it down was most of what the sandbox cost beyond a
//! PID namespace. Each worker thread gets one empty network namespace, made once, which the
//! sessions it runs — one at a time — enter (`reev-init` joins the descriptor passed to it,
//! before it makes its user namespace). Only as root: an unprivileged session's namespaces
//! belong to its own user namespace, which could not enter it.

use std::cell::OnceCell;
use std::os::fd::OwnedFd;

thread_local! {
    static EMPTY: OnceCell<Option<OwnedFd>> = const { OnceCell::new() };
}

/// This worker's empty network namespace (a descriptor of its own), made on first use;
/// `None` when not root or when the kernel refuses (the session then gets a network
/// namespace of its own).
pub fn for_this_worker() -> Option<OwnedFd> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    EMPTY.with(|cell| cell.get_or_init(make).as_ref()?.try_clone().ok())
}

/// A throwaway thread unshares its network namespace and hands back a descriptor of it;
/// the namespace lives as long as the descriptor.
fn make() -> Option<OwnedFd> {
    let made = std::thread::Builder::new()
        .name("reev-netns".into())
        .spawn(|| -> std::io::Result<OwnedFd> {
            // SAFETY: CLONE_NEWNET changes only this throwaway thread's network namespace;
            // it shares no descriptor table or filesystem state change with others.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }?;
            Ok(std::fs::File::open("/proc/thread-self/ns/net")?.into())
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
