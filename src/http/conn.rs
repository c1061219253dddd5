//! One connection: what it holds, which state it is in, and one step of
//! work. A step answers at most one request, so the loop can serve
//! connections in turn.
//!
//! Memory: the input buffer never holds more than `MAX_HEAD + max_body`
//! bytes (reads stop while it is full and resume as it drains) and the
//! output at most one answer (no request is answered while one is still
//! going out, parked or held back). An event stream's output holds at most
//! `MAX_STREAM_BACKLOG` plus one piece, catch-up included: the service
//! feeds it as the client takes it. An idle connection holds no buffer.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use super::request::{respond, timed_out, Arrival, Outcome, Parked, Then};
use super::response::Connection;
use super::service::Service;
use super::wire::Wire;
use super::{Limits, MAX_HEAD};

/// The most a stream's output holds before one more piece: the service
/// feeds it only while less than this waits to be taken.
pub const MAX_STREAM_BACKLOG: usize = 256 * 1024;
/// A comment line on a quiet stream this often, so proxies and the
/// client see it alive (and a dead client is noticed).
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Where a connection is in its exchange.
#[derive(Debug)]
enum State<S, P> {
    /// Waiting for a request, or for the rest of one. `parsed` is the
    /// input length at which the parser last asked for more; `continued`
    /// whether `100 Continue` went out for this request.
    Reading {
        parsed: Option<usize>,
        continued: bool,
    },
    /// An answer is going out; then the connection is kept or closed.
    Writing { then: Connection },
    /// The service has not answered yet.
    Parked(Parked<P>),
    /// An answer held back until `at`.
    Delayed {
        answer: Vec<u8>,
        at: Instant,
        then: Connection,
        /// Told it was sent, or, dropped with the connection, that the
        /// client left first.
        settle: crate::http::Settle,
    },
    /// An event stream, fed by the service until the client goes.
    Streaming(S),
}

/// What the loop sees of a connection's state: its deadline and eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connected or kept alive, no byte of a request yet.
    Idle,
    /// Some of a request has arrived.
    Request,
    /// An answer is waiting for the client to take it.
    Answer,
    /// Waiting for the service (until woken or its deadline).
    Parked,
    /// An answer held until its time.
    Delayed,
    /// An event stream.
    Stream,
}

pub struct Conn<S: Service> {
    wire: Wire,
    peer: Option<std::net::SocketAddr>,
    state: State<S::Stream, S::Parked>,
    /// Distinguishes this connection from a later one in the same slot.
    pub generation: u64,
    pub queued: bool,
}

/// What the loop does with a connection after a step.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Close,
    /// Nothing to do until the next readiness event (or deadline).
    Wait,
    /// Has more to do now: serve it again in the next turn.
    More,
}

fn reading<S, P>() -> State<S, P> {
    State::Reading {
        parsed: None,
        continued: false,
    }
}

impl<S: Service> Conn<S> {
    pub fn new(
        stream: TcpStream,
        peer: Option<std::net::SocketAddr>,
        generation: u64,
        now: Instant,
    ) -> Self {
        Conn {
            wire: Wire::new(stream, now),
            peer,
            state: reading(),
            generation,
            queued: false,
        }
    }

    pub fn phase(&self) -> Phase {
        match &self.state {
            State::Reading { .. } if self.wire.inbuf.is_empty() => Phase::Idle,
            State::Reading { .. } => Phase::Request,
            State::Writing { .. } => Phase::Answer,
            State::Parked(_) => Phase::Parked,
            State::Delayed { .. } => Phase::Delayed,
            State::Streaming(_) => Phase::Stream,
        }
    }

    /// Notes readiness; true if that gives the connection work to do. A
    /// socket becoming writable with nothing to write is no work: every
    /// new connection reports it once, and serving each such report
    /// delayed accepting the next connections (see `event_loop.rs`).
    pub fn on_event(&mut self, readable: bool, writable: bool, read_closed: bool) -> bool {
        self.wire.ready.readable |= readable;
        self.wire.ready.writable |= writable;
        self.wire.ready.read_closed |= read_closed;
        readable
            || (writable && self.wire.written < self.wire.out.len())
            || matches!(self.state, State::Streaming(_))
    }

    /// Idle connections wait `idle_timeout`; a request must be complete,
    /// and an answer taken, within `read_timeout` of its first byte; a
    /// parked or delayed request waits for its own time.
    pub fn deadline(&self, limits: &Limits) -> Instant {
        match &self.state {
            State::Reading { .. } if self.wire.inbuf.is_empty() => {
                self.wire.since + limits.idle_timeout
            }
            State::Reading { .. } | State::Writing { .. } => self.wire.since + limits.read_timeout,
            State::Parked(p) => p.until,
            State::Delayed { at, .. } => *at,
            State::Streaming(_) => self.wire.since + HEARTBEAT,
        }
    }

    /// The deadline has come: a stream gets a heartbeat, a parked request
    /// the service's last word, a delayed answer goes out, a request in
    /// progress gets 408 and anything else is closed.
    pub fn on_deadline(&mut self, now: Instant, service: &S) -> Step {
        match std::mem::replace(&mut self.state, reading()) {
            State::Streaming(s) => {
                let comment = service.heartbeat(&s);
                self.state = State::Streaming(s);
                if self.heartbeat(now, comment) {
                    Step::More
                } else {
                    Step::Close
                }
            }
            State::Parked(p) => {
                let (answer, then) = p.give_up(service);
                self.answer(answer, then, now);
                Step::More
            }
            State::Delayed {
                answer,
                then,
                settle,
                ..
            } => {
                settle.sent();
                self.answer(answer, then, now);
                Step::More
            }
            State::Reading { .. } if !self.wire.inbuf.is_empty() => {
                let _ = self.wire.stream.write(&timed_out(self.wire.since));
                Step::Close
            }
            State::Reading { .. } | State::Writing { .. } => Step::Close,
        }
    }

    /// The service's waker fired: a stream takes what it has room for, a
    /// parked request its answer if there is one; true if either did.
    pub fn on_wake(&mut self, service: &S) -> bool {
        let resumed = match &mut self.state {
            State::Streaming(_) => return self.feed(service),
            State::Parked(p) => p.resume(service).map(|bytes| (bytes, p.connection())),
            _ => None,
        };
        match resumed {
            Some((bytes, then)) => {
                self.answer(bytes, then, Instant::now());
                true
            }
            None => false,
        }
    }

    /// An answer to send, from a parked or delayed request.
    fn answer(&mut self, bytes: Vec<u8>, then: Connection, now: Instant) {
        self.wire.out = bytes;
        self.wire.written = 0;
        self.state = State::Writing { then };
        self.wire.since = now;
        self.wire.progress = 0;
    }

    /// Pulls the stream's next bytes while less than `MAX_STREAM_BACKLOG`
    /// waits to be taken; true if it queued any.
    fn feed(&mut self, service: &S) -> bool {
        let pending = self.wire.out.len() - self.wire.written;
        let State::Streaming(stream) = &mut self.state else {
            return false;
        };
        if pending >= MAX_STREAM_BACKLOG || !service.behind(stream) {
            return false;
        }
        if self.wire.written > 0 {
            self.wire.out.drain(..self.wire.written);
            self.wire.written = 0;
        }
        let before = self.wire.out.len();
        service.feed(stream, MAX_STREAM_BACKLOG - pending, &mut self.wire.out);
        self.wire.out.len() > before
    }

    /// A comment line on a quiet stream; false if the client has not
    /// taken what was queued (it is closed: it stopped reading).
    fn heartbeat(&mut self, now: Instant, comment: bool) -> bool {
        self.wire.since = now;
        if self.wire.out.len() - self.wire.written >= MAX_STREAM_BACKLOG {
            return false;
        }
        if !comment {
            return true;
        }
        if self.wire.written > 0 {
            self.wire.out.drain(..self.wire.written);
            self.wire.written = 0;
        }
        // Exactly: amortised doubling would hold twice the bound.
        self.wire.out.reserve_exact(HEARTBEAT_LINE.len());
        self.wire.out.extend_from_slice(HEARTBEAT_LINE);
        true
    }

    /// Seconds per byte of progress in the current phase (`Wire`).
    pub fn eviction_score(&self, now: Instant) -> f64 {
        self.wire.eviction_score(now)
    }

    fn more_to_do(&self, cap: usize) -> bool {
        let State::Reading { parsed, .. } = self.state else {
            return false;
        };
        self.wire.out.is_empty()
            && (self.wire.ready.eof
                || (self.wire.ready.readable && self.wire.inbuf.len() < cap)
                || (!self.wire.inbuf.is_empty() && parsed != Some(self.wire.inbuf.len())))
    }

    /// Flushes, reads what fits, answers at most one request.
    pub fn step(&mut self, service: &S, limits: &Limits) -> Step {
        let cap = MAX_HEAD + limits.max_body;
        match self.state {
            State::Streaming(_) => return self.step_stream(service),
            State::Parked(_) | State::Delayed { .. } => return self.step_held(cap),
            State::Reading { .. } | State::Writing { .. } => {}
        }
        if !self.wire.flush() {
            return Step::Close;
        }
        if !self.wire.out.is_empty() {
            return Step::Wait;
        }
        if let Some(step) = self.answered() {
            return step;
        }
        if self.wire.ready.readable
            && !self.wire.ready.eof
            && !self.wire.read(cap, self.phase() == Phase::Idle)
        {
            return Step::Close;
        }
        if let Some(step) = self.parse(service, limits) {
            return step;
        }
        let State::Reading { parsed, .. } = self.state else {
            // An answer still going out: the client's turn to read it.
            return Step::Wait;
        };
        let nothing_whole = self.wire.inbuf.is_empty() || parsed == Some(self.wire.inbuf.len());
        if self.wire.out.is_empty() && self.wire.ready.eof && nothing_whole {
            // The client finished sending and no whole request is left.
            return Step::Close;
        }
        if self.more_to_do(cap) {
            Step::More
        } else {
            Step::Wait
        }
    }

    /// An answer is wholly out: close, or start the next phase (idle, or
    /// the next pipelined request, whose bytes are already here).
    fn answered(&mut self) -> Option<Step> {
        let State::Writing { then } = self.state else {
            return None;
        };
        if then == Connection::Close {
            return Some(Step::Close);
        }
        self.state = reading();
        self.wire.begin(Instant::now());
        self.wire.shrink();
        None
    }

    /// Hands what has arrived to the parser; `Some` if that decided the
    /// step (an answer began, or the connection broke).
    fn parse(&mut self, service: &S, limits: &Limits) -> Option<Step> {
        let State::Reading { parsed, continued } = self.state else {
            return None;
        };
        if self.wire.inbuf.is_empty() || parsed == Some(self.wire.inbuf.len()) {
            return None;
        }
        let arrival = Arrival {
            peer: self.peer,
            started: Some(self.wire.since),
        };
        match respond(&self.wire.inbuf, service, limits, arrival) {
            Outcome::NeedMore { send_continue } => {
                self.state = State::Reading {
                    parsed: Some(self.wire.inbuf.len()),
                    continued: continued || send_continue,
                };
                if send_continue && !continued {
                    self.wire
                        .out
                        .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    self.wire.progress += 1;
                    if !self.wire.flush() {
                        return Some(Step::Close);
                    }
                }
                None
            }
            Outcome::Answered { consumed, then } => {
                self.wire.inbuf.drain(..consumed.min(self.wire.inbuf.len()));
                self.take(then, service)
            }
        }
    }

    /// Starts on what the service made of a request; `None` when an
    /// answer is going out and the step goes on as for any other.
    fn take(&mut self, then: Then<S::Stream, S::Parked>, service: &S) -> Option<Step> {
        let now = Instant::now();
        self.wire.since = now;
        self.wire.progress = 0;
        match then {
            Then::Send { bytes, connection } => {
                self.wire.out.extend_from_slice(&bytes);
                self.state = State::Writing { then: connection };
                if !self.wire.flush() {
                    return Some(Step::Close);
                }
                if self.wire.out.is_empty() {
                    return self.answered();
                }
                None
            }
            Then::Stream { head, stream } => {
                // From now on this connection only carries the stream.
                self.wire.out.extend_from_slice(&head);
                self.state = State::Streaming(stream);
                self.wire.inbuf = Vec::new();
                Some(self.step_stream(service))
            }
            Then::Park(p) => {
                self.state = State::Parked(p);
                Some(Step::Wait)
            }
            Then::SendAt {
                bytes,
                at,
                connection,
                settle,
            } => {
                self.state = State::Delayed {
                    answer: bytes,
                    at,
                    then: connection,
                    settle,
                };
                Some(Step::Wait)
            }
            Then::Close => Some(Step::Close),
        }
    }

    /// Parked or delayed: whatever the client pipelines is kept for later
    /// (within the cap); if it goes, so does its request.
    fn step_held(&mut self, cap: usize) -> Step {
        if self.wire.ready.readable && !self.wire.read(cap, false) {
            return Step::Close;
        }
        if self.wire.ready.eof {
            Step::Close
        } else {
            Step::Wait
        }
    }

    /// An event stream: write what is queued, feed more as it drains;
    /// anything the client sends is read and dropped (it has nothing more
    /// to say), its end closes.
    fn step_stream(&mut self, service: &S) -> Step {
        if !self.wire.flush() {
            return Step::Close;
        }
        if let State::Streaming(stream) = &self.state {
            // A stream that has said all it will ends with its connection,
            // once its last bytes are out.
            if self.wire.written == self.wire.out.len() && service.finished(stream) {
                return Step::Close;
            }
        }
        if self.wire.ready.writable && self.feed(service) {
            // More may follow once this is out: serve it again next turn.
            return if self.wire.flush() {
                Step::More
            } else {
                Step::Close
            };
        }
        let mut sink = [0u8; 1024];
        while self.wire.ready.readable {
            match self.wire.stream.read(&mut sink) {
                Ok(0) => return Step::Close,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.wire.ready.readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Step::Close,
            }
        }
        Step::Wait
    }
}

const HEARTBEAT_LINE: &[u8] = b": keep-alive\n\n";

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A service that never answers: enough for a connection's own logic.
    struct Silent;

    impl Service for Silent {
        type Stream = ();
        type Parked = ();
        fn call(&self, _: &crate::http::Request<'_>) -> crate::http::Answer<(), ()> {
            crate::http::Answer::Close(crate::log::Note::default())
        }
        fn feed(&self, _: &mut (), _: usize, _: &mut Vec<u8>) {}
        fn behind(&self, _: &()) -> bool {
            false
        }
        fn resume(&self, _: &mut ()) -> Option<crate::http::Response> {
            None
        }
        fn give_up(&self, _: ()) -> crate::http::Response {
            crate::http::Response::error(504, "gave up")
        }
    }

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
        let mut idle = Conn::<Silent>::new(mk(), None, 0, t0);
        let mut one_byte = Conn::<Silent>::new(mk(), None, 1, t0);
        one_byte.wire.progress = 1;
        let mut busy = Conn::<Silent>::new(mk(), None, 2, t0);
        busy.wire.progress = 1200;
        let later = t0 + Duration::from_secs(5);
        assert!(idle.eviction_score(later) > one_byte.eviction_score(later));
        assert!(one_byte.eviction_score(later) > busy.eviction_score(later));
        idle.wire.since = later;
        assert!(
            one_byte.eviction_score(later) > idle.eviction_score(later),
            "a fresh connection is not the victim"
        );
    }
}
