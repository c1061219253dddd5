//! The files the command line reads and writes, and what its messages may
//! quote: `probe --suite` reads only regular files inside the directory,
//! `mint --suite` writes only fresh files into a new or empty one, and no
//! message ever contains key material, even pasted where a path belongs.

mod common;
use common::{assert_no_key_material, run};
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::Command;

const PEM: &str = include_str!("../keys/idcontact-test-rsa.key.pem");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("comm-test-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn mint_suite(dir: &std::path::Path) {
    let (code, _, err) = run(&["mint", "--suite", dir.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
}

/// A receiver that records every body it is posted.
fn recording_target() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/auth_result", l.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = vec![0u8; 1 << 16];
            let mut got = Vec::new();
            c.set_read_timeout(Some(std::time::Duration::from_millis(200)))
                .unwrap();
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"\n") {
                    break;
                }
            }
            s.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&got).into_owned());
            let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    (url, seen)
}

/// Regression: `probe --suite DIR` followed a case file linked to a PEM
/// private key and posted the key to the target.
#[test]
fn probe_never_reads_through_a_link_in_the_suite() {
    let dir = tmp("probe-link");
    mint_suite(&dir);
    let case = dir.join("02-accept_no_typ_cty.jwt");
    std::fs::remove_file(&case).unwrap();
    symlink(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/keys/idcontact-test-rsa.key.pem"
        ),
        &case,
    )
    .unwrap();
    let (url, seen) = recording_target();
    let (code, out, err) = run(&["probe", &url, "--suite", dir.to_str().unwrap()], None);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("02-accept_no_typ_cty.jwt: is a symbolic link"),
        "{err}"
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing was posted");
    assert_no_key_material(&format!("{out}{err}"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Regression: `probe --suite DIR` blocked forever when `manifest.json` (or a
/// case file) was a FIFO.
#[test]
fn probe_refuses_a_fifo_instead_of_blocking() {
    let dir = tmp("probe-fifo");
    mint_suite(&dir);
    for name in ["manifest.json", "01-accept_josekit_shape.jwt"] {
        let dir = tmp(&format!("probe-fifo-{}", &name[..2]));
        mint_suite(&dir);
        std::fs::remove_file(dir.join(name)).unwrap();
        assert!(Command::new("mkfifo")
            .arg(dir.join(name))
            .status()
            .unwrap()
            .success());
        let (code, _, err) = run(
            &[
                "probe",
                "http://127.0.0.1:9/auth_result",
                "--suite",
                dir.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!("{name}: not a regular file")),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Regression: `mint --suite DIR` wrote through planted links (a linked
/// `manifest.json`'s target was overwritten, a dangling link's target
/// created) and over existing files.
#[test]
fn mint_writes_only_fresh_files_into_a_new_or_empty_directory() {
    let dir = tmp("mint-planted");
    std::fs::create_dir_all(&dir).unwrap();
    let victim = tmp("mint-victim");
    std::fs::write(&victim, "precious").unwrap();
    symlink(&victim, dir.join("manifest.json")).unwrap();
    let (code, _, err) = run(&["mint", "--suite", dir.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(
        err.trim_end()
            .ends_with("is not empty; give a new or empty directory"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // A directory that is itself a link, and a path that is a file.
    let link = tmp("mint-dirlink");
    let empty = tmp("mint-empty");
    std::fs::create_dir_all(&empty).unwrap();
    symlink(&empty, &link).unwrap();
    let (code, _, err) = run(&["mint", "--suite", link.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(err.contains("is a symbolic link"), "{err}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    let (code, _, err) = run(&["mint", "--suite", victim.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(err.contains("exists and is not a directory"), "{err}");
    // An empty directory is fine.
    mint_suite(&empty);
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 44);
    for p in [&dir, &empty] {
        std::fs::remove_dir_all(p).unwrap();
    }
    std::fs::remove_file(&link).unwrap();
    std::fs::remove_file(&victim).unwrap();
}

/// Regression: `COMM_TEST_DECRYPTION_KEYS` set to the PEM text itself printed
/// 25 of its 26 lines; so did every key option of the server, `decode`
/// and `mint`.
#[test]
fn pem_text_where_a_path_belongs_is_named_never_quoted() {
    let want = "this looks like PEM key text, not a file path";
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let mut cases: Vec<Case> = vec![
        (
            vec![],
            vec![
                ("COMM_TEST_DECRYPTION_KEYS", PEM),
                (
                    "COMM_TEST_SIGNATURE_KEYS",
                    "keys/idcontact-test-rsa.pub.pem",
                ),
            ],
        ),
        (
            vec![
                "--decryption-key",
                PEM,
                "--signature-key",
                "keys/idcontact-test-rsa.pub.pem",
            ],
            vec![],
        ),
        (
            vec![
                "--decryption-key",
                "keys/idcontact-test-rsa.key.pem",
                "--signature-key",
                PEM,
            ],
            vec![],
        ),
        (
            vec![
                "decode",
                "--decryption-key",
                PEM,
                "--signature-key",
                "keys/idcontact-test-rsa.pub.pem",
                "x",
            ],
            vec![],
        ),
        (vec!["mint", "--sign-with", PEM], vec![]),
        (vec!["mint", "--encrypt-to", PEM], vec![]),
    ];
    // A key pasted into a setting that takes no key at all.
    cases.push((vec!["--clock", PEM], vec![]));
    cases.push((vec![PEM], vec![]));
    for (args, env) in cases {
        let mut c = common::command(&args);
        for (k, v) in &env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_no_key_material(&err);
        assert!(
            err.contains(want) || err.contains("looks like PEM key text, not shown"),
            "{args:?} {env:?}: {err}"
        );
    }
}

/// Regression: a Rocket TOML with a syntax error on a one-line `key = "…"`
/// printed the toml crate's source snippet: the whole key.
#[test]
fn a_toml_syntax_error_on_a_key_line_quotes_no_key() {
    let dir = tmp("toml");
    std::fs::create_dir_all(&dir).unwrap();
    let body: String = PEM.lines().filter(|l| !l.starts_with("-----")).collect();
    let file = dir.join("config.toml");
    std::fs::write(
        &file,
        format!("[global]\nserver_url = \"http://x\"\n[global.decryption_privkey]\ntype = \"RSA\"\nkey = \"{body}\" oops\n"),
    )
    .unwrap();
    let (code, _, err) = run(&["--config", file.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not valid TOML: line 5: "), "{err}");
    assert_no_key_material(&err);
    for chunk in body.as_bytes().chunks(16) {
        assert!(!err.contains(std::str::from_utf8(chunk).unwrap()), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Regression (audit): a key path with a run of 40 letters, digits and
/// slashes (`/srv/comm-test/keys/abcdefghij/…`) was refused as "this looks
/// like PEM key text". Only PEM armour and line breaks are key text there;
/// a deep absolute path is a path, for the server and for `decode`.
#[test]
fn a_deep_absolute_key_path_is_a_path() {
    let mut dir = tmp("deep");
    for _ in 0..8 {
        dir = dir.join("abcdefghij0123456789");
    }
    std::fs::create_dir_all(&dir).unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let (key, public) = (dir.join("key.pem"), dir.join("pub.pem"));
    std::fs::copy(format!("{root}/keys/idcontact-test-rsa.key.pem"), &key).unwrap();
    std::fs::copy(format!("{root}/keys/idcontact-test-rsa.pub.pem"), &public).unwrap();
    let (key, public) = (key.to_str().unwrap(), public.to_str().unwrap());
    assert!(key.starts_with('/') && key.len() > 200, "{key}");
    let (code, out, err) = common::run(
        &[
            "decode",
            "--clock",
            common::SAMPLE_TIME,
            "--decryption-key",
            key,
            "--signature-key",
            public,
            "-",
        ],
        Some(common::SAMPLE),
    );
    assert_eq!(code, 0, "{out}{err}");
    let s = common::Server::start(&[
        "--decryption-key",
        key,
        "--signature-key",
        public,
        "--clock",
        common::SAMPLE_TIME,
    ]);
    assert_eq!(s.post_token(common::SAMPLE).status, 200);
    // A path that is not there is named in the refusal, not hidden as key text.
    let missing = format!("{}/nope.pem", dir.to_str().unwrap());
    let (code, err) =
        common::run_to_refusal(&["--decryption-key", &missing, "--signature-key", public]);
    assert_eq!(code, 2);
    assert!(err.contains("nope.pem"), "{err}");
    let _ = tmp("deep");
}
