//! `--ui html`: the citizen's page. It shows the inline result it came
//! with (status, attributes) and, when that result has a `session_url`, a
//! Logout button: a plain form POST to the public listener, so it works
//! without JavaScript, answered with a redirect back to the page. The form
//! carries an unguessable key, never the session URL or the token.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::html::{attributes, esc, open_document, open_document_with};
use crate::http::Response;

/// The `/ui` page's title and its whole text answer (`--ui text`).
pub const UI_BODY: &str = "Communication plugin UI";

const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The inbox's stylesheet, served on the public listener too (`--ui
/// html`): one look for both pages.
pub const STYLE_PATH: &str = "/ui/style.css";

pub fn style() -> Response {
    Response::new(200, "text/css; charset=utf-8", include_str!("../html.css"))
        .with_header("Cache-Control", "no-cache")
}

/// A refused result, as a page: the one line saying why (what the API
/// answers as text), no token, no claims.
pub fn refused(detail: &str) -> Response {
    let mut b = String::new();
    open_document(&mut b, UI_BODY, Some(STYLE_PATH));
    let _ = writeln!(
        b,
        ">\n<header><h1>{}</h1></header>\n<main><article class=\"event rejected\">\
         <h2><span class=\"verdict\">rejected</span> the result was refused</h2>\
         <p>{}</p></article></main></body></html>",
        esc(UI_BODY),
        esc(detail)
    );
    let mut r = Response::new(400, "text/html; charset=utf-8", b);
    r.headers.push(("Content-Security-Policy", CSP.into()));
    r.headers.push(("Cache-Control", "no-store".into()));
    r.headers.push(("Referrer-Policy", "no-referrer".into()));
    r
}

/// What the page shows of an accepted result.
pub struct Shown {
    pub status: &'static str,
    pub attributes: Option<BTreeMap<String, String>>,
    pub logout_key: Option<String>,
}

pub fn page(result: Option<&Shown>, notice: Option<&str>, again: Option<&str>) -> Response {
    let mut b = String::new();
    open_document(&mut b, UI_BODY, Some(STYLE_PATH));
    let _ = writeln!(b, ">\n<h1>{}</h1>", esc(UI_BODY));
    if let Some(n) = notice {
        let _ = writeln!(b, "<p role=\"status\">{}</p>", esc(n));
    }
    if let Some(session) = again {
        // `--auth-only-method`: a plain form POST, under the cross-site
        // defence; the answer sends the browser on to the core's page.
        let _ = writeln!(
            b,
            "<form method=\"post\" action=\"/ui/authenticate\" id=\"again\">\
             <input type=\"hidden\" name=\"session\" value=\"{}\">\
             <button type=\"submit\">Authenticate again</button></form>",
            esc(session)
        );
    }
    match result {
        None => b.push_str("<p>No result came with this page.</p>\n"),
        Some(r) => {
            let _ = writeln!(
                b,
                "<p>Authentication result: <strong>{}</strong></p>",
                esc(r.status)
            );
            attributes(&mut b, r.attributes.as_ref());
            if let Some(key) = &r.logout_key {
                let _ = writeln!(
                    b,
                    "<form method=\"post\" action=\"/ui/logout\">\
                     <input type=\"hidden\" name=\"key\" value=\"{}\">\
                     <button type=\"submit\">Logout</button></form>",
                    esc(key)
                );
            }
        }
    }
    b.push_str("</body></html>\n");
    let mut r = Response::new(200, "text/html; charset=utf-8", b);
    r.headers.push(("Content-Security-Policy", CSP.into()));
    r.headers.push(("Cache-Control", "no-store".into()));
    r.headers.push(("Referrer-Policy", "no-referrer".into()));
    r
}

/// On to the core's `client_url`. Not a 303: the page's own
/// Content-Security-Policy (`form-action 'self'`) rightly stops a form's
/// redirect to another origin in Chromium, so the browser is sent on by
/// this page instead (a refresh, and a link for when refreshes are off).
pub fn continue_to(client_url: &str) -> Response {
    let url = esc(client_url);
    let refresh = format!("<meta http-equiv=\"refresh\" content=\"0;url={url}\">");
    let mut b = String::new();
    open_document_with(&mut b, UI_BODY, Some(STYLE_PATH), &refresh);
    let _ = writeln!(
        b,
        ">\n<h1>{}</h1><p><a id=\"continue\" href=\"{url}\">Continue to the authentication</a></p></body></html>",
        esc(UI_BODY)
    );
    let mut r = Response::new(200, "text/html; charset=utf-8", b);
    r.headers.push(("Content-Security-Policy", CSP.into()));
    r.headers.push(("Cache-Control", "no-store".into()));
    r.headers.push(("Referrer-Policy", "no-referrer".into()));
    r
}

/// The core did not start an authentication (it refused, or did not
/// answer in time): said plainly, the details are in the inbox.
pub fn refused_again() -> Response {
    let mut b = String::new();
    open_document(&mut b, UI_BODY, Some(STYLE_PATH));
    b.push_str(
        ">\n<h1>Authentication could not start</h1>\n<p>The core did not start a new \
         authentication. Go back and try again in a moment.</p></body></html>\n",
    );
    let mut r = Response::new(502, "text/html; charset=utf-8", b);
    r.headers.push(("Content-Security-Policy", CSP.into()));
    r.headers.push(("Cache-Control", "no-store".into()));
    r
}

/// The notice for `/ui?logout=…`, from a fixed list: nothing of the query
/// is echoed.
pub fn notice(value: &str) -> Option<&'static str> {
    match value {
        "queued" => Some(
            "Logout queued: it is on its way to the authentication plugin \
             (the inbox and the log show its answer).",
        ),
        "refused" => Some("Logout not sent: the destination is refused (see the log)."),
        "off" => Some("Logout not sent: session feedback is off."),
        _ => None,
    }
}
