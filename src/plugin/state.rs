//! The plugin's state: its settings from `Config`, the keys and the
//! validation policy, the replay cache, the citizens' Logout keys, the
//! faults in force, session feedback's and auth-only's senders, and the
//! journal it records into. Built once; shared by every `--workers` loop
//! and, read-only or through its own locks, by the inbox.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use super::answers::{Answers, Sessions};
use super::exchange::Exchange;
use super::logout::LogoutKeys;
use super::replay::ReplayCache;
use crate::config::{Config, UiMode};
use crate::feedback::{self, Feedback};
use crate::jose::{KeySet, Policy};
use crate::journal::{self, Journal};

/// Everything the plugin's routes need; built once from `Config`.
pub struct Plugin {
    /// The public listener as bound (the first, with `--workers`).
    pub(super) listener: Option<SocketAddr>,
    pub(super) server_url: String,
    pub(super) internal_url: String,
    pub(super) use_attr_url: bool,
    /// Shared with the journal file's read-back, which re-checks tokens.
    pub(super) keys: Arc<KeySet>,
    pub(super) policy: Policy,
    pub(super) clock: Option<u64>,
    pub(super) reject_replays: bool,
    pub(super) ui: UiMode,
    /// The state that changes, shared by `--workers` loops.
    /// Shared with the journal file's read-back, which refills it.
    pub(super) replays: Arc<Mutex<ReplayCache>>,
    pub(super) logout_keys: Mutex<LogoutKeys>,
    pub(super) journal: Arc<journal::Shared>,
    pub(super) feedback: Feedback,
    /// `GET /healthz` answered: counted, never journaled (a health check
    /// every few seconds would push results out).
    pub(super) healthz: std::sync::atomic::AtomicU64,
    /// Faults on demand, one per public route at most.
    pub(super) faults: crate::faults::Board,
    /// `--core-url` and `--auth-only-key`: requests to the core.
    pub(super) auth_only: Option<crate::auth_only::AuthOnly>,
    /// `--auth-only-method`: the citizen page's button.
    pub(super) auth_only_method: Option<String>,
    pub(super) auth_answers: Arc<Answers>,
    pub(super) auth_sessions: Mutex<Sessions>,
}

impl Plugin {
    /// Built once the listeners are bound: feedback and auth-only requests
    /// never go to any of `own`; `listener` is the public one as bound.
    pub fn new(
        config: Config,
        listener: Option<SocketAddr>,
        own: Vec<SocketAddr>,
        journal: Arc<journal::Shared>,
    ) -> Self {
        let auth_answers = Arc::new(Answers::default());
        let (auth_only, auth_only_method) = match config.auth_only {
            None => (None, None),
            Some(a) => {
                let report = auth_answers.report(journal.clone());
                let sender = crate::auth_only::AuthOnly::start(
                    &a.start_url,
                    a.kid,
                    a.key,
                    own.clone(),
                    report,
                );
                match sender {
                    Ok(s) => (Some(s), a.method),
                    Err(e) => {
                        crate::log::message(&format!("WARNING: --core-url: {e}; auth-only off"));
                        (None, None)
                    }
                }
            }
        };
        Plugin {
            auth_only,
            auth_only_method,
            auth_answers,
            auth_sessions: Mutex::new(Sessions::default()),
            logout_keys: Mutex::new(LogoutKeys::new(LogoutKeys::CAP)),
            policy: Policy::for_keys(&config.keys, config.leeway).with_profile(config.profile),
            listener,
            server_url: config.server_url,
            internal_url: config.internal_url,
            use_attr_url: config.use_attr_url,
            keys: Arc::new(config.keys),
            clock: config.clock,
            reject_replays: config.reject_replays,
            replays: Arc::new(Mutex::new(ReplayCache::new(ReplayCache::DEFAULT_CAP))),
            ui: config.ui,
            feedback: match config.session_feedback {
                None => Feedback::off(),
                Some(d) => Feedback::start(d, own, journal_and_log(journal.clone())),
            },
            journal,
            healthz: std::sync::atomic::AtomicU64::new(0),
            faults: crate::faults::Board::new(config.faults),
        }
    }

    /// The journal, locked: hold it only to copy what you need.
    pub fn journal(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock()
    }

    /// The journal as shared: clears, and who is told of changes.
    pub fn shared_journal(&self) -> &journal::Shared {
        &self.journal
    }

    pub(super) fn logout_keys(&self) -> MutexGuard<'_, LogoutKeys> {
        self.logout_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records an event in the journal; returns its id.
    pub fn record(&self, route: &'static str, purpose: Option<&str>, kind: journal::Kind) -> u64 {
        self.journal.record(route, purpose, kind)
    }

    /// Records what a route made of the public request `ex`, answered with
    /// `status`; returns its id.
    pub fn record_for(
        &self,
        ex: &Exchange,
        status: u16,
        route: &'static str,
        purpose: Option<&str>,
        kind: journal::Kind,
    ) -> u64 {
        if !self.journal.keeps() {
            // No inbox: the ids count for the log, the request's copy is
            // never made.
            if let Some(first) = ex.take_preceding() {
                let id = self
                    .journal
                    .record(first.route, first.purpose.as_deref(), first.kind);
                ex.recorded.borrow_mut().push(id);
            }
            let id = self.journal.record(route, purpose, kind);
            ex.recorded.borrow_mut().push(id);
            return id;
        }
        if let Some(first) = ex.take_preceding() {
            let info = Some(ex.info(status));
            let purpose = first.purpose.as_deref();
            let id = self
                .journal
                .record_request(first.route, purpose, first.kind, info);
            ex.recorded.borrow_mut().push(id);
        }
        let id = self
            .journal
            .record_request(route, purpose, kind, Some(ex.info(status)));
        ex.recorded.borrow_mut().push(id);
        id
    }

    /// What the plugin runs with, for the inbox's settings panel: where
    /// results go, how they are checked, where feedback may go.
    pub fn described(&self) -> Vec<(&'static str, String)> {
        let mut s = vec![
            (
                "listener",
                self.listener
                    .map_or("not bound".into(), |a| format!("{a} (the public routes)")),
            ),
            ("server URL", format!("{} (--server-url)", self.server_url)),
            (
                "internal URL",
                format!("{} (--internal-url)", self.internal_url),
            ),
            ("client_url", format!("{}/ui", self.server_url)),
            (
                "attr_url",
                if self.use_attr_url {
                    format!("{}/auth_result", self.internal_url)
                } else {
                    "not offered".into()
                },
            ),
            ("profile", self.policy.profile().name().into()),
            (
                "clock",
                self.clock.map_or("the system clock".into(), |t| {
                    format!("fixed at {} (--clock)", crate::date::rfc3339(t))
                }),
            ),
            ("leeway", format!("{} s", self.policy.leeway())),
            (
                "replays",
                if self.reject_replays {
                    "refused (409)"
                } else {
                    "logged"
                }
                .into(),
            ),
            ("session feedback", self.feedback.describe()),
            (
                "authentication during communication",
                self.auth_only_described(),
            ),
            ("faults", self.faults_described()),
            (
                "journal",
                format!("the last {} events, in memory", self.journal().capacity()),
            ),
            (
                "health checks",
                format!(
                    "{} answered (counted, not journaled)",
                    self.healthz.load(std::sync::atomic::Ordering::Relaxed)
                ),
            ),
        ];
        self.keys_described(&mut s);
        s
    }

    /// The faults in force, for the settings panel.
    fn faults_described(&self) -> String {
        let set: Vec<String> = self
            .faults
            .list()
            .iter()
            .map(|f| format!("{} {}", f.route.name(), f.describe()))
            .collect();
        if set.is_empty() {
            "none".into()
        } else {
            set.join("; ")
        }
    }

    /// Where auth-only requests go and what signs them.
    fn auth_only_described(&self) -> String {
        self.auth_only.as_ref().map_or("off".into(), |a| {
            let button = self
                .auth_only_method
                .as_ref()
                .map_or(String::new(), |m| format!(", citizen's button: {m}"));
            format!("to {} signed {} kid={}{button}", a.url(), a.alg(), a.kid())
        })
    }

    /// Each key's kind, KID and fingerprint: never the key.
    fn keys_described(&self, s: &mut Vec<(&'static str, String)>) {
        for k in &self.keys.decryption {
            s.push((
                "decryption key",
                format!(
                    "{} kid={} fingerprint={}",
                    k.algorithm().name(),
                    k.kid(),
                    k.fingerprint()
                ),
            ));
        }
        for k in &self.keys.verification {
            s.push((
                "signature key",
                format!(
                    "{} kid={} fingerprint={}",
                    k.algorithm().name(),
                    k.kid(),
                    k.fingerprint()
                ),
            ));
        }
    }

    /// The citizen's page, as `start_communication` offers it.
    pub fn client_url(&self) -> String {
        format!("{}/ui", self.server_url)
    }

    /// Where results go (`None` without `--use-attr-url`).
    pub fn attr_url(&self) -> Option<String> {
        self.use_attr_url
            .then(|| format!("{}/auth_result", self.internal_url))
    }

    /// Whether `--core-url` is on: the inbox offers its form.
    pub fn auth_only_on(&self) -> bool {
        self.auth_only.is_some()
    }

    /// Session feedback's sender.
    pub fn feedback(&self) -> &Feedback {
        &self.feedback
    }

    /// The faults in force on the public routes.
    pub fn faults(&self) -> &crate::faults::Board {
        &self.faults
    }

    /// The journal this plugin records into, for the inbox to share.
    pub fn shared_journal_arc(&self) -> Arc<journal::Shared> {
        self.journal.clone()
    }

    /// The public base URL the core reaches (`--internal-url`).
    pub fn internal_url(&self) -> &str {
        &self.internal_url
    }

    /// `--server-url`: where a tester (and a browser) reaches the public
    /// routes.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// `--journal-file`: ids continue after the file's last, every change
    /// is appended from now on, and the file's events (the bytes it held
    /// when opened) are read back on a thread of their own (start-up does
    /// not wait for them; the file is not rewritten until they are in).
    pub fn keep_journal_in(&self, path: std::path::PathBuf, opened: journal::file::Opened) {
        let journal::file::Opened { file, last, len } = opened;
        let reader = file.try_clone();
        let loaded = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sink = journal::file::start(path.clone(), file, self.journal.clone(), loaded.clone());
        self.journal.persist_to(sink, last);
        let Ok(reader) = reader else {
            crate::log::message("journal file: cannot read it back; starting empty");
            loaded.store(true, std::sync::atomic::Ordering::Release);
            return;
        };
        let journal = self.journal.clone();
        let capacity = journal.capacity();
        let (keys, policy) = (self.keys.clone(), self.policy.clone());
        let replays = self.replays.clone();
        let leeway = self.policy.leeway();
        let now = self.now();
        let spawned = std::thread::Builder::new()
            .name("journal-load".into())
            .spawn(move || {
                let recheck = |token: &str, at: u64| {
                    crate::jose::decode(token, &keys, &policy, at).map_err(|r| r.reason())
                };
                let back = journal::file::load(reader, len, capacity, &recheck);
                let n = journal.restore(back.events);
                // The replay cache, as it was for what the file kept:
                // a token accepted before the restart is a replay after it.
                let mut cache = replays
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for (signed, exp, id) in &back.accepted {
                    cache.seen_before(*signed, exp.saturating_add(leeway), now);
                    cache.note_event(*signed, *id);
                }
                drop(cache);
                loaded.store(true, std::sync::atomic::Ordering::Release);
                journal.file_loaded();
                crate::log::message(&format!(
                    "journal file {}: {n} events read back, {} re-checked tokens, {} that do not decode as the file says",
                    path.display(),
                    back.rechecked,
                    back.differing
                ));
                if back.bad > 0 {
                    crate::log::message(&format!(
                        "WARNING: journal file {}: skipped {} torn or corrupt line(s)",
                        path.display(),
                        back.bad
                    ));
                }
            });
        if spawned.is_err() {
            crate::log::message("journal file: no thread to read it back; starting empty");
        }
    }

    /// The faults changed: the inbox's streams say so to their pages.
    pub fn faults_changed(&self) {
        self.journal.poke();
    }

    /// Forgets every token seen: the next arrival of each is no replay.
    pub fn clear_replays(&self) {
        let mut r = self
            .replays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *r = ReplayCache::new(ReplayCache::DEFAULT_CAP);
    }

    /// The newest journal id (0 before the first event).
    pub fn last_event(&self) -> u64 {
        self.journal.last()
    }

    /// The validation time: the fixed `--clock`, or the system clock.
    pub fn now(&self) -> u64 {
        self.clock.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        })
    }
}

/// Every feedback attempt, refusals included: one journal entry (the URL
/// whole: the inbox is the tester's) and one log line (query values
/// redacted: they may carry a session secret).
fn journal_and_log(journal: Arc<journal::Shared>) -> feedback::Report {
    Arc::new(move |a: feedback::Attempt| {
        let ms = u64::try_from(a.latency.as_millis()).unwrap_or(u64::MAX);
        let outcome = match &a.result {
            Ok(code) => format!("answered {code}"),
            Err(e) => e.clone(),
        };
        let for_event = a
            .for_event
            .map_or(String::new(), |id| format!(" for entry #{id}"));
        crate::log::message(&format!(
            "session feedback {} {}: {outcome} in {ms} ms{for_event}",
            a.kind.as_str(),
            crate::log::redact_url(&a.url)
        ));
        journal.record(
            "session",
            None,
            journal::Kind::Feedback(journal::Feedback {
                kind: a.kind.as_str(),
                url: a.url,
                result: a.result,
                latency_ms: ms,
                for_event: a.for_event,
            }),
        );
    })
}
