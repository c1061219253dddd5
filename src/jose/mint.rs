//! The producing side, for `comm-test mint`, the conformance suite and the
//! tests: sign a JWS, encrypt it in a JWE, exactly as an authentication
//! plugin does. It lives beside the decoder but the decoder never calls
//! into it; it uses the decoder's base64 and Concat KDF, which are shared.
//!
//! Headers are JSON objects the caller may shape freely (and a raw-text
//! hook lets the suite write what no well-behaved producer writes, like a
//! duplicate member): this is a minter for tests, not a policy.

use aes::Aes128;
use base64::Engine as _;
use cbc::cipher::{block_padding::Pkcs7, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use serde_json::{json, Map, Value};
use sha2::Sha256;

use super::b64;
use super::claims::{Profile, Status};
use super::jwe::concat_kdf;

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

/// The base64 body of the first PEM block labelled `label`.
fn pem_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = pem.split(&begin).nth(1)?.split(&end).next()?;
    let text: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// A key to sign with; the key decides the algorithm.
pub enum SigningKey {
    Rs256(RsaKeyPair),
    Es256(EcdsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SigningKey::Rs256(_) => "SigningKey(RS256, ..)",
            SigningKey::Es256(_) => "SigningKey(ES256, ..)",
        })
    }
}

impl SigningKey {
    /// PKCS#8 (RSA or P-256), PKCS#1 RSA, or SEC1 P-256, in PEM.
    pub fn from_pem(pem: &str) -> Result<SigningKey, MintError> {
        let rng = SystemRandom::new();
        if let Some(der) = pem_der(pem, "PRIVATE KEY") {
            if let Ok(k) = RsaKeyPair::from_pkcs8(&der) {
                return Ok(SigningKey::Rs256(k));
            }
            return EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der,
                &rng,
            )
            .map(SigningKey::Es256)
            .map_err(|_| MintError::Key("PKCS#8 key that is neither RSA nor P-256"));
        }
        if let Some(der) = pem_der(pem, "RSA PRIVATE KEY") {
            return RsaKeyPair::from_der(&der)
                .map(SigningKey::Rs256)
                .map_err(|_| MintError::Key("not a valid PKCS#1 RSA private key"));
        }
        if pem.contains("-----BEGIN EC PRIVATE KEY-----") {
            use p256::pkcs8::EncodePrivateKey;
            let secret = p256::SecretKey::from_sec1_pem(pem)
                .map_err(|_| MintError::Key("not a valid SEC1 P-256 private key"))?;
            let der = secret
                .to_pkcs8_der()
                .map_err(|_| MintError::Key("cannot re-encode the SEC1 key"))?;
            return EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                der.as_bytes(),
                &rng,
            )
            .map(SigningKey::Es256)
            .map_err(|_| MintError::Key("not a valid P-256 private key"));
        }
        Err(MintError::Key(
            "not a private key PEM (PKCS#8, PKCS#1 RSA or SEC1 P-256)",
        ))
    }

    /// A fresh P-256 key: "signed by another key".
    pub fn random_es256() -> Result<SigningKey, MintError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| MintError::Crypto("randomness failed"))?;
        EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            doc.as_ref(),
            &rng,
        )
        .map(SigningKey::Es256)
        .map_err(|_| MintError::Crypto("P-256 key generation failed"))
    }

    pub fn alg(&self) -> &'static str {
        match self {
            SigningKey::Rs256(_) => "RS256",
            SigningKey::Es256(_) => "ES256",
        }
    }

    /// The public key as SPKI DER (RSA: the bare PKCS#1 key ring exposes).
    pub fn public_key_bytes(&self) -> Vec<u8> {
        match self {
            SigningKey::Rs256(k) => k.public().as_ref().to_vec(),
            SigningKey::Es256(k) => k.public_key().as_ref().to_vec(),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, MintError> {
        let rng = SystemRandom::new();
        match self {
            SigningKey::Rs256(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| MintError::Crypto("RSA signing failed"))?;
                Ok(sig)
            }
            SigningKey::Es256(k) => k
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| MintError::Crypto("ECDSA signing failed")),
        }
    }
}

/// A key to encrypt to; the key decides the key management algorithm.
#[derive(Debug, Clone)]
pub enum EncryptionKey {
    RsaOaep(rsa::PublicKey),
    EcdhEs(p256::PublicKey),
}

impl EncryptionKey {
    /// SPKI (RSA or P-256) or PKCS#1 RSA public key, in PEM.
    pub fn from_pem(pem: &str) -> Result<EncryptionKey, MintError> {
        if let Ok(k) = rsa::PublicKey::from_public_key_pem(pem) {
            return Ok(EncryptionKey::RsaOaep(k));
        }
        if let Ok(k) = rsa::PublicKey::from_pkcs1_pem(pem) {
            return Ok(EncryptionKey::RsaOaep(k));
        }
        p256::PublicKey::from_public_key_pem(pem)
            .map(EncryptionKey::EcdhEs)
            .map_err(|_| MintError::Key("not a public key PEM (SPKI RSA or P-256, or PKCS#1 RSA)"))
    }

    /// A fresh P-256 key nobody configured: "wrong decryption key".
    pub fn random_p256() -> Result<EncryptionKey, MintError> {
        Ok(EncryptionKey::EcdhEs(random_p256_secret()?.public_key()))
    }

    pub fn alg(&self) -> &'static str {
        match self {
            EncryptionKey::RsaOaep(_) => "RSA-OAEP",
            EncryptionKey::EcdhEs(_) => "ECDH-ES",
        }
    }
}

fn random<const N: usize>() -> Result<[u8; N], MintError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| MintError::Crypto("randomness failed"))?;
    Ok(b)
}

fn random_p256_secret() -> Result<p256::SecretKey, MintError> {
    // A random 256-bit string is a valid scalar but with probability ~2^-32.
    for _ in 0..8 {
        if let Ok(k) = p256::SecretKey::from_slice(&random::<32>()?) {
            return Ok(k);
        }
    }
    Err(MintError::Crypto("P-256 key generation failed"))
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

/// A compact JWS over `payload`: `alg` set from the key unless `header`
/// has one; `edit` may rewrite the header's JSON text before it is signed.
pub fn sign(
    header: &Map<String, Value>,
    payload: &[u8],
    key: &SigningKey,
    edit: &dyn Fn(String) -> String,
) -> Result<String, MintError> {
    let mut h = header.clone();
    h.entry("alg").or_insert_with(|| json!(key.alg()));
    let h_json = edit(Value::Object(h).to_string());
    let input = format!(
        "{}.{}",
        b64::encode(h_json.as_bytes()),
        b64::encode(payload)
    );
    let sig = key.sign(input.as_bytes())?;
    Ok(format!("{input}.{}", b64::encode(&sig)))
}

/// A compact JWE (A128CBC-HS256) of `plaintext` to `to`: `alg` and `enc`
/// set unless `header` has them, and for ECDH-ES a fresh `epk`; `edit` may
/// rewrite the header's JSON text, which is then what is authenticated.
pub fn encrypt(
    header: &Map<String, Value>,
    plaintext: &[u8],
    to: &EncryptionKey,
    edit: &dyn Fn(String) -> String,
) -> Result<String, MintError> {
    let mut h = header.clone();
    h.entry("alg").or_insert_with(|| json!(to.alg()));
    h.entry("enc").or_insert_with(|| json!("A128CBC-HS256"));
    let (cek, ek): ([u8; 32], Vec<u8>) = match to {
        // RFC 7518 §4.3: the CEK is random and wrapped with RSA-OAEP.
        EncryptionKey::RsaOaep(k) => {
            let cek = random::<32>()?;
            let ek = k
                .oaep_encrypt::<sha1::Sha1>(&cek)
                .map_err(|_| MintError::Crypto("RSA-OAEP encryption failed"))?;
            (cek, ek)
        }
        // RFC 7518 §4.6: the CEK is agreed with a fresh ephemeral key.
        EncryptionKey::EcdhEs(k) => {
            let eph = random_p256_secret()?;
            let point = eph.public_key().to_sec1_bytes();
            let (x, y) = (point.get(1..33), point.get(33..65));
            let (Some(x), Some(y)) = (x, y) else {
                return Err(MintError::Crypto("P-256 point encoding"));
            };
            h.entry("epk").or_insert_with(
                || json!({"kty": "EC", "crv": "P-256", "x": b64::encode(x), "y": b64::encode(y)}),
            );
            let z: [u8; 32] = (*eph.diffie_hellman(k).raw_secret_bytes()).into();
            let party = |name: &str| {
                h.get(name)
                    .and_then(Value::as_str)
                    .and_then(|s| b64::decode(s).ok())
                    .unwrap_or_default()
            };
            let (apu, apv) = (party("apu"), party("apv"));
            (
                concat_kdf(&z, b"A128CBC-HS256", &apu, &apv, 256),
                Vec::new(),
            )
        }
    };
    let h64 = b64::encode(edit(Value::Object(h).to_string()).as_bytes());
    let iv = random::<16>()?;
    let (mac_key, enc_key) = cek.split_at(16);
    let ct = cbc::Encryptor::<Aes128>::new_from_slices(enc_key, &iv)
        .map_err(|_| MintError::Crypto("AES key setup"))?
        .encrypt_padded_vec::<Pkcs7>(plaintext);
    // RFC 7518 §5.2.2.1: tag = first half of HMAC-SHA-256(AAD ‖ IV ‖ C ‖ AL).
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(mac_key)
        .map_err(|_| MintError::Crypto("HMAC key setup"))?;
    mac.update(h64.as_bytes());
    mac.update(&iv);
    mac.update(&ct);
    mac.update(&((h64.len() as u64) * 8).to_be_bytes());
    let full = mac.finalize().into_bytes();
    let tag = full.get(..16).unwrap_or_default();
    Ok(format!(
        "{h64}.{}.{}.{}.{}",
        b64::encode(&ek),
        b64::encode(&iv),
        b64::encode(&ct),
        b64::encode(tag)
    ))
}

/// No change: the `edit` of a well-formed header.
pub fn as_is(s: String) -> String {
    s
}

/// A whole ID Contact result: `claims` signed by `signer` into `{"njwt"}`
/// encrypted to `to`, both headers `typ`/`cty` JWT as josekit writes them,
/// with `kid` in both if given.
pub fn result(
    claims: &Value,
    signer: &SigningKey,
    to: &EncryptionKey,
    kid: Option<&str>,
) -> Result<String, MintError> {
    let mut inner = Map::new();
    inner.insert("typ".into(), json!("JWT"));
    let mut outer = inner.clone();
    outer.insert("cty".into(), json!("JWT"));
    if let Some(k) = kid {
        inner.insert("kid".into(), json!(k));
        outer.insert("kid".into(), json!(k));
    }
    let jws = sign(&inner, claims.to_string().as_bytes(), signer, &as_is)?;
    let payload = json!({ "njwt": jws }).to_string();
    encrypt(&outer, payload.as_bytes(), to, &as_is)
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
