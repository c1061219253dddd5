//! The transport: HTTP/1.1 on a readiness loop, knowing nothing of the
//! application. A loop (`event_loop.rs`) is one thread and one `mio` poll
//! over one listener (`listen.rs`), its signal pipes and its connections
//! (`conn.rs`). Requests are parsed by `httparse` under strict limits
//! (`request.rs`) and handed, complete, to a `Service` (`service.rs`),
//! whose answers are framed by `response.rs`. Each listener gets loops of
//! its own: nothing one service does takes a turn from another's clients.
//! Two helpers every application on it uses: the query string
//! (`query.rs`) and the cross-site defence for changing requests
//! (`cross_site.rs`); neither names a route.
//!
//! What one client can take, and no more:
//! - **Its turn.** Connections with work are served round-robin, one
//!   request per turn (`conn.rs` `step`), and the loop polls for new
//!   events at least every `ROUND_SLICE`: a request waits for at most one
//!   request of each other busy connection.
//! - **Its memory.** Input ≤ `MAX_HEAD` + `max_body` per connection (reads
//!   stop while the buffer is full), output ≤ one answer (nothing more is
//!   answered until it is taken). An idle connection holds no buffer.
//! - **Its time.** A request must be complete within `read_timeout` of its
//!   first byte (else 408 and close), and its answer taken within the same
//!   time; a connection with no request open is closed after
//!   `idle_timeout`.
//! - **A connect.** Never waits on an idle loop: the listen backlog and
//!   the descriptor table are sized at start (`listen.rs`), and a new
//!   connection costs the loop nothing until it has something to say.
//! - **Its slot.** At most `max_connections` are open; when one more
//!   arrives, or `accept` fails for lack of descriptors, the connection
//!   that has made the least progress for the longest (seconds per byte
//!   in its current phase) is closed to make room.
//! - **Its log lines.** Bounded and escaped, and never waited for (`log.rs`).
//!
//! Sizes: head ≤ `MAX_HEAD` (414 if the request line alone is longer, else
//! 431) with ≤ `MAX_HEADERS` headers (431); `Content-Length` ≤ `max_body`,
//! decided from the header alone (413); `Transfer-Encoding` is refused.

mod conn;
pub mod cross_site;
mod event_loop;
pub mod listen;
pub mod query;
mod request;
mod response;
mod service;
mod wire;

use std::time::Duration;

pub use event_loop::{Balance, Loop, Stop};
pub use request::{respond, Arrival, Outcome, Then};
pub use response::{Body, Connection, Framing, Version};
pub use service::{
    Answer, Headers, Method, Refusal, Request, Response, Service, Settle, Settled, Wake,
};

pub const MAX_HEAD: usize = 8 * 1024;
pub const MAX_HEADERS: usize = 32;
/// The most an event stream holds waiting to be taken, before one more
/// piece (`conn.rs`).
pub use conn::MAX_STREAM_BACKLOG;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From a request's first byte to its last, and for its answer to go out.
    pub read_timeout: Duration,
    /// How long a connection with no request open keeps its slot.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_body: usize,
}
