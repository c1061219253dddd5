//! A WebDriver client for the browser tests, just big enough to drive
//! headless Chromium through Debian's `chromium-driver` as a tester would:
//! open a page, find, click, read text, run a line of script, wait.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    profile: std::path::PathBuf,
}

/// The driver binary, if installed.
pub fn driver() -> Option<&'static str> {
    ["chromedriver", "chromium-driver"].into_iter().find(|d| {
        Command::new(d)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // chromedriver may keep the connection open: read by Content-Length.
    let reply = crate::common::read_reply(&mut s);
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("{e}: {} {}", reply.head, reply.text()))
}

impl Browser {
    pub fn start(driver: &str) -> Browser {
        Browser::start_with(driver, None, None)
    }

    /// A browser with its window `size` (width, height) and its time zone
    /// `tz` (the `TZ` the driver, and so Chromium, runs with).
    pub fn start_with(driver: &str, size: Option<(u32, u32)>, tz: Option<&str>) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let mut command = Command::new(driver);
        if let Some(tz) = tz {
            command.env("TZ", tz);
        }
        let child = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let profile =
            std::env::temp_dir().join(format!("comm-test-webdriver-{}-{port}", std::process::id()));
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        if let Some((w, h)) = size {
            args.push(format!("--window-size={w},{h}"));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": args}
        }}});
        let r = http(port, "POST", "/session", Some(&caps));
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_string();
        Browser {
            driver: child,
            port,
            session,
            profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = http(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        );
        if r["value"].get("error").is_some() {
            panic!("webdriver {method} {path}: {r}");
        }
        r["value"].clone()
    }

    pub fn open(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// The element matching `css`; fails if there is none.
    pub fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Types `keys` into the element matching `css`, as a user would
    /// (WebDriver's key codes: "\u{E007}" is Enter).
    pub fn type_into(&self, css: &str, keys: &str) {
        let id = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": keys })),
        );
    }

    /// Empties the input matching `css`, as selecting its text and
    /// deleting it would.
    pub fn clear(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({})));
    }

    /// The page's address now.
    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.cmd("GET", &format!("/element/{id}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs `script` (a function body) in the page; its return value.
    pub fn eval(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// The ids of the entries shown, top to bottom.
    pub fn entry_ids(&self) -> Vec<u64> {
        let v = self.eval(
            "return Array.from(document.querySelectorAll('article')).map(a => Number(a.dataset.id));",
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect()
    }

    /// Waits (polling the page, up to 15 s) until `cond` holds; the last
    /// value it saw, for the assertion that follows.
    pub fn wait_for<T>(
        &self,
        mut probe: impl FnMut(&Browser) -> T,
        cond: impl Fn(&T) -> bool,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v = probe(self);
            if cond(&v) || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            http(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            )
        });
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A browser the driver left behind (a panicking test) is found by
        // its own profile directory, so no Chromium outlives its test.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self.profile.as_os_str())
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
