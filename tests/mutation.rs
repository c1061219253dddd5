//! Deterministic mutation of the captured sample token: every byte replaced
//! three ways, and every truncation at a part boundary, must be rejected
//! with a named reason and no panic.

use comm_test::jose::{self, DecryptionKey, KeySet, Policy, Reason, VerificationKey};

const SAMPLE: &str = include_str!("data/sample-token.jwt");
const NOW: u64 = 1_615_879_800;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// What a mutated token may be refused as: before the tag, or the tag.
const REASONS: &[Reason] = &[
    Reason::Malformed,
    Reason::AlgNotAllowed,
    Reason::UnsupportedHeader,
    Reason::DecryptionFailed,
    Reason::MissingNjwt,
];

fn keys() -> (KeySet, Policy) {
    let keys = KeySet {
        decryption: vec![DecryptionKey::from_pem(
            include_str!("../keys/idcontact-test-rsa.key.pem"),
            None,
        )
        .unwrap()],
        verification: vec![VerificationKey::from_pem(
            include_str!("../keys/idcontact-test-rsa.pub.pem"),
            None,
        )
        .unwrap()],
    };
    let policy = Policy::for_keys(&keys, 60);
    (keys, policy)
}

fn mutations(pos: usize) -> [u8; 3] {
    let orig = SAMPLE.as_bytes()[pos];
    let at = ALPHABET.iter().position(|&c| c == orig).unwrap_or(0);
    // Two other base64url characters, and one from outside the alphabet.
    [
        ALPHABET[(at + 1) % 64],
        ALPHABET[(at + 33) % 64],
        if orig == b'.' { b'A' } else { b'.' },
    ]
}

#[test]
fn every_byte_replaced_is_rejected_by_name() {
    let (keys, policy) = keys();
    assert!(
        jose::decode(SAMPLE, &keys, &policy, NOW).is_ok(),
        "the unmutated token is valid"
    );
    let len = SAMPLE.len();
    let counts: Vec<(usize, std::collections::BTreeMap<&'static str, usize>)> =
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..2)
                .map(|w| {
                    let (keys, policy) = (&keys, &policy);
                    s.spawn(move || {
                        let mut tally = std::collections::BTreeMap::new();
                        let mut n = 0;
                        for pos in (w..len).step_by(2) {
                            for b in mutations(pos) {
                                let mut t = SAMPLE.as_bytes().to_vec();
                                t[pos] = b;
                                let t = String::from_utf8(t).unwrap();
                                let r = jose::decode(&t, keys, policy, NOW)
                                    .expect_err(&format!("byte {pos} -> {b} accepted"));
                                assert!(REASONS.contains(&r.reason()), "byte {pos}: {r}");
                                *tally.entry(r.reason().as_str()).or_insert(0) += 1;
                                n += 1;
                            }
                        }
                        (n, tally)
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
    let total: usize = counts.iter().map(|c| c.0).sum();
    assert_eq!(total, len * 3);
    let mut all = std::collections::BTreeMap::new();
    for (_, t) in counts {
        for (k, v) in t {
            *all.entry(k).or_insert(0) += v;
        }
    }
    eprintln!("{total} mutations: {all:?}");
}

#[test]
fn truncations_at_every_part_boundary() {
    let (keys, policy) = keys();
    let dots: Vec<usize> = SAMPLE.match_indices('.').map(|(i, _)| i).collect();
    assert_eq!(dots.len(), 4);
    for &i in &dots {
        for cut in [i, i + 1] {
            let r = jose::decode(&SAMPLE[..cut], &keys, &policy, NOW).unwrap_err();
            if cut == dots[3] + 1 {
                // Five parts with an empty tag: structurally a JWE, so the
                // failure is the JWE layer's one reason.
                assert_eq!(r.reason(), Reason::DecryptionFailed, "cut at {cut}");
            } else {
                assert_eq!(
                    r.to_string(),
                    "malformed: JWE must have exactly 5 parts",
                    "cut at {cut}"
                );
            }
        }
    }
    // A dropped last byte leaves five parts but a tag of the wrong size.
    let r = jose::decode(&SAMPLE[..SAMPLE.len() - 1], &keys, &policy, NOW).unwrap_err();
    assert_eq!(r.reason(), Reason::Malformed);
    let r = jose::decode(&SAMPLE[..SAMPLE.len() - 2], &keys, &policy, NOW).unwrap_err();
    assert_eq!(r.reason(), Reason::DecryptionFailed);
}
