//! `just timing`: do the decryption failure classes take distinguishable
//! time? Every class below ends in the same `decryption_failed`; an
//! attacker who could tell them apart by the clock would have an oracle
//! (Marvin, Bleichenbacher). Trials are interleaved, a round visiting the
//! classes in a fresh order, so all classes see the same machine; each
//! pair is then compared by Welch's t on the samples below the 90th
//! percentile (as dudect does), |t| > 4.5 counting as distinguishable.

use std::time::{Duration, Instant};

use aes::Aes128;
use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use rsa::pkcs8::DecodePublicKey;
use sha2::Sha256;

use comm_test::jose::{self, DecryptionKey, KeySet, Policy, Reason};

const THRESHOLD: f64 = 4.5;

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A compact RSA-OAEP JWE whose encrypted key wraps `wrapped` (or is
/// `raw_ek` as given), its content sealed under `cek` with `plaintext`
/// taken as already padded.
fn jwe(ek: &[u8], cek: &[u8; 32], plaintext: &[u8], flip_tag: bool) -> String {
    let h64 = b64(br#"{"alg":"RSA-OAEP","enc":"A128CBC-HS256"}"#);
    let iv = [7u8; 16];
    let ct = cbc::Encryptor::<Aes128>::new_from_slices(&cek[16..], &iv)
        .unwrap()
        .encrypt_padded_vec::<cbc::cipher::block_padding::NoPadding>(plaintext);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&cek[..16]).unwrap();
    let al = (h64.len() as u64 * 8).to_be_bytes();
    for part in [h64.as_bytes(), &iv, &ct, &al] {
        mac.update(part);
    }
    let mut tag = mac.finalize().into_bytes()[..16].to_vec();
    if flip_tag {
        tag[0] ^= 1;
    }
    [h64, b64(ek), b64(&iv), b64(&ct), b64(&tag)].join(".")
}

fn padded(text: &[u8]) -> Vec<u8> {
    let mut p = text.to_vec();
    let n = 16 - p.len() % 16;
    p.extend(std::iter::repeat_n(n as u8, n));
    p
}

fn welch(a: &[f64], b: &[f64]) -> f64 {
    let stats = |v: &[f64]| {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var, n)
    };
    let ((ma, va, na), (mb, vb, nb)) = (stats(a), stats(b));
    (ma - mb) / (va / na + vb / nb).sqrt()
}

fn cropped(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v.truncate(v.len() * 9 / 10);
    v
}

pub fn timing() {
    let trials: usize = std::env::var("TIMING_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let keys = KeySet {
        decryption: vec![DecryptionKey::from_pem(
            include_str!("../../keys/idcontact-test-rsa.key.pem"),
            None,
        )
        .unwrap()],
        verification: vec![],
    };
    let policy = Policy::for_keys(&keys, 60);
    let public =
        rsa::PublicKey::from_public_key_pem(include_str!("../../keys/idcontact-test-rsa.pub.pem"))
            .unwrap();
    let wrap = |cek: &[u8]| {
        public
            .oaep_encrypt_with_rng::<sha1::Sha1, _>(&mut jose::hazmat::SystemRng::new(), cek)
            .unwrap()
    };
    let cek = [0x42u8; 32];
    let payload = padded(br#"{"njwt":"a.b.c"}"#);
    let mut bad_padding = payload.clone();
    if let Some(last) = bad_padding.last_mut() {
        *last = 0;
    }
    // An encrypted key below the modulus that is no OAEP encoding.
    let mut garbage = vec![0x11u8; 256];
    garbage[0] = 0x00;
    let classes: [(&str, String); 4] = [
        (
            "bad OAEP padding (no valid key wrap)",
            jwe(&garbage, &cek, &payload, false),
        ),
        ("bad tag", jwe(&wrap(&cek), &cek, &payload, true)),
        (
            "wrong CEK length (48 bytes wrapped)",
            jwe(&wrap(&[0x42; 48]), &cek, &payload, false),
        ),
        (
            "bad padding behind a valid tag",
            jwe(&wrap(&cek), &cek, &bad_padding, false),
        ),
    ];
    for (name, t) in &classes {
        let r = jose::decode(t, &keys, &policy, 0).unwrap_err();
        assert_eq!(r.reason(), Reason::DecryptionFailed, "{name}: {r}");
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(trials); classes.len()];
    let mut order: Vec<usize> = (0..classes.len()).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..trials + trials / 10 {
        // A fresh order each round (xorshift): no class always goes first.
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        for &c in &order {
            let t = Instant::now();
            let r = jose::decode(&classes[c].1, &keys, &policy, 0);
            let elapsed = t.elapsed();
            std::hint::black_box(r.is_err());
            if round >= trials / 10 {
                samples[c].push(elapsed.as_secs_f64() * 1e6);
            }
        }
    }
    println!(
        "# decryption failure classes, RSA-OAEP ({}), {trials} interleaved trials each",
        if cfg!(feature = "aws-lc") {
            "aws-lc-rs"
        } else {
            "rsa 0.10"
        }
    );
    let mut medians = Vec::new();
    for ((name, _), s) in classes.iter().zip(&samples) {
        let mut v = s.clone();
        v.sort_by(f64::total_cmp);
        let median = Duration::from_secs_f64(v[v.len() / 2] / 1e6);
        medians.push(median);
        println!(
            "{name:<40} median {:>9.1} µs  p10 {:>9.1}  p90 {:>9.1}",
            v[v.len() / 2],
            v[v.len() / 10],
            v[v.len() * 9 / 10]
        );
    }
    let mut any = false;
    for i in 0..classes.len() {
        for j in i + 1..classes.len() {
            let t = welch(&cropped(samples[i].clone()), &cropped(samples[j].clone()));
            let seen = t.abs() > THRESHOLD;
            any |= seen;
            println!(
                "  {:<38} vs {:<38} |t| {:>6.2}  {}",
                classes[i].0,
                classes[j].0,
                t.abs(),
                if seen {
                    "DISTINGUISHABLE"
                } else {
                    "not distinguishable"
                }
            );
        }
    }
    println!(
        "verdict: {}",
        if any {
            "some classes are distinguishable at |t| > 4.5 (a pair with \"bad padding behind a valid tag\" needs the CEK to produce, so it is no oracle; any other pair is a finding)"
        } else {
            "no class is distinguishable at |t| > 4.5"
        }
    );
}
