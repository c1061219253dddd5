//! The tester's inbox, on its own listener: what arrived at the plugin and
//! what the tester does about it. Its routes and API (`api.rs`) behind its
//! `Host` rule (`guard.rs`) and the cross-site defence; the page
//! (`page.rs`) and one event's page (`event_page.rs`); faults on demand
//! (`faults.rs`), session feedback (`session.rs`) and authentication
//! during communication (`auth_only.rs`) sent from it; served by
//! `service.rs` from the state in `state.rs`.
//!
//! It may use `journal` (it reads and empties it), `plugin` (it watches
//! and steers it, through the plugin's methods), `http`, `faults`,
//! `feedback`, `auth_only`, `html`, `date` and `log`. Nothing uses the
//! inbox but the wiring (`app.rs`) and the CLI's `wait`.

pub mod api;
mod auth_only;
mod event_page;
mod faults;
pub mod guard;
mod page;
mod service;
mod session;
mod state;
mod stream;

pub use service::InboxService;
pub use state::Inbox;
pub use stream::{Feed, StreamStart};
