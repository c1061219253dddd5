//! What the JSON parsers share: whether an object names a member twice.
//! serde's derive refuses a repeated *known* field by an error whose only
//! trace is its message, and silently takes the last of a repeated unknown
//! one; callers here decide from a type, never from message text.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

/// A JSON object, read only for its member names: whether one appears
/// twice, under any spelling (`\u0061lg` is `alg`: names are compared
/// decoded). Anything but an object is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Members {
    pub duplicate: bool,
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut seen = std::collections::BTreeSet::new();
                let mut duplicate = false;
                while let Some(name) = map.next_key::<String>()? {
                    let _: IgnoredAny = map.next_value()?;
                    duplicate |= !seen.insert(name);
                }
                Ok(Members { duplicate })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_named_twice_under_any_spelling() {
        let m = |s: &str| serde_json::from_str::<Members>(s).map(|m| m.duplicate).ok();
        assert_eq!(m(r#"{"a":1,"b":2}"#), Some(false));
        assert_eq!(m(r#"{"a":1,"a":2}"#), Some(true));
        assert_eq!(m(r#"{"a":1,"\u0061":[]}"#), Some(true));
        assert_eq!(m("[]"), None);
        assert_eq!(m("{"), None);
    }
}
