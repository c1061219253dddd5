//! The inner layer: JWS compact serialization (RFC 7515 §7.1) signed RS256
//! (RSASSA-PKCS1-v1_5 SHA-256, RFC 7518 §3.3) or ES256 (ECDSA P-256 SHA-256,
//! 64-byte R‖S, RFC 7518 §3.4), verified by ring. The payload leaves this
//! module only inside `Verified`, which nothing else can construct: claims
//! are never read from an unverified token.

use ring::signature::{self, UnparsedPublicKey};

use super::b64;
use super::header::{self, HeaderError, JwsHeader, SignatureAlg};
use super::jwe::split_exact;
use super::keys::{self, Fingerprint, KeyChoiceError, KidHint, VerificationKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsError {
    /// Not exactly three dot-separated parts.
    PartCount,
    Header(HeaderError),
    /// Signature or payload not base64url.
    Base64,
    Key(KeyChoiceError),
    /// No candidate key verifies the signature.
    BadSignature,
}

/// A payload whose signature verified, with the header and the key that
/// verified it. The private field keeps construction inside this module.
#[derive(Debug)]
pub struct Verified {
    header: JwsHeader,
    payload: Vec<u8>,
    key: Fingerprint,
    kid: KidHint,
}

impl Verified {
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
    pub fn key(&self) -> Fingerprint {
        self.key
    }
    pub fn kid(&self) -> &KidHint {
        &self.kid
    }

    /// Lets the claims tests start from a payload without a signature.
    #[cfg(test)]
    pub(super) fn unsigned_for_test(payload: &[u8]) -> Self {
        Verified {
            header: JwsHeader {
                alg: SignatureAlg::Rs256,
                kid: None,
                json: Vec::new(),
            },
            payload: payload.to_vec(),
            key: Fingerprint::for_test(),
            kid: KidHint::Absent,
        }
    }
}

fn ring_algorithm(alg: SignatureAlg) -> &'static dyn signature::VerificationAlgorithm {
    match alg {
        // RFC 7518 §3.3: keys of 2048 bits or more; ring refuses smaller ones.
        SignatureAlg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        // RFC 7518 §3.4: the signature is R ‖ S, 32 octets each, not DER.
        SignatureAlg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
    }
}

/// Verifies `sig` over `message` with `key`, by the one algorithm the key
/// is bound to (RFC 7515 §5.2 step 8).
pub fn verify_signature(key: &VerificationKey, message: &[u8], sig: &[u8]) -> bool {
    UnparsedPublicKey::new(ring_algorithm(key.algorithm()), key.ring_bytes())
        .verify(message, sig)
        .is_ok()
}

pub fn verify(
    jws: &str,
    allowed: &[SignatureAlg],
    keys: &[VerificationKey],
) -> Result<Verified, JwsError> {
    // RFC 7515 §5.2 step 1: three parts.
    let [h64, p64, s64] = split_exact::<3>(jws).ok_or(JwsError::PartCount)?;
    // Steps 2-4: the header against the allow-list, before any crypto.
    let header = header::parse_jws(h64, allowed).map_err(JwsError::Header)?;
    let (candidates, kid) = keys::candidates(
        keys,
        header.kid.as_deref(),
        header.alg,
        VerificationKey::algorithm,
        VerificationKey::kid,
    )
    .map_err(JwsError::Key)?;
    let sig = b64::decode(s64).map_err(|_| JwsError::Base64)?;
    // Step 8: the JWS Signing Input is ASCII(header64 '.' payload64), which
    // is exactly the prefix of `jws` up to the second dot.
    let signing_input = jws
        .get(..h64.len() + 1 + p64.len())
        .ok_or(JwsError::PartCount)?
        .as_bytes();
    let key = candidates
        .into_iter()
        .find(|k| verify_signature(k, signing_input, &sig))
        .ok_or(JwsError::BadSignature)?
        .fingerprint();
    let payload = b64::decode(p64).map_err(|_| JwsError::Base64)?;
    Ok(Verified {
        header,
        payload,
        key,
        kid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_PUB: &str = include_str!("../../keys/idcontact-test-rsa.pub.pem");
    const EC_PUB: &str = include_str!("../../keys/idcontact-test-ec.pub.pem");
    /// The inner JWS of the captured sample token.
    const SAMPLE_NJWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJpZC1jb250YWN0LWF0dHJpYnV0ZXMiLCJzdGF0dXMiOiJzdWNjZXMiLCJhdHRyaWJ1dGVzIjp7ImVtYWlsIjoiYmxhIn0sImlhdCI6MTYxNTg3OTgwMCwiZXhwIjoxNjE1ODgwMTAwfQ.T4VliaytEhlf2PwOiKL0GY4IcmXd64A8Gl2P9w6Tl1mQzzAqnF8TV7IjrUSu3tvs1hAS3gR-WqAhxSKzv0WuzrewXv_uvkdabJ4HTTRsALbUk13jt1C4A5wCR-3tP4H6sV5M5ODdT83wFb1_huoU_GtnXCVdQwmQMtO5wteMA_XOHEv6ExCaBKPr8NQ6Txd5SHsUG48gZfWmSDSYB9mzD99CdfEQUxebvQ9x3hUQffRsIsE6MqNakD8h0W8qlabnPxZ2fe7Tn8AlZzTFNu3EW35JdvENJQ2r71QxJOdEVHxoBREBlFGpCAjXH1x6aRWi_GfUD8s5zEkB_xA1_InesQ";
    const ALL: &[SignatureAlg] = &[SignatureAlg::Rs256, SignatureAlg::Es256];

    fn rsa() -> Vec<VerificationKey> {
        vec![VerificationKey::from_pem(RSA_PUB, None).unwrap()]
    }

    #[test]
    fn sample_inner_token_verifies() {
        let v = verify(SAMPLE_NJWT, ALL, &rsa()).unwrap();
        assert_eq!(v.header().alg, SignatureAlg::Rs256);
        assert!(v
            .payload()
            .starts_with(br#"{"sub":"id-contact-attributes""#));
        assert_eq!(v.key(), rsa()[0].fingerprint());
    }

    #[test]
    fn changed_payload_is_bad_signature() {
        // Same claims, one byte different in the payload segment.
        let forged = SAMPLE_NJWT.replacen(".eyJzdWIi", ".eyJzdWIj", 1);
        assert_eq!(
            verify(&forged, ALL, &rsa()).unwrap_err(),
            JwsError::BadSignature
        );
    }

    #[test]
    fn key_of_the_other_type_never_verifies() {
        let ec = vec![VerificationKey::from_pem(EC_PUB, None).unwrap()];
        assert_eq!(
            verify(SAMPLE_NJWT, ALL, &ec).unwrap_err(),
            JwsError::Key(KeyChoiceError::NoKeyForAlg)
        );
    }

    #[test]
    fn allow_list_is_applied_before_keys() {
        assert_eq!(
            verify(SAMPLE_NJWT, &[SignatureAlg::Es256], &rsa()).unwrap_err(),
            JwsError::Header(HeaderError::AlgNotAllowed)
        );
    }

    #[test]
    fn part_counts() {
        assert_eq!(verify("a.b", ALL, &rsa()).unwrap_err(), JwsError::PartCount);
        assert_eq!(
            verify("a.b.c.d", ALL, &rsa()).unwrap_err(),
            JwsError::PartCount
        );
    }
}
