//! One connection: what it holds, which phase it is in, and one step of
//! work. A step answers at most one request, so the loop can serve
//! connections in turn.
//!
//! Memory: the input buffer never holds more than `MAX_HEAD + max_body`
//! bytes (reads stop while it is full and resume as it drains) and the
//! output at most one answer (no request is answered while one is still
//! going out). An event stream's output holds at most
//! `MAX_STREAM_BACKLOG` plus one frame, catch-up included: frames are
//! pulled from the journal as the client takes them. An idle connection
//! holds no buffer at all.

use std::io::{ErrorKind, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;

use super::request::{respond, Outcome};
use super::response::serialize;
use super::{Limits, MAX_HEAD};
use crate::log::{self, RequestLine};
use crate::routes::{App, Listener, Response, StreamStart};

/// Read in pieces of this size; also the largest buffer an idle
/// connection keeps between requests.
const CHUNK: usize = 16 * 1024;
/// The most a stream's output holds before one more frame: frames are
/// pulled from the journal only while less than this waits to be taken.
pub const MAX_STREAM_BACKLOG: usize = 256 * 1024;
/// A comment line on a quiet stream this often, so proxies and the
/// client see it alive (and a dead client is noticed).
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connected or kept alive, no byte of a request yet.
    Idle,
    /// Some of a request has arrived.
    Request,
    /// An answer is waiting for the client to take it.
    Answer,
    /// An event stream: journal entries are sent as they arrive.
    Stream,
}

pub struct Conn {
    pub stream: TcpStream,
    pub listener: Listener,
    /// For an event stream: where it stands in the journal.
    cursor: Option<StreamStart>,
    /// Distinguishes this connection from a later one in the same slot.
    pub generation: u64,
    pub queued: bool,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    written: usize,
    /// Edge-triggered readiness: true from an event until `WouldBlock`.
    readable: bool,
    writable: bool,
    eof: bool,
    continued: bool,
    close_after_write: bool,
    /// The input length at which `respond` last asked for more bytes.
    parsed_len: Option<usize>,
    /// When the current phase began.
    since: Instant,
    /// Bytes moved in the current phase: what eviction calls progress.
    progress: usize,
}

/// What the loop does with a connection after a step.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Close,
    /// Nothing to do until the next readiness event.
    Wait,
    /// Has more to do now: serve it again in the next turn.
    More,
}

impl Conn {
    pub fn new(stream: TcpStream, listener: Listener, generation: u64, now: Instant) -> Self {
        Conn {
            stream,
            listener,
            cursor: None,
            generation,
            queued: false,
            inbuf: Vec::new(),
            out: Vec::new(),
            written: 0,
            readable: true,
            writable: true,
            eof: false,
            continued: false,
            close_after_write: false,
            parsed_len: None,
            since: now,
            progress: 0,
        }
    }

    pub fn phase(&self) -> Phase {
        if self.cursor.is_some() {
            Phase::Stream
        } else if !self.out.is_empty() {
            Phase::Answer
        } else if !self.inbuf.is_empty() {
            Phase::Request
        } else {
            Phase::Idle
        }
    }

    /// Notes readiness; true if that gives the connection work to do. A
    /// socket becoming writable with nothing to write is no work: every
    /// new connection reports it once, and serving each such report
    /// delayed accepting the next connections (see `mod.rs`, accepting).
    pub fn on_event(&mut self, readable: bool, writable: bool) -> bool {
        self.readable |= readable;
        self.writable |= writable;
        readable || (writable && self.written < self.out.len()) || self.cursor.is_some()
    }

    /// Idle connections wait `idle_timeout`; a request must be complete,
    /// and an answer taken, within `read_timeout` of its first byte.
    pub fn deadline(&self, limits: &Limits) -> Instant {
        let limit = match self.phase() {
            Phase::Idle => limits.idle_timeout,
            Phase::Request | Phase::Answer => limits.read_timeout,
            Phase::Stream => HEARTBEAT,
        };
        self.since + limit
    }

    /// Pulls the journal's next frames while less than
    /// `MAX_STREAM_BACKLOG` waits to be taken; true if it queued any.
    pub fn feed(&mut self, app: &App) -> bool {
        let pending = self.out.len() - self.written;
        let Some(cursor) = self.cursor.as_mut() else {
            return false;
        };
        if pending >= MAX_STREAM_BACKLOG || !cursor.behind(app) {
            return false;
        }
        if self.written > 0 {
            self.out.drain(..self.written);
            self.written = 0;
        }
        let before = self.out.len();
        cursor.next_frames(app, MAX_STREAM_BACKLOG - pending, &mut self.out);
        self.out.len() > before
    }

    /// A comment line on a quiet stream; false if the client has not
    /// taken what was queued (it is closed: it stopped reading).
    pub fn heartbeat(&mut self, now: Instant) -> bool {
        self.since = now;
        if self.out.len() - self.written >= MAX_STREAM_BACKLOG {
            return false;
        }
        self.push_stream(b": keep-alive\n\n");
        true
    }

    fn push_stream(&mut self, bytes: &[u8]) {
        if self.written > 0 {
            self.out.drain(..self.written);
            self.written = 0;
        }
        // Exactly: amortised doubling would hold twice the bound.
        self.out.reserve_exact(bytes.len());
        self.out.extend_from_slice(bytes);
    }

    /// Bytes queued and not yet taken (what a stream holds).
    pub fn pending(&self) -> usize {
        self.out.len() - self.written
    }

    /// Seconds per byte of progress in the current phase: the connection
    /// with the highest score has made the least progress for the longest.
    pub fn eviction_score(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.since).as_secs_f64() / (self.progress as f64 + 1.0)
    }

    /// The deadline passed: 408 to a request in progress, silence otherwise.
    pub fn expire(mut self) {
        if self.phase() == Phase::Request {
            let r = Response::error(408, "request not received in time");
            log::request(&RequestLine {
                method: None,
                path: None,
                status: 408,
                duration: self.since.elapsed(),
                note: &r.note,
            });
            let _ = self.stream.write(&serialize(&r, true, false, true));
        }
    }

    fn begin(&mut self, now: Instant) {
        self.since = now;
        self.progress = self.inbuf.len();
    }

    fn more_to_do(&self, cap: usize) -> bool {
        self.out.is_empty()
            && (self.eof
                || (self.readable && self.inbuf.len() < cap)
                || (!self.inbuf.is_empty() && self.parsed_len != Some(self.inbuf.len())))
    }

    /// Flushes, reads what fits, answers at most one request.
    pub fn step(&mut self, app: &App, limits: &Limits) -> Step {
        if self.cursor.is_some() {
            return self.step_stream(app);
        }
        let cap = MAX_HEAD + limits.max_body;
        if !self.out.is_empty() {
            if !self.flush() {
                return Step::Close;
            }
            if !self.out.is_empty() {
                return Step::Wait;
            }
        }
        if self.readable && !self.eof && !self.read(cap) {
            return Step::Close;
        }
        if !self.inbuf.is_empty() && self.parsed_len != Some(self.inbuf.len()) {
            match respond(&self.inbuf, app, limits, Some(self.since), self.listener) {
                Outcome::NeedMore { send_continue } => {
                    self.parsed_len = Some(self.inbuf.len());
                    if send_continue && !self.continued {
                        self.continued = true;
                        self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        self.progress += 1;
                        if !self.flush() {
                            return Step::Close;
                        }
                    }
                }
                Outcome::Answered {
                    consumed,
                    response,
                    close,
                    stream,
                } => {
                    self.inbuf.drain(..consumed.min(self.inbuf.len()));
                    self.out.extend_from_slice(&response);
                    self.close_after_write = close;
                    if stream.is_some() {
                        // From now on this connection only carries events.
                        self.cursor = stream;
                        self.inbuf = Vec::new();
                        self.since = Instant::now();
                        return self.step_stream(app);
                    }
                    self.continued = false;
                    self.parsed_len = None;
                    self.since = Instant::now();
                    self.progress = 0;
                    if !self.flush() {
                        return Step::Close;
                    }
                }
            }
        }
        if self.out.is_empty() && self.eof && self.parsed_len == Some(self.inbuf.len()) {
            // The client finished sending and no whole request is left.
            return Step::Close;
        }
        if self.out.is_empty() && self.eof && self.inbuf.is_empty() {
            return Step::Close;
        }
        if self.more_to_do(cap) {
            Step::More
        } else {
            Step::Wait
        }
    }

    /// An event stream: write what is queued, pull more from the journal
    /// as it drains; anything the client sends is read and dropped (it has
    /// nothing more to say), its end closes.
    fn step_stream(&mut self, app: &App) -> Step {
        if !self.flush() {
            return Step::Close;
        }
        if self.writable && self.feed(app) {
            // More may follow once this is out: serve it again next turn.
            return if self.flush() {
                Step::More
            } else {
                Step::Close
            };
        }
        let mut sink = [0u8; 1024];
        while self.readable {
            match self.stream.read(&mut sink) {
                Ok(0) => return Step::Close,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Step::Close,
            }
        }
        Step::Wait
    }

    /// Reads until `WouldBlock`, end of stream, or a full buffer; false on
    /// a broken connection. The buffer grows exactly, never past `cap`.
    fn read(&mut self, cap: usize) -> bool {
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
                    self.eof = true;
                    self.readable = false;
                    return true;
                }
                Ok(n) => {
                    if self.inbuf.is_empty() && self.out.is_empty() {
                        // The first byte of a request: its clock starts now.
                        self.begin(Instant::now());
                    }
                    self.inbuf.reserve_exact(n);
                    self.inbuf
                        .extend_from_slice(buf.get(..n).unwrap_or_default());
                    self.progress += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.readable = false;
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    /// Writes pending output; false on a broken connection or when a
    /// `Connection: close` answer is fully out.
    fn flush(&mut self) -> bool {
        while self.written < self.out.len() {
            if !self.writable {
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
                    self.writable = false;
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        let was_answer = !self.out.is_empty();
        self.out.clear();
        self.written = 0;
        if self.cursor.is_some() {
            // A stream's progress is what it has taken.
            return true;
        }
        if self.out.capacity() > CHUNK {
            self.out = Vec::new();
        }
        if self.inbuf.is_empty() && self.inbuf.capacity() > CHUNK {
            self.inbuf = Vec::new();
        }
        if was_answer && !self.continued {
            if self.close_after_write {
                return false;
            }
            // The answer is out: the next phase (idle, or the next
            // pipelined request, whose bytes are already here) starts now.
            self.begin(Instant::now());
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn eviction_prefers_least_progress_for_longest() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        let mk = || {
            let s = std::net::TcpStream::connect(a).unwrap();
            s.set_nonblocking(true).unwrap();
            TcpStream::from_std(s)
        };
        let t0 = Instant::now();
        let mut idle = Conn::new(mk(), Listener::Public, 0, t0);
        let mut one_byte = Conn::new(mk(), Listener::Public, 1, t0);
        one_byte.progress = 1;
        let mut busy = Conn::new(mk(), Listener::Public, 2, t0);
        busy.progress = 1200;
        let later = t0 + Duration::from_secs(5);
        assert!(idle.eviction_score(later) > one_byte.eviction_score(later));
        assert!(one_byte.eviction_score(later) > busy.eviction_score(later));
        idle.since = later;
        assert!(
            one_byte.eviction_score(later) > idle.eviction_score(later),
            "a fresh connection is not the victim"
        );
    }
}
