//! Session feedback (ID Contact plugin API, "Session management"): when a
//! result carries `session_url`, the communication plugin tells the
//! authentication plugin, server-side, that the citizen is active
//! (`POST <session_url>?type=user_active`) or has logged out
//! (`?type=logout`), with no body.
//!
//! The token decides where we send a request, and anyone holding the
//! public test keys can mint one, so nothing is sent unless the operator
//! names the destinations (`--session-feedback HOST[:PORT],…` or `*`). A
//! destination outside the list is refused before any connection, and so
//! is every address this process itself listens on, whatever the list
//! says: a token must not make us post to our own inbox (ending another
//! citizen's session) or to ourselves in a loop. Sends run on one thread
//! beside the serving loop, from a bounded queue (a full queue drops the
//! send, and says so): a receiver that never answers costs that thread
//! `TIMEOUT`, never the loop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{self, Url};

/// Connect and answer within this, or the attempt has failed.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// Sends waiting for the sender thread; past this they are dropped.
pub const QUEUE: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    UserActive,
    Logout,
}

impl Type {
    pub fn as_str(self) -> &'static str {
        match self {
            Type::UserActive => "user_active",
            Type::Logout => "logout",
        }
    }

    pub fn parse(s: &str) -> Option<Type> {
        match s {
            "user_active" => Some(Type::UserActive),
            "logout" => Some(Type::Logout),
            _ => None,
        }
    }
}

/// Where feedback may go: any host, or the hosts (and ports) listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations {
    any: bool,
    hosts: Vec<(String, Option<u16>)>,
}

impl std::fmt::Display for Destinations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.any {
            return f.write_str("*");
        }
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|(h, p)| p.map_or(h.clone(), |p| format!("{h}:{p}")))
            .collect();
        f.write_str(&hosts.join(","))
    }
}

impl Destinations {
    /// `*`, or `HOST[:PORT],…` (a bare host allows every port). Anything
    /// else, a path or a scheme included, is an error, never dropped.
    pub fn parse(spec: &str) -> Result<Destinations, String> {
        if spec.trim() == "*" {
            return Ok(Destinations {
                any: true,
                hosts: Vec::new(),
            });
        }
        let mut hosts = Vec::new();
        for item in spec.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(format!("empty entry in {}", crate::log::shown(spec)));
            }
            if let Some(rest) = item
                .strip_prefix("http://")
                .or(item.strip_prefix("https://"))
            {
                return Err(format!(
                    "{item:?}: give HOST[:PORT] without the scheme, e.g. {rest:?}"
                ));
            }
            if item.contains(['/', '?', '#', '@']) {
                return Err(format!(
                    "{item:?} is not HOST[:PORT]: an entry allows a host, never a path"
                ));
            }
            let url = Url::parse(&format!("http://{item}/"))
                .map_err(|e| format!("{} is not HOST[:PORT]: {e}", crate::log::shown(item)))?;
            let port = item
                .rsplit_once(':')
                .filter(|(h, _)| !h.starts_with('[') || h.ends_with(']'))
                .map(|_| url.port);
            hosts.push((url.host, port));
        }
        Ok(Destinations { any: false, hosts })
    }

    pub fn allows(&self, url: &Url) -> bool {
        self.any
            || self
                .hosts
                .iter()
                .any(|(h, p)| *h == url.host && p.is_none_or(|p| p == url.port))
    }
}

/// Whether `to` reaches one of `own` listeners: the same address and
/// port, with a v4-mapped v6 address compared as v4, a destination of
/// `0.0.0.0`/`::` taken as the loopback it reaches, and a listener on an
/// unspecified address matching every local address on its port.
pub fn is_own(to: SocketAddr, own: &[SocketAddr]) -> bool {
    let ip = match to.ip().to_canonical() {
        IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    own.iter().any(|l| {
        let lip = l.ip().to_canonical();
        l.port() == to.port() && (lip == ip || (lip.is_unspecified() && is_local(ip)))
    })
}

/// An address of this host: one a socket can be bound to.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// One attempt, as it is journaled and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub kind: Type,
    /// The destination as sent (with our `type`): the journal shows it
    /// whole, the log with its query values redacted.
    pub url: String,
    /// The answer's status code, or what went wrong (refusals included).
    pub result: Result<u16, String>,
    pub latency: Duration,
    pub for_event: Option<u64>,
}

/// Why a send did not even start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `--session-feedback`: feedback is off.
    Off,
    /// Not a URL we can send to (journaled).
    BadUrl(String),
    /// Outside `--session-feedback` (journaled).
    NotAllowed(String),
    /// The queue is full (journaled).
    QueueFull,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Off => {
                f.write_str("session feedback is off (start with --session-feedback HOST[:PORT])")
            }
            Refusal::BadUrl(e) => write!(f, "session_url refused: {e}"),
            Refusal::NotAllowed(h) => write!(f, "refused: {h} is not in --session-feedback"),
            Refusal::QueueFull => write!(f, "dropped: {QUEUE} sends already waiting"),
        }
    }
}

pub type Report = Arc<dyn Fn(Attempt) + Send + Sync>;

struct Job {
    url: Url,
    kind: Type,
    for_event: Option<u64>,
}

pub struct Feedback {
    allowed: Option<Destinations>,
    tx: Option<SyncSender<Job>>,
    report: Option<Report>,
}

impl Feedback {
    pub fn off() -> Feedback {
        Feedback {
            allowed: None,
            tx: None,
            report: None,
        }
    }

    /// Starts the sender thread; every attempt, refusals included, goes to
    /// `report`. Nothing is ever sent to an address in `own`.
    pub fn start(allowed: Destinations, own: Vec<SocketAddr>, report: Report) -> Feedback {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let r = report.clone();
        let spawned = std::thread::Builder::new()
            .name("feedback".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                for job in rx {
                    let target = job.url.with_param("type", job.kind.as_str());
                    let t = Instant::now();
                    let guard = |a: SocketAddr| {
                        if is_own(a, &own) {
                            Err(format!("{a} is one of this plugin's own listeners"))
                        } else {
                            Ok(())
                        }
                    };
                    let result = client::post(&target, None, b"", TIMEOUT, &guard);
                    r(Attempt {
                        kind: job.kind,
                        url: target.full(),
                        result: result.map_err(|e| e.to_string()),
                        latency: t.elapsed(),
                        for_event: job.for_event,
                    });
                }
            });
        Feedback {
            allowed: Some(allowed),
            tx: spawned.ok().map(|_| tx),
            report: Some(report),
        }
    }

    pub fn is_on(&self) -> bool {
        self.allowed.is_some()
    }

    /// `off`, or the hosts it may reach (`--session-feedback`).
    pub fn describe(&self) -> String {
        self.allowed
            .as_ref()
            .map_or("off".into(), |d| format!("to {d}"))
    }

    /// Queues `kind` for `session_url`; refused before any connection if
    /// feedback is off or the destination is not allowed.
    pub fn send(
        &self,
        session_url: &str,
        kind: Type,
        for_event: Option<u64>,
    ) -> Result<(), Refusal> {
        let (Some(allowed), Some(report)) = (&self.allowed, &self.report) else {
            return Err(Refusal::Off);
        };
        let refuse = |url: String, why: Refusal| {
            report(Attempt {
                kind,
                url,
                result: Err(why.to_string()),
                latency: Duration::ZERO,
                for_event,
            });
            Err(why)
        };
        let url = match Url::parse(session_url) {
            Ok(u) => u,
            Err(e) => return refuse(session_url.to_owned(), Refusal::BadUrl(e)),
        };
        if !allowed.allows(&url) {
            let host = format!("{}:{}", url.host, url.port);
            return refuse(url.full(), Refusal::NotAllowed(host));
        }
        let shown = url.full();
        let Some(tx) = &self.tx else {
            return refuse(shown, Refusal::QueueFull);
        };
        match tx.try_send(Job {
            url,
            kind,
            for_event,
        }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                refuse(shown, Refusal::QueueFull)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let d = Destinations::parse("auth-test:8000, 127.0.0.1").unwrap();
        let ok = |u: &str| d.allows(&Url::parse(u).unwrap());
        assert!(ok("http://auth-test:8000/session/update"));
        assert!(ok("http://AUTH-TEST:8000/x"));
        assert!(!ok("http://auth-test:8001/x"));
        assert!(
            ok("http://127.0.0.1:1234/x"),
            "a bare host allows every port"
        );
        assert!(!ok("http://127.0.0.2/x"));
        assert!(!ok("http://auth-test.evil:8000/x"));
        assert!(Destinations::parse("*")
            .unwrap()
            .allows(&Url::parse("http://x/").unwrap()));
        assert!(Destinations::parse("a,,b").is_err());
        assert!(Destinations::parse("a:b").is_err());
    }

    /// Regression: `--session-feedback 127.0.0.1/session/only` was accepted and
    /// the path silently dropped.
    #[test]
    fn an_entry_with_a_path_or_a_scheme_is_refused() {
        assert_eq!(
            Destinations::parse("127.0.0.1/session/only").unwrap_err(),
            "\"127.0.0.1/session/only\" is not HOST[:PORT]: an entry allows a host, never a path"
        );
        assert_eq!(
            Destinations::parse("a, http://auth-test:8000").unwrap_err(),
            "\"http://auth-test:8000\": give HOST[:PORT] without the scheme, e.g. \"auth-test:8000\""
        );
        for bad in ["a?x", "a#x", "u@a"] {
            assert!(Destinations::parse(bad).is_err(), "{bad}");
        }
    }

    /// Regression: with an allow-list covering the inbox, a token's
    /// `session_url` pointed at the inbox logged out another citizen, and
    /// one pointed at its own entry looped 200 times.
    #[test]
    fn our_own_listeners_are_never_a_destination() {
        let own: Vec<SocketAddr> = vec![
            "127.0.0.1:8001".parse().unwrap(),
            "0.0.0.0:8000".parse().unwrap(),
        ];
        let is = |a: &str| is_own(a.parse().unwrap(), &own);
        assert!(is("127.0.0.1:8001"));
        assert!(is("[::ffff:127.0.0.1]:8001"), "v4-mapped compares as v4");
        assert!(is("0.0.0.0:8001"), "0.0.0.0 reaches loopback");
        assert!(!is("127.0.0.2:8001"), "another address on that port");
        assert!(is("127.0.0.1:8000") && is("127.9.9.9:8000") && is("[::1]:8000"));
        assert!(!is("127.0.0.1:8002"));
        assert!(!is("192.0.2.1:8000"), "not an address of this host");
    }

    #[test]
    fn off_refuses_without_reporting_and_outside_the_list_is_reported() {
        assert_eq!(
            Feedback::off().send("http://x/", Type::Logout, None),
            Err(Refusal::Off)
        );
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let f = Feedback::start(
            Destinations::parse("allowed.test").unwrap(),
            Vec::new(),
            Arc::new(move |a| s.lock().unwrap().push(a)),
        );
        assert_eq!(
            f.send("http://evil.test:80/s?secret=1", Type::UserActive, Some(3)),
            Err(Refusal::NotAllowed("evil.test:80".into()))
        );
        assert_eq!(
            f.send("https://allowed.test/s", Type::UserActive, None),
            Err(Refusal::BadUrl(
                "https is not supported: this build has no TLS".into()
            ))
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            seen[0].url, "http://evil.test:80/s?secret=1",
            "the journal shows it whole (the log redacts it)"
        );
        assert_eq!(
            seen[0].result,
            Err("refused: evil.test:80 is not in --session-feedback".into())
        );
    }
}
