//! The plugin API: what the core and the authentication plugins talk to,
//! on the public listener. The seed's routes (`routes.rs`: `POST
//! /start_communication`, `GET /ui[?result=]`, `POST /auth_result`), a
//! token's one path (`token.rs`), the citizen's page (`citizen.rs`) and its
//! Logout keys (`logout.rs`), the replay cache (`replay.rs`), faults
//! applied to an answer (`faulted.rs`), the citizen's "Authenticate again"
//! (`again.rs`), all served by `service.rs` from the state in `state.rs`.
//!
//! It may use `jose` (tokens go there and come back as verified claims or
//! a named rejection: no crypto here), `journal` (it records every
//! request), `http`, `config`, `faults`, `feedback`, `auth_only`, `html`
//! and `log`. It never uses the inbox: the inbox watches it.

pub mod again;
mod answers;
mod citizen;
mod exchange;
pub mod faulted;
pub mod logout;
pub mod replay;
mod routes;
mod service;
mod state;
mod token;

pub use citizen::UI_BODY;
pub use replay::ReplayCache;
pub use service::{handle, healthz, PublicService};
pub use state::Plugin;
