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
    Flag::Own("--json", "", "the report as JSON"),
];

pub fn help() -> String {
    format!(
        "usage: comm-test probe ATTR_URL [OPTIONS]\n\n\
         Posts every case of the conformance suite to ATTR_URL as application/jwt.\n\
         Exit 0 if every case passes, 1 if any fails, 2 if the target is unreachable.\n\n\
         example:\n  comm-test probe http://127.0.0.1:8000/auth_result\n\n{}",
        options_help(OPTIONS)
    )
}

pub fn run(args: &[String]) -> Result<ExitCode, ConfigError> {
    let (flags, positional) = flags::collect(args, &spec(OPTIONS))?;
    let json = last(&flags, "--json").is_some_and(|v| matches!(v, "true" | "yes" | "1"));
    let [target] = positional.as_slice() else {
        return Err(ConfigError(
            "probe takes one ATTR_URL (e.g. http://127.0.0.1:8000/auth_result; see probe --help)"
                .into(),
        ));
    };
    let url = client::Url::parse(target)
        .map_err(|e| ConfigError(format!("{}: {e}", log::shown(target))))?;
    let cases = match last(&flags, "--suite") {
        Some(dir) => {
            let dir = std::path::Path::new(dir);
            let cases = manifest::read(dir).map_err(ConfigError)?;
            warn_if_stale(manifest::generated_at(dir), &cases);
            cases
        }
        None => fresh_suite(&flags)?,
    };
    let (outcomes, took) = probe::timed(&url, &cases).map_err(ConfigError)?;
    let report = if json {
        let mut s =
            serde_json::to_string_pretty(&probe::json(&url, &outcomes, took)).unwrap_or_default();
        s.push('\n');
        s
    } else {
        probe::table(&url, &outcomes, took)
    };
    let _ = std::io::stdout().write_all(report.as_bytes());
    Ok(if outcomes.iter().all(|o| o.pass) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
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
