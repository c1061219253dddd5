//! Authentication during communication, from the plugin's side: the
//! citizen's "Authenticate again" button (`--auth-only-method`), the
//! queue every caller's request goes through (the inbox's form and API,
//! `crate::inbox::auth_only`, included), and the core's answers. The
//! request itself is `crate::auth_only`'s: signed there, sent by its
//! thread. A caller's request is parked in its loop (no thread, counted
//! against the cap) until the core's answer is in.

use std::time::Instant;

use super::answers::{locked, GRACE};
use super::exchange::Exchange;
use super::state::Plugin;
use crate::auth_only::{Answered, Ask};
use crate::http::cross_site::{same_origin, Provenance};
use crate::http::query::query_param;
use crate::http::{Method, Request, Response};
use crate::journal;

/// A request waiting for the core's answer to ticket `0`.
#[derive(Debug)]
pub struct Asking(pub u64);

impl Asking {
    pub fn answered(&self, plugin: &Plugin) -> Option<(Answered, u64)> {
        plugin.auth_answers.take(self.0)
    }
}

fn off() -> Response {
    Response::json_error(
        409,
        "authentication during communication is off: start with --core-url URL and \
         --auth-only-key KID=FILE",
        None,
    )
}

/// A queued request: what its caller parks on, and until when.
pub type Parked = Result<(Asking, Instant), Box<Response>>;

/// Queues `ask`: its caller parks until the answer is in.
pub fn ask(plugin: &Plugin, ask: Ask) -> Parked {
    let Some(sender) = &plugin.auth_only else {
        return Err(Box::new(off()));
    };
    match sender.ask(ask, plugin.now()) {
        Ok(ticket) => Ok((
            Asking(ticket),
            Instant::now() + crate::auth_only::TIMEOUT + GRACE,
        )),
        Err(e @ crate::auth_only::Refusal::CitizensTooFast(wait)) => {
            let s = wait.as_secs() + 1;
            Err(Box::new(
                Response::json_error(429, &e.to_string(), None)
                    .with_header("Retry-After", s.to_string()),
            ))
        }
        Err(e) => Err(Box::new(Response::json_error(503, &e.to_string(), None))),
    }
}

/// `POST /ui/authenticate` (`--auth-only-method`): the citizen's
/// "Authenticate again", under the cross-site defence; the browser is
/// sent on to the core's `client_url` once it is in.
pub fn from_citizen(plugin: &Plugin, req: &Request) -> Parked {
    let refuse = |r: Response| {
        let ex = Exchange::new(req, None);
        let kind = journal::Kind::Request {
            reason: r.note.detail.clone(),
        };
        plugin.record_for(&ex, r.status, "ui", None, kind);
        Err(Box::new(r))
    };
    if let Err(why) = same_origin(&Provenance::of(req)) {
        return refuse(Response::error(403, why.message()));
    }
    let (Some(method), Some(_)) = (&plugin.auth_only_method, &plugin.auth_only) else {
        return refuse(Response::error(404, "not found"));
    };
    let key = std::str::from_utf8(req.body)
        .ok()
        .and_then(|b| query_param(Some(b.trim()), "session"))
        .unwrap_or_default();
    let purpose = match locked(&plugin.auth_sessions).claim(&key, Instant::now()) {
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
        comm_url: format!("{}/ui?session={key}", plugin.server_url),
        attr_url: plugin
            .use_attr_url
            .then(|| format!("{}/auth_result", plugin.internal_url)),
        by: "citizen",
    };
    ask(plugin, a).or_else(|r| refuse(*r))
}

/// The citizen's answer once the core's is in: on to its `client_url`,
/// or a page saying why not.
pub fn citizen_answer(plugin: &Plugin, waiting: &Asking) -> Option<Response> {
    let (a, _) = waiting.answered(plugin)?;
    Some(match a.client_url() {
        Some(u) => super::citizen::continue_to(u),
        None => super::citizen::refused_again(),
    })
}

impl Plugin {
    /// Where `Method::Post` to the citizen's button goes.
    pub fn offers_again(&self, req: &Request) -> bool {
        req.path == "/ui/authenticate"
            && req.method == Method::Post
            && self.ui == crate::config::UiMode::Html
    }
}
