//! `comm-test probe`: posts every case of a conformance suite to another
//! plugin's `attr_url` as `application/jwt` and says which answers conform.
//! A reject case passes on any non-2xx answer, an accept case on a 2xx.
//! Bounded as session feedback is (`client.rs`): a time-out per request,
//! no redirects, the answer read no further than its head.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{self, Url};
use crate::mint::suite::{Case, Expected};

pub const TIMEOUT: Duration = Duration::from_secs(5);

pub struct Outcome {
    pub name: String,
    pub expected: Expected,
    /// The answer's status, or why there was none.
    pub answer: Result<u16, client::Error>,
    pub pass: bool,
}

/// Runs every case in order. The target unreachable on the first case
/// (nothing listening, no such host) is an error, not 40 failures.
pub fn run(url: &Url, cases: &[Case]) -> Result<Vec<Outcome>, String> {
    let mut out = Vec::with_capacity(cases.len());
    for (i, c) in cases.iter().enumerate() {
        let answer = client::post(
            url,
            Some("application/jwt"),
            c.token.as_bytes(),
            TIMEOUT,
            &|_| Ok(()),
        );
        if i == 0 {
            if let Err(
                e @ (client::Error::Connect(_)
                | client::Error::Resolve(_)
                | client::Error::NoAddress),
            ) = &answer
            {
                let shown = crate::log::redact_url(&url.full());
                return Err(format!("target unreachable: {shown}: {e}"));
            }
        }
        let pass = match (&answer, c.expected) {
            (Ok(code), Expected::Accept) => (200..300).contains(code),
            (Ok(code), Expected::Reject(_)) => !(200..300).contains(code),
            (Err(_), _) => false,
        };
        out.push(Outcome {
            name: c.name.clone(),
            expected: c.expected,
            answer,
            pass,
        });
    }
    Ok(out)
}

fn expected_text(e: Expected) -> String {
    match e {
        Expected::Accept => "accept".into(),
        Expected::Reject(r) => format!("reject ({r})"),
    }
}

pub fn table(url: &Url, outcomes: &[Outcome], took: Duration) -> String {
    let mut s = format!("probe {}\n\n", crate::log::redact_url(&url.full()));
    let w = outcomes
        .iter()
        .map(|o| o.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    s.push_str(&format!(
        "{:<w$}  {:<28}  {:<6}  result\n",
        "case", "expected", "status"
    ));
    for o in outcomes {
        let got = match &o.answer {
            Ok(code) => code.to_string(),
            Err(e) => format!("- ({e})"),
        };
        s.push_str(&format!(
            "{:<w$}  {:<28}  {:<6}  {}\n",
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

pub fn json(url: &Url, outcomes: &[Outcome], took: Duration) -> Value {
    let passed = outcomes.iter().filter(|o| o.pass).count();
    json!({
        "target": crate::log::redact_url(&url.full()),
        "seconds": took.as_secs_f64(),
        "passed": passed,
        "failed": outcomes.len() - passed,
        "cases": outcomes.iter().map(|o| json!({
            "name": o.name,
            "expected": match o.expected { Expected::Accept => "accept", Expected::Reject(_) => "reject" },
            "reason": match o.expected { Expected::Accept => None, Expected::Reject(r) => Some(r) },
            "status": o.answer.as_ref().ok(),
            "error": o.answer.as_ref().err().map(ToString::to_string),
            "pass": o.pass,
        })).collect::<Vec<_>>(),
    })
}

/// Runs and times a probe.
pub fn timed(url: &Url, cases: &[Case]) -> Result<(Vec<Outcome>, Duration), String> {
    let t = Instant::now();
    let out = run(url, cases)?;
    Ok((out, t.elapsed()))
}
