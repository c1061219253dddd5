//! The journal: the last N events, in memory, for the tester's inbox.
//! One event per `start_communication`, per token received on any route,
//! and per session-feedback attempt. It holds what a tester needs to see
//! and to replay (`comm-test decode` takes the token as received), and no
//! key material and nothing else of the request.
//!
//! Bounded: `capacity` events, oldest dropped. An event holds at most a
//! token of `jose::MAX_TOKEN_LEN` bytes, what that token decodes to, and a
//! `purpose` cut at `MAX_PURPOSE` bytes: about 40 KB at the very worst,
//! some 3 KB for a real token.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Value};

use crate::date;
use crate::jose::{self, Decoded};

/// A purpose longer than this is cut (visibly) in the journal.
pub const MAX_PURPOSE: usize = 1024;
pub const DEFAULT_CAPACITY: usize = 200;

/// A token's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted(Box<Accepted>),
    Rejected {
        /// The reason category (`expired`, …) and the whole line.
        reason: &'static str,
        detail: String,
    },
}

/// What an accepted token said, and what opened and verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub replay: bool,
    pub status: &'static str,
    pub attributes: Option<BTreeMap<String, String>>,
    pub session_url: Option<String>,
    pub iat: Option<u64>,
    pub nbf: Option<u64>,
    pub exp: u64,
    pub outer_header: Value,
    pub inner_header: Value,
    pub decrypted_with: String,
    pub verified_with: String,
    /// With `--ui html`: the unguessable handle the citizen's Logout form
    /// posts, so no one else can end this session. Not in the API.
    pub logout_key: Option<String>,
}

impl Accepted {
    pub fn new(d: &Decoded, replay: bool) -> Self {
        let header = |json: &[u8]| serde_json::from_slice(json).unwrap_or(Value::Null);
        Accepted {
            replay,
            status: d.claims.status.as_str(),
            attributes: d.claims.attributes.clone(),
            session_url: d.claims.session_url.clone(),
            iat: d.claims.iat,
            nbf: d.claims.nbf,
            exp: d.claims.exp,
            outer_header: header(&d.outer_header),
            inner_header: header(&d.inner_header),
            decrypted_with: d.decrypted_with.to_string(),
            verified_with: d.verified_with.to_string(),
            logout_key: None,
        }
    }
}

/// A session-feedback attempt (`POST <session_url>?type=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// `user_active` or `logout`.
    pub kind: &'static str,
    /// The destination without its query.
    pub url: String,
    /// The answer's status code, or what went wrong.
    pub result: Result<u16, String>,
    pub latency_ms: u64,
    /// The journal entry whose `session_url` this was for, if any.
    pub for_event: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Start,
    Token {
        /// As received, cut at `jose::MAX_TOKEN_LEN`.
        token: String,
        outcome: Outcome,
        /// The validation time (Unix seconds): `--clock`, or the clock then.
        checked_at: u64,
    },
    Feedback(Feedback),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: u64,
    /// Unix milliseconds.
    pub time_ms: u64,
    /// `start_communication`, `auth_result`, `ui`, or `session` (feedback).
    pub route: &'static str,
    pub purpose: Option<String>,
    pub kind: Kind,
}

impl Event {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Start => "start",
            Kind::Token { .. } => "token",
            Kind::Feedback(_) => "session",
        }
    }

    /// `accepted`, `replay`, `rejected` for tokens; `sent`, `failed` for
    /// feedback; none for a start.
    pub fn verdict(&self) -> Option<&'static str> {
        match &self.kind {
            Kind::Start => None,
            Kind::Token {
                outcome: Outcome::Accepted(a),
                ..
            } => Some(if a.replay { "replay" } else { "accepted" }),
            Kind::Token { .. } => Some("rejected"),
            Kind::Feedback(f) => Some(match f.result {
                Ok(code) if (200..300).contains(&code) => "sent",
                _ => "failed",
            }),
        }
    }

    /// The session URL a tester can send feedback to, for an accepted token.
    pub fn session_url(&self) -> Option<&str> {
        match &self.kind {
            Kind::Token {
                outcome: Outcome::Accepted(a),
                ..
            } => a.session_url.as_deref(),
            _ => None,
        }
    }

    /// The JSON shape of `GET /api/events` (README, "The tester's inbox").
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "time": date::rfc3339_millis(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.time_ms)
            ),
            "route": self.route,
            "kind": self.kind_name(),
            "purpose": self.purpose,
            "verdict": self.verdict(),
        });
        let Some(obj) = v.as_object_mut() else {
            return v;
        };
        match &self.kind {
            Kind::Start => {}
            Kind::Token {
                token,
                outcome,
                checked_at,
            } => {
                obj.insert("checked_at".into(), json!(checked_at));
                match outcome {
                    Outcome::Accepted(a) => {
                        let fields = json!({
                            "replay": a.replay,
                            "status": a.status,
                            "attributes": a.attributes,
                            "session_url": a.session_url,
                            "iat": a.iat,
                            "nbf": a.nbf,
                            "exp": a.exp,
                            "outer_header": a.outer_header,
                            "inner_header": a.inner_header,
                            "decrypted_with": a.decrypted_with,
                            "verified_with": a.verified_with,
                        });
                        if let Value::Object(f) = fields {
                            obj.extend(f);
                        }
                    }
                    Outcome::Rejected { reason, detail } => {
                        obj.insert("reason".into(), json!(reason));
                        obj.insert("detail".into(), json!(detail));
                    }
                }
                obj.insert("token".into(), json!(token));
            }
            Kind::Feedback(f) => {
                obj.insert("type".into(), json!(f.kind));
                obj.insert("url".into(), json!(f.url));
                obj.insert("for_event".into(), json!(f.for_event));
                obj.insert("latency_ms".into(), json!(f.latency_ms));
                match &f.result {
                    Ok(code) => obj.insert("answer_status".into(), json!(code)),
                    Err(e) => obj.insert("error".into(), json!(e)),
                };
            }
        }
        v
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary, saying so.
pub fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}…[cut, {} bytes]",
        s.get(..end).unwrap_or_default(),
        s.len()
    )
}

/// The journal as the loops and the feedback thread share it.
pub struct Shared {
    journal: Mutex<Journal>,
    /// The newest id, readable without the lock: the loop checks it after
    /// every round to feed event streams.
    last: AtomicU64,
}

impl Shared {
    pub fn new(capacity: usize) -> Shared {
        Shared {
            journal: Mutex::new(Journal::new(capacity)),
            last: AtomicU64::new(0),
        }
    }

    /// A poisoned lock means a thread panicked mid-update; the deque itself
    /// is still sound, so keep using it.
    pub fn lock(&self) -> MutexGuard<'_, Journal> {
        self.journal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn record(&self, route: &'static str, purpose: Option<&str>, kind: Kind) -> u64 {
        let id = self.lock().record(route, purpose, kind);
        self.last.store(id, Ordering::Release);
        id
    }

    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }
}

pub struct Journal {
    events: VecDeque<Event>,
    capacity: usize,
    next_id: u64,
}

/// What `GET /api/events` may filter on.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub since: Option<u64>,
    pub route: Option<&'a str>,
    pub verdict: Option<&'a str>,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Journal {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            next_id: 1,
        }
    }

    /// Records an event now; returns its id.
    pub fn record(&mut self, route: &'static str, purpose: Option<&str>, kind: Kind) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.events.len() >= self.capacity {
            self.events.pop_front();
        }
        let kind = match kind {
            Kind::Token {
                token,
                outcome,
                checked_at,
            } => Kind::Token {
                token: cut(&token, jose::MAX_TOKEN_LEN),
                outcome,
                checked_at,
            },
            k => k,
        };
        self.events.push_back(Event {
            id,
            time_ms: date::unix_now_millis(),
            route,
            purpose: purpose.map(|p| cut(p, MAX_PURPOSE)),
            kind,
        });
        id
    }

    /// The id of the newest event ever recorded (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.next_id - 1
    }

    pub fn get(&self, id: u64) -> Option<&Event> {
        self.events.iter().rev().find(|e| e.id == id)
    }

    /// The entry whose Logout form carries `key`.
    pub fn by_logout_key(&self, key: &str) -> Option<&Event> {
        self.events.iter().rev().find(|e| match &e.kind {
            Kind::Token {
                outcome: Outcome::Accepted(a),
                ..
            } => a.logout_key.as_deref() == Some(key),
            _ => false,
        })
    }

    /// Matching events, newest first.
    pub fn select<'j>(&'j self, f: &'j Filter<'_>) -> impl Iterator<Item = &'j Event> + 'j {
        self.events.iter().rev().filter(move |e| {
            f.since.is_none_or(|s| e.id > s)
                && f.route.is_none_or(|r| e.route == r)
                && f.verdict.is_none_or(|v| e.verdict() == Some(v))
        })
    }

    /// Events after `id`, oldest first (for the stream).
    pub fn after(&self, id: u64) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| e.id > id)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Empties the journal; ids keep counting, so streams stay in order.
    pub fn clear(&mut self) -> usize {
        let n = self.events.len();
        self.events.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(token: &str) -> Kind {
        Kind::Token {
            token: token.into(),
            outcome: Outcome::Rejected {
                reason: "malformed",
                detail: "malformed: JWE must have exactly 5 parts".into(),
            },
            checked_at: 0,
        }
    }

    #[test]
    fn bounded_oldest_dropped_ids_keep_counting() {
        let mut j = Journal::new(3);
        for i in 0..5 {
            j.record("auth_result", None, rejected(&format!("t{i}")));
        }
        assert_eq!(j.len(), 3);
        assert_eq!(
            j.select(&Filter::default())
                .map(|e| e.id)
                .collect::<Vec<_>>(),
            [5, 4, 3]
        );
        assert_eq!(j.clear(), 3);
        assert_eq!(j.record("ui", None, rejected("x")), 6);
        assert_eq!(j.after(0).map(|e| e.id).collect::<Vec<_>>(), [6]);
    }

    #[test]
    fn filters_and_cuts() {
        let mut j = Journal::new(10);
        j.record("start_communication", Some(&"p".repeat(5000)), Kind::Start);
        j.record("auth_result", None, rejected(&"t".repeat(20_000)));
        let f = Filter {
            route: Some("start_communication"),
            ..Filter::default()
        };
        let start: Vec<_> = j.select(&f).collect();
        assert_eq!(start.len(), 1);
        assert!(start[0]
            .purpose
            .as_ref()
            .unwrap()
            .ends_with("…[cut, 5000 bytes]"));
        let f = Filter {
            verdict: Some("rejected"),
            since: Some(1),
            ..Filter::default()
        };
        let e: Vec<_> = j.select(&f).collect();
        assert_eq!(e.len(), 1);
        let v = e[0].to_json();
        assert_eq!(
            (&v["kind"], &v["verdict"], &v["reason"]),
            (&json!("token"), &json!("rejected"), &json!("malformed"))
        );
        assert!(v["token"]
            .as_str()
            .unwrap()
            .ends_with("…[cut, 20000 bytes]"));
    }
}
