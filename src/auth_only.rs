//! Authentication during communication: asking the core (`--core-url`) to
//! authenticate the citizen of a running conversation, as production
//! plugins do with comm-common's `auth_during_comm`. The request is a JWS
//! signed with `--auth-only-key` (the core picks its verifier by `kid`,
//! `config.rs` `decode_authonly_request` in id-contact/core), posted as
//! `application/jwt` to `<core-url>/start` by a thread of its own through
//! the bounded client: the loops only queue it and hear back.

use std::net::SocketAddr;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{self, Url};
use crate::mint::{Header, MintError, SigningKey};

/// The core answers within its own 5 s budget for the auth plugin; past
/// this it is not answering.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Requests waiting for the sender; past this one is refused at once.
pub const QUEUE: usize = 64;
/// Of those, the most the citizens' button may hold (waiting or on the
/// wire): the rest are the tester's, whom no public caller can crowd out.
pub const CITIZEN_PLACES: usize = 8;
/// The citizens' requests to the core, all sessions together: a burst of
/// `CITIZEN_PLACES`, then one per this interval.
pub const CITIZEN_EVERY: Duration = Duration::from_secs(1);
/// The citizens' bucket when full, in thousandths of a request.
const FULL: u64 = CITIZEN_PLACES as u64 * 1000;
/// The core's answer is `{"client_url": …}`: a URL, never more than this.
pub const MAX_ANSWER: usize = 8 * 1024;
/// How long the signed request is good for (comm-common signs for 5 min).
pub const LIFETIME: u64 = 300;

/// What the core is asked (`StartRequestAuthOnly` in id-contact/core).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub purpose: String,
    pub auth_method: String,
    /// Where the citizen's browser goes afterwards: our `/ui`.
    pub comm_url: String,
    /// Where the result is posted: our `/auth_result`, unless not offered.
    pub attr_url: Option<String>,
    /// Who asked: `inbox` or `citizen` (journaled, never sent).
    pub by: &'static str,
}

/// The JWS the core verifies: header `{"alg", "typ": "JWT", "kid"}` and
/// claims `{"request": {…}, "iat", "exp"}` (RFC 7519 §4.1.4, 4.1.6).
pub fn sign(ask: &Ask, kid: &str, key: &SigningKey, now: u64) -> Result<String, MintError> {
    let mut request = json!({
        "purpose": ask.purpose,
        "auth_method": ask.auth_method,
        "comm_url": ask.comm_url,
    });
    if let (Some(a), Some(o)) = (&ask.attr_url, request.as_object_mut()) {
        o.insert("attr_url".into(), json!(a));
    }
    let claims = json!({"request": request, "iat": now, "exp": now + LIFETIME});
    let header = Header {
        typ: Some("JWT"),
        cty: None,
        kid: Some(kid.to_owned()),
    };
    crate::mint::sign(&header, claims.to_string().as_bytes(), key)
}

/// What came of one request: the core's status and `client_url`, or why
/// there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub ticket: u64,
    pub ask: Ask,
    pub url: String,
    pub result: Result<Reply, String>,
    pub latency: Duration,
}

/// The core's answer: its status, and its `client_url` when it gave one
/// (else the first line of what it said).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub client_url: Option<String>,
    pub said: String,
}

impl Answered {
    /// The `client_url` to send a browser to: a 2xx with one.
    pub fn client_url(&self) -> Option<&str> {
        match &self.result {
            Ok(r) if (200..300).contains(&r.status) => r.client_url.as_deref(),
            _ => None,
        }
    }
}

pub type Report = Arc<dyn Fn(Answered) + Send + Sync>;

struct Job {
    ticket: u64,
    ask: Ask,
    jws: String,
}

/// Why a request was not even queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Sign(String),
    QueueFull,
    /// The citizens' places are all taken.
    CitizensBusy,
    /// The citizens' rate is spent: try again after this.
    CitizensTooFast(Duration),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Sign(e) => write!(f, "could not sign the request: {e}"),
            Refusal::QueueFull => write!(f, "{QUEUE} requests to the core already waiting"),
            Refusal::CitizensBusy => write!(
                f,
                "the citizens' {CITIZEN_PLACES} places toward the core are taken"
            ),
            Refusal::CitizensTooFast(_) => write!(
                f,
                "the citizens' requests to the core are limited to one a second, all sessions together"
            ),
        }
    }
}

pub struct AuthOnly {
    url: Url,
    kid: String,
    key: SigningKey,
    tx: Option<SyncSender<Job>>,
    next: std::sync::atomic::AtomicU64,
    /// Citizens' requests waiting or on the wire.
    citizens: Arc<std::sync::atomic::AtomicUsize>,
    /// The citizens' rate: (thousandths of a request in hand, when last
    /// counted).
    bucket: std::sync::Mutex<(u64, Instant)>,
}

impl std::fmt::Debug for AuthOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthOnly({}, kid {})", self.url.full(), self.kid)
    }
}

impl AuthOnly {
    /// Starts the sender thread; every answer goes to `report`. Nothing
    /// is ever sent to an address in `own`.
    pub fn start(
        start_url: &str,
        kid: String,
        key: SigningKey,
        own: Vec<SocketAddr>,
        report: Report,
    ) -> Result<AuthOnly, String> {
        let url = Url::parse(start_url)?;
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let target = url.clone();
        let citizens = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let done = citizens.clone();
        let spawned = std::thread::Builder::new()
            .name("auth-only".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                for job in rx {
                    let citizen = job.ask.by == "citizen";
                    report(post(&target, job, &own));
                    if citizen {
                        done.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                    }
                }
            });
        Ok(AuthOnly {
            url,
            kid,
            key,
            tx: spawned.ok().map(|_| tx),
            next: std::sync::atomic::AtomicU64::new(1),
            citizens,
            bucket: std::sync::Mutex::new((FULL, Instant::now())),
        })
    }

    /// `<core-url>/start`, as the settings show it.
    pub fn url(&self) -> String {
        self.url.full()
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> &'static str {
        self.key.alg().name()
    }

    /// Signs `ask` and queues it; its ticket, which its `Answered` carries.
    pub fn ask(&self, ask: Ask, now: u64) -> Result<u64, Refusal> {
        let jws =
            sign(&ask, &self.kid, &self.key, now).map_err(|e| Refusal::Sign(e.to_string()))?;
        let ticket = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(tx) = &self.tx else {
            return Err(Refusal::QueueFull);
        };
        let citizen = ask.by == "citizen";
        if citizen {
            self.citizen_place()?;
        }
        match tx.try_send(Job { ticket, ask, jws }) {
            Ok(()) => Ok(ticket),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                if citizen {
                    self.citizens
                        .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                }
                Err(Refusal::QueueFull)
            }
        }
    }

    /// Takes one of the citizens' places and one of their rate, or says
    /// which is spent (the place is checked first: it frees itself).
    fn citizen_place(&self) -> Result<(), Refusal> {
        use std::sync::atomic::Ordering;
        let taken = self
            .citizens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < CITIZEN_PLACES).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(Refusal::CitizensBusy);
        }
        let mut b = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let every = CITIZEN_EVERY.as_millis().max(1);
        let refill = now.duration_since(b.1).as_millis().saturating_mul(1000) / every;
        let refill = u64::try_from(refill).unwrap_or(FULL);
        *b = (b.0.saturating_add(refill).min(FULL), now);
        if b.0 >= 1000 {
            b.0 -= 1000;
            return Ok(());
        }
        let wait = CITIZEN_EVERY * u32::try_from(1000 - b.0).unwrap_or(1000) / 1000;
        drop(b);
        self.citizens.fetch_sub(1, Ordering::AcqRel);
        Err(Refusal::CitizensTooFast(wait))
    }
}

/// One request to the core, on the sender thread.
fn post(url: &Url, job: Job, own: &[SocketAddr]) -> Answered {
    let t = Instant::now();
    let guard = |a: SocketAddr| {
        if crate::feedback::is_own(a, own) {
            Err(format!("{a} is one of this plugin's own listeners"))
        } else {
            Ok(())
        }
    };
    let result = client::post_for_json(
        url,
        "application/jwt",
        job.jws.as_bytes(),
        MAX_ANSWER,
        TIMEOUT,
        &guard,
    )
    .map(|a| reply_of(a.status, &a.body))
    .map_err(|e| e.to_string());
    Answered {
        ticket: job.ticket,
        ask: job.ask,
        url: url.full(),
        result,
        latency: t.elapsed(),
    }
}

/// The core's JSON `{"client_url": URL}`; anything else is said as its
/// first line (cut), for the journal.
fn reply_of(status: u16, body: &[u8]) -> Reply {
    let client_url = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("client_url")?.as_str().map(str::to_owned))
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
    let text = String::from_utf8_lossy(body);
    let said: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    Reply {
        status,
        client_url,
        said,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_answer_gives_a_client_url_only_as_an_http_url() {
        let r = reply_of(200, br#"{"client_url":"http://auth/x"}"#);
        assert_eq!(r.client_url.as_deref(), Some("http://auth/x"));
        let r = reply_of(200, br#"{"client_url":"javascript:alert(1)"}"#);
        assert_eq!(r.client_url, None);
        let r = reply_of(400, b"Bad Request\nmore");
        assert_eq!((r.client_url, r.said.as_str()), (None, "Bad Request"));
    }
}
