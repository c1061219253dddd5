//! Wycheproof vectors through our own wrappers (not only the crates under
//! them): RSA-OAEP-SHA1 unwrap, RS256 and ES256 verification, ECDH P-256
//! with the JWK point parsing of `epk`, AES-128-CBC-PKCS#7, truncated
//! HMAC-SHA-256.
//!
//! `acceptable` vectors are legal-but-discouraged inputs (e.g. a compressed
//! point, a weak parameter choice). We assert that our wrapper either
//! refuses them or, if it accepts, gives the stated result; the counts show
//! which way each went. `valid` must be accepted with the exact result and
//! `invalid` must be refused.

use super::cbc_hmac::{cbc_decrypt, verify_tag};
use super::header::Epk;
use super::jwe::{ecdh_z, parse_epk, rsa_oaep_decrypt};
use super::jws::verify_signature;
use super::{DecryptionKey, VerificationKey};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/wycheproof/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(s: &Value) -> Vec<u8> {
    let s = s.as_str().unwrap();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[derive(Default, Debug)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable_accepted: usize,
    acceptable_refused: usize,
}

/// Checks one vector: `got` is our wrapper's result, `want` the stated one.
fn check<T: PartialEq + std::fmt::Debug>(
    t: &mut Tally,
    id: &Value,
    result: &Value,
    got: Option<T>,
    want: Option<T>,
) {
    match result.as_str().unwrap() {
        "valid" => {
            assert_eq!(got, want, "tcId {id}: valid vector");
            assert!(got.is_some(), "tcId {id}: valid vector refused");
            t.valid += 1;
        }
        "invalid" => {
            assert!(got.is_none(), "tcId {id}: invalid vector accepted");
            t.invalid += 1;
        }
        _ => match got {
            Some(g) => {
                assert_eq!(
                    Some(g),
                    want,
                    "tcId {id}: acceptable vector gave a wrong result"
                );
                t.acceptable_accepted += 1;
            }
            None => t.acceptable_refused += 1,
        },
    }
}

fn tests(file: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    file["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["tests"].as_array().unwrap().iter().map(move |t| (g, t)))
}

/// Known deviation, found by these vectors: `rsa` 0.10.0 drops the first
/// byte of the OAEP encoded message without checking that it is zero
/// (RFC 8017 §7.1.2 step 3.g; `decrypt_inner` in its algorithms/oaep.rs).
/// Harmless for JWE: OAEP carries no authenticity (anyone with the public
/// key can wrap any CEK), and the decode is still constant-time, so it is no
/// oracle. The assertion below flips when upstream fixes it; then delete
/// this entry. AWS-LC (`--features aws-lc`) checks the byte: there the
/// vector is asserted invalid like any other.
const RSA_0_10_OAEP_SKIPS_LEADING_ZERO_CHECK: &[u64] = &[23];

#[test]
fn rsa_oaep_2048_sha1_unwrap() {
    let file = load("rsa_oaep_2048_sha1_mgf1sha1_test");
    let mut t = Tally::default();
    for (g, v) in tests(&file) {
        let key = DecryptionKey::from_pem(g["privateKeyPem"].as_str().unwrap(), None).unwrap();
        let got = rsa_oaep_decrypt(&key, &hex(&v["ct"]), &mut super::rng::SystemRng::new());
        // JWE's RSA-OAEP uses the empty label (RFC 7518 §4.3): a vector with
        // a label is, for our wrapper, a ciphertext for another context and
        // must be refused even when it is valid with its label.
        let with_label = !hex(&v["label"]).is_empty();
        let result = if with_label {
            &Value::from("invalid")
        } else {
            &v["result"]
        };
        if !cfg!(feature = "aws-lc")
            && RSA_0_10_OAEP_SKIPS_LEADING_ZERO_CHECK.contains(&v["tcId"].as_u64().unwrap())
        {
            assert_eq!(
                got,
                Some(hex(&v["msg"])),
                "rsa_0_10_oaep_skips_leading_zero_check is fixed upstream"
            );
            t.invalid += 1;
            continue;
        }
        check(&mut t, &v["tcId"], result, got, Some(hex(&v["msg"])));
    }
    assert_eq!(
        t.valid + t.invalid + t.acceptable_accepted + t.acceptable_refused,
        file["numberOfTests"].as_u64().unwrap() as usize
    );
    eprintln!("RSA-OAEP: {t:?}");
}

fn signature_vectors(name: &str) {
    let file = load(name);
    let mut t = Tally::default();
    for (g, v) in tests(&file) {
        let key = VerificationKey::from_pem(g["publicKeyPem"].as_str().unwrap(), None).unwrap();
        let ok = verify_signature(&key, &hex(&v["msg"]), &hex(&v["sig"]));
        check(&mut t, &v["tcId"], &v["result"], ok.then_some(()), Some(()));
    }
    assert_eq!(
        t.valid + t.invalid + t.acceptable_accepted + t.acceptable_refused,
        file["numberOfTests"].as_u64().unwrap() as usize
    );
    eprintln!("{name}: {t:?}");
}

#[test]
fn rs256_verification() {
    signature_vectors("rsa_signature_2048_sha256_test");
}

#[test]
fn es256_p1363_verification() {
    signature_vectors("ecdsa_secp256r1_sha256_p1363_test");
}

fn p256_key(d: &[u8]) -> DecryptionKey {
    // Wycheproof pads or strips the scalar; our key is 32 bytes big-endian.
    let mut scalar = [0u8; 32];
    let d = if d.len() > 32 { &d[d.len() - 32..] } else { d };
    scalar[32 - d.len()..].copy_from_slice(d);
    let secret = p256::SecretKey::from_slice(&scalar).unwrap();
    DecryptionKey::from_pem(&secret.to_pkcs8_pem(LineEnding::LF).unwrap(), None).unwrap()
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn ecdh_p256_webcrypto_jwk_points() {
    let file = load("ecdh_secp256r1_webcrypto_test");
    let mut t = Tally::default();
    for (_, v) in tests(&file) {
        let d = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            v["private"]["d"].as_str().unwrap(),
        )
        .unwrap();
        let key = p256_key(&d);
        // The public JWK goes through the same parsing as a token's `epk`.
        let epk: Option<Epk> = serde_json::from_value(v["public"].clone()).ok();
        let got = parse_epk(epk.as_ref())
            .and_then(|p| ecdh_z(&key, &p))
            .map(|z| z.to_vec());
        check(
            &mut t,
            &v["tcId"],
            &v["result"],
            got,
            Some(hex(&v["shared"])),
        );
    }
    assert_eq!(
        t.valid + t.invalid + t.acceptable_accepted + t.acceptable_refused,
        file["numberOfTests"].as_u64().unwrap() as usize
    );
    eprintln!("ECDH webcrypto: {t:?}");
}

#[test]
fn ecdh_p256_encoded_points_including_invalid_ones() {
    let file = load("ecdh_secp256r1_ecpoint_test");
    let mut t = Tally::default();
    for (_, v) in tests(&file) {
        let key = p256_key(&hex(&v["private"]));
        let public = hex(&v["public"]);
        // A JWK carries x and y: only an uncompressed point can be written
        // as one. Anything else is not expressible as an `epk`, so our
        // path refuses it (compressed points are `acceptable` here).
        let epk = (public.len() == 65 && public[0] == 4).then(|| Epk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: b64url(&public[1..33]),
            y: b64url(&public[33..]),
        });
        let got = parse_epk(epk.as_ref())
            .and_then(|p| ecdh_z(&key, &p))
            .map(|z| z.to_vec());
        check(
            &mut t,
            &v["tcId"],
            &v["result"],
            got,
            Some(hex(&v["shared"])),
        );
    }
    assert_eq!(
        t.valid + t.invalid + t.acceptable_accepted + t.acceptable_refused,
        file["numberOfTests"].as_u64().unwrap() as usize
    );
    eprintln!("ECDH ecpoint: {t:?}");
}

#[test]
fn aes_cbc_pkcs7_decryption() {
    let file = load("aes_cbc_pkcs5_test");
    let (mut t, mut other_sizes) = (Tally::default(), 0);
    for (g, v) in tests(&file) {
        let got = cbc_decrypt(&hex(&v["key"]), &hex(&v["iv"]), &hex(&v["ct"])).ok();
        if g["keySize"] != 128 {
            // A128CBC-HS256 is AES-128 only: our wrapper refuses other key sizes.
            assert_eq!(got, None, "tcId {}", v["tcId"]);
            other_sizes += 1;
            continue;
        }
        check(&mut t, &v["tcId"], &v["result"], got, Some(hex(&v["msg"])));
    }
    assert_eq!(
        t.valid + t.invalid + t.acceptable_accepted + t.acceptable_refused + other_sizes,
        file["numberOfTests"].as_u64().unwrap() as usize
    );
    eprintln!("AES-CBC: {t:?}, other key sizes refused: {other_sizes}");
}

#[test]
fn hmac_sha256_truncated_tag() {
    let file = load("hmac_sha256_test");
    let (mut t, mut other_sizes) = (Tally::default(), 0);
    for (g, v) in tests(&file) {
        let ok = verify_tag(&hex(&v["key"]), &[&hex(&v["msg"])], &hex(&v["tag"]));
        if g["tagSize"] != 128 {
            // T_LEN is 16 octets (RFC 7518 §5.2.3): any other tag length is
            // refused before comparing, valid or not.
            assert!(!ok, "tcId {}", v["tcId"]);
            other_sizes += 1;
            continue;
        }
        check(&mut t, &v["tcId"], &v["result"], ok.then_some(()), Some(()));
    }
    assert_eq!(
        t.valid + t.invalid + t.acceptable_accepted + t.acceptable_refused + other_sizes,
        file["numberOfTests"].as_u64().unwrap() as usize
    );
    eprintln!("HMAC-SHA256: {t:?}, other tag sizes refused: {other_sizes}");
}
