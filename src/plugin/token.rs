//! A token's one path, whichever route received it: decode (`jose`), the
//! replay cache, the journal, and the session feedback an accepted result
//! with a `session_url` calls for; and what the log line says of it.

use serde_json::{json, Value};

use super::exchange::Exchange;
use super::state::Plugin;
use crate::feedback::Type;
use crate::http::Response;
use crate::jose::{self, Claims, Decoded, KidHint, Reason};
use crate::journal::{Accepted, Established, Kind, Outcome};
use crate::log::Note;

/// Journals a refused token received on `route` (for `purpose`); the
/// answer is 409 for a refused replay, 400 for anything else.
pub(super) fn refused(
    plugin: &Plugin,
    ex: &Exchange,
    (route, purpose): (&'static str, Option<&str>),
    token: &str,
    (reason, detail): (Reason, &str),
    established: Established,
) {
    let outcome = Outcome::Rejected {
        reason,
        detail: detail.to_owned(),
        established,
    };
    let status = if reason == Reason::Replay { 409 } else { 400 };
    plugin.record_for(
        ex,
        status,
        route,
        purpose,
        Kind::Token {
            token: token.to_owned(),
            outcome,
            checked_at: plugin.now(),
        },
    );
}

/// What an accepted token gave the route that received it.
pub(super) struct Checked {
    pub note: Note,
    pub id: u64,
    pub status: &'static str,
    pub attributes: Option<std::collections::BTreeMap<String, String>>,
    pub session_url: Option<String>,
    pub exp: u64,
}

/// Decodes a token received on `route` and journals it; on success what
/// shows the tester everything that arrived, on failure the 400 (or 409
/// for a refused replay).
pub(super) fn check_token(
    plugin: &Plugin,
    ex: &Exchange,
    token: &str,
    route: &'static str,
    purpose: Option<&str>,
) -> Result<Checked, Box<Response>> {
    let now = plugin.now();
    let decoded = match jose::decode_or_explain(token, &plugin.keys, &plugin.policy, now) {
        Ok(d) => d,
        Err(r) => return Err(undecodable(plugin, ex, (route, purpose), token, &r)),
    };
    let (replay, identical_to) = seen(plugin, &decoded, now);
    if replay && plugin.reject_replays {
        let detail = "replay: token was accepted before";
        // The journal names the first delivery; the answer does not.
        let journaled = match identical_to {
            Some(first) => format!("{detail}, first as event #{first}"),
            None => detail.to_owned(),
        };
        let why = (Reason::Replay, journaled.as_str());
        refused(
            plugin,
            ex,
            (route, purpose),
            token,
            why,
            Established::default(),
        );
        let mut answer = Response::error(409, detail);
        answer.note.reason = Some(Reason::Replay.as_str());
        return Err(Box::new(answer));
    }
    let mut accepted = Accepted::new(&decoded, replay);
    accepted.identical_to = identical_to.filter(|_| replay);
    accepted.feedback_off = !plugin.feedback.is_on();
    let session_url = accepted.session_url.clone();
    let outcome = Outcome::Accepted(Box::new(accepted));
    let id = plugin.record_for(
        ex,
        200,
        route,
        purpose,
        Kind::Token {
            token: token.to_owned(),
            outcome,
            checked_at: now,
        },
    );
    if !replay {
        plugin
            .replays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .note_event(decoded.signed_sha256, id);
    }
    // The plugin API: an accepted result with a session_url means the
    // citizen is active. Once per result: a replay is the same session.
    // A refusal is journaled and logged by the sender.
    if let (Some(url), false) = (&session_url, replay) {
        let _ = plugin.feedback.send(url, Type::UserActive, Some(id));
    }
    Ok(Checked {
        note: describe(&decoded, replay),
        id,
        status: decoded.claims.status.as_str(),
        attributes: decoded.claims.attributes.clone(),
        session_url,
        exp: decoded.claims.exp,
    })
}

/// A token the decoder refused: journaled with what was established, and
/// its 400.
fn undecodable(
    plugin: &Plugin,
    ex: &Exchange,
    at: (&'static str, Option<&str>),
    token: &str,
    r: &jose::Refused,
) -> Box<Response> {
    let mut detail = r.rejection.to_string();
    if plugin.clock.is_some()
        && matches!(r.rejection.reason(), Reason::Expired | Reason::NotYetValid)
    {
        // A fixed clock makes every fresh token look wrong: say so.
        detail.push_str("; now is fixed by --clock");
    }
    let why = (r.rejection.reason(), detail.as_str());
    refused(plugin, ex, at, token, why, Established::of(r));
    let mut answer = Response::error(400, detail);
    answer.note.reason = Some(r.rejection.reason().as_str());
    Box::new(answer)
}

/// Whether the inner JWS was accepted before (the replay cache notes it
/// now if not), and which entry accepted it first.
fn seen(plugin: &Plugin, decoded: &Decoded, now: u64) -> (bool, Option<u64>) {
    let until = decoded.claims.exp.saturating_add(plugin.policy.leeway());
    // A poisoned lock means another worker panicked mid-insert; the map
    // itself is still sound, so keep using it.
    let mut cache = plugin
        .replays
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let replay = cache.seen_before(decoded.signed_sha256, until, now);
    (replay, cache.first_event(&decoded.signed_sha256))
}

/// Everything that arrived, as values the log escapes and bounds.
fn describe(d: &Decoded, replay: bool) -> Note {
    let Claims {
        status,
        attributes,
        session_url,
        ..
    } = &d.claims;
    let mut fields = Vec::new();
    // A producer's own name for its key: worth knowing, never a verdict.
    let mut unrecognised = serde_json::Map::new();
    for (layer, hint) in [("jwe", &d.outer_kid), ("jws", &d.inner_kid)] {
        if let KidHint::Unrecognised(kid) = hint {
            unrecognised.insert(layer.into(), json!(kid));
        }
    }
    if !unrecognised.is_empty() {
        fields.push(("unrecognised_kid", Value::Object(unrecognised)));
    }
    Note {
        verdict: Some(if replay { "replay" } else { "accepted" }),
        reason: None,
        detail: None,
        fields,
        claims: vec![
            ("status", json!(status.as_str())),
            ("attributes", json!(attributes)),
            // A session URL's query may carry a session secret.
            (
                "session_url",
                json!(session_url.as_deref().map(crate::log::redact_url)),
            ),
            ("decrypted_with", json!(d.decrypted_with.to_string())),
            ("verified_with", json!(d.verified_with.to_string())),
            ("profile", json!(d.claims.spelling.describe())),
        ],
    }
}
