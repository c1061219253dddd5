//! Reading a request: the bytes received so far on a connection become at
//! most one answered request, as a pure function the loop drives and the
//! fuzzer feeds.

use std::time::{Duration, Instant};

use super::response::serialize;
use super::{Limits, MAX_HEAD, MAX_HEADERS};
use crate::log::{self, RequestLine};
use crate::routes::{self, App, Listener, Method, Request, Response, StreamStart};

/// The parts of a request head we act on.
struct Head<'b> {
    method: &'b str,
    target: &'b str,
    http10: bool,
    content_length: usize,
    content_type: Option<&'b str>,
    host: Option<&'b str>,
    origin: Option<&'b str>,
    sec_fetch_site: Option<&'b str>,
    last_event_id: Option<&'b str>,
    expect_continue: bool,
    close: bool,
}

/// Optional whitespace around a field value is SP and HTAB only (RFC 9110
/// §5.5); `str::trim` would also strip U+00A0, U+0085, U+3000, … and read
/// `\u{a0}15` as 15 where a front proxy may not.
fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => v.get(s..=e).unwrap_or_default(),
        _ => &[],
    }
}

fn parse_head<'b>(
    req: &httparse::Request<'_, 'b>,
    max_body: usize,
) -> Result<Head<'b>, (u16, &'static str)> {
    let mut head = Head {
        method: req.method.unwrap_or(""),
        target: req.path.unwrap_or(""),
        http10: req.version == Some(0),
        content_length: 0,
        content_type: None,
        host: None,
        origin: None,
        sec_fetch_site: None,
        last_event_id: None,
        expect_continue: false,
        close: req.version == Some(0),
    };
    let mut length: Option<u64> = None;
    let mut hosts = 0usize;
    for h in req.headers.iter() {
        let value = std::str::from_utf8(trim_ows(h.value))
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
            head.host = Some(value);
        } else if name.eq_ignore_ascii_case("origin") {
            head.origin = Some(value);
        } else if name.eq_ignore_ascii_case("sec-fetch-site") {
            head.sec_fetch_site = Some(value);
        } else if name.eq_ignore_ascii_case("last-event-id") {
            head.last_event_id = Some(value);
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value);
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
    if hosts == 0 && !head.http10 {
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
        /// The answer opened an event stream (see `Response::stream`).
        stream: Option<StreamStart>,
    },
}

fn elapsed(started: Option<Instant>) -> Duration {
    started.map_or(Duration::ZERO, |t| t.elapsed())
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

/// A request refused before it reached a route: logged, answered, and the
/// connection closed (whatever else it sent is not trusted to frame).
fn refusal(
    consumed: usize,
    started: Option<Instant>,
    method: Option<&str>,
    path: Option<&str>,
    r: &Response,
) -> Outcome {
    log::request(&RequestLine {
        method,
        path,
        status: r.status,
        duration: elapsed(started),
        note: &r.note,
    });
    Outcome::Answered {
        consumed,
        response: serialize(r, true, false, true),
        close: true,
        stream: None,
    }
}

/// Parses at most one request from `input` and answers it: the whole HTTP
/// side of the server as a pure function of its input (and `app`'s clock).
/// `started` is when the request's first byte arrived, for the log.
pub fn respond(
    input: &[u8],
    app: &App,
    limits: &Limits,
    started: Option<Instant>,
    listener: Listener,
) -> Outcome {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let refuse =
        |m: Option<&str>, t: Option<&str>, r: Response| refusal(input.len(), started, m, t, &r);
    let head_len = match head_length(&mut req, input) {
        Ok(Some(n)) => n,
        Ok(None) => {
            return Outcome::NeedMore {
                send_continue: false,
            }
        }
        Err((status, why)) => return refuse(None, None, Response::error(status, why)),
    };
    let head = match parse_head(&req, limits.max_body) {
        Ok(h) => h,
        Err((status, reason)) => {
            let path = req.path.map(|t| t.split('?').next().unwrap_or(""));
            return refuse(req.method, path, Response::error(status, reason));
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
            listener,
            method,
            path,
            query,
            content_type: head.content_type,
            host: head.host,
            origin: head.origin,
            sec_fetch_site: head.sec_fetch_site,
            last_event_id: head.last_event_id,
            body,
        },
    );
    // The path never includes the query: a token in `?result=` stays out.
    log::request(&RequestLine {
        method: Some(head.method),
        path: Some(path),
        status: response.status,
        duration: elapsed(started),
        note: &response.note,
    });
    let stream = response.stream;
    Outcome::Answered {
        consumed: total,
        response: serialize(&response, head.close, head.http10, method != Method::Head),
        close: head.close && stream.is_none(),
        stream,
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
}
