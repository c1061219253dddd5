//! The journal on disk (`--journal-file`): every event appended as a JSON
//! line by a thread of its own (a loop never waits on the disk), deletes
//! recorded, the file rewritten to the journal's size as it grows, and
//! read back at start, so a restart or a redeploy keeps the inbox.
//!
//! Lines: `{"id":N,"time_ms":T,"event":{…}}` for an event,
//! `{"deleted":[ids],"last_id":N}` and `{"cleared":true,"last_id":N}`.
//! Every line names the newest id then, so the last whole line tells the
//! next id without reading the rest. The file is created `0600`, never
//! opened through a link, must be a regular file. A torn or corrupt line
//! is skipped with one warning; a write error is logged and counted.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use serde_json::Value;

use super::journal::{
    Accepted, Established, Event, Feedback, Framed, Kind, Outcome, RequestInfo, Shared,
    JOURNALED_HEADERS,
};
use crate::jose::Reason;
use crate::log;

/// Lines waiting for the writer; past this they are dropped and counted.
const QUEUE: usize = 1024;
/// How far from the end the next id is looked for at start.
const TAIL: u64 = 256 * 1024;

/// What the writer is asked to append.
pub enum Line {
    Event(Arc<Framed>),
    Deleted(Vec<u64>, u64),
    Cleared(u64),
}

/// The appending side, shared by every loop; never blocks.
pub struct Sink {
    tx: SyncSender<Line>,
    /// Lines not written: the queue was full, or the disk said no.
    pub lost: Arc<AtomicU64>,
}

impl Sink {
    pub fn send(&self, line: Line) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(line) {
            if self.lost.fetch_add(1, Ordering::Relaxed) == 0 {
                log::message(
                    "journal file: a line was not written (the writer is behind); counting",
                );
            }
        }
    }
}

fn open_append(path: &Path) -> Result<File, String> {
    let f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            format!(
                "--journal-file {}: {}",
                path.display(),
                crate::files::plain(&e)
            )
        })?;
    match f.metadata() {
        Ok(m) if m.is_file() => Ok(f),
        _ => Err(format!(
            "--journal-file {}: not a regular file",
            path.display()
        )),
    }
}

/// Opens (or creates) the file and reads the next id from its tail: fast,
/// before serving. The events themselves are read by `load`, after.
pub fn open(path: &Path) -> Result<(File, u64), String> {
    let mut f = open_append(path)?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(TAIL);
    let mut tail = Vec::new();
    let read = f
        .seek(SeekFrom::Start(from))
        .and_then(|_| Read::by_ref(&mut f).take(TAIL).read_to_end(&mut tail));
    if let Err(e) = read {
        return Err(format!(
            "--journal-file {}: {}",
            path.display(),
            crate::files::plain(&e)
        ));
    }
    // A torn last line (a crash mid-write) is ended, so the next line
    // appended is a line of its own.
    if tail.last().is_some_and(|&b| b != b'\n') {
        if let Err(e) = f.write_all(b"\n") {
            return Err(format!(
                "--journal-file {}: {}",
                path.display(),
                crate::files::plain(&e)
            ));
        }
    }
    let last = tail
        .split(|&b| b == b'\n')
        .rev()
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
        .find_map(|v| {
            v.get("id")
                .or_else(|| v.get("last_id"))
                .and_then(Value::as_u64)
        })
        .unwrap_or(0);
    Ok((f, last))
}

/// Starts the writer thread: lines appended as they come, and the file
/// rewritten from the journal once it holds twice the journal's size.
pub fn start(path: PathBuf, file: File, journal: Arc<Shared>) -> Sink {
    let (tx, rx) = sync_channel(QUEUE);
    let lost = Arc::new(AtomicU64::new(0));
    let counter = lost.clone();
    let spawned = std::thread::Builder::new()
        .name("journal-file".into())
        .stack_size(128 * 1024)
        .spawn(move || write_lines(&rx, path, file, &journal, &counter));
    if spawned.is_err() {
        log::message("journal file: no writer thread; nothing will be written");
    }
    Sink { tx, lost }
}

fn event_line(e: &Framed) -> Vec<u8> {
    let mut out = format!("{{\"id\":{},\"time_ms\":{},\"event\":", e.id, e.time_ms).into_bytes();
    out.extend_from_slice(e.json_text());
    out.extend_from_slice(b"}\n");
    out
}

fn text(line: &Line) -> Vec<u8> {
    match line {
        Line::Event(e) => event_line(e),
        Line::Deleted(ids, last) => format!(
            "{{\"deleted\":{},\"last_id\":{last}}}\n",
            serde_json::json!(ids)
        )
        .into_bytes(),
        Line::Cleared(last) => format!("{{\"cleared\":true,\"last_id\":{last}}}\n").into_bytes(),
    }
}

fn write_lines(
    rx: &Receiver<Line>,
    path: PathBuf,
    mut file: File,
    journal: &Shared,
    lost: &AtomicU64,
) {
    let mut since_rewrite = 0usize;
    let limit = journal.capacity().saturating_mul(2).max(16);
    let mut failing = false;
    for line in rx {
        match file.write_all(&text(&line)) {
            Ok(()) => failing = false,
            Err(e) => {
                lost.fetch_add(1, Ordering::Relaxed);
                if !failing {
                    log::message(&format!(
                        "journal file: write failed: {}",
                        crate::files::plain(&e)
                    ));
                }
                failing = true;
            }
        }
        since_rewrite += 1;
        if since_rewrite >= limit {
            match rewrite(&path, journal) {
                Ok(f) => {
                    file = f;
                    since_rewrite = 0;
                }
                Err(e) => log::message(&format!("journal file: rewrite failed: {e}")),
            }
        }
    }
}

/// The file as the journal is now: written beside it, then renamed over.
fn rewrite(path: &Path, journal: &Shared) -> Result<File, String> {
    let events = journal.snapshot();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // A stale one (a crash mid-rewrite); a link is removed, never followed.
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|e| crate::files::plain(&e).to_owned())?;
    let mut body = Vec::new();
    for e in &events {
        body.extend_from_slice(&event_line(e));
    }
    if events.is_empty() {
        body.extend_from_slice(
            format!("{{\"cleared\":true,\"last_id\":{}}}\n", journal.last()).as_bytes(),
        );
    }
    f.write_all(&body)
        .map_err(|e| crate::files::plain(&e).to_owned())?;
    std::fs::rename(&tmp, path).map_err(|e| crate::files::plain(&e).to_owned())?;
    open_append(path)
}

/// A line is never longer than an event's bound and its envelope; a
/// longer one (a corrupt file) is skipped, never held whole.
const MAX_FILE_LINE: u64 = 2 * super::journal::MAX_EVENT_BYTES as u64 + 4096;

enum Next {
    Line,
    TooLong,
    End,
}

/// The next line into `line` (without its newline), within `MAX_FILE_LINE`.
fn next_line(reader: &mut BufReader<File>, line: &mut Vec<u8>) -> Next {
    line.clear();
    match reader.by_ref().take(MAX_FILE_LINE).read_until(b'\n', line) {
        Ok(0) | Err(_) => return Next::End,
        Ok(_) => {}
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        return Next::Line;
    }
    if (line.len() as u64) < MAX_FILE_LINE {
        // The last line, without its newline (a torn one, or whole).
        return Next::Line;
    }
    // Too long: skip to its end, a piece at a time.
    loop {
        line.clear();
        match reader.by_ref().take(MAX_FILE_LINE).read_until(b'\n', line) {
            Ok(0) | Err(_) => return Next::TooLong,
            Ok(_) if line.last() == Some(&b'\n') => return Next::TooLong,
            Ok(_) => {}
        }
    }
}

/// Reads the file's events back (the last `capacity`, deletes applied):
/// oldest first, and how many lines were torn or corrupt.
pub fn load(file: File, capacity: usize) -> (Vec<Arc<Framed>>, usize) {
    let mut kept: BTreeMap<u64, Arc<Framed>> = BTreeMap::new();
    let mut order: VecDeque<u64> = VecDeque::new();
    let mut bad = 0usize;
    let mut reader = BufReader::new(file);
    let _ = reader.seek(SeekFrom::Start(0));
    let mut line = Vec::new();
    loop {
        match next_line(&mut reader, &mut line) {
            Next::End => break,
            Next::TooLong => {
                bad += 1;
                continue;
            }
            Next::Line => {}
        }
        if line.is_empty() {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&line) else {
            bad += 1;
            continue;
        };
        if v.get("cleared").is_some() {
            kept.clear();
            order.clear();
        } else if let Some(ids) = v.get("deleted").and_then(Value::as_array) {
            for id in ids.iter().filter_map(Value::as_u64) {
                kept.remove(&id);
            }
        } else if let Some(e) = restore(&v) {
            order.push_back(e.id);
            kept.insert(e.id, Arc::new(e));
            while kept.len() > capacity {
                match order.pop_front() {
                    Some(old) => {
                        kept.remove(&old);
                    }
                    None => break,
                }
            }
        } else {
            bad += 1;
        }
    }
    (kept.into_values().collect(), bad)
}

fn static_of(s: &str, of: &[&'static str]) -> Option<&'static str> {
    of.iter().find(|o| **o == s).copied()
}

/// One event line back into a journal entry: its frame from the text as
/// written, the fields filters and pages read from it.
fn restore(line: &Value) -> Option<Framed> {
    let id = line.get("id")?.as_u64()?;
    let time_ms = line.get("time_ms")?.as_u64()?;
    let v = line.get("event")?;
    let str_of = |k: &str| v.get(k).and_then(Value::as_str);
    let routes = [
        "start_communication",
        "auth_result",
        "ui",
        "session",
        "other",
    ];
    let event = Event {
        id,
        time_ms,
        route: static_of(str_of("route")?, &routes)?,
        purpose: str_of("purpose").map(str::to_owned),
        kind: kind_of(v)?,
        request: v.get("request").and_then(request_of),
    };
    let json = serde_json::to_vec(v).ok()?;
    Some(Framed::from_json(event, &json))
}

fn kind_of(v: &Value) -> Option<Kind> {
    let str_of = |k: &str| v.get(k).and_then(Value::as_str);
    let u64_of = |k: &str| v.get(k).and_then(Value::as_u64);
    Some(match str_of("kind")? {
        "start" => Kind::Start,
        "request" => Kind::Request {
            reason: str_of("reason").map(str::to_owned),
        },
        "auth_only" => Kind::AuthOnly(super::journal::AuthOnly {
            auth_method: str_of("auth_method")?.to_owned(),
            url: str_of("url")?.to_owned(),
            result: match u64_of("answer_status") {
                Some(code) => Ok(u16::try_from(code).ok()?),
                None => Err(str_of("error").unwrap_or("").to_owned()),
            },
            client_url: str_of("client_url").map(str::to_owned),
            said: str_of("said").map(str::to_owned),
            latency_ms: u64_of("latency_ms").unwrap_or(0),
            asked_by: static_of(str_of("asked_by")?, &["inbox", "citizen"])?,
        }),
        "session" => Kind::Feedback(Feedback {
            kind: static_of(str_of("type")?, &["user_active", "logout"])?,
            url: str_of("url")?.to_owned(),
            result: match u64_of("answer_status") {
                Some(code) => Ok(u16::try_from(code).ok()?),
                None => Err(str_of("error").unwrap_or("").to_owned()),
            },
            latency_ms: u64_of("latency_ms").unwrap_or(0),
            for_event: u64_of("for_event"),
        }),
        "token" => Kind::Token {
            // The token lives in the frame, as for any event.
            token: String::new(),
            outcome: match str_of("verdict")? {
                "rejected" => Outcome::Rejected {
                    reason: Reason::parse(str_of("reason")?)?,
                    detail: str_of("detail").unwrap_or("").to_owned(),
                    established: Established::default(),
                },
                _ => Outcome::Accepted(Box::new(accepted_of(v)?)),
            },
            checked_at: u64_of("checked_at").unwrap_or(0),
        },
        _ => return None,
    })
}

fn accepted_of(v: &Value) -> Option<Accepted> {
    let str_of = |k: &str| v.get(k).and_then(Value::as_str);
    let u64_of = |k: &str| v.get(k).and_then(Value::as_u64);
    Some(Accepted {
        replay: v.get("replay").and_then(Value::as_bool).unwrap_or(false),
        identical_to: u64_of("identical_to"),
        feedback_off: str_of("session_feedback") == Some("off"),
        status: static_of(str_of("status")?, &["succes", "success", "failed"])?,
        spelling: str_of("sub").and_then(|sub| crate::jose::Spelling::of(sub, str_of("status")?)),
        attributes: v
            .get("attributes")
            .and_then(|a| serde_json::from_value(a.clone()).ok()),
        session_url: str_of("session_url").map(str::to_owned),
        iat: u64_of("iat"),
        nbf: u64_of("nbf"),
        exp: u64_of("exp")?,
        outer_header: String::new(),
        inner_header: String::new(),
        decrypted_with: str_of("decrypted_with").unwrap_or("").to_owned(),
        verified_with: str_of("verified_with").unwrap_or("").to_owned(),
    })
}

fn request_of(r: &Value) -> Option<RequestInfo> {
    let str_of = |k: &str| r.get(k).and_then(Value::as_str);
    let headers = r
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| {
                    Some((static_of(k, &JOURNALED_HEADERS)?, v.as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(RequestInfo {
        method: str_of("method")?.to_owned(),
        path: str_of("path")?.to_owned(),
        status: u16::try_from(r.get("status")?.as_u64()?).ok()?,
        fault: str_of("fault").map(|f| super::journal::cut(f, super::journal::MAX_REQUEST_TEXT)),
        ms: r.get("ms").and_then(Value::as_u64).unwrap_or(0),
        client: str_of("client").map(str::to_owned),
        headers,
    })
}
