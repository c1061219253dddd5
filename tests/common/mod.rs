//! Shared by the integration tests: the real binary on an ephemeral
//! loopback port, raw HTTP over TCP, and a check that nothing the process
//! printed contains key material.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SAMPLE: &str = include_str!("../data/sample-token.jwt");
pub const SAMPLE_TIME: &str = "1615879800";

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

/// The binary under test: this build's, or `COMM_TEST_BIN` (to run the
/// suite against a release or static build, or an older one).
pub fn binary() -> String {
    std::env::var("COMM_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_comm-test").into())
}

/// The binary with `args`, in the crate's directory.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(binary());
    c.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Runs the binary with `args` and `stdin`, to its end: (exit code,
/// stdout, stderr).
pub fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the binary with `args` where it must exit at once (bad usage or
/// configuration): (exit code, stderr). Fails, rather than hangs, if it
/// starts serving instead.
pub fn run_to_refusal(args: &[&str]) -> (i32, String) {
    let mut child = command(args)
        .args(["--listen", "127.0.0.1:0", "--inbox", "off"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{args:?} was accepted: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `addr` answers `GET /ui`.
pub fn wait_serving(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        let mut c = command(&["--listen", "127.0.0.1:0", "--inbox", "127.0.0.1:0"]);
        c.args(args);
        Server::spawn(c)
    }

    /// Started with at most `nofile` open file descriptors.
    pub fn start_limited(nofile: u32, args: &[&str]) -> Server {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(binary())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        Server::spawn(c)
    }

    /// Any command that runs the binary and logs `listening on` to stderr.
    pub fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start comm-test");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((_, addr)) = line
                    .split_once("comm-test: listening on http://")
                    .or_else(|| line.split_once("\"message\":\"listening on http://"))
                {
                    let addr = addr.trim_end_matches("\"}");
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server did not start");
        Server { child, addr, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The inbox's address (logged before `listening on`).
    pub fn inbox(&self) -> SocketAddr {
        let log = self.log();
        let rest = log
            .split("comm-test: inbox on http://")
            .nth(1)
            .or_else(|| log.split("\"message\":\"inbox on http://").nth(1))
            .expect("no inbox");
        rest.split(|c: char| c.is_whitespace() || c == '"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Raw bytes to the inbox on a new connection; the reply read to the end.
    pub fn inbox_raw(&self, request: &[u8]) -> Reply {
        let mut s = TcpStream::connect(self.inbox()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let _ = s.write_all(request);
        read_reply(&mut s)
    }

    /// A request to the inbox, with the `Host` a browser sends for it.
    pub fn inbox_request(&self, method: &str, target: &str) -> Reply {
        self.inbox_raw(
            format!(
                "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.inbox()
            )
            .as_bytes(),
        )
    }

    /// `POST` of a JSON body to the inbox, as a script sends it.
    pub fn inbox_post_json(&self, target: &str, body: &str) -> Reply {
        self.inbox_raw(
            format!(
                "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                self.inbox(),
                body.len()
            )
            .as_bytes(),
        )
    }

    /// A request head for the inbox (kept alive), e.g. to open a stream.
    pub fn inbox_head(&self, target: &str) -> Vec<u8> {
        format!("GET {target} HTTP/1.1\r\nHost: {}\r\n\r\n", self.inbox()).into_bytes()
    }

    /// Waits until the log holds `needle` (log lines follow the response).
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// Sends raw bytes on a new connection and reads the reply to the end.
    pub fn raw(&self, request: &[u8]) -> Reply {
        let mut s = self.connect();
        let _ = s.write_all(request);
        read_reply(&mut s)
    }

    pub fn request(
        &self,
        method: &str,
        target: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let mut req =
            format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if let Some(ct) = content_type {
            req.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    /// `POST /auth_result` with `token` as `application/jwt`.
    pub fn post_token(&self, token: &str) -> Reply {
        self.request(
            "POST",
            "/auth_result",
            Some("application/jwt"),
            token.as_bytes(),
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Whatever else a test checked, no server may ever print a key.
        if !std::thread::panicking() {
            assert_no_key_material(&self.log());
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// What an API error says: the `error` of its JSON `{"error",
    /// "field"}`, which an API error always is (it fails otherwise).
    pub fn said(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not a JSON error: {}", self.text()));
        assert!(v.get("field").is_some(), "no field: {v}");
        v["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// Pipelined answers on one connection, read one at a time: what one read
/// brings of the next answer is kept for it (`read_reply` would drop it).
pub struct Replies {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Replies {
    pub fn new(stream: TcpStream) -> Replies {
        Replies {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// The next whole answer (with a Content-Length), or status 0 at EOF.
    pub fn next_reply(&mut self) -> Reply {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let mut reply = Reply {
                    status: head
                        .split(' ')
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0),
                    head,
                    body: vec![],
                };
                let len: usize = reply
                    .header("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if self.buf.len() >= end + 4 + len {
                    reply.body = self.buf[end + 4..end + 4 + len].to_vec();
                    self.buf.drain(..end + 4 + len);
                    return reply;
                }
            }
            match self.stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(0) | Err(_) => {
                    return Reply {
                        status: 0,
                        head: String::from_utf8_lossy(&self.buf).into(),
                        body: vec![],
                    }
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// True while the server has sent nothing on `c` and kept it open.
pub fn nothing_yet(c: &TcpStream) -> bool {
    c.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let quiet = matches!((&*c).read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    c.set_nonblocking(false).unwrap();
    quiet
}

/// Reads one response: head, then Content-Length bytes (or to EOF). For
/// pipelined answers on one connection, use `Replies`.
pub fn read_reply(s: &mut TcpStream) -> Reply {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match s.read(&mut chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => {
                return Reply {
                    status: 0,
                    head: String::from_utf8_lossy(&buf).into(),
                    body: vec![],
                }
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut body = buf[head_end + 4..].to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut reply = Reply {
        status,
        head,
        body: vec![],
    };
    match reply
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(len) => {
            while body.len() < len {
                match s.read(&mut chunk) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Ok(0) | Err(_) => break,
                    Ok(n) => body.extend_from_slice(&chunk[..n]),
                }
            }
            body.truncate(len);
        }
        None => {
            let _ = s.read_to_end(&mut body);
        }
    }
    reply.body = body;
    reply
}

/// Fails if `text` contains any line of any key file's PEM body, or a PEM
/// armour line: key material in any form we could print.
pub fn assert_no_key_material(text: &str) {
    let dirs = [
        concat!(env!("CARGO_MANIFEST_DIR"), "/keys"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"),
    ];
    for entry in dirs.iter().flat_map(|d| std::fs::read_dir(d).unwrap()) {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "pem") {
            continue;
        }
        let pem = std::fs::read_to_string(&path).unwrap();
        for line in pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        {
            assert!(
                !text.contains(line),
                "key material from {} was printed",
                path.display()
            );
        }
    }
    assert!(!text.contains("-----BEGIN"), "a PEM block was printed");
}
