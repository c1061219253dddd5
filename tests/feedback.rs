//! Session feedback to a loopback receiver that records what it
//! gets: `user_active` on an accepted result, `logout` and `user_active`
//! from the inbox, the citizen page's Logout form, refusals, time-outs.

mod common;
use common::Server;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
#[path = "common/mint.rs"]
mod mint;
#[path = "common/receiver.rs"]
mod receiver;
use receiver::{Answer, Receiver};

fn token(session_url: Option<&str>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = json!({"sub": "id-contact-attributes", "status": "succes",
        "attributes": {"email": "citizen@example.nl"}, "iat": now, "exp": now + 300});
    if let Some(u) = session_url {
        claims["session_url"] = json!(u);
    }
    mint::encrypt(
        &json!({"alg": "RSA-OAEP", "enc": "A128CBC-HS256"}),
        &mint::sign(
            &json!({"alg": "RS256"}),
            &claims,
            include_str!("../keys/idcontact-test-rsa.key.pem"),
        ),
        include_str!("../keys/idcontact-test-rsa.pub.pem"),
    )
}

/// Session entries in the journal now (no waiting).
fn session_count(s: &Server) -> usize {
    let r = s.inbox_request("GET", "/api/events?route=session");
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["events"].as_array().unwrap().len()
}

fn session_events(s: &Server) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = s.inbox_request("GET", "/api/events?route=session");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let events = v["events"].as_array().unwrap().clone();
        if !events.is_empty() || Instant::now() > deadline {
            return events;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exactly_one_user_active_per_accepted_result_with_a_session_url() {
    let rx = Receiver::start(Answer::Status(200));
    let s = Server::start(&["--session-feedback", &rx.addr.to_string()]);
    let t = token(Some(&rx.session_url()));
    assert_eq!(s.post_token(&t).status, 200);
    assert_eq!(
        rx.wait_for(1),
        ["POST /session/update?sid=s3cr3t&type=user_active HTTP/1.1"]
    );
    // The same result again is a replay: the same session, no second send.
    assert_eq!(s.post_token(&t).status, 200);
    // A result without a session_url sends nothing.
    assert_eq!(s.post_token(&token(None)).status, 200);
    assert_eq!(rx.wait_for(2).len(), 1);
    let events = session_events(&s);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (
            &e["type"],
            &e["verdict"],
            &e["answer_status"],
            &e["for_event"]
        ),
        (
            &json!("user_active"),
            &json!("sent"),
            &json!(200),
            &json!(1)
        )
    );
    assert_eq!(
        e["url"],
        format!(
            "http://{}/session/update?sid=s3cr3t&type=user_active",
            rx.addr
        ),
        "the inbox, the tester's own, shows the URL whole"
    );
    let log = s.wait_log("session feedback user_active");
    assert!(
        log.contains(&format!(
            "session feedback user_active http://{}/session/update?sid=…&type=…: answered 200 in ",
            rx.addr
        )),
        "{log}"
    );
    let line = log
        .lines()
        .find(|l| l.contains("session feedback"))
        .unwrap();
    assert!(
        !line.contains("s3cr3t"),
        "the session URL's query stays out of the feedback line"
    );
}

#[test]
fn off_by_default_nothing_is_sent() {
    let rx = Receiver::start(Answer::Status(200));
    let s = Server::start(&[]);
    assert_eq!(s.post_token(&token(Some(&rx.session_url()))).status, 200);
    let r = s.inbox_request("POST", "/api/events/1/session?type=logout");
    assert_eq!(
        (r.status, r.said().as_str()),
        (
            409,
            "session feedback is off (start with --session-feedback HOST[:PORT])"
        )
    );
    assert!(rx.wait_for(1).is_empty());
}

#[test]
fn logout_and_user_active_from_the_inbox() {
    let rx = Receiver::start(Answer::Status(204));
    let s = Server::start(&["--session-feedback", "127.0.0.1"]);
    assert_eq!(s.post_token(&token(Some(&rx.session_url()))).status, 200);
    assert_eq!(s.post_token(&token(None)).status, 200);
    rx.wait_for(1);
    let r = s.inbox_request("POST", "/api/events/1/session?type=logout");
    assert_eq!(
        (r.status, r.text().as_str()),
        (202, r#"{"queued":true,"type":"logout","for_event":1}"#)
    );
    let r = s.inbox_request("POST", "/api/events/1/session?type=user_active&back=1");
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (303, Some("/")),
        "the page's form"
    );
    assert_eq!(
        rx.wait_for(3),
        [
            "POST /session/update?sid=s3cr3t&type=user_active HTTP/1.1",
            "POST /session/update?sid=s3cr3t&type=logout HTTP/1.1",
            "POST /session/update?sid=s3cr3t&type=user_active HTTP/1.1",
        ]
    );
    for (target, status, reason) in [
        (
            "/api/events/1/session?type=bye",
            400,
            "type must be user_active or logout",
        ),
        (
            "/api/events/99/session?type=logout",
            404,
            "no entry 99 in the journal",
        ),
        (
            "/api/events/2/session?type=logout",
            409,
            "entry 2 has no session_url",
        ),
    ] {
        let r = s.inbox_request("POST", target);
        assert_eq!((r.status, r.said().as_str()), (status, reason), "{target}");
    }
    // The page offers the buttons for the entry with a session_url only.
    let page = s.inbox_request("GET", "/").text();
    assert_eq!(page.matches("Send logout").count(), 1);
    assert!(page.contains("action=\"/api/events/1/session?type=logout&amp;back=1\""));
}

#[test]
fn the_citizen_page_logout_form() {
    let rx = Receiver::start(Answer::Status(200));
    let s = Server::start(&["--ui", "html", "--session-feedback", &rx.addr.to_string()]);
    let t = token(Some(&rx.session_url()));
    let r = s.request("GET", &format!("/ui?result={t}"), None, b"");
    assert_eq!(
        (r.status, r.header("content-type").as_deref()),
        (200, Some("text/html; charset=utf-8"))
    );
    let html = r.text();
    assert!(
        html.contains("<tr><th>email</th><td>citizen@example.nl</td></tr>"),
        "{html}"
    );
    assert!(
        !html.contains("s3cr3t") && !html.contains(&t),
        "neither the session URL nor the token"
    );
    let key = html
        .split("name=\"key\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(key.len(), 32);
    let r = s.request(
        "POST",
        "/ui/logout",
        Some("application/x-www-form-urlencoded"),
        format!("key={key}").as_bytes(),
    );
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (303, Some("/ui?logout=queued"))
    );
    assert_eq!(
        rx.wait_for(2),
        [
            "POST /session/update?sid=s3cr3t&type=user_active HTTP/1.1",
            "POST /session/update?sid=s3cr3t&type=logout HTTP/1.1",
        ]
    );
    let r = s.request("GET", "/ui?logout=queued", None, b"");
    assert!(r
        .text()
        .contains("Logout queued: it is on its way to the authentication plugin"));
    // No notice claims a logout went out before it did.
    let r = s.request("GET", "/ui?logout=sent", None, b"");
    assert!(!r.text().contains("Logout"));
    let r = s.request(
        "POST",
        "/ui/logout",
        None,
        b"key=00000000000000000000000000000000",
    );
    assert_eq!(r.status, 404);
    // Text mode: GET /ui is the sample's, and there is no logout route.
    let s = Server::start(&[]);
    assert_eq!(
        s.request("GET", "/ui", None, b"").text(),
        "Communication plugin UI"
    );
    assert_eq!(s.request("POST", "/ui/logout", None, b"key=x").status, 404);
}

#[test]
fn a_destination_outside_the_list_is_refused_and_journaled() {
    let rx = Receiver::start(Answer::Status(200));
    let s = Server::start(&["--session-feedback", "auth-test:8000"]);
    assert_eq!(s.post_token(&token(Some(&rx.session_url()))).status, 200);
    let events = session_events(&s);
    assert_eq!(events.len(), 1);
    assert_eq!(
        (&events[0]["verdict"], &events[0]["error"]),
        (
            &json!("failed"),
            &json!(format!(
                "refused: 127.0.0.1:{} is not in --session-feedback",
                rx.addr.port()
            ))
        )
    );
    assert!(rx.wait_for(1).is_empty(), "no connection made");
    assert!(s
        .wait_log("is not in --session-feedback")
        .contains("session feedback user_active"));
}

#[test]
fn a_receiver_that_never_answers_costs_the_loop_nothing() {
    let rx = Receiver::start(Answer::Never);
    let s = Server::start(&["--session-feedback", "127.0.0.1"]);
    assert_eq!(s.post_token(&token(Some(&rx.session_url()))).status, 200);
    // Asserted on order, not time: `GET /ui` is answered, again and
    // again, while the attempt is still waiting on the receiver (it is
    // journaled only when its 3 s deadline has passed).
    rx.wait_for(1);
    let mut answered_while_waiting = 0;
    while session_count(&s) == 0 && answered_while_waiting < 20 {
        assert_eq!(s.request("GET", "/ui", None, b"").status, 200);
        answered_while_waiting += 1;
    }
    assert_eq!(session_count(&s), 0, "the attempt was still waiting");
    assert_eq!(answered_while_waiting, 20);
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let e = session_events(&s);
        if !e.is_empty() || Instant::now() > deadline {
            break e;
        }
    };
    assert_eq!(
        (&events[0]["verdict"], &events[0]["error"]),
        (&json!("failed"), &json!("timed out"))
    );
    assert!(events[0]["latency_ms"].as_u64().unwrap() >= 2900);
}

#[test]
fn a_500_from_the_receiver_is_logged_as_such() {
    let rx = Receiver::start(Answer::Status(500));
    let s = Server::start(&["--session-feedback", "127.0.0.1"]);
    assert_eq!(s.post_token(&token(Some(&rx.session_url()))).status, 200);
    let events = session_events(&s);
    assert_eq!(
        (&events[0]["verdict"], &events[0]["answer_status"]),
        (&json!("failed"), &json!(500))
    );
    assert!(s.wait_log("answered 500").contains(": answered 500 in "));
}

/// A page on another site can make the tester's browser POST a plain form
/// to the inbox; with an `Origin` that is not the inbox it is refused, so
/// no other site can end a session or empty the journal.
#[test]
fn cross_site_form_posts_to_the_inbox_are_refused() {
    let rx = Receiver::start(Answer::Status(200));
    let s = Server::start(&["--session-feedback", "127.0.0.1"]);
    assert_eq!(s.post_token(&token(Some(&rx.session_url()))).status, 200);
    rx.wait_for(1);
    let inbox = s.inbox();
    let post = |origin: &str, target: &str, method: &str| {
        s.inbox_raw(
            format!(
                "{method} {target} HTTP/1.1\r\nHost: {inbox}\r\nOrigin: {origin}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    for (origin, method, target, why) in [
        (
            "https://evil.example",
            "POST",
            "/api/events/1/session?type=logout&back=1",
            "Origin is not this listener",
        ),
        (
            "null",
            "POST",
            "/api/events/1/session?type=logout",
            "Origin: null is never same-origin",
        ),
        (
            "http://evil.example",
            "DELETE",
            "/api/events",
            "Origin is not this listener",
        ),
    ] {
        let r = post(origin, target, method);
        assert_eq!(
            (r.status, r.said()),
            (403, format!("cross-site request refused ({why})")),
            "{origin} {method} {target}"
        );
    }
    assert_eq!(rx.wait_for(2).len(), 1, "no logout sent");
    // The inbox's own page (same origin) and scripts (no Origin) pass.
    let r = post(
        &format!("http://{inbox}"),
        "/api/events/1/session?type=logout&back=1",
        "POST",
    );
    assert_eq!(r.status, 303);
    assert_eq!(
        s.inbox_request("POST", "/api/events/1/session?type=user_active")
            .status,
        202
    );
    assert_eq!(rx.wait_for(3).len(), 3);
}

fn token_with_session(url: &str) -> String {
    token(Some(url))
}

fn logout_key(html: &str) -> String {
    html.split("name=\"key\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

/// Regression: with an allow-list that covers the inbox, a token whose
/// `session_url` pointed at the inbox's own session route logged out
/// another citizen; pointed at its own entry it looped 200 times.
#[test]
fn feedback_never_reaches_our_own_listeners() {
    let rx = Receiver::start(Answer::Status(200));
    let s = Server::start(&["--session-feedback", "*"]);
    // A citizen's result, with a real session.
    assert_eq!(s.post_token(&token(Some(&rx.session_url()))).status, 200);
    rx.wait_for(1);
    let inbox = s.inbox();
    for target in [
        format!("http://{inbox}/api/events/1/session?type=logout"),
        format!("http://localhost:{}/api/events/2/session", inbox.port()),
        format!("http://[::ffff:127.0.0.1]:{}/x", inbox.port()),
        format!("http://0.0.0.0:{}/ui", s.addr.port()),
        format!("http://{}/auth_result", s.addr),
    ] {
        assert_eq!(s.post_token(&token(Some(&target))).status, 200, "{target}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        let events = session_events(&s);
        let refused: Vec<Value> = events
            .into_iter()
            .filter(|e| {
                e["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("own listeners"))
            })
            .collect();
        if refused.len() >= 5 || Instant::now() > deadline {
            break refused;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(refused.len(), 5, "{refused:?}");
    assert!(
        refused[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("refused: 127.0.0.1:"),
        "{refused:?}"
    );
    // The citizen's session got its one user_active, and no logout.
    assert_eq!(
        rx.wait_for(2),
        ["POST /session/update?sid=s3cr3t&type=user_active HTTP/1.1"]
    );
    // Nothing looped: one attempt per result.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(session_events(&s).len(), 6);
}

/// Regression: `?type=` was appended after the URL's own query or fragment:
/// `POST /s?type=logout&type=user_active`, `POST /f#frag?type=user_active`.
#[test]
fn exactly_one_type_and_no_fragment_on_the_wire() {
    let rx = Receiver::start(Answer::Status(200));
    let s = Server::start(&["--session-feedback", &rx.addr.to_string()]);
    let a = rx.addr;
    assert_eq!(
        s.post_token(&token(Some(&format!("http://{a}/s?type=logout"))))
            .status,
        200
    );
    rx.wait_for(1);
    assert_eq!(
        s.post_token(&token(Some(&format!("http://{a}/f#frag"))))
            .status,
        200
    );
    assert_eq!(
        rx.wait_for(2),
        [
            "POST /s?type=user_active HTTP/1.1",
            "POST /f?type=user_active HTTP/1.1"
        ]
    );
}

/// Regression: `--session-feedback 127.0.0.1/session/only` was accepted and
/// the path silently dropped.
#[test]
fn an_allow_list_entry_with_a_path_is_exit_2() {
    for (value, says) in [
        (
            "127.0.0.1/session/only",
            "an entry allows a host, never a path",
        ),
        (
            "http://auth-test:8000",
            "without the scheme, e.g. \"auth-test:8000\"",
        ),
    ] {
        let (code, err) = common::run_to_refusal(&["--session-feedback", value]);
        assert_eq!(code, 2, "{value}");
        assert!(err.contains(says) && err.lines().count() == 1, "{err}");
    }
}

/// Regression: 200 garbage results (0.02 s, no keys needed) evicted the entry,
/// and the citizen's Logout then answered 404 "unknown session"; one key
/// posted 3 times with a foreign `Origin` sent 3 logouts.
#[test]
fn a_logout_key_outlives_a_flood_works_once_and_refuses_other_sites() {
    let rx = Receiver::start(Answer::Status(200));
    let s = Server::start(&[
        "--ui",
        "html",
        "--journal-size",
        "5",
        "--session-feedback",
        &rx.addr.to_string(),
    ]);
    let t = token_with_session(&rx.session_url());
    let key = logout_key(
        &s.request("GET", &format!("/ui?result={t}"), None, b"")
            .text(),
    );
    for _ in 0..200 {
        assert_eq!(s.post_token("garbage").status, 400);
    }
    let post = |extra: &str| {
        let body = format!("key={key}");
        s.raw(
            format!(
                "POST /ui/logout HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let r = post("Origin: https://evil.example\r\n");
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            403,
            "cross-site request refused (Origin is not this listener)\n"
        )
    );
    let r = post("Sec-Fetch-Site: cross-site\r\nOrigin: null\r\n");
    assert_eq!(r.status, 403);
    // The page's own form in Chromium: Origin null (no-referrer), and
    // Sec-Fetch-Site same-origin.
    let r = post("Sec-Fetch-Site: same-origin\r\nOrigin: null\r\n");
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (303, Some("/ui?logout=queued"))
    );
    let r = post("");
    assert_eq!(r.status, 404, "a key works once");
    assert_eq!(
        rx.wait_for(3),
        [
            "POST /session/update?sid=s3cr3t&type=user_active HTTP/1.1",
            "POST /session/update?sid=s3cr3t&type=logout HTTP/1.1",
        ]
    );
}

/// Regression: with `--journal-size 1` and a refused feedback attempt, the page
/// said "No result came with this page." while the log said `accepted`:
/// it was rendered from the journal, which the refusal had overwritten.
#[test]
fn the_citizen_page_shows_the_result_it_decoded() {
    let s = Server::start(&[
        "--ui",
        "html",
        "--journal-size",
        "1",
        "--session-feedback",
        "nowhere.example",
    ]);
    let t = token_with_session("http://127.0.0.1:9/s");
    let html = s
        .request("GET", &format!("/ui?result={t}"), None, b"")
        .text();
    assert!(
        html.contains("Authentication result: <strong>succes</strong>"),
        "{html}"
    );
    assert!(html.contains("<tr><th>email</th><td>citizen@example.nl</td></tr>"));
    assert!(!html.contains("No result came with this page."));
}

/// Regression: the feedback line left out the URL's query, but the
/// `POST /auth_result` line just before printed `session_url` whole.
#[test]
fn a_session_secret_is_redacted_in_every_log_line_and_format() {
    for format in ["text", "json"] {
        let rx = Receiver::start(Answer::Status(200));
        let s = Server::start(&[
            "--log-format",
            format,
            "--session-feedback",
            &rx.addr.to_string(),
        ]);
        assert_eq!(s.post_token(&token(Some(&rx.session_url()))).status, 200);
        rx.wait_for(1);
        let log = s.wait_log("session feedback user_active");
        assert!(!log.contains("s3cr3t"), "{log}");
        assert!(log.contains("/session/update?sid=…"), "{log}");
        // The inbox, the tester's own, shows it whole.
        let e = &session_events(&s)[0];
        assert!(e["url"].as_str().unwrap().contains("sid=s3cr3t"));
    }
}
