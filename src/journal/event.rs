//! One event as the journal keeps it: what a route made of a request
//! (a start, a token and its outcome, a feedback attempt, an auth-only
//! answer, a refused request), serialised once, when it is recorded, into
//! its event-stream frame (`Framed`), which every stream and every listing
//! shares. The bulky parts (the token as received, at most
//! `jose::MAX_TOKEN_LEN` bytes, and the two protected headers as their JSON
//! text, never a parsed tree: a header of 5 000 tiny array elements cost
//! 200 KB as nodes) live only in the frame, read back when a page or a
//! listing needs them. The typed event keeps what filters and the page's
//! summary use, with a `purpose` cut at `MAX_PURPOSE` bytes.
//! `MAX_EVENT_BYTES` is the bound; `tests/inbox.rs` holds a full journal of
//! worst-shaped tokens to it. No key material and nothing else of the
//! request is kept.

use std::collections::BTreeMap;
use std::sync::Arc;

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
/// about 29 KB (`tests/bench/README.md`).
pub const MAX_EVENT_BYTES: usize = 48 * 1024;

/// The routes an event is journaled under: a listing's `route` filter.
pub const ROUTES: [&str; 6] = [
    "start_communication",
    "auth_result",
    "ui",
    "session",
    "auth_only",
    "other",
];
/// What `Event::verdict` says: a listing's `verdict` filter.
pub const VERDICTS: [&str; 5] = ["accepted", "replay", "rejected", "sent", "failed"];

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
            // Named apart from the claim `status`: what the client was sent.
            "http_status": self.status,
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

    /// The JSON shape of `GET /api/events` (README, "Automated tests").
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
            // The claims as verified, in the one place a refused token's
            // claims are too; what is absent from the token is absent here.
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), json!(a.spelling.map(Spelling::subject)));
            claims.insert("status".into(), json!(a.status));
            let optional = [
                ("attributes", a.attributes.as_ref().map(|m| json!(m))),
                ("session_url", a.session_url.as_ref().map(|u| json!(u))),
                ("iat", a.iat.map(|t| json!(t))),
                ("nbf", a.nbf.map(|t| json!(t))),
            ];
            for (name, value) in optional {
                if let Some(v) = value {
                    claims.insert(name.into(), v);
                }
            }
            claims.insert("exp".into(), json!(a.exp));
            let fields = json!({
                "claims": claims,
                "replay": a.replay,
                "identical_to": a.identical_to,
                "session_feedback": match (&a.session_url, a.feedback_off) {
                    (None, _) => Value::Null,
                    (Some(_), true) => json!("off"),
                    (Some(_), false) => json!("on"),
                },
                "profile": a.spelling.map(|s| s.profile().name()),
                "profile_note": a.spelling.and_then(Spelling::note),
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

/// A header's (or claims') JSON text as a value, for a listing: parsed for
/// the moment of serialising, never kept as a tree. Text the parser will
/// not take as a tree (nested past its depth limit) is shown as the text:
/// what the decoder accepted is never hidden.
fn raw_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
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

/// An event and its stream frame, serialised once; the event without its
/// bulky parts, which only the frame holds.
#[derive(Debug)]
pub struct Framed {
    pub event: Event,
    pub frame: Arc<[u8]>,
    data: std::ops::Range<usize>,
}

impl Framed {
    /// The event with its request settled: `ms` more, and `status` if one
    /// replaces what it was answered (`Shared::settle`); `None` for an
    /// event without a request.
    pub fn settled(&self, status: Option<u16>, ms: u64) -> Option<Framed> {
        let mut event = self.event.clone();
        let r = event.request.as_mut()?;
        r.ms = r.ms.saturating_add(ms);
        if let Some(s) = status {
            r.status = s;
        }
        let mut json = self.json();
        let req = json.get_mut("request")?.as_object_mut()?;
        req.insert("ms".into(), json!(r.ms));
        req.insert("http_status".into(), json!(r.status));
        let text = serde_json::to_vec(&json).ok()?;
        Some(Framed::from_json(event, &text))
    }

    /// A recorded event, framed once; the frame keeps its bulky parts.
    pub fn new(event: Event) -> Framed {
        let (frame, data) = frame(&event);
        Framed {
            frame,
            data,
            event: event.stripped(),
        }
    }

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

    /// Whether a refused token's verified claims (kept only in the frame)
    /// hold `q`, in any case, in a name or a value: a search finds the
    /// result a claim check refused as it finds an accepted one.
    pub fn refused_claims_mention(&self, q: &str) -> bool {
        let refused = matches!(
            self.event.kind,
            Kind::Token {
                outcome: Outcome::Rejected { .. },
                ..
            }
        );
        let q = q.to_lowercase();
        // The frame's text first: no parse for what cannot match.
        if !refused
            || !String::from_utf8_lossy(self.json_text())
                .to_lowercase()
                .contains(&q)
        {
            return false;
        }
        fn holds(v: &Value, q: &str) -> bool {
            match v {
                Value::String(s) => s.to_lowercase().contains(q),
                Value::Number(n) => n.to_string().contains(q),
                Value::Array(a) => a.iter().any(|x| holds(x, q)),
                Value::Object(o) => o
                    .iter()
                    .any(|(k, x)| k.to_lowercase().contains(q) || holds(x, q)),
                _ => false,
            }
        }
        self.json().get("claims").is_some_and(|c| holds(c, &q))
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
