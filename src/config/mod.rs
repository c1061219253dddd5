//! Settings from flags and environment variables (flags win), and the keys
//! they name, read and parsed once at start-up. Every error is one line for
//! an operator and names the setting, never the key material.

pub mod flags;
mod host_name;
pub mod rocket;

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use crate::jose::{DecryptionKey, Expect, KeySet, VerificationKey};
use crate::log::shown;

/// The published test keys' RSA pair and EC public key, for `mint`'s
/// defaults.
pub const TEST_RSA_PRIVATE: &str = include_str!("../../keys/idcontact-test-rsa.key.pem");
pub const TEST_RSA_PUBLIC: &str = include_str!("../../keys/idcontact-test-rsa.pub.pem");
pub const TEST_EC_PUBLIC: &str = include_str!("../../keys/idcontact-test-ec.pub.pem");

/// The published ID Contact test keys, built in so the binary runs anywhere
/// on its defaults. Public test material: never for production.
const TEST_KEYS: [(&str, &str); 2] = [
    (
        include_str!("../../keys/idcontact-test-rsa.key.pem"),
        include_str!("../../keys/idcontact-test-rsa.pub.pem"),
    ),
    (
        include_str!("../../keys/idcontact-test-ec.key.pem"),
        include_str!("../../keys/idcontact-test-ec.pub.pem"),
    ),
];

pub struct Config {
    pub listen: String,
    pub server_url: String,
    pub internal_url: String,
    /// Whether each URL was set (flag, variable, Rocket file) rather than
    /// following the listener (`Config::follow_listener`).
    pub urls_given: (bool, bool),
    pub use_attr_url: bool,
    pub keys: KeySet,
    /// True when the built-in public test keys are in use.
    pub test_keys: bool,
    pub clock: Option<u64>,
    pub leeway: u64,
    pub read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_body: usize,
    pub reject_replays: bool,
    pub workers: usize,
    /// Where the tester's inbox listens; `None` when off.
    pub inbox: Inbox,
    /// Names the inbox answers to besides its own address (a reverse proxy's).
    pub inbox_hosts: Vec<HostName>,
    pub journal_size: usize,
    /// `--journal-file`: where the journal is kept across restarts.
    pub journal_file: Option<std::path::PathBuf>,
    /// Where session feedback may go; `None`: off.
    pub session_feedback: Option<crate::feedback::Destinations>,
    /// `--fault`: how the public routes misbehave from the start.
    pub faults: Vec<crate::faults::Fault>,
    /// `--core-url` with `--auth-only-key`: authentication during
    /// communication; `None`: off.
    pub auth_only: Option<AuthOnly>,
    pub ui: UiMode,
    pub log_format: LogFormat,
    pub profile: Expect,
    /// Where the Rocket layer came from, for the start-up log.
    pub rocket: Option<RocketNote>,
}

/// Authentication during communication, as configured.
#[derive(Debug)]
pub struct AuthOnly {
    /// `<core-url>/start`.
    pub start_url: String,
    pub kid: String,
    pub key: crate::mint::SigningKey,
    /// `--auth-only-method`: the citizen page's button, if offered.
    pub method: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RocketNote {
    pub file: String,
    pub profile: String,
    pub ignored: Vec<String>,
}

/// The inbox listener: the default address (whose failure to bind is a
/// note, not an error), one given explicitly, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbox {
    Default(String),
    Explicit(String),
    Off,
}

/// What `GET /ui` serves: the sample's plain text, or a page with the
/// inline result and a Logout button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiMode {
    Text,
    Html,
}

pub use crate::log::Format as LogFormat;

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

/// One option of the server: the single source for parsing, defaults,
/// ranges, the environment and `--help` (and, through a test, the
/// README's configuration table). Each default is written once, here.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub flag: &'static str,
    /// Its environment variable.
    pub env: &'static str,
    /// What its value is, as `--help` names it; `BOOL` makes it a switch.
    pub value: &'static str,
    pub default: &'static str,
    /// A numeric option's bounds, checked at start, and why they are these.
    pub range: Option<Range>,
    pub help: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: u64,
    pub max: u64,
    pub why: &'static str,
}

pub const OPTIONS: &[Opt] = &[
    Opt {
        flag: "--config",
        env: "ROCKET_CONFIG",
        value: "FILE",
        default: "none",
        range: None,
        help: "the original plugin's Rocket TOML file: profiles [default], ROCKET_PROFILE (default release), [global]; ROCKET_* variables override it, and our own flags and COMM_TEST_* variables override both (README, \"Migrating\")",
    },
    Opt {
        flag: "--listen",
        env: "COMM_TEST_LISTEN",
        value: "ADDR",
        default: "127.0.0.1:8000",
        range: None,
        help: "address and port to listen on",
    },
    Opt {
        flag: "--server-url",
        env: "COMM_TEST_SERVER_URL",
        value: "URL",
        default: "http://<listen host>:<port>",
        range: None,
        help: "public base URL; client_url is <URL>/ui. The default follows --listen (its bound port; a wildcard address gives localhost)",
    },
    Opt {
        flag: "--internal-url",
        env: "COMM_TEST_INTERNAL_URL",
        value: "URL",
        default: "the server URL",
        range: None,
        help: "base URL the core reaches; attr_url is <URL>/auth_result",
    },
    Opt {
        flag: "--use-attr-url",
        env: "COMM_TEST_USE_ATTR_URL",
        value: "BOOL",
        default: "true",
        range: None,
        help: "offer attr_url in start_communication answers",
    },
    Opt {
        flag: "--decryption-key",
        env: "COMM_TEST_DECRYPTION_KEYS",
        value: "[KID=]FILE",
        default: "built-in test keys",
        range: None,
        help: "private key PEM for the outer JWE; repeatable (env: comma-separated). KID: 1-64 of A-Z a-z 0-9 . _ - : (no other character); a path containing '=' is written with its KID, or with an empty one: =PATH",
    },
    Opt {
        flag: "--signature-key",
        env: "COMM_TEST_SIGNATURE_KEYS",
        value: "[KID=]FILE",
        default: "built-in test keys",
        range: None,
        help: "public key PEM for the inner JWS; repeatable (env: comma-separated); KID as above",
    },
    Opt {
        flag: "--clock",
        env: "COMM_TEST_CLOCK",
        value: "UNIX_SECONDS|RFC3339",
        default: "the system clock",
        range: Some(Range {
            min: 0,
            max: 253_402_300_799,
            why: "the last second of 9999, the last RFC 3339 can write",
        }),
        help: "validate tokens at this fixed time (replaying captured tokens), as Unix seconds or RFC 3339 (2021-03-16T07:30:00Z)",
    },
    Opt {
        flag: "--leeway",
        env: "COMM_TEST_LEEWAY",
        value: "SECONDS",
        default: "60",
        range: Some(Range {
            min: 0,
            max: 86_400,
            why: "more than a day is no clock skew",
        }),
        help: "clock skew allowed for exp, nbf and iat",
    },
    Opt {
        flag: "--read-timeout",
        env: "COMM_TEST_READ_TIMEOUT",
        value: "SECONDS",
        default: "10",
        range: Some(Range {
            min: 1,
            max: 3600,
            why: "a request is at most a few KB; an hour is beyond any client",
        }),
        help: "time from a request's first byte to its last, and for its answer to be taken",
    },
    Opt {
        flag: "--idle-timeout",
        env: "COMM_TEST_IDLE_TIMEOUT",
        value: "SECONDS",
        default: "15",
        range: Some(Range {
            min: 1,
            max: 3600,
            why: "as --read-timeout",
        }),
        help: "time a connection may stay open with no request in progress",
    },
    Opt {
        flag: "--max-connections",
        env: "COMM_TEST_MAX_CONNECTIONS",
        value: "N",
        default: "1024",
        range: Some(Range {
            min: 1,
            max: 65_536,
            why: "one file descriptor each; an idle one costs ~0.2 KB of our memory",
        }),
        help: "connections open at once; past it the least advanced one is closed",
    },
    Opt {
        flag: "--max-body",
        env: "COMM_TEST_MAX_BODY",
        value: "BYTES",
        default: "65536",
        range: Some(Range {
            min: 1,
            max: 1_048_576,
            why: "a token is at most 16 KiB, and each connection may hold 8 KiB + this",
        }),
        help: "largest request body accepted",
    },
    Opt {
        flag: "--reject-replays",
        env: "COMM_TEST_REJECT_REPLAYS",
        value: "BOOL",
        default: "false",
        range: None,
        help: "answer 409 to a token accepted before (default: log it)",
    },
    Opt {
        flag: "--workers",
        env: "COMM_TEST_WORKERS",
        value: "N|auto",
        default: "1",
        range: Some(Range {
            min: 1,
            max: 64,
            why: "each loop is one core's worth of work",
        }),
        help: "request-handling loops; 1 keeps the server single-threaded, auto is one per available core",
    },
    Opt {
        flag: "--inbox",
        env: "COMM_TEST_INBOX",
        value: "ADDR|off",
        default: "127.0.0.1:8001",
        range: None,
        help: "the tester's inbox (page, JSON API, event stream) on its own listener; it shows personal data: a non-loopback address is warned about at start",
    },
    Opt {
        flag: "--inbox-host",
        env: "COMM_TEST_INBOX_HOST",
        value: "NAME[:PORT],…",
        default: "none",
        range: None,
        help:
            "further names the inbox answers to (a reverse proxy's); repeatable. Any other Host gets 421: a page re-pointed at us by DNS rebinding reads nothing. Its own IP:PORT, and localhost, 127.0.0.1, [::1] on loopback, always work",
    },
    Opt {
        flag: "--journal-size",
        env: "COMM_TEST_JOURNAL_SIZE",
        value: "N",
        default: "200",
        range: Some(Range {
            min: 1,
            max: 1000,
            why: "an event holds at most ~40 KB (a 16 KiB token and what it decodes to)",
        }),
        help: "events the inbox keeps, oldest dropped",
    },
    Opt {
        flag: "--journal-file",
        env: "COMM_TEST_JOURNAL_FILE",
        value: "PATH",
        default: "none",
        range: None,
        help: "keep the journal in PATH too (JSON lines, created 0600, never through a link) and read it back at start, so a restart keeps the inbox; PATH stays within twice the journal's size. Needs the inbox",
    },
    Opt {
        flag: "--fault",
        env: "COMM_TEST_FAULT",
        value: "ROUTE[:KEY=VALUE,…]",
        default: "none",
        range: None,
        help: "misbehave on demand; repeatable (env: separated by ;), one per route. ROUTE: start_communication, ui, auth_result. KEYs: status=100-599, body=TEXT (last: takes the rest, commas too), delay_ms=0-60000, close, times=N (default: until cleared), answer=malformed_json|no_client_url (start_communication). E.g. ui:status=503,body=down  start_communication:delay_ms=6000,times=1. Set and cleared at run time too: the inbox's /api/faults (README, \"Faults on demand\")",
    },
    Opt {
        flag: "--core-url",
        env: "COMM_TEST_CORE_URL",
        value: "URL",
        default: "none",
        range: None,
        help: "the core, for authentication during communication: POST /api/auth-only (and the page's button) ask <URL>/start for one. Needs --auth-only-key; the only destination of those requests, and never one of session feedback",
    },
    Opt {
        flag: "--auth-only-key",
        env: "COMM_TEST_AUTH_ONLY_KEY",
        value: "KID=FILE",
        default: "none",
        range: None,
        help: "private key PEM (RSA: RS256, P-256: ES256) that signs those requests; the KID is required: the core picks its verifier by kid ([global.authonly_request_keys.KID])",
    },
    Opt {
        flag: "--auth-only-method",
        env: "COMM_TEST_AUTH_ONLY_METHOD",
        value: "TAG",
        default: "none",
        range: None,
        help: "with --ui html: the citizen's page offers \"Authenticate again\" with this auth_method, for the purpose its session was started with (at most once per session every 10 s)",
    },
    Opt {
        flag: "--session-feedback",
        env: "COMM_TEST_SESSION_FEEDBACK",
        value: "HOST[:PORT],…|*",
        default: "off",
        range: None,
        help: "send user_active and logout to a result's session_url, only on these hosts (a bare host: any port; * : anywhere). Off by default: a token chooses the URL",
    },
    Opt {
        flag: "--ui",
        env: "COMM_TEST_UI",
        value: "text|html",
        default: "text",
        range: None,
        help: "GET /ui: the sample's text, or a page with the result and a Logout button",
    },
    Opt {
        flag: "--profile",
        env: "COMM_TEST_PROFILE",
        value: "auto|id-contact|verder-helpen",
        default: "auto",
        range: None,
        help: "the claims' spelling: auto takes what a consumer of either ecosystem takes and names which it matched; id-contact only sub id-contact-attributes with status succes/failed; verder-helpen only verder-helpen-attributes with success/failed",
    },
    Opt {
        flag: "--log-format",
        env: "COMM_TEST_LOG_FORMAT",
        value: "text|json",
        default: "text",
        range: None,
        help: "log lines for people (text) or pipelines (json, one object per line)",
    },
];

impl Opt {
    /// The option's entry in `--help`: flag and value, what it does, its
    /// range and why, its variable and its default.
    pub fn describe(&self) -> String {
        let mut text = self.help.to_owned();
        if let Some(r) = self.range {
            text.push_str(&format!("; {}-{}: {}", r.min, r.max, r.why));
        }
        let mut s = format!("  {} {}\n", self.flag, self.value);
        s.push_str(&wrap(&text, "      ", 80));
        s.push_str(&format!(
            "      env {}; default: {}\n",
            self.env, self.default
        ));
        s
    }

    /// Its row of the README's configuration table: the same words as
    /// `describe`, so the two cannot differ.
    pub fn markdown_row(&self) -> String {
        // Markdown: a pipe ends a cell, `<…>` is a tag, `*…*` emphasis.
        let cell = |t: &str| {
            t.replace('|', "\\|")
                .replace('<', "&lt;")
                .replace('*', "\\*")
        };
        let mut text = self.help.to_owned();
        if let Some(r) = self.range {
            text.push_str(&format!("; {}–{}: {}", r.min, r.max, r.why));
        }
        let default = if self.default.contains(' ') || ["none", "off"].contains(&self.default) {
            cell(self.default)
        } else {
            format!("`{}`", cell(self.default))
        };
        format!(
            "| `{} {}` | `{}` | {default} | {} |\n",
            self.flag,
            cell(self.value),
            self.env,
            cell(&text)
        )
    }

    /// How the flag reader takes it: `BOOL` options are switches.
    pub fn takes(&self) -> Takes {
        if self.value == "BOOL" {
            Takes::Switch
        } else {
            Takes::Value
        }
    }
}

/// The option named `flag` (every name the code asks for is in the table:
/// a unit test proves it).
pub fn option(flag: &str) -> Option<&'static Opt> {
    OPTIONS.iter().find(|o| o.flag == flag)
}

/// An option's default, as `OPTIONS` (and so `--help` and the README's
/// table) states it.
fn default_of(flag: &str) -> &'static str {
    option(flag).map_or("", |o| o.default)
}

/// A PEM key is a few KB (RSA-4096 PKCS#8 is 3.3 KB); anything larger is
/// not a key, and is not read.
pub const MAX_KEY_FILE: u64 = 64 * 1024;

/// `text` in lines of at most `width` columns (a longer word alone on
/// its line), each after `indent`.
pub fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.len() > indent.len() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The README's configuration table, generated from `OPTIONS` (a test
/// holds the README to it).
pub fn options_table() -> String {
    let mut s =
        String::from("| option | environment | default | meaning |\n| --- | --- | --- | --- |\n");
    for o in OPTIONS {
        s.push_str(&o.markdown_row());
    }
    s
}

pub fn usage() -> String {
    let mut s = String::from(
        "options (flag, environment variable, default). A variable that is set must be\n\
         usable: set but empty, not UTF-8, or out of range is an error, never a default.\n",
    );
    for o in OPTIONS {
        s.push_str(&o.describe());
    }
    s.push_str("  --help, -h\n      this text\n  --version, -V\n      the version\n");
    s
}

pub use flags::{Flags, Takes};
pub use host_name::HostName;

/// How a setting is looked up in the environment: `None` when unset, the
/// raw value otherwise (checked for UTF-8 here, not by the caller).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The server's flags as the reader takes them: `BOOL` settings are
/// switches (`--reject-replays` alone means true).
pub fn server_spec() -> Vec<(&'static str, Takes)> {
    OPTIONS.iter().map(|o| (o.flag, o.takes())).collect()
}

/// Looks a setting up: the flags (all occurrences), else our environment
/// variables, else the original plugin's Rocket configuration, if any.
pub struct Settings<'a> {
    flags: &'a [(String, String)],
    env: Env<'a>,
    rocket: Option<rocket::RocketConfig>,
}

impl<'a> Settings<'a> {
    pub fn new(flags: &'a [(String, String)], env: Env<'a>) -> Self {
        Settings {
            flags,
            env,
            rocket: None,
        }
    }

    /// Reads the Rocket configuration named by `--config` or
    /// `ROCKET_CONFIG`, if one is, as the layer under ours.
    /// The Rocket layer, as Rocket finds it: the file `--config` or
    /// `ROCKET_CONFIG` names, else `./Rocket.toml` if there is one, else
    /// the `ROCKET_*` variables alone if any is set.
    pub fn with_rocket(mut self) -> Result<Self, ConfigError> {
        // Named as the user named it: the flag, the variable, or Rocket's
        // own default file.
        let named = if self.flags.iter().any(|(n, _)| n == "--config") {
            "--config"
        } else {
            "ROCKET_CONFIG"
        };
        let file = match self.one("--config")? {
            Some(f) => Some((named, f)),
            None if std::path::Path::new("Rocket.toml").is_file() => {
                Some(("the Rocket configuration", "Rocket.toml".into()))
            }
            None => None,
        };
        if let Some((named, file)) = file {
            let text = read_small_file(named, &file, MAX_CONFIG_FILE)?;
            self.rocket = Some(rocket::load(&file, &text, self.env)?);
        } else if rocket::named_in_env(self.env) {
            self.rocket = Some(rocket::load(rocket::ENV_ONLY, "", self.env)?);
        }
        Ok(self)
    }

    pub fn rocket(&self) -> Option<&rocket::RocketConfig> {
        self.rocket.as_ref()
    }

    /// The Rocket layer's value of a setting, as text.
    fn rocket_value(&self, flag: &str) -> Option<String> {
        let r = self.rocket.as_ref()?;
        match flag {
            "--listen" => r.listen(),
            "--server-url" => r.server_url.clone(),
            "--internal-url" => r.internal_url.clone(),
            "--use-attr-url" => r.use_attr_url.map(|b| b.to_string()),
            _ => None,
        }
    }

    fn env_name(flag: &str) -> &'static str {
        option(flag).map_or("", |o| o.env)
    }

    /// The variable's value if set; set but unusable is an error.
    fn env_value(&self, flag: &str) -> Result<Option<String>, ConfigError> {
        let name = Self::env_name(flag);
        let Some(raw) = (self.env)(name) else {
            return Ok(None);
        };
        let Some(v) = raw.to_str() else {
            return err(format!("{name} is not UTF-8"));
        };
        if v.trim().is_empty() {
            return err(format!(
                "{name} is set but empty (unset it for the default)"
            ));
        }
        Ok(Some(v.to_owned()))
    }

    fn all(&self, flag: &str) -> Result<Vec<String>, ConfigError> {
        self.all_split(flag, ',')
    }

    /// Every occurrence of a repeatable flag, else its variable's items,
    /// separated by `sep`.
    fn all_split(&self, flag: &str, sep: char) -> Result<Vec<String>, ConfigError> {
        let from_flags: Vec<String> = self
            .flags
            .iter()
            .filter(|(n, _)| n == flag)
            .map(|(_, v)| v.clone())
            .collect();
        if let Some(empty) = from_flags.iter().find(|v| v.trim().is_empty()) {
            return err(format!("{flag} needs a value, got {}", shown(empty)));
        }
        if !from_flags.is_empty() {
            return Ok(from_flags);
        }
        let Some(v) = self.env_value(flag)? else {
            return Ok(Vec::new());
        };
        let items: Vec<String> = v.split(sep).map(|s| s.trim().to_owned()).collect();
        if items.iter().any(String::is_empty) {
            return err(format!(
                "{} has an empty entry: {}",
                Self::env_name(flag),
                shown(&v)
            ));
        }
        Ok(items)
    }

    fn one(&self, flag: &str) -> Result<Option<String>, ConfigError> {
        let last = self
            .flags
            .iter()
            .rev()
            .find(|(n, _)| n == flag)
            .map(|(_, v)| v.clone());
        match last {
            Some(v) if v.trim().is_empty() => {
                err(format!("{flag} needs a value, got {}", shown(&v)))
            }
            Some(v) => Ok(Some(v)),
            None => Ok(self.env_value(flag)?.or_else(|| self.rocket_value(flag))),
        }
    }

    /// A whole number within the option's range, or its default.
    fn number(&self, flag: &str) -> Result<u64, ConfigError> {
        let Some(o) = option(flag) else {
            return err(format!("{flag}: not an option"));
        };
        let range = range_of(flag);
        let v = match self.one(flag)? {
            Some(v) => v,
            None => o.default.to_owned(),
        };
        let n: u64 = v
            .trim()
            .parse()
            .map_err(|_| ConfigError(format!("{flag}: not a whole number: {}", shown(&v))))?;
        if n < range.0 || n > range.1 {
            return err(format!(
                "{flag}: {n} is out of range {}-{} (see --help)",
                range.0, range.1
            ));
        }
        Ok(n)
    }

    fn size(&self, flag: &str) -> Result<usize, ConfigError> {
        let n = self.number(flag)?;
        usize::try_from(n).map_err(|_| ConfigError(format!("{flag}: {n} is too large here")))
    }

    fn boolean(&self, flag: &str, default: bool) -> Result<bool, ConfigError> {
        match self.one(flag)?.as_deref().map(str::trim) {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(v) => err(format!(
                "{flag}: expected true or false (or yes/no, 1/0), got {}",
                shown(v)
            )),
        }
    }

    /// `--clock`: Unix seconds, or RFC 3339 as every log and page shows
    /// times (`2021-03-16T07:30:00Z`).
    pub fn clock(&self) -> Result<Option<u64>, ConfigError> {
        match self.one("--clock")? {
            None => Ok(None),
            Some(v) if v.contains('-') => crate::date::parse_rfc3339(v.trim())
                .filter(|t| *t <= range_of("--clock").1)
                .map(Some)
                .ok_or_else(|| {
                    ConfigError(format!(
                        "--clock: neither Unix seconds nor an RFC 3339 time like 2021-03-16T07:30:00Z: {}",
                        shown(&v)
                    ))
                }),
            Some(_) => self.number("--clock").map(Some),
        }
    }

    pub fn profile(&self) -> Result<Expect, ConfigError> {
        match self.one("--profile")? {
            None => Ok(Expect::Auto),
            Some(v) => Expect::parse(v.trim()).ok_or_else(|| {
                ConfigError(format!(
                    "--profile: expected auto, id-contact or verder-helpen, got {}",
                    shown(&v)
                ))
            }),
        }
    }

    pub fn leeway(&self) -> Result<u64, ConfigError> {
        self.number("--leeway")
    }

    /// The configured keys, or the built-in test keys when none are named
    /// anywhere (a setting that is present but unusable is an error).
    /// The Rocket layer's keys, if both are there, move into the key set.
    pub fn keys(&mut self) -> Result<(KeySet, bool), ConfigError> {
        let (dec, sig) = (self.all("--decryption-key")?, self.all("--signature-key")?);
        if dec.is_empty() && sig.is_empty() {
            if let Some(r) = &mut self.rocket {
                match (r.decryption.take(), r.signature.take()) {
                    (Some(d), Some(v)) => {
                        let mut keys = KeySet::default();
                        keys.decryption.push(d);
                        keys.verification.push(v);
                        return Ok((keys, false));
                    }
                    (None, None) if r.from_file => {
                        return err(format!(
                        "{}: no decryption_privkey and no signature_pubkey; the original plugin \
                             does not start without them, nor do we (give them there, or \
                             --decryption-key and --signature-key)",
                        r.file
                    ))
                    }
                    (None, None) => {}
                    _ => {
                        return err(format!(
                            "{}: give both decryption_privkey and signature_pubkey, or neither",
                            r.file
                        ))
                    }
                }
            }
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
        let mut keys = KeySet::default();
        for spec in &dec {
            let (kid, path) = key_spec("--decryption-key", spec)?;
            let pem = read_key_file("--decryption-key", path)?;
            keys.decryption
                .push(DecryptionKey::from_pem(&pem, kid).map_err(|e| {
                    key_error(
                        "--decryption-key",
                        path,
                        &pem,
                        "PUBLIC KEY",
                        "a public key; it takes the private key",
                        e,
                    )
                })?);
        }
        for spec in &sig {
            let (kid, path) = key_spec("--signature-key", spec)?;
            let pem = read_key_file("--signature-key", path)?;
            keys.verification
                .push(VerificationKey::from_pem(&pem, kid).map_err(|e| {
                    key_error(
                        "--signature-key",
                        path,
                        &pem,
                        "PRIVATE KEY",
                        "a private key; it takes the public key",
                        e,
                    )
                })?);
        }
        Ok((keys, false))
    }
}

/// Why a key file was refused: a supported kind in the wrong role is said
/// as such, anything else as the parser puts it.
fn key_error(
    flag: &str,
    path: &str,
    pem: &str,
    wrong: &str,
    says: &str,
    e: impl fmt::Display,
) -> ConfigError {
    if pem.contains(wrong) {
        ConfigError(format!("{flag} {}: this is {says}", shown(path)))
    } else {
        ConfigError(format!("{flag} {}: {e}", shown(path)))
    }
}

/// A KID names a key in logs and in tokens' `kid`: printable, no blanks,
/// and none of the characters that separate (`=`, `,`), so it can neither
/// be confused with a path nor forge a log line.
pub fn check_kid(kid: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid KID (1-64 of A-Z a-z 0-9 . _ - :)",
            shown(kid)
        ))
    }
}

/// `KID=FILE` or `FILE`: a value with `=` always has a KID before the
/// first one, and `=PATH` names a path that contains `=` with no KID.
fn key_spec<'s>(flag: &str, spec: &'s str) -> Result<(Option<String>, &'s str), ConfigError> {
    if crate::log::is_pem_text(spec) {
        return Err(pem_in_place_of_path(flag));
    }
    match spec.split_once('=') {
        None => Ok((None, spec)),
        Some(("", path)) => Ok((None, path)),
        Some((kid, path)) => {
            check_kid(kid).map_err(|e| {
                ConfigError(format!(
                    "{flag}: {e}; a path containing '=' is written =PATH"
                ))
            })?;
            Ok((Some(kid.to_owned()), path))
        }
    }
}

/// The PEM text itself where a path belongs: the original plugin's
/// settings take the PEM itself, so this mistake is likely. Said without
/// quoting a byte of it.
fn pem_in_place_of_path(flag: &str) -> ConfigError {
    ConfigError(format!(
        "{flag}: this looks like PEM key text, not a file path; put the key in a file and give its path"
    ))
}

/// Reads a key file: a regular file of at most `MAX_KEY_FILE` bytes.
pub fn read_key_file(flag: &str, path: &str) -> Result<String, ConfigError> {
    read_small_file(flag, path, MAX_KEY_FILE)
}

/// A configuration file holds two PEM keys and a few settings.
const MAX_CONFIG_FILE: u64 = 256 * 1024;

/// Reads a regular file of at most `max` bytes. Opened non-blocking, so a
/// FIFO cannot hang start-up, and checked on the opened descriptor, so
/// what is checked is what is read.
fn read_small_file(flag: &str, path: &str, max: u64) -> Result<String, ConfigError> {
    use crate::files::{read_bounded, Links, ReadError};
    if crate::log::is_pem_text(path) {
        return Err(pem_in_place_of_path(flag));
    }
    let what = if max == MAX_KEY_FILE {
        "a PEM key"
    } else {
        "a configuration"
    };
    read_bounded(std::path::Path::new(path), max, Links::Follow).map_err(|e| {
        let why = match e {
            ReadError::Io(w) => w.to_owned(),
            ReadError::NotRegular => "not a regular file".to_owned(),
            ReadError::TooLarge(Some(n)) => {
                format!("{n} bytes is too large for {what} (at most {max})")
            }
            ReadError::TooLarge(None) => format!("too large for {what} (at most {max} bytes)"),
        };
        ConfigError(format!("{flag} {}: {why}", crate::log::shown_path(path)))
    })
}

impl Config {
    /// The URLs not set follow the public listener as bound: its port
    /// (`--listen 127.0.0.1:0` gets the one the system chose).
    pub fn follow_listener(&mut self, bound: std::net::SocketAddr) {
        if !self.urls_given.0 {
            self.server_url = listen_url(&self.listen, Some(bound.port()));
            if !self.urls_given.1 {
                self.internal_url = self.server_url.clone();
            }
        }
    }
}

/// `http://<listen host>:<port>`: an address as it is (IPv6 in
/// brackets), a wildcard as `localhost` (what a browser on this machine
/// reaches), a name as given; `port` once bound, else as written.
pub fn listen_url(listen: &str, port: Option<u16>) -> String {
    let listen = listen.trim();
    let (host, written) = match listen.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => ("localhost".to_owned(), a.port()),
        Ok(std::net::SocketAddr::V6(a)) => (format!("[{}]", a.ip()), a.port()),
        Ok(a) => (a.ip().to_string(), a.port()),
        Err(_) => match listen.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(80)),
            None => (listen.to_owned(), 80),
        },
    };
    format!("http://{host}:{}", port.unwrap_or(written))
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
            "{flag}: expected an http:// or https:// URL, got {}",
            shown(&url)
        )),
    }
}

/// A positional argument the server does not take; after a switch, the
/// likely meaning was a value for it.
fn unexpected(args: &[String], p: &str) -> ConfigError {
    let after = args
        .iter()
        .position(|a| a == p)
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| args.get(i))
        .filter(|a| server_spec().contains(&(a.as_str(), Takes::Switch)));
    ConfigError(match after {
        Some(switch) => format!(
            "unexpected argument {}: {switch} is a switch ({switch} alone, or {switch}=true|false)",
            shown(p)
        ),
        None => format!("unexpected argument {} (see --help)", shown(p)),
    })
}

/// A numeric option's bounds (any `u64` for one without).
fn range_of(flag: &str) -> (u64, u64) {
    option(flag)
        .and_then(|o| o.range)
        .map_or((0, u64::MAX), |r| (r.min, r.max))
}

/// The most loops `--workers` takes.
fn workers_max() -> usize {
    usize::try_from(range_of("--workers").1).unwrap_or(1)
}

impl Settings<'_> {
    /// `--workers N|auto`: auto is one loop per core the process may run
    /// on (cgroup and affinity limits included), within the range.
    fn workers(&self) -> Result<usize, ConfigError> {
        match self.one("--workers")?.as_deref().map(str::trim) {
            Some("auto") => Ok(std::thread::available_parallelism()
                .map_or(1, std::num::NonZeroUsize::get)
                .clamp(1, workers_max())),
            _ => self.size("--workers"),
        }
    }

    /// `--core-url`, `--auth-only-key KID=FILE` and `--auth-only-method`:
    /// all or nothing (one without the other would do nothing, silently).
    fn auth_only(&self) -> Result<Option<AuthOnly>, ConfigError> {
        let core = self.one("--core-url")?;
        let key = self.one("--auth-only-key")?;
        let method = self.one("--auth-only-method")?.map(|m| m.trim().to_owned());
        let (core, key) = match (core, key) {
            (None, None) if method.is_none() => return Ok(None),
            (Some(c), Some(k)) => (c, k),
            (None, _) => return err("--auth-only-key and --auth-only-method need --core-url"),
            (Some(_), None) => {
                return err("--core-url needs --auth-only-key KID=FILE to sign with")
            }
        };
        let start_url = format!("{}/start", check_url("--core-url", core)?);
        if start_url.starts_with("https://") {
            return err("--core-url: https is not supported (this build has no TLS); use http://");
        }
        let (kid, path) = match key_spec("--auth-only-key", key.trim())? {
            (Some(kid), path) => (kid, path),
            (None, _) => {
                return err("--auth-only-key takes KID=FILE: the core picks its verifier by kid")
            }
        };
        let pem = read_key_file("--auth-only-key", path)?;
        let key = crate::mint::SigningKey::from_pem(&pem).map_err(|e| {
            key_error(
                "--auth-only-key",
                path,
                &pem,
                "PUBLIC KEY",
                "a public key; it takes the private key",
                e,
            )
        })?;
        if method.is_some() && self.one("--ui")?.as_deref().map(str::trim) != Some("html") {
            return err("--auth-only-method puts a button on the --ui html page; --ui is text");
        }
        Ok(Some(AuthOnly {
            start_url,
            kid,
            key,
            method,
        }))
    }

    /// `--fault`, each checked as the inbox's API checks one; a second
    /// fault on a route would silently replace the first: an error.
    fn faults(&self) -> Result<Vec<crate::faults::Fault>, ConfigError> {
        let mut faults: Vec<crate::faults::Fault> = Vec::new();
        for spec in self.all_split("--fault", ';')? {
            let f = crate::faults::parse(spec.trim())
                .map_err(|e| ConfigError(format!("--fault {}: {e}", shown(&spec))))?;
            if faults.iter().any(|g| g.route == f.route) {
                return err(format!(
                    "--fault: two faults on {} (one per route)",
                    f.route.name()
                ));
            }
            faults.push(f);
        }
        Ok(faults)
    }

    fn inbox_hosts(&self) -> Result<Vec<HostName>, ConfigError> {
        self.all("--inbox-host")?
            .iter()
            .flat_map(|v| v.split(','))
            .map(|v| HostName::parse(v).map_err(|e| ConfigError(format!("--inbox-host: {e}"))))
            .collect()
    }

    fn session_feedback(&self) -> Result<Option<crate::feedback::Destinations>, ConfigError> {
        self.one("--session-feedback")?
            .map(|v| {
                crate::feedback::Destinations::parse(&v)
                    .map_err(|e| ConfigError(format!("--session-feedback: {e}")))
            })
            .transpose()
    }

    /// One of `choices` by name; the first is the default.
    fn choice<T: Copy>(&self, flag: &str, choices: &[(&str, T)]) -> Result<T, ConfigError> {
        let value = self.one(flag)?;
        let name = value.as_deref().map(str::trim);
        match name {
            None => choices
                .first()
                .map(|c| c.1)
                .ok_or_else(|| ConfigError(format!("{flag}: no choices"))),
            Some(n) => choices
                .iter()
                .find(|c| c.0 == n)
                .map(|c| c.1)
                .ok_or_else(|| {
                    let names: Vec<&str> = choices.iter().map(|c| c.0).collect();
                    ConfigError(format!(
                        "{flag}: expected {}, got {}",
                        names.join(" or "),
                        shown(n)
                    ))
                }),
        }
    }
}

impl Config {
    pub fn from_args(args: &[String], env: Env<'_>) -> Result<Config, ConfigError> {
        let (flags, positional) = flags::collect(args, &server_spec())?;
        if let Some(p) = positional.first() {
            return Err(unexpected(args, p));
        }
        let mut s = Settings::new(&flags, env).with_rocket()?;
        let listen = s
            .one("--listen")?
            .unwrap_or_else(|| default_of("--listen").into());
        let given = s.one("--server-url")?;
        let urls_given = (given.is_some(), s.one("--internal-url")?.is_some());
        let server_url = match given {
            Some(u) => check_url("--server-url", u)?,
            None => listen_url(&listen, None),
        };
        let internal_url = match s.one("--internal-url")? {
            Some(u) => check_url("--internal-url", u)?,
            None => server_url.clone(),
        };
        let (keys, test_keys) = s.keys()?;
        let rocket = s.rocket().map(|r| RocketNote {
            file: r.file.clone(),
            profile: r.profile.clone(),
            ignored: r.ignored.clone(),
        });
        if s.one("--journal-file")?.is_some()
            && s.one("--inbox")?.as_deref().map(str::trim) == Some("off")
        {
            return err("--journal-file keeps the inbox's journal, and --inbox is off");
        }
        Ok(Config {
            rocket,
            profile: s.profile()?,
            listen,
            server_url,
            internal_url,
            urls_given,
            use_attr_url: s.boolean("--use-attr-url", default_of("--use-attr-url") == "true")?,
            keys,
            test_keys,
            clock: s.clock()?,
            leeway: s.leeway()?,
            read_timeout: Duration::from_secs(s.number("--read-timeout")?),
            idle_timeout: Duration::from_secs(s.number("--idle-timeout")?),
            max_connections: s.size("--max-connections")?,
            max_body: s.size("--max-body")?,
            reject_replays: s
                .boolean("--reject-replays", default_of("--reject-replays") == "true")?,
            workers: s.workers()?,
            inbox: match s.one("--inbox")? {
                None => Inbox::Default(default_of("--inbox").into()),
                Some(v) if v.trim() == "off" => Inbox::Off,
                Some(v) => Inbox::Explicit(v.trim().to_owned()),
            },
            inbox_hosts: s.inbox_hosts()?,
            journal_size: s.size("--journal-size")?,
            journal_file: s.one("--journal-file")?.map(|p| p.trim().into()),
            session_feedback: s.session_feedback()?,
            faults: s.faults()?,
            auth_only: s.auth_only()?,
            ui: s.choice("--ui", &[("text", UiMode::Text), ("html", UiMode::Html)])?,
            log_format: s.choice(
                "--log-format",
                &[("text", LogFormat::Text), ("json", LogFormat::Json)],
            )?,
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
    fn every_numeric_default_is_stated_once_parses_and_is_in_range() {
        let numeric: Vec<&Opt> = OPTIONS.iter().filter(|o| o.range.is_some()).collect();
        assert_eq!(numeric.len(), 8);
        for o in numeric {
            let Some(r) = o.range else { continue };
            if o.flag == "--clock" {
                assert_eq!(o.default, "the system clock");
                continue;
            }
            let n: u64 = o.default.parse().unwrap_or_else(|_| panic!("{}", o.flag));
            assert!((r.min..=r.max).contains(&n), "{}", o.flag);
        }
        let default_number = |flag| default_of(flag).parse::<u64>().unwrap();
        // Where another module names the same default, they agree.
        assert_eq!(default_number("--leeway"), crate::jose::DEFAULT_LEEWAY);
        assert_eq!(
            default_number("--journal-size"),
            crate::journal::DEFAULT_CAPACITY as u64
        );
        let c = parse(&[]).unwrap();
        assert_eq!((c.max_body, c.max_connections), (65_536, 1024));
        assert_eq!(c.inbox, Inbox::Default("127.0.0.1:8001".into()));
    }

    /// `--listen 127.0.0.1:38000` alone hands out URLs on that port: a
    /// probe of it reaches it, not whatever listens on 8000.
    #[test]
    fn urls_follow_the_listener_unless_given() {
        for (listen, bound, want) in [
            (
                "127.0.0.1:38000",
                "127.0.0.1:38000",
                "http://127.0.0.1:38000",
            ),
            ("0.0.0.0:8000", "0.0.0.0:8000", "http://localhost:8000"),
            ("[::]:8000", "[::]:8000", "http://localhost:8000"),
            ("[::1]:9000", "[::1]:9000", "http://[::1]:9000"),
            ("127.0.0.1:0", "127.0.0.1:41234", "http://127.0.0.1:41234"),
            ("localhost:0", "127.0.0.1:41235", "http://localhost:41235"),
        ] {
            let mut c = parse(&["--listen", listen]).unwrap();
            c.follow_listener(bound.parse().unwrap());
            assert_eq!(
                (c.server_url.as_str(), c.internal_url.as_str()),
                (want, want),
                "{listen}"
            );
        }
        let mut c = parse(&[
            "--listen",
            "0.0.0.0:0",
            "--internal-url",
            "http://comm-test:8000",
        ])
        .unwrap();
        c.follow_listener("0.0.0.0:45000".parse().unwrap());
        assert_eq!(
            (c.server_url.as_str(), c.internal_url.as_str()),
            ("http://localhost:45000", "http://comm-test:8000")
        );
        let mut c = parse(&["--listen", "0.0.0.0:0", "--server-url", "https://x.example"]).unwrap();
        c.follow_listener("0.0.0.0:45000".parse().unwrap());
        assert_eq!(
            (c.server_url.as_str(), c.internal_url.as_str()),
            ("https://x.example", "https://x.example")
        );
    }

    #[test]
    fn defaults_work_with_no_files() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8000");
        assert_eq!(
            (c.server_url.as_str(), c.internal_url.as_str()),
            ("http://127.0.0.1:8000", "http://127.0.0.1:8000")
        );
        assert!(c.use_attr_url && c.test_keys && !c.reject_replays);
        assert_eq!((c.keys.decryption.len(), c.keys.verification.len()), (2, 2));
        assert_eq!((c.clock, c.leeway, c.workers), (None, 60, 1));
    }

    #[test]
    fn workers_auto_is_one_per_available_core() {
        let cores = std::thread::available_parallelism().unwrap().get().min(64);
        assert_eq!(parse(&["--workers", "auto"]).unwrap().workers, cores);
        assert_eq!(parse(&["--workers", "2"]).unwrap().workers, 2);
        assert_eq!(parse(&[]).unwrap().workers, 1, "the default stays 1");
    }

    #[test]
    fn flags_override_environment() {
        let env = |k: &str| match k {
            "COMM_TEST_LISTEN" => Some("0.0.0.0:1".into()),
            "COMM_TEST_CLOCK" => Some("5".into()),
            _ => None,
        };
        let args = vec!["--clock=7".to_string()];
        let c = Config::from_args(&args, &env).unwrap();
        assert_eq!((c.listen.as_str(), c.clock), ("0.0.0.0:1", Some(7)));
    }

    #[test]
    fn bad_configuration_is_one_clear_line() {
        for (args, want) in [
            (vec!["--nope"], "unknown option \"--nope\" (see --help)"),
            (vec!["--clock"], "--clock needs a value"),
            (vec!["--clock", "soon"], "--clock: not a whole number: \"soon\""),
            (vec!["--use-attr-url", "maybe"], "unexpected argument \"maybe\": --use-attr-url is a switch (--use-attr-url alone, or --use-attr-url=true|false)"),
            (vec!["--use-attr-url=maybe"], "--use-attr-url: expected true or false (or yes/no, 1/0), got \"maybe\""),
            (vec!["--server-url", "ftp://x"], "--server-url: expected an http:// or https:// URL, got \"ftp://x\""),
            (vec!["--decryption-key", "/nonexistent.pem", "--signature-key", "keys/idcontact-test-rsa.pub.pem"],
             "--decryption-key \"/nonexistent.pem\": no such file or directory"),
            (vec!["--decryption-key", "keys/idcontact-test-rsa.pub.pem", "--signature-key", "keys/idcontact-test-rsa.pub.pem"],
             "--decryption-key \"keys/idcontact-test-rsa.pub.pem\": this is a public key; it takes the private key"),
            (vec!["--decryption-key", "keys/idcontact-test-rsa.key.pem"],
             "give both --decryption-key and --signature-key, or neither for the built-in test keys"),
            (vec!["--workers", "0"], "--workers: 0 is out of range 1-64 (see --help)"),
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
            (k == "COMM_TEST_SIGNATURE_KEYS")
                .then(|| "keys/idcontact-test-rsa.pub.pem, keys/idcontact-test-ec.pub.pem".into())
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

    fn with_env(vars: &[(&str, &[u8])]) -> Result<Config, ConfigError> {
        use std::os::unix::ffi::OsStringExt;
        let vars: Vec<(String, Vec<u8>)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        let env = move |name: &str| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from_vec(v.clone()))
        };
        Config::from_args(&[], &env)
    }

    /// Regression: these fell back to the built-in PUBLIC test keys, or
    /// to a default, with nothing but a warning to show for it.
    #[test]
    fn set_but_unusable_variables_are_errors_not_defaults() {
        for (name, value, want) in [
            (
                "COMM_TEST_DECRYPTION_KEYS",
                &b""[..],
                "COMM_TEST_DECRYPTION_KEYS is set but empty (unset it for the default)",
            ),
            (
                "COMM_TEST_DECRYPTION_KEYS",
                b" , ,",
                "COMM_TEST_DECRYPTION_KEYS has an empty entry: \" , ,\"",
            ),
            (
                "COMM_TEST_SIGNATURE_KEYS",
                b"a.pem,,b.pem",
                "COMM_TEST_SIGNATURE_KEYS has an empty entry: \"a.pem,,b.pem\"",
            ),
            (
                "COMM_TEST_DECRYPTION_KEYS",
                b"k\xff.pem",
                "COMM_TEST_DECRYPTION_KEYS is not UTF-8",
            ),
            (
                "COMM_TEST_LISTEN",
                b"127.0.0.1:\xff",
                "COMM_TEST_LISTEN is not UTF-8",
            ),
            (
                "COMM_TEST_REJECT_REPLAYS",
                b"tru\xe9",
                "COMM_TEST_REJECT_REPLAYS is not UTF-8",
            ),
            (
                "COMM_TEST_REJECT_REPLAYS",
                b"   ",
                "COMM_TEST_REJECT_REPLAYS is set but empty (unset it for the default)",
            ),
            (
                "COMM_TEST_LEEWAY",
                b"",
                "COMM_TEST_LEEWAY is set but empty (unset it for the default)",
            ),
        ] {
            let e = with_env(&[(name, value)])
                .err()
                .unwrap_or_else(|| panic!("{name}={value:?} accepted"));
            assert_eq!(e.0, want);
        }
        assert!(
            with_env(&[]).unwrap().test_keys,
            "nothing configured: test keys"
        );
        let e = parse(&["--decryption-key", ""]).err().unwrap();
        assert_eq!(e.0, "--decryption-key needs a value, got \"\"");
    }

    /// Regression: `--read-timeout 18446744073709551615` aborted on
    /// the first connection and `--max-body` of the same wrapped.
    #[test]
    fn numeric_settings_have_ranges() {
        for (args, want) in [
            (
                ["--read-timeout", "18446744073709551615"],
                "--read-timeout: 18446744073709551615 is out of range 1-3600 (see --help)",
            ),
            (
                ["--read-timeout", "18446744073709551616"],
                "--read-timeout: not a whole number: \"18446744073709551616\"",
            ),
            (
                ["--idle-timeout", "0"],
                "--idle-timeout: 0 is out of range 1-3600 (see --help)",
            ),
            (
                ["--max-body", "18446744073709551615"],
                "--max-body: 18446744073709551615 is out of range 1-1048576 (see --help)",
            ),
            (
                ["--max-connections", "0"],
                "--max-connections: 0 is out of range 1-65536 (see --help)",
            ),
            (
                ["--leeway", "86401"],
                "--leeway: 86401 is out of range 0-86400 (see --help)",
            ),
            (
                ["--clock", "253402300800"],
                "--clock: 253402300800 is out of range 0-253402300799 (see --help)",
            ),
            (["--workers", "-1"], "--workers: not a whole number: \"-1\""),
            (
                ["--workers", "automatic"],
                "--workers: not a whole number: \"automatic\"",
            ),
            (
                ["--log-format", "xml"],
                "--log-format: expected text or json, got \"xml\"",
            ),
        ] {
            assert_eq!(parse(&args).err().map(|e| e.0).as_deref(), Some(want));
        }
        let help = usage();
        for flag in [
            "--read-timeout",
            "--idle-timeout",
            "--max-body",
            "--max-connections",
            "--leeway",
            "--clock",
            "--workers",
        ] {
            let entry = help.split(&format!("  {flag} ")).nth(1).unwrap();
            let entry = entry.split("\n  --").next().unwrap();
            assert!(
                entry.contains(':') && entry.chars().any(|c| c.is_ascii_digit()),
                "{flag}: {entry}"
            );
        }
    }

    /// Regression: `/dev/zero` ran out of memory, a FIFO hung start-up.
    #[test]
    fn key_files_must_be_small_regular_files() {
        let dir = std::env::temp_dir().join(format!("comm-test-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo.pem");
        let _ = std::fs::remove_file(&fifo);
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let big = dir.join("big.pem");
        std::fs::write(&big, vec![b'A'; 70_000]).unwrap();
        for (path, want) in [
            (
                "/dev/zero".to_string(),
                "--decryption-key \"/dev/zero\": not a regular file".to_string(),
            ),
            (
                fifo.display().to_string(),
                format!(
                    "--decryption-key {:?}: not a regular file",
                    fifo.display().to_string()
                ),
            ),
            (
                "/tmp".to_string(),
                "--decryption-key \"/tmp\": not a regular file".to_string(),
            ),
            (
                big.display().to_string(),
                format!(
                    "--decryption-key {:?}: 70000 bytes is too large for a PEM key (at most 65536)",
                    big.display().to_string()
                ),
            ),
        ] {
            let spec = format!("={path}");
            let e = parse(&[
                "--decryption-key",
                &spec,
                "--signature-key",
                "keys/idcontact-test-rsa.pub.pem",
            ])
            .err()
            .unwrap();
            assert_eq!(e.0, want);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Regression: a path with `=` was split as `KID=path`, and a KID
    /// with a newline forged a start-up log line.
    #[test]
    fn key_specs_are_unambiguous() {
        assert_eq!(key_spec("--k", "a.pem").unwrap(), (None, "a.pem"));
        assert_eq!(
            key_spec("--k", "v2=a.pem").unwrap(),
            (Some("v2".into()), "a.pem")
        );
        assert_eq!(
            key_spec("--k", "=/etc/a=b.pem").unwrap(),
            (None, "/etc/a=b.pem")
        );
        assert_eq!(
            key_spec("--k", "v2=/etc/a=b.pem").unwrap(),
            (Some("v2".into()), "/etc/a=b.pem")
        );
        assert_eq!(
            key_spec("--k", "/etc/a=b.pem").unwrap_err().0,
            "--k: \"/etc/a\" is not a valid KID (1-64 of A-Z a-z 0-9 . _ - :); a path containing '=' is written =PATH"
        );
        // A line break is key text where a path belongs, never a KID.
        assert_eq!(
            key_spec("--k", "x\nFAKE LINE=a.pem").unwrap_err().0,
            "--k: this looks like PEM key text, not a file path; put the key in a file and give its path"
        );
    }
}
