//! Who may reach the inbox: the first of the two defences a hostile page
//! in another tab meets (the second, for every changing request, is
//! `http::cross_site`).
//!
//! - **`Host` (DNS rebinding).** A page whose name the attacker re-points
//!   at 127.0.0.1 is same-origin with itself, not with us: its requests
//!   reach the inbox with `Host: rebind.attacker.example:PORT`, and it
//!   controls `Origin` as well. So the inbox serves nothing but `/healthz`
//!   unless `Host` is one of its own names (`InboxHosts`); anything else
//!   is 421. The public listener answers any `Host` (the seed's own
//!   `GET /ui` arrives with `Host: comm-test:8000`).

use std::net::SocketAddr;

pub use crate::config::HostName;
pub use crate::http::cross_site::{same_origin, CrossSite, Provenance};

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
}
