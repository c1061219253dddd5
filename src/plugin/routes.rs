//! The plugin API's routes, as the sample interaction shows them:
//! `POST /start_communication`, `GET /ui[?result=]`, `POST /auth_result`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::citizen::{self, Shown};
use super::exchange::{Exchange, Preceding};
use super::logout;
use super::state::Plugin;
use super::token::{check_token, refused};
use crate::config::UiMode;
use crate::feedback::{Refusal, Type};
use crate::http::cross_site::{same_origin, Provenance};
use crate::http::query::{percent_decode, query_param, raw_param};
use crate::http::{Request, Response};
use crate::jose::Reason;
use crate::journal::{Established, Kind};
use crate::log::Note;

/// Unknown members are ignored, as the ecosystem's own request types
/// (serde without `deny_unknown_fields`) ignore them, so a newer core
/// that adds one does not break us; their names are logged.
#[derive(Deserialize)]
struct StartRequest {
    /// Required; absent is told apart from mistyped by type, not message.
    purpose: Option<String>,
    auth_result: Option<String>,
    #[serde(flatten)]
    unknown: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
}

#[derive(Serialize)]
struct StartResponse {
    client_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    attr_url: Option<String>,
}

pub(super) fn start_communication(plugin: &Plugin, req: &Request, ex: &Exchange) -> Response {
    let media_type = req.headers.media_type();
    if media_type.is_some_and(|m| m != "application/json") {
        return Response::error(415, "start_communication takes application/json");
    }
    let (start, purpose) = match parse_start(req.body) {
        Ok(s) => s,
        Err(why) => return Response::error(400, format!("bad start_communication request: {why}")),
    };
    let mut note = Note::default();
    let route = "start_communication";
    // A result that came with the request is checked and shown now, and
    // then there is nothing more to receive: no attr_url. The start goes
    // into the journal first, with what the token's check answers.
    let start_event = Preceding {
        route,
        purpose: Some(purpose.clone()),
        kind: Kind::Start,
    };
    match &start.auth_result {
        Some(_) => ex.precede(start_event),
        None => {
            plugin.record_for(ex, 200, route, Some(&purpose), Kind::Start);
        }
    }
    if let Some(token) = &start.auth_result {
        match check_token(plugin, ex, token, route, Some(&purpose)) {
            Ok(checked) => note = checked.note,
            Err(mut rejected) => {
                rejected.note.fields.push(("purpose", json!(purpose)));
                return *rejected;
            }
        }
    }
    note.fields.insert(0, ("purpose", json!(purpose)));
    if !start.unknown.is_empty() {
        let names: Vec<&String> = start.unknown.keys().collect();
        note.fields.push(("ignored_members", json!(names)));
    }
    // With the citizen's "Authenticate again" on, the page must know the
    // session's purpose: its client_url names the session.
    let session = match &plugin.auth_only_method {
        Some(_) => plugin
            .auth_sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .open(&purpose)
            .map_or(String::new(), |key| format!("?session={key}")),
        None => String::new(),
    };
    let body = StartResponse {
        client_url: format!("{}/ui{session}", plugin.server_url),
        attr_url: (plugin.use_attr_url && start.auth_result.is_none())
            .then(|| format!("{}/auth_result", plugin.internal_url)),
    };
    match serde_json::to_vec(&body) {
        Ok(json) => {
            let mut r = Response::new(200, "application/json", json);
            r.note = note;
            r
        }
        Err(_) => Response::error(500, "could not encode the response"),
    }
}

/// The request and its purpose, or what was wrong with the body (never
/// echoing it), each decided by a type: the member names first
/// (`json::Members`), then the members' types, then `purpose` present.
fn parse_start(body: &[u8]) -> Result<(StartRequest, String), &'static str> {
    let members: crate::json::Members =
        serde_json::from_slice(body).map_err(|_| "body is not a JSON object")?;
    if members.duplicate {
        return Err("a member appears twice");
    }
    let mut start: StartRequest =
        serde_json::from_slice(body).map_err(|_| "purpose and auth_result must be strings")?;
    let purpose = start.purpose.take().ok_or("purpose is missing")?;
    Ok((start, purpose))
}

/// The session key the page's "Authenticate again" posts, when the
/// button is on and the query names a session we opened.
fn again_key(plugin: &Plugin, query: Option<&str>) -> Option<String> {
    plugin.auth_only_method.as_ref()?;
    let key = query_param(query, "session")?;
    plugin
        .auth_sessions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .known(&key)
        .then_some(key)
}

pub(super) fn ui(plugin: &Plugin, req: &Request, ex: &Exchange) -> Response {
    let result = raw_param(req.query, "result");
    let html = plugin.ui == UiMode::Html;
    let Some(encoded) = result else {
        if html {
            let notice = query_param(req.query, "logout").and_then(|v| citizen::notice(&v));
            return citizen::page(None, notice, again_key(plugin, req.query).as_deref());
        }
        return ui_text();
    };
    let Some(token) = percent_decode(encoded) else {
        let detail = "malformed: result is not valid percent-encoding";
        let why = (Reason::Malformed, detail);
        refused(
            plugin,
            ex,
            ("ui", None),
            encoded,
            why,
            Established::default(),
        );
        return Response::error(400, detail);
    };
    match check_token(plugin, ex, &token, "ui", None) {
        Ok(checked) => {
            // Rendered from the result as decoded, never read back from
            // the journal, which may already have moved on.
            let mut r = if html {
                let logout_key = checked.session_url.as_ref().and_then(|url| {
                    let key = logout::new_key()?;
                    let session = logout::Session {
                        for_event: checked.id,
                        session_url: url.clone(),
                    };
                    let until = checked.exp.saturating_add(plugin.policy.leeway());
                    plugin
                        .logout_keys()
                        .insert(key.clone(), session, until, plugin.now());
                    Some(key)
                });
                citizen::page(
                    Some(&Shown {
                        status: checked.status,
                        attributes: checked.attributes,
                        logout_key,
                    }),
                    None,
                    again_key(plugin, req.query).as_deref(),
                )
            } else {
                ui_text()
            };
            r.note = checked.note;
            r
        }
        Err(rejected) if html => {
            // The same refusal, as a page the citizen can read.
            let detail = rejected.note.detail.clone().unwrap_or_default();
            let mut page = citizen::refused(&detail);
            page.note = rejected.note;
            page
        }
        Err(rejected) => *rejected,
    }
}

/// `POST /ui/logout` (`--ui html`): the citizen's Logout button. Sends
/// `logout` to the session of the result the page showed, once per key,
/// then back to the page saying what happened. Under the cross-site
/// defence (`guard.rs`), not the inbox's `Host` rule: citizens reach the
/// public listener by whatever name the deployment gives it.
pub(super) fn logout(plugin: &Plugin, req: &Request) -> Response {
    if let Err(why) = same_origin(&Provenance::of(req)) {
        return Response::error(403, why.message());
    }
    let key = std::str::from_utf8(req.body)
        .ok()
        .and_then(|b| query_param(Some(b.trim()), "key"));
    let session = key.and_then(|k| plugin.logout_keys().take(&k, plugin.now()));
    let Some(session) = session else {
        return Response::error(
            404,
            "unknown session (its Logout was used already, or the result has expired)",
        );
    };
    let to = match plugin
        .feedback
        .send(&session.session_url, Type::Logout, Some(session.for_event))
    {
        // Queued, not yet sent: the sender thread makes the request.
        Ok(()) => "/ui?logout=queued",
        Err(Refusal::Off) => "/ui?logout=off",
        Err(_) => "/ui?logout=refused",
    };
    Response::redirect(to)
}

/// `/ui` as the original plugin answers it.
fn ui_text() -> Response {
    Response::new(200, "text/plain; charset=utf-8", super::citizen::UI_BODY)
}

pub(super) fn auth_result(plugin: &Plugin, req: &Request, ex: &Exchange) -> Response {
    let Ok(text) = std::str::from_utf8(req.body) else {
        let detail = "malformed: body is not UTF-8";
        let shown = String::from_utf8_lossy(req.body);
        let why = (Reason::Malformed, detail);
        refused(
            plugin,
            ex,
            ("auth_result", None),
            &shown,
            why,
            Established::default(),
        );
        return Response::error(400, detail);
    };
    match check_token(plugin, ex, text.trim(), "auth_result", None) {
        Ok(checked) => {
            let mut r = Response::new(200, "text/plain; charset=utf-8", "accepted\n");
            r.note = checked.note;
            r
        }
        Err(rejected) => *rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::http::Method;
    use crate::plugin::{handle, UI_BODY};
    use serde_json::Value;

    fn plugin(extra: &[&str]) -> Plugin {
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Plugin::new(
            Config::from_args(&args, &|_| None).unwrap(),
            None,
            Vec::new(),
            std::sync::Arc::new(crate::journal::Shared::off()),
        )
    }

    fn req<'a>(
        method: Method,
        path: &'a str,
        query: Option<&'a str>,
        body: &'a [u8],
    ) -> Request<'a> {
        Request {
            method,
            path,
            query,
            headers: crate::http::Headers::new(&[]),
            body,
            peer: None,
        }
    }

    const SAMPLE: &str = include_str!("../../tests/data/sample-token.jwt");

    fn claim<'n>(note: &'n Note, name: &str) -> &'n Value {
        &note.claims.iter().find(|(k, _)| *k == name).unwrap().1
    }

    #[test]
    fn start_communication_answers_as_the_seed() {
        let a = plugin(&[
            "--server-url",
            "http://comm-test.idcontact.test.tweede.golf",
            "--internal-url",
            "http://comm-test:8000",
        ]);
        let r = handle(
            &a,
            &req(
                Method::Post,
                "/start_communication",
                None,
                b"{\n    \"purpose\": \"report_move\"\n}",
            ),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type, "application/json");
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"client_url":"http://comm-test.idcontact.test.tweede.golf/ui","attr_url":"http://comm-test:8000/auth_result"}"#
        );
    }

    #[test]
    fn attr_url_left_out_when_disabled_or_result_included() {
        let a = plugin(&["--use-attr-url", "false"]);
        let r = handle(
            &a,
            &req(
                Method::Post,
                "/start_communication",
                None,
                br#"{"purpose":"p"}"#,
            ),
        );
        assert_eq!(r.body, br#"{"client_url":"http://127.0.0.1:8000/ui"}"#);
        let a = plugin(&["--clock", "1615879800"]);
        let body = format!(r#"{{"purpose":"p","auth_result":"{SAMPLE}"}}"#);
        let r = handle(
            &a,
            &req(Method::Post, "/start_communication", None, body.as_bytes()),
        );
        assert_eq!(r.body, br#"{"client_url":"http://127.0.0.1:8000/ui"}"#);
        assert_eq!(claim(&r.note, "attributes"), &json!({"email": "bla"}));
        assert_eq!(r.note.fields, vec![("purpose", json!("p"))]);
        let a = plugin(&["--clock", "1700000000"]);
        let r = handle(
            &a,
            &req(Method::Post, "/start_communication", None, body.as_bytes()),
        );
        assert_eq!(
            (r.status, String::from_utf8(r.body).unwrap()),
            (
                400,
                "expired: exp 2021-03-16T07:35:00Z is before now 2023-11-14T22:13:20Z (leeway 60 s); now is fixed by --clock\n"
                    .into()
            )
        );
    }

    #[test]
    fn start_communication_rejections_name_the_problem() {
        let a = plugin(&[]);
        for (body, want) in [
            (
                &b"{"[..],
                "bad start_communication request: body is not a JSON object\n",
            ),
            // An array is not an object: said so now that the shape is
            // decided by a type (it was called a type error of purpose).
            (
                b"[]",
                "bad start_communication request: body is not a JSON object\n",
            ),
            (
                b"{}",
                "bad start_communication request: purpose is missing\n",
            ),
            (
                br#"{"purpose":5}"#,
                "bad start_communication request: purpose and auth_result must be strings\n",
            ),
            (
                br#"{"purpose":"p","purpose":"q"}"#,
                "bad start_communication request: a member appears twice\n",
            ),
        ] {
            let r = handle(&a, &req(Method::Post, "/start_communication", None, body));
            assert_eq!(
                (r.status, String::from_utf8(r.body).unwrap()),
                (400, want.to_string())
            );
        }
        let mut r = req(
            Method::Post,
            "/start_communication",
            None,
            br#"{"purpose":"p"}"#,
        );
        let field = |value: &'static str| {
            [httparse::Header {
                name: "Content-Type",
                value: value.as_bytes(),
            }]
        };
        let plain = field("text/plain");
        r.headers = crate::http::Headers::new(&plain);
        assert_eq!(handle(&a, &r).status, 415);
        let json = field("Application/JSON; charset=utf-8");
        r.headers = crate::http::Headers::new(&json);
        assert_eq!(handle(&a, &r).status, 200);
    }

    /// Regression: an unknown member was a 400; a newer core that adds
    /// one must not break us.
    #[test]
    fn unknown_start_members_are_ignored_and_logged() {
        let a = plugin(&[]);
        let r = handle(
            &a,
            &req(
                Method::Post,
                "/start_communication",
                None,
                br#"{"purpose":"p","locale":"nl","extra":{"x":[1]}}"#,
            ),
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.note.fields,
            vec![
                ("purpose", json!("p")),
                ("ignored_members", json!(["extra", "locale"]))
            ]
        );
    }

    #[test]
    fn ui_with_and_without_result() {
        let a = plugin(&["--clock", "1615879800"]);
        let r = handle(&a, &req(Method::Get, "/ui", None, b""));
        assert_eq!((r.status, r.body.as_slice()), (200, UI_BODY.as_bytes()));
        let q = format!("result={}", SAMPLE.replace('.', "%2E"));
        let r = handle(&a, &req(Method::Get, "/ui", Some(&q), b""));
        assert_eq!((r.status, r.body.as_slice()), (200, UI_BODY.as_bytes()));
        assert_eq!(r.note.verdict, Some("accepted"));
        let r = handle(&a, &req(Method::Get, "/ui", Some("result=abc"), b""));
        assert_eq!(
            (r.status, r.body.as_slice()),
            (400, &b"malformed: JWE must have exactly 5 parts\n"[..])
        );
        let r = handle(&a, &req(Method::Get, "/ui", Some("result=%zz"), b""));
        assert_eq!(r.status, 400);
    }

    #[test]
    fn auth_result_accepts_sample_at_its_time_and_logs_everything() {
        let a = plugin(&["--clock", "1615879800"]);
        let body = format!("\n {SAMPLE} \r\n");
        let r = handle(
            &a,
            &req(Method::Post, "/auth_result", None, body.as_bytes()),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.note.verdict, Some("accepted"));
        assert_eq!(claim(&r.note, "status"), &json!("succes"));
        assert_eq!(claim(&r.note, "attributes"), &json!({"email": "bla"}));
        assert_eq!(claim(&r.note, "session_url"), &Value::Null);
    }

    #[test]
    fn replays_are_logged_or_refused() {
        let a = plugin(&["--clock", "1615879800"]);
        let r1 = handle(
            &a,
            &req(Method::Post, "/auth_result", None, SAMPLE.as_bytes()),
        );
        let r2 = handle(
            &a,
            &req(Method::Post, "/auth_result", None, SAMPLE.as_bytes()),
        );
        assert_eq!((r1.status, r2.status), (200, 200));
        assert_eq!(
            (r1.note.verdict, r2.note.verdict),
            (Some("accepted"), Some("replay"))
        );
        let a = plugin(&["--clock", "1615879800", "--reject-replays", "true"]);
        handle(
            &a,
            &req(Method::Post, "/auth_result", None, SAMPLE.as_bytes()),
        );
        let r = handle(
            &a,
            &req(Method::Post, "/auth_result", None, SAMPLE.as_bytes()),
        );
        assert_eq!(
            (r.status, r.body),
            (409, b"replay: token was accepted before\n".to_vec())
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        let a = plugin(&[]);
        assert_eq!(handle(&a, &req(Method::Get, "/", None, b"")).status, 404);
        assert_eq!(handle(&a, &req(Method::Get, "/ui/", None, b"")).status, 404);
        let r = handle(&a, &req(Method::Get, "/auth_result", None, b""));
        assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
        let r = handle(&a, &req(Method::Post, "/ui", None, b""));
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
        assert_eq!(
            handle(&a, &req(Method::Other, "/start_communication", None, b"")).status,
            405
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Eb").as_deref(), Some("a.b"));
        assert_eq!(percent_decode("a.b").as_deref(), Some("a.b"));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
