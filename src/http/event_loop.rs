//! The loop: one thread, one `mio` poll over one listener, the signal
//! pipes, a waker for the service and every connection, in phases: wait
//! for readiness, accept, serve a round, wake what waits on the service,
//! expire. The module comment of `http` lists what one client can take.

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::conn::{Conn, Phase, Step};
use super::service::{Service, Wake, Waking};
use super::Limits;

const LISTENER: Token = Token(0);
const SIGTERM: Token = Token(1);
const SIGINT: Token = Token(2);
/// The service's waker: feed the streams, resume the parked requests.
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
struct Conns<S: Service> {
    slots: Vec<Option<Conn<S>>>,
    free: Vec<usize>,
    open: usize,
    generation: u64,
    /// Round-robin order of the connections with work, by (slot, generation).
    queue: VecDeque<(usize, u64)>,
    /// No deadline is earlier than this (a lower bound; exact after a scan).
    earliest: Option<Instant>,
}

impl<S: Service> Conns<S> {
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

    fn close(&mut self, idx: usize) -> Option<Conn<S>> {
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
        (mut stream, peer): (mio::net::TcpStream, std::net::SocketAddr),
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
        let c = Conn::new(stream, Some(peer), self.generation, Instant::now());
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
pub struct Loop<'a, S: Service> {
    poll: Poll,
    listener: TcpListener,
    _signals: [UnixStream; 2],
    service: &'a S,
    limits: Limits,
    balance: (&'a Balance, usize),
    conns: Conns<S>,
    /// Connections may be waiting in the listener's backlog.
    accept_pending: bool,
    accept_retry: Option<Instant>,
    declines: u32,
    /// The service woke this loop since waiters were last woken.
    woken: bool,
    /// Where the last turn's waking stopped, its `ROUND_SLICE` spent: the
    /// next turn goes on from there.
    wake_from: usize,
    /// Streams and parked requests (a lower bound; exact after a scan).
    waiters: usize,
    /// Shared with the service's `Wake`: armed while there are waiters.
    waking: Arc<Waking>,
}

impl<'a, S: Service> Loop<'a, S> {
    /// Everything a loop needs from the kernel (its poll, signal pipes, the
    /// service's waker), acquired up front: made before any loop serves, a
    /// loop cannot fail to start later for want of a descriptor that its
    /// clients have taken. The listener must be non-blocking.
    pub fn new(
        listener: std::net::TcpListener,
        service: &'a S,
        limits: Limits,
        balance: (&'a Balance, usize),
    ) -> io::Result<Loop<'a, S>> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let signals = [
            signal_pipe(&poll, signal_hook::consts::SIGTERM, SIGTERM)?,
            signal_pipe(&poll, signal_hook::consts::SIGINT, SIGINT)?,
        ];
        let waking = Arc::new(Waking {
            waker: Waker::new(poll.registry(), WAKE)?,
            armed: AtomicBool::new(false),
        });
        service.attach(Wake(waking.clone()));
        Ok(Loop {
            poll,
            listener,
            _signals: signals,
            service,
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
            woken: false,
            wake_from: 0,
            waiters: 0,
            waking,
        })
    }

    /// Serves until SIGTERM or SIGINT.
    pub fn run(mut self) -> io::Result<Stop> {
        let mut events = Events::with_capacity(256);
        // This thread's log lines go to the writer once a turn, together.
        crate::log::batching();
        loop {
            let waited = self.wait(&mut events);
            if !matches!(waited, Ok(None)) {
                crate::log::end_batching();
            }
            if let Some(stop) = waited? {
                return Ok(stop);
            }
            self.accept();
            self.serve_round();
            self.balance.0.set(self.balance.1, self.conns.open);
            self.arm();
            self.wake_waiters();
            self.expire();
            crate::log::end_turn();
        }
    }
}

impl<S: Service> Loop<'_, S> {
    /// Polls: at once while there is work, else until the earliest
    /// deadline. Readiness is noted on the connections.
    fn wait(&mut self, events: &mut Events) -> io::Result<Option<Stop>> {
        let now = Instant::now();
        // Waiters left unwoken last turn are work too.
        let busy = !self.conns.queue.is_empty()
            || self.wake_from > 0
            || (self.accept_pending && self.accept_retry.is_none());
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
                WAKE => self.woken = true,
                SIGTERM => return Ok(Some(Stop::Sigterm)),
                SIGINT => return Ok(Some(Stop::Sigint)),
                Token(t) => {
                    let idx = t - FIRST_CONN;
                    if let Some(Some(c)) = self.conns.slots.get_mut(idx) {
                        let broken = event.is_error();
                        let work = c.on_event(
                            event.is_readable() || event.is_read_closed() || broken,
                            event.is_writable() || event.is_write_closed() || broken,
                            event.is_read_closed() || broken,
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
                Ok(accepted) => {
                    if self.conns.open >= self.limits.max_connections {
                        self.conns.evict(now);
                    }
                    self.conns.insert(&self.poll, accepted, &self.limits);
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
                    let step = c.step(self.service, &self.limits);
                    let deadline = c.deadline(&self.limits);
                    if matches!(c.phase(), Phase::Stream | Phase::Parked) {
                        // Exact again at the next time-out scan.
                        self.waiters = self.waiters.max(1);
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

    /// Arms the service's `Wake` while there are waiters, disarms it when
    /// there are none. On arming, the waiters are woken once: what the
    /// service changed while the `Wake` was still disarmed (after a new
    /// stream's start, before this) reaches them now.
    fn arm(&mut self) {
        let armed = self.waiters > 0;
        if armed == self.waking.armed.load(Ordering::Relaxed) {
            return;
        }
        self.waking.armed.store(armed, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        if armed {
            self.woken = true;
        }
    }

    /// The service woke the loop: every stream takes what it has room
    /// for, every parked request its answer if it has one. Bounded like
    /// any other work: past `ROUND_SLICE` the rest wait for the next turn
    /// (which goes on where this one stopped), so a crowd of waiters never
    /// holds up the connections that have requests.
    fn wake_waiters(&mut self) {
        if !std::mem::take(&mut self.woken) || self.waiters == 0 {
            return;
        }
        let round = Instant::now();
        let slots = self.conns.slots.len();
        let from = std::mem::take(&mut self.wake_from).min(slots);
        for idx in from..slots {
            let work = match self.conns.slots.get_mut(idx) {
                Some(Some(c)) if matches!(c.phase(), Phase::Stream | Phase::Parked) => {
                    c.on_wake(self.service)
                }
                _ => continue,
            };
            if work {
                self.conns.enqueue(idx);
            }
            if round.elapsed() >= ROUND_SLICE && idx + 1 < slots {
                self.wake_from = idx + 1;
                self.woken = true;
                return;
            }
        }
    }

    /// Deadlines, only when the earliest has come (`Conn::on_deadline`).
    fn expire(&mut self) {
        let now = Instant::now();
        if self.conns.earliest.is_none_or(|e| e > now) {
            return;
        }
        self.conns.earliest = None;
        self.waiters = 0;
        for idx in 0..self.conns.slots.len() {
            let Some(Some(c)) = self.conns.slots.get_mut(idx) else {
                continue;
            };
            let mut deadline = c.deadline(&self.limits);
            let mut step = Step::Wait;
            if deadline <= now {
                step = c.on_deadline(now, self.service);
                deadline = c.deadline(&self.limits);
            }
            if matches!(c.phase(), Phase::Stream | Phase::Parked) {
                self.waiters += 1;
            }
            match step {
                Step::Close => {
                    self.conns.close(idx);
                }
                Step::More => {
                    self.conns.enqueue(idx);
                    self.conns.note_deadline(deadline);
                }
                Step::Wait => self.conns.note_deadline(deadline),
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

#[cfg(test)]
mod tests {
    //! The seam from the service's side: a toy service that parks, delays,
    //! closes and streams, driven over real sockets by one loop.
    use super::*;
    use crate::http::{Answer, Request, Response};
    use crate::log::Note;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Toy {
        released: AtomicBool,
        items: Mutex<Vec<String>>,
        wake: Mutex<Option<Wake>>,
        delay: Mutex<Option<Instant>>,
    }

    impl Toy {
        fn wake(&self) {
            if let Some(w) = self.wake.lock().unwrap().as_ref() {
                w.wake();
            }
        }
    }

    fn ok(body: &str) -> Response {
        Response::new(200, "text/plain", body.to_owned())
    }

    impl Service for Toy {
        type Stream = usize;
        type Parked = ();

        fn call(&self, req: &Request<'_>) -> Answer<usize, ()> {
            let now = Instant::now();
            match req.path {
                "/park" => Answer::Park((), now + Duration::from_secs(60)),
                "/park-briefly" => Answer::Park((), now),
                "/later" => {
                    let at = now + Duration::from_millis(1500);
                    *self.delay.lock().unwrap() = Some(at);
                    Answer::At(ok("late"), at, crate::http::Settle::none())
                }
                "/close" => Answer::Close(Note::default()),
                "/close-later" => {
                    let at = now + Duration::from_millis(1500);
                    *self.delay.lock().unwrap() = Some(at);
                    Answer::CloseAt(Note::default(), at, crate::http::Settle::none())
                }
                "/stream" => Answer::Stream(ok("open\n"), 0),
                _ => Answer::Now(ok("now")),
            }
        }

        fn feed(&self, seen: &mut usize, _: usize, out: &mut Vec<u8>) {
            for item in self.items.lock().unwrap().iter().skip(*seen) {
                out.extend_from_slice(item.as_bytes());
                *seen += 1;
            }
        }

        fn behind(&self, seen: &usize) -> bool {
            self.items.lock().unwrap().len() > *seen
        }

        fn resume(&self, _: &mut ()) -> Option<Response> {
            self.released.load(Ordering::SeqCst).then(|| ok("woken"))
        }

        fn give_up(&self, _: ()) -> Response {
            Response::new(204, "text/plain", "")
        }

        fn attach(&self, wake: Wake) {
            *self.wake.lock().unwrap() = Some(wake);
        }
    }

    /// One loop serving a fresh toy on a thread of its own.
    fn serve() -> (&'static Toy, std::net::SocketAddr) {
        serve_with(16)
    }

    /// One loop serving a fresh `S` (at most `max_connections`) on a
    /// thread of its own.
    fn serve_with<S>(max_connections: usize) -> (&'static S, std::net::SocketAddr)
    where
        S: Service + Default + Sync + 'static,
        S::Stream: Send,
        S::Parked: Send,
    {
        let service: &'static S = Box::leak(Box::default());
        let balance: &'static Balance = Box::leak(Box::new(Balance::new(1)));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits {
            read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            max_connections,
            max_body: 1024,
        };
        let l = Loop::new(listener, service, limits, (balance, 0)).unwrap();
        std::thread::spawn(move || l.run());
        (service, addr)
    }

    fn get(addr: std::net::SocketAddr, path: &str) -> TcpStream {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        s
    }

    /// Reads one whole answer (head and `Content-Length` body).
    fn answer(s: &mut TcpStream) -> String {
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            if s.read(&mut byte).unwrap() == 0 {
                break;
            }
            got.push(byte[0]);
            let text = String::from_utf8_lossy(&got);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |n| n.parse::<usize>().unwrap());
                if body.len() == len {
                    break;
                }
            }
        }
        String::from_utf8(got).unwrap()
    }

    fn nothing_yet(s: &TcpStream) -> bool {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        let quiet = matches!((&*s).read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock);
        s.set_nonblocking(false).unwrap();
        quiet
    }

    /// A service whose parked requests are slow to ask (1 ms each): what a
    /// crowd of waiters costs a turn. Its first resume lets the test send
    /// a plain request; `before_now` is how many resumes ran before it
    /// was served.
    #[derive(Default)]
    struct Crowd {
        resumes: std::sync::atomic::AtomicUsize,
        before_now: std::sync::atomic::AtomicUsize,
        first: Mutex<Option<std::sync::mpsc::Sender<()>>>,
        wake: Mutex<Option<Wake>>,
    }

    impl Service for Crowd {
        type Stream = ();
        type Parked = ();

        fn call(&self, req: &Request<'_>) -> Answer<(), ()> {
            if req.path == "/park" {
                return Answer::Park((), Instant::now() + Duration::from_secs(60));
            }
            let n = self.resumes.load(Ordering::SeqCst);
            self.before_now.store(n, Ordering::SeqCst);
            Answer::Now(ok("now"))
        }

        fn feed(&self, _: &mut (), _: usize, _: &mut Vec<u8>) {}

        fn behind(&self, _: &()) -> bool {
            false
        }

        fn resume(&self, _: &mut ()) -> Option<Response> {
            if self.resumes.fetch_add(1, Ordering::SeqCst) == 0 {
                if let Some(tx) = self.first.lock().unwrap().take() {
                    let _ = tx.send(());
                }
            }
            std::thread::sleep(Duration::from_millis(1));
            None
        }

        fn give_up(&self, _: ()) -> Response {
            Response::new(204, "text/plain", "")
        }

        fn attach(&self, wake: Wake) {
            *self.wake.lock().unwrap() = Some(wake);
        }
    }

    /// Regression (red team): waking the parked requests took as long as
    /// they all needed before anything else was served (30 waiters made
    /// the inbox's answers seconds late). Waking stops after the turn's
    /// slice and goes on next turn: a plain request that arrives while
    /// 300 slow waiters are being woken is served long before the last.
    #[test]
    fn waking_a_crowd_of_waiters_is_bounded_per_turn() {
        let (crowd, addr) = serve_with::<Crowd>(512);
        let parked: Vec<TcpStream> = (0..300).map(|_| get(addr, "/park")).collect();
        // All parked: a plain request after them is answered.
        let mut probe = get(addr, "/now");
        assert!(answer(&mut probe).ends_with("now"));
        let (tx, rx) = std::sync::mpsc::channel();
        *crowd.first.lock().unwrap() = Some(tx);
        crowd.resumes.store(0, Ordering::SeqCst);
        crowd.wake.lock().unwrap().as_ref().unwrap().wake();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let mut plain = get(addr, "/now");
        assert!(answer(&mut plain).ends_with("now"));
        let before = crowd.before_now.load(Ordering::SeqCst);
        assert!(before < 300, "{before} of 300 waiters were asked first");
        drop(parked);
    }

    #[test]
    fn a_parked_request_waits_while_others_are_served_and_answers_when_woken() {
        let (toy, addr) = serve();
        // A parked request with another pipelined behind it.
        let mut parked = TcpStream::connect(addr).unwrap();
        parked
            .write_all(b"GET /park HTTP/1.1\r\nHost: x\r\n\r\nGET /now HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut other = get(addr, "/now");
        assert!(answer(&mut other).ends_with("\r\n\r\nnow"));
        assert!(nothing_yet(&parked), "parked until woken");
        // A wake with nothing to say leaves it parked.
        toy.wake();
        let mut third = get(addr, "/now");
        assert!(answer(&mut third).ends_with("now"));
        assert!(nothing_yet(&parked));
        toy.released.store(true, Ordering::SeqCst);
        toy.wake();
        assert!(answer(&mut parked).ends_with("\r\n\r\nwoken"));
        assert!(
            answer(&mut parked).ends_with("\r\n\r\nnow"),
            "then the pipelined one"
        );
    }

    #[test]
    fn a_parked_request_gets_the_services_last_word_at_its_deadline() {
        let (_, addr) = serve();
        let mut s = get(addr, "/park-briefly");
        assert!(answer(&mut s).starts_with("HTTP/1.1 204 No Content\r\n"));
    }

    #[test]
    fn a_delayed_answer_waits_for_its_time_and_nobody_waits_on_it() {
        let (toy, addr) = serve();
        let mut late = get(addr, "/later");
        let mut other = get(addr, "/now");
        assert!(answer(&mut other).ends_with("now"));
        let at = loop {
            if let Some(at) = *toy.delay.lock().unwrap() {
                break at;
            }
            std::thread::yield_now();
        };
        let early = Instant::now() < at;
        // Only meaningful if this thread got here before the time came.
        assert!(!early || nothing_yet(&late), "sent before its time");
        assert!(answer(&mut late).ends_with("late"));
        assert!(Instant::now() >= at, "answered before its time");
    }

    /// A loop with nothing waiting is not woken at all: the service's
    /// wakes are no-ops until a stream opens (or a request parks).
    #[test]
    fn the_wake_is_armed_only_while_something_waits() {
        let (toy, addr) = serve();
        let armed = || {
            let w = toy.wake.lock().unwrap();
            w.as_ref().unwrap().0.armed.load(Ordering::SeqCst)
        };
        let mut plain = get(addr, "/now");
        assert!(answer(&mut plain).ends_with("now"));
        assert!(!armed(), "armed with nothing waiting");
        let mut s = get(addr, "/stream");
        let mut byte = [0u8; 1];
        s.read_exact(&mut byte).unwrap();
        // The loop arms once the stream's step is done; poll for it.
        while !armed() {
            std::thread::yield_now();
        }
        // Armed, a change reaches the stream.
        toy.items.lock().unwrap().push("x\n".to_owned());
        toy.wake();
        let mut rest = Vec::new();
        while !rest.ends_with(b"x\n") {
            s.read_exact(&mut byte).unwrap();
            rest.push(byte[0]);
        }
    }

    #[test]
    fn a_request_can_be_closed_without_an_answer() {
        let (_, addr) = serve();
        let mut s = get(addr, "/close");
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"");
    }

    /// A plugin that hangs, then drops the connection: nothing is sent,
    /// not before its time, and others are served meanwhile.
    #[test]
    fn a_request_can_be_closed_later_without_an_answer() {
        let (toy, addr) = serve();
        let mut s = get(addr, "/close-later");
        let at = loop {
            if let Some(at) = *toy.delay.lock().unwrap() {
                break at;
            }
            std::thread::yield_now();
        };
        let mut other = get(addr, "/now");
        assert!(answer(&mut other).ends_with("now"));
        let early = Instant::now() < at;
        assert!(!early || nothing_yet(&s), "closed before its time");
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"");
        assert!(Instant::now() >= at, "closed before its time");
    }

    #[test]
    fn a_stream_is_fed_each_time_the_service_wakes_the_loop() {
        let (toy, addr) = serve();
        let mut s = get(addr, "/stream");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\nopen\n") {
            assert_eq!(s.read(&mut byte).unwrap(), 1, "the stream closed");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(!head.contains("Content-Length"), "{head}");
        for item in ["one\n", "two\n"] {
            toy.items.lock().unwrap().push(item.to_owned());
            toy.wake();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, item.as_bytes());
        }
    }
}
