//! The command line as users of well-liked CLIs expect it: every program
//! listed, its own `--help` with an example, `--version`, suggestions for
//! near misses, switches that work bare, plain words, RFC 3339 clocks,
//! and a README configuration table that cannot drift from the options.

mod common;
use common::{run, Server, SAMPLE};

#[test]
fn help_lists_every_program_and_each_has_its_own_page() {
    let (code, out, _) = run(&["--help"], None);
    assert_eq!(code, 0);
    for line in ["  decode ", "  mint ", "  probe ", "  help "] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    assert!(
        out.contains("  --inbox-host NAME[:PORT],…"),
        "the server's options too"
    );
    for (cmd, usage, example) in [
        (
            "decode",
            "usage: comm-test decode",
            "comm-test decode --clock",
        ),
        ("mint", "usage: comm-test mint", "comm-test mint --attr"),
        (
            "probe",
            "usage: comm-test probe ATTR_URL",
            "comm-test probe http://",
        ),
    ] {
        let (code, page, _) = run(&[cmd, "--help"], None);
        assert_eq!(code, 0, "{cmd}");
        assert!(page.starts_with(usage), "{cmd}: {page}");
        assert!(
            page.contains("example") && page.contains(example),
            "{cmd}: {page}"
        );
        assert!(
            !page.contains("--max-connections"),
            "{cmd} shows its own options, not the server's"
        );
        let (_, same, _) = run(&["help", cmd], None);
        assert_eq!(same, page, "help {cmd}");
    }
}

#[test]
fn version_long_and_short() {
    for flag in ["--version", "-V"] {
        let (code, out, _) = run(&[flag], None);
        assert_eq!(
            (code, out.as_str()),
            (0, concat!("comm-test ", env!("CARGO_PKG_VERSION"), "\n"))
        );
    }
}

#[test]
fn a_near_miss_gets_a_suggestion() {
    let (code, _, err) = run(&["decod"], None);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "comm-test: unknown command \"decod\"; did you mean decode?\n"
    );
    let (code, err) = common::run_to_refusal(&["--reject-replay"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown option \"--reject-replay\"; did you mean --reject-replays?"),
        "{err}"
    );
    let (code, _, err) = run(&["mint", "--atr", "a=b"], None);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean --attr?"), "{err}");
}

/// Regression: `--reject-replays --ui html` took `--ui` as the value and
/// reported `unexpected argument "html"`.
#[test]
fn switches_work_bare() {
    let s = Server::start(&[
        "--reject-replays",
        "--ui",
        "html",
        "--clock",
        "2021-03-16T07:30:00Z",
    ]);
    assert_eq!(s.post_token(SAMPLE).status, 200);
    assert_eq!(
        s.post_token(SAMPLE).status,
        409,
        "--reject-replays took effect"
    );
    let r = s.request("GET", "/ui", None, b"");
    assert!(
        r.text().starts_with("<!doctype html>"),
        "--ui html took effect"
    );
    let (code, err) = common::run_to_refusal(&["--use-attr-url", "maybe"]);
    assert_eq!(code, 2);
    assert!(err.contains("--use-attr-url is a switch"), "{err}");
}

/// Regression: Rust's internal wording (`cannot read: entity not found`), and a
/// public key given as a decryption key called "not a PEM key of a
/// supported kind" (it is one, in the wrong role).
#[test]
fn file_errors_in_plain_words() {
    let pub_key = "keys/idcontact-test-rsa.pub.pem";
    for (args, want) in [
        (
            vec!["--decryption-key", "keys/x.pem", "--signature-key", pub_key],
            "--decryption-key \"keys/x.pem\": no such file or directory",
        ),
        (
            vec!["--decryption-key", pub_key, "--signature-key", pub_key],
            "--decryption-key \"keys/idcontact-test-rsa.pub.pem\": this is a public key; it takes the private key",
        ),
        (
            vec!["--decryption-key", "keys/idcontact-test-rsa.key.pem", "--signature-key", "keys/idcontact-test-rsa.key.pem"],
            "--signature-key \"keys/idcontact-test-rsa.key.pem\": this is a private key; it takes the public key",
        ),
    ] {
        let (code, err) = common::run_to_refusal(&args);
        assert_eq!((code, err.trim_end()), (2, format!("comm-test: {want}").as_str()));
    }
}

/// Regression: empty standard input gave `rejected: malformed` with exit 1
/// instead of a usage error with exit 2.
#[test]
fn decode_without_a_token_is_a_usage_error() {
    let (code, out, err) = run(&["decode"], Some(""));
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("decode: no token on standard input"), "{err}");
}

/// Regression: `--clock` took only Unix seconds although every log and page
/// shows RFC 3339.
#[test]
fn the_clock_takes_rfc3339_as_well() {
    for clock in [
        "1615879800",
        "2021-03-16T07:30:00Z",
        "2021-03-16T08:30:00+01:00",
    ] {
        let (code, out, err) = run(&["decode", "--clock", clock], Some(SAMPLE));
        assert_eq!(code, 0, "{clock}: {err}");
        assert!(out.contains("\"email\": \"bla\""), "{out}");
    }
    let (code, _, err) = run(&["decode", "--clock", "2021-03-16"], Some(SAMPLE));
    assert_eq!(code, 2);
    assert!(
        err.contains("neither Unix seconds nor an RFC 3339 time"),
        "{err}"
    );
}

/// The README's configuration table is made from the options table, as
/// `--help` is: one source. `BLESS=1 cargo test --test cli` writes it.
#[test]
fn the_readme_configuration_table_is_the_options_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (open, close) = ("-->\n", "<!-- /options -->");
    let start = readme.find("<!-- options:").unwrap();
    let start = start + readme[start..].find(open).unwrap() + open.len();
    let end = readme.find(close).unwrap();
    let table = comm_test::config::options_table();
    if readme[start..end] != table && std::env::var_os("BLESS").is_some() {
        let blessed = format!("{}{table}{}", &readme[..start], &readme[end..]);
        std::fs::write(path, blessed).unwrap();
        return;
    }
    assert_eq!(
        readme[start..end],
        table,
        "the README's table is not the options table: BLESS=1 cargo test --test cli"
    );
    for o in comm_test::config::OPTIONS {
        assert!(table.contains(&format!("| `{} ", o.flag)), "{}", o.flag);
    }
}

/// What a new user found wrong in the help texts: none has a line with
/// trailing blanks, none says `usage:` twice, and `wait` names every
/// route the API takes.
#[test]
fn help_texts_are_clean() {
    for args in [
        &["--help"][..],
        &["decode", "--help"],
        &["mint", "--help"],
        &["probe", "--help"],
        &["wait", "--help"],
        &["health", "--help"],
    ] {
        let (code, out, _) = run(args, None);
        assert_eq!(code, 0, "{args:?}");
        for line in out.lines() {
            assert_eq!(line, line.trim_end(), "{args:?}: trailing blanks");
        }
        assert_eq!(out.matches("usage:").count(), 1, "{args:?}: {out}");
    }
    let (_, wait, _) = run(&["wait", "--help"], None);
    for route in comm_test::journal::ROUTES {
        assert!(wait.contains(route), "wait --help misses {route}: {wait}");
    }
}
