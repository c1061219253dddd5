//! The producing side, for `comm-test mint`, the conformance suite and the
//! tests: sign a JWS and encrypt it in a JWE, exactly as an authentication
//! plugin does. The decoder (`jose`) never calls into it; it uses the
//! decoder's algorithm enums, its PEM reader (`jose::keys`), its CBC-HMAC
//! (`cbc_hmac::seal`) and its ECDH-ES key derivation, so a token minted
//! here and one decoded there agree on every byte by construction.
//!
//! A well-behaved producer writes `alg` (and `enc`, `epk`) from its key
//! and nothing else of its own choosing but `typ`, `cty` and `kid`
//! (`Header`). Writing what no well-behaved producer writes (`alg: none`,
//! a duplicate member, a forged `epk`) takes `bent`, by name: the
//! suite's rejection cases and the tests' are built that way.
//!
//! - `keys.rs`: the keys, bound to their algorithms.
//! - `suite.rs`: the conformance suite, a table of cases.
//! - `manifest.rs`: a suite written to a directory and read back.

mod keys;
pub mod manifest;
pub mod suite;

use serde_json::{json, Map, Value};

use crate::jose::b64;
use crate::jose::cbc_hmac;
use crate::jose::jwe::ecdh_es_cek;
use crate::jose::{ContentEncryption, Profile, Status};
pub use keys::{EncryptionKey, SigningKey};

/// What went wrong minting; never key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MintError {
    /// The PEM is not a key of a kind this side takes.
    Key(&'static str),
    /// The system's randomness or a primitive failed.
    Crypto(&'static str),
}

impl std::fmt::Display for MintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MintError::Key(w) | MintError::Crypto(w) => f.write_str(w),
        }
    }
}

/// The members of a protected header a producer chooses; the algorithm
/// members come from the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// `typ`: "JWT" as josekit writes it, or none.
    pub typ: Option<&'static str>,
    /// `cty`: "JWT" in the JWE header as josekit writes it, or none.
    pub cty: Option<&'static str>,
    pub kid: Option<String>,
}

impl Header {
    fn members(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for (name, value) in [("typ", self.typ), ("cty", self.cty)] {
            if let Some(v) = value {
                m.insert(name.into(), json!(v));
            }
        }
        if let Some(k) = &self.kid {
            m.insert("kid".into(), json!(k));
        }
        m
    }
}

/// How a header's members become the JSON text that is signed or
/// authenticated. `as_is` for every well-behaved token.
pub type Bend<'a> = &'a dyn Fn(Map<String, Value>) -> String;

/// The header as its members say: no bend.
pub fn as_is(members: Map<String, Value>) -> String {
    Value::Object(members).to_string()
}

/// A compact JWS over `payload` (RFC 7515 §5.1), `alg` from the key.
pub fn sign(header: &Header, payload: &[u8], key: &SigningKey) -> Result<String, MintError> {
    bent::sign(header, payload, key, &as_is)
}

/// A compact JWE (RFC 7516 §5.1) of `plaintext` to `to`: `alg` from the
/// key, `enc` A128CBC-HS256, and for ECDH-ES a fresh `epk`.
pub fn encrypt(header: &Header, plaintext: &[u8], to: &EncryptionKey) -> Result<String, MintError> {
    bent::encrypt(header, plaintext, to, &as_is)
}

/// What no well-behaved producer writes: the header's members (the
/// producer's own, `alg` included) handed to a `Bend`, whose text is then
/// what is signed or authenticated. For the suite and the tests.
pub mod bent {
    use super::*;

    /// Sets (or replaces) `members` after the producer's own.
    pub fn set(members: Value) -> impl Fn(Map<String, Value>) -> String {
        move |mut m| {
            if let Value::Object(extra) = &members {
                for (k, v) in extra {
                    m.insert(k.clone(), v.clone());
                }
            }
            as_is(m)
        }
    }

    /// Writes `member` (raw JSON text, e.g. `"alg":"none"`) first, before
    /// the producer's own members: a duplicate if it names one of them.
    pub fn prepend(member: &'static str) -> impl Fn(Map<String, Value>) -> String {
        move |m| prepend_text(member, &as_is(m))
    }

    /// `sign`, with the header bent.
    pub fn sign(
        header: &Header,
        payload: &[u8],
        key: &SigningKey,
        bend: Bend<'_>,
    ) -> Result<String, MintError> {
        let mut members = header.members();
        members.insert("alg".into(), json!(key.alg().name()));
        let input = format!(
            "{}.{}",
            b64::encode(bend(members).as_bytes()),
            b64::encode(payload)
        );
        let sig = key.sign(input.as_bytes())?;
        Ok(format!("{input}.{}", b64::encode(&sig)))
    }

    /// `encrypt`, with the header bent. For ECDH-ES the CEK follows from
    /// the bent header's `apu` and `apv`, as the decoder will derive it.
    pub fn encrypt(
        header: &Header,
        plaintext: &[u8],
        to: &EncryptionKey,
        bend: Bend<'_>,
    ) -> Result<String, MintError> {
        let enc = ContentEncryption::A128CbcHs256;
        let mut members = header.members();
        members.insert("alg".into(), json!(to.alg().name()));
        members.insert("enc".into(), json!(enc.name()));
        match to {
            // RFC 7518 §4.3: a random CEK, wrapped with RSA-OAEP.
            EncryptionKey::RsaOaep(k) => {
                let cek = keys::random::<32>()?;
                let wrapped = k
                    .oaep_encrypt_with_rng::<sha1::Sha1, _>(
                        &mut crate::jose::rng::SystemRng::new(),
                        &cek,
                    )
                    .map_err(|_| MintError::Crypto("RSA-OAEP encryption failed"))?;
                seal(&bend(members), &cek, &wrapped, plaintext)
            }
            // RFC 7518 §4.6: the CEK agreed with a fresh ephemeral key.
            EncryptionKey::EcdhEs(k) => {
                let (epk, z) = ephemeral(k)?;
                members.insert("epk".into(), epk);
                let text = bend(members);
                let (apu, apv) = parties(&text);
                seal(&text, &ecdh_es_cek(&z, enc, &apu, &apv), &[], plaintext)
            }
        }
    }
}

/// `{` `member`, then the rest of the object's text.
pub fn prepend_text(member: &str, object: &str) -> String {
    format!("{{{member},{}", object.strip_prefix('{').unwrap_or(object))
}

/// A fresh ephemeral key's JWK and the shared secret Z with `to`.
fn ephemeral(to: &p256::PublicKey) -> Result<(Value, [u8; 32]), MintError> {
    let eph = keys::random_p256_secret()?;
    let point = eph.public_key().to_sec1_bytes();
    let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
        return Err(MintError::Crypto("P-256 point encoding"));
    };
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64::encode(x), "y": b64::encode(y)});
    Ok((jwk, (*eph.diffie_hellman(to).raw_secret_bytes()).into()))
}

/// `apu` and `apv` of a header's text, decoded (empty where absent).
fn parties(text: &str) -> (Vec<u8>, Vec<u8>) {
    let h: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let party = |name: &str| {
        h.get(name)
            .and_then(Value::as_str)
            .and_then(|s| b64::decode(s).ok())
            .unwrap_or_default()
    };
    (party("apu"), party("apv"))
}

/// The five parts, the header's base64url text as the AAD (RFC 7516 §5.1
/// step 14).
fn seal(
    header: &str,
    cek: &[u8; 32],
    wrapped: &[u8],
    plaintext: &[u8],
) -> Result<String, MintError> {
    let h64 = b64::encode(header.as_bytes());
    let iv = keys::random::<16>()?;
    let (ct, tag) = cbc_hmac::seal(cek, h64.as_bytes(), &iv, plaintext)
        .ok_or(MintError::Crypto("A128CBC-HS256 sealing failed"))?;
    Ok(format!(
        "{h64}.{}.{}.{}.{}",
        b64::encode(wrapped),
        b64::encode(&iv),
        b64::encode(&ct),
        b64::encode(&tag)
    ))
}

/// The claims an authentication plugin sends, for `profile`.
#[derive(Debug, Clone)]
pub struct ClaimsSpec {
    pub profile: Profile,
    pub status: Option<Status>,
    pub attributes: Map<String, Value>,
    pub session_url: Option<String>,
    pub iat: u64,
    /// `exp` = `iat` + this.
    pub exp_in: u64,
}

impl ClaimsSpec {
    pub fn to_json(&self) -> Value {
        let status = self.status.unwrap_or(self.profile.success());
        let mut c = json!({
            "sub": self.profile.subject(),
            "status": status.as_str(),
            "attributes": self.attributes,
            "iat": self.iat,
            "exp": self.iat.saturating_add(self.exp_in),
        });
        if let (Some(u), Some(obj)) = (&self.session_url, c.as_object_mut()) {
            obj.insert("session_url".into(), json!(u));
        }
        c
    }
}

/// A whole ID Contact result: `claims` signed by `signer` into `{"njwt"}`
/// encrypted to `to`, `typ` JWT in both headers and `cty` JWT in the
/// JWE's, as josekit writes them, with `kid` in both if given.
pub fn result(
    claims: &Value,
    signer: &SigningKey,
    to: &EncryptionKey,
    kid: Option<&str>,
) -> Result<String, MintError> {
    let inner = Header {
        typ: Some("JWT"),
        cty: None,
        kid: kid.map(str::to_owned),
    };
    let outer = Header {
        cty: Some("JWT"),
        ..inner.clone()
    };
    let jws = sign(&inner, claims.to_string().as_bytes(), signer)?;
    encrypt(&outer, njwt(&jws).as_bytes(), to)
}

/// The JWE payload ID Contact carries: `{"njwt": jws}`.
pub fn njwt(jws: &str) -> String {
    json!({ "njwt": jws }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{decode, DecryptionKey, KeySet, Policy, VerificationKey};

    const RSA_PRIV: &str = include_str!("../../keys/idcontact-test-rsa.key.pem");
    const RSA_PKCS1: &str = include_str!("../../keys/idcontact-test-rsa.key.pkcs1.pem");
    const RSA_PUB: &str = include_str!("../../keys/idcontact-test-rsa.pub.pem");
    const EC_PRIV: &str = include_str!("../../keys/idcontact-test-ec.key.pem");
    const EC_SEC1: &str = include_str!("../../keys/idcontact-test-ec.key.sec1.pem");
    const EC_PUB: &str = include_str!("../../keys/idcontact-test-ec.pub.pem");

    fn keys() -> KeySet {
        let mut k = KeySet::default();
        for (private, public) in [(RSA_PRIV, RSA_PUB), (EC_PRIV, EC_PUB)] {
            k.decryption
                .push(DecryptionKey::from_pem(private, None).unwrap());
            k.verification
                .push(VerificationKey::from_pem(public, None).unwrap());
        }
        k
    }

    #[test]
    fn every_key_shape_round_trips_through_the_decoder() {
        let keys = keys();
        let policy = Policy::for_keys(&keys, 60);
        let claims = ClaimsSpec {
            profile: Profile::IdContact,
            status: None,
            attributes: json!({"email": "a@b.nl"}).as_object().unwrap().clone(),
            session_url: None,
            iat: 1_700_000_000,
            exp_in: 300,
        }
        .to_json();
        for signer in [RSA_PRIV, RSA_PKCS1, EC_PRIV, EC_SEC1] {
            for to in [RSA_PUB, EC_PUB] {
                let t = result(
                    &claims,
                    &SigningKey::from_pem(signer).unwrap(),
                    &EncryptionKey::from_pem(to).unwrap(),
                    None,
                )
                .unwrap();
                let d = decode(&t, &keys, &policy, 1_700_000_010).unwrap();
                assert_eq!(d.claims.attributes.unwrap()["email"], "a@b.nl");
            }
        }
        assert!(SigningKey::from_pem(RSA_PUB).is_err());
        assert!(EncryptionKey::from_pem(RSA_PRIV).is_err());
        assert_eq!(
            format!("{:?}", SigningKey::from_pem(RSA_PRIV).unwrap()),
            "SigningKey(RS256, ..)"
        );
    }
}
