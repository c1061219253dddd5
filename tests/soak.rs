//! Bounded load over loopback: 20 000 requests mixing valid tokens,
//! invalid tokens and start_communication from several client threads,
//! every answer checked, resident memory compared after warm-up.
//! About 20 s; `cargo test --release --test soak -- --nocapture` shows the figures.

mod common;
use common::{Server, SAMPLE, SAMPLE_TIME};
use std::io::Write;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap())
        })
        .unwrap()
}

fn run(s: &Server, threads: usize, per_thread: usize) {
    let bad = SAMPLE.replacen('A', "B", 1);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let bad = &bad;
            scope.spawn(move || {
                // Keep-alive connections, as a core would use.
                let mut conn = s.connect();
                for i in 0..per_thread {
                    let (req, want): (Vec<u8>, u16) = match (t + i) % 4 {
                        0 => (post("/auth_result", "application/jwt", SAMPLE), 200),
                        1 => (post("/auth_result", "application/jwt", bad), 400),
                        2 => (
                            post(
                                "/start_communication",
                                "application/json",
                                r#"{"purpose":"report_move"}"#,
                            ),
                            200,
                        ),
                        _ => (b"GET /ui HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 200),
                    };
                    conn.write_all(&req).unwrap();
                    let r = common::read_reply(&mut conn);
                    assert_eq!(r.status, want, "thread {t} request {i}: {}", r.text());
                }
            });
        }
    });
}

fn post(path: &str, ct: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn soak_20000_mixed_requests() {
    let mut s = Server::start(&["--clock", SAMPLE_TIME]);
    let pid = s.child().id();
    let idle = rss_kib(pid);
    run(&s, 4, 500); // warm-up: 2 000
    let warm = rss_kib(pid);
    let t = std::time::Instant::now();
    run(&s, 4, 5_000); // 20 000
    let took = t.elapsed();
    let after = rss_kib(pid);
    assert!(s.is_running());
    let log = s.log();
    assert!(!log.contains("panicked"));
    assert_eq!(log.lines().filter(|l| l.contains(" 500 ")).count(), 0);
    eprintln!("soak: 20000 requests in {took:?}; RSS idle {idle} KiB, after warm-up {warm} KiB, after soak {after} KiB");
    // No growth after warm-up beyond allocator noise.
    assert!(
        after <= warm + 256,
        "RSS grew from {warm} KiB to {after} KiB"
    );
}
