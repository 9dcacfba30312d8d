//! A free TCP port reserved for each session (`{port}`, `REEV_PORT`), so that concurrent
//! sessions can each start their own service without fighting over one port.
//!
//! The port comes from the kernel (bind `127.0.0.1:0`), which never hands out a port that is
//! bound, so sessions of other reev processes on the machine get other ports too. The socket
//! is held until just before the session's first process starts, then closed so that the
//! session's own service can bind the port. From then until the session ends, the port stays
//! in this process's set of reserved ports, so no other session of this reev gets it; another
//! program asking the kernel for any free port in that short window could still get it (the
//! documented race).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Mutex;

static RESERVED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Tries before giving up; each try that hits a port reserved here keeps its socket bound,
/// so the kernel cannot offer the same port again.
const TRIES: usize = 64;

/// One session's port: bound until [`Reservation::release`], reserved until dropped.
#[derive(Debug)]
pub struct Reservation {
    pub port: u16,
    socket: Option<TcpListener>,
}

impl Reservation {
    /// A free port that no other session of this process holds.
    pub fn new() -> std::io::Result<Reservation> {
        let mut held = Vec::new();
        for _ in 0..TRIES {
            let socket = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
            let port = socket.local_addr()?.port();
            let mut reserved = RESERVED
                .lock()
                .map_err(|_| std::io::Error::other("port table poisoned"))?;
            if reserved.insert(port) {
                return Ok(Reservation {
                    port,
                    socket: Some(socket),
                });
            }
            held.push(socket);
        }
        Err(std::io::Error::other(format!(
            "no free TCP port on 127.0.0.1 after {TRIES} tries"
        )))
    }

    /// Close the socket so that the session's own processes can bind the port.
    pub fn release(&mut self) {
        self.socket = None;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Ok(mut reserved) = RESERVED.lock() {
            reserved.remove(&self.port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_distinct_and_released() {
        let a = Reservation::new().unwrap();
        let b = Reservation::new().unwrap();
        assert_ne!(a.port, b.port);
        let mut a = a;
        a.release();
        // Released: the port can be bound by the session now.
        TcpListener::bind((Ipv4Addr::LOCALHOST, a.port)).unwrap();
    }
}
