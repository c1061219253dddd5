//! Who may reach the inbox, and which pages may make a browser change
//! anything: the two defences a hostile page in another tab meets.
//!
//! - **`Host` (DNS rebinding).** A page whose name the attacker re-points
//!   at 127.0.0.1 is same-origin with itself, not with us: its requests
//!   reach the inbox with `Host: rebind.attacker.example:PORT`, and it
//!   controls `Origin` as well. So the inbox serves nothing but `/healthz`
//!   unless `Host` is one of its own names (`InboxHosts`); anything else
//!   is 421. The public listener answers any `Host` (the seed's own
//!   `GET /ui` arrives with `Host: comm-test:8000`).
//! - **Cross-site requests.** A plain form on any site can POST to us.
//!   A changing request is refused unless `Sec-Fetch-Site` says
//!   `same-origin` (or `none`: the user's own navigation); a browser too
//!   old to send it is judged by `Origin`, which must be `http(s)://` and
//!   the request's own `Host`. `Origin: null` is never same-origin: a
//!   sandboxed frame or a redirect on a foreign page sends it too. No
//!   `Origin` and no `Sec-Fetch-Site` is not a browser (curl, scripts):
//!   it passes.

use std::net::SocketAddr;

pub use crate::config::HostName;

/// Names a rebinding page cannot take: its `Host` is the attacker's own
/// name, never one of these. So they are the inbox's on any port, which
/// is what a published port (`-p 18081:8001`, a compose file) needs.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The inbox's own names: `localhost`, `127.0.0.1` and `[::1]` on any
/// port; the bound `IP:PORT`; and each name the operator adds
/// (`--inbox-host`). A name added without a port matches `Host` without
/// one or with the inbox's.
#[derive(Debug, Clone)]
pub struct InboxHosts {
    port: u16,
    names: Vec<HostName>,
}

impl InboxHosts {
    pub fn new(bound: SocketAddr, added: &[HostName]) -> InboxHosts {
        let mut names = vec![HostName::of(bound)];
        names.extend(added.iter().cloned());
        InboxHosts {
            port: bound.port(),
            names,
        }
    }

    /// Whether a request's `Host` names this inbox.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(Ok(h)) = host.map(HostName::parse) else {
            return false;
        };
        if LOOPBACK_NAMES.contains(&h.name.as_str()) {
            return true;
        }
        self.names.iter().any(|n| {
            n.name == h.name
                && match (n.port, h.port) {
                    (Some(a), Some(b)) => a == b,
                    // Host without a port: the scheme's default.
                    (Some(a), None) => a == 80,
                    (None, p) => p.is_none_or(|p| p == self.port),
                }
        })
    }
}

/// What a browser said of where a request comes from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Provenance<'a> {
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
}

impl<'a> Provenance<'a> {
    pub fn of(req: &crate::http::Request<'a>) -> Self {
        Provenance {
            host: req.headers.get("host"),
            origin: req.headers.get("origin"),
            sec_fetch_site: req.headers.get("sec-fetch-site"),
        }
    }
}

/// Why a changing request was refused as cross-site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossSite {
    /// `Sec-Fetch-Site` is `cross-site` or `same-site` (another port or
    /// subdomain is another origin).
    FetchSite,
    /// `Origin: null`.
    NullOrigin,
    /// `Origin` names another origin than the request's `Host`.
    OtherOrigin,
}

impl CrossSite {
    pub fn message(self) -> &'static str {
        match self {
            CrossSite::FetchSite => {
                "cross-site request refused (Sec-Fetch-Site is not same-origin)"
            }
            CrossSite::NullOrigin => {
                "cross-site request refused (Origin: null is never same-origin)"
            }
            CrossSite::OtherOrigin => "cross-site request refused (Origin is not this listener)",
        }
    }
}

/// Whether a request that changes something may: `Sec-Fetch-Site` first,
/// then `Origin` against `Host`; neither is not a browser.
pub fn same_origin(p: &Provenance<'_>) -> Result<(), CrossSite> {
    if let Some(site) = p.sec_fetch_site {
        return match site.to_ascii_lowercase().as_str() {
            "same-origin" | "none" => Ok(()),
            _ => Err(CrossSite::FetchSite),
        };
    }
    let Some(origin) = p.origin else {
        return Ok(());
    };
    if origin.eq_ignore_ascii_case("null") {
        return Err(CrossSite::NullOrigin);
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match (authority, p.host) {
        (Some(a), Some(h)) if a.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(CrossSite::OtherOrigin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(bound: &str, added: &[&str]) -> InboxHosts {
        let added: Vec<HostName> = added.iter().map(|a| HostName::parse(a).unwrap()).collect();
        InboxHosts::new(bound.parse().unwrap(), &added)
    }

    #[test]
    fn a_rebound_name_is_not_the_inbox() {
        let h = hosts("127.0.0.1:8001", &[]);
        for ok in [
            "127.0.0.1:8001",
            "LOCALHOST:8001",
            "[::1]:8001",
            "localhost:8001",
        ] {
            assert!(h.allows(Some(ok)), "{ok}");
        }
        for bad in [
            "rebind.attacker.example:8001",
            "rebind.attacker.example",
            "localhost.:8001",
            "localhost.attacker.example:8001",
            "127.0.0.2:8001",
            "",
            "a b",
        ] {
            assert!(!h.allows(Some(bad)), "{bad}");
        }
        assert!(!h.allows(None));
    }

    /// A published port (`-p 18081:8001`) makes the browser send
    /// `Host: localhost:18081`: the loopback names are the inbox's on any
    /// port, wherever it is bound.
    #[test]
    fn loopback_names_on_any_port_are_the_inbox() {
        for bound in ["127.0.0.1:8001", "0.0.0.0:8001", "192.0.2.7:8001"] {
            let h = hosts(bound, &[]);
            for ok in [
                "localhost:18081",
                "127.0.0.1:1",
                "[::1]:65535",
                "localhost",
                "127.0.0.1",
            ] {
                assert!(h.allows(Some(ok)), "{bound} {ok}");
            }
            assert!(!h.allows(Some("comm-test:18081")), "{bound}");
        }
    }

    #[test]
    fn names_the_operator_adds() {
        let h = hosts("0.0.0.0:8001", &["inbox.example", "proxy.example:9000"]);
        assert!(h.allows(Some("inbox.example")) && h.allows(Some("Inbox.Example:8001")));
        assert!(!h.allows(Some("inbox.example:8002")));
        assert!(h.allows(Some("proxy.example:9000")) && !h.allows(Some("proxy.example")));
        assert!(
            h.allows(Some("localhost:8001")),
            "unspecified covers loopback"
        );
        let lan = hosts("192.0.2.7:8001", &[]);
        assert!(lan.allows(Some("192.0.2.7:8001")) && !lan.allows(Some("192.0.2.7:8002")));
        assert!(HostName::parse("http://x").is_err());
        assert!(HostName::parse("x/y").is_err());
    }

    #[test]
    fn cross_site_by_fetch_metadata_then_origin() {
        let p = |origin, site| Provenance {
            host: Some("127.0.0.1:8001"),
            origin,
            sec_fetch_site: site,
        };
        // Chromium with `Referrer-Policy: no-referrer` posts a form with
        // `Origin: null` and `Sec-Fetch-Site: same-origin`.
        assert_eq!(same_origin(&p(Some("null"), Some("same-origin"))), Ok(()));
        assert_eq!(same_origin(&p(None, Some("none"))), Ok(()));
        assert_eq!(
            same_origin(&p(Some("http://127.0.0.1:8001"), Some("same-site"))),
            Err(CrossSite::FetchSite)
        );
        assert_eq!(
            same_origin(&p(Some("null"), None)),
            Err(CrossSite::NullOrigin)
        );
        assert_eq!(same_origin(&p(Some("http://127.0.0.1:8001"), None)), Ok(()));
        assert_eq!(
            same_origin(&p(Some("http://evil.example"), None)),
            Err(CrossSite::OtherOrigin)
        );
        assert_eq!(same_origin(&p(None, None)), Ok(()), "curl");
    }
}
