//! The loop: one thread, one `mio` poll over the listener, the signal pipes
//! and every connection. Requests are parsed by `httparse` under strict
//! limits (`request.rs`) and handed, complete, to `routes::handle`.
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
pub use request::{respond, Outcome};

pub const MAX_HEAD: usize = 8 * 1024;
pub const MAX_HEADERS: usize = 32;

const LISTENER: Token = Token(0);
const SIGTERM: Token = Token(1);
const SIGINT: Token = Token(2);
const INBOX: Token = Token(3);
const FIRST_CONN: usize = 4;
/// While event streams are open, the loop looks for new journal entries
/// at least this often (another worker may have added them).
const STREAM_POLL: Duration = Duration::from_millis(250);
/// The longest the loop works through its queue before polling again, so
/// that new connections and new requests join the round promptly.
const ROUND_SLICE: Duration = Duration::from_millis(2);
/// Connections accepted per poll at most: a connect flood cannot keep the
/// loop from serving.
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
            // Its request may already be waiting: serve it this round.
            self.enqueue(idx);
        }
    }
}

/// Serves until SIGTERM or SIGINT: the public listener, and the inbox's
/// if there is one, in the one loop. Listeners must be non-blocking.
pub fn serve(
    listener: std::net::TcpListener,
    inbox: Option<std::net::TcpListener>,
    app: &App,
    limits: Limits,
    (balance, me): (&Balance, usize),
) -> io::Result<Stop> {
    let mut declines = 0u32;
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::from_std(listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut inbox = inbox.map(TcpListener::from_std);
    if let Some(l) = inbox.as_mut() {
        poll.registry().register(l, INBOX, Interest::READABLE)?;
    }
    let _term = signal_pipe(&poll, signal_hook::consts::SIGTERM, SIGTERM)?;
    let _int = signal_pipe(&poll, signal_hook::consts::SIGINT, SIGINT)?;
    let mut conns = Conns {
        slots: Vec::new(),
        free: Vec::new(),
        open: 0,
        generation: 0,
        queue: VecDeque::new(),
        earliest: None,
    };
    let mut events = Events::with_capacity(256);
    // Per listener: connections may be waiting in its backlog.
    let mut accept_pending = [false, false];
    let mut accept_retry: Option<Instant> = None;
    // The journal id up to which open streams have been fed, and how many
    // streams there are.
    let mut fed = app.last_event();
    let mut streams = 0usize;
    loop {
        let now = Instant::now();
        let pending = accept_pending.iter().any(|p| *p);
        let timeout = if !conns.queue.is_empty() || (pending && accept_retry.is_none()) {
            Some(Duration::ZERO)
        } else {
            let t = conns
                .earliest
                .into_iter()
                .chain(accept_retry)
                .min()
                .map(|d| d.saturating_duration_since(now));
            if streams > 0 {
                Some(t.map_or(STREAM_POLL, |t| t.min(STREAM_POLL)))
            } else {
                t
            }
        };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => accept_pending[0] = true,
                INBOX => accept_pending[1] = true,
                SIGTERM => return Ok(Stop::Sigterm),
                SIGINT => return Ok(Stop::Sigint),
                Token(t) => {
                    let idx = t - FIRST_CONN;
                    if let Some(Some(c)) = conns.slots.get_mut(idx) {
                        let broken = event.is_error();
                        c.on_event(
                            event.is_readable() || event.is_read_closed() || broken,
                            event.is_writable() || event.is_write_closed() || broken,
                        );
                        conns.enqueue(idx);
                    }
                }
            }
        }

        let now = Instant::now();
        if accept_retry.is_some_and(|t| t <= now) {
            accept_retry = None;
        }
        for (i, kind) in [(0, Listener::Public), (1, Listener::Inbox)] {
            let l = match kind {
                Listener::Public => Some(&listener),
                Listener::Inbox => inbox.as_ref(),
            };
            let (Some(l), Some(true)) = (l, accept_pending.get(i).copied()) else {
                continue;
            };
            if accept_retry.is_some() {
                break;
            }
            for _ in 0..ACCEPT_BATCH {
                if declines < MAX_DECLINES && !balance.holds_fewest(me) {
                    declines += 1;
                    accept_retry = Some(now + DECLINE_RETRY);
                    break;
                }
                match l.accept() {
                    Ok((stream, _)) => {
                        if conns.open >= limits.max_connections {
                            conns.evict(now);
                        }
                        conns.insert(&poll, stream, kind, &limits);
                        balance.set(me, conns.open);
                        declines = 0;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if let Some(p) = accept_pending.get_mut(i) {
                            *p = false;
                        }
                        declines = 0;
                        break;
                    }
                    Err(e) if out_of_descriptors(&e) => {
                        // EMFILE is a full house as surely as the cap is.
                        if !conns.evict(now) {
                            accept_retry = Some(now + ACCEPT_RETRY);
                            break;
                        }
                    }
                    // An aborted handshake: just the next one.
                    Err(_) => {}
                }
            }
        }

        // One turn each, in order, polling again after `ROUND_SLICE`.
        let round = Instant::now();
        for _ in 0..conns.queue.len() {
            let Some((idx, generation)) = conns.queue.pop_front() else {
                break;
            };
            let step = match conns.slots.get_mut(idx) {
                Some(Some(c)) if c.generation == generation => {
                    c.queued = false;
                    let step = c.step(app, &limits);
                    let deadline = c.deadline(&limits);
                    if c.phase() == Phase::Stream {
                        // Exact again at the next time-out scan.
                        streams = streams.max(1);
                    }
                    conns.note_deadline(deadline);
                    step
                }
                _ => continue,
            };
            match step {
                Step::Close => {
                    conns.close(idx);
                }
                Step::More => conns.enqueue(idx),
                Step::Wait => {}
            }
            if round.elapsed() >= ROUND_SLICE {
                break;
            }
        }

        balance.set(me, conns.open);

        // New journal entries go out to every open event stream; a client
        // too far behind is dropped.
        let last = app.last_event();
        if last != fed {
            fed = last;
            for idx in 0..conns.slots.len() {
                let ok = match conns.slots.get_mut(idx) {
                    Some(Some(c)) if c.phase() == Phase::Stream => c.feed(app),
                    _ => continue,
                };
                if ok {
                    conns.enqueue(idx);
                } else {
                    conns.close(idx);
                }
            }
        }

        // Time-outs, only when the earliest deadline has come. A quiet
        // stream gets a heartbeat instead.
        let now = Instant::now();
        if conns.earliest.is_some_and(|e| e <= now) {
            conns.earliest = None;
            streams = 0;
            for idx in 0..conns.slots.len() {
                let (deadline, is_stream) = match conns.slots.get(idx) {
                    Some(Some(c)) => (c.deadline(&limits), c.phase() == Phase::Stream),
                    _ => continue,
                };
                if is_stream {
                    streams += 1;
                }
                if deadline > now {
                    conns.note_deadline(deadline);
                } else if is_stream {
                    let alive = conns
                        .slots
                        .get_mut(idx)
                        .and_then(Option::as_mut)
                        .is_some_and(|c| c.heartbeat(now));
                    if alive {
                        conns.enqueue(idx);
                        conns.note_deadline(now + conn::HEARTBEAT);
                    } else {
                        conns.close(idx);
                    }
                } else if let Some(c) = conns.close(idx) {
                    c.expire();
                }
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
