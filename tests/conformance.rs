//! `mint` and `probe`, the conformance kit.

mod common;
use comm_test::config::{TEST_EC_PUBLIC, TEST_RSA_PRIVATE, TEST_RSA_PUBLIC};
use comm_test::jose::{self, DecryptionKey, KeySet, Policy, Profile, VerificationKey};
use comm_test::mint::suite::{self, Expected};
use comm_test::mint::{EncryptionKey, SigningKey};
use common::{run, Server};
use serde_json::{json, Value};
use std::io::{Read, Write};

#[test]
fn mint_then_decode_for_every_key_type_and_both_profiles() {
    for (sign, encrypt, alg, enc) in [
        (
            "keys/idcontact-test-rsa.key.pem",
            "keys/idcontact-test-rsa.pub.pem",
            "RS256",
            "RSA-OAEP",
        ),
        (
            "keys/idcontact-test-rsa.key.pkcs1.pem",
            "keys/idcontact-test-ec.pub.pem",
            "RS256",
            "ECDH-ES",
        ),
        (
            "keys/idcontact-test-ec.key.pem",
            "keys/idcontact-test-rsa.pub.pem",
            "ES256",
            "RSA-OAEP",
        ),
        (
            "keys/idcontact-test-ec.key.sec1.pem",
            "keys/idcontact-test-ec.pub.pem",
            "ES256",
            "ECDH-ES",
        ),
    ] {
        for profile in ["id-contact", "verder-helpen"] {
            let (code, token, err) = run(
                &[
                    "mint",
                    "--sign-with",
                    sign,
                    "--encrypt-to",
                    encrypt,
                    "--profile",
                    profile,
                    "--attr",
                    "email=zoë@example.nl",
                    "--attr",
                    "bsn=999990019",
                    "--session-url",
                    "http://auth-test:8000/session/update",
                    "--kid",
                    "k1",
                ],
                None,
            );
            assert_eq!(code, 0, "{err}");
            let (code, out, err) = run(&["decode", "--profile", profile, "-"], Some(&token));
            assert_eq!(code, 0, "{sign} {encrypt} {profile}: {err}");
            let d: Value = serde_json::from_str(&out).unwrap();
            let want_status = if profile == "id-contact" {
                "succes"
            } else {
                "success"
            };
            assert_eq!(d["claims"]["status"], want_status);
            assert_eq!(d["claims"]["sub"], format!("{profile}-attributes"));
            assert_eq!(d["claims"]["attributes"]["email"], "zoë@example.nl");
            assert_eq!(
                d["claims"]["session_url"],
                "http://auth-test:8000/session/update"
            );
            assert_eq!(
                (&d["inner_header"]["alg"], &d["outer_header"]["alg"]),
                (&Value::from(alg), &Value::from(enc))
            );
            assert_eq!(d["outer_header"]["kid"], "k1");
            let (iat, exp) = (
                d["claims"]["iat"].as_u64().unwrap(),
                d["claims"]["exp"].as_u64().unwrap(),
            );
            assert_eq!(exp - iat, 300, "the ecosystem's lifetime");
        }
    }
    let (code, token, _) = run(
        &[
            "mint",
            "--status",
            "failed",
            "--iat",
            "1615879800",
            "--exp-in",
            "60",
        ],
        None,
    );
    assert_eq!(code, 0);
    let (code, _, err) = run(&["decode", "--clock", "1615879800", "-"], Some(&token));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["decode", "-"], Some(&token));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("rejected: expired: exp 2021-03-16T07:31:00Z is before now "),
        "{err}"
    );
    for (args, want) in [
        (
            vec!["mint", "--attr", "novalue"],
            "comm-test: --attr: expected NAME=VALUE, got \"novalue\"\n",
        ),
        (
            vec!["mint", "--status", "ok"],
            "comm-test: --status: expected succes, success or failed, got \"ok\"\n",
        ),
        (
            vec!["mint", "--sign-with", "keys/idcontact-test-rsa.pub.pem"],
            "comm-test: --sign-with: not a private key PEM (PKCS#8, PKCS#1 RSA or SEC1 P-256)\n",
        ),
        (
            vec!["mint", "--encrypt-to", "keys/idcontact-test-rsa.key.pem"],
            "comm-test: --encrypt-to: not a public key PEM (SPKI RSA or P-256, or PKCS#1 RSA)\n",
        ),
    ] {
        let (code, _, err) = run(&args, None);
        assert_eq!((code, err.as_str()), (2, want));
    }
}

fn default_keys() -> KeySet {
    let mut k = KeySet::default();
    for (private, public) in [
        (
            include_str!("../keys/idcontact-test-rsa.key.pem"),
            TEST_RSA_PUBLIC,
        ),
        (
            include_str!("../keys/idcontact-test-ec.key.pem"),
            TEST_EC_PUBLIC,
        ),
    ] {
        k.decryption
            .push(DecryptionKey::from_pem(private, None).unwrap());
        k.verification
            .push(VerificationKey::from_pem(public, None).unwrap());
    }
    k
}

#[test]
fn every_suite_case_gets_its_verdict_and_reason_from_our_decoder() {
    let keys = default_keys();
    for profile in [Profile::IdContact, Profile::VerderHelpen] {
        let now = 1_800_000_000;
        let cases = suite::cases(
            &suite::Keys {
                signer: SigningKey::from_pem(TEST_RSA_PRIVATE).unwrap(),
                to: EncryptionKey::from_pem(TEST_RSA_PUBLIC).unwrap(),
                ec_to: EncryptionKey::from_pem(TEST_EC_PUBLIC).unwrap(),
            },
            profile,
            now,
        )
        .unwrap();
        assert!(cases.len() >= 40, "{}", cases.len());
        let policy = Policy::for_keys(&keys, 60).with_profile(jose::Expect::Only(profile));
        for c in &cases {
            let got = jose::decode(&c.token, &keys, &policy, now);
            match (c.expected, got) {
                (Expected::Accept, Ok(_)) => {}
                (Expected::Reject(reason), Err(r)) => {
                    assert_eq!(r.reason(), reason, "{}: {r}", c.name)
                }
                (e, g) => panic!(
                    "{}: expected {e:?}, got {:?}",
                    c.name,
                    g.map(|_| "accepted")
                ),
            }
        }
    }
}

#[test]
fn probe_against_our_own_plugin_passes_every_case() {
    // The suite is of one profile; `auto` (the default) takes the other
    // profile's spelling by design, so its `other_profile` case would fail.
    let s = Server::start(&["--profile", "id-contact"]);
    let url = format!("http://{}/auth_result", s.addr);
    let (code, out, err) = run(&["probe", &url], None);
    assert_eq!(code, 0, "{out}{err}");
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("43 cases in ") && last.ends_with("s: 43 pass, 0 fail"),
        "{last}"
    );
    assert!(out.contains("\nbad_tag "), "{out}");
    // A suite written to disk, probed from there, reported as JSON.
    let dir = std::env::temp_dir().join(format!("comm-test-suite-{}", std::process::id()));
    let (code, _, err) = run(&["mint", "--suite", dir.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote 43 cases to "), "{err}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let first = &manifest["cases"][0];
    assert_eq!(
        (&first["name"], &first["file"], &first["expected"]),
        (
            &Value::from("accept_josekit_shape"),
            &Value::from("01-accept_josekit_shape.jwt"),
            &Value::from("accept")
        )
    );
    let (code, out, _) = run(
        &["probe", &url, "--suite", dir.to_str().unwrap(), "--json"],
        None,
    );
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(43), Some(0))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A stub "plugin" that answers 200 to everything.
fn accept_everything() -> std::net::SocketAddr {
    answer_everything(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

/// A stub "plugin" that gives every request the same answer.
fn answer_everything(answer: &'static [u8]) -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    answer_everything_on(l, answer)
}

/// `answer_everything` on a listener bound already (its address can be in
/// the answer).
fn answer_everything_on(l: std::net::TcpListener, answer: &'static [u8]) -> std::net::SocketAddr {
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Head, then the body by Content-Length.
            loop {
                let n = c.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf);
                if let Some(i) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= i + 4 + len {
                        break;
                    }
                }
            }
            let _ = c.write_all(answer);
        }
    });
    addr
}

#[test]
fn probe_against_a_stub_that_accepts_everything_fails_every_reject_case() {
    let addr = accept_everything();
    let (code, out, _) = run(
        &["probe", &format!("http://{addr}/auth_result"), "--json"],
        None,
    );
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    let cases = report["cases"].as_array().unwrap();
    for c in cases {
        let reject = c["expected"] == "reject";
        assert_eq!(c["pass"], !reject, "{c}");
        assert_eq!(c["status"], 200);
    }
    let rejects = cases.iter().filter(|c| c["expected"] == "reject").count();
    assert_eq!(report["failed"].as_u64(), Some(rejects as u64));
}

#[test]
fn probe_says_when_the_target_is_unreachable() {
    let port = common::free_port();
    let (code, out, err) = run(
        &["probe", &format!("http://127.0.0.1:{port}/auth_result")],
        None,
    );
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        format!("comm-test: target unreachable: http://127.0.0.1:{port}/auth_result: cannot connect: connection refused\n")
    );
    let (code, _, err) = run(&["probe", "https://x/auth_result"], None);
    assert_eq!(
        (code, err.as_str()),
        (
            2,
            "comm-test: \"https://x/auth_result\": https is not supported: this build has no TLS\n"
        )
    );
}

/// Regression: against a wrong path every reject case "passed" on its
/// 404 and probe reported 37 pass; and the table never showed what the
/// target answered.
#[test]
fn probe_stops_at_a_wrong_path_and_shows_every_answer() {
    let s = Server::start(&["--profile", "id-contact"]);
    let (code, out, err) = run(&["probe", &format!("http://{}/nope", s.addr)], None);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert_eq!(
        err,
        format!(
            "comm-test: http://{}/nope answered 404 to case accept_josekit_shape: not a \
             communication plugin's attr_url (is the path right? the plugin API's is /auth_result)\n",
            s.addr
        )
    );
    let url = format!("http://{}/auth_result", s.addr);
    let (code, out, _) = run(&["probe", &url], None);
    assert_eq!(code, 0, "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name}: {out}"))
            .to_owned()
    };
    assert!(
        row("accept_josekit_shape").ends_with("200     pass    \"accepted\""),
        "{}",
        row("accept_josekit_shape")
    );
    assert!(
        row("bad_tag")
            .contains("400     pass    \"decryption_failed: JWE could not be decrypted\""),
        "{}",
        row("bad_tag")
    );
    let (_, json, _) = run(&["probe", &url, "--json"], None);
    let report: Value = serde_json::from_str(&json).unwrap();
    let bad_tag = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "bad_tag")
        .unwrap();
    assert_eq!(
        (
            &bad_tag["status"],
            &bad_tag["answer"],
            &bad_tag["refused_as"]
        ),
        (
            &json!(400),
            &json!("decryption_failed: JWE could not be decrypted"),
            &Value::Null
        )
    );
}

/// Regression: a suite saved with `mint --suite` and probed after its
/// tokens expired reported every accept case failed, with no warning.
#[test]
fn a_stale_suite_is_warned_about_and_its_accept_cases_named() {
    let s = Server::start(&[]);
    let dir = std::env::temp_dir().join(format!("comm-test-stale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run(&["mint", "--suite", dir.to_str().unwrap()], None).0, 0);
    let path = dir.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest["generated_at"] = json!("2021-03-16T07:30:00Z");
    std::fs::write(&path, manifest.to_string()).unwrap();
    let url = format!("http://{}/auth_result", s.addr);
    let (_, _, err) = run(&["probe", &url, "--suite", dir.to_str().unwrap()], None);
    assert!(
        err.starts_with("comm-test: WARNING: the suite was minted at 2021-03-16T07:30:00Z, "),
        "{err}"
    );
    assert!(
        err.contains("its tokens expired at 2021-03-16T07:35:00Z"),
        "{err}"
    );
    assert!(
        err.contains("accept_josekit_shape, accept_no_typ_cty,"),
        "{err}"
    );
    // A fresh suite says nothing of the kind.
    let (_, _, err) = run(&["probe", &url], None);
    assert!(!err.contains("WARNING"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Ours, listening where its own URLs say.
fn plugin(extra: &[&str]) -> (Server, String) {
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "--listen",
        &listen,
        "--server-url",
        &base,
        "--profile",
        "id-contact",
    ];
    args.extend_from_slice(extra);
    (Server::start(&args), base)
}

/// `probe --plugin`: the API's four starts and its client_url, each with
/// the rule it checks, then the suite at the attr_url the start gave.
#[test]
fn probe_plugin_checks_the_api_then_sends_the_suite_where_the_start_said() {
    let (_s, base) = plugin(&[]);
    let (code, out, err) = run(&["probe", "--plugin", &base], None);
    assert_eq!(code, 0, "{out}{err}");
    for (name, status) in [
        ("start: valid", 200),
        ("start: unknown members", 200),
        ("start: no purpose", 400),
        ("start: wrong content type", 415),
        ("client_url: GET", 200),
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(
            line.contains(&format!(" {status} ")) && line.ends_with("pass"),
            "{line}"
        );
    }
    assert!(
        out.contains("    rule: purpose is required: refused with a 4xx"),
        "{out}"
    );
    assert!(
        out.contains(&format!("\nprobe {base}/auth_result\n")),
        "{out}"
    );
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("48 checks in "), "{last}");
    assert!(
        last.ends_with("s: 48 pass, 0 fail (plugin API 5/5, tokens 43/43)"),
        "{last}"
    );
    let (code, out, _) = run(&["probe", "--plugin", &base, "--json"], None);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["api"][3]["name"], "start: wrong content type");
    assert_eq!(report["api"][3]["status"], 415);
    assert!(report["api"][3]["rule"]
        .as_str()
        .unwrap()
        .contains("application/json"));
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(48), Some(0))
    );
    assert_eq!(report["tokens"]["target"], format!("{base}/auth_result"));
}

/// Without `attr_url`, results go inline: `client_url?result=`.
#[test]
fn probe_plugin_sends_the_suite_inline_when_no_attr_url_is_given() {
    let (_s, base) = plugin(&["--use-attr-url", "false"]);
    let (code, out, err) = run(&["probe", "--plugin", &base], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("\nprobe {base}/ui?result=\n")),
        "{out}"
    );
    assert!(out
        .lines()
        .last()
        .unwrap()
        .ends_with("(plugin API 5/5, tokens 43/43)"));
}

/// A plugin whose answers break the API: each rule that fails says how,
/// and with no client_url the suite has nowhere to go.
#[test]
fn probe_plugin_names_each_broken_rule() {
    let addr = answer_everything(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 25\r\nConnection: close\r\n\r\n{\"attr_url\":\"http://a/x\"}",
    );
    let (code, out, err) = run(&["probe", "--plugin", &format!("http://{addr}")], None);
    assert_eq!(code, 1, "{out}{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_owned()
    };
    assert!(
        line("start: valid").ends_with("FAIL: client_url is missing"),
        "{out}"
    );
    assert!(
        line("start: no purpose").ends_with("FAIL: answered 200, not a 4xx"),
        "{out}"
    );
    assert!(line("start: wrong content type").ends_with("FAIL: answered 200, not a 4xx"));
    assert!(out.contains("no client_url from the valid start: the token suite has nowhere to go"));
    assert!(
        out.lines().last().unwrap().starts_with("4 checks in "),
        "{out}"
    );
}

#[test]
fn probe_plugin_stops_where_there_is_no_communication_plugin() {
    let addr = answer_everything(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let (code, out, err) = run(&["probe", "--plugin", &format!("http://{addr}")], None);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("answered 404 to POST /start_communication: not a communication plugin"),
        "{err}"
    );
    let (code, _, err) = run(
        &[
            "probe",
            "--plugin",
            &format!("http://{addr}"),
            "http://x/auth_result",
        ],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("not both"), "{err}");
}

/// A tester's server whose inbox holds one event (a start).
fn victim_with_one_event() -> Server {
    let victim = Server::start(&[]);
    let r = victim.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"p"}"#,
    );
    assert_eq!(r.status, 200);
    victim
}

/// A 200 JSON answer of `body`, for `answer_everything`.
fn json_200(body: &str) -> &'static [u8] {
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    Box::leak(answer.into_boxed_str()).as_bytes()
}

/// Red team: `probe --plugin` posted its 43 cases wherever the probed
/// plugin's attr_url pointed: a hostile plugin pointed them at the
/// tester's own inbox (`/api/events/clear?replays=clear`). Nothing goes
/// to an origin other than BASE_URL's unless the tester names it.
#[test]
fn probe_plugin_sends_nothing_to_another_origin_than_the_one_it_was_given() {
    let victim = victim_with_one_event();
    let inbox = victim.inbox();
    let body = format!(
        "{{\"client_url\":\"http://127.0.0.1:1/ui\",\"attr_url\":\"http://{inbox}/api/events/clear?replays=clear\"}}"
    );
    let hostile = answer_everything(json_200(&body));
    let (code, out, err) = run(&["probe", "--plugin", &format!("http://{hostile}")], None);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "comm-test: the plugin's attr_url \"http://{inbox}/api/events/clear?replays=clear\" is on another origin than http://{hostile}/: nothing is sent there unless you allow it (--allow-origin http://{})",
            inbox
        )
    );
    // The tester's inbox still holds its event, and heard nothing.
    let listing: Value =
        serde_json::from_slice(&victim.inbox_request("GET", "/api/events").body).unwrap();
    assert_eq!(listing["events"].as_array().unwrap().len(), 1);
    assert!(
        !victim.log().contains("/api/events/clear"),
        "{}",
        victim.log()
    );
}

/// An origin the tester names is one the probe may use: a plugin whose
/// attr_url names it by another host than BASE_URL's.
#[test]
fn probe_plugin_follows_an_origin_the_tester_allows() {
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let base = format!("http://127.0.0.1:{port}");
    let named = format!("http://localhost:{port}");
    let _s = Server::start(&[
        "--listen",
        &listen,
        "--server-url",
        &base,
        "--internal-url",
        &named,
        "--profile",
        "id-contact",
    ]);
    let (code, _, err) = run(&["probe", "--plugin", &base], None);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("(--allow-origin http://localhost:{port})")),
        "{err}"
    );
    let (code, out, err) = run(
        &["probe", "--plugin", &base, "--allow-origin", &named],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .ends_with("(plugin API 5/5, tokens 43/43)"),
        "{out}"
    );
    let (code, _, err) = run(
        &["probe", "http://x/auth_result", "--allow-origin", &named],
        None,
    );
    assert_eq!(
        (code, err.trim_end()),
        (2, "comm-test: --allow-origin goes with --plugin")
    );
}

/// Red team: the probe report printed the target's C1 controls (a CSI
/// that recolours the terminal) and bidi overrides raw. Every control,
/// bidi and zero-width character a target sends is escaped, in the table
/// and in the JSON (which still reads back to what was sent).
#[test]
fn probe_plugin_escapes_what_the_target_sends_to_the_terminal() {
    let body = "{\"client_url\":\"\u{9b}31m\u{202e}lmth.\u{200b}\",\"attr_url\":7}";
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\u{9b}31m\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let hostile = answer_everything(Box::leak(answer.into_boxed_str()).as_bytes());
    let base = format!("http://{hostile}");
    let raw = |s: &str| {
        s.chars().any(|c| matches!(c, '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{200b}'..='\u{200f}'))
    };
    let (code, out, err) = run(&["probe", "--plugin", &base], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!raw(&out) && !raw(&err), "{out:?}");
    assert!(
        out.contains("FAIL: client_url is not a URL: \"\\u{9b}31m\\u{202e}lmth.\\u{200b}\""),
        "{out}"
    );
    let (code, out, _) = run(&["probe", "--plugin", &base, "--json"], None);
    assert_eq!(code, 1);
    assert!(!raw(&out), "{out:?}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["api"][0]["answer"], body);
}

/// A chunked answer of `body` with `status`, split in two chunks.
fn chunked(status: &str, content_type: &str, body: &str) -> &'static [u8] {
    let (a, b) = body.split_at(body.len() / 2);
    let text = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    Box::leak(text.into_boxed_str()).as_bytes()
}

/// Red team: the probe failed a plugin that answers chunked ("not a JSON
/// object"; the suite never ran), and marked all 37 correctly refused
/// cases FAIL when a refusal body was over 4 KiB. Chunked answers are
/// decoded; a case's verdict is its status, however long the body.
#[test]
fn probe_reads_chunked_answers_and_judges_by_status_however_long_the_body() {
    let long = format!(
        "invalid_claims: {}",
        "the claims are not right. ".repeat(200)
    );
    let refusing = answer_everything(chunked("400 Bad Request", "text/plain", &long));
    let (code, out, err) = run(&["probe", &format!("http://{refusing}/auth_result")], None);
    assert_eq!(code, 1, "{out}{err}");
    let last = out.lines().last().unwrap();
    assert!(last.ends_with(": 37 pass, 6 fail"), "{out}");
    assert!(
        out.contains("\"invalid_claims: the claims are not right."),
        "{out}"
    );

    // A start answered chunked: the API checks read it as JSON.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let body = format!(
        "{{\"client_url\":\"http://{addr}/ui\",\"attr_url\":\"http://{addr}/auth_result\"}}"
    );
    answer_everything_on(l, chunked("200 OK", "application/json", &body));
    let (code, out, err) = run(&["probe", "--plugin", &format!("http://{addr}")], None);
    assert_eq!(code, 1, "{out}{err}");
    let line = |name: &str| out.lines().find(|l| l.starts_with(name)).unwrap_or("");
    assert!(line("start: valid").ends_with("pass"), "{out}");
    assert!(line("client_url: GET").ends_with("pass"), "{out}");
    // Its 200 to every token passes the accept cases only: the suite ran.
    assert!(
        out.lines()
            .last()
            .unwrap()
            .ends_with("(plugin API 3/5, tokens 6/43)"),
        "{out}"
    );
}

/// Even with the inbox's origin allowed (a tester's slip, or a plugin
/// that shares the host), the probe never changes an inbox: every request
/// comm-test sends names it, and an inbox refuses any change so asked.
/// Reading (`comm-test wait`) still works.
#[test]
fn no_request_comm_test_sends_changes_an_inbox() {
    let victim = victim_with_one_event();
    let inbox = victim.inbox();
    let body = format!(
        "{{\"client_url\":\"http://{inbox}/\",\"attr_url\":\"http://{inbox}/api/events/clear?replays=clear\"}}"
    );
    let hostile = answer_everything(json_200(&body));
    let allowed = format!("http://{inbox}");
    let (code, out, err) = run(
        &[
            "probe",
            "--plugin",
            &format!("http://{hostile}"),
            "--allow-origin",
            &allowed,
        ],
        None,
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("comm-test's own outgoing requests never change an inbox"),
        "{out}"
    );
    let listing: Value =
        serde_json::from_slice(&victim.inbox_request("GET", "/api/events").body).unwrap();
    assert_eq!(listing["events"].as_array().unwrap().len(), 1, "{listing}");
    // A script's curl is not comm-test; its DELETE works as ever.
    let r = victim.inbox_raw(
        format!("DELETE /api/events HTTP/1.1\r\nHost: {inbox}\r\nUser-Agent: curl/8.5.0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}
