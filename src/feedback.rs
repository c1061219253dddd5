//! Session feedback (ID Contact plugin API, "Session management"): when a
//! result carries `session_url`, the communication plugin tells the
//! authentication plugin, server-side, that the citizen is active
//! (`POST <session_url>?type=user_active`) or has logged out
//! (`?type=logout`), with no body.
//!
//! The token decides where we send a request, and anyone holding the
//! public test keys can mint one, so nothing is sent unless the operator
//! names the destinations (`--session-feedback HOST[:PORT],…` or `*`). A
//! destination outside the list is refused before any connection. Sends
//! run on one thread beside the serving loop, from a bounded queue (a full
//! queue drops the send, and says so): a receiver that never answers costs
//! that thread `TIMEOUT`, never the loop.

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

impl Destinations {
    /// `*`, or `HOST[:PORT],…` (a bare host allows every port).
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
                return Err(format!("empty entry in {spec:?}"));
            }
            let url = Url::parse(&format!("http://{item}/"))
                .map_err(|e| format!("{item:?} is not HOST[:PORT]: {e}"))?;
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

/// One attempt, as it is journaled and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub kind: Type,
    /// The destination without its query (it may carry a session secret).
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
    /// `report`.
    pub fn start(allowed: Destinations, report: Report) -> Feedback {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let r = report.clone();
        let spawned = std::thread::Builder::new()
            .name("feedback".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                for job in rx {
                    let target = job.url.with_param("type", job.kind.as_str());
                    let t = Instant::now();
                    let result = client::post(&target, None, b"", TIMEOUT);
                    r(Attempt {
                        kind: job.kind,
                        url: job.url.without_query(),
                        result,
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
            Err(e) => {
                let shown = session_url.split('?').next().unwrap_or_default().to_owned();
                return refuse(shown, Refusal::BadUrl(e));
            }
        };
        if !allowed.allows(&url) {
            let host = format!("{}:{}", url.host, url.port);
            return refuse(url.without_query(), Refusal::NotAllowed(host));
        }
        let shown = url.without_query();
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
            seen[0].url, "http://evil.test:80/s",
            "no query in what is shown"
        );
        assert_eq!(
            seen[0].result,
            Err("refused: evil.test:80 is not in --session-feedback".into())
        );
    }
}
