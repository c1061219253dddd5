//! `comm-test`: flags, start-up, and the `decode` subcommand. Exit codes:
//! 0 success, 1 token rejected (`decode`), 2 bad usage or configuration.
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;

use comm_test::config::{self, Config, ConfigError, Settings};
use comm_test::jose::{self, Policy};
use comm_test::{http, routes};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", config::usage());
        return ExitCode::SUCCESS;
    }
    let env = |name: &str| std::env::var(name).ok();
    let result = match args.split_first() {
        Some((cmd, rest)) if cmd == "decode" => decode(rest, &env),
        _ => serve(&args, &env),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("comm-test: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<ExitCode, ConfigError> {
    let config = Config::from_args(args, env)?;
    let listener = std::net::TcpListener::bind(&config.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| ConfigError(format!("--listen {}: {e}", config.listen)))?;
    if config.test_keys {
        eprintln!(
            "comm-test: WARNING: using the built-in PUBLIC ID Contact test keys; \
             anyone can mint tokens this server accepts. Pass --decryption-key and --signature-key for real keys."
        );
    }
    for k in &config.keys.decryption {
        eprintln!(
            "comm-test: decryption key {} kid={} fingerprint={}",
            k.algorithm().name(),
            k.kid(),
            k.fingerprint()
        );
    }
    for k in &config.keys.verification {
        eprintln!(
            "comm-test: signature key {} kid={} fingerprint={}",
            k.algorithm().name(),
            k.kid(),
            k.fingerprint()
        );
    }
    let limits = http::Limits {
        read_timeout: config.read_timeout,
        max_connections: config.max_connections,
        max_body: config.max_body,
    };
    let workers = config.workers;
    let app = routes::App::new(config);
    match listener.local_addr() {
        Ok(addr) => eprintln!("comm-test: listening on http://{addr}"),
        Err(_) => eprintln!("comm-test: listening"),
    }
    // Each worker is the same single-threaded loop on a clone of the
    // listener; each registers its own signal pipes, so a signal stops all.
    let stop = std::thread::scope(|scope| {
        for _ in 1..workers {
            let Ok(l) = listener.try_clone() else {
                return Err(std::io::Error::other(
                    "cannot share the listener with another worker",
                ));
            };
            // A failed loop ends the process rather than leave it half-serving.
            scope.spawn(|| {
                if let Err(e) = http::serve(l, &app, limits) {
                    eprintln!("comm-test: server loop failed: {e}");
                    std::process::exit(1);
                }
            });
        }
        http::serve(listener, &app, limits)
    });
    match stop {
        Ok(signal) => {
            eprintln!("comm-test: stopping on {}", signal.name());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("comm-test: server loop failed: {e}");
            std::process::exit(1);
        }
    }
}

/// `comm-test decode`: the server's decoding, offline, as one JSON document.
fn decode(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<ExitCode, ConfigError> {
    let (flags, positional) = config::collect_flags(
        args,
        &["--clock", "--leeway", "--decryption-key", "--signature-key"],
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
    let settings = Settings::new(&flags, env);
    let (keys, _) = settings.keys()?;
    let policy = Policy::for_keys(&keys, settings.leeway()?);
    let now = settings.clock()?.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
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
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Err(r) => {
            eprintln!("rejected: {r}");
            Ok(ExitCode::from(1))
        }
    }
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
