//! Authentication during communication, end to end against a stand-in
//! core (`common/core.rs`) that verifies our request as id-contact/core
//! does: the inbox's API, the citizen's button, what is journaled, and
//! the configuration that is refused.

mod common;
#[path = "common/core.rs"]
mod core;
#[path = "common/receiver.rs"]
mod receiver;

use common::{Reply, Server};
use core::{Core, Key};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

const RSA_PUBLIC: &str = include_str!("../keys/idcontact-test-rsa.pub.pem");
const EC_PUBLIC: &str = include_str!("../keys/idcontact-test-ec.pub.pem");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("{} {}", r.status, r.text()))
}

fn ask(s: &Server, body: &Value) -> Reply {
    s.inbox_post_json("/api/auth-only", &body.to_string())
}

fn server(core: &Core, key: &str, extra: &[&str]) -> Server {
    let mut args = vec![
        "--server-url",
        "http://comm.test",
        "--internal-url",
        "http://comm:8000",
        "--core-url",
    ];
    let url = core.url();
    args.push(&url);
    args.push("--auth-only-key");
    args.push(key);
    args.extend_from_slice(extra);
    Server::start(&args)
}

#[test]
fn the_core_verifies_our_rs256_request_and_its_client_url_comes_back() {
    let core = Core::start(vec![("comm-test".into(), Key::rsa(RSA_PUBLIC))]);
    let s = server(&core, "comm-test=keys/idcontact-test-rsa.key.pem", &[]);
    let before = now();
    let r = ask(
        &s,
        &json!({"purpose": "report_move", "auth_method": "irma"}),
    );
    let after = now();
    assert_eq!(r.status, 200, "{}", r.text());
    let got = json_of(&r);
    assert_eq!(got["client_url"], format!("{}/auth/1", core.url()));
    assert_eq!(got["answer_status"], 200);
    let seen = core.seen();
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    assert_eq!(
        (seen.content_type.as_str(), seen.accept.as_str()),
        ("application/jwt", "application/json")
    );
    assert_eq!(
        seen.header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "comm-test"})
    );
    assert_eq!(
        seen.verdict,
        Ok(json!({
            "purpose": "report_move",
            "auth_method": "irma",
            "comm_url": "http://comm.test/ui",
            "attr_url": "http://comm:8000/auth_result"
        }))
    );
    let claims = seen.claims.as_object().unwrap();
    let mut names: Vec<&String> = claims.keys().collect();
    names.sort();
    assert_eq!(names, ["exp", "iat", "request"]);
    let iat = seen.claims["iat"].as_u64().unwrap();
    assert!(
        (before..=after).contains(&iat),
        "iat {iat} not in {before}..={after}"
    );
    assert_eq!(seen.claims["exp"].as_u64().unwrap(), iat + 300);
    // Journaled, with what the core answered.
    let e = &json_of(&s.inbox_request("GET", "/api/events?route=auth_only"))["events"][0];
    assert_eq!(e["id"], got["event"]);
    assert_eq!(e["verdict"], "sent");
    assert_eq!(e["purpose"], "report_move");
    assert_eq!(e["client_url"], got["client_url"]);
    assert_eq!(
        (e["answer_status"].clone(), e["asked_by"].clone()),
        (json!(200), json!("inbox"))
    );
    // The log is written off the loop: wait for the line.
    let needle = "auth-only irma for report_move";
    let log = s.wait_log(needle);
    assert!(log.contains(needle), "{log}");
}

#[test]
fn an_es256_key_signs_es256_and_attr_url_is_left_out_when_not_offered() {
    let core = Core::start(vec![("ec".into(), Key::ec(EC_PUBLIC))]);
    let s = server(
        &core,
        "ec=keys/idcontact-test-ec.key.pem",
        &["--use-attr-url", "false"],
    );
    let r = ask(&s, &json!({"purpose": "p", "auth_method": "digid"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = &core.seen()[0];
    assert_eq!(seen.header["alg"], "ES256");
    assert_eq!(
        seen.verdict,
        Ok(json!({"purpose": "p", "auth_method": "digid", "comm_url": "http://comm.test/ui"}))
    );
}

/// A core that knows another key (or none by our kid) refuses: the API
/// says so with the core's status, and the journal records the failure.
#[test]
fn a_core_that_refuses_or_cannot_be_reached_is_a_502_naming_why() {
    let core = Core::start(vec![("comm-test".into(), Key::ec(EC_PUBLIC))]);
    let s = server(&core, "comm-test=keys/idcontact-test-rsa.key.pem", &[]);
    let r = ask(&s, &json!({"purpose": "p", "auth_method": "irma"}));
    assert_eq!(r.status, 502);
    assert_eq!(json_of(&r)["answer_status"], 400);
    assert!(json_of(&r)["error"]
        .as_str()
        .unwrap()
        .contains("answered 400 without a client_url: Bad Request"));
    assert_eq!(core.seen()[0].verdict, Err("bad signature".into()));
    let e = &json_of(&s.inbox_request("GET", "/api/events?route=auth_only"))["events"][0];
    assert_eq!(
        (e["verdict"].clone(), e["said"].clone()),
        (json!("failed"), json!("Bad Request"))
    );

    let gone = common::free_port();
    let s = Server::start(&[
        "--core-url",
        &format!("http://127.0.0.1:{gone}"),
        "--auth-only-key",
        "k=keys/idcontact-test-rsa.key.pem",
    ]);
    let r = ask(&s, &json!({"purpose": "p", "auth_method": "irma"}));
    assert_eq!(r.status, 502);
    assert!(
        json_of(&r)["error"]
            .as_str()
            .unwrap()
            .starts_with("no answer from the core: cannot connect"),
        "{}",
        r.text()
    );
}

/// Our own listeners are never a destination, whatever `--core-url` says.
#[test]
fn the_core_url_never_reaches_our_own_listeners() {
    let port = common::free_port();
    let s = Server::start(&[
        "--inbox",
        &format!("127.0.0.1:{port}"),
        "--core-url",
        &format!("http://127.0.0.1:{port}"),
        "--auth-only-key",
        "k=keys/idcontact-test-rsa.key.pem",
    ]);
    let r = ask(&s, &json!({"purpose": "p", "auth_method": "irma"}));
    assert_eq!(r.status, 502);
    assert!(
        json_of(&r)["error"]
            .as_str()
            .unwrap()
            .contains("one of this plugin's own listeners"),
        "{}",
        r.text()
    );
}

#[test]
fn a_request_the_core_cannot_take_is_refused_naming_the_field() {
    let core = Core::start(vec![]);
    let s = server(&core, "k=keys/idcontact-test-rsa.key.pem", &[]);
    for (body, field) in [
        (json!({"auth_method": "irma"}), "purpose"),
        (json!({"purpose": "p", "auth_method": 5}), "auth_method"),
        (json!({"purpose": "", "auth_method": "irma"}), "purpose"),
    ] {
        let r = ask(&s, &body);
        assert_eq!(
            (r.status, json_of(&r)["field"].clone()),
            (400, json!(field)),
            "{body}"
        );
    }
    assert!(core.seen().is_empty(), "nothing reached the core");
    let off = Server::start(&[]);
    let r = ask(&off, &json!({"purpose": "p", "auth_method": "irma"}));
    assert_eq!(r.status, 409);
    assert!(json_of(&r)["error"]
        .as_str()
        .unwrap()
        .contains("--core-url"));
}

#[test]
fn auth_only_configuration_that_would_do_nothing_is_refused() {
    for (args, said) in [
        (
            &["--core-url", "http://core:8000"][..],
            "--core-url needs --auth-only-key",
        ),
        (
            &["--auth-only-key", "k=keys/idcontact-test-rsa.key.pem"][..],
            "need --core-url",
        ),
        (
            &[
                "--core-url",
                "http://core:8000",
                "--auth-only-key",
                "keys/idcontact-test-rsa.key.pem",
            ][..],
            "takes KID=FILE",
        ),
        (
            &[
                "--core-url",
                "http://core:8000",
                "--auth-only-key",
                "k=keys/idcontact-test-rsa.pub.pem",
            ][..],
            "this is a public key",
        ),
        (
            &[
                "--core-url",
                "http://core:8000",
                "--auth-only-key",
                "k=keys/idcontact-test-rsa.key.pem",
                "--auth-only-method",
                "irma",
            ][..],
            "--ui is text",
        ),
    ] {
        let (code, err) = common::run_to_refusal(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(said), "{args:?}: {err}");
        common::assert_no_key_material(&err);
    }
}

/// The citizen's "Authenticate again": the session's purpose, our page
/// (with its session) as `comm_url`, the browser sent on to the core's
/// `client_url`; at most once per session every 10 s; cross-site refused.
#[test]
fn the_citizen_button_asks_for_the_sessions_purpose_at_most_once_per_10_s() {
    let core = Core::start(vec![("k".into(), Key::rsa(RSA_PUBLIC))]);
    let s = server(
        &core,
        "k=keys/idcontact-test-rsa.key.pem",
        &["--ui", "html", "--auth-only-method", "digid"],
    );
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"report_move"}"#,
    );
    let client_url = json_of(&r)["client_url"].as_str().unwrap().to_owned();
    let session = client_url
        .strip_prefix("http://comm.test/ui?session=")
        .expect(&client_url)
        .to_owned();
    let page = s
        .request("GET", &format!("/ui?session={session}"), None, b"")
        .text();
    assert!(page.contains("action=\"/ui/authenticate\""), "{page}");
    assert!(!s
        .request("GET", "/ui?session=unknown", None, b"")
        .text()
        .contains("/ui/authenticate"));
    let body = format!("session={session}");
    let press = |origin: Option<&str>| {
        let o = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
        s.raw(format!(
            "POST /ui/authenticate HTTP/1.1\r\nHost: comm.test\r\n{o}Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ).as_bytes())
    };
    assert_eq!(press(Some("http://evil.test")).status, 403);
    let r = press(Some("http://comm.test"));
    // On to the core's page, by a page (a form's cross-origin redirect
    // is stopped by our own `form-action 'self'`).
    let on = format!("{}/auth/1", core.url());
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(
        page.contains(&format!(
            "<meta http-equiv=\"refresh\" content=\"0;url={on}\">"
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!("<a id=\"continue\" href=\"{on}\">")),
        "{page}"
    );
    assert_eq!(
        core.seen()[0].verdict,
        Ok(json!({
            "purpose": "report_move",
            "auth_method": "digid",
            "comm_url": format!("http://comm.test/ui?session={session}"),
            "attr_url": "http://comm:8000/auth_result"
        }))
    );
    let r = press(None);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        core.seen().len(),
        1,
        "the second press did not reach the core"
    );
    let e = &json_of(&s.inbox_request("GET", "/api/events?route=auth_only"))["events"][0];
    assert_eq!(e["asked_by"], "citizen");
}

/// From the attacker's side of the inbox API: what the core is asked is
/// bounded per field, what it answers is read no further than 8 KiB, and
/// requests waiting for the sender are capped, the rest refused at once.
#[test]
fn requests_to_the_core_and_its_answers_are_bounded() {
    let core = Core::start(vec![]);
    let s = server(&core, "k=keys/idcontact-test-rsa.key.pem", &[]);
    let r = ask(
        &s,
        &json!({"purpose": "p".repeat(257), "auth_method": "irma"}),
    );
    assert_eq!(
        (r.status, json_of(&r)["field"].clone()),
        (400, json!("purpose"))
    );
    assert!(core.seen().is_empty());

    // A "core" whose answer is larger than a client_url could be.
    let big = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = big.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in big.incoming() {
            use std::io::{Read, Write};
            let mut c = c.unwrap();
            let mut head = [0u8; 4096];
            let _ = c.read(&mut head);
            let body = "x".repeat(9000);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let s = Server::start(&[
        "--core-url",
        &format!("http://{at}"),
        "--auth-only-key",
        "k=keys/idcontact-test-rsa.key.pem",
    ]);
    let r = ask(&s, &json!({"purpose": "p", "auth_method": "irma"}));
    assert_eq!(r.status, 502);
    assert_eq!(
        json_of(&r)["error"],
        "no answer from the core: answer body larger than expected"
    );
}

/// A core that never answers holds one request on the sender and 64 in
/// its queue; every further one is a 503 at once, never a thread or a
/// buffer more, and each caller still queued is answered 504 at its deadline.
#[test]
fn a_core_that_never_answers_fills_the_queue_and_no_more() {
    let core = receiver::Receiver::start(receiver::Answer::Never);
    let s = Server::start(&[
        "--core-url",
        &format!("http://{}", core.addr),
        "--auth-only-key",
        "k=keys/idcontact-test-rsa.key.pem",
    ]);
    let body = json!({"purpose": "p", "auth_method": "irma"}).to_string();
    let send = || {
        let mut c = std::net::TcpStream::connect(s.inbox()).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        use std::io::Write;
        write!(
            c,
            "POST /api/auth-only HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            s.inbox(),
            body.len()
        )
        .unwrap();
        c
    };
    let mut first = send();
    // The sender holds the first; the queue takes 64 more; 5 are refused.
    core.wait_for(1);
    let mut rest: Vec<_> = (0..69).map(|_| send()).collect();
    let answers: Vec<Reply> = rest.iter_mut().map(common::read_reply).collect();
    let refused: Vec<&Reply> = answers.iter().filter(|r| r.status == 503).collect();
    assert_eq!(
        refused.len(),
        5,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(
        json_of(refused[0])["error"],
        "64 requests to the core already waiting"
    );
    assert!(answers.iter().all(|r| matches!(r.status, 503 | 504)));
    // The one on the sender hears the client's deadline (10 s) first.
    let r = common::read_reply(&mut first);
    assert_eq!(
        (r.status, json_of(&r)["error"].clone()),
        (502, json!("no answer from the core: timed out"))
    );
    // One request at a time: the second only once the first timed out.
    assert!(core.seen().len() <= 2, "{:?}", core.seen());
}

/// A purpose no tag could be is not remembered for the citizen's button:
/// the start is answered, without a session.
#[test]
fn a_start_with_an_outsized_purpose_gets_no_session() {
    let core = Core::start(vec![]);
    let s = server(
        &core,
        "k=keys/idcontact-test-rsa.key.pem",
        &["--ui", "html", "--auth-only-method", "digid"],
    );
    let body = json!({"purpose": "p".repeat(2000)}).to_string();
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(json_of(&r)["client_url"], "http://comm.test/ui");
}

/// A session of the citizen's page, opened as anyone on the public side
/// can, and a press of its "Authenticate again" sent on its own
/// connection (answered later when it is queued).
fn press_in_new_session(s: &Server) -> std::net::TcpStream {
    use std::io::Write;
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"report_move"}"#,
    );
    let client_url = json_of(&r)["client_url"].as_str().unwrap().to_owned();
    let session = client_url.rsplit_once("session=").unwrap().1.to_owned();
    let body = format!("session={session}");
    let mut c = s.connect();
    write!(
        c,
        "POST /ui/authenticate HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    c
}

/// Red team: anyone on the public side could fill the 64 places toward
/// the core through the citizen's "Authenticate again" (sessions are free
/// to open), so the tester's own request got 503. The citizens hold at
/// most 8 places; the tester's request is queued behind them.
#[test]
fn citizens_cannot_take_the_places_the_testers_requests_need() {
    let core = receiver::Receiver::start(receiver::Answer::Never);
    let s = Server::start(&[
        "--server-url",
        "http://localhost",
        "--ui",
        "html",
        "--auth-only-method",
        "digid",
        "--core-url",
        &format!("http://{}", core.addr),
        "--auth-only-key",
        "k=keys/idcontact-test-rsa.key.pem",
    ]);
    let mut presses: Vec<_> = (0..70).map(|_| press_in_new_session(&s)).collect();
    // The tester's, after them all.
    let body = json!({"purpose": "p", "auth_method": "irma"}).to_string();
    let mut tester = std::net::TcpStream::connect(s.inbox()).unwrap();
    tester
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    {
        use std::io::Write;
        write!(
            tester,
            "POST /api/auth-only HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            s.inbox(),
            body.len()
        )
        .unwrap();
    }
    let answers: Vec<Reply> = presses.iter_mut().map(common::read_reply).collect();
    let busy: Vec<&Reply> = answers.iter().filter(|r| r.status == 503).collect();
    assert_eq!(
        busy.len(),
        62,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(
        json_of(busy[0])["error"],
        "the citizens' 8 places toward the core are taken"
    );
    // Queued, not refused: it waits its turn and hears its deadline.
    let r = common::read_reply(&mut tester);
    assert_ne!(r.status, 503, "{}", r.text());
    assert!(matches!(r.status, 502 | 504), "{} {}", r.status, r.text());
}

/// The citizens' requests to the core are bounded in total, whatever the
/// number of sessions: a burst of 8, then one a second.
#[test]
fn the_citizens_rate_toward_the_core_is_bounded_in_total() {
    let core = Core::start(vec![("k".into(), Key::rsa(RSA_PUBLIC))]);
    let s = server(
        &core,
        "k=keys/idcontact-test-rsa.key.pem",
        &[
            "--ui",
            "html",
            "--auth-only-method",
            "digid",
            "--server-url",
            "http://localhost",
        ],
    );
    let started = std::time::Instant::now();
    let answers: Vec<Reply> = (0..20)
        .map(|_| common::read_reply(&mut press_in_new_session(&s)))
        .collect();
    let took = started.elapsed().as_secs() as usize;
    let through = answers.iter().filter(|r| r.status == 200).count();
    let limited: Vec<&Reply> = answers.iter().filter(|r| r.status == 429).collect();
    assert_eq!(through + limited.len(), 20);
    // The burst, and at most one more for each second the run took.
    assert!(
        (8..=8 + took + 1).contains(&through),
        "{through} in {took} s"
    );
    assert!(!limited.is_empty());
    assert_eq!(
        json_of(limited[0])["error"],
        "the citizens' requests to the core are limited to one a second, all sessions together"
    );
    assert!(limited[0].header("retry-after").is_some());
    assert_eq!(core.seen().len(), through);
}
