//! The conformance suite: every way a result can be wrong that we know of,
//! and the edge cases a plugin must still accept, minted fresh (times
//! relative to now) with `jose::mint`. Each case says what it exercises,
//! the verdict a conforming plugin gives, and for rejections the reason
//! this plugin reports with its built-in keys (the EC cases reject at
//! `alg_not_allowed` on a plugin with RSA keys only: still a rejection).

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::jose::b64;
use crate::jose::mint::{self, as_is, ClaimsSpec, EncryptionKey, MintError, SigningKey};
use crate::jose::{Profile, Reason};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Accept,
    Reject(Reason),
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub description: &'static str,
    pub exercises: &'static str,
    pub expected: Expected,
    pub token: String,
}

/// The keys a suite is minted with.
pub struct Keys {
    pub signer: SigningKey,
    pub to: EncryptionKey,
    /// For the ECDH-ES cases: a P-256 key the plugin under test holds
    /// (the built-in test key by default).
    pub ec_to: EncryptionKey,
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Flips one bit of a base64url part (decoded, changed, re-encoded, so the
/// encoding stays canonical and only the bytes are wrong).
fn flip(part: &str) -> String {
    let mut b = b64::decode(part).unwrap_or_default();
    if let Some(x) = b.first_mut() {
        *x ^= 0x01;
    }
    b64::encode(&b)
}

/// Replaces part `i` of a compact token.
fn with_part(token: &str, i: usize, f: impl Fn(&str) -> String) -> String {
    token
        .split('.')
        .enumerate()
        .map(|(j, p)| if j == i { f(p) } else { p.to_owned() })
        .collect::<Vec<_>>()
        .join(".")
}

/// Inserts `member` as the first member of a JSON object's text.
fn prepend(member: &'static str) -> impl Fn(String) -> String {
    move |s: String| format!("{{{member},{}", s.strip_prefix('{').unwrap_or(&s))
}

pub fn cases(keys: &Keys, profile: Profile, now: u64) -> Result<Vec<Case>, MintError> {
    let base = ClaimsSpec {
        profile,
        status: None,
        attributes: obj(json!({"email": "tester@example.nl"})),
        session_url: None,
        iat: now,
        exp_in: 300,
    };
    let claims = |f: &dyn Fn(&mut Value)| {
        let mut c = base.to_json();
        f(&mut c);
        c
    };
    let none = Map::new();
    let jws_with = |c: &Value, header: &Map<String, Value>, edit: &dyn Fn(String) -> String| {
        mint::sign(header, c.to_string().as_bytes(), &keys.signer, edit)
    };
    let njwt = |jws: String| json!({ "njwt": jws }).to_string();
    let jwe_with =
        |plaintext: &str, header: &Map<String, Value>, edit: &dyn Fn(String) -> String| {
            mint::encrypt(header, plaintext.as_bytes(), &keys.to, edit)
        };
    let token = |c: &Value| -> Result<String, MintError> {
        jwe_with(&njwt(jws_with(c, &none, &as_is)?), &none, &as_is)
    };
    let outer = |h: Value| -> Result<String, MintError> {
        jwe_with(
            &njwt(jws_with(&base.to_json(), &none, &as_is)?),
            &obj(h),
            &as_is,
        )
    };
    let inner = |h: Value| -> Result<String, MintError> {
        jwe_with(
            &njwt(jws_with(&base.to_json(), &obj(h), &as_is)?),
            &none,
            &as_is,
        )
    };
    let good = token(&base.to_json())?;
    let other = match profile {
        Profile::IdContact => Profile::VerderHelpen,
        Profile::VerderHelpen => Profile::IdContact,
    };
    use Expected::{Accept, Reject};
    let mut out = Vec::new();
    let mut add =
        |name: &str, description, exercises, expected, token: Result<String, MintError>| {
            token.map(|token| {
                out.push(Case {
                    name: name.to_owned(),
                    description,
                    exercises,
                    expected,
                    token,
                })
            })
        };

    // What must be accepted.
    add(
        "accept_josekit_shape",
        "typ and cty JWT in both headers, as josekit producers write them",
        "the ordinary result",
        Accept,
        mint::result(&base.to_json(), &keys.signer, &keys.to, None),
    )?;
    add(
        "accept_no_typ_cty",
        "no typ, no cty, as Go producers (lestrrat-go/jwx) write them",
        "RFC 7516 §4.1.11-12: typ and cty are optional",
        Accept,
        Ok(good.clone()),
    )?;
    add(
        "accept_failed_empty_attributes",
        "status failed with \"attributes\": {}",
        "a failed authentication",
        Accept,
        token(&claims(&|c| {
            c["status"] = json!("failed");
            c["attributes"] = json!({});
        })),
    )?;
    add(
        "accept_non_ascii_attributes",
        "attribute names and values beyond ASCII",
        "UTF-8 throughout",
        Accept,
        token(&claims(
            &|c| {
                c["attributes"] = json!({"naam": "Zoë Ñandú d'Ávila 😀", "straße": "Ærøskøbing 1"})
            },
        )),
    )?;
    add(
        "accept_unknown_kid",
        "a kid in both headers that names no configured key",
        "RFC 7515 §4.1.4: kid is a hint",
        Accept,
        mint::result(
            &base.to_json(),
            &keys.signer,
            &keys.to,
            Some("a-producers-own-key-name"),
        ),
    )?;
    add(
        "accept_session_url",
        "a session_url claim",
        "the plugin API's session management",
        Accept,
        token(&claims(&|c| {
            c["session_url"] = json!("http://auth-plugin.invalid/session/update")
        })),
    )?;

    // Time.
    add(
        "expired",
        "exp five minutes ago",
        "RFC 7519 §4.1.4",
        Reject(Reason::Expired),
        token(&claims(&|c| {
            c["iat"] = json!(now.saturating_sub(600));
            c["exp"] = json!(now.saturating_sub(300));
        })),
    )?;
    add(
        "not_yet_valid_nbf",
        "nbf ten minutes from now",
        "RFC 7519 §4.1.5",
        Reject(Reason::NotYetValid),
        token(&claims(&|c| c["nbf"] = json!(now + 600))),
    )?;
    add(
        "not_yet_valid_iat",
        "issued ten minutes from now",
        "iat in the future",
        Reject(Reason::NotYetValid),
        token(&claims(&|c| {
            c["iat"] = json!(now + 600);
            c["exp"] = json!(now + 900);
        })),
    )?;

    // The content encryption.
    add(
        "bad_tag",
        "one bit of the authentication tag flipped",
        "RFC 7518 §5.2.2.2: the tag is checked before decryption",
        Reject(Reason::DecryptionFailed),
        Ok(with_part(&good, 4, flip)),
    )?;
    add(
        "truncated_tag",
        "the tag cut to 8 bytes",
        "RFC 7518 §5.2.2.2: the tag is exactly 16 bytes",
        Reject(Reason::DecryptionFailed),
        Ok(with_part(&good, 4, |t| {
            b64::encode(
                b64::decode(t)
                    .unwrap_or_default()
                    .get(..8)
                    .unwrap_or_default(),
            )
        })),
    )?;
    add(
        "tampered_header",
        "a member added to the protected header after encryption",
        "RFC 7516 §5.2 step 14: the header is the AAD",
        Reject(Reason::DecryptionFailed),
        Ok(with_part(&good, 0, |h| {
            let text = String::from_utf8(b64::decode(h).unwrap_or_default()).unwrap_or_default();
            b64::encode(prepend("\"x\":1")(text).as_bytes())
        })),
    )?;
    add(
        "tampered_ciphertext",
        "one bit of the ciphertext flipped",
        "RFC 7518 §5.2.2.2",
        Reject(Reason::DecryptionFailed),
        Ok(with_part(&good, 3, flip)),
    )?;
    add(
        "tampered_iv",
        "one bit of the IV flipped",
        "RFC 7518 §5.2.2.2: the IV is authenticated",
        Reject(Reason::DecryptionFailed),
        Ok(with_part(&good, 2, flip)),
    )?;
    add(
        "wrong_decryption_key",
        "encrypted to a P-256 key nobody configured",
        "key agreement with the wrong key",
        Reject(Reason::DecryptionFailed),
        mint::encrypt(
            &none,
            njwt(jws_with(&base.to_json(), &none, &as_is)?).as_bytes(),
            &EncryptionKey::random_p256()?,
            &as_is,
        ),
    )?;

    // The signature.
    add(
        "signed_by_another_key",
        "signed ES256 by a key nobody configured",
        "RFC 7515 §5.2 step 8",
        Reject(Reason::BadSignature),
        jwe_with(
            &njwt(mint::sign(
                &none,
                base.to_json().to_string().as_bytes(),
                &SigningKey::random_es256()?,
                &as_is,
            )?),
            &none,
            &as_is,
        ),
    )?;
    for (name, alg) in [
        ("alg_none", "none"),
        ("alg_none_capitalised", "None"),
        ("alg_none_upper", "NONE"),
    ] {
        let h = b64::encode(json!({"alg": alg}).to_string().as_bytes());
        let p = b64::encode(base.to_json().to_string().as_bytes());
        add(
            name,
            "an unsigned inner JWS",
            "RFC 8725 §3.1: alg none is never accepted",
            Reject(Reason::AlgNotAllowed),
            jwe_with(&njwt(format!("{h}.{p}.")), &none, &as_is),
        )?;
    }
    add(
        "hs256_keyed_with_public_key",
        "HS256 with the RSA public key's PEM as the HMAC secret",
        "RFC 8725 §3.1: key confusion",
        Reject(Reason::AlgNotAllowed),
        {
            use hmac::{Hmac, KeyInit, Mac};
            let h = b64::encode(br#"{"alg":"HS256"}"#);
            let p = b64::encode(base.to_json().to_string().as_bytes());
            let pem = include_str!("../keys/idcontact-test-rsa.pub.pem");
            let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(pem.as_bytes())
                .map_err(|_| MintError::Crypto("HMAC key setup"))?;
            mac.update(format!("{h}.{p}").as_bytes());
            let sig = b64::encode(&mac.finalize().into_bytes());
            jwe_with(&njwt(format!("{h}.{p}.{sig}")), &none, &as_is)
        },
    )?;
    add(
        "es256_all_zero_signature",
        "ES256 with r = s = 0",
        "ECDSA: r and s must be in [1, n-1] (CVE-2022-21449)",
        Reject(Reason::BadSignature),
        {
            let h = b64::encode(br#"{"alg":"ES256"}"#);
            let p = b64::encode(base.to_json().to_string().as_bytes());
            jwe_with(
                &njwt(format!("{h}.{p}.{}", b64::encode(&[0u8; 64]))),
                &none,
                &as_is,
            )
        },
    )?;

    // The outer header.
    add(
        "rsa1_5",
        "key management RSA1_5",
        "RFC 8725 §3.2: no RSA PKCS#1 v1.5 encryption (Bleichenbacher)",
        Reject(Reason::AlgNotAllowed),
        outer(json!({"alg": "RSA1_5"})),
    )?;
    add(
        "other_enc",
        "content encryption A256GCM",
        "only A128CBC-HS256 is ID Contact's",
        Reject(Reason::AlgNotAllowed),
        outer(json!({"enc": "A256GCM"})),
    )?;
    add(
        "zip",
        "zip DEF in the JWE header",
        "RFC 7516 §4.1.3: no decompression of unauthenticated data",
        Reject(Reason::UnsupportedHeader),
        outer(json!({"zip": "DEF"})),
    )?;
    add(
        "crit",
        "crit naming an extension",
        "RFC 7515 §4.1.11: an unknown crit must be refused",
        Reject(Reason::UnsupportedHeader),
        outer(json!({"crit": ["exp"], "exp": 1})),
    )?;
    for (name, member, value) in [
        (
            "embedded_jwk",
            "jwk",
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
        ),
        ("jku", "jku", json!("https://keys.invalid/jwks.json")),
        ("x5u", "x5u", json!("https://keys.invalid/cert.pem")),
        ("x5c", "x5c", json!(["MIIB"])),
    ] {
        let mut h = Map::new();
        h.insert(member.into(), value);
        add(
            name,
            "a key or its location carried in the token",
            "RFC 7515 §4.1.2-6: keys come from configuration only",
            Reject(Reason::UnsupportedHeader),
            jwe_with(&njwt(jws_with(&base.to_json(), &none, &as_is)?), &h, &as_is),
        )?;
    }
    let ec_token = |epk: Value| -> Result<String, MintError> {
        let mut h = Map::new();
        h.insert("epk".into(), epk);
        mint::encrypt(
            &h,
            njwt(jws_with(&base.to_json(), &none, &as_is)?).as_bytes(),
            &keys.ec_to,
            &as_is,
        )
    };
    add(
        "invalid_curve_epk",
        "an epk that is not a point on P-256",
        "RFC 8725 §3.4: invalid-curve attacks",
        Reject(Reason::Malformed),
        ec_token(
            json!({"kty": "EC", "crv": "P-256", "x": b64::encode(&[1u8; 32]), "y": b64::encode(&[1u8; 32])}),
        ),
    )?;
    add(
        "identity_epk",
        "an epk of all zeros (the identity has no affine form)",
        "RFC 8725 §3.4",
        Reject(Reason::Malformed),
        ec_token(
            json!({"kty": "EC", "crv": "P-256", "x": b64::encode(&[0u8; 32]), "y": b64::encode(&[0u8; 32])}),
        ),
    )?;

    // Duplicate members, each JSON layer.
    add(
        "duplicate_jwe_header_member",
        "alg twice in the JWE header",
        "RFC 8259 §4: parsers must not disagree",
        Reject(Reason::Malformed),
        jwe_with(
            &njwt(jws_with(&base.to_json(), &none, &as_is)?),
            &none,
            &prepend("\"alg\":\"dir\""),
        ),
    )?;
    add(
        "duplicate_njwt",
        "njwt twice in the JWE payload",
        "RFC 8259 §4",
        Reject(Reason::Malformed),
        {
            let jws = jws_with(&base.to_json(), &none, &as_is)?;
            jwe_with(
                &format!("{{\"njwt\":\"{jws}\",\"njwt\":\"{jws}\"}}"),
                &none,
                &as_is,
            )
        },
    )?;
    add(
        "duplicate_jws_header_member",
        "alg twice in the JWS header",
        "RFC 8259 §4",
        Reject(Reason::Malformed),
        jwe_with(
            &njwt(jws_with(
                &base.to_json(),
                &none,
                &prepend("\"alg\":\"none\""),
            )?),
            &none,
            &as_is,
        ),
    )?;
    add(
        "duplicate_claim",
        "exp twice in the claims",
        "RFC 7519 §4: claim names are unique",
        Reject(Reason::InvalidClaims),
        {
            let text = prepend("\"exp\":4102444800")(base.to_json().to_string());
            jwe_with(
                &njwt(mint::sign(&none, text.as_bytes(), &keys.signer, &as_is)?),
                &none,
                &as_is,
            )
        },
    )?;

    // The claims.
    add(
        "wrong_sub",
        "sub of another kind of token",
        "the profile's sub",
        Reject(Reason::InvalidClaims),
        token(&claims(&|c| c["sub"] = json!("someone-else"))),
    )?;
    add(
        "other_profile",
        "sub and status spelled as the other profile spells them",
        "id-contact and verder-helpen differ",
        Reject(Reason::InvalidClaims),
        token(&claims(&|c| {
            c["sub"] = json!(other.subject());
            c["status"] = json!(other.success().as_str());
        })),
    )?;
    add(
        "wrong_status",
        "status ok",
        "status is success (as the profile spells it) or failed",
        Reject(Reason::InvalidClaims),
        token(&claims(&|c| c["status"] = json!("ok"))),
    )?;
    add(
        "claims_of_the_wrong_type",
        "exp as a string",
        "RFC 7519 §2: NumericDate",
        Reject(Reason::InvalidClaims),
        token(&claims(&|c| c["exp"] = json!((now + 300).to_string()))),
    )?;
    add(
        "attributes_of_the_wrong_type",
        "an attribute value that is a number",
        "attributes map names to strings",
        Reject(Reason::InvalidClaims),
        token(&claims(&|c| c["attributes"] = json!({"age": 42}))),
    )?;
    add(
        "missing_njwt",
        "a JWE payload without njwt",
        "the ID Contact payload",
        Reject(Reason::MissingNjwt),
        jwe_with(
            &json!({ "jwt": jws_with(&base.to_json(), &none, &as_is)? }).to_string(),
            &none,
            &as_is,
        ),
    )?;
    add(
        "too_large",
        "a result of more than 16 KiB",
        "bounded input",
        Reject(Reason::TooLarge),
        token(&claims(&|c| {
            c["attributes"] = json!({"blob": "x".repeat(20_000)})
        })),
    )?;
    add(
        "inner_header_shape",
        "an inner header that names no alg",
        "RFC 7515 §4.1.1: alg is required",
        Reject(Reason::Malformed),
        inner(json!({"alg": null})),
    )?;
    Ok(out)
}

/// The manifest of a written suite.
pub fn manifest(cases: &[Case], profile: Profile, now: u64) -> Value {
    let list: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "name": c.name,
                "file": file_name(i, c),
                "description": c.description,
                "exercises": c.exercises,
                "expected": match c.expected { Expected::Accept => "accept", Expected::Reject(_) => "reject" },
                "reason": match c.expected { Expected::Accept => None, Expected::Reject(r) => Some(r) },
            })
        })
        .collect();
    json!({
        "generated_at": crate::date::rfc3339(now),
        "profile": profile.name(),
        "cases": list,
    })
}

fn file_name(i: usize, c: &Case) -> String {
    format!("{:02}-{}.jwt", i + 1, c.name)
}

/// Writes one file per case and `manifest.json` into `dir`.
/// Writes the suite into `dir`, new or empty, each file created fresh
/// (`files.rs`): a planted link is refused, never written through.
pub fn write(dir: &Path, cases: &[Case], profile: Profile, now: u64) -> Result<(), String> {
    crate::files::fresh_dir(dir)?;
    for (i, c) in cases.iter().enumerate() {
        crate::files::create_fresh(
            &dir.join(file_name(i, c)),
            format!("{}\n", c.token).as_bytes(),
        )?;
    }
    let m = serde_json::to_string_pretty(&manifest(cases, profile, now)).unwrap_or_default();
    crate::files::create_fresh(&dir.join("manifest.json"), format!("{m}\n").as_bytes())
}

/// Reads a suite written by `write` (bounded: a manifest of at most 1 MiB,
/// case files of at most 64 KiB; regular files inside `dir` only, never
/// through a link, never blocking on a FIFO: `files.rs`).
pub fn read(dir: &Path) -> Result<Vec<Case>, String> {
    let text = read_bounded(&dir.join("manifest.json"), 1 << 20)?;
    let m: Value = serde_json::from_str(&text).map_err(|e| format!("manifest.json: {e}"))?;
    let list = m
        .get("cases")
        .and_then(Value::as_array)
        .ok_or("manifest.json: no cases")?;
    let mut out = Vec::new();
    for c in list {
        let field = |k: &str| {
            c[k].as_str()
                .ok_or_else(|| format!("manifest.json: a case without {k}"))
        };
        let file = field("file")?;
        if file.contains('/') || file.starts_with('.') {
            return Err(format!(
                "manifest.json: file {file:?} is not in the suite's directory"
            ));
        }
        let token = read_bounded(&dir.join(file), 64 * 1024)?.trim().to_owned();
        let expected = match (field("expected")?, c.get("reason").and_then(Value::as_str)) {
            ("accept", _) => Expected::Accept,
            ("reject", Some(r)) => Expected::Reject(Reason::parse(r).ok_or_else(|| {
                format!(
                    "manifest.json: reason {} is not one of this plugin's",
                    crate::log::shown(r)
                )
            })?),
            ("reject", None) => {
                return Err("manifest.json: a reject case without its reason".into())
            }
            (e, _) => {
                return Err(format!(
                    "manifest.json: expected {e:?} is neither accept nor reject"
                ))
            }
        };
        out.push(Case {
            name: field("name")?.to_owned(),
            description: "",
            exercises: "",
            expected,
            token,
        });
    }
    Ok(out)
}

fn read_bounded(path: &Path, max: u64) -> Result<String, String> {
    crate::files::read_regular(path, max)
}
