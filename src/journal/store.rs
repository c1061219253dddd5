//! The journal's store: the last N events in memory, oldest dropped,
//! shared by the loops and the threads that record (`Shared`); what a
//! listing, a page or a stream reads of it (`Journal`, `Filter`, `Page`);
//! every change told to the inbox's loop and, with `--journal-file`,
//! appended to the file (`file.rs`) before it is answered.
//!
//! Readers copy `Arc`s of the events they need under the lock and render
//! after releasing it: the lock is held for pointer copies, never for a
//! page's or a listing's serialisation.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::event::{cut, Event, Framed, Kind, RequestInfo, MAX_PURPOSE};
use super::file::{self, Line, Sink};
use crate::{date, jose};

/// Told after every change to the journal: the inbox's loop, so that
/// streams and waiting requests are fed at once, not by polling.
pub type Wake = Box<dyn Fn() + Send + Sync>;

/// The journal as the loops and the feedback thread share it.
pub struct Shared {
    /// False without an inbox: nothing would ever read what is kept, so
    /// nothing is (ids still count, for the log lines that name them).
    keeps: bool,
    journal: Mutex<Journal>,
    /// The newest id and the number of clears, readable without the lock.
    last: AtomicU64,
    clears: AtomicU64,
    restores: AtomicU64,
    wake: OnceLock<Wake>,
    /// `--journal-file`: every change appended there too.
    sink: OnceLock<Sink>,
}

impl Shared {
    pub fn new(capacity: usize) -> Shared {
        Shared {
            keeps: true,
            journal: Mutex::new(Journal::new(capacity)),
            last: AtomicU64::new(0),
            clears: AtomicU64::new(0),
            restores: AtomicU64::new(0),
            wake: OnceLock::new(),
            sink: OnceLock::new(),
        }
    }

    /// Whether it keeps events (an inbox reads them); without, a caller
    /// need not build what it would record.
    pub fn keeps(&self) -> bool {
        self.keeps
    }

    /// A journal that keeps nothing: `--inbox off`.
    pub fn off() -> Shared {
        Shared {
            keeps: false,
            ..Shared::new(1)
        }
    }

    /// Who to tell of changes (set once, by the inbox's loop).
    pub fn on_change(&self, wake: Wake) {
        let _ = self.wake.set(wake);
    }

    fn changed(&self) {
        if let Some(w) = self.wake.get() {
            w();
        }
    }

    /// Wakes the inbox's streams for something beside the journal that
    /// they report (the faults in force).
    pub fn poke(&self) {
        self.changed();
    }

    /// A poisoned lock means a thread panicked mid-update; the deque itself
    /// is still sound, so keep using it.
    pub fn lock(&self) -> MutexGuard<'_, Journal> {
        self.journal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records an event; the frame is serialised before the lock is taken.
    pub fn record(&self, route: &'static str, purpose: Option<&str>, kind: Kind) -> u64 {
        self.record_request(route, purpose, kind, None)
    }

    /// Records an event with the public request it came with.
    pub fn record_request(
        &self,
        route: &'static str,
        purpose: Option<&str>,
        kind: Kind,
        request: Option<RequestInfo>,
    ) -> u64 {
        if !self.keeps {
            return self.last.fetch_add(1, Ordering::AcqRel) + 1;
        }
        let mut event = Event {
            id: 0,
            time_ms: date::unix_now_millis(),
            route,
            purpose: purpose.map(|p| cut(p, MAX_PURPOSE)),
            kind: bounded(kind),
            request,
            read_back: None,
        };
        let (id, framed) = {
            let mut j = self.lock();
            event.id = j.next_id;
            j.next_id += 1;
            let framed = Arc::new(Framed::new(event));
            (j.push(framed.clone()), framed)
        };
        if let Some(sink) = self.sink.get() {
            sink.send(Line::Event(framed));
        }
        self.last.store(id, Ordering::Release);
        self.changed();
        id
    }

    /// A delayed answer settled: event `id`'s request took `ms` more, and,
    /// if its client left first, says `status` (499). The event is framed
    /// anew in its place; the file gets the new line (read back, a later
    /// line of an id replaces the earlier). Streams that sent the old
    /// frame are not sent it again; listings and the file say what
    /// happened. Gone (deleted, turned over): nothing to do.
    pub fn settle(&self, id: u64, status: Option<u16>, ms: u64) {
        if !self.keeps {
            return;
        }
        let framed = {
            let mut j = self.lock();
            let at = j.events.partition_point(|e| e.id < id);
            let Some(old) = j.events.get(at).filter(|e| e.id == id) else {
                return;
            };
            let Some(new) = old.settled(status, ms) else {
                return;
            };
            let new = Arc::new(new);
            if let Some(slot) = j.events.get_mut(at) {
                *slot = new.clone();
            }
            new
        };
        if let Some(sink) = self.sink.get() {
            sink.send(Line::Event(framed));
        }
        self.changed();
    }

    /// Empties the journal (ids keep counting); how many events went.
    pub fn clear(&self) -> usize {
        let n = self.lock().clear();
        if let Some(sink) = self.sink.get() {
            sink.send(Line::Cleared(self.last()));
        }
        self.clears.fetch_add(1, Ordering::AcqRel);
        self.changed();
        n
    }

    /// Removes what `f` matches (everything, for a filter that narrows
    /// nothing); how many went. Open streams are told as of a clear: their
    /// pages reload what is left.
    pub fn delete(&self, f: &Filter<'_>) -> usize {
        let ids = self.lock().delete(f);
        let n = ids.len();
        if let Some(sink) = self.sink.get().filter(|_| n > 0) {
            sink.send(Line::Deleted(ids, self.last()));
        }
        self.clears.fetch_add(1, Ordering::AcqRel);
        self.changed();
        n
    }

    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    pub fn capacity(&self) -> usize {
        self.lock().capacity()
    }

    /// `--journal-file` lines the writer could not take or write.
    pub fn file_lines_lost(&self) -> u64 {
        self.sink
            .get()
            .map_or(0, |s| s.lost.load(Ordering::Relaxed))
    }

    /// After a delete or clear: `None` without a journal file; whether it
    /// is on the disk (written and synced before `delete` or `clear`
    /// returned), `lost_before` being `file_lines_lost` from before it.
    pub fn file_saved(&self, lost_before: u64) -> Option<bool> {
        let sink = self.sink.get()?;
        Some(sink.lost.load(Ordering::Relaxed) == lost_before)
    }

    /// The file's events are read back: its writer may rewrite it now.
    pub fn file_loaded(&self) {
        if let Some(sink) = self.sink.get() {
            sink.loaded();
        }
    }

    /// Every kept event, oldest first (pointer copies).
    pub fn snapshot(&self) -> Vec<Arc<Framed>> {
        self.lock().events.iter().cloned().collect()
    }

    /// `--journal-file`: ids continue after `last`, and every change is
    /// appended through `sink` from now on.
    pub fn persist_to(&self, sink: Sink, last: u64) {
        {
            let mut j = self.lock();
            j.next_id = j.next_id.max(last + 1);
        }
        self.last.fetch_max(last, Ordering::AcqRel);
        let _ = self.sink.set(sink);
    }

    /// Events read back from the file, older than any recorded since:
    /// put before them, within the journal's size.
    pub fn restore(&self, events: Vec<Arc<Framed>>) -> usize {
        let n = {
            let mut j = self.lock();
            let room = j.capacity.saturating_sub(j.events.len());
            let skip = events.len().saturating_sub(room);
            let restored: Vec<Arc<Framed>> = events.into_iter().skip(skip).collect();
            let n = restored.len();
            for e in restored.into_iter().rev() {
                j.events.push_front(e);
            }
            n
        };
        self.restores.fetch_add(1, Ordering::AcqRel);
        self.changed();
        n
    }

    /// How many read-backs put events in front of those recorded since
    /// start: a reader that skips ids it has seen must look again.
    pub fn restores(&self) -> u64 {
        self.restores.load(Ordering::Acquire)
    }

    /// How many times the journal was emptied: a stream tells its page.
    pub fn clears(&self) -> u64 {
        self.clears.load(Ordering::Acquire)
    }
}

impl file::Source for Shared {
    fn snapshot(&self) -> Vec<Arc<Framed>> {
        Shared::snapshot(self)
    }
    fn last(&self) -> u64 {
        Shared::last(self)
    }
    fn capacity(&self) -> usize {
        Shared::capacity(self)
    }
}

/// The token as received, cut at `jose::MAX_TOKEN_LEN`.
fn bounded(kind: Kind) -> Kind {
    match kind {
        Kind::Token {
            token,
            outcome,
            checked_at,
        } => Kind::Token {
            token: cut(&token, jose::MAX_TOKEN_LEN),
            outcome,
            checked_at,
        },
        k => k,
    }
}

pub struct Journal {
    events: VecDeque<Arc<Framed>>,
    capacity: usize,
    next_id: u64,
}

/// What a listing may filter on, and which page of it.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub since: Option<u64>,
    /// Only events older than this id (the next page).
    pub before: Option<u64>,
    pub route: Option<&'a str>,
    pub verdict: Option<&'a str>,
    /// Text found, in any case, in a decoded value (`Event::mentions`).
    pub q: Option<&'a str>,
    /// Attributes an accepted result must carry, each with this value.
    pub attrs: &'a [(String, String)],
}

impl Filter<'_> {
    fn matches(&self, e: &Framed) -> bool {
        self.since.is_none_or(|s| e.id > s)
            && self.before.is_none_or(|b| e.id < b)
            && self.route.is_none_or(|r| e.route == r)
            && self.verdict.is_none_or(|v| e.verdict() == Some(v))
            && self
                .q
                .is_none_or(|q| e.mentions(q) || e.refused_claims_mention(q))
            && self
                .attrs
                .iter()
                .all(|(k, v)| e.attributes().and_then(|a| a.get(k)) == Some(v))
    }

    /// Whether it narrows anything down (a delete without a filter is the
    /// whole journal).
    pub fn is_everything(&self) -> bool {
        self.since.is_none()
            && self.before.is_none()
            && self.route.is_none()
            && self.verdict.is_none()
            && self.q.is_none()
            && self.attrs.is_empty()
    }
}

/// One page of a listing: at most `limit` events, newest first, and
/// whether older matching events remain.
pub struct Page {
    pub events: Vec<Arc<Framed>>,
    pub more: bool,
    /// Events matching the filter on every page (its `before` aside).
    pub matched: usize,
    /// Events the journal holds.
    pub total: usize,
}

impl Page {
    /// The `before` of the next page, if there is one.
    pub fn next_before(&self) -> Option<u64> {
        self.events.last().filter(|_| self.more).map(|e| e.id)
    }
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Journal {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            next_id: 1,
        }
    }

    fn push(&mut self, e: Arc<Framed>) -> u64 {
        if self.events.len() >= self.capacity {
            self.events.pop_front();
        }
        let id = e.id;
        self.events.push_back(e);
        id
    }

    /// The id of the newest event ever recorded (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.next_id - 1
    }

    pub fn get(&self, id: u64) -> Option<Arc<Framed>> {
        // Ids ascend: a binary search, so an export's lookups stay cheap.
        let at = self.events.partition_point(|e| e.id < id);
        self.events.get(at).filter(|e| e.id == id).cloned()
    }

    /// The ids `f` matches, oldest first (at most `limit`, the newest of
    /// them): what an export will send, as numbers, not copies.
    pub fn ids(&self, f: &Filter<'_>, limit: usize) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .events
            .iter()
            .rev()
            .filter(|e| f.matches(e))
            .take(limit)
            .map(|e| e.id)
            .collect();
        ids.reverse();
        ids
    }

    /// A page of matching events, newest first: pointer copies only.
    pub fn page(&self, f: &Filter<'_>, limit: usize) -> Page {
        let mut matching = self.events.iter().rev().filter(|e| f.matches(e));
        let events: Vec<_> = matching.by_ref().take(limit).cloned().collect();
        let more = matching.next().is_some();
        // The count a tester reads as "3 of 8": every page's, so `before`
        // (which page) is left out.
        let all_pages = Filter { before: None, ..*f };
        let matched = self.events.iter().filter(|e| all_pages.matches(e)).count();
        Page {
            events,
            more,
            matched,
            total: self.events.len(),
        }
    }

    /// Frames after `id`, oldest first, until `budget` bytes are taken
    /// (always at least one, so a frame larger than the budget still goes).
    pub fn frames_after(&self, id: u64, budget: usize) -> Vec<(u64, Arc<[u8]>)> {
        let start = self.events.partition_point(|e| e.id <= id);
        let mut taken = 0usize;
        let mut out = Vec::new();
        for e in self.events.range(start..) {
            if !out.is_empty() && taken + e.frame.len() > budget {
                break;
            }
            taken += e.frame.len();
            out.push((e.id, e.frame.clone()));
        }
        out
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn clear(&mut self) -> usize {
        let n = self.events.len();
        self.events.clear();
        n
    }

    /// The oldest event after `after` that `f` matches.
    pub fn first_after(&self, after: u64, f: &Filter<'_>) -> Option<Arc<Framed>> {
        let start = self.events.partition_point(|e| e.id <= after);
        self.events.range(start..).find(|e| f.matches(e)).cloned()
    }

    /// Removes the events `f` matches; how many went.
    fn delete(&mut self, f: &Filter<'_>) -> Vec<u64> {
        let mut ids = Vec::new();
        self.events.retain(|e| {
            let hit = f.matches(e);
            if hit {
                ids.push(e.id);
            }
            !hit
        });
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::*;
    use super::*;
    use crate::jose::Reason;
    use serde_json::json;

    #[test]
    fn without_an_inbox_nothing_is_kept_but_ids_still_count() {
        let j = Shared::off();
        assert_eq!(j.record("ui", None, Kind::Start), 1);
        assert_eq!(j.record("ui", Some("p"), Kind::Start), 2);
        assert_eq!((j.lock().len(), j.last()), (0, 2));
    }

    fn rejected(token: &str) -> Kind {
        Kind::Token {
            token: token.into(),
            outcome: Outcome::Rejected {
                reason: Reason::Malformed,
                detail: "malformed: JWE must have exactly 5 parts".into(),
                established: Established::default(),
            },
            checked_at: 0,
        }
    }

    fn ids(p: &Page) -> Vec<u64> {
        p.events.iter().map(|e| e.id).collect()
    }

    #[test]
    fn bounded_oldest_dropped_ids_keep_counting() {
        let j = Shared::new(3);
        for i in 0..5 {
            j.record("auth_result", None, rejected(&format!("t{i}")));
        }
        assert_eq!(j.lock().len(), 3);
        assert_eq!(ids(&j.lock().page(&Filter::default(), 10)), [5, 4, 3]);
        assert_eq!(j.clear(), 3);
        assert_eq!(j.clears(), 1);
        assert_eq!(j.record("ui", None, rejected("x")), 6);
        let after: Vec<u64> = j.lock().frames_after(0, 1).iter().map(|f| f.0).collect();
        assert_eq!(after, [6]);
    }

    #[test]
    fn pages_follow_before_and_limit() {
        let j = Shared::new(10);
        for i in 0..7 {
            j.record("auth_result", None, rejected(&format!("t{i}")));
        }
        let first = j.lock().page(&Filter::default(), 3);
        assert_eq!((ids(&first), first.next_before()), (vec![7, 6, 5], Some(5)));
        let f = Filter {
            before: first.next_before(),
            ..Filter::default()
        };
        let second = j.lock().page(&f, 3);
        assert_eq!(
            (ids(&second), second.next_before()),
            (vec![4, 3, 2], Some(2))
        );
        let f = Filter {
            before: Some(2),
            ..Filter::default()
        };
        let last = j.lock().page(&f, 3);
        assert_eq!((ids(&last), last.next_before()), (vec![1], None));
    }

    /// Regression: every open stream re-serialised every new entry (100 streams
    /// cost 7x the CPU of none). The frame is made once, at record, and
    /// every reader gets the same bytes.
    #[test]
    fn an_event_is_serialised_once_and_shared_by_every_stream() {
        let j = Shared::new(10);
        j.record("auth_result", None, rejected("t"));
        let a = j.lock().frames_after(0, usize::MAX);
        let b = j.lock().frames_after(0, usize::MAX);
        assert!(Arc::ptr_eq(&a[0].1, &b[0].1));
        let text = std::str::from_utf8(&a[0].1).unwrap();
        assert!(text.starts_with("id: 1\nevent: entry\ndata: {"), "{text}");
        assert!(text.ends_with("}\n\n") && text.matches('\n').count() == 4);
    }

    #[test]
    fn catch_up_frames_stop_at_the_budget_but_never_at_zero() {
        let j = Shared::new(10);
        for i in 0..5 {
            j.record("auth_result", None, rejected(&format!("t{i}")));
        }
        let one = j.lock().frames_after(0, 1).len();
        let len = j.lock().frames_after(0, usize::MAX)[0].1.len();
        let two = j.lock().frames_after(0, 2 * len + 1).len();
        assert_eq!((one, two), (1, 2));
        assert_eq!(j.lock().frames_after(3, usize::MAX)[0].0, 4);
    }

    #[test]
    fn filters_and_cuts() {
        let j = Shared::new(10);
        j.record("start_communication", Some(&"p".repeat(5000)), Kind::Start);
        j.record("auth_result", None, rejected(&"t".repeat(20_000)));
        let f = Filter {
            route: Some("start_communication"),
            ..Filter::default()
        };
        let start = j.lock().page(&f, 10).events;
        assert_eq!(start.len(), 1);
        assert!(start[0]
            .purpose
            .as_ref()
            .unwrap()
            .ends_with("…[cut, 5000 bytes]"));
        let f = Filter {
            verdict: Some("rejected"),
            since: Some(1),
            ..Filter::default()
        };
        let e = j.lock().page(&f, 10).events;
        assert_eq!(e.len(), 1);
        let v = e[0].json();
        assert_eq!(
            (&v["kind"], &v["verdict"], &v["reason"]),
            (&json!("token"), &json!("rejected"), &json!("malformed"))
        );
        assert!(v["token"]
            .as_str()
            .unwrap()
            .ends_with("…[cut, 20000 bytes]"));
    }
}
