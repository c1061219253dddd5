//! `cargo bench` (add `--features aws-lc` for the AWS-LC RSA path):
//! per-operation medians of the raw primitives, of the full token decode,
//! and of each route through the real server on loopback. It reports; it
//! never fails on speed.

mod timing;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use comm_test::jose::hazmat as jwe;
use comm_test::jose::{self, DecryptionKey, KeySet, Policy, VerificationKey};
use ring::signature::{self, UnparsedPublicKey};

const SAMPLE: &str = include_str!("../data/sample-token.jwt");

fn median<F: FnMut()>(iters: usize, mut f: F) -> Duration {
    for _ in 0..iters / 10 + 1 {
        f();
    }
    let mut t: Vec<Duration> = (0..iters)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[iters / 2]
}

/// Medians of several operations timed in turn within each round, so that
/// all of them see the same machine: on a shared, noisy host a ratio of
/// medians taken minutes apart says more about the neighbours than the code.
fn interleaved<const N: usize>(rounds: usize, ops: &mut [&mut dyn FnMut(); N]) -> [Duration; N] {
    let mut samples: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(rounds));
    for round in 0..rounds + rounds / 10 {
        for (op, times) in ops.iter_mut().zip(samples.iter_mut()) {
            let t = Instant::now();
            op();
            if round >= rounds / 10 {
                times.push(t.elapsed());
            }
        }
    }
    samples.map(|mut v| {
        v.sort();
        v[v.len() / 2]
    })
}

fn report(name: &str, d: Duration) -> f64 {
    let us = d.as_secs_f64() * 1e6;
    println!("{name:<44} {us:>10.2} µs  {:>10.0} /s", 1e6 / us);
    us
}

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn keys(dec: &str, sig: &str) -> KeySet {
    KeySet {
        decryption: vec![DecryptionKey::from_pem(dec, None).unwrap()],
        verification: vec![VerificationKey::from_pem(sig, None).unwrap()],
    }
}

fn token_path() {
    let rsa_pem = include_str!("../../keys/idcontact-test-rsa.key.pem");
    let rsa_keys = keys(
        rsa_pem,
        include_str!("../../keys/idcontact-test-rsa.pub.pem"),
    );
    let ec_pem = include_str!("../../keys/idcontact-test-ec.key.pem");
    let ec_keys = keys(ec_pem, include_str!("../../keys/idcontact-test-ec.pub.pem"));
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../data/tokens.json")).unwrap();
    let ec_token = cases
        .iter()
        .find(|c| c["name"] == "ec_ok_succes_attributes")
        .unwrap()["token"]
        .as_str()
        .unwrap();
    let rounds = if cfg!(feature = "aws-lc") { 2000 } else { 400 };

    // Raw primitives, called directly on the crates (no code of ours),
    // on the very inputs the full decode of the same token meets.
    let parts: Vec<&str> = SAMPLE.split('.').collect();
    let ek = b64(parts[1]);
    #[cfg(not(feature = "aws-lc"))]
    let bare_ek = ek.clone();
    #[cfg(not(feature = "aws-lc"))]
    let mut raw_oaep = {
        use rsa::pkcs8::DecodePrivateKey;
        let k = rsa::PrivateKey::from_pkcs8_pem(rsa_pem).unwrap();
        // Blinded, as the decoder runs it.
        let mut rng = jose::hazmat::SystemRng::new();
        move || {
            std::hint::black_box(
                k.oaep_decrypt_with_rng::<sha1::Sha1, _>(&mut rng, &ek)
                    .unwrap(),
            );
        }
    };
    // The same operation unblinded (no RNG given: `rsa` then skips
    // blinding): what blinding costs, shown beside it. Never served.
    #[cfg(not(feature = "aws-lc"))]
    let mut unblinded = {
        use rsa::pkcs8::DecodePrivateKey;
        let k = rsa::PrivateKey::from_pkcs8_pem(rsa_pem).unwrap();
        move || {
            std::hint::black_box(k.oaep_decrypt::<sha1::Sha1>(&bare_ek).unwrap());
        }
    };
    #[cfg(feature = "aws-lc")]
    let mut unblinded = || {};
    #[cfg(feature = "aws-lc")]
    let mut raw_oaep = {
        use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
        let der = rsa::PrivateKey::from_pkcs8_pem(rsa_pem)
            .unwrap()
            .to_pkcs8_der()
            .unwrap();
        let k = aws_lc_rs::rsa::OaepPrivateDecryptingKey::new(
            aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(der.as_bytes()).unwrap(),
        )
        .unwrap();
        let mut out = vec![0u8; k.min_output_size()];
        move || {
            std::hint::black_box(
                k.decrypt(&aws_lc_rs::rsa::OAEP_SHA1_MGF1SHA1, &ek, &mut out, None)
                    .unwrap(),
            );
        }
    };
    let opened = jwe::decrypt(
        SAMPLE,
        &[jose::KeyManagement::RsaOaep],
        &rsa_keys.decryption,
    )
    .unwrap();
    let inner: Vec<&str> = opened.njwt.split('.').collect();
    let signing_input = format!("{}.{}", inner[0], inner[1]);
    let sig = b64(inner[2]);
    let rsa_pub = {
        use rsa::pkcs1::EncodeRsaPublicKey;
        use rsa::pkcs8::DecodePublicKey;
        rsa::PublicKey::from_public_key_pem(include_str!("../../keys/idcontact-test-rsa.pub.pem"))
            .unwrap()
            .to_pkcs1_der()
            .unwrap()
    };
    let mut raw_rs256 = || {
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, rsa_pub.as_bytes())
            .verify(signing_input.as_bytes(), &sig)
            .unwrap();
    };
    let rsa_policy = Policy::for_keys(&rsa_keys, 60);
    let mut rsa_decode = || {
        jose::decode(SAMPLE, &rsa_keys, &rsa_policy, 1_615_879_800).unwrap();
    };
    // Refused for its lengths (a 1-byte IV, a 3-byte tag) before any
    // private-key operation: it should cost a small fraction of the above.
    let malformed: Vec<String> = [(2usize, "AQ"), (4, "AQID")]
        .iter()
        .map(|(i, part)| {
            let mut p: Vec<&str> = SAMPLE.split('.').collect();
            p[*i] = part;
            p.join(".")
        })
        .collect();
    let mut rsa_malformed = || {
        for t in &malformed {
            std::hint::black_box(
                jose::decode(t, &rsa_keys, &rsa_policy, 1_615_879_800).unwrap_err(),
            );
        }
    };
    let [bare, oaep, rs256, rsa_full, rsa_short] = interleaved(
        rounds,
        &mut [
            &mut unblinded,
            &mut raw_oaep,
            &mut raw_rs256,
            &mut rsa_decode,
            &mut rsa_malformed,
        ],
    );

    let ec_opened = jwe::decrypt(
        ec_token,
        &[jose::KeyManagement::EcdhEs],
        &ec_keys.decryption,
    )
    .unwrap();
    let epk = jwe::parse_epk(ec_opened.header.epk.as_ref()).unwrap();
    let ec_secret = {
        use p256::pkcs8::DecodePrivateKey;
        p256::SecretKey::from_pkcs8_pem(ec_pem).unwrap()
    };
    let mut raw_ecdh = || {
        std::hint::black_box(ec_secret.diffie_hellman(&epk));
    };
    let ec_inner: Vec<&str> = ec_opened.njwt.split('.').collect();
    let ec_input = format!("{}.{}", ec_inner[0], ec_inner[1]);
    let ec_sig = b64(ec_inner[2]);
    let ec_point = {
        use p256::pkcs8::DecodePublicKey;
        p256::PublicKey::from_public_key_pem(include_str!("../../keys/idcontact-test-ec.pub.pem"))
            .unwrap()
            .to_sec1_bytes()
    };
    let mut raw_es256 = || {
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &ec_point[..])
            .verify(ec_input.as_bytes(), &ec_sig)
            .unwrap();
    };
    let ec_policy = Policy::for_keys(&ec_keys, 60);
    let mut ec_decode = || {
        jose::decode(ec_token, &ec_keys, &ec_policy, 1_700_000_100).unwrap();
    };
    let [ecdh, es256, ec_full] =
        interleaved(2000, &mut [&mut raw_ecdh, &mut raw_es256, &mut ec_decode]);

    println!("# raw primitives (crates called directly), interleaved with the full decode");
    let oaep_us = report(
        if cfg!(feature = "aws-lc") {
            "RSA-OAEP-SHA1 decrypt (aws-lc-rs)"
        } else {
            "RSA-OAEP-SHA1 decrypt (rsa 0.10)"
        },
        oaep,
    );
    if !cfg!(feature = "aws-lc") {
        let bare_us = report("  unblinded, for comparison only", bare);
        println!("{:<44} {:>10.3}x", "  blinding's cost", oaep_us / bare_us);
    }
    let rs256_us = report("RS256 verify (ring)", rs256);
    let ecdh_us = report("ECDH P-256 (p256)", ecdh);
    let es256_us = report("ES256 verify (ring)", es256);
    println!("# full decode: both layers and the claims (jose::decode)");
    let r = report("decode RSA-OAEP + RS256 (sample token)", rsa_full);
    let short = report("  refused: 1-byte IV, then 3-byte tag (both)", rsa_short);
    println!(
        "{:<44} {:>10.4}x",
        "  each, as a fraction of the sample's decode",
        short / 2.0 / r
    );
    println!(
        "{:<44} {:>10.3}x",
        "  ratio to RSA-OAEP + RS256",
        r / (oaep_us + rs256_us)
    );
    let e = report("decode ECDH-ES + ES256", ec_full);
    println!(
        "{:<44} {:>10.3}x",
        "  ratio to ECDH + ES256",
        e / (ecdh_us + es256_us)
    );
}

/// A server of `bin` on a free port, the public listener only; its address.
/// With `taskset` at hand the server runs on CPU 1 (run the bench itself
/// under `taskset -c 0`): on a 2-core VM a ping-pong's latency otherwise
/// depends on where the scheduler puts the two ends, and varies by 2x.
fn serve(bin: &str) -> (std::process::Child, String) {
    let pinned = Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", bin]);
        c
    } else {
        Command::new(bin)
    };
    // `COMM_TEST_INBOX=on`: the default configuration, an inbox beside
    // the public listener (nobody reading it); else the public one alone.
    let inbox = match std::env::var("COMM_TEST_INBOX").as_deref() {
        Ok("on") => "127.0.0.1:0",
        _ => "off",
    };
    let mut child = cmd
        .args([
            "--listen",
            "127.0.0.1:0",
            "--inbox",
            inbox,
            "--clock",
            "1615879800",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let l = lines.next().unwrap().unwrap();
        if let Some((_, a)) = l.split_once("comm-test: listening on http://") {
            break a.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

const ROUTES: [&str; 3] = [
    "GET /ui",
    "POST /start_communication",
    "POST /auth_result (RSA sample token)",
];

/// The median round trip of each route in `ROUTES` on one keep-alive
/// connection, `n` requests each (the token route a tenth as many).
fn route_medians(addr: &str, n: usize) -> [Duration; 3] {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_nodelay(true).unwrap();
    let mut roundtrip = |req: &[u8]| {
        conn.write_all(req).unwrap();
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        loop {
            let n = conn.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            if let Some(h) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&got[..h]).unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if got.len() >= h + 4 + len {
                    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                    break;
                }
            }
        }
    };
    let ui = b"GET /ui HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let start = b"POST /start_communication HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 25\r\n\r\n{\"purpose\":\"report_move\"}".to_vec();
    let auth = format!("POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Type: application/jwt\r\nContent-Length: {}\r\n\r\n{SAMPLE}", SAMPLE.len()).into_bytes();
    let token_n = if cfg!(feature = "aws-lc") {
        n / 10
    } else {
        n / 50
    };
    [
        median(n, || roundtrip(&ui)),
        median(n, || roundtrip(&start)),
        median(token_n.max(20), || roundtrip(&auth)),
    ]
}

fn http_path() {
    println!("# HTTP through the real server, one keep-alive client, loopback");
    let (mut child, addr) = serve(env!("CARGO_BIN_EXE_comm-test"));
    let medians = route_medians(&addr, 20_000);
    for (route, d) in ROUTES.iter().zip(medians) {
        report(route, d);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// This build against another (`COMM_TEST_BASELINE=path/to/comm-test`),
/// per route, interleaved: each of `COMM_TEST_ROUNDS` rounds (7, at least 5) starts a fresh server of
/// each build in turn (the order alternating) and takes each route's
/// median; the figure is the median of the rounds', and the ratio to the
/// baseline's.
fn versus() {
    let rounds_wanted = std::env::var("COMM_TEST_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7usize);
    let rounds_n = rounds_wanted.max(5);
    let Ok(baseline) = std::env::var("COMM_TEST_BASELINE") else {
        println!("# versus: set COMM_TEST_BASELINE=path/to/another/comm-test to compare");
        return;
    };
    let this = env!("CARGO_BIN_EXE_comm-test").to_owned();
    println!("# per route, this build vs {baseline}, {rounds_n} rounds interleaved");
    let mut rounds: [Vec<[Duration; 3]>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds_n {
        for k in 0..2 {
            let which = (round + k) % 2;
            let bin = if which == 0 { &this } else { &baseline };
            let (mut child, addr) = serve(bin);
            rounds[which].push(route_medians(&addr, 10_000));
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    // Each round's pair ran back to back: its ratio cancels the drift of
    // a shared machine, which medians of each build alone do not.
    for (i, route) in ROUTES.iter().enumerate() {
        let mid = |which: usize| {
            let mut v: Vec<Duration> = rounds[which].iter().map(|r| r[i]).collect();
            v.sort();
            v[v.len() / 2]
        };
        let mut ratios: Vec<f64> = rounds[0]
            .iter()
            .zip(&rounds[1])
            .map(|(a, b)| a[i].as_secs_f64() / b[i].as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        let q = |f: f64| ratios[((ratios.len() - 1) as f64 * f).round() as usize];
        println!(
            "{route:<40} this {:>9.2} µs  baseline {:>9.2} µs  ratio median {:.3} (quartiles {:.3}-{:.3})",
            mid(0).as_secs_f64() * 1e6,
            mid(1).as_secs_f64() * 1e6,
            q(0.5),
            q(0.25),
            q(0.75)
        );
    }
}

/// A 16 KiB token whose protected header holds thousands of tiny array
/// elements: the worst shape for the journal (as in `tests/inbox.rs`).
fn worst_shaped_token(now: u64) -> String {
    use comm_test::mint::{self, bent, EncryptionKey, Header, SigningKey};
    let signer =
        SigningKey::from_pem(include_str!("../../keys/idcontact-test-rsa.key.pem")).unwrap();
    let to =
        EncryptionKey::from_pem(include_str!("../../keys/idcontact-test-rsa.pub.pem")).unwrap();
    let claims = serde_json::json!({"sub": "id-contact-attributes", "status": "succes", "iat": now,
        "exp": now + 3600, "attributes": {"email": "bench@example.nl"}});
    let inner = mint::sign(&Header::default(), claims.to_string().as_bytes(), &signer).unwrap();
    let payload = mint::njwt(&inner);
    let mut n = 5600;
    loop {
        let bend = bent::set(serde_json::json!({ "x": vec![0; n] }));
        let t = bent::encrypt(&Header::default(), payload.as_bytes(), &to, &bend).unwrap();
        if t.len() <= 16 * 1024 {
            return t;
        }
        n -= 50;
    }
}

/// A request and its whole answer on a new connection: (status, body length).
fn fetch(addr: &str, req: &[u8]) -> (u16, usize) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(req).unwrap();
    let mut r = Vec::new();
    let _ = c.read_to_end(&mut r);
    let status = std::str::from_utf8(r.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, r.len())
}

/// p50 and p99 of `n` keep-alive `GET /ui` round trips.
fn ui_percentiles(addr: &str, n: usize) -> (Duration, Duration) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_nodelay(true).unwrap();
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            conn.write_all(b"GET /ui HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"Communication plugin UI") {
                let k = conn.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..k]);
            }
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[n / 2], times[n * 99 / 100])
}

/// The public `GET /ui` while the inbox works hardest: idle; while the
/// inbox renders a full journal of 1 000 worst-shaped events over and
/// over; while 300 event streams catch up on it. The inbox is a thread
/// with its own poll: what it does takes no turn from a citizen.
fn inbox_isolation() {
    println!("# public GET /ui p50 / p99 (10 000 keep-alive requests) while the inbox works");
    let mut child = Command::new(env!("CARGO_BIN_EXE_comm-test"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--inbox",
            "127.0.0.1:0",
            "--journal-size",
            "1000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut public, mut inbox) = (String::new(), String::new());
    while public.is_empty() {
        let l = lines.next().unwrap().unwrap();
        if let Some((_, a)) = l.split_once("comm-test: inbox on http://") {
            inbox = a.to_string();
        }
        if let Some((_, a)) = l.split_once("comm-test: listening on http://") {
            public = a.to_string();
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = worst_shaped_token(now);
    let post = format!(
        "POST /auth_result HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{token}",
        token.len()
    );
    for _ in 0..1000 {
        assert_eq!(fetch(&public, post.as_bytes()).0, 200);
    }
    let show = |name: &str, (p50, p99): (Duration, Duration)| {
        println!(
            "{name:<44} p50 {:>8.1} µs  p99 {:>8.1} µs",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        );
    };
    show("idle", ui_percentiles(&public, 10_000));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let render = {
        let (stop, inbox) = (stop.clone(), inbox.clone());
        std::thread::spawn(move || {
            let req = format!(
                "GET /api/events?limit=1000 HTTP/1.1\r\nHost: {inbox}\r\nConnection: close\r\n\r\n"
            );
            let mut renders = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, len) = fetch(&inbox, req.as_bytes());
                assert!(status == 200 && len > 20_000_000, "{status} {len}");
                renders += 1;
            }
            renders
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    show(
        "while the inbox renders 1 000 events",
        ui_percentiles(&public, 10_000),
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let renders = render.join().unwrap();
    println!("  ({renders} full renders of ~29 MB of JSON meanwhile)");
    let streams: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut c = TcpStream::connect(&inbox).unwrap();
            c.write_all(
                format!("GET /api/events/stream?since=0 HTTP/1.1\r\nHost: {inbox}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
            c
        })
        .collect();
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                let mut total = 0usize;
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
                total
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    show(
        "while 300 streams catch up on 1 000 events",
        ui_percentiles(&public, 10_000),
    );
    let sent: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    println!("  ({} MB reached the 300 stream readers)", sent / 1_000_000);
    show("idle again", ui_percentiles(&public, 10_000));
    let _ = child.kill();
    let _ = child.wait();
}

/// Exec to the first answered `GET /ui`, polling connect every 100 µs.
fn startup() {
    println!("# start-up: exec to first answered GET /ui (median of 30)");
    let port = 18_099;
    let mut times: Vec<Duration> = (0..30)
        .map(|_| {
            let t = Instant::now();
            let mut child = Command::new(env!("CARGO_BIN_EXE_comm-test"))
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let took = loop {
                if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) {
                    c.write_all(b"GET /ui HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .unwrap();
                    let mut r = Vec::new();
                    c.read_to_end(&mut r).unwrap();
                    assert!(r.starts_with(b"HTTP/1.1 200"));
                    break t.elapsed();
                }
                std::thread::sleep(Duration::from_micros(100));
            };
            let _ = child.kill();
            let _ = child.wait();
            took
        })
        .collect();
    times.sort();
    report("exec -> first GET /ui answered", times[15]);
}

/// The host's fastest RSA for scale: OpenSSL's RSA-2048 private operation
/// (`openssl speed rsa2048`, sign column), in the same run, if installed.
fn openssl_speed() {
    let Ok(out) = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .stderr(Stdio::null())
        .output()
    else {
        println!("# openssl not installed: no OpenSSL figure in this run");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let sign = text.lines().find_map(|l| {
        let rest = l.strip_prefix("rsa 2048 bits ")?;
        rest.split_whitespace()
            .next()?
            .strip_suffix('s')?
            .parse::<f64>()
            .ok()
    });
    if let Some(s) = sign {
        report(
            "OpenSSL RSA-2048 private op (openssl speed)",
            Duration::from_secs_f64(s),
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; nothing to list.
    }
    // `cargo bench --bench bench -- inbox` runs only the sections named.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    // Start-up first, before the heavy parts warm and load the machine.
    if run("startup") {
        startup();
    }
    if run("token") {
        openssl_speed();
        token_path();
        openssl_speed();
    }
    if run("http") {
        http_path();
    }
    if run("inbox") {
        inbox_isolation();
    }
    if run("versus") {
        versus();
    }
    if run("timing") {
        timing::timing();
    }
}
