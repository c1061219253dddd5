//! Requests to responses, as plain functions: the public routes of the
//! plugin API (`public.rs`), the tester's inbox on its own listener
//! (`inbox.rs`, `page.rs`), and the state they share: the replay cache
//! (`replay.rs`) and the journal (`journal.rs`). No crypto here: tokens go
//! to `jose::decode`, which answers with verified claims or a named
//! rejection.

pub mod public;
pub mod replay;

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::config::Config;
use crate::jose::{KeySet, Policy};
pub use replay::ReplayCache;

pub const UI_BODY: &str = "Communication plugin UI";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Other,
}

impl Method {
    pub fn parse(m: &str) -> Method {
        match m {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            _ => Method::Other,
        }
    }
}

/// A request as the HTTP layer hands it over: already bounded in size.
pub struct Request<'a> {
    pub method: Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// For 405: the methods the path takes.
    pub allow: Option<&'static str>,
    /// What the log line adds after method, path, status and duration.
    pub note: Note,
}

/// What a request's log line says beyond method, path, status and
/// duration, as values: the log escapes and bounds them when it writes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Note {
    /// `accepted`, `replay` (accepted again), `rejected`.
    pub verdict: Option<&'static str>,
    pub reason: Option<String>,
    /// Request values shown to the tester (e.g. `purpose`).
    pub fields: Vec<(&'static str, Value)>,
    /// The accepted token's claims and keys, in the order shown.
    pub claims: Vec<(&'static str, Value)>,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
            allow: None,
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
    /// The only state that changes; shared by `--workers` loops.
    replays: Mutex<ReplayCache>,
}

impl App {
    pub fn new(config: Config) -> Self {
        App {
            policy: Policy::for_keys(&config.keys, config.leeway).with_profile(config.profile),
            server_url: config.server_url,
            internal_url: config.internal_url,
            use_attr_url: config.use_attr_url,
            keys: config.keys,
            clock: config.clock,
            reject_replays: config.reject_replays,
            replays: Mutex::new(ReplayCache::new(ReplayCache::DEFAULT_CAP)),
        }
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

/// Routes a request. Unknown paths are 404; known paths with another
/// method are 405 with `Allow`.
pub fn handle(app: &App, req: &Request) -> Response {
    match (req.path, req.method) {
        ("/start_communication", Method::Post) => public::start_communication(app, req),
        ("/ui", Method::Get | Method::Head) => public::ui(app, req),
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
