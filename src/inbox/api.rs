//! The inbox's routes: the page (`page.rs`) and its fragments and forms,
//! one event's page, and the JSON API whose contract is `openapi.json`
//! beside this file (served at `GET /api/openapi.json`; every `/api` error
//! is `{"error", "field"}`). Listings, exports and the event stream are fed
//! as the client takes them (`stream.rs`); a wait for an event, or for the
//! core's answer, is parked in the inbox's loop.
//!
//! Every route but `/healthz` first checks `Host` (421 for a name that is
//! not the inbox's), and every changing one the cross-site defence (403)
//! and refuses comm-test's own outgoing requests (403).

use std::borrow::Cow;

use serde_json::json;

use super::session::session_target;
use super::state::Inbox;
use super::stream::{Export, Feed, StreamStart};
use super::{guard, page};
use crate::http::query::{id_param, one_of, percent_decode, query_param, Invalid};
use crate::http::{Answer, Method, Request, Response};
use crate::journal::{Filter, Page, ROUTES, VERDICTS};

/// A listing larger than this is sent as the client takes it, not built
/// whole: what one connection holds does not grow with the journal.
pub const LISTING_INLINE: usize = 64 * 1024;

/// A listing's page when `limit` is not given, and the most it may ask.
pub const PAGE: usize = 50;
pub const MAX_PAGE: usize = 1000;

/// The longest `GET /api/events/wait` waits, and how long when not told.
pub const MAX_WAIT: u64 = 60;
pub const DEFAULT_WAIT: u64 = 30;

/// Personal data: never cached, never framed, never sent on as a referrer.
pub const PRIVATE: [(&str, &str); 4] = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
];

pub fn handle(inbox: &Inbox, req: &Request) -> Answer<Feed, Waiting> {
    let mut answer = guarded(inbox, req);
    if let Some(r) = answer.response_mut() {
        if req.path.starts_with("/api/") {
            as_json_error(r);
        }
        private(r);
    }
    answer
}

/// Every error of the API is JSON, whoever made it (the `Host` rule, the
/// cross-site defence, a 404, a 405): a text error becomes
/// `{"error", "field": null}` with its status and headers.
fn as_json_error(r: &mut Response) {
    if r.status < 400 || !r.content_type.starts_with("text/plain") {
        return;
    }
    let text = String::from_utf8_lossy(&r.body).trim_end().to_owned();
    r.content_type = "application/json";
    r.body = json!({ "error": text, "field": null })
        .to_string()
        .into_bytes();
}

/// The headers every inbox answer carries (`PRIVATE`).
pub fn private(r: &mut Response) {
    r.headers
        .extend(PRIVATE.iter().map(|&(n, v)| (n, Cow::Borrowed(v))));
}

fn guarded(inbox: &Inbox, req: &Request) -> Answer<Feed, Waiting> {
    use Method::{Delete, Get, Head, Post};
    let host = req.headers.get("host");
    if !inbox.hosts().as_ref().is_some_and(|h| h.allows(host)) {
        return Response::error(421, misdirected(host)).into();
    }
    if matches!(req.method, Post | Delete) {
        if let Err(why) = guard::same_origin(&guard::Provenance::of(req)) {
            return Response::error(403, why.message()).into();
        }
        // Our own outgoing requests (a probe a hostile plugin pointed
        // here, session feedback, a request to the core) never change an
        // inbox, this one or another comm-test's; `wait` only reads.
        if req.headers.get("user-agent") == Some(crate::client::USER_AGENT) {
            return Response::error(
                403,
                "comm-test's own outgoing requests never change an inbox",
            )
            .into();
        }
    }
    match (req.path, req.method) {
        ("/api/events/stream", Get) => stream(inbox, req),
        ("/api/events.ndjson", Get | Head) => ndjson(inbox, req.query),
        ("/api/events", Get | Head) => list(inbox, req.query),
        ("/api/events/wait", Get) => wait(inbox, req.query),
        ("/api/auth-only", Post) => core(inbox, req, false),
        ("/auth-only", Post) => core(inbox, req, true),
        _ => route(inbox, req).into(),
    }
}

/// The 421's one line: the `Host` refused (escaped, cut) and the flag
/// that admits it.
fn misdirected(host: Option<&str>) -> String {
    let Some(h) = host else {
        return "this inbox answers only to its own names, and the request has no Host; \
                localhost, 127.0.0.1 and [::1] are its names on any port"
            .into();
    };
    let shown = crate::log::shown(h);
    format!(
        "this inbox does not answer to Host {shown}: its names are localhost, 127.0.0.1 and [::1] \
         on any port, and its IP:PORT; start with --inbox-host {} to add this one",
        if crate::log::looks_like_key(h) || h.len() > 80 || !h.bytes().all(|b| b.is_ascii_graphic())
        {
            "NAME[:PORT]".into()
        } else {
            h.to_owned()
        }
    )
}

fn route(inbox: &Inbox, req: &Request) -> Response {
    use Method::{Delete, Get, Head, Post};
    match (req.path, req.method) {
        ("/api/openapi.json", Get | Head) => openapi(),
        ("/api/openapi.json", _) => Response::method_not_allowed("GET, HEAD"),
        ("/", Get | Head) => match listing(req.query, PAGE) {
            Ok(l) => page::page(inbox, &l.filter(), l.limit),
            Err(e) => Response::error(400, e.message),
        },
        ("/clear", Get | Head) => match listing(req.query, PAGE) {
            Ok(l) => page::confirm_clear(inbox, &l.filter()),
            Err(e) => Response::error(400, e.message),
        },
        ("/clear", _) => Response::method_not_allowed("GET, HEAD"),
        ("/entries", Get) => match (other_run(inbox, req.query), listing(req.query, MAX_PAGE)) {
            (Some(r), _) => r,
            (None, Ok(l)) => page::entries(inbox, &l.filter(), MAX_PAGE),
            (None, Err(e)) => Response::error(400, e.message),
        },
        ("/app.js", Get | Head) => page::script(),
        ("/app.css", Get | Head) => page::style(),
        ("/api/events", Delete) => delete(inbox, req.query, false),
        ("/api/events/clear", Post) => delete(inbox, req.query, true),
        ("/api/reset", Post) => reset(inbox),
        ("/api/reset", _) => Response::method_not_allowed("POST"),
        ("/api/faults", _) => super::faults::api(inbox, req),
        ("/faults", Get | Head) => page::faults_fragment(inbox),
        ("/faults", Post) => match super::faults::set_form(inbox, req) {
            Ok(r) => r,
            // The page again, its faults panel open on the form as typed.
            Err(refused) => {
                let mut r = page::with_fault_form(inbox, PAGE, &refused.form);
                r.status = 400;
                r.note.verdict = Some("rejected");
                r.note.detail = Some(format!("fault not set: {}", refused.why));
                r
            }
        },
        ("/faults/clear", Post) => super::faults::clear_form(inbox, req),
        ("/faults", _) => Response::method_not_allowed("GET, HEAD, POST"),
        ("/faults/clear", _) => Response::method_not_allowed("POST"),
        (
            "/" | "/entries" | "/app.js" | "/app.css" | "/api/events/stream" | "/api/events.ndjson",
            _,
        ) => Response::method_not_allowed("GET, HEAD"),
        ("/api/events/wait", _) => Response::method_not_allowed("GET"),
        ("/api/events", _) => Response::method_not_allowed("GET, HEAD, DELETE"),
        ("/api/events/clear", _) => Response::method_not_allowed("POST"),
        ("/api/auth-only" | "/auth-only", _) => Response::method_not_allowed("POST"),
        (p, Post) if session_target(p).is_some() => super::session::feedback_route(inbox, req),
        (p, Delete) if event_target(p).is_some() => delete_one(inbox, event_target(p), false),
        (p, Post) if delete_target(p).is_some() => delete_one(inbox, delete_target(p), true),
        (p, Get | Head) if event_target(p).is_some() => one_event(inbox, p, req.query),
        (p, Get | Head) if page_target(p).is_some() => match page_target(p) {
            Some(id) => super::event_page::page(inbox, id),
            None => Response::error(404, "not found"),
        },
        (p, _) if event_target(p).is_some() => Response::method_not_allowed("GET, HEAD, DELETE"),
        _ => Response::error(404, "not found"),
    }
}

/// A request to the core: parked until it answers.
fn core(inbox: &Inbox, req: &Request, form: bool) -> Answer<Feed, Waiting> {
    match super::auth_only::from_inbox(inbox, req, form) {
        Ok((a, until)) => Answer::Park(Waiting::Core(a, form), until),
        Err(r) => Answer::Now(*r),
    }
}

/// `DELETE /api/events[?filters][&replays=clear]` (and the page's form,
/// `POST /api/events/clear`): deletes what the filters match, everything
/// without one; the replay cache is kept unless `replays=clear`, and the
/// answer says which.
fn delete(inbox: &Inbox, query: Option<&str>, form: bool) -> Response {
    let l = match listing(query, MAX_PAGE) {
        Ok(l) => l,
        Err(e) => return Response::invalid(&e),
    };
    let replays = match query_param(query, "replays").as_deref() {
        None | Some("" | "keep") => "kept",
        Some("clear") => {
            inbox.clear_replays();
            "cleared"
        }
        Some(_) => {
            return Response::invalid(&Invalid::new("replays", "replays must be keep or clear"))
        }
    };
    let filter = l.filter();
    let journal = inbox.shared_journal();
    let lost_before = journal.file_lines_lost();
    let n = if filter.is_everything() {
        journal.clear()
    } else {
        journal.delete(&filter)
    };
    // With a journal file the delete is on the disk (written and synced)
    // before this answer, which says if it is not.
    let saved = journal.file_saved(lost_before);
    if form && query_param(query, "back").is_some() && saved != Some(false) {
        return Response::redirect("/");
    }
    match saved.map(file_said) {
        Some(file) => {
            json_response(&json!({ "deleted": n, "replays": replays, "journal_file": file }))
        }
        None => json_response(&json!({ "deleted": n, "replays": replays })),
    }
}

/// `POST /api/reset`: everything a test run leaves behind, in one call
/// (WireMock's `/__admin/reset`): the journal, the replay cache, every
/// fault; the answer says how much of each went.
fn reset(inbox: &Inbox) -> Response {
    let journal = inbox.shared_journal();
    let lost_before = journal.file_lines_lost();
    let deleted = journal.clear();
    inbox.clear_replays();
    let faults = inbox.clear_faults(None);
    let mut answer = json!({ "deleted": deleted, "replays": "cleared", "faults_cleared": faults });
    if let (Some(saved), Some(o)) = (journal.file_saved(lost_before), answer.as_object_mut()) {
        o.insert("journal_file".into(), json!(file_said(saved)));
    }
    json_response(&answer)
}

/// `GET /api/openapi.json`: the API's contract, built into the binary;
/// `tests/api_contract.rs` holds every route's live answers to it.
fn openapi() -> Response {
    Response::new(200, "application/json", include_str!("openapi.json"))
}

/// `/api/events/{id}`: the id.
fn event_target(path: &str) -> Option<u64> {
    path.strip_prefix("/api/events/")?.parse().ok()
}

/// `/events/{id}/delete`: the id (the event page's Delete form).
fn delete_target(path: &str) -> Option<u64> {
    path.strip_prefix("/events/")?
        .strip_suffix("/delete")?
        .parse()
        .ok()
}

/// `DELETE /api/events/{id}` (and the event page's form): that one event;
/// the replay cache is kept. The form goes back to the page.
fn delete_one(inbox: &Inbox, id: Option<u64>, form: bool) -> Response {
    let Some(id) = id else {
        return Response::error(404, "not found");
    };
    let only = Filter {
        since: id.checked_sub(1),
        before: id.checked_add(1),
        ..Filter::default()
    };
    let journal = inbox.shared_journal();
    let lost_before = journal.file_lines_lost();
    if journal.delete(&only) == 0 {
        return Response::json_error(404, &format!("no event {id} in the journal"), None);
    }
    let saved = journal.file_saved(lost_before);
    if form && saved != Some(false) {
        return Response::redirect("/");
    }
    let mut answer = json!({ "deleted": 1, "replays": "kept" });
    if let (Some(saved), Some(o)) = (saved, answer.as_object_mut()) {
        o.insert("journal_file".into(), json!(file_said(saved)));
    }
    json_response(&answer)
}

/// What a change's answer says of the journal file.
fn file_said(saved: bool) -> &'static str {
    if saved {
        "saved"
    } else {
        "NOT saved: the journal file could not be written (see the log); what was deleted comes back after a restart"
    }
}

/// `/events/{id}`: the id.
fn page_target(path: &str) -> Option<u64> {
    path.strip_prefix("/events/")?.parse().ok()
}

/// `GET /api/events/{id}`: the event, as the listing has it;
/// `?download=1` as a file.
fn one_event(inbox: &Inbox, path: &str, query: Option<&str>) -> Response {
    let Some(id) = event_target(path) else {
        return Response::error(404, "not found");
    };
    let Some(e) = inbox.journal().get(id) else {
        return Response::json_error(404, &format!("no event {id} in the journal"), None);
    };
    let r = Response::new(200, "application/json", e.json_text().to_vec());
    if query_param(query, "download").is_some() {
        return r.with_header(
            "Content-Disposition",
            format!("attachment; filename=\"comm-test-event-{id}.json\""),
        );
    }
    r
}

/// `GET /api/events.ndjson[?filters]`: the matching journal, oldest
/// first, one event per line.
fn ndjson(inbox: &Inbox, query: Option<&str>) -> Answer<Feed, Waiting> {
    let l = match listing(query, MAX_PAGE) {
        Ok(l) => l,
        Err(e) => return Response::invalid(&e).into(),
    };
    // The ids now; each event is looked up as the client takes it.
    let ids = inbox.journal().ids(&l.filter(), usize::MAX);
    let head = Response::new(200, "application/x-ndjson", "").with_header(
        "Content-Disposition",
        "attachment; filename=\"comm-test-journal.ndjson\"",
    );
    Answer::Stream(head, Feed::Export(Export::ndjson(ids)))
}

/// A parked inbox request: a wait for an event, or a request to the core
/// waiting for its answer (from the API, or the page's form).
#[derive(Debug)]
pub enum Waiting {
    Event(EventWait),
    Core(crate::plugin::again::Asking, bool),
}

impl Waiting {
    /// Its answer, if it has one now.
    pub fn answer(&mut self, inbox: &Inbox) -> Option<Response> {
        let mut r = match self {
            Waiting::Event(w) => w.answer(inbox)?,
            Waiting::Core(a, form) => super::auth_only::inbox_answer(inbox, a, *form)?,
        };
        private(&mut r);
        Some(r)
    }

    /// Its deadline passed.
    pub fn give_up(self) -> Response {
        let mut r = match self {
            Waiting::Event(_) => Response::new(204, "application/json", ""),
            Waiting::Core(..) => super::auth_only::timed_out(),
        };
        private(&mut r);
        r
    }
}

/// A request waiting for the first event after `after` its filters match.
#[derive(Debug)]
pub struct EventWait {
    after: u64,
    /// The newest id it has examined: each wake looks only past it, so a
    /// parked waiter costs what arrived since, never the whole journal.
    examined: u64,
    /// The journal's read-backs when it looked: one since (a restart's
    /// events put in front) means looking again from `after`.
    restores: u64,
    listing: Listing,
}

impl EventWait {
    fn new(after: u64, restores: u64, listing: Listing) -> EventWait {
        EventWait {
            after,
            examined: after,
            restores,
            listing,
        }
    }

    /// Its answer, if the journal now holds a match past what it has
    /// examined.
    fn answer(&mut self, inbox: &Inbox) -> Option<Response> {
        let restores = inbox.shared_journal().restores();
        if restores != self.restores {
            self.restores = restores;
            self.examined = self.after;
        }
        let journal = inbox.journal();
        let found = journal.first_after(self.examined, &self.listing.filter());
        self.examined = match &found {
            Some(e) => e.id,
            None => journal.last_id().max(self.examined),
        };
        drop(journal);
        let e = found?;
        Some(Response::new(
            200,
            "application/json",
            e.json_text().to_vec(),
        ))
    }
}

/// `GET /api/events/wait?after=ID&timeout=S&route=&verdict=&q=&attr.NAME=V`:
/// the oldest matching event after `after` (default: the newest now) at
/// once if there is one; else the request waits, parked in the inbox's
/// loop, until one is recorded (200) or `timeout` passes (204).
fn wait(inbox: &Inbox, query: Option<&str>) -> Answer<Feed, Waiting> {
    let l = match listing(query, 1) {
        Ok(l) => l,
        Err(e) => return Response::invalid(&e).into(),
    };
    let after = match id_param(query, "after") {
        Ok(a) => a.unwrap_or_else(|| inbox.last_event()),
        Err(e) => return Response::invalid(&e).into(),
    };
    let timeout = match query_param(query, "timeout") {
        None => DEFAULT_WAIT,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n <= MAX_WAIT => n,
            _ => {
                let why = format!("timeout must be a whole number of seconds from 0 to {MAX_WAIT}");
                return Response::invalid(&Invalid::new("timeout", why)).into();
            }
        },
    };
    let restores = inbox.shared_journal().restores();
    let mut waiting = Waiting::Event(EventWait::new(after, restores, l));
    if let Some(r) = waiting.answer(inbox) {
        return Answer::Now(r);
    }
    let until = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
    Answer::Park(waiting, until)
}

fn since(query: Option<&str>) -> Result<Option<u64>, Invalid> {
    id_param(query, "since")
}

/// A listing's query: filters and the page.
#[derive(Debug)]
struct Listing {
    since: Option<u64>,
    before: Option<u64>,
    limit: usize,
    route: Option<String>,
    verdict: Option<String>,
    q: Option<String>,
    attrs: Vec<(String, String)>,
}

impl Listing {
    fn filter(&self) -> Filter<'_> {
        Filter {
            since: self.since,
            before: self.before,
            route: self.route.as_deref(),
            verdict: self.verdict.as_deref(),
            q: self.q.as_deref(),
            attrs: &self.attrs,
        }
    }
}

/// Every `attr.NAME=VALUE` of a query, decoded; at most 16.
fn attr_params(query: Option<&str>) -> Result<Vec<(String, String)>, Invalid> {
    let mut out = Vec::new();
    for kv in query.into_iter().flat_map(|q| q.split('&')) {
        let Some(rest) = kv.strip_prefix("attr.") else {
            continue;
        };
        let (name, value) = rest.split_once('=').unwrap_or((rest, ""));
        let decode = |s: &str| percent_decode(&s.replace('+', " "));
        match (decode(name), decode(value)) {
            (Some(n), Some(v)) if !n.is_empty() => out.push((n, v)),
            _ => {
                let why = "attr.NAME=VALUE: a name, and both percent-encoded";
                return Err(Invalid::new("attr", why));
            }
        }
    }
    if out.len() > 16 {
        return Err(Invalid::new("attr", "at most 16 attr.NAME=VALUE filters"));
    }
    Ok(out)
}

fn listing(query: Option<&str>, default_limit: usize) -> Result<Listing, Invalid> {
    let limit = match query_param(query, "limit") {
        None => default_limit,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                let why = format!("limit must be a whole number from 1 to {MAX_PAGE}");
                return Err(Invalid::new("limit", why));
            }
        },
    };
    Ok(Listing {
        since: since(query)?,
        before: id_param(query, "before")?,
        limit,
        route: one_of(query, "route", &ROUTES)?,
        verdict: one_of(query, "verdict", &VERDICTS)?,
        q: query_param(query, "q").filter(|q| !q.trim().is_empty()),
        attrs: attr_params(query)?,
    })
}

/// `run=ID` of another run of the server: its ids name other events
/// here, so a follow-up (`since=`) must start over. 409, naming this run.
fn other_run(inbox: &Inbox, query: Option<&str>) -> Option<Response> {
    let asked = query_param(query, "run").filter(|r| !r.is_empty())?;
    if asked == inbox.run() {
        return None;
    }
    let body = serde_json::json!({
        "error": format!(
            "run {} is over: the server restarted as run {}, whose ids name other events; list again without since",
            crate::log::shown(&asked),
            inbox.run()
        ),
        "field": "run",
        "run": inbox.run(),
    });
    let mut r = json_response(&body);
    r.status = 409;
    Some(r)
}

fn list(inbox: &Inbox, query: Option<&str>) -> Answer<Feed, Waiting> {
    if let Some(r) = other_run(inbox, query) {
        return r.into();
    }
    let l = match listing(query, PAGE) {
        Ok(l) => l,
        Err(e) => return Response::invalid(&e).into(),
    };
    // Pointer copies under the lock; serialised after it is released.
    let (page, last): (Page, u64) = {
        let j = inbox.journal();
        (j.page(&l.filter(), l.limit), j.last_id())
    };
    let mut body = format!(
        "{{\"run\":\"{}\",\"last_id\":{last},\"events\":[",
        inbox.run()
    )
    .into_bytes();
    let next = page
        .next_before()
        .map_or("null".to_owned(), |b| b.to_string());
    let tail = format!(
        "],\"next_before\":{next},\"matched\":{},\"total\":{}}}",
        page.matched, page.total
    )
    .into_bytes();
    let size: usize = page.events.iter().map(|e| e.json_text().len() + 1).sum();
    if size > LISTING_INLINE {
        let ids = page.events.iter().map(|e| e.id).collect();
        let head = Response::new(200, "application/json", body);
        return Answer::Stream(head, Feed::Export(Export::json_array(ids, tail)));
    }
    // Each event's JSON as it was serialised when recorded, copied, not
    // parsed and serialised again.
    for (i, e) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e.json_text());
    }
    body.extend_from_slice(&tail);
    Response::new(200, "application/json", body).into()
}

fn json_response(v: &serde_json::Value) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => Response::new(200, "application/json", body),
        Err(_) => Response::error(500, "could not encode the journal"),
    }
}

/// The stream's opening: a reconnection delay; the entries after `since`
/// (or the browser's `Last-Event-ID` on a reconnection) follow from the
/// journal as the client takes them, never all at once.
fn stream(inbox: &Inbox, req: &Request) -> Answer<Feed, Waiting> {
    let since = match since(req.query) {
        Ok(s) => s,
        Err(e) => return Response::invalid(&e).into(),
    };
    let resumed = req
        .headers
        .get("last-event-id")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let after = match (since, resumed) {
        (None, None) => inbox.last_event(),
        (a, b) => a.max(b).unwrap_or(0),
    };
    // The run first: a client reconnecting after a restart learns that
    // the ids it holds name another run's events (the page reloads).
    let opening = Response::new(
        200,
        "text/event-stream",
        format!(
            "retry: 2000\n\nevent: run\ndata: {{\"run\":\"{}\"}}\n\n",
            inbox.run()
        )
        .into_bytes(),
    );
    let start = StreamStart {
        after,
        clears: inbox.shared_journal().clears(),
        faults: inbox.faults().version(),
    };
    Answer::Stream(opening, Feed::Events(start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Kind;
    use std::sync::Arc;

    fn inbox() -> Inbox {
        let config = crate::config::Config::from_args(&[], &|_| None).unwrap();
        let journal = Arc::new(crate::journal::Shared::new(1000));
        let plugin = crate::plugin::Plugin::new(config, None, Vec::new(), journal);
        Inbox::new(None, &[], None, Arc::new(plugin))
    }

    /// Regression (red team): each parked waiter rescanned the whole
    /// journal after `after` on every new event, so 30 waiters and a
    /// steady flow made the inbox's answers seconds late. A waiter now
    /// remembers what it examined and looks only past it.
    #[test]
    fn a_waiter_examines_only_what_arrived_since_it_last_looked() {
        let inbox = inbox();
        let journal = inbox.shared_journal();
        for _ in 0..500 {
            journal.record("ui", None, Kind::Start);
        }
        let mut w = EventWait::new(0, 0, listing(Some("route=auth_result"), 1).unwrap());
        assert!(w.answer(&inbox).is_none());
        assert_eq!(w.examined, 500, "all 500 looked at once");
        journal.record("ui", None, Kind::Start);
        assert!(w.answer(&inbox).is_none());
        assert_eq!(w.examined, 501, "then only the one new event");
        let id = journal.record("auth_result", None, Kind::Start);
        let r = w.answer(&inbox).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["id"],
            id
        );
        // Cleared: ids keep counting, and a waiter never looks back.
        journal.clear();
        assert!(w.answer(&inbox).is_none());
        assert_eq!(w.examined, id);
    }

    /// Regression: a restart's read-back puts the file's events in front
    /// of those recorded since start, below ids a waiter had examined; a
    /// wait sent before the read-back was in timed out (204).
    #[test]
    fn a_waiter_sees_what_a_read_back_puts_in_front() {
        let inbox = inbox();
        let journal = inbox.shared_journal();
        // Id 1 is the file's, not yet read back; id 2 arrived since start.
        journal.record("ui", None, Kind::Start);
        journal.record("ui", None, Kind::Start);
        journal.delete(&Filter {
            before: Some(2),
            ..Filter::default()
        });
        let filter = listing(Some("route=auth_result"), 1).unwrap();
        let mut w = EventWait::new(0, journal.restores(), filter);
        assert!(w.answer(&inbox).is_none());
        assert_eq!(w.examined, 2);
        let from_file = crate::journal::Event {
            id: 1,
            time_ms: 0,
            route: "auth_result",
            purpose: None,
            kind: Kind::Start,
            request: None,
            read_back: None,
        };
        journal.restore(vec![Arc::new(crate::journal::Framed::new(from_file))]);
        let r = w.answer(&inbox).expect("looked again after the read-back");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["id"], 1);
    }
}
