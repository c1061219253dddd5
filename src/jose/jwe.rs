//! The outer layer: JWE compact serialization (RFC 7516 §7.1), key
//! management RSA-OAEP (RFC 7518 §4.3) or ECDH-ES on P-256 (§4.6), content
//! encryption A128CBC-HS256 (§5.2), payload `{"njwt": <JWS>}`.
//!
//! Once the header is accepted, every failure to recover the content (key
//! unwrap, invalid CEK, tag, padding) is the one `DecryptionFailed`, reached
//! along the same path: the response is no oracle for which step failed.

use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use super::b64;
use super::cbc_hmac::{self, KEY_LEN};
use super::header::{self, ContentEncryption, Epk, HeaderError, JweHeader, KeyManagement};
use super::keys::{self, DecryptionKey, Fingerprint, KeyChoiceError, KidHint};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JweError {
    /// Not exactly five dot-separated parts.
    PartCount,
    Header(HeaderError),
    /// A part other than the header is not base64url.
    Base64,
    /// Encrypted key present for ECDH-ES, or missing for RSA-OAEP.
    EncryptedKeyShape,
    /// `epk` missing, not a P-256 JWK, or not a point on the curve.
    InvalidEpk,
    Key(KeyChoiceError),
    /// Key unwrap, tag or padding failed: deliberately one variant.
    DecryptionFailed,
    /// The plaintext is not a JSON object.
    PayloadNotJson,
    MissingNjwt,
    NjwtNotString,
    /// A member of the payload object appears twice.
    DuplicateMember,
}

/// A successfully opened JWE: its header, the inner JWS, and the key that opened it.
#[derive(Debug)]
pub struct Opened {
    pub header: JweHeader,
    pub njwt: String,
    pub key: Fingerprint,
    pub kid: KidHint,
}

/// Splits `token` into exactly `N` parts on '.', without indexing.
pub(super) fn split_exact<const N: usize>(token: &str) -> Option<[&str; N]> {
    let parts: Vec<&str> = token.splitn(N + 1, '.').collect();
    <[&str; N]>::try_from(parts).ok()
}

pub fn decrypt(
    token: &str,
    allowed: &[KeyManagement],
    keys: &[DecryptionKey],
) -> Result<Opened, JweError> {
    // RFC 7516 §5.2 step 1: five parts.
    let [h64, ek64, iv64, ct64, tag64] = split_exact::<5>(token).ok_or(JweError::PartCount)?;
    // Steps 2-5: the header, against the allow-list, before any crypto.
    let header = header::parse_jwe(h64, allowed).map_err(JweError::Header)?;
    let ContentEncryption::A128CbcHs256 = header.enc;
    let (candidates, kid) = keys::candidates(
        keys,
        header.kid.as_deref(),
        header.alg,
        DecryptionKey::algorithm,
        DecryptionKey::kid,
    )
    .map_err(JweError::Key)?;
    let decode = |s| b64::decode(s).map_err(|_| JweError::Base64);
    let (ek, iv, ct, tag) = (decode(ek64)?, decode(iv64)?, decode(ct64)?, decode(tag64)?);
    // RFC 7518 §4.6: ECDH-ES direct agreement has an empty encrypted key.
    let epk = match header.alg {
        KeyManagement::RsaOaep if !ek.is_empty() => None,
        KeyManagement::EcdhEs if ek.is_empty() => {
            Some(parse_epk(header.epk.as_ref()).ok_or(JweError::InvalidEpk)?)
        }
        _ => return Err(JweError::EncryptedKeyShape),
    };
    // Step 14: AAD is the ASCII of the encoded protected header.
    let aad = h64.as_bytes();
    let rng = SystemRandom::new();
    let mut opened = None;
    for key in candidates {
        let cek = match &epk {
            None => rsa_oaep_unwrap(key, &ek, &rng),
            Some(epk) => ecdh_es_agree(key, epk, &header),
        }
        .ok_or(JweError::DecryptionFailed)?;
        if let Ok(plaintext) = cbc_hmac::open(&cek, aad, &iv, &ct, &tag) {
            opened = Some((plaintext, key.fingerprint()));
            break;
        }
    }
    let (plaintext, key) = opened.ok_or(JweError::DecryptionFailed)?;
    let njwt = parse_payload(&plaintext)?;
    Ok(Opened {
        header,
        njwt,
        key,
        kid,
    })
}

/// RSAES-OAEP with SHA-1 (RFC 7518 §4.3, RFC 8017 §7.1.2); `rsa` 0.10 blinds
/// the private operation and decodes OAEP in constant time (RUSTSEC-2023-0071).
/// A failed unwrap, or a CEK of the wrong size, continues with a random CEK
/// (RFC 7516 §11.5) so it fails at the tag like any other tampering.
/// Returns `None` only if the system RNG fails, which ends the attempt.
fn rsa_oaep_unwrap(key: &DecryptionKey, ek: &[u8], rng: &SystemRandom) -> Option<[u8; KEY_LEN]> {
    let mut random = [0u8; KEY_LEN];
    rng.fill(&mut random).ok()?;
    let unwrapped =
        rsa_oaep_decrypt(key, ek).and_then(|cek| <[u8; KEY_LEN]>::try_from(cek.as_slice()).ok());
    Some(unwrapped.unwrap_or(random))
}

/// RSAES-OAEP-DECRYPT (RFC 8017 §7.1.2) with SHA-1, MGF1-SHA-1 and the
/// empty label, as RFC 7518 §4.3 specifies; `None` for any failure.
#[cfg(not(feature = "aws-lc"))]
pub fn rsa_oaep_decrypt(key: &DecryptionKey, ciphertext: &[u8]) -> Option<Vec<u8>> {
    key.rsa()?.key.oaep_decrypt::<sha1::Sha1>(ciphertext).ok()
}

/// The same operation in AWS-LC (`--features aws-lc`): blinded RSA and a
/// constant-time OAEP check, about 9x faster than `rsa` here.
#[cfg(feature = "aws-lc")]
pub fn rsa_oaep_decrypt(key: &DecryptionKey, ciphertext: &[u8]) -> Option<Vec<u8>> {
    let k = &key.rsa()?.aws_lc;
    let mut out = vec![0u8; k.min_output_size()];
    let plaintext = k
        .decrypt(
            &aws_lc_rs::rsa::OAEP_SHA1_MGF1SHA1,
            ciphertext,
            &mut out,
            None,
        )
        .ok()?;
    Some(plaintext.to_vec())
}

/// The sender's ephemeral key as a P-256 point. `from_sec1_bytes` refuses
/// points off the curve and the identity: the invalid-curve attack of
/// RFC 8725 §3.4 needs a point we would multiply without checking.
pub fn parse_epk(epk: Option<&Epk>) -> Option<p256::PublicKey> {
    let epk = epk?;
    if epk.kty != "EC" || epk.crv != "P-256" {
        return None;
    }
    let (x, y) = (b64::decode(&epk.x).ok()?, b64::decode(&epk.y).ok()?);
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    p256::PublicKey::from_sec1_bytes(&sec1).ok()
}

/// ECDH-ES direct key agreement (RFC 7518 §4.6.2): Z is the x-coordinate of
/// d·EPK, and the CEK is the Concat KDF of Z with AlgorithmID = `enc`.
fn ecdh_es_agree(
    key: &DecryptionKey,
    epk: &p256::PublicKey,
    header: &JweHeader,
) -> Option<[u8; KEY_LEN]> {
    // A key of the other type never gets here (`candidates`); if it did, the
    // random-CEK path is not needed: there is no unwrap result to hide.
    Some(ecdh_es_cek(
        &ecdh_z(key, epk)?,
        header.enc,
        &header.apu,
        &header.apv,
    ))
}

/// The CEK of ECDH-ES direct key agreement from Z (RFC 7518 §4.6.2):
/// the Concat KDF with AlgorithmID = `enc`, for 256 bits. Shared with the
/// producer, which derives the same key from its ephemeral side.
pub(crate) fn ecdh_es_cek(
    z: &[u8; 32],
    enc: ContentEncryption,
    apu: &[u8],
    apv: &[u8],
) -> [u8; KEY_LEN] {
    concat_kdf(z, enc.name().as_bytes(), apu, apv, 256)
}

/// The ECDH shared secret Z: the x-coordinate of d·P (SEC 1 §3.3.1), for
/// a point `parse_epk` has already checked to be on the curve.
pub fn ecdh_z(key: &DecryptionKey, epk: &p256::PublicKey) -> Option<[u8; 32]> {
    let shared = key.p256()?.diffie_hellman(epk);
    Some((*shared.raw_secret_bytes()).into())
}

/// NIST SP 800-56A Concat KDF with SHA-256 as profiled by RFC 7518 §4.6.2,
/// one round (keydatalen ≤ 256 bits): SHA-256(1 ‖ Z ‖ OtherInfo), where
/// OtherInfo = len‖AlgorithmID ‖ len‖apu ‖ len‖apv ‖ keydatalen.
pub(super) fn concat_kdf(
    z: &[u8],
    alg_id: &[u8],
    apu: &[u8],
    apv: &[u8],
    keydatalen_bits: u32,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(1u32.to_be_bytes());
    h.update(z);
    for field in [alg_id, apu, apv] {
        // Every field is bounded by the 16 KiB token cap, far below 2^32.
        h.update(u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
        h.update(field);
    }
    h.update(keydatalen_bits.to_be_bytes());
    h.finalize().into()
}

/// The plaintext must be `{"njwt": "<compact JWS>"}`. Which rule failed
/// is read from types, never from an error's message: first the member
/// names (`json::Members`), then the one member we take.
fn parse_payload(plaintext: &[u8]) -> Result<String, JweError> {
    let members: crate::json::Members =
        serde_json::from_slice(plaintext).map_err(|_| JweError::PayloadNotJson)?;
    if members.duplicate {
        return Err(JweError::DuplicateMember);
    }
    let payload: Payload =
        serde_json::from_slice(plaintext).map_err(|_| JweError::PayloadNotJson)?;
    match payload.njwt {
        Member::Absent => Err(JweError::MissingNjwt),
        Member::Present(serde_json::Value::String(s)) => Ok(s),
        Member::Present(_) => Err(JweError::NjwtNotString),
    }
}

/// The payload's one member; any other is ignored (RFC 7516 §5.2 step 10's
/// payload is ours to define).
#[derive(serde::Deserialize)]
struct Payload {
    #[serde(default)]
    njwt: Member,
}

/// A member absent, or present with any value, `null` included (an
/// `Option` would read `null` as absent).
#[derive(Default)]
enum Member {
    #[default]
    Absent,
    Present(serde_json::Value),
}

impl<'de> serde::Deserialize<'de> for Member {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(Member::Present)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_exact_counts_parts() {
        assert_eq!(
            split_exact::<5>("a.b.c.d.e"),
            Some(["a", "b", "c", "d", "e"])
        );
        assert_eq!(split_exact::<5>("...."), Some(["", "", "", "", ""]));
        assert_eq!(split_exact::<5>("a.b.c.d"), None);
        assert_eq!(split_exact::<5>("a.b.c.d.e.f"), None);
        assert_eq!(split_exact::<3>(""), None);
    }

    #[test]
    fn concat_kdf_rfc7518_appendix_c() {
        // RFC 7518 Appendix C: ECDH-ES, enc A128GCM, apu "Alice", apv "Bob".
        let z = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49,
            110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let k = concat_kdf(&z, b"A128GCM", b"Alice", b"Bob", 128);
        assert_eq!(b64::encode(&k[..16]), "VqqN6vgjbSBcIijNcacQGg");
    }

    fn epk(x: &str, y: &str) -> Epk {
        Epk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: x.into(),
            y: y.into(),
        }
    }

    #[test]
    fn epk_must_be_a_p256_point_on_the_curve() {
        // RFC 7518 Appendix C's ephemeral key: on the curve.
        let good = epk(
            "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0",
            "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps",
        );
        assert!(parse_epk(Some(&good)).is_some());
        let mut off_curve = good.clone();
        off_curve.y = "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFppt".into();
        assert!(parse_epk(Some(&off_curve)).is_none());
        let zero = b64::encode(&[0u8; 32]);
        assert!(parse_epk(Some(&epk(&zero, &zero))).is_none());
        let mut p384 = good.clone();
        p384.crv = "P-384".into();
        assert!(parse_epk(Some(&p384)).is_none());
        let mut short = good.clone();
        short.x = b64::encode(&[1u8; 31]);
        assert!(parse_epk(Some(&short)).is_none());
        assert!(parse_epk(None).is_none());
    }

    #[test]
    fn payload_shapes() {
        assert_eq!(parse_payload(br#"{"njwt":"a.b.c"}"#), Ok("a.b.c".into()));
        assert_eq!(
            parse_payload(br#"{"jwt":"a.b.c"}"#),
            Err(JweError::MissingNjwt)
        );
        assert_eq!(
            parse_payload(br#"{"njwt":{"sub":1}}"#),
            Err(JweError::NjwtNotString)
        );
        assert_eq!(
            parse_payload(br#"{"njwt":null}"#),
            Err(JweError::NjwtNotString)
        );
        assert_eq!(parse_payload(b"[1]"), Err(JweError::PayloadNotJson));
        assert_eq!(parse_payload(b"\xff"), Err(JweError::PayloadNotJson));
    }

    /// Regression: `{"njwt": A, "njwt": B}` was accepted with B, and
    /// so was the `\u006ejwt` spelling.
    #[test]
    fn duplicate_njwt_is_refused() {
        for payload in [
            &br#"{"njwt":"a.b.c","njwt":"d.e.f"}"#[..],
            br#"{"njwt":"a.b.c","\u006ejwt":"d.e.f"}"#,
            br#"{"x":1,"njwt":"a.b.c","x":2}"#,
        ] {
            assert_eq!(parse_payload(payload), Err(JweError::DuplicateMember));
        }
    }
}
