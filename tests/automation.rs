//! The inbox as the sink a deployment's automated tests assert on: wait
//! for the next matching result, read one event, search, delete by
//! search, and forget replays, all over HTTP as a CI script would.

mod common;
#[path = "common/mint.rs"]
mod mint;

use common::{nothing_yet, Server, SAMPLE, SAMPLE_TIME};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{SystemTime, UNIX_EPOCH};

const RSA_PRIVATE: &str = include_str!("../keys/idcontact-test-rsa.key.pem");
const RSA_PUBLIC: &str = include_str!("../keys/idcontact-test-rsa.pub.pem");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh result with these attributes, valid now.
fn result_for(attributes: Value) -> String {
    let mut claims = mint::claims(now());
    claims["attributes"] = attributes;
    let jws = mint::sign(&json!({}), &claims, RSA_PRIVATE);
    mint::encrypt(&json!({}), &jws, RSA_PUBLIC)
}

fn json_of(r: &common::Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("{}", r.text()))
}

/// A wait request sent on its own connection, answered later.
fn start_wait(s: &Server, query: &str) -> TcpStream {
    let mut c = TcpStream::connect(s.inbox()).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(70)))
        .unwrap();
    write!(
        c,
        "GET /api/events/wait?{query} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s.inbox()
    )
    .unwrap();
    c
}

#[test]
fn a_waiter_gets_the_next_result_its_filters_match_and_nothing_before() {
    let s = Server::start(&[]);
    let last = json_of(&s.inbox_request("GET", "/api/events?limit=1"))["last_id"]
        .as_u64()
        .unwrap();
    let mut waiter = start_wait(
        &s,
        &format!("after={last}&timeout=30&verdict=accepted&attr.email=wanted%40example.nl"),
    );
    // Not these: another address, and a refusal.
    assert_eq!(
        s.post_token(&result_for(json!({"email": "other@example.nl"})))
            .status,
        200
    );
    assert_eq!(s.post_token("a.b.c").status, 400);
    // The server has journaled both (they are listed) and the waiter is
    // still waiting.
    let listed = json_of(&s.inbox_request("GET", "/api/events"));
    assert_eq!(listed["last_id"].as_u64().unwrap(), last + 2);
    assert!(nothing_yet(&waiter), "answered before its match arrived");
    assert_eq!(
        s.post_token(&result_for(json!({"email": "wanted@example.nl"})))
            .status,
        200
    );
    let r = common::read_reply(&mut waiter);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let e = json_of(&r);
    assert_eq!(e["id"].as_u64().unwrap(), last + 3);
    assert_eq!(e["claims"]["attributes"]["email"], "wanted@example.nl");
    assert_eq!(e["verdict"], "accepted");
}

#[test]
fn a_match_already_journaled_is_answered_at_once_and_the_oldest_first() {
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    assert_eq!(s.post_token(SAMPLE).status, 200);
    assert_eq!(s.post_token(SAMPLE).status, 200);
    let r = s.inbox_request("GET", "/api/events/wait?after=0&route=auth_result");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r)["id"], 1);
    let r = s.inbox_request("GET", "/api/events/wait?after=1&verdict=replay");
    assert_eq!(json_of(&r)["id"], 2);
}

#[test]
fn a_waiter_with_no_match_in_time_gets_204() {
    let s = Server::start(&[]);
    let r = s.inbox_request("GET", "/api/events/wait?timeout=1&q=nothing-like-this");
    assert_eq!((r.status, r.body.len()), (204, 0));
    // The loop was not held up meanwhile, nor after.
    assert_eq!(s.inbox_request("GET", "/healthz").status, 200);
}

#[test]
fn wait_refuses_what_it_cannot_meet_by_name() {
    let s = Server::start(&[]);
    for (q, field, want) in [
        (
            "timeout=61",
            "timeout",
            "timeout must be a whole number of seconds from 0 to 60",
        ),
        (
            "after=x",
            "after",
            "after must be a whole number (an event id)",
        ),
        (
            "attr.=x",
            "attr",
            "attr.NAME=VALUE: a name, and both percent-encoded",
        ),
        (
            "verdict=maybe",
            "verdict",
            "verdict must be one of accepted, replay, rejected, sent, failed, not \"maybe\"",
        ),
    ] {
        let r = s.inbox_request("GET", &format!("/api/events/wait?{q}"));
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(json_of(&r), json!({"error": want, "field": field}), "{q}");
    }
    let r = s.inbox_request("POST", "/api/events/wait");
    assert_eq!((r.status, r.header("allow").as_deref()), (405, Some("GET")));
}

#[test]
fn one_event_by_id_and_search_over_decoded_values() {
    let s = Server::start(&[]);
    assert_eq!(
        s.post_token(&result_for(
            json!({"email": "Zoe@Example.nl", "city": "Utrecht"})
        ))
        .status,
        200
    );
    let expired = {
        let mut claims = mint::claims(now() - 3600);
        claims["attributes"] = json!({"email": "late@example.nl"});
        mint::encrypt(
            &json!({}),
            &mint::sign(&json!({}), &claims, RSA_PRIVATE),
            RSA_PUBLIC,
        )
    };
    assert_eq!(s.post_token(&expired).status, 400);

    let r = s.inbox_request("GET", "/api/events/1");
    assert_eq!(r.status, 200);
    assert_eq!(json_of(&r)["claims"]["attributes"]["city"], "Utrecht");
    let r = s.inbox_request("GET", "/api/events/99");
    assert_eq!(
        (r.status, json_of(&r)),
        (
            404,
            json!({"error": "no event 99 in the journal", "field": null})
        )
    );

    let ids = |q: &str| -> Vec<u64> {
        json_of(&s.inbox_request("GET", &format!("/api/events?{q}")))["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids("q=zoe%40example"), [1], "attribute values, any case");
    assert_eq!(ids("q=UTRECHT"), [1]);
    assert_eq!(ids("q=expired"), [2], "a rejection's reason");
    assert_eq!(ids("q=auth_result"), [2, 1], "the route");
    assert_eq!(ids("q=nowhere"), Vec::<u64>::new());
    assert_eq!(ids("attr.city=Utrecht"), [1]);
    assert_eq!(
        ids("attr.city=utrecht"),
        Vec::<u64>::new(),
        "attributes exactly"
    );
}

#[test]
fn delete_by_search_keeps_the_rest_and_says_what_became_of_replays() {
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    assert_eq!(s.post_token(SAMPLE).status, 200);
    assert_eq!(s.post_token("a.b.c").status, 400);
    assert_eq!(s.post_token("x.y.z").status, 400);
    let r = s.inbox_request("DELETE", "/api/events?verdict=rejected");
    assert_eq!(
        (r.status, json_of(&r)),
        (200, json!({"deleted": 2, "replays": "kept"}))
    );
    let left = json_of(&s.inbox_request("GET", "/api/events"));
    let ids: Vec<u64> = left["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1]);
    // The replay cache was kept: the sample again is a replay.
    assert_eq!(s.post_token(SAMPLE).status, 200);
    assert_eq!(
        json_of(&s.inbox_request("GET", "/api/events/4"))["verdict"],
        "replay"
    );
    // Everything, and the replay cache with it: the sample is new again.
    let r = s.inbox_request("DELETE", "/api/events?replays=clear");
    assert_eq!(json_of(&r), json!({"deleted": 2, "replays": "cleared"}));
    assert_eq!(s.post_token(SAMPLE).status, 200);
    assert_eq!(
        json_of(&s.inbox_request("GET", "/api/events/5"))["verdict"],
        "accepted"
    );
    let r = s.inbox_request("DELETE", "/api/events?replays=maybe");
    assert_eq!(
        (r.status, json_of(&r)),
        (
            400,
            json!({"error": "replays must be keep or clear", "field": "replays"})
        )
    );
}

#[test]
fn comm_test_wait_prints_the_matching_event_and_exits_0() {
    let s = Server::start(&[]);
    let inbox = s.inbox().to_string();
    let after = json_of(&s.inbox_request("GET", "/api/events?limit=1"))["last_id"]
        .as_u64()
        .unwrap()
        .to_string();
    let waiter = common::command(&[
        "wait",
        "--inbox",
        &inbox,
        "--after",
        &after,
        "--timeout",
        "30",
        "--verdict",
        "accepted",
        "--attr",
        "email=wanted@example.nl",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    s.post_token(&result_for(json!({"email": "other@example.nl"})));
    s.post_token(&result_for(json!({"email": "wanted@example.nl"})));
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["claims"]["attributes"]["email"], "wanted@example.nl");
    assert_eq!(e["id"].as_u64().unwrap(), after.parse::<u64>().unwrap() + 2);
}

#[test]
fn comm_test_wait_exits_1_on_time_and_2_on_usage_or_no_inbox() {
    let s = Server::start(&[]);
    let inbox = s.inbox().to_string();
    let (code, out, err) = common::run(
        &["wait", "--inbox", &inbox, "--timeout", "1", "--q", "never"],
        None,
    );
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "comm-test: wait: nothing matched within 1 s\n");
    // It asked for the second, and the inbox held it that long.
    let log = s.wait_log("/api/events/wait 204");
    let line = log
        .lines()
        .find(|l| l.contains("/api/events/wait 204"))
        .unwrap();
    let ms: f64 = line
        .split_whitespace()
        .find_map(|w| w.strip_suffix("ms"))
        .and_then(|m| m.parse().ok())
        .unwrap();
    assert!(ms >= 1000.0, "{line}");
    let (code, _, err) = common::run(&["wait", "--inbox", &inbox, "--after", "x"], None);
    assert_eq!(
        (code, err.as_str()),
        (2, "comm-test: --after: not an event id: \"x\"\n")
    );
    let closed = common::free_port().to_string();
    let (code, _, err) = common::run(
        &[
            "wait",
            "--inbox",
            &format!("127.0.0.1:{closed}"),
            "--timeout",
            "1",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with(&format!(
            "comm-test: wait: the inbox at http://127.0.0.1:{closed} cannot be reached: cannot connect"
        )),
        "{err}"
    );
}

/// A 400 `start_communication`, a 415, a 404 and a 413 never appeared in
/// the journal; now every public request does, with its answer, and
/// `/healthz` only as a count.
#[test]
fn every_public_request_is_journaled_with_its_answer_but_health_checks() {
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    let ct = Some("application/json");
    assert_eq!(
        s.request("POST", "/start_communication", ct, b"[]").status,
        400
    );
    assert_eq!(
        s.request("POST", "/start_communication", Some("text/plain"), b"{}")
            .status,
        415
    );
    assert_eq!(s.request("GET", "/nope", None, b"").status, 404);
    assert_eq!(s.request("GET", "/healthz", None, b"").status, 200);
    assert_eq!(s.request("GET", "/healthz", None, b"").status, 200);
    let big = s.raw(
        b"POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\
          Authorization: Bearer secret-never-kept\r\nCookie: c=never\r\n\r\n",
    );
    assert_eq!(big.status, 413);
    let mut with_headers = s.connect();
    with_headers
        .write_all(
            format!(
                "POST /auth_result HTTP/1.1\r\nHost: x\r\nUser-Agent: ci-script/1\r\n\
                 Authorization: Bearer secret-never-kept\r\nCookie: c=never\r\n\
                 Content-Type: application/jwt\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{SAMPLE}",
                SAMPLE.len()
            )
            .as_bytes(),
        )
        .unwrap();
    assert_eq!(common::read_reply(&mut with_headers).status, 200);
    assert_eq!(
        s.request("GET", "/ui?result=not-a-token", None, b"").status,
        400
    );

    let listed = json_of(&s.inbox_request("GET", "/api/events"));
    let events: Vec<&Value> = listed["events"].as_array().unwrap().iter().rev().collect();
    let seen: Vec<(&str, &str, u64, &str)> = events
        .iter()
        .map(|e| {
            (
                e["route"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["request"]["http_status"].as_u64().unwrap(),
                e["request"]["path"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "start_communication",
                "request",
                400,
                "/start_communication"
            ),
            (
                "start_communication",
                "request",
                415,
                "/start_communication"
            ),
            ("other", "request", 404, "/nope"),
            ("auth_result", "request", 413, "/auth_result"),
            ("auth_result", "token", 200, "/auth_result"),
            ("ui", "token", 400, "/ui"),
        ],
        "no /healthz, and no query in a path"
    );
    assert_eq!(
        events[0]["reason"],
        "bad start_communication request: body is not a JSON object"
    );
    assert_eq!(events[3]["reason"], "request body too large");
    let token = events[4];
    assert_eq!(token["request"]["headers"]["user-agent"], "ci-script/1");
    assert_eq!(
        token["request"]["headers"]["content-type"],
        "application/jwt"
    );
    assert!(token["request"]["client"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(token["request"]["ms"].is_u64());
    let text = listed.to_string();
    assert!(
        !text.contains("secret-never-kept") && !text.contains("c=never"),
        "{text}"
    );
    assert!(!text.contains("?result="), "a query was kept: {text}");
    let page = s.inbox_request("GET", "/").text();
    assert!(
        page.contains("<dt>health checks</dt><dd>2 answered (counted, not journaled)</dd>"),
        "{page}"
    );
}

/// A refused token showed nothing but its raw text, even when decryption
/// and the signature had succeeded. Now each part is there once the
/// decoder got that far, and `decode` prints the same.
#[test]
fn a_refused_token_shows_what_was_established_before_its_refusal() {
    let s = Server::start(&[]);
    // Expired (no --clock): decrypted, verified, refused by a claim check.
    assert_eq!(s.post_token(SAMPLE).status, 400);
    // Signed by a key nobody configured: decrypted, not verified.
    let other = include_str!("data/rotation-rsa.key.pem");
    let jws = mint::sign(&json!({"kid": "rotated"}), &mint::claims(now()), other);
    assert_eq!(
        s.post_token(&mint::encrypt(&json!({}), &jws, RSA_PUBLIC))
            .status,
        400
    );
    // Not even a JWE.
    assert_eq!(s.post_token("a.b.c").status, 400);

    let e = |id: u64| json_of(&s.inbox_request("GET", &format!("/api/events/{id}")));
    let expired = e(1);
    assert_eq!(expired["reason"], "expired");
    assert_eq!(expired["outer_header"]["alg"], "RSA-OAEP");
    assert_eq!(expired["inner_header"]["alg"], "RS256");
    assert_eq!(expired["claims"]["attributes"]["email"], "bla");
    let unverified = e(2);
    assert_eq!(unverified["reason"], "bad_signature");
    assert_eq!(unverified["inner_header"]["kid"], "rotated");
    assert!(unverified["outer_header"].is_object());
    assert!(
        unverified.get("claims").is_none(),
        "claims of an unverified signature"
    );
    let garbage = e(3);
    assert_eq!(garbage["reason"], "malformed");
    for part in ["outer_header", "inner_header", "claims"] {
        assert!(garbage.get(part).is_none(), "{part} of a non-JWE");
    }

    let (code, out, err) = common::run(&["decode"], Some(SAMPLE));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("rejected: expired: exp 2021-03-16T07:35:00Z"),
        "{err}"
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["claims"]["attributes"]["email"], "bla");
    assert_eq!(doc["inner_header"]["typ"], "JWT");
    assert_eq!(doc["rejected"]["reason"], "expired");
}

/// A second identical result said only "replay"; now it names the entry
/// it repeats. A `session_url` with feedback off was silent; now the
/// journal says so and the page offers no Send buttons for it.
#[test]
fn an_identical_result_names_the_first_and_feedback_off_is_said() {
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    assert_eq!(s.post_token(SAMPLE).status, 200);
    assert_eq!(s.post_token(SAMPLE).status, 200);
    let e = |id: u64| json_of(&s.inbox_request("GET", &format!("/api/events/{id}")));
    assert_eq!(
        (e(1)["verdict"].clone(), e(1)["identical_to"].clone()),
        (json!("accepted"), Value::Null)
    );
    assert_eq!(
        (e(2)["verdict"].clone(), e(2)["identical_to"].clone()),
        (json!("replay"), json!(1))
    );
    let page = s.inbox_request("GET", "/").text();
    assert!(
        page.contains("<dt>identical to</dt><dd>#1: the same signed result."),
        "{page}"
    );

    let t: u64 = SAMPLE_TIME.parse().unwrap();
    let mut claims = mint::claims(t);
    claims["session_url"] = json!("http://auth.invalid/session/abc");
    let token = mint::encrypt(
        &json!({}),
        &mint::sign(&json!({}), &claims, RSA_PRIVATE),
        RSA_PUBLIC,
    );
    assert_eq!(s.post_token(&token).status, 200);
    assert_eq!(e(3)["session_feedback"], "off");
    assert_eq!(e(1)["session_feedback"], Value::Null, "no session_url");
    let page = s.inbox_request("GET", "/").text();
    assert!(page.contains("Session feedback is off"), "{page}");
    assert!(
        !page.contains("/api/events/3/session"),
        "a Send button for feedback that is off"
    );
}

/// A fixed `--clock` silently made every fresh token `not_yet_valid`;
/// now start-up says which clock runs, and every refusal that depends on
/// it says it is fixed.
#[test]
fn a_fixed_clock_is_said_at_start_and_in_every_refusal_it_causes() {
    let s = Server::start(&["--clock", "2021-03-16T07:00:00Z"]);
    let log = s.log();
    let settings = log
        .lines()
        .find(|l| l.contains("comm-test: settings: "))
        .unwrap();
    assert!(
        settings.contains("clock fixed at 2021-03-16T07:00:00Z (--clock), leeway 60 s"),
        "{settings}"
    );
    assert!(
        settings.contains(&format!(
            "listener {a}, server URL http://{a} (client_url http://{a}/ui), internal URL http://{a} (attr_url http://{a}/auth_result)",
            a = s.addr
        )),
        "{settings}"
    );
    let fresh = result_for(json!({"email": "now@example.nl"}));
    let r = s.post_token(&fresh);
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("not_yet_valid: "), "{}", r.text());
    assert!(
        r.text().ends_with("; now is fixed by --clock\n"),
        "{}",
        r.text()
    );
    // A refusal that does not depend on the clock does not say so.
    assert_eq!(r.text().matches("--clock").count(), 1);
    assert!(!s.post_token("a.b.c").text().contains("--clock"));
}

/// The page's search and filters are a plain form bound to the listing's
/// parameters (it works without JavaScript); each event has a page of its
/// own; the journal exports as NDJSON and an event downloads as a file.
#[test]
fn search_form_event_pages_and_exports_over_http() {
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    assert_eq!(s.post_token(SAMPLE).status, 200);
    assert_eq!(s.post_token("a.b.c").status, 400);
    let page = s.inbox_request("GET", "/?q=bla&verdict=accepted").text();
    assert!(
        page.contains(r#"<input type="search" name="q" id="q" value="bla""#),
        "{page}"
    );
    assert!(
        page.contains("<option selected>accepted</option>"),
        "{page}"
    );
    assert!(
        page.contains(r#"id="e1""#) && !page.contains(r#"id="e2""#),
        "{page}"
    );
    assert!(page.contains(r#"<a class="open" href="/events/1">#1</a>"#));
    assert!(
        page.contains("<summary>Settings</summary>")
            && page.contains("fixed at 2021-03-16T07:30:00Z")
    );
    // A hostile query is text in the form, never markup.
    let hostile = s.inbox_request("GET", "/?q=%22%3E%3Cscript%3E").text();
    assert!(
        hostile.contains(r#"value="&quot;&gt;&lt;script&gt;""#) && !hostile.contains("\"><script>")
    );

    let one = s.inbox_request("GET", "/events/1");
    assert_eq!(one.status, 200);
    let one = one.text();
    assert!(
        one.contains(r#"<pre id="decoded">"#) && one.contains("&quot;email&quot;: &quot;bla&quot;"),
        "{one}"
    );
    assert!(
        one.contains("curl -sS --globoff -H &#39;Content-Type: application/jwt&#39; --data-raw"),
        "{one}"
    );
    assert_eq!(s.inbox_request("GET", "/events/9").status, 404);

    let file = s.inbox_request("GET", "/api/events/1?download=1");
    assert_eq!(
        file.header("content-disposition").as_deref(),
        Some("attachment; filename=\"comm-test-event-1.json\"")
    );
    let nd = s.inbox_request("GET", "/api/events.ndjson");
    assert_eq!(
        nd.header("content-type").as_deref(),
        Some("application/x-ndjson")
    );
    let lines: Vec<Value> = nd
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<u64> = lines.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2], "oldest first");
    let only = s
        .inbox_request("GET", "/api/events.ndjson?verdict=rejected")
        .text();
    assert_eq!(only.lines().count(), 1);
}

/// With `--ui html` a refused result was a raw text 400; it is a page in
/// the inbox's look, as the accepted one is.
#[test]
fn the_citizen_page_shows_a_refused_result_as_a_page_in_the_inboxs_look() {
    let s = Server::start(&["--ui", "html"]);
    let r = s.request("GET", "/ui?result=a.b.c", None, b"");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let page = r.text();
    assert!(page.contains("the result was refused"), "{page}");
    assert!(
        page.contains("<p>malformed: JWE must have exactly 5 parts</p>"),
        "{page}"
    );
    assert!(
        page.contains(r#"<link rel="stylesheet" href="/ui/style.css">"#),
        "{page}"
    );
    let css = s.request("GET", "/ui/style.css", None, b"");
    assert_eq!(
        (css.status, css.header("content-type").as_deref()),
        (200, Some("text/css; charset=utf-8"))
    );
    assert!(css.text().contains("article.rejected"));
    // The sample page's text mode has no such route.
    let text = Server::start(&[]);
    assert_eq!(text.request("GET", "/ui/style.css", None, b"").status, 404);
    assert_eq!(
        text.request("GET", "/ui?result=a.b.c", None, b"").text(),
        "malformed: JWE must have exactly 5 parts\n"
    );
}

fn journal_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("comm-test-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("journal.jsonl")
}

/// Waits until the inbox lists `n` events.
fn listed(s: &Server, n: usize) -> Vec<u64> {
    for _ in 0..500 {
        let v = json_of(&s.inbox_request("GET", "/api/events"));
        let ids: Vec<u64> = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect();
        if ids.len() >= n {
            return ids;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the inbox never listed {n} events");
}

/// The inbox forgot everything on restart; with `--journal-file` it
/// keeps it, deletes included, skips a torn last line with one warning,
/// and ids continue after the last one read.
#[test]
fn the_journal_file_survives_a_restart_and_a_torn_last_line() {
    use std::os::unix::fs::PermissionsExt;
    let path = journal_path("restart");
    let p = path.to_str().unwrap();
    let mut first = Server::start(&["--clock", SAMPLE_TIME, "--journal-file", p]);
    assert_eq!(first.post_token(SAMPLE).status, 200);
    assert_eq!(first.post_token("a.b.c").status, 400);
    assert_eq!(first.post_token("d.e.f").status, 400);
    let r = first.inbox_request("DELETE", "/api/events?q=d.e.f");
    assert_eq!(json_of(&r)["deleted"], 0, "q never searches the raw token");
    let r = first.inbox_request("DELETE", "/api/events?verdict=rejected&before=3");
    assert_eq!(json_of(&r)["deleted"], 1);
    // The writer is a thread: wait for its lines, then stop.
    for _ in 0..500 {
        if std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains("\"deleted\":[2]")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = first.child().kill();
    let _ = first.child().wait();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A crash mid-write: a torn last line.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"id\":4,\"time_ms\":17").unwrap();
    drop(f);

    let second = Server::start(&["--clock", SAMPLE_TIME, "--journal-file", p]);
    assert_eq!(
        listed(&second, 2),
        [3, 1],
        "event 2 was deleted before the restart"
    );
    let e1 = json_of(&second.inbox_request("GET", "/api/events/1"));
    assert_eq!(
        (
            e1["verdict"].clone(),
            e1["claims"]["attributes"]["email"].clone()
        ),
        (json!("accepted"), json!("bla"))
    );
    assert!(
        e1["token"].as_str().unwrap().starts_with("eyJ"),
        "the token as received"
    );
    let log = second.wait_log("torn or corrupt");
    assert_eq!(
        log.matches("skipped 1 torn or corrupt line(s)").count(),
        1,
        "{log}"
    );
    // Ids continue after the last one read; filters work on what was read.
    assert_eq!(second.post_token("x.y.z").status, 400);
    let ids = listed(&second, 3);
    assert_eq!(ids[0], 4, "{ids:?}");
    let accepted = json_of(&second.inbox_request("GET", "/api/events?verdict=accepted"));
    assert_eq!(accepted["events"].as_array().unwrap().len(), 1);
    assert!(second
        .inbox_request("GET", "/")
        .text()
        .contains("journal file"));
    // What was appended after the torn line is a line of its own.
    for _ in 0..500 {
        // Not the torn line, which names id 4 too: the whole event line.
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.starts_with("{\"id\":4,") && l.contains("\"event\":"))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(second);
    let third = Server::start(&["--clock", SAMPLE_TIME, "--journal-file", p]);
    assert_eq!(listed(&third, 3), [4, 3, 1]);
}

#[test]
fn the_journal_file_is_never_opened_through_a_link_and_needs_the_inbox() {
    let path = journal_path("link");
    let target = path.with_file_name("elsewhere");
    std::fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let p = path.to_str().unwrap();
    let (code, _, err) = common::run(
        &[
            "--listen",
            "127.0.0.1:0",
            "--inbox",
            "127.0.0.1:0",
            "--journal-file",
            p,
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("--journal-file {p}: ")), "{err}");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"",
        "nothing written through the link"
    );
    let (code, _, err) = common::run(&["--inbox", "off", "--journal-file", "/tmp/x.jsonl"], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("--journal-file keeps the inbox's journal, and --inbox is off"),
        "{err}"
    );
}

/// The file stays within twice the journal's size however many events
/// went through it.
#[test]
fn the_journal_file_stays_bounded() {
    let path = journal_path("bounded");
    let p = path.to_str().unwrap();
    let s = Server::start(&["--journal-size", "5", "--journal-file", p]);
    for _ in 0..60 {
        assert_eq!(s.post_token("a.b.c").status, 400);
    }
    listed(&s, 5);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    assert!(lines <= 16 + 5, "{lines} lines for a journal of 5");
}

/// The published test keys warn wherever they come from (a flag here);
/// keys nobody else has do not.
#[test]
fn the_published_test_keys_warn_wherever_they_come_from() {
    let published = Server::start(&[
        "--decryption-key",
        "keys/idcontact-test-rsa.key.pem",
        "--signature-key",
        "tests/data/rotation-rsa.pub.pem",
    ]);
    let log = published.log();
    assert!(
        log.contains("WARNING: using the PUBLIC ID Contact test keys (fingerprint f39b64a429a25336); anyone can mint"),
        "{log}"
    );
    let own = Server::start(&[
        "--decryption-key",
        "tests/data/rotation-rsa.key.pem",
        "--signature-key",
        "tests/data/rotation-rsa.pub.pem",
    ]);
    assert!(
        !own.log().contains("PUBLIC ID Contact test keys"),
        "{}",
        own.log()
    );
}

/// A corrupt file with an enormous line is read within its bound: the
/// line is skipped (one warning), the events around it kept.
#[test]
fn an_enormous_corrupt_line_in_the_journal_file_is_skipped_not_held() {
    let path = journal_path("enormous");
    let p = path.to_str().unwrap();
    let first = Server::start(&["--clock", SAMPLE_TIME, "--journal-file", p]);
    assert_eq!(first.post_token(SAMPLE).status, 200);
    for _ in 0..500 {
        if std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains("\"event\":")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(first);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&vec![b'x'; 48 << 20]).unwrap();
    f.write_all(b"\n").unwrap();
    drop(f);
    let second = Server::start(&["--clock", SAMPLE_TIME, "--journal-file", p]);
    assert_eq!(listed(&second, 1), [1]);
    let log = second.wait_log("torn or corrupt");
    assert!(log.contains("skipped 1 torn or corrupt line(s)"), "{log}");
    // The peak, not the moment: a line held whole and freed would not show
    // in VmRSS any more, but does in VmHWM.
    let peak: u64 = std::fs::read_to_string(format!("/proc/{}/status", second.pid()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(peak < 24 * 1024, "peak {peak} kB: the 48 MiB line was held");
}

/// A client that opens waiters until the cap holds only them takes no
/// slot for good: the oldest waiter is evicted for a newcomer, and the
/// inbox still answers.
#[test]
fn a_flood_of_waiters_is_held_to_the_connection_cap() {
    let s = Server::start(&["--max-connections", "8"]);
    let mut waiters: Vec<TcpStream> = (0..40)
        .map(|_| start_wait(&s, "timeout=60&q=never"))
        .collect();
    // Past the cap, a new connection is served: waiters were evicted.
    let r = s.inbox_request("GET", "/healthz");
    assert_eq!(r.status, 200);
    // The evicted ones were closed, not answered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut closed = 0;
    while closed == 0 && std::time::Instant::now() < deadline {
        for w in waiters.iter_mut() {
            w.set_nonblocking(true).unwrap();
            let mut b = [0u8; 16];
            if let Ok(0) = w.read(&mut b) {
                closed += 1;
            }
        }
        std::thread::yield_now();
    }
    assert!(closed >= 1, "no waiter was evicted to make room");
}

/// Red team: `wait --timeout 18446744073709551615` panicked (SIGABRT):
/// the deadline overflowed `Instant`. Any --timeout is taken or refused
/// with exit 2, before anything is asked of the inbox.
#[test]
fn any_wait_timeout_is_taken_or_refused_never_a_panic() {
    for t in ["18446744073709551615", "86401"] {
        let (code, out, err) = common::run(
            &["wait", "--timeout", t, "--inbox", "http://127.0.0.1:1"],
            None,
        );
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (
                2,
                "",
                format!("comm-test: --timeout {t}: at most 86400 seconds (a day)\n").as_str()
            )
        );
    }
    // A day is taken: what fails then is the inbox, said as such.
    let (code, _, err) = common::run(
        &[
            "wait",
            "--timeout",
            "86400",
            "--inbox",
            "http://127.0.0.1:1",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be reached"), "{err}");
}

/// Red team: `wait --inbox <the public port>` said "the inbox's listing
/// has no last_id". It says that is not an inbox, and where one is.
#[test]
fn wait_pointed_at_the_public_listener_says_so_and_names_the_inbox() {
    let s = Server::start(&[]);
    let public = format!("http://{}", s.addr);
    let want = format!(
        "comm-test: wait: {public} is not an inbox (it answered 404 to the inbox's API; the public listener?): give --inbox the inbox's address, 127.0.0.1:8001 unless the server was given --inbox\n"
    );
    for extra in [&[][..], &["--after", "0"][..]] {
        let mut args = vec!["wait", "--timeout", "1", "--inbox", &public];
        args.extend_from_slice(extra);
        let (code, out, err) = common::run(&args, None);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (2, "", want.as_str()),
            "{extra:?}"
        );
    }
}

/// Red team: `wait --verdict accept` against a down inbox said "cannot be
/// reached", not the typo. The filters are checked before anything is
/// asked.
#[test]
fn wait_names_a_filter_typo_before_it_asks() {
    let (code, out, err) = common::run(
        &[
            "wait",
            "--verdict",
            "accept",
            "--inbox",
            "http://127.0.0.1:1",
        ],
        None,
    );
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            2,
            "",
            "comm-test: --verdict must be one of accepted, replay, rejected, sent, failed, not \"accept\"\n"
        )
    );
    let (code, _, err) = common::run(
        &["wait", "--route", "auth", "--inbox", "http://127.0.0.1:1"],
        None,
    );
    assert_eq!(code, 2);
    assert!(
        err.starts_with("comm-test: --route must be one of start_communication, auth_result,"),
        "{err}"
    );
}

/// Red team: `curl … /auth_result; comm-test wait --attr email=X` (the
/// obvious script) timed out: wait started "from now" and missed the
/// event that arrived a moment before. It counts what the inbox holds;
/// `--new` asks for only what arrives after it starts.
#[test]
fn wait_finds_the_event_that_arrived_just_before_it() {
    let s = Server::start(&[]);
    let inbox = s.inbox().to_string();
    assert_eq!(
        s.post_token(&result_for(json!({"email": "wanted@example.nl"})))
            .status,
        200
    );
    let (code, out, err) = common::run(
        &[
            "wait",
            "--inbox",
            &inbox,
            "--timeout",
            "5",
            "--attr",
            "email=wanted@example.nl",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (e["id"].as_u64(), &e["claims"]["attributes"]["email"]),
        (Some(1), &json!("wanted@example.nl"))
    );
    let (code, out, _) = common::run(
        &[
            "wait",
            "--inbox",
            &inbox,
            "--timeout",
            "1",
            "--new",
            "--attr",
            "email=wanted@example.nl",
        ],
        None,
    );
    assert_eq!((code, out.as_str()), (1, ""));
}

/// Red team: on a timeout wait said only "nothing matched within 2 s",
/// not that a result with another email arrived. It names the near
/// misses, each with the filter it failed and the value that arrived.
#[test]
fn a_wait_that_times_out_names_its_near_misses() {
    let s = Server::start(&[]);
    let inbox = s.inbox().to_string();
    s.post_token(&result_for(json!({"email": "other@example.nl"})));
    s.post_token("a.b.c");
    let (code, out, err) = common::run(
        &[
            "wait",
            "--inbox",
            &inbox,
            "--timeout",
            "1",
            "--verdict",
            "accepted",
            "--attr",
            "email=wanted@example.nl",
        ],
        None,
    );
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            1,
            "",
            "comm-test: wait: nothing matched within 1 s\n\
             comm-test:   near miss #2 auth_result rejected: verdict rejected, not accepted\n\
             comm-test:   near miss #1 auth_result accepted: \"email\"=\"other@example.nl\", not \"wanted@example.nl\"\n"
        )
    );
}

/// A listing says how many events matched its filter (on every page) and
/// how many the journal holds, as Mailpit's `messages_count`.
#[test]
fn a_listing_counts_what_matched_and_what_the_journal_holds() {
    let s = Server::start(&[]);
    for _ in 0..2 {
        s.request(
            "POST",
            "/start_communication",
            Some("application/json"),
            br#"{"purpose":"p"}"#,
        );
    }
    assert_eq!(s.post_token("a.b.c").status, 400);
    let v = json_of(&s.inbox_request("GET", "/api/events?route=start_communication&limit=1"));
    assert_eq!(
        (
            v["events"].as_array().unwrap().len(),
            &v["matched"],
            &v["total"],
            &v["next_before"]
        ),
        (1, &json!(2), &json!(3), &json!(2))
    );
    // The next page counts the same.
    let v = json_of(&s.inbox_request(
        "GET",
        "/api/events?route=start_communication&limit=1&before=2",
    ));
    assert_eq!((&v["matched"], &v["total"]), (&json!(2), &json!(3)));
}

/// One call empties what a test run leaves behind: the journal, the
/// replay cache and every fault (WireMock's /__admin/reset).
#[test]
fn one_reset_empties_the_journal_the_replay_cache_and_the_faults() {
    let s = Server::start(&[]);
    let token = result_for(json!({"email": "a@example.nl"}));
    assert_eq!(s.post_token(&token).status, 200);
    let r = s.inbox_post_json(
        "/api/faults",
        r#"{"route":"ui","status":503,"body":"down","times":5}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = s.inbox_request("POST", "/api/reset");
    assert_eq!(
        json_of(&r),
        json!({"deleted": 1, "replays": "cleared", "faults_cleared": ["ui"]})
    );
    assert_eq!(
        json_of(&s.inbox_request("GET", "/api/faults"))["faults"],
        json!([])
    );
    // The same token again: accepted, not a replay; the only event.
    assert_eq!(s.post_token(&token).status, 200);
    let v = json_of(&s.inbox_request("GET", "/api/events"));
    assert_eq!(
        (&v["total"], &v["events"][0]["verdict"]),
        (&json!(1), &json!("accepted"))
    );
    let r = s.inbox_request("GET", "/api/reset");
    assert_eq!(
        (r.status, r.header("allow").as_deref()),
        (405, Some("POST"))
    );
}
