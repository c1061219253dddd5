//! Writing an answer: status line, the few headers we send, the body.

use std::io::Write as _;

use crate::date;
use crate::routes::Response;

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

pub fn serialize(r: &Response, close: bool, http10: bool, with_body: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + r.body.len());
    let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    let _ = write!(
        out,
        "{version} {} {}\r\nDate: {}\r\nContent-Type: {}\r\n",
        r.status,
        reason_phrase(r.status),
        date::http_date(date::unix_now()),
        r.content_type,
    );
    // An event stream's body ends when the connection does (RFC 9112 §6.3
    // rule 8): no length.
    if r.stream.is_none() {
        let _ = write!(out, "Content-Length: {}\r\n", r.body.len());
    }
    if let Some(allow) = r.allow {
        let _ = write!(out, "Allow: {allow}\r\n");
    }
    for (name, value) in &r.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    if close && !http10 && r.stream.is_none() {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if with_body {
        out.extend_from_slice(&r.body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_heads() {
        let mut r = Response::error(405, "method not allowed");
        r.allow = Some("POST");
        let s = String::from_utf8(serialize(&r, true, false, false)).unwrap();
        assert!(s.starts_with("HTTP/1.1 405 Method Not Allowed\r\nDate: "));
        assert!(s.ends_with("Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\nAllow: POST\r\nConnection: close\r\n\r\n"));
    }

    /// Issue: the server sent `403 Internal Server Error` and
    /// `202 Internal Server Error`.
    #[test]
    fn every_status_we_send_has_its_own_reason_phrase() {
        for (code, phrase) in [
            (202, "Accepted"),
            (403, "Forbidden"),
            (421, "Misdirected Request"),
        ] {
            let s = serialize(&Response::error(code, "x"), false, false, false);
            let line = format!("HTTP/1.1 {code} {phrase}\r\n");
            assert!(s.starts_with(line.as_bytes()), "{code}");
        }
        let s = serialize(&Response::error(299, "x"), false, false, false);
        assert!(s.starts_with(b"HTTP/1.1 299 \r\n"));
    }
}
