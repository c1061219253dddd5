//! Session feedback from the inbox: the tester's `Send activity` and
//! `Send logout` for a journaled result's `session_url`, and the report
//! of every attempt (journal and log), whoever made it.

use super::state::Inbox;
use crate::feedback;
use crate::http::query::query_param;
use crate::http::{Request, Response};

/// Sends `kind` for journal entry `id`'s `session_url`: `None` once
/// queued, else the refusal's answer.
fn send_feedback(inbox: &Inbox, id: u64, kind: feedback::Type) -> Option<Response> {
    let url = {
        let journal = inbox.journal();
        let Some(e) = journal.get(id) else {
            return Some(Response::error(
                404,
                format!("no entry {id} in the journal"),
            ));
        };
        let Some(url) = e.session_url() else {
            return Some(Response::error(
                409,
                format!("entry {id} has no session_url"),
            ));
        };
        url.to_owned()
    };
    match inbox.plugin().feedback().send(&url, kind, Some(id)) {
        Ok(()) => None,
        Err(r @ feedback::Refusal::Off) => Some(Response::error(409, r.to_string())),
        Err(r @ feedback::Refusal::QueueFull) => Some(Response::error(503, r.to_string())),
        Err(r) => Some(Response::error(403, r.to_string())),
    }
}

/// `POST /api/events/{id}/session?type=user_active|logout` on the inbox:
/// 202 and the attempt's result in the journal; from the page's form
/// (`back=1`), a redirect back to the page.
pub(super) fn feedback_route(inbox: &Inbox, req: &Request) -> Response {
    let Some(id) = session_target(req.path) else {
        return Response::error(404, "not found");
    };
    let Some(kind) = query_param(req.query, "type")
        .as_deref()
        .and_then(feedback::Type::parse)
    else {
        return Response::json_error(400, "type must be user_active or logout", Some("type"));
    };
    let back = query_param(req.query, "back").is_some();
    match send_feedback(inbox, id, kind) {
        None if back => Response::redirect("/"),
        None => {
            let body = format!(
                r#"{{"queued":true,"type":"{}","for_event":{id}}}"#,
                kind.as_str()
            );
            let mut r = Response::new(202, "application/json", body);
            r.note
                .fields
                .push(("type", serde_json::json!(kind.as_str())));
            r
        }
        Some(refused) => refused,
    }
}

/// `/api/events/{id}/session`: the id.
pub fn session_target(path: &str) -> Option<u64> {
    path.strip_prefix("/api/events/")?
        .strip_suffix("/session")?
        .parse()
        .ok()
}
