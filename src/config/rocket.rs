//! The original plugin's configuration, read as Rocket reads it, so that
//! our binary can take its place without touching its deployment.
//!
//! Rocket (0.5, through figment) takes the TOML file named by
//! `ROCKET_CONFIG`, merges the profiles `[default]`, then the selected one
//! (`ROCKET_PROFILE`, `release` for a release build), then `[global]` over
//! both (tables merge key by key), and lets `ROCKET_<KEY>` environment
//! variables override any key; their values are read as TOML values where
//! they parse as one (`8000`, `true`, `{type = "RSA", key = "…"}`), else as
//! strings. The plugin's own keys are `server_url`, `internal_url`,
//! `use_attr_url`, `decryption_privkey` and `signature_pubkey` (`{type =
//! "RSA" | "EC", key = "<PEM>"}`); of Rocket's own, `address` and `port`
//! matter to us, the rest (`workers`, `keep_alive`, `log_level`, …) are
//! ignored with one note.

use std::collections::BTreeMap;
use std::net::IpAddr;

use toml::{Table, Value};

use super::{ConfigError, Env};
use crate::jose::{DecryptionKey, KeyManagement, SignatureAlg, VerificationKey};

/// Rocket's own settings, which have no meaning for us.
const ROCKET_OWN: &[&str] = &[
    "workers",
    "max_blocking",
    "ident",
    "ip_header",
    "proxy_proto_header",
    "keep_alive",
    "log_level",
    "cli_colors",
    "limits",
    "tls",
    "mtls",
    "secret_key",
    "shutdown",
    "temp_dir",
    "reuse",
];

/// The keys we read, and the environment variables that override them.
const KEYS: &[(&str, &str)] = &[
    ("address", "ROCKET_ADDRESS"),
    ("port", "ROCKET_PORT"),
    ("server_url", "ROCKET_SERVER_URL"),
    ("internal_url", "ROCKET_INTERNAL_URL"),
    ("use_attr_url", "ROCKET_USE_ATTR_URL"),
    ("decryption_privkey", "ROCKET_DECRYPTION_PRIVKEY"),
    ("signature_pubkey", "ROCKET_SIGNATURE_PUBKEY"),
];

/// The name `load` is given when there is no file, only `ROCKET_*`
/// variables (Rocket applies them without a file; so do we).
pub const ENV_ONLY: &str = "ROCKET_* variables";

/// Whether any `ROCKET_*` variable we read is set.
pub fn named_in_env(env: Env<'_>) -> bool {
    KEYS.iter().any(|(_, name)| env(name).is_some())
}

/// The effective settings of a Rocket configuration, checked.
pub struct RocketConfig {
    /// The file, for messages (or `ROCKET_* variables`, without one).
    pub file: String,
    /// Whether a file was read: one without keys is an error, as the
    /// original refuses to start without them; variables alone are not.
    pub from_file: bool,
    pub profile: String,
    pub address: Option<IpAddr>,
    pub port: Option<u16>,
    pub server_url: Option<String>,
    pub internal_url: Option<String>,
    pub use_attr_url: Option<bool>,
    pub decryption: Option<DecryptionKey>,
    pub signature: Option<VerificationKey>,
    /// Keys present that we do not use: Rocket's own, and any other.
    pub ignored: Vec<String>,
}

impl RocketConfig {
    /// `ADDR:PORT` when the configuration names either.
    pub fn listen(&self) -> Option<String> {
        if self.address.is_none() && self.port.is_none() {
            return None;
        }
        let port = self.port.unwrap_or(8000);
        Some(match self.address {
            Some(IpAddr::V6(a)) => format!("[{a}]:{port}"),
            Some(IpAddr::V4(a)) => format!("{a}:{port}"),
            None => format!("127.0.0.1:{port}"),
        })
    }
}

/// Where a merged value came from: `[global]`, `[release]`, or a variable.
type Merged = BTreeMap<String, (Value, String)>;

fn merge(into: &mut Merged, table: &Table, origin: &str) {
    for (k, v) in table {
        match (into.get_mut(k), v) {
            (Some((Value::Table(old), o)), Value::Table(new)) => {
                for (nk, nv) in new {
                    old.insert(nk.clone(), nv.clone());
                }
                *o = origin.to_owned();
            }
            _ => {
                into.insert(k.clone(), (v.clone(), origin.to_owned()));
            }
        }
    }
}

/// What is wrong with the file, and where, without the toml crate's
/// source snippet: the line it quotes may be a key's (`key = "…"`).
fn toml_problem(e: &toml::de::Error, text: &str) -> String {
    let line = e
        .span()
        .map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1);
    let what = one_line(e.message());
    let what = if crate::log::looks_like_key(&what) {
        "a syntax error".to_owned()
    } else {
        what
    };
    match line {
        Some(n) => format!("not valid TOML: line {n}: {what}"),
        None => format!("not valid TOML: {what}"),
    }
}

/// An environment value as figment reads it: a TOML value if it is one.
fn env_value(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

/// Reads `file` (already checked by the caller to be a small regular
/// file) with the profile and `ROCKET_*` overrides from `env`.
/// The file's layers as Rocket merges them: `[default]`, the profile's
/// section, `[global]`, then `ROCKET_*` variables; and the profile's name.
fn layers(file: &str, text: &str, env: Env<'_>) -> Result<(String, Merged), ConfigError> {
    let fail = |what: String| ConfigError(format!("{file}: {what}"));
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| fail(toml_problem(&e, text)))?;
    let var = |name: &str| -> Result<Option<String>, ConfigError> {
        match env(name) {
            None => Ok(None),
            Some(v) => v
                .into_string()
                .map(Some)
                .map_err(|_| ConfigError(format!("{name} is not UTF-8"))),
        }
    };
    let profile = var("ROCKET_PROFILE")?.unwrap_or_else(|| "release".into());
    let mut merged = Merged::new();
    for section in ["default", profile.as_str(), "global"] {
        match table.get(section) {
            None => {}
            Some(Value::Table(t)) => merge(&mut merged, t, &format!("[{section}]")),
            Some(_) => return Err(fail(format!("[{section}] is not a table"))),
        }
    }
    for (key, name) in KEYS {
        if let Some(raw) = var(name)? {
            merged.insert((*key).into(), (env_value(&raw), (*name).into()));
        }
    }
    Ok((profile, merged))
}

/// The keys we do not read: Rocket's own by name, anything else as unknown.
fn ignored_keys(merged: &Merged) -> Vec<String> {
    merged
        .keys()
        .filter(|k| !KEYS.iter().any(|(ours, _)| ours == k))
        .map(|k| {
            if ROCKET_OWN.contains(&k.as_str()) {
                k.clone()
            } else {
                format!("{k} (unknown)")
            }
        })
        .collect()
}

pub fn load(file: &str, text: &str, env: Env<'_>) -> Result<RocketConfig, ConfigError> {
    let fail = |what: String| ConfigError(format!("{file}: {what}"));
    let (profile, merged) = layers(file, text, env)?;
    let at = |key: &str| merged.get(key);
    let bad = |key: &str, origin: &str, what: &str| {
        if origin.starts_with('[') {
            fail(format!("{origin} {key}: {what}"))
        } else {
            ConfigError(format!("{origin}: {what}"))
        }
    };
    let string = |key: &str| -> Result<Option<String>, ConfigError> {
        match at(key) {
            None => Ok(None),
            Some((Value::String(s), _)) => Ok(Some(s.clone())),
            Some((_, o)) => Err(bad(key, o, "expected a string")),
        }
    };
    let address = match at("address") {
        None => None,
        Some((Value::String(s), o)) => Some(
            s.parse::<IpAddr>()
                .map_err(|_| bad("address", o, "expected an IP address"))?,
        ),
        Some((_, o)) => return Err(bad("address", o, "expected an IP address")),
    };
    let port = match at("port") {
        None => None,
        Some((Value::Integer(p), o)) => {
            Some(u16::try_from(*p).map_err(|_| bad("port", o, "expected a port number 0-65535"))?)
        }
        Some((_, o)) => return Err(bad("port", o, "expected a port number 0-65535")),
    };
    let use_attr_url = match at("use_attr_url") {
        None => None,
        Some((Value::Boolean(b), _)) => Some(*b),
        Some((_, o)) => return Err(bad("use_attr_url", o, "expected true or false")),
    };
    let family = |rsa: bool| if rsa { "RSA" } else { "EC" };
    let decryption = typed_key(
        at("decryption_privkey"),
        "decryption_privkey",
        &bad,
        |pem| {
            let k = DecryptionKey::from_pem(pem, None).map_err(|e| e.to_string())?;
            let shape = (
                family(k.algorithm() == KeyManagement::RsaOaep),
                k.algorithm().name(),
            );
            Ok((k, shape))
        },
    )?;
    let signature = typed_key(at("signature_pubkey"), "signature_pubkey", &bad, |pem| {
        let k = VerificationKey::from_pem(pem, None).map_err(|e| e.to_string())?;
        let shape = (
            family(k.algorithm() == SignatureAlg::Rs256),
            k.algorithm().name(),
        );
        Ok((k, shape))
    })?;
    let ignored = ignored_keys(&merged);
    Ok(RocketConfig {
        file: file.to_owned(),
        from_file: file != ENV_ONLY,
        profile,
        address,
        port,
        server_url: string("server_url")?,
        internal_url: string("internal_url")?,
        use_attr_url,
        decryption,
        signature,
        ignored,
    })
}

/// A key setting `{type, key}`: the PEM parsed by `parse` (which also says
/// the key's family and algorithm), and `type` checked against it.
fn typed_key<K>(
    value: Option<&(Value, String)>,
    name: &str,
    bad: &dyn Fn(&str, &str, &str) -> ConfigError,
    parse: impl Fn(&str) -> Result<(K, (&'static str, &'static str)), String>,
) -> Result<Option<K>, ConfigError> {
    let Some((v, o)) = value else {
        return Ok(None);
    };
    let (kind, pem) = key_table(v).map_err(|w| bad(name, o, w))?;
    let (key, (actual, alg)) = parse(pem).map_err(|e| bad(name, o, &e))?;
    if kind != actual {
        return Err(bad(
            name,
            o,
            &format!("type {kind:?} does not match the key, which is {alg}"),
        ));
    }
    Ok(Some(key))
}

/// `{type = "RSA" | "EC", key = "<PEM>"}`, as id-contact-jwt reads it.
fn key_table(v: &Value) -> Result<(&'static str, &str), &'static str> {
    let Value::Table(t) = v else {
        return Err("expected a table {type = \"RSA\" | \"EC\", key = \"<PEM>\"}");
    };
    let kind = match t.get("type") {
        Some(Value::String(s)) if s == "RSA" => "RSA",
        Some(Value::String(s)) if s == "EC" => "EC",
        _ => return Err("type must be \"RSA\" or \"EC\""),
    };
    match t.get("key") {
        Some(Value::String(pem)) => Ok((kind, pem)),
        _ => Err("key must be a PEM string"),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    const SAMPLE: &str =
        include_str!("../../tests/data/compat/id-contact-comm-test.config.sample.toml");

    fn load_with(text: &str, vars: &[(&str, &str)]) -> Result<RocketConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |name: &str| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        };
        load("c.toml", text, &env)
    }

    #[test]
    fn the_original_sample_as_rocket_reads_it() {
        let c = load_with(SAMPLE, &[]).unwrap();
        assert_eq!(
            c.server_url.as_deref(),
            Some("http://comm-test.idcontact.test.tweede.golf")
        );
        assert_eq!(c.internal_url.as_deref(), Some("http://comm-test:8000"));
        assert_eq!(c.use_attr_url, Some(true));
        assert_eq!(c.listen(), None, "Rocket's defaults: ours too");
        assert_eq!(c.decryption.unwrap().algorithm(), KeyManagement::RsaOaep);
        assert_eq!(c.signature.unwrap().algorithm(), SignatureAlg::Rs256);
        assert!(c.ignored.is_empty());
    }

    #[test]
    fn profiles_merge_default_then_selected_then_global_then_env() {
        let text = r#"
            [default]
            port = 1
            server_url = "http://default"
            workers = 4
            [release]
            port = 2
            internal_url = "http://release"
            [debug]
            port = 3
            [global]
            use_attr_url = false
            log_level = "critical"
            colour = "blue"
        "#;
        let c = load_with(text, &[]).unwrap();
        assert_eq!(
            (
                c.port,
                c.server_url.as_deref(),
                c.internal_url.as_deref(),
                c.use_attr_url
            ),
            (
                Some(2),
                Some("http://default"),
                Some("http://release"),
                Some(false)
            )
        );
        assert_eq!(c.ignored, ["colour (unknown)", "log_level", "workers"]);
        let c = load_with(text, &[("ROCKET_PROFILE", "debug")]).unwrap();
        assert_eq!((c.port, c.internal_url), (Some(3), None));
        let c = load_with(
            text,
            &[
                ("ROCKET_PORT", "8081"),
                ("ROCKET_ADDRESS", "::1"),
                ("ROCKET_USE_ATTR_URL", "true"),
                ("ROCKET_SERVER_URL", "http://env"),
            ],
        )
        .unwrap();
        assert_eq!(c.listen().as_deref(), Some("[::1]:8081"));
        assert_eq!(
            (c.use_attr_url, c.server_url.as_deref()),
            (Some(true), Some("http://env"))
        );
    }

    #[test]
    fn malformed_files_and_keys_name_the_file_and_the_key() {
        let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----";
        for (text, vars, want) in [
            ("[global\n", vec![], "c.toml: not valid TOML: "),
            ("global = 1", vec![], "c.toml: [global] is not a table"),
            (
                "[global]\nport = \"x\"",
                vec![],
                "c.toml: [global] port: expected a port number 0-65535",
            ),
            (
                "[global]\nport = 70000",
                vec![],
                "c.toml: [global] port: expected a port number 0-65535",
            ),
            (
                "[release]\naddress = \"localhost\"",
                vec![],
                "c.toml: [release] address: expected an IP address",
            ),
            (
                "[global]\nuse_attr_url = \"yes\"",
                vec![],
                "c.toml: [global] use_attr_url: expected true or false",
            ),
            (
                "[global]\nsignature_pubkey = \"x\"",
                vec![],
                "c.toml: [global] signature_pubkey: expected a table",
            ),
            (
                "[global.decryption_privkey]\ntype = \"DSA\"\nkey = \"x\"",
                vec![],
                "c.toml: [global] decryption_privkey: type must be \"RSA\" or \"EC\"",
            ),
            (
                "",
                vec![("ROCKET_PORT", "eighty")],
                "ROCKET_PORT: expected a port number 0-65535",
            ),
        ] {
            let e = load_with(text, &vars)
                .err()
                .unwrap_or_else(|| panic!("{text} accepted"));
            assert!(e.0.starts_with(want), "{} vs {want}", e.0);
            assert!(!e.0.contains('\n'));
        }
        let t = format!("[global.signature_pubkey]\ntype = \"RSA\"\nkey = \"\"\"\n{pem}\n\"\"\"");
        let e = load_with(&t, &[]).err().unwrap();
        assert!(
            e.0.starts_with("c.toml: [global] signature_pubkey: "),
            "{}",
            e.0
        );
        let ec = include_str!("../../keys/idcontact-test-ec.pub.pem");
        let t = format!("[global.signature_pubkey]\ntype = \"RSA\"\nkey = \"\"\"\n{ec}\"\"\"");
        assert_eq!(
            load_with(&t, &[]).err().unwrap().0,
            "c.toml: [global] signature_pubkey: type \"RSA\" does not match the key, which is ES256"
        );
    }
}
