//! The claims of a verified inner token (RFC 7519 §4.1), checked against
//! the ID Contact profile and the clock. Only `Verified` payloads come in,
//! and `Claims` can only be built here.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::jws::Verified;

/// The two spellings of one protocol: ID Contact, and Verder Helpen, its
/// renamed successor (same wire format since 2022).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    #[default]
    IdContact,
    VerderHelpen,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::IdContact => "id-contact",
            Profile::VerderHelpen => "verder-helpen",
        }
    }

    pub fn parse(name: &str) -> Option<Profile> {
        match name {
            "id-contact" => Some(Profile::IdContact),
            "verder-helpen" => Some(Profile::VerderHelpen),
            _ => None,
        }
    }

    /// The only `sub` an attribute token of this profile carries.
    pub fn subject(self) -> &'static str {
        match self {
            Profile::IdContact => "id-contact-attributes",
            Profile::VerderHelpen => "verder-helpen-attributes",
        }
    }

    /// How this profile spells a successful authentication.
    pub fn success(self) -> Status {
        match self {
            Profile::IdContact => Status::Succes,
            Profile::VerderHelpen => Status::Success,
        }
    }

    fn expected_sub(self) -> &'static str {
        match self {
            Profile::IdContact => "\"id-contact-attributes\" (profile id-contact)",
            Profile::VerderHelpen => "\"verder-helpen-attributes\" (profile verder-helpen)",
        }
    }

    fn expected_status(self) -> &'static str {
        match self {
            Profile::IdContact => "\"succes\" or \"failed\" (profile id-contact)",
            Profile::VerderHelpen => "\"success\" or \"failed\" (profile verder-helpen)",
        }
    }
}
/// More attributes than any authentication method hands out, by far.
pub const MAX_ATTRIBUTES: usize = 256;
/// Claims are an object holding at most one object (`attributes`); room
/// for unknown claims with structure, none for a nesting bomb.
pub const MAX_DEPTH: usize = 8;

/// The outcome of the authentication, as received: ID Contact spells
/// success `succes`, Verder Helpen `success`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    #[serde(rename = "succes")]
    Succes,
    #[serde(rename = "success")]
    Success,
    #[serde(rename = "failed")]
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succes => "succes",
            Status::Success => "success",
            Status::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsError {
    /// The payload is not a JSON object.
    NotJson,
    /// A claim is missing, of the wrong type, duplicated, or has a value the
    /// profile does not allow: which claim, and what it must be.
    Invalid {
        claim: &'static str,
        expected: &'static str,
    },
    /// More than `MAX_ATTRIBUTES` attributes.
    TooManyAttributes,
    /// JSON nested deeper than `MAX_DEPTH`.
    TooDeep,
    /// `exp` plus `leeway` is not after `now` (RFC 7519 §4.1.4).
    Expired { exp: u64, now: u64, leeway: u64 },
    /// `nbf` or `iat` (the claim named) minus `leeway` lies after `now`
    /// (RFC 7519 §4.1.5-6).
    NotYetValid {
        claim: &'static str,
        at: u64,
        now: u64,
        leeway: u64,
    },
}

impl ClaimsError {
    fn invalid(claim: &'static str, expected: &'static str) -> Self {
        ClaimsError::Invalid { claim, expected }
    }
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

/// Which claim broke which rule: set by the visitor as it refuses, read
/// by `validate`, so a rejection never depends on an error's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    Duplicate,
    WrongType,
}

type Why = std::cell::Cell<Option<(&'static str, Problem)>>;

fn set<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
    why: &Why,
) -> Result<(), A::Error> {
    if slot.is_some() {
        why.set(Some((name, Problem::Duplicate)));
        return Err(de::Error::custom("duplicate claim"));
    }
    match map.next_value() {
        Ok(v) => *slot = Some(v),
        Err(e) => {
            why.set(Some((name, Problem::WrongType)));
            return Err(e);
        }
    }
    Ok(())
}

/// Reads `Raw`, telling `why` which claim it refused and for what.
struct RawSeed<'w>(&'w Why);

impl<'de> de::DeserializeSeed<'de> for RawSeed<'_> {
    type Value = Raw;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        struct V<'w>(&'w Why);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let why = self.0;
                let mut raw = Raw::default();
                let mut attributes: Option<Attributes> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "sub" => set(&mut map, &mut raw.sub, "sub", why)?,
                        "status" => set(&mut map, &mut raw.status, "status", why)?,
                        "session_url" => set(&mut map, &mut raw.session_url, "session_url", why)?,
                        "iat" => set(&mut map, &mut raw.iat, "iat", why)?,
                        "nbf" => set(&mut map, &mut raw.nbf, "nbf", why)?,
                        "exp" => set(&mut map, &mut raw.exp, "exp", why)?,
                        "attributes" => set(&mut map, &mut attributes, "attributes", why)?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                raw.attributes = attributes.map(|a| a.0);
                Ok(raw)
            }
        }
        d.deserialize_map(V(self.0))
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

/// The rejection for a claim the visitor refused, and what it must be.
fn claim_error(claim: &'static str, problem: Problem) -> ClaimsError {
    let expected = match (problem, claim) {
        (Problem::Duplicate, _) => "present at most once",
        (_, "attributes") => "an object of string values, no name twice",
        (_, "iat" | "nbf" | "exp") => "a whole number of seconds since 1970",
        _ => "a string",
    };
    ClaimsError::invalid(claim, expected)
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

/// The claims' JSON as `Raw`; a refusal names the claim from the
/// visitor's own record (`Why`), never from the error's text.
fn read_raw(payload: &[u8]) -> Result<Raw, ClaimsError> {
    use de::DeserializeSeed;
    let why = Why::new(None);
    let mut d = serde_json::Deserializer::from_slice(payload);
    let read = RawSeed(&why)
        .deserialize(&mut d)
        .and_then(|raw| d.end().map(|()| raw));
    read.map_err(|e| match (why.get(), e.classify()) {
        (Some((claim, problem)), _) => claim_error(claim, problem),
        (None, serde_json::error::Category::Data) => {
            ClaimsError::invalid("claims", "a JSON object")
        }
        (None, _) => ClaimsError::NotJson,
    })
}

/// Reads and checks the claims of `verified` against `profile` at time
/// `now` (Unix seconds), allowing `leeway` seconds of clock skew in each
/// time check alike.
pub fn validate(
    verified: &Verified,
    profile: Profile,
    now: u64,
    leeway: u64,
) -> Result<Claims, ClaimsError> {
    if nesting_depth(verified.payload()) > MAX_DEPTH {
        return Err(ClaimsError::TooDeep);
    }
    let raw = read_raw(verified.payload())?;
    // Step 17 of the audit map, with the shape checks: before any value.
    if raw
        .attributes
        .as_ref()
        .is_some_and(|a| a.len() > MAX_ATTRIBUTES)
    {
        return Err(ClaimsError::TooManyAttributes);
    }
    // The profile's values only: a result of the other profile is refused
    // by name, so a tester sees which spelling arrived where.
    if raw.sub.as_deref() != Some(profile.subject()) {
        return Err(ClaimsError::invalid("sub", profile.expected_sub()));
    }
    let success = profile.success();
    let status = match raw.status.as_deref() {
        Some("failed") => Status::Failed,
        Some(s) if s == success.as_str() => success,
        _ => return Err(ClaimsError::invalid("status", profile.expected_status())),
    };
    let exp = raw.exp.ok_or(ClaimsError::invalid(
        "exp",
        "present: a whole number of seconds since 1970",
    ))?;
    // RFC 7519 §4.1.4: not accepted on or after exp; leeway extends it.
    if now >= exp.saturating_add(leeway) {
        return Err(ClaimsError::Expired { exp, now, leeway });
    }
    // RFC 7519 §4.1.5: not accepted before nbf. `iat` in the future is no
    // rule of the RFC, but a token issued later than now is as suspect.
    for (claim, t) in [("nbf", raw.nbf), ("iat", raw.iat)] {
        if let Some(at) = t.filter(|&t| t > now.saturating_add(leeway)) {
            return Err(ClaimsError::NotYetValid {
                claim,
                at,
                now,
                leeway,
            });
        }
    }
    Ok(Claims {
        sub: profile.subject().to_owned(),
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
        validate(
            &Verified::unsigned_for_test(json.as_bytes()),
            Profile::IdContact,
            NOW,
            60,
        )
    }

    fn claim_of(e: Result<Claims, ClaimsError>) -> &'static str {
        match e {
            Err(ClaimsError::Invalid { claim, .. }) => claim,
            other => panic!("not invalid_claims: {other:?}"),
        }
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
        let idc = ClaimsError::invalid("status", "\"succes\" or \"failed\" (profile id-contact)");
        assert_eq!(
            check(&with("").replace("id-contact-attributes", "x")),
            Err(ClaimsError::invalid(
                "sub",
                "\"id-contact-attributes\" (profile id-contact)"
            ))
        );
        assert_eq!(check(&with("").replace("succes", "success")), Err(idc));
        assert_eq!(check(&with("").replace("succes", "Failed")), Err(idc));
        assert_eq!(
            check(r#"{"sub":"id-contact-attributes","status":"failed"}"#),
            Err(ClaimsError::invalid(
                "exp",
                "present: a whole number of seconds since 1970"
            ))
        );
        assert_eq!(
            check(&with("").replace("succes", "failed")).unwrap().status,
            Status::Failed
        );
    }

    /// Regression: Verder Helpen spells `success` and
    /// `verder-helpen-attributes`; each profile refuses the other's by name.
    #[test]
    fn verder_helpen_profile() {
        let vh = |json: &str| {
            validate(
                &Verified::unsigned_for_test(json.as_bytes()),
                Profile::VerderHelpen,
                NOW,
                60,
            )
        };
        let ok = with("")
            .replace("id-contact-attributes", "verder-helpen-attributes")
            .replace("succes", "success");
        let c = vh(&ok).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.status.as_str()),
            ("verder-helpen-attributes", "success")
        );
        assert_eq!(
            vh(&ok.replace("success", "failed")).unwrap().status,
            Status::Failed
        );
        assert_eq!(
            vh(&with("")),
            Err(ClaimsError::invalid(
                "sub",
                "\"verder-helpen-attributes\" (profile verder-helpen)"
            ))
        );
        assert_eq!(
            vh(&ok.replace("success", "succes")),
            Err(ClaimsError::invalid(
                "status",
                "\"success\" or \"failed\" (profile verder-helpen)"
            ))
        );
        assert_eq!(claim_of(check(&ok)), "sub");
        assert_eq!(
            claim_of(check(
                &ok.replace("verder-helpen-attributes", "id-contact-attributes")
            )),
            "status"
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
            assert_eq!(claim_of(check(&json)), claim, "{json}");
        }
    }

    #[test]
    fn duplicates_and_floods_are_refused() {
        assert_eq!(
            check(&with(r#","exp":1800000000"#)),
            Err(ClaimsError::invalid("exp", "present at most once"))
        );
        assert_eq!(
            claim_of(check(&with(r#","attributes":{"a":"1","a":"2"}"#))),
            "attributes"
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
            validate(
                &Verified::unsigned_for_test(json.as_bytes()),
                Profile::IdContact,
                now,
                leeway,
            )
        };
        let c = with("");
        let exp = 1_700_000_300;
        // exp 1700000300: valid through exp+59 with 60 s leeway, not at exp+60.
        assert!(at(1_700_000_359, 60, &c).is_ok());
        assert_eq!(
            at(1_700_000_360, 60, &c),
            Err(ClaimsError::Expired {
                exp,
                now: 1_700_000_360,
                leeway: 60
            })
        );
        assert_eq!(
            at(exp, 0, &c),
            Err(ClaimsError::Expired {
                exp,
                now: exp,
                leeway: 0
            })
        );
        // iat 1700000000: may be up to 60 s ahead of now.
        assert!(at(1_699_999_940, 60, &c).is_ok());
        assert_eq!(
            at(1_699_999_939, 60, &c),
            Err(ClaimsError::NotYetValid {
                claim: "iat",
                at: 1_700_000_000,
                now: 1_699_999_939,
                leeway: 60
            })
        );
        let nbf = with(r#","nbf":1700000200"#);
        assert!(at(1_700_000_140, 60, &nbf).is_ok());
        assert_eq!(
            at(1_700_000_139, 60, &nbf),
            Err(ClaimsError::NotYetValid {
                claim: "nbf",
                at: 1_700_000_200,
                now: 1_700_000_139,
                leeway: 60
            })
        );
        // Saturating: huge values neither overflow nor pass.
        let far = with("").replace("1700000300", &u64::MAX.to_string());
        assert!(at(u64::MAX - 1, 60, &far).is_ok());
    }
}
