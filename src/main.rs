//! `comm-test`: flags, start-up, and the `decode` subcommand. Exit codes:
//! 0 success, 1 token rejected (`decode`), 2 bad usage or configuration.
//! Nothing here may panic on output: a closed stdout or stderr is ignored.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use comm_test::config::{self, Config, ConfigError, Inbox, Settings};
use comm_test::http;
use comm_test::jose::mint::{ClaimsSpec, EncryptionKey, SigningKey};
use comm_test::jose::{self, Policy};
use comm_test::jose::{Profile, Status};
use comm_test::log;
use comm_test::{client, date, probe, routes, suite};

/// Writes to stderr directly (before the log runs, or for `decode`).
fn say(text: &str) {
    let _ = std::io::stderr().write_all(format!("comm-test: {text}\n").as_bytes());
}

fn main() -> ExitCode {
    let mut args = Vec::new();
    for (i, a) in std::env::args_os().skip(1).enumerate() {
        match a.into_string() {
            Ok(a) => args.push(a),
            Err(_) => {
                say(&format!("argument {} is not UTF-8", i + 1));
                return ExitCode::from(2);
            }
        }
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        let _ = std::io::stdout().write_all(config::usage().as_bytes());
        return ExitCode::SUCCESS;
    }
    let env = |name: &str| std::env::var_os(name);
    let result = match args.split_first() {
        Some((cmd, rest)) if cmd == "decode" => decode(rest, &env),
        Some((cmd, rest)) if cmd == "mint" => mint(rest),
        Some((cmd, rest)) if cmd == "probe" => probe(rest),
        _ => serve(&args, &env),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            say(&e.to_string());
            ExitCode::from(2)
        }
    }
}

fn serve(args: &[String], env: &dyn Fn(&str) -> Option<OsString>) -> Result<ExitCode, ConfigError> {
    let config = Config::from_args(args, env)?;
    // Before any thread starts: see `http/listen.rs`.
    http::listen::reserve_descriptors(config.max_connections.saturating_mul(config.workers) + 64);
    let backlog = config.max_connections;
    let listener = http::listen::bind(&config.listen, backlog)
        .map_err(|e| ConfigError(format!("--listen {}: {e}", config.listen)))?;
    // The inbox: its own address, never the public one. The default that
    // cannot be bound is a note; an address asked for is an error.
    let mut inbox_note = None;
    let inbox = match &config.inbox {
        Inbox::Off => None,
        Inbox::Default(addr) | Inbox::Explicit(addr) => match http::listen::bind(addr, backlog) {
            Ok(l) => Some(l),
            Err(e) if matches!(config.inbox, Inbox::Explicit(_)) => {
                return Err(ConfigError(format!("--inbox {addr}: {e}")));
            }
            Err(e) => {
                inbox_note = Some(format!(
                        "inbox not started: default address {addr}: {e} (give --inbox ADDR, or --inbox off)"
                    ));
                None
            }
        },
    };
    log::init(config.log_format);
    if let Some(note) = inbox_note {
        log::message(&note);
    }
    if let Some(addr) = inbox.as_ref().and_then(|l| l.local_addr().ok()) {
        if !addr.ip().is_loopback() {
            log::message(&format!(
                "WARNING: the inbox on {addr} is not on loopback; it shows every result's personal data to whoever reaches it"
            ));
        }
        log::message(&format!("inbox on http://{addr}"));
    }
    if let Some(r) = &config.rocket {
        log::message(&format!(
            "configuration from {} (Rocket profile {}), under our flags and COMM_TEST_* variables",
            r.file, r.profile
        ));
        if !r.ignored.is_empty() {
            log::message(&format!(
                "ignored in {}: {} (they configure Rocket, which we are not)",
                r.file,
                r.ignored.join(", ")
            ));
        }
    }
    if config.test_keys {
        log::message(
            "WARNING: using the built-in PUBLIC ID Contact test keys; \
             anyone can mint tokens this server accepts. Pass --decryption-key and --signature-key for real keys.",
        );
    }
    for k in &config.keys.decryption {
        log::message(&format!(
            "decryption key {} kid={} fingerprint={}",
            k.algorithm().name(),
            k.kid(),
            k.fingerprint()
        ));
    }
    for k in &config.keys.verification {
        log::message(&format!(
            "signature key {} kid={} fingerprint={}",
            k.algorithm().name(),
            k.kid(),
            k.fingerprint()
        ));
    }
    let limits = http::Limits {
        read_timeout: config.read_timeout,
        idle_timeout: config.idle_timeout,
        max_connections: config.max_connections,
        max_body: config.max_body,
    };
    let workers = config.workers;
    let listening = routes::Listening {
        public: listener.local_addr().into_iter().collect(),
        inbox: inbox.as_ref().and_then(|l| l.local_addr().ok()),
    };
    let app = routes::App::new(config, &listening);
    // Each worker is the same single-threaded loop on a clone of the
    // listener; the inbox has a loop and a thread of its own, so nothing
    // it does delays a citizen. Every loop is made before any serves, so
    // none can fail to start once clients hold descriptors; each has its
    // own signal pipes, so a signal stops all.
    let balance = http::Balance::new(workers);
    let inbox_balance = http::Balance::new(1);
    let made = (|| -> std::io::Result<_> {
        let inbox = match inbox {
            Some(i) => Some(http::Loop::new(
                i,
                routes::Listener::Inbox,
                &app,
                limits,
                (&inbox_balance, 0),
            )?),
            None => None,
        };
        let mut public = Vec::with_capacity(workers);
        for w in 0..workers {
            let l = listener.try_clone()?;
            public.push(http::Loop::new(
                l,
                routes::Listener::Public,
                &app,
                limits,
                (&balance, w),
            )?);
        }
        Ok((inbox, public))
    })();
    let (inbox_loop, public) = match made {
        Ok(m) => m,
        Err(e) => return Err(ConfigError(format!("cannot start serving: {e}"))),
    };
    match listener.local_addr() {
        Ok(addr) => log::message(&format!("listening on http://{addr}")),
        Err(_) => log::message("listening"),
    }
    let stop = std::thread::scope(|scope| {
        // A failed loop ends the process rather than leave it half-serving.
        let fail = |e: std::io::Error| {
            log::message(&format!("server loop failed: {e}"));
            log::flush(Duration::from_millis(200));
            std::process::exit(1);
        };
        if let Some(l) = inbox_loop {
            std::thread::Builder::new()
                .name("inbox".into())
                .stack_size(256 * 1024)
                .spawn_scoped(scope, move || {
                    if let Err(e) = l.run() {
                        fail(e);
                    }
                })?;
        }
        let mut loops = public.into_iter();
        let Some(first) = loops.next() else {
            return Err(std::io::Error::other("no public loop"));
        };
        for l in loops {
            scope.spawn(move || {
                if let Err(e) = l.run() {
                    fail(e);
                }
            });
        }
        first.run()
    });
    match stop {
        Ok(signal) => {
            log::message(&format!("stopping on {}", signal.name()));
            log::flush(Duration::from_millis(200));
            // Other workers' loops stop on the same signal; do not wait
            // for a writer stuck on a stalled stderr.
            std::process::exit(0);
        }
        Err(e) => {
            log::message(&format!("server loop failed: {e}"));
            log::flush(Duration::from_millis(200));
            std::process::exit(1);
        }
    }
}

/// `comm-test decode`: the server's decoding, offline, as one JSON document.
fn decode(
    args: &[String],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<ExitCode, ConfigError> {
    let (flags, positional) = config::collect_flags(
        args,
        &[
            "--clock",
            "--leeway",
            "--decryption-key",
            "--signature-key",
            "--profile",
            "--config",
        ],
    )?;
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
    match jose::decode(token.trim(), &keys, &policy, now) {
        Ok(d) => {
            let header =
                |json: &[u8]| serde_json::from_slice::<serde_json::Value>(json).unwrap_or_default();
            let doc = serde_json::json!({
                "outer_header": header(&d.outer_header),
                "inner_header": header(&d.inner_header),
                "claims": d.claims,
                "decrypted_with": d.decrypted_with.to_string(),
                "verified_with": d.verified_with.to_string(),
            });
            let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
            out.push('\n');
            let _ = std::io::stdout().write_all(out.as_bytes());
            Ok(ExitCode::SUCCESS)
        }
        Err(r) => {
            let _ = std::io::stderr().write_all(format!("rejected: {r}\n").as_bytes());
            Ok(ExitCode::from(1))
        }
    }
}

fn profile_flag(flags: &[(String, String)]) -> Result<Profile, ConfigError> {
    match flags.iter().rev().find(|(n, _)| n == "--profile") {
        None => Ok(Profile::IdContact),
        Some((_, v)) => Profile::parse(v).ok_or_else(|| {
            ConfigError(format!(
                "--profile: expected id-contact or verder-helpen, got {}",
                log::shown(v)
            ))
        }),
    }
}

fn last<'f>(flags: &'f [(String, String)], name: &str) -> Option<&'f str> {
    flags
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn number(flags: &[(String, String)], name: &str, default: u64) -> Result<u64, ConfigError> {
    match last(flags, name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ConfigError(format!("{name}: not a whole number: {}", log::shown(v)))),
    }
}

/// `comm-test mint`: one token on standard output, or `--suite DIR`.
fn mint(args: &[String]) -> Result<ExitCode, ConfigError> {
    let (flags, positional) = config::collect_flags(
        args,
        &[
            "--attr",
            "--status",
            "--session-url",
            "--iat",
            "--exp-in",
            "--profile",
            "--encrypt-to",
            "--sign-with",
            "--kid",
            "--suite",
        ],
    )?;
    if let Some(p) = positional.first() {
        return Err(ConfigError(format!(
            "mint: unexpected argument {}",
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
        let ec_to = EncryptionKey::from_pem(config::TEST_EC_PUBLIC)
            .map_err(|e| ConfigError(format!("built-in EC key: {e}")))?;
        let keys = suite::Keys { signer, to, ec_to };
        let cases = suite::cases(&keys, profile, now)
            .map_err(|e| ConfigError(format!("mint --suite: {e}")))?;
        suite::write(std::path::Path::new(dir), &cases, profile, now)
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
        return Ok(ExitCode::SUCCESS);
    }
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
    let status = match last(&flags, "--status") {
        None => None,
        Some("succes") => Some(Status::Succes),
        Some("success") => Some(Status::Success),
        Some("failed") => Some(Status::Failed),
        Some(v) => {
            return Err(ConfigError(format!(
                "--status: expected succes, success or failed, got {}",
                log::shown(v)
            )))
        }
    };
    let spec = ClaimsSpec {
        profile,
        status,
        attributes,
        session_url: last(&flags, "--session-url").map(String::from),
        iat: number(&flags, "--iat", now)?,
        exp_in: number(&flags, "--exp-in", 300)?,
    };
    let token = comm_test::jose::mint::result(&spec.to_json(), &signer, &to, last(&flags, "--kid"))
        .map_err(|e| ConfigError(format!("mint: {e}")))?;
    let _ = std::io::stdout().write_all(format!("{token}\n").as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// `comm-test probe ATTR_URL`: the suite against another plugin.
fn probe(args: &[String]) -> Result<ExitCode, ConfigError> {
    // `--json` is the one flag without a value.
    let json = args.iter().any(|a| a == "--json");
    let rest: Vec<String> = args.iter().filter(|a| *a != "--json").cloned().collect();
    let (flags, positional) = config::collect_flags(&rest, &["--suite", "--profile"])?;
    let [target] = positional.as_slice() else {
        return Err(ConfigError(
            "probe takes one ATTR_URL (e.g. http://127.0.0.1:8000/auth_result)".into(),
        ));
    };
    let url = client::Url::parse(target)
        .map_err(|e| ConfigError(format!("{}: {e}", log::shown(target))))?;
    let cases = match last(&flags, "--suite") {
        Some(dir) => suite::read(std::path::Path::new(dir)).map_err(ConfigError)?,
        None => {
            let keys = suite::Keys {
                signer: SigningKey::from_pem(config::TEST_RSA_PRIVATE)
                    .map_err(|e| ConfigError(e.to_string()))?,
                to: EncryptionKey::from_pem(config::TEST_RSA_PUBLIC)
                    .map_err(|e| ConfigError(e.to_string()))?,
                ec_to: EncryptionKey::from_pem(config::TEST_EC_PUBLIC)
                    .map_err(|e| ConfigError(e.to_string()))?,
            };
            suite::cases(&keys, profile_flag(&flags)?, date::unix_now())
                .map_err(|e| ConfigError(format!("probe: {e}")))?
        }
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

fn read_stdin() -> Result<String, ConfigError> {
    let mut s = String::new();
    std::io::stdin()
        .take(jose::MAX_TOKEN_LEN as u64 + 1024)
        .read_to_string(&mut s)
        .map_err(|e| {
            ConfigError(format!(
                "reading the token from standard input: {}",
                e.kind()
            ))
        })?;
    Ok(s)
}
