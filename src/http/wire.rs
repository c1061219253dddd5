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
/// socket says `WouldBlock`; `eof` once the client has finished sending.
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
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

    /// Reads until `WouldBlock`, end of stream, or a full buffer; false on
    /// a broken connection. The buffer grows exactly, never past `cap`. The
    /// first byte restarts the phase clock if it `starts_request`.
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
