//! The crypto path: an ID Contact auth-result token in, verified `Claims`
//! or a named `Rejection` out. No I/O, no clock (the caller passes `now`),
//! no `unsafe`, no panicking operations outside tests. One entry point,
//! [`decode`]; read it and the files below top to bottom, in this order.
//!
//! # Audit map: the checks in the order they run
//!
//! | # | check | where | spec | proved by |
//! |---|---|---|---|---|
//! | 1 | token ≤ 16 KiB before anything is decoded | `mod.rs` `decode` | (ours) | `vectors::oversized_token_is_refused_before_parsing` |
//! | 2 | exactly 5 parts | `jwe.rs` `decrypt`, `split_exact` | RFC 7516 §5.2 (1) | `jwe::tests::split_exact_counts_parts`, `mutation::truncations_at_every_part_boundary` |
//! | 3 | header: strict base64url, JSON object, no member twice, known or unknown, however escaped | `b64.rs` `decode`, `header.rs` `decode_raw`, `json.rs` `Members` | RFC 7515 §2, §4; RFC 7516 §5.2 (2-4) | `b64::tests::*`, `header::tests::wrong_shapes_are_malformed`, `a_repeated_member_is_refused_known_or_not` |
//! | 4 | `alg` ∈ caller's allow-list (closed enum; `Policy::for_keys`: each algorithm of the configured keys once, none for no keys), `enc` = A128CBC-HS256 | `header.rs` `parse_jwe`; `mod.rs` `Policy` | RFC 7516 §4.1.1-2 | `header::tests::alg_outside_allow_list_is_refused`, `enc_must_be_a128cbc_hs256`, `keys_and_decode::the_allow_list_names_each_algorithm_once` |
//! | 5 | refuse `zip` (in both layers), `crit`, `jwk`/`jku`/`x5u`/`x5c`; `typ`/`cty` must say JWT | `header.rs` `parse_jwe`, `refuse_common` | RFC 7516 §4.1.3; RFC 7515 §4.1.2-6, §4.1.9-11 | `header::tests::zip_crit_and_embedded_keys_are_refused_even_when_null`, `typ_and_cty_are_checked_where_present` |
//! | 6 | candidates: every configured key bound to `alg`, those `kid` names first; `kid` never narrows or widens the set | `keys.rs` `candidates` | RFC 7515 §4.1.4 (a hint) | `keys::tests::candidates_by_kid_and_by_type`, `keys_and_decode::kid_is_a_hint_end_to_end` |
//! | 7 | other parts strict base64url; encrypted key empty iff ECDH-ES; IV 16, tag exactly 16, ciphertext whole blocks; for ECDH-ES, `epk` a P-256 JWK whose point is on the curve: all before any private-key operation | `jwe.rs` `decrypt`, `parse_epk`; `cbc_hmac.rs` `well_formed` | RFC 7516 §5.2 (2, 10); RFC 7518 §4.6.1, §5.2.2.2 (1), §5.2.3; RFC 8725 §3.4 | `vectors` (`reject_non_base64url_chars`), `jwe::tests::the_encrypted_key_is_empty_exactly_for_ecdh_es`, `malformed_lengths_are_refused_before_any_private_key_operation`, `epk_must_be_a_p256_point_on_the_curve` |
//! | 8a | RSA-OAEP-SHA1 unwrap, blinded with the system RNG handed to the call (`rng.rs`; no Cargo feature), constant-time decode; or AWS-LC with `--features aws-lc`; failure or CEK ≠ 32 bytes → a fresh random CEK, and the next candidate key is still tried | `jwe.rs` `rsa_oaep_unwrap`, `rsa_oaep_decrypt` | RFC 7518 §4.3; RFC 8017 §7.1.2; RFC 7516 §5.2 (9), §11.5 | `jwe::tests::a_failed_unwrap_continues_with_a_random_cek_and_the_next_key`, `a_cek_of_any_other_length_is_never_used`, `the_rsa_private_operation_draws_its_blinding_from_the_rng_given`, `wycheproof::rsa_oaep_2048_sha1_unwrap`, `vectors` (`rsa_reject_encrypted_key_bitflip`) |
//! | 8b | ECDH-ES, for each candidate key: Z = x(d·P) with the `epk` of step 7; Concat KDF(Z, AlgorithmID "A128CBC-HS256", apu, apv, 256) | `jwe.rs` `ecdh_es_agree`, `ecdh_z`, `ecdh_es_cek`, `concat_kdf` | RFC 7518 §4.6.2 | `jwe::tests::concat_kdf_rfc7518_appendix_c` (the KDF); `vectors::every_shared_vector_case` (its ECDH-ES tokens, from an independent implementation, pin the AlgorithmID and the key derivation); `wycheproof::ecdh_*` (Z) |
//! | 9 | the lengths of step 7 once more, where the tag is checked | `cbc_hmac.rs` `open`, `well_formed` | RFC 7518 §5.2.2.2 (1), §5.2.3 | `cbc_hmac::tests::truncated_or_extended_tags_are_refused_before_comparing` |
//! | 10 | HMAC-SHA-256(AAD ‖ IV ‖ C ‖ AL) truncated to 16, compared in constant time, **before** decrypting | `cbc_hmac.rs` `open`, `aad_bits`, `verify_tag` | the check: RFC 7518 §5.2.2.2 (2); its input: §5.2.2.1 (4-5) | `cbc_hmac::tests::rfc7518_appendix_b1_tag_and_round_trip`, `any_changed_input_is_bad_tag`, `wycheproof::hmac_sha256_truncated_tag` |
//! | 11 | AES-128-CBC decrypt, PKCS#7 padding checked | `cbc_hmac.rs` `cbc_decrypt` | RFC 7518 §5.2.2.2 (3) | `cbc_hmac::tests::bad_padding_behind_a_valid_tag_is_bad_padding`, `wycheproof::aes_cbc_pkcs7_decryption` |
//! | 12 | steps 8-11 fail as one `decryption_failed`, word for word: bad padding behind a valid tag too | `jwe.rs` `decrypt` | RFC 7516 §11.4-5 | `jwe::tests::bad_padding_behind_a_valid_tag_is_reported_as_a_bad_tag`, `vectors` (`bad_tag` and `wrong_key` cases), `mutation::every_byte_replaced_is_rejected_by_name` |
//! | 13 | payload is `{"njwt": string}`, no member twice (however escaped) | `jwe.rs` `parse_payload`, `Payload`; `json.rs` `Members` | ID Contact; RFC 8259 §4 | `jwe::tests::payload_shapes`, `duplicate_njwt_is_refused`, `vectors` (`rsa_reject_missing_njwt`, `rsa_reject_njwt_not_string`) |
//! | 14 | inner: exactly 3 parts; header as 3-5 with `alg` ∈ {RS256, ES256} ∩ allow-list, no `cty` | `jws.rs` `verify`; `header.rs` `parse_jws` | RFC 7515 §5.2 (1-4); RFC 8725 §3.1 | `jws::tests::*`, `vectors` (`rsa_reject_inner_alg_none`, `rsa_reject_inner_hs256_key_confusion`) |
//! | 15 | signature over the exact ASCII signing input, by ring, with the key's own algorithm | `jws.rs` `verify_signature` | RFC 7515 §5.2 (8); RFC 7518 §3.3-3.4 | `wycheproof::rs256_verification`, `es256_p1363_verification`, `vectors` (`*_inner_signed_by_other_key`) |
//! | 16 | only now the payload: claims read from `Verified`, which only `jws.rs` builds | `jws.rs` `Verified`; `claims.rs` `validate` | RFC 7519 §7.2 (7-10) | type system; `claims::tests::*` |
//! | 17 | nesting ≤ 8, ≤ 256 attributes, no duplicate claim or attribute, each claim its exact type | `claims.rs` `nesting_depth`, `read_raw` (`RawSeed`, which records the claim and the rule in `Why`), `Attributes` | RFC 7519 §4; RFC 8259 §4 | `claims::tests::duplicates_and_floods_are_refused`, `wrong_types_are_rejections_never_absent` |
//! | 18 | `sub` and `status` spelled as `Expect` allows: `Auto` the three spellings a consumer of either ecosystem accepts (id-contact-attributes with succes/failed; verder-helpen-attributes with success/failed; id-contact-attributes with success, the Verder Helpen DigiD plugin's), each named (`Spelling`); a strict profile only its own | `claims.rs` `validate`, `spelling` | ID Contact; Verder Helpen | `claims::tests::profile_values_are_enforced`, `verder_helpen_profile`, `auto_accepts_every_producers_spelling_and_names_it`, `vectors` (`rsa_reject_invalid_status`, `auto_takes_the_digid_shape_among_the_vectors_and_nothing_else`) |
//! | 19 | `exp` required, now < exp + leeway; `nbf`, `iat` ≤ now + leeway (saturating); the rejection names the claim, its time, now and the leeway | `claims.rs` `validate` | RFC 7519 §4.1.4-6 | `claims::tests::time_checks_share_one_leeway`, `vectors` (`*_expired`, `*_not_yet_valid*`) |
//!
//! The result's identity for the replay cache (`Decoded::signed_sha256`)
//! is SHA-256 of the JWS signing input, what the issuer signed, never of
//! the signature's bytes: an ES256 signature (r, s) has a twin (r, n−s)
//! that verifies as well (`keys_and_decode::an_es256_result_with_its_twin_signature_is_a_replay`).
//!
//! `decode_or_explain` runs exactly these steps; on a refusal it also
//! returns what the steps before the failing one produced (`Refused`: the
//! JWE header's text, the JWS header once step 12 passed, the claims once
//! step 15 passed), for the inbox and `comm-test decode` to show. Nothing
//! acts on them.
//!
//! The producing side is `crate::mint` (for `comm-test mint`, the
//! conformance suite and the tests). Nothing on the path above calls into
//! it; it uses the path's algorithm enums, PEM reader (`keys.rs`
//! `read_private`, `read_public`), `cbc_hmac::seal` and `jwe::ecdh_es_cek`,
//! never the reverse. `seal` is the only function in this module the
//! decoding path does not run.
//!
//! The primitives are private to the crate: the public API is `decode`,
//! `Policy`, the key types and the errors. The bench and the fuzz targets
//! reach the steps one by one through `hazmat`, which exists only with the
//! non-default `hazmat` feature.
//!
//! # Attacks considered
//!
//! - **alg none / HMAC key confusion**: algorithms are closed enums; `none`
//!   and `HS*` have no variant, keys are bound to one algorithm, the
//!   allow-list is derived from the configured keys (steps 4, 14, 15).
//! - **`kid` as a lever**: `kid` only orders the configured keys of the
//!   algorithm (6); a token's verdict is the same with any `kid` or none.
//! - **Algorithm substitution between key types**: an RSA key never serves
//!   ECDH-ES/ES256 and vice versa (`candidates`, `wrong_key_type`).
//! - **Invalid-curve**: `epk` must decode to a point on P-256, identity
//!   excluded, before any scalar multiplication (step 8b; Wycheproof).
//! - **Padding oracle**: MAC before decryption (10, 11); all failures after
//!   the header are one reason (12).
//! - **Tag truncation**: tag length must be exactly 16 (9, 10).
//! - **Marvin / Bleichenbacher-style RSA timing**: RSA1_5 is not allowed;
//!   `rsa` 0.10 blinds with the RNG we hand it and decodes OAEP in
//!   constant time (RUSTSEC-2023-0071; the crate docs, "The advisory"); a failed
//!   unwrap takes the random-CEK path, so it fails where a bad tag fails
//!   (8a, 12); malformed lengths are refused before any private-key
//!   operation (7), so they reveal nothing of it. `just timing` compares
//!   the failure classes' timings in process. Known
//!   upstream deviation: `rsa` 0.10.0 does not check OAEP's leading byte
//!   (Wycheproof tcId 23, pinned in `wycheproof.rs`); no oracle and
//!   no authenticity loss for JWE.
//! - **Zip bombs**: `zip` is refused before decryption (5).
//! - **`crit` extensions** (e.g. `b64: false`): any `crit` is refused (5).
//! - **Keys from the token** (`jwk`, `jku`, `x5u`, `x5c`): refused (5); `kid`
//!   only orders the in-memory set, never a path or a URL (6).
//! - **Huge tokens, JSON bombs**: 16 KiB cap first (1); claims nesting
//!   ≤ 8 by a byte scan before they are parsed, and ≤ 256 attributes (17).
//!   Where a value is built (`serde_json::Value`, typed members), serde_json's
//!   recursion limit (128) applies; members skipped as `IgnoredAny` (unknown
//!   claims, header and payload members we do not read) are walked by
//!   serde_json's `ignore_value` iteratively, with its own stack of one
//!   byte per level, so their depth is bounded by the 16 KiB cap, not by
//!   the recursion limit, and costs no call stack.
//! - **Parser differentials**: strict canonical base64url (3); duplicate
//!   JSON members refused in headers and claims (3, 17).
//!
//! # Dependencies (`cargo tree -e normal`), and why each is there
//!
//! - `rsa` 0.10 (+ `crypto-bigint`, `crypto-primes`, `pkcs1`, `pkcs8`, `spki`,
//!   `der`, `pem-rfc7468`, `base64ct`, `const-oid`, `zeroize`, `num-traits`,
//!   `signature`, `rand_core` 0.10, `getrandom` 0.4 through `crypto-bigint`):
//!   RSA-OAEP private operation and PEM key parsing.
//! - `p256` (+ `elliptic-curve`, `primeorder`, `primefield`, `ff`, `group`,
//!   `sec1`, `base16ct`, `hkdf`, `ecdsa`, `hybrid-array`): ECDH-ES; ring has no
//!   static-key ECDH. PEM parsing of EC keys.
//! - `ring`: RS256 and ES256 verification, system randomness for the random CEK.
//! - `aws-lc-rs` (only with `--features aws-lc`): the RSA-OAEP private
//!   operation, nothing else.
//! - `aes`, `cbc`, `block-padding`, `cipher`, `inout`: AES-128-CBC with PKCS#7.
//! - `hmac`, `sha2`, `sha1`, `digest`, `block-buffer`, `crypto-common`,
//!   `ctutils`, `cmov`, `cpufeatures`, `cpubits`, `typenum`: HMAC-SHA-256 with
//!   constant-time compare; SHA-1 for OAEP; SHA-256 for Concat KDF and fingerprints.
//! - `base64`: base64url. `serde`, `serde_json` (+ `itoa`, `memchr`, `zmij`):
//!   JSON. (Outside `jose`: `httparse`, `mio` + `libc`, `signal-hook`
//!   + `signal-hook-registry`; the README's "Dependencies" says why each.)

pub(crate) mod b64;
pub(crate) mod cbc_hmac;
mod claims;
mod header;
pub(crate) mod jwe;
mod jws;
pub(crate) mod keys;
mod reason;
pub(crate) mod rng;
#[cfg(test)]
mod wycheproof;

/// The decoding steps one by one, for the bench and the fuzz targets
/// (`--features hazmat`): `jwe::decrypt` runs no signature check and
/// `jws::verify` no claims check, so nothing here is a verdict.
#[cfg(feature = "hazmat")]
pub mod hazmat {
    pub use super::header::{Epk, JweHeader, JwsHeader};
    pub use super::jwe::{decrypt, parse_epk, Opened};
    pub use super::jws::{verify, Verified};
    pub use super::rng::SystemRng;
}

use std::fmt;

use sha2::Digest as _;

use crate::date;

pub use claims::{Claims, ClaimsError, Expect, Profile, Spelling, Status};
pub use header::{ContentEncryption, HeaderError, KeyManagement, SignatureAlg};
pub use jwe::JweError;
pub use jws::JwsError;
pub use keys::{
    DecryptionKey, Fingerprint, KeyChoiceError, KeyError, KeySet, KidHint, VerificationKey,
};
pub use reason::Reason;

/// A real token is about 1.2 KB; anything past this is refused unread.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Clock skew allowed in every time check unless configured otherwise.
pub const DEFAULT_LEEWAY: u64 = 60;

/// What the caller allows, stated up front (as go-jose does): anything else
/// is refused before any cryptography runs.
#[derive(Debug, Clone)]
pub struct Policy {
    key_management: Vec<KeyManagement>,
    signature: Vec<SignatureAlg>,
    leeway: u64,
    /// Which spellings of the claims are taken.
    expect: Expect,
}

/// Each distinct item once, in first-seen order (`Vec::dedup` removes only
/// adjacent repeats: `[RSA, EC, RSA]` stayed three long).
fn distinct<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

impl Policy {
    /// Allows exactly the algorithms the configured keys are bound to,
    /// each once. Fails closed: an empty key set allows nothing, so every
    /// token is refused before any crypto (`alg_not_allowed`).
    pub fn for_keys(keys: &KeySet, leeway: u64) -> Self {
        let key_management = distinct(keys.decryption.iter().map(|k| k.algorithm()));
        let signature = distinct(keys.verification.iter().map(|k| k.algorithm()));
        Policy {
            key_management,
            signature,
            leeway,
            expect: Expect::Auto,
        }
    }

    pub fn with_profile(self, expect: Expect) -> Self {
        Policy { expect, ..self }
    }

    /// Which spellings of the claims are taken.
    pub fn profile(&self) -> Expect {
        self.expect
    }

    /// The clock skew allowed for `exp`, `nbf` and `iat`, in seconds.
    pub fn leeway(&self) -> u64 {
        self.leeway
    }

    /// The outer layer's allowed algorithms, each once.
    pub fn key_management(&self) -> &[KeyManagement] {
        &self.key_management
    }

    /// The inner layer's allowed algorithms, each once.
    pub fn signature(&self) -> &[SignatureAlg] {
        &self.signature
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
    /// What each layer's `kid` did to the choice of keys.
    pub outer_kid: KidHint,
    pub inner_kid: KidHint,
    /// SHA-256 of the inner JWS's signing input (`header.payload`, RFC
    /// 7515 §5.1): what the issuer signed, so the identity of the result
    /// for replay detection however it is re-encrypted, and whichever of
    /// its valid signatures it carries (an ES256 signature (r, s) has a
    /// twin (r, n−s) that verifies as well).
    pub signed_sha256: [u8; 32],
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
    pub fn reason(&self) -> Reason {
        use HeaderError as H;
        let header = |h: &H| match h {
            H::Malformed => Reason::Malformed,
            H::AlgNotAllowed | H::EncNotAllowed => Reason::AlgNotAllowed,
            H::Unsupported(_) => Reason::UnsupportedHeader,
        };
        let key = |k: &KeyChoiceError| match k {
            KeyChoiceError::NoKeyForAlg => Reason::WrongKeyType,
        };
        match self {
            Rejection::TooLarge => Reason::TooLarge,
            Rejection::Jwe(e) => match e {
                JweError::Header(h) => header(h),
                JweError::Key(k) => key(k),
                JweError::DecryptionFailed => Reason::DecryptionFailed,
                JweError::MissingNjwt => Reason::MissingNjwt,
                JweError::PartCount
                | JweError::Base64
                | JweError::EncryptedKeyShape
                | JweError::InvalidEpk
                | JweError::PayloadNotJson
                | JweError::NjwtNotString
                | JweError::DuplicateMember => Reason::Malformed,
            },
            Rejection::Jws(e) => match e {
                JwsError::Header(h) => header(h),
                JwsError::Key(k) => key(k),
                JwsError::BadSignature => Reason::BadSignature,
                JwsError::PartCount | JwsError::Base64 => Reason::Malformed,
            },
            Rejection::Claims(e) => match e {
                ClaimsError::NotJson => Reason::Malformed,
                ClaimsError::Invalid { .. } | ClaimsError::OtherProfile { .. } => {
                    Reason::InvalidClaims
                }
                ClaimsError::TooManyAttributes | ClaimsError::TooDeep => Reason::TooLarge,
                ClaimsError::Expired { .. } => Reason::Expired,
                ClaimsError::NotYetValid { .. } => Reason::NotYetValid,
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
                JweError::DuplicateMember => "JWE payload has a duplicate member".into(),
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
                ClaimsError::Invalid { claim, expected } => {
                    format!("{claim} must be {expected}").into()
                }
                ClaimsError::OtherProfile {
                    claim,
                    arrived,
                    expected,
                    accepted_by,
                } => format!(
                    "{claim} must be {expected}; \"{arrived}\" arrived, which {accepted_by} accepts"
                )
                .into(),
                ClaimsError::TooManyAttributes => {
                    format!("more than {} attributes", claims::MAX_ATTRIBUTES).into()
                }
                ClaimsError::TooDeep => {
                    format!("claims nest deeper than {} levels", claims::MAX_DEPTH).into()
                }
                ClaimsError::Expired { exp, now, leeway } => format!(
                    "exp {} is before now {} (leeway {leeway} s)",
                    date::rfc3339(*exp),
                    date::rfc3339(*now)
                )
                .into(),
                ClaimsError::NotYetValid {
                    claim,
                    at,
                    now,
                    leeway,
                } => format!(
                    "{claim} {} is after now {} (leeway {leeway} s)",
                    date::rfc3339(*at),
                    date::rfc3339(*now)
                )
                .into(),
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
        KeyChoiceError::NoKeyForAlg => format!("no configured {use_} key fits the token's alg"),
    }
    .into()
}

/// Decodes an ID Contact auth-result token at `now` (Unix seconds): the
/// whole path, in the order it runs. See the audit map above.
pub fn decode(token: &str, keys: &KeySet, policy: &Policy, now: u64) -> Result<Decoded, Rejection> {
    decode_or_explain(token, keys, policy, now).map_err(|r| r.rejection)
}

/// What was established of a refused token before the check that refused
/// it, for a tester to read, never to act on: each part is there only
/// once the steps before it passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub rejection: Rejection,
    /// The JWE header as sent, when it is a JSON object: authenticated
    /// only if decryption then succeeded (`inner_header` is there).
    pub outer_header: Option<Vec<u8>>,
    /// The JWS header, once the JWE was decrypted (authenticated by the
    /// JWE's tag; its signature not checked yet).
    pub inner_header: Option<Vec<u8>>,
    /// The claims as signed, once the signature verified: a claim check
    /// refused them.
    pub claims: Option<Vec<u8>>,
}

/// A compact JWS without its signature: what was signed. Only used once
/// the signature over it verified.
fn signing_input(jws: &str) -> &str {
    jws.rsplit_once('.').map_or(jws, |(input, _)| input)
}

/// The first part of a compact token decoded, if it is a JSON object.
fn header_text(token: &str) -> Option<Vec<u8>> {
    let first = token.split('.').next()?;
    let bytes = b64::decode(first).ok()?;
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes).ok()?;
    Some(bytes)
}

/// `decode`, saying on refusal what was established first (`Refused`).
/// The checks and their order are `decode`'s: this only keeps what they
/// produced, and reads the headers' text for display.
pub fn decode_or_explain(
    token: &str,
    keys: &KeySet,
    policy: &Policy,
    now: u64,
) -> Result<Decoded, Box<Refused>> {
    let refused = |rejection, outer_header, inner_header, claims| {
        Box::new(Refused {
            rejection,
            outer_header,
            inner_header,
            claims,
        })
    };
    if token.len() > MAX_TOKEN_LEN {
        return Err(refused(Rejection::TooLarge, None, None, None));
    }
    let opened = jwe::decrypt(token, &policy.key_management, &keys.decryption)
        .map_err(|e| refused(Rejection::Jwe(e), header_text(token), None, None))?;
    let signed_sha256 = sha2::Sha256::digest(signing_input(&opened.njwt).as_bytes()).into();
    let verified =
        jws::verify(&opened.njwt, &policy.signature, &keys.verification).map_err(|e| {
            let outer = Some(opened.header.json.clone());
            refused(Rejection::Jws(e), outer, header_text(&opened.njwt), None)
        })?;
    let claims = claims::validate(&verified, policy.expect, now, policy.leeway).map_err(|e| {
        refused(
            Rejection::Claims(e),
            Some(opened.header.json.clone()),
            Some(verified.header().json.clone()),
            Some(verified.payload().to_vec()),
        )
    })?;
    Ok(Decoded {
        outer_header: opened.header.json,
        inner_header: verified.header().json.clone(),
        claims,
        decrypted_with: opened.key,
        verified_with: verified.key(),
        outer_kid: opened.kid,
        inner_kid: verified.kid().clone(),
        signed_sha256,
    })
}
