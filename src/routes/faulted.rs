//! Faults on the public routes: what a fault (`crate::faults`) does to the
//! answer a route gave, and the inbox's `/api/faults` and the page's form
//! that set and clear them. The route has run before a fault applies: a
//! token was decoded, journaled and remembered as for any request.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::html::esc;
use super::query::query_param;
use super::{Answer, App, Method, Request, Response};
use crate::faults::{self, Fault, Reply, Route};

/// The answer `usual` becomes under `fault`, sent after its delay; the
/// usual answer's note (a token's verdict, its claims) is kept, and names
/// the fault, so the log line says both what arrived and what was sent.
pub fn apply<S, P>(app: &App, fault: &Fault, mut usual: Response) -> Answer<S, P> {
    let mut note = std::mem::take(&mut usual.note);
    note.fields.push(("fault", json!(fault.describe())));
    let at = (fault.delay_ms > 0).then(|| Instant::now() + Duration::from_millis(fault.delay_ms));
    let mut r = match &fault.reply {
        Reply::Close => {
            return match at {
                None => Answer::Close(note),
                Some(t) => Answer::CloseAt(note, t),
            }
        }
        Reply::Usual => usual,
        // Served on the citizens' origin: text or JSON, never sniffed as
        // a page, so a tester's body cannot become a script there.
        Reply::Status { status, body } => {
            Response::new(*status, media_type_of(body), body.clone().into_bytes())
                .with_header("X-Content-Type-Options", "nosniff")
        }
        Reply::MalformedJson => Response::new(200, "application/json", malformed(app)),
        Reply::NoClientUrl => Response::new(200, "application/json", without_client_url(&usual)),
    };
    r.note = note;
    match at {
        None => Answer::Now(r),
        Some(t) => Answer::At(r, t),
    }
}

/// JSON is sent as JSON (the core parses a `start_communication` answer
/// whatever its status), anything else as text.
fn media_type_of(body: &str) -> &'static str {
    if !body.is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// The usual answer's opening, cut short: an object never closed.
fn malformed(app: &App) -> Vec<u8> {
    format!("{{\"client_url\":\"{}/ui\"", app.server_url).into_bytes()
}

/// The usual answer less `client_url` (`{}` when the usual answer was no
/// JSON object: a refused request).
fn without_client_url(usual: &Response) -> Vec<u8> {
    let mut v: serde_json::Map<String, Value> =
        serde_json::from_slice(&usual.body).unwrap_or_default();
    v.remove("client_url");
    serde_json::to_vec(&v).unwrap_or_else(|_| b"{}".to_vec())
}

/// `GET`, `POST`, `DELETE /api/faults[?route=R]`.
pub fn api(app: &App, req: &Request) -> Response {
    match req.method {
        Method::Get | Method::Head => listed(app),
        Method::Post => {
            if req.headers.media_type().as_deref() != Some("application/json") {
                return Response::error(415, "/api/faults takes application/json");
            }
            match faults::from_json(req.body) {
                Ok(f) => stored(app, f),
                Err(e) => refused(&e),
            }
        }
        Method::Delete => match route_param(req.query) {
            Ok(route) => {
                let cleared: Vec<&str> = app.faults.clear(route).iter().map(|r| r.name()).collect();
                app.faults_changed();
                json_response(200, &json!({ "cleared": cleared }))
            }
            Err(e) => refused(&e),
        },
        Method::Other => Response::method_not_allowed("GET, HEAD, POST, DELETE"),
    }
}

/// The page's form (`POST /faults`, form-encoded) and its Clear buttons
/// (`POST /faults/clear?route=R`): back to the page, or a page saying why.
pub fn form(app: &App, req: &Request, clear: bool) -> Response {
    if clear {
        return match route_param(req.query) {
            Ok(route) => {
                app.faults.clear(route);
                app.faults_changed();
                Response::redirect("/#faults")
            }
            Err(e) => Response::error(400, e.to_string()),
        };
    }
    let body = std::str::from_utf8(req.body).unwrap_or("");
    match faults::from_form(&|k| query_param(Some(body.trim()), k)) {
        Ok(f) => {
            app.faults.set(f);
            app.faults_changed();
            Response::redirect("/#faults")
        }
        Err(e) => Response::error(400, format!("fault not set: {e}")),
    }
}

fn route_param(query: Option<&str>) -> Result<Option<Route>, faults::Invalid> {
    match query_param(query, "route") {
        None => Ok(None),
        Some(name) => Route::parse(&name).map(Some).ok_or(faults::Invalid {
            field: "route".into(),
            why: "is none of start_communication, ui, auth_result".into(),
        }),
    }
}

fn stored(app: &App, f: Fault) -> Response {
    let shown = f.to_json();
    app.faults.set(f);
    app.faults_changed();
    json_response(201, &shown)
}

fn listed(app: &App) -> Response {
    let list: Vec<Value> = app.faults.list().iter().map(Fault::to_json).collect();
    json_response(200, &json!({ "faults": list }))
}

/// 400 naming the field, as JSON a script reads, and in the log line.
fn refused(e: &faults::Invalid) -> Response {
    let mut r = json_response(400, &json!({"error": e.to_string(), "field": e.field}));
    r.note.verdict = Some("rejected");
    r.note.detail = Some(format!("fault not set: {e}"));
    r
}

fn json_response(status: u16, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::new(status, "application/json", body)
}

/// The page's faults panel: each fault in force with its Clear button,
/// then the form that sets one (plain forms: it works without JavaScript;
/// with it, the event stream's `faults` event reloads this fragment).
pub fn panel(app: &App) -> String {
    let faults = app.faults.list();
    let mut out = String::from("<div id=\"faults-now\">");
    if faults.is_empty() {
        out.push_str("<p id=\"no-faults\">No faults: every route answers as usual.</p>");
    }
    out.push_str("<ul>");
    for f in &faults {
        let times = match f.times {
            None => "until cleared".to_owned(),
            Some(1) => "for the next request".to_owned(),
            Some(n) => format!("for the next {n} requests"),
        };
        out.push_str(&format!(
            "<li class=\"fault\" data-route=\"{route}\"><b>{route}</b>: {what}, {times} \
             <form method=\"post\" action=\"/faults/clear?route={route}\">\
             <button type=\"submit\" class=\"clear-fault\">Clear</button></form></li>",
            route = f.route.name(),
            what = esc(&f.describe()),
        ));
    }
    out.push_str("</ul></div>");
    out
}

/// The panel's form: one fault at a time, for one route.
pub const FORM: &str = "<form method=\"post\" action=\"/faults\" id=\"fault-form\">\
 <select name=\"route\" id=\"fault-route\" aria-label=\"route\">\
 <option>start_communication</option><option>ui</option><option>auth_result</option></select> \
 <select name=\"answer\" id=\"fault-answer\" aria-label=\"answer\">\
 <option value=\"status\">answer a status</option>\
 <option value=\"usual\">the usual answer (delayed)</option>\
 <option value=\"close\">close without answering</option>\
 <option value=\"malformed_json\">malformed JSON (start_communication)</option>\
 <option value=\"no_client_url\">no client_url (start_communication)</option></select> \
 <input name=\"status\" id=\"fault-status\" type=\"number\" min=\"100\" max=\"599\" value=\"500\" aria-label=\"status\"> \
 <input name=\"body\" id=\"fault-body\" placeholder=\"body\" aria-label=\"body\"> \
 <input name=\"delay_ms\" id=\"fault-delay\" type=\"number\" min=\"0\" max=\"60000\" placeholder=\"delay ms\" aria-label=\"delay in ms\"> \
 <input name=\"times\" id=\"fault-times\" type=\"number\" min=\"1\" placeholder=\"times (empty: until cleared)\" aria-label=\"times\"> \
 <button type=\"submit\" id=\"set-fault\">Set fault</button></form>";
