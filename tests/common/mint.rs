//! A test-only minter for RSA-OAEP + A128CBC-HS256 tokens around RS256
//! JWSs, with any headers: the encrypting and signing side, which the
//! plugin itself never needs. Built on the crates directly.
#![allow(dead_code)]

use aes::Aes128;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use cbc::cipher::{block_padding::Pkcs7, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use rsa::pkcs8::DecodePublicKey;

pub fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn pem_der(pem: &str) -> Vec<u8> {
    STANDARD
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap()
}

/// An RS256 JWS over `claims` with header `header`, signed by a PKCS#8 PEM key.
pub fn sign(header: &serde_json::Value, claims: &serde_json::Value, private_pem: &str) -> String {
    let key = ring::signature::RsaKeyPair::from_pkcs8(&pem_der(private_pem)).unwrap();
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", b64(&sig))
}

/// An RSA-OAEP + A128CBC-HS256 JWE of `{"njwt": njwt}` to an SPKI PEM key.
pub fn encrypt(header: &serde_json::Value, njwt: &str, public_pem: &str) -> String {
    let cek: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let iv = [7u8; 16];
    let public = rsa::PublicKey::from_public_key_pem(public_pem).unwrap();
    let ek = public.oaep_encrypt::<sha1::Sha1>(&cek).unwrap();
    let h64 = b64(header.to_string().as_bytes());
    let plaintext = serde_json::json!({ "njwt": njwt }).to_string();
    let ct = cbc::Encryptor::<Aes128>::new_from_slices(&cek[16..], &iv)
        .unwrap()
        .encrypt_padded_vec::<Pkcs7>(plaintext.as_bytes());
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&cek[..16]).unwrap();
    mac.update(h64.as_bytes());
    mac.update(&iv);
    mac.update(&ct);
    mac.update(&((h64.len() as u64) * 8).to_be_bytes());
    let tag = &mac.finalize().into_bytes()[..16];
    format!("{h64}.{}.{}.{}.{}", b64(&ek), b64(&iv), b64(&ct), b64(tag))
}

/// Claims valid around `now`.
pub fn claims(now: u64) -> serde_json::Value {
    serde_json::json!({
        "sub": "id-contact-attributes",
        "status": "succes",
        "attributes": { "email": "minted@example.nl" },
        "iat": now,
        "exp": now + 300,
    })
}
