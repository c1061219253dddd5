//! `comm-test probe`: posts every case of a conformance suite to another
//! plugin's `attr_url` as `application/jwt` (or puts it in its
//! `client_url?result=`) and says which answers conform. A reject case
//! passes on any non-2xx answer, an accept case on a 2xx. Bounded as
//! session feedback is (`client.rs`): a time-out per request, no
//! redirects, the answer read no further than 4 KiB of its body, whose
//! first line the report shows. A 404 or 405 stops the probe: the URL is
//! not where results go. `probe --plugin` first checks the rest of the
//! plugin API (`api.rs`).

pub mod api;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{self, Url};
use crate::jose::Reason;
use crate::mint::suite::{Case, Expected};

pub const TIMEOUT: Duration = Duration::from_secs(5);

pub struct Outcome {
    pub name: String,
    pub expected: Expected,
    /// The answer's status, or why there was none.
    pub answer: Result<u16, client::Error>,
    /// The first line of the answer's body (at most 120 characters).
    pub said: String,
    pub pass: bool,
}

/// What a target may say of a case: enough for its first line.
const BODY: usize = 4096;

/// The first line of a body, cut short.
fn first_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(120).collect()
}

/// Where the suite's tokens go: posted to an `attr_url`, or inline in a
/// `client_url`'s `?result=` (the plugin API's way without `attr_url`).
#[derive(Debug, Clone)]
pub enum Target {
    AttrUrl(Url),
    Inline(Url),
}

impl Target {
    pub fn url(&self) -> &Url {
        match self {
            Target::AttrUrl(u) | Target::Inline(u) => u,
        }
    }

    /// As the report names it (query values redacted).
    pub fn shown(&self) -> String {
        match self {
            Target::AttrUrl(u) => crate::log::redact_url(&u.full()),
            Target::Inline(u) => format!("{}?result=", crate::log::redact_url(&u.full())),
        }
    }

    fn deliver(&self, token: &str) -> Result<client::Answer, client::Error> {
        match self {
            Target::AttrUrl(u) => client::post_reading(
                u,
                Some("application/jwt"),
                token.as_bytes(),
                BODY,
                TIMEOUT,
                &|_| Ok(()),
            ),
            Target::Inline(u) => {
                client::get_reading(&u.with_param("result", token), BODY, TIMEOUT, &|_| Ok(()))
            }
        }
    }
}

/// Runs every case in order. The target unreachable on the first case
/// (nothing listening, no such host) is an error, not 40 failures; so is
/// a 404 or 405, which says the URL is not a communication plugin's
/// `attr_url` (a reject case answered so would otherwise pass).
pub fn run(target: &Target, cases: &[Case]) -> Result<Vec<Outcome>, String> {
    let mut out = Vec::with_capacity(cases.len());
    let shown = target.shown();
    for (i, c) in cases.iter().enumerate() {
        let answer = target.deliver(&c.token);
        if i == 0 {
            if let Err(
                e @ (client::Error::Connect(_)
                | client::Error::Resolve(_)
                | client::Error::NoAddress),
            ) = &answer
            {
                return Err(format!("target unreachable: {shown}: {e}"));
            }
        }
        if let Ok(a) = &answer {
            if matches!(a.status, 404 | 405) {
                return Err(format!(
                    "{shown} answered {} to case {}: not a communication plugin's attr_url \
                     (is the path right? the plugin API's is /auth_result)",
                    a.status, c.name
                ));
            }
        }
        let said = answer
            .as_ref()
            .map(|a| first_line(&a.body))
            .unwrap_or_default();
        let answer = answer.map(|a| a.status);
        let pass = match (&answer, c.expected) {
            (Ok(code), Expected::Accept) => (200..300).contains(code),
            (Ok(code), Expected::Reject(_)) => !(200..300).contains(code),
            (Err(_), _) => false,
        };
        out.push(Outcome {
            name: c.name.clone(),
            expected: c.expected,
            answer,
            said,
            pass,
        });
    }
    Ok(out)
}

/// For a refusal: the reason its first line names, when that is one of
/// the vocabulary's and not the one this plugin would give.
fn other_reason(o: &Outcome) -> Option<Reason> {
    let Expected::Reject(want) = o.expected else {
        return None;
    };
    let word = o.said.split(':').next()?.trim();
    Reason::parse(word).filter(|r| *r != want)
}

fn expected_text(e: Expected) -> String {
    match e {
        Expected::Accept => "accept".into(),
        Expected::Reject(r) => format!("reject ({r})"),
    }
}

pub fn table(target: &Target, outcomes: &[Outcome], took: Duration) -> String {
    let mut s = format!("probe {}\n\n", target.shown());
    let w = outcomes
        .iter()
        .map(|o| o.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    s.push_str(&format!(
        "{:<w$}  {:<28}  {:<6}  {:<6}  answer\n",
        "case", "expected", "status", "result"
    ));
    for o in outcomes {
        let got = match &o.answer {
            Ok(code) => code.to_string(),
            Err(_) => "-".into(),
        };
        let mut said = match &o.answer {
            Ok(_) => crate::log::shown(&o.said),
            Err(e) => format!("({e})"),
        };
        if let Some(r) = other_reason(o) {
            said = format!("{said}  [refused as {r}, not as this plugin would]");
        }
        s.push_str(&format!(
            "{:<w$}  {:<28}  {:<6}  {:<6}  {said}\n",
            o.name,
            expected_text(o.expected),
            got,
            if o.pass { "pass" } else { "FAIL" }
        ));
    }
    let passed = outcomes.iter().filter(|o| o.pass).count();
    s.push_str(&format!(
        "\n{} cases in {:.2} s: {passed} pass, {} fail\n",
        outcomes.len(),
        took.as_secs_f64(),
        outcomes.len() - passed
    ));
    s
}

pub fn json(target: &Target, outcomes: &[Outcome], took: Duration) -> Value {
    let passed = outcomes.iter().filter(|o| o.pass).count();
    json!({
        "target": target.shown(),
        "seconds": took.as_secs_f64(),
        "passed": passed,
        "failed": outcomes.len() - passed,
        "cases": outcomes.iter().map(|o| json!({
            "name": o.name,
            "expected": match o.expected { Expected::Accept => "accept", Expected::Reject(_) => "reject" },
            "reason": match o.expected { Expected::Accept => None, Expected::Reject(r) => Some(r) },
            "status": o.answer.as_ref().ok(),
            "error": o.answer.as_ref().err().map(ToString::to_string),
            "answer": o.said,
            "refused_as": other_reason(o),
            "pass": o.pass,
        })).collect::<Vec<_>>(),
    })
}

/// Runs and times a probe.
pub fn timed(target: &Target, cases: &[Case]) -> Result<(Vec<Outcome>, Duration), String> {
    let t = Instant::now();
    let out = run(target, cases)?;
    Ok((out, t.elapsed()))
}
