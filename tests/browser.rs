//! The inbox page in a real browser. Headless Chromium (Debian
//! package `chromium`; `.ci/run` installs it) loads the page with entries
//! present, runs its script, and the test reads the rendered DOM.
//! Without Chromium the test says so and passes, except in CI (`CI` set),
//! where a missing browser is a failure.

mod common;
#[path = "common/core.rs"]
mod core;
use common::{Server, SAMPLE, SAMPLE_TIME};
use std::process::Command;

/// The WebDriver to drive Chromium with; without both, the test says it
/// is skipped, except in CI, where a missing browser is a failure.
fn driver_or_skip() -> Option<&'static str> {
    if let (Some(_), Some(driver)) = (chromium(), webdriver::driver()) {
        return Some(driver);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have Chromium and chromium-driver: .ci/run installs them"
    );
    eprintln!("SKIPPED: no Chromium or chromedriver (apt-get install chromium chromium-driver)");
    None
}

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(String::from)
}

/// The DOM after load, as headless Chromium renders it.
pub fn rendered_dom(browser: &str, url: &str) -> String {
    let profile = std::env::temp_dir().join(format!("comm-test-chromium-{}", std::process::id()));
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            url,
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_inbox_page_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Chromium: .ci/run installs the Debian package"
        );
        eprintln!("SKIPPED: no Chromium on PATH (apt-get install chromium)");
        return;
    };
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    let start = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"<i>report_move</i>"}"#,
    );
    assert_eq!(start.status, 200);
    assert_eq!(s.post_token(SAMPLE).status, 200);
    assert_eq!(s.post_token(SAMPLE).status, 200);
    assert_eq!(s.post_token("a.b").status, 400);
    let dom = rendered_dom(&browser, &format!("http://{}/", s.inbox()));
    // Server-rendered entries, newest first, as the browser parsed them.
    let articles: Vec<&str> = dom
        .match_indices("<article class=\"event ")
        .map(|(i, _)| &dom[i + 22..i + 30])
        .collect();
    assert_eq!(articles.len(), 4, "{dom}");
    assert!(articles[0].starts_with("rejected") && articles[1].starts_with("replay"));
    assert!(articles[2].starts_with("accepted") && articles[3].starts_with("start"));
    assert!(dom.contains("<tr><th>email</th><td>bla</td></tr>"), "{dom}");
    assert!(dom.contains("<dd>malformed: JWE must have exactly 5 parts</dd>"));
    // The purpose's markup is text, not an element.
    assert!(dom.contains("&lt;i&gt;report_move&lt;/i&gt;") && !dom.contains("<i>report_move"));
    // The script ran: copy buttons are shown (the page hides them without it).
    assert!(
        dom.contains(r#"<button type="button" class="copy" data-target="t4">Copy token</button>"#),
        "{dom}"
    );
    assert!(!dom.contains("class=\"copy\" data-target=\"t4\" hidden"));
    assert!(dom.contains(r#"<span class="ago">just now</span>"#));
}

#[path = "common/mint.rs"]
mod mint;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/webdriver.rs"]
mod webdriver;

fn fresh_token(session_url: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = mint::claims(now);
    claims["session_url"] = serde_json::json!(session_url);
    mint::encrypt(
        &serde_json::json!({"alg": "RSA-OAEP", "enc": "A128CBC-HS256"}),
        &mint::sign(
            &serde_json::json!({"alg": "RS256"}),
            &claims,
            include_str!("../keys/idcontact-test-rsa.key.pem"),
        ),
        include_str!("../keys/idcontact-test-rsa.pub.pem"),
    )
}

/// The inbox as a tester uses it, in Chromium driven over WebDriver:
/// the page's own buttons work (they answered 403 in a real browser, whose
/// forms carry `Origin: null` under `no-referrer`), entries arrive live
/// exactly once each with the count kept (three at once showed ids 8, 7,
/// 8, 7, 6), and a cleared journal empties the page (it kept every old
/// entry until reloaded).
#[test]
fn the_inbox_in_a_browser_a_test_drives() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let rx = receiver::Receiver::start(receiver::Answer::Status(200));
    let s = Server::start(&["--session-feedback", &rx.addr.to_string()]);
    assert_eq!(s.post_token(&fresh_token(&rx.session_url())).status, 200);
    // The automatic user_active for the accepted result.
    assert_eq!(rx.wait_for(1).len(), 1);
    let b = webdriver::Browser::start(driver);
    let inbox = format!("http://{}/", s.inbox());
    b.open(&inbox);
    b.wait_for(|b| b.text("#live"), |t| t == "live");

    // The page's own buttons, as a tester clicks them: the entry's
    // details first (the list is compact), then Send.
    b.click("article:has(form[action*='type=user_active']) details.more > summary");
    b.click("form[action*='type=user_active'] button");
    let seen = rx.wait_for(2);
    assert_eq!(
        seen[1], "POST /session/update?sid=s3cr3t&type=user_active HTTP/1.1",
        "{seen:?}"
    );
    b.wait_for(|b| b.text("#live"), |t| t == "live");
    b.click("article:has(form[action*='type=logout']) details.more > summary");
    b.click("form[action*='type=logout'] button");
    let seen = rx.wait_for(3);
    assert_eq!(
        seen,
        [
            "POST /session/update?sid=s3cr3t&type=user_active HTTP/1.1",
            "POST /session/update?sid=s3cr3t&type=user_active HTTP/1.1",
            "POST /session/update?sid=s3cr3t&type=logout HTTP/1.1",
        ],
        "each click sent exactly once"
    );

    // Three entries at once, watched arriving live.
    b.wait_for(|b| b.text("#live"), |t| t == "live");
    let before = b.entry_ids();
    let count_before: usize = b.text("#count").parse().unwrap();
    let starts: Vec<_> = (0..3)
        .map(|i| {
            let addr = s.addr;
            std::thread::spawn(move || {
                let body = format!(r#"{{"purpose":"live_{i}"}}"#);
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                use std::io::{Read, Write};
                write!(c, "POST /start_communication HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
                let mut r = String::new();
                c.read_to_string(&mut r).unwrap();
                assert!(r.starts_with("HTTP/1.1 200"), "{r}");
            })
        })
        .collect();
    for t in starts {
        t.join().unwrap();
    }
    let ids = b.wait_for(|b| b.entry_ids(), |ids| ids.len() >= before.len() + 3);
    let newest = *before.iter().max().unwrap();
    let mut new: Vec<u64> = ids.iter().copied().filter(|id| *id > newest).collect();
    assert_eq!(ids.len(), before.len() + 3, "{ids:?}");
    assert_eq!(
        &ids[3..],
        &before[..],
        "the new ones on top, the old ones kept"
    );
    new.sort();
    assert_eq!(
        new,
        [newest + 1, newest + 2, newest + 3],
        "each exactly once: {ids:?}"
    );
    assert_eq!(
        &ids[..3],
        &[newest + 3, newest + 2, newest + 1],
        "newest first"
    );
    let count = b.wait_for(
        |b| b.text("#count"),
        |c| *c == (count_before + 3).to_string(),
    );
    assert_eq!(count, (count_before + 3).to_string());
    assert!(b
        .eval("return document.title;")
        .as_str()
        .unwrap()
        .starts_with(&format!("({}) ", count_before + 3)));
    // A moment later, still each once (a late duplicate was the defect).
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(b.entry_ids(), ids);

    // Searching as a tester does: type into the box, press Enter. The URL
    // says what is shown, and only the match is listed.
    b.type_into("#q", "live_1\u{E007}");
    b.wait_for(|b| b.url(), |u| u.contains("q=live_1"));
    let found = b.wait_for(|b| b.entry_ids(), |ids| ids.len() == 1);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        b.text(&format!("#e{}", found[0])).contains("live_1"),
        "only the match"
    );
    // Keys: / focuses the search box, j moves to the entry, Enter opens it.
    b.type_into("body", "j\u{E007}");
    b.wait_for(
        |b| b.url(),
        |u| u.ends_with(&format!("/events/{}", found[0])),
    );
    assert!(b.text("#decoded").contains("\"purpose\": \"live_1\""));
    assert!(b
        .text("#curl")
        .starts_with("curl -sS --globoff -H 'Content-Type: application/json' --data-raw"));
    assert!(b.text("#curl").contains("/start_communication"));
    b.open(&inbox);
    b.wait_for(|b| b.text("#live"), |t| t == "live");
    b.type_into("body", "/");
    assert_eq!(
        b.eval("return document.activeElement.id;"),
        "q",
        "/ searches"
    );

    // Cleared over the API while the page is open: the page empties live.
    assert_eq!(s.inbox_request("DELETE", "/api/events").status, 200);
    let left = b.wait_for(|b| b.entry_ids(), |ids| ids.is_empty());
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(b.text("#count"), "0");
    // And through the page's own Clear button.
    assert_eq!(s.post_token("not.a.token").status, 400);
    b.wait_for(|b| b.entry_ids().len(), |n| *n == 1);
    b.click("#clear");
    assert_eq!(b.text("#confirm"), "Delete the 1 event?");
    b.click("#confirm-delete");
    let left = b.wait_for(|b| b.entry_ids(), |ids| ids.is_empty());
    assert!(left.is_empty(), "{left:?}");
    assert!(b.text("#empty").starts_with("No events yet."));
    let api: serde_json::Value =
        serde_json::from_slice(&s.inbox_request("GET", "/api/events").body).unwrap();
    assert!(api["events"].as_array().unwrap().is_empty());
}

/// Faults from the inbox page, as a tester sets them: the form's own
/// controls, the panel following a fault used up by a request or set by a
/// script while the page is open, and its Clear button.
#[test]
fn faults_are_set_followed_and_cleared_from_the_inbox_page() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let s = Server::start(&[]);
    let b = webdriver::Browser::start(driver);
    b.open(&format!("http://{}/", s.inbox()));
    b.wait_for(|b| b.text("#live"), |t| t == "live");
    assert!(b.text("#faults").contains("Faults on demand"));
    b.click("#faults > summary");
    assert_eq!(
        b.text("#no-faults"),
        "No faults: every route answers as usual."
    );
    // Only the fields the chosen answer uses are offered.
    b.click("#fault-answer option[value='close']");
    assert_eq!(
        b.eval("return document.getElementById('fault-status').hidden;"),
        true
    );
    b.click("#fault-answer option[value='status']");
    assert_eq!(
        b.eval("return document.getElementById('fault-status').hidden;"),
        false
    );
    b.click("#fault-route option:nth-child(2)");
    b.clear("#fault-status");
    b.type_into("#fault-status", "503");
    b.type_into("#fault-body", "down for maintenance");
    b.type_into("#fault-times", "1");
    b.click("#set-fault");
    let shown = b.wait_for(
        |b| {
            b.eval(
                "var l = document.querySelector('#faults-now li'); return l ? l.textContent : '';",
            )
        },
        |t| !t.as_str().unwrap_or("").is_empty(),
    );
    assert!(
        shown
            .as_str()
            .unwrap()
            .starts_with("ui: status 503, for the next request"),
        "{shown}"
    );
    b.wait_for(|b| b.text("#live"), |t| t == "live");
    let r = s.request("GET", "/ui", None, b"");
    assert_eq!((r.status, r.text()), (503, "down for maintenance".into()));
    // Used up: the panel says so without a reload, and the entry names it.
    let gone = b.wait_for(
        |b| b.eval("return !!document.getElementById('no-faults');"),
        |v| v == &serde_json::Value::Bool(true),
    );
    assert_eq!(gone, true);
    let ids = b.wait_for(|b| b.entry_ids(), |ids| !ids.is_empty());
    assert!(b
        .text(&format!("#e{} summary", ids[0]))
        .contains("fault: status 503"));
    // Set by a script while the page is open: shown live; then cleared
    // with the panel's own button.
    let r = s.inbox_post_json("/api/faults", r#"{"route":"auth_result","close":true}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    let li = b.wait_for(
        |b| {
            b.eval(
                "var l = document.querySelector('#faults-now li'); return l ? l.textContent : '';",
            )
        },
        |t| t.as_str().unwrap_or("").starts_with("auth_result"),
    );
    assert!(
        li.as_str()
            .unwrap()
            .starts_with("auth_result: close, until cleared"),
        "{li}"
    );
    b.click("#faults-now li[data-route='auth_result'] button");
    b.wait_for(
        |b| b.eval("return !!document.getElementById('no-faults');"),
        |v| v == &serde_json::Value::Bool(true),
    );
    let api: serde_json::Value =
        serde_json::from_slice(&s.inbox_request("GET", "/api/faults").body).unwrap();
    assert_eq!(api, serde_json::json!({"faults": []}));
}

/// Authentication during communication as a tester and a citizen use it:
/// the inbox's "Ask the core" form lands on the entry with the core's
/// `client_url` as a link, and the citizen's "Authenticate again" sends
/// the browser on to the page the core names.
#[test]
fn the_core_is_asked_from_the_inbox_page_and_from_the_citizens_page() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let core = core::Core::start(vec![(
        "k".into(),
        core::Key::rsa(include_str!("../keys/idcontact-test-rsa.pub.pem")),
    )]);
    let url = core.url();
    let s = Server::start(&[
        "--core-url",
        &url,
        "--auth-only-key",
        "k=keys/idcontact-test-rsa.key.pem",
        "--ui",
        "html",
        "--auth-only-method",
        "digid",
    ]);
    let b = webdriver::Browser::start(driver);
    b.open(&format!("http://{}/", s.inbox()));
    b.click("#auth-only > summary");
    b.type_into("#auth-only-purpose", "report_move");
    b.type_into("#auth-only-method", "irma");
    b.click("#ask-core");
    b.wait_for(|b| b.url(), |u| u.contains("/events/"));
    let link = b.text("p.client-url a");
    assert_eq!(link, format!("{url}/auth/1"));
    assert_eq!(
        core.seen()[0].verdict.as_ref().unwrap()["auth_method"],
        "irma"
    );

    // The citizen's side: the session's page, its button, the core's page.
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"report_move"}"#,
    );
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let client_url = body["client_url"]
        .as_str()
        .unwrap()
        .replace("localhost", "127.0.0.1");
    let client_url = client_url.replace(":8000", &format!(":{}", s.addr.port()));
    b.open(&client_url);
    b.click("#again button");
    let at = b.wait_for(|b| b.url(), |u| u.ends_with("/auth/2"));
    assert_eq!(at, format!("{url}/auth/2"));
    assert_eq!(b.text("#auth"), "auth plugin 2");
    let asked = core.seen()[1].verdict.clone().unwrap();
    assert_eq!(
        (asked["purpose"].clone(), asked["auth_method"].clone()),
        (serde_json::json!("report_move"), serde_json::json!("digid"))
    );
}

/// A page left open while the plugin restarts (`docker compose restart`)
/// follows the new run on its own: ids start over at 1 there, so the page
/// reloads when the stream names another run, and then shows exactly the
/// new run's events, arriving live, with no reload by hand. Before, it
/// kept the old run's events beside some of the new ones, missed others,
/// and `#3` opened another result than the one listed.
#[test]
fn a_page_left_open_across_a_restart_shows_exactly_the_new_runs_events() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let (public, inbox) = (common::free_port(), common::free_port());
    let listen = format!("127.0.0.1:{public}");
    let inbox_at = format!("127.0.0.1:{inbox}");
    let start = || {
        let mut c = common::command(&["--listen", &listen, "--inbox", &inbox_at]);
        c.args(["--profile", "id-contact"]);
        Server::spawn(c)
    };
    let post = |s: &Server, email: &str| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut claims = mint::claims(now);
        claims["attributes"] = serde_json::json!({ "email": email });
        let t = mint::encrypt(
            &serde_json::json!({"alg": "RSA-OAEP", "enc": "A128CBC-HS256"}),
            &mint::sign(
                &serde_json::json!({"alg": "RS256"}),
                &claims,
                include_str!("../keys/idcontact-test-rsa.key.pem"),
            ),
            include_str!("../keys/idcontact-test-rsa.pub.pem"),
        );
        assert_eq!(s.post_token(&t).status, 200);
    };
    let old = start();
    for i in 0..5 {
        post(&old, &format!("old-{i}@example.nl"));
    }
    let b = webdriver::Browser::start(driver);
    b.open(&format!("http://{inbox_at}/"));
    b.wait_for(|b| b.text("#live"), |t| t == "live");
    assert_eq!(b.entry_ids(), [5, 4, 3, 2, 1]);
    // Marks this page load: a reload (by the page itself) forgets it.
    b.eval("window.loadedBeforeRestart = true; return true;");

    drop(old);
    let new = start();
    for i in 0..3 {
        post(&new, &format!("new-{i}@example.nl"));
    }
    let shown = |b: &webdriver::Browser| {
        let texts = b.eval(
            "return Array.from(document.querySelectorAll('article')).map(a => a.textContent);",
        );
        let texts: Vec<String> = texts
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        (b.entry_ids(), texts)
    };
    let (ids, texts) = b.wait_for(shown, |(ids, texts)| {
        ids.len() == 3 && texts.iter().all(|t| t.contains("new-"))
    });
    let heads: Vec<&str> = texts.iter().map(|t| t.get(..60).unwrap_or(t)).collect();
    assert_eq!(ids, [3, 2, 1], "{heads:?}");
    for (text, want) in texts.iter().zip(["new-2@", "new-1@", "new-0@"]) {
        assert!(text.contains(want) && !text.contains("old-"), "{text}");
    }
    assert_eq!(
        b.eval("return window.loadedBeforeRestart === undefined;"),
        serde_json::json!(true),
        "the page reloaded itself"
    );
    assert_eq!(b.wait_for(|b| b.text("#live"), |t| t == "live"), "live");
    // And it keeps following the new run live.
    post(&new, "new-3@example.nl");
    let ids = b.wait_for(|b| b.entry_ids(), |ids| ids.len() == 4);
    assert_eq!(ids, [4, 3, 2, 1]);
    // `#3` opens the result listed as #3.
    b.open(&format!("http://{inbox_at}/events/3"));
    assert!(b.text("main").contains("new-2@example.nl"));
}

/// The page a tester scans, as one does in Chromium at 1200×900 in Tokyo:
/// one row per event with who first, at least 12 of 20 in view, times in
/// the browser's zone (UTC on hover), a faulted start named by what its
/// client got, filters that apply as they change with the filtered count,
/// a Clear that asks with the count and deletes only what the search
/// shows, one event deleted from its page, a refused fault form that
/// keeps what was typed and names the field, and singular and plural.
#[test]
fn the_page_a_tester_scans() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let s = Server::start(&["--clock", SAMPLE_TIME]);
    for i in 0..10 {
        let body = format!(r#"{{"purpose":"report_move_{i}"}}"#);
        let r = s.request(
            "POST",
            "/start_communication",
            Some("application/json"),
            body.as_bytes(),
        );
        assert_eq!(r.status, 200);
        assert_eq!(s.post_token(SAMPLE).status, 200);
    }
    let fault = s.inbox_post_json(
        "/api/faults",
        r#"{"route":"start_communication","status":500,"body":"{}","times":1}"#,
    );
    assert_eq!(fault.status, 201);
    let r = s.request(
        "POST",
        "/start_communication",
        Some("application/json"),
        br#"{"purpose":"faulted"}"#,
    );
    assert_eq!(r.status, 500);
    let api = |q: &str| -> serde_json::Value {
        serde_json::from_slice(&s.inbox_request("GET", &format!("/api/events{q}")).body).unwrap()
    };
    assert_eq!(api("")["total"], 21);

    let b = webdriver::Browser::start_with(driver, Some((1200, 900)), Some("Asia/Tokyo"));
    let inbox = format!("http://{}/", s.inbox());
    b.open(&inbox);
    b.wait_for(|b| b.text("#live"), |t| t == "live");
    assert_eq!(b.text("#count"), "21");
    assert_eq!(b.text("#noun"), "events");
    // One row each, and at least 12 of them wholly in view.
    let in_view = b.eval(
        "return Array.from(document.querySelectorAll('article')).filter(a => { \
           const r = a.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }).length;",
    );
    assert!(in_view.as_u64().unwrap() >= 12, "{in_view} rows in view");
    let heights = b.eval(
        "return Array.from(document.querySelectorAll('summary.row')).map(s => s.getBoundingClientRect().height);",
    );
    let line = heights[0].as_f64().unwrap();
    assert!(
        heights
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h.as_f64().unwrap() < 1.6 * line),
        "every row one line: {heights}"
    );
    // Who first: the citizen's email before what the result was.
    let accepted = b.text("#e2 summary");
    let (who, what) = (
        accepted.find("email: bla").unwrap(),
        accepted.find("result succes").unwrap(),
    );
    assert!(who < what, "{accepted}");
    // The faulted start, named by what its client got.
    assert!(
        b.text("#e21 summary")
            .contains("start answered 500 (fault)"),
        "{}",
        b.text("#e21 summary")
    );
    // Times in Tokyo's zone (UTC+9), UTC on hover.
    let time = api("?limit=1")["events"][0]["time"]
        .as_str()
        .unwrap()
        .to_owned();
    let utc_hour: u32 = time[11..13].parse().unwrap();
    let shown = b.text("#e21 time");
    assert_eq!(
        shown,
        format!("{:02}{}", (utc_hour + 9) % 24, &time[13..19]),
        "local time of {time}"
    );
    let title = b.eval("return document.querySelector('#e21 time').title;");
    assert_eq!(title, format!("{} {} UTC", &time[..10], &time[11..19]));

    // A filter applies when chosen: no Search button pressed.
    b.eval("const s = document.getElementById('route'); s.value = 'start_communication'; s.dispatchEvent(new Event('change')); return 0;");
    b.wait_for(|b| b.url(), |u| u.contains("route=start_communication"));
    b.wait_for(|b| b.entry_ids().len(), |n| *n == 11);
    assert_eq!(
        (b.text("#matched"), b.text("#count")),
        ("11".into(), "21".into())
    );
    // Clear asks first, with the count, and deletes only what is shown.
    b.click("#clear");
    b.wait_for(
        |b| b.url(),
        |u| u.contains("/clear?route=start_communication"),
    );
    assert_eq!(
        b.text("#confirm"),
        "Delete the 11 events this search shows; the other 10 stay?"
    );
    b.click("#confirm-delete");
    b.wait_for(|b| b.url(), |u| u.ends_with('/'));
    b.wait_for(|b| b.entry_ids().len(), |n| *n == 10);
    assert_eq!(api("")["total"], 10, "the hidden ten stay");
    assert_eq!(api("?route=start_communication")["matched"], 0);

    // One event deleted from its own page.
    b.open(&format!("{inbox}events/20"));
    b.click("#delete-event");
    b.wait_for(|b| b.url(), |u| u.ends_with('/'));
    assert_eq!(api("")["total"], 9);
    assert!(s.inbox_request("GET", "/api/events/20").status == 404);

    // A fault that cannot be met (the browser cannot tell: only the
    // server knows which route answers JSON): the form again, as typed,
    // the field named.
    b.wait_for(|b| b.text("#live"), |t| t == "live");
    b.click("#faults > summary");
    b.eval("document.getElementById('fault-route').value = 'ui'; return 0;");
    b.eval("document.getElementById('fault-answer').value = 'malformed_json'; return 0;");
    b.type_into("#fault-delay", "250");
    b.click("#set-fault");
    b.wait_for(
        |b| b.eval("return !!document.getElementById('fault-error');"),
        |v| *v == true,
    );
    assert_eq!(
        b.text("#fault-error"),
        "Not set: answer only start_communication answers JSON"
    );
    let kept = b.eval(
        "return ['fault-route', 'fault-answer', 'fault-delay'].map(i => document.getElementById(i).value);",
    );
    assert_eq!(kept, serde_json::json!(["ui", "malformed_json", "250"]));
    assert_eq!(
        b.eval("return document.getElementById('fault-answer').getAttribute('aria-invalid');"),
        "true"
    );
    assert_eq!(
        b.eval("return document.getElementById('faults').open;"),
        true
    );
    assert!(api("")["total"] == 9);

    // Singular: one event is "1 event".
    assert_eq!(
        s.inbox_request("DELETE", "/api/events?verdict=replay")
            .status,
        200
    );
    b.open(&inbox);
    b.wait_for(|b| b.text("#live"), |t| t == "live");
    assert_eq!(
        (b.text("#count"), b.text("#noun")),
        ("1".into(), "event".into())
    );
}

/// Copy as curl is a replay, not a template: run as copied, it sends the
/// journaled token in one request, even one that starts with `@` (curl
/// would post that file) or holds `[1-5]` (curl would send five).
#[test]
fn copy_as_curl_replays_exactly_the_journaled_bytes() {
    if Command::new("curl").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must have curl");
        eprintln!("SKIPPED: no curl");
        return;
    }
    let s = Server::start(&[]);
    let token = "@/etc/passwd[1-5]";
    assert_eq!(s.post_token(token).status, 400);
    let r = s.request("GET", "/ui?result=%40%2Fetc%2Fpasswd%5B1-5%5D", None, b"");
    assert_eq!(r.status, 400);
    for id in [1, 2] {
        let page = s.inbox_request("GET", &format!("/events/{id}")).text();
        let start = page.find("<pre id=\"curl\">").unwrap() + "<pre id=\"curl\">".len();
        let command = page[start..][..page[start..].find("</pre>").unwrap()]
            .replace("&#39;", "'")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
        let before = s.inbox_request("GET", "/api/events?limit=1");
        let before: serde_json::Value = serde_json::from_slice(&before.body).unwrap();
        let out = Command::new("sh").arg("-c").arg(&command).output().unwrap();
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after: serde_json::Value =
            serde_json::from_slice(&s.inbox_request("GET", "/api/events?limit=5").body).unwrap();
        let new: Vec<&serde_json::Value> = after["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["id"].as_u64() > before["last_id"].as_u64())
            .collect();
        assert_eq!(new.len(), 1, "one request: {command}");
        assert_eq!(new[0]["token"], token, "{command}");
    }
}
