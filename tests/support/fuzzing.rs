//! Fuzz harnesses: one function per target of the cargo-fuzz project in `fuzz/`.
//!
//! Each function takes arbitrary bytes and panics on any violated invariant, so the same
//! code serves libFuzzer (`fuzz/fuzz_targets/*.rs`) and the corpus replay that runs in
//! plain `cargo test` (`tests/fuzz_corpus.rs`), both of which include this file with
//! `#[path = ".../tests/support/fuzzing.rs"] mod fuzzing;`. Not part of the library: it
//! reaches tsacl through its public API only.
// Each fuzz target uses one harness.
#![allow(dead_code)]
//!
//! Invariants checked:
//! - [`hujson`]: the reader never panics; its errors point where they say (line and
//!   column agree with the offset) and every entry point reports the same error; a
//!   parsed tree's spans are in bounds, nested, in source order, on char boundaries and
//!   cover the text they describe; `standardize` keeps length and newlines, touches only
//!   comments and trailing commas, yields JSON that serde_json accepts with the same
//!   values, and re-reads to the very same tree;
//! - [`format`]: formatting succeeds on every readable input, keeps the values and the
//!   comments, ends in exactly one newline, is idempotent, and keeps standard JSON
//!   standard;
//! - [`check`]: the whole check never panics, its diagnostics point inside the file and
//!   are sorted, and both renderings work;
//! - [`json5`]: the JSON5 reader never panics, its spans are sound, and it reads every
//!   HuJSON document (without CR or U+2028/U+2029) into the same tree.

use std::collections::HashMap;
use tsacl::check::check_policy;
use tsacl::diagnostics::render::{TextStyle, one_line, render_json, render_text, summary};
use tsacl::diagnostics::{Diagnostic, SourceFile, SourceMap};
use tsacl::syntax::tree::{Document, Kind, Span, SyntaxError, Value};
use tsacl::syntax::{hujson as hj, json5 as j5};
use tsacl::validate::Options;

/// Target `hujson`: parse, errors, spans, `standardize`, `is_standard`, serde_json.
pub fn hujson(data: &[u8]) {
    let parsed = hj::parse(data);
    let standardized = hj::standardize(data);
    let standard = hj::is_standard(data);
    let doc = match parsed {
        Ok(doc) => doc,
        Err(err) => {
            check_error(data, &err, "hujson");
            assert_eq!(standardized.as_ref().err(), Some(&err), "standardize error");
            assert_eq!(standard.as_ref().err(), Some(&err), "is_standard error");
            return;
        }
    };
    let text = std::str::from_utf8(data).ok();
    check_tree(data, text, &doc, Dialect::Hujson);

    let out = standardized.unwrap_or_else(|e| panic!("standardize failed after parse: {e}"));
    let standard = standard.unwrap_or_else(|e| panic!("is_standard failed after parse: {e}"));
    assert_eq!(out.len(), data.len(), "standardize changed the length");
    for (i, (&before, &after)) in data.iter().zip(&out).enumerate() {
        assert_eq!(
            before == b'\n',
            after == b'\n',
            "standardize moved a newline at byte {i}"
        );
        if before != after {
            assert!(
                after == b' ' && !is_space(before),
                "standardize turned {before:#04x} into {after:#04x} at byte {i}"
            );
            let in_comment = doc.comments.iter().any(|c| c.range().contains(&i));
            assert!(
                in_comment || before == b',',
                "standardize blanked byte {i} ({before:#04x}), not a comment or comma"
            );
        }
    }
    assert_eq!(
        standard,
        out == data,
        "is_standard disagrees with standardize"
    );

    // The standardized text is JSON (syntax only: no UTF-8, range or depth limits)...
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&out) {
        panic!("serde_json rejects the standardized text: {e}");
    }
    // ...that we read back to the identical tree, spans included...
    let again = hj::parse(&out).unwrap_or_else(|e| panic!("standardized text unreadable: {e}"));
    assert_eq!(again.root, doc.root, "standardized text reads differently");
    assert!(again.comments.is_empty(), "standardized text has comments");
    assert_eq!(
        hj::is_standard(&out),
        Ok(true),
        "standardized text not standard"
    );
    // ...and whose values serde_json reads as we do.
    if text.is_some() && depth(&doc.root) < 120 {
        match serde_json::from_slice::<serde_json::Value>(&out) {
            Ok(theirs) => compare_serde(&doc.root, &theirs, data),
            Err(e) => explain_serde_error(&doc.root, data, &e),
        }
    }
}

/// Target `format`: `format` against `parse`, idempotence, layout of the end.
pub fn format(data: &[u8]) {
    let parsed = hj::parse(data);
    let formatted = hj::format(data);
    let doc = match parsed {
        Ok(doc) => doc,
        Err(err) => {
            assert_eq!(
                formatted.err(),
                Some(err),
                "format error differs from parse"
            );
            return;
        }
    };
    let out = formatted.unwrap_or_else(|e| panic!("format failed after parse: {e}"));
    assert!(
        out.ends_with(b"\n") && !out.ends_with(b"\n\n"),
        "formatted text does not end in exactly one newline: {:?}",
        String::from_utf8_lossy(&out[out.len().saturating_sub(20)..])
    );
    let reread = hj::parse(&out).unwrap_or_else(|e| {
        panic!(
            "formatted text unreadable: {e}\n{}",
            String::from_utf8_lossy(&out)
        )
    });
    assert!(
        same_values(&doc.root, &reread.root),
        "formatting changed the values:\n{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(
        reread.comments.len(),
        doc.comments.len(),
        "formatting changed the number of comments:\n{}",
        String::from_utf8_lossy(&out)
    );
    let twice = hj::format(&out).unwrap_or_else(|e| panic!("formatted text unformattable: {e}"));
    assert!(
        twice == out,
        "format is not idempotent:\nonce:\n{}\ntwice:\n{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&twice)
    );
    let standard = hj::is_standard(data).expect("is_standard after parse");
    let standardized = hj::standardize(data).expect("standardize after parse");
    assert_eq!(standard, standardized == data, "is_standard vs standardize");
    if standard {
        assert_eq!(
            hj::is_standard(&out),
            Ok(true),
            "formatting standard JSON made it non-standard:\n{}",
            String::from_utf8_lossy(&out)
        );
    }
}

/// Target `check`: the whole pipeline and both renderings.
pub fn check(data: &[u8]) {
    let mut sources = SourceMap::default();
    let id = sources.add(SourceFile::new("f.hujson", "f.hujson", data.to_vec()));
    let readable = hj::parse(data).is_ok();
    let mut runs = vec![Options::default()];
    // Known tailnet domains only matter to `user:*@domain` and `localpart:*@domain`.
    if data.windows(2).any(|w| w == b"*@") {
        runs.push(Options {
            tailnet_domains: Some(vec!["example.com".to_owned()]),
            ..Default::default()
        });
    }
    for options in &runs {
        let checked = check_policy(&sources, id, options);
        assert_eq!(
            checked.policy.is_some(),
            readable,
            "a policy exactly when the file is HuJSON"
        );
        if !readable {
            assert_eq!(checked.diagnostics.len(), 1, "one syntax diagnostic");
            assert!(checked.has_errors(), "a syntax diagnostic is an error");
        }
        for d in &checked.diagnostics {
            check_diagnostic(&sources, d, data.len());
        }
        let key = |d: &Diagnostic| (d.primary.file, d.primary.span.start, d.code);
        assert!(
            checked
                .diagnostics
                .windows(2)
                .all(|w| key(&w[0]) <= key(&w[1])),
            "diagnostics not in source order"
        );

        // Rendering dominates the cost of this target: one text style per input, the
        // style chosen by the input so both get exercised.
        let style = if data.len().is_multiple_of(2) {
            TextStyle {
                color: false,
                width: 80,
            }
        } else {
            TextStyle {
                color: true,
                width: 24,
            }
        };
        let text = render_text(&sources, &checked.diagnostics, style);
        assert_eq!(
            text.is_empty(),
            checked.diagnostics.is_empty(),
            "text rendering empty exactly when there is nothing to say"
        );
        for d in &checked.diagnostics {
            let line = one_line(&sources, d);
            assert!(line.starts_with("f.hujson:"), "one_line: {line}");
        }
        summary(&checked.diagnostics);
        let json = render_json(&sources, &[id], &checked.diagnostics);
        let report: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("render_json: {e}\n{json}"));
        let listed = report["diagnostics"].as_array().map(Vec::len);
        assert_eq!(
            listed,
            Some(checked.diagnostics.len()),
            "render_json lists every diagnostic"
        );
    }
}

/// Target `json5`: the JSON5 reader, and agreement with the HuJSON reader.
pub fn json5(data: &[u8]) {
    let parsed = j5::parse(data);
    let text = std::str::from_utf8(data).ok();
    match &parsed {
        Ok(doc) => {
            let text = text.expect("JSON5 accepted invalid UTF-8");
            check_tree(data, Some(text), doc, Dialect::Json5);
        }
        Err(err) => check_error(data, err, "json5"),
    }
    // JSON5 is a superset of HuJSON where line terminators agree (HuJSON ends a line
    // comment only at LF; JSON5 also at CR, U+2028 and U+2029).
    let Some(text) = text else { return };
    if text.contains(['\r', '\u{2028}', '\u{2029}']) {
        return;
    }
    if let Ok(hu) = hj::parse(data) {
        let doc = parsed.unwrap_or_else(|e| panic!("HuJSON document rejected by JSON5: {e}"));
        assert_eq!(doc.root, hu.root, "JSON5 and HuJSON trees differ");
        assert_eq!(
            doc.comments.len(),
            hu.comments.len(),
            "JSON5 and HuJSON see different comments"
        );
        for (c5, chu) in doc.comments.iter().zip(&hu.comments) {
            assert_eq!(c5.start, chu.start, "comment starts differ");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shared checks.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Hujson,
    Json5,
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

/// A reader's error: its reader, an offset in bounds, line and column that agree with
/// the offset, and a message.
fn check_error(src: &[u8], err: &SyntaxError, reader: &str) {
    assert_eq!(err.reader, reader, "error from the wrong reader");
    assert!(
        err.offset <= src.len(),
        "error offset {} past the end ({})",
        err.offset,
        src.len()
    );
    assert!(err.line >= 1 && err.column >= 1, "line/column not 1-based");
    let before = &src[..err.offset];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    assert_eq!(
        (err.line, err.column),
        (line, 1 + err.offset - line_start),
        "line/column disagree with offset {}",
        err.offset
    );
    assert!(!err.message.is_empty(), "empty error message");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{reader}: line {line}, column ")),
        "{shown}"
    );
}

/// Every span of a parsed document: in bounds, on char boundaries (for UTF-8 input),
/// nested inside its parent, in source order, and covering the text it stands for;
/// comments are well-formed and overlap no scalar or key.
fn check_tree(src: &[u8], text: Option<&str>, doc: &Document, dialect: Dialect) {
    let mut leaves = Vec::new();
    check_value(src, text, &doc.root, dialect, &mut leaves);
    let mut previous_end = 0;
    for &c in &doc.comments {
        check_span(src, text, c, "comment");
        assert!(c.start >= previous_end, "comments overlap or out of order");
        previous_end = c.end;
        let body = &src[c.range()];
        if body.starts_with(b"/*") {
            assert!(body.len() >= 4 && body.ends_with(b"*/"), "block comment");
        } else {
            assert!(body.starts_with(b"//"), "comment {body:?}");
            if dialect == Dialect::Hujson {
                assert!(body.ends_with(b"\n"), "HuJSON line comment without LF");
            }
        }
    }
    // Leaves were collected in source order; no comment may cut into one.
    for w in leaves.windows(2) {
        assert!(w[0].end <= w[1].start, "leaves overlap or out of order");
    }
    for c in &doc.comments {
        let i = leaves.partition_point(|l| l.end <= c.start);
        if let Some(l) = leaves.get(i) {
            assert!(l.start >= c.end, "comment {c:?} overlaps value {l:?}");
        }
    }
}

fn check_span(src: &[u8], text: Option<&str>, span: Span, what: &str) {
    assert!(
        span.start <= span.end && span.end as usize <= src.len(),
        "{what} span {span:?} out of bounds ({} bytes)",
        src.len()
    );
    assert!(!span.is_empty(), "{what} span {span:?} empty");
    if let Some(text) = text {
        assert!(
            text.is_char_boundary(span.start as usize) && text.is_char_boundary(span.end as usize),
            "{what} span {span:?} not on char boundaries"
        );
    }
}

fn check_value(
    src: &[u8],
    text: Option<&str>,
    value: &Value,
    dialect: Dialect,
    leaves: &mut Vec<Span>,
) {
    let span = value.span;
    check_span(src, text, span, value.type_name());
    let raw = &src[span.range()];
    let inside = |child: Span, what: &str| {
        assert!(
            span.start < child.start && child.end < span.end,
            "{what} {child:?} outside its parent {span:?}"
        );
    };
    match &value.kind {
        Kind::Null => assert_eq!(raw, b"null"),
        Kind::Bool(b) => assert_eq!(raw, if *b { &b"true"[..] } else { b"false" }),
        Kind::Number(n) => assert_eq!(raw, n.as_bytes(), "number text"),
        Kind::String(s) => check_string(raw, s, dialect),
        Kind::Array(items) => {
            assert!(raw.starts_with(b"[") && raw.ends_with(b"]"), "array text");
            let mut previous = span.start;
            for item in items {
                inside(item.span, "element");
                assert!(item.span.start > previous, "elements out of order");
                previous = item.span.end;
                check_value(src, text, item, dialect, leaves);
            }
        }
        Kind::Object(members) => {
            assert!(raw.starts_with(b"{") && raw.ends_with(b"}"), "object text");
            let mut previous = span.start;
            for m in members {
                inside(m.key_span, "key");
                inside(m.value.span, "member value");
                check_span(src, text, m.key_span, "key");
                assert!(m.key_span.start > previous, "members out of order");
                assert!(m.key_span.end < m.value.span.start, "key after its value");
                previous = m.value.span.end;
                let key_raw = &src[m.key_span.range()];
                match key_raw[0] {
                    b'"' => check_string(key_raw, &m.key, dialect),
                    b'\'' if dialect == Dialect::Json5 => check_string(key_raw, &m.key, dialect),
                    _ => {
                        assert_eq!(dialect, Dialect::Json5, "unquoted HuJSON key");
                        assert_eq!(key_raw, m.key.as_bytes(), "identifier key text");
                    }
                }
                leaves.push(m.key_span);
                check_value(src, text, &m.value, dialect, leaves);
            }
        }
    }
    if !matches!(value.kind, Kind::Array(_) | Kind::Object(_)) {
        leaves.push(span);
    }
}

/// A string literal's text: quoted, and decoded to itself when it has no escapes.
fn check_string(raw: &[u8], decoded: &str, dialect: Dialect) {
    let quote = raw[0];
    let quotes: &[u8] = match dialect {
        Dialect::Hujson => b"\"",
        Dialect::Json5 => b"\"'",
    };
    assert!(
        raw.len() >= 2 && quotes.contains(&quote) && raw.ends_with(&[quote]),
        "string text {raw:?}"
    );
    let body = &raw[1..raw.len() - 1];
    if !body.contains(&b'\\')
        && let Ok(body) = std::str::from_utf8(body)
    {
        assert_eq!(body, decoded, "unescaped string decoded differently");
    }
}

fn depth(value: &Value) -> usize {
    match &value.kind {
        Kind::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Kind::Object(members) => 1 + members.iter().map(|m| depth(&m.value)).max().unwrap_or(0),
        _ => 0,
    }
}

/// Trees equal in everything but spans.
fn same_values(a: &Value, b: &Value) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Array(x), Kind::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_values(x, y))
        }
        (Kind::Object(x), Kind::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(x, y)| x.key == y.key && same_values(&x.value, &y.value))
        }
        (x, y) => x == y,
    }
}

/// Our tree against serde_json's reading of the same (standardized, UTF-8) text.
fn compare_serde(ours: &Value, theirs: &serde_json::Value, src: &[u8]) {
    use serde_json::Value as J;
    let at = || String::from_utf8_lossy(&src[ours.span.range()]).into_owned();
    match (&ours.kind, theirs) {
        (Kind::Null, J::Null) => {}
        (Kind::Bool(a), J::Bool(b)) => assert_eq!(a, b, "boolean {}", at()),
        (Kind::String(a), J::String(b)) => assert_eq!(a, b, "string {}", at()),
        (Kind::Number(raw), J::Number(n)) => {
            if let Some(u) = n.as_u64() {
                assert_eq!(raw.parse::<u64>().ok(), Some(u), "integer {raw}");
            } else if let Some(i) = n.as_i64() {
                assert_eq!(raw.parse::<i64>().ok(), Some(i), "integer {raw}");
            } else {
                let a: f64 = raw.parse().unwrap_or_else(|e| panic!("number {raw}: {e}"));
                let b = n.as_f64().expect("serde_json float");
                // serde_json's default float parser may be off by an ulp or so.
                let close = a == b
                    || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
                    || (a.abs() < 1e-290 && b.abs() < 1e-290);
                assert!(close, "number {raw}: we read {a}, serde_json {b}");
            }
        }
        (Kind::Array(items), J::Array(theirs)) => {
            assert_eq!(items.len(), theirs.len(), "array length {}", at());
            for (a, b) in items.iter().zip(theirs) {
                compare_serde(a, b, src);
            }
        }
        (Kind::Object(members), J::Object(theirs)) => {
            // serde_json keeps the last of duplicate keys.
            let mut last: HashMap<&str, &Value> = HashMap::new();
            for m in members {
                last.insert(&m.key, &m.value);
            }
            assert_eq!(last.len(), theirs.len(), "object size {}", at());
            for (key, value) in last {
                let theirs = theirs
                    .get(key)
                    .unwrap_or_else(|| panic!("serde_json lost key {key:?}"));
                compare_serde(value, theirs, src);
            }
        }
        (_, theirs) => panic!(
            "we read {} at {}, serde_json {theirs}",
            ours.type_name(),
            at()
        ),
    }
}

/// serde_json refuses a few things Go's decoder (and so ours) accepts: floats that
/// overflow f64 and lone UTF-16 surrogate escapes. Any other refusal is a bug.
fn explain_serde_error(root: &Value, src: &[u8], e: &serde_json::Error) {
    let message = e.to_string();
    let explained = if message.starts_with("number out of range") {
        any_value(root, &|v| match &v.kind {
            Kind::Number(raw) => raw.parse::<f64>().is_ok_and(|f| f.abs() > 1e307),
            _ => false,
        })
    } else if message.starts_with("lone leading surrogate")
        || message.starts_with("unexpected end of hex escape")
    {
        any_string_literal(root, src, &has_surrogate_escape)
    } else {
        false
    };
    assert!(explained, "serde_json rejects what we read: {message}");
}

fn any_value(value: &Value, pred: &dyn Fn(&Value) -> bool) -> bool {
    pred(value)
        || match &value.kind {
            Kind::Array(items) => items.iter().any(|v| any_value(v, pred)),
            Kind::Object(members) => members.iter().any(|m| any_value(&m.value, pred)),
            _ => false,
        }
}

fn any_string_literal(root: &Value, src: &[u8], pred: &dyn Fn(&[u8]) -> bool) -> bool {
    fn walk(value: &Value, src: &[u8], pred: &dyn Fn(&[u8]) -> bool) -> bool {
        match &value.kind {
            Kind::String(_) => pred(&src[value.span.range()]),
            Kind::Array(items) => items.iter().any(|v| walk(v, src, pred)),
            Kind::Object(members) => members
                .iter()
                .any(|m| pred(&src[m.key_span.range()]) || walk(&m.value, src, pred)),
            _ => false,
        }
    }
    walk(root, src, pred)
}

/// Whether a string literal has a `\uD800`–`\uDFFF` escape.
fn has_surrogate_escape(lit: &[u8]) -> bool {
    lit.windows(4).any(|w| {
        w[0] == b'\\'
            && w[1] == b'u'
            && w[2].eq_ignore_ascii_case(&b'd')
            && matches!(w[3].to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f')
    })
}

/// A diagnostic's locations are in this one file and inside its text.
fn check_diagnostic(sources: &SourceMap, d: &Diagnostic, len: usize) {
    let locations = std::iter::once((d.primary, "primary"))
        .chain(d.labels.iter().map(|l| (l.location, "label")));
    for (location, what) in locations {
        assert_eq!(
            sources.get(location.file).text.len(),
            len,
            "{what} of {} in an unknown file",
            d.code.id()
        );
        let span = location.span;
        assert!(
            span.start <= span.end && span.end as usize <= len,
            "{what} span {span:?} of {} ({}) out of bounds ({len} bytes)",
            d.code.id(),
            d.message
        );
    }
    assert!(
        !d.message.is_empty(),
        "{} with an empty message",
        d.code.id()
    );
}
