//! `comm-test probe ATTR_URL`: the conformance suite (fresh, or one saved
//! by `mint --suite`) against another plugin, as a table or JSON.

use std::io::Write;
use std::process::ExitCode;

use super::{last, options_help, profile_flag, spec, Flag};
use crate::config::{self, flags, ConfigError};
use crate::mint::{manifest, suite};
use crate::mint::{EncryptionKey, SigningKey};
use crate::{client, date, log, probe};

const OPTIONS: &[Flag] = &[
    Flag::Own(
        "--suite",
        "DIR",
        "the suite saved by mint --suite (default: minted fresh)",
    ),
    Flag::Own(
        "--profile",
        "id-contact|verder-helpen",
        "the claims' spelling of a fresh suite (default id-contact)",
    ),
    Flag::Own(
        "--plugin",
        "BASE_URL",
        "check the whole plugin API at BASE_URL first (POST /start_communication four\n      \
         ways, GET of its client_url), then send the suite to the attr_url it gave, or\n      \
         inline to its client_url?result= when it gave none; instead of ATTR_URL",
    ),
    Flag::Own(
        "--allow-origin",
        "http://HOST:PORT",
        "with --plugin: an origin other than BASE_URL's that the plugin's attr_url or\n      \
         client_url may send the probe to (repeatable); none is allowed unless named",
    ),
    Flag::Own("--json", "", "the report as JSON"),
];

pub fn help() -> String {
    format!(
        "usage: comm-test probe ATTR_URL [OPTIONS]\n       comm-test probe --plugin BASE_URL [OPTIONS]\n\n\
         Posts every case of the conformance suite to ATTR_URL as application/jwt; with\n\
         --plugin, checks the plugin API at BASE_URL first and takes the suite where it says.\n\
         Exit 0 if every case passes, 1 if any fails, 2 if the target is unreachable or is\n\
         not a communication plugin (404 or 405).\n\n\
         examples:\n  comm-test probe http://127.0.0.1:8000/auth_result\n  \
         comm-test probe --plugin http://127.0.0.1:8000\n\n{}",
        options_help(OPTIONS)
    )
}

pub fn run(args: &[String]) -> Result<ExitCode, ConfigError> {
    let (flags, positional) = flags::collect(args, &spec(OPTIONS))?;
    let json = last(&flags, "--json").is_some_and(|v| matches!(v, "true" | "yes" | "1"));
    let parse =
        |u: &str| client::Url::parse(u).map_err(|e| ConfigError(format!("{}: {e}", log::shown(u))));
    let plugin = match (last(&flags, "--plugin"), positional.as_slice()) {
        (Some(base), []) => Some(parse(base)?),
        (None, [_]) => None,
        (Some(_), [_, ..]) => {
            return Err(ConfigError(
                "probe takes ATTR_URL or --plugin BASE_URL, not both".into(),
            ))
        }
        _ => {
            return Err(ConfigError(
                "probe takes one ATTR_URL (e.g. http://127.0.0.1:8000/auth_result), or \
                 --plugin BASE_URL; see probe --help"
                    .into(),
            ))
        }
    };
    let mut allowed = Vec::new();
    for (_, v) in flags.iter().filter(|(f, _)| f == "--allow-origin") {
        let u = parse(v)?;
        allowed.push((u.host, u.port));
    }
    if plugin.is_none() && !allowed.is_empty() {
        return Err(ConfigError("--allow-origin goes with --plugin".into()));
    }
    let cases = suite_of(&flags)?;
    match plugin {
        Some(base) => whole_plugin(&base, &allowed, &cases, json),
        None => {
            let target = probe::Target::AttrUrl(parse(positional.first().map_or("", |s| s))?);
            let (outcomes, took) = probe::timed(&target, &cases).map_err(ConfigError)?;
            let report = if json {
                pretty(&probe::json(&target, &outcomes, took))
            } else {
                probe::table(&target, &outcomes, took)
            };
            let _ = std::io::stdout().write_all(report.as_bytes());
            Ok(exit(outcomes.iter().all(|o| o.pass)))
        }
    }
}

/// The report as JSON for a terminal as much as a program: every control
/// character, bidi control and zero-width character a target may send is
/// written as a `\uXXXX` escape, which JSON readers read back unchanged.
fn pretty(v: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    let mut s = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if !hidden(c) {
            s.push(c);
            continue;
        }
        // Every such character is in the Basic Multilingual Plane.
        s.push_str("\\u");
        for shift in [12, 8, 4, 0] {
            s.push(char::from_digit(u32::from(c) >> shift & 0xf, 16).unwrap_or('0'));
        }
    }
    s.push('\n');
    s
}

/// Would change what a terminal shows, or show nothing: C0 and C1
/// controls (but the report's own line breaks), bidi controls (RLO, LRI,
/// ALM, LRM, …), zero-width characters and line separators.
fn hidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{61c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
        )
}

fn exit(all_pass: bool) -> ExitCode {
    if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `--plugin`: the API checks, then the suite where the valid start said
/// results go; one report, one summary line over both.
fn whole_plugin(
    base: &client::Url,
    allowed: &[(String, u16)],
    cases: &[suite::Case],
    json: bool,
) -> Result<ExitCode, ConfigError> {
    let t = std::time::Instant::now();
    let found = probe::api::run(base, allowed).map_err(ConfigError)?;
    let tokens = match &found.tokens {
        Some(target) => match probe::run(target, cases) {
            Ok(o) => Some((target, o)),
            Err(e) => {
                // What the API checks found stands; the suite could not run.
                if !json {
                    let _ = std::io::stdout()
                        .write_all(probe::api::table(base, &found.checks).as_bytes());
                }
                return Err(ConfigError(format!(
                    "the token suite, where the valid start said results go: {e}"
                )));
            }
        },
        None => None,
    };
    let took = t.elapsed();
    let api_pass = found.checks.iter().filter(|c| c.pass()).count();
    let (token_n, token_pass) = tokens.as_ref().map_or((0, 0), |(_, o)| {
        (o.len(), o.iter().filter(|o| o.pass).count())
    });
    let total = found.checks.len() + token_n;
    let passed = api_pass + token_pass;
    let summary = format!(
        "{total} checks in {:.2} s: {passed} pass, {} fail (plugin API {api_pass}/{}, tokens {token_pass}/{token_n})",
        took.as_secs_f64(),
        total - passed,
        found.checks.len()
    );
    let report = if json {
        pretty(&serde_json::json!({
            "plugin": base.full(),
            "api": probe::api::json(&found.checks),
            "tokens": tokens.as_ref().map(|(t, o)| probe::json(t, o, took)),
            "passed": passed,
            "failed": total - passed,
            "summary": summary,
        }))
    } else {
        let mut s = probe::api::table(base, &found.checks);
        match &tokens {
            Some((t, o)) => s.push_str(&probe::table(t, o, took)),
            None => s.push_str(
                "no client_url from the valid start: the token suite has nowhere to go\n",
            ),
        }
        s.push_str(&format!("\n{summary}\n"));
        s
    };
    let _ = std::io::stdout().write_all(report.as_bytes());
    Ok(exit(tokens.is_some() && passed == total))
}

/// The suite: the one saved by `mint --suite` (warned about if stale), or
/// minted fresh.
fn suite_of(flags: &config::Flags) -> Result<Vec<suite::Case>, ConfigError> {
    Ok(match last(flags, "--suite") {
        Some(dir) => {
            let dir = std::path::Path::new(dir);
            let cases = manifest::read(dir).map_err(ConfigError)?;
            warn_if_stale(manifest::generated_at(dir), &cases);
            cases
        }
        None => fresh_suite(flags)?,
    })
}

/// A saved suite's tokens expire (`exp` = minted + 300 s): past that,
/// every case that needs a valid time is refused as `expired`, and the
/// report would say the target fails them. Say so first, and which.
fn warn_if_stale(generated_at: Option<u64>, cases: &[suite::Case]) {
    let Some(at) = generated_at else {
        return;
    };
    let now = date::unix_now();
    let expired_at = at.saturating_add(suite::LIFETIME);
    if now <= expired_at {
        return;
    }
    let stale: Vec<&str> = cases
        .iter()
        .filter(|c| c.expected == suite::Expected::Accept)
        .map(|c| c.name.as_str())
        .collect();
    super::say(&format!(
        "WARNING: the suite was minted at {}, {} min ago; its tokens expired at {}: \
         these accept cases will be refused as expired: {} (mint a fresh one, or probe without --suite)",
        date::rfc3339(at),
        now.saturating_sub(at) / 60,
        date::rfc3339(expired_at),
        stale.join(", ")
    ));
}

fn fresh_suite(flags: &config::Flags) -> Result<Vec<suite::Case>, ConfigError> {
    let keys = suite::Keys {
        signer: SigningKey::from_pem(config::TEST_RSA_PRIVATE)
            .map_err(|e| ConfigError(e.to_string()))?,
        to: EncryptionKey::from_pem(config::TEST_RSA_PUBLIC)
            .map_err(|e| ConfigError(e.to_string()))?,
        ec_to: EncryptionKey::from_pem(config::TEST_EC_PUBLIC)
            .map_err(|e| ConfigError(e.to_string()))?,
    };
    suite::cases(&keys, profile_flag(flags)?, date::unix_now())
        .map_err(|e| ConfigError(format!("probe: {e}")))
}
