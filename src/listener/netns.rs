//! The listener inside a worker's empty network namespace (`network: none` as root): the
//! namespace's loopback brought up and the run's port bound on it, so a sandboxed agent
//! reaches reev's listener there and nothing else (the namespace has no other interface).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::ListenerError;

/// Device and inode of a namespace descriptor: one namespace, however many descriptors.
pub fn identity(netns: BorrowedFd) -> Result<(u64, u64), ListenerError> {
    let st = rustix::fs::fstat(netns)
        .map_err(|e| ListenerError::io("cannot stat the network namespace", e))?;
    Ok((st.st_dev, st.st_ino))
}

/// A listening socket on 127.0.0.1:`port` inside the namespace `netns`, made by a throwaway
/// thread that enters it (a socket stays in the namespace it was created in).
pub fn bind_inside(netns: OwnedFd, port: u16) -> Result<std::net::TcpListener, ListenerError> {
    std::thread::Builder::new()
        .name("reev-netns-listen".into())
        .spawn(move || {
            rustix::thread::move_into_link_name_space(
                netns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .map_err(|e| ListenerError::io("cannot enter the worker's network namespace", e))?;
            loopback_up()
                .map_err(|e| ListenerError::io("cannot bring up lo in the network namespace", e))?;
            let l = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
                let what = format!("cannot listen on 127.0.0.1:{port} in the network namespace");
                ListenerError::io(what, e)
            })?;
            l.set_nonblocking(true).map_err(|e| {
                ListenerError::io("cannot make the namespace's listener non-blocking", e)
            })?;
            Ok(l)
        })
        .map_err(|e| ListenerError::io("cannot start a thread to enter the network namespace", e))?
        .join()
        .map_err(|_| ListenerError::NetnsThreadPanicked)?
}

/// `ip link set lo up` in the calling thread's network namespace.
fn loopback_up() -> std::io::Result<()> {
    // lo is down, so 127.0.0.1 cannot be bound yet: any socket serves the ioctl.
    let sock = std::net::UdpSocket::bind(("0.0.0.0", 0))?;
    // SAFETY: ifreq is plain data, zero is a valid value for all of it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own; the socket is open.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
