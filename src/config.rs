//! Settings from flags and environment variables (flags win), and the keys
//! they name, read and parsed once at start-up. Every error is one line for
//! an operator and names the setting, never the key material.

use std::fmt;
use std::time::Duration;

use crate::jose::{self, DecryptionKey, KeySet, VerificationKey};

/// The published ID Contact test keys, built in so the binary runs anywhere
/// on its defaults. Public test material: never for production.
const TEST_KEYS: [(&str, &str); 2] = [
    (
        include_str!("../keys/idcontact-test-rsa.key.pem"),
        include_str!("../keys/idcontact-test-rsa.pub.pem"),
    ),
    (
        include_str!("../keys/idcontact-test-ec.key.pem"),
        include_str!("../keys/idcontact-test-ec.pub.pem"),
    ),
];

pub struct Config {
    pub listen: String,
    pub server_url: String,
    pub internal_url: String,
    pub use_attr_url: bool,
    pub keys: KeySet,
    /// True when the built-in public test keys are in use.
    pub test_keys: bool,
    pub clock: Option<u64>,
    pub leeway: u64,
    pub read_timeout: Duration,
    pub max_connections: usize,
    pub max_body: usize,
    pub reject_replays: bool,
    pub workers: usize,
}

/// One line for the operator; `main` prints it and exits 2.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// `(flag, environment variable, value name, default, help)`, the single
/// source for parsing and for `--help`.
pub const OPTIONS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "--listen",
        "COMM_TEST_LISTEN",
        "ADDR",
        "127.0.0.1:8000",
        "address and port to listen on",
    ),
    (
        "--server-url",
        "COMM_TEST_SERVER_URL",
        "URL",
        "http://localhost:8000",
        "public base URL; client_url is <URL>/ui",
    ),
    (
        "--internal-url",
        "COMM_TEST_INTERNAL_URL",
        "URL",
        "the server URL",
        "base URL the core reaches; attr_url is <URL>/auth_result",
    ),
    (
        "--use-attr-url",
        "COMM_TEST_USE_ATTR_URL",
        "BOOL",
        "true",
        "offer attr_url in start_communication answers",
    ),
    (
        "--decryption-key",
        "COMM_TEST_DECRYPTION_KEYS",
        "[KID=]FILE",
        "built-in test keys",
        "private key PEM for the outer JWE; repeatable (env: comma-separated)",
    ),
    (
        "--signature-key",
        "COMM_TEST_SIGNATURE_KEYS",
        "[KID=]FILE",
        "built-in test keys",
        "public key PEM for the inner JWS; repeatable (env: comma-separated)",
    ),
    (
        "--clock",
        "COMM_TEST_CLOCK",
        "UNIX_SECONDS",
        "the system clock",
        "validate tokens at this fixed time (replaying captured tokens)",
    ),
    (
        "--leeway",
        "COMM_TEST_LEEWAY",
        "SECONDS",
        "60",
        "clock skew allowed for exp, nbf and iat",
    ),
    (
        "--read-timeout",
        "COMM_TEST_READ_TIMEOUT",
        "SECONDS",
        "10",
        "time a client has to send a whole request",
    ),
    (
        "--max-connections",
        "COMM_TEST_MAX_CONNECTIONS",
        "N",
        "64",
        "connections served at once; more wait in the backlog",
    ),
    (
        "--max-body",
        "COMM_TEST_MAX_BODY",
        "BYTES",
        "65536",
        "largest request body accepted",
    ),
    (
        "--reject-replays",
        "COMM_TEST_REJECT_REPLAYS",
        "BOOL",
        "false",
        "answer 409 to a token accepted before (default: log it)",
    ),
    (
        "--workers",
        "COMM_TEST_WORKERS",
        "N",
        "1",
        "request-handling loops; 1 keeps the server single-threaded",
    ),
];

pub fn usage() -> String {
    let mut s = String::from(
        "comm-test: the ID Contact test communication plugin\n\n\
         usage: comm-test [OPTIONS]\n       \
         comm-test decode [--clock T] [--leeway S] [--decryption-key F]... [--signature-key F]... [TOKEN | -]\n\n\
         options (flag, environment variable, default):\n",
    );
    for (flag, env, value, default, help) in OPTIONS {
        s.push_str(&format!(
            "  {flag} {value}\n      {help}\n      env {env}; default: {default}\n"
        ));
    }
    s.push_str("  --help\n      this text\n");
    s
}

/// `(flag, value)` in command-line order.
pub type Flags = Vec<(String, String)>;

/// Collects `--flag VALUE` / `--flag=VALUE` pairs; later flags append.
/// Returns the remaining positional arguments.
pub fn collect_flags(
    args: &[String],
    allowed: &[&str],
) -> Result<(Flags, Vec<String>), ConfigError> {
    let mut flags = Vec::new();
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "-" || !arg.starts_with('-') {
            positional.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        if !allowed.contains(&name) {
            return err(format!("unknown option {name} (see --help)"));
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| ConfigError(format!("{name} needs a value")))?,
        };
        flags.push((name.to_owned(), value));
    }
    Ok((flags, positional))
}

/// Looks a setting up: the flags (all occurrences) or else the environment.
pub struct Settings<'a> {
    flags: &'a [(String, String)],
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Settings<'a> {
    pub fn new(flags: &'a [(String, String)], env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Settings { flags, env }
    }

    fn env_name(flag: &str) -> &'static str {
        OPTIONS.iter().find(|o| o.0 == flag).map_or("", |o| o.1)
    }

    fn all(&self, flag: &str) -> Vec<String> {
        let from_flags: Vec<String> = self
            .flags
            .iter()
            .filter(|(n, _)| n == flag)
            .map(|(_, v)| v.clone())
            .collect();
        if !from_flags.is_empty() {
            return from_flags;
        }
        (self.env)(Self::env_name(flag))
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn one(&self, flag: &str) -> Option<String> {
        let last = self
            .flags
            .iter()
            .rev()
            .find(|(n, _)| n == flag)
            .map(|(_, v)| v.clone());
        last.or_else(|| (self.env)(Self::env_name(flag)))
    }

    fn number<T: std::str::FromStr>(&self, flag: &str, default: T) -> Result<T, ConfigError> {
        match self.one(flag) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| ConfigError(format!("{flag}: not a number: {v:?}"))),
        }
    }

    fn boolean(&self, flag: &str, default: bool) -> Result<bool, ConfigError> {
        match self.one(flag).as_deref().map(str::trim) {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(v) => err(format!("{flag}: expected true or false, got {v:?}")),
        }
    }

    pub fn clock(&self) -> Result<Option<u64>, ConfigError> {
        self.one("--clock")
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| ConfigError(format!("--clock: not Unix seconds: {v:?}")))
            })
            .transpose()
    }

    pub fn leeway(&self) -> Result<u64, ConfigError> {
        self.number("--leeway", jose::DEFAULT_LEEWAY)
    }

    /// The configured keys, or the built-in test keys when none are named.
    pub fn keys(&self) -> Result<(KeySet, bool), ConfigError> {
        let (dec, sig) = (self.all("--decryption-key"), self.all("--signature-key"));
        if dec.is_empty() && sig.is_empty() {
            let mut keys = KeySet::default();
            for (private, public) in TEST_KEYS {
                let bad = |e| ConfigError(format!("built-in test key: {e}"));
                keys.decryption
                    .push(DecryptionKey::from_pem(private, None).map_err(bad)?);
                keys.verification
                    .push(VerificationKey::from_pem(public, None).map_err(bad)?);
            }
            return Ok((keys, true));
        }
        if dec.is_empty() || sig.is_empty() {
            return err("give both --decryption-key and --signature-key, or neither for the built-in test keys");
        }
        let load = |flag: &str, spec: &str| -> Result<(Option<String>, String), ConfigError> {
            let (kid, path) = match spec.split_once('=') {
                Some((kid, path)) if !kid.is_empty() => (Some(kid.to_owned()), path),
                _ => (None, spec),
            };
            let pem = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("{flag} {path}: cannot read: {}", e.kind())))?;
            Ok((kid, pem))
        };
        let mut keys = KeySet::default();
        for spec in &dec {
            let (kid, pem) = load("--decryption-key", spec)?;
            keys.decryption.push(
                DecryptionKey::from_pem(&pem, kid)
                    .map_err(|e| ConfigError(format!("--decryption-key {spec}: {e}")))?,
            );
        }
        for spec in &sig {
            let (kid, pem) = load("--signature-key", spec)?;
            keys.verification.push(
                VerificationKey::from_pem(&pem, kid)
                    .map_err(|e| ConfigError(format!("--signature-key {spec}: {e}")))?,
            );
        }
        Ok((keys, false))
    }
}

fn check_url(flag: &str, url: String) -> Result<String, ConfigError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !url.contains(char::is_whitespace) => {
            Ok(url.trim_end_matches('/').to_owned())
        }
        _ => err(format!(
            "{flag}: expected an http:// or https:// URL, got {url:?}"
        )),
    }
}

impl Config {
    pub fn from_args(
        args: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let names: Vec<&str> = OPTIONS.iter().map(|o| o.0).collect();
        let (flags, positional) = collect_flags(args, &names)?;
        if let Some(p) = positional.first() {
            return err(format!("unexpected argument {p:?} (see --help)"));
        }
        let s = Settings::new(&flags, env);
        let server_url = check_url(
            "--server-url",
            s.one("--server-url")
                .unwrap_or_else(|| "http://localhost:8000".into()),
        )?;
        let internal_url = match s.one("--internal-url") {
            Some(u) => check_url("--internal-url", u)?,
            None => server_url.clone(),
        };
        let (keys, test_keys) = s.keys()?;
        let positive = |flag: &str, v: usize| {
            if v == 0 {
                err(format!("{flag} must be at least 1"))
            } else {
                Ok(v)
            }
        };
        let timeout: u64 = s.number("--read-timeout", 10)?;
        Ok(Config {
            listen: s.one("--listen").unwrap_or_else(|| "127.0.0.1:8000".into()),
            server_url,
            internal_url,
            use_attr_url: s.boolean("--use-attr-url", true)?,
            keys,
            test_keys,
            clock: s.clock()?,
            leeway: s.leeway()?,
            read_timeout: Duration::from_secs(positive(
                "--read-timeout",
                usize::try_from(timeout).unwrap_or(usize::MAX),
            )? as u64),
            max_connections: positive("--max-connections", s.number("--max-connections", 64)?)?,
            max_body: positive("--max-body", s.number("--max-body", 64 * 1024)?)?,
            reject_replays: s.boolean("--reject-replays", false)?,
            workers: positive("--workers", s.number("--workers", 1)?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Config::from_args(&args, &|_| None)
    }

    #[test]
    fn defaults_work_with_no_files() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8000");
        assert_eq!(
            (c.server_url.as_str(), c.internal_url.as_str()),
            ("http://localhost:8000", "http://localhost:8000")
        );
        assert!(c.use_attr_url && c.test_keys && !c.reject_replays);
        assert_eq!((c.keys.decryption.len(), c.keys.verification.len()), (2, 2));
        assert_eq!((c.clock, c.leeway, c.workers), (None, 60, 1));
    }

    #[test]
    fn flags_override_environment() {
        let env = |k: &str| match k {
            "COMM_TEST_LISTEN" => Some("0.0.0.0:1".to_string()),
            "COMM_TEST_CLOCK" => Some("5".to_string()),
            _ => None,
        };
        let args = vec!["--clock=7".to_string()];
        let c = Config::from_args(&args, &env).unwrap();
        assert_eq!((c.listen.as_str(), c.clock), ("0.0.0.0:1", Some(7)));
    }

    #[test]
    fn bad_configuration_is_one_clear_line() {
        for (args, want) in [
            (vec!["--nope"], "unknown option --nope (see --help)"),
            (vec!["--clock"], "--clock needs a value"),
            (vec!["--clock", "soon"], "--clock: not Unix seconds: \"soon\""),
            (vec!["--use-attr-url", "maybe"], "--use-attr-url: expected true or false, got \"maybe\""),
            (vec!["--server-url", "ftp://x"], "--server-url: expected an http:// or https:// URL, got \"ftp://x\""),
            (vec!["--decryption-key", "/nonexistent.pem", "--signature-key", "keys/idcontact-test-rsa.pub.pem"],
             "--decryption-key /nonexistent.pem: cannot read: entity not found"),
            (vec!["--decryption-key", "keys/idcontact-test-rsa.pub.pem", "--signature-key", "keys/idcontact-test-rsa.pub.pem"],
             "--decryption-key keys/idcontact-test-rsa.pub.pem: not a PEM key of a supported kind (private: PKCS#8, PKCS#1 RSA, SEC1 EC; public: SPKI)"),
            (vec!["--decryption-key", "keys/idcontact-test-rsa.key.pem"],
             "give both --decryption-key and --signature-key, or neither for the built-in test keys"),
            (vec!["--workers", "0"], "--workers must be at least 1"),
        ] {
            let e = parse(&args).err().unwrap_or_else(|| panic!("{args:?} accepted"));
            assert_eq!(e.0, want);
            assert!(!e.0.contains('\n'));
        }
    }

    #[test]
    fn repeated_keys_with_kids() {
        let c = parse(&[
            "--decryption-key",
            "a=keys/idcontact-test-rsa.key.pem",
            "--decryption-key",
            "keys/idcontact-test-ec.key.sec1.pem",
            "--signature-key",
            "keys/idcontact-test-rsa.pub.pem",
        ])
        .unwrap();
        assert!(!c.test_keys);
        assert_eq!(c.keys.decryption[0].kid(), "a");
        assert_eq!(
            c.keys.decryption[1].kid(),
            c.keys.decryption[1].fingerprint().to_string()
        );
        let env = |k: &str| {
            (k == "COMM_TEST_SIGNATURE_KEYS").then(|| {
                "keys/idcontact-test-rsa.pub.pem, keys/idcontact-test-ec.pub.pem".to_string()
            })
        };
        let args: Vec<String> = ["--decryption-key", "keys/idcontact-test-rsa.key.pem"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            Config::from_args(&args, &env)
                .unwrap()
                .keys
                .verification
                .len(),
            2
        );
    }
}
