//! `probe --plugin BASE_URL`: the communication plugin API before its
//! tokens. `POST /start_communication` four ways, each checked against
//! the published API (`comm_plugin.openapi.yml`: a JSON body whose
//! `purpose` is required; a 200 JSON answer whose `client_url` is
//! required and a URL, `attr_url` optional and a URL), then `GET` of the
//! `client_url` it gave. Each case names the rule it checks. What the
//! valid start answered decides where the token suite goes: its
//! `attr_url`, or else its `client_url?result=`.

use serde_json::{json, Value};

use super::{first_line, Target, BODY, TIMEOUT};
use crate::client::{self, Url};

/// One check of the API: what was sent, the rule, what came back.
pub struct Check {
    pub name: &'static str,
    pub rule: &'static str,
    pub answer: Result<u16, client::Error>,
    pub said: String,
    /// Why it fails, when it does.
    pub fault: Option<String>,
}

impl Check {
    pub fn pass(&self) -> bool {
        self.fault.is_none()
    }
}

/// What the API checks found: the checks, and where the tokens go next.
pub struct Found {
    pub checks: Vec<Check>,
    pub tokens: Option<Target>,
}

struct Start {
    name: &'static str,
    rule: &'static str,
    content_type: &'static str,
    body: &'static str,
    /// A 200 with the answer's shape, or a 4xx refusal.
    wants_start: bool,
}

const STARTS: [Start; 4] = [
    Start {
        name: "start: valid",
        rule: "a JSON body with purpose answers 200, JSON, client_url required and a URL, \
               attr_url optional and a URL",
        content_type: "application/json",
        body: r#"{"purpose":"report_move"}"#,
        wants_start: true,
    },
    Start {
        name: "start: unknown members",
        rule: "members the API does not name are ignored (a newer core may send them): \
               200 as for a valid start",
        content_type: "application/json",
        body: r#"{"purpose":"report_move","locale":"nl","extra":{"x":[1]}}"#,
        wants_start: true,
    },
    Start {
        name: "start: no purpose",
        rule: "purpose is required: refused with a 4xx (a client's mistake, not a server error)",
        content_type: "application/json",
        body: "{}",
        wants_start: false,
    },
    Start {
        name: "start: wrong content type",
        rule: "the body is application/json: another media type is refused with a 4xx \
               (415 names it)",
        content_type: "text/plain",
        body: r#"{"purpose":"report_move"}"#,
        wants_start: false,
    },
];

const GET_CLIENT_URL: &str = "GET client_url answers 200: the plugin serves the user's UI there";

/// An `http(s)://` URL with a host: what `format: URI` means here.
fn is_url(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        let rest = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"));
        rest.is_some_and(|r| {
            !r.is_empty() && !r.starts_with('/') && !s.contains(char::is_whitespace)
        })
    })
}

/// Why a start's 200 answer breaks the API's shape, if it does.
fn shape_fault(body: &[u8]) -> Option<String> {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
        return Some("the answer is not a JSON object".into());
    };
    match o.get("client_url") {
        None => return Some("client_url is missing".into()),
        Some(v) if !is_url(v) => {
            return Some(format!(
                "client_url is not a URL: {}",
                crate::log::shown(&text_of(v))
            ))
        }
        Some(_) => {}
    }
    match o.get("attr_url") {
        Some(v) if !is_url(v) => Some(format!(
            "attr_url is not a URL: {}",
            crate::log::shown(&text_of(v))
        )),
        _ => None,
    }
}

/// A JSON value as a message quotes it: a string as itself.
fn text_of(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn media_type(head_content_type: Option<&str>) -> Option<String> {
    head_content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
}

/// One start, judged by its rule; the answer's JSON when it was a 200.
fn start(base: &Url, s: &Start) -> Result<(Check, Option<Value>), String> {
    let url = base.joined("/start_communication");
    let answer = client::post_reading(
        &url,
        Some(s.content_type),
        s.body.as_bytes(),
        BODY,
        TIMEOUT,
        &|_| Ok(()),
    );
    if let Err(
        e @ (client::Error::Connect(_) | client::Error::Resolve(_) | client::Error::NoAddress),
    ) = &answer
    {
        return Err(format!("target unreachable: {}: {e}", url.full()));
    }
    let said = answer
        .as_ref()
        .map(|a| first_line(&a.body))
        .unwrap_or_default();
    let (fault, json) = match (&answer, s.wants_start) {
        (Err(e), _) => (Some(format!("no answer: {e}")), None),
        (Ok(a), true) if a.status == 200 => {
            let fault = shape_fault(&a.body).or_else(|| {
                let mt = media_type(a.content_type.as_deref());
                (mt.as_deref() != Some("application/json")).then(|| {
                    format!(
                        "answered as {}, not application/json",
                        crate::log::shown(&mt.unwrap_or_default())
                    )
                })
            });
            let json = serde_json::from_slice(&a.body).ok();
            (fault, json)
        }
        (Ok(a), true) => (Some(format!("answered {}, not 200", a.status)), None),
        (Ok(a), false) if (400..500).contains(&a.status) => (None, None),
        (Ok(a), false) => (Some(format!("answered {}, not a 4xx", a.status)), None),
    };
    let check = Check {
        name: s.name,
        rule: s.rule,
        answer: answer.map(|a| a.status),
        said,
        fault,
    };
    Ok((check, json))
}

/// Runs the API checks against `base`; an unreachable base, or a 404 or
/// 405 to the valid start (no communication plugin there), is an error.
pub fn run(base: &Url, allowed: &[(String, u16)]) -> Result<Found, String> {
    let mut checks = Vec::new();
    let mut valid = None;
    for (i, s) in STARTS.iter().enumerate() {
        let (check, json) = start(base, s)?;
        if i == 0 {
            if let Ok(code @ (404 | 405)) = check.answer {
                return Err(format!(
                    "{} answered {code} to POST /start_communication: not a communication plugin \
                     (is the base URL right? give it without the path)",
                    base.full()
                ));
            }
            valid = json.filter(|_| check.pass());
        }
        checks.push(check);
    }
    let Some(valid) = valid else {
        return Ok(Found {
            checks,
            tokens: None,
        });
    };
    let url_of = |k: &str| {
        valid
            .get(k)
            .and_then(Value::as_str)
            .and_then(|u| Url::parse(u).ok())
    };
    // The plugin names where the rest goes; a hostile one could name the
    // tester's own inbox. Only BASE_URL's origin, and those allowed.
    for k in ["attr_url", "client_url"] {
        if let Some(u) = url_of(k) {
            off_origin(k, &u, base, allowed)?;
        }
    }
    let client_url = url_of("client_url");
    if let Some(c) = &client_url {
        let answer = client::get(c, 0, TIMEOUT, &|_| Ok(()));
        let fault = match &answer {
            Ok(a) if a.status == 200 => None,
            Ok(a) => Some(format!("answered {}, not 200", a.status)),
            Err(e) => Some(format!("no answer: {e}")),
        };
        checks.push(Check {
            name: "client_url: GET",
            rule: GET_CLIENT_URL,
            answer: answer.map(|a| a.status),
            said: String::new(),
            fault,
        });
    }
    let tokens = match (url_of("attr_url"), client_url) {
        (Some(a), _) => Some(Target::AttrUrl(a)),
        (None, Some(c)) => Some(Target::Inline(c)),
        (None, None) => None,
    };
    Ok(Found { checks, tokens })
}

/// `Err` naming it if `u` (the plugin's `k`) is neither on `base`'s
/// origin (host and port; `Url` holds the host in lowercase) nor on one
/// allowed.
fn off_origin(k: &str, u: &Url, base: &Url, allowed: &[(String, u16)]) -> Result<(), String> {
    let same = |h: &str, p: u16| u.host == h && u.port == p;
    if same(&base.host, base.port) || allowed.iter().any(|(h, p)| same(h, *p)) {
        return Ok(());
    }
    Err(format!(
        "the plugin's {k} {} is on another origin than {}: nothing is sent there \
         unless you allow it (--allow-origin http://{}:{})",
        crate::log::shown(&u.full()),
        base.full(),
        u.host,
        u.port
    ))
}

pub fn table(base: &Url, checks: &[Check]) -> String {
    let mut s = format!("probe --plugin {}: the plugin API\n\n", base.full());
    for c in checks {
        let got = match &c.answer {
            Ok(code) => code.to_string(),
            Err(_) => "-".into(),
        };
        let verdict = match &c.fault {
            None => "pass".to_owned(),
            Some(f) => format!("FAIL: {f}"),
        };
        s.push_str(&format!("{:<26}  {:<6}  {verdict}\n", c.name, got));
        s.push_str(&format!("    rule: {}\n", c.rule));
        if !c.said.is_empty() {
            s.push_str(&format!("    answer: {}\n", crate::log::shown(&c.said)));
        }
    }
    s.push('\n');
    s
}

pub fn json(checks: &[Check]) -> Value {
    json!(checks
        .iter()
        .map(|c| json!({
            "name": c.name,
            "rule": c.rule,
            "status": c.answer.as_ref().ok(),
            "error": c.answer.as_ref().err().map(ToString::to_string),
            "answer": c.said,
            "fault": c.fault,
            "pass": c.pass(),
        }))
        .collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_answer_is_held_to_the_published_shape() {
        let fault = |b: &str| shape_fault(b.as_bytes());
        assert_eq!(fault(r#"{"client_url":"http://a/ui"}"#), None);
        assert_eq!(
            fault(r#"{"client_url":"https://a/ui","attr_url":"http://b:8000/x"}"#),
            None
        );
        assert_eq!(
            fault(r#"{"attr_url":"http://b/x"}"#),
            Some("client_url is missing".into())
        );
        assert_eq!(
            fault(r#"{"client_url":"/ui"}"#),
            Some("client_url is not a URL: \"/ui\"".into())
        );
        assert_eq!(
            fault(r#"{"client_url":"http://a/ui","attr_url":5}"#),
            Some("attr_url is not a URL: \"5\"".into())
        );
        assert_eq!(
            fault(r#"{"client_url":"http://a/ui""#),
            Some("the answer is not a JSON object".into())
        );
    }
}
