//! EC tokens over HTTP, key rotation, replays, and `comm-test decode`.

mod common;
#[path = "common/mint.rs"]
mod mint;
use common::{assert_no_key_material, Server, SAMPLE, SAMPLE_TIME};
use serde_json::Value;

fn cases() -> Vec<Value> {
    serde_json::from_str(include_str!("data/tokens.json")).unwrap()
}

fn reason(case: &Value) -> &str {
    match case["reason"].as_str().unwrap() {
        "bad_tag" | "wrong_key" => "decryption_failed",
        r => r,
    }
}

#[test]
fn server_on_defaults_takes_every_shared_case_over_http() {
    // The built-in keys hold both the RSA and the EC test pairs.
    // The vectors are ID Contact's; under `auto` (the default) their one
    // `status: success` reject case is the DigiD plugin's shape, accepted.
    for now in ["1700000100", "1700003900", SAMPLE_TIME] {
        let s = Server::start(&["--clock", now, "--profile", "id-contact"]);
        for case in cases()
            .iter()
            .filter(|c| c["now"].as_u64().unwrap().to_string() == now)
        {
            let r = s.post_token(case["token"].as_str().unwrap());
            let name = case["name"].as_str().unwrap();
            if case["expect"] == "ok" {
                assert_eq!((r.status, r.text().as_str()), (200, "accepted\n"), "{name}");
            } else {
                assert_eq!(r.status, 400, "{name}");
                assert!(
                    r.text().starts_with(&format!("{}: ", reason(case))),
                    "{name}: {}",
                    r.text()
                );
            }
        }
    }
}

#[test]
fn rotation_tries_each_key_and_logs_the_one_that_matched() {
    let s = Server::start(&[
        "--clock",
        SAMPLE_TIME,
        "--decryption-key",
        "next=tests/data/rotation-rsa.key.pem",
        "--decryption-key",
        "keys/idcontact-test-rsa.key.pem",
        "--decryption-key",
        "keys/idcontact-test-ec.key.sec1.pem",
        "--signature-key",
        "tests/data/rotation-rsa.pub.pem",
        "--signature-key",
        "keys/idcontact-test-rsa.pub.pem",
    ]);
    let r = s.post_token(SAMPLE);
    assert_eq!(r.status, 200);
    let log = s.wait_log("POST /auth_result 200");
    assert!(
        log.contains("decrypted_with=f39b64a429a25336 verified_with=f39b64a429a25336"),
        "{log}"
    );
    assert!(log.contains("decryption key RSA-OAEP kid=next fingerprint="));
}

#[test]
fn a_key_of_the_other_type_is_a_named_rejection() {
    let s = Server::start(&[
        "--clock",
        SAMPLE_TIME,
        "--decryption-key",
        "keys/idcontact-test-ec.key.pem",
        "--signature-key",
        "keys/idcontact-test-ec.pub.pem",
    ]);
    let r = s.post_token(SAMPLE);
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "alg_not_allowed: JWE alg is not allowed\n")
    );
}

#[test]
fn replays_over_http_logged_then_refused() {
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    for _ in 0..2 {
        assert_eq!(s.post_token(SAMPLE).status, 200);
    }
    assert!(s
        .wait_log("replay status=")
        .contains("replay status=succes"));
    let s = Server::start(&["--clock", SAMPLE_TIME, "--reject-replays", "true"]);
    assert_eq!(s.post_token(SAMPLE).status, 200);
    let r = s.request("GET", &format!("/ui?result={SAMPLE}"), None, b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (409, "replay: token was accepted before\n")
    );
}

/// n − s for a P-256 signature's s (big-endian, 32 bytes): the other
/// valid signature over the same input.
fn negate_mod_n(s: &[u8]) -> Vec<u8> {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = N[i] as i16 - s[i] as i16 - borrow;
        borrow = i16::from(d < 0);
        out[i] = (d + 256 * borrow) as u8;
    }
    out
}

/// Regression (audit): the replay cache keyed on the whole inner JWS, so
/// an ES256 result re-signed as (r, n−s), which verifies as well, and
/// re-encrypted was accepted again under `--reject-replays`. It keys on
/// what was signed: the twin is a replay, and the journal names the first
/// delivery.
#[test]
fn an_es256_result_with_its_twin_signature_is_a_replay() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jws = mint::sign(
        &serde_json::json!({}),
        &mint::claims(now),
        include_str!("../keys/idcontact-test-ec.key.pem"),
    );
    let (input, sig) = jws.rsplit_once('.').unwrap();
    let sig = b64.decode(sig).unwrap();
    assert_eq!(sig.len(), 64);
    let mut twin_sig = sig[..32].to_vec();
    twin_sig.extend(negate_mod_n(&sig[32..]));
    let twin = format!("{input}.{}", b64.encode(&twin_sig));
    assert_ne!(twin, jws);
    let rsa_pub = include_str!("../keys/idcontact-test-rsa.pub.pem");
    let outer = serde_json::json!({});
    let s = Server::start(&["--reject-replays", "true"]);
    assert_eq!(
        s.post_token(&mint::encrypt(&outer, &jws, rsa_pub)).status,
        200
    );
    let r = s.post_token(&mint::encrypt(&outer, &twin, rsa_pub));
    assert_eq!(
        (r.status, r.text().as_str()),
        (409, "replay: token was accepted before\n")
    );
    let listing = s.inbox_request("GET", "/api/events?limit=1");
    let newest: Value = serde_json::from_slice(&listing.body).unwrap();
    let e = &newest["events"][0];
    assert_eq!(
        (&e["verdict"], &e["reason"], &e["detail"]),
        (
            &serde_json::json!("rejected"),
            &serde_json::json!("replay"),
            &serde_json::json!("replay: token was accepted before, first as event #1")
        ),
        "{e}"
    );
    // Without --reject-replays the twin is logged as a replay of #1.
    let s = Server::start(&[]);
    assert_eq!(
        s.post_token(&mint::encrypt(&outer, &jws, rsa_pub)).status,
        200
    );
    assert_eq!(
        s.post_token(&mint::encrypt(&outer, &twin, rsa_pub)).status,
        200
    );
    let listing = s.inbox_request("GET", "/api/events?limit=1");
    let newest: Value = serde_json::from_slice(&listing.body).unwrap();
    assert_eq!(
        (
            &newest["events"][0]["verdict"],
            &newest["events"][0]["identical_to"]
        ),
        (&serde_json::json!("replay"), &serde_json::json!(1))
    );
}

fn decode(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut all = vec!["decode"];
    all.extend_from_slice(args);
    let (code, o, e) = common::run(&all, stdin);
    assert_no_key_material(&o);
    assert_no_key_material(&e);
    (code, o, e)
}

#[test]
fn decode_accepts_ec_ok_cases_and_names_every_rejection() {
    let ec = [
        "--decryption-key",
        "keys/idcontact-test-ec.key.pem",
        "--signature-key",
        "keys/idcontact-test-ec.pub.pem",
    ];
    for case in cases()
        .iter()
        .filter(|c| c["decrypt_key"].as_str().unwrap().contains("-ec."))
    {
        let now = case["now"].to_string();
        let mut args = vec!["--clock", &now];
        args.extend(ec);
        args.push(case["token"].as_str().unwrap());
        let (code, out, err) = decode(&args, None);
        let name = case["name"].as_str().unwrap();
        if case["expect"] == "ok" {
            assert_eq!(code, 0, "{name}: {err}");
            let doc: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(doc["claims"], case["expected_claims"], "{name}");
            assert_eq!(doc["outer_header"]["alg"], "ECDH-ES");
            assert_eq!(doc["inner_header"]["alg"], "ES256");
            assert_eq!(
                (
                    doc["decrypted_with"].as_str(),
                    doc["verified_with"].as_str()
                ),
                (Some("e9615783bb954f38"), Some("e9615783bb954f38"))
            );
        } else {
            assert_eq!(code, 1, "{name}");
            assert!(
                err.starts_with(&format!("rejected: {}: ", reason(case))),
                "{name}: {err}"
            );
        }
    }
}

#[test]
fn decode_reads_stdin_and_reports_usage_errors() {
    let (code, out, _) = decode(&["--clock", SAMPLE_TIME, "-"], Some(SAMPLE));
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["claims"]["attributes"]["email"],
        "bla"
    );
    let (code, _, err) = decode(&["--clock", "1700000000"], Some(SAMPLE));
    assert_eq!(
        (code, err.as_str()),
        (1, "rejected: expired: exp 2021-03-16T07:35:00Z is before now 2023-11-14T22:13:20Z (leeway 60 s)\n")
    );
    let (code, _, err) = decode(&["--bogus"], None);
    assert_eq!(
        (code, err.as_str()),
        (2, "comm-test: unknown option \"--bogus\" (see --help)\n")
    );
    let (code, _, _) = decode(&["a", "b"], None);
    assert_eq!(code, 2);
}

const TEST_PRIV: &str = include_str!("../keys/idcontact-test-rsa.key.pem");
const TEST_PUB: &str = include_str!("../keys/idcontact-test-rsa.pub.pem");
const NEXT_PRIV: &str = include_str!("data/rotation-rsa.key.pem");
const NEXT_PUB: &str = include_str!("data/rotation-rsa.pub.pem");

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn minted(outer_kid: Option<&str>, to: &str, inner_kid: Option<&str>, signer: &str) -> String {
    let mut inner = serde_json::json!({"typ": "JWT", "alg": "RS256"});
    if let Some(k) = inner_kid {
        inner["kid"] = k.into();
    }
    let mut outer =
        serde_json::json!({"typ": "JWT", "cty": "JWT", "alg": "RSA-OAEP", "enc": "A128CBC-HS256"});
    if let Some(k) = outer_kid {
        outer["kid"] = k.into();
    }
    mint::encrypt(
        &outer,
        &mint::sign(&inner, &mint::claims(now()), signer),
        to,
    )
}

/// Rotation as an operator does it: old and next keys side by side, each
/// named by a kid, tokens minted fresh at the real clock.
#[test]
fn kid_is_a_hint_end_to_end() {
    let s = Server::start(&[
        "--decryption-key",
        "old=keys/idcontact-test-rsa.key.pem",
        "--decryption-key",
        "next=tests/data/rotation-rsa.key.pem",
        "--decryption-key",
        "ec=keys/idcontact-test-ec.key.pem",
        "--signature-key",
        "old=keys/idcontact-test-rsa.pub.pem",
        "--signature-key",
        "next=tests/data/rotation-rsa.pub.pem",
    ]);
    let post = |t: &str| {
        let r = s.post_token(t);
        (r.status, r.text())
    };
    // Each kid picks its key, on both layers; no kid tries each key.
    assert_eq!(
        post(&minted(Some("next"), NEXT_PUB, Some("next"), NEXT_PRIV)),
        (200, "accepted\n".into())
    );
    assert_eq!(
        post(&minted(Some("old"), TEST_PUB, Some("old"), TEST_PRIV)),
        (200, "accepted\n".into())
    );
    assert_eq!(
        post(&minted(None, NEXT_PUB, None, NEXT_PRIV)),
        (200, "accepted\n".into())
    );
    let log = s.wait_log("minted@example.nl");
    let fp = |pem: &str| {
        comm_test::jose::VerificationKey::from_pem(pem, None)
            .unwrap()
            .fingerprint()
            .to_string()
    };
    assert!(
        log.contains(&format!(
            "decrypted_with={} verified_with={}",
            fp(NEXT_PUB),
            fp(NEXT_PUB)
        )),
        "{log}"
    );
    // Regression: `kid` is a hint. One that names no configured key
    // (a producer's own name for its key) falls back to every key bound to
    // the algorithm, and the log notes it.
    assert_eq!(
        post(&minted(Some("nope"), NEXT_PUB, None, NEXT_PRIV)),
        (200, "accepted\n".into())
    );
    assert!(s
        .wait_log(r#"unrecognised_kid={"jwe":"nope"}"#)
        .contains(r#"unrecognised_kid={"jwe":"nope"}"#));
    assert_eq!(
        post(&minted(None, NEXT_PUB, Some("nope"), NEXT_PRIV)),
        (200, "accepted\n".into())
    );
    assert!(s
        .wait_log(r#"unrecognised_kid={"jws":"nope"}"#)
        .contains(r#"unrecognised_kid={"jws":"nope"}"#));
    // A kid naming a key of the other type narrows nothing either.
    assert_eq!(
        post(&minted(Some("ec"), NEXT_PUB, None, NEXT_PRIV)),
        (200, "accepted\n".into())
    );
    // A kid naming the wrong configured key: that key is tried first, then
    // the others; the verdict is the keys', as if there were no kid.
    assert_eq!(
        post(&minted(Some("old"), NEXT_PUB, Some("old"), NEXT_PRIV)),
        (200, "accepted\n".into())
    );
    // The kid never vouches: a token no configured key opens or verifies is
    // refused whatever key it names.
    let only_old = Server::start(&[
        "--decryption-key",
        "old=keys/idcontact-test-rsa.key.pem",
        "--signature-key",
        "old=keys/idcontact-test-rsa.pub.pem",
    ]);
    let post_old = |t: &str| only_old.post_token(t).text();
    assert_eq!(
        post_old(&minted(Some("old"), NEXT_PUB, None, TEST_PRIV)),
        "decryption_failed: JWE could not be decrypted\n"
    );
    assert_eq!(
        post_old(&minted(None, TEST_PUB, Some("old"), NEXT_PRIV)),
        "bad_signature: JWS signature does not verify\n"
    );
    assert_eq!(
        post_old(&minted(Some("ec"), TEST_PUB, Some("x"), NEXT_PRIV)),
        "bad_signature: JWS signature does not verify\n"
    );
}

/// Regression: a malformed RSA ciphertext (wrong length, not below the
/// modulus, all zeros) takes the one `decryption_failed` path, as a
/// well-formed one under the wrong key does. Where it is cheaper (a wrong
/// length fails before the private operation), the difference depends only
/// on what the sender chose and already knows, never on the key.
#[test]
fn malformed_rsa_ciphertexts_fail_as_any_other_decryption() {
    use comm_test::jose::{self, Policy};
    let keys = comm_test::config::Config::from_args(&[], &|_| None)
        .unwrap()
        .keys;
    let policy = Policy::for_keys(&keys, 60);
    let token = minted(None, TEST_PUB, None, TEST_PRIV);
    let parts: Vec<&str> = token.split('.').collect();
    for ek in [
        vec![0u8; 255],
        vec![0u8; 257],
        vec![0xffu8; 256],
        vec![0u8; 256],
        vec![1u8; 1],
        (0..256).map(|i| (i * 7) as u8 & 0x7f).collect::<Vec<u8>>(),
    ] {
        let t = format!(
            "{}.{}.{}.{}.{}",
            parts[0],
            mint::b64(&ek),
            parts[2],
            parts[3],
            parts[4]
        );
        let r = jose::decode(&t, &keys, &policy, now()).unwrap_err();
        assert_eq!(
            r.to_string(),
            "decryption_failed: JWE could not be decrypted",
            "{} bytes",
            ek.len()
        );
    }
}

/// Regression: `Policy::for_keys` deduplicated only adjacent algorithms
/// (`[RSA, EC, RSA]` gave `[RsaOaep, EcdhEs, RsaOaep]`).
#[test]
fn the_allow_list_names_each_algorithm_once() {
    use comm_test::jose::{
        DecryptionKey, KeyManagement, KeySet, Policy, SignatureAlg, VerificationKey,
    };
    let rsa = include_str!("../keys/idcontact-test-rsa.key.pem");
    let ec = include_str!("../keys/idcontact-test-ec.key.pem");
    let keys = KeySet {
        decryption: [rsa, ec, rsa]
            .iter()
            .map(|p| DecryptionKey::from_pem(p, None).unwrap())
            .collect(),
        verification: [
            include_str!("../keys/idcontact-test-ec.pub.pem"),
            include_str!("../keys/idcontact-test-rsa.pub.pem"),
            include_str!("../keys/idcontact-test-ec.pub.pem"),
        ]
        .iter()
        .map(|p| VerificationKey::from_pem(p, None).unwrap())
        .collect(),
    };
    let p = Policy::for_keys(&keys, 60);
    assert_eq!(
        p.key_management(),
        [KeyManagement::RsaOaep, KeyManagement::EcdhEs]
    );
    assert_eq!(p.signature(), [SignatureAlg::Es256, SignatureAlg::Rs256]);
    let none = Policy::for_keys(&KeySet::default(), 60);
    assert!(none.key_management().is_empty() && none.signature().is_empty());
}
