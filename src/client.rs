//! The one outgoing request we make: `POST` with a small body or none, to an
//! `http://` URL, reading the answer no further than its status line and
//! headers. Session feedback and `probe` use it.
//!
//! Written here rather than taken from a crate: `ureq` 3 without TLS, the
//! smallest well-kept client, adds 218 KB to a release binary whose budget
//! is 1.5 MiB, for about 100 lines of what follows. Its limits are the same
//! a crate's would be, and tested (`tests/feedback.rs`): one deadline for
//! name resolution, connecting, writing and reading the head; no redirects
//! followed (a 3xx is an answer like any other); at most `MAX_HEAD` bytes
//! of answer read. `https` is refused: this binary has no TLS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// More than any status line and headers a plugin answers with.
pub const MAX_HEAD: usize = 8 * 1024;

/// An `http://` URL, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// As it goes on the wire in `Host` (lowercase, port as given).
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if url.starts_with("https://") {
            return Err("https is not supported: this build has no TLS".into());
        } else {
            return Err("not an http:// URL".into());
        };
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("URL contains whitespace or control characters".into());
        }
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("")),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("URL with user information".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
                Ok(p) => (h, p),
                Err(_) if h.starts_with('[') && !h.ends_with(']') => (authority, 80),
                Err(_) => return Err("bad port".into()),
            },
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err("URL without a host".into());
        }
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else if target.is_empty() {
            "/".into()
        } else {
            target.to_owned()
        };
        Ok(Url {
            host: host.to_ascii_lowercase(),
            port,
            target,
        })
    }

    /// The URL without its query, for logs and the journal: a session URL's
    /// query may carry a session secret.
    pub fn without_query(&self) -> String {
        let path = self.target.split('?').next().unwrap_or("/");
        format!("http://{}:{}{path}", self.host, self.port)
    }

    /// The same URL with `key=value` appended to its query.
    pub fn with_param(&self, key: &str, value: &str) -> Url {
        let sep = if self.target.contains('?') { '&' } else { '?' };
        Url {
            target: format!("{}{sep}{key}={value}", self.target),
            ..self.clone()
        }
    }
}

/// `POST` `body` to `url` within `timeout`; the answer's status code.
pub fn post(
    url: &Url,
    content_type: Option<&str>,
    body: &[u8],
    timeout: Duration,
) -> Result<u16, String> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let host = url.host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (host, url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {}", url.host, e.kind()))?
        .collect();
    let mut last = String::from("no address");
    let mut stream = None;
    for a in addrs {
        if left().is_zero() {
            return Err("timed out".into());
        }
        match TcpStream::connect_timeout(&a, left()) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("cannot connect: {}", e.kind()),
        }
    }
    let mut s = stream.ok_or(last)?;
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => "timed out".to_string(),
        k => format!("{k}"),
    };
    s.set_write_timeout(Some(left().max(Duration::from_millis(1))))
        .map_err(io)?;
    let mut req = format!(
        "POST {} HTTP/1.1\r\nHost: {}{}\r\nUser-Agent: comm-test\r\nContent-Length: {}\r\nConnection: close\r\n",
        url.target,
        url.host,
        if url.port == 80 { String::new() } else { format!(":{}", url.port) },
        body.len()
    );
    if let Some(ct) = content_type {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).map_err(io)?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let wait = left();
        if wait.is_zero() {
            return Err("timed out".into());
        }
        s.set_read_timeout(Some(wait)).map_err(io)?;
        let n = s.read(&mut chunk).map_err(io)?;
        if n == 0 {
            return Err("connection closed before an answer".into());
        }
        head.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                return resp.code.ok_or_else(|| "no status".into())
            }
            Ok(httparse::Status::Partial) if head.len() <= MAX_HEAD => {}
            Ok(httparse::Status::Partial) => return Err("answer head too large".into()),
            Err(_) => return Err("not an HTTP answer".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://Auth-Test:8000/session/update?id=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("auth-test", 8000, "/session/update?id=1")
        );
        assert_eq!(u.without_query(), "http://auth-test:8000/session/update");
        assert_eq!(
            u.with_param("type", "logout").target,
            "/session/update?id=1&type=logout"
        );
        let u = Url::parse("http://127.0.0.1").unwrap();
        assert_eq!((u.port, u.target.as_str()), (80, "/"));
        assert_eq!(Url::parse("http://[::1]:9/x").unwrap().host, "[::1]");
        for (bad, why) in [
            (
                "https://x/",
                "https is not supported: this build has no TLS",
            ),
            ("ftp://x/", "not an http:// URL"),
            ("http:///x", "URL without a host"),
            ("http://u:p@x/", "URL with user information"),
            ("http://x:99999/", "bad port"),
            (
                "http://x/\r\nInjected: 1",
                "URL contains whitespace or control characters",
            ),
        ] {
            assert_eq!(Url::parse(bad).unwrap_err(), why, "{bad}");
        }
    }
}
