//! `comm-test wait`: blocks until the inbox journals an event its filters
//! match, prints it as JSON and exits 0 (1 when the time is up, 2 for a
//! usage error or an inbox that cannot be reached), for shell scripts and
//! CI jobs that drive a deployment and assert on what arrived.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::{last, number, options_help, spec, Flag};
use crate::client::{self, Url};
use crate::config::{flags, ConfigError, Env};
use crate::http::query::percent_encode;
use crate::log;

/// The longest `--timeout`.
const MAX_TIMEOUT: u64 = 86_400;

const OPTIONS: &[Flag] = &[
    Flag::Own(
        "--inbox",
        "ADDR|URL",
        "the inbox to ask (default: COMM_TEST_INBOX, else 127.0.0.1:8001)",
    ),
    Flag::Own(
        "--after",
        "ID",
        "the first event after this id (default: any the inbox holds, then new ones)",
    ),
    Flag::Own(
        "--new",
        "",
        "only events journaled from now on (also --from-now)",
    ),
    Flag::Own("--from-now", "", "the same as --new"),
    Flag::Own(
        "--timeout",
        "SECONDS",
        "how long to wait in all, asking again every 60 s (default 30; at most a day, 86400)",
    ),
    Flag::Own(
        "--route",
        "ROUTE",
        "start_communication, auth_result, ui, session, auth_only or other",
    ),
    Flag::Own(
        "--verdict",
        "VERDICT",
        "accepted, replay, rejected, sent or failed",
    ),
    Flag::Own("--q", "TEXT", "text in a decoded value (any case)"),
    Flag::Own(
        "--attr",
        "NAME=VALUE",
        "an attribute the result carries, exactly; repeatable",
    ),
];

/// What one wait request may take: the server's own bound per request.
const PER_REQUEST: u64 = 60;
/// An event is at most ~48 KB (`journal::MAX_EVENT_BYTES`).
const MAX_EVENT: usize = 1 << 20;

pub fn help() -> String {
    format!(
        "usage: comm-test wait [OPTIONS]\n\n\
         Prints the first event the filters match as JSON on standard output and\n\
         exits 0: one the inbox holds already (since its last clear), or the next to\n\
         arrive. Exits 1 when --timeout passes first, naming the near misses (the\n\
         newest events, each with the filter it failed and what arrived), and 2 for a\n\
         usage error or an inbox that cannot be reached.\n\n\
         example (a CI step):\n  \
         ./drive-the-flow.sh\n  \
         comm-test wait --verdict accepted --attr email=tester@example.nl | jq -e .claims.attributes\n\n{}",
        options_help(OPTIONS)
    )
}

pub fn run(args: &[String], env: Env<'_>) -> Result<ExitCode, ConfigError> {
    let (flags, positional) = flags::collect(args, &spec(OPTIONS))?;
    if let Some(p) = positional.first() {
        return Err(ConfigError(format!(
            "wait takes no argument, got {} (see wait --help)",
            log::shown(p)
        )));
    }
    let inbox = inbox_url(last(&flags, "--inbox"), env)?;
    let timeout = number(&flags, "--timeout", 30)?;
    // A deadline past what `Instant` holds panicked (SIGABRT); a wait of
    // more than a day is a mistake, said before anything is asked.
    if timeout > MAX_TIMEOUT {
        return Err(ConfigError(format!(
            "--timeout {timeout}: at most {MAX_TIMEOUT} seconds (a day)"
        )));
    }
    let filters = filters(&flags)?;
    let new = last(&flags, "--new")
        .or(last(&flags, "--from-now"))
        .is_some();
    let after = match (last(&flags, "--after"), new) {
        (Some(_), true) => {
            return Err(ConfigError(
                "--after and --new say two things; give one".into(),
            ))
        }
        (Some(id), false) => id
            .parse::<u64>()
            .map_err(|_| ConfigError(format!("--after: not an event id: {}", log::shown(id))))?,
        // "Now" is read once: every later ask starts from the same id, so
        // an event between two asks is never skipped.
        (None, true) => newest(&inbox)?,
        // The obvious script (send, then wait) must not miss what arrived
        // a moment before it: everything the inbox holds counts.
        (None, false) => 0,
    };
    let deadline = Instant::now() + Duration::from_secs(timeout.min(MAX_TIMEOUT));
    loop {
        // Whole seconds left, rounded up: 0.9 s left is one more second.
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_millis()
            .div_ceil(1000);
        let left = u64::try_from(left).unwrap_or(u64::MAX);
        let query = format!("after={after}&timeout={}{filters}", left.min(PER_REQUEST));
        let answer = ask(&inbox, &query)?;
        match answer.status {
            200 => {
                let mut out = answer.body;
                out.push(b'\n');
                let _ = std::io::stdout().write_all(&out);
                return Ok(ExitCode::SUCCESS);
            }
            // The server's bound per request: ask again, from the same id.
            204 if left > PER_REQUEST => {}
            204 => {
                super::say(&format!("wait: nothing matched within {timeout} s"));
                near_misses(&inbox, &flags);
                return Ok(ExitCode::from(1));
            }
            404 => return Err(not_an_inbox(&inbox)),
            code => {
                let text = String::from_utf8_lossy(&answer.body);
                return Err(ConfigError(format!(
                    "wait: the inbox answered {code}: {}",
                    log::shown(text.trim())
                )));
            }
        }
    }
}

/// `--inbox` as a base URL: `ADDR` or `http://ADDR`.
fn inbox_url(flag: Option<&str>, env: Env<'_>) -> Result<Url, ConfigError> {
    let from_env = env("COMM_TEST_INBOX").and_then(|v| v.into_string().ok());
    let given = flag
        .map(str::to_owned)
        .or(from_env.filter(|v| v != "off"))
        .unwrap_or_else(|| "127.0.0.1:8001".into());
    let url = if given.contains("://") {
        given.clone()
    } else {
        format!("http://{given}")
    };
    Url::parse(&url).map_err(|e| ConfigError(format!("--inbox {}: {e}", log::shown(&given))))
}

/// The filters as query parameters, each percent-encoded.
fn filters(flags: &crate::config::Flags) -> Result<String, ConfigError> {
    let mut q = String::new();
    use crate::journal::{ROUTES, VERDICTS};
    for (name, param, one_of) in [
        ("--route", "route", &ROUTES[..]),
        ("--verdict", "verdict", &VERDICTS[..]),
        ("--q", "q", &[][..]),
    ] {
        if let Some(v) = last(flags, name) {
            // A typo is said as such, before the inbox is asked.
            if !one_of.is_empty() && !one_of.contains(&v) {
                return Err(ConfigError(format!(
                    "{name} must be one of {}, not {}",
                    one_of.join(", "),
                    log::shown(v)
                )));
            }
            q.push_str(&format!("&{param}={}", percent_encode(v)));
        }
    }
    for (_, v) in flags.iter().filter(|(n, _)| n == "--attr") {
        let Some((name, value)) = v.split_once('=') else {
            return Err(ConfigError(format!(
                "--attr: NAME=VALUE, got {}",
                log::shown(v)
            )));
        };
        q.push_str(&format!(
            "&attr.{}={}",
            percent_encode(name),
            percent_encode(value)
        ));
    }
    Ok(q)
}

fn get(inbox: &Url, target: &str, wait: u64) -> Result<client::Answer, ConfigError> {
    let url = Url::parse(&format!("{}{target}", base(inbox)))
        .map_err(|e| ConfigError(format!("wait: {e}")))?;
    client::get(&url, MAX_EVENT, Duration::from_secs(wait + 10), &|_| Ok(())).map_err(|e| {
        ConfigError(format!(
            "wait: the inbox at {} cannot be reached: {e}",
            base(inbox)
        ))
    })
}

fn base(inbox: &Url) -> String {
    let full = inbox.full();
    full.trim_end_matches('/').to_owned()
}

fn ask(inbox: &Url, query: &str) -> Result<client::Answer, ConfigError> {
    get(inbox, &format!("/api/events/wait?{query}"), PER_REQUEST)
}

/// On a timeout, as WireMock's near misses: the newest events of the
/// route watched (at most 3), each with the first filter it failed and
/// the value that arrived. Nothing if the inbox cannot say.
fn near_misses(inbox: &Url, flags: &crate::config::Flags) {
    let route = last(flags, "--route")
        .map(|r| format!("&route={}", percent_encode(r)))
        .unwrap_or_default();
    let Ok(a) = get(inbox, &format!("/api/events?limit=3{route}"), 0) else {
        return;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&a.body) else {
        return;
    };
    let events = v.get("events").and_then(serde_json::Value::as_array);
    for e in events.into_iter().flatten() {
        let id = e.get("id").and_then(serde_json::Value::as_u64).unwrap_or(0);
        let route = e
            .get("route")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?");
        let verdict = e.get("verdict").and_then(serde_json::Value::as_str);
        super::say(&format!(
            "  near miss #{id} {route} {}: {}",
            verdict.unwrap_or("-"),
            missed_by(e, flags)
        ));
    }
}

/// The first filter `e` fails, with what arrived.
fn missed_by(e: &serde_json::Value, flags: &crate::config::Flags) -> String {
    let verdict = e.get("verdict").and_then(serde_json::Value::as_str);
    if let Some(want) = last(flags, "--verdict").filter(|w| Some(*w) != verdict) {
        return format!("verdict {}, not {want}", verdict.unwrap_or("none"));
    }
    for (_, v) in flags.iter().filter(|(n, _)| n == "--attr") {
        let Some((name, want)) = v.split_once('=') else {
            continue;
        };
        match e.pointer(&format!(
            "/claims/attributes/{}",
            name.replace('~', "~0").replace('/', "~1")
        )) {
            Some(got) if got.as_str() == Some(want) => {}
            Some(got) => {
                return format!(
                    "{}={}, not {}",
                    log::shown(name),
                    log::shown(got.as_str().unwrap_or("")),
                    log::shown(want)
                )
            }
            None => return format!("no attribute {}", log::shown(name)),
        }
    }
    match last(flags, "--q") {
        Some(q) => format!("does not mention {}", log::shown(q)),
        None => "matches now (it arrived after the last ask)".into(),
    }
}

/// The plugin's public listener (or anything else) answers 404 where an
/// inbox has its API.
fn not_an_inbox(inbox: &Url) -> ConfigError {
    ConfigError(format!(
        "wait: {} is not an inbox (it answered 404 to the inbox's API; the public listener?): \
         give --inbox the inbox's address, 127.0.0.1:8001 unless the server was given --inbox",
        base(inbox)
    ))
}

/// The newest id the inbox holds now.
fn newest(inbox: &Url) -> Result<u64, ConfigError> {
    let a = get(inbox, "/api/events?limit=1", 0)?;
    if a.status == 404 {
        return Err(not_an_inbox(inbox));
    }
    serde_json::from_slice::<serde_json::Value>(&a.body)
        .ok()
        .and_then(|v| v.get("last_id").and_then(serde_json::Value::as_u64))
        .ok_or_else(|| {
            ConfigError(format!(
                "wait: {} answered {} to /api/events without an inbox's listing",
                base(inbox),
                a.status
            ))
        })
}
