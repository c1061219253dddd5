//! Protected headers (RFC 7515 §4, RFC 7516 §4): parsed once into closed
//! enums, and refused before any cryptography runs when they name an
//! algorithm outside the caller's allow-list or a feature we do not
//! implement. Unknown non-critical parameters are ignored (RFC 7515 §4).

use serde::de::{Deserializer, IgnoredAny};
use serde::Deserialize;

use super::b64;

/// JWE key management algorithms we implement (RFC 7518 §4.3, §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyManagement {
    /// `RSA-OAEP`: RSAES-OAEP with SHA-1 and MGF1-SHA-1 (RFC 7518 §4.3).
    RsaOaep,
    /// `ECDH-ES`: direct key agreement on P-256 (RFC 7518 §4.6).
    EcdhEs,
}

/// JWE content encryption algorithms we implement (RFC 7518 §5.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncryption {
    A128CbcHs256,
}

/// JWS signature algorithms we implement (RFC 7518 §3.3, §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlg {
    Rs256,
    Es256,
}

impl KeyManagement {
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaOaep => "RSA-OAEP",
            Self::EcdhEs => "ECDH-ES",
        }
    }
}

impl ContentEncryption {
    pub fn name(self) -> &'static str {
        "A128CBC-HS256"
    }
}

impl SignatureAlg {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The segment is not base64url, or not a JSON object of the right shape.
    Malformed,
    /// `alg` names an algorithm outside the allow-list (e.g. `none`, `HS256`, `RSA1_5`).
    AlgNotAllowed,
    /// `enc` names anything but `A128CBC-HS256`, or is missing from a JWE.
    EncNotAllowed,
    /// A parameter we refuse; the name is ours, not the input's.
    Unsupported(&'static str),
}

/// The ephemeral public key of ECDH-ES (RFC 7518 §4.6.1.1), as sent. It is
/// turned into a curve point, and checked to be on the curve, in `jwe`.
#[derive(Debug, Clone, Deserialize)]
pub struct Epk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
}

#[derive(Debug)]
pub struct JweHeader {
    pub alg: KeyManagement,
    pub enc: ContentEncryption,
    pub kid: Option<String>,
    pub epk: Option<Epk>,
    /// `apu` and `apv` decoded (RFC 7518 §4.6.1.2-3); empty when absent.
    pub apu: Vec<u8>,
    pub apv: Vec<u8>,
    /// The header's JSON as sent, for `comm-test decode`.
    pub json: Vec<u8>,
}

#[derive(Debug)]
pub struct JwsHeader {
    pub alg: SignatureAlg,
    pub kid: Option<String>,
    pub json: Vec<u8>,
}

/// Set when the member is present at all, whatever its value, `null` included:
/// `"zip": null` is still a `zip` we refuse.
#[derive(Debug, Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// Both header kinds share one wire shape. serde rejects a duplicated member
/// by name, so two `alg` members cannot be read differently by two parsers.
#[derive(Deserialize)]
struct Raw {
    alg: String,
    enc: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    cty: Option<String>,
    epk: Option<Epk>,
    apu: Option<String>,
    apv: Option<String>,
    #[serde(default)]
    zip: Present,
    #[serde(default)]
    crit: Present,
    #[serde(default)]
    jwk: Present,
    #[serde(default)]
    jku: Present,
    #[serde(default)]
    x5u: Present,
    #[serde(default)]
    x5c: Present,
}

fn decode_raw(segment: &str) -> Result<(Raw, Vec<u8>), HeaderError> {
    let json = b64::decode(segment).map_err(|_| HeaderError::Malformed)?;
    // No member twice, known or not: no two parsers read it two ways.
    let members: crate::json::Members =
        serde_json::from_slice(&json).map_err(|_| HeaderError::Malformed)?;
    if members.duplicate {
        return Err(HeaderError::Malformed);
    }
    let raw: Raw = serde_json::from_slice(&json).map_err(|_| HeaderError::Malformed)?;
    Ok((raw, json))
}

/// Refusals common to both layers, in the order RFC 7515 gives them weight.
fn refuse_common(raw: &Raw) -> Result<(), HeaderError> {
    // RFC 7516 §4.1.3: we implement no compression; decompressing
    // attacker data before it is authenticated invites zip bombs. In a JWS
    // header `zip` means nothing (RFC 7515 has no such parameter), so a
    // producer that sends one there expects something we do not do.
    if raw.zip.0 {
        return Err(HeaderError::Unsupported("zip"));
    }
    // RFC 7515 §4.1.11: a recipient MUST reject a `crit` it does not
    // understand, and we understand no extension.
    if raw.crit.0 {
        return Err(HeaderError::Unsupported("crit"));
    }
    // RFC 7515 §4.1.2-6: a key carried in the token would let the sender
    // choose the key that checks its own token. Keys come only from config.
    for (present, name) in [
        (raw.jwk.0, "jwk"),
        (raw.jku.0, "jku"),
        (raw.x5u.0, "x5u"),
        (raw.x5c.0, "x5c"),
    ] {
        if present {
            return Err(HeaderError::Unsupported(name));
        }
    }
    // RFC 7519 §5.1: `typ`, when present, says what this is; we only take JWTs.
    if let Some(typ) = &raw.typ {
        if !is_jwt_media_type(typ) {
            return Err(HeaderError::Unsupported("typ"));
        }
    }
    Ok(())
}

fn is_jwt_media_type(value: &str) -> bool {
    // RFC 7515 §4.1.9: media types compare case-insensitively, and the
    // "application/" prefix may be left out.
    value.eq_ignore_ascii_case("JWT") || value.eq_ignore_ascii_case("application/jwt")
}

/// Parses the JWE protected header (RFC 7516 §4.1) against `allowed`.
pub fn parse_jwe(segment: &str, allowed: &[KeyManagement]) -> Result<JweHeader, HeaderError> {
    let (raw, json) = decode_raw(segment)?;
    // RFC 7516 §4.1.1: alg is checked first, against the caller's list.
    let alg = match raw.alg.as_str() {
        "RSA-OAEP" => KeyManagement::RsaOaep,
        "ECDH-ES" => KeyManagement::EcdhEs,
        _ => return Err(HeaderError::AlgNotAllowed),
    };
    if !allowed.contains(&alg) {
        return Err(HeaderError::AlgNotAllowed);
    }
    // RFC 7516 §4.1.2: enc is required.
    let enc = match raw.enc.as_deref() {
        Some("A128CBC-HS256") => ContentEncryption::A128CbcHs256,
        _ => return Err(HeaderError::EncNotAllowed),
    };
    refuse_common(&raw)?;
    // RFC 7519 §5.2: cty "JWT" marks a nested token; nothing else is expected.
    if let Some(cty) = &raw.cty {
        if !is_jwt_media_type(cty) {
            return Err(HeaderError::Unsupported("cty"));
        }
    }
    let party_info = |v: &Option<String>| match v {
        Some(s) => b64::decode(s).map_err(|_| HeaderError::Malformed),
        None => Ok(Vec::new()),
    };
    Ok(JweHeader {
        alg,
        enc,
        apu: party_info(&raw.apu)?,
        apv: party_info(&raw.apv)?,
        kid: raw.kid,
        epk: raw.epk,
        json,
    })
}

/// Parses the JWS protected header (RFC 7515 §4.1) against `allowed`.
pub fn parse_jws(segment: &str, allowed: &[SignatureAlg]) -> Result<JwsHeader, HeaderError> {
    let (raw, json) = decode_raw(segment)?;
    // RFC 7515 §4.1.1 and RFC 8725 §3.1: `none` and HMAC are not on any
    // list, so an RSA public key can never be used as an HMAC secret.
    let alg = match raw.alg.as_str() {
        "RS256" => SignatureAlg::Rs256,
        "ES256" => SignatureAlg::Es256,
        _ => return Err(HeaderError::AlgNotAllowed),
    };
    if !allowed.contains(&alg) {
        return Err(HeaderError::AlgNotAllowed);
    }
    refuse_common(&raw)?;
    // The inner payload is the claims set itself, never another token.
    if raw.cty.is_some() {
        return Err(HeaderError::Unsupported("cty"));
    }
    Ok(JwsHeader {
        alg,
        kid: raw.kid,
        json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::b64::encode;

    const ALL_KM: &[KeyManagement] = &[KeyManagement::RsaOaep, KeyManagement::EcdhEs];
    const ALL_SIG: &[SignatureAlg] = &[SignatureAlg::Rs256, SignatureAlg::Es256];

    fn jwe(json: &str) -> Result<JweHeader, HeaderError> {
        parse_jwe(&encode(json.as_bytes()), ALL_KM)
    }
    fn jws(json: &str) -> Result<JwsHeader, HeaderError> {
        parse_jws(&encode(json.as_bytes()), ALL_SIG)
    }

    /// Regression: a JWE header with a repeated *unknown* member was accepted,
    /// although the audit map says headers refuse duplicates.
    #[test]
    fn a_repeated_member_is_refused_known_or_not() {
        let base = r#""alg":"RSA-OAEP","enc":"A128CBC-HS256""#;
        for extra in [
            r#""x":1,"x":2"#,
            r#""x":1,"\u0078":1"#,
            r#""alg":"RSA-OAEP""#,
        ] {
            let json = format!("{{{base},{extra}}}");
            assert!(matches!(jwe(&json), Err(HeaderError::Malformed)), "{json}");
        }
        assert!(matches!(
            jws(r#"{"alg":"RS256","y":[1],"y":[1]}"#),
            Err(HeaderError::Malformed)
        ));
        assert!(jwe(&format!("{{{base},\"x\":1,\"y\":1}}")).is_ok());
    }

    #[test]
    fn sample_header_parses() {
        let h = jwe(r#"{"typ":"JWT","cty":"JWT","enc":"A128CBC-HS256","alg":"RSA-OAEP"}"#).unwrap();
        assert_eq!(h.alg, KeyManagement::RsaOaep);
        assert_eq!(h.enc, ContentEncryption::A128CbcHs256);
        assert!(h.kid.is_none() && h.apu.is_empty() && h.apv.is_empty());
    }

    #[test]
    fn alg_outside_allow_list_is_refused() {
        for alg in [
            "RSA1_5",
            "RSA-OAEP-256",
            "dir",
            "A128KW",
            "none",
            "rsa-oaep",
        ] {
            let h = format!(r#"{{"alg":"{alg}","enc":"A128CBC-HS256"}}"#);
            assert_eq!(jwe(&h).unwrap_err(), HeaderError::AlgNotAllowed, "{alg}");
        }
        let only_rsa = parse_jwe(
            &encode(br#"{"alg":"ECDH-ES","enc":"A128CBC-HS256"}"#),
            &[KeyManagement::RsaOaep],
        );
        assert_eq!(only_rsa.unwrap_err(), HeaderError::AlgNotAllowed);
        for alg in ["none", "HS256", "RS384", "PS256", "ES384", "EdDSA"] {
            let h = format!(r#"{{"alg":"{alg}"}}"#);
            assert_eq!(jws(&h).unwrap_err(), HeaderError::AlgNotAllowed, "{alg}");
        }
    }

    #[test]
    fn enc_must_be_a128cbc_hs256() {
        assert_eq!(
            jwe(r#"{"alg":"RSA-OAEP"}"#).unwrap_err(),
            HeaderError::EncNotAllowed
        );
        assert_eq!(
            jwe(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#).unwrap_err(),
            HeaderError::EncNotAllowed
        );
    }

    #[test]
    fn zip_crit_and_embedded_keys_are_refused_even_when_null() {
        for (param, name) in [
            ("zip", "zip"),
            ("crit", "crit"),
            ("jwk", "jwk"),
            ("jku", "jku"),
            ("x5u", "x5u"),
            ("x5c", "x5c"),
        ] {
            for value in ["null", "\"DEF\"", "[\"x\"]", "{}"] {
                let h = format!(r#"{{"alg":"RSA-OAEP","enc":"A128CBC-HS256","{param}":{value}}}"#);
                assert_eq!(jwe(&h).unwrap_err(), HeaderError::Unsupported(name), "{h}");
            }
        }
        assert_eq!(
            jws(r#"{"alg":"RS256","crit":["b64"],"b64":false}"#).unwrap_err(),
            HeaderError::Unsupported("crit")
        );
        assert_eq!(
            jws(r#"{"alg":"RS256","jwk":{"kty":"RSA"}}"#).unwrap_err(),
            HeaderError::Unsupported("jwk")
        );
    }

    /// Regression: `zip` in the inner JWS header was not refused.
    #[test]
    fn zip_in_the_jws_header_is_refused() {
        for value in ["null", "\"DEF\""] {
            let h = format!(r#"{{"alg":"RS256","zip":{value}}}"#);
            assert_eq!(jws(&h).unwrap_err(), HeaderError::Unsupported("zip"), "{h}");
        }
    }

    #[test]
    fn typ_and_cty_are_checked_where_present() {
        assert!(jwe(r#"{"alg":"RSA-OAEP","enc":"A128CBC-HS256","typ":"jwt"}"#).is_ok());
        assert_eq!(
            jwe(r#"{"alg":"RSA-OAEP","enc":"A128CBC-HS256","typ":"JOSE"}"#).unwrap_err(),
            HeaderError::Unsupported("typ")
        );
        assert_eq!(
            jwe(r#"{"alg":"RSA-OAEP","enc":"A128CBC-HS256","cty":"json"}"#).unwrap_err(),
            HeaderError::Unsupported("cty")
        );
        assert_eq!(
            jws(r#"{"alg":"RS256","cty":"JWT"}"#).unwrap_err(),
            HeaderError::Unsupported("cty")
        );
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        for h in [
            "",
            "[]",
            "null",
            r#"{"enc":"A128CBC-HS256"}"#,
            r#"{"alg":5,"enc":"A128CBC-HS256"}"#,
            r#"{"alg":"RSA-OAEP","alg":"RSA-OAEP","enc":"A128CBC-HS256"}"#,
            r#"{"alg":"RSA-OAEP","enc":"A128CBC-HS256","apu":"+"}"#,
            r#"{"alg":"RSA-OAEP","enc":"A128CBC-HS256","kid":7}"#,
        ] {
            assert_eq!(jwe(h).unwrap_err(), HeaderError::Malformed, "{h}");
        }
        assert_eq!(
            parse_jws("e30=", ALL_SIG).unwrap_err(),
            HeaderError::Malformed
        );
    }
}
