//! HTML pieces shared by the inbox's page and the citizen's page: escaping,
//! the document's opening, and the one attribute table. Every value that
//! reaches a page goes through `esc`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `&`, `<`, `>`, `"` and `'` as entities: safe in text and in quoted
/// attribute values alike.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A document's opening up to `<body>`'s start tag (left open for its
/// attributes): `title` is fixed text, and `stylesheet` our own path.
pub fn open_document(out: &mut String, title: &'static str, stylesheet: Option<&'static str>) {
    open_document_with(out, title, stylesheet, "");
}

/// `open_document`, with `head` (already escaped) before the head closes.
pub fn open_document_with(
    out: &mut String,
    title: &'static str,
    stylesheet: Option<&'static str>,
    head: &str,
) {
    out.push_str(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    );
    let _ = write!(out, "<title>{}</title>", esc(title));
    if let Some(href) = stylesheet {
        let _ = write!(out, "<link rel=\"stylesheet\" href=\"{}\">", esc(href));
    }
    out.push_str(head);
    out.push_str("</head>\n<body");
}

/// The attributes of a result as a table, or what stands in for them.
pub fn attributes(out: &mut String, attrs: Option<&BTreeMap<String, String>>) {
    match attrs {
        None => out.push_str("<p class=\"none\">No attributes member.</p>\n"),
        Some(a) if a.is_empty() => out.push_str("<p class=\"none\">No attributes.</p>\n"),
        Some(a) => {
            out.push_str(
                "<table class=\"attrs\"><thead><tr><th>attribute</th><th>value</th></tr></thead><tbody>",
            );
            for (k, v) in a {
                let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
            }
            out.push_str("</tbody></table>\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_markup_character_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_attribute_table_escapes_names_and_values() {
        let mut out = String::new();
        let a = BTreeMap::from([("<n>".to_string(), "<v>".to_string())]);
        attributes(&mut out, Some(&a));
        assert!(
            out.contains("<tr><th>&lt;n&gt;</th><td>&lt;v&gt;</td></tr>"),
            "{out}"
        );
        out.clear();
        attributes(&mut out, None);
        assert_eq!(out, "<p class=\"none\">No attributes member.</p>\n");
    }
}
