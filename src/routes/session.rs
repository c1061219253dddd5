//! Session feedback from the inbox: the tester's `Send activity` and
//! `Send logout` for a journaled result's `session_url`, and the report
//! of every attempt (journal and log), whoever made it.

use std::sync::Arc;

use super::query::query_param;
use super::{inbox, journal, App, Request, Response};
use crate::feedback;

/// Every feedback attempt, refusals included: one journal entry (the URL
/// whole: the inbox is the tester's) and one log line (query values
/// redacted: they may carry a session secret).
pub(super) fn journal_and_log(journal: Arc<journal::Shared>) -> feedback::Report {
    Arc::new(move |a: feedback::Attempt| {
        let ms = u64::try_from(a.latency.as_millis()).unwrap_or(u64::MAX);
        let outcome = match &a.result {
            Ok(code) => format!("answered {code}"),
            Err(e) => e.clone(),
        };
        let for_event = a
            .for_event
            .map_or(String::new(), |id| format!(" for entry #{id}"));
        crate::log::message(&format!(
            "session feedback {} {}: {outcome} in {ms} ms{for_event}",
            a.kind.as_str(),
            crate::log::redact_url(&a.url)
        ));
        journal.record(
            "session",
            None,
            journal::Kind::Feedback(journal::Feedback {
                kind: a.kind.as_str(),
                url: a.url,
                result: a.result,
                latency_ms: ms,
                for_event: a.for_event,
            }),
        );
    })
}

/// Sends `kind` for journal entry `id`'s `session_url`: `None` once
/// queued, else the refusal's answer.
fn send_feedback(app: &App, id: u64, kind: feedback::Type) -> Option<Response> {
    let url = {
        let journal = app.journal();
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
    match app.feedback.send(&url, kind, Some(id)) {
        Ok(()) => None,
        Err(r @ feedback::Refusal::Off) => Some(Response::error(409, r.to_string())),
        Err(r @ feedback::Refusal::QueueFull) => Some(Response::error(503, r.to_string())),
        Err(r) => Some(Response::error(403, r.to_string())),
    }
}

/// `POST /api/events/{id}/session?type=user_active|logout` on the inbox:
/// 202 and the attempt's result in the journal; from the page's form
/// (`back=1`), a redirect back to the page.
pub(super) fn feedback_route(app: &App, req: &Request) -> Response {
    let Some(id) = inbox::session_target(req.path) else {
        return Response::error(404, "not found");
    };
    let Some(kind) = query_param(req.query, "type")
        .as_deref()
        .and_then(feedback::Type::parse)
    else {
        return Response::error(400, "type must be user_active or logout");
    };
    let back = query_param(req.query, "back").is_some();
    match send_feedback(app, id, kind) {
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
