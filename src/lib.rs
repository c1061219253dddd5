//! comm-test: the ID Contact test communication plugin.
//!
//! `jose` turns a token into a verified `Claims` or a named `Rejection` and
//! does no I/O; three rooms map requests to responses and hold no crypto:
//! `plugin` (the plugin API), `inbox` (the tester's) and `journal` (what
//! both record); `app` wires them; `config` reads flags, environment and
//! key files; `http` is the loop.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

pub mod app;
pub mod auth_only;
pub mod cli;
pub mod client;
pub mod config;
pub mod date;
pub mod faults;
pub mod feedback;
pub mod files;
pub mod html;
pub mod http;
pub mod inbox;
pub mod jose;
pub mod journal;
pub mod json;
pub mod log;
pub mod mint;
pub mod plugin;
pub mod probe;
