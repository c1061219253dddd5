//! `comm-test mint`: one token on standard output, or the conformance
//! suite written to a new or empty directory (`--suite DIR`).

use std::io::Write;
use std::process::ExitCode;

use super::{last, number, options_help, profile_flag, say, spec, Flag};
use crate::config::{self, flags, ConfigError};
use crate::jose::Status;
use crate::mint::{manifest, suite};
use crate::mint::{ClaimsSpec, EncryptionKey, SigningKey};
use crate::{date, log};

const OPTIONS: &[Flag] = &[
    Flag::Own("--attr", "NAME=VALUE", "an attribute; repeatable"),
    Flag::Own(
        "--status",
        "succes|success|failed",
        "the status (default: the profile's success)",
    ),
    Flag::Own("--session-url", "URL", "a session_url claim"),
    Flag::Own("--iat", "UNIX_SECONDS", "issued at (default: now)"),
    Flag::Own("--exp-in", "SECONDS", "exp after iat (default 300)"),
    Flag::Own(
        "--profile",
        "id-contact|verder-helpen",
        "the claims' spelling (default id-contact)",
    ),
    Flag::Own(
        "--encrypt-to",
        "PUBKEY.pem",
        "encrypt to this key: RSA-OAEP or ECDH-ES by its type (default: the test RSA key)",
    ),
    Flag::Own(
        "--sign-with",
        "PRIVKEY.pem",
        "sign with this key: RS256 or ES256 by its type (default: the test RSA key)",
    ),
    Flag::Own("--kid", "ID", "a kid in both headers"),
    Flag::Own(
        "--suite",
        "DIR",
        "write the conformance suite (NN-name.jwt and manifest.json) into DIR, new or empty",
    ),
];

pub fn help() -> String {
    format!(
        "usage: comm-test mint [OPTIONS]\n       comm-test mint --suite DIR [--profile P] [--encrypt-to F] [--sign-with F]\n\n\
         Prints one signed-then-encrypted result token, or writes the conformance suite.\n\n\
         example:\n  comm-test mint --attr email=tester@example.nl | comm-test decode\n\n{}",
        options_help(OPTIONS)
    )
}

pub fn run(args: &[String]) -> Result<ExitCode, ConfigError> {
    let (flags, positional) = flags::collect(args, &spec(OPTIONS))?;
    if let Some(p) = positional.first() {
        return Err(ConfigError(format!(
            "mint: unexpected argument {} (see mint --help)",
            log::shown(p)
        )));
    }
    let profile = profile_flag(&flags)?;
    let signer = match last(&flags, "--sign-with") {
        None => SigningKey::from_pem(config::TEST_RSA_PRIVATE),
        Some(f) => SigningKey::from_pem(&config::read_key_file("--sign-with", f)?),
    }
    .map_err(|e| ConfigError(format!("--sign-with: {e}")))?;
    let to = match last(&flags, "--encrypt-to") {
        None => EncryptionKey::from_pem(config::TEST_RSA_PUBLIC),
        Some(f) => EncryptionKey::from_pem(&config::read_key_file("--encrypt-to", f)?),
    }
    .map_err(|e| ConfigError(format!("--encrypt-to: {e}")))?;
    let now = date::unix_now();
    if let Some(dir) = last(&flags, "--suite") {
        return write_suite(
            dir,
            suite::Keys {
                signer,
                to,
                ec_to: ec_test_key()?,
            },
            profile,
            now,
        );
    }
    let spec = ClaimsSpec {
        profile,
        status: status(&flags)?,
        attributes: attributes(&flags)?,
        session_url: last(&flags, "--session-url").map(String::from),
        iat: number(&flags, "--iat", now)?,
        exp_in: number(&flags, "--exp-in", 300)?,
    };
    let token = crate::mint::result(&spec.to_json(), &signer, &to, last(&flags, "--kid"))
        .map_err(|e| ConfigError(format!("mint: {e}")))?;
    let _ = std::io::stdout().write_all(format!("{token}\n").as_bytes());
    Ok(ExitCode::SUCCESS)
}

fn ec_test_key() -> Result<EncryptionKey, ConfigError> {
    EncryptionKey::from_pem(config::TEST_EC_PUBLIC)
        .map_err(|e| ConfigError(format!("built-in EC key: {e}")))
}

fn write_suite(
    dir: &str,
    keys: suite::Keys,
    profile: crate::jose::Profile,
    now: u64,
) -> Result<ExitCode, ConfigError> {
    let cases =
        suite::cases(&keys, profile, now).map_err(|e| ConfigError(format!("mint --suite: {e}")))?;
    manifest::write(std::path::Path::new(dir), &cases, profile, now)
        .map_err(|e| ConfigError(format!("mint --suite: {e}")))?;
    let accept = cases
        .iter()
        .filter(|c| c.expected == suite::Expected::Accept)
        .count();
    say(&format!(
        "wrote {} cases to {dir} ({accept} accept, {} reject) and manifest.json",
        cases.len(),
        cases.len() - accept
    ));
    Ok(ExitCode::SUCCESS)
}

fn attributes(
    flags: &config::Flags,
) -> Result<serde_json::Map<String, serde_json::Value>, ConfigError> {
    let mut attributes = serde_json::Map::new();
    for (_, a) in flags.iter().filter(|(n, _)| n == "--attr") {
        let Some((k, v)) = a.split_once('=') else {
            return Err(ConfigError(format!(
                "--attr: expected NAME=VALUE, got {}",
                log::shown(a)
            )));
        };
        attributes.insert(k.to_owned(), serde_json::Value::String(v.to_owned()));
    }
    Ok(attributes)
}

fn status(flags: &config::Flags) -> Result<Option<Status>, ConfigError> {
    match last(flags, "--status") {
        None => Ok(None),
        Some("succes") => Ok(Some(Status::Succes)),
        Some("success") => Ok(Some(Status::Success)),
        Some("failed") => Ok(Some(Status::Failed)),
        Some(v) => Err(ConfigError(format!(
            "--status: expected succes, success or failed, got {}",
            log::shown(v)
        ))),
    }
}
