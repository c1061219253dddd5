//! The journal on disk (`--journal-file`): every event appended as a JSON
//! line by a thread of its own (a loop never waits on the disk), deletes
//! recorded, the file rewritten to the journal's size as it grows, and
//! read back at start, so a restart or a redeploy keeps the inbox.
//!
//! Lines: `{"id":N,"time_ms":T,"event":{…}}` for an event,
//! `{"deleted":[ids],"last_id":N}` and `{"cleared":true,"last_id":N}`.
//! Every line names the newest id then, so the last whole line tells the
//! next id without reading the rest. The file is created `0600`, never
//! opened through a link, must be a regular file, owned by this process's
//! user and closed to every other (it holds personal data). It is locked
//! for the life of the process: one writer, as Redis has for its AOF.
//! A torn or corrupt line is skipped with one warning; a write error is
//! logged and counted.
//!
//! Policy, as Redis's AOF: each line is written (`write(2)`, to the
//! kernel) before the change it records is answered, by whichever thread
//! records it, under the one writer's lock; deletes and clears are also
//! fsynced first. A killed process loses nothing it answered; only a
//! machine crash can lose what the kernel had not yet put on disk. The
//! price: a request that journals waits for that write (microseconds to
//! the page cache) and, once per twice the journal's size, for a rewrite.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;

use super::event::{
    cut, Accepted, AuthOnly, Established, Event, Feedback, Framed, Kind, Outcome, RequestInfo,
    JOURNALED_HEADERS, MAX_EVENT_BYTES, MAX_PURPOSE, MAX_REQUEST_TEXT, ROUTES,
};
use crate::jose::Reason;
use crate::log;

/// Lines between two looks at whether the path still names our file.
const CHECK_EVERY: usize = 16;
/// How far from the end the next id is looked for at start.
const TAIL: u64 = 256 * 1024;

/// What a rewrite reads: the journal as it is now. The store implements
/// it; the file knows no more of the store than this.
pub trait Source: Send + Sync {
    /// Every event held, oldest first.
    fn snapshot(&self) -> Vec<Arc<Framed>>;
    /// The newest id.
    fn last(&self) -> u64;
    /// How many events the journal holds at most.
    fn capacity(&self) -> usize;
}

/// What the writer is asked to append.
pub enum Line {
    Event(Arc<Framed>),
    Deleted(Vec<u64>, u64),
    Cleared(u64),
}

/// The one writer, shared by every thread that records: each line is
/// written under its lock before the caller answers.
pub struct Sink {
    writer: std::sync::Mutex<Writer>,
    /// Lines the disk refused (a write or an fsync failed).
    pub lost: Arc<AtomicU64>,
}

impl Sink {
    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        // A panic mid-write leaves a file the next write cuts back.
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes `line` now (and fsyncs a delete or clear), then rewrites
    /// the file if it is due.
    pub fn send(&self, line: Line) {
        let to_sync = self.writer().take(&line);
        // The fsync outside the writer's lock: a tester's delete must not
        // hold up a citizen's request that journals meanwhile.
        if let Some(f) = to_sync {
            if let Err(e) = f.sync_data() {
                self.writer().failed("fsync", &e);
            }
        }
    }

    /// The read-back is in: a rewrite held back for it may run now.
    pub fn loaded(&self) {
        self.writer().maybe_rewrite();
    }
}

fn open_append(path: &Path) -> Result<File, String> {
    let said = |e: &std::io::Error| {
        format!(
            "--journal-file {}: {}",
            path.display(),
            crate::files::plain(e)
        )
    };
    let f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| said(&e))?;
    let meta = f.metadata().map_err(|e| said(&e))?;
    if !meta.is_file() {
        return Err(format!(
            "--journal-file {}: not a regular file",
            path.display()
        ));
    }
    owned_and_private(path, &meta)?;
    Ok(f)
}

/// The file holds personal data: it must be this process's user's, and
/// no other user may read or write it.
fn owned_and_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    // /proc/self is owned by the process's effective user (no unsafe
    // geteuid for it).
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| {
            format!(
                "--journal-file {}: cannot tell this process's user (/proc/self: {})",
                path.display(),
                crate::files::plain(&e)
            )
        })?;
    if meta.uid() != me {
        return Err(format!(
            "--journal-file {}: owned by uid {}, not by this process's uid {me}; \
             give a path of your own",
            path.display(),
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "--journal-file {p}: mode {mode:04o} lets other users read or write it \
             (it holds personal data); chmod 600 {p}",
            p = path.display()
        ));
    }
    Ok(())
}

/// The lock that makes this process the file's one writer: held as long
/// as the open file is (a rewrite locks the new file before it is named).
fn lock(path: &Path, f: &File) -> Result<(), String> {
    match f.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "--journal-file {}: in use by another process (it holds the lock); \
             one server per journal file",
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!(
            "--journal-file {}: cannot lock it: {}",
            path.display(),
            crate::files::plain(&e)
        )),
    }
}

/// The file as opened: the writer's handle (locked), the next id's
/// predecessor, and how many bytes it held (what read-back reads).
pub struct Opened {
    pub file: File,
    pub last: u64,
    pub len: u64,
}

/// Opens (or creates) the file, locks it and reads the next id from its
/// tail: fast, before serving. The events themselves are read by `load`,
/// after.
pub fn open(path: &Path) -> Result<Opened, String> {
    let mut f = open_append(path)?;
    lock(path, &f)?;
    let said = |e: &std::io::Error| {
        format!(
            "--journal-file {}: {}",
            path.display(),
            crate::files::plain(e)
        )
    };
    let len = f.metadata().map_err(|e| said(&e))?.len();
    let from = len.saturating_sub(TAIL);
    let mut tail = Vec::new();
    f.seek(SeekFrom::Start(from))
        .and_then(|_| Read::by_ref(&mut f).take(TAIL).read_to_end(&mut tail))
        .map_err(|e| said(&e))?;
    // A torn last line (a crash mid-write) is ended, so the next line
    // appended is a line of its own.
    if tail.last().is_some_and(|&b| b != b'\n') {
        f.write_all(b"\n").map_err(|e| said(&e))?;
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
    Ok(Opened { file: f, last, len })
}

/// The writer of `file`: lines appended as they come, and the file
/// rewritten from the journal once it holds twice the journal's size, but
/// never before `loaded` (a rewrite from a journal still being read back
/// would drop what it has not read yet).
pub fn start(path: PathBuf, file: File, journal: Arc<dyn Source>, loaded: Arc<AtomicBool>) -> Sink {
    let lost = Arc::new(AtomicU64::new(0));
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let limit = journal.capacity().saturating_mul(2).max(16);
    Sink {
        writer: std::sync::Mutex::new(Writer {
            path,
            file,
            len,
            journal,
            loaded,
            lost: lost.clone(),
            limit,
            since_rewrite: 0,
            failing: false,
            rewrite_failing: false,
            replaced: false,
        }),
        lost,
    }
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

/// The one writer: its file, and what it reports to.
struct Writer {
    path: PathBuf,
    file: File,
    /// The file's length after the last whole line.
    len: u64,
    journal: Arc<dyn Source>,
    loaded: Arc<AtomicBool>,
    lost: Arc<AtomicU64>,
    /// Lines between rewrites.
    limit: usize,
    since_rewrite: usize,
    /// A write failed and has not succeeded since (logged once).
    failing: bool,
    rewrite_failing: bool,
    /// The path names another file now: never rewritten over.
    replaced: bool,
}

impl Writer {
    /// Writes `line`; for a delete or clear, a handle to fsync (a tester's
    /// delete is on the disk before it is called saved: personal data must
    /// not come back).
    fn take(&mut self, line: &Line) -> Option<File> {
        let written = self.append(&text(line));
        let to_sync = (written && matches!(line, Line::Deleted(..) | Line::Cleared(_)))
            .then(|| self.file.try_clone());
        let to_sync = match to_sync {
            Some(Ok(f)) => Some(f),
            Some(Err(e)) => {
                self.failed("fsync", &e);
                None
            }
            None => None,
        };
        self.since_rewrite += 1;
        if self.since_rewrite.is_multiple_of(CHECK_EVERY) && !self.replaced && self.replaced() {
            self.replaced = true;
            log::message(&format!(
                "journal file {}: replaced or removed under the running server; it keeps \
                 the file it opened, unnamed now, and never rewrites over the new one; \
                 restart it to use the path",
                self.path.display()
            ));
        }
        self.maybe_rewrite();
        to_sync
    }

    fn maybe_rewrite(&mut self) {
        if self.replaced || self.since_rewrite < self.limit || !self.loaded.load(Ordering::Acquire)
        {
            return;
        }
        // Tried again only after another `limit` lines: a failure that
        // persists is logged once, never per event.
        self.since_rewrite = 0;
        match rewrite(&self.path, &*self.journal, &mut self.file) {
            Ok(len) => {
                self.len = len;
                if self.rewrite_failing {
                    log::message("journal file: rewritten again");
                }
                self.rewrite_failing = false;
            }
            Err(e) if !self.rewrite_failing => {
                self.rewrite_failing = true;
                log::message(&format!(
                    "journal file: rewrite failed: {e}; tried again every {} lines",
                    self.limit
                ));
            }
            Err(_) => {}
        }
    }

    /// The path no longer names the file this writer holds.
    fn replaced(&self) -> bool {
        let ours = self.file.metadata().map(|m| (m.dev(), m.ino()));
        let named = std::fs::symlink_metadata(&self.path).map(|m| (m.dev(), m.ino()));
        match (ours, named) {
            (Ok(a), Ok(b)) => a != b,
            (Ok(_), Err(_)) => true,
            (Err(_), _) => false,
        }
    }

    /// One line, whole or not at all: a failed write is cut back to where
    /// it started, so it never makes the next line unreadable.
    fn append(&mut self, bytes: &[u8]) -> bool {
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.len += bytes.len() as u64;
                self.failing = false;
                true
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                self.failed("write", &e);
                false
            }
        }
    }

    /// Counted always, logged once until a write succeeds again.
    fn failed(&mut self, what: &str, e: &std::io::Error) {
        self.lost.fetch_add(1, Ordering::Relaxed);
        if !self.failing {
            log::message(&format!(
                "journal file: {what} failed: {}",
                crate::files::plain(e)
            ));
        }
        self.failing = true;
    }
}

/// The file as the journal is now: written beside it, locked, then renamed
/// over (the new file takes the old one's place as the writer's, lock
/// included). Where nothing can be renamed over it (a single-file bind
/// mount, a directory not ours), it is rewritten in place instead.
fn rewrite(path: &Path, journal: &dyn Source, file: &mut File) -> Result<u64, String> {
    let events = journal.snapshot();
    let mut body = Vec::new();
    for e in &events {
        body.extend_from_slice(&event_line(e));
    }
    if events.is_empty() {
        body.extend_from_slice(
            format!("{{\"cleared\":true,\"last_id\":{}}}\n", journal.last()).as_bytes(),
        );
    }
    let plain = |e: std::io::Error| crate::files::plain(&e).to_owned();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // A stale one (a crash mid-rewrite); a link is removed, never followed.
    let _ = std::fs::remove_file(&tmp);
    let beside = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp);
    let renamed = beside.map_err(plain).and_then(|mut f| {
        f.write_all(&body).map_err(plain)?;
        f.try_lock()
            .map_err(|_| "cannot lock the rewritten file".to_owned())?;
        std::fs::rename(&tmp, path).map_err(plain)?;
        Ok(f)
    });
    match renamed {
        Ok(f) => {
            *file = f;
            Ok(body.len() as u64)
        }
        Err(_) => {
            let _ = std::fs::remove_file(&tmp);
            // In place: the file is ours and locked; O_APPEND writes at
            // the new end.
            file.set_len(0).map_err(plain)?;
            file.write_all(&body).map_err(plain)?;
            Ok(body.len() as u64)
        }
    }
}

/// A line is never longer than an event's bound and its envelope; a
/// longer one (a corrupt or hand-made file) is skipped, never held whole,
/// so read-back holds no more than the journal itself would.
const MAX_FILE_LINE: u64 = MAX_EVENT_BYTES as u64 + 4096;

enum Next {
    Line,
    TooLong,
    End,
}

/// The file's first `end` bytes, each read at its own offset (`pread`):
/// the writer's appends move the file offset it shares with this handle,
/// never what this reads.
struct Snapshot {
    file: File,
    pos: u64,
    end: u64,
}

impl Read for Snapshot {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let Some(buf) = buf.get_mut(..left.min(buf.len())) else {
            return Ok(0);
        };
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The next line into `line` (without its newline), within `MAX_FILE_LINE`.
fn next_line<R: Read>(reader: &mut BufReader<R>, line: &mut Vec<u8>) -> Next {
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

/// Decodes a token as the server would have at a given time, with the
/// keys it has now.
pub type Recheck<'a> = &'a dyn Fn(&str, u64) -> Result<crate::jose::Decoded, Reason>;

/// What read-back brought.
pub struct ReadBack {
    /// The last `capacity` events, deletes applied, oldest first, each
    /// marked with what re-checking it found (`Event::read_back`).
    pub events: Vec<Arc<Framed>>,
    /// Lines torn or corrupt.
    pub bad: usize,
    /// Accepted results that re-checked: (signed hash, exp, event id),
    /// oldest first, for the replay cache.
    pub accepted: Vec<([u8; 32], u64, u64)>,
    pub rechecked: usize,
    pub differing: usize,
}

/// Reads the file's first `len` bytes back (what it held when opened),
/// then re-checks each token kept: a line says what it likes, a token
/// decodes to what it is.
pub fn load(file: File, len: u64, capacity: usize, recheck: Recheck<'_>) -> ReadBack {
    let mut kept: BTreeMap<u64, Arc<Framed>> = BTreeMap::new();
    let mut order: VecDeque<u64> = VecDeque::new();
    let mut bad = 0usize;
    let mut reader = BufReader::new(Snapshot {
        file,
        pos: 0,
        end: len,
    });
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
            // A later line of an id (a delayed answer settled) replaces
            // the earlier, in its place.
            let id = e.id;
            if kept.insert(id, Arc::new(e)).is_none() {
                order.push_back(id);
            }
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
    let mut back = ReadBack {
        events: Vec::with_capacity(kept.len()),
        bad,
        accepted: Vec::new(),
        rechecked: 0,
        differing: 0,
    };
    for framed in kept.into_values() {
        let framed = marked(&framed, recheck, &mut back);
        back.events.push(framed);
    }
    back
}

/// The event again, with `read_back` saying what re-checking found: a
/// token re-decoded at its `checked_at` with the current keys, anything
/// else "not re-checked".
fn marked(framed: &Framed, recheck: Recheck<'_>, back: &mut ReadBack) -> Arc<Framed> {
    let mut v = framed.json();
    let mark = match &framed.kind {
        Kind::Token {
            outcome,
            checked_at,
            ..
        } => {
            let token = v.get("token").and_then(Value::as_str).unwrap_or("");
            let again = recheck(token, *checked_at);
            let mark = same_again(outcome, &again);
            match (mark, &again) {
                (None, Ok(d)) => {
                    back.rechecked += 1;
                    if matches!(outcome, Outcome::Accepted(_)) {
                        back.accepted
                            .push((d.signed_sha256, d.claims.exp, framed.id));
                    }
                    "re-checked".to_owned()
                }
                (None, Err(_)) => {
                    back.rechecked += 1;
                    "re-checked".to_owned()
                }
                (Some(differs), _) => {
                    back.differing += 1;
                    differs
                }
            }
        }
        _ => "not re-checked".to_owned(),
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("read_back".into(), Value::from(mark.as_str()));
    }
    let mut event = framed.event.clone();
    event.read_back = Some(mark);
    let json = serde_json::to_vec(&v).unwrap_or_default();
    Arc::new(Framed::from_json(event, &json))
}

/// `None` if decoding again gives what the file says; else how it differs.
fn same_again(outcome: &Outcome, again: &Result<crate::jose::Decoded, Reason>) -> Option<String> {
    match (outcome, again) {
        (Outcome::Accepted(a), Ok(d))
            if d.claims.status.as_str() == a.status && d.claims.attributes == a.attributes =>
        {
            None
        }
        (Outcome::Accepted(_), Ok(_)) => {
            Some("DIFFERS: the token decodes to other claims than the file says".to_owned())
        }
        (Outcome::Accepted(_), Err(r)) => Some(format!(
            "DIFFERS: the file says accepted; the token is refused now ({})",
            r.as_str()
        )),
        // A refused replay decodes: its refusal was the replay cache's.
        (Outcome::Rejected { reason, .. }, Ok(_)) if *reason == Reason::Replay => None,
        (Outcome::Rejected { reason, .. }, Err(r)) if r == reason => None,
        (Outcome::Rejected { reason, .. }, Ok(_)) => Some(format!(
            "DIFFERS: the file says refused ({}); the token decodes now",
            reason.as_str()
        )),
        (Outcome::Rejected { reason, .. }, Err(r)) => Some(format!(
            "DIFFERS: the file says refused ({}); refused now for {}",
            reason.as_str(),
            r.as_str()
        )),
    }
}

fn static_of(s: &str, of: &[&'static str]) -> Option<&'static str> {
    of.iter().find(|o| **o == s).copied()
}

/// One event line back into a journal entry: its frame from the text as
/// written, the fields filters and pages read from it.
fn restore(line: &Value) -> Option<Framed> {
    let id = line.get("id")?.as_u64()?;
    let time_ms = line.get("time_ms")?.as_u64()?;
    let mut v = line.get("event")?.clone();
    upgrade(&mut v);
    let v = &v;
    // The envelope and the event name one id, or the line is corrupt.
    if v.get("id").and_then(Value::as_u64) != Some(id) {
        return None;
    }
    let str_of = |k: &str| v.get(k).and_then(Value::as_str);
    let event = Event {
        id,
        time_ms,
        // Every route the inbox names (auth-only events came back torn
        // while this list was its own).
        route: static_of(str_of("route")?, &ROUTES)?,
        purpose: str_of("purpose").map(|p| cut(p, MAX_PURPOSE)),
        kind: kind_of(v)?,
        request: v.get("request").and_then(request_of),
        read_back: None,
    };
    let json = serde_json::to_vec(v).ok()?;
    Some(Framed::from_json(event, &json))
}

/// A line written before API version 2 in today's shape: an accepted
/// token's claims moved under `claims`, the HTTP status named
/// `http_status`. A file outlives the binary that wrote it.
fn upgrade(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(r)) = obj.get_mut("request") {
        if let Some(status) = r.remove("status") {
            r.entry("http_status").or_insert(status);
        }
    }
    let accepted = matches!(
        obj.get("verdict").and_then(Value::as_str),
        Some("accepted" | "replay")
    );
    if obj.get("kind").and_then(Value::as_str) != Some("token")
        || !accepted
        || obj.contains_key("claims")
    {
        return;
    }
    let mut claims = serde_json::Map::new();
    for name in [
        "sub",
        "status",
        "attributes",
        "session_url",
        "iat",
        "nbf",
        "exp",
    ] {
        match obj.remove(name) {
            Some(Value::Null) | None => {}
            Some(value) => {
                claims.insert(name.into(), value);
            }
        }
    }
    obj.insert("claims".into(), Value::Object(claims));
}

fn kind_of(v: &Value) -> Option<Kind> {
    let str_of = |k: &str| v.get(k).and_then(Value::as_str);
    let u64_of = |k: &str| v.get(k).and_then(Value::as_u64);
    Some(match str_of("kind")? {
        "start" => Kind::Start,
        "request" => Kind::Request {
            reason: str_of("reason").map(str::to_owned),
        },
        "auth_only" => Kind::AuthOnly(AuthOnly {
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

fn accepted_of(event: &Value) -> Option<Accepted> {
    let v = event.get("claims")?;
    let str_of = |k: &str| v.get(k).and_then(Value::as_str);
    let u64_of = |k: &str| v.get(k).and_then(Value::as_u64);
    let top = |k: &str| event.get(k).and_then(Value::as_str);
    Some(Accepted {
        replay: event
            .get("replay")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        identical_to: event.get("identical_to").and_then(Value::as_u64),
        feedback_off: top("session_feedback") == Some("off"),
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
        decrypted_with: top("decrypted_with").unwrap_or("").to_owned(),
        verified_with: top("verified_with").unwrap_or("").to_owned(),
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
        status: u16::try_from(r.get("http_status")?.as_u64()?).ok()?,
        fault: str_of("fault").map(|f| cut(f, MAX_REQUEST_TEXT)),
        ms: r.get("ms").and_then(Value::as_u64).unwrap_or(0),
        client: str_of("client").map(str::to_owned),
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::super::store::Shared;
    use super::*;

    /// A file written by API version 1 reads back in today's shape: an
    /// accepted token's claims under `claims`, `request.http_status`.
    #[test]
    fn a_version_1_line_reads_back_in_todays_shape() {
        let line = serde_json::json!({"id": 3, "time_ms": 1, "event": {
            "id": 3, "route": "auth_result", "kind": "token", "verdict": "accepted",
            "purpose": null, "checked_at": 1615879800, "replay": false,
            "sub": "id-contact-attributes", "status": "succes",
            "attributes": {"email": "bla"}, "session_url": null, "iat": 1615879800,
            "nbf": null, "exp": 1615880100, "decrypted_with": "f39b64a429a25336",
            "verified_with": "f39b64a429a25336",
            "request": {"method": "POST", "path": "/auth_result", "status": 200, "ms": 2,
                        "client": null, "headers": {}}
        }});
        let framed = restore(&line).unwrap();
        let v = framed.json();
        assert_eq!(
            v["claims"],
            serde_json::json!({"sub": "id-contact-attributes", "status": "succes",
                "attributes": {"email": "bla"}, "iat": 1615879800, "exp": 1615880100})
        );
        assert_eq!(v["request"]["http_status"], 200);
        assert!(v.get("attributes").is_none() && v["request"].get("status").is_none());
        assert_eq!(framed.request.as_ref().unwrap().status, 200);
        assert_eq!(
            framed
                .attributes()
                .unwrap()
                .get("email")
                .map(String::as_str),
            Some("bla")
        );
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("comm-test-jf-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("journal.jsonl")
    }

    /// Redis's rule: a change is in the file before it is answered. A
    /// line is written when `send` returns; a rewrite that falls due
    /// before the read-back is in waits for it, then runs on `loaded`.
    #[test]
    fn a_line_is_in_the_file_when_send_returns_and_a_rewrite_waits_for_the_read_back() {
        let path = temp("sync");
        let opened = open(&path).unwrap();
        let journal = Arc::new(Shared::new(8));
        let loaded = Arc::new(AtomicBool::new(false));
        let sink = start(path.clone(), opened.file, journal.clone(), loaded.clone());
        let lines = || std::fs::read_to_string(&path).unwrap().lines().count();
        for n in 0..20 {
            sink.send(Line::Cleared(n));
            assert_eq!(lines(), usize::try_from(n).unwrap() + 1);
        }
        // Due after 16 lines, held back: the read-back is not in.
        loaded.store(true, Ordering::Release);
        sink.loaded();
        // The rewrite: an empty journal is one line.
        assert_eq!(lines(), 1);
    }

    /// Red team: auth-only events never came back, each reported as a
    /// torn line. Every kind of event round-trips.
    #[test]
    fn every_kind_of_event_comes_back() {
        let path = temp("kinds");
        let opened = open(&path).unwrap();
        let journal = Arc::new(Shared::new(10));
        let sink = start(
            path.clone(),
            opened.file,
            journal.clone(),
            Arc::new(AtomicBool::new(true)),
        );
        journal.persist_to(sink, opened.last);
        let asked = AuthOnly {
            auth_method: "digid".into(),
            url: "http://core.test/start".into(),
            result: Ok(200),
            client_url: Some("http://core.test/auth".into()),
            said: None,
            latency_ms: 3,
            asked_by: "inbox",
        };
        journal.record(
            "auth_only",
            Some("report_move"),
            Kind::AuthOnly(asked.clone()),
        );
        journal.record("start_communication", Some("p"), Kind::Start);
        journal.record(
            "ui",
            None,
            Kind::Request {
                reason: Some("r".into()),
            },
        );
        let len = std::fs::metadata(&path).unwrap().len();
        let back = load(File::open(&path).unwrap(), len, 10, &|_, _| {
            Err(Reason::Malformed)
        });
        let (events, bad) = (back.events, back.bad);
        assert_eq!(bad, 0);
        let back: Vec<(&str, &str)> = events.iter().map(|e| (e.route, e.kind_name())).collect();
        assert_eq!(
            back,
            [
                ("auth_only", "auth_only"),
                ("start_communication", "start"),
                ("ui", "request")
            ]
        );
        assert_eq!(events[0].kind, Kind::AuthOnly(asked));
    }

    /// Red team: a 98 MB file took 192 MB to read back. A line is held
    /// to an event's bound, and its purpose to the journal's cut.
    #[test]
    fn read_back_holds_each_line_to_an_events_bound() {
        let path = temp("bound");
        let opened = open(&path).unwrap();
        let mut file = opened.file;
        let line = |id: u64, purpose: usize| {
            format!(
                "{{\"id\":{id},\"time_ms\":1,\"event\":{{\"id\":{id},\"route\":\"start_communication\",\"kind\":\"start\",\"purpose\":\"{}\"}}}}\n",
                "p".repeat(purpose)
            )
        };
        let max = MAX_EVENT_BYTES;
        file.write_all(line(1, 2000).as_bytes()).unwrap();
        file.write_all(line(2, max + 4096).as_bytes()).unwrap();
        file.write_all(line(3, 10).as_bytes()).unwrap();
        let len = file.metadata().unwrap().len();
        let back = load(file, len, 10, &|_, _| Err(Reason::Malformed));
        let got: Vec<(u64, usize)> = back
            .events
            .iter()
            .map(|e| (e.id, e.purpose.as_ref().map_or(0, String::len)))
            .collect();
        let cut = cut(&"p".repeat(2000), 1024).len();
        assert_eq!((got, back.bad), (vec![(1, cut), (3, 10)], 1));
    }

    /// Read-back reads the bytes the file held when it was opened, at its
    /// own offsets, whatever the writer appends through the shared handle.
    #[test]
    fn read_back_is_blind_to_what_is_appended_meanwhile() {
        let path = temp("snapshot");
        let opened = open(&path).unwrap();
        let mut file = opened.file;
        let line = |id: u64| {
            format!(
                "{{\"id\":{id},\"time_ms\":1,\"event\":{{\"id\":{id},\"route\":\"start_communication\",\"kind\":\"start\"}}}}\n"
            )
        };
        for id in 1..=3 {
            file.write_all(line(id).as_bytes()).unwrap();
        }
        let len = file.metadata().unwrap().len();
        let reader = file.try_clone().unwrap();
        // The shared offset is at the end; more is appended after `len`.
        file.write_all(line(4).as_bytes()).unwrap();
        let back = load(reader, len, 100, &|_, _| Err(Reason::Malformed));
        let (events, bad) = (back.events, back.bad);
        let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
        assert_eq!((ids, bad), (vec![1, 2, 3], 0));
    }
}
