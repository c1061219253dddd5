//! Query strings: the one parser every route reads its parameters with,
//! `/ui?result=` included.

/// The first value of `name` in a query string, exactly as sent (still
/// percent-encoded); a name without `=` has the empty value.
pub fn raw_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The value of `name` in a query string, percent-decoded (`+` is a
/// space); `None` if absent, or its escapes are broken.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    raw_param(query, name).and_then(|v| percent_decode(&v.replace('+', " ")))
}

/// `%XX` encoding of everything but RFC 3986's unreserved characters: a
/// value that `query_param` reads back exactly.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `%XX` decoding of a query value; `None` on a broken escape or non-UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// A parameter that cannot be met: which, and why, in a line a person
/// reads (an API answers both, so a script can tell which field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &str, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A whole-number parameter (an event id), or what is wrong with it.
pub fn id_param(query: Option<&str>, name: &str) -> Result<Option<u64>, Invalid> {
    match query_param(query, name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            Invalid::new(name, format!("{name} must be a whole number (an event id)"))
        }),
    }
}

/// A parameter whose value, if given and not empty, must be one of
/// `allowed`.
pub fn one_of(
    query: Option<&str>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<String>, Invalid> {
    let v = query_param(query, name).filter(|v| !v.is_empty());
    match v {
        Some(v) if !allowed.contains(&v.as_str()) => Err(Invalid::new(
            name,
            format!("{name} must be one of {}, not {v:?}", allowed.join(", ")),
        )),
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_value_of_a_name_is_taken() {
        let q = Some("a=1&result=x%2By&a=2&flag");
        assert_eq!(raw_param(q, "a"), Some("1"));
        assert_eq!(raw_param(q, "result"), Some("x%2By"));
        assert_eq!(query_param(q, "result").as_deref(), Some("x+y"));
        assert_eq!(query_param(q, "flag").as_deref(), Some(""));
        assert_eq!(raw_param(q, "resul"), None);
        assert_eq!(query_param(Some("v=a+b"), "v").as_deref(), Some("a b"));
    }

    #[test]
    fn an_encoded_value_reads_back_exactly() {
        for v in ["a b+c&d=e", "zoë@example.nl", "%41", ""] {
            let q = format!("v={}", percent_encode(v));
            assert_eq!(query_param(Some(&q), "v").as_deref(), Some(v));
        }
    }

    #[test]
    fn a_broken_escape_is_no_value() {
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(
            id_param(Some("since=x"), "since").unwrap_err(),
            Invalid::new("since", "since must be a whole number (an event id)")
        );
        assert_eq!(
            one_of(Some("route=x"), "route", &["ui"]).unwrap_err(),
            Invalid::new("route", "route must be one of ui, not \"x\"")
        );
        assert_eq!(one_of(Some("route="), "route", &["ui"]), Ok(None));
    }
}
