//! The producer's keys: a private key to sign with, a public key to
//! encrypt to, each read by the decoder's one PEM reader (`jose::keys`)
//! and bound by the decoder's algorithm enums to the one algorithm it
//! serves. `Debug` shows the algorithm, never the key.

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;

use super::MintError;
use crate::jose::keys::{read_private, read_public, PrivatePem, PublicPem};
use crate::jose::{KeyError, KeyManagement, SignatureAlg};

/// A key to sign with; the key decides the algorithm.
pub enum SigningKey {
    Rs256(RsaKeyPair),
    Es256(EcdsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, ..)", self.alg().name())
    }
}

/// What a PEM of the wrong kind gets, naming the role it was given for.
fn key_error(e: KeyError, role: &'static str) -> MintError {
    MintError::Key(match e {
        KeyError::NotPem => role,
        KeyError::Invalid => "PEM contents are not a valid RSA or P-256 key",
        KeyError::RsaTooSmall => "RSA key shorter than 2048 bits",
    })
}

fn p256_signing(secret: &p256::SecretKey) -> Result<EcdsaKeyPair, MintError> {
    let der = secret
        .to_pkcs8_der()
        .map_err(|_| MintError::Key("cannot re-encode the P-256 key"))?;
    EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        der.as_bytes(),
        &SystemRandom::new(),
    )
    .map_err(|_| MintError::Key("not a valid P-256 private key"))
}

impl SigningKey {
    /// PKCS#8 (RSA or P-256), PKCS#1 RSA, or SEC1 P-256, in PEM.
    pub fn from_pem(pem: &str) -> Result<SigningKey, MintError> {
        const ROLE: &str = "not a private key PEM (PKCS#8, PKCS#1 RSA or SEC1 P-256)";
        match read_private(pem).map_err(|e| key_error(e, ROLE))? {
            PrivatePem::Rsa(k) => {
                let der = k
                    .to_pkcs1_der()
                    .map_err(|_| MintError::Key("cannot re-encode the RSA key"))?;
                RsaKeyPair::from_der(der.as_bytes())
                    .map(SigningKey::Rs256)
                    .map_err(|_| MintError::Key("not a valid RSA private key"))
            }
            PrivatePem::P256(k) => p256_signing(&k).map(SigningKey::Es256),
        }
    }

    /// A fresh P-256 key: "signed by another key".
    pub fn random_es256() -> Result<SigningKey, MintError> {
        p256_signing(&random_p256_secret()?).map(SigningKey::Es256)
    }

    pub fn alg(&self) -> SignatureAlg {
        match self {
            SigningKey::Rs256(_) => SignatureAlg::Rs256,
            SigningKey::Es256(_) => SignatureAlg::Es256,
        }
    }

    /// RS256: the PKCS#1 RSAPublicKey DER; ES256: the uncompressed point.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        match self {
            SigningKey::Rs256(k) => k.public().as_ref().to_vec(),
            SigningKey::Es256(k) => k.public_key().as_ref().to_vec(),
        }
    }

    /// RFC 7518 §3.3 (RSASSA-PKCS1-v1_5 SHA-256) or §3.4 (ECDSA P-256
    /// SHA-256, r ‖ s), by ring.
    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, MintError> {
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
        const ROLE: &str = "not a public key PEM (SPKI RSA or P-256, or PKCS#1 RSA)";
        Ok(match read_public(pem).map_err(|e| key_error(e, ROLE))? {
            PublicPem::Rsa(k) => EncryptionKey::RsaOaep(k),
            PublicPem::P256(k) => EncryptionKey::EcdhEs(k),
        })
    }

    /// A fresh P-256 key nobody configured: "wrong decryption key".
    pub fn random_p256() -> Result<EncryptionKey, MintError> {
        Ok(EncryptionKey::EcdhEs(random_p256_secret()?.public_key()))
    }

    pub fn alg(&self) -> KeyManagement {
        match self {
            EncryptionKey::RsaOaep(_) => KeyManagement::RsaOaep,
            EncryptionKey::EcdhEs(_) => KeyManagement::EcdhEs,
        }
    }
}

pub(super) fn random<const N: usize>() -> Result<[u8; N], MintError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| MintError::Crypto("randomness failed"))?;
    Ok(b)
}

pub(super) fn random_p256_secret() -> Result<p256::SecretKey, MintError> {
    // A random 256-bit string is a valid scalar but with probability ~2^-32.
    for _ in 0..8 {
        if let Ok(k) = p256::SecretKey::from_slice(&random::<32>()?) {
            return Ok(k);
        }
    }
    Err(MintError::Crypto("P-256 key generation failed"))
}
