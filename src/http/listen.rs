//! Binding a listener so that no connect waits on an idle server.
//!
//! Two causes made one in every 130-200 serial connects wait a second
//! (a dropped SYN, counted by the kernel as `ListenOverflows`):
//! - **std's listen backlog of 128.** Any pause of the loop longer than
//!   128 connects (5 ms of a fast client) overflows it, and the client's
//!   SYN is retried only after 1 s. We listen with room for the whole
//!   connection cap (up to the kernel's `somaxconn`), as nginx does with
//!   511 and Go with `somaxconn`; std cannot set it, `socket2` can.
//! - **Growing the descriptor table while other threads run.** Linux
//!   doubles a process's file table at 256, 512, 1024, … descriptors, and
//!   in a multi-threaded process each doubling waits for an RCU grace
//!   period: `accept` of descriptor 256 took 13 ms and of 512 took 21 ms
//!   here. `reserve_descriptors` grows the table once at start, before
//!   any thread, for the first `RESERVE_AT_MOST` descriptors; the
//!   doublings past that happen under load, and the backlog absorbs them.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

/// Descriptors grown for at start, at most: each costs start-up time (a
/// `dup` and a `close`, about 0.5 ms for 1 000), and the start-up budget
/// is 4 ms. Past this the table still doubles under load, one grace period
/// each time (at 1 024, 2 048, …), which the backlog absorbs.
pub const RESERVE_AT_MOST: usize = 448;

/// The kernel caps any backlog at `net.core.somaxconn` (4096 by default).
const MAX_BACKLOG: usize = 4096;

/// A non-blocking listener on `addr` with a backlog of `backlog` (clamped
/// to 128..=4096).
pub fn bind(addr: &str, backlog: usize) -> io::Result<TcpListener> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for a in addr.to_socket_addrs()? {
        match bind_one(a, backlog) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn bind_one(addr: SocketAddr, backlog: usize) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std does: a restarted plugin can bind at once (TIME_WAIT).
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    let backlog = i32::try_from(backlog.clamp(128, MAX_BACKLOG)).unwrap_or(128);
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Grows this process's descriptor table to hold `n` more descriptors,
/// while it is still single-threaded: opens that many duplicates of one
/// descriptor and closes them. Stops early at the process's limit (what
/// it could not reserve, accept will grow later, slowly). Returns how many
/// it reserved.
pub fn reserve_descriptors(n: usize) -> usize {
    let Ok(null) = std::fs::File::open("/dev/null") else {
        return 0;
    };
    let mut held = Vec::with_capacity(n);
    while held.len() < n {
        match null.try_clone() {
            Ok(f) => held.push(f),
            Err(_) => break,
        }
    }
    held.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_non_blocking() {
        let l = bind("127.0.0.1:0", 1024).unwrap();
        assert!(l
            .accept()
            .is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock));
        assert!(bind("127.0.0.1:0", 10).is_ok(), "clamped up to 128");
        assert!(
            bind(&l.local_addr().unwrap().to_string(), 128).is_err(),
            "in use"
        );
    }

    #[test]
    fn reserving_descriptors_stops_at_what_it_was_asked() {
        assert_eq!(reserve_descriptors(50), 50);
    }
}
