//! The tester's inbox, served on its own listener only: the page
//! (`page.rs`), the journal as JSON, and a Server-Sent Events stream.
//!
//! - `GET /`: the page, newest first; `GET /entries?since=ID`: the page's
//!   entries after ID, as HTML, for its live updates.
//! - `GET /api/events[?since=ID&route=R&verdict=V]`: `{"last_id", "events"}`,
//!   newest first. `DELETE /api/events`: empties it.
//! - `GET /api/events/stream[?since=ID]`: one `entry` event per new entry.

use serde_json::json;

use super::journal::{Filter, Journal};
use super::{method_not_allowed, page, query_param, App, Method, Request, Response};

pub const ROUTES: [&str; 4] = ["start_communication", "auth_result", "ui", "session"];
pub const VERDICTS: [&str; 5] = ["accepted", "replay", "rejected", "sent", "failed"];

/// Personal data: never cached, never framed, never sent on as a referrer.
pub const PRIVATE: [(&str, &str); 4] = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
];

/// A browser says where a request comes from in `Origin`. A page on
/// another site may make a tester's browser POST to the inbox (a plain form
/// needs no permission), so a changing request whose `Origin` is not the
/// inbox itself is refused. Scripts and curl send no `Origin` and pass.
fn cross_site(req: &Request) -> bool {
    let Some(origin) = req.origin else {
        return false;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match (authority, req.host) {
        (Some(a), Some(h)) => !a.eq_ignore_ascii_case(h),
        _ => true,
    }
}

pub fn handle(app: &App, req: &Request) -> Response {
    use Method::{Delete, Get, Head, Post};
    if matches!(req.method, Post | Delete) && cross_site(req) {
        let mut r = Response::error(403, "cross-site request refused (Origin is not this inbox)");
        r.headers.extend(PRIVATE);
        return r;
    }
    let mut r = match (req.path, req.method) {
        ("/", Get | Head) => page::page(app),
        ("/entries", Get) => match since(req.query) {
            Ok(since) => page::entries(app, since),
            Err(e) => Response::error(400, e),
        },
        ("/app.js", Get | Head) => page::script(),
        ("/app.css", Get | Head) => page::style(),
        ("/api/events", Get | Head) => list(app, req.query),
        ("/api/events", Delete) => {
            let n = app.journal().clear();
            json_response(&json!({ "cleared": n }))
        }
        ("/api/events/stream", Get) => stream(app, req.query),
        ("/" | "/entries" | "/app.js" | "/app.css" | "/api/events/stream", _) => {
            method_not_allowed("GET, HEAD")
        }
        ("/api/events", _) => method_not_allowed("GET, HEAD, DELETE"),
        (p, Post) if session_target(p).is_some() => super::feedback_route(app, req),
        _ => Response::error(404, "not found"),
    };
    r.headers.extend(PRIVATE);
    r
}

/// `/api/events/{id}/session`: the id.
pub fn session_target(path: &str) -> Option<u64> {
    path.strip_prefix("/api/events/")?
        .strip_suffix("/session")?
        .parse()
        .ok()
}

fn since(query: Option<&str>) -> Result<Option<u64>, &'static str> {
    match query_param(query, "since") {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| "since must be a whole number (an event id)"),
    }
}

fn list(app: &App, query: Option<&str>) -> Response {
    let since = match since(query) {
        Ok(s) => s,
        Err(e) => return Response::error(400, e),
    };
    let route = query_param(query, "route");
    if let Some(r) = route.as_deref().filter(|r| !ROUTES.contains(r)) {
        return Response::error(
            400,
            format!("route must be one of {}, not {r:?}", ROUTES.join(", ")),
        );
    }
    let verdict = query_param(query, "verdict");
    if let Some(v) = verdict.as_deref().filter(|v| !VERDICTS.contains(v)) {
        return Response::error(
            400,
            format!("verdict must be one of {}, not {v:?}", VERDICTS.join(", ")),
        );
    }
    let filter = Filter {
        since,
        route: route.as_deref(),
        verdict: verdict.as_deref(),
    };
    let journal = app.journal();
    let events: Vec<_> = journal.select(&filter).map(|e| e.to_json()).collect();
    json_response(&json!({ "last_id": journal.last_id(), "events": events }))
}

fn json_response(v: &serde_json::Value) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => Response::new(200, "application/json", body),
        Err(_) => Response::error(500, "could not encode the journal"),
    }
}

/// The stream's opening: a reconnection delay, and the entries after
/// `since` if given (so a reconnecting client misses nothing still kept).
fn stream(app: &App, query: Option<&str>) -> Response {
    let since = match since(query) {
        Ok(s) => s,
        Err(e) => return Response::error(400, e),
    };
    let journal = app.journal();
    let (mut body, mut last) = (b"retry: 2000\n\n".to_vec(), journal.last_id());
    if let Some(since) = since {
        let (frames, to) = frames(&journal, since);
        body.extend(frames);
        last = last.max(to);
    }
    let mut r = Response::new(200, "text/event-stream", body);
    r.stream_after = Some(last);
    r
}

/// The SSE frames of the entries after `after`, oldest first, and the id
/// of the last one (or `after` if there is none).
pub fn stream_frames(app: &App, after: u64) -> (Vec<u8>, u64) {
    frames(&app.journal(), after)
}

fn frames(journal: &Journal, after: u64) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let mut last = after.max(journal.last_id());
    for e in journal.after(after) {
        // One line of JSON: serde_json escapes CR and LF inside strings,
        // the only characters that end an SSE line.
        let data = serde_json::to_string(&e.to_json()).unwrap_or_default();
        out.extend_from_slice(format!("id: {}\nevent: entry\ndata: {data}\n\n", e.id).as_bytes());
        last = last.max(e.id);
    }
    (out, last)
}
