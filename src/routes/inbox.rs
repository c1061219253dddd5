//! The tester's inbox, served on its own listener only: the page
//! (`page.rs`), the journal as JSON, and a Server-Sent Events stream.
//!
//! - `GET /[?before=ID&limit=N]`: the page, newest first, one page at a
//!   time; `GET /entries?since=ID`: the entries after ID, as HTML, for
//!   its live updates.
//! - `GET /api/events[?since=&before=&limit=&route=&verdict=]`:
//!   `{"last_id", "events", "next_before"}`, newest first.
//!   `DELETE /api/events` (or `POST /api/events/clear`, for the page's
//!   form): empties it.
//! - `GET /api/events/stream[?since=ID]`: one `entry` event per new entry,
//!   a `clear` event when the journal is emptied.
//!
//! Every route but `/healthz` first checks `Host` (421 for a name that is
//! not the inbox's), and every changing one the cross-site defence (403),
//! both in `guard.rs`.

use std::borrow::Cow;

use serde_json::json;

use super::guard;
use super::journal::{Filter, Page};
use super::query::{id_param, one_of, query_param};
use super::{page, Answer, App, Method, Request, Response, StreamStart};
use std::convert::Infallible;

pub const ROUTES: [&str; 4] = ["start_communication", "auth_result", "ui", "session"];
pub const VERDICTS: [&str; 5] = ["accepted", "replay", "rejected", "sent", "failed"];
/// A listing's page when `limit` is not given, and the most it may ask.
pub const PAGE: usize = 50;
pub const MAX_PAGE: usize = 1000;

/// Personal data: never cached, never framed, never sent on as a referrer.
pub const PRIVATE: [(&str, &str); 4] = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
];

pub fn handle(app: &App, req: &Request) -> Answer<StreamStart, Infallible> {
    let mut answer = guarded(app, req);
    if let Some(r) = answer.response_mut() {
        r.headers
            .extend(PRIVATE.iter().map(|&(n, v)| (n, Cow::Borrowed(v))));
    }
    answer
}

fn guarded(app: &App, req: &Request) -> Answer<StreamStart, Infallible> {
    use Method::{Delete, Get, Post};
    if !app
        .inbox_hosts
        .as_ref()
        .is_some_and(|h| h.allows(req.headers.get("host")))
    {
        return Response::error(
            421,
            "this inbox answers only to its own names (its IP:PORT, and localhost on loopback); \
             start with --inbox-host NAME[:PORT] to add one",
        )
        .into();
    }
    if matches!(req.method, Post | Delete) {
        if let Err(why) = guard::same_origin(&guard::Provenance::of(req)) {
            return Response::error(403, why.message()).into();
        }
    }
    if (req.path, req.method) == ("/api/events/stream", Get) {
        return stream(app, req);
    }
    route(app, req).into()
}

fn route(app: &App, req: &Request) -> Response {
    use Method::{Delete, Get, Head, Post};
    match (req.path, req.method) {
        ("/", Get | Head) => match listing(req.query, PAGE) {
            Ok(l) => page::page(app, &l.filter(), l.limit),
            Err(e) => Response::error(400, e),
        },
        ("/entries", Get) => match since(req.query) {
            Ok(since) => page::entries(app, since),
            Err(e) => Response::error(400, e),
        },
        ("/app.js", Get | Head) => page::script(),
        ("/app.css", Get | Head) => page::style(),
        ("/api/events", Get | Head) => list(app, req.query),
        ("/api/events", Delete) => clear(app, false),
        ("/api/events/clear", Post) => clear(app, query_param(req.query, "back").is_some()),
        ("/" | "/entries" | "/app.js" | "/app.css" | "/api/events/stream", _) => {
            Response::method_not_allowed("GET, HEAD")
        }
        ("/api/events", _) => Response::method_not_allowed("GET, HEAD, DELETE"),
        ("/api/events/clear", _) => Response::method_not_allowed("POST"),
        (p, Post) if session_target(p).is_some() => super::session::feedback_route(app, req),
        _ => Response::error(404, "not found"),
    }
}

fn clear(app: &App, back: bool) -> Response {
    let n = app.shared_journal().clear();
    if back {
        return Response::redirect("/");
    }
    json_response(&json!({ "cleared": n }))
}

/// `/api/events/{id}/session`: the id.
pub fn session_target(path: &str) -> Option<u64> {
    path.strip_prefix("/api/events/")?
        .strip_suffix("/session")?
        .parse()
        .ok()
}

fn since(query: Option<&str>) -> Result<Option<u64>, String> {
    id_param(query, "since")
}

/// A listing's query: filters and the page.
struct Listing {
    since: Option<u64>,
    before: Option<u64>,
    limit: usize,
    route: Option<String>,
    verdict: Option<String>,
}

impl Listing {
    fn filter(&self) -> Filter<'_> {
        Filter {
            since: self.since,
            before: self.before,
            route: self.route.as_deref(),
            verdict: self.verdict.as_deref(),
        }
    }
}

fn listing(query: Option<&str>, default_limit: usize) -> Result<Listing, String> {
    let limit = match query_param(query, "limit") {
        None => default_limit,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => return Err(format!("limit must be a whole number from 1 to {MAX_PAGE}")),
        },
    };
    Ok(Listing {
        since: since(query)?,
        before: id_param(query, "before")?,
        limit,
        route: one_of(query, "route", &ROUTES)?,
        verdict: one_of(query, "verdict", &VERDICTS)?,
    })
}

fn list(app: &App, query: Option<&str>) -> Response {
    let l = match listing(query, PAGE) {
        Ok(l) => l,
        Err(e) => return Response::error(400, e),
    };
    // Pointer copies under the lock; serialised after it is released.
    let (page, last): (Page, u64) = {
        let j = app.journal();
        (j.page(&l.filter(), l.limit), j.last_id())
    };
    // Each event's JSON as it was serialised when recorded, copied, not
    // parsed and serialised again.
    let mut body = format!("{{\"last_id\":{last},\"events\":[").into_bytes();
    for (i, e) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e.json_text());
    }
    let next = page
        .next_before()
        .map_or("null".to_owned(), |b| b.to_string());
    body.extend_from_slice(format!("],\"next_before\":{next}}}").as_bytes());
    Response::new(200, "application/json", body)
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
fn stream(app: &App, req: &Request) -> Answer<StreamStart, Infallible> {
    let since = match since(req.query) {
        Ok(s) => s,
        Err(e) => return Response::error(400, e).into(),
    };
    let resumed = req
        .headers
        .get("last-event-id")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let after = match (since, resumed) {
        (None, None) => app.last_event(),
        (a, b) => a.max(b).unwrap_or(0),
    };
    let opening = Response::new(200, "text/event-stream", b"retry: 2000\n\n".to_vec());
    let start = StreamStart {
        after,
        clears: app.shared_journal().clears(),
    };
    Answer::Stream(opening, start)
}
