//! `comm-test health [URL]`: asks a plugin's `GET /healthz` and exits 0
//! when it answers 200, 1 otherwise; for a container's `HEALTHCHECK` in an
//! image that has no curl (FROM scratch: the binary is all there is).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use super::{number, options_help, spec, Flag};
use crate::client::{self, Url};
use crate::config::{flags, listen_url, ConfigError, Env};
use crate::log;

const OPTIONS: &[Flag] = &[Flag::Own(
    "--timeout",
    "SECONDS",
    "how long the answer may take, 1-60 (default 3)",
)];

pub fn help() -> String {
    format!(
        "usage: comm-test health [URL]\n\n\
         Asks URL/healthz and exits 0 when it answers 200, 1 otherwise (unreachable,\n\
         another status, no answer in time), with one line saying which; 2 for a usage\n\
         error. URL is the plugin's base URL; by default the public listener of\n\
         COMM_TEST_LISTEN (else 127.0.0.1:8000), a wildcard address asked on loopback.\n\n\
         example (a compose file's health check):\n  \
         healthcheck:\n    \
         test: [\"CMD\", \"/comm-test\", \"health\"]\n\n{}",
        options_help(OPTIONS)
    )
}

pub fn run(args: &[String], env: Env<'_>) -> Result<ExitCode, ConfigError> {
    let (flags, positional) = flags::collect(args, &spec(OPTIONS))?;
    let base = match positional.as_slice() {
        [] => local_listener(env),
        [url] => url.trim_end_matches('/').to_owned(),
        [_, extra, ..] => {
            return Err(ConfigError(format!(
                "health takes one URL, got another: {}",
                log::shown(extra)
            )))
        }
    };
    let timeout = number(&flags, "--timeout", 3)?;
    if !(1..=60).contains(&timeout) {
        return Err(ConfigError(format!(
            "--timeout: 1 to 60 seconds, got {timeout}"
        )));
    }
    let url = Url::parse(&format!("{base}/healthz"))
        .map_err(|e| ConfigError(format!("health: {}: {e}", log::shown(&base))))?;
    let shown = url.full();
    match client::get(&url, 64, Duration::from_secs(timeout), &|_| Ok(())) {
        Ok(a) if a.status == 200 => {
            let _ =
                std::io::stdout().write_all(format!("healthy: {shown} answered 200\n").as_bytes());
            Ok(ExitCode::SUCCESS)
        }
        Ok(a) => {
            super::say(&format!("unhealthy: {shown} answered {}", a.status));
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            super::say(&format!("unhealthy: {shown}: {e}"));
            Ok(ExitCode::from(1))
        }
    }
}

/// The public listener this machine's plugin would bind: `COMM_TEST_LISTEN`
/// or the default, a wildcard asked on 127.0.0.1 (a health check runs
/// beside the plugin, in its container).
fn local_listener(env: Env<'_>) -> String {
    let listen = env("COMM_TEST_LISTEN")
        .and_then(|v| v.into_string().ok())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "127.0.0.1:8000".into());
    let url = listen_url(&listen, None);
    url.replacen("http://localhost:", "http://127.0.0.1:", 1)
}
