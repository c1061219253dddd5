//! One public request on its way through the plugin's routes: what the
//! journal keeps of it (`journal::RequestInfo`), the fault that replaces
//! its answer, and whether a route journaled it already.

use crate::faults::Fault;
use crate::http::{Method, Request};
use crate::journal;

/// One public request on its way through the routes: what the journal
/// keeps of it, and whether a route journaled it already.
pub struct Exchange<'r> {
    req: &'r Request<'r>,
    started: std::time::Instant,
    /// The journal's ids of what this exchange recorded (none yet: the
    /// route has not journaled it).
    pub(super) recorded: std::cell::RefCell<Vec<u64>>,
    /// An event journaled just before this exchange's next one, with that
    /// one's status: a start whose inline token decides what it answers.
    preceding: std::cell::RefCell<Option<Preceding>>,
    /// The fault that replaces the route's answer, if one does.
    fault: Option<&'r Fault>,
}

/// An event waiting for the status its exchange will answer.
pub struct Preceding {
    pub route: &'static str,
    pub purpose: Option<String>,
    pub kind: journal::Kind,
}

impl<'r> Exchange<'r> {
    pub fn new(req: &'r Request<'r>, fault: Option<&'r Fault>) -> Self {
        Exchange {
            req,
            started: std::time::Instant::now(),
            recorded: std::cell::RefCell::new(Vec::new()),
            preceding: std::cell::RefCell::new(None),
            fault,
        }
    }

    /// Journals `p` just before the next event of this exchange, with the
    /// status that one answers (`take_preceding`).
    pub fn precede(&self, p: Preceding) {
        *self.preceding.borrow_mut() = Some(p);
    }

    /// The event waiting to go first, if one is.
    pub fn take_preceding(&self) -> Option<Preceding> {
        self.preceding.borrow_mut().take()
    }

    /// The request as the journal keeps it, answered with `status` (or
    /// with what its fault sends instead).
    pub fn info(&self, status: u16) -> journal::RequestInfo {
        let method = match self.req.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Other => "other",
        };
        let headers = journal::JOURNALED_HEADERS
            .iter()
            .filter_map(|&name| {
                let v = self.req.headers.get(name)?;
                Some((name, journal::cut(v, journal::MAX_REQUEST_TEXT)))
            })
            .collect();
        journal::RequestInfo {
            method: method.to_owned(),
            path: journal::cut(self.req.path, journal::MAX_REQUEST_TEXT),
            status: self.fault.map_or(status, |f| f.status_sent(status)),
            fault: self.fault.map(Fault::describe),
            ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            client: self.req.peer.map(|p| p.to_string()),
            headers,
        }
    }
}
