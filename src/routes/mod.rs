//! The application the transport serves: two `http::Service`s, the
//! public routes of the plugin API (`public.rs`; a token's one path in
//! `token.rs`; the citizen's page in `citizen.rs`) and the tester's inbox
//! on its own listener (`inbox.rs`, `page.rs`, `event_page.rs`) behind its
//! `Host` rule and cross-site defence (`guard.rs`); what they share: query
//! parsing (`query.rs`), HTML pieces (`html.rs`), faults on demand
//! (`faulted.rs`), session feedback
//! (`session.rs`), the replay cache (`replay.rs`), the citizens' Logout
//! keys (`logout.rs`) and the journal (`journal.rs`, on disk in
//! `journal_file.rs`). No crypto here: tokens go to `jose`, which answers
//! with verified claims or a named rejection.

mod auth_only;
mod citizen;
mod event_page;
mod faulted;
pub mod guard;
mod html;
pub mod inbox;
pub mod journal;
pub mod journal_file;
pub mod logout;
mod page;
pub mod public;
pub mod query;
pub mod replay;
mod session;
mod token;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Config, UiMode};
use crate::feedback::Feedback;
pub use crate::http::{Answer, Method, Request, Response};
use crate::http::{Service, Wake};
use crate::jose::{KeySet, Policy};
pub use crate::log::Note;
pub use journal::Journal;
pub use replay::ReplayCache;

pub const UI_BODY: &str = "Communication plugin UI";

/// The addresses this process listens on, once bound: the inbox answers
/// only to its own names, and session feedback never goes to any of them.
#[derive(Debug, Clone, Default)]
pub struct Listening {
    pub public: Vec<SocketAddr>,
    pub inbox: Option<SocketAddr>,
}

/// Where an event stream stands: the last journal id it was sent, the
/// journal's clear count and the faults' version it last told its client of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStart {
    pub after: u64,
    pub clears: u64,
    pub faults: u64,
}

impl StreamStart {
    /// The next frames for this stream, within `budget` bytes (at least
    /// one frame if there is any, so none is too large to send): a
    /// `clear` event first when the journal was emptied since, then the
    /// entries after `after`, as serialised once when recorded.
    /// They are appended to `out`, which grows by exactly their size.
    pub fn next_frames(&mut self, app: &App, budget: usize, out: &mut Vec<u8>) {
        let faults = app.faults.version();
        if faults != self.faults {
            // Set, cleared or used: the page reloads its faults panel.
            self.faults = faults;
            out.extend_from_slice(format!("event: faults\ndata: {faults}\n\n").as_bytes());
        }
        let clears = app.journal.clears();
        if clears != self.clears {
            self.clears = clears;
            // A delete by search leaves some: `remaining` tells the page
            // whether to empty itself or reload what is left.
            let (last, remaining) = {
                let j = app.journal();
                (j.last_id(), j.len())
            };
            out.extend_from_slice(
                format!("event: clear\ndata: {{\"last_id\":{last},\"remaining\":{remaining}}}\n\n")
                    .as_bytes(),
            );
        }
        let (frames, last) = {
            let j = app.journal();
            (j.frames_after(self.after, budget), j.last_id())
        };
        if frames.is_empty() {
            // Nothing kept after `after` (cleared, or dropped as the
            // journal turned over): caught up.
            self.after = self.after.max(last);
        }
        out.reserve_exact(frames.iter().map(|f| f.1.len()).sum());
        for (id, frame) in frames {
            out.extend_from_slice(&frame);
            self.after = id;
        }
    }

    /// Whether the journal holds something this stream has not been sent.
    pub fn behind(&self, app: &App) -> bool {
        app.last_event() > self.after
            || app.journal.clears() != self.clears
            || app.faults.version() != self.faults
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

/// Everything the handlers need; built once from `Config`.
pub struct App {
    /// This run of the server, drawn at start: every listing and stream
    /// names it, so a page left open across a restart knows its ids are
    /// another run's and reloads.
    run: String,
    /// The public listener as bound (the first, with `--workers`).
    listener: Option<SocketAddr>,
    server_url: String,
    internal_url: String,
    use_attr_url: bool,
    /// Shared with the journal file's read-back, which re-checks tokens.
    keys: Arc<KeySet>,
    policy: Policy,
    clock: Option<u64>,
    reject_replays: bool,
    ui: UiMode,
    /// The state that changes, shared by `--workers` loops.
    /// Shared with the journal file's read-back, which refills it.
    replays: Arc<Mutex<ReplayCache>>,
    logout_keys: Mutex<logout::LogoutKeys>,
    journal: Arc<journal::Shared>,
    feedback: Feedback,
    /// The inbox's own names (`None` without an inbox).
    inbox_hosts: Option<guard::InboxHosts>,
    /// `--journal-file`, as given (for the settings panel).
    journal_file: Option<String>,
    /// `GET /healthz` answered: counted, never journaled (a health check
    /// every few seconds would push results out).
    healthz: std::sync::atomic::AtomicU64,
    /// Faults on demand, one per public route at most.
    faults: crate::faults::Board,
    /// `--core-url` and `--auth-only-key`: requests to the core.
    auth_only: Option<crate::auth_only::AuthOnly>,
    /// `--auth-only-method`: the citizen page's button.
    auth_only_method: Option<String>,
    auth_answers: Arc<auth_only::Answers>,
    auth_sessions: Mutex<auth_only::Sessions>,
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
        let auth_answers = Arc::new(auth_only::Answers::default());
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
        App {
            auth_only,
            auth_only_method,
            auth_answers,
            auth_sessions: Mutex::new(auth_only::Sessions::default()),
            inbox_hosts: listening
                .inbox
                .map(|a| guard::InboxHosts::new(a, &config.inbox_hosts)),
            logout_keys: Mutex::new(logout::LogoutKeys::new(logout::LogoutKeys::CAP)),
            policy: Policy::for_keys(&config.keys, config.leeway).with_profile(config.profile),
            listener: listening.public.first().copied(),
            run: new_run_id(),
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
                Some(d) => {
                    Feedback::start(d, own.clone(), session::journal_and_log(journal.clone()))
                }
            },
            journal,
            healthz: std::sync::atomic::AtomicU64::new(0),
            faults: crate::faults::Board::new(config.faults),
            journal_file: config
                .journal_file
                .as_ref()
                .map(|p| p.display().to_string()),
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

    fn logout_keys(&self) -> MutexGuard<'_, logout::LogoutKeys> {
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
        ex.recorded.set(true);
        self.journal
            .record_request(route, purpose, kind, Some(ex.info(status)))
    }

    /// What the server runs with, for the inbox's settings panel: where
    /// results go, how they are checked, where feedback may go.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut s = vec![
            ("run", self.run.clone()),
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
                "journal file",
                match (&self.journal_file, self.journal.file_lines_lost()) {
                    (None, _) => "none".into(),
                    (Some(f), 0) => f.clone(),
                    (Some(f), n) => format!("{f} ({n} lines not written: see the log)"),
                },
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

    /// The public base URL the core reaches (`--internal-url`).
    pub fn internal_url(&self) -> &str {
        &self.internal_url
    }

    /// This run's id (16 hex digits).
    pub fn run(&self) -> &str {
        &self.run
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
    pub fn keep_journal_in(&self, path: std::path::PathBuf, opened: journal_file::Opened) {
        let journal_file::Opened { file, last, len } = opened;
        let reader = file.try_clone();
        let loaded = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sink = journal_file::start(path.clone(), file, self.journal.clone(), loaded.clone());
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
                let back = journal_file::load(reader, len, capacity, &recheck);
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
    fn faults_changed(&self) {
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

/// The public listener's service: the plugin API and the citizen's page.
/// It only ever answers at once: it neither streams nor parks.
pub struct PublicService<'a>(pub &'a App);

/// The inbox's service: the page, the journal's API and its event stream.
pub struct InboxService<'a>(pub &'a App);

impl Service for PublicService<'_> {
    type Stream = Infallible;
    /// Only the citizen's "Authenticate again" waits: for the core.
    type Parked = auth_only::Asking;

    /// A fault set on the request's route is taken (used once) before
    /// the route runs, so the journal records the request with it; the
    /// route's answer is then replaced, delayed or dropped.
    fn call(&self, req: &Request<'_>) -> Answer<Infallible, auth_only::Asking> {
        let app = self.0;
        if app.offers_again(req) {
            return match auth_only::from_citizen(app, req) {
                Ok((a, until)) => Answer::Park(a, until),
                Err(r) => Answer::Now(*r),
            };
        }
        let fault = crate::faults::Route::of_path(req.path).and_then(|r| app.faults.take(r));
        let Some(fault) = fault else {
            return Answer::Now(handle(app, req));
        };
        app.faults_changed();
        let usual = handle_faulted(app, req, Some(&fault));
        faulted::apply(app, &fault, usual)
    }

    /// A request the transport refused (413, 431, a malformed head) is
    /// journaled like any other, with what little is known of it.
    fn refused(&self, r: &crate::http::Refusal<'_>) {
        let path = r.path.unwrap_or("-");
        let info = journal::RequestInfo {
            method: journal::cut(r.method.unwrap_or("-"), journal::MAX_REQUEST_TEXT),
            path: journal::cut(path, journal::MAX_REQUEST_TEXT),
            status: r.status,
            fault: None,
            ms: 0,
            client: r.peer.map(|p| p.to_string()),
            headers: Vec::new(),
        };
        let kind = journal::Kind::Request {
            reason: Some(r.reason.to_owned()),
        };
        self.0
            .journal
            .record_request(route_of(path), None, kind, Some(info));
    }

    fn feed(&self, never: &mut Infallible, _: usize, _: &mut Vec<u8>) {
        match *never {}
    }

    fn behind(&self, never: &Infallible) -> bool {
        match *never {}
    }

    fn resume(&self, asking: &mut auth_only::Asking) -> Option<Response> {
        auth_only::citizen_answer(self.0, asking)
    }

    fn give_up(&self, _: auth_only::Asking) -> Response {
        citizen::refused_again()
    }

    /// The core's answers wake the loop of a citizen waiting for one.
    fn attach(&self, wake: Wake) {
        self.0.auth_answers.attach(wake);
    }
}

impl Service for InboxService<'_> {
    type Stream = StreamStart;
    type Parked = inbox::Waiting;

    fn call(&self, req: &Request<'_>) -> Answer<StreamStart, inbox::Waiting> {
        if req.path == "/healthz" {
            return healthz(req).into();
        }
        inbox::handle(self.0, req)
    }

    fn feed(&self, stream: &mut StreamStart, budget: usize, out: &mut Vec<u8>) {
        stream.next_frames(self.0, budget, out);
    }

    fn behind(&self, stream: &StreamStart) -> bool {
        stream.behind(self.0)
    }

    fn resume(&self, waiting: &mut inbox::Waiting) -> Option<Response> {
        waiting.answer(self.0)
    }

    fn give_up(&self, waiting: inbox::Waiting) -> Response {
        waiting.give_up()
    }

    /// Every change to the journal wakes the inbox's loop.
    fn attach(&self, wake: Wake) {
        self.0
            .shared_journal()
            .on_change(Box::new(move || wake.wake()));
    }
}

fn healthz(req: &Request) -> Response {
    match req.method {
        Method::Get | Method::Head => Response::new(200, "text/plain; charset=utf-8", "ok"),
        _ => Response::method_not_allowed("GET, HEAD"),
    }
}

/// The public listener's routes. Unknown paths are 404; known paths with
/// another method are 405 with `Allow`. Every request but `/healthz` is
/// journaled: by its route, with what it made of it, or else here, with
/// its answer.
pub fn handle(app: &App, req: &Request) -> Response {
    handle_faulted(app, req, None)
}

/// `handle`, for a request that gets `fault` in place of its answer.
fn handle_faulted(app: &App, req: &Request, fault: Option<&crate::faults::Fault>) -> Response {
    if req.path == "/healthz" {
        app.healthz
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return healthz(req);
    }
    let ex = Exchange::new(req, fault);
    let r = public_routes(app, req, &ex);
    if !ex.recorded.get() {
        let kind = journal::Kind::Request {
            reason: r.note.detail.clone(),
        };
        app.record_for(&ex, r.status, route_of(req.path), None, kind);
    }
    r
}

/// The journal's name for the route a path belongs to.
fn route_of(path: &str) -> &'static str {
    match path {
        "/start_communication" => "start_communication",
        "/auth_result" => "auth_result",
        "/ui" | "/ui/logout" | "/ui/authenticate" => "ui",
        _ => "other",
    }
}

/// One public request on its way through the routes: what the journal
/// keeps of it, and whether a route journaled it already.
pub struct Exchange<'r> {
    req: &'r Request<'r>,
    started: std::time::Instant,
    recorded: std::cell::Cell<bool>,
    /// The fault that replaces the route's answer, if one does.
    fault: Option<&'r crate::faults::Fault>,
}

impl<'r> Exchange<'r> {
    fn new(req: &'r Request<'r>, fault: Option<&'r crate::faults::Fault>) -> Self {
        Exchange {
            req,
            started: std::time::Instant::now(),
            recorded: std::cell::Cell::new(false),
            fault,
        }
    }

    /// The request as the journal keeps it, answered with `status` (or
    /// with what its fault sends instead).
    fn info(&self, status: u16) -> journal::RequestInfo {
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
            fault: self.fault.map(crate::faults::Fault::describe),
            ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            client: self.req.peer.map(|p| p.to_string()),
            headers,
        }
    }
}

fn public_routes(app: &App, req: &Request, ex: &Exchange) -> Response {
    match (req.path, req.method) {
        ("/start_communication", Method::Post) => public::start_communication(app, req, ex),
        ("/ui", Method::Get | Method::Head) => public::ui(app, req, ex),
        ("/ui/logout", Method::Post) if app.ui == UiMode::Html => public::logout(app, req),
        ("/ui/style.css", Method::Get | Method::Head) if app.ui == UiMode::Html => citizen::style(),
        ("/auth_result", Method::Post) => public::auth_result(app, req, ex),
        ("/start_communication" | "/auth_result", _) => Response::method_not_allowed("POST"),
        ("/ui", _) => Response::method_not_allowed("GET, HEAD"),
        _ => Response::error(404, "not found"),
    }
}
