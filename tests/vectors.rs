//! Every case of the shared vectors (minted by an independent JOSE
//! implementation), through the same `jose::decode` the server uses.

use comm_test::jose::{self, DecryptionKey, KeySet, Policy, Reason, VerificationKey};
use serde_json::Value;

fn keyset(decrypt: &str, verify: &str) -> KeySet {
    let read =
        |p: &str| std::fs::read_to_string(format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    KeySet {
        decryption: vec![DecryptionKey::from_pem(&read(decrypt), None).unwrap()],
        verification: vec![VerificationKey::from_pem(&read(verify), None).unwrap()],
    }
}

/// The claims as the vectors state them: JSON, member order irrelevant.
fn claims_json(c: &jose::Claims) -> Value {
    serde_json::to_value(c).unwrap()
}

#[test]
fn every_shared_vector_case() {
    let cases: Vec<Value> = serde_json::from_str(include_str!("data/tokens.json")).unwrap();
    assert_eq!(cases.len(), 35);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let keys = keyset(
            case["decrypt_key"].as_str().unwrap(),
            case["verify_key"].as_str().unwrap(),
        );
        // The vectors are ID Contact's: `status` `success` is a reject
        // case there (`auto` takes it, as the DigiD plugin's shape).
        let policy = Policy::for_keys(&keys, jose::DEFAULT_LEEWAY)
            .with_profile(jose::Expect::Only(jose::Profile::IdContact));
        let now = case["now"].as_u64().unwrap();
        let got = jose::decode(case["token"].as_str().unwrap(), &keys, &policy, now);
        match case["expect"].as_str().unwrap() {
            "ok" => {
                let decoded = got.unwrap_or_else(|r| panic!("{name}: rejected: {r}"));
                assert_eq!(
                    claims_json(&decoded.claims),
                    case["expected_claims"],
                    "{name}"
                );
            }
            _ => {
                let want = match case["reason"].as_str().unwrap() {
                    "bad_tag" | "wrong_key" => "decryption_failed",
                    other => other,
                };
                let rejection = got.err().unwrap_or_else(|| panic!("{name}: accepted"));
                assert_eq!(
                    Some(rejection.reason()),
                    Reason::parse(want),
                    "{name}: {rejection}"
                );
            }
        }
    }
}

fn rsa_keys() -> KeySet {
    keyset(
        "keys/idcontact-test-rsa.key.pem",
        "keys/idcontact-test-rsa.pub.pem",
    )
}

#[test]
fn sample_token_decodes_to_the_documented_claims_at_its_iat() {
    let token = include_str!("data/sample-token.jwt");
    let keys = rsa_keys();
    let decoded = jose::decode(token, &keys, &Policy::for_keys(&keys, 60), 1_615_879_800).unwrap();
    let documented: Value = serde_json::from_str(include_str!("data/sample-token.json")).unwrap();
    assert_eq!(claims_json(&decoded.claims), documented["expected_claims"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&decoded.outer_header).unwrap(),
        documented["outer"]["protected_header"]
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&decoded.inner_header).unwrap(),
        documented["inner"]["header"]
    );
    let attrs = decoded.claims.attributes.unwrap();
    assert_eq!(attrs.get("email").map(String::as_str), Some("bla"));
}

#[test]
fn sample_token_is_expired_at_the_real_clock() {
    let token = include_str!("data/sample-token.jwt");
    let keys = rsa_keys();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let r = jose::decode(token, &keys, &Policy::for_keys(&keys, 60), now).unwrap_err();
    assert_eq!(r.reason(), Reason::Expired);
    assert!(
        r.to_string()
            .starts_with("expired: exp 2021-03-16T07:35:00Z is before now 20"),
        "{r}"
    );
    let r = jose::decode(token, &keys, &Policy::for_keys(&keys, 0), 1_615_880_100).unwrap_err();
    assert_eq!(
        r.to_string(),
        "expired: exp 2021-03-16T07:35:00Z is before now 2021-03-16T07:35:00Z (leeway 0 s)"
    );
    let r = jose::decode(token, &keys, &Policy::for_keys(&keys, 5), 1_615_879_000).unwrap_err();
    assert_eq!(
        r.to_string(),
        "not_yet_valid: iat 2021-03-16T07:30:00Z is after now 2021-03-16T07:16:40Z (leeway 5 s)"
    );
}

#[test]
fn ec_tokens_with_only_rsa_keys_are_refused_by_name() {
    let cases: Vec<Value> = serde_json::from_str(include_str!("data/tokens.json")).unwrap();
    let keys = rsa_keys();
    let policy = Policy::for_keys(&keys, 60);
    for case in cases
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("ec_"))
    {
        let r = jose::decode(
            case["token"].as_str().unwrap(),
            &keys,
            &policy,
            case["now"].as_u64().unwrap(),
        )
        .unwrap_err();
        assert_eq!(r.reason(), Reason::AlgNotAllowed, "{}", case["name"]);
    }
}

#[test]
fn oversized_token_is_refused_before_parsing() {
    let keys = rsa_keys();
    let huge = "a".repeat(jose::MAX_TOKEN_LEN + 1);
    let r = jose::decode(&huge, &keys, &Policy::for_keys(&keys, 60), 0).unwrap_err();
    assert_eq!(r.reason(), Reason::TooLarge);
}

/// Under `auto` the vectors' one status-spelling reject case
/// (`id-contact-attributes` with `success`, from an independent JOSE
/// implementation) is the Verder Helpen DigiD plugin's shape: accepted,
/// and named so; every other reject case keeps its reason.
#[test]
fn auto_takes_the_digid_shape_among_the_vectors_and_nothing_else() {
    let cases: Vec<Value> = serde_json::from_str(include_str!("data/tokens.json")).unwrap();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let keys = keyset(
            case["decrypt_key"].as_str().unwrap(),
            case["verify_key"].as_str().unwrap(),
        );
        let policy = Policy::for_keys(&keys, jose::DEFAULT_LEEWAY);
        assert_eq!(policy.profile(), jose::Expect::Auto);
        let got = jose::decode(
            case["token"].as_str().unwrap(),
            &keys,
            &policy,
            case["now"].as_u64().unwrap(),
        );
        match (name, case["expect"].as_str().unwrap(), got) {
            ("rsa_reject_invalid_status", _, Ok(d)) => {
                assert_eq!(d.claims.spelling, jose::Spelling::VerderHelpenDigid)
            }
            (_, "ok", Ok(_)) => {}
            (_, "reject", Err(_)) => {}
            (_, _, other) => panic!("{name}: {:?}", other.map(|d| d.claims)),
        }
    }
}
