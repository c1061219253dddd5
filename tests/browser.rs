//! Issue 10: the inbox page in a real browser. Headless Chromium (Debian
//! package `chromium`; `.ci/run` installs it) loads the page with entries
//! present, runs its script, and the test reads the rendered DOM.
//! Without Chromium the test says so and passes, except in CI (`CI` set),
//! where a missing browser is a failure.

mod common;
use common::{Server, SAMPLE, SAMPLE_TIME};
use std::process::Command;

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
