//! The journal: the last N events, in memory, for the tester's inbox.
//! One event per `start_communication`, per token received on any route,
//! and per session-feedback attempt. It holds what a tester needs to see
//! and to replay (`comm-test decode` takes the token as received), and no
//! key material and nothing else of the request.
//!
//! Bounded: `capacity` events, oldest dropped. An event is serialised
//! once, when it is recorded, into its event-stream frame, which every
//! stream and every listing shares (`Arc`); the bulky parts (the token as
//! received, at most `jose::MAX_TOKEN_LEN` bytes, and the two protected
//! headers as their JSON text, never a parsed tree: a header of 5 000
//! tiny array elements cost 200 KB as nodes) live only there, read back
//! when a page or a listing needs them. The typed event keeps what
//! filters and the page's summary use, with a `purpose` cut at
//! `MAX_PURPOSE` bytes. `MAX_EVENT_BYTES` is the bound; `tests/inbox.rs`
//! holds a full journal of worst-shaped tokens to it.
//!
//! Readers copy `Arc`s of the events they need under the lock and render
//! after releasing it: the lock is held for pointer copies, never for a
//! page's or a listing's serialisation.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde_json::{json, Value};

use crate::date;
use crate::jose::{self, Decoded, Reason, Spelling};

/// A purpose longer than this is cut (visibly) in the journal.
pub const MAX_PURPOSE: usize = 1024;
pub const DEFAULT_CAPACITY: usize = 200;
/// The most one event holds, whatever the token's shape: its frame (the
/// 16 KiB token, the headers' text, which the token's base64 holds in
/// less than its length, and the claims, likewise), the typed claims
/// once more (less than the token), and bookkeeping. Measured worst:
/// about 29 KB (README, "The tester's inbox").
pub const MAX_EVENT_BYTES: usize = 48 * 1024;

/// A token's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted(Box<Accepted>),
    Rejected {
        /// The reason (`expired`, …) and the whole line.
        reason: Reason,
        detail: String,
        /// What the decoder established before it refused
        /// (`jose::Refused`): headers' and claims' JSON text, each empty
        /// where it was not reached.
        established: Established,
    },
}

/// A refused token's parts as far as the decoder got (JSON text each,
/// empty where not reached); kept only in the event's frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Established {
    pub outer_header: String,
    pub inner_header: String,
    pub claims: String,
}

impl Established {
    pub fn of(r: &jose::Refused) -> Self {
        let text = |b: &Option<Vec<u8>>| {
            b.as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        Established {
            outer_header: text(&r.outer_header),
            inner_header: text(&r.inner_header),
            claims: text(&r.claims),
        }
    }
}

/// What an accepted token said, and what opened and verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub replay: bool,
    /// The entry that first accepted the same inner JWS, for a replay.
    pub identical_to: Option<u64>,
    /// Whether `session_url` feedback is off (`--session-feedback` unset):
    /// no user_active went out, and the page offers no Send buttons.
    pub feedback_off: bool,
    pub status: &'static str,
    /// The `sub` and status spelling it matched (`--profile auto` says
    /// which); none for a line read back without a known `sub`.
    pub spelling: Option<Spelling>,
    pub attributes: Option<BTreeMap<String, String>>,
    pub session_url: Option<String>,
    pub iat: Option<u64>,
    pub nbf: Option<u64>,
    pub exp: u64,
    /// The protected headers as their JSON text (bounded by the token).
    pub outer_header: String,
    pub inner_header: String,
    pub decrypted_with: String,
    pub verified_with: String,
}

impl Accepted {
    pub fn new(d: &Decoded, replay: bool) -> Self {
        let header = |json: &[u8]| String::from_utf8_lossy(json).into_owned();
        Accepted {
            replay,
            identical_to: None,
            feedback_off: false,
            status: d.claims.status.as_str(),
            spelling: Some(d.claims.spelling),
            attributes: d.claims.attributes.clone(),
            session_url: d.claims.session_url.clone(),
            iat: d.claims.iat,
            nbf: d.claims.nbf,
            exp: d.claims.exp,
            outer_header: header(&d.outer_header),
            inner_header: header(&d.inner_header),
            decrypted_with: d.decrypted_with.to_string(),
            verified_with: d.verified_with.to_string(),
        }
    }
}

/// A session-feedback attempt (`POST <session_url>?type=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// `user_active` or `logout`.
    pub kind: &'static str,
    /// The destination as sent, whole (the log redacts its query).
    pub url: String,
    /// The answer's status code, or what went wrong.
    pub result: Result<u16, String>,
    pub latency_ms: u64,
    /// The journal entry whose `session_url` this was for, if any.
    pub for_event: Option<u64>,
}

/// A request to the core for authentication during communication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOnly {
    pub auth_method: String,
    /// `<core-url>/start`.
    pub url: String,
    /// The core's status, or what went wrong.
    pub result: Result<u16, String>,
    /// What the core sent the citizen to, when it did.
    pub client_url: Option<String>,
    /// The first line of an answer without one.
    pub said: Option<String>,
    pub latency_ms: u64,
    /// `inbox` (the tester) or `citizen` (the page's button).
    pub asked_by: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A request whose route journaled nothing of its own (a refusal, a
    /// plain page): its answer's reason, if it had one.
    Request {
        reason: Option<String>,
    },
    Start,
    Token {
        /// As received, cut at `jose::MAX_TOKEN_LEN`.
        token: String,
        outcome: Outcome,
        /// The validation time (Unix seconds): `--clock`, or the clock then.
        checked_at: u64,
    },
    Feedback(Feedback),
    AuthOnly(AuthOnly),
}

/// The request headers the journal keeps; never `authorization` or
/// `cookie`, nor any other.
pub const JOURNALED_HEADERS: [&str; 4] = ["content-type", "content-length", "user-agent", "accept"];
/// Each kept header value, the method and the path are cut at this.
pub const MAX_REQUEST_TEXT: usize = 256;

/// What the journal keeps of a public request: its line (the path without
/// its query, which may carry a token), its answer's status, how long the
/// route took, the client, and a few headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The fault it got in place of its answer (`faults::Fault::describe`).
    pub fault: Option<String>,
    pub ms: u64,
    pub client: Option<String>,
    pub headers: Vec<(&'static str, String)>,
}

impl RequestInfo {
    fn to_json(&self) -> Value {
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let mut v = json!({
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "ms": self.ms,
            "client": self.client,
            "headers": headers,
        });
        if let (Some(f), Some(o)) = (&self.fault, v.as_object_mut()) {
            o.insert("fault".into(), json!(f));
        }
        v
    }
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
    /// The public request it came with (none for feedback).
    pub request: Option<RequestInfo>,
    /// Read back from `--journal-file`: what re-checking it found.
    pub read_back: Option<String>,
}

impl Event {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Request { .. } => "request",
            Kind::Start => "start",
            Kind::Token { .. } => "token",
            Kind::Feedback(_) => "session",
            Kind::AuthOnly(_) => "auth_only",
        }
    }

    /// `accepted`, `replay`, `rejected` for tokens; `sent`, `failed` for
    /// feedback; none for a start.
    pub fn verdict(&self) -> Option<&'static str> {
        match &self.kind {
            Kind::Start | Kind::Request { .. } => None,
            Kind::Token {
                outcome: Outcome::Accepted(a),
                ..
            } => Some(if a.replay { "replay" } else { "accepted" }),
            Kind::Token { .. } => Some("rejected"),
            Kind::AuthOnly(a) => Some(if a.client_url.is_some() {
                "sent"
            } else {
                "failed"
            }),
            Kind::Feedback(f) => Some(match f.result {
                Ok(code) if (200..300).contains(&code) => "sent",
                _ => "failed",
            }),
        }
    }

    /// The session URL a tester can send feedback to, for an accepted token.
    /// An accepted result's attributes.
    pub fn attributes(&self) -> Option<&BTreeMap<String, String>> {
        match &self.kind {
            Kind::Token {
                outcome: Outcome::Accepted(a),
                ..
            } => a.attributes.as_ref(),
            _ => None,
        }
    }

    /// Whether `q` appears, ignoring case, in what the event decoded to:
    /// route, purpose, verdict, status, attribute names and values, a
    /// rejection's reason and detail, a feedback attempt's URL and error.
    /// Never the raw token (its base64 would match anything short).
    pub fn mentions(&self, q: &str) -> bool {
        let q = q.to_lowercase();
        let has = |s: &str| s.to_lowercase().contains(&q);
        let mut texts: Vec<&str> = vec![self.route];
        texts.extend(self.purpose.as_deref());
        texts.extend(self.verdict());
        if let Some(r) = &self.request {
            texts.push(&r.path);
        }
        match &self.kind {
            Kind::Start => {}
            Kind::Request { reason } => texts.extend(reason.as_deref()),
            Kind::Token {
                outcome: Outcome::Accepted(a),
                ..
            } => {
                texts.push(a.status);
                texts.extend(a.session_url.as_deref());
                for (k, v) in a.attributes.iter().flatten() {
                    texts.push(k);
                    texts.push(v);
                }
            }
            Kind::Token {
                outcome: Outcome::Rejected { reason, detail, .. },
                ..
            } => {
                texts.push(reason.as_str());
                texts.push(detail);
            }
            Kind::Feedback(f) => {
                texts.push(f.kind);
                texts.push(&f.url);
                if let Err(e) = &f.result {
                    texts.push(e);
                }
            }
            Kind::AuthOnly(a) => {
                texts.push(&a.auth_method);
                texts.push(&a.url);
                texts.extend(a.client_url.as_deref());
                texts.extend(a.said.as_deref());
                if let Err(e) = &a.result {
                    texts.push(e);
                }
            }
        }
        texts.into_iter().any(has)
    }

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
        if let Some(r) = &self.request {
            obj.insert("request".into(), r.to_json());
        }
        match &self.kind {
            Kind::Start => {}
            Kind::Request { reason } => {
                obj.insert("reason".into(), json!(reason));
            }
            Kind::Token {
                token,
                outcome,
                checked_at,
            } => {
                obj.insert("checked_at".into(), json!(checked_at));
                outcome_json(obj, outcome);
                obj.insert("token".into(), json!(token));
            }
            Kind::AuthOnly(a) => {
                obj.insert("auth_method".into(), json!(a.auth_method));
                obj.insert("url".into(), json!(a.url));
                obj.insert("client_url".into(), json!(a.client_url));
                obj.insert("said".into(), json!(a.said));
                obj.insert("latency_ms".into(), json!(a.latency_ms));
                obj.insert("asked_by".into(), json!(a.asked_by));
                match &a.result {
                    Ok(code) => obj.insert("answer_status".into(), json!(code)),
                    Err(e) => obj.insert("error".into(), json!(e)),
                };
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

/// An outcome's members of an event's JSON.
fn outcome_json(obj: &mut serde_json::Map<String, Value>, outcome: &Outcome) {
    match outcome {
        Outcome::Accepted(a) => {
            let fields = json!({
                "replay": a.replay,
                "identical_to": a.identical_to,
                "session_feedback": match (&a.session_url, a.feedback_off) {
                    (None, _) => Value::Null,
                    (Some(_), true) => json!("off"),
                    (Some(_), false) => json!("on"),
                },
                "sub": a.spelling.map(Spelling::subject),
                "status": a.status,
                "profile": a.spelling.map(|s| s.profile().name()),
                "profile_note": a.spelling.and_then(Spelling::note),
                "attributes": a.attributes,
                "session_url": a.session_url,
                "iat": a.iat,
                "nbf": a.nbf,
                "exp": a.exp,
                "outer_header": raw_json(&a.outer_header),
                "inner_header": raw_json(&a.inner_header),
                "decrypted_with": a.decrypted_with,
                "verified_with": a.verified_with,
            });
            if let Value::Object(f) = fields {
                obj.extend(f);
            }
        }
        Outcome::Rejected {
            reason,
            detail,
            established: e,
        } => {
            obj.insert("reason".into(), json!(reason));
            obj.insert("detail".into(), json!(detail));
            // Each part only where the decoder got that far.
            for (name, text) in [
                ("outer_header", &e.outer_header),
                ("inner_header", &e.inner_header),
                ("claims", &e.claims),
            ] {
                if !text.is_empty() {
                    obj.insert(name.into(), raw_json(text));
                }
            }
        }
    }
}

impl Event {
    /// The event without what its frame already holds: the token and the
    /// headers' text.
    fn stripped(mut self) -> Event {
        if let Kind::Token { token, outcome, .. } = &mut self.kind {
            *token = String::new();
            match outcome {
                Outcome::Accepted(a) => {
                    a.outer_header = String::new();
                    a.inner_header = String::new();
                }
                Outcome::Rejected { established, .. } => *established = Established::default(),
            }
        }
        self
    }
}

/// A header's JSON text as a value, for a listing: parsed for the moment
/// of serialising, never kept as a tree.
fn raw_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The SSE frame of one event: `id`, `event: entry`, and its JSON on one
/// `data` line (serde_json escapes CR and LF inside strings, the only
/// characters that end an SSE line); and where in it the JSON is.
fn frame(e: &Event) -> (Arc<[u8]>, std::ops::Range<usize>) {
    let data = serde_json::to_string(&e.to_json()).unwrap_or_default();
    let head = format!("id: {}\nevent: entry\ndata: ", e.id);
    let range = head.len()..head.len() + data.len();
    (format!("{head}{data}\n\n").into_bytes().into(), range)
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

/// Told after every change to the journal: the inbox's loop, so that
/// streams and waiting requests are fed at once, not by polling.
pub type Wake = Box<dyn Fn() + Send + Sync>;

/// The journal as the loops and the feedback thread share it.
pub struct Shared {
    /// False without an inbox: nothing would ever read what is kept, so
    /// nothing is (ids still count, for the log lines that name them).
    keeps: bool,
    journal: Mutex<Journal>,
    /// The newest id and the number of clears, readable without the lock.
    last: AtomicU64,
    clears: AtomicU64,
    wake: OnceLock<Wake>,
    /// `--journal-file`: every change appended there too.
    sink: OnceLock<super::journal_file::Sink>,
}

impl Shared {
    pub fn new(capacity: usize) -> Shared {
        Shared {
            keeps: true,
            journal: Mutex::new(Journal::new(capacity)),
            last: AtomicU64::new(0),
            clears: AtomicU64::new(0),
            wake: OnceLock::new(),
            sink: OnceLock::new(),
        }
    }

    /// A journal that keeps nothing: `--inbox off`.
    pub fn off() -> Shared {
        Shared {
            keeps: false,
            ..Shared::new(1)
        }
    }

    /// Who to tell of changes (set once, by the inbox's loop).
    pub fn on_change(&self, wake: Wake) {
        let _ = self.wake.set(wake);
    }

    fn changed(&self) {
        if let Some(w) = self.wake.get() {
            w();
        }
    }

    /// Wakes the inbox's streams for something beside the journal that
    /// they report (the faults in force).
    pub fn poke(&self) {
        self.changed();
    }

    /// A poisoned lock means a thread panicked mid-update; the deque itself
    /// is still sound, so keep using it.
    pub fn lock(&self) -> MutexGuard<'_, Journal> {
        self.journal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records an event; the frame is serialised before the lock is taken.
    pub fn record(&self, route: &'static str, purpose: Option<&str>, kind: Kind) -> u64 {
        self.record_request(route, purpose, kind, None)
    }

    /// Records an event with the public request it came with.
    pub fn record_request(
        &self,
        route: &'static str,
        purpose: Option<&str>,
        kind: Kind,
        request: Option<RequestInfo>,
    ) -> u64 {
        if !self.keeps {
            return self.last.fetch_add(1, Ordering::AcqRel) + 1;
        }
        let mut event = Event {
            id: 0,
            time_ms: date::unix_now_millis(),
            route,
            purpose: purpose.map(|p| cut(p, MAX_PURPOSE)),
            kind: bounded(kind),
            request,
            read_back: None,
        };
        let (id, framed) = {
            let mut j = self.lock();
            event.id = j.next_id;
            j.next_id += 1;
            let (frame, data) = frame(&event);
            let framed = Arc::new(Framed {
                frame,
                data,
                event: event.stripped(),
            });
            (j.push(framed.clone()), framed)
        };
        if let Some(sink) = self.sink.get() {
            sink.send(super::journal_file::Line::Event(framed));
        }
        self.last.store(id, Ordering::Release);
        self.changed();
        id
    }

    /// Empties the journal (ids keep counting); how many events went.
    pub fn clear(&self) -> usize {
        let n = self.lock().clear();
        if let Some(sink) = self.sink.get() {
            sink.send(super::journal_file::Line::Cleared(self.last()));
        }
        self.clears.fetch_add(1, Ordering::AcqRel);
        self.changed();
        n
    }

    /// Removes what `f` matches (everything, for a filter that narrows
    /// nothing); how many went. Open streams are told as of a clear: their
    /// pages reload what is left.
    pub fn delete(&self, f: &Filter<'_>) -> usize {
        let ids = self.lock().delete(f);
        let n = ids.len();
        if let Some(sink) = self.sink.get().filter(|_| n > 0) {
            sink.send(super::journal_file::Line::Deleted(ids, self.last()));
        }
        self.clears.fetch_add(1, Ordering::AcqRel);
        self.changed();
        n
    }

    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    pub fn capacity(&self) -> usize {
        self.lock().capacity()
    }

    /// `--journal-file` lines the writer could not take or write.
    pub fn file_lines_lost(&self) -> u64 {
        self.sink
            .get()
            .map_or(0, |s| s.lost.load(Ordering::Relaxed))
    }

    /// After a delete or clear: `None` without a journal file; whether it
    /// is on the disk (written and synced before `delete` or `clear`
    /// returned), `lost_before` being `file_lines_lost` from before it.
    pub fn file_saved(&self, lost_before: u64) -> Option<bool> {
        let sink = self.sink.get()?;
        Some(sink.lost.load(Ordering::Relaxed) == lost_before)
    }

    /// The file's events are read back: its writer may rewrite it now.
    pub fn file_loaded(&self) {
        if let Some(sink) = self.sink.get() {
            sink.loaded();
        }
    }

    /// Every kept event, oldest first (pointer copies).
    pub fn snapshot(&self) -> Vec<Arc<Framed>> {
        self.lock().events.iter().cloned().collect()
    }

    /// `--journal-file`: ids continue after `last`, and every change is
    /// appended through `sink` from now on.
    pub fn persist_to(&self, sink: super::journal_file::Sink, last: u64) {
        {
            let mut j = self.lock();
            j.next_id = j.next_id.max(last + 1);
        }
        self.last.fetch_max(last, Ordering::AcqRel);
        let _ = self.sink.set(sink);
    }

    /// Events read back from the file, older than any recorded since:
    /// put before them, within the journal's size.
    pub fn restore(&self, events: Vec<Arc<Framed>>) -> usize {
        let n = {
            let mut j = self.lock();
            let room = j.capacity.saturating_sub(j.events.len());
            let skip = events.len().saturating_sub(room);
            let restored: Vec<Arc<Framed>> = events.into_iter().skip(skip).collect();
            let n = restored.len();
            for e in restored.into_iter().rev() {
                j.events.push_front(e);
            }
            n
        };
        self.changed();
        n
    }

    /// How many times the journal was emptied: a stream tells its page.
    pub fn clears(&self) -> u64 {
        self.clears.load(Ordering::Acquire)
    }
}

/// The token as received, cut at `jose::MAX_TOKEN_LEN`.
fn bounded(kind: Kind) -> Kind {
    match kind {
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
    }
}

/// An event and its stream frame, serialised once; the event without its
/// bulky parts, which only the frame holds.
#[derive(Debug)]
pub struct Framed {
    pub event: Event,
    pub frame: Arc<[u8]>,
    data: std::ops::Range<usize>,
}

impl Framed {
    /// An event read back from `--journal-file`: its frame from the JSON
    /// text as written, `event` the fields read from it.
    pub fn from_json(event: Event, json: &[u8]) -> Framed {
        let head = format!("id: {}\nevent: entry\ndata: ", event.id);
        let data = head.len()..head.len() + json.len();
        let mut frame = head.into_bytes();
        frame.extend_from_slice(json);
        frame.extend_from_slice(b"\n\n");
        Framed {
            event,
            frame: frame.into(),
            data,
        }
    }

    /// The event's JSON text as serialised once, inside its frame: what
    /// a listing sends as it is.
    pub fn json_text(&self) -> &[u8] {
        self.frame.get(self.data.clone()).unwrap_or(b"null")
    }

    /// The event's whole JSON as a value, read back from the frame (for
    /// the page's bulky parts).
    pub fn json(&self) -> Value {
        serde_json::from_slice(self.json_text()).unwrap_or(Value::Null)
    }
}

impl std::ops::Deref for Framed {
    type Target = Event;
    fn deref(&self) -> &Event {
        &self.event
    }
}

pub struct Journal {
    events: VecDeque<Arc<Framed>>,
    capacity: usize,
    next_id: u64,
}

/// What a listing may filter on, and which page of it.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub since: Option<u64>,
    /// Only events older than this id (the next page).
    pub before: Option<u64>,
    pub route: Option<&'a str>,
    pub verdict: Option<&'a str>,
    /// Text found, in any case, in a decoded value (`Event::mentions`).
    pub q: Option<&'a str>,
    /// Attributes an accepted result must carry, each with this value.
    pub attrs: &'a [(String, String)],
}

impl Filter<'_> {
    fn matches(&self, e: &Event) -> bool {
        self.since.is_none_or(|s| e.id > s)
            && self.before.is_none_or(|b| e.id < b)
            && self.route.is_none_or(|r| e.route == r)
            && self.verdict.is_none_or(|v| e.verdict() == Some(v))
            && self.q.is_none_or(|q| e.mentions(q))
            && self
                .attrs
                .iter()
                .all(|(k, v)| e.attributes().and_then(|a| a.get(k)) == Some(v))
    }

    /// Whether it narrows anything down (a delete without a filter is the
    /// whole journal).
    pub fn is_everything(&self) -> bool {
        self.since.is_none()
            && self.before.is_none()
            && self.route.is_none()
            && self.verdict.is_none()
            && self.q.is_none()
            && self.attrs.is_empty()
    }
}

/// One page of a listing: at most `limit` events, newest first, and
/// whether older matching events remain.
pub struct Page {
    pub events: Vec<Arc<Framed>>,
    pub more: bool,
    /// Events matching the filter on every page (its `before` aside).
    pub matched: usize,
    /// Events the journal holds.
    pub total: usize,
}

impl Page {
    /// The `before` of the next page, if there is one.
    pub fn next_before(&self) -> Option<u64> {
        self.events.last().filter(|_| self.more).map(|e| e.id)
    }
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Journal {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            next_id: 1,
        }
    }

    fn push(&mut self, e: Arc<Framed>) -> u64 {
        if self.events.len() >= self.capacity {
            self.events.pop_front();
        }
        let id = e.id;
        self.events.push_back(e);
        id
    }

    /// The id of the newest event ever recorded (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.next_id - 1
    }

    pub fn get(&self, id: u64) -> Option<Arc<Framed>> {
        self.events.iter().rev().find(|e| e.id == id).cloned()
    }

    /// A page of matching events, newest first: pointer copies only.
    pub fn page(&self, f: &Filter<'_>, limit: usize) -> Page {
        let mut matching = self.events.iter().rev().filter(|e| f.matches(e));
        let events: Vec<_> = matching.by_ref().take(limit).cloned().collect();
        let more = matching.next().is_some();
        // The count a tester reads as "3 of 8": every page's, so `before`
        // (which page) is left out.
        let all_pages = Filter { before: None, ..*f };
        let matched = self.events.iter().filter(|e| all_pages.matches(e)).count();
        Page {
            events,
            more,
            matched,
            total: self.events.len(),
        }
    }

    /// Frames after `id`, oldest first, until `budget` bytes are taken
    /// (always at least one, so a frame larger than the budget still goes).
    pub fn frames_after(&self, id: u64, budget: usize) -> Vec<(u64, Arc<[u8]>)> {
        let start = self.events.partition_point(|e| e.id <= id);
        let mut taken = 0usize;
        let mut out = Vec::new();
        for e in self.events.range(start..) {
            if !out.is_empty() && taken + e.frame.len() > budget {
                break;
            }
            taken += e.frame.len();
            out.push((e.id, e.frame.clone()));
        }
        out
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

    fn clear(&mut self) -> usize {
        let n = self.events.len();
        self.events.clear();
        n
    }

    /// The oldest event after `after` that `f` matches.
    pub fn first_after(&self, after: u64, f: &Filter<'_>) -> Option<Arc<Framed>> {
        let start = self.events.partition_point(|e| e.id <= after);
        self.events.range(start..).find(|e| f.matches(e)).cloned()
    }

    /// Removes the events `f` matches; how many went.
    fn delete(&mut self, f: &Filter<'_>) -> Vec<u64> {
        let mut ids = Vec::new();
        self.events.retain(|e| {
            let hit = f.matches(e);
            if hit {
                ids.push(e.id);
            }
            !hit
        });
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_inbox_nothing_is_kept_but_ids_still_count() {
        let j = Shared::off();
        assert_eq!(j.record("ui", None, Kind::Start), 1);
        assert_eq!(j.record("ui", Some("p"), Kind::Start), 2);
        assert_eq!((j.lock().len(), j.last()), (0, 2));
    }

    fn rejected(token: &str) -> Kind {
        Kind::Token {
            token: token.into(),
            outcome: Outcome::Rejected {
                reason: Reason::Malformed,
                detail: "malformed: JWE must have exactly 5 parts".into(),
                established: Established::default(),
            },
            checked_at: 0,
        }
    }

    fn ids(p: &Page) -> Vec<u64> {
        p.events.iter().map(|e| e.id).collect()
    }

    #[test]
    fn bounded_oldest_dropped_ids_keep_counting() {
        let j = Shared::new(3);
        for i in 0..5 {
            j.record("auth_result", None, rejected(&format!("t{i}")));
        }
        assert_eq!(j.lock().len(), 3);
        assert_eq!(ids(&j.lock().page(&Filter::default(), 10)), [5, 4, 3]);
        assert_eq!(j.clear(), 3);
        assert_eq!(j.clears(), 1);
        assert_eq!(j.record("ui", None, rejected("x")), 6);
        let after: Vec<u64> = j.lock().frames_after(0, 1).iter().map(|f| f.0).collect();
        assert_eq!(after, [6]);
    }

    #[test]
    fn pages_follow_before_and_limit() {
        let j = Shared::new(10);
        for i in 0..7 {
            j.record("auth_result", None, rejected(&format!("t{i}")));
        }
        let first = j.lock().page(&Filter::default(), 3);
        assert_eq!((ids(&first), first.next_before()), (vec![7, 6, 5], Some(5)));
        let f = Filter {
            before: first.next_before(),
            ..Filter::default()
        };
        let second = j.lock().page(&f, 3);
        assert_eq!(
            (ids(&second), second.next_before()),
            (vec![4, 3, 2], Some(2))
        );
        let f = Filter {
            before: Some(2),
            ..Filter::default()
        };
        let last = j.lock().page(&f, 3);
        assert_eq!((ids(&last), last.next_before()), (vec![1], None));
    }

    /// Regression: every open stream re-serialised every new entry (100 streams
    /// cost 7x the CPU of none). The frame is made once, at record, and
    /// every reader gets the same bytes.
    #[test]
    fn an_event_is_serialised_once_and_shared_by_every_stream() {
        let j = Shared::new(10);
        j.record("auth_result", None, rejected("t"));
        let a = j.lock().frames_after(0, usize::MAX);
        let b = j.lock().frames_after(0, usize::MAX);
        assert!(Arc::ptr_eq(&a[0].1, &b[0].1));
        let text = std::str::from_utf8(&a[0].1).unwrap();
        assert!(text.starts_with("id: 1\nevent: entry\ndata: {"), "{text}");
        assert!(text.ends_with("}\n\n") && text.matches('\n').count() == 4);
    }

    #[test]
    fn catch_up_frames_stop_at_the_budget_but_never_at_zero() {
        let j = Shared::new(10);
        for i in 0..5 {
            j.record("auth_result", None, rejected(&format!("t{i}")));
        }
        let one = j.lock().frames_after(0, 1).len();
        let len = j.lock().frames_after(0, usize::MAX)[0].1.len();
        let two = j.lock().frames_after(0, 2 * len + 1).len();
        assert_eq!((one, two), (1, 2));
        assert_eq!(j.lock().frames_after(3, usize::MAX)[0].0, 4);
    }

    #[test]
    fn filters_and_cuts() {
        let j = Shared::new(10);
        j.record("start_communication", Some(&"p".repeat(5000)), Kind::Start);
        j.record("auth_result", None, rejected(&"t".repeat(20_000)));
        let f = Filter {
            route: Some("start_communication"),
            ..Filter::default()
        };
        let start = j.lock().page(&f, 10).events;
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
        let e = j.lock().page(&f, 10).events;
        assert_eq!(e.len(), 1);
        let v = e[0].json();
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
