//! Requests to responses, as plain functions: the public routes of the
//! plugin API (`public.rs`, the citizen's page in `citizen.rs`), the
//! tester's inbox on its own listener (`inbox.rs`, `page.rs`) behind its
//! `Host` rule and cross-site defence (`guard.rs`), and the state they
//! share: the replay cache (`replay.rs`), the citizens' Logout keys
//! (`logout.rs`) and the journal (`journal.rs`). No crypto here: tokens go
//! to `jose::decode`, which answers with verified claims or a named
//! rejection.

mod citizen;
pub mod guard;
pub mod inbox;
pub mod journal;
pub mod logout;
mod page;
pub mod public;
pub mod replay;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Config, UiMode};
use crate::feedback::{self, Feedback};
use crate::jose::{KeySet, Policy};
pub use crate::log::Note;
pub use journal::Journal;
pub use replay::ReplayCache;

pub const UI_BODY: &str = "Communication plugin UI";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Delete,
    Other,
}

impl Method {
    pub fn parse(m: &str) -> Method {
        match m {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
}

/// Which listener a request came in on: the public one (citizens' browsers,
/// the core, authentication plugins) or the tester's inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Public,
    Inbox,
}

/// A request as the HTTP layer hands it over: already bounded in size.
pub struct Request<'a> {
    pub listener: Listener,
    pub method: Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// `Host`, `Origin` and `Sec-Fetch-Site`, for the inbox's `Host` rule
    /// and the cross-site defence (`guard.rs`).
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
    /// An event stream's reconnection: the last id the browser got.
    pub last_event_id: Option<&'a str>,
    pub body: &'a [u8],
}

impl Request<'_> {
    pub fn provenance(&self) -> guard::Provenance<'_> {
        guard::Provenance {
            host: self.host,
            origin: self.origin,
            sec_fetch_site: self.sec_fetch_site,
        }
    }
}

/// The addresses this process listens on, once bound: the inbox answers
/// only to its own names, and session feedback never goes to any of them.
#[derive(Debug, Clone, Default)]
pub struct Listening {
    pub public: Vec<SocketAddr>,
    pub inbox: Option<SocketAddr>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// For 405: the methods the path takes.
    pub allow: Option<&'static str>,
    /// Further headers (the inbox page's security policy, caching).
    pub headers: Vec<(&'static str, &'static str)>,
    /// An event stream: the body is its start, no `Content-Length` is sent,
    /// and the connection then carries the journal's events from here.
    pub stream: Option<StreamStart>,
    /// What the log line adds after method, path, status and duration.
    pub note: Note,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
            allow: None,
            headers: Vec::new(),
            stream: None,
            note: Note::default(),
        }
    }

    /// A 4xx with a one-line, plain-text reason, logged as well.
    pub fn error(status: u16, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let mut r = Response::new(status, "text/plain; charset=utf-8", format!("{reason}\n"));
        r.note = Note {
            verdict: Some("rejected"),
            reason: Some(reason),
            ..Note::default()
        };
        r
    }

    fn ui() -> Self {
        Response::new(200, "text/plain; charset=utf-8", UI_BODY)
    }

    /// 303 See Other to `location` (after a form POST).
    fn redirect(location: &'static str) -> Self {
        let mut r = Response::new(303, "text/plain; charset=utf-8", "");
        r.headers.push(("Location", location));
        r
    }
}

/// Where an event stream stands: the last journal id it was sent, and the
/// journal's clear count it last told its client of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStart {
    pub after: u64,
    pub clears: u64,
}

impl StreamStart {
    /// The next frames for this stream, within `budget` bytes (at least
    /// one frame if there is any, so none is too large to send): a
    /// `clear` event first when the journal was emptied since, then the
    /// entries after `after`, as serialised once when recorded.
    /// They are appended to `out`, which grows by exactly their size.
    pub fn next_frames(&mut self, app: &App, budget: usize, out: &mut Vec<u8>) {
        let clears = app.journal.clears();
        if clears != self.clears {
            self.clears = clears;
            let last = app.last_event();
            out.extend_from_slice(
                format!("event: clear\ndata: {{\"last_id\":{last}}}\n\n").as_bytes(),
            );
        }
        let (frames, last) = {
            let j = app.journal();
            (j.frames_after(self.after, budget), j.last_id())
        };
        if frames.is_empty() {
            // Nothing kept after `after` (cleared, or dropped as the
            // journal turned over): caught up.
            self.after = self.after.max(last);
        }
        out.reserve_exact(frames.iter().map(|f| f.1.len()).sum());
        for (id, frame) in frames {
            out.extend_from_slice(&frame);
            self.after = id;
        }
    }

    /// Whether the journal holds something this stream has not been sent.
    pub fn behind(&self, app: &App) -> bool {
        app.last_event() > self.after || app.journal.clears() != self.clears
    }
}

/// Everything the handlers need; built once from `Config`.
pub struct App {
    server_url: String,
    internal_url: String,
    use_attr_url: bool,
    keys: KeySet,
    policy: Policy,
    clock: Option<u64>,
    reject_replays: bool,
    ui: UiMode,
    /// The state that changes, shared by `--workers` loops.
    replays: Mutex<ReplayCache>,
    logout_keys: Mutex<logout::LogoutKeys>,
    journal: Arc<journal::Shared>,
    feedback: Feedback,
    /// The inbox's own names (`None` without an inbox).
    inbox_hosts: Option<guard::InboxHosts>,
}

impl App {
    /// Built once the listeners are bound: what they are bound to decides
    /// the inbox's names and where feedback may never go.
    pub fn new(config: Config, listening: &Listening) -> Self {
        let journal = Arc::new(journal::Shared::new(config.journal_size));
        let own: Vec<SocketAddr> = listening
            .public
            .iter()
            .copied()
            .chain(listening.inbox)
            .collect();
        App {
            inbox_hosts: listening
                .inbox
                .map(|a| guard::InboxHosts::new(a, &config.inbox_hosts)),
            logout_keys: Mutex::new(logout::LogoutKeys::new(logout::LogoutKeys::CAP)),
            policy: Policy::for_keys(&config.keys, config.leeway).with_profile(config.profile),
            server_url: config.server_url,
            internal_url: config.internal_url,
            use_attr_url: config.use_attr_url,
            keys: config.keys,
            clock: config.clock,
            reject_replays: config.reject_replays,
            replays: Mutex::new(ReplayCache::new(ReplayCache::DEFAULT_CAP)),
            ui: config.ui,
            feedback: match config.session_feedback {
                None => Feedback::off(),
                Some(d) => Feedback::start(d, own, journal_and_log(journal.clone())),
            },
            journal,
        }
    }

    /// The journal, locked: hold it only to copy what you need.
    pub fn journal(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock()
    }

    /// The journal as shared: clears, and who is told of changes.
    pub fn shared_journal(&self) -> &journal::Shared {
        &self.journal
    }

    fn logout_keys(&self) -> MutexGuard<'_, logout::LogoutKeys> {
        self.logout_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records an event in the journal; returns its id.
    pub fn record(&self, route: &'static str, purpose: Option<&str>, kind: journal::Kind) -> u64 {
        self.journal.record(route, purpose, kind)
    }

    /// The newest journal id (0 before the first event).
    pub fn last_event(&self) -> u64 {
        self.journal.last()
    }

    /// The validation time: the fixed `--clock`, or the system clock.
    pub fn now(&self) -> u64 {
        self.clock.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        })
    }
}

/// Routes a request by listener and path. Unknown paths are 404; known
/// paths with another method are 405 with `Allow`.
pub fn handle(app: &App, req: &Request) -> Response {
    if req.path == "/healthz" {
        return match req.method {
            Method::Get | Method::Head => Response::new(200, "text/plain; charset=utf-8", "ok"),
            _ => method_not_allowed("GET, HEAD"),
        };
    }
    match req.listener {
        Listener::Public => public_routes(app, req),
        Listener::Inbox => inbox::handle(app, req),
    }
}

fn public_routes(app: &App, req: &Request) -> Response {
    match (req.path, req.method) {
        ("/start_communication", Method::Post) => public::start_communication(app, req),
        ("/ui", Method::Get | Method::Head) => public::ui(app, req),
        ("/ui/logout", Method::Post) if app.ui == UiMode::Html => public::logout(app, req),
        ("/auth_result", Method::Post) => public::auth_result(app, req),
        ("/start_communication" | "/auth_result", _) => method_not_allowed("POST"),
        ("/ui", _) => method_not_allowed("GET, HEAD"),
        _ => Response::error(404, "not found"),
    }
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut r = Response::error(405, "method not allowed");
    r.allow = Some(allow);
    r
}

/// `%XX` decoding of a query value; `None` on a broken escape or non-UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// The value of `name` in a query string, percent-decoded (`+` is a space).
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_decode(&v.replace('+', " ")))
}

/// Every feedback attempt, refusals included: one journal entry (the URL
/// whole: the inbox is the tester's) and one log line (query values
/// redacted: they may carry a session secret).
fn journal_and_log(journal: Arc<journal::Shared>) -> feedback::Report {
    Arc::new(move |a: feedback::Attempt| {
        let ms = u64::try_from(a.latency.as_millis()).unwrap_or(u64::MAX);
        let outcome = match &a.result {
            Ok(code) => format!("answered {code}"),
            Err(e) => e.clone(),
        };
        let for_event = a
            .for_event
            .map_or(String::new(), |id| format!(" for entry #{id}"));
        crate::log::message(&format!(
            "session feedback {} {}: {outcome} in {ms} ms{for_event}",
            a.kind.as_str(),
            crate::log::redact_url(&a.url)
        ));
        journal.record(
            "session",
            None,
            journal::Kind::Feedback(journal::Feedback {
                kind: a.kind.as_str(),
                url: a.url,
                result: a.result,
                latency_ms: ms,
                for_event: a.for_event,
            }),
        );
    })
}

/// Sends `kind` for journal entry `id`'s `session_url`: `None` once
/// queued, else the refusal's answer.
fn send_feedback(app: &App, id: u64, kind: feedback::Type) -> Option<Response> {
    let url = {
        let journal = app.journal();
        let Some(e) = journal.get(id) else {
            return Some(Response::error(
                404,
                format!("no entry {id} in the journal"),
            ));
        };
        let Some(url) = e.session_url() else {
            return Some(Response::error(
                409,
                format!("entry {id} has no session_url"),
            ));
        };
        url.to_owned()
    };
    match app.feedback.send(&url, kind, Some(id)) {
        Ok(()) => None,
        Err(r @ feedback::Refusal::Off) => Some(Response::error(409, r.to_string())),
        Err(r @ feedback::Refusal::QueueFull) => Some(Response::error(503, r.to_string())),
        Err(r) => Some(Response::error(403, r.to_string())),
    }
}

/// `POST /api/events/{id}/session?type=user_active|logout` on the inbox:
/// 202 and the attempt's result in the journal; from the page's form
/// (`back=1`), a redirect back to the page.
fn feedback_route(app: &App, req: &Request) -> Response {
    let Some(id) = inbox::session_target(req.path) else {
        return Response::error(404, "not found");
    };
    let Some(kind) = query_param(req.query, "type")
        .as_deref()
        .and_then(feedback::Type::parse)
    else {
        return Response::error(400, "type must be user_active or logout");
    };
    let back = query_param(req.query, "back").is_some();
    match send_feedback(app, id, kind) {
        None if back => Response::redirect("/"),
        None => {
            let body = format!(
                r#"{{"queued":true,"type":"{}","for_event":{id}}}"#,
                kind.as_str()
            );
            let mut r = Response::new(202, "application/json", body);
            r.note
                .fields
                .push(("type", serde_json::json!(kind.as_str())));
            r
        }
        Some(refused) => refused,
    }
}
