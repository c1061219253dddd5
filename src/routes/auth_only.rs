//! Authentication during communication, from the routes' side: the
//! inbox's `POST /api/auth-only` (and its page's form), the citizen's
//! "Authenticate again" button (`--auth-only-method`), and what each
//! hears back. The request itself is `crate::auth_only`'s: signed there,
//! sent by its thread. A caller's request is parked in its loop (no
//! thread, counted against the cap) until the core's answer is in.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{guard, journal, App, Exchange, Method, Request, Response};
use crate::auth_only::{Answered, Ask};
use crate::http::Wake;

/// Answers kept for callers still waiting; a caller that went away
/// leaves one behind, pushed out by later ones.
const KEPT: usize = 256;
/// A caller waits this much beyond the client's own deadline.
const GRACE: Duration = Duration::from_secs(2);
/// The citizen's button: at most one request per session in this time.
pub const AGAIN_EVERY: Duration = Duration::from_secs(10);
/// Sessions remembered for the button; the oldest go first.
const SESSIONS: usize = 1024;

/// The core's answers, by ticket, and the loops to wake when one is in.
#[derive(Default)]
pub struct Answers {
    done: Mutex<VecDeque<(Answered, u64)>>,
    wakes: Mutex<Vec<Wake>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Answers {
    /// Every answer: one journal entry and one log line, then kept for
    /// its caller and its loop woken.
    pub fn report(self: &Arc<Self>, journal: Arc<journal::Shared>) -> crate::auth_only::Report {
        let answers = self.clone();
        Arc::new(move |a: Answered| {
            let ms = u64::try_from(a.latency.as_millis()).unwrap_or(u64::MAX);
            let outcome = match &a.result {
                Ok(r) => format!("answered {}", r.status),
                Err(e) => e.clone(),
            };
            crate::log::message(&format!(
                "auth-only {} for {} via {}: {outcome} in {ms} ms",
                a.ask.auth_method, a.ask.purpose, a.url
            ));
            let id = journal.record("auth_only", Some(&a.ask.purpose), kind_of(&a, ms));
            {
                let mut done = locked(&answers.done);
                if done.len() >= KEPT {
                    done.pop_front();
                }
                done.push_back((a, id));
            }
            // Recording woke the inbox before the answer was kept: again.
            journal.poke();
            for w in locked(&answers.wakes).iter() {
                w.wake();
            }
        })
    }

    /// A public loop's waker: its parked citizens hear of answers.
    pub fn attach(&self, wake: Wake) {
        locked(&self.wakes).push(wake);
    }

    fn take(&self, ticket: u64) -> Option<(Answered, u64)> {
        let mut done = locked(&self.done);
        let i = done.iter().position(|(a, _)| a.ticket == ticket)?;
        done.remove(i)
    }
}

fn kind_of(a: &Answered, ms: u64) -> journal::Kind {
    let (result, said) = match &a.result {
        Ok(r) => (
            Ok(r.status),
            a.client_url().is_none().then(|| r.said.clone()),
        ),
        Err(e) => (Err(e.clone()), None),
    };
    journal::Kind::AuthOnly(journal::AuthOnly {
        auth_method: a.ask.auth_method.clone(),
        url: a.url.clone(),
        result,
        client_url: a.client_url().map(str::to_owned),
        said,
        latency_ms: ms,
        asked_by: a.ask.by,
    })
}

/// The citizens' sessions the button may ask for: the purpose each was
/// started with, and when it last asked.
#[derive(Default)]
pub struct Sessions {
    by_key: HashMap<String, (String, Option<Instant>)>,
    order: VecDeque<String>,
}

impl Sessions {
    /// A new session for `purpose`: its key, for `client_url`'s query.
    /// None for a purpose longer than the journal keeps (no purpose tag
    /// is that long): 1 024 sessions hold at most 1 MiB of purposes.
    pub fn open(&mut self, purpose: &str) -> Option<String> {
        if purpose.len() > journal::MAX_PURPOSE {
            return None;
        }
        let key = super::logout::new_key()?;
        while self.order.len() >= SESSIONS {
            if let Some(old) = self.order.pop_front() {
                self.by_key.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.by_key.insert(key.clone(), (purpose.to_owned(), None));
        Some(key)
    }

    pub fn known(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// The session's purpose, if it may ask now; else how long to wait.
    fn claim(&mut self, key: &str, now: Instant) -> Result<String, Option<Duration>> {
        let (purpose, last) = self.by_key.get_mut(key).ok_or(None)?;
        if let Some(t) = *last {
            let since = now.saturating_duration_since(t);
            if since < AGAIN_EVERY {
                return Err(Some(AGAIN_EVERY - since));
            }
        }
        *last = Some(now);
        Ok(purpose.clone())
    }
}

/// A request waiting for the core's answer to ticket `0`.
#[derive(Debug)]
pub struct Asking(pub u64);

impl Asking {
    fn answered(&self, app: &App) -> Option<(Answered, u64)> {
        app.auth_answers.take(self.0)
    }
}

fn off() -> Response {
    json_error(
        409,
        "authentication during communication is off: start with --core-url URL and \
         --auth-only-key KID=FILE",
        None,
    )
}

fn json_error(status: u16, error: &str, field: Option<&str>) -> Response {
    let mut body = json!({ "error": error });
    if let (Some(f), Some(o)) = (field, body.as_object_mut()) {
        o.insert("field".into(), json!(f));
    }
    let mut r = Response::new(status, "application/json", body.to_string());
    r.note.verdict = Some("rejected");
    r.note.detail = Some(error.to_owned());
    r
}

/// `{"purpose", "auth_method"}`: each a string of 1-256 characters.
fn parse(body: &[u8]) -> Result<(String, String), Box<Response>> {
    let v: serde_json::Map<String, Value> = serde_json::from_slice(body)
        .map_err(|_| Box::new(json_error(400, "the request is not a JSON object", None)))?;
    let field = |name: &'static str| match v.get(name).and_then(Value::as_str) {
        Some(s) if (1..=256).contains(&s.chars().count()) => Ok(s.to_owned()),
        _ => Err(Box::new(json_error(
            400,
            &format!("{name}: a string of 1-256 characters"),
            Some(name),
        ))),
    };
    Ok((field("purpose")?, field("auth_method")?))
}

/// A queued request: what its caller parks on, and until when.
pub type Parked = Result<(Asking, Instant), Box<Response>>;

/// Queues `ask`: its caller parks until the answer is in.
fn ask(app: &App, ask: Ask) -> Parked {
    let Some(sender) = &app.auth_only else {
        return Err(Box::new(off()));
    };
    match sender.ask(ask, app.now()) {
        Ok(ticket) => Ok((
            Asking(ticket),
            Instant::now() + crate::auth_only::TIMEOUT + GRACE,
        )),
        Err(e @ crate::auth_only::Refusal::CitizensTooFast(wait)) => {
            let s = wait.as_secs() + 1;
            Err(Box::new(
                json_error(429, &e.to_string(), None).with_header("Retry-After", s.to_string()),
            ))
        }
        Err(e) => Err(Box::new(json_error(503, &e.to_string(), None))),
    }
}

/// `POST /api/auth-only` (JSON) and the page's form (`POST /auth-only`).
pub fn from_inbox(app: &App, req: &Request, form: bool) -> Parked {
    let parsed = if form {
        form_fields(req.body)
    } else {
        parse(req.body)
    };
    let (purpose, auth_method) = parsed?;
    let a = Ask {
        purpose,
        auth_method,
        comm_url: format!("{}/ui", app.server_url),
        attr_url: app
            .use_attr_url
            .then(|| format!("{}/auth_result", app.internal_url)),
        by: "inbox",
    };
    ask(app, a)
}

fn form_fields(body: &[u8]) -> Result<(String, String), Box<Response>> {
    let text = std::str::from_utf8(body).unwrap_or("");
    let get = |k: &str| super::query::query_param(Some(text), k).filter(|v| !v.trim().is_empty());
    match (get("purpose"), get("auth_method")) {
        (Some(p), Some(m)) => Ok((p, m)),
        _ => Err(Box::new(Response::error(
            400,
            "purpose and auth_method are both needed",
        ))),
    }
}

/// The inbox's answer once the core's is in: the API's JSON, or for the
/// page's form, the journal entry that shows it.
pub fn inbox_answer(app: &App, waiting: &Asking, form: bool) -> Option<Response> {
    let (a, id) = waiting.answered(app)?;
    if form {
        return Some(Response::redirect(format!("/events/{id}")));
    }
    let status = a.result.as_ref().ok().map(|r| r.status);
    Some(match a.client_url() {
        Some(u) => json_response(
            200,
            &json!({"client_url": u, "status": status, "event": id}),
        ),
        None => {
            let said = match &a.result {
                Ok(r) => format!(
                    "the core answered {} without a client_url: {}",
                    r.status, r.said
                ),
                Err(e) => format!("no answer from the core: {e}"),
            };
            json_response(502, &json!({"error": said, "status": status, "event": id}))
        }
    })
}

fn json_response(status: u16, v: &Value) -> Response {
    Response::new(status, "application/json", v.to_string())
}

/// The core did not answer in time (the client's own deadline passed).
pub fn timed_out() -> Response {
    json_error(504, "the core did not answer in time", None)
}

/// `POST /ui/authenticate` (`--auth-only-method`): the citizen's
/// "Authenticate again", under the cross-site defence; the browser is
/// sent on to the core's `client_url` once it is in.
pub fn from_citizen(app: &App, req: &Request) -> Parked {
    let refuse = |r: Response| {
        let ex = Exchange::new(req, None);
        let kind = journal::Kind::Request {
            reason: r.note.detail.clone(),
        };
        app.record_for(&ex, r.status, "ui", None, kind);
        Err(Box::new(r))
    };
    if let Err(why) = guard::same_origin(&guard::Provenance::of(req)) {
        return refuse(Response::error(403, why.message()));
    }
    let (Some(method), Some(_)) = (&app.auth_only_method, &app.auth_only) else {
        return refuse(Response::error(404, "not found"));
    };
    let key = std::str::from_utf8(req.body)
        .ok()
        .and_then(|b| super::query::query_param(Some(b.trim()), "session"))
        .unwrap_or_default();
    let purpose = match locked(&app.auth_sessions).claim(&key, Instant::now()) {
        Ok(p) => p,
        Err(None) => return refuse(Response::error(404, "unknown session")),
        Err(Some(wait)) => {
            let s = wait.as_secs() + 1;
            return refuse(
                Response::error(429, format!("asked a moment ago: try again in {s} s"))
                    .with_header("Retry-After", s.to_string()),
            );
        }
    };
    let a = Ask {
        purpose,
        auth_method: method.clone(),
        comm_url: format!("{}/ui?session={key}", app.server_url),
        attr_url: app
            .use_attr_url
            .then(|| format!("{}/auth_result", app.internal_url)),
        by: "citizen",
    };
    ask(app, a).or_else(|r| refuse(*r))
}

/// The citizen's answer once the core's is in: on to its `client_url`,
/// or a page saying why not.
pub fn citizen_answer(app: &App, waiting: &Asking) -> Option<Response> {
    let (a, _) = waiting.answered(app)?;
    Some(match a.client_url() {
        Some(u) => super::citizen::continue_to(u),
        None => super::citizen::refused_again(),
    })
}

impl App {
    /// Where `Method::Post` to the citizen's button goes.
    pub fn offers_again(&self, req: &Request) -> bool {
        req.path == "/ui/authenticate"
            && req.method == Method::Post
            && self.ui == crate::config::UiMode::Html
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From the attacker's side: anyone may start sessions, so what they
    /// hold is bounded in count and in bytes.
    #[test]
    fn sessions_are_bounded_in_count_and_in_the_purpose_they_hold() {
        let mut s = Sessions::default();
        assert_eq!(s.open(&"p".repeat(journal::MAX_PURPOSE + 1)), None);
        let first = s.open("report_move").unwrap();
        let keys: Vec<String> = (0..SESSIONS).map(|_| s.open("p").unwrap()).collect();
        assert_eq!(s.by_key.len(), SESSIONS);
        assert_eq!(s.order.len(), SESSIONS);
        assert!(!s.known(&first), "the oldest went first");
        assert!(keys.iter().all(|k| s.known(k)));
    }

    #[test]
    fn a_session_asks_at_most_once_every_10_s() {
        let mut s = Sessions::default();
        let key = s.open("report_move").unwrap();
        let t = Instant::now();
        assert_eq!(s.claim(&key, t), Ok("report_move".into()));
        let soon = s.claim(&key, t + Duration::from_secs(3));
        assert_eq!(soon, Err(Some(Duration::from_secs(7))));
        assert_eq!(s.claim(&key, t + AGAIN_EVERY), Ok("report_move".into()));
        assert_eq!(s.claim("nope", t), Err(None));
    }
}
