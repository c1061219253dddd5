//! No single client can starve, stall or bloat the plugin. Each
//! test is named after the defect it caught on the loop before, and runs
//! the real binary on loopback as the attacker would. Figures are printed
//! (`cargo test --test starvation -- --nocapture`), never timed as pass
//! criteria beyond the issue's bounds.

mod common;
use common::{rss_kib, Server, SAMPLE, SAMPLE_TIME};
#[path = "common/mint.rs"]
mod mint;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const UI: &[u8] = b"GET /ui HTTP/1.1\r\nHost: x\r\n\r\n";

/// These tests measure the server under attack: one at a time, so that no
/// test's attacker is another test's noise.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn ui_latency(s: &Server) -> Duration {
    let t = Instant::now();
    let r = s.request("GET", "/ui", None, b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Communication plugin UI")
    );
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Item 1: a client pipelining `GET /ui` in small writes and never reading
/// grew RSS from 2.4 MB to 85 MB in 9 s (413 MB with four).
#[test]
fn unbounded_input_buffer_under_a_non_reading_pipeliner() {
    let _serial = serial();
    let s = Server::start(&[]);
    let pid = s.pid();
    let before = rss_kib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let mut c = s.connect();
            c.set_nonblocking(true).unwrap();
            // One segment per request: each one a readiness event.
            c.set_nodelay(true).unwrap();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut sent = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    match c.write(UI) {
                        Ok(n) => sent += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(1))
                        }
                        Err(_) => break,
                    }
                }
                (sent, c)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(4));
    let during = rss_kib(pid);
    let ui = ui_latency(&s);
    stop.store(true, Ordering::Relaxed);
    let sent: usize = writers.into_iter().map(|w| w.join().unwrap().0).sum();
    eprintln!(
        "item 1: RSS {before} KiB before, {during} KiB after 4 s of 4 non-reading pipeliners \
         ({} KB sent); GET /ui meanwhile in {ui:?}",
        sent / 1000
    );
    assert!(during <= 8 * 1024, "RSS {during} KiB");
}

/// Item 2: 6 000 pipelined `GET /ui` in one write: 5 225 answered, then a
/// 10 s stall and a false 408 (bytes left in the kernel raised no event).
#[test]
fn pipelined_burst_stalled_after_the_buffer_cap() {
    let _serial = serial();
    let s = Server::start(&[]);
    let mut c = s.connect();
    let burst: Vec<u8> = UI.repeat(6000);
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&burst).unwrap());
    let t = Instant::now();
    let needle = b"HTTP/1.1 200 OK";
    let (mut answered, mut tail, mut buf) = (0usize, Vec::new(), vec![0u8; 65536]);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while answered < 6000 {
        let n = c.read(&mut buf).expect("answers stopped coming");
        assert!(n > 0, "closed after {answered} answers");
        tail.extend_from_slice(&buf[..n]);
        answered += tail.windows(needle.len()).filter(|w| w == needle).count();
        assert!(!tail.windows(3).any(|w| w == b"408"), "false 408");
        let keep = tail.len().saturating_sub(needle.len() - 1);
        tail.drain(..keep);
    }
    writer.join().unwrap();
    eprintln!(
        "item 2: 6 000 pipelined GET /ui answered in {:?}",
        t.elapsed()
    );
}

/// A token the server must open with a full RSA private operation, and
/// then refuse: the sample's header with a random encrypted key.
fn costly_token(seed: u64) -> String {
    let parts: Vec<&str> = SAMPLE.split('.').collect();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let ek: Vec<u8> = (0..256)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Below the modulus, so the private operation runs.
            if i == 0 {
                (x as u8) & 0x3f
            } else {
                x as u8
            }
        })
        .collect();
    let ek = mint::b64(&ek);
    format!("{}.{ek}.{}.{}.{}", parts[0], parts[2], parts[3], parts[4])
}

/// One costly token's round trip on an idle server: the unit the flood
/// test counts in, measured in the same run (median of 7).
fn one_token_time(s: &Server) -> Duration {
    let times: Vec<Duration> = (0..7)
        .map(|i| {
            let t = Instant::now();
            let r = s.post_token(&costly_token(9_000_000 + i));
            assert_eq!(r.status, 400);
            t.elapsed()
        })
        .collect();
    median(times)
}

/// Item 3: 30 connections pipelining costly tokens delayed `GET /ui` by
/// 2-5 s: the loop answered a connection's whole pipeline before the next.
/// Fair turns mean a request waits at most one request of each other busy
/// connection: about 30 token times, where the old loop made it wait
/// whole pipelines (8 each: 240). Counted in token times measured in the
/// same run, not in milliseconds, so a loaded machine slows both sides
/// alike (a fixed 100 ms bound failed under a parallel `cargo build`).
#[test]
fn no_fairness_between_connections_under_a_token_flood() {
    let _serial = serial();
    let s = Server::start(&[]);
    let unit = one_token_time(&s);
    let stop = Arc::new(AtomicBool::new(false));
    let floods: Vec<_> = (0..30u64)
        .map(|i| {
            let mut c = common::Replies::new(s.connect());
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut done = 0usize;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Eight in flight at a time, always.
                    let mut batch = Vec::new();
                    for _ in 0..8 {
                        n += 1;
                        let t = costly_token(i * 1_000_000 + n);
                        batch.extend_from_slice(
                            format!(
                                "POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Type: application/jwt\r\nContent-Length: {}\r\n\r\n{t}",
                                t.len()
                            )
                            .as_bytes(),
                        );
                    }
                    if c.stream().write_all(&batch).is_err() {
                        break;
                    }
                    for _ in 0..8 {
                        let r = c.next_reply();
                        assert_eq!(
                            (r.status, r.text().as_str()),
                            (400, "decryption_failed: JWE could not be decrypted\n")
                        );
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let probes: Vec<Duration> = (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            ui_latency(&s)
        })
        .collect();
    stop.store(true, Ordering::Relaxed);
    let tokens: usize = floods.into_iter().map(|f| f.join().unwrap()).sum();
    let (max, med) = (*probes.iter().max().unwrap(), median(probes.clone()));
    let in_tokens = |d: Duration| d.as_secs_f64() / unit.as_secs_f64();
    eprintln!(
        "item 3: GET /ui while 30 connections flood tokens ({tokens} refused): median {med:?} \
         ({:.1} token times of {unit:?}), max {max:?} ({:.1})",
        in_tokens(med),
        in_tokens(max)
    );
    // One round of 30 is the design; whole pipelines (240) the defect.
    assert!(in_tokens(med) <= 80.0, "{probes:?} against {unit:?}");
}

/// The slot tests' servers run with 30 s time-outs, and the defects they
/// pin waited for one of them to free a slot (9.5 s, 30 s). Answered well
/// before a third of that is answered without any time-out: a bound on
/// what the loop did, not a speed (a loaded machine is far from it).
const WELL_BEFORE_TIMEOUTS: Duration = Duration::from_secs(10);

fn one_byte_holders(s: &Server, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(b"G").unwrap();
            c
        })
        .collect()
}

/// Item 4: 64 connections that each sent one byte blocked every other
/// client for the whole read timeout: none of them was ever evicted.
#[test]
fn slot_exhaustion_by_one_byte_holders() {
    let _serial = serial();
    let s = Server::start(&["--max-connections", "64", "--read-timeout", "30"]);
    let _holders = one_byte_holders(&s, 100);
    std::thread::sleep(Duration::from_millis(200));
    let took = ui_latency(&s);
    eprintln!("item 4: GET /ui behind 100 one-byte holders, cap 64: {took:?}");
    assert!(took < WELL_BEFORE_TIMEOUTS, "{took:?}");
}

/// Item 4, at the default cap: 1 000 connections each holding one byte.
#[test]
fn slot_exhaustion_by_a_thousand_one_byte_holders() {
    let _serial = serial();
    let s = Server::start(&["--read-timeout", "30"]);
    let pid = s.pid();
    let idle_before = rss_kib(pid);
    let idle: Vec<TcpStream> = (0..1000).map(|_| s.connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let _ = ui_latency(&s);
    let with_idle = rss_kib(pid);
    drop(idle);
    let _holders = one_byte_holders(&s, 1000);
    std::thread::sleep(Duration::from_millis(300));
    let took = ui_latency(&s);
    eprintln!(
        "item 4: GET /ui behind 1 000 one-byte holders (default cap): {took:?}; RSS {idle_before} KiB \
         with none, {with_idle} KiB with 1 000 idle connections ({} bytes each)",
        (with_idle.saturating_sub(idle_before)) * 1024 / 1000
    );
    assert!(took < WELL_BEFORE_TIMEOUTS, "{took:?}");
}

/// Item 4: with `ulimit -n 64` and 100 idle connections, `accept` failed
/// with EMFILE and `GET /ui` waited 9.5 s for time-outs.
#[test]
fn emfile_stopped_accepting_until_timeouts() {
    let _serial = serial();
    let s = Server::start_limited(64, &["--read-timeout", "30", "--idle-timeout", "30"]);
    let _idle: Vec<TcpStream> = (0..100).map(|_| s.connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let took = ui_latency(&s);
    eprintln!("item 4: GET /ui with ulimit -n 64 behind 100 idle connections: {took:?}");
    assert!(took < WELL_BEFORE_TIMEOUTS, "{took:?}");
}

/// Starts the binary on a fixed port with stderr as given, and waits until
/// it serves.
fn spawn_on_port(stderr: Stdio, args: &[&str]) -> (std::process::Child, std::net::SocketAddr) {
    let port = common::free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = common::command(&["--listen", &addr.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    common::wait_serving(addr);
    (child, addr)
}

fn get(addr: std::net::SocketAddr, req: &[u8]) -> common::Reply {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(req).unwrap();
    common::read_reply(&mut c)
}

fn sigterm_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(t.elapsed() < Duration::from_secs(3), "SIGTERM not obeyed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Item 5: stderr written with a blocking `write_all` stopped the whole
/// server, SIGTERM included, when its reader stalled; a 65 KB `purpose`
/// made a 65 KB line.
#[test]
fn logging_to_a_stalled_stderr_stopped_the_loop() {
    let _serial = serial();
    let (mut child, addr) = spawn_on_port(Stdio::piped(), &[]);
    let mut stderr = child.stderr.take().unwrap();
    let purpose = "p".repeat(60_000);
    let body = format!(r#"{{"purpose":"{purpose}"}}"#);
    let req = format!(
        "POST /start_communication HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let t = Instant::now();
    for _ in 0..1000 {
        assert_eq!(get(addr, req.as_bytes()).status, 200);
    }
    assert_eq!(get(addr, UI).status, 200);
    eprintln!(
        "item 5: 1 000 requests with a 60 KB purpose, stderr never read: {:?}",
        t.elapsed()
    );
    // Now read: the writer catches up, and a later line reports the drops.
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all);
        String::from_utf8_lossy(&all).into_owned()
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(get(addr, UI).status, 200);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sigterm_exit(&mut child).code(), Some(0));
    let log = reader.join().unwrap();
    let longest = log.lines().map(str::len).max().unwrap();
    assert!(longest <= 8 * 1024, "a line of {longest} bytes");
    assert!(log.contains("…[cut, 60000 bytes]"), "cut visibly");
    assert!(
        log.contains(" log lines dropped"),
        "drops reported:\n{}",
        &log[..2000.min(log.len())]
    );
    common::assert_no_key_material(&log);
}

/// Item 6: `eprintln!` panicked on EPIPE, and `panic = "abort"` made that
/// a SIGABRT, at start when stderr's reader was gone and on SIGTERM.
#[test]
fn a_closed_stderr_crashed_the_process() {
    let _serial = serial();
    let (mut child, addr) = spawn_on_port(Stdio::piped(), &[]);
    drop(child.stderr.take());
    for _ in 0..20 {
        assert_eq!(get(addr, UI).status, 200);
    }
    let st = sigterm_exit(&mut child);
    assert_eq!(st.code(), Some(0), "{st:?}");
    // The start-up lines, written when the reader is already gone.
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    let mut child = common::command(&["--listen", "127.0.0.1:0"])
        .stderr(w)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "died at start");
    assert_eq!(sigterm_exit(&mut child).code(), Some(0));
    // And a configuration error with stderr gone is still exit 2.
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    let st = common::command(&["--leeway", "x"])
        .stderr(w)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(2));
}

/// Item 7: the read time-out counted from accept, not the first byte:
/// with `--read-timeout 2`, a client that waited 1.7 s and then sent its
/// head in two parts got 408 0.3 s after its first byte.
#[test]
fn read_timeout_counted_from_accept_not_the_first_byte() {
    let _serial = serial();
    let s = Server::start(&["--read-timeout", "2", "--idle-timeout", "5"]);
    let mut c = s.connect();
    std::thread::sleep(Duration::from_millis(1700));
    c.write_all(b"GET /ui HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    c.write_all(b"Host: x\r\n\r\n").unwrap();
    let r = common::read_reply(&mut c);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Communication plugin UI")
    );
}

/// Item 7: the two limits, each on its own.
#[test]
fn idle_and_request_timeouts_are_separate_limits() {
    let _serial = serial();
    let s = Server::start(&["--read-timeout", "1", "--idle-timeout", "2"]);
    // Idle: closed silently after --idle-timeout, not --read-timeout.
    let mut idle = s.connect();
    let t = Instant::now();
    let mut buf = Vec::new();
    assert_eq!(
        idle.read_to_end(&mut buf).unwrap_or(0),
        0,
        "no 408 for idle"
    );
    let idle_took = t.elapsed();
    assert!(
        idle_took >= Duration::from_millis(1900) && idle_took < Duration::from_secs(4),
        "{idle_took:?}"
    );
    // Request: 408 --read-timeout after the first byte.
    let mut slow = s.connect();
    std::thread::sleep(Duration::from_millis(1500));
    slow.write_all(b"GET /ui HTTP/1.1\r\n").unwrap();
    let t = Instant::now();
    let r = common::read_reply(&mut slow);
    let took = t.elapsed();
    assert_eq!(
        (r.status, r.text().as_str()),
        (408, "request not received in time\n")
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // Kept alive: after an answer, the idle limit applies again.
    let mut k = s.connect();
    k.write_all(UI).unwrap();
    assert_eq!(common::read_reply(&mut k).status, 200);
    std::thread::sleep(Duration::from_millis(1500));
    k.write_all(UI).unwrap();
    assert_eq!(common::read_reply(&mut k).status, 200, "idle 1.5 s < 2 s");
}

/// Item 8: `Content-Length` was trimmed of Unicode whitespace, and
/// HTTP/1.1 requests without `Host`, or with two, were served.
#[test]
fn content_length_with_unicode_whitespace_and_host_rules() {
    let _serial = serial();
    let s = Server::start(&[]);
    for (req, status, reason) in [
        (
            "POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Length: \u{a0}15\r\n\r\n",
            400,
            "Content-Length is not a number\n",
        ),
        (
            "POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Length: 15\u{85}\r\n\r\n",
            400,
            "Content-Length is not a number\n",
        ),
        (
            "POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Length: \u{3000}15\r\n\r\n",
            400,
            "Content-Length is not a number\n",
        ),
        (
            "GET /ui HTTP/1.1\r\n\r\n",
            400,
            "HTTP/1.1 request without Host header\n",
        ),
        (
            "GET /ui HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
            "more than one Host header\n",
        ),
        (
            "GET /ui HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
            "more than one Host header\n",
        ),
    ] {
        let r = s.raw(req.as_bytes());
        assert_eq!((r.status, r.text().as_str()), (status, reason), "{req:?}");
    }
    let r = s.raw(b"GET /ui HTTP/1.1\r\nHost: x\r\nContent-Length: \t0 \r\n\r\n");
    assert_eq!(r.status, 200, "SP and HTAB are optional whitespace");
    let r = s.raw(b"GET /ui HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200, "HTTP/1.0 needs no Host");
}

/// Item 13: the replay cache hashed the outer JWE, so the same signed
/// result re-encrypted (anyone can encrypt to the plugin) was not seen.
#[test]
fn re_encrypted_result_was_not_seen_as_a_replay() {
    let _serial = serial();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jws = mint::sign(
        &serde_json::json!({"alg": "RS256"}),
        &mint::claims(now),
        include_str!("../keys/idcontact-test-rsa.key.pem"),
    );
    let header = serde_json::json!({"alg": "RSA-OAEP", "enc": "A128CBC-HS256"});
    let public = include_str!("../keys/idcontact-test-rsa.pub.pem");
    let (a, b) = (
        mint::encrypt(&header, &jws, public),
        mint::encrypt(&header, &jws, public),
    );
    assert_ne!(a, b, "two encryptions of one result");
    let s = Server::start(&["--reject-replays", "true"]);
    assert_eq!(s.post_token(&a).status, 200);
    let r = s.post_token(&b);
    assert_eq!(
        (r.status, r.text().as_str()),
        (409, "replay: token was accepted before\n")
    );
}

/// Item 15 over HTTP: line separators, C1 controls and bidi overrides in
/// `purpose` reached the log raw.
#[test]
fn unprintable_characters_reached_the_log_raw() {
    let _serial = serial();
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    let body = "{\"purpose\":\"a\u{2028}b\u{85}c\u{9b}d\u{202e}e\u{7f}f\\u001b[2J\"}";
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 200);
    let log = s.wait_log("purpose=");
    let line = log.lines().find(|l| l.contains("purpose=")).unwrap();
    assert!(
        line.ends_with(r#"purpose="a\u2028b\u0085c\u009bd\u202ee\u007ff\u001b[2J""#),
        "{line}"
    );
}

/// The kernel's `TcpExt` counter `name` (system-wide).
fn tcp_ext(name: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap();
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let i = names.split_whitespace().position(|n| n == name).unwrap();
        return values.split_whitespace().nth(i).unwrap().parse().unwrap();
    }
    panic!("no TcpExt {name}");
}

/// Item 19: clients that connect one after another and keep their
/// connections stalled although the server was idle: of 1 500 serial
/// connects one in every 130-200 waited about 1 s, a SYN dropped because
/// the accept queue (std's backlog of 128) overflowed while `accept` of
/// descriptor 256, 512, 1 024 waited 13-21 ms for the file table to grow.
/// Asserted on what the kernel counted, not on a wait.
#[test]
fn serial_connects_never_overflow_the_accept_queue() {
    let _serial = serial();
    let s = Server::start_limited(8192, &["--max-connections", "4000", "--inbox", "off"]);
    let (overflows, syn_retrans) = (tcp_ext("ListenOverflows"), tcp_ext("TCPSynRetrans"));
    // As many as this process may open, up to 3 000 (past 1 024, 2 048).
    let limit: usize = String::from_utf8(
        Command::new("sh")
            .args(["-c", "ulimit -n"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap_or(1024);
    let n = limit.saturating_sub(64).min(3000);
    let held: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    let (overflows, syn_retrans) = (
        tcp_ext("ListenOverflows") - overflows,
        tcp_ext("TCPSynRetrans") - syn_retrans,
    );
    eprintln!(
        "item 19: {n} serial connects: ListenOverflows +{overflows}, TCPSynRetrans +{syn_retrans}"
    );
    assert_eq!((overflows, syn_retrans), (0, 0));
    drop(held);
    assert_eq!(ui_latency_ok(&s), 200);
}

fn ui_latency_ok(s: &Server) -> u16 {
    s.request("GET", "/ui", None, b"").status
}
