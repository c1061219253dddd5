//! The real binary over loopback: the seed interaction byte for byte, and
//! every error path of the three routes.

mod common;
use common::{Server, SAMPLE, SAMPLE_TIME};

fn seed_server() -> Server {
    Server::start(&[
        "--server-url",
        "http://comm-test.idcontact.test.tweede.golf",
        "--internal-url",
        "http://comm-test:8000",
        "--clock",
        SAMPLE_TIME,
    ])
}

#[test]
fn seed_interaction_byte_for_byte() {
    let s = seed_server();
    // 1. Setup, as the core sends it.
    let r = s.raw(b"POST /start_communication HTTP/1.1\r\ncontent-type: application/json\r\naccept: */*\r\nhost: comm-test:8000\r\ncontent-length: 25\r\n\r\n{\"purpose\":\"report_move\"}");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(r.header("content-length").as_deref(), Some("110"));
    assert_eq!(
        r.text(),
        r#"{"client_url":"http://comm-test.idcontact.test.tweede.golf/ui","attr_url":"http://comm-test:8000/auth_result"}"#
    );
    // 2. The browser, HTTP/1.0 with the seed's headers.
    let r = s.raw(b"GET /ui HTTP/1.0\r\nHost: comm-test:8000\r\nConnection: close\r\nupgrade-insecure-requests: 1\r\nuser-agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/89.0.4389.82 Safari/537.36\r\naccept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.9\r\nsec-fetch-site: cross-site\r\nsec-fetch-mode: navigate\r\nsec-fetch-user: ?1\r\nsec-fetch-dest: document\r\naccept-encoding: gzip, deflate, br\r\naccept-language: en-US,en;q=0.9\r\n\r\n");
    assert!(
        r.head.starts_with("HTTP/1.0 200 OK") || r.head.starts_with("HTTP/1.1 200 OK"),
        "{}",
        r.head
    );
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(r.header("content-length").as_deref(), Some("23"));
    assert_eq!(r.text(), "Communication plugin UI");
    // 3. The authentication result on attr_url.
    let mut req = b"POST /auth_result HTTP/1.1\r\ncontent-type: application/jwt\r\naccept: */*\r\nhost: comm-test:8000\r\ncontent-length: 1202\r\n\r\n".to_vec();
    req.extend_from_slice(SAMPLE.as_bytes());
    let r = s.raw(&req);
    assert_eq!((r.status, r.text().as_str()), (200, "accepted\n"));
    let log = s.wait_log("POST /auth_result 200");
    assert!(
        log.contains(r#"accepted status=succes attributes={"email":"bla"} session_url=-"#),
        "{log}"
    );
}

#[test]
fn real_clock_rejects_the_sample_as_expired() {
    let s = Server::start(&[]);
    let r = s.post_token(SAMPLE);
    // Regression: the claim, its time, now and the leeway, in UTC.
    let text = r.text();
    assert_eq!(r.status, 400);
    assert!(
        text.starts_with("expired: exp 2021-03-16T07:35:00Z is before now 20")
            && text.ends_with("Z (leeway 60 s)\n"),
        "{text}"
    );
    let log = s.wait_log("POST /auth_result 400");
    assert!(
        log.contains("rejected: expired: exp 2021-03-16T07:35:00Z is before now "),
        "{log}"
    );
    assert!(log.contains("WARNING: using the built-in PUBLIC ID Contact test keys"));
}

#[test]
fn ui_result_inline_plain_and_percent_encoded() {
    let s = seed_server();
    for target in [
        format!("/ui?result={SAMPLE}"),
        format!("/ui?x=1&result={}", SAMPLE.replace('.', "%2e")),
    ] {
        let r = s.request("GET", &target, None, b"");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "Communication plugin UI")
        );
    }
    let r = s.request("GET", "/ui?result=a.b.c", None, b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "malformed: JWE must have exactly 5 parts\n")
    );
}

#[test]
fn start_communication_with_auth_result() {
    let s = seed_server();
    let body = format!(r#"{{"purpose":"report_move","auth_result":"{SAMPLE}"}}"#);
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(
        r.text(),
        r#"{"client_url":"http://comm-test.idcontact.test.tweede.golf/ui"}"#
    );
    let bad = r#"{"purpose":"report_move","auth_result":"x.y.z.w.v"}"#;
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        bad.as_bytes(),
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            400,
            "malformed: JWE header is not valid JSON of the right shape\n"
        )
    );
}

#[test]
fn error_paths() {
    let s = Server::start(&["--use-attr-url", "false"]);
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"p"}"#,
    );
    assert_eq!(
        r.text(),
        format!(r#"{{"client_url":"http://{}/ui"}}"#, s.addr)
    );
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        b"{nope",
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            400,
            "bad start_communication request: body is not a JSON object\n"
        )
    );
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":["x"]}"#,
    );
    assert_eq!(r.status, 400);
    let r = s.request("GET", "/nope", None, b"");
    assert_eq!((r.status, r.text().as_str()), (404, "not found\n"));
    let r = s.request("GET", "/auth_result", None, b"");
    assert_eq!(
        (r.status, r.header("allow").as_deref()),
        (405, Some("POST"))
    );
    let r = s.request("DELETE", "/ui", None, b"");
    assert_eq!(
        (r.status, r.header("allow").as_deref()),
        (405, Some("GET, HEAD"))
    );
    let r = s.request("POST", "/auth_result", Some("application/jwt"), b"\xff\xfe");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "malformed: body is not UTF-8\n")
    );
    let r = s.post_token(&"x".repeat(20_000));
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "too_large: token longer than 16384 bytes\n")
    );
    // Still serving after all of that.
    assert_eq!(s.request("GET", "/ui", None, b"").status, 200);
}

#[test]
fn bad_configuration_exits_2_with_one_line() {
    for args in [
        vec!["--frobnicate"],
        vec![
            "--decryption-key",
            "missing.pem",
            "--signature-key",
            "keys/idcontact-test-rsa.pub.pem",
        ],
        vec!["--listen", "not-an-address"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_comm-test"))
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("comm-test: "), "{stderr}");
    }
}

#[test]
fn http_details_expect_continue_head_pipelining_and_exact_codes() {
    use std::io::Write;
    let s = seed_server();
    // curl sends bodies over 1 KiB with Expect: 100-continue and waits.
    let mut c = s.connect();
    let head = format!(
        "POST /auth_result HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        SAMPLE.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    std::io::Read::read_exact(&mut c, &mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(SAMPLE.as_bytes()).unwrap();
    let r = common::read_reply(&mut c);
    assert_eq!((r.status, r.text().as_str()), (200, "accepted\n"));
    // HEAD: the GET's headers, no body.
    let r = s.raw(b"HEAD /ui HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(
        (
            r.status,
            r.header("content-length").as_deref(),
            r.body.len()
        ),
        (200, Some("23"), 0)
    );
    // Pipelined requests on one connection are answered in order.
    let mut c = s.connect();
    c.write_all(b"GET /ui HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    // Both answers may arrive in one segment: read to the close, then split.
    let mut both = Vec::new();
    std::io::Read::read_to_end(&mut c, &mut both).unwrap();
    let both = String::from_utf8(both).unwrap();
    let ok = both.find("HTTP/1.1 200 OK\r\n");
    let not_found = both.find("HTTP/1.1 404 Not Found\r\n");
    assert!(
        ok.is_some_and(|a| not_found.is_some_and(|b| a < b)),
        "{both}"
    );
    assert_eq!(both.matches("HTTP/1.1 ").count(), 2, "{both}");
    assert!(
        both.ends_with("Connection: close\r\n\r\nnot found\n"),
        "{both}"
    );
    // Exact codes and reasons for what the HTTP layer refuses itself.
    for (req, status, reason) in [
        (
            &b"POST /auth_result HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
            411,
            "Transfer-Encoding is not supported; send Content-Length\n",
        ),
        (
            b"POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400,
            "conflicting Content-Length headers\n",
        ),
        (
            b"POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
            400,
            "Content-Length is not a number\n",
        ),
        (
            b"POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n",
            413,
            "request body too large\n",
        ),
        (
            b"GET http://x/ui HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
            "request target must be a path\n",
        ),
        (
            b"GET /ui HTTP/1.1\r\nBad Header\r\n\r\n",
            400,
            "malformed HTTP request\n",
        ),
    ] {
        let r = s.raw(req);
        assert_eq!(
            (r.status, r.text().as_str()),
            (status, reason),
            "{}",
            String::from_utf8_lossy(req)
        );
        assert_eq!(r.header("connection").as_deref(), Some("close"));
    }
}
