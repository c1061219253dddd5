//! The container image as an operator runs it: built as `just image`
//! builds it (the static binary, then `podman build` of the top-level
//! Containerfile, FROM scratch), then run with published ports. Without
//! podman the test says it was skipped, except in CI (`CI` set), where
//! `.ci/run` installs it and a missing podman is a failure.
//!
//! The build is a release build of its own (`target/image`), so it takes
//! a minute or two.

mod common;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// This machine's podman: runc (crun refuses these kernels' hybrid
/// cgroups), and limits within the hard ones.
fn podman(args: &[&str]) -> Output {
    Command::new("podman").args(args).output().unwrap()
}

fn podman_run_args() -> Vec<&'static str> {
    vec![
        "--runtime",
        "runc",
        "run",
        "--ulimit",
        "nofile=4096:4096",
        "--ulimit",
        "nproc=4096:4096",
    ]
}

fn podman_or_skip() -> bool {
    let there = Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !there {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have podman and runc: .ci/run installs them"
        );
        eprintln!("SKIPPED: no podman (apt-get install podman runc)");
    }
    there
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `just image`, step for step, into a tag of this test's own.
fn build_image(tag: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let target = format!("{root}/target/image");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "--target", "x86_64-unknown-linux-gnu"])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built));
    let ctx = std::env::temp_dir().join(format!("comm-test-image-{}", std::process::id()));
    std::fs::create_dir_all(ctx.join("data")).unwrap();
    std::fs::copy(
        format!("{target}/x86_64-unknown-linux-gnu/release/comm-test"),
        ctx.join("comm-test"),
    )
    .unwrap();
    let containerfile = format!("{root}/Containerfile");
    let ctx_s = ctx.to_str().unwrap();
    let b = podman(&[
        "build",
        "--format",
        "docker",
        "-t",
        tag,
        "-f",
        &containerfile,
        ctx_s,
    ]);
    let _ = std::fs::remove_dir_all(&ctx);
    assert!(b.status.success(), "{}", text(&b));
}

/// A request to a published port; the reply read to the end.
fn raw(port: u16, request: &str) -> common::Reply {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    common::read_reply(&mut s)
}

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", "-t", "0", &self.0]);
    }
}

fn wait_healthy(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = podman(&["exec", name, "/comm-test", "health"]);
        if h.status.success() {
            return;
        }
        assert!(Instant::now() < deadline, "never healthy: {}", text(&h));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_image_runs_as_an_operator_deploys_it() {
    if !podman_or_skip() {
        return;
    }
    let tag = format!("localhost/comm-test-test:{}", std::process::id());
    build_image(&tag);
    let size: u64 = String::from_utf8_lossy(
        &podman(&["image", "inspect", &tag, "--format", "{{.Size}}"]).stdout,
    )
    .trim()
    .parse()
    .unwrap();
    assert!(size <= 4 * 1024 * 1024, "image of {size} bytes");
    let config = text(&podman(&[
        "image",
        "inspect",
        &tag,
        "--format",
        "{{.Config.User}} {{json .Config.Healthcheck.Test}} {{json .Config.Env}}",
    ]));
    assert!(
        config.starts_with(r#"65532:65532 ["CMD","/comm-test","health"] "#),
        "{config}"
    );
    assert!(
        config.contains("COMM_TEST_LISTEN=0.0.0.0:8000")
            && config.contains("COMM_TEST_INBOX=0.0.0.0:8001"),
        "{config}"
    );

    // /data is the image's own and the user's: with no volume on it (or
    // docker's named volume, which takes its owner) the user writes there.
    let mut args = podman_run_args();
    args.extend(["--rm", &tag, "mint", "--suite", "/data/suite"]);
    let wrote = podman(&args);
    assert!(wrote.status.success(), "{}", text(&wrote));
    let (public, inbox) = (common::free_port(), common::free_port());
    let name = format!("comm-test-test-{}", std::process::id());
    let volume = format!("{name}-data");
    let mount = format!("{volume}:/data");
    let mut args = podman_run_args();
    let (p1, p2) = (
        format!("127.0.0.1:{public}:8000"),
        format!("127.0.0.1:{inbox}:8001"),
    );
    args.extend([
        "-d",
        "--name",
        &name,
        "-p",
        &p1,
        "-p",
        &p2,
        // Compose service names, as a static binary must resolve them
        // with no NSS modules in the image.
        "--add-host",
        "core:127.0.0.1",
        "-e",
        "COMM_TEST_INTERNAL_URL=http://comm-test:8000",
        // The journal on a named volume, as compose keeps it.
        "-v",
        &mount,
        "-e",
        "COMM_TEST_JOURNAL_FILE=/data/journal.jsonl",
        &tag,
    ]);
    let started = podman(&args);
    assert!(started.status.success(), "{}", text(&started));
    let _c = Container(name.clone());
    wait_healthy(&name);

    // PID 1 is the binary, unprivileged.
    let top = text(&podman(&["top", &name, "user", "pid", "args"]));
    assert!(
        top.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&"65532") && f.get(1) == Some(&"1") && f.get(2) == Some(&"/comm-test")
        }),
        "{top}"
    );
    // A compose service's name resolves inside the image.
    let by_name = podman(&["exec", &name, "/comm-test", "health", "http://core:8000"]);
    assert_eq!(
        String::from_utf8_lossy(&by_name.stdout),
        "healthy: http://core:8000/healthz answered 200\n",
        "{}",
        text(&by_name)
    );

    // The public routes and the inbox through the published ports, as a
    // tester's browser reaches them.
    let body = r#"{"purpose":"report_move"}"#;
    let r = raw(
        public,
        &format!(
            "POST /start_communication HTTP/1.1\r\nHost: localhost:{public}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(
        r.text(),
        r#"{"client_url":"http://localhost:8000/ui","attr_url":"http://comm-test:8000/auth_result"}"#
    );
    let listing = raw(
        inbox,
        &format!(
            "GET /api/events HTTP/1.1\r\nHost: localhost:{inbox}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(listing.status, 200, "{}", listing.text());
    assert!(
        listing.text().contains("\"purpose\":\"report_move\""),
        "{}",
        listing.text()
    );

    // SIGTERM (podman stop) stops PID 1 at once: the stop line, exit 0,
    // and no wait for podman's SIGKILL (a 30 s grace it never needs).
    let stopped = podman(&["stop", "-t", "30", &name]);
    assert!(stopped.status.success(), "{}", text(&stopped));
    let logs = text(&podman(&["logs", &name]));
    assert!(logs.contains("comm-test: stopping on SIGTERM"), "{logs}");
    let code = text(&podman(&[
        "inspect",
        &name,
        "--format",
        "{{.State.ExitCode}}",
    ]));
    assert_eq!(code.trim(), "0", "{logs}");
    assert!(
        logs.contains("settings: listener 0.0.0.0:8000, server URL http://localhost:8000"),
        "{logs}"
    );
    // `docker compose restart`: the same container, the same volume; the
    // event comes back from the journal file.
    let restarted = podman(&["start", &name]);
    assert!(restarted.status.success(), "{}", text(&restarted));
    wait_healthy(&name);
    let mut back = String::new();
    for _ in 0..100 {
        back = raw(
            inbox,
            &format!(
                "GET /api/events HTTP/1.1\r\nHost: localhost:{inbox}\r\nConnection: close\r\n\r\n"
            ),
        )
        .text();
        if back.contains("\"purpose\":\"report_move\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(back.contains("\"read_back\":\"not re-checked\""), "{back}");
    let _ = podman(&["rm", "-f", "-t", "0", &name]);
    let _ = podman(&["volume", "rm", "-f", &volume]);
    let _ = podman(&["rmi", "-f", &tag]);
}
