//! The outer layer: JWE compact serialization (RFC 7516 §7.1), key
//! management RSA-OAEP (RFC 7518 §4.3) or ECDH-ES on P-256 (§4.6), content
//! encryption A128CBC-HS256 (§5.2), payload `{"njwt": <JWS>}`.
//!
//! Once the header is accepted, every failure to recover the content (key
//! unwrap, invalid CEK, tag, padding) is the one `DecryptionFailed`, reached
//! along the same path: the response is no oracle for which step failed.

use sha2::{Digest, Sha256};

use super::b64;
use super::cbc_hmac::{self, KEY_LEN};
use super::header::{self, ContentEncryption, Epk, HeaderError, JweHeader, KeyManagement};
use super::keys::{self, DecryptionKey, Fingerprint, KeyChoiceError, KidHint};
use super::rng::SystemRng;

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
    // The parts' lengths before any private-key operation: a 1-byte IV or
    // a 3-byte tag costs nothing (it cost a full RSA operation). The same
    // reason as at the tag: lengths are public, so this is no oracle.
    if !cbc_hmac::well_formed(&iv, &ct, &tag) {
        return Err(JweError::DecryptionFailed);
    }
    // RFC 7516 §5.2 step 10; RFC 7518 §4.6: ECDH-ES direct agreement has
    // an empty encrypted key.
    let epk = match header.alg {
        KeyManagement::RsaOaep if !ek.is_empty() => None,
        KeyManagement::EcdhEs if ek.is_empty() => {
            Some(parse_epk(header.epk.as_ref()).ok_or(JweError::InvalidEpk)?)
        }
        _ => return Err(JweError::EncryptedKeyShape),
    };
    // Step 14: AAD is the ASCII of the encoded protected header.
    let aad = h64.as_bytes();
    let mut rng = SystemRng::new();
    let mut opened = None;
    for key in candidates {
        let cek = match &epk {
            None => rsa_oaep_unwrap(key, &ek, &mut rng),
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
/// the private operation with `rng` and decodes OAEP in constant time
/// (RUSTSEC-2023-0071). A failed unwrap, or a CEK of the wrong size,
/// continues with a random CEK (RFC 7516 §11.5) so it fails at the tag like
/// any other tampering, and the next candidate key is still tried.
/// Returns `None` only if the system RNG fails, which ends the attempt.
pub(crate) fn rsa_oaep_unwrap(
    key: &DecryptionKey,
    ek: &[u8],
    rng: &mut SystemRng,
) -> Option<[u8; KEY_LEN]> {
    let mut random = [0u8; KEY_LEN];
    rand_core::TryRng::try_fill_bytes(rng, &mut random).ok()?;
    let unwrapped = rsa_oaep_decrypt(key, ek, rng)
        .and_then(|cek| <[u8; KEY_LEN]>::try_from(cek.as_slice()).ok());
    Some(unwrapped.unwrap_or(random))
}

/// RSAES-OAEP-DECRYPT (RFC 8017 §7.1.2) with SHA-1, MGF1-SHA-1 and the
/// empty label, as RFC 7518 §4.3 specifies; `None` for any failure. The
/// private operation is blinded with randomness from `rng`, handed over
/// here explicitly (`oaep_decrypt` without an RNG would not blind).
#[cfg(not(feature = "aws-lc"))]
pub fn rsa_oaep_decrypt<R: rand_core::TryCryptoRng + ?Sized>(
    key: &DecryptionKey,
    ciphertext: &[u8],
    rng: &mut R,
) -> Option<Vec<u8>> {
    #[cfg(test)]
    tests::PRIVATE_OPS.with(|n| n.set(n.get() + 1));
    key.rsa()?
        .key
        .oaep_decrypt_with_rng::<sha1::Sha1, R>(rng, ciphertext)
        .ok()
}

/// The same operation in AWS-LC (`--features aws-lc`): blinded RSA (AWS-LC
/// always blinds, from its own RNG) and a constant-time OAEP check, about
/// 9x faster than `rsa` here.
#[cfg(feature = "aws-lc")]
pub fn rsa_oaep_decrypt<R: rand_core::TryCryptoRng + ?Sized>(
    key: &DecryptionKey,
    ciphertext: &[u8],
    _rng: &mut R,
) -> Option<Vec<u8>> {
    #[cfg(test)]
    tests::PRIVATE_OPS.with(|n| n.set(n.get() + 1));
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
    #[cfg(test)]
    tests::PRIVATE_OPS.with(|n| n.set(n.get() + 1));
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
    use crate::mint::{self, EncryptionKey};
    use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
    use hmac::{Hmac, KeyInit, Mac};

    thread_local! {
        /// Private-key operations (RSA or ECDH) run on this thread.
        pub(super) static PRIVATE_OPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    const RSA_KEY: &str = include_str!("../../keys/idcontact-test-rsa.key.pem");
    const RSA_PUB: &str = include_str!("../../keys/idcontact-test-rsa.pub.pem");
    const EC_KEY: &str = include_str!("../../keys/idcontact-test-ec.key.pem");
    const EC_PUB: &str = include_str!("../../keys/idcontact-test-ec.pub.pem");
    const OTHER_RSA_KEY: &str = include_str!("../../tests/data/rotation-rsa.key.pem");
    const NJWT: &[u8] = br#"{"njwt":"a.b.c"}"#;

    fn key(pem: &str) -> DecryptionKey {
        DecryptionKey::from_pem(pem, None).unwrap()
    }

    fn oaep_wrap(cek: &[u8]) -> Vec<u8> {
        let EncryptionKey::RsaOaep(k) = EncryptionKey::from_pem(RSA_PUB).unwrap() else {
            panic!("not RSA")
        };
        k.oaep_encrypt_with_rng::<sha1::Sha1, _>(&mut SystemRng::new(), cek)
            .unwrap()
    }

    /// AES-128-CBC under `cek[16..]` without padding, then the tag under
    /// `cek[..16]` (RFC 7518 §5.2.2.1): any plaintext, padded or not.
    fn seal_raw(cek: &[u8], aad: &[u8], iv: &[u8; 16], padded: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let ct = cbc::Encryptor::<aes::Aes128>::new_from_slices(&cek[16..32], iv)
            .unwrap()
            .encrypt_padded_vec::<cbc::cipher::block_padding::NoPadding>(padded);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&cek[..16]).unwrap();
        for part in [aad, iv, &ct, &((aad.len() as u64) * 8).to_be_bytes()] {
            mac.update(part);
        }
        (ct, mac.finalize().into_bytes()[..16].to_vec())
    }

    /// A compact RSA-OAEP JWE: `ek` wrapped as given, the content sealed
    /// under `cek` (PKCS#7 padding added unless `padded` says otherwise).
    fn rsa_jwe(ek: &[u8], cek: &[u8], padded: Option<&[u8]>) -> String {
        let h64 = b64::encode(br#"{"alg":"RSA-OAEP","enc":"A128CBC-HS256"}"#);
        let iv = [7u8; 16];
        let plaintext = match padded {
            Some(p) => p.to_vec(),
            None => {
                let mut p = NJWT.to_vec();
                let n = 16 - p.len() % 16;
                p.extend(std::iter::repeat_n(n as u8, n));
                p
            }
        };
        let (ct, tag) = seal_raw(cek, h64.as_bytes(), &iv, &plaintext);
        [
            h64,
            b64::encode(ek),
            b64::encode(&iv),
            b64::encode(&ct),
            b64::encode(&tag),
        ]
        .join(".")
    }

    fn open_rsa(token: &str, keys: &[DecryptionKey]) -> Result<Opened, JweError> {
        decrypt(token, &[KeyManagement::RsaOaep], keys)
    }

    /// Audit map 8a (RFC 7516 §11.5): a failed unwrap continues with a
    /// random CEK, fresh each time, never an early return; so the next
    /// candidate key is still tried, and the failure meets the tag.
    #[test]
    fn a_failed_unwrap_continues_with_a_random_cek_and_the_next_key() {
        let k = key(RSA_KEY);
        let mut rng = SystemRng::new();
        let garbage = [0x5a; 256];
        let a = rsa_oaep_unwrap(&k, &garbage, &mut rng).expect("a CEK, not an early return");
        let b = rsa_oaep_unwrap(&k, &garbage, &mut rng).expect("a CEK, not an early return");
        assert_ne!(a, b, "random, not fixed");
        let cek = [3u8; 32];
        let token = rsa_jwe(&oaep_wrap(&cek), &cek, None);
        // The wrong key first: its unwrap fails, the right one still opens.
        let opened = open_rsa(&token, &[key(OTHER_RSA_KEY), key(RSA_KEY)]).unwrap();
        assert_eq!(opened.njwt, "a.b.c");
        assert_eq!(opened.key, key(RSA_KEY).fingerprint());
    }

    /// Audit map 8a: a CEK of any length but 32 is replaced by a random one.
    /// The 48-byte case would open if its first 32 bytes were used.
    #[test]
    fn a_cek_of_any_other_length_is_never_used() {
        let content = [9u8; 32];
        for len in [0usize, 16, 31, 33, 48, 64] {
            let wrapped: Vec<u8> = content.iter().copied().cycle().take(len).collect();
            let token = rsa_jwe(&oaep_wrap(&wrapped), &content, None);
            assert_eq!(
                open_rsa(&token, &[key(RSA_KEY)]).err(),
                Some(JweError::DecryptionFailed),
                "CEK of {len} bytes"
            );
        }
        let token = rsa_jwe(&oaep_wrap(&content), &content, None);
        assert!(
            open_rsa(&token, &[key(RSA_KEY)]).is_ok(),
            "the 32-byte control"
        );
    }

    /// Audit map 11-12: bad padding behind a valid tag (only a broken
    /// sender makes one) is the same `decryption_failed`, word for word,
    /// as a bad tag: no reason of its own.
    #[test]
    fn bad_padding_behind_a_valid_tag_is_reported_as_a_bad_tag() {
        let cek = [5u8; 32];
        let mut bad = NJWT.to_vec();
        bad.resize(32, 0); // last byte 0: no valid PKCS#7 padding
        let token = rsa_jwe(&oaep_wrap(&cek), &cek, Some(&bad));
        assert_eq!(
            open_rsa(&token, &[key(RSA_KEY)]).err(),
            Some(JweError::DecryptionFailed)
        );
        let good = rsa_jwe(&oaep_wrap(&cek), &cek, None);
        let mut parts: Vec<&str> = good.split('.').collect();
        let flipped = {
            let mut t = b64::decode(parts[4]).unwrap();
            t[0] ^= 1;
            b64::encode(&t)
        };
        parts[4] = &flipped;
        let bad_tag = parts.join(".");
        let keys = super::super::KeySet {
            decryption: vec![key(RSA_KEY)],
            verification: vec![],
        };
        let policy = super::super::Policy::for_keys(&keys, 60);
        let said = |t: &str| {
            super::super::decode(t, &keys, &policy, 0)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(said(&token), said(&bad_tag));
        assert_eq!(
            said(&token),
            "decryption_failed: JWE could not be decrypted"
        );
    }

    /// Audit map 7 (RFC 7516 §5.2 step 10; RFC 7518 §4.6): ECDH-ES carries an
    /// empty encrypted key, RSA-OAEP a non-empty one; anything else is
    /// refused before any key is tried.
    #[test]
    fn the_encrypted_key_is_empty_exactly_for_ecdh_es() {
        let to = EncryptionKey::from_pem(EC_PUB).unwrap();
        let ec = mint::encrypt(&mint::Header::default(), NJWT, &to).unwrap();
        let ec_keys = [key(EC_KEY)];
        assert!(
            decrypt(&ec, &[KeyManagement::EcdhEs], &ec_keys).is_ok(),
            "control"
        );
        let mut parts: Vec<String> = ec.split('.').map(str::to_owned).collect();
        parts[1] = b64::encode(&[1u8; 32]);
        PRIVATE_OPS.with(|n| n.set(0));
        assert_eq!(
            decrypt(&parts.join("."), &[KeyManagement::EcdhEs], &ec_keys).err(),
            Some(JweError::EncryptedKeyShape)
        );
        assert_eq!(PRIVATE_OPS.with(|n| n.get()), 0);
        let cek = [3u8; 32];
        let rsa = rsa_jwe(&oaep_wrap(&cek), &cek, None);
        let mut parts: Vec<&str> = rsa.split('.').collect();
        parts[1] = "";
        assert_eq!(
            open_rsa(&parts.join("."), &[key(RSA_KEY)]).err(),
            Some(JweError::EncryptedKeyShape)
        );
    }

    /// Issue: a 1-byte IV or a 3-byte tag cost a full RSA operation before
    /// it was refused. Lengths are checked first, with the same reason;
    /// a well-shaped token with a bad tag runs exactly one operation.
    #[test]
    fn malformed_lengths_are_refused_before_any_private_key_operation() {
        let cek = [3u8; 32];
        let good = rsa_jwe(&oaep_wrap(&cek), &cek, None);
        let to = EncryptionKey::from_pem(EC_PUB).unwrap();
        let ec = mint::encrypt(&mint::Header::default(), NJWT, &to).unwrap();
        let short = |token: &str, part: usize, bytes: &[u8]| {
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[part] = b64::encode(bytes);
            parts.join(".")
        };
        let cases = [
            (short(&good, 2, &[1]), KeyManagement::RsaOaep, key(RSA_KEY)),
            (
                short(&good, 4, &[1, 2, 3]),
                KeyManagement::RsaOaep,
                key(RSA_KEY),
            ),
            (
                short(&good, 3, &[0; 17]),
                KeyManagement::RsaOaep,
                key(RSA_KEY),
            ),
            (short(&good, 3, &[]), KeyManagement::RsaOaep, key(RSA_KEY)),
            (short(&ec, 2, &[1]), KeyManagement::EcdhEs, key(EC_KEY)),
            (short(&ec, 4, &[0; 17]), KeyManagement::EcdhEs, key(EC_KEY)),
        ];
        for (token, alg, k) in cases {
            PRIVATE_OPS.with(|n| n.set(0));
            assert_eq!(
                decrypt(&token, &[alg], &[k]).err(),
                Some(JweError::DecryptionFailed)
            );
            assert_eq!(PRIVATE_OPS.with(|n| n.get()), 0, "{alg:?}");
        }
        let bad_tag = short(&good, 4, &[0; 16]);
        PRIVATE_OPS.with(|n| n.set(0));
        assert_eq!(
            open_rsa(&bad_tag, &[key(RSA_KEY)]).err(),
            Some(JweError::DecryptionFailed)
        );
        assert_eq!(PRIVATE_OPS.with(|n| n.get()), 1);
    }

    /// Blinding is handed to the call, not left to a Cargo feature: the
    /// private operation draws from the RNG it is given, and without
    /// randomness it does not run at all.
    #[cfg(not(feature = "aws-lc"))]
    #[test]
    fn the_rsa_private_operation_draws_its_blinding_from_the_rng_given() {
        struct Counting(SystemRng, usize, bool);
        impl rand_core::TryRng for Counting {
            type Error = crate::jose::rng::RngFailed;
            fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
                self.1 += 1;
                if self.2 {
                    return Err(crate::jose::rng::RngFailed);
                }
                self.0.try_next_u32()
            }
            fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
                self.1 += 1;
                if self.2 {
                    return Err(crate::jose::rng::RngFailed);
                }
                self.0.try_next_u64()
            }
            fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> {
                self.1 += 1;
                if self.2 {
                    return Err(crate::jose::rng::RngFailed);
                }
                self.0.try_fill_bytes(d)
            }
        }
        impl rand_core::TryCryptoRng for Counting {}
        let cek = [8u8; 32];
        let ek = oaep_wrap(&cek);
        let mut counting = Counting(SystemRng::new(), 0, false);
        assert_eq!(
            rsa_oaep_decrypt(&key(RSA_KEY), &ek, &mut counting),
            Some(cek.to_vec())
        );
        assert!(counting.1 > 0, "the RNG was drawn from");
        let mut failing = Counting(SystemRng::new(), 0, true);
        assert_eq!(rsa_oaep_decrypt(&key(RSA_KEY), &ek, &mut failing), None);
        assert!(failing.1 > 0);
    }

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
        // The same 64 bytes split 31 + 33: together a point on the curve,
        // but neither coordinate is one (each must be 32 bytes).
        let xy = [b64::decode(&good.x).unwrap(), b64::decode(&good.y).unwrap()].concat();
        let shifted = epk(&b64::encode(&xy[..31]), &b64::encode(&xy[31..]));
        assert!(parse_epk(Some(&shifted)).is_none());
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
