//! Writing an answer: status line, the few headers we send, the body,
//! framed as the request and the kind of answer require (`Framing`).

use std::io::Write as _;

use super::service::Response;
use crate::date;

/// RFC 9110 §15's reason phrases for every status we may send; any
/// other code gets none (a reason phrase is optional, RFC 9112 §4).
fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        303 => "See Other",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// How an answer is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    pub version: Version,
    pub connection: Connection,
    pub body: Body,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// What happens to the connection once the answer is out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    KeepAlive,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// The body, with its `Content-Length`.
    Sized,
    /// `Content-Length` only (the answer to `HEAD`).
    HeadOnly,
    /// An event stream: the body ends when the connection does (RFC 9112
    /// §6.3 rule 8), so no length, and no `Connection: close`.
    UntilClose,
}

impl Framing {
    /// A refusal before any route: HTTP/1.1, and the connection closes
    /// (what else it sent cannot be trusted to frame).
    pub const REFUSAL: Framing = Framing {
        version: Version::Http11,
        connection: Connection::Close,
        body: Body::Sized,
    };
}

pub fn serialize(r: &Response, framing: Framing) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + r.body.len());
    let version = match framing.version {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    };
    let _ = write!(
        out,
        "{version} {} {}\r\nDate: ",
        r.status,
        reason_phrase(r.status)
    );
    date::push_http_date_now(&mut out);
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(r.content_type.as_bytes());
    out.extend_from_slice(b"\r\n");
    // 1xx, 204 and 304 have no body by definition (RFC 9110 §6.4.1): no
    // length, no bytes, or the client would read them as the next answer.
    let bodiless = matches!(r.status, 100..=199 | 204 | 304);
    if framing.body != Body::UntilClose && !bodiless {
        let _ = write!(out, "Content-Length: {}\r\n", r.body.len());
    }
    for (name, value) in &r.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    // HTTP/1.0 closes unless asked otherwise; a stream closes anyway.
    if framing.connection == Connection::Close
        && framing.version == Version::Http11
        && framing.body != Body::UntilClose
    {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if framing.body != Body::HeadOnly && !bodiless {
        out.extend_from_slice(&r.body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_heads() {
        let r = Response::method_not_allowed("POST");
        let head_only = Framing {
            body: Body::HeadOnly,
            ..Framing::REFUSAL
        };
        let s = String::from_utf8(serialize(&r, head_only)).unwrap();
        assert!(s.starts_with("HTTP/1.1 405 Method Not Allowed\r\nDate: "));
        assert!(s.ends_with("Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\nAllow: POST\r\nConnection: close\r\n\r\n"));
    }

    /// It sent `403 Internal Server Error` and `202 Internal Server Error`.
    #[test]
    fn every_status_we_send_has_its_own_reason_phrase() {
        for (code, phrase) in [
            (202, "Accepted"),
            (403, "Forbidden"),
            (421, "Misdirected Request"),
        ] {
            let s = serialize(&Response::error(code, "x"), Framing::REFUSAL);
            let line = format!("HTTP/1.1 {code} {phrase}\r\n");
            assert!(s.starts_with(line.as_bytes()), "{code}");
        }
        let s = serialize(&Response::error(299, "x"), Framing::REFUSAL);
        assert!(s.starts_with(b"HTTP/1.1 299 \r\n"));
    }

    /// A fault can ask for 204 or 304: a body or length there would be
    /// read as the start of the next answer.
    #[test]
    fn statuses_without_a_body_send_neither_length_nor_bytes() {
        for code in [101, 204, 304] {
            let s = serialize(&Response::new(code, "text/plain", "x"), Framing::REFUSAL);
            let s = String::from_utf8(s).unwrap();
            assert!(!s.contains("Content-Length"), "{s}");
            assert!(s.ends_with("\r\n\r\n"), "{s}");
        }
    }
}
