//! The inbox's listener as a `http::Service`: its routes (`api.rs`), the
//! event stream's frames fed as the client takes them, and the requests
//! parked until the journal or the core has their answer.

use super::api::{self, Waiting};
use super::state::Inbox;
use super::stream::Feed;
use crate::http::{Answer, Request, Response, Service, Wake};

/// The inbox's service: the page, the journal's API and its event stream.
pub struct InboxService<'a>(pub &'a Inbox);

impl Service for InboxService<'_> {
    type Stream = Feed;
    type Parked = Waiting;

    fn call(&self, req: &Request<'_>) -> Answer<Feed, Waiting> {
        if req.path == "/healthz" {
            return crate::plugin::healthz(req).into();
        }
        api::handle(self.0, req)
    }

    fn feed(&self, stream: &mut Feed, budget: usize, out: &mut Vec<u8>) {
        stream.next(self.0, budget, out);
    }

    fn behind(&self, stream: &Feed) -> bool {
        stream.behind(self.0)
    }

    fn finished(&self, stream: &Feed) -> bool {
        stream.finished()
    }

    fn heartbeat(&self, stream: &Feed) -> bool {
        stream.heartbeat()
    }

    fn resume(&self, waiting: &mut Waiting) -> Option<Response> {
        waiting.answer(self.0)
    }

    fn give_up(&self, waiting: Waiting) -> Response {
        waiting.give_up()
    }

    /// Every change to the journal wakes the inbox's loop.
    fn attach(&self, wake: Wake) {
        self.0
            .shared_journal()
            .on_change(Box::new(move || wake.wake()));
    }
}
