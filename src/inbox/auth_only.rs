//! Authentication during communication, from the inbox's side:
//! `POST /api/auth-only` (JSON) and the page's form (`POST /auth-only`),
//! and what each hears back. The queue, the signing and the sending are
//! the plugin's (`crate::plugin::again`, `crate::auth_only`).

use serde_json::{json, Value};

use super::state::Inbox;
use crate::auth_only::Ask;
use crate::http::query::query_param;
use crate::http::{Request, Response};
use crate::plugin::again::{ask, Asking, Parked};

/// `{"purpose", "auth_method"}`: each a string of 1-256 characters.
fn parse(body: &[u8]) -> Result<(String, String), Box<Response>> {
    let v: serde_json::Map<String, Value> = serde_json::from_slice(body).map_err(|_| {
        Box::new(Response::json_error(
            400,
            "the request is not a JSON object",
            None,
        ))
    })?;
    let field = |name: &'static str| match v.get(name).and_then(Value::as_str) {
        Some(s) if (1..=256).contains(&s.chars().count()) => Ok(s.to_owned()),
        _ => Err(Box::new(Response::json_error(
            400,
            &format!("{name}: a string of 1-256 characters"),
            Some(name),
        ))),
    };
    Ok((field("purpose")?, field("auth_method")?))
}

/// `POST /api/auth-only` (JSON) and the page's form (`POST /auth-only`).
pub fn from_inbox(inbox: &Inbox, req: &Request, form: bool) -> Parked {
    let parsed = if form {
        form_fields(req.body)
    } else {
        parse(req.body)
    };
    let (purpose, auth_method) = parsed?;
    let a = Ask {
        purpose,
        auth_method,
        comm_url: inbox.plugin().client_url(),
        attr_url: inbox.plugin().attr_url(),
        by: "inbox",
    };
    ask(inbox.plugin(), a)
}

fn form_fields(body: &[u8]) -> Result<(String, String), Box<Response>> {
    let text = std::str::from_utf8(body).unwrap_or("");
    let get = |k: &str| query_param(Some(text), k).filter(|v| !v.trim().is_empty());
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
pub fn inbox_answer(inbox: &Inbox, waiting: &Asking, form: bool) -> Option<Response> {
    let (a, id) = waiting.answered(inbox.plugin())?;
    if form {
        return Some(Response::redirect(format!("/events/{id}")));
    }
    let status = a.result.as_ref().ok().map(|r| r.status);
    Some(match a.client_url() {
        Some(u) => json_response(
            200,
            &json!({"client_url": u, "answer_status": status, "event": id}),
        ),
        None => {
            let said = match &a.result {
                Ok(r) => format!(
                    "the core answered {} without a client_url: {}",
                    r.status, r.said
                ),
                Err(e) => format!("no answer from the core: {e}"),
            };
            json_response(
                502,
                &json!({"error": said, "field": null, "answer_status": status, "event": id}),
            )
        }
    })
}

fn json_response(status: u16, v: &Value) -> Response {
    Response::new(status, "application/json", v.to_string())
}

/// The core did not answer in time (the client's own deadline passed).
pub fn timed_out() -> Response {
    Response::json_error(504, "the core did not answer in time", None)
}
