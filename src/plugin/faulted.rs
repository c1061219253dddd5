//! Faults on the public routes: what a fault (`crate::faults`) does to the
//! answer a route gave (the inbox sets and clears them). The route has run
//! before a fault applies: a token was decoded, journaled and remembered as
//! for any request.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::state::Plugin;
use crate::faults::{Fault, Reply};
use crate::http::{Answer, Response, Settle, Settled};

/// The answer `usual` becomes under `fault`, sent after its delay; the
/// usual answer's note (a token's verdict, its claims) is kept, and names
/// the fault, so the log line says both what arrived and what was sent.
/// A delayed answer's events (`journaled`) are settled when it goes out,
/// or when its client leaves first (then they say 499, as nginx logs it).
pub fn apply<S, P>(
    plugin: &Plugin,
    fault: &Fault,
    mut usual: Response,
    journaled: Vec<u64>,
) -> Answer<S, P> {
    let mut note = std::mem::take(&mut usual.note);
    note.fields.push(("fault", json!(fault.describe())));
    let at = (fault.delay_ms > 0).then(|| Instant::now() + Duration::from_millis(fault.delay_ms));
    let settle = || settle(plugin, journaled);
    let mut r = match &fault.reply {
        Reply::Close => {
            return match at {
                None => Answer::Close(note),
                Some(t) => Answer::CloseAt(note, t, settle()),
            }
        }
        Reply::Usual => usual,
        // Served on the citizens' origin: text or JSON, never sniffed as
        // a page, so a tester's body cannot become a script there.
        Reply::Status { status, body } => {
            Response::new(*status, media_type_of(body), body.clone().into_bytes())
                .with_header("X-Content-Type-Options", "nosniff")
        }
        Reply::MalformedJson => Response::new(200, "application/json", malformed(plugin)),
        Reply::NoClientUrl => Response::new(200, "application/json", without_client_url(&usual)),
    };
    r.note = note;
    match at {
        None => Answer::Now(r),
        Some(t) => Answer::At(r, t, settle()),
    }
}

/// What the journal says once a delayed answer is settled: the time until
/// it went, or until its client left, and then the status 499 ("client
/// closed", as nginx logs it): the client never got what was meant for it.
fn settle(plugin: &Plugin, journaled: Vec<u64>) -> Settle {
    let journal = plugin.shared_journal_arc();
    Settle::new(move |how| {
        let (status, waited) = match how {
            Settled::Sent(d) => (None, d),
            Settled::Left(d) => (Some(CLIENT_CLOSED), d),
        };
        let ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
        for id in &journaled {
            journal.settle(*id, status, ms);
        }
        if let (Some(_), Some(first)) = (status, journaled.first()) {
            crate::log::message(&format!(
                "event #{first}: the client closed its connection {ms} ms into a delayed answer: \
                 not delivered (499)"
            ));
        }
    })
}

/// nginx's status for a request whose client closed the connection before
/// the answer was sent.
pub const CLIENT_CLOSED: u16 = 499;

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
fn malformed(plugin: &Plugin) -> Vec<u8> {
    format!("{{\"client_url\":\"{}/ui\"", plugin.server_url).into_bytes()
}

/// The usual answer less `client_url` (`{}` when the usual answer was no
/// JSON object: a refused request).
fn without_client_url(usual: &Response) -> Vec<u8> {
    let mut v: serde_json::Map<String, Value> =
        serde_json::from_slice(&usual.body).unwrap_or_default();
    v.remove("client_url");
    serde_json::to_vec(&v).unwrap_or_else(|_| b"{}".to_vec())
}
