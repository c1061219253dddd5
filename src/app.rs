//! The application, wired: the plugin API (`crate::plugin`), the tester's
//! inbox (`crate::inbox`) and the journal both record into
//! (`crate::journal`), built once the listeners are bound. Only wiring
//! here: each room owns its state.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::inbox::{Inbox, InboxService};
use crate::journal;
use crate::plugin::{Plugin, PublicService};

/// The addresses this process listens on, once bound: the inbox answers
/// only to its own names, and session feedback never goes to any of them.
#[derive(Debug, Clone, Default)]
pub struct Listening {
    pub public: Vec<SocketAddr>,
    pub inbox: Option<SocketAddr>,
}

/// The plugin and the inbox that watches it.
pub struct App {
    plugin: Arc<Plugin>,
    inbox: Inbox,
}

impl App {
    /// Built once the listeners are bound: what they are bound to decides
    /// the inbox's names and where feedback may never go.
    pub fn new(config: Config, listening: &Listening) -> Self {
        // Without an inbox nothing reads the journal: it keeps nothing.
        let journal = Arc::new(match listening.inbox {
            Some(_) => journal::Shared::new(config.journal_size),
            None => journal::Shared::off(),
        });
        let own: Vec<SocketAddr> = listening
            .public
            .iter()
            .copied()
            .chain(listening.inbox)
            .collect();
        let hosts = config.inbox_hosts.clone();
        let journal_file = config
            .journal_file
            .as_ref()
            .map(|p| p.display().to_string());
        let listener = listening.public.first().copied();
        let plugin = Arc::new(Plugin::new(config, listener, own, journal));
        let inbox = Inbox::new(listening.inbox, &hosts, journal_file, plugin.clone());
        App { plugin, inbox }
    }

    /// The public listener's service.
    pub fn public(&self) -> PublicService<'_> {
        PublicService(&self.plugin)
    }

    /// The inbox listener's service.
    pub fn inbox(&self) -> InboxService<'_> {
        InboxService(&self.inbox)
    }

    /// `--journal-file`: see `Plugin::keep_journal_in`.
    pub fn keep_journal_in(&self, path: PathBuf, opened: journal::file::Opened) {
        self.plugin.keep_journal_in(path, opened);
    }
}
