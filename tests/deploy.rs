//! Where the plugin is deployed: the health check a scratch image runs,
//! URLs that follow `--listen`, the inbox reached through a published
//! port, and the image itself (built and run with podman where it is
//! installed; `.ci/run` installs it).

mod common;
use common::{command, run, Server};
use std::io::{Read, Write};
use std::net::TcpListener;

/// A one-shot HTTP server answering `status` to its first request.
fn answers(status: u16) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut c, _)) = l.accept() {
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    addr
}

#[test]
fn health_exits_0_on_200_and_1_on_anything_else_saying_which() {
    let s = Server::start(&[]);
    let (code, out, err) = run(&["health", &format!("http://{}", s.addr)], None);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            0,
            format!("healthy: http://{}/healthz answered 200\n", s.addr).as_str(),
            ""
        )
    );
    let sick = answers(503);
    let (code, out, err) = run(&["health", &format!("http://{sick}/")], None);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            1,
            "",
            format!("comm-test: unhealthy: http://{sick}/healthz answered 503\n").as_str()
        )
    );
    let closed = common::free_port();
    let (code, _, err) = run(&["health", &format!("http://127.0.0.1:{closed}")], None);
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!(
            "comm-test: unhealthy: http://127.0.0.1:{closed}/healthz: "
        )),
        "{err}"
    );
    for bad in [
        &["health", "--timeout", "0"][..],
        &["health", "a", "b"],
        &["health", "ftp://x"],
    ] {
        assert_eq!(run(bad, None).0, 2, "{bad:?}");
    }
}

/// With no URL, `health` asks the listener `COMM_TEST_LISTEN` names, a
/// wildcard on loopback: what the image's HEALTHCHECK runs.
#[test]
fn health_without_a_url_asks_the_listener_the_environment_names() {
    let port = common::free_port();
    let s = Server::start(&["--listen", &format!("0.0.0.0:{port}")]);
    let out = command(&["health"])
        .env("COMM_TEST_LISTEN", format!("0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("healthy: http://127.0.0.1:{port}/healthz answered 200\n")
    );
    drop(s);
}

/// `--listen 127.0.0.1:PORT` alone hands out URLs on that port, so
/// `probe --plugin` of it reaches it (it posted to 8000 before).
#[test]
fn listen_alone_gives_urls_a_probe_can_follow() {
    let port = common::free_port();
    let s = Server::start(&[
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--profile",
        "id-contact",
    ]);
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"p"}"#,
    );
    assert_eq!(
        r.text(),
        format!(
            r#"{{"client_url":"http://127.0.0.1:{port}/ui","attr_url":"http://127.0.0.1:{port}/auth_result"}}"#
        )
    );
    let (code, out, err) = run(
        &["probe", "--plugin", &format!("http://127.0.0.1:{port}")],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.trim_end()
            .ends_with("s: 48 pass, 0 fail (plugin API 5/5, tokens 43/43)"),
        "{out}"
    );
}

/// A published inbox port makes the browser send `Host: localhost:18081`:
/// that is the inbox's own name. A name it does not know gets a 421 that
/// says which Host and which flag admits it.
#[test]
fn the_inbox_answers_its_loopback_names_on_any_port_and_names_what_it_refuses() {
    let s = Server::start(&[]);
    let get = |host: &str| {
        s.inbox_raw(
            format!("GET /api/events HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    };
    for host in [
        "localhost:18081",
        "127.0.0.1:18081",
        "[::1]:18081",
        "localhost",
    ] {
        assert_eq!(get(host).status, 200, "{host}");
    }
    // An API error is JSON, `{"error", "field"}`, as every one is.
    let error = |r: &common::Reply| -> String {
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["field"], serde_json::Value::Null, "{v}");
        v["error"].as_str().unwrap().to_owned()
    };
    let r = get("comm-test:18081");
    assert_eq!(
        (r.status, error(&r).as_str()),
        (
            421,
            "this inbox does not answer to Host \"comm-test:18081\": its names are localhost, \
             127.0.0.1 and [::1] on any port, and its IP:PORT; start with --inbox-host \
             comm-test:18081 to add this one"
        )
    );
    // What a hostile page sends is shown quoted and cut, never at length.
    let long = format!("{}example", "ab.".repeat(100));
    let r = get(&long);
    assert_eq!(r.status, 421);
    let said = error(&r);
    let cut: String = long.chars().take(80).collect();
    assert!(said.contains(&format!("Host \"{cut}\"…")), "{said}");
    assert!(said.contains("--inbox-host NAME[:PORT]"), "{said}");
    assert!(said.len() < 400, "{said}");
}

/// On a wildcard public listener with the inbox on loopback (a container
/// started with only ROCKET_ADDRESS=0.0.0.0), start-up says in one line
/// how to reach the inbox from outside; the settings line names the
/// listener, the server URL and the internal URL.
#[test]
fn start_up_names_the_listener_the_urls_and_how_to_reach_the_inbox() {
    let port = common::free_port();
    let s = Server::start(&[
        "--listen",
        &format!("0.0.0.0:{port}"),
        "--internal-url",
        "http://comm-test:8000",
    ]);
    let inbox = s.inbox();
    let log = s.log();
    assert!(
        log.contains(&format!(
            "settings: listener 0.0.0.0:{port}, server URL http://localhost:{port} (client_url http://localhost:{port}/ui), \
             internal URL http://comm-test:8000 (attr_url http://comm-test:8000/auth_result)"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "the inbox is on loopback ({inbox}) while the public listener is on 0.0.0.0:{port}: to reach it from \
             outside this host or container, start with --inbox 0.0.0.0:{p} (COMM_TEST_INBOX) and publish that \
             port to 127.0.0.1 (-p 127.0.0.1:8001:{p})",
            p = inbox.port()
        )),
        "{log}"
    );
    // Copy-as-curl targets the server URL, the one a tester reaches.
    assert_eq!(
        s.request(
            "POST",
            "/start_communication",
            Some("application/json"),
            br#"{"purpose":"p"}"#
        )
        .status,
        200
    );
    let page = s.inbox_request("GET", "/events/1");
    assert!(
        page.text()
            .contains(&format!("http://localhost:{port}/start_communication")),
        "{}",
        page.text()
    );
    assert!(!page.text().contains("comm-test:8000/start_communication"));
}
