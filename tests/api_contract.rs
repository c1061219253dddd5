//! The inbox's API as a contract: the OpenAPI document the binary serves
//! (`GET /api/openapi.json`) against what the live server answers. Every
//! answer below is checked against the schema the document gives for its
//! route, method and status; every response the document names is either
//! brought about here or listed in `UNEXERCISED` with why; every `/api`
//! path the router names is in the document. So the two cannot drift.

mod common;
#[path = "common/core.rs"]
mod core;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::{Reply, Server, SAMPLE};
use core::{Core, Key};
use serde_json::{json, Value};

const RSA_PUBLIC: &str = include_str!("../keys/idcontact-test-rsa.pub.pem");
const EC_PUBLIC: &str = include_str!("../keys/idcontact-test-ec.pub.pem");
const SIGNING_KEY: &str = "comm-test=keys/idcontact-test-rsa.key.pem";

/// Documented answers this test does not bring about, and why.
const UNEXERCISED: [(&str, &str, &str, &str); 1] = [(
    "/api/auth-only",
    "post",
    "504",
    "the core's request has its own 10 s deadline, so the parked caller's \
     (10 s + 2 s) passes only when the sender thread is held up by others",
)];

/// The document, and which of its answers were checked.
struct Contract {
    doc: Value,
    seen: BTreeSet<(String, String, String)>,
}

/// `/api/events/12/session` → `/api/events/{id}/session`.
fn template(path: &str) -> String {
    let path = path.split('?').next().unwrap();
    path.split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `{"$ref": "#/a/b"}` → the document's `/a/b`.
fn resolve<'d>(doc: &'d Value, v: &'d Value) -> &'d Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap(),
        None => v,
    }
}

impl Contract {
    fn new(s: &Server) -> Contract {
        let r = s.inbox_request("GET", "/api/openapi.json");
        assert_eq!(r.status, 200);
        let doc: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut c = Contract {
            doc,
            seen: BTreeSet::new(),
        };
        c.check("GET", "/api/openapi.json", &r, 200);
        c
    }

    /// The JSON Schema the document gives an answer, with the document's
    /// components beside it so its `$ref`s resolve.
    fn validate(&self, schema: &Value, value: &Value, what: &str) {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let v = jsonschema::validator_for(&root).unwrap();
        let errors: Vec<String> = v
            .iter_errors(value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{what}: {errors:?}\n{value}");
    }

    /// `r`, an answer to `method path`, is `status` and what the document
    /// says that answer is.
    fn check(&mut self, method: &str, path: &str, r: &Reply, status: u16) {
        let what = format!("{method} {path} -> {}", r.status);
        assert_eq!(r.status, status, "{what}: {}", r.text());
        let (t, m) = (template(path), method.to_ascii_lowercase());
        let op = &self.doc["paths"][&t][&m];
        assert!(op.is_object(), "{what}: {t} {m} is not in the document");
        let response = op["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| panic!("{what}: status {status} is not documented"));
        let response = resolve(&self.doc, response);
        self.seen.insert((t, m, status.to_string()));
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            return;
        };
        let media = r.header("content-type").unwrap_or_default();
        let (kind, body) = content
            .iter()
            .find(|(k, _)| media.starts_with(k.as_str()))
            .unwrap_or_else(|| panic!("{what}: {media} is not documented"));
        match kind.as_str() {
            "application/json" => {
                let value: Value = serde_json::from_slice(&r.body)
                    .unwrap_or_else(|_| panic!("{what}: not JSON: {}", r.text()));
                self.validate(&body["schema"], &value, &what);
            }
            "application/x-ndjson" => {
                let event = json!({"$ref": "#/components/schemas/Event"});
                for line in r.text().lines() {
                    self.validate(&event, &serde_json::from_str(line).unwrap(), &what);
                }
            }
            _ => {}
        }
    }

    /// Every documented answer was checked, or is listed with why not.
    fn all_seen(&self) {
        let mut documented = BTreeSet::new();
        for (path, ops) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                for status in op["responses"].as_object().unwrap().keys() {
                    documented.insert((path.clone(), method.clone(), status.clone()));
                }
            }
        }
        let listed: BTreeSet<(String, String, String)> = UNEXERCISED
            .iter()
            .map(|(p, m, s, _)| (p.to_string(), m.to_string(), s.to_string()))
            .collect();
        let missing: Vec<_> = documented
            .difference(&self.seen)
            .filter(|k| !listed.contains(*k))
            .collect();
        assert!(missing.is_empty(), "documented, never checked: {missing:?}");
        assert!(listed.is_subset(&documented), "UNEXERCISED names no answer");
    }
}

/// A request to the inbox with a JSON body, or none; `extra` headers.
fn inbox(s: &Server, method: &str, target: &str, body: Option<&str>, extra: &str) -> Reply {
    let body = body.unwrap_or("");
    s.inbox_raw(
        format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            s.inbox(),
            body.len()
        )
        .as_bytes(),
    )
}

const CROSS_SITE: &str = "Sec-Fetch-Site: cross-site\r\n";

/// A listener that takes connections and never answers: a core, or a
/// session URL, that hangs.
fn hanging() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
        }
    });
    addr
}

fn mint(args: &[&str]) -> String {
    let mut all = vec!["mint"];
    all.extend_from_slice(args);
    let (code, out, err) = common::run(&all, None);
    assert_eq!(code, 0, "{err}");
    out.trim().to_owned()
}

/// The stream's head: its status and media type (it never ends).
fn stream_head(s: &Server, target: &str) -> (u16, String) {
    let mut c = TcpStream::connect(s.inbox()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(&s.inbox_head(target)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if c.read(&mut byte).unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head)
}

#[test]
fn every_inbox_api_answer_is_what_its_openapi_document_says() {
    let core = Core::start(vec![("comm-test".into(), Key::rsa(RSA_PUBLIC))]);
    let hang = hanging();
    let feedback_to = hang.ip().to_string();
    // No --clock: the core checks our request's exp against its now.
    let s = Server::start(&[
        "--core-url",
        &core.url(),
        "--auth-only-key",
        SIGNING_KEY,
        "--session-feedback",
        &feedback_to,
    ]);
    let mut c = Contract::new(&s);

    // One event of every kind.
    s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"report_move"}"#,
    );
    assert_eq!(
        s.post_token(&mint(&["--attr", "email=a@example.nl"]))
            .status,
        200
    );
    s.post_token(SAMPLE);
    s.request("GET", "/ui", None, b"");
    let with_session = mint(&["--session-url", &format!("http://{hang}/session")]);
    assert_eq!(s.post_token(&with_session).status, 200);
    let asked = inbox(
        &s,
        "POST",
        "/api/auth-only",
        Some(r#"{"purpose":"report_move","auth_method":"digid"}"#),
        "",
    );
    c.check("POST", "/api/auth-only", &asked, 200);
    let r = s.inbox_request("GET", "/api/events/wait?after=0&route=session&timeout=10");
    c.check("GET", "/api/events/wait?after=0", &r, 200);

    let r = s.inbox_request("GET", "/api/events?limit=1000");
    c.check("GET", "/api/events", &r, 200);
    let listing: Value = serde_json::from_slice(&r.body).unwrap();
    let kinds: BTreeSet<&str> = listing["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["auth_only", "request", "session", "start", "token"])
    );
    let id_of = |pred: &dyn Fn(&Value) -> bool| {
        listing["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| pred(e))
            .unwrap()["id"]
            .as_u64()
            .unwrap()
    };
    let feedback_event = id_of(&|e| e["claims"]["session_url"].is_string());
    let plain_event = id_of(&|e| e["kind"] == "start");
    for e in listing["events"].as_array().unwrap() {
        let path = format!("/api/events/{}", e["id"]);
        let r = s.inbox_request("GET", &path);
        c.check("GET", &path, &r, 200);
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap(), *e);
    }
    let last = listing["last_id"].as_u64().unwrap();

    for (target, status) in [
        ("/api/events?verdict=nope", 400),
        ("/api/events?run=another", 409),
        ("/api/events/99999", 404),
        ("/api/events.ndjson", 200),
        ("/api/events.ndjson?route=nope", 400),
        (&format!("/api/events/wait?after={last}&timeout=0"), 204),
        ("/api/events/wait?timeout=61", 400),
        ("/api/faults", 200),
    ] {
        let r = s.inbox_request("GET", target);
        c.check("GET", target, &r, status);
    }
    let (status, head) = stream_head(&s, "/api/events/stream");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: text/event-stream"), "{head}");
    c.seen
        .insert(("/api/events/stream".into(), "get".into(), "200".into()));
    let r = s.inbox_request("GET", "/api/events/stream?since=x");
    c.check("GET", "/api/events/stream", &r, 400);

    // Session feedback: queued, refused, and the queue full (the
    // receiver never answers, so the sender thread holds each 3 s).
    let session = format!("/api/events/{feedback_event}/session");
    for (target, extra, status) in [
        (format!("{session}?type=logout"), "", 202),
        (format!("{session}?type=nope"), "", 400),
        (format!("{session}?type=logout"), CROSS_SITE, 403),
        ("/api/events/99999/session?type=logout".into(), "", 404),
        (
            format!("/api/events/{plain_event}/session?type=logout"),
            "",
            409,
        ),
    ] {
        let r = inbox(&s, "POST", &target, None, extra);
        c.check("POST", &target, &r, status);
    }
    let full = (0..80)
        .map(|_| inbox(&s, "POST", &format!("{session}?type=logout"), None, ""))
        .find(|r| r.status == 503)
        .expect("the feedback queue fills");
    c.check("POST", &session, &full, 503);

    // Faults.
    for (method, target, body, extra, status) in [
        (
            "POST",
            "/api/faults",
            Some(r#"{"route":"ui","status":503,"times":2}"#),
            "",
            201,
        ),
        ("POST", "/api/faults", Some(r#"{"route":"nope"}"#), "", 400),
        (
            "POST",
            "/api/faults",
            Some(r#"{"route":"ui"}"#),
            CROSS_SITE,
            403,
        ),
        ("DELETE", "/api/faults?route=nope", None, "", 400),
        ("DELETE", "/api/faults", None, CROSS_SITE, 403),
        ("DELETE", "/api/faults?route=ui", None, "", 200),
    ] {
        let r = inbox(&s, method, target, body, extra);
        c.check(method, target, &r, status);
    }
    let plain = s.inbox_raw(
        format!(
            "POST /api/faults HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\n{{}}",
            s.inbox()
        )
        .as_bytes(),
    );
    c.check("POST", "/api/faults", &plain, 415);
    let r = inbox(&s, "POST", "/api/auth-only", Some(r#"{"purpose":""}"#), "");
    c.check("POST", "/api/auth-only", &r, 400);
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).unwrap()["field"],
        "purpose"
    );
    let r = inbox(&s, "POST", "/api/auth-only", Some("{}"), CROSS_SITE);
    c.check("POST", "/api/auth-only", &r, 403);

    // Deleting: one, by filter, the form's way, refused, then everything.
    for (method, target, extra, status) in [
        (
            "DELETE",
            &format!("/api/events/{plain_event}") as &str,
            CROSS_SITE,
            403,
        ),
        ("DELETE", &format!("/api/events/{plain_event}"), "", 200),
        ("DELETE", &format!("/api/events/{plain_event}"), "", 404),
        ("DELETE", "/api/events?route=nope", "", 400),
        ("DELETE", "/api/events", CROSS_SITE, 403),
        ("DELETE", "/api/events?route=other", "", 200),
        ("POST", "/api/events/clear?route=nope", "", 400),
        ("POST", "/api/events/clear", CROSS_SITE, 403),
        ("POST", "/api/events/clear?route=ui", "", 200),
        ("POST", "/api/events/clear?route=ui&back=1", "", 303),
        ("POST", "/api/reset", CROSS_SITE, 403),
        ("POST", "/api/reset", "", 200),
    ] {
        let r = inbox(&s, method, target, None, extra);
        c.check(method, target, &r, status);
    }

    // Auth-only without a core, with one that refuses, with a full queue.
    let off = Server::start(&[]);
    let r = inbox(
        &off,
        "POST",
        "/api/auth-only",
        Some(r#"{"purpose":"p","auth_method":"m"}"#),
        "",
    );
    c.check("POST", "/api/auth-only", &r, 409);
    let refusing = Core::start(vec![("comm-test".into(), Key::ec(EC_PUBLIC))]);
    let s2 = Server::start(&[
        "--core-url",
        &refusing.url(),
        "--auth-only-key",
        SIGNING_KEY,
    ]);
    let r = inbox(
        &s2,
        "POST",
        "/api/auth-only",
        Some(r#"{"purpose":"p","auth_method":"m"}"#),
        "",
    );
    c.check("POST", "/api/auth-only", &r, 502);
    let stuck = format!("http://{}", hanging());
    let s3 = Server::start(&["--core-url", &stuck, "--auth-only-key", SIGNING_KEY]);
    let waiting: Vec<TcpStream> = (0..70)
        .map(|_| {
            let mut t = TcpStream::connect(s3.inbox()).unwrap();
            let body = r#"{"purpose":"p","auth_method":"m"}"#;
            let head = format!(
                "POST /api/auth-only HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                s3.inbox(),
                body.len()
            );
            t.write_all(head.as_bytes()).unwrap();
            t
        })
        .collect();
    let busy = waiting
        .into_iter()
        .rev()
        .map(|mut t| {
            t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            common::read_reply(&mut t)
        })
        .find(|r| r.status == 503)
        .expect("past 64 waiting, the queue to the core is full");
    c.check("POST", "/api/auth-only", &busy, 503);

    c.all_seen();
}

/// Whatever refused it (the `Host` rule, a 404, a 405), an `/api` error is
/// JSON `{"error", "field"}` with its status: a script never parses text.
#[test]
fn every_api_error_is_json_naming_the_field() {
    let s = Server::start(&[]);
    for (raw, status, field) in [
        (
            "GET /api/events HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".to_string(),
            421,
            Value::Null,
        ),
        (
            format!("GET /api/nope HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", s.inbox()),
            404,
            Value::Null,
        ),
        (
            format!("PUT /api/events HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", s.inbox()),
            405,
            Value::Null,
        ),
        (
            format!("GET /api/events?limit=0 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", s.inbox()),
            400,
            json!("limit"),
        ),
        (
            format!("GET /api/events/wait?timeout=18446744073709551616 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", s.inbox()),
            400,
            json!("timeout"),
        ),
    ] {
        let r = s.inbox_raw(raw.as_bytes());
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["field"], field, "{v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    // The page's own routes stay text: a person reads those.
    let r = s.inbox_request("GET", "/?limit=0");
    assert_eq!(r.status, 400);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
}

/// Every `/api` path the router names is in the document.
#[test]
fn the_document_names_every_api_route() {
    let doc: Value = serde_json::from_str(include_str!("../src/inbox/openapi.json")).unwrap();
    let router = include_str!("../src/inbox/api.rs");
    let mut named = BTreeSet::new();
    for (i, _) in router.match_indices("\"/api/") {
        let rest = &router[i + 1..];
        let path = &rest[..rest.find('"').unwrap()];
        if !path.ends_with('/') {
            named.insert(path.to_owned());
        }
    }
    assert!(named.len() >= 8, "{named:?}");
    for p in named {
        assert!(doc["paths"].get(&p).is_some(), "{p} is not in the document");
    }
    assert!(doc["paths"].get("/api/events/{id}").is_some());
    assert!(doc["paths"].get("/api/events/{id}/session").is_some());
}
