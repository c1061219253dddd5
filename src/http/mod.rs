//! The loop: one thread, one `mio` poll over one listener, the signal
//! pipes and every connection. Requests are parsed by `httparse` under
//! strict limits (`request.rs`) and handed, complete, to `routes::handle`.
//! The public listener's loops and the inbox's loop are separate threads,
//! each with its own poll: nothing the inbox does (rendering a full
//! journal, feeding hundreds of streams) takes a turn from a citizen.
//!
//! What one client can take, and no more:
//! - **Its turn.** Connections with work are served round-robin, one
//!   request per turn (`conn.rs` `step`), and the loop polls for new
//!   events at least every `ROUND_SLICE`: a request waits for at most one
//!   request of each other busy connection.
//! - **Its memory.** Input ≤ `MAX_HEAD` + `max_body` per connection (reads
//!   stop while the buffer is full), output ≤ one answer (nothing more is
//!   answered until it is taken). An idle connection holds no buffer.
//! - **Its time.** A request must be complete within `read_timeout` of its
//!   first byte (else 408 and close), and its answer taken within the same
//!   time; a connection with no request open is closed after
//!   `idle_timeout`.
//! - **A connect.** Never waits on an idle loop: the listen backlog and
//!   the descriptor table are sized at start (`listen.rs`), and a new
//!   connection costs the loop nothing until it has something to say.
//! - **Its slot.** At most `max_connections` are open; when one more
//!   arrives, or `accept` fails for lack of descriptors, the connection
//!   that has made the least progress for the longest (seconds per byte
//!   in its current phase) is closed to make room.
//! - **Its log lines.** Bounded and escaped, and never waited for (`log.rs`).
//!
//! Sizes: head ≤ `MAX_HEAD` (414 if the request line alone is longer, else
//! 431) with ≤ `MAX_HEADERS` headers (431); `Content-Length` ≤ `max_body`,
//! decided from the header alone (413); `Transfer-Encoding` is refused.

pub mod conn;
pub mod listen;
pub mod request;
pub mod response;

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, UnixStream};
use mio::{Events, Interest, Poll, Token};

use crate::routes::{App, Listener};
use conn::{Conn, Phase, Step};
use mio::Waker;
pub use request::{respond, Outcome};
use std::sync::Arc;

pub const MAX_HEAD: usize = 8 * 1024;
pub const MAX_HEADERS: usize = 32;

const LISTENER: Token = Token(0);
const SIGTERM: Token = Token(1);
const SIGINT: Token = Token(2);
/// The journal changed (the inbox's loop only): feed the streams.
const WAKE: Token = Token(3);
const FIRST_CONN: usize = 4;
/// The longest the loop works through its queue before polling again, so
/// that new connections and new requests join the round promptly.
const ROUND_SLICE: Duration = Duration::from_millis(2);
/// Connections accepted per turn at most: a connect flood cannot keep the
/// loop from serving; the rest wait for the next turn, not the next event.
const ACCEPT_BATCH: usize = 256;
/// When `accept` fails for lack of descriptors and nothing can be evicted.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From a request's first byte to its last, and for its answer to go out.
    pub read_timeout: Duration,
    /// How long a connection with no request open keeps its slot.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_body: usize,
}

/// How many connections each `--workers` loop holds. The loops share one
/// listener and every new connection wakes each of them, but the same one
/// wins every race for it: left alone, one loop takes every keep-alive
/// client and the others idle. So a loop holding more than another leaves a
/// new connection to it, and looks again shortly (`DECLINE_RETRY`), taking
/// it after `MAX_DECLINES` looks, so nothing waits on a loop that is busy.
pub struct Balance {
    open: Vec<AtomicUsize>,
}

impl Balance {
    pub fn new(loops: usize) -> Balance {
        Balance {
            open: (0..loops.max(1)).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    fn holds_fewest(&self, me: usize) -> bool {
        let mine = self.open.get(me).map_or(0, |o| o.load(Ordering::Relaxed));
        self.open.iter().all(|o| mine <= o.load(Ordering::Relaxed))
    }

    fn set(&self, me: usize, n: usize) {
        if let Some(o) = self.open.get(me) {
            o.store(n, Ordering::Relaxed);
        }
    }
}

const DECLINE_RETRY: Duration = Duration::from_millis(2);
const MAX_DECLINES: u32 = 5;

/// Why the loop returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Sigterm,
    Sigint,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::Sigterm => "SIGTERM",
            Stop::Sigint => "SIGINT",
        }
    }
}

/// Registers SIGTERM and SIGINT to write to pipes this loop polls. Explicit
/// handlers, so they work as PID 1 too, where default actions do not apply.
fn signal_pipe(poll: &Poll, signal: i32, token: Token) -> io::Result<UnixStream> {
    let (read, write) = StdUnixStream::pair()?;
    read.set_nonblocking(true)?;
    signal_hook::low_level::pipe::register(signal, write)?;
    let mut read = UnixStream::from_std(read);
    poll.registry()
        .register(&mut read, token, Interest::READABLE)?;
    Ok(read)
}

/// The open connections, by slot; a slot's token is its index plus
/// `FIRST_CONN`.
struct Conns {
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    open: usize,
    generation: u64,
    /// Round-robin order of the connections with work, by (slot, generation).
    queue: VecDeque<(usize, u64)>,
    /// No deadline is earlier than this (a lower bound; exact after a scan).
    earliest: Option<Instant>,
}

impl Conns {
    fn enqueue(&mut self, idx: usize) {
        if let Some(Some(c)) = self.slots.get_mut(idx) {
            if !c.queued {
                c.queued = true;
                self.queue.push_back((idx, c.generation));
            }
        }
    }

    fn note_deadline(&mut self, d: Instant) {
        self.earliest = Some(self.earliest.map_or(d, |e| e.min(d)));
    }

    fn close(&mut self, idx: usize) -> Option<Conn> {
        let c = self.slots.get_mut(idx)?.take()?;
        self.free.push(idx);
        self.open -= 1;
        Some(c)
    }

    /// Closes the connection that has made the least progress for the
    /// longest; false if there is none.
    fn evict(&mut self, now: Instant) -> bool {
        let victim = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c.eviction_score(now))))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i);
        victim.and_then(|i| self.close(i)).is_some()
    }

    fn insert(
        &mut self,
        poll: &Poll,
        mut stream: mio::net::TcpStream,
        listener: Listener,
        limits: &Limits,
    ) {
        let _ = stream.set_nodelay(true);
        let idx = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let token = Token(idx + FIRST_CONN);
        if poll
            .registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            self.free.push(idx);
            return;
        }
        self.generation += 1;
        let c = Conn::new(stream, listener, self.generation, Instant::now());
        let deadline = c.deadline(limits);
        if let Some(slot) = self.slots.get_mut(idx) {
            *slot = Some(c);
            self.open += 1;
            self.note_deadline(deadline);
            // Not served now: registering reports what is already waiting
            // as an event, and the next poll brings it. Serving every new
            // connection at once made each accept batch cost a round, so
            // serial connects outran the loop and overflowed the backlog.
        }
    }
}

/// One loop's state: its poll, its listener, its connections.
pub struct Loop<'a> {
    poll: Poll,
    listener: TcpListener,
    _signals: [UnixStream; 2],
    kind: Listener,
    app: &'a App,
    limits: Limits,
    balance: (&'a Balance, usize),
    conns: Conns,
    /// Connections may be waiting in the listener's backlog.
    accept_pending: bool,
    accept_retry: Option<Instant>,
    declines: u32,
    /// The journal changed since streams were last fed (inbox only).
    journal_changed: bool,
    streams: usize,
}

impl<'a> Loop<'a> {
    /// Everything a loop needs from the kernel (its poll, signal pipes, the
    /// journal's waker for the inbox), acquired up front: made before any
    /// loop serves, a loop cannot fail to start later for want of a
    /// descriptor that its clients have taken. The listener must be
    /// non-blocking.
    pub fn new(
        listener: std::net::TcpListener,
        kind: Listener,
        app: &'a App,
        limits: Limits,
        balance: (&'a Balance, usize),
    ) -> io::Result<Loop<'a>> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let signals = [
            signal_pipe(&poll, signal_hook::consts::SIGTERM, SIGTERM)?,
            signal_pipe(&poll, signal_hook::consts::SIGINT, SIGINT)?,
        ];
        if kind == Listener::Inbox {
            let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
            app.shared_journal().on_change(Box::new(move || {
                let _ = waker.wake();
            }));
        }
        Ok(Loop {
            poll,
            listener,
            _signals: signals,
            kind,
            app,
            limits,
            balance,
            conns: Conns {
                slots: Vec::new(),
                free: Vec::new(),
                open: 0,
                generation: 0,
                queue: VecDeque::new(),
                earliest: None,
            },
            accept_pending: true,
            accept_retry: None,
            declines: 0,
            journal_changed: false,
            streams: 0,
        })
    }

    /// Serves until SIGTERM or SIGINT.
    pub fn run(mut self) -> io::Result<Stop> {
        let mut events = Events::with_capacity(256);
        loop {
            if let Some(stop) = self.wait(&mut events)? {
                return Ok(stop);
            }
            self.accept();
            self.serve_round();
            self.balance.0.set(self.balance.1, self.conns.open);
            self.feed_streams();
            self.expire();
        }
    }
}

impl Loop<'_> {
    /// Polls: at once while there is work, else until the earliest
    /// deadline. Readiness is noted on the connections.
    fn wait(&mut self, events: &mut Events) -> io::Result<Option<Stop>> {
        let now = Instant::now();
        let busy =
            !self.conns.queue.is_empty() || (self.accept_pending && self.accept_retry.is_none());
        let timeout = if busy {
            Some(Duration::ZERO)
        } else {
            self.conns
                .earliest
                .into_iter()
                .chain(self.accept_retry)
                .min()
                .map(|d| d.saturating_duration_since(now))
        };
        if let Err(e) = self.poll.poll(events, timeout) {
            return if e.kind() == ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            };
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => self.accept_pending = true,
                WAKE => self.journal_changed = true,
                SIGTERM => return Ok(Some(Stop::Sigterm)),
                SIGINT => return Ok(Some(Stop::Sigint)),
                Token(t) => {
                    let idx = t - FIRST_CONN;
                    if let Some(Some(c)) = self.conns.slots.get_mut(idx) {
                        let broken = event.is_error();
                        let work = c.on_event(
                            event.is_readable() || event.is_read_closed() || broken,
                            event.is_writable() || event.is_write_closed() || broken,
                        );
                        if work {
                            self.conns.enqueue(idx);
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    /// Takes up to `ACCEPT_BATCH` waiting connections, evicting to stay
    /// within the cap; a loop holding more than another leaves them to it.
    fn accept(&mut self) {
        let now = Instant::now();
        if self.accept_retry.is_some_and(|t| t <= now) {
            self.accept_retry = None;
        }
        if !self.accept_pending || self.accept_retry.is_some() {
            return;
        }
        let (balance, me) = self.balance;
        for _ in 0..ACCEPT_BATCH {
            if self.declines < MAX_DECLINES && !balance.holds_fewest(me) {
                self.declines += 1;
                self.accept_retry = Some(now + DECLINE_RETRY);
                return;
            }
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.conns.open >= self.limits.max_connections {
                        self.conns.evict(now);
                    }
                    self.conns
                        .insert(&self.poll, stream, self.kind, &self.limits);
                    balance.set(me, self.conns.open);
                    self.declines = 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.accept_pending = false;
                    self.declines = 0;
                    return;
                }
                Err(e) if out_of_descriptors(&e) => {
                    // EMFILE is a full house as surely as the cap is.
                    if !self.conns.evict(now) {
                        self.accept_retry = Some(now + ACCEPT_RETRY);
                        return;
                    }
                }
                // An aborted handshake: just the next one.
                Err(_) => {}
            }
        }
    }

    /// One turn each, in order, polling again after `ROUND_SLICE`.
    fn serve_round(&mut self) {
        let round = Instant::now();
        for _ in 0..self.conns.queue.len() {
            let Some((idx, generation)) = self.conns.queue.pop_front() else {
                break;
            };
            let step = match self.conns.slots.get_mut(idx) {
                Some(Some(c)) if c.generation == generation => {
                    c.queued = false;
                    let step = c.step(self.app, &self.limits);
                    let deadline = c.deadline(&self.limits);
                    if c.phase() == Phase::Stream {
                        // Exact again at the next time-out scan.
                        self.streams = self.streams.max(1);
                    }
                    self.conns.note_deadline(deadline);
                    step
                }
                _ => continue,
            };
            match step {
                Step::Close => {
                    self.conns.close(idx);
                }
                Step::More => self.conns.enqueue(idx),
                Step::Wait => {}
            }
            if round.elapsed() >= ROUND_SLICE {
                break;
            }
        }
    }

    /// The journal changed: every open stream pulls what it has room for.
    fn feed_streams(&mut self) {
        if !std::mem::take(&mut self.journal_changed) || self.streams == 0 {
            return;
        }
        for idx in 0..self.conns.slots.len() {
            let fed = match self.conns.slots.get_mut(idx) {
                Some(Some(c)) if c.phase() == Phase::Stream => c.feed(self.app),
                _ => continue,
            };
            if fed {
                self.conns.enqueue(idx);
            }
        }
    }

    /// Time-outs, only when the earliest deadline has come. A quiet
    /// stream gets a heartbeat instead; one that took nothing is closed.
    fn expire(&mut self) {
        let now = Instant::now();
        if self.conns.earliest.is_none_or(|e| e > now) {
            return;
        }
        self.conns.earliest = None;
        self.streams = 0;
        for idx in 0..self.conns.slots.len() {
            let (deadline, is_stream) = match self.conns.slots.get(idx) {
                Some(Some(c)) => (c.deadline(&self.limits), c.phase() == Phase::Stream),
                _ => continue,
            };
            if is_stream {
                self.streams += 1;
            }
            if deadline > now {
                self.conns.note_deadline(deadline);
            } else if is_stream {
                let alive = self
                    .conns
                    .slots
                    .get_mut(idx)
                    .and_then(Option::as_mut)
                    .is_some_and(|c| c.heartbeat(now));
                if alive {
                    self.conns.enqueue(idx);
                    self.conns.note_deadline(now + conn::HEARTBEAT);
                } else {
                    self.conns.close(idx);
                }
            } else if let Some(c) = self.conns.close(idx) {
                c.expire();
            }
        }
    }
}

fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
