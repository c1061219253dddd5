//! Faults on demand: how a public route misbehaves when a tester asks it
//! to, so that what the *rest* of a deployment does with a slow, failing,
//! silent or wrong plugin can be tried. A fault is one value, checked in
//! one place (`Given::check`) whichever way it came: `--fault` (`parse`),
//! the inbox's JSON API (`from_json`) or its page's form (`from_form`).
//! `Board` holds at most one fault per route and hands each out once per
//! request. What a fault does to an answer is `routes`' business: a fault
//! replaces only the answer, never what the request is made of.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Map, Value};

/// The longest delay: the core waits 5 s for a plugin, so a minute shows
/// any time-out, and a delayed connection is never held for longer.
pub const MAX_DELAY_MS: u64 = 60_000;
/// A fault's body is a page at most: it is held in memory until cleared.
pub const MAX_BODY: usize = 16 * 1024;
/// `times` beyond this is "until cleared", which says so.
pub const MAX_TIMES: u64 = 1_000_000;

/// The routes a fault can be set on: the plugin API's three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    StartCommunication,
    Ui,
    AuthResult,
}

impl Route {
    pub const ALL: [Route; 3] = [Route::StartCommunication, Route::Ui, Route::AuthResult];

    pub fn name(self) -> &'static str {
        match self {
            Route::StartCommunication => "start_communication",
            Route::Ui => "ui",
            Route::AuthResult => "auth_result",
        }
    }

    pub fn parse(name: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The route a request path belongs to, exactly (`/ui/logout` and the
    /// page's style sheet are not the API and are never faulted).
    pub fn of_path(path: &str) -> Option<Route> {
        match path {
            "/start_communication" => Some(Route::StartCommunication),
            "/ui" => Some(Route::Ui),
            "/auth_result" => Some(Route::AuthResult),
            _ => None,
        }
    }

    fn index(self) -> usize {
        match self {
            Route::StartCommunication => 0,
            Route::Ui => 1,
            Route::AuthResult => 2,
        }
    }
}

/// What the faulted request is answered with, once its delay has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The answer it would have had (a delay alone).
    Usual,
    /// This status and body instead.
    Status { status: u16, body: String },
    /// No answer: the connection is closed.
    Close,
    /// `start_communication` only: 200 with JSON cut short.
    MalformedJson,
    /// `start_communication` only: 200 with the usual answer less its
    /// `client_url`.
    NoClientUrl,
}

/// One fault, as stored: `times` is how many more requests it applies to
/// (`None`: until cleared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub route: Route,
    pub reply: Reply,
    pub delay_ms: u64,
    pub times: Option<u64>,
}

/// Why a fault cannot be met: the field at fault, and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub why: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.why)
    }
}

fn invalid<T>(field: &str, why: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid {
        field: field.to_owned(),
        why: why.into(),
    })
}

/// The names a fault is written with, in every form it takes.
pub const FIELDS: &str = "route, status, body, delay_ms, close, times, answer";

/// A fault as given, before it is checked: every front end fills this,
/// and only `check` makes a `Fault` of it.
#[derive(Debug, Default)]
struct Given {
    route: Option<String>,
    status: Option<u64>,
    body: Option<String>,
    delay_ms: Option<u64>,
    close: bool,
    times: Option<u64>,
    answer: Option<String>,
}

impl Given {
    fn check(self) -> Result<Fault, Invalid> {
        let Some(name) = self.route.as_deref() else {
            return invalid("route", "missing: start_communication, ui or auth_result");
        };
        let Some(route) = Route::parse(name) else {
            return invalid(
                "route",
                format!(
                    "{} is none of start_communication, ui, auth_result",
                    shown(name)
                ),
            );
        };
        let delay_ms = self.delay_ms.unwrap_or(0);
        if delay_ms > MAX_DELAY_MS {
            return invalid(
                "delay_ms",
                format!("{delay_ms} is over {MAX_DELAY_MS} (a minute shows any time-out)"),
            );
        }
        let times = match self.times {
            Some(0) => {
                return invalid(
                    "times",
                    "0 would never apply: leave it out for until cleared",
                )
            }
            Some(n) if n > MAX_TIMES => return invalid("times", format!("at most {MAX_TIMES}")),
            t => t,
        };
        let reply = self.reply(route, delay_ms)?;
        Ok(Fault {
            route,
            reply,
            delay_ms,
            times,
        })
    }

    /// What the answer becomes: at most one of a status (with or without
    /// a body), `close` and `answer`; a delay alone keeps the answer.
    fn reply(&self, route: Route, delay_ms: u64) -> Result<Reply, Invalid> {
        let has_status = self.status.is_some() || self.body.is_some();
        if self.close && has_status {
            return invalid("close", "a closed connection has no status or body");
        }
        if let Some(a) = &self.answer {
            if self.close || has_status {
                return invalid("answer", "takes no status, body or close beside it");
            }
            if route != Route::StartCommunication {
                return invalid("answer", "only start_communication answers JSON");
            }
            return match a.as_str() {
                "malformed_json" => Ok(Reply::MalformedJson),
                "no_client_url" => Ok(Reply::NoClientUrl),
                other => invalid(
                    "answer",
                    format!(
                        "{} is neither malformed_json nor no_client_url",
                        shown(other)
                    ),
                ),
            };
        }
        if self.close {
            return Ok(Reply::Close);
        }
        if has_status {
            let status = self.status.unwrap_or(200);
            let Some(status) = u16::try_from(status)
                .ok()
                .filter(|s| (100..=599).contains(s))
            else {
                return invalid("status", format!("{status} is outside 100-599"));
            };
            let body = self.body.clone().unwrap_or_default();
            if !body.is_empty() && matches!(status, 100..=199 | 204 | 304) {
                return invalid("body", format!("status {status} carries no body"));
            }
            if body.len() > MAX_BODY {
                return invalid("body", format!("{} bytes is over {MAX_BODY}", body.len()));
            }
            return Ok(Reply::Status { status, body });
        }
        if delay_ms == 0 {
            return invalid(
                "status",
                "a fault needs a status, body, delay_ms, close or answer",
            );
        }
        Ok(Reply::Usual)
    }

    /// One `key=value` of the text forms; numbers are checked here, so the
    /// field is named when one is not a number.
    fn text(&mut self, key: &str, value: &str) -> Result<(), Invalid> {
        let number = |field: &str| -> Result<u64, Invalid> {
            value
                .trim()
                .parse()
                .or_else(|_| invalid(field, format!("{} is not a whole number", shown(value))))
        };
        match key {
            "route" => self.route = Some(value.to_owned()),
            "status" => self.status = Some(number("status")?),
            "body" => self.body = Some(value.to_owned()),
            "delay_ms" => self.delay_ms = Some(number("delay_ms")?),
            "times" => self.times = Some(number("times")?),
            "answer" => self.answer = Some(value.to_owned()),
            "close" => match value {
                "" | "true" => self.close = true,
                "false" => self.close = false,
                _ => return invalid("close", "is true or false"),
            },
            other => {
                return invalid(&cut(other), format!("is not a fault's field ({FIELDS})"));
            }
        }
        Ok(())
    }
}

/// A value from outside, as an error message may show it: quoted, cut.
fn shown(v: &str) -> String {
    let cut: String = v.chars().take(40).collect();
    format!("{cut:?}")
}

/// `--fault ROUTE[:KEY=VALUE,…]`: e.g. `ui:status=503,body=down`,
/// `start_communication:delay_ms=6000`, `auth_result:close,times=2`,
/// `start_communication:answer=no_client_url`. `body=` takes the rest of
/// the text, commas included, so it comes last.
pub fn parse(spec: &str) -> Result<Fault, Invalid> {
    let (route, mut rest) = spec.split_once(':').unwrap_or((spec, ""));
    let mut given = Given {
        route: Some(route.to_owned()),
        ..Given::default()
    };
    while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix("body=") {
            given.body = Some(body.to_owned());
            break;
        }
        let (item, more) = rest.split_once(',').unwrap_or((rest, ""));
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        given.text(key.trim(), value)?;
        rest = more;
    }
    given.check()
}

/// The inbox page's form (`application/x-www-form-urlencoded`, decoded):
/// `answer` is one of `usual`, `status`, `close`, `malformed_json`,
/// `no_client_url`, and says which of the other fields count; an empty
/// field is one not given.
pub fn from_form(field: &dyn Fn(&str) -> Option<String>) -> Result<Fault, Invalid> {
    let get = |k: &str| field(k).filter(|v| !v.trim().is_empty());
    let mut given = Given::default();
    for key in ["route", "delay_ms", "times"] {
        if let Some(v) = get(key) {
            given.text(key, &v)?;
        }
    }
    match get("answer").as_deref().unwrap_or("status") {
        "usual" => {}
        "close" => given.close = true,
        "status" => {
            let Some(status) = get("status") else {
                return invalid("status", "missing: 100-599");
            };
            given.text("status", &status)?;
            given.body = get("body");
        }
        other => given.answer = Some(other.to_owned()),
    }
    given.check()
}

/// `POST /api/faults`: `{"route", "status", "body", "delay_ms", "close",
/// "times", "answer"}`, each of its JSON type (`times` may be null: until
/// cleared); a member named twice or unknown is refused by name.
pub fn from_json(body: &[u8]) -> Result<Fault, Invalid> {
    let members: crate::json::Members = serde_json::from_slice(body)
        .or_else(|_| invalid("body", "the request is not a JSON object"))?;
    if members.duplicate {
        return invalid("body", "the request names a member twice");
    }
    let object: Map<String, Value> = serde_json::from_slice(body)
        .or_else(|_| invalid("body", "the request is not a JSON object"))?;
    let mut given = Given::default();
    for (key, value) in &object {
        let text = |field: &str| {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or(())
                .or_else(|()| invalid(field, "must be a string"))
        };
        let number = |field: &str| {
            value
                .as_u64()
                .ok_or(())
                .or_else(|()| invalid(field, "must be a whole number"))
        };
        match key.as_str() {
            "route" => given.route = Some(text("route")?),
            "status" => given.status = Some(number("status")?),
            "body" => given.body = Some(text("body")?),
            "delay_ms" => given.delay_ms = Some(number("delay_ms")?),
            "times" if value.is_null() => given.times = None,
            "times" => given.times = Some(number("times")?),
            "answer" => given.answer = Some(text("answer")?),
            "close" => {
                given.close = value
                    .as_bool()
                    .ok_or(())
                    .or_else(|()| invalid("close", "must be true or false"))?;
            }
            other => return invalid(&cut(other), format!("is not a fault's field ({FIELDS})")),
        }
    }
    given.check()
}

/// An unknown member's name as the error names its field: cut, and
/// never empty (`""` says a member had no name).
fn cut(name: &str) -> String {
    if name.is_empty() {
        return "\"\"".into();
    }
    name.chars().take(40).collect()
}

impl Fault {
    /// The fault as the API shows it and `POST` answers it.
    pub fn to_json(&self) -> Value {
        let mut o = json!({
            "route": self.route.name(),
            "delay_ms": self.delay_ms,
            "times": self.times,
        });
        if let Some(map) = o.as_object_mut() {
            match &self.reply {
                Reply::Usual => {}
                Reply::Status { status, body } => {
                    map.insert("status".into(), json!(status));
                    map.insert("body".into(), json!(body));
                }
                Reply::Close => {
                    map.insert("close".into(), json!(true));
                }
                Reply::MalformedJson => {
                    map.insert("answer".into(), json!("malformed_json"));
                }
                Reply::NoClientUrl => {
                    map.insert("answer".into(), json!("no_client_url"));
                }
            }
        }
        o
    }

    /// What the request got, in a few words, for the journal and the log:
    /// `status 503`, `close after 6000 ms`, `the usual answer after 6000 ms`.
    pub fn describe(&self) -> String {
        let what = match &self.reply {
            Reply::Usual => "the usual answer".to_owned(),
            Reply::Status { status, .. } => format!("status {status}"),
            Reply::Close => "close".to_owned(),
            Reply::MalformedJson => "malformed JSON".to_owned(),
            Reply::NoClientUrl => "no client_url".to_owned(),
        };
        match self.delay_ms {
            0 => what,
            ms => format!("{what} after {ms} ms"),
        }
    }

    /// The status the client gets in place of `usual` (0: none).
    pub fn status_sent(&self, usual: u16) -> u16 {
        match &self.reply {
            Reply::Usual => usual,
            Reply::Status { status, .. } => *status,
            Reply::Close => 0,
            Reply::MalformedJson | Reply::NoClientUrl => 200,
        }
    }
}

/// The faults in force: one per route at most. `version` counts changes
/// (set, cleared, used), so the inbox page knows to show them again.
#[derive(Debug, Default)]
pub struct Board {
    set: Mutex<[Option<Fault>; 3]>,
    version: AtomicU64,
    /// How many faults are in force: with none, a request takes no lock
    /// (every public request asks, from every `--workers` loop).
    armed: std::sync::atomic::AtomicUsize,
}

impl Board {
    pub fn new(faults: Vec<Fault>) -> Self {
        let board = Board::default();
        for f in faults {
            board.set(f);
        }
        board
    }

    fn lock(&self) -> MutexGuard<'_, [Option<Fault>; 3]> {
        self.set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Called with the lock held, so `armed` is exact.
    fn changed(&self, set: &[Option<Fault>; 3]) {
        let n = set.iter().flatten().count();
        self.armed.store(n, Ordering::Release);
        self.version.fetch_add(1, Ordering::Release);
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Sets `fault` on its route, replacing the one there; returns that.
    pub fn set(&self, fault: Fault) -> Option<Fault> {
        let i = fault.route.index();
        let mut set = self.lock();
        let old = set.get_mut(i).and_then(|s| s.replace(fault));
        self.changed(&set);
        old
    }

    /// Clears `route`'s fault, or every one; returns the routes cleared.
    pub fn clear(&self, route: Option<Route>) -> Vec<Route> {
        let mut set = self.lock();
        let cleared: Vec<Route> = Route::ALL
            .into_iter()
            .filter(|r| route.is_none_or(|only| only == *r))
            .filter(|r| set.get_mut(r.index()).and_then(Option::take).is_some())
            .collect();
        if !cleared.is_empty() {
            self.changed(&set);
        }
        cleared
    }

    /// The fault a request on `route` gets, used once: its `times` counts
    /// down, and it is gone after the last.
    pub fn take(&self, route: Route) -> Option<Fault> {
        if self.armed.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut set = self.lock();
        let slot = set.get_mut(route.index())?;
        let fault = slot.clone()?;
        match fault.times {
            Some(1) => *slot = None,
            Some(n) => {
                if let Some(f) = slot.as_mut() {
                    f.times = Some(n - 1);
                }
            }
            None => return Some(fault),
        }
        self.changed(&set);
        Some(fault)
    }

    /// The faults in force, in route order.
    pub fn list(&self) -> Vec<Fault> {
        self.lock().iter().flatten().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_fault_is_checked_alike() {
        let want = Fault {
            route: Route::Ui,
            reply: Reply::Status {
                status: 503,
                body: "down, for now".into(),
            },
            delay_ms: 0,
            times: Some(2),
        };
        assert_eq!(
            parse("ui:status=503,times=2,body=down, for now"),
            Ok(want.clone())
        );
        let json = br#"{"route":"ui","status":503,"body":"down, for now","times":2}"#;
        assert_eq!(from_json(json), Ok(want.clone()));
        let form = [
            ("route", "ui"),
            ("answer", "status"),
            ("status", "503"),
            ("body", "down, for now"),
            ("delay_ms", ""),
            ("times", "2"),
        ];
        let field = |k: &str| {
            form.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        assert_eq!(from_form(&field), Ok(want));
    }

    #[test]
    fn each_kind_of_fault_parses() {
        let reply = |s: &str| parse(s).map(|f| (f.reply, f.delay_ms, f.times));
        assert_eq!(reply("auth_result:close"), Ok((Reply::Close, 0, None)));
        assert_eq!(
            reply("start_communication:delay_ms=6000"),
            Ok((Reply::Usual, 6000, None))
        );
        assert_eq!(
            reply("start_communication:answer=malformed_json,times=1"),
            Ok((Reply::MalformedJson, 0, Some(1)))
        );
        assert_eq!(
            reply("start_communication:answer=no_client_url"),
            Ok((Reply::NoClientUrl, 0, None))
        );
        assert_eq!(
            reply("ui:delay_ms=100,close"),
            Ok((Reply::Close, 100, None))
        );
    }

    #[test]
    fn a_fault_that_cannot_be_met_names_its_field() {
        let field = |r: Result<Fault, Invalid>| r.map_err(|e| e.field);
        assert_eq!(field(parse("chat:status=500")), Err("route".into()));
        assert_eq!(field(parse("ui:status=99")), Err("status".into()));
        assert_eq!(field(parse("ui:status=600")), Err("status".into()));
        assert_eq!(field(parse("ui:status=5x")), Err("status".into()));
        assert_eq!(field(parse("ui:delay_ms=60001")), Err("delay_ms".into()));
        assert_eq!(field(parse("ui:times=0,close")), Err("times".into()));
        assert_eq!(field(parse("ui:times=1000001,close")), Err("times".into()));
        assert!(parse("ui:times=1000000,close").is_ok());
        assert_eq!(field(parse("ui")), Err("status".into()));
        assert_eq!(field(parse("ui:close,status=500")), Err("close".into()));
        assert_eq!(
            field(parse("ui:answer=no_client_url")),
            Err("answer".into())
        );
        assert_eq!(field(parse("ui:colour=red")), Err("colour".into()));
        assert_eq!(field(parse("ui:status=204,body=x")), Err("body".into()));
        // Found by the fuzzer: a member without a name named no field.
        assert_eq!(field(parse("ui:=1")), Err("\"\"".into()));
        assert_eq!(
            field(from_json(br#"{"route":"ui","status":590,"":0}"#)),
            Err("\"\"".into())
        );
        let json = |s: &str| field(from_json(s.as_bytes()));
        assert_eq!(
            json(r#"{"route":"ui","status":"500"}"#),
            Err("status".into())
        );
        assert_eq!(
            json(r#"{"route":"ui","status":70000}"#),
            Err("status".into())
        );
        assert_eq!(
            json(r#"{"route":"ui","delay_ms":-1}"#),
            Err("delay_ms".into())
        );
        assert_eq!(json(r#"{"route":"ui","close":1}"#), Err("close".into()));
        assert_eq!(json(r#"{"route":"x","close":true}"#), Err("route".into()));
        assert_eq!(json(r#"{"close":true}"#), Err("route".into()));
        assert_eq!(json(r#"{"route":"ui","route":"ui"}"#), Err("body".into()));
        assert_eq!(json("[]"), Err("body".into()));
        let big = format!(r#"{{"route":"ui","body":"{}"}}"#, "x".repeat(MAX_BODY + 1));
        assert_eq!(json(&big), Err("body".into()));
    }

    #[test]
    fn a_fault_is_used_its_times_then_gone_one_per_route() {
        let board = Board::default();
        let v0 = board.version();
        assert_eq!(board.set(parse("ui:close,times=2").unwrap()), None);
        assert!(board.set(parse("ui:status=500,times=2").unwrap()).is_some());
        board.set(parse("auth_result:status=500").unwrap());
        assert_eq!(board.list().len(), 2);
        let used = |r| board.take(r).map(|f| f.describe());
        assert_eq!(used(Route::Ui), Some("status 500".into()));
        assert_eq!(board.list()[0].times, Some(1));
        assert_eq!(used(Route::Ui), Some("status 500".into()));
        assert_eq!(used(Route::Ui), None);
        assert_eq!(used(Route::StartCommunication), None);
        for _ in 0..3 {
            assert_eq!(used(Route::AuthResult), Some("status 500".into()));
        }
        assert!(board.version() > v0);
        assert_eq!(board.clear(None), vec![Route::AuthResult]);
        assert_eq!(board.list(), vec![]);
    }

    #[test]
    fn a_fault_shows_as_it_was_given() {
        let f = parse("start_communication:delay_ms=6000,times=3").unwrap();
        assert_eq!(
            f.to_json(),
            json!({"route": "start_communication", "delay_ms": 6000, "times": 3})
        );
        assert_eq!(f.describe(), "the usual answer after 6000 ms");
        assert_eq!(from_json(f.to_json().to_string().as_bytes()), Ok(f));
    }
}
