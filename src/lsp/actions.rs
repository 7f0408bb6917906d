//! Code actions on findings: apply a "did you mean", remove an unused definition, remove a
//! redundant or ineffective rule (TSA230, TSA232) or selector (TSA231), and add a
//! `// tsacl-ignore: CODE` comment above a warning.

use super::analysis::Model;
use super::diagnostics::Finding;
use super::documents::{Encoding, range};
use crate::rules::{Code, Severity};
use crate::syntax::{Kind as ValueKind, Span, Value};
use lsp_types::{CodeAction, CodeActionKind, TextEdit, Uri, WorkspaceEdit};
use std::collections::HashMap;

/// The actions for the findings that touch `selected`. `suppressible`: the document is a
/// policy checked on its own, where a `tsacl-ignore` comment takes effect (in an intents
/// project the compiled policy is regenerated, so a comment there would not last).
pub fn actions(
    model: &Model,
    findings: &[Finding],
    selected: Span,
    uri: &Uri,
    suppressible: bool,
    encoding: Encoding,
) -> Vec<CodeAction> {
    let mut out = Vec::new();
    let edit = |title: String, finding: &Finding, edits: Vec<(Span, String)>, preferred: bool| {
        let edits = edits
            .into_iter()
            .map(|(span, text)| TextEdit::new(range(&model.file, span, encoding), text))
            .collect();
        CodeAction {
            title,
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![finding.lsp.clone()]),
            edit: Some(WorkspaceEdit::new(HashMap::from([(uri.clone(), edits)]))),
            is_preferred: Some(preferred),
            ..Default::default()
        }
    };
    for f in findings.iter().filter(|f| touches(f.span, selected)) {
        let Some(code) = f.code else { continue };
        if let Some((span, text)) = did_you_mean(model, f) {
            out.push(edit(
                format!("Change to {text:?}"),
                f,
                vec![(span, text)],
                true,
            ));
        }
        let removal = match code {
            Code::UnusedGroup | Code::UnusedHost | Code::UnusedIpSet | Code::UnusedPosture => {
                member_with_key(model, f.span).map(|(m, name)| (format!("Remove unused {name}"), m))
            }
            Code::RedundantRule | Code::IneffectiveRule => {
                rule_element(model, f.span).map(|span| ("Remove this rule".to_string(), span))
            }
            Code::RedundantSelector => {
                element_at(model, f.span).map(|span| ("Remove this selector".to_string(), span))
            }
            _ => None,
        };
        if let Some((title, span)) = removal {
            let span = removal_span(&model.file.text, span);
            out.push(edit(title, f, vec![(span, String::new())], false));
        }
        if suppressible && f.severity != Severity::Error {
            out.push(edit(
                format!("Ignore {} here (tsacl-ignore comment)", code.id()),
                f,
                vec![suppression(&model.file.text, f.span, code)],
                false,
            ));
        }
    }
    out
}

fn touches(a: Span, b: Span) -> bool {
    a.start <= b.end && b.start <= a.end
}

/// The suggestion of a finding's help (`did you mean "tag:web"?`) and where it goes: the
/// word of the finding's text closest to it (the host part of `tag:wbe:80`, a key...).
fn did_you_mean(model: &Model, f: &Finding) -> Option<(Span, String)> {
    let help = f.help.as_deref()?;
    let after = &help[help.find("did you mean ")? + "did you mean ".len()..];
    let after = after.strip_prefix("the host alias ").unwrap_or(after);
    let suggestion = if let Some(quoted) = after.strip_prefix('"') {
        let end = quoted.find('"')? + 1;
        serde_json::from_str::<String>(&after[..=end]).ok()?
    } else {
        after.split(['?', ' ']).next()?.to_string()
    };
    let text = model.file.text.get(f.span.range())?;
    let text = std::str::from_utf8(text).ok()?;
    let (offset, inner) = match text.as_bytes().first() {
        Some(b'"' | b'\'') if text.len() >= 2 => (1, text.get(1..text.len() - 1)?),
        _ => (0, text),
    };
    // Candidates: the whole content, the host of host:port, each word.
    let mut candidates: Vec<(usize, &str)> = vec![(0, inner)];
    if let Some(colon) = inner.rfind(':') {
        candidates.push((0, &inner[..colon]));
    }
    let mut at = 0;
    for word in inner.split(' ') {
        candidates.push((at, word));
        at += word.len() + 1;
    }
    let (start, word) = candidates
        .into_iter()
        .filter(|(_, w)| !w.is_empty() && *w != suggestion)
        .min_by_key(|(_, w)| {
            (
                strsim::damerau_levenshtein(w, &suggestion),
                usize::MAX - w.len(),
            )
        })?;
    if word.contains('\\') {
        return None; // escapes: the word is not the decoded name
    }
    let begin = f.span.start as usize + offset + start;
    Some((Span::new(begin, begin + word.len()), suggestion))
}

/// Where a value sits in its parent.
#[derive(Clone, Copy)]
enum Slot {
    Root,
    Element,
    /// An object member, with its key's span.
    Member(Span),
}

/// Every value of the tree with its slot, depth first, until `visit` says stop.
fn walk(root: &Value, mut visit: impl FnMut(&Value, Slot) -> bool) {
    let mut stack: Vec<(&Value, Slot)> = vec![(root, Slot::Root)];
    while let Some((v, slot)) = stack.pop() {
        if visit(v, slot) {
            return;
        }
        match &v.kind {
            ValueKind::Array(items) => stack.extend(items.iter().map(|i| (i, Slot::Element))),
            ValueKind::Object(members) => {
                stack.extend(members.iter().map(|m| (&m.value, Slot::Member(m.key_span))))
            }
            _ => {}
        }
    }
}

/// The member whose key is at `key`: its span from key to value, and the key's text.
fn member_with_key(model: &Model, key: Span) -> Option<(Span, String)> {
    let mut found = None;
    walk(model.tree.as_ref()?, |v, slot| {
        if let Slot::Member(k) = slot
            && k == key
        {
            let name = String::from_utf8_lossy(&model.file.text[k.range()])
                .trim_matches('"')
                .to_string();
            found = Some((Span::new(k.start as usize, v.span.end as usize), name));
            return true;
        }
        false
    });
    found
}

/// The element of `acls`, `grants` or `ssh` at `span`.
fn rule_element(model: &Model, span: Span) -> Option<Span> {
    let root = model.tree.as_ref()?;
    for section in ["acls", "grants", "ssh"] {
        if let Some(items) = root.get(section).and_then(Value::as_array)
            && let Some(item) = items
                .iter()
                .find(|i| i.span.start <= span.start && span.end <= i.span.end)
        {
            return Some(item.span);
        }
    }
    None
}

/// The array element at exactly `span` (a selector in a rule).
fn element_at(model: &Model, span: Span) -> Option<Span> {
    let mut found = None;
    walk(model.tree.as_ref()?, |v, slot| {
        if let Slot::Element = slot
            && v.span == span
        {
            found = Some(v.span);
            return true;
        }
        false
    });
    found
}

/// What to delete to remove an element or member at `span` cleanly: with its comma, and
/// its whole line when it is alone on it; else the comma before it when it is last.
fn removal_span(text: &[u8], span: Span) -> Span {
    let (mut start, mut end) = (span.start as usize, span.end as usize);
    let space = |b: u8| b == b' ' || b == b'\t';
    let mut after = end;
    while after < text.len() && space(text[after]) {
        after += 1;
    }
    let comma_after = text.get(after) == Some(&b',');
    if comma_after {
        end = after + 1;
    }
    let line_start = text[..start]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let alone_before = text[line_start..start].iter().all(|b| space(*b));
    let mut line_end = end;
    while line_end < text.len() && space(text[line_end]) {
        line_end += 1;
    }
    let alone_after = line_end >= text.len() || text[line_end] == b'\n' || text[line_end] == b'\r';
    if alone_before && alone_after {
        start = line_start;
        end = text[line_end..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |i| line_end + i + 1);
        return Span::new(start, end);
    }
    if !comma_after {
        // The last element: take the comma (and spaces) before it instead.
        let mut before = start;
        while before > 0 && (space(text[before - 1]) || text[before - 1] == b'\n') {
            before -= 1;
        }
        if before > 0 && text[before - 1] == b',' {
            start = before - 1;
        }
    } else {
        while end < text.len() && space(text[end]) {
            end += 1;
        }
    }
    Span::new(start, end)
}

/// A `// tsacl-ignore: CODE` line above the finding's line, indented like it.
fn suppression(text: &[u8], span: Span, code: Code) -> (Span, String) {
    let start = (span.start as usize).min(text.len());
    let line_start = text[..start]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let indent: String = text[line_start..]
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .map(|b| *b as char)
        .collect();
    (
        Span::new(line_start, line_start),
        format!(
            "{indent}// tsacl-ignore: {} TODO: say why {} is fine here\n",
            code.id(),
            code.rule().name
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str, span: Span, with: &str) -> String {
        let mut out = text.as_bytes().to_vec();
        out.splice(span.range(), with.bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn removals_keep_the_file_tidy() {
        let text = "{\n\t\"groups\": {\n\t\t\"group:a\": [],\n\t\t\"group:b\": [],\n\t},\n}\n";
        let a = text.find("\"group:a\"").unwrap();
        let end = a + "\"group:a\": []".len();
        assert_eq!(
            apply(text, removal_span(text.as_bytes(), Span::new(a, end)), ""),
            "{\n\t\"groups\": {\n\t\t\"group:b\": [],\n\t},\n}\n"
        );
        let inline = r#"{"src": ["a", "b"], "dst": ["c"]}"#;
        let b = inline.find("\"b\"").unwrap();
        assert_eq!(
            apply(
                inline,
                removal_span(inline.as_bytes(), Span::new(b, b + 3)),
                ""
            ),
            r#"{"src": ["a"], "dst": ["c"]}"#
        );
        let a = inline.find("\"a\"").unwrap();
        assert_eq!(
            apply(
                inline,
                removal_span(inline.as_bytes(), Span::new(a, a + 3)),
                ""
            ),
            r#"{"src": ["b"], "dst": ["c"]}"#
        );
    }

    /// Check `text` as a policy (or intents) file and apply the first quick fix titled
    /// `title` of the findings at `needle`.
    fn fixed(text: &str, path: &str, needle: &str, title: &str) -> String {
        use crate::diagnostics::{SourceFile, SourceMap};
        use crate::lsp::documents::{Document, kind_of};
        let path = std::path::PathBuf::from(path);
        let file =
            std::sync::Arc::new(SourceFile::new(path.clone(), "t", text.as_bytes().to_vec()));
        let kind = kind_of(&path, text.as_bytes());
        let doc = Document {
            uri: "file:///t".parse().unwrap(),
            path,
            version: 1,
            file: file.clone(),
            kind,
        };
        let model = Model::build(&doc);
        let mut sources = SourceMap::default();
        let id = sources.add(SourceFile::new("t", "t", text.as_bytes().to_vec()));
        let diagnostics = if kind == super::super::documents::Kind::Intents {
            let root = crate::syntax::json5::parse(text.as_bytes()).unwrap().root;
            let mut d = Vec::new();
            crate::intents::lower::lower(&root, id, &mut d);
            d
        } else {
            crate::check::check_policy(&sources, id, &Default::default()).diagnostics
        };
        let findings: Vec<Finding> = diagnostics
            .iter()
            .map(|d| super::super::diagnostics::convert(&sources, d, Encoding::Utf8))
            .collect();
        let at = text.find(needle).unwrap();
        let found = actions(
            &model,
            &findings,
            Span::new(at, at),
            &doc.uri,
            true,
            Encoding::Utf8,
        );
        let action = found.iter().find(|a| a.title == title).unwrap_or_else(|| {
            panic!(
                "no {title:?} in {:?}",
                found.iter().map(|a| &a.title).collect::<Vec<_>>()
            )
        });
        let edits = &action.edit.as_ref().unwrap().changes.as_ref().unwrap()[&doc.uri];
        let mut out = text.as_bytes().to_vec();
        for e in edits.iter().rev() {
            let span = super::super::documents::span(&file, e.range, Encoding::Utf8);
            out.splice(span.range(), e.new_text.bytes());
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn did_you_mean_fixes() {
        // An unknown field.
        assert_eq!(
            fixed(
                r#"{"grants": [{"src": ["*"], "dts": ["*"], "ip": ["*"]}]}"#,
                "p.hujson",
                "dts",
                "Change to \"dst\""
            ),
            r#"{"grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"]}]}"#
        );
        // An unknown autogroup.
        assert_eq!(
            fixed(
                r#"{"grants": [{"src": ["autogroup:membr"], "dst": ["*"], "ip": ["*"]}]}"#,
                "p.hujson",
                "membr",
                "Change to \"autogroup:member\""
            ),
            r#"{"grants": [{"src": ["autogroup:member"], "dst": ["*"], "ip": ["*"]}]}"#
        );
        // A misspelt tag in an ACL destination: the host part only.
        assert_eq!(
            fixed(
                r#"{"tagOwners": {"tag:web": []}, "acls": [{"action": "accept", "src": ["*"], "dst": ["tag:wbe:80"]}]}"#,
                "p.hujson",
                "tag:wbe",
                "Change to \"tag:web\""
            ),
            r#"{"tagOwners": {"tag:web": []}, "acls": [{"action": "accept", "src": ["*"], "dst": ["tag:web:80"]}]}"#
        );
        // An unquoted JSON5 key of the intents.
        assert_eq!(
            fixed(
                "{ srvices: {} }",
                "tailnet.json5",
                "srvices",
                "Change to \"services\""
            ),
            "{ services: {} }"
        );
    }

    #[test]
    fn suppression_goes_above_with_the_same_indent() {
        let text = "{\n\t\"hosts\": {\n\t\t\"h\": \"10.0.0.1\",\n\t},\n}\n";
        let at = text.find("\"h\"").unwrap();
        let (span, line) = suppression(text.as_bytes(), Span::new(at, at + 3), Code::UnusedHost);
        let out = apply(text, span, &line);
        assert!(
            out.contains(
                "\t\t// tsacl-ignore: TSA201 TODO: say why unused-host is fine here\n\t\t\"h\""
            ),
            "{out}"
        );
    }
}
