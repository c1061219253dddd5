//! Faults on demand, from the inbox's side: `/api/faults` and the page's
//! form that set and clear them, and the page's faults panel. What a fault
//! does to an answer is the plugin's (`crate::plugin::faulted`).

use serde_json::{json, Value};

use super::state::Inbox;
use crate::faults::{self, Fault, Route};
use crate::html::esc;
use crate::http::query::query_param;
use crate::http::{Method, Request, Response};

/// `GET`, `POST`, `DELETE /api/faults[?route=R]`.
pub fn api(inbox: &Inbox, req: &Request) -> Response {
    match req.method {
        Method::Get | Method::Head => listed(inbox),
        Method::Post => {
            if req.headers.media_type().as_deref() != Some("application/json") {
                return Response::error(415, "/api/faults takes application/json");
            }
            match faults::from_json(req.body) {
                Ok(f) => stored(inbox, f),
                Err(e) => refused(&e),
            }
        }
        Method::Delete => match route_param(req.query) {
            Ok(route) => {
                let cleared = inbox.clear_faults(route);
                json_response(200, &json!({ "cleared": cleared }))
            }
            Err(e) => refused(&e),
        },
        Method::Other => Response::method_not_allowed("GET, HEAD, POST, DELETE"),
    }
}

/// A refused form: the form again as typed, and why, for the page.
pub struct Refused {
    pub form: String,
    pub why: faults::Invalid,
}

/// The panel's Clear buttons (`POST /faults/clear?route=R`).
pub fn clear_form(inbox: &Inbox, req: &Request) -> Response {
    match route_param(req.query) {
        Ok(route) => {
            inbox.clear_faults(route);
            Response::redirect("/#faults")
        }
        Err(e) => Response::error(400, e.to_string()),
    }
}

/// The panel's form (`POST /faults`, form-encoded): back to the page, or
/// the form refused, for the page to show again.
pub fn set_form(inbox: &Inbox, req: &Request) -> Result<Response, Refused> {
    let body = std::str::from_utf8(req.body).unwrap_or("");
    match faults::from_form(&|k| query_param(Some(body.trim()), k)) {
        Ok(f) => {
            inbox.faults().set(f);
            inbox.faults_changed();
            Ok(Response::redirect("/#faults"))
        }
        // The form as the tester left it, the field at fault named in it:
        // nothing typed is lost.
        Err(why) => Err(Refused {
            form: form_html(Some(body), Some(&why)),
            why,
        }),
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

fn stored(inbox: &Inbox, f: Fault) -> Response {
    let shown = f.to_json();
    inbox.faults().set(f);
    inbox.faults_changed();
    json_response(201, &shown)
}

fn listed(inbox: &Inbox) -> Response {
    let list: Vec<Value> = inbox.faults().list().iter().map(Fault::to_json).collect();
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
pub fn panel(inbox: &Inbox) -> String {
    let faults = inbox.faults().list();
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

/// The panel's form: one fault at a time, for one route. After a refused
/// submit, it keeps what the tester typed (`posted`, the form's body) and
/// says what is wrong beside the field at fault.
pub fn form_html(posted: Option<&str>, error: Option<&faults::Invalid>) -> String {
    let value = |name: &str| posted.and_then(|p| query_param(Some(p.trim()), name));
    let wrong = |name: &str| error.is_some_and(|e| e.field == name);
    let mut out = String::from("<form method=\"post\" action=\"/faults\" id=\"fault-form\">");
    if let Some(e) = error {
        out.push_str(&format!(
            "<p id=\"fault-error\" role=\"alert\">Not set: <b>{}</b> {}</p>",
            esc(&e.field),
            esc(&e.why)
        ));
    }
    let select = |name: &str, options: &[(&str, &str)]| {
        let chosen = value(name);
        let mut s = format!(
            "<select name=\"{name}\" id=\"fault-{name}\" aria-label=\"{name}\"{}>",
            invalid_attr(wrong(name))
        );
        for (v, label) in options {
            let selected = if chosen.as_deref() == Some(*v) {
                " selected"
            } else {
                ""
            };
            s.push_str(&format!("<option value=\"{v}\"{selected}>{label}</option>"));
        }
        s.push_str("</select> ");
        s
    };
    out.push_str(&select(
        "route",
        &[
            ("start_communication", "start_communication"),
            ("ui", "ui"),
            ("auth_result", "auth_result"),
        ],
    ));
    out.push_str(&select(
        "answer",
        &[
            ("status", "answer a status"),
            ("usual", "the usual answer (delayed)"),
            ("close", "close without answering"),
            ("malformed_json", "malformed JSON (start_communication)"),
            ("no_client_url", "no client_url (start_communication)"),
        ],
    ));
    for (name, id, attrs, default) in [
        (
            "status",
            "fault-status",
            "type=\"number\" min=\"100\" max=\"599\"",
            "500",
        ),
        ("body", "fault-body", "placeholder=\"body\"", ""),
        (
            "delay_ms",
            "fault-delay",
            "type=\"number\" min=\"0\" max=\"60000\" placeholder=\"delay ms\"",
            "",
        ),
        (
            "times",
            "fault-times",
            "type=\"number\" min=\"1\" placeholder=\"times (empty: until cleared)\"",
            "",
        ),
    ] {
        let shown = value(name).unwrap_or_else(|| {
            if posted.is_some() {
                String::new()
            } else {
                default.to_owned()
            }
        });
        out.push_str(&format!(
            "<input name=\"{name}\" id=\"{id}\" {attrs} value=\"{}\" aria-label=\"{name}\"{}> ",
            esc(&shown),
            invalid_attr(wrong(name))
        ));
    }
    out.push_str("<button type=\"submit\" id=\"set-fault\">Set fault</button></form>");
    out
}

fn invalid_attr(wrong: bool) -> &'static str {
    if wrong {
        " aria-invalid=\"true\" class=\"invalid\" autofocus"
    } else {
        ""
    }
}
