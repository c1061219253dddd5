//! A suite on disk: one file per case and `manifest.json`, written into a
//! fresh directory and read back within bounds (`files.rs`), for `mint
//! --suite DIR` and `probe --suite DIR`.

use std::path::Path;

use serde_json::{json, Value};

use super::suite::{Case, Expected};
use crate::jose::{Profile, Reason};

/// The manifest of a written suite.
pub fn manifest(cases: &[Case], profile: Profile, now: u64) -> Value {
    let list: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "name": c.name,
                "file": file_name(i, c),
                "description": c.description,
                "exercises": c.exercises,
                "expected": match c.expected { Expected::Accept => "accept", Expected::Reject(_) => "reject" },
                "reason": match c.expected { Expected::Accept => None, Expected::Reject(r) => Some(r) },
            })
        })
        .collect();
    json!({
        "generated_at": crate::date::rfc3339(now),
        "profile": profile.name(),
        "cases": list,
    })
}

fn file_name(i: usize, c: &Case) -> String {
    format!("{:02}-{}.jwt", i + 1, c.name)
}

/// Writes the suite into `dir`, new or empty, each file created fresh
/// (`files.rs`): a planted link is refused, never written through.
pub fn write(dir: &Path, cases: &[Case], profile: Profile, now: u64) -> Result<(), String> {
    crate::files::fresh_dir(dir)?;
    for (i, c) in cases.iter().enumerate() {
        crate::files::create_fresh(
            &dir.join(file_name(i, c)),
            format!("{}\n", c.token).as_bytes(),
        )?;
    }
    let m = serde_json::to_string_pretty(&manifest(cases, profile, now)).unwrap_or_default();
    crate::files::create_fresh(&dir.join("manifest.json"), format!("{m}\n").as_bytes())
}

/// Reads a suite written by `write` (bounded: a manifest of at most 1 MiB,
/// case files of at most 64 KiB; regular files inside `dir` only, never
/// through a link, never blocking on a FIFO: `files.rs`).
pub fn read(dir: &Path) -> Result<Vec<Case>, String> {
    let text = read_bounded(&dir.join("manifest.json"), 1 << 20)?;
    let m: Value = serde_json::from_str(&text).map_err(|e| format!("manifest.json: {e}"))?;
    let list = m
        .get("cases")
        .and_then(Value::as_array)
        .ok_or("manifest.json: no cases")?;
    let mut out = Vec::new();
    for c in list {
        let field = |k: &str| {
            c[k].as_str()
                .ok_or_else(|| format!("manifest.json: a case without {k}"))
        };
        let file = field("file")?;
        if file.contains('/') || file.starts_with('.') {
            return Err(format!(
                "manifest.json: file {file:?} is not in the suite's directory"
            ));
        }
        let token = read_bounded(&dir.join(file), 64 * 1024)?.trim().to_owned();
        let expected = match (field("expected")?, c.get("reason").and_then(Value::as_str)) {
            ("accept", _) => Expected::Accept,
            ("reject", Some(r)) => Expected::Reject(Reason::parse(r).ok_or_else(|| {
                format!(
                    "manifest.json: reason {} is not one of this plugin's",
                    crate::log::shown(r)
                )
            })?),
            ("reject", None) => {
                return Err("manifest.json: a reject case without its reason".into())
            }
            (e, _) => {
                return Err(format!(
                    "manifest.json: expected {e:?} is neither accept nor reject"
                ))
            }
        };
        out.push(Case {
            name: field("name")?.to_owned(),
            description: "",
            exercises: "",
            expected,
            token,
        });
    }
    Ok(out)
}

/// When a written suite was minted (`generated_at`), if its manifest says.
pub fn generated_at(dir: &Path) -> Option<u64> {
    let text = read_bounded(&dir.join("manifest.json"), 1 << 20).ok()?;
    let m: Value = serde_json::from_str(&text).ok()?;
    crate::date::parse_rfc3339(m.get("generated_at")?.as_str()?)
}

fn read_bounded(path: &Path, max: u64) -> Result<String, String> {
    crate::files::read_regular(path, max)
}
