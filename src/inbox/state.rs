//! The inbox's state: this run's id, its own names (the `Host` rule), the
//! journal it reads and empties, and the plugin it watches and steers
//! (faults, feedback, auth-only, the replay cache): only through the
//! methods the plugin offers.

use std::net::SocketAddr;
use std::sync::{Arc, MutexGuard};

use super::guard::{HostName, InboxHosts};
use crate::faults::Board;
use crate::journal::{self, Journal};
use crate::plugin::Plugin;

/// Everything the inbox's routes need; built once, beside the plugin.
pub struct Inbox {
    /// This run of the server, drawn at start: every listing and stream
    /// names it, so a page left open across a restart knows its ids are
    /// another run's and reloads.
    run: String,
    /// The inbox's own names (`None` without an inbox).
    hosts: Option<InboxHosts>,
    /// `--journal-file`, as given (for the settings panel).
    journal_file: Option<String>,
    journal: Arc<journal::Shared>,
    plugin: Arc<Plugin>,
}

impl Inbox {
    pub fn new(
        bound: Option<SocketAddr>,
        added: &[HostName],
        journal_file: Option<String>,
        plugin: Arc<Plugin>,
    ) -> Inbox {
        Inbox {
            run: new_run_id(),
            hosts: bound.map(|a| InboxHosts::new(a, added)),
            journal_file,
            journal: plugin.shared_journal_arc(),
            plugin,
        }
    }

    /// The plugin this inbox watches.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// This run's id (16 hex digits).
    pub fn run(&self) -> &str {
        &self.run
    }

    /// The inbox's own names (`None` without an inbox).
    pub fn hosts(&self) -> Option<&InboxHosts> {
        self.hosts.as_ref()
    }

    /// The journal, locked: hold it only to copy what you need.
    pub fn journal(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock()
    }

    /// The journal as shared: clears, deletes, and who is told of changes.
    pub fn shared_journal(&self) -> &journal::Shared {
        &self.journal
    }

    /// The newest journal id (0 before the first event).
    pub fn last_event(&self) -> u64 {
        self.journal.last()
    }

    /// The faults in force on the plugin's routes.
    pub fn faults(&self) -> &Board {
        self.plugin.faults()
    }

    /// Clears the fault of `route`, or every fault; the routes cleared.
    /// Open pages are told.
    pub fn clear_faults(&self, route: Option<crate::faults::Route>) -> Vec<&'static str> {
        let cleared = self
            .faults()
            .clear(route)
            .iter()
            .map(|r| r.name())
            .collect();
        self.faults_changed();
        cleared
    }

    /// The faults changed: the inbox's streams say so to their pages.
    pub fn faults_changed(&self) {
        self.journal.poke();
    }

    /// Forgets every token the plugin has seen.
    pub fn clear_replays(&self) {
        self.plugin.clear_replays();
    }

    /// Where a tester (and a browser) reaches the public routes.
    pub fn server_url(&self) -> &str {
        self.plugin.server_url()
    }

    /// What the server runs with, for the settings panel: this run, the
    /// plugin's settings, and the journal file after the journal.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![("run", self.run.clone())];
        rows.extend(self.plugin.described());
        let file = match (&self.journal_file, self.journal.file_lines_lost()) {
            (None, _) => "none".into(),
            (Some(f), 0) => f.clone(),
            (Some(f), n) => format!("{f} ({n} lines not written: see the log)"),
        };
        let at = rows
            .iter()
            .position(|(k, _)| *k == "journal")
            .map_or(rows.len(), |i| i + 1);
        rows.insert(at, ("journal file", file));
        rows
    }
}

/// 64 random bits as hex: two runs never share one in practice. Without a
/// random source (never on Linux), the start time in nanoseconds, which
/// also differs from run to run.
fn new_run_id() -> String {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = (nanos as u64).to_be_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}
