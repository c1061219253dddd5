//! The layout the crate docs' "How it is built" show, kept true: every
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
    for room in ["app", "plugin", "inbox", "journal"] {
        assert!(!http.contains(room), "http depends on {room}: {http:?}");
    }
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
        "http", "app", "plugin", "inbox", "journal", "cli", "config", "client", "feedback", "mint",
    ] {
        assert!(!deps["jose"].contains(forbidden), "jose uses {forbidden}");
    }
}

/// The three rooms: the plugin and the inbox record into the journal,
/// which knows neither; the inbox watches the plugin, never the reverse;
/// only the wiring (`app`) and the CLI know them all.
#[test]
fn the_rooms_depend_one_way_journal_plugin_inbox() {
    let deps = dependencies();
    for (room, never) in [
        ("journal", &["plugin", "inbox", "app", "cli"][..]),
        ("plugin", &["inbox", "app", "cli"][..]),
        ("inbox", &["app", "cli"][..]),
    ] {
        for n in never {
            assert!(
                !deps[room].contains(*n),
                "{room} uses {n}: {:?}",
                deps[room]
            );
        }
    }
}

/// A file's module path: `src/inbox/api.rs` → [inbox, api]; a folder's
/// `mod.rs` is the folder; `lib.rs` is the crate.
fn module_path(path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_str().unwrap().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file that defines the longest prefix of `segments` that is a module.
fn file_of(segments: &[String]) -> PathBuf {
    for n in (1..=segments.len()).rev() {
        let mut p = src();
        for s in &segments[..n] {
            p.push(s);
        }
        let file = p.with_extension("rs");
        if file.is_file() {
            return file;
        }
        if p.join("mod.rs").is_file() {
            return p.join("mod.rs");
        }
    }
    src().join("lib.rs")
}

/// The paths a `use` or an inline path names after `prefix`: `a::{b, c::d}`
/// → [a::b, a::c::d].
fn expand(text: &str) -> Vec<Vec<String>> {
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut head = Vec::new();
    let mut rest = text;
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            // The group's items, split at top-level commas.
            let (mut depth, mut start, mut out) = (0, 0, Vec::new());
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(&group[start..i]);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(&group[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return out
                .into_iter()
                .flat_map(|item| expand(item.trim()))
                .map(|tail| head.iter().cloned().chain(tail).collect())
                .collect();
        }
        let w = word(rest);
        if w.is_empty() {
            return vec![head];
        }
        rest = &rest[w.len()..];
        head.push(w);
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => return vec![head],
        }
    }
}

/// Which files each file's code names, through `crate::` and `super::`.
fn file_dependencies() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut deps = BTreeMap::new();
    for f in &files {
        let here = module_path(f);
        let text = code(f);
        let mut named = BTreeSet::new();
        for (i, _) in text
            .match_indices("crate::")
            .chain(text.match_indices("super::"))
        {
            if text[..i].ends_with("::") || text[..i].ends_with(|c: char| c.is_alphanumeric()) {
                continue; // `super::super::` is read from its first `super`
            }
            // `super` is the parent of the file's own module (a
            // `mod.rs` is its folder's module).
            let mut base = here.clone();
            let mut rest = &text[i..];
            if let Some(r) = rest.strip_prefix("crate::") {
                base.clear();
                rest = r;
            }
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            for tail in expand(rest) {
                let target = file_of(&base.iter().cloned().chain(tail).collect::<Vec<_>>());
                if &target != f {
                    named.insert(target);
                }
            }
        }
        deps.insert(f.clone(), named);
    }
    deps
}

#[test]
fn no_file_imports_another_in_a_circle() {
    let deps = file_dependencies();
    let name = |p: &Path| p.strip_prefix(src()).unwrap().display().to_string();
    fn visit(
        f: &Path,
        deps: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        path: &mut Vec<PathBuf>,
        done: &mut BTreeSet<PathBuf>,
        name: &dyn Fn(&Path) -> String,
    ) {
        if done.contains(f) {
            return;
        }
        if path.iter().any(|p| p == f) {
            let shown: Vec<String> = path.iter().map(|p| name(p)).collect();
            panic!("a circle: {} -> {}", shown.join(" -> "), name(f));
        }
        path.push(f.to_owned());
        for d in deps.get(f).into_iter().flatten() {
            visit(d, deps, path, done, name);
        }
        path.pop();
        done.insert(f.to_owned());
    }
    let mut done = BTreeSet::new();
    for f in deps.keys() {
        visit(f, &deps, &mut Vec::new(), &mut done, &name);
    }
    // The check sees what it must: the inbox's service names its routes.
    let api = src().join("inbox/api.rs");
    assert!(deps[&src().join("inbox/service.rs")].contains(&api));
}

/// No room so large that its name stops saying what is in it.
#[test]
fn no_folder_holds_over_22_percent_of_the_code_or_12_files() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
    let total: usize = files.iter().map(|f| lines(f)).sum();
    let mut rooms: BTreeMap<PathBuf, (usize, usize)> = BTreeMap::new();
    for f in &files {
        let dir = f.parent().unwrap().to_owned();
        if dir == src() {
            continue;
        }
        let e = rooms.entry(dir).or_default();
        e.0 += 1;
        e.1 += lines(f);
    }
    assert!(rooms.len() >= 9, "{rooms:?}");
    for (dir, (n, l)) in rooms {
        let share = l * 100 / total;
        assert!(n <= 12, "{} holds {n} files", dir.display());
        assert!(share <= 22, "{} holds {share}% of the code", dir.display());
    }
}

/// The README is for the people who use the plugin, in the order they need
/// it, and short enough to read: how it is built lives in the crate docs,
/// the figures in the bench's README.
#[test]
fn the_readme_is_a_users_and_at_most_35_kb() {
    let readme = include_str!("../README.md");
    assert!(
        readme.len() <= 35 * 1024,
        "README is {} bytes",
        readme.len()
    );
    let order = [
        "## The two commands",
        "## Running it in docker compose",
        "## The plugin API",
        "## The inbox",
        "## Automated tests",
        "## Faults on demand",
        "## Authentication during communication",
        "## The conformance kit",
        "## Configuration",
        "## Migrating from the original plugin",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|h| readme.find(h).unwrap_or_else(|| panic!("no {h}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{order:?} out of order");
    assert!(!readme.contains("## How it is built"));
    let bench = include_str!("bench/README.md");
    assert!(bench.starts_with("# Results"));
}
