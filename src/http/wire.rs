//! A connection's socket and buffers: bounded reads, writes until the
//! socket would block, and the clock and byte count of the current phase
//! that deadlines and eviction go by. It knows nothing of requests or of
//! the service (`conn.rs` does), so it is compiled once for every loop.

use std::io::{ErrorKind, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;

/// Read in pieces of this size; also the largest buffer an idle
/// connection keeps between requests.
const CHUNK: usize = 16 * 1024;

/// Edge-triggered readiness: each flag is true from an event until the
/// socket says `WouldBlock` (or, for reading, a read comes back short);
/// `read_closed` once an event said the client's end is shut (then reads
/// go on to the end of stream); `eof` once a read found it.
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
    pub read_closed: bool,
    pub eof: bool,
}

pub struct Wire {
    pub stream: TcpStream,
    pub ready: Readiness,
    pub inbuf: Vec<u8>,
    pub out: Vec<u8>,
    /// How much of `out` the socket has taken.
    pub written: usize,
    /// When the current phase began.
    pub since: Instant,
    /// Bytes moved in the current phase: what eviction calls progress.
    pub progress: usize,
}

impl Wire {
    pub fn new(stream: TcpStream, now: Instant) -> Self {
        Wire {
            stream,
            ready: Readiness {
                readable: true,
                writable: true,
                read_closed: false,
                eof: false,
            },
            inbuf: Vec::new(),
            out: Vec::new(),
            written: 0,
            since: now,
            progress: 0,
        }
    }

    /// Seconds per byte of progress in the current phase: the connection
    /// with the highest score has made the least progress for the longest.
    pub fn eviction_score(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.since).as_secs_f64() / (self.progress as f64 + 1.0)
    }

    pub fn begin(&mut self, now: Instant) {
        self.since = now;
        self.progress = self.inbuf.len();
    }

    /// Gives back buffers grown past a chunk (an idle connection holds
    /// none larger).
    pub fn shrink(&mut self) {
        if self.out.capacity() > CHUNK {
            self.out = Vec::new();
        }
        if self.inbuf.is_empty() && self.inbuf.capacity() > CHUNK {
            self.inbuf = Vec::new();
        }
    }

    /// Reads until `WouldBlock`, a short read, end of stream, or a full
    /// buffer; false on a broken connection. A read that fills less than
    /// it asked for has emptied the socket (edge-triggered readiness: more
    /// data brings a new event), so asking again would only hear
    /// `WouldBlock`, one system call per request for nothing (nginx does
    /// not ask either); unless the client's end is shut, when the next
    /// read finds the end of stream. The buffer grows exactly, never past
    /// `cap`. The first byte restarts the phase clock if it
    /// `starts_request`.
    pub fn read(&mut self, cap: usize, starts_request: bool) -> bool {
        let mut chunk = [0u8; CHUNK];
        loop {
            let room = cap.saturating_sub(self.inbuf.len()).min(CHUNK);
            if room == 0 {
                // Stay readable: the rest is read once this buffer drains.
                return true;
            }
            let Some(buf) = chunk.get_mut(..room) else {
                return false;
            };
            match self.stream.read(buf) {
                Ok(0) => {
                    self.ready.eof = true;
                    self.ready.readable = false;
                    return true;
                }
                Ok(n) => {
                    if starts_request && self.inbuf.is_empty() && self.out.is_empty() {
                        // The first byte of a request: its clock starts now.
                        self.begin(Instant::now());
                    }
                    self.inbuf.reserve_exact(n);
                    self.inbuf
                        .extend_from_slice(buf.get(..n).unwrap_or_default());
                    self.progress += n;
                    if n < room && !self.ready.read_closed {
                        self.ready.readable = false;
                        return true;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.ready.readable = false;
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    /// Writes pending output until done or `WouldBlock`; false on a
    /// broken connection.
    pub fn flush(&mut self) -> bool {
        while self.written < self.out.len() {
            if !self.ready.writable {
                return true;
            }
            match self
                .stream
                .write(self.out.get(self.written..).unwrap_or_default())
            {
                Ok(0) => return false,
                Ok(n) => {
                    self.written += n;
                    self.progress += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.ready.writable = false;
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.out.clear();
        self.written = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (std::net::TcpStream, Wire) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (
            client,
            Wire::new(TcpStream::from_std(server), Instant::now()),
        )
    }

    fn arrived(w: &Wire, n: usize) {
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let mut probe = [0u8; 64];
        while w.stream.peek(&mut probe).map_or(0, |k| k) < n && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// A short read has emptied the socket: no second read to hear
    /// `WouldBlock` (one system call per request saved), the connection
    /// not readable until its next event.
    #[test]
    fn a_short_read_is_the_last_until_the_next_event() {
        let (mut client, mut w) = pair();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        arrived(&w, 18);
        assert!(w.read(64 * 1024, true));
        assert_eq!(
            (w.inbuf.len(), w.ready.readable, w.ready.eof),
            (18, false, false)
        );
    }

    /// But once an event said the client's end is shut, reading goes on to
    /// find the end of stream, which a short read would leave unseen.
    #[test]
    fn with_the_clients_end_shut_reading_goes_on_to_the_end() {
        let (mut client, mut w) = pair();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        arrived(&w, 18);
        w.ready.read_closed = true;
        assert!(w.read(64 * 1024, true));
        assert_eq!((w.inbuf.len(), w.ready.eof), (18, true));
    }
}
