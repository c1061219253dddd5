//! The journal: what the plugin's routes and the inbox's actions did, one
//! event each, for the tester's inbox. A room of its own: the plugin API
//! (`crate::plugin`) and the inbox (`crate::inbox`) record into it and read
//! it; it knows neither. It may use `jose` (an event names a token's
//! `Reason`; a read-back token is re-checked through a function it is
//! handed), `date` and `log`.
//!
//! - `event.rs`: one event, its JSON and its stream frame, serialised once.
//! - `store.rs`: the last N in memory, shared by every thread that records.
//! - `file.rs`: `--journal-file`, kept as Redis keeps its append-only file.

pub mod event;
pub mod file;
pub mod store;

pub use event::{
    cut, Accepted, AuthOnly, Established, Event, Feedback, Framed, Kind, Outcome, RequestInfo,
    DEFAULT_CAPACITY, JOURNALED_HEADERS, MAX_EVENT_BYTES, MAX_PURPOSE, MAX_REQUEST_TEXT, ROUTES,
    VERDICTS,
};
pub use store::{Filter, Journal, Page, Shared, Wake};
