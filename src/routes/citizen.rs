//! `--ui html`: the citizen's page. It shows the inline result it came
//! with (status, attributes) and, when that result has a `session_url`, a
//! Logout button: a plain form POST to the public listener, so it works
//! without JavaScript, answered with a redirect back to the page. The form
//! carries an unguessable key, never the session URL or the token.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::page::esc;
use super::Response;

const CSP: &str = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// What the page shows of an accepted result.
pub struct Shown {
    pub status: &'static str,
    pub attributes: Option<BTreeMap<String, String>>,
    pub logout_key: Option<String>,
}

pub fn page(result: Option<&Shown>, notice: Option<&str>) -> Response {
    let mut b = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Communication plugin UI</title></head>\n<body>\n<h1>Communication plugin UI</h1>\n",
    );
    if let Some(n) = notice {
        let _ = writeln!(b, "<p role=\"status\">{}</p>", esc(n));
    }
    match result {
        None => b.push_str("<p>No result came with this page.</p>\n"),
        Some(r) => {
            let _ = writeln!(
                b,
                "<p>Authentication result: <strong>{}</strong></p>",
                esc(r.status)
            );
            match &r.attributes {
                Some(a) if !a.is_empty() => {
                    b.push_str(
                        "<table><thead><tr><th>attribute</th><th>value</th></tr></thead><tbody>\n",
                    );
                    for (k, v) in a {
                        let _ = writeln!(b, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
                    }
                    b.push_str("</tbody></table>\n");
                }
                _ => b.push_str("<p>No attributes.</p>\n"),
            }
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
    r.headers.push(("Content-Security-Policy", CSP));
    r.headers.push(("Cache-Control", "no-store"));
    r.headers.push(("Referrer-Policy", "no-referrer"));
    r
}

/// The notice for `/ui?logout=…`, from a fixed list: nothing of the query
/// is echoed.
pub fn notice(value: &str) -> Option<&'static str> {
    match value {
        "sent" => Some("Logout sent to the authentication plugin."),
        "refused" => Some("Logout not sent: the destination is refused (see the log)."),
        "off" => Some("Logout not sent: session feedback is off."),
        _ => None,
    }
}
