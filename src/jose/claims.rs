//! The claims of a verified inner token (RFC 7519 §4.1), checked against
//! the ID Contact profile and the clock. Only `Verified` payloads come in,
//! and `Claims` can only be built here.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::jws::Verified;

/// The only `sub` an ID Contact attribute token carries.
pub const SUBJECT: &str = "id-contact-attributes";
/// More attributes than any authentication method hands out, by far.
pub const MAX_ATTRIBUTES: usize = 256;
/// Claims are an object holding at most one object (`attributes`); room
/// for unknown claims with structure, none for a nesting bomb.
pub const MAX_DEPTH: usize = 8;

/// The outcome of the authentication, spelled as the ecosystem spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    #[serde(rename = "succes")]
    Succes,
    #[serde(rename = "failed")]
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succes => "succes",
            Status::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsError {
    /// The payload is not a JSON object.
    NotJson,
    /// A claim is missing, of the wrong type, duplicated, or has a value the
    /// profile does not allow; the name says which.
    Invalid(&'static str),
    /// More than `MAX_ATTRIBUTES` attributes.
    TooManyAttributes,
    /// JSON nested deeper than `MAX_DEPTH`.
    TooDeep,
    /// `exp` (plus leeway) has passed (RFC 7519 §4.1.4).
    Expired,
    /// `nbf` or `iat` (minus leeway) lies in the future (RFC 7519 §4.1.5-6).
    NotYetValid,
}

/// A verified, valid authentication result. The private `_verified` field
/// (not `#[non_exhaustive]`, which binds only other crates) keeps
/// construction inside this module: no code path can make one unverified.
#[allow(clippy::manual_non_exhaustive)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    pub sub: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub exp: u64,
    #[serde(skip)]
    _verified: (),
}

/// The wire form, read by hand so that a claim of the wrong type is named
/// (`"exp": "never"` is a rejection naming `exp`, never "absent"), a
/// duplicated claim or attribute is refused, and unknown claims are skipped
/// (RFC 7519 §4: claims not understood are ignored).
#[derive(Default)]
struct Raw {
    sub: Option<String>,
    status: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    session_url: Option<String>,
    iat: Option<u64>,
    nbf: Option<u64>,
    exp: Option<u64>,
}

/// The claims we read, in the order `which_claim` reports them.
const CLAIMS: [&str; 7] = [
    "sub",
    "status",
    "attributes",
    "session_url",
    "iat",
    "nbf",
    "exp",
];

fn set<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::custom(format_args!("duplicate `{name}`")));
    }
    *slot = Some(
        map.next_value()
            .map_err(|_| de::Error::custom(format_args!("invalid `{name}`")))?,
    );
    Ok(())
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut raw = Raw::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "sub" => set(&mut map, &mut raw.sub, "sub")?,
                        "status" => set(&mut map, &mut raw.status, "status")?,
                        "session_url" => set(&mut map, &mut raw.session_url, "session_url")?,
                        "iat" => set(&mut map, &mut raw.iat, "iat")?,
                        "nbf" => set(&mut map, &mut raw.nbf, "nbf")?,
                        "exp" => set(&mut map, &mut raw.exp, "exp")?,
                        "attributes" => {
                            let mut a: Option<Attributes> = None;
                            set(&mut map, &mut a, "attributes")?;
                            if raw.attributes.is_some() {
                                return Err(de::Error::custom("duplicate `attributes`"));
                            }
                            raw.attributes = a.map(|a| a.0);
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(raw)
            }
        }
        d.deserialize_map(V)
    }
}

struct Attributes(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of attribute names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    if out.insert(k, v).is_some() {
                        return Err(de::Error::custom("duplicate attribute"));
                    }
                }
                Ok(Attributes(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The claim our visitor named in its error; the message is ours, not the input's.
fn which_claim(e: &serde_json::Error) -> &'static str {
    let msg = e.to_string();
    CLAIMS
        .into_iter()
        .find(|c| msg.contains(&format!("`{c}`")))
        .unwrap_or("claims")
}

/// The deepest nesting of arrays and objects, strings skipped. serde_json
/// skips unknown claims without recursing, so depth is bounded here.
fn nesting_depth(json: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Reads and checks the claims of `verified` at time `now` (Unix seconds),
/// allowing `leeway` seconds of clock skew in each time check alike.
pub fn validate(verified: &Verified, now: u64, leeway: u64) -> Result<Claims, ClaimsError> {
    if nesting_depth(verified.payload()) > MAX_DEPTH {
        return Err(ClaimsError::TooDeep);
    }
    let raw: Raw = serde_json::from_slice(verified.payload()).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ClaimsError::Invalid(which_claim(&e)),
        _ => ClaimsError::NotJson,
    })?;
    if raw.sub.as_deref() != Some(SUBJECT) {
        return Err(ClaimsError::Invalid("sub"));
    }
    let status = match raw.status.as_deref() {
        Some("succes") => Status::Succes,
        Some("failed") => Status::Failed,
        _ => return Err(ClaimsError::Invalid("status")),
    };
    if raw
        .attributes
        .as_ref()
        .is_some_and(|a| a.len() > MAX_ATTRIBUTES)
    {
        return Err(ClaimsError::TooManyAttributes);
    }
    let exp = raw.exp.ok_or(ClaimsError::Invalid("exp"))?;
    // RFC 7519 §4.1.4: not accepted on or after exp; leeway extends it.
    if now >= exp.saturating_add(leeway) {
        return Err(ClaimsError::Expired);
    }
    // RFC 7519 §4.1.5: not accepted before nbf. `iat` in the future is no
    // rule of the RFC, but a token issued later than now is as suspect.
    for t in [raw.nbf, raw.iat].into_iter().flatten() {
        if t > now.saturating_add(leeway) {
            return Err(ClaimsError::NotYetValid);
        }
    }
    Ok(Claims {
        sub: SUBJECT.to_owned(),
        status,
        attributes: raw.attributes,
        session_url: raw.session_url,
        iat: raw.iat,
        nbf: raw.nbf,
        exp,
        _verified: (),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_100;

    fn check(json: &str) -> Result<Claims, ClaimsError> {
        validate(&Verified::unsigned_for_test(json.as_bytes()), NOW, 60)
    }

    fn with(extra: &str) -> String {
        format!(
            r#"{{"sub":"id-contact-attributes","status":"succes","iat":1700000000,"exp":1700000300{extra}}}"#
        )
    }

    #[test]
    fn full_claims_are_read_exactly() {
        let c = check(&with(
            r#","attributes":{"email":"a@b.nl","naam":"Zoë"},"session_url":"https://x/s""#,
        ))
        .unwrap();
        assert_eq!(c.status, Status::Succes);
        assert_eq!(
            c.attributes.unwrap().into_iter().collect::<Vec<_>>(),
            [
                ("email".into(), "a@b.nl".into()),
                ("naam".into(), "Zoë".into())
            ]
        );
        assert_eq!(c.session_url.as_deref(), Some("https://x/s"));
        assert_eq!(
            (c.iat, c.nbf, c.exp),
            (Some(1_700_000_000), None, 1_700_000_300)
        );
    }

    #[test]
    fn profile_values_are_enforced() {
        assert_eq!(
            check(&with("").replace("id-contact-attributes", "x")),
            Err(ClaimsError::Invalid("sub"))
        );
        assert_eq!(
            check(&with("").replace("succes", "success")),
            Err(ClaimsError::Invalid("status"))
        );
        assert_eq!(
            check(&with("").replace("succes", "Failed")),
            Err(ClaimsError::Invalid("status"))
        );
        assert_eq!(
            check(r#"{"sub":"id-contact-attributes","status":"failed"}"#),
            Err(ClaimsError::Invalid("exp"))
        );
        assert_eq!(
            check(&with("").replace("succes", "failed")).unwrap().status,
            Status::Failed
        );
    }

    #[test]
    fn wrong_types_are_rejections_never_absent() {
        for (claim, json) in [
            ("exp", with("").replace("1700000300", "\"never\"")),
            ("exp", with("").replace("1700000300", "1700000300.5")),
            ("exp", with("").replace("1700000300", "-1")),
            (
                "iat",
                with("")
                    .replace("1700000000", "null")
                    .replace(r#""iat":null"#, r#""iat":"x""#),
            ),
            ("status", with("").replace("\"succes\"", "true")),
            ("attributes", with(r#","attributes":{"a":1}"#)),
            ("attributes", with(r#","attributes":["a"]"#)),
            ("session_url", with(r#","session_url":5"#)),
        ] {
            assert_eq!(check(&json), Err(ClaimsError::Invalid(claim)), "{json}");
        }
    }

    #[test]
    fn duplicates_and_floods_are_refused() {
        assert_eq!(
            check(&with(r#","exp":1800000000"#)),
            Err(ClaimsError::Invalid("exp"))
        );
        assert_eq!(
            check(&with(r#","attributes":{"a":"1","a":"2"}"#)),
            Err(ClaimsError::Invalid("attributes"))
        );
        let many: Vec<String> = (0..=MAX_ATTRIBUTES)
            .map(|i| format!(r#""a{i}":"v""#))
            .collect();
        assert_eq!(
            check(&with(&format!(r#","attributes":{{{}}}"#, many.join(",")))),
            Err(ClaimsError::TooManyAttributes)
        );
        let deep = |n| format!(r#","x":{}{}"#, "[".repeat(n), "]".repeat(n));
        assert!(check(&with(&deep(MAX_DEPTH - 1))).is_ok());
        assert_eq!(check(&with(&deep(MAX_DEPTH))), Err(ClaimsError::TooDeep));
        assert_eq!(check(&with(&deep(5000))), Err(ClaimsError::TooDeep));
        // Brackets inside strings are text, not nesting.
        assert!(check(&with(&format!(r#","x":"{}\\\"""#, "[".repeat(50)))).is_ok());
        assert_eq!(check("not json"), Err(ClaimsError::NotJson));
        assert_eq!(check(""), Err(ClaimsError::NotJson));
    }

    #[test]
    fn time_checks_share_one_leeway() {
        let at = |now, leeway, json: &str| {
            validate(&Verified::unsigned_for_test(json.as_bytes()), now, leeway)
        };
        let c = with("");
        // exp 1700000300: valid through exp+59 with 60 s leeway, not at exp+60.
        assert!(at(1_700_000_359, 60, &c).is_ok());
        assert_eq!(at(1_700_000_360, 60, &c), Err(ClaimsError::Expired));
        assert_eq!(at(1_700_000_300, 0, &c), Err(ClaimsError::Expired));
        // iat 1700000000: may be up to 60 s ahead of now.
        assert!(at(1_699_999_940, 60, &c).is_ok());
        assert_eq!(at(1_699_999_939, 60, &c), Err(ClaimsError::NotYetValid));
        let nbf = with(r#","nbf":1700000200"#);
        assert!(at(1_700_000_140, 60, &nbf).is_ok());
        assert_eq!(at(1_700_000_139, 60, &nbf), Err(ClaimsError::NotYetValid));
        // Saturating: huge values neither overflow nor pass.
        let far = with("").replace("1700000300", &u64::MAX.to_string());
        assert!(at(u64::MAX - 1, 60, &far).is_ok());
    }
}
