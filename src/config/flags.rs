//! The one flag reader every program of the binary uses: `--flag VALUE`,
//! `--flag=VALUE`, switches bare or with a value (`--reject-replays`,
//! `--reject-replays=false`), and a suggestion for a near miss.

use super::ConfigError;
use crate::log::shown;

/// `(flag, value)` in command-line order; a bare switch reads `true`.
pub type Flags = Vec<(String, String)>;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// A value, always (`--clock T`).
    Value,
    /// Nothing, or a boolean right after it (`--json`, `--reject-replays false`).
    Switch,
}

/// The values a switch takes after it: anything else is the next argument.
const BOOLEANS: [&str; 6] = ["true", "false", "yes", "no", "1", "0"];

/// Collects the flags of `spec` from `args`; later flags append. Returns
/// them and the remaining positional arguments.
pub fn collect(
    args: &[String],
    spec: &[(&str, Takes)],
) -> Result<(Flags, Vec<String>), ConfigError> {
    let mut flags = Vec::new();
    let mut positional = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(arg) = it.next() {
        if arg == "-" || !arg.starts_with('-') {
            positional.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let Some(&(_, takes)) = spec.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = spec.iter().map(|(n, _)| *n).collect();
            return Err(unknown("option", name, &names));
        };
        let value = match (inline, takes) {
            (Some(v), _) => v,
            (None, Takes::Switch) => match it.peek() {
                Some(next) if BOOLEANS.contains(&next.as_str()) => {
                    it.next().cloned().unwrap_or_default()
                }
                _ => "true".to_owned(),
            },
            (None, Takes::Value) => it
                .next()
                .cloned()
                .ok_or_else(|| ConfigError(format!("{name} needs a value")))?,
        };
        flags.push((name.to_owned(), value));
    }
    Ok((flags, positional))
}

/// "unknown option \"--reject-replay\"; did you mean --reject-replays?"
pub fn unknown(what: &str, got: &str, known: &[&str]) -> ConfigError {
    match nearest(got, known) {
        Some(n) => ConfigError(format!("unknown {what} {}; did you mean {n}?", shown(got))),
        None => ConfigError(format!("unknown {what} {} (see --help)", shown(got))),
    }
}

/// The known name within two edits of `got`, if exactly one is nearest.
pub fn nearest<'k>(got: &str, known: &[&'k str]) -> Option<&'k str> {
    let mut best: Option<(usize, &str)> = None;
    let mut tie = false;
    for k in known {
        let d = distance(got, k);
        match best {
            Some((b, _)) if d > b => {}
            Some((b, _)) if d == b => tie = true,
            _ => {
                best = Some((d, k));
                tie = false;
            }
        }
    }
    best.filter(|(d, _)| *d <= 2 && !tie).map(|(_, k)| k)
}

/// Levenshtein distance, over bytes (flags and commands are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let (Some(&left), Some(&up)) = (row.get(j), row.get(j + 1)) else {
                break;
            };
            let d = (prev + usize::from(ca != *cb)).min(left + 1).min(up + 1);
            prev = up;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = d;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    const SPEC: &[(&str, Takes)] = &[
        ("--reject-replays", Takes::Switch),
        ("--ui", Takes::Value),
        ("--json", Takes::Switch),
    ];

    /// Regression: `--reject-replays --ui html` took `--ui` as the value and
    /// reported `unexpected argument "html"`.
    #[test]
    fn switches_work_bare_and_with_a_value() {
        let (f, p) = collect(&args(&["--reject-replays", "--ui", "html"]), SPEC).unwrap();
        assert_eq!(
            f,
            [
                ("--reject-replays".into(), "true".into()),
                ("--ui".into(), "html".into())
            ]
        );
        assert!(p.is_empty());
        let (f, _) = collect(&args(&["--reject-replays", "false", "--json=no"]), SPEC).unwrap();
        assert_eq!(
            f,
            [
                ("--reject-replays".into(), "false".into()),
                ("--json".into(), "no".into())
            ]
        );
        let (f, p) = collect(&args(&["--json", "tok"]), SPEC).unwrap();
        assert_eq!((f.len(), p), (1, vec!["tok".to_string()]));
        assert_eq!(
            collect(&args(&["--ui"]), SPEC).unwrap_err().0,
            "--ui needs a value"
        );
    }

    #[test]
    fn a_near_miss_gets_a_suggestion() {
        assert_eq!(
            collect(&args(&["--reject-replay"]), SPEC).unwrap_err().0,
            "unknown option \"--reject-replay\"; did you mean --reject-replays?"
        );
        assert_eq!(
            collect(&args(&["--nope"]), SPEC).unwrap_err().0,
            "unknown option \"--nope\" (see --help)"
        );
        assert_eq!(
            nearest("decod", &["decode", "mint", "probe"]),
            Some("decode")
        );
        assert_eq!(nearest("x", &["decode", "mint"]), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
