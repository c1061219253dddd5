//! Reading a request: the bytes received so far on a connection become at
//! most one answered request, as a pure function the loop drives and the
//! fuzzer feeds.

use std::time::{Duration, Instant};

use super::response::{serialize, Body, Connection, Framing, Version};
use super::service::{Answer, Headers, Method, Refusal, Request, Response, Service};
use super::{Limits, MAX_HEAD, MAX_HEADERS};
use crate::log::{self, Note, RequestLine};

/// The parts of a request head the transport acts on; the rest reaches
/// the service as `Headers`.
struct Head<'b> {
    method: &'b str,
    target: &'b str,
    version: Version,
    content_length: usize,
    expect_continue: bool,
    close: bool,
}

fn parse_head<'b>(
    req: &httparse::Request<'_, 'b>,
    max_body: usize,
) -> Result<Head<'b>, (u16, &'static str)> {
    let http10 = req.version == Some(0);
    let mut head = Head {
        method: req.method.unwrap_or(""),
        target: req.path.unwrap_or(""),
        version: if http10 {
            Version::Http10
        } else {
            Version::Http11
        },
        content_length: 0,
        expect_continue: false,
        close: http10,
    };
    let mut length: Option<u64> = None;
    let mut hosts = 0usize;
    for h in req.headers.iter() {
        let value = std::str::from_utf8(super::service::trim_ows(h.value))
            .map_err(|_| (400, "header value is not UTF-8"))?;
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            // RFC 9112 §6.3: ASCII digits only; several must agree, or it
            // is request smuggling.
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err((400, "Content-Length is not a number"));
            }
            let n: u64 = value.parse().unwrap_or(u64::MAX);
            if length.is_some_and(|l| l != n) {
                return Err((400, "conflicting Content-Length headers"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err((
                411,
                "Transfer-Encoding is not supported; send Content-Length",
            ));
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("connection") {
            head.close |= value
                .split(',')
                .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case("close"));
        }
    }
    // RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; no request may have two.
    if hosts > 1 {
        return Err((400, "more than one Host header"));
    }
    if hosts == 0 && !http10 {
        return Err((400, "HTTP/1.1 request without Host header"));
    }
    let length = length.unwrap_or(0);
    if length > max_body as u64 {
        return Err((413, "request body too large"));
    }
    head.content_length = usize::try_from(length).map_err(|_| (413, "request body too large"))?;
    if !head.target.starts_with('/') {
        return Err((400, "request target must be a path"));
    }
    Ok(head)
}

/// What the bytes received so far on a connection amount to.
#[derive(Debug)]
pub enum Outcome<S, P> {
    /// Not a whole request yet; `send_continue` when the client waits for
    /// `100 Continue` before sending a body it may send.
    NeedMore { send_continue: bool },
    /// A whole request, `consumed` bytes of input, and what to do with it.
    Answered { consumed: usize, then: Then<S, P> },
}

/// What the connection does with a request's answer.
#[derive(Debug)]
pub enum Then<S, P> {
    /// Send `bytes`; then keep the connection or close it.
    Send {
        bytes: Vec<u8>,
        connection: Connection,
    },
    /// Send `head`, then carry the stream until the client goes.
    Stream { head: Vec<u8>, stream: S },
    /// Wait for the service (`Parked::resume`).
    Park(Parked<P>),
    /// Send `bytes` once `at` has come.
    SendAt {
        bytes: Vec<u8>,
        at: Instant,
        connection: Connection,
        settle: super::service::Settle,
    },
    /// Close without answering.
    Close,
}

/// A parked request: the service's part, and what the transport needs to
/// answer it later (its framing, and its log line's method and path).
#[derive(Debug)]
pub struct Parked<P> {
    pub parked: P,
    pub until: Instant,
    framing: Framing,
    method: String,
    path: String,
    started: Option<Instant>,
}

impl<P> Parked<P> {
    /// The service's answer now, if it has one: serialised and logged.
    pub fn resume<S: Service<Parked = P>>(&mut self, service: &S) -> Option<Vec<u8>> {
        let r = service.resume(&mut self.parked)?;
        Some(self.finish(&r))
    }

    /// The deadline passed: the service's last word, serialised and logged.
    pub fn give_up<S: Service<Parked = P>>(self, service: &S) -> (Vec<u8>, Connection) {
        let connection = self.framing.connection;
        let r = service.give_up(self.parked);
        let framing = self.framing;
        log_line(Some(&self.method), Some(&self.path), &r, self.started);
        (serialize(&r, framing), connection)
    }

    pub fn connection(&self) -> Connection {
        self.framing.connection
    }

    fn finish(&self, r: &Response) -> Vec<u8> {
        log_line(Some(&self.method), Some(&self.path), r, self.started);
        serialize(r, self.framing)
    }
}

fn elapsed(started: Option<Instant>) -> Duration {
    started.map_or(Duration::ZERO, |t| t.elapsed())
}

fn log_line(method: Option<&str>, path: Option<&str>, r: &Response, started: Option<Instant>) {
    log::request(&RequestLine {
        method,
        path,
        status: r.status,
        duration: elapsed(started),
        note: &r.note,
    });
}

/// The length of the request head in `input`: `None` while it is not
/// whole yet, or the refusal of a head too large or malformed.
fn head_length<'b>(
    req: &mut httparse::Request<'_, 'b>,
    input: &'b [u8],
) -> Result<Option<usize>, (u16, &'static str)> {
    match req.parse(input) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => Ok(Some(n)),
        Ok(httparse::Status::Complete(_)) => Err((431, "request headers too large")),
        Ok(httparse::Status::Partial) if input.len() <= MAX_HEAD => Ok(None),
        Ok(httparse::Status::Partial) => {
            let line_done = input.iter().take(MAX_HEAD).any(|&b| b == b'\n');
            Err(if line_done {
                (431, "request headers too large")
            } else {
                (414, "request line too long")
            })
        }
        Err(httparse::Error::TooManyHeaders) => Err((431, "too many request headers")),
        Err(_) => Err((400, "malformed HTTP request")),
    }
}

/// Where a request came from and when its first byte arrived.
#[derive(Debug, Clone, Copy, Default)]
pub struct Arrival {
    pub peer: Option<std::net::SocketAddr>,
    pub started: Option<Instant>,
}

/// A request refused before it reached the service: logged, told to the
/// service, answered, and the connection closed (whatever else it sent is
/// not trusted to frame).
fn refusal<S: Service>(
    consumed: usize,
    service: &S,
    arrival: Arrival,
    (method, path): (Option<&str>, Option<&str>),
    r: &Response,
) -> Outcome<S::Stream, S::Parked> {
    log_line(method, path, r, arrival.started);
    service.refused(&Refusal {
        method,
        path,
        status: r.status,
        reason: r.note.detail.as_deref().unwrap_or(""),
        peer: arrival.peer,
    });
    Outcome::Answered {
        consumed,
        then: Then::Send {
            bytes: serialize(r, Framing::REFUSAL),
            connection: Connection::Close,
        },
    }
}

/// The 408 for a request not received in time, logged.
pub fn timed_out(started: Instant) -> Vec<u8> {
    let r = Response::error(408, "request not received in time");
    log_line(None, None, &r, Some(started));
    serialize(&r, Framing::REFUSAL)
}

/// Parses at most one request from `input` and hands it to `service`: the
/// whole HTTP side of the server as a pure function of its input (and the
/// service's state). `started` is when the request's first byte arrived.
pub fn respond<S: Service>(
    input: &[u8],
    service: &S,
    limits: &Limits,
    arrival: Arrival,
) -> Outcome<S::Stream, S::Parked> {
    let started = arrival.started;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match head_length(&mut req, input) {
        Ok(Some(n)) => n,
        Ok(None) => {
            return Outcome::NeedMore {
                send_continue: false,
            }
        }
        Err((status, why)) => {
            let r = Response::error(status, why);
            return refusal(input.len(), service, arrival, (None, None), &r);
        }
    };
    let head = match parse_head(&req, limits.max_body) {
        Ok(h) => h,
        Err((status, reason)) => {
            let path = req.path.map(|t| t.split('?').next().unwrap_or(""));
            let r = Response::error(status, reason);
            return refusal(input.len(), service, arrival, (req.method, path), &r);
        }
    };
    let total = head_len.saturating_add(head.content_length);
    let Some(body) = input.get(head_len..total) else {
        return Outcome::NeedMore {
            send_continue: head.expect_continue && head.version == Version::Http11,
        };
    };
    let (path, query) = match head.target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (head.target, None),
    };
    let method = Method::parse(head.method);
    let answer = service.call(&Request {
        method,
        path,
        query,
        headers: Headers::new(req.headers),
        body,
        peer: arrival.peer,
    });
    let framing = framing(&head, method);
    Outcome::Answered {
        consumed: total,
        then: then(answer, framing, head.method, path, started),
    }
}

/// How the answer to `head` is framed.
fn framing(head: &Head<'_>, method: Method) -> Framing {
    Framing {
        version: head.version,
        connection: if head.close {
            Connection::Close
        } else {
            Connection::KeepAlive
        },
        body: if method == Method::Head {
            Body::HeadOnly
        } else {
            Body::Sized
        },
    }
}

/// What the connection does with the service's answer; every answer but a
/// parked one is logged now (a parked one when it is given).
fn then<S, P>(
    answer: Answer<S, P>,
    framing: Framing,
    method: &str,
    path: &str,
    started: Option<Instant>,
) -> Then<S, P> {
    // The path never includes the query: a token in `?result=` stays out.
    match answer {
        Answer::Now(r) => {
            log_line(Some(method), Some(path), &r, started);
            Then::Send {
                bytes: serialize(&r, framing),
                connection: framing.connection,
            }
        }
        Answer::At(r, at, settle) => {
            log_line(Some(method), Some(path), &r, started);
            Then::SendAt {
                bytes: serialize(&r, framing),
                at,
                connection: framing.connection,
                settle,
            }
        }
        Answer::Stream(mut r, _) if framing.body == Body::HeadOnly => {
            // A stream's `HEAD` is its head: nothing follows it.
            log_line(Some(method), Some(path), &r, started);
            r.body = Vec::new();
            let framing = Framing {
                body: Body::UntilClose,
                connection: Connection::Close,
                ..framing
            };
            Then::Send {
                bytes: serialize(&r, framing),
                connection: Connection::Close,
            }
        }
        Answer::Stream(r, stream) => {
            log_line(Some(method), Some(path), &r, started);
            let framing = Framing {
                body: Body::UntilClose,
                ..framing
            };
            Then::Stream {
                head: serialize(&r, framing),
                stream,
            }
        }
        Answer::Park(parked, until) => Then::Park(Parked {
            parked,
            until,
            framing,
            method: method.to_owned(),
            path: path.to_owned(),
            started,
        }),
        Answer::Close(note) => {
            log_closed(method, path, &note, started);
            Then::Close
        }
        Answer::CloseAt(note, at, settle) => {
            log_closed(method, path, &note, started);
            Then::SendAt {
                bytes: Vec::new(),
                at,
                connection: Connection::Close,
                settle,
            }
        }
    }
}

/// A request closed without an answer: its log line shows status 0.
fn log_closed(method: &str, path: &str, note: &Note, started: Option<Instant>) {
    log::request(&RequestLine {
        method: Some(method),
        path: Some(path),
        status: 0,
        duration: elapsed(started),
        note,
    });
}
