//! The inbox page: server-rendered HTML from the binary, no external
//! assets, no framework. It works with JavaScript off; with it on,
//! `app.js` follows the event stream and inserts new entries, rendered
//! here too (`GET /entries?since=ID`), and keeps "2 min ago" current.
//! Every value is HTML-escaped, and the page's Content-Security-Policy
//! allows no inline script at all, so an escaping slip could not run one.

use std::fmt::Write as _;

use serde_json::Value;

use super::state::Inbox;
use crate::date;
use crate::html::{attributes, esc, open_document};
use crate::http::query::percent_encode;
use crate::http::Response;
use crate::journal::{Event, Filter, Framed, Kind, Outcome};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// "just now", "42 s ago", "2 min ago", "3 h ago", "5 d ago".
pub fn ago(now_ms: u64, then_ms: u64) -> String {
    let s = now_ms.saturating_sub(then_ms) / 1000;
    match s {
        0..=4 => "just now".into(),
        5..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

pub fn html(body: String) -> Response {
    let mut r = Response::new(200, "text/html; charset=utf-8", body);
    r.headers.push(("Content-Security-Policy", CSP.into()));
    r
}

/// The page: one page of the journal (`limit` events from `filter`'s
/// `before`), with a link to the next. The journal is locked only to copy
/// the page's events; rendering happens after.
pub fn page(inbox: &Inbox, filter: &Filter<'_>, limit: usize) -> Response {
    render(inbox, filter, limit, None)
}

/// The first page, its faults panel open on `form` (a refused submit,
/// kept as typed, with why).
pub fn with_fault_form(inbox: &Inbox, limit: usize, form: &str) -> Response {
    render(inbox, &Filter::default(), limit, Some(form))
}

fn render(inbox: &Inbox, filter: &Filter<'_>, limit: usize, fault_form: Option<&str>) -> Response {
    let now = date::unix_now_millis();
    let (shown, last, len, cap) = {
        let j = inbox.journal();
        (j.page(filter, limit), j.last_id(), j.len(), j.capacity())
    };
    let mut body = String::with_capacity(4096 + shown.events.len() * 2048);
    open_document(&mut body, "comm-test inbox", Some("/app.css"));
    // With a filter, how many it shows of how many there are.
    let filtered = filter.q.is_some()
        || filter.route.is_some()
        || filter.verdict.is_some()
        || !filter.attrs.is_empty();
    let counts = if filtered {
        format!(
            "<span id=\"matched\">{}</span> of <span id=\"count\">{len}</span> <span id=\"noun\">{}</span>",
            shown.matched,
            if len == 1 { "event" } else { "events" }
        )
    } else {
        format!(
            "<span id=\"count\">{len}</span> <span id=\"noun\">{}</span>",
            if len == 1 { "event" } else { "events" }
        )
    };
    let _ = writeln!(
        body,
        " data-run=\"{run}\" data-last=\"{last}\" data-cap=\"{cap}\" data-paged=\"{paged}\" data-filtered=\"{filtered}\">\
         <header><h1>comm-test inbox</h1>\
         <p>{counts}, newest first (the last {cap} are kept) · \
         <a href=\"/api/events\">JSON</a> · <a href=\"/api/events.ndjson\">NDJSON</a> · \
         <span id=\"live\">reload for new events</span> · \
         <a id=\"clear\" class=\"button\" href=\"/clear{clear_query}\">{clear_label}</a></p>",
        paged = filter.before.is_some(),
        run = inbox.run(),
        clear_query = esc(&question(&filter_query(filter))),
        clear_label = if filtered {
            format!("Clear the {}…", events(shown.matched))
        } else {
            "Clear…".to_owned()
        },
    );
    search_form(&mut body, filter);
    settings(&mut body, inbox);
    faults(&mut body, inbox, fault_form);
    auth_only(&mut body, inbox);
    body.push_str("</header>\n<main id=\"events\">\n");
    if len == 0 {
        body.push_str(EMPTY);
    }
    for e in &shown.events {
        entry(&mut body, e, now);
    }
    body.push_str("</main>\n");
    if let Some(before) = shown.next_before() {
        let _ = writeln!(
            body,
            "<nav><a id=\"older\" href=\"/?before={before}&amp;limit={limit}{}\">Older events</a></nav>",
            esc(&filter_query(filter))
        );
    }
    body.push_str("<script src=\"/app.js\"></script></body></html>\n");
    html(body)
}

const EMPTY: &str =
    "<p id=\"empty\">No events yet. Start a session (<code>POST /start_communication</code>) \
     or deliver a result (<code>POST /auth_result</code>) on the public listener.</p>\n";

/// The search box and the filters, bound to the query parameters the
/// listing takes (a plain GET form: it works without JavaScript, and the
/// URL says what is shown).
fn search_form(out: &mut String, filter: &Filter<'_>) {
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/\" id=\"search\" role=\"search\">\
         <input type=\"search\" name=\"q\" id=\"q\" value=\"{}\" placeholder=\"Search values (press /)\" \
         aria-label=\"Search\"> ",
        esc(filter.q.unwrap_or(""))
    );
    for (name, options, chosen) in [
        ("route", &crate::journal::ROUTES[..], filter.route),
        ("verdict", &crate::journal::VERDICTS[..], filter.verdict),
    ] {
        let _ = write!(
            out,
            "<select name=\"{name}\" id=\"{name}\" aria-label=\"{name}\"><option value=\"\">any {name}</option>"
        );
        for o in options {
            let selected = if chosen == Some(*o) { " selected" } else { "" };
            let _ = write!(out, "<option{selected}>{}</option>", esc(o));
        }
        out.push_str("</select> ");
    }
    out.push_str("<button type=\"submit\">Search</button> <a href=\"/\">all</a></form>\n");
}

/// `&a=b&c=d` as a query of its own: `?a=b&c=d` (or nothing).
fn question(q: &str) -> String {
    match q.strip_prefix('&') {
        Some(rest) => format!("?{rest}"),
        None => q.to_owned(),
    }
}

/// `GET /clear[?filters]`: Clear asks first, with the count, and deletes
/// exactly what the filters match (everything without one); what they
/// hide is never deleted unasked. A plain form: it works without
/// JavaScript.
pub fn confirm_clear(inbox: &Inbox, filter: &Filter<'_>) -> Response {
    let (matched, total) = {
        let j = inbox.journal();
        let p = j.page(filter, 1);
        (p.matched, p.total)
    };
    let query = filter_query(filter);
    let mut body = String::with_capacity(2048);
    open_document(&mut body, "comm-test inbox: clear", Some("/app.css"));
    let what = if filter.is_everything() && total == 1 {
        "the 1 event".to_owned()
    } else if filter.is_everything() {
        format!("all {}", events(total))
    } else {
        format!(
            "the {} this search shows; the other {} stay",
            events(matched),
            total.saturating_sub(matched)
        )
    };
    let _ = writeln!(
        body,
        "><header><h1>comm-test inbox</h1></header><main>\
         <p id=\"confirm\">Delete {what}?</p>\
         <form method=\"post\" action=\"/api/events/clear?back=1{q}\">\
         <button type=\"submit\" id=\"confirm-delete\">Delete {n}</button> \
         <a href=\"/{back}\" id=\"cancel\">Cancel</a></form></main></body></html>",
        what = esc(&what),
        q = esc(&query),
        n = esc(&events(matched)),
        back = esc(&question(&query)),
    );
    html(body)
}

/// `&q=…&route=…`: the filters of `filter`, for a link that keeps them.
fn filter_query(filter: &Filter<'_>) -> String {
    let mut q = String::new();
    for (name, value) in [
        ("q", filter.q),
        ("route", filter.route),
        ("verdict", filter.verdict),
    ] {
        if let Some(v) = value {
            let _ = write!(q, "&{name}={}", percent_encode(v));
        }
    }
    for (k, v) in filter.attrs {
        let _ = write!(q, "&attr.{}={}", percent_encode(k), percent_encode(v));
    }
    q
}

/// What the server runs with, as the start-up line says it.
fn settings(out: &mut String, inbox: &Inbox) {
    out.push_str("<details id=\"settings\"><summary>Settings</summary>");
    dl(out, &inbox.settings());
    out.push_str("</details>\n");
}

/// The faults in force and the form that sets one; open while any is set,
/// so nobody tests against a plugin that misbehaves without seeing it.
fn faults(out: &mut String, inbox: &Inbox, form: Option<&str>) {
    let open = if inbox.faults().list().is_empty() && form.is_none() {
        ""
    } else {
        " open"
    };
    let fresh;
    let form = match form {
        Some(f) => f,
        None => {
            fresh = super::faults::form_html(None, None);
            &fresh
        }
    };
    let _ = writeln!(
        out,
        "<details id=\"faults\"{open}><summary>Faults on demand</summary>{}{form}</details>",
        super::faults::panel(inbox),
    );
}

/// With `--core-url`: ask the core to authenticate a citizen now, as a
/// production plugin does during a conversation; the answer is the
/// journal entry, with the core's `client_url` as a link.
fn auth_only(out: &mut String, inbox: &Inbox) {
    if !inbox.plugin().auth_only_on() {
        return;
    }
    out.push_str(
        "<details id=\"auth-only\"><summary>Authentication during communication</summary>\
         <form method=\"post\" action=\"/auth-only\" id=\"auth-only-form\">\
         <input name=\"purpose\" id=\"auth-only-purpose\" placeholder=\"purpose\" aria-label=\"purpose\" required> \
         <input name=\"auth_method\" id=\"auth-only-method\" placeholder=\"auth_method\" aria-label=\"auth_method\" required> \
         <button type=\"submit\" id=\"ask-core\">Ask the core</button></form></details>\n",
    );
}

/// `GET /faults`: the panel's list alone, for the page's live updates.
pub fn faults_fragment(inbox: &Inbox) -> Response {
    html(super::faults::panel(inbox))
}

/// The entries `filter` matches, newest first, for the page's live
/// updates (at most `limit`: the page reloads past that).
pub fn entries(inbox: &Inbox, filter: &Filter<'_>, limit: usize) -> Response {
    let now = date::unix_now_millis();
    let shown = inbox.journal().page(filter, limit);
    let mut body = String::new();
    for e in &shown.events {
        entry(&mut body, e, now);
    }
    html(body)
}

/// A header, indented for reading.
fn pretty(v: Option<&Value>) -> String {
    v.and_then(|v| serde_json::to_string_pretty(v).ok())
        .unwrap_or_default()
}

/// One event as an `<article>`, for the event's own page.
pub fn entry_into(out: &mut String, framed: &Framed, now_ms: u64) {
    entry(out, framed, now_ms);
}

/// One event as an `<article>`: its heading, then what its kind holds.
fn entry(out: &mut String, framed: &Framed, now_ms: u64) {
    let e: &Event = framed;
    heading(out, e, now_ms);
    let mut facts: Vec<(&str, String)> = Vec::new();
    if let Some(p) = &e.purpose {
        facts.push(("purpose", p.clone()));
    }
    if let Some(r) = &e.request {
        facts.push(("request", format!("{} {} → {}", r.method, r.path, r.status)));
        if let Some(f) = &r.fault {
            facts.push(("fault", format!("{f} (in place of the usual answer)")));
        }
        facts.push(("took", format!("{} ms", r.ms)));
        if let Some(c) = &r.client {
            facts.push(("client", c.clone()));
        }
        for (name, value) in &r.headers {
            facts.push((name, value.clone()));
        }
    }
    match &e.kind {
        Kind::Start => dl(out, &facts),
        Kind::Request { reason } => {
            if let Some(why) = reason {
                facts.push(("reason", why.clone()));
            }
            dl(out, &facts);
        }
        Kind::Token {
            outcome,
            checked_at,
            ..
        } => token_entry(out, framed, outcome, *checked_at, facts),
        Kind::AuthOnly(a) => {
            facts.push(("auth_method", a.auth_method.clone()));
            facts.push(("asked by", a.asked_by.to_string()));
            facts.push(("core", a.url.clone()));
            match &a.result {
                Ok(code) => facts.push(("answer", format!("HTTP {code}"))),
                Err(err) => facts.push(("error", err.clone())),
            }
            if let Some(said) = &a.said {
                facts.push(("said", said.clone()));
            }
            facts.push(("latency", format!("{} ms", a.latency_ms)));
            dl(out, &facts);
            if let Some(u) = &a.client_url {
                let _ = writeln!(
                    out,
                    "<p class=\"client-url\"><a href=\"{0}\" rel=\"noreferrer\" target=\"_blank\">{0}</a></p>",
                    esc(u)
                );
            }
        }
        Kind::Feedback(f) => {
            facts.push(("type", f.kind.to_string()));
            facts.push(("url", f.url.clone()));
            match &f.result {
                Ok(code) => facts.push(("answer", format!("HTTP {code}"))),
                Err(err) => facts.push(("error", err.clone())),
            }
            facts.push(("latency", format!("{} ms", f.latency_ms)));
            if let Some(id) = f.for_event {
                facts.push(("for entry", format!("#{id}")));
            }
            dl(out, &facts);
        }
    }
    out.push_str("</details></article>\n");
}

/// "1 event", "2 events".
pub fn events(n: usize) -> String {
    if n == 1 {
        "1 event".into()
    } else {
        format!("{n} events")
    }
}

/// The article's one row (its details a click away): time, verdict,
/// route, who (the citizen's email or bsn before anything else), what it
/// was, the id. The time is UTC here; the page's script shows it in the
/// browser's zone, UTC on hover.
fn heading(out: &mut String, e: &Event, now_ms: u64) {
    let verdict = e.verdict().unwrap_or(match e.kind {
        Kind::Request { .. } => "request",
        _ => "start",
    });
    let time =
        date::rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(e.time_ms));
    let utc = date::rfc3339(e.time_ms / 1000)
        .replace('T', " ")
        .replace('Z', " UTC");
    let clock = utc.get(11..19).unwrap_or(&utc).to_owned();
    let _ = write!(
        out,
        "<article class=\"event {verdict}\" id=\"e{id}\" data-id=\"{id}\" tabindex=\"-1\">\n\
         <details class=\"more\"><summary class=\"row\">\
         <time datetime=\"{time}\" data-ms=\"{ms}\" title=\"{utc}\">{clock}</time> \
         <span class=\"verdict\">{verdict}</span> <span class=\"route\">{route}</span> \
         <span class=\"who\">{who}</span> <span class=\"title\">{title}{faulted}{read_back}</span> \
         <span class=\"gist\">{gist}</span> <span class=\"ago\">{ago}</span> \
         <a class=\"open\" href=\"/events/{id}\">#{id}</a></summary>\n",
        who = esc(&who(e)),
        gist = esc(&gist(e)),
        faulted = match e.request.as_ref().and_then(|r| r.fault.as_ref()) {
            Some(f) => format!(" <span class=\"faulted\">fault: {}</span>", esc(f)),
            None => String::new(),
        },
        read_back = match &e.read_back {
            Some(m) => format!(" <span class=\"read-back\">read back: {}</span>", esc(m)),
            None => String::new(),
        },
        id = e.id,
        verdict = esc(verdict),
        title = esc(&title(e)),
        route = esc(e.route),
        time = esc(&time),
        ms = e.time_ms,
        utc = esc(&utc),
        clock = esc(&clock),
        ago = esc(&ago(now_ms, e.time_ms)),
    );
}

/// What an event was, named by what the client got: a faulted start is
/// `start answered 500 (fault)`, never "session started".
fn title(e: &Event) -> String {
    let faulted = e
        .request
        .as_ref()
        .filter(|r| r.fault.is_some())
        .map(|r| match r.status {
            0 => "closed without an answer (fault)".to_owned(),
            s => format!("answered {s} (fault)"),
        });
    match (&e.kind, faulted) {
        (Kind::Start, Some(f)) => format!("start {f}"),
        (Kind::Start, None) => "session started".to_string(),
        (Kind::Request { .. }, _) => match &e.request {
            Some(r) => format!("{} {} → {}", r.method, r.path, r.status),
            None => "request".to_string(),
        },
        (
            Kind::Token {
                outcome: Outcome::Accepted(a),
                ..
            },
            f,
        ) => with(format!("result {}", a.status), f),
        (Kind::Token { .. }, f) => with("result refused".to_string(), f),
        (Kind::Feedback(f), _) => format!("session feedback {}", f.kind),
        (Kind::AuthOnly(a), _) => format!("authentication asked of the core ({})", a.auth_method),
    }
}

fn with(title: String, faulted: Option<String>) -> String {
    match faulted {
        Some(f) => format!("{title}, {f}"),
        None => title,
    }
}

/// The citizen an accepted result names: `email`, else `bsn`, else its
/// first attribute; nothing for other events.
fn who(e: &Event) -> String {
    let Some(attrs) = e.attributes() else {
        return String::new();
    };
    ["email", "bsn"]
        .iter()
        .find_map(|k| attrs.get(*k).map(|v| format!("{k}: {v}")))
        .or_else(|| attrs.iter().next().map(|(k, v)| format!("{k}: {v}")))
        .unwrap_or_default()
}

/// The rest of the row: the purpose, the other attributes, the reason,
/// or the request, whichever the event has first.
fn gist(e: &Event) -> String {
    if let Some(p) = &e.purpose {
        return format!("purpose {p}");
    }
    if let Some(attrs) = e.attributes() {
        let shown = who(e);
        return attrs
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .filter(|kv| *kv != shown)
            .collect::<Vec<_>>()
            .join(", ");
    }
    match &e.kind {
        Kind::Token {
            outcome: Outcome::Rejected { detail, .. },
            ..
        } => detail.clone(),
        Kind::Request {
            reason: Some(why), ..
        } => why.clone(),
        Kind::Feedback(f) => f.url.split('?').next().unwrap_or("").to_owned(),
        Kind::AuthOnly(a) => a
            .client_url
            .clone()
            .or_else(|| a.result.as_ref().err().cloned())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// What an accepted result said, and what opened and verified it.
fn accepted_facts(a: &crate::journal::Accepted, facts: &mut Vec<(&str, String)>) {
    facts.push(("status", a.status.to_string()));
    if let Some(s) = a.spelling {
        facts.push(("sub", s.subject().to_string()));
        facts.push(("profile", s.describe()));
    }
    if a.replay {
        let first = a
            .identical_to
            .map_or("an earlier entry".into(), |n| format!("#{n}"));
        facts.push((
            "identical to",
            format!(
                "{first}: the same signed result. A replay, or a deterministic signer \
                 (the test authentication plugin, RS256) signing the same claims twice \
                 within one second"
            ),
        ));
        facts.push(("replay", "yes: this result was accepted before".into()));
    }
    if let Some(u) = &a.session_url {
        facts.push(("session_url", u.clone()));
    }
    for (name, t) in [("iat", a.iat), ("nbf", a.nbf), ("exp", Some(a.exp))] {
        if let Some(t) = t {
            facts.push((name, format!("{} ({t})", date::rfc3339(t))));
        }
    }
    facts.push(("decrypted with", a.decrypted_with.clone()));
    facts.push(("verified with", a.verified_with.clone()));
}

fn token_entry(
    out: &mut String,
    framed: &Framed,
    outcome: &Outcome,
    checked_at: u64,
    mut facts: Vec<(&str, String)>,
) {
    let bulk = framed.json();
    match outcome {
        Outcome::Accepted(a) => accepted_facts(a, &mut facts),
        Outcome::Rejected { reason, detail, .. } => {
            facts.push(("reason", reason.to_string()));
            facts.push(("detail", detail.clone()));
        }
    }
    dl(out, &facts);
    if let Outcome::Accepted(a) = outcome {
        attributes(out, a.attributes.as_ref());
    }
    if let Some(claims) = bulk
        .get("claims")
        .filter(|_| !matches!(outcome, Outcome::Accepted(_)))
    {
        // Verified, then refused by a claim check: what it said.
        let _ = writeln!(
            out,
            "<h3>Claims (signature verified, refused by a claim check)</h3><pre>{}</pre>",
            esc(&pretty(Some(claims)))
        );
    }
    out.push_str("<details><summary>Headers and token</summary>\n");
    for (name, title) in [
        ("outer_header", "JWE protected header"),
        ("inner_header", "JWS protected header"),
    ] {
        if let Some(h) = bulk.get(name) {
            let _ = writeln!(out, "<h3>{title}</h3><pre>{}</pre>", esc(&pretty(Some(h))));
        }
    }
    let token = bulk
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let _ = write!(
        out,
        "<h3>Token as received</h3><pre class=\"token\" id=\"t{id}\">{token}</pre>\n\
         <button type=\"button\" class=\"copy\" data-target=\"t{id}\" hidden>Copy token</button>\n\
         <p class=\"hint\">Replay it offline, at the time it was checked: \
         <code>comm-test decode --clock {clock} -</code> with the token on standard input.</p>\n</details>\n",
        id = framed.id,
        token = esc(token),
        clock = checked_at,
    );
    match (framed.session_url(), outcome) {
        (Some(_), Outcome::Accepted(a)) if a.feedback_off => out.push_str(
            "<p class=\"hint\">Session feedback is off (start with --session-feedback HOST to send \
             user_active and logout to this session_url).</p>\n",
        ),
        (Some(url), _) => feedback_forms(out, framed.id, url),
        (None, _) => {}
    }
}

fn dl(out: &mut String, facts: &[(&str, String)]) {
    if facts.is_empty() {
        return;
    }
    out.push_str("<dl>");
    for (k, v) in facts {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
    }
    out.push_str("</dl>\n");
}

/// The session feedback buttons: plain forms, so they work without
/// JavaScript too (answered with a redirect back to the page).
fn feedback_forms(out: &mut String, id: u64, url: &str) {
    let _ = write!(
        out,
        "<div class=\"feedback\">Session at <code>{}</code>: ",
        esc(url.split('?').next().unwrap_or(url))
    );
    for (kind, label) in [("user_active", "Send activity"), ("logout", "Send logout")] {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/api/events/{id}/session?type={kind}&amp;back=1\">\
             <button type=\"submit\">{label}</button></form> "
        );
    }
    out.push_str("</div>\n");
}

pub fn script() -> Response {
    let mut r = Response::new(
        200,
        "text/javascript; charset=utf-8",
        include_str!("inbox.js"),
    );
    r.headers.push(("Content-Security-Policy", CSP.into()));
    r
}

pub fn style() -> Response {
    Response::new(200, "text/css; charset=utf-8", include_str!("../html.css"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_relative_times() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(ago(10_000, 9_000), "just now");
        assert_eq!(ago(100_000, 58_000), "42 s ago");
        assert_eq!(ago(200_000, 80_000), "2 min ago");
        assert_eq!(ago(4 * 3_600_000, 0), "4 h ago");
        assert_eq!(ago(3 * 86_400_000, 0), "3 d ago");
        assert_eq!(ago(0, 5), "just now", "a clock step back is not the future");
    }
}
