//! Faults on demand, from the side of what the plugin serves: each kind
//! of fault as a client of the public routes meets it, set by `--fault`
//! or the inbox's `/api/faults`, and what the journal says of it.

mod common;

use common::{nothing_yet, read_reply, Reply, Server, SAMPLE, SAMPLE_TIME};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("{}", r.text()))
}

/// `POST /api/faults`, as a script sends it.
fn set_fault(s: &Server, fault: &Value) -> Reply {
    s.inbox_post_json("/api/faults", &fault.to_string())
}

fn start(s: &Server) -> Reply {
    s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"report_move"}"#,
    )
}

/// The journal's newest event.
fn newest(s: &Server) -> Value {
    let r = s.inbox_request("GET", "/api/events?limit=1");
    json_of(&r)["events"][0].clone()
}

/// Sends a request on its own connection and leaves it to be answered.
fn send(s: &Server, request: &str) -> TcpStream {
    let mut c = s.connect();
    c.write_all(request.as_bytes()).unwrap();
    c
}

/// Waits until the journal holds `n` events (each request is one).
fn wait_events(s: &Server, n: u64) {
    let r = s.inbox_request(
        "GET",
        &format!("/api/events/wait?after={}&timeout=30", n - 1),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_status_fault_answers_the_next_n_requests_then_the_usual_answer_returns() {
    let s = Server::start(&[
        "--fault",
        "ui:status=503,times=2,body=down, for maintenance",
    ]);
    assert!(s.log().contains(", faults: ui status 503\n"), "{}", s.log());
    for _ in 0..2 {
        let r = s.request("GET", "/ui", None, b"");
        assert_eq!((r.status, r.text()), (503, "down, for maintenance".into()));
        assert_eq!(
            r.header("content-type").unwrap(),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
    }
    let r = s.request("GET", "/ui", None, b"");
    assert_eq!(
        (r.status, r.text()),
        (200, "Communication plugin UI".into())
    );
    let e = newest(&s);
    assert_eq!(e["request"]["http_status"], 200);
    assert!(e["request"].get("fault").is_none(), "{e}");
    let faulted = &json_of(&s.inbox_request("GET", "/api/events?limit=3"))["events"][1];
    assert_eq!(faulted["request"]["http_status"], 503);
    assert_eq!(faulted["request"]["fault"], "status 503");
    // Not just "fault": the start-up line names the faults too.
    let log = s.wait_log("GET /ui 503 ");
    let line = log
        .lines()
        .find(|l| l.contains("GET /ui 503 "))
        .unwrap_or("");
    assert!(line.ends_with("fault=\"status 503\""), "{log}");
}

/// A fault replaces only the answer: the token is decoded, journaled with
/// the fault it got, and remembered, so its next arrival is a replay.
#[test]
fn a_token_under_a_fault_is_still_decoded_journaled_and_remembered() {
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    let r = set_fault(
        &s,
        &json!({"route": "auth_result", "status": 500, "body": "{\"error\":\"boom\"}", "times": 1}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        json_of(&r),
        json!({"route": "auth_result", "status": 500, "body": "{\"error\":\"boom\"}", "delay_ms": 0, "times": 1})
    );
    let r = s.post_token(SAMPLE);
    assert_eq!((r.status, r.text()), (500, "{\"error\":\"boom\"}".into()));
    assert_eq!(r.header("content-type").unwrap(), "application/json");
    let e = newest(&s);
    assert_eq!(e["verdict"], "accepted", "{e}");
    assert_eq!(e["claims"]["attributes"], json!({"email": "bla"}), "{e}");
    assert_eq!(e["request"]["http_status"], 500);
    assert_eq!(e["request"]["fault"], "status 500");
    // Used up; the second arrival is the usual answer, and a replay.
    let r = s.post_token(SAMPLE);
    assert_eq!((r.status, r.text()), (200, "accepted\n".into()));
    assert_eq!(newest(&s)["verdict"], "replay");
    assert_eq!(
        json_of(&s.inbox_request("GET", "/api/faults")),
        json!({"faults": []})
    );
}

/// A delay is a timer: while one start waits, another client is served.
#[test]
fn a_delayed_answer_keeps_its_answer_while_others_are_served() {
    let s = Server::start(&[]);
    let usual = start(&s);
    assert_eq!(usual.status, 200);
    let r = set_fault(
        &s,
        &json!({"route": "start_communication", "delay_ms": 2000}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r#"{"purpose":"report_move"}"#;
    let mut late = send(
        &s,
        &format!(
            "POST /start_communication HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    wait_events(&s, 2);
    // Journaled at once, answered later; meanwhile the loop serves others.
    let other = s.request("GET", "/ui", None, b"");
    assert_eq!(other.status, 200);
    assert!(
        nothing_yet(&late),
        "the delayed answer came before the other one"
    );
    let r = read_reply(&mut late);
    assert_eq!((r.status, r.body), (200, usual.body));
    let events = json_of(&s.inbox_request("GET", "/api/events?route=start_communication"));
    assert_eq!(
        events["events"][0]["request"]["fault"],
        "the usual answer after 2000 ms"
    );
}

#[test]
fn a_close_fault_drops_the_connection_without_an_answer() {
    let s = Server::start(&["--fault", "auth_result:close", "--clock", SAMPLE_TIME]);
    let mut c = s.connect();
    write!(
        c,
        "POST /auth_result HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{SAMPLE}",
        SAMPLE.len()
    )
    .unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"", "closed without a byte");
    let e = newest(&s);
    assert_eq!(e["verdict"], "accepted");
    assert_eq!(
        (
            e["request"]["http_status"].clone(),
            e["request"]["fault"].clone()
        ),
        (json!(0), json!("close"))
    );
    // Until cleared: the next one too.
    assert_eq!(s.post_token(SAMPLE).status, 0);
    let r = s.inbox_request("DELETE", "/api/faults?route=auth_result");
    assert_eq!(json_of(&r), json!({"cleared": ["auth_result"]}));
    assert_eq!(s.post_token(SAMPLE).status, 200);
}

#[test]
fn start_communication_can_answer_malformed_json_or_leave_out_client_url() {
    let s = Server::start(&[
        "--server-url",
        "http://comm.test",
        "--internal-url",
        "http://comm:8000",
        "--fault",
        "start_communication:answer=malformed_json,times=1",
    ]);
    let r = start(&s);
    assert_eq!(
        (r.status, r.text()),
        (200, r#"{"client_url":"http://comm.test/ui""#.into())
    );
    assert_eq!(r.header("content-type").unwrap(), "application/json");
    let r = set_fault(
        &s,
        &json!({"route": "start_communication", "answer": "no_client_url"}),
    );
    assert_eq!(r.status, 201);
    let r = start(&s);
    assert_eq!(
        (r.status, r.text()),
        (200, r#"{"attr_url":"http://comm:8000/auth_result"}"#.into())
    );
    // The route still did its work: both starts are in the journal.
    let events = json_of(&s.inbox_request("GET", "/api/events?route=start_communication"));
    let faults: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["request"]["fault"])
        .collect();
    assert_eq!(faults, [&json!("no client_url"), &json!("malformed JSON")]);
}

#[test]
fn a_fault_that_cannot_be_met_is_refused_naming_the_field() {
    let s = Server::start(&[]);
    for (fault, field) in [
        (json!({"route": "chat", "status": 500}), "route"),
        (json!({"route": "ui", "status": 600}), "status"),
        (json!({"route": "ui", "status": 99}), "status"),
        (json!({"route": "ui", "delay_ms": 60_001}), "delay_ms"),
        (
            json!({"route": "ui", "close": true, "status": 500}),
            "close",
        ),
        (json!({"route": "ui", "answer": "malformed_json"}), "answer"),
        (json!({"route": "ui", "colour": "red"}), "colour"),
    ] {
        let r = set_fault(&s, &fault);
        assert_eq!(r.status, 400, "{fault}");
        assert_eq!(json_of(&r)["field"], field, "{fault}: {}", r.text());
    }
    // Nothing was set by any of them.
    assert_eq!(
        json_of(&s.inbox_request("GET", "/api/faults")),
        json!({"faults": []})
    );
    // One per route: a second replaces the first.
    set_fault(&s, &json!({"route": "ui", "status": 500}));
    set_fault(&s, &json!({"route": "ui", "status": 502}));
    set_fault(
        &s,
        &json!({"route": "auth_result", "close": true, "delay_ms": 10}),
    );
    assert_eq!(
        json_of(&s.inbox_request("GET", "/api/faults")),
        json!({"faults": [
            {"route": "ui", "status": 502, "body": "", "delay_ms": 0, "times": null},
            {"route": "auth_result", "close": true, "delay_ms": 10, "times": null}
        ]})
    );
    let r = s.inbox_request("DELETE", "/api/faults?route=nope");
    assert_eq!(
        (r.status, json_of(&r)["field"].clone()),
        (400, json!("route"))
    );
    let r = s.inbox_request("DELETE", "/api/faults");
    assert_eq!(json_of(&r), json!({"cleared": ["ui", "auth_result"]}));
}

#[test]
fn a_fault_that_cannot_be_met_at_start_is_one_line_and_exit_2() {
    for (spec, said) in [
        (
            "ui:delay_ms=90000",
            "--fault \"ui:delay_ms=90000\": delay_ms: 90000 is over 60000",
        ),
        ("chat:close", "route: \"chat\" is none of"),
        ("ui", "status: a fault needs"),
    ] {
        let (code, err) = common::run_to_refusal(&["--fault", spec]);
        assert_eq!(code, 2, "{spec}");
        assert!(err.contains(said), "{spec}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let (code, err) = common::run_to_refusal(&["--fault", "ui:close", "--fault", "ui:status=500"]);
    assert_eq!(code, 2);
    assert!(err.contains("two faults on ui"), "{err}");
}

/// Delayed connections are connections: they count against the cap, and
/// a newcomer past it takes one's place rather than exceed it.
#[test]
fn delayed_connections_count_against_the_connection_cap() {
    let s = Server::start(&["--max-connections", "4", "--fault", "ui:delay_ms=60000"]);
    let held: Vec<TcpStream> = (0..4)
        .map(|_| send(&s, "GET /ui HTTP/1.1\r\nHost: localhost\r\n\r\n"))
        .collect();
    wait_events(&s, 4);
    let r = s.request("GET", "/healthz", None, b"");
    assert_eq!(r.status, 200);
    let closed = held.iter().filter(|c| !nothing_yet(c)).count();
    assert_eq!(
        closed, 1,
        "exactly one delayed connection gave way to the fifth"
    );
}

/// Regression: a delayed answer the client gave up on (curl
/// `--max-time 5` against a 6 s delay) was journaled `200 0 ms`. It is
/// journaled as not delivered, 499 as nginx logs it, with the time until
/// the client left; one that was waited for says the time until it went.
/// Both survive a restart through the journal file.
#[test]
fn a_delayed_answer_whose_client_left_first_is_journaled_499() {
    let dir = std::env::temp_dir().join(format!("comm-test-499-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("journal.jsonl");
    let path = file.to_str().unwrap();
    let s = Server::start(&["--journal-file", path]);
    let r = set_fault(&s, &json!({"route": "ui", "delay_ms": 60000, "times": 1}));
    assert_eq!(r.status, 201, "{}", r.text());
    let impatient = send(&s, "GET /ui HTTP/1.1\r\nHost: localhost\r\n\r\n");
    wait_events(&s, 1);
    assert_eq!(
        newest(&s)["request"]["http_status"],
        200,
        "meant to answer 200"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(impatient);
    // The loop sees the close on its next turn.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let e = loop {
        let e = json_of(&s.inbox_request("GET", "/api/events/1"));
        if e["request"]["http_status"] != 200 || std::time::Instant::now() > deadline {
            break e;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(e["request"]["http_status"], 499, "{e}");
    let ms = e["request"]["ms"].as_u64().unwrap();
    assert!((300..60_000).contains(&ms), "until it left: {ms} ms");
    assert!(s
        .wait_log("event #1: the client closed its connection")
        .contains("not delivered (499)"));

    // Waited for: 200, and the time until it went.
    let r = set_fault(&s, &json!({"route": "ui", "delay_ms": 700, "times": 1}));
    assert_eq!(r.status, 201);
    let mut patient = send(
        &s,
        "GET /ui HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(read_reply(&mut patient).status, 200);
    let e = json_of(&s.inbox_request("GET", "/api/events/2"));
    assert_eq!(e["request"]["http_status"], 200);
    assert!(e["request"]["ms"].as_u64().unwrap() >= 700, "{e}");
    drop(s);

    let again = Server::start(&["--journal-file", path]);
    let back = |id| {
        let r = again.inbox_request(
            "GET",
            &format!("/api/events/wait?after={}&timeout=10", id - 1),
        );
        json_of(&r)["request"].clone()
    };
    assert_eq!(back(1)["http_status"], 499);
    assert_eq!(back(2)["http_status"], 200);
    assert!(back(2)["ms"].as_u64().unwrap() >= 700);
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}
