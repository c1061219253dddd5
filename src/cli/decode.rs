//! `comm-test decode`: the server's own decoding of one token, offline,
//! printed as one JSON document. Exit 0 accepted, 1 rejected (the reason
//! on stderr), 2 bad usage (no token included).

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use super::{options_help, say, spec, Flag};
use crate::config::{flags, ConfigError, Env, Settings};
use crate::date;
use crate::jose::{self, Policy};

/// The server's own options, as the server reads them (flags, then
/// COMM_TEST_* variables, then `--config`): decode sees what it would.
const OPTIONS: &[Flag] = &[
    Flag::Server("--clock"),
    Flag::Server("--leeway"),
    Flag::Server("--decryption-key"),
    Flag::Server("--signature-key"),
    Flag::Server("--profile"),
    Flag::Server("--config"),
];

pub fn help() -> String {
    format!(
        "usage: comm-test decode [OPTIONS] [TOKEN | -]\n\n\
         Decodes TOKEN (or standard input) exactly as the server does and prints both\n\
         protected headers, the claims and the keys that matched, as JSON.\n\
         Exit 0 accepted, 1 rejected (reason on stderr), 2 bad usage.\n\n\
         example: a token captured on 2021-03-16, replayed at its own time\n  \
         comm-test decode --clock 2021-03-16T07:30:00Z < captured.jwt\n\n{}",
        options_help(OPTIONS)
    )
}

pub fn run(args: &[String], env: Env<'_>) -> Result<ExitCode, ConfigError> {
    let (flags, positional) = flags::collect(args, &spec(OPTIONS))?;
    let token = match positional.as_slice() {
        [] => read_stdin()?,
        [t] if t == "-" => read_stdin()?,
        [t] => t.clone(),
        _ => {
            return Err(ConfigError(
                "decode takes one token (or - for standard input)".into(),
            ))
        }
    };
    let mut settings = Settings::new(&flags, env).with_rocket()?;
    let (keys, _) = settings.keys()?;
    let policy = Policy::for_keys(&keys, settings.leeway()?).with_profile(settings.profile()?);
    let now = settings.clock()?.unwrap_or_else(date::unix_now);
    let header =
        |json: &[u8]| serde_json::from_slice::<serde_json::Value>(json).unwrap_or_default();
    match jose::decode_or_explain(token.trim(), &keys, &policy, now) {
        Ok(d) => {
            let doc = serde_json::json!({
                "outer_header": header(&d.outer_header),
                "inner_header": header(&d.inner_header),
                "claims": d.claims,
                "profile": d.claims.spelling.describe(),
                "decrypted_with": d.decrypted_with.to_string(),
                "verified_with": d.verified_with.to_string(),
            });
            let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
            out.push('\n');
            let _ = std::io::stdout().write_all(out.as_bytes());
            Ok(ExitCode::SUCCESS)
        }
        Err(r) => {
            // What was established before the refusal, as jwt-cli shows a
            // token it cannot accept: headers, the claims if the signature
            // verified, then why.
            let mut doc = serde_json::Map::new();
            for (name, part) in [
                ("outer_header", &r.outer_header),
                ("inner_header", &r.inner_header),
                ("claims", &r.claims),
            ] {
                if let Some(bytes) = part {
                    doc.insert(name.into(), header(bytes));
                }
            }
            doc.insert(
                "rejected".into(),
                serde_json::json!({
                    "reason": r.rejection.reason(),
                    "detail": r.rejection.to_string(),
                }),
            );
            let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
            out.push('\n');
            let _ = std::io::stdout().write_all(out.as_bytes());
            let line = format!("rejected: {}\n", r.rejection);
            let _ = std::io::stderr().write_all(line.as_bytes());
            Ok(ExitCode::from(1))
        }
    }
}

/// The token from standard input: with a prompt at a terminal (it would
/// otherwise wait in silence), and no token at all is a usage error.
fn read_stdin() -> Result<String, ConfigError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        say("paste a token, then press Ctrl-D (comm-test decode --help for more)");
    }
    let mut s = String::new();
    stdin
        .take(jose::MAX_TOKEN_LEN as u64 + 1024)
        .read_to_string(&mut s)
        .map_err(|e| {
            ConfigError(format!(
                "reading the token from standard input: {}",
                crate::files::plain(&e)
            ))
        })?;
    if s.trim().is_empty() {
        return Err(ConfigError(
            "decode: no token on standard input (give TOKEN, or pipe one in; see decode --help)"
                .into(),
        ));
    }
    Ok(s)
}
