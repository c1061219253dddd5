//! The log: one line per event on stderr, for people (`text`) or pipelines
//! (`json`), that never blocks or crashes the server.
//!
//! - Lines go through a bounded queue (`QUEUE_BYTES`) to a writer thread,
//!   a serving loop's lines once a turn (`batching`, `end_turn`), and the
//!   writer is woken only when it sleeps for want of lines: a busy server
//!   pays a few hundred `write`s a second, not one a request. When stderr
//!   cannot keep up (a stalled pipe), lines are dropped, counted, and the
//!   next line that gets through says how many: serving never waits.
//! - Writes never panic: a closed stderr (EPIPE) is one more dropped line.
//! - Every value is escaped so that nothing from the network can forge or
//!   disguise a line (control characters, C1, line and paragraph
//!   separators, bidi and zero-width format characters, DEL), every string
//!   is cut at `MAX_VALUE_CHARS` and every line at `MAX_LINE` bytes, both
//!   visibly and with the original length.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::date;

/// A line longer than this is cut (text) or re-rendered without claims
/// (json).
pub const MAX_LINE: usize = 8 * 1024;
/// A loop's lines of one turn are handed over together, at most this many
/// bytes at a time.
pub const BATCH: usize = 32 * 1024;
/// Strings longer than this many characters are cut, with their length.
pub const MAX_VALUE_CHARS: usize = 256;
/// Bytes waiting for the writer; lines past this are dropped and counted
/// (and said, once the writer can again). 2 ms of a busy server's lines
/// take a few tens of KB; the log holds at most this, and what the writer
/// is writing.
pub const QUEUE_BYTES: usize = 128 * 1024;
/// How long the writer lets lines gather after a write, so a busy server
/// wakes it a few hundred times a second, not once a request.
const GATHER: Duration = Duration::from_millis(2);

/// Lines for people, or one JSON object per line for pipelines. Defined
/// here, where it is used: the log depends on nothing of configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// What a request's log line says beyond method, path, status and
/// duration, as values: the log escapes and bounds them when it writes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Note {
    /// `accepted`, `replay` (accepted again), `rejected`.
    pub verdict: Option<&'static str>,
    /// A refused token's reason, as the API's `reason` (`expired`, …).
    pub reason: Option<&'static str>,
    /// Why the request was refused, one line (the API's `detail`).
    pub detail: Option<String>,
    /// Request values shown to the tester (e.g. `purpose`).
    pub fields: Vec<(&'static str, Value)>,
    /// The accepted token's claims and keys, in the order shown.
    pub claims: Vec<(&'static str, Value)>,
}

/// Lines for the writer, written with one call.
struct Batch {
    text: String,
    lines: usize,
}

thread_local! {
    /// A serving loop's lines of the current turn (`batching`): handed
    /// to the writer at the turn's end (`end_turn`), not one by one.
    static TURN: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

/// What the writer has yet to write, and whether it sleeps waiting for
/// some (only then is it woken: a busy server's turns add to the queue
/// without a system call).
struct Queue {
    text: Vec<u8>,
    lines: usize,
    idle: bool,
}

struct Logger {
    format: Format,
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Lines accepted and not yet written (or given up).
    pending: AtomicUsize,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);

impl Logger {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts the writer thread. Before this (tests, the fuzzer, `decode`),
/// lines are written directly, still without ever panicking.
pub fn init(format: Format) {
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return;
    };
    let logger = Logger {
        format,
        queue: Mutex::new(Queue {
            text: Vec::new(),
            lines: 0,
            idle: false,
        }),
        ready: Condvar::new(),
        pending: AtomicUsize::new(0),
    };
    if LOGGER.set(logger).is_err() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("log".into())
        .stack_size(64 * 1024)
        .spawn(move || write_forever(File::from(fd), format));
    if spawned.is_err() {
        // No writer: every line will be counted as dropped, none blocks.
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The writer: takes all that is queued, writes it with one call, lets
/// more gather for `GATHER`, and sleeps when there is none.
fn write_forever(mut out: File, format: Format) {
    let Some(l) = LOGGER.get() else { return };
    let mut spare = Vec::new();
    loop {
        let (mut text, lines) = {
            let mut q = l.queue();
            while q.lines == 0 {
                q.idle = true;
                q = l.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
            q.idle = false;
            let lines = std::mem::take(&mut q.lines);
            (
                std::mem::replace(&mut q.text, std::mem::take(&mut spare)),
                lines,
            )
        };
        let lost = DROPPED.swap(0, Ordering::Relaxed);
        let mut ok = true;
        if lost > 0 {
            let note = message_line(format, &format!("{lost} log lines dropped"));
            ok = out.write_all(note.as_bytes()).is_ok();
            if !ok {
                DROPPED.fetch_add(lost, Ordering::Relaxed);
            }
        }
        if !ok || out.write_all(&text).is_err() {
            DROPPED.fetch_add(lines as u64, Ordering::Relaxed);
        }
        l.pending.fetch_sub(lines, Ordering::Release);
        text.clear();
        // The buffer goes back for the next batch, unless a burst grew it.
        if text.capacity() <= 2 * BATCH {
            spare = text;
        }
        std::thread::sleep(GATHER);
    }
}

pub fn format() -> Format {
    LOGGER.get().map_or(Format::Text, |l| l.format)
}

fn emit(line: String) {
    let line = TURN.with(|turn| {
        let mut turn = turn.borrow_mut();
        let Some(batch) = turn.as_mut() else {
            return Some(line);
        };
        if batch.text.len() + line.len() > BATCH {
            let full = std::mem::replace(
                batch,
                Batch {
                    text: String::new(),
                    lines: 0,
                },
            );
            send(full);
        }
        batch.text.push_str(&line);
        batch.lines += 1;
        None
    });
    if let Some(line) = line {
        send(Batch {
            text: line,
            lines: 1,
        });
    }
}

/// Hands a batch to the writer, never waiting on it: past `QUEUE_BYTES`
/// its lines are dropped, counted (and said when the writer can again).
/// The writer is woken only if it sleeps for want of lines.
fn send(batch: Batch) {
    match LOGGER.get() {
        Some(l) => {
            let wake = {
                let mut q = l.queue();
                if q.text.len() + batch.text.len() > QUEUE_BYTES {
                    DROPPED.fetch_add(batch.lines as u64, Ordering::Relaxed);
                    return;
                }
                q.text.extend_from_slice(batch.text.as_bytes());
                q.lines += batch.lines;
                l.pending.fetch_add(batch.lines, Ordering::Acquire);
                std::mem::take(&mut q.idle)
            };
            if wake {
                l.ready.notify_one();
            }
        }
        None => {
            let _ = std::io::stderr().write_all(batch.text.as_bytes());
        }
    }
}

/// From now on this thread's lines are collected per turn of its loop
/// and handed over by `end_turn`: at most one wake of the writer a turn,
/// none when nothing was logged.
pub fn batching() {
    TURN.with(|turn| {
        *turn.borrow_mut() = Some(Batch {
            text: String::new(),
            lines: 0,
        });
    });
}

/// The loop has stopped: what it logged goes now, and this thread's lines
/// go one by one again.
pub fn end_batching() {
    end_turn();
    TURN.with(|turn| *turn.borrow_mut() = None);
}

/// The end of a loop's turn: its lines, if it logged any, go to the
/// writer as one batch.
pub fn end_turn() {
    let batch = TURN.with(|turn| {
        let mut turn = turn.borrow_mut();
        let batch = turn.as_mut()?;
        if batch.lines == 0 {
            return None;
        }
        Some(std::mem::replace(
            batch,
            Batch {
                text: String::new(),
                lines: 0,
            },
        ))
    });
    if let Some(b) = batch {
        send(b);
    }
}

/// Waits up to `limit` for queued lines to be written (at shutdown).
pub fn flush(limit: Duration) {
    let Some(l) = LOGGER.get() else { return };
    let deadline = Instant::now() + limit;
    while l.pending.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// How many lines were dropped and not yet reported (for tests).
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// A value as any message may quote it: in quotes, cut at 80 characters,
/// and never if it looks like key material (`looks_like_key`), which a
/// user may paste in the wrong place (the original plugin's settings take
/// the PEM itself).
pub fn shown(v: &str) -> String {
    if looks_like_key(v) {
        return "(a value that looks like PEM key text, not shown: give the path of a file that holds it)".into();
    }
    let cut: String = v.chars().take(80).collect();
    if cut.len() < v.len() {
        format!("{cut:?}…")
    } else {
        format!("{v:?}")
    }
}

/// A path as a message quotes it: like `shown`, but a long one keeps its
/// end (the file's name), which says more than its start.
pub fn shown_path(v: &str) -> String {
    if looks_like_key(v) {
        return shown(v);
    }
    let n = v.chars().count();
    if n <= 80 {
        return format!("{v:?}");
    }
    let tail: String = v.chars().skip(n - 79).collect();
    format!("…{tail:?}")
}

/// PEM text: armour (`-----`, `PRIVATE KEY`, `PUBLIC KEY`) or a line
/// break, which no path given on a command line has. What a key option
/// refuses as "key text where a path belongs": a long path is a path.
pub fn is_pem_text(v: &str) -> bool {
    v.contains("-----")
        || v.contains("PRIVATE KEY")
        || v.contains("PUBLIC KEY")
        || v.contains(['\n', '\r'])
}

/// Whether a value may be key material, so never quoted: PEM text, or,
/// unless it starts as a path does (`/`, `./`, `../`, `~/`), 40 base64
/// characters in a row, as a PEM body line pasted alone has.
pub fn looks_like_key(v: &str) -> bool {
    if is_pem_text(v) {
        return true;
    }
    if ["/", "./", "../", "~/"].iter().any(|p| v.starts_with(p)) {
        return false;
    }
    let mut run = 0usize;
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=' {
            run += 1;
            if run >= 40 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// A URL as every log line shows it: each query value (and a fragment)
/// replaced by `…`, names kept, since a session URL's query may carry a
/// session secret (`http://a/s?secret=…&type=…`). The inbox, which is the
/// tester's own, shows URLs whole.
pub fn redact_url(url: &str) -> String {
    let (url, fragment) = match url.split_once('#') {
        Some((u, _)) => (u, "#…"),
        None => (url, ""),
    };
    let Some((base, query)) = url.split_once('?') else {
        return format!("{url}{fragment}");
    };
    let params: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) => format!("{k}=…"),
            None => kv.to_owned(),
        })
        .collect();
    format!("{base}?{}{fragment}", params.join("&"))
}

/// A start-up or shutdown message: `comm-test: <text>`.
pub fn message(text: &str) {
    emit(message_line(format(), text));
}

fn message_line(format: Format, text: &str) -> String {
    let time = date::rfc3339_millis(SystemTime::now());
    match format {
        Format::Text => {
            let mut line = format!("{time} comm-test: ");
            push_text(&mut line, text);
            finish_text(line)
        }
        Format::Json => {
            let level = if text.starts_with("WARNING") || text.contains(" failed") {
                "warn"
            } else {
                "info"
            };
            let mut line = format!("{{\"time\":\"{time}\",\"level\":\"{level}\",\"message\":");
            push_json_string(&mut line, text, MAX_LINE / 2);
            line.push_str("}\n");
            line
        }
    }
}

/// The request line, from the parts the HTTP layer knows.
pub struct RequestLine<'a> {
    pub method: Option<&'a str>,
    pub path: Option<&'a str>,
    pub status: u16,
    pub duration: Duration,
    pub note: &'a Note,
}

pub fn request(r: &RequestLine<'_>) {
    emit(render_request(format(), SystemTime::now(), r));
}

pub fn render_request(format: Format, now: SystemTime, r: &RequestLine<'_>) -> String {
    let time = date::rfc3339_millis(now);
    let ms = r.duration.as_secs_f64() * 1000.0;
    match format {
        Format::Text => {
            let mut line = format!("{time} ");
            push_text(&mut line, r.method.unwrap_or("-"));
            line.push(' ');
            push_text(&mut line, r.path.unwrap_or("-"));
            let _ = write!(line, " {} {ms:.1}ms", r.status);
            let n = r.note;
            if let Some(v) = n.verdict {
                line.push(' ');
                line.push_str(v);
                if n.detail.is_some() {
                    line.push(':');
                }
            }
            if let Some(detail) = &n.detail {
                line.push(' ');
                push_text(&mut line, detail);
            }
            for (k, v) in n.fields.iter().chain(&n.claims) {
                let _ = write!(line, " {k}=");
                push_value_text(&mut line, v);
            }
            finish_text(line)
        }
        Format::Json => {
            let full = json_request(&time, ms, r, true);
            if full.len() <= MAX_LINE {
                return full;
            }
            // Too long: values cut short, claims summarised, still one
            // valid JSON object.
            json_request(&time, ms, r, false)
        }
    }
}

fn json_request(time: &str, ms: f64, r: &RequestLine<'_>, whole: bool) -> String {
    let limit = if whole { MAX_VALUE_CHARS } else { 32 };
    let level = match r.status {
        500.. => "error",
        400.. => "warn",
        _ => "info",
    };
    let mut line = format!("{{\"time\":\"{time}\",\"level\":\"{level}\",\"method\":");
    push_json_string(&mut line, r.method.unwrap_or("-"), limit);
    line.push_str(",\"path\":");
    push_json_string(&mut line, r.path.unwrap_or("-"), limit);
    let _ = write!(
        line,
        ",\"status\":{},\"duration_ms\":{}",
        r.status,
        (ms * 1000.0).round() / 1000.0
    );
    let n = r.note;
    if let Some(v) = n.verdict {
        let _ = write!(line, ",\"verdict\":\"{v}\"");
    }
    if let Some(reason) = n.reason {
        line.push_str(",\"reason\":");
        push_json_string(&mut line, reason, MAX_VALUE_CHARS);
    }
    if let Some(detail) = &n.detail {
        line.push_str(",\"detail\":");
        push_json_string(&mut line, detail, MAX_VALUE_CHARS);
    }
    for (k, v) in &n.fields {
        let _ = write!(line, ",\"{k}\":");
        push_value_json(&mut line, v, limit);
    }
    if !n.claims.is_empty() {
        if whole {
            line.push_str(",\"claims\":{");
            for (i, (k, v)) in n.claims.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let _ = write!(line, "\"{k}\":");
                push_value_json(&mut line, v, limit);
            }
            line.push('}');
        } else {
            line.push_str(",\"claims\":\"cut: line over 8192 bytes\"");
        }
    }
    line.push_str("}\n");
    line
}

/// Cuts a text line at `MAX_LINE` bytes, saying so and how long it was.
fn finish_text(mut line: String) -> String {
    if line.len() > MAX_LINE {
        let total = line.len();
        let mut cut = MAX_LINE - 64;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        let _ = write!(line, "…[line cut, {total} bytes]");
    }
    line.push('\n');
    line
}

/// Characters that could end, forge or disguise a line on a terminal or in
/// a log viewer: controls (C0, DEL, C1 such as NEL and CSI), line and
/// paragraph separators, bidi controls, zero-width and other invisible
/// format characters.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}')
}

/// Free text (method, path, reason, message): unsafe characters as `\u{..}`.
fn push_text(out: &mut String, s: &str) {
    let mut chars = s.chars();
    for c in chars.by_ref().take(MAX_VALUE_CHARS * 4) {
        if is_unsafe(c) || c == '\\' {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    if chars.next().is_some() {
        let _ = write!(out, "…[cut, {} bytes]", s.len());
    }
}

/// A JSON string literal: `"` and `\` escaped, every unsafe character as
/// `\uXXXX` (so the result is valid JSON too), cut after `limit` chars.
pub fn push_json_string(out: &mut String, s: &str, limit: usize) {
    out.push('"');
    let mut chars = s.chars();
    for c in chars.by_ref().take(limit) {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    if chars.next().is_some() {
        let _ = write!(out, "…[cut, {} bytes]", s.len());
    }
    out.push('"');
}

/// A plain word (status, fingerprints) is shown bare; anything else quoted.
fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fn push_value_text(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push('-'),
        Value::String(s) if is_word(s) => out.push_str(s),
        _ => push_value_json(out, v, MAX_VALUE_CHARS),
    }
}

fn push_value_json(out: &mut String, v: &Value, limit: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => push_json_string(out, s, limit),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value_json(out, item, limit);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(out, k, limit);
                out.push(':');
                push_value_json(out, item, limit);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loop's lines wait for the end of its turn and go as one batch;
    /// a turn that logged nothing hands over nothing.
    #[test]
    fn a_loops_lines_go_once_a_turn_and_not_at_all_when_there_are_none() {
        let held = |f: &dyn Fn(&Batch) -> (usize, usize)| TURN.with(|t| t.borrow().as_ref().map(f));
        batching();
        emit("one\n".into());
        emit("two\n".into());
        assert_eq!(held(&|b| (b.lines, b.text.len())), Some((2, 8)));
        end_turn();
        assert_eq!(held(&|b| (b.lines, b.text.len())), Some((0, 0)));
        end_turn();
        assert_eq!(held(&|b| (b.lines, b.text.len())), Some((0, 0)));
        // A turn's batch never grows past `BATCH`: a full one goes first.
        let line = format!("{}\n", "x".repeat(MAX_LINE - 1));
        for _ in 0..(BATCH / MAX_LINE + 1) {
            emit(line.clone());
        }
        assert_eq!(held(&|b| (b.lines, b.text.len())), Some((1, MAX_LINE)));
        end_batching();
        assert_eq!(held(&|b| (b.lines, b.text.len())), None);
    }

    /// A path is a path however deep; PEM armour, a line break, or a bare
    /// base64 body line is key text.
    #[test]
    fn key_text_is_armour_line_breaks_or_a_bare_base64_run() {
        let deep = format!("/srv/{}key.pem", "abcdefghij0123456789/".repeat(8));
        assert!(!is_pem_text(&deep) && !looks_like_key(&deep));
        assert!(!looks_like_key(
            "./keys/abcdefghijabcdefghijabcdefghijabcdefghij/k.pem"
        ));
        for key in [
            "-----BEGIN PRIVATE KEY-----",
            "MIIEvQIBADANBg\nkqhkiG9w0BAQEFAASC",
            "line\r",
        ] {
            assert!(is_pem_text(key) && looks_like_key(key), "{key:?}");
        }
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDB";
        assert!(!is_pem_text(body) && looks_like_key(body));
        assert_eq!(shown(body), "(a value that looks like PEM key text, not shown: give the path of a file that holds it)");
        assert!(
            shown_path(&deep).ends_with("abcdefghij0123456789/key.pem\""),
            "{}",
            shown_path(&deep)
        );
    }

    #[test]
    fn values_that_look_like_keys_are_never_quoted() {
        let pem = include_str!("../keys/idcontact-test-rsa.key.pem");
        assert!(!shown(pem).contains("MII") && shown(pem).contains("PEM key text"));
        let body_line = pem.lines().nth(1).unwrap();
        assert!(!shown(body_line).contains(&body_line[..20]));
        assert_eq!(shown("keys/x.pem"), "\"keys/x.pem\"");
        assert_eq!(shown(&"a.".repeat(50)), format!("{:?}…", "a.".repeat(40)));
        assert!(!shown("/srv/keys/decryption.key.pem").contains("not shown"));
    }

    #[test]
    fn query_values_are_redacted_names_kept() {
        assert_eq!(
            redact_url("http://a:1/s?secret=abc&type=user_active&flag"),
            "http://a:1/s?secret=…&type=…&flag"
        );
        assert_eq!(redact_url("http://a/s"), "http://a/s");
        assert_eq!(redact_url("http://a/s#tok"), "http://a/s#…");
    }
    use serde_json::json;

    fn line(format: Format, note: &Note) -> String {
        render_request(
            format,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_615_879_800),
            &RequestLine {
                method: Some("POST"),
                path: Some("/auth_result"),
                status: 200,
                duration: Duration::from_micros(1500),
                note,
            },
        )
    }

    fn accepted() -> Note {
        Note {
            verdict: Some("accepted"),
            reason: None,
            detail: None,
            fields: vec![],
            claims: vec![
                ("status", json!("succes")),
                ("attributes", json!({"email": "bla"})),
                ("session_url", Value::Null),
            ],
        }
    }

    #[test]
    fn text_and_json_lines() {
        assert_eq!(
            line(Format::Text, &accepted()),
            "2021-03-16T07:30:00.000Z POST /auth_result 200 1.5ms accepted status=succes attributes={\"email\":\"bla\"} session_url=-\n"
        );
        let j = line(Format::Json, &accepted());
        assert_eq!(
            j,
            "{\"time\":\"2021-03-16T07:30:00.000Z\",\"level\":\"info\",\"method\":\"POST\",\"path\":\"/auth_result\",\"status\":200,\"duration_ms\":1.5,\"verdict\":\"accepted\",\"claims\":{\"status\":\"succes\",\"attributes\":{\"email\":\"bla\"},\"session_url\":null}}\n"
        );
        serde_json::from_str::<Value>(&j).unwrap();
    }

    /// Regression: these reached the log raw through attribute names
    /// and values, `purpose` and `session_url`.
    #[test]
    fn log_forgery_characters_are_escaped() {
        let evil = "a\u{2028}b\u{2029}c\u{85}d\u{9b}31me\u{202e}f\u{7f}g\r\n\u{1b}[2J\u{200b}";
        let mut n = accepted();
        n.fields.push(("purpose", json!(evil)));
        n.claims.push(("attributes", json!({ evil: evil })));
        for f in [Format::Text, Format::Json] {
            let l = line(f, &n);
            let body = &l[..l.len() - 1];
            assert!(
                !body.chars().any(is_unsafe),
                "{f:?}: unsafe character in {body:?}"
            );
            assert!(
                body.contains("\\u2028") && body.contains("\\u009b") && body.contains("\\u202e")
            );
        }
        let j = line(Format::Json, &n);
        let v: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["purpose"], json!(evil), "escapes round-trip in JSON");
    }

    /// Regression: a 65 KB `purpose` made a 65 KB line.
    #[test]
    fn long_values_and_lines_are_cut_visibly() {
        let mut n = accepted();
        n.fields.push(("purpose", json!("p".repeat(65_000))));
        let l = line(Format::Text, &n);
        assert!(l.len() < 1024, "{}", l.len());
        assert!(l.contains("…[cut, 65000 bytes]"), "{l}");
        let many: serde_json::Map<String, Value> = (0..256)
            .map(|i| {
                (
                    format!("attr{i:03}{}", "n".repeat(200)),
                    json!("v".repeat(250)),
                )
            })
            .collect();
        n.claims = vec![("attributes", Value::Object(many))];
        let t = line(Format::Text, &n);
        assert!(
            t.len() <= MAX_LINE + 1 && t.contains("…[line cut, "),
            "{}",
            t.len()
        );
        let j = line(Format::Json, &n);
        assert!(j.len() <= MAX_LINE, "{}", j.len());
        let v: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["claims"], json!("cut: line over 8192 bytes"));
    }

    #[test]
    fn messages() {
        let m = message_line(Format::Text, "listening on http://127.0.0.1:8000");
        assert!(
            m.ends_with("Z comm-test: listening on http://127.0.0.1:8000\n"),
            "{m}"
        );
        let m = message_line(Format::Json, "kid=\u{1b}x");
        let v: Value = serde_json::from_str(&m).unwrap();
        assert_eq!(v["message"], json!("kid=\u{1b}x"));
        assert!(!m.contains('\u{1b}'));
    }
}
