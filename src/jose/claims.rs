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
}

/// Which spellings the decoder takes: `Auto` (the default) whatever a
/// consumer of either ecosystem accepts, or one profile's own strictly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expect {
    #[default]
    Auto,
    Only(Profile),
}

impl Expect {
    pub fn name(self) -> &'static str {
        match self {
            Expect::Auto => "auto",
            Expect::Only(p) => p.name(),
        }
    }

    pub fn parse(name: &str) -> Option<Expect> {
        match name {
            "auto" => Some(Expect::Auto),
            n => Profile::parse(n).map(Expect::Only),
        }
    }

    fn allows(self, s: Spelling) -> bool {
        match self {
            Expect::Auto => true,
            Expect::Only(p) => s == p.spelling(),
        }
    }
}

impl Profile {
    /// The one spelling this profile's own consumers take.
    fn spelling(self) -> Spelling {
        match self {
            Profile::IdContact => Spelling::IdContact,
            Profile::VerderHelpen => Spelling::VerderHelpen,
        }
    }
}

/// How an accepted result spelled `sub` and `status`: the three shapes a
/// consumer of either ecosystem accepts. ID Contact's consumers check both
/// claims; Verder Helpen's (verder-helpen-jwt) check `status` only, so its
/// DigiD plugin's `id-contact-attributes` with `success` passes there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// `id-contact-attributes` with `succes` or `failed`.
    IdContact,
    /// `verder-helpen-attributes` with `success` or `failed`.
    VerderHelpen,
    /// `id-contact-attributes` with `success`: the Verder Helpen DigiD
    /// plugin (lestrrat-go/jwx) signs this.
    VerderHelpenDigid,
}

const ID_CONTACT_SUB: &str = "id-contact-attributes";
const VERDER_HELPEN_SUB: &str = "verder-helpen-attributes";

impl Spelling {
    /// The spelling of a `sub` and `status` pair, if any consumer takes it.
    pub fn of(sub: &str, status: &str) -> Option<Spelling> {
        match (sub, status) {
            (ID_CONTACT_SUB, "succes" | "failed") => Some(Spelling::IdContact),
            (VERDER_HELPEN_SUB, "success" | "failed") => Some(Spelling::VerderHelpen),
            (ID_CONTACT_SUB, "success") => Some(Spelling::VerderHelpenDigid),
            _ => None,
        }
    }

    /// Its `sub`.
    pub fn subject(self) -> &'static str {
        match self {
            Spelling::IdContact | Spelling::VerderHelpenDigid => ID_CONTACT_SUB,
            Spelling::VerderHelpen => VERDER_HELPEN_SUB,
        }
    }

    /// The profile whose consumers accept it.
    pub fn profile(self) -> Profile {
        match self {
            Spelling::IdContact => Profile::IdContact,
            Spelling::VerderHelpen | Spelling::VerderHelpenDigid => Profile::VerderHelpen,
        }
    }

    /// What is unusual about it, if anything.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Spelling::VerderHelpenDigid => {
                Some("sub id-contact-attributes, as the Verder Helpen DigiD plugin sends")
            }
            _ => None,
        }
    }

    /// `profile verder-helpen: sub id-contact-attributes, as …`.
    pub fn describe(self) -> String {
        match self.note() {
            Some(n) => format!("profile {}: {n}", self.profile().name()),
            None => format!("profile {}", self.profile().name()),
        }
    }

    /// Which settings accept it.
    fn accepted_by(self) -> &'static str {
        match self {
            Spelling::IdContact => "--profile id-contact or auto",
            Spelling::VerderHelpen => "--profile verder-helpen or auto",
            Spelling::VerderHelpenDigid => {
                "--profile auto (the Verder Helpen DigiD plugin's shape)"
            }
        }
    }
}

impl Expect {
    fn expected_sub(self) -> &'static str {
        match self {
            Expect::Auto => {
                "\"id-contact-attributes\" or \"verder-helpen-attributes\" (profile auto)"
            }
            Expect::Only(Profile::IdContact) => "\"id-contact-attributes\" (profile id-contact)",
            Expect::Only(Profile::VerderHelpen) => {
                "\"verder-helpen-attributes\" (profile verder-helpen)"
            }
        }
    }

    fn expected_status(self, sub: &str) -> &'static str {
        match (self, sub) {
            (Expect::Auto, ID_CONTACT_SUB) => {
                "\"succes\", \"success\" or \"failed\" (profile auto, sub id-contact-attributes)"
            }
            (Expect::Auto, _) => {
                "\"success\" or \"failed\" (profile auto, sub verder-helpen-attributes)"
            }
            (Expect::Only(Profile::IdContact), _) => {
                "\"succes\" or \"failed\" (profile id-contact)"
            }
            (Expect::Only(Profile::VerderHelpen), _) => {
                "\"success\" or \"failed\" (profile verder-helpen)"
            }
        }
    }
}

/// The `sub` and `status` check: the spelling they match, or which claim
/// is wrong. A strict profile refusing the other ecosystem's spelling says
/// what arrived and which setting accepts it.
fn spelling(
    expect: Expect,
    sub: Option<&str>,
    status: Option<&str>,
) -> Result<Spelling, ClaimsError> {
    let sub_known = |s: &str| s == ID_CONTACT_SUB || s == VERDER_HELPEN_SUB;
    let sub = match sub {
        Some(s) if sub_known(s) => s,
        _ => return Err(ClaimsError::invalid("sub", expect.expected_sub())),
    };
    let Some(found) = status.and_then(|st| Spelling::of(sub, st)) else {
        let known_elsewhere = matches!(expect, Expect::Only(p) if sub != p.subject());
        return Err(if known_elsewhere {
            ClaimsError::invalid("sub", expect.expected_sub())
        } else {
            ClaimsError::invalid("status", expect.expected_status(sub))
        });
    };
    if expect.allows(found) {
        return Ok(found);
    }
    let Expect::Only(p) = expect else {
        return Ok(found);
    };
    let (claim, arrived, expected) = if sub != p.subject() {
        ("sub", known_sub(sub), expect.expected_sub())
    } else {
        ("status", known_status(status), expect.expected_status(sub))
    };
    Err(ClaimsError::OtherProfile {
        claim,
        arrived,
        expected,
        accepted_by: found.accepted_by(),
    })
}

/// The static spelling of a `sub` already matched.
fn known_sub(sub: &str) -> &'static str {
    if sub == ID_CONTACT_SUB {
        ID_CONTACT_SUB
    } else {
        VERDER_HELPEN_SUB
    }
}

/// The static spelling of a `status` already matched.
fn known_status(status: Option<&str>) -> &'static str {
    match status {
        Some("succes") => "succes",
        Some("success") => "success",
        _ => "failed",
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
    /// `sub` or `status` spelled as a strict profile's other ecosystem
    /// spells it: what arrived, and which setting accepts it.
    OtherProfile {
        claim: &'static str,
        arrived: &'static str,
        expected: &'static str,
        accepted_by: &'static str,
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
    /// Which spelling of `sub` and `status` it matched.
    #[serde(skip)]
    pub spelling: Spelling,
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

/// Reads and checks the claims of `verified` against `expect` at time
/// `now` (Unix seconds), allowing `leeway` seconds of clock skew in each
/// time check alike.
pub fn validate(
    verified: &Verified,
    expect: Expect,
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
    // The spellings `expect` allows: a strict profile refuses the other
    // ecosystem's by name, so a tester sees which spelling arrived where.
    let spelling = spelling(expect, raw.sub.as_deref(), raw.status.as_deref())?;
    let status = match raw.status.as_deref() {
        Some("succes") => Status::Succes,
        Some("success") => Status::Success,
        _ => Status::Failed,
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
        sub: known_sub(raw.sub.as_deref().unwrap_or_default()).to_owned(),
        status,
        spelling,
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
            Expect::Only(Profile::IdContact),
            NOW,
            60,
        )
    }

    fn auto(json: &str) -> Result<Claims, ClaimsError> {
        validate(
            &Verified::unsigned_for_test(json.as_bytes()),
            Expect::Auto,
            NOW,
            60,
        )
    }

    fn claim_of(e: Result<Claims, ClaimsError>) -> &'static str {
        match e {
            Err(ClaimsError::Invalid { claim, .. } | ClaimsError::OtherProfile { claim, .. }) => {
                claim
            }
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
        assert_eq!(
            check(&with("").replace("succes", "success")),
            Err(ClaimsError::OtherProfile {
                claim: "status",
                arrived: "success",
                expected: "\"succes\" or \"failed\" (profile id-contact)",
                accepted_by: "--profile auto (the Verder Helpen DigiD plugin's shape)",
            })
        );
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
                Expect::Only(Profile::VerderHelpen),
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
            Err(ClaimsError::OtherProfile {
                claim: "sub",
                arrived: "id-contact-attributes",
                expected: "\"verder-helpen-attributes\" (profile verder-helpen)",
                accepted_by: "--profile id-contact or auto",
            })
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

    /// `auto` takes what a consumer of either ecosystem takes, says which
    /// it matched, and refuses every other spelling as a strict profile.
    #[test]
    fn auto_accepts_every_producers_spelling_and_names_it() {
        let spelled = |sub: &str, status: &str| {
            with("")
                .replace("id-contact-attributes", sub)
                .replace("\"succes\"", &format!("\"{status}\""))
        };
        for (sub, status, spelling, said) in [
            ("id-contact-attributes", "succes", Spelling::IdContact, "profile id-contact"),
            ("id-contact-attributes", "failed", Spelling::IdContact, "profile id-contact"),
            ("verder-helpen-attributes", "success", Spelling::VerderHelpen, "profile verder-helpen"),
            ("verder-helpen-attributes", "failed", Spelling::VerderHelpen, "profile verder-helpen"),
            (
                "id-contact-attributes",
                "success",
                Spelling::VerderHelpenDigid,
                "profile verder-helpen: sub id-contact-attributes, as the Verder Helpen DigiD plugin sends",
            ),
        ] {
            let c = auto(&spelled(sub, status)).unwrap();
            assert_eq!((c.sub.as_str(), c.status.as_str()), (sub, status));
            assert_eq!(c.spelling, spelling);
            assert_eq!(c.spelling.describe(), said);
        }
        let auto_status = |sub| {
            ClaimsError::invalid(
                "status",
                if sub == "id-contact-attributes" {
                    "\"succes\", \"success\" or \"failed\" (profile auto, sub id-contact-attributes)"
                } else {
                    "\"success\" or \"failed\" (profile auto, sub verder-helpen-attributes)"
                },
            )
        };
        for (sub, status) in [
            ("id-contact-attributes", "SUCCES"),
            ("id-contact-attributes", "ok"),
            ("verder-helpen-attributes", "succes"),
            ("verder-helpen-attributes", "Success"),
        ] {
            assert_eq!(
                auto(&spelled(sub, status)),
                Err(auto_status(sub)),
                "{sub} {status}"
            );
        }
        assert_eq!(
            auto(&spelled("someone-else", "success")),
            Err(ClaimsError::invalid(
                "sub",
                "\"id-contact-attributes\" or \"verder-helpen-attributes\" (profile auto)"
            ))
        );
    }

    /// A strict profile refuses the DigiD plugin's shape and names `auto`.
    #[test]
    fn strict_verder_helpen_names_auto_for_the_digid_shape() {
        let digid = with("").replace("\"succes\"", "\"success\"");
        let refused = validate(
            &Verified::unsigned_for_test(digid.as_bytes()),
            Expect::Only(Profile::VerderHelpen),
            NOW,
            60,
        );
        assert_eq!(
            refused,
            Err(ClaimsError::OtherProfile {
                claim: "sub",
                arrived: "id-contact-attributes",
                expected: "\"verder-helpen-attributes\" (profile verder-helpen)",
                accepted_by: "--profile auto (the Verder Helpen DigiD plugin's shape)",
            })
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
                Expect::Only(Profile::IdContact),
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
