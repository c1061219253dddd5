//! Test helpers over the product's own minting (`comm_test::jose::mint`):
//! JSON headers and claims in, compact tokens out, keys from PEM text.
#![allow(dead_code)]

use comm_test::jose::mint::{self, as_is, EncryptionKey, SigningKey};
use serde_json::Value;

pub fn b64(b: &[u8]) -> String {
    comm_test::jose::b64::encode(b)
}

fn map(v: &Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// A JWS over `claims` with `header` (alg from the key unless given).
pub fn sign(header: &Value, claims: &Value, private_pem: &str) -> String {
    let key = SigningKey::from_pem(private_pem).unwrap();
    mint::sign(&map(header), claims.to_string().as_bytes(), &key, &as_is).unwrap()
}

/// A JWE of `{"njwt": njwt}` to the public key (alg, enc from the key
/// unless given).
pub fn encrypt(header: &Value, njwt: &str, public_pem: &str) -> String {
    let to = EncryptionKey::from_pem(public_pem).unwrap();
    let payload = serde_json::json!({ "njwt": njwt }).to_string();
    mint::encrypt(&map(header), payload.as_bytes(), &to, &as_is).unwrap()
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
