//! The seam between the transport and the application: what a request is
//! when it reaches a service, what a service may answer, and the `Service`
//! trait a loop drives. Nothing here names a route.
//!
//! A service answers a request in one of six ways (`Answer`): at once; as
//! an event stream the loop then feeds from the service; not yet (the
//! request is parked until the service's waker fires or its deadline
//! passes); not before a given time; or not at all (the connection is
//! closed, at once or at a given time). Parked and delayed requests are ordinary connections of the
//! loop: no thread each, counted against the connection cap, and the
//! loop serves everyone else meanwhile.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::log::Note;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Delete,
    Other,
}

impl Method {
    pub fn parse(m: &str) -> Method {
        match m {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
}

/// A request as the transport hands it over: whole, and within its limits.
/// Header values are UTF-8 (the transport refused any that is not).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: Headers<'a>,
    pub body: &'a [u8],
    /// The client's address, as the connection was accepted.
    pub peer: Option<SocketAddr>,
}

/// A request the transport refused before any service saw it (too large,
/// malformed, smuggling-shaped): what the service may journal of it.
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    pub method: Option<&'a str>,
    pub path: Option<&'a str>,
    pub status: u16,
    pub reason: &'a str,
    pub peer: Option<SocketAddr>,
}

/// A request's header fields, looked up by name.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a>(&'a [httparse::Header<'a>]);

impl<'a> Headers<'a> {
    pub fn new(fields: &'a [httparse::Header<'a>]) -> Self {
        Headers(fields)
    }

    /// `Content-Type`'s media type, without its parameters, lowercase
    /// (RFC 9110 §8.3.1: the type and subtype are case-insensitive).
    pub fn media_type(&self) -> Option<String> {
        let ct = self.get("content-type")?;
        Some(
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase(),
        )
    }

    /// The first field named `name` (case-insensitive), without optional
    /// whitespace; `None` if absent or not UTF-8.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(trim_ows(h.value)).ok())
    }
}

/// Optional whitespace around a field value is SP and HTAB only (RFC 9110
/// §5.5); `str::trim` would also strip U+00A0, U+0085, U+3000, … and read
/// `\u{a0}15` as 15 where a front proxy may not.
pub(crate) fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => v.get(s..=e).unwrap_or_default(),
        _ => &[],
    }
}

/// An answer: status, content type, further headers, body, and what the
/// request's log line adds (the transport writes that line; it does not
/// read the note).
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: Vec<u8>,
    pub note: Note,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
            note: Note::default(),
        }
    }

    /// A one-line, plain-text reason, logged as well.
    pub fn error(status: u16, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let mut r = Response::new(status, "text/plain; charset=utf-8", format!("{reason}\n"));
        r.note = Note {
            verdict: Some("rejected"),
            detail: Some(reason),
            ..Note::default()
        };
        r
    }

    /// An API's error: JSON `{"error", "field"}` with its status; `field`
    /// names the parameter or member at fault, if one is.
    pub fn json_error(status: u16, error: &str, field: Option<&str>) -> Self {
        let body = serde_json::json!({ "error": error, "field": field });
        let mut r = Response::new(status, "application/json", body.to_string());
        r.note = Note {
            verdict: Some("rejected"),
            detail: Some(error.to_owned()),
            ..Note::default()
        };
        r
    }

    /// A parameter that cannot be met: 400, naming it.
    pub fn invalid(e: &super::query::Invalid) -> Self {
        Response::json_error(400, &e.message, Some(&e.field))
    }

    /// 405, with the methods the path takes.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Response::error(405, "method not allowed").with_header("Allow", allow)
    }

    /// 303 See Other to `location` (after a form POST).
    pub fn redirect(location: impl Into<Cow<'static, str>>) -> Self {
        Response::new(303, "text/plain; charset=utf-8", "").with_header("Location", location)
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The value of the first header named `name` this answer carries.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// What a service makes of a request.
#[derive(Debug)]
pub enum Answer<S, P> {
    /// Send this now.
    Now(Response),
    /// Send this head and body with no length, then whatever
    /// `Service::feed` gives for `S`, until the client goes.
    Stream(Response, S),
    /// No answer yet: ask `Service::resume` each time the service's waker
    /// fires, and `Service::give_up` once `Instant` has passed.
    Park(P, Instant),
    /// Send this, not before `Instant`; `Settle` hears whether it was
    /// sent or its client went first.
    At(Response, Instant, Settle),
    /// Close the connection without answering; the note is logged.
    Close(Note),
    /// Close it without answering, not before `Instant` (a plugin that
    /// hangs, then drops the connection); `Settle` as for `At`.
    CloseAt(Note, Instant, Settle),
}

/// What became of a delayed answer, and how long after it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Its time came and it went out (or the connection closed as asked).
    Sent(std::time::Duration),
    /// The client closed its connection first (nginx logs 499).
    Left(std::time::Duration),
}

/// Told once what became of a delayed answer: `sent` when its time
/// comes, and, if it is dropped before (the client left, the loop
/// stopped), `Left` on the way out.
pub struct Settle {
    tell: Option<Box<dyn FnOnce(Settled) + Send>>,
    since: Instant,
}

impl Settle {
    pub fn new(tell: impl FnOnce(Settled) + Send + 'static) -> Settle {
        Settle {
            tell: Some(Box::new(tell)),
            since: Instant::now(),
        }
    }

    /// Nobody to tell.
    pub fn none() -> Settle {
        Settle {
            tell: None,
            since: Instant::now(),
        }
    }

    /// The answer went out.
    pub fn sent(mut self) {
        if let Some(tell) = self.tell.take() {
            tell(Settled::Sent(self.since.elapsed()));
        }
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if let Some(tell) = self.tell.take() {
            tell(Settled::Left(self.since.elapsed()));
        }
    }
}

impl std::fmt::Debug for Settle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.tell.is_some() {
            "Settle(..)"
        } else {
            "Settle(none)"
        })
    }
}

impl<S, P> From<Response> for Answer<S, P> {
    fn from(r: Response) -> Self {
        Answer::Now(r)
    }
}

impl<S, P> Answer<S, P> {
    /// The response this answer sends, if it sends one now or later.
    pub fn response_mut(&mut self) -> Option<&mut Response> {
        match self {
            Answer::Now(r) | Answer::Stream(r, _) | Answer::At(r, _, _) => Some(r),
            Answer::Park(..) | Answer::Close(_) | Answer::CloseAt(..) => None,
        }
    }
}

/// The application a loop serves. One value serves every connection of a
/// loop, so its state is behind `&self`.
pub trait Service {
    /// Where an event stream stands.
    type Stream;
    /// A request waiting for something to happen.
    type Parked;

    fn call(&self, req: &Request<'_>) -> Answer<Self::Stream, Self::Parked>;

    /// Appends the stream's next bytes to `out`, within `budget` (or one
    /// piece larger than it, so no piece is too large to send).
    fn feed(&self, stream: &mut Self::Stream, budget: usize, out: &mut Vec<u8>);

    /// Whether `feed` has something for this stream.
    fn behind(&self, stream: &Self::Stream) -> bool;

    /// Whether this stream has said all it will: once its bytes are out,
    /// the connection closes (its body ends there). Streams that run until
    /// the client goes never finish.
    fn finished(&self, stream: &Self::Stream) -> bool {
        let _ = stream;
        false
    }

    /// Whether a quiet stream gets a comment line (`: keep-alive`) now and
    /// then; a body that is not an event stream must not.
    fn heartbeat(&self, stream: &Self::Stream) -> bool {
        let _ = stream;
        true
    }

    /// The waker fired: the parked request's answer, if it has one now.
    fn resume(&self, parked: &mut Self::Parked) -> Option<Response>;

    /// The parked request's deadline passed: its answer.
    fn give_up(&self, parked: Self::Parked) -> Response;

    /// Called once, when a loop starts serving this service: calling
    /// `wake` makes that loop feed its streams and resume its parked
    /// requests. A service that never streams nor parks ignores it.
    fn attach(&self, wake: Wake) {
        let _ = wake;
    }

    /// The transport refused a request before it was whole enough to hand
    /// over; told after the refusal is sent. Most services ignore it.
    fn refused(&self, refusal: &Refusal<'_>) {
        let _ = refusal;
    }
}

/// Wakes one loop from any thread, when it has something to wake for: a
/// loop with no stream and no parked request disarms its `Wake`, and a
/// wake then costs no system call and no switch to that loop's thread.
#[derive(Clone)]
pub struct Wake(pub(super) Arc<Waking>);

pub(super) struct Waking {
    pub(super) waker: mio::Waker,
    /// Whether the loop holds a stream or a parked request.
    pub(super) armed: AtomicBool,
}

impl Wake {
    pub fn wake(&self) {
        // Pairs with the loop's arming (`Loop::arm`): either the loop sees
        // what the caller changed before this, or this sees it armed.
        fence(Ordering::SeqCst);
        if self.0.armed.load(Ordering::SeqCst) {
            // A failed wake leaves the loop to its next event; nothing to do.
            let _ = self.0.waker.wake();
        }
    }
}

impl std::fmt::Debug for Wake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wake")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sp_and_htab_are_optional_whitespace() {
        assert_eq!(trim_ows(b" \t15\t "), b"15");
        assert_eq!(trim_ows("\u{a0}15".as_bytes()), "\u{a0}15".as_bytes());
        assert_eq!(trim_ows(b"   "), b"");
    }

    #[test]
    fn headers_are_found_by_name_in_any_case() {
        let fields = [
            httparse::Header {
                name: "Origin",
                value: b" http://a ",
            },
            httparse::Header {
                name: "origin",
                value: b"http://b",
            },
        ];
        let h = Headers::new(&fields);
        assert_eq!(h.get("ORIGIN"), Some("http://a"));
        assert_eq!(h.get("host"), None);
    }
}
