//! `--journal-file` from the attacker's and the operator's side: one
//! writer, read-back under traffic, a clean stop, who may own the file,
//! and kills at many points during appends and rewrites.

mod common;
use common::{Replies, Server};
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn journal_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "comm-test-journal-file-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("journal.jsonl")
}

fn json_of(r: &common::Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("{}", r.text()))
}

/// Every id the inbox lists, newest first (up to 1 000).
fn ids(s: &Server) -> Vec<u64> {
    json_of(&s.inbox_request("GET", "/api/events?limit=1000"))["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect()
}

/// `n` requests on one keep-alive connection, pipelined; every answer read.
fn starts(s: &Server, n: usize) {
    let mut r = Replies::new(s.connect());
    let req = "POST /start_communication HTTP/1.1\r\nHost: localhost\r\n\
               Content-Type: application/json\r\nContent-Length: 33\r\n\r\n\
               {\"purpose\":\"p\",\"auth_method\":\"a\"}";
    for chunk in 0..n.div_ceil(50) {
        let k = 50.min(n - chunk * 50);
        r.stream().write_all(req.repeat(k).as_bytes()).unwrap();
        for _ in 0..k {
            assert_eq!(r.next_reply().status, 200);
        }
    }
}

/// Event lines in the file (not deletes or clears).
fn event_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("{\"id\":"))
        .count()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a server on `path` that must refuse at once: (exit code, stderr).
/// One that serves instead is stopped after 10 s: (-1, its stderr).
fn refusal(path: &str) -> (i32, String) {
    let mut child = common::command(&[
        "--listen",
        "127.0.0.1:0",
        "--inbox",
        "127.0.0.1:0",
        "--journal-file",
        path,
    ])
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sigterm(s: &mut Server) -> i32 {
    let pid = s.pid().to_string();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(ok.success());
    s.child().wait().unwrap().code().unwrap_or(-1)
}

/// Red team, High: the read-back shared the file offset with the
/// appending writer, so requests arriving while the file was read back
/// made it skip events (136-401 of 600 came back). It reads exactly the
/// bytes the file held when it was opened.
#[test]
fn a_restart_under_traffic_reads_back_every_event() {
    let path = journal_path("traffic");
    let p = path.to_str().unwrap();
    let args = ["--journal-size", "1000", "--journal-file", p];
    let mut first = Server::start(&args);
    starts(&first, 600);
    wait_for("600 lines", || event_lines(&path) == 600);
    let _ = first.child().kill();
    let _ = first.child().wait();

    let second = Server::start(&args);
    // Traffic from the first moment: two connections of 150 each.
    std::thread::scope(|scope| {
        scope.spawn(|| starts(&second, 150));
        scope.spawn(|| starts(&second, 150));
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while ids(&second).len() < 900 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let listed = ids(&second);
    let lost = (1..=600).filter(|id| !listed.contains(id)).count();
    assert_eq!((lost, listed.len()), (0, 900), "of the 600 read back");
}

/// Red team: two servers on one file both handed out id 1, and one's
/// rewrite lost the other's lines. The file is locked for the life of
/// the process; a second server exits 2 naming it.
#[test]
fn a_second_server_on_the_same_file_exits_2_naming_it() {
    let path = journal_path("two");
    let p = path.to_str().unwrap();
    let first = Server::start(&["--journal-file", p]);
    let (code, err) = refusal(p);
    assert_eq!(
        (code, err.lines().last().unwrap_or("")),
        (
            2,
            format!(
                "comm-test: --journal-file {p}: in use by another process (it holds the \
                 lock); one server per journal file"
            )
            .as_str()
        ),
        "{err}"
    );
    drop(first);
    // Once the holder is gone the file is free again.
    let again = Server::start(&["--journal-file", p]);
    let log = again.wait_log("events read back");
    assert!(log.contains(": 0 events read back"), "{log}");
}

/// Red team: another user's 0666 file received every result. The server
/// writes personal data only to a file it owns that no one else can read.
#[test]
fn a_journal_file_others_may_read_is_refused_naming_the_fix() {
    let path = journal_path("mode");
    let p = path.to_str().unwrap();
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, err) = refusal(p);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "--journal-file {p}: mode 0644 lets other users read or write it (it holds personal data); chmod 600 {p}"
        )),
        "{err}"
    );
}

#[test]
fn a_journal_file_of_another_user_is_refused() {
    use std::os::unix::fs::MetadataExt;
    let path = journal_path("owner");
    let p = path.to_str().unwrap();
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    if std::os::unix::fs::chown(&path, Some(65534), Some(65534)).is_err() {
        eprintln!("skipped: changing a file's owner needs root");
        return;
    }
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), 65534);
    let (code, err) = refusal(p);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "--journal-file {p}: owned by uid 65534, not by this process's uid "
        )),
        "{err}"
    );
}

/// Red team: SIGTERM dropped the lines still queued (199 answered events
/// lost on a clean stop during a rewrite). A clean stop writes every
/// event journaled before it.
#[test]
fn a_clean_stop_writes_every_journaled_event() {
    let path = journal_path("stop");
    let p = path.to_str().unwrap();
    let args = ["--journal-size", "1000", "--journal-file", p];
    let mut first = Server::start(&args);
    starts(&first, 3000);
    assert_eq!(sigterm(&mut first), 0);
    let last = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["id"].as_u64())
        .max();
    assert_eq!(last, Some(3000));
    let second = Server::start(&args);
    wait_for("1000 events", || ids(&second).len() == 1000);
    assert_eq!(ids(&second), (2001..=3000).rev().collect::<Vec<u64>>());
}

/// Redis's AOF tests: kill the process at many points during appends and
/// rewrites. Each time the file loads, at most its last line is torn,
/// every event the file held survives the restart, and ids never repeat.
#[test]
fn a_kill_at_any_point_leaves_a_file_that_loads() {
    let path = journal_path("kill");
    let p = path.to_str().unwrap();
    let args = ["--journal-size", "8", "--journal-file", p];
    let mut next = 1u64;
    for round in 0..12 {
        let mut s = Server::start(&args);
        // What the file held is what comes back (the newest 8), and ids
        // continue after it.
        let held: Vec<u64> = (next.saturating_sub(8).max(1)..next).rev().collect();
        wait_for("the read-back", || ids(&s).len() == held.len());
        assert_eq!(ids(&s), held, "round {round}");
        let n = 5 + round * 3;
        starts(&s, n);
        // Killed at once, or a little later, in appends and rewrites.
        std::thread::sleep(Duration::from_micros(300 * round as u64));
        let _ = s.child().kill();
        let _ = s.child().wait();
        let text = std::fs::read_to_string(&path).unwrap();
        let torn = text
            .lines()
            .filter(|l| !l.is_empty() && serde_json::from_str::<Value>(l).is_err())
            .count();
        assert!(torn <= 1, "round {round}: {torn} torn lines");
        // Every event answered before the kill is in the file: ids
        // `next` to `next + n - 1`, the newest of them the file's last.
        let last = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["id"].as_u64().or(v["last_id"].as_u64()))
            .max()
            .unwrap_or(0);
        assert_eq!(last, next + n as u64 - 1, "round {round}");
        next = last + 1;
    }
}

/// Red team: where the rewrite cannot rename over the file (a single-file
/// bind mount, as in containers) the file grew without bound, with a log
/// line per event. It is rewritten in place, and stays bounded.
#[test]
fn where_nothing_can_be_renamed_over_it_the_file_stays_bounded() {
    let path = journal_path("bind");
    let p = path.to_str().unwrap();
    let source = path.with_file_name("mounted.jsonl");
    std::fs::write(&source, "").unwrap();
    std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&path, "").unwrap();
    let probe = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: a private mount namespace needs root (unshare -m)");
        return;
    }
    let mut c = std::process::Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\"")
        .arg("sh")
        .arg(&source)
        .arg(&path)
        .arg(common::binary())
        .args(["--listen", "127.0.0.1:0", "--inbox", "127.0.0.1:0"])
        .args(["--journal-size", "5", "--journal-file", p])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let s = Server::spawn(c);
    starts(&s, 100);
    wait_for("the newest event in the file", || {
        std::fs::read_to_string(&source)
            .unwrap_or_default()
            .contains("{\"id\":100,")
    });
    // Written through the mount: the source holds what the server wrote,
    // rewritten to at most the journal and the lines since.
    let lines = || std::fs::read_to_string(&source).unwrap().lines().count();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines() > 16 + 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(lines() <= 16 + 5, "{} lines for a journal of 5", lines());
    let log = s.log();
    assert_eq!(
        log.matches("journal file: rewrite failed").count(),
        0,
        "{log}"
    );
    assert_eq!(ids(&s), [100, 99, 98, 97, 96]);
}

/// Red team: a file replaced under a running server was written past in
/// silence. The writer notices, says so once, and never rewrites over
/// the new file.
#[test]
fn a_file_replaced_under_the_server_is_said_and_left_alone() {
    let path = journal_path("replaced");
    let p = path.to_str().unwrap();
    let s = Server::start(&["--journal-size", "5", "--journal-file", p]);
    starts(&s, 3);
    wait_for("3 lines", || event_lines(&path) == 3);
    std::fs::rename(&path, path.with_extension("old")).unwrap();
    std::fs::write(&path, "someone else's\n").unwrap();
    starts(&s, 40);
    let log = s.wait_log("replaced or removed");
    assert_eq!(
        log.matches(&format!(
            "journal file {p}: replaced or removed under the running server"
        ))
        .count(),
        1,
        "{log}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "someone else's\n");
}

/// A delete the tester is told about is on the disk (synced) before the
/// answer, and the answer says so.
#[test]
fn a_delete_is_saved_before_the_answer_says_so() {
    let path = journal_path("saved");
    let p = path.to_str().unwrap();
    let s = Server::start(&["--journal-file", p]);
    starts(&s, 3);
    let r = json_of(&s.inbox_request("DELETE", "/api/events?before=3"));
    assert_eq!(
        (&r["deleted"], &r["journal_file"]),
        (&Value::from(2), &Value::from("saved"))
    );
    // Said saved: it is in the file already, not on its way.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("{\"deleted\":[2,1]")
            || text
                .lines()
                .last()
                .unwrap()
                .starts_with("{\"deleted\":[1,2]"),
        "{text}"
    );
    // Without a journal file the answer has nothing to say about one.
    let plain = Server::start(&[]);
    let r = json_of(&plain.inbox_request("DELETE", "/api/events"));
    assert_eq!(r.get("journal_file"), None);
}

/// Red team: on a full disk the tester's Clear was not saved, so the
/// cleared personal data came back after a restart, and a half-written
/// line swallowed the next event. On a 64 KiB tmpfs (a private mount
/// namespace; root only) the answer says it is not saved, and every line
/// in the file is whole.
#[test]
fn on_a_full_disk_a_clear_says_it_is_not_saved_and_no_line_is_torn() {
    let path = journal_path("full");
    let dir = path.parent().unwrap().join("small");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("journal.jsonl");
    let probe = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: a private mount namespace needs root (unshare -m)");
        return;
    }
    let mut c = std::process::Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=64k,mode=0700 tmpfs \"$1\" && shift && exec \"$@\"")
        .arg("sh")
        .arg(&dir)
        .arg(common::binary())
        .args(["--listen", "127.0.0.1:0", "--inbox", "127.0.0.1:0"])
        .args(["--journal-size", "1000", "--journal-file"])
        .arg(&file)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let s = Server::spawn(c);
    starts(&s, 400);
    let log = s.wait_log("journal file: write failed");
    assert!(log.contains("journal file: write failed: "), "{log}");
    // A delete of nothing: the writer has taken every line (the answer
    // waits for it).
    json_of(&s.inbox_request("DELETE", "/api/events?before=1"));
    // The file as the server sees it (its mount namespace). No page is
    // free; what is left of the file's last page is filled with empty
    // lines (which read-back skips), so no byte is left for the clear.
    let seen = format!("/proc/{}/root{}", s.pid(), file.display());
    let len = std::fs::metadata(&seen).unwrap().len();
    let pad = (4096 - len % 4096) % 4096;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&seen)
        .unwrap();
    f.write_all(&vec![b'\n'; pad as usize]).unwrap();
    assert!(f.write_all(b"\n").is_err(), "the disk is full");
    drop(f);
    let r = json_of(&s.inbox_request("DELETE", "/api/events"));
    assert_eq!(
        (&r["deleted"], r["journal_file"].as_str().unwrap_or("")),
        (
            &Value::from(400),
            "NOT saved: the journal file could not be written (see the log); what was deleted comes back after a restart"
        )
    );
    let text = std::fs::read_to_string(&seen).unwrap();
    assert!(text.len() > 32 * 1024, "{} bytes", text.len());
    assert!(text.ends_with('\n'));
    let torn = text
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_err())
        .count();
    assert_eq!(torn, 0);
}

/// Red team: read-back trusted the file: a hand-written "accepted,
/// verified" line showed as a real result, and the replay cache did not
/// come back. Each token is decoded again at its `checked_at` with the
/// current keys; the event says what that found, and accepted results
/// are replays again after a restart.
#[test]
fn read_back_re_checks_each_token_and_refills_the_replay_cache() {
    use common::{SAMPLE, SAMPLE_TIME};
    let path = journal_path("recheck");
    let p = path.to_str().unwrap();
    let args = [
        "--clock",
        SAMPLE_TIME,
        "--reject-replays",
        "true",
        "--journal-file",
        p,
    ];
    let mut first = Server::start(&args);
    assert_eq!(first.post_token(SAMPLE).status, 200);
    assert_eq!(first.post_token("a.b.c").status, 400);
    starts(&first, 1);
    assert_eq!(sigterm(&mut first), 0);
    // Two forged lines: the real token with other attributes, and a line
    // claiming a garbage token was accepted.
    let text = std::fs::read_to_string(&path).unwrap();
    let accepted = text.lines().next().unwrap();
    assert!(accepted.contains("\"email\":\"bla\""), "{accepted}");
    let other = accepted
        .replace("\"id\":1,", "\"id\":4,")
        .replace("\"email\":\"bla\"", "\"email\":\"forged\"");
    let garbage = {
        let token_at = accepted.find("\"token\":\"").unwrap() + 9;
        let end = token_at + accepted[token_at..].find('"').unwrap();
        format!(
            "{}x.y.z{}",
            &accepted[..token_at].replace("\"id\":1,", "\"id\":5,"),
            &accepted[end..]
        )
    };
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(f, "{other}\n{garbage}").unwrap();
    drop(f);

    let second = Server::start(&args);
    wait_for("5 events", || ids(&second).len() == 5);
    let listing = json_of(&second.inbox_request("GET", "/api/events"));
    let marks: Vec<(u64, &str)> = listing["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_u64().unwrap(),
                e["read_back"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        marks,
        [
            (
                5,
                "DIFFERS: the file says accepted; the token is refused now (malformed)"
            ),
            (
                4,
                "DIFFERS: the token decodes to other claims than the file says"
            ),
            (3, "not re-checked"),
            (2, "re-checked"),
            (1, "re-checked"),
        ]
    );
    let log = second.wait_log("re-checked tokens");
    assert!(
        log.contains(
            ": 5 events read back, 2 re-checked tokens, 2 that do not decode as the file says"
        ),
        "{log}"
    );
    // The page says it where the verdict is.
    let page = second.inbox_request("GET", "/").text();
    assert!(
        page.contains("<span class=\"read-back\">read back: DIFFERS: the token decodes to other claims than the file says</span>"),
        "{page}"
    );
    // Accepted before the restart: a replay after it.
    let r = second.post_token(SAMPLE);
    assert_eq!(
        (r.status, r.text().as_str()),
        (409, "replay: token was accepted before\n")
    );
    let newest = json_of(&second.inbox_request("GET", "/api/events?limit=1"));
    assert_eq!(
        newest["events"][0]["detail"],
        "replay: token was accepted before, first as event #1"
    );
}
