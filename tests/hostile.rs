//! Hostile and broken clients against the real binary: none of them may
//! stop the single loop from serving everyone else.

mod common;
use common::{Server, SAMPLE, SAMPLE_TIME};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn threads(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Threads:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap()
}

fn ui_answered_within(s: &Server, limit: Duration) -> Duration {
    let t = Instant::now();
    let r = s.request("GET", "/ui", None, b"");
    let took = t.elapsed();
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Communication plugin UI")
    );
    assert!(took < limit, "GET /ui took {took:?}");
    took
}

fn stall_with_headers(s: &Server, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(b"POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Type: application/jwt\r\nContent-Length: 1202\r\n\r\neyJ0eXAi").unwrap();
            c
        })
        .collect()
}

#[test]
fn stalled_bodies_do_not_hold_the_loop() {
    let s = Server::start(&[]);
    let _stalled = stall_with_headers(&s, 4);
    std::thread::sleep(Duration::from_millis(200));
    let took = ui_answered_within(&s, Duration::from_secs(1));
    eprintln!("GET /ui with 4 stalled clients: {took:?}");
}

#[test]
fn stalled_requests_time_out_with_408() {
    let s = Server::start(&["--read-timeout", "1"]);
    let mut body_stall = stall_with_headers(&s, 1).pop().unwrap();
    let mut head_stall = s.connect();
    head_stall
        .write_all(b"GET /ui HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let t = Instant::now();
    for c in [&mut body_stall, &mut head_stall] {
        let r = common::read_reply(c);
        assert_eq!(r.status, 408, "{}", r.head);
        let mut rest = Vec::new();
        assert_eq!(c.read_to_end(&mut rest).unwrap_or(0), 0, "closed after 408");
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn connection_flood_is_capped_and_drains() {
    let mut s = Server::start(&["--max-connections", "8", "--read-timeout", "1"]);
    let _flood: Vec<TcpStream> = (0..50).map(|_| s.connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let pid = s.child().id();
    let threads = threads(pid);
    assert!(threads <= 4, "{threads} threads for 50 idle connections");
    // At the cap, each new connection takes the slot of the one that has
    // made the least progress for the longest: idle ones first...
    let took = ui_answered_within(&s, Duration::from_secs(1));
    eprintln!("GET /ui behind 50 idle connections (cap 8): {took:?}");
    // ...and slowloris clients, which did send something, just as well.
    let _slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut c = s.connect();
            let _ = c.write_all(b"GET /ui HTTP/1.1\r\n");
            c
        })
        .collect();
    ui_answered_within(&s, Duration::from_secs(1));
}

#[test]
fn huge_content_length_gets_413_and_the_process_lives() {
    let mut s = Server::start(&[]);
    let r = s.raw(
        b"POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n123456789",
    );
    assert_eq!(r.status, 413, "{}", r.head);
    let r =
        s.raw(b"POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n123456789");
    assert_eq!(r.status, 413);
    assert!(s.is_running());
    ui_answered_within(&s, Duration::from_secs(1));
}

#[test]
fn long_urls_and_headers_are_refused() {
    let s = Server::start(&[]);
    let url = format!(
        "GET /ui?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(100_000)
    );
    assert_eq!(s.raw(url.as_bytes()).status, 414);
    let header = format!(
        "GET /ui HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    assert_eq!(s.raw(header.as_bytes()).status, 431);
    let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        s.raw(format!("GET /ui HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes())
            .status,
        431
    );
    ui_answered_within(&s, Duration::from_secs(1));
}

/// Broken input at every layer, each answered with a 4xx and a one-line
/// reason, while the loop goes on.
#[test]
fn malformed_corpus_never_stops_the_loop() {
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    let parts: Vec<&str> = SAMPLE.split('.').collect();
    let with_header = |h: &str| {
        let mut p = parts.clone();
        let enc = base64_url(h.as_bytes());
        p[0] = &enc;
        p.join(".")
    };
    let mut tokens: Vec<String> = vec![
        String::new(),
        "....".into(),
        "a.b.c.d.e".into(),
        parts[..4].join("."),
        format!("{SAMPLE}.{}", parts[4]),
        SAMPLE.replace('-', "+"),
        with_header("not json"),
        with_header("[]"),
        with_header(r#"{"alg":"none","enc":"A128CBC-HS256"}"#),
        with_header(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#),
        with_header(r#"{"alg":"RSA-OAEP","enc":"A128CBC-HS256","zip":"DEF"}"#),
        with_header(r#"{"alg":"dir","enc":"A128CBC-HS256"}"#),
        with_header(
            r#"{"alg":"ECDH-ES","enc":"A128CBC-HS256","epk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}"#,
        ),
        "\u{0}\u{1}\u{7f}".into(),
        "é.é.é.é.é".into(),
    ];
    tokens.extend(
        (1..SAMPLE.len())
            .step_by(97)
            .map(|i| SAMPLE[..i].to_string()),
    );
    let mut requests: Vec<Vec<u8>> = Vec::new();
    for t in &tokens {
        requests.push(post("/auth_result", "application/jwt", t.as_bytes()));
        requests.push(post(
            "/start_communication",
            "application/json",
            format!(
                r#"{{"purpose":"p","auth_result":{}}}"#,
                serde_json::to_string(t).unwrap()
            )
            .as_bytes(),
        ));
    }
    for body in [
        &b"\xff\xfe\xfd"[..],
        b"{",
        b"null",
        b"[]",
        b"{\"purpose\":1}",
        b"{\"purpose\":null}",
        b"{\"purpose\":\"p\",\"auth_result\":5}",
        b"\"purpose\"",
    ] {
        requests.push(post("/start_communication", "application/json", body));
        requests.push(post("/auth_result", "application/jwt", body));
    }
    for raw in [
        &b"\r\n\r\n"[..],
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /ui HTTP/9.9\r\n\r\n",
        b"GET /ui HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET /ui HTTP/1.1\r\nHost: \xff\r\n\r\n",
        b"\xff\xff\xff /ui HTTP/1.1\r\n\r\n",
        b"POST /auth_result HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /auth_result HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
        b"POST /auth_result HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /auth_result HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"GET /ui?result=%zz HTTP/1.1\r\n\r\n",
        b"GET /ui?result=%C3%28 HTTP/1.1\r\n\r\n",
    ] {
        requests.push(raw.to_vec());
    }
    let count = requests.len();
    for req in &requests {
        let r = s.raw(req);
        assert!(
            (400..500).contains(&r.status),
            "{} for {:?}",
            r.head,
            String::from_utf8_lossy(&req[..req.len().min(120)])
        );
        assert!(
            !r.body.is_empty() && r.text().trim_end().lines().count() == 1,
            "reason: {:?}",
            r.text()
        );
    }
    // Still answering, and correctly.
    let r = s.post_token(SAMPLE);
    assert_eq!((r.status, r.text().as_str()), (200, "accepted\n"));
    let log = s.wait_log("POST /auth_result 200");
    assert!(
        log.lines().filter(|l| l.contains(" 4")).count() >= count - 13,
        "one log line per bad request"
    );
    eprintln!("malformed corpus: {count} requests");
}

fn post(path: &str, ct: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

fn base64_url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[test]
fn sigterm_and_sigint_stop_promptly() {
    for sig in ["TERM", "INT"] {
        let mut s = Server::start(&[]);
        let t = Instant::now();
        let pid = s.child().id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-s", sig, &pid])
            .status()
            .unwrap()
            .success());
        let status = loop {
            if let Some(st) = s.child().try_wait().unwrap() {
                break st;
            }
            assert!(t.elapsed() < Duration::from_secs(2), "SIG{sig} ignored");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(status.code(), Some(0), "SIG{sig}: clean exit");
        assert!(s
            .wait_log("stopping")
            .contains(&format!("stopping on SIG{sig}")));
    }
}

#[test]
fn two_workers_share_the_listener_and_stop_together() {
    let mut s = Server::start(&["--workers", "2", "--clock", SAMPLE_TIME]);
    let pid = s.child().id();
    for _ in 0..20 {
        assert_eq!(s.post_token(SAMPLE).status, 200);
    }
    // Checked after serving: "listening" is printed before the second loop
    // starts, so an earlier look could race it. Two public loops, the
    // inbox's loop, and the log writer.
    assert_eq!(threads(pid), 4);
    // 20 deliveries, whichever loop took each: one first sight, 19 replays.
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.log().matches("replay status=").count() < 19 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        s.log().matches("replay status=").count(),
        19,
        "replay cache shared by both loops"
    );
    let t = Instant::now();
    std::process::Command::new("kill")
        .args(["-s", "TERM", &pid.to_string()])
        .status()
        .unwrap();
    while s.child().try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(2), "workers did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        s.child().try_wait().unwrap().and_then(|st| st.code()),
        Some(0)
    );
}

/// CPU ticks (user + system) of each thread of `pid` named `name`, by tid.
fn thread_ticks(pid: u32, name: &str) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let t = t.unwrap();
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        out.insert(t.file_name().to_string_lossy().into_owned(), ticks);
    }
    out
}

/// Regression: with `--workers 2`, whichever loop woke first accepted a
/// whole burst of keep-alive connections (up to 256 at a time), so the
/// token route ran on one core at half the throughput, in some runs.
#[test]
fn a_connection_burst_piled_onto_one_worker() {
    let s = Server::start(&["--workers", "2", "--clock", SAMPLE_TIME]);
    let pid = s.pid();
    // "listening" is logged before the second loop starts: wait for it.
    let t = Instant::now();
    while thread_ticks(pid, "comm-test").len() < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "second loop never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let conns: Vec<TcpStream> = (0..16).map(|_| s.connect()).collect();
    let req = format!(
        "POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Type: application/jwt\r\nContent-Length: {}\r\n\r\n{SAMPLE}",
        SAMPLE.len()
    );
    let before = thread_ticks(pid, "comm-test");
    let threads: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let req = req.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                while t.elapsed() < Duration::from_millis(1500) {
                    c.write_all(req.as_bytes()).unwrap();
                    assert_eq!(common::read_reply(&mut c).status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let after = thread_ticks(pid, "comm-test");
    let used: Vec<u64> = after
        .iter()
        .map(|(tid, a)| a - before.get(tid).copied().unwrap_or(0))
        .collect();
    eprintln!("CPU ticks per loop over 1.5 s of 16 keep-alive token clients: {used:?}");
    assert_eq!(used.len(), 2);
    let total: u64 = used.iter().sum();
    assert!(
        used.iter().all(|u| *u * 4 >= total),
        "one loop did almost all the work: {used:?}"
    );
}
