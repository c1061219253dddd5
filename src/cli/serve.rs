//! `comm-test` (no subcommand): the server. Binds, says once what it runs
//! with, makes every loop before any serves, then serves until a signal.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use crate::app::{App, Listening};
use crate::config::{Config, ConfigError, Env, Inbox};
use crate::{http, inbox, journal, log, plugin};

/// The first line of `HELP`.
pub const USAGE: &str = "usage: comm-test [OPTIONS]";

pub const HELP: &str = "usage: comm-test [OPTIONS]

Serves the ID Contact communication plugin API on --listen and the tester's
inbox on --inbox. Options below; every one also reads its environment
variable. Example:

  comm-test --clock 2021-03-16T07:30:00Z --session-feedback auth-test:8000

";

pub fn run(args: &[String], env: Env<'_>) -> Result<ExitCode, ConfigError> {
    let mut config = Config::from_args(args, env)?;
    // Before any thread starts: see `http/listen.rs`.
    http::listen::reserve_descriptors(
        (config.max_connections.saturating_mul(config.workers) + 64)
            .min(http::listen::RESERVE_AT_MOST),
    );
    let (listener, inbox, inbox_note) = bind(&config)?;
    let bound = listener
        .local_addr()
        .map_err(|e| ConfigError(format!("--listen {}: {e}", config.listen)))?;
    config.follow_listener(bound);
    log::init(config.log_format);
    log_start(&config, bound, inbox.as_ref(), inbox_note);
    let limits = http::Limits {
        read_timeout: config.read_timeout,
        idle_timeout: config.idle_timeout,
        max_connections: config.max_connections,
        max_body: config.max_body,
    };
    let workers = config.workers;
    let listening = Listening {
        public: listener.local_addr().into_iter().collect(),
        inbox: inbox.as_ref().and_then(|l| l.local_addr().ok()),
    };
    // Opened before serving (a bad path is exit 2, and the next id comes
    // from its last line); its events are read back after, off the loops.
    let journal_file = match (&config.journal_file, listening.inbox) {
        (Some(path), Some(_)) => Some((
            path.clone(),
            journal::file::open(path).map_err(ConfigError)?,
        )),
        _ => None,
    };
    let app = App::new(config, &listening);
    if let Some((path, opened)) = journal_file {
        app.keep_journal_in(path, opened);
    }
    let balances = (http::Balance::new(workers), http::Balance::new(1));
    let services = (app.public(), app.inbox());
    let loops = make_loops(&services, limits, &listener, inbox, workers, &balances)
        .map_err(|e| ConfigError(format!("cannot start serving: {e}")))?;
    match listener.local_addr() {
        Ok(addr) => log::message(&format!("listening on http://{addr}")),
        Err(_) => log::message("listening"),
    }
    let stopped = run_loops(loops);
    let (line, code) = match stopped {
        Ok(signal) => (format!("stopping on {}", signal.name()), 0),
        Err(e) => (format!("server loop failed: {e}"), 1),
    };
    log::message(&line);
    log::flush(Duration::from_millis(200));
    // Other loops stop on the same signal; do not wait for a writer stuck
    // on a stalled stderr.
    std::process::exit(code)
}

/// The public listener, and the inbox's: its own address, never the
/// public one. The default that cannot be bound is a note; an address
/// asked for is an error.
fn bind(
    config: &Config,
) -> Result<(TcpListener, Option<TcpListener>, Option<String>), ConfigError> {
    let backlog = config.max_connections;
    let listener = http::listen::bind(&config.listen, backlog)
        .map_err(|e| ConfigError(format!("--listen {}: {e}", config.listen)))?;
    let (inbox, note) = match &config.inbox {
        Inbox::Off => (None, None),
        Inbox::Default(addr) | Inbox::Explicit(addr) => match http::listen::bind(addr, backlog) {
            Ok(l) => (Some(l), None),
            Err(e) if matches!(config.inbox, Inbox::Explicit(_)) => {
                return Err(ConfigError(format!("--inbox {addr}: {e}")));
            }
            Err(e) => (
                None,
                Some(format!(
                    "inbox not started: default address {addr}: {e} (give --inbox ADDR, or --inbox off)"
                )),
            ),
        },
    };
    Ok((listener, inbox, note))
}

/// The effective settings, one line: what a tester checks first when a
/// fresh token is refused (a fixed clock) or a URL is not the one expected.
fn settings_line(config: &Config, bound: std::net::SocketAddr) -> String {
    let attr_url = if config.use_attr_url {
        format!("{}/auth_result", config.internal_url)
    } else {
        "not offered".into()
    };
    let clock = config.clock.map_or("the system clock".into(), |t| {
        format!("fixed at {} (--clock)", crate::date::rfc3339(t))
    });
    let feedback = config
        .session_feedback
        .as_ref()
        .map_or("off".into(), ToString::to_string);
    format!(
        "settings: listener {bound}, server URL {server} (client_url {server}/ui), \
         internal URL {} (attr_url {attr_url}), profile {}, clock {clock}, leeway {} s, \
         workers {}, ui {}, replays {}, session feedback {feedback}, journal {} events",
        config.internal_url,
        config.profile.name(),
        config.leeway,
        config.workers,
        match config.ui {
            crate::config::UiMode::Text => "text",
            crate::config::UiMode::Html => "html",
        },
        if config.reject_replays {
            "refused (409)"
        } else {
            "logged"
        },
        config.journal_size,
        server = config.server_url,
    ) + &faults_said(&config.faults)
}

/// `, faults: ui status 503 (2 more), …`: a plugin set to misbehave says
/// so where an operator looks first.
fn faults_said(faults: &[crate::faults::Fault]) -> String {
    if faults.is_empty() {
        return String::new();
    }
    let each: Vec<String> = faults
        .iter()
        .map(|f| format!("{} {}", f.route.name(), f.describe()))
        .collect();
    format!(", faults: {}", each.join("; "))
}

/// The fingerprints of the ID Contact test keys everyone has (RSA and
/// P-256), as `keys/` holds them.
const PUBLISHED_KEYS: [&str; 2] = ["f39b64a429a25336", "e9615783bb954f38"];

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// What the server runs with, once, at start.
fn log_start(
    config: &Config,
    bound: std::net::SocketAddr,
    inbox: Option<&TcpListener>,
    inbox_note: Option<String>,
) {
    log::message(&settings_line(config, bound));
    if let Some(note) = inbox_note {
        log::message(&note);
    }
    if let Some(addr) = inbox.and_then(|l| l.local_addr().ok()) {
        if !addr.ip().is_loopback() {
            log::message(&format!(
                "WARNING: the inbox on {addr} is not on loopback; it shows every result's personal data to whoever reaches it"
            ));
        }
        log::message(&format!("inbox on http://{addr}"));
        if bound.ip().is_unspecified() && addr.ip().is_loopback() {
            log::message(&format!(
                "the inbox is on loopback ({addr}) while the public listener is on {bound}: \
                 to reach it from outside this host or container, start with --inbox 0.0.0.0:{} \
                 (COMM_TEST_INBOX) and publish that port to 127.0.0.1 (-p 127.0.0.1:8001:{})",
                addr.port(),
                addr.port()
            ));
        }
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
    // The published keys warn wherever they came from: the built-in
    // defaults, a flag, or a configuration file (the original's sample
    // carries them).
    let published: Vec<String> = config
        .keys
        .decryption
        .iter()
        .map(|k| k.fingerprint().to_string())
        .chain(
            config
                .keys
                .verification
                .iter()
                .map(|k| k.fingerprint().to_string()),
        )
        .filter(|f| PUBLISHED_KEYS.contains(&f.as_str()))
        .collect();
    if !published.is_empty() {
        let whence = if config.test_keys { "built-in " } else { "" };
        // Told where this user configures keys: their Rocket file, or flags.
        let fix = match &config.rocket {
            Some(r) if !config.test_keys && r.file != crate::config::rocket::ENV_ONLY => format!(
                "Set decryption_privkey and signature_pubkey in {} (or pass --decryption-key and --signature-key) for real keys.",
                r.file
            ),
            _ => "Pass --decryption-key and --signature-key for real keys.".to_owned(),
        };
        log::message(&format!(
            "WARNING: using the {whence}PUBLIC ID Contact test keys (fingerprint {}); \
             anyone can mint tokens this server accepts. {fix}",
            dedup(published).join(", ")
        ));
    }
    let decryption = config
        .keys
        .decryption
        .iter()
        .map(|k| ("decryption", k.algorithm().name(), k.kid(), k.fingerprint()));
    let signature = config
        .keys
        .verification
        .iter()
        .map(|k| ("signature", k.algorithm().name(), k.kid(), k.fingerprint()));
    for (role, alg, kid, fingerprint) in decryption.chain(signature) {
        log::message(&format!(
            "{role} key {alg} kid={kid} fingerprint={fingerprint}"
        ));
    }
}

type Services<'a> = (plugin::PublicService<'a>, inbox::InboxService<'a>);
type Loops<'a> = (
    Option<http::Loop<'a, inbox::InboxService<'a>>>,
    Vec<http::Loop<'a, plugin::PublicService<'a>>>,
);

/// Every loop, made before any serves, so none can fail to start once
/// clients hold descriptors: the inbox's, and one per public worker on a
/// clone of the listener.
fn make_loops<'a>(
    (public_service, inbox_service): &'a Services<'a>,
    limits: http::Limits,
    listener: &TcpListener,
    inbox: Option<TcpListener>,
    workers: usize,
    (balance, inbox_balance): &'a (http::Balance, http::Balance),
) -> std::io::Result<Loops<'a>> {
    let inbox = match inbox {
        Some(i) => Some(http::Loop::new(
            i,
            inbox_service,
            limits,
            (inbox_balance, 0),
        )?),
        None => None,
    };
    let mut public = Vec::with_capacity(workers);
    for w in 0..workers {
        let l = listener.try_clone()?;
        public.push(http::Loop::new(l, public_service, limits, (balance, w))?);
    }
    Ok((inbox, public))
}

/// Runs the inbox's loop on a thread of its own (nothing it does delays a
/// citizen), the public workers on theirs and the first on this one, until
/// a signal stops them all (each loop has its own signal pipes).
fn run_loops((inbox, public): Loops<'_>) -> std::io::Result<http::Stop> {
    std::thread::scope(|scope| {
        // A failed loop ends the process rather than leave it half-serving.
        let fail = |e: std::io::Error| {
            log::message(&format!("server loop failed: {e}"));
            log::flush(Duration::from_millis(200));
            std::process::exit(1);
        };
        if let Some(l) = inbox {
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
    })
}
