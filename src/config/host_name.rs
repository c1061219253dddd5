//! `NAME[:PORT]`, as `--inbox-host` takes it and as a request's `Host`
//! carries it: parsed once, compared as parsed (`inbox::guard`).

use std::net::SocketAddr;

/// A name the inbox answers to: lowercase, IPv6 in brackets, and a port
/// or none (the scheme's default, as a reverse proxy sends it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostName {
    pub name: String,
    pub port: Option<u16>,
}

impl HostName {
    /// `NAME[:PORT]` as `--inbox-host` takes it, or as `Host` carries it.
    pub fn parse(s: &str) -> Result<HostName, String> {
        let s = s.trim();
        if s.contains("://") || s.contains('/') {
            return Err(format!(
                "{} is not NAME[:PORT] (no scheme, no path)",
                crate::log::shown(s)
            ));
        }
        let (name, port) = match s.rsplit_once(':') {
            Some((n, p)) if !n.starts_with('[') || n.ends_with(']') => {
                let p = p
                    .parse::<u16>()
                    .map_err(|_| format!("{}: bad port", crate::log::shown(s)))?;
                (n, Some(p))
            }
            _ => (s, None),
        };
        let valid = !name.is_empty()
            && name.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':')
            });
        if !valid {
            return Err(format!("{} is not NAME[:PORT]", crate::log::shown(s)));
        }
        Ok(HostName {
            name: name.to_ascii_lowercase(),
            port,
        })
    }

    pub fn of(addr: SocketAddr) -> HostName {
        let name = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        HostName {
            name,
            port: Some(addr.port()),
        }
    }
}
