//! The layout the README's "How it is built" shows, kept true: every
//! source file opens with a comment naming its concern, the transport
//! names no route, and the modules depend on each other one way only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A file's code before its unit tests, comments left out.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let before_tests = text.split("#[cfg(test)]\nmod ").next().unwrap();
    before_tests
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to: `src/http/conn.rs` → `http`.
fn module(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.iter().next().unwrap().to_str().unwrap();
    first.trim_end_matches(".rs").to_owned()
}

/// Which top-level modules a module's code names (`crate::x`).
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let m = module(&f);
        let text = code(&f);
        let entry = deps.entry(m.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                group.split(',').map(|s| s.trim()).collect()
            } else {
                vec![rest]
            };
            for n in names {
                let name: String = n
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != m && name != "self" {
                    entry.insert(name);
                }
            }
        }
    }
    deps
}

#[test]
fn every_source_file_opens_with_a_comment_naming_its_concern() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    assert!(files.len() > 40);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("//! "),
            "{} does not open with a //! comment",
            f.display()
        );
    }
}

#[test]
fn the_transport_names_no_route() {
    let deps = dependencies();
    let http = &deps["http"];
    assert!(!http.contains("routes"), "http depends on routes: {http:?}");
    assert!(
        http.iter().all(|d| ["log", "date"].contains(&d.as_str())),
        "http depends on {http:?}"
    );
}

#[test]
fn modules_depend_on_each_other_one_way() {
    let deps = dependencies();
    // Depth-first: a module reached again while still on the path is a cycle.
    fn visit(
        m: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        assert!(
            !path.iter().any(|p| p == m),
            "a cycle: {} -> {m}",
            path.join(" -> ")
        );
        path.push(m.to_owned());
        for d in deps.get(m).into_iter().flatten() {
            visit(d, deps, path, done);
        }
        path.pop();
        done.insert(m.to_owned());
    }
    let mut done = BTreeSet::new();
    for m in deps.keys() {
        visit(m, &deps, &mut Vec::new(), &mut done);
    }
    // The crypto path does no I/O and knows nothing of HTTP or routes.
    for forbidden in [
        "http", "routes", "cli", "config", "client", "feedback", "mint",
    ] {
        assert!(!deps["jose"].contains(forbidden), "jose uses {forbidden}");
    }
}
