//! What the inbox sends as the client takes it, within the budget the
//! transport gives: an event stream (a `faults` event when the faults in
//! force changed, a `clear` event when the journal was emptied, then the
//! entries the stream has not been sent), and an export or a large
//! listing (the events by id, looked up one at a time), so what one
//! connection holds never grows with the journal.

use std::collections::VecDeque;

use super::state::Inbox;

/// A connection the inbox feeds: an endless event stream, or an export
/// that ends.
#[derive(Debug)]
pub enum Feed {
    Events(StreamStart),
    Export(Export),
}

impl Feed {
    pub fn next(&mut self, inbox: &Inbox, budget: usize, out: &mut Vec<u8>) {
        match self {
            Feed::Events(s) => s.next_frames(inbox, budget, out),
            Feed::Export(e) => e.next(inbox, budget, out),
        }
    }

    pub fn behind(&self, inbox: &Inbox) -> bool {
        match self {
            Feed::Events(s) => s.behind(inbox),
            Feed::Export(e) => !e.done,
        }
    }

    /// An export ends once its last bytes are out; a stream never does.
    pub fn finished(&self) -> bool {
        matches!(self, Feed::Export(e) if e.done)
    }

    /// A quiet event stream gets a comment line now and then; an export
    /// is never quiet, and a comment would corrupt it.
    pub fn heartbeat(&self) -> bool {
        matches!(self, Feed::Events(_))
    }
}

/// Events by id, each as serialised when recorded, then a tail: an NDJSON
/// export (each followed by a newline) or a JSON listing's array (commas
/// between, the listing's closing members after). An event deleted
/// meanwhile is left out.
#[derive(Debug)]
pub struct Export {
    ids: VecDeque<u64>,
    json_array: bool,
    sent_one: bool,
    tail: Vec<u8>,
    done: bool,
}

impl Export {
    /// One event per line, oldest first.
    pub fn ndjson(ids: Vec<u64>) -> Export {
        Export {
            ids: ids.into(),
            json_array: false,
            sent_one: false,
            tail: Vec::new(),
            done: false,
        }
    }

    /// The members of a JSON array, then `tail` (the opening went with
    /// the answer's head).
    pub fn json_array(ids: Vec<u64>, tail: Vec<u8>) -> Export {
        Export {
            ids: ids.into(),
            json_array: true,
            sent_one: false,
            tail,
            done: false,
        }
    }

    fn next(&mut self, inbox: &Inbox, budget: usize, out: &mut Vec<u8>) {
        let start = out.len();
        while out.len() - start < budget {
            let Some(id) = self.ids.pop_front() else {
                out.extend_from_slice(&std::mem::take(&mut self.tail));
                self.done = true;
                return;
            };
            let Some(e) = inbox.journal().get(id) else {
                continue;
            };
            if self.json_array && std::mem::replace(&mut self.sent_one, true) {
                out.push(b',');
            }
            out.extend_from_slice(e.json_text());
            if !self.json_array {
                out.push(b'\n');
            }
        }
    }
}

/// Where an event stream stands: the last journal id it was sent, the
/// journal's clear count and the faults' version it last told its client of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStart {
    pub after: u64,
    pub clears: u64,
    pub faults: u64,
}

impl StreamStart {
    /// The next frames for this stream, within `budget` bytes (at least
    /// one frame if there is any, so none is too large to send): a
    /// `clear` event first when the journal was emptied since, then the
    /// entries after `after`, as serialised once when recorded.
    /// They are appended to `out`, which grows by exactly their size.
    pub fn next_frames(&mut self, inbox: &Inbox, budget: usize, out: &mut Vec<u8>) {
        let faults = inbox.faults().version();
        if faults != self.faults {
            // Set, cleared or used: the page reloads its faults panel.
            self.faults = faults;
            out.extend_from_slice(format!("event: faults\ndata: {faults}\n\n").as_bytes());
        }
        let clears = inbox.shared_journal().clears();
        if clears != self.clears {
            self.clears = clears;
            // A delete by search leaves some: `remaining` tells the page
            // whether to empty itself or reload what is left.
            let (last, remaining) = {
                let j = inbox.journal();
                (j.last_id(), j.len())
            };
            out.extend_from_slice(
                format!("event: clear\ndata: {{\"last_id\":{last},\"remaining\":{remaining}}}\n\n")
                    .as_bytes(),
            );
        }
        let (frames, last) = {
            let j = inbox.journal();
            (j.frames_after(self.after, budget), j.last_id())
        };
        if frames.is_empty() {
            // Nothing kept after `after` (cleared, or dropped as the
            // journal turned over): caught up.
            self.after = self.after.max(last);
        }
        out.reserve_exact(frames.iter().map(|f| f.1.len()).sum());
        for (id, frame) in frames {
            out.extend_from_slice(&frame);
            self.after = id;
        }
    }

    /// Whether the journal holds something this stream has not been sent.
    pub fn behind(&self, inbox: &Inbox) -> bool {
        inbox.last_event() > self.after
            || inbox.shared_journal().clears() != self.clears
            || inbox.faults().version() != self.faults
    }
}
