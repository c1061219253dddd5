//! Where an inbox's event stream stands, and its next frames: a `faults`
//! event when the faults in force changed, a `clear` event when the
//! journal was emptied, then the entries the stream has not been sent,
//! within the budget the transport gives.

use super::state::Inbox;

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
