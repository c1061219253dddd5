//! The public listener's service: the plugin API's routes by path and
//! method, faults on demand taken before a route runs, every request
//! journaled once (by its route, or else here with its answer), and the
//! citizen's "Authenticate again" parked until the core answers.

use std::convert::Infallible;

use super::exchange::Exchange;
use super::state::Plugin;
use super::{again, citizen, faulted, routes};
use crate::config::UiMode;
use crate::http::{Answer, Method, Request, Response, Service, Wake};
use crate::journal;

/// The public listener's service: the plugin API and the citizen's page.
/// It only ever answers at once: it neither streams nor parks.
pub struct PublicService<'a>(pub &'a Plugin);

impl Service for PublicService<'_> {
    type Stream = Infallible;
    /// Only the citizen's "Authenticate again" waits: for the core.
    type Parked = again::Asking;

    /// A fault set on the request's route is taken (used once) before
    /// the route runs, so the journal records the request with it; the
    /// route's answer is then replaced, delayed or dropped.
    fn call(&self, req: &Request<'_>) -> Answer<Infallible, again::Asking> {
        let plugin = self.0;
        if plugin.offers_again(req) {
            return match again::from_citizen(plugin, req) {
                Ok((a, until)) => Answer::Park(a, until),
                Err(r) => Answer::Now(*r),
            };
        }
        let fault = crate::faults::Route::of_path(req.path).and_then(|r| plugin.faults.take(r));
        let Some(fault) = fault else {
            return Answer::Now(handle(plugin, req));
        };
        plugin.faults_changed();
        let (usual, journaled) = handle_faulted(plugin, req, Some(&fault));
        faulted::apply(plugin, &fault, usual, journaled)
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

    fn resume(&self, asking: &mut again::Asking) -> Option<Response> {
        again::citizen_answer(self.0, asking)
    }

    fn give_up(&self, _: again::Asking) -> Response {
        citizen::refused_again()
    }

    /// The core's answers wake the loop of a citizen waiting for one.
    fn attach(&self, wake: Wake) {
        self.0.auth_answers.attach(wake);
    }
}

/// `GET /healthz` on either listener: the process is up.
pub fn healthz(req: &Request) -> Response {
    match req.method {
        Method::Get | Method::Head => Response::new(200, "text/plain; charset=utf-8", "ok"),
        _ => Response::method_not_allowed("GET, HEAD"),
    }
}

/// The public listener's routes. Unknown paths are 404; known paths with
/// another method are 405 with `Allow`. Every request but `/healthz` is
/// journaled: by its route, with what it made of it, or else here, with
/// its answer.
pub fn handle(plugin: &Plugin, req: &Request) -> Response {
    handle_faulted(plugin, req, None).0
}

/// `handle`, for a request that gets `fault` in place of its answer.
fn handle_faulted(
    plugin: &Plugin,
    req: &Request,
    fault: Option<&crate::faults::Fault>,
) -> (Response, Vec<u64>) {
    if req.path == "/healthz" {
        plugin
            .healthz
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return (healthz(req), Vec::new());
    }
    let ex = Exchange::new(req, fault);
    let r = public_routes(plugin, req, &ex);
    if ex.recorded.borrow().is_empty() {
        let kind = journal::Kind::Request {
            reason: r.note.detail.clone(),
        };
        plugin.record_for(&ex, r.status, route_of(req.path), None, kind);
    }
    let journaled = ex.recorded.take();
    (r, journaled)
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

fn public_routes(plugin: &Plugin, req: &Request, ex: &Exchange) -> Response {
    match (req.path, req.method) {
        ("/start_communication", Method::Post) => routes::start_communication(plugin, req, ex),
        ("/ui", Method::Get | Method::Head) => routes::ui(plugin, req, ex),
        ("/ui/logout", Method::Post) if plugin.ui == UiMode::Html => routes::logout(plugin, req),
        ("/ui/style.css", Method::Get | Method::Head) if plugin.ui == UiMode::Html => {
            citizen::style()
        }
        ("/auth_result", Method::Post) => routes::auth_result(plugin, req, ex),
        ("/start_communication" | "/auth_result", _) => Response::method_not_allowed("POST"),
        ("/ui", _) => Response::method_not_allowed("GET, HEAD"),
        _ => Response::error(404, "not found"),
    }
}
