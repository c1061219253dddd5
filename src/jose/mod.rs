//! AUDIT_MAP_PLACEHOLDER

pub mod b64;
pub mod cbc_hmac;
pub mod claims;
pub mod header;
pub mod jwe;
pub mod jws;
pub mod keys;

use std::fmt;

use sha2::Digest as _;

pub use claims::{Claims, ClaimsError, Status};
pub use header::{HeaderError, KeyManagement, SignatureAlg};
pub use jwe::JweError;
pub use jws::JwsError;
pub use keys::{DecryptionKey, Fingerprint, KeyChoiceError, KeyError, KeySet, VerificationKey};

/// A real token is about 1.2 KB; anything past this is refused unread.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Clock skew allowed in every time check unless configured otherwise.
pub const DEFAULT_LEEWAY: u64 = 60;

/// What the caller allows, stated up front (as go-jose does): anything else
/// is refused before any cryptography runs.
#[derive(Debug, Clone)]
pub struct Policy {
    pub key_management: Vec<KeyManagement>,
    pub signature: Vec<SignatureAlg>,
    pub leeway: u64,
}

impl Policy {
    /// Allows exactly the algorithms the configured keys are bound to.
    pub fn for_keys(keys: &KeySet, leeway: u64) -> Self {
        let mut key_management: Vec<_> = keys.decryption.iter().map(|k| k.algorithm()).collect();
        key_management.dedup();
        let mut signature: Vec<_> = keys.verification.iter().map(|k| k.algorithm()).collect();
        signature.dedup();
        Policy {
            key_management,
            signature,
            leeway,
        }
    }
}

/// A fully checked token: both layers' headers as sent, the claims, and the
/// keys that opened and verified it.
#[derive(Debug)]
pub struct Decoded {
    pub outer_header: Vec<u8>,
    pub inner_header: Vec<u8>,
    pub claims: Claims,
    pub decrypted_with: Fingerprint,
    pub verified_with: Fingerprint,
    /// SHA-256 of the token as received: its identity for replay detection.
    pub token_sha256: [u8; 32],
}

/// Why a token was refused, by layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    TooLarge,
    Jwe(JweError),
    Jws(JwsError),
    Claims(ClaimsError),
}

impl Rejection {
    /// The category reported to clients and logs (the names of the shared
    /// test vectors, with `bad_tag` and `wrong_key` one `decryption_failed`).
    pub fn reason(&self) -> &'static str {
        use HeaderError as H;
        let header = |h: &H| match h {
            H::Malformed => "malformed",
            H::AlgNotAllowed | H::EncNotAllowed => "alg_not_allowed",
            H::Unsupported(_) => "unsupported_header",
        };
        let key = |k: &KeyChoiceError| match k {
            KeyChoiceError::UnknownKid => "unknown_kid",
            KeyChoiceError::NoKeyForAlg => "wrong_key_type",
        };
        match self {
            Rejection::TooLarge => "too_large",
            Rejection::Jwe(e) => match e {
                JweError::Header(h) => header(h),
                JweError::Key(k) => key(k),
                JweError::DecryptionFailed => "decryption_failed",
                JweError::MissingNjwt => "missing_njwt",
                JweError::PartCount
                | JweError::Base64
                | JweError::EncryptedKeyShape
                | JweError::InvalidEpk
                | JweError::PayloadNotJson
                | JweError::NjwtNotString => "malformed",
            },
            Rejection::Jws(e) => match e {
                JwsError::Header(h) => header(h),
                JwsError::Key(k) => key(k),
                JwsError::BadSignature => "bad_signature",
                JwsError::PartCount | JwsError::Base64 => "malformed",
            },
            Rejection::Claims(e) => match e {
                ClaimsError::NotJson => "malformed",
                ClaimsError::Invalid(_) => "invalid_claims",
                ClaimsError::TooManyAttributes | ClaimsError::TooDeep => "too_large",
                ClaimsError::Expired => "expired",
                ClaimsError::NotYetValid => "not_yet_valid",
            },
        }
    }
}

/// `reason: detail`, one line. Details name the check, never a secret, a
/// padding byte, or which key comparison failed.
impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail: std::borrow::Cow<'static, str> = match self {
            Rejection::TooLarge => format!("token longer than {MAX_TOKEN_LEN} bytes").into(),
            Rejection::Jwe(e) => match e {
                JweError::PartCount => "JWE must have exactly 5 parts".into(),
                JweError::Header(h) => header_detail("JWE", h),
                JweError::Base64 => "JWE part is not base64url".into(),
                JweError::EncryptedKeyShape => "JWE encrypted key does not fit alg".into(),
                JweError::InvalidEpk => "epk is not a P-256 point on the curve".into(),
                JweError::Key(k) => key_detail("decryption", k),
                JweError::DecryptionFailed => "JWE could not be decrypted".into(),
                JweError::PayloadNotJson => "JWE payload is not a JSON object".into(),
                JweError::MissingNjwt => "JWE payload has no njwt member".into(),
                JweError::NjwtNotString => "njwt is not a string".into(),
            },
            Rejection::Jws(e) => match e {
                JwsError::PartCount => "JWS must have exactly 3 parts".into(),
                JwsError::Header(h) => header_detail("JWS", h),
                JwsError::Base64 => "JWS part is not base64url".into(),
                JwsError::Key(k) => key_detail("signature", k),
                JwsError::BadSignature => "JWS signature does not verify".into(),
            },
            Rejection::Claims(e) => match e {
                ClaimsError::NotJson => "claims are not a JSON object".into(),
                ClaimsError::Invalid(c) => format!("claim {c} is missing or invalid").into(),
                ClaimsError::TooManyAttributes => {
                    format!("more than {} attributes", claims::MAX_ATTRIBUTES).into()
                }
                ClaimsError::TooDeep => {
                    format!("claims nest deeper than {} levels", claims::MAX_DEPTH).into()
                }
                ClaimsError::Expired => "token has expired".into(),
                ClaimsError::NotYetValid => "token is not valid yet (iat/nbf in the future)".into(),
            },
        };
        write!(f, "{}: {detail}", self.reason())
    }
}

fn header_detail(layer: &str, h: &HeaderError) -> std::borrow::Cow<'static, str> {
    match h {
        HeaderError::Malformed => format!("{layer} header is not valid JSON of the right shape"),
        HeaderError::AlgNotAllowed => format!("{layer} alg is not allowed"),
        HeaderError::EncNotAllowed => format!("{layer} enc is not allowed (only A128CBC-HS256)"),
        HeaderError::Unsupported(p) => format!("{layer} header parameter {p} is not supported"),
    }
    .into()
}

fn key_detail(use_: &str, k: &KeyChoiceError) -> std::borrow::Cow<'static, str> {
    match k {
        KeyChoiceError::UnknownKid => format!("kid names no configured {use_} key"),
        KeyChoiceError::NoKeyForAlg => format!("no configured {use_} key fits the token's alg"),
    }
    .into()
}

/// Decodes an ID Contact auth-result token at `now` (Unix seconds): the
/// whole path, in the order it runs. See the audit map above.
pub fn decode(token: &str, keys: &KeySet, policy: &Policy, now: u64) -> Result<Decoded, Rejection> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejection::TooLarge);
    }
    let opened =
        jwe::decrypt(token, &policy.key_management, &keys.decryption).map_err(Rejection::Jwe)?;
    let verified =
        jws::verify(&opened.njwt, &policy.signature, &keys.verification).map_err(Rejection::Jws)?;
    let claims = claims::validate(&verified, now, policy.leeway).map_err(Rejection::Claims)?;
    Ok(Decoded {
        outer_header: opened.header.json,
        inner_header: verified.header().json.clone(),
        claims,
        decrypted_with: opened.key,
        verified_with: verified.key(),
        token_sha256: sha2::Sha256::digest(token.as_bytes()).into(),
    })
}
