//! Keys, parsed once from PEM at start-up and bound to the one algorithm
//! each may be used with. The PEM label and the key's own structure decide
//! its type: a separate "type" setting could disagree with the key.
//!
//! `Debug` is written by hand for every type holding key material: it shows
//! the algorithm, the `kid` and the public fingerprint, never the key.

use std::fmt;

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

use super::header::{KeyManagement, SignatureAlg};

/// First 8 bytes of SHA-256 over the key's SubjectPublicKeyInfo DER: names
/// a key in logs without revealing it, and a private key and its public
/// half share one fingerprint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 8]);

impl Fingerprint {
    fn of_spki(spki_der: &[u8]) -> Self {
        let digest = Sha256::digest(spki_der);
        let mut out = [0u8; 8];
        out.iter_mut().zip(digest.iter()).for_each(|(o, d)| *o = *d);
        Fingerprint(out)
    }
}

#[cfg(test)]
impl Fingerprint {
    pub(super) fn for_test() -> Self {
        Fingerprint([0; 8])
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a PEM could not become a key. No variant carries input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Not a PEM document, or a label we do not take for this use.
    NotPem,
    /// The PEM label was right but its contents are not an RSA or P-256 key.
    Invalid,
    /// An RSA modulus under 2048 bits (ring verifies 2048 to 8192).
    RsaTooSmall,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotPem => "not a PEM key of a supported kind (private: PKCS#8, PKCS#1 RSA, SEC1 EC; public: SPKI)",
            Self::Invalid => "PEM contents are not a valid RSA or P-256 key",
            Self::RsaTooSmall => "RSA key shorter than 2048 bits",
        })
    }
}

fn pem_label(pem: &str) -> Option<&str> {
    let rest = pem.trim_start().strip_prefix("-----BEGIN ")?;
    let (label, _) = rest.split_once("-----")?;
    Some(label)
}

fn check_rsa_size(key: &impl PublicKeyParts) -> Result<(), KeyError> {
    if key.size() < 256 {
        return Err(KeyError::RsaTooSmall);
    }
    Ok(())
}

/// A private key as read from PEM, before a role binds it to an algorithm:
/// the decoder makes a `DecryptionKey` of it, the minter a signing key.
pub(crate) enum PrivatePem {
    Rsa(Box<rsa::PrivateKey>),
    P256(p256::SecretKey),
}

/// Reads a private key PEM: PKCS#8 (`PRIVATE KEY`, RSA or P-256), PKCS#1
/// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`); RSA of 2048 bits or more.
pub(crate) fn read_private(pem: &str) -> Result<PrivatePem, KeyError> {
    let key = match pem_label(pem) {
        Some("PRIVATE KEY") => match rsa::PrivateKey::from_pkcs8_pem(pem) {
            Ok(k) => PrivatePem::Rsa(Box::new(k)),
            Err(_) => PrivatePem::P256(
                p256::SecretKey::from_pkcs8_pem(pem).map_err(|_| KeyError::Invalid)?,
            ),
        },
        Some("RSA PRIVATE KEY") => PrivatePem::Rsa(Box::new(
            rsa::PrivateKey::from_pkcs1_pem(pem).map_err(|_| KeyError::Invalid)?,
        )),
        Some("EC PRIVATE KEY") => {
            PrivatePem::P256(p256::SecretKey::from_sec1_pem(pem).map_err(|_| KeyError::Invalid)?)
        }
        _ => return Err(KeyError::NotPem),
    };
    if let PrivatePem::Rsa(k) = &key {
        check_rsa_size(k.as_ref())?;
    }
    Ok(key)
}

/// A public key as read from PEM, before a role binds it.
pub(crate) enum PublicPem {
    Rsa(rsa::PublicKey),
    P256(p256::PublicKey),
}

/// Reads a public key PEM: SPKI (`PUBLIC KEY`, RSA or P-256) or PKCS#1
/// (`RSA PUBLIC KEY`); RSA of 2048 bits or more.
pub(crate) fn read_public(pem: &str) -> Result<PublicPem, KeyError> {
    let key = match pem_label(pem) {
        Some("PUBLIC KEY") => match rsa::PublicKey::from_public_key_pem(pem) {
            Ok(k) => PublicPem::Rsa(k),
            Err(_) => PublicPem::P256(
                p256::PublicKey::from_public_key_pem(pem).map_err(|_| KeyError::Invalid)?,
            ),
        },
        Some("RSA PUBLIC KEY") => {
            PublicPem::Rsa(rsa::PublicKey::from_pkcs1_pem(pem).map_err(|_| KeyError::Invalid)?)
        }
        _ => return Err(KeyError::NotPem),
    };
    if let PublicPem::Rsa(k) = &key {
        check_rsa_size(k)?;
    }
    Ok(key)
}

fn kid_or_fingerprint(kid: Option<String>, fp: Fingerprint) -> String {
    kid.unwrap_or_else(|| fp.to_string())
}

/// An RSA private key, prepared once for the OAEP private operation.
pub(super) struct RsaKey {
    pub(super) key: rsa::PrivateKey,
    /// With `--features aws-lc`, the same key in AWS-LC, which then does
    /// the OAEP private operation (and nothing else).
    #[cfg(feature = "aws-lc")]
    pub(super) aws_lc: aws_lc_rs::rsa::OaepPrivateDecryptingKey,
}

impl RsaKey {
    fn new(key: rsa::PrivateKey) -> Result<Box<Self>, KeyError> {
        #[cfg(feature = "aws-lc")]
        let aws_lc = {
            use rsa::pkcs8::EncodePrivateKey;
            let der = key.to_pkcs8_der().map_err(|_| KeyError::Invalid)?;
            let k = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(der.as_bytes())
                .map_err(|_| KeyError::Invalid)?;
            aws_lc_rs::rsa::OaepPrivateDecryptingKey::new(k).map_err(|_| KeyError::Invalid)?
        };
        Ok(Box::new(RsaKey {
            key,
            #[cfg(feature = "aws-lc")]
            aws_lc,
        }))
    }
}

enum Decrypt {
    RsaOaep(Box<RsaKey>),
    EcdhEs(p256::SecretKey),
}

/// A private key for the outer JWE, usable with exactly one key management
/// algorithm.
pub struct DecryptionKey {
    kid: String,
    fingerprint: Fingerprint,
    key: Decrypt,
}

impl DecryptionKey {
    /// Parses a private key PEM: PKCS#8 (`PRIVATE KEY`, RSA or P-256),
    /// PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub fn from_pem(pem: &str, kid: Option<String>) -> Result<Self, KeyError> {
        let key = match read_private(pem)? {
            PrivatePem::Rsa(k) => Decrypt::RsaOaep(RsaKey::new(*k)?),
            PrivatePem::P256(k) => Decrypt::EcdhEs(k),
        };
        let spki = match &key {
            Decrypt::RsaOaep(k) => k.key.to_public_key().to_public_key_der(),
            Decrypt::EcdhEs(k) => k.public_key().to_public_key_der(),
        }
        .map_err(|_| KeyError::Invalid)?;
        let fingerprint = Fingerprint::of_spki(spki.as_bytes());
        Ok(DecryptionKey {
            kid: kid_or_fingerprint(kid, fingerprint),
            fingerprint,
            key,
        })
    }

    pub fn algorithm(&self) -> KeyManagement {
        match self.key {
            Decrypt::RsaOaep(_) => KeyManagement::RsaOaep,
            Decrypt::EcdhEs(_) => KeyManagement::EcdhEs,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub(super) fn rsa(&self) -> Option<&RsaKey> {
        match &self.key {
            Decrypt::RsaOaep(k) => Some(k),
            Decrypt::EcdhEs(_) => None,
        }
    }

    pub(super) fn p256(&self) -> Option<&p256::SecretKey> {
        match &self.key {
            Decrypt::EcdhEs(k) => Some(k),
            Decrypt::RsaOaep(_) => None,
        }
    }
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("alg", &self.algorithm().name())
            .field("kid", &self.kid)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// A public key for the inner JWS, usable with exactly one signature
/// algorithm, held in the form ring verifies with.
pub struct VerificationKey {
    kid: String,
    fingerprint: Fingerprint,
    alg: SignatureAlg,
    /// RS256: PKCS#1 RSAPublicKey DER; ES256: uncompressed SEC1 point.
    ring_bytes: Vec<u8>,
}

impl VerificationKey {
    /// Parses a public key PEM: SPKI (`PUBLIC KEY`, RSA or P-256) or
    /// PKCS#1 (`RSA PUBLIC KEY`).
    pub fn from_pem(pem: &str, kid: Option<String>) -> Result<Self, KeyError> {
        let (alg, ring_bytes, spki) = match read_public(pem)? {
            PublicPem::Rsa(k) => rsa_parts(&k)?,
            PublicPem::P256(k) => {
                let spki = k.to_public_key_der().map_err(|_| KeyError::Invalid)?;
                (
                    SignatureAlg::Es256,
                    k.to_sec1_bytes().into_vec(),
                    spki.into_vec(),
                )
            }
        };
        let fingerprint = Fingerprint::of_spki(&spki);
        Ok(VerificationKey {
            kid: kid_or_fingerprint(kid, fingerprint),
            fingerprint,
            alg,
            ring_bytes,
        })
    }

    pub fn algorithm(&self) -> SignatureAlg {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub(super) fn ring_bytes(&self) -> &[u8] {
        &self.ring_bytes
    }
}

fn rsa_parts(k: &rsa::PublicKey) -> Result<(SignatureAlg, Vec<u8>, Vec<u8>), KeyError> {
    let pkcs1 = k.to_pkcs1_der().map_err(|_| KeyError::Invalid)?;
    let spki = k.to_public_key_der().map_err(|_| KeyError::Invalid)?;
    Ok((SignatureAlg::Rs256, pkcs1.into_vec(), spki.into_vec()))
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("alg", &self.alg.name())
            .field("kid", &self.kid)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The configured keys: a fixed in-memory set. A token's `kid` selects from
/// it; nothing in a token can add to it (RFC 7515 §4.1.4 `kid` is a hint).
#[derive(Debug, Default)]
pub struct KeySet {
    pub decryption: Vec<DecryptionKey>,
    pub verification: Vec<VerificationKey>,
}

/// Why no key could be chosen for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChoiceError {
    /// No configured key is of the type the token's algorithm needs.
    NoKeyForAlg,
}

/// What a token's `kid` did to the choice of keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KidHint {
    /// No `kid` in the header.
    Absent,
    /// It names a configured key of the right type, tried first.
    Matched,
    /// It names no configured key of the right type (a producer's own name
    /// for its key, say): every key bound to the algorithm is tried.
    Unrecognised(String),
}

/// The keys to try, in order: every configured key bound to `alg`, the
/// ones named by `kid` first. `kid` is a hint (RFC 7515 §4.1.4): it orders
/// the keys and never narrows them, so the verdict never depends on it; a
/// key never serves the other key type's algorithm.
pub(super) fn candidates<'k, K, A: PartialEq>(
    keys: &'k [K],
    kid: Option<&str>,
    alg: A,
    key_alg: impl Fn(&K) -> A,
    key_kid: impl Fn(&K) -> &str,
) -> Result<(Vec<&'k K>, KidHint), KeyChoiceError> {
    let usable: Vec<&K> = keys.iter().filter(|k| key_alg(k) == alg).collect();
    if usable.is_empty() {
        return Err(KeyChoiceError::NoKeyForAlg);
    }
    let Some(kid) = kid else {
        return Ok((usable, KidHint::Absent));
    };
    let (mut named, rest): (Vec<&K>, Vec<&K>) = usable.into_iter().partition(|k| key_kid(k) == kid);
    let hint = if named.is_empty() {
        KidHint::Unrecognised(kid.to_owned())
    } else {
        KidHint::Matched
    };
    named.extend(rest);
    Ok((named, hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_PKCS8: &str = include_str!("../../keys/idcontact-test-rsa.key.pem");
    const RSA_PKCS1: &str = include_str!("../../keys/idcontact-test-rsa.key.pkcs1.pem");
    const RSA_PUB: &str = include_str!("../../keys/idcontact-test-rsa.pub.pem");
    const EC_PKCS8: &str = include_str!("../../keys/idcontact-test-ec.key.pem");
    const EC_SEC1: &str = include_str!("../../keys/idcontact-test-ec.key.sec1.pem");
    const EC_PUB: &str = include_str!("../../keys/idcontact-test-ec.pub.pem");

    #[test]
    fn type_comes_from_the_pem() {
        for (pem, alg) in [
            (RSA_PKCS8, KeyManagement::RsaOaep),
            (RSA_PKCS1, KeyManagement::RsaOaep),
            (EC_PKCS8, KeyManagement::EcdhEs),
            (EC_SEC1, KeyManagement::EcdhEs),
        ] {
            assert_eq!(DecryptionKey::from_pem(pem, None).unwrap().algorithm(), alg);
        }
        assert_eq!(
            VerificationKey::from_pem(RSA_PUB, None)
                .unwrap()
                .algorithm(),
            SignatureAlg::Rs256
        );
        assert_eq!(
            VerificationKey::from_pem(EC_PUB, None).unwrap().algorithm(),
            SignatureAlg::Es256
        );
    }

    #[test]
    fn private_and_public_halves_share_a_fingerprint() {
        let rsa1 = DecryptionKey::from_pem(RSA_PKCS8, None)
            .unwrap()
            .fingerprint();
        let rsa2 = DecryptionKey::from_pem(RSA_PKCS1, None)
            .unwrap()
            .fingerprint();
        let rsa3 = VerificationKey::from_pem(RSA_PUB, None)
            .unwrap()
            .fingerprint();
        assert_eq!((rsa1, rsa2), (rsa3, rsa3));
        let ec1 = DecryptionKey::from_pem(EC_SEC1, None)
            .unwrap()
            .fingerprint();
        let ec2 = VerificationKey::from_pem(EC_PUB, None)
            .unwrap()
            .fingerprint();
        assert_eq!(ec1, ec2);
        assert_ne!(rsa1, ec1);
        assert_eq!(rsa1.to_string().len(), 16);
    }

    #[test]
    fn wrong_pem_kinds_are_refused_by_name() {
        assert_eq!(
            DecryptionKey::from_pem(RSA_PUB, None).unwrap_err(),
            KeyError::NotPem
        );
        assert_eq!(
            VerificationKey::from_pem(RSA_PKCS8, None).unwrap_err(),
            KeyError::NotPem
        );
        assert_eq!(
            DecryptionKey::from_pem("hello", None).unwrap_err(),
            KeyError::NotPem
        );
        let broken = RSA_PKCS8.replace("MII", "MIJ");
        assert_eq!(
            DecryptionKey::from_pem(&broken, None).unwrap_err(),
            KeyError::Invalid
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        let k = DecryptionKey::from_pem(RSA_PKCS8, Some("k1".into())).unwrap();
        let shown = format!("{k:?}");
        assert_eq!(
            shown,
            format!(
                "DecryptionKey {{ alg: \"RSA-OAEP\", kid: \"k1\", fingerprint: {}, .. }}",
                k.fingerprint()
            )
        );
        let ec = DecryptionKey::from_pem(EC_PKCS8, None).unwrap();
        assert!(!format!("{ec:?}").contains("SecretKey"));
    }

    #[test]
    fn candidates_by_kid_and_by_type() {
        let keys = [
            DecryptionKey::from_pem(RSA_PKCS8, Some("a".into())).unwrap(),
            DecryptionKey::from_pem(EC_PKCS8, Some("b".into())).unwrap(),
        ];
        let pick = |kid, alg| {
            candidates(&keys, kid, alg, |k| k.algorithm(), |k| k.kid()).map(|(v, hint)| {
                (
                    v.iter().map(|k| k.kid().to_owned()).collect::<Vec<_>>(),
                    hint,
                )
            })
        };
        let kids = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            pick(None, KeyManagement::RsaOaep),
            Ok((kids(&["a"]), KidHint::Absent))
        );
        assert_eq!(
            pick(Some("a"), KeyManagement::RsaOaep),
            Ok((kids(&["a"]), KidHint::Matched))
        );
        // Regression: a kid naming no configured key was `unknown_kid`.
        assert_eq!(
            pick(Some("c"), KeyManagement::RsaOaep),
            Ok((kids(&["a"]), KidHint::Unrecognised("c".into())))
        );
        // Naming a key of the other type narrows nothing and widens nothing.
        assert_eq!(
            pick(Some("b"), KeyManagement::RsaOaep),
            Ok((kids(&["a"]), KidHint::Unrecognised("b".into())))
        );
        let rsa_only = [DecryptionKey::from_pem(RSA_PKCS8, None).unwrap()];
        assert_eq!(
            candidates(
                &rsa_only,
                None,
                KeyManagement::EcdhEs,
                |k| k.algorithm(),
                |k| k.kid()
            )
            .err(),
            Some(KeyChoiceError::NoKeyForAlg)
        );
        let two = [
            DecryptionKey::from_pem(RSA_PKCS8, Some("x".into())).unwrap(),
            DecryptionKey::from_pem(RSA_PKCS8, Some("y".into())).unwrap(),
        ];
        let order = candidates(
            &two,
            Some("y"),
            KeyManagement::RsaOaep,
            |k| k.algorithm(),
            |k| k.kid(),
        )
        .unwrap();
        assert_eq!(
            order.0.iter().map(|k| k.kid()).collect::<Vec<_>>(),
            ["y", "x"],
            "named first, then the rest"
        );
    }
}
