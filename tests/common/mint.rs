//! Test helpers over the product's own minting (`comm_test::mint`):
//! JSON headers and claims in, compact tokens out, keys from PEM text.
#![allow(dead_code)]

use base64::Engine as _;
use comm_test::mint::{bent, EncryptionKey, Header, SigningKey};
use serde_json::Value;

pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A JWS over `claims` with `header`'s members set after the minter's own
/// (so `alg` is the key's unless `header` names another).
pub fn sign(header: &Value, claims: &Value, private_pem: &str) -> String {
    let key = SigningKey::from_pem(private_pem).unwrap();
    let bend = bent::set(header.clone());
    bent::sign(
        &Header::default(),
        claims.to_string().as_bytes(),
        &key,
        &bend,
    )
    .unwrap()
}

/// A JWE of `{"njwt": njwt}` to the public key, `header`'s members set
/// after the minter's own (`alg`, `enc`, `epk`).
pub fn encrypt(header: &Value, njwt: &str, public_pem: &str) -> String {
    let to = EncryptionKey::from_pem(public_pem).unwrap();
    let payload = serde_json::json!({ "njwt": njwt }).to_string();
    let bend = bent::set(header.clone());
    bent::encrypt(&Header::default(), payload.as_bytes(), &to, &bend).unwrap()
}

/// Claims valid around `now`.
pub fn claims(now: u64) -> Value {
    serde_json::json!({
        "sub": "id-contact-attributes",
        "status": "succes",
        "attributes": { "email": "minted@example.nl" },
        "iat": now,
        "exp": now + 300,
    })
}
