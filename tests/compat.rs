//! What every producer in the ecosystem sends is accepted, both
//! profiles are told apart by name, and the original plugin's Rocket
//! configuration starts our binary where it says.

mod common;
use common::{command, Server, SAMPLE, SAMPLE_TIME};
use serde_json::{json, Value};
#[path = "common/mint.rs"]
mod mint;

const PRIV: &str = include_str!("../keys/idcontact-test-rsa.key.pem");
const PUB: &str = include_str!("../keys/idcontact-test-rsa.pub.pem");
const IDC_SAMPLE: &str = "tests/data/compat/id-contact-comm-test.config.sample.toml";
const VH_SAMPLE: &str = "tests/data/compat/verder-helpen-comm-test.config.sample.toml";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(outer: Value, inner: Value, claims: Value) -> String {
    mint::encrypt(&outer, &mint::sign(&inner, &claims, PRIV), PUB)
}

fn claims(sub: &str, status: &str, attributes: Value) -> Value {
    let t = now();
    json!({"sub": sub, "status": status, "attributes": attributes, "iat": t, "exp": t + 300})
}

const IDC: &str = "id-contact-attributes";
const VH: &str = "verder-helpen-attributes";

/// Regression: the shapes the ecosystem's producers send.
#[test]
fn every_producer_shape_is_accepted_over_http() {
    let s = Server::start(&[]);
    let bare_outer = json!({"alg": "RSA-OAEP", "enc": "A128CBC-HS256"});
    let josekit_outer =
        json!({"typ": "JWT", "cty": "JWT", "alg": "RSA-OAEP", "enc": "A128CBC-HS256"});
    for (name, t) in [
        (
            "Go / lestrrat-go/jwx: no typ or cty, a producer's own kid",
            token(
                json!({"alg": "RSA-OAEP", "enc": "A128CBC-HS256", "kid": "auth-plugin-2024"}),
                json!({"alg": "RS256", "kid": "signing-1"}),
                claims(IDC, "succes", json!({"email": "jwx@example.nl"})),
            ),
        ),
        (
            "failed with empty attributes",
            token(
                bare_outer.clone(),
                json!({"alg": "RS256"}),
                claims(IDC, "failed", json!({})),
            ),
        ),
        (
            "josekit: typ and cty JWT",
            token(
                josekit_outer.clone(),
                json!({"typ": "JWT", "alg": "RS256"}),
                claims(
                    IDC,
                    "succes",
                    json!({"naam": "Zoë d'Ávila", "bsn": "999990019"}),
                ),
            ),
        ),
    ] {
        let r = s.post_token(&t);
        assert_eq!((r.status, r.text().as_str()), (200, "accepted\n"), "{name}");
    }
    let log = s.wait_log("Zoë");
    assert!(
        log.contains(r#"unrecognised_kid={"jwe":"auth-plugin-2024","jws":"signing-1"}"#),
        "{log}"
    );
    assert!(
        log.contains("accepted status=failed attributes={}"),
        "{log}"
    );
    assert!(
        log.contains(r#"attributes={"bsn":"999990019","naam":"Zoë d'Ávila"}"#),
        "{log}"
    );
}

/// Regression: Verder Helpen spells `success` and
/// `verder-helpen-attributes`; each profile refuses the other by name.
#[test]
fn both_profiles_and_the_cross_profile_refusals() {
    let outer = json!({"alg": "RSA-OAEP", "enc": "A128CBC-HS256"});
    let inner = json!({"alg": "RS256"});
    let vh = token(
        outer.clone(),
        inner.clone(),
        claims(VH, "success", json!({"email": "vh@example.nl"})),
    );
    let idc = token(
        outer.clone(),
        inner.clone(),
        claims(IDC, "succes", json!({"email": "idc@example.nl"})),
    );
    let vh_with_idc_status = token(
        outer.clone(),
        inner.clone(),
        claims(VH, "succes", json!({})),
    );

    let s = Server::start(&["--profile", "verder-helpen"]);
    assert_eq!(s.post_token(&vh).status, 200);
    assert!(
        s.wait_log("vh@example.nl")
            .contains("accepted status=success"),
        "status as received"
    );
    for (t, want) in [
        (
            &idc,
            "invalid_claims: sub must be \"verder-helpen-attributes\" (profile verder-helpen); \
             \"id-contact-attributes\" arrived, which --profile id-contact or auto accepts\n",
        ),
        (
            &vh_with_idc_status,
            "invalid_claims: status must be \"success\" or \"failed\" (profile verder-helpen)\n",
        ),
    ] {
        let r = s.post_token(t);
        assert_eq!((r.status, r.text().as_str()), (400, want));
    }

    let env = command(&["--listen", "127.0.0.1:0"]);
    let mut env = env;
    env.env("COMM_TEST_PROFILE", "id-contact");
    let s = Server::spawn(env);
    assert_eq!(s.post_token(&idc).status, 200);
    let r = s.post_token(&vh);
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            400,
            "invalid_claims: sub must be \"id-contact-attributes\" (profile id-contact); \
             \"verder-helpen-attributes\" arrived, which --profile verder-helpen or auto accepts\n"
        )
    );
    // `decode` takes the profile too.
    let out = command(&["decode", "--profile", "verder-helpen", &vh])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            doc["claims"]["status"].as_str(),
            doc["claims"]["sub"].as_str()
        ),
        (Some("success"), Some(VH))
    );
}

fn rocket_server(file: &str, envs: &[(&str, &str)], args: &[&str]) -> Server {
    let mut c = command(args);
    c.env("ROCKET_CONFIG", file);
    for (k, v) in envs {
        c.env(k, v);
    }
    Server::spawn(c)
}

/// Regression: the original's published sample starts our binary with
/// the same effective settings: address and port (Rocket's defaults),
/// both URLs, the file's keys; and, since those are the published test
/// keys, the warning that anyone can mint tokens for them (it was silent).
#[test]
fn the_original_sample_configuration_is_a_drop_in() {
    let port = common::free_port().to_string();
    let s = rocket_server(
        IDC_SAMPLE,
        &[("ROCKET_PORT", &port)],
        &["--clock", SAMPLE_TIME],
    );
    assert_eq!(s.addr.to_string(), format!("127.0.0.1:{port}"));
    let log = s.log();
    assert!(
        log.contains(
            "WARNING: using the PUBLIC ID Contact test keys (fingerprint f39b64a429a25336); anyone can mint"
        ),
        "{log}"
    );
    // Told to fix it where this user keeps keys: the file, not flags only.
    assert!(
        log.contains(&format!(
            "Set decryption_privkey and signature_pubkey in {IDC_SAMPLE} (or pass"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "configuration from {IDC_SAMPLE} (Rocket profile release)"
        )),
        "{log}"
    );
    assert!(
        log.contains("decryption key RSA-OAEP kid=f39b64a429a25336"),
        "{log}"
    );
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"report_move"}"#,
    );
    assert_eq!(
        r.text(),
        r#"{"client_url":"http://comm-test.idcontact.test.tweede.golf/ui","attr_url":"http://comm-test:8000/auth_result"}"#
    );
    assert_eq!(s.post_token(SAMPLE).status, 200);
}

/// Layering: file < ROCKET_* < COMM_TEST_* < flags.
#[test]
fn rocket_layers_under_ours() {
    let start = r#"{"purpose":"p"}"#.as_bytes();
    let client_url = |s: &Server| {
        let r = s.request(
            "POST",
            "/start_communication",
            Some("application/json"),
            start,
        );
        serde_json::from_slice::<Value>(&r.body).unwrap()
    };
    let s = rocket_server(
        IDC_SAMPLE,
        &[
            ("ROCKET_SERVER_URL", "http://rocket-env"),
            ("ROCKET_USE_ATTR_URL", "false"),
        ],
        &["--listen", "127.0.0.1:0"],
    );
    assert_eq!(
        client_url(&s),
        json!({"client_url": "http://rocket-env/ui"})
    );
    let s = rocket_server(
        IDC_SAMPLE,
        &[
            ("ROCKET_SERVER_URL", "http://rocket-env"),
            ("COMM_TEST_SERVER_URL", "http://ours"),
        ],
        &["--listen", "127.0.0.1:0"],
    );
    assert_eq!(client_url(&s)["client_url"], "http://ours/ui");
    let s = rocket_server(
        IDC_SAMPLE,
        &[("COMM_TEST_SERVER_URL", "http://ours")],
        &["--listen", "127.0.0.1:0", "--server-url", "http://flag"],
    );
    assert_eq!(client_url(&s)["client_url"], "http://flag/ui");
    // Our keys replace the file's; the Verder Helpen sample works the same.
    let s = rocket_server(
        VH_SAMPLE,
        &[("ROCKET_PROFILE", "debug")],
        &[
            "--listen",
            "127.0.0.1:0",
            "--profile",
            "verder-helpen",
            "--config",
            IDC_SAMPLE,
        ],
    );
    assert!(s.log().contains(&format!(
        "configuration from {IDC_SAMPLE} (Rocket profile debug)"
    )));
}

/// A malformed file or key: one line naming the file and the key, exit 2.
#[test]
fn malformed_rocket_configuration_is_one_line_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("comm-test-rocket-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sample = std::fs::read_to_string(IDC_SAMPLE).unwrap();
    for (name, text, want) in [
        ("syntax.toml", "[global\nport = 1\n".to_string(), "syntax.toml: not valid TOML: "),
        (
            "key.toml",
            sample.replace("MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDn/BGtPZPgYa+5", "MIIE"),
            "key.toml: [global] decryption_privkey: ",
        ),
        (
            "type.toml",
            sample.replacen("type = \"RSA\"", "type = \"EC\"", 1),
            "type.toml: [global] signature_pubkey: type \"EC\" does not match the key, which is RS256",
        ),
        (
            "half.toml",
            sample.split("[global.decryption_privkey]").next().unwrap().to_string(),
            "half.toml: give both decryption_privkey and signature_pubkey, or neither",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let out = command(&["--listen", "127.0.0.1:0"])
            .env("ROCKET_CONFIG", &path)
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        let line = err.trim_end().strip_prefix("comm-test: ").unwrap();
        let line = line.replace(&format!("{}/", dir.display()), "");
        assert!(line.starts_with(want), "{line} vs {want}");
        common::assert_no_key_material(&err);
    }
    let out = command(&[]).env("ROCKET_CONFIG", "").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A missing file is named as the user named it: the variable, or
    // the flag (it said --config for both).
    let missing = dir.join("missing.toml");
    let by_env = command(&[])
        .env("ROCKET_CONFIG", &missing)
        .output()
        .unwrap();
    let by_flag = command(&["--config", missing.to_str().unwrap()])
        .output()
        .unwrap();
    for (out, named) in [(by_env, "ROCKET_CONFIG"), (by_flag, "--config")] {
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(
            err.trim_end(),
            format!("comm-test: {named} {missing:?}: no such file or directory")
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Regression: every line starts with an RFC 3339 UTC timestamp; in
/// `json`, one object per line with the same fields.
#[test]
fn logs_for_people_and_for_pipelines() {
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    s.post_token(SAMPLE);
    let log = s.wait_log("POST /auth_result");
    for line in log.lines() {
        let (ts, _) = line.split_once(' ').unwrap();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "{line}"
        );
    }
    let s = Server::start(&["--clock", SAMPLE_TIME, "--log-format", "json"]);
    s.post_token(SAMPLE);
    s.post_token("x.y");
    let log = s.wait_log("\"path\":\"/auth_result\",\"status\":400");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines
        .iter()
        .all(|l| l["time"].as_str().is_some_and(|t| t.ends_with('Z'))));
    let ok = lines.iter().find(|l| l["status"] == 200).unwrap();
    assert_eq!(
        (
            &ok["method"],
            &ok["path"],
            &ok["verdict"],
            &ok["claims"]["status"],
            &ok["claims"]["attributes"]
        ),
        (
            &json!("POST"),
            &json!("/auth_result"),
            &json!("accepted"),
            &json!("succes"),
            &json!({"email": "bla"})
        )
    );
    assert!(ok["duration_ms"].is_number());
    assert_eq!(ok["level"], "info");
    // Reason and detail apart, as the inbox's API has them.
    let bad = lines.iter().find(|l| l["status"] == 400).unwrap();
    assert_eq!(
        (
            &bad["level"],
            &bad["verdict"],
            &bad["reason"],
            &bad["detail"]
        ),
        (
            &json!("warn"),
            &json!("rejected"),
            &json!("malformed"),
            &json!("malformed: JWE must have exactly 5 parts")
        )
    );
}

/// Regression: `ROCKET_*` variables without a file were ignored (the
/// plugin listened on 8000 and answered `localhost` URLs); Rocket applies
/// them without a file, and so do we.
#[test]
fn rocket_variables_apply_without_a_file() {
    let port = common::free_port().to_string();
    let mut c = command(&["--inbox", "off"]);
    c.env_remove("ROCKET_CONFIG")
        .env("ROCKET_PORT", &port)
        .env("ROCKET_SERVER_URL", "http://comm-test.example");
    let s = Server::spawn(c);
    assert_eq!(s.addr.to_string(), format!("127.0.0.1:{port}"));
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"p"}"#,
    );
    assert!(
        r.text()
            .contains(r#""client_url":"http://comm-test.example/ui""#),
        "{}",
        r.text()
    );
    assert!(
        s.log().contains("configuration from ROCKET_* variables"),
        "{}",
        s.log()
    );
}

/// Regression: `./Rocket.toml` was not read; Rocket reads it when
/// `ROCKET_CONFIG` is unset.
#[test]
fn rocket_toml_in_the_working_directory_is_read() {
    let dir = std::env::temp_dir().join(format!("comm-test-rocket-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(IDC_SAMPLE, dir.join("Rocket.toml")).unwrap();
    let port = common::free_port().to_string();
    let mut c = command(&["--inbox", "off"]);
    c.current_dir(&dir)
        .env_remove("ROCKET_CONFIG")
        .env("ROCKET_PORT", &port);
    let s = Server::spawn(c);
    assert!(
        s.log()
            .contains("configuration from Rocket.toml (Rocket profile release)"),
        "{}",
        s.log()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Regression: another plugin's file (the test authentication plugin's)
/// got its keys reported unknown, then the built-in test keys were used;
/// a file without our keys is an error, as the original refuses to start.
#[test]
fn a_configuration_file_without_our_keys_is_refused() {
    let (code, _, err) = common::run(
        &[
            "--config",
            "tests/data/compat/id-contact-auth-test.config.sample.toml",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        "comm-test: tests/data/compat/id-contact-auth-test.config.sample.toml: no decryption_privkey \
         and no signature_pubkey; the original plugin does not start without them, nor do we (give \
         them there, or --decryption-key and --signature-key)\n"
    );
}

/// Regression: the Verder Helpen DigiD plugin signs `sub`
/// `id-contact-attributes` with `status` `success`, which Verder Helpen's
/// consumers accept (they check `status` only). On defaults (`auto`) it is
/// accepted and named as what it is in the log line, the journal, the
/// event's page and `decode`; a strict profile refuses it naming `auto`.
#[test]
fn the_digid_plugins_shape_is_accepted_on_defaults_and_named_everywhere() {
    let outer = json!({"alg": "RSA-OAEP", "enc": "A128CBC-HS256", "cty": "JWT"});
    let digid = token(
        outer,
        json!({"alg": "RS256", "typ": "JWT"}),
        claims(IDC, "success", json!({"bsn": "999991772"})),
    );
    let named =
        "profile verder-helpen: sub id-contact-attributes, as the Verder Helpen DigiD plugin sends";
    let s = Server::start(&[]);
    assert_eq!(s.post_token(&digid).status, 200);
    let log = s.wait_log("999991772");
    assert!(log.contains(&format!("profile=\"{named}\"")), "{log}");
    let r = s.inbox_request("GET", "/api/events");
    let listing: Value = serde_json::from_slice(&r.body).unwrap();
    let e = &listing["events"][0];
    assert_eq!(
        (
            &e["claims"]["sub"],
            &e["claims"]["status"],
            &e["profile"],
            &e["profile_note"]
        ),
        (
            &json!(IDC),
            &json!("success"),
            &json!("verder-helpen"),
            &json!("sub id-contact-attributes, as the Verder Helpen DigiD plugin sends")
        ),
        "{e}"
    );
    let page = s.inbox_request("GET", &format!("/events/{}", e["id"]));
    assert!(page.text().contains(named), "{}", page.text());
    let out = command(&["decode", &digid]).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["profile"], json!(named));

    for (profile, claim, which) in [
        ("id-contact", "status must be \"succes\" or \"failed\" (profile id-contact); \"success\"", "--profile auto"),
        ("verder-helpen", "sub must be \"verder-helpen-attributes\" (profile verder-helpen); \"id-contact-attributes\"", "--profile auto"),
    ] {
        let strict = Server::start(&["--profile", profile]);
        let r = strict.post_token(&digid);
        assert_eq!(r.status, 400);
        assert!(
            r.text().starts_with(&format!("invalid_claims: {claim} arrived, which {which}")),
            "{}",
            r.text()
        );
    }
    // Spellings no consumer accepts stay refused on defaults.
    for status in ["SUCCES", "ok"] {
        let r = s.post_token(&token(
            json!({"alg": "RSA-OAEP", "enc": "A128CBC-HS256"}),
            json!({"alg": "RS256"}),
            claims(IDC, status, json!({})),
        ));
        assert_eq!(
            (r.status, r.text().as_str()),
            (
                400,
                "invalid_claims: status must be \"succes\", \"success\" or \"failed\" \
                 (profile auto, sub id-contact-attributes)\n"
            )
        );
    }
}

/// The Verder Helpen sample configuration, changing nothing, accepts
/// Verder Helpen's tokens (it refused every one with `--profile`'s old
/// default).
#[test]
fn the_verder_helpen_sample_configuration_takes_verder_helpen_tokens() {
    // The sample carries the published ID Contact test keys.
    let port = common::free_port().to_string();
    let s = rocket_server(VH_SAMPLE, &[("ROCKET_PORT", &port)], &[]);
    let t = mint::encrypt(
        &json!({"alg": "RSA-OAEP", "enc": "A128CBC-HS256"}),
        &mint::sign(
            &json!({"alg": "RS256"}),
            &claims(VH, "success", json!({"email": "vh@example.nl"})),
            PRIV,
        ),
        PUB,
    );
    let r = s.post_token(&t);
    assert_eq!((r.status, r.text().as_str()), (200, "accepted\n"));
    assert!(s
        .wait_log("vh@example.nl")
        .contains("profile=\"profile verder-helpen\""));
}
