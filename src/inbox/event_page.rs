//! One event on a page of its own (`/events/{id}`): everything journaled,
//! and what a tester does next with it: replay it against this plugin
//! (copy as curl), take its decoded JSON, or download it.

use std::fmt::Write as _;

use super::page;
use super::state::Inbox;
use crate::date;
use crate::html::{esc, open_document};
use crate::http::query::percent_encode;
use crate::http::Response;
use crate::journal::{Framed, Kind};

pub fn page(inbox: &Inbox, id: u64) -> Response {
    let Some(framed) = inbox.journal().get(id) else {
        return Response::error(404, format!("no event {id} in the journal"));
    };
    let mut body = String::with_capacity(8192);
    open_document(&mut body, "comm-test inbox: event", Some("/app.css"));
    let _ = write!(
        body,
        " data-event=\"{id}\"><header><h1>comm-test inbox</h1><p><a href=\"/\">← all events</a> · \
         <a href=\"/api/events/{id}\">JSON</a> · \
         <a href=\"/api/events/{id}?download=1\" download>Download</a> · \
         <form method=\"post\" action=\"/events/{id}/delete\" class=\"inline\">\
         <button type=\"submit\" id=\"delete-event\">Delete this event</button></form></p></header>\n\
         <main id=\"events\">\n"
    );
    let mut article = String::new();
    page::entry_into(&mut article, &framed, date::unix_now_millis());
    // On its own page the entry is open: that is what it is there for.
    body.push_str(&article.replacen(
        "<details class=\"more\">",
        "<details class=\"more\" open>",
        1,
    ));
    if let Some(curl) = curl(inbox, &framed) {
        let _ = writeln!(
            body,
            "<h3>Replay against this plugin</h3><pre id=\"curl\">{}</pre>\
             <button type=\"button\" class=\"copy\" data-target=\"curl\" hidden>Copy as curl</button>",
            esc(&curl)
        );
    }
    let json = serde_json::to_string_pretty(&framed.json()).unwrap_or_default();
    let _ = writeln!(
        body,
        "<h3>Decoded JSON</h3><pre id=\"decoded\">{}</pre>\
         <button type=\"button\" class=\"copy\" data-target=\"decoded\" hidden>Copy decoded JSON</button>",
        esc(&json)
    );
    body.push_str("</main>\n<script src=\"/app.js\"></script></body></html>\n");
    page::html(body)
}

/// The request that made this event, as a shell command against our own
/// public routes at the server URL (the one a tester reaches; the internal
/// URL is often a compose service name only the core resolves); `None`
/// for what no request makes. One request with exactly the journaled
/// bytes: the body by `--data-raw` (never `@file`), the URL with
/// `--globoff` (never a `[1-5]` pattern), the token percent-encoded
/// where it is a query value.
fn curl(inbox: &Inbox, e: &Framed) -> Option<String> {
    let base = inbox.server_url();
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    match &e.kind {
        Kind::Token { .. } => {
            let token = e.json().get("token")?.as_str()?.to_owned();
            Some(match e.route {
                "ui" => format!(
                    "curl -sS --globoff {}",
                    quote(&format!("{base}/ui?result={}", percent_encode(&token)))
                ),
                "start_communication" => {
                    let body = serde_json::json!({
                        "purpose": e.purpose.as_deref().unwrap_or(""),
                        "auth_result": token,
                    });
                    format!(
                        "curl -sS --globoff -H 'Content-Type: application/json' --data-raw {} {}",
                        quote(&body.to_string()),
                        quote(&format!("{base}/start_communication"))
                    )
                }
                _ => format!(
                    "curl -sS --globoff -H 'Content-Type: application/jwt' --data-raw {} {}",
                    quote(&token),
                    quote(&format!("{base}/auth_result"))
                ),
            })
        }
        Kind::Start => {
            let body = serde_json::json!({ "purpose": e.purpose.as_deref().unwrap_or("") });
            Some(format!(
                "curl -sS --globoff -H 'Content-Type: application/json' --data-raw {} {}",
                quote(&body.to_string()),
                quote(&format!("{base}/start_communication"))
            ))
        }
        Kind::Request { .. } | Kind::Feedback(_) | Kind::AuthOnly(_) => None,
    }
}
