//! The loop: one thread, one `mio` poll over the listener, the signal pipes
//! and every connection. Requests are parsed by `httparse` under strict
//! limits and handed, complete, to `routes::handle`; a slow or hostile
//! client only ever holds its own connection slot, never the loop.
//!
//! Limits, all enforced before memory is committed:
//! - a whole request (head and body) must arrive within `read_timeout` of
//!   its first byte, else 408 and close; an idle keep-alive connection is
//!   closed after the same time;
//! - at most `max_connections` are open; the rest wait in the kernel backlog,
//!   and while they wait, a connection idle for `IDLE_GRACE` (connected or
//!   kept alive, but sending nothing) is closed to make room;
//! - head ≤ `MAX_HEAD` bytes (414 if the request line alone is longer, else
//!   431) with ≤ `MAX_HEADERS` headers (431);
//! - `Content-Length` ≤ `max_body`, checked from the header alone (413), so
//!   an absurd length allocates nothing; `Transfer-Encoding` is refused.

use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token};

use crate::routes::{self, App, Method, Request, Response};

pub const MAX_HEAD: usize = 8 * 1024;
pub const MAX_HEADERS: usize = 32;

const LISTENER: Token = Token(0);
const SIGTERM: Token = Token(1);
const SIGINT: Token = Token(2);
const FIRST_CONN: usize = 3;
/// How long an idle connection keeps its slot while others wait for one.
const IDLE_GRACE: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub read_timeout: Duration,
    pub max_connections: usize,
    pub max_body: usize,
}

struct Conn {
    stream: TcpStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    written: usize,
    /// The current request (or idle period) must complete by then.
    deadline: Instant,
    /// When the first byte of the current request arrived, for the log.
    started: Option<Instant>,
    /// Since when the connection has held no request, if it holds none.
    idle_since: Option<Instant>,
    continued: bool,
    close_after_write: bool,
}

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

/// Serves until SIGTERM or SIGINT. `listener` must be non-blocking.
pub fn serve(listener: std::net::TcpListener, app: &App, limits: Limits) -> io::Result<Stop> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::from_std(listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let _term = signal_pipe(&poll, signal_hook::consts::SIGTERM, SIGTERM)?;
    let _int = signal_pipe(&poll, signal_hook::consts::SIGINT, SIGINT)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut open = 0usize;
    let mut events = Events::with_capacity(256);
    // At the cap with clients possibly waiting in the backlog.
    let mut pressure = false;
    loop {
        let now = Instant::now();
        let evictable = |c: &Conn| {
            c.idle_since
                .filter(|_| c.out.is_empty())
                .map(|t| t + IDLE_GRACE)
        };
        let next_eviction = conns
            .iter()
            .flatten()
            .filter_map(evictable)
            .min()
            .filter(|_| pressure);
        let next = conns
            .iter()
            .flatten()
            .map(|c| c.deadline)
            .chain(next_eviction)
            .min();
        let timeout = next.map(|d| d.saturating_duration_since(now));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut accept_ready = false;
        for event in events.iter() {
            match event.token() {
                LISTENER => accept_ready = true,
                SIGTERM => return Ok(Stop::Sigterm),
                SIGINT => return Ok(Stop::Sigint),
                Token(t) => {
                    let Some(slot) = conns.get_mut(t - FIRST_CONN) else {
                        continue;
                    };
                    let keep = slot.as_mut().is_some_and(|c| on_ready(c, app, &limits));
                    if !keep && slot.take().is_some() {
                        open -= 1;
                        accept_ready = true;
                    }
                }
            }
        }
        // Time-outs: 408 for a request in progress, silence for an idle one.
        let now = Instant::now();
        for slot in conns.iter_mut() {
            if slot.as_ref().is_some_and(|c| c.deadline <= now) {
                if let Some(mut c) = slot.take() {
                    if c.started.is_some() && c.out.is_empty() {
                        let r = Response::error(408, "request not received in time");
                        log(None, None, &r, c.started);
                        let _ = c.stream.write(&serialize(&r, true, false, true));
                    }
                    open -= 1;
                    accept_ready = true;
                }
            }
        }
        // Under pressure, idle connections past their grace make room.
        if pressure {
            for slot in conns.iter_mut() {
                if slot.as_ref().and_then(evictable).is_some_and(|t| t <= now)
                    && slot.take().is_some()
                {
                    open -= 1;
                    accept_ready = true;
                }
            }
        }
        // Accept until the backlog is empty or the cap is reached; while
        // capped, further clients wait in the kernel's backlog.
        pressure |= accept_ready && open >= limits.max_connections;
        while accept_ready && open < limits.max_connections {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let idx = conns.iter().position(Option::is_none).unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    let token = Token(idx + FIRST_CONN);
                    if poll
                        .registry()
                        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                        .is_err()
                    {
                        continue;
                    }
                    if let Some(slot) = conns.get_mut(idx) {
                        *slot = Some(Conn {
                            stream,
                            inbuf: Vec::new(),
                            out: Vec::new(),
                            written: 0,
                            deadline: Instant::now() + limits.read_timeout,
                            started: None,
                            idle_since: Some(Instant::now()),
                            continued: false,
                            close_after_write: false,
                        });
                        open += 1;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    accept_ready = false;
                    pressure = false;
                }
                // Out of descriptors or an aborted handshake: stop for this round.
                Err(_) => accept_ready = false,
            }
        }
        // Stopped by the cap, not by an empty backlog: someone may be waiting.
        pressure |= accept_ready;
    }
}

/// Reads, answers and writes what it can; false when the connection is done.
fn on_ready(c: &mut Conn, app: &App, limits: &Limits) -> bool {
    if !flush(c) {
        return false;
    }
    let mut eof = false;
    let mut chunk = [0u8; 4096];
    let cap = MAX_HEAD + limits.max_body;
    loop {
        match c.stream.read(&mut chunk) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => {
                if c.started.is_none() {
                    c.started = Some(Instant::now());
                    c.idle_since = None;
                }
                c.inbuf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default());
                if c.inbuf.len() > cap {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    // Answer buffered requests one at a time, each only once the previous
    // answer is fully out: pipelined requests need no further read event.
    loop {
        let mut need_more = false;
        while c.out.is_empty() && !c.close_after_write && !c.inbuf.is_empty() {
            if let Progress::NeedMore = next_request(c, app, limits) {
                need_more = true;
                break;
            }
        }
        if !flush(c) {
            return false;
        }
        if need_more || c.inbuf.is_empty() || !c.out.is_empty() || c.close_after_write {
            break;
        }
    }
    // A client that closed its side gets what it asked for, then we close.
    !(eof && c.out.is_empty())
}

/// Writes pending output; false on a broken connection or when a
/// `Connection: close` answer is fully out.
fn flush(c: &mut Conn) -> bool {
    while c.written < c.out.len() {
        match c.stream.write(c.out.get(c.written..).unwrap_or_default()) {
            Ok(0) => return false,
            Ok(n) => c.written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    c.out.clear();
    c.written = 0;
    !c.close_after_write
}

enum Progress {
    Answered,
    NeedMore,
}

/// The parts of a request head we act on.
struct Head<'b> {
    method: &'b str,
    target: &'b str,
    http10: bool,
    content_length: usize,
    content_type: Option<&'b str>,
    expect_continue: bool,
    close: bool,
}

enum HeadError {
    Respond(u16, &'static str),
}

fn parse_head<'b>(req: &httparse::Request<'_, 'b>, max_body: usize) -> Result<Head<'b>, HeadError> {
    let bad = |status, reason| HeadError::Respond(status, reason);
    let mut head = Head {
        method: req.method.unwrap_or(""),
        target: req.path.unwrap_or(""),
        http10: req.version == Some(0),
        content_length: 0,
        content_type: None,
        expect_continue: false,
        close: req.version == Some(0),
    };
    let mut length: Option<u64> = None;
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| bad(400, "header value is not UTF-8"))?
            .trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            // RFC 9112 §6.3: digits only; several must agree, or it is smuggling.
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(400, "Content-Length is not a number"));
            }
            let n: u64 = value.parse().unwrap_or(u64::MAX);
            if length.is_some_and(|l| l != n) {
                return Err(bad(400, "conflicting Content-Length headers"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad(
                411,
                "Transfer-Encoding is not supported; send Content-Length",
            ));
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value);
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("connection") {
            head.close |= value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"));
        }
    }
    let length = length.unwrap_or(0);
    if length > max_body as u64 {
        return Err(bad(413, "request body too large"));
    }
    head.content_length =
        usize::try_from(length).map_err(|_| bad(413, "request body too large"))?;
    if !head.target.starts_with('/') {
        return Err(bad(400, "request target must be a path"));
    }
    Ok(head)
}

/// What the bytes received so far on a connection amount to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not a whole request yet; `send_continue` when the client waits for
    /// `100 Continue` before sending a body it may send.
    NeedMore { send_continue: bool },
    /// A whole request was answered: `consumed` bytes of input, `response`
    /// to send, and whether the connection closes after it.
    Answered {
        consumed: usize,
        response: Vec<u8>,
        close: bool,
    },
}

/// Parses at most one request from `input` and answers it: the whole HTTP
/// side of the server as a pure function of its input (and `app`'s clock),
/// which the loop drives and the fuzzer feeds.
pub fn respond(input: &[u8], app: &App, limits: &Limits, started: Option<Instant>) -> Outcome {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let refuse = |m: Option<&str>, t: Option<&str>, r: Response| {
        log(m, t, &r, started);
        Outcome::Answered {
            consumed: input.len(),
            response: serialize(&r, true, false, true),
            close: true,
        }
    };
    let head_len = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Complete(_)) => {
            return refuse(
                None,
                None,
                Response::error(431, "request headers too large"),
            );
        }
        Ok(httparse::Status::Partial) => {
            if input.len() <= MAX_HEAD {
                return Outcome::NeedMore {
                    send_continue: false,
                };
            }
            let line_done = input.iter().take(MAX_HEAD).any(|&b| b == b'\n');
            let r = if line_done {
                Response::error(431, "request headers too large")
            } else {
                Response::error(414, "request line too long")
            };
            return refuse(None, None, r);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return refuse(None, None, Response::error(431, "too many request headers"));
        }
        Err(_) => return refuse(None, None, Response::error(400, "malformed HTTP request")),
    };
    let head = match parse_head(&req, limits.max_body) {
        Ok(h) => h,
        Err(HeadError::Respond(status, reason)) => {
            let target = req.path.map(path_only);
            return refuse(
                req.method,
                target.as_deref(),
                Response::error(status, reason),
            );
        }
    };
    let total = head_len.saturating_add(head.content_length);
    let Some(body) = input.get(head_len..total) else {
        return Outcome::NeedMore {
            send_continue: head.expect_continue && !head.http10,
        };
    };
    let (path, query) = match head.target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (head.target, None),
    };
    let method = Method::parse(head.method);
    let response = routes::handle(
        app,
        &Request {
            method,
            path,
            query,
            content_type: head.content_type,
            body,
        },
    );
    log(Some(head.method), Some(path), &response, started);
    Outcome::Answered {
        consumed: total,
        response: serialize(&response, head.close, head.http10, method != Method::Head),
        close: head.close,
    }
}

fn next_request(c: &mut Conn, app: &App, limits: &Limits) -> Progress {
    match respond(&c.inbuf, app, limits, c.started) {
        Outcome::NeedMore { send_continue } => {
            if send_continue && !c.continued {
                c.continued = true;
                c.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            Progress::NeedMore
        }
        Outcome::Answered {
            consumed,
            response,
            close,
        } => {
            c.out.extend_from_slice(&response);
            c.inbuf.drain(..consumed.min(c.inbuf.len()));
            c.close_after_write = close;
            c.continued = false;
            c.started = (!c.inbuf.is_empty()).then(Instant::now);
            c.idle_since = c.inbuf.is_empty().then(Instant::now);
            c.deadline = Instant::now() + limits.read_timeout;
            Progress::Answered
        }
    }
}

fn path_only(target: &str) -> String {
    target.split('?').next().unwrap_or("").to_owned()
}

/// One line per request on stderr: method, path, status, duration, note.
/// The path never includes the query: a token in `?result=` stays out.
fn log(method: Option<&str>, path: Option<&str>, r: &Response, started: Option<Instant>) {
    let ms = started.map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0);
    let printable = |s: &str| {
        s.chars()
            .map(|ch| if ch.is_ascii_graphic() { ch } else { '?' })
            .collect::<String>()
    };
    let (m, p) = (
        printable(method.unwrap_or("-")),
        printable(path.unwrap_or("-")),
    );
    let mut line = format!("{m} {p} {} {ms:.1}ms", r.status);
    if !r.note.is_empty() {
        line.push(' ');
        line.push_str(&r.note);
    }
    line.push('\n');
    // One write per line: stderr is unbuffered, and a line must not be torn.
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    }
}

fn serialize(r: &Response, close: bool, http10: bool, with_body: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + r.body.len());
    let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    let _ = write!(
        out,
        "{version} {} {}\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        r.status,
        reason_phrase(r.status),
        http_date(),
        r.content_type,
        r.body.len()
    );
    if let Some(allow) = r.allow {
        let _ = write!(out, "Allow: {allow}\r\n");
    }
    if close && !http10 {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if with_body {
        out.extend_from_slice(&r.body);
    }
    out
}

/// IMF-fixdate (RFC 9110 §5.6.7) of the current second.
fn http_date() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_http_date(secs)
}

fn format_http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS.get((days % 7) as usize).unwrap_or(&"Thu"),
        MONTHS.get((month - 1) as usize).unwrap_or(&"Jan"),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // The seed's response date.
        assert_eq!(
            format_http_date(1_615_879_800),
            "Tue, 16 Mar 2021 07:30:00 GMT"
        );
        assert_eq!(
            format_http_date(951_782_400),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
    }

    #[test]
    fn serialized_heads() {
        let mut r = Response::error(405, "method not allowed");
        r.allow = Some("POST");
        let s = String::from_utf8(serialize(&r, true, false, false)).unwrap();
        assert!(s.starts_with("HTTP/1.1 405 Method Not Allowed\r\nDate: "));
        assert!(s.ends_with("Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\nAllow: POST\r\nConnection: close\r\n\r\n"));
    }
}
