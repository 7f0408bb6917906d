//! Rendering diagnostics: miette-style snippets for people, one JSON document for machines.
//!
//! Columns are 1-based and count bytes, the convention of tailscale/hujson and of the
//! control plane's own messages; `end_line`/`end_column` point just past the span.

use super::{Diagnostic, SourceMap};
use crate::rules::Severity;
use serde::Serialize;
use std::fmt;

/// Text output options.
#[derive(Clone, Copy, Debug)]
pub struct TextStyle {
    pub color: bool,
    /// Terminal width for wrapping.
    pub width: usize,
}

/// miette's renderer for `style`. Lines wrap at spaces only: a selector, a login or a
/// path is never split at its hyphen or slash (`tag:jacob-` / `comma` cannot be copied
/// back), and finding break points by Unicode's line-breaking rules was a tenth of the
/// instructions of a `check` with a hundred findings.
fn handler(style: TextStyle) -> miette::GraphicalReportHandler {
    let theme = if style.color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    miette::GraphicalReportHandler::new_themed(theme)
        .with_width(style.width)
        .with_links(false)
        .with_word_separator(textwrap::WordSeparator::AsciiSpace)
        .with_word_splitter(textwrap::WordSplitter::NoHyphenation)
}

/// From this many findings, [`render_text`] spreads them over the cores.
const RENDERED_ALONE: usize = 64;

/// Render diagnostics as miette-style text.
///
/// Each finding renders on its own, so many are split into one run of findings per core
/// and the pieces joined in order: the output is the same, and rendering, which comes
/// after every analysis, was a tenth of the instructions of a `check` with 342 findings.
pub fn render_text(sources: &SourceMap, diagnostics: &[Diagnostic], style: TextStyle) -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if diagnostics.len() < RENDERED_ALONE || cores == 1 {
        return render_run(sources, diagnostics, style);
    }
    let run = diagnostics.len().div_ceil(cores);
    std::thread::scope(|scope| {
        let pieces: Vec<_> = diagnostics
            .chunks(run)
            .map(|some| scope.spawn(move || render_run(sources, some, style)))
            .collect();
        pieces
            .into_iter()
            .map(|p| {
                p.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// [`render_text`] on one thread.
fn render_run(sources: &SourceMap, diagnostics: &[Diagnostic], style: TextStyle) -> String {
    let handler = handler(style);
    let mut out = String::new();
    for d in diagnostics {
        if !fits_a_snippet(sources, d) {
            // A snippet of a very long line (a minified policy) is unreadable, and miette
            // cannot pad past 65,535 columns: say it in the compact form.
            out.push_str(&one_line(sources, d));
            out.push('\n');
            if let Some(help) = &d.help {
                out.push_str(&format!("  help: {help}\n"));
            }
            push_notes(&mut out, sources, d.labels.iter());
            continue;
        }
        let adapter = MietteAdapter::new(sources, d);
        if handler.render_report(&mut out, &adapter).is_err() {
            // Rendering into a String cannot fail short of a bug in miette; fall back to a line.
            out.push_str(&one_line(sources, d));
            out.push('\n');
        }
        push_notes(
            &mut out,
            sources,
            d.labels.iter().filter(|l| !near(sources, d, l)),
        );
    }
    out
}

/// At most this many `note:` lines per finding: a finding that stands for thousands of
/// places (10,000 tests undecided for one condition, folded into one) stays readable; the
/// JSON and SARIF forms list every place.
const MOST_NOTES: usize = 20;

/// A `note:` line per label, at most [`MOST_NOTES`], then how many more.
fn push_notes<'a>(
    out: &mut String,
    sources: &SourceMap,
    labels: impl Iterator<Item = &'a super::Label>,
) {
    let mut more = 0usize;
    for (i, label) in labels.enumerate() {
        if i >= MOST_NOTES {
            more += 1;
            continue;
        }
        let f = sources.get(label.location.file);
        let (line, col) = f.line_col(label.location.span.start as usize);
        out.push_str(&format!(
            "  note: {}:{line}:{col}: {}\n",
            f.name, label.message
        ));
    }
    if more > 0 {
        out.push_str(&format!(
            "  note: and {more} more (--format json lists every one)\n"
        ));
    }
}

/// Whether the lines a snippet would show are short enough to show: none longer than
/// [`LONGEST_SNIPPET_LINE`] bytes.
fn fits_a_snippet(sources: &SourceMap, d: &Diagnostic) -> bool {
    let line_len = |file: super::FileId, offset: u32| {
        let f = sources.get(file);
        let (line, _) = f.line_col(offset as usize);
        let start = f.line_start(line - 1).unwrap_or(0);
        let end = f.line_start(line).unwrap_or(f.text.len());
        end - start
    };
    std::iter::once(&d.primary)
        .chain(
            d.labels
                .iter()
                .filter(|l| near(sources, d, l))
                .map(|l| &l.location),
        )
        .all(|at| {
            line_len(at.file, at.span.start) <= LONGEST_SNIPPET_LINE
                && line_len(at.file, at.span.end) <= LONGEST_SNIPPET_LINE
        })
}

/// Past this, a line is not shown in a snippet (see [`fits_a_snippet`]).
const LONGEST_SNIPPET_LINE: usize = 2_000;

/// Labels in the primary file within a few lines of it go into the same snippet; others
/// would make miette print every line in between, so they become `note:` lines.
fn near(sources: &SourceMap, d: &Diagnostic, l: &super::Label) -> bool {
    if l.location.file != d.primary.file {
        return false;
    }
    let f = sources.get(d.primary.file);
    let (a, _) = f.line_col(d.primary.span.start as usize);
    let (b, _) = f.line_col(l.location.span.start as usize);
    a.abs_diff(b) <= 12
}

/// `file:line:col: severity[CODE]: message`, the compact form.
pub fn one_line(sources: &SourceMap, d: &Diagnostic) -> String {
    let f = sources.get(d.primary.file);
    let (line, col) = f.line_col(d.primary.span.start as usize);
    format!(
        "{}:{line}:{col}: {}[{}]: {}",
        f.name,
        d.severity.as_str(),
        d.code.id(),
        d.message
    )
}

/// A summary line such as `2 errors, 1 warning`.
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    let infos = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Info)
        .count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut out = format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    // Only lints turned down with a severity override are infos: say so only then.
    if infos > 0 {
        out.push_str(&format!(", {infos} info"));
    }
    out
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'static str,
    name: &'static str,
    severity: Severity,
    message: &'a str,
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    help: Option<&'a str>,
    labels: Vec<JsonLabel<'a>>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    version: u32,
    files: Vec<&'a str>,
    diagnostics: Vec<JsonDiagnostic<'a>>,
    errors: usize,
    warnings: usize,
}

/// Render one JSON document for all files checked.
pub fn render_json(
    sources: &SourceMap,
    files: &[super::FileId],
    diagnostics: &[Diagnostic],
) -> String {
    let place = |loc: super::Location| {
        let f = sources.get(loc.file);
        let (line, column) = f.line_col(loc.span.start as usize);
        let (end_line, end_column) = f.line_col(loc.span.end as usize);
        (f.name.as_str(), line, column, end_line, end_column)
    };
    let report = JsonReport {
        version: 1,
        files: files
            .iter()
            .map(|f| sources.get(*f).name.as_str())
            .collect(),
        diagnostics: diagnostics
            .iter()
            .map(|d| {
                let (file, line, column, end_line, end_column) = place(d.primary);
                JsonDiagnostic {
                    code: d.code.id(),
                    name: d.code.rule().name,
                    severity: d.severity,
                    message: &d.message,
                    file,
                    line,
                    column,
                    end_line,
                    end_column,
                    help: d.help.as_deref(),
                    labels: d
                        .labels
                        .iter()
                        .map(|l| {
                            let (file, line, column, end_line, end_column) = place(l.location);
                            JsonLabel {
                                file,
                                line,
                                column,
                                end_line,
                                end_column,
                                message: &l.message,
                            }
                        })
                        .collect(),
                }
            })
            .collect(),
        errors: diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count(),
        warnings: diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count(),
    };
    let mut out = serde_json::to_string_pretty(&report).expect("serializable");
    out.push('\n');
    out
}

/// Presents one of our diagnostics to miette.
struct MietteAdapter<'a> {
    diagnostic: &'a Diagnostic,
    source: Window,
    labels: Vec<miette::LabeledSpan>,
}

impl<'a> MietteAdapter<'a> {
    fn new(sources: &SourceMap, diagnostic: &'a Diagnostic) -> Self {
        let file = sources.get(diagnostic.primary.file);
        let len = file.text.len();
        let clamp = |s: crate::syntax::Span| {
            let start = (s.start as usize).min(len);
            let end = (s.end as usize).clamp(start, len);
            miette::SourceSpan::new(start.into(), end - start)
        };
        let mut labels = vec![miette::LabeledSpan::new_primary_with_span(
            diagnostic.primary_label.clone(),
            clamp(diagnostic.primary.span),
        )];
        for l in diagnostic
            .labels
            .iter()
            .filter(|l| near(sources, diagnostic, l))
        {
            labels.push(miette::LabeledSpan::new_with_span(
                Some(l.message.clone()),
                clamp(l.location.span),
            ));
        }
        let from = labels.iter().map(|l| l.offset()).min().unwrap_or(0);
        let to = labels
            .iter()
            .map(|l| l.offset() + l.len())
            .max()
            .unwrap_or(0);
        MietteAdapter {
            diagnostic,
            source: Window::new(file, from, to),
            labels,
        }
    }
}

/// The lines of a file around one diagnostic's spans, as miette's source. miette reads a
/// span by scanning its source from the start, so handing it the whole file made the
/// text output cost findings × file size (a minute for 6,000 warnings in a 4 MB policy).
struct Window {
    name: String,
    text: String,
    /// Byte offset of `text` in the file, and the 0-based line it starts on.
    start: usize,
    first_line: usize,
}

impl Window {
    fn new(file: &super::SourceFile, from: usize, to: usize) -> Window {
        // More lines than any context miette shows.
        let (start, end, first_line) = file.lines_around(from, to, 4);
        Window {
            name: file.name.clone(),
            text: String::from_utf8_lossy(&file.text[start..end]).into_owned(),
            start,
            first_line,
        }
    }
}

impl miette::SourceCode for Window {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let offset = span
            .offset()
            .saturating_sub(self.start)
            .min(self.text.len());
        let local = miette::SourceSpan::new(offset.into(), span.len());
        let inner = self
            .text
            .read_span(&local, context_lines_before, context_lines_after)?;
        let read = inner.span();
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            miette::SourceSpan::new((read.offset() + self.start).into(), read.len()),
            inner.line() + self.first_line,
            inner.column(),
            // miette counts the lines from its source's start to the context's end, and
            // compares that with the next context's line to decide whether to merge them.
            inner.line_count() + self.first_line,
        )))
    }
}

impl fmt::Debug for MietteAdapter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MietteAdapter").finish_non_exhaustive()
    }
}

impl fmt::Display for MietteAdapter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for MietteAdapter<'_> {}

impl miette::Diagnostic for MietteAdapter<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(format!(
            "{}({})",
            self.diagnostic.code.id(),
            self.diagnostic.code.rule().name
        )))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// A finding about a whole file rather than a place in it. tsacl marks those with an
/// empty span at the start of the file: a stale compiled policy, an access change
/// found by `tsacl diff`, a syntax error in an empty file.
fn is_file_level(loc: super::Location) -> bool {
    loc.span.start == 0 && loc.span.end == 0
}

/// FNV-1a over the parts, each ended by a NUL byte: stable across Rust versions and
/// platforms, unlike the standard library's hasher.
fn fnv1a(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// A message without the positions some messages carry: a syntax error's `line 3,
/// column 5` and indices such as `grants[2]`, which change whenever a line or a rule is
/// inserted above the finding.
fn without_positions(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        let after_position_word = ["line ", "column ", "Line ", "Column "]
            .iter()
            .any(|w| out.ends_with(w));
        if c.is_ascii_digit() && after_position_word {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('#');
        } else if c == '[' && out.ends_with(|p: char| p.is_ascii_alphabetic()) {
            // `grants[12]` → `grants[#]`, but `["tag:a"]` and `[80]` after a space stay.
            let rest = chars.clone().collect::<String>();
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits > 0 && rest[digits..].starts_with(']') {
                for _ in 0..=digits {
                    chars.next();
                }
                out.push_str("[#]");
            } else {
                out.push(c);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One fingerprint per finding, for GitHub code scanning and other tools that track
/// findings across runs. Stable means: the same input gives the same fingerprints, and
/// they do not change when lines are inserted, removed or reformatted elsewhere in the
/// file, because they hash the rule, the file's path from the source root and the
/// message without positions ([`without_positions`]), never a line number or an index. Identical findings in one file are
/// told apart by their order (the second gets `#2` hashed in, and so on), so no two
/// results of a run share a fingerprint and none collapse into one alert.
fn fingerprints<'a>(
    findings: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Vec<String> {
    let mut seen: std::collections::HashMap<(String, String, String), usize> =
        std::collections::HashMap::new();
    findings
        .into_iter()
        .map(|(code, file, message)| {
            let message = without_positions(message);
            let n = seen
                .entry((code.to_string(), file.to_string(), message.clone()))
                .or_default();
            *n += 1;
            if *n == 1 {
                fnv1a(&[code, file, &message])
            } else {
                fnv1a(&[code, file, &message, &format!("#{n}")])
            }
        })
        .collect()
}

/// Line and column in Unicode code points (SARIF's `unicodeCodePoints` column kind).
fn char_position(sources: &SourceMap, loc: super::Location) -> (usize, usize) {
    let f = sources.get(loc.file);
    let (line, byte_col) = f.line_col(loc.span.start as usize);
    let start = (loc.span.start as usize).min(f.text.len()) + 1 - byte_col;
    let col = String::from_utf8_lossy(&f.text[start..start + byte_col - 1])
        .chars()
        .count()
        + 1;
    (line, col)
}

fn char_end(sources: &SourceMap, loc: super::Location) -> (usize, usize) {
    char_position(
        sources,
        super::Location {
            file: loc.file,
            span: crate::syntax::Span {
                start: loc.span.end,
                end: loc.span.end,
            },
        },
    )
}

/// The directory SARIF URIs are relative to (`%SRCROOT%`) and GitHub annotations name
/// files from: the root of the git work tree holding the current directory, which is
/// what GitHub resolves paths against, else the current directory.
pub fn source_root() -> Option<std::path::PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let cwd = std::fs::canonicalize(&cwd).unwrap_or(cwd);
    let root = cwd
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(&cwd)
        .to_path_buf();
    Some(root)
}

/// `path` from `root`, with `/` separators (`..` first when the file lies outside the
/// root). `None` for standard input and for paths that cannot be written relative to
/// the root (another drive).
fn relative_path(root: &std::path::Path, path: &std::path::Path) -> Option<String> {
    use std::path::Component;
    if path.as_os_str() == "-" {
        return None;
    }
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let absolute = std::fs::canonicalize(&absolute).unwrap_or_else(|_| {
        // A file that is gone (or never was): normalise `.` and `..` by hand.
        let mut out = std::path::PathBuf::new();
        for c in absolute.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        out
    });
    let from: Vec<Component> = root.components().collect();
    let to: Vec<Component> = absolute.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut segments: Vec<String> = vec!["..".to_string(); from.len() - common];
    for c in &to[common..] {
        match c {
            Component::Normal(s) => segments.push(s.to_string_lossy().into_owned()),
            _ => return None,
        }
    }
    (!segments.is_empty()).then(|| segments.join("/"))
}

/// A relative path as a URI reference: each segment percent-encoded except for RFC
/// 3986's unreserved characters and the sub-delimiters (`:` is encoded too, so the
/// first segment never reads as a scheme).
fn uri_reference(relative: &str) -> String {
    let mut out = String::with_capacity(relative.len());
    for b in relative.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b'@' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// SARIF 2.1.0, for GitHub code scanning and other tools: every rule tsacl has, with
/// help text, and one result per diagnostic with a URI relative to `%SRCROOT%` (never an
/// absolute path), a region, related locations and a stable fingerprint
/// ([`fingerprints`]). File-level findings ([`is_file_level`]) have a region of
/// `startLine` 1 alone, since GitHub requires a start line.
pub fn render_sarif(sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    use serde_json::json;
    let root = source_root();
    let path_of = |file: super::FileId| {
        let f = sources.get(file);
        root.as_deref().and_then(|r| relative_path(r, &f.path))
    };
    let physical = |loc: super::Location| {
        let artifact = match path_of(loc.file) {
            Some(p) => json!({"uri": uri_reference(&p), "uriBaseId": "%SRCROOT%"}),
            None => json!({"description": {"text": sources.get(loc.file).name}}),
        };
        let region = if is_file_level(loc) {
            json!({"startLine": 1})
        } else {
            let (line, col) = char_position(sources, loc);
            let (end_line, end_col) = char_end(sources, loc);
            json!({"startLine": line, "startColumn": col, "endLine": end_line, "endColumn": end_col})
        };
        json!({"artifactLocation": artifact, "region": region})
    };
    let rules: Vec<serde_json::Value> = crate::rules::RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.explanation},
                "help": {"text": r.explanation, "markdown": r.explanation},
                "defaultConfiguration": {"level": sarif_level(r.severity)},
            })
        })
        .collect();
    let files: Vec<String> = diagnostics
        .iter()
        .map(|d| {
            path_of(d.primary.file).unwrap_or_else(|| sources.get(d.primary.file).name.clone())
        })
        .collect();
    let prints = fingerprints(
        diagnostics
            .iter()
            .zip(&files)
            .map(|(d, f)| (d.code.id(), f.as_str(), d.message.as_str())),
    );
    let results: Vec<serde_json::Value> = diagnostics
        .iter()
        .zip(prints)
        .map(|(d, print)| {
            let mut message = d.message.clone();
            if let Some(h) = &d.help {
                message.push_str(&format!(" (help: {h})"));
            }
            let mut result = json!({
                "ruleId": d.code.id(),
                "ruleIndex": crate::rules::RULES.iter().position(|r| r.code == d.code),
                "level": sarif_level(d.severity),
                "message": {"text": message},
                "locations": [{"physicalLocation": physical(d.primary)}],
                "partialFingerprints": {"tsacl/v1": print},
            });
            if !d.labels.is_empty() {
                result["relatedLocations"] = d
                    .labels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        json!({
                            "id": i,
                            "physicalLocation": physical(l.location),
                            "message": {"text": l.message},
                        })
                    })
                    .collect();
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tsacl",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {
                "text": "The root of the git work tree tsacl ran in, else the directory it ran in",
            }}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&doc).expect("serializable");
    out.push('\n');
    out
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A workflow command's message, escaped as GitHub's toolkit does (`escapeData`).
fn github_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value, escaped as GitHub's toolkit does
/// (`escapeProperty`): the message's escapes plus `:` and `,`.
fn github_property(s: &str) -> String {
    github_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub Actions workflow commands, one line per finding:
/// `::error file=F,line=L,col=C,endLine=L,endColumn=C,title=CODE name::message`, the
/// file named from the source root ([`source_root`]), columns in bytes, the help on a
/// second line of the message. File-level findings name no line.
pub fn render_github(sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    let root = source_root();
    let mut out = String::new();
    for d in diagnostics {
        let f = sources.get(d.primary.file);
        let file = root
            .as_deref()
            .and_then(|r| relative_path(r, &f.path))
            .unwrap_or_else(|| f.name.clone());
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut props = format!("file={}", github_property(&file));
        if !is_file_level(d.primary) {
            let (line, col) = f.line_col(d.primary.span.start as usize);
            let (end_line, end_col) = f.line_col(d.primary.span.end as usize);
            props.push_str(&format!(
                ",line={line},col={col},endLine={end_line},endColumn={end_col}"
            ));
        }
        let title = format!("{} {}", d.code.id(), d.code.rule().name);
        let mut message = d.message.clone();
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        out.push_str(&format!(
            "::{kind} {props},title={}::{}\n",
            github_property(&title),
            github_data(&message)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Span;

    /// A file of `n` numbered lines, and the span of `len` bytes at column 3 of line `l`.
    fn numbered(
        n: usize,
    ) -> (
        SourceMap,
        crate::diagnostics::FileId,
        impl Fn(usize) -> crate::diagnostics::Location,
    ) {
        let text: String = (1..=n).map(|i| format!("  \"k{i}\": {i},\n")).collect();
        let starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let mut sources = SourceMap::default();
        let id = sources.add(crate::diagnostics::SourceFile::new(
            "p",
            "p.hujson",
            text.into_bytes(),
        ));
        (sources, id, move |l: usize| crate::diagnostics::Location {
            file: id,
            span: Span::new(starts[l - 1] + 2, starts[l - 1] + 6),
        })
    }

    #[test]
    fn many_findings_render_in_order_as_one_run_would() {
        let (sources, _, loc) = numbered(300);
        let style = TextStyle {
            color: false,
            width: 100,
        };
        for n in [RENDERED_ALONE - 1, RENDERED_ALONE, 3 * RENDERED_ALONE + 7] {
            let diagnostics: Vec<Diagnostic> = (1..=n)
                .map(|i| {
                    Diagnostic::new(crate::rules::Code::UnusedGroup, loc(i), format!("m{i}"))
                        .with_primary_label("here")
                })
                .collect();
            let spread = render_text(&sources, &diagnostics, style);
            assert_eq!(spread, render_run(&sources, &diagnostics, style), "{n}");
            let order: Vec<usize> = spread
                .match_indices("⚠ m")
                .map(|(i, _)| {
                    let digits = spread[i + "⚠ m".len()..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>();
                    digits.parse().expect("a number")
                })
                .collect();
            assert_eq!(order, (1..=n).collect::<Vec<_>>(), "{n}");
        }
    }

    #[test]
    fn a_window_of_lines_renders_what_the_whole_file_would() {
        let (sources, id, loc) = numbered(300);
        let style = TextStyle {
            color: false,
            width: 100,
        };
        let cases = [
            (1, vec![]),
            (300, vec![]),
            (150, vec![152]),
            (150, vec![140, 158]),
            (2, vec![299]),
        ];
        for (line, labels) in cases {
            let mut d = Diagnostic::new(crate::rules::Code::UnusedGroup, loc(line), "m")
                .with_primary_label("here");
            for l in labels {
                d = d.with_label(loc(l), format!("label at {l}"));
            }
            // The reference: miette reading the whole file.
            let whole = {
                let handler = handler(style);
                let mut adapter = MietteAdapter::new(&sources, &d);
                let f = sources.get(id);
                adapter.source = Window {
                    name: f.name.clone(),
                    text: f.text_lossy(),
                    start: 0,
                    first_line: 0,
                };
                let mut out = String::new();
                handler.render_report(&mut out, &adapter).unwrap();
                out
            };
            let windowed = render_text(&sources, std::slice::from_ref(&d), style);
            assert!(
                windowed.starts_with(&whole),
                "line {line}:\n{windowed}\n---\n{whole}"
            );
            assert!(windowed.contains(&format!("{line} │")), "{windowed}");
        }
    }

    #[test]
    fn lines_wrap_at_spaces_never_inside_a_name() {
        let (sources, _, loc) = numbered(3);
        let names = "tag:dns, tag:ntp, tag:jacob-comma, tag:vacuum-cleaner, group:site-reliability";
        let d = Diagnostic::new(
            crate::rules::Code::UnusedGroup,
            loc(2),
            format!("decide tests of {names}, {names}"),
        )
        .with_help(format!(
            "give an inventory to decide tests of {names}, {names}"
        ));
        for width in [40, 50, 61, 80] {
            let text = render_text(
                &sources,
                std::slice::from_ref(&d),
                TextStyle {
                    color: false,
                    width,
                },
            );
            for name in names.split(", ") {
                assert_eq!(
                    text.matches(name).count(),
                    4,
                    "{name} at width {width}:\n{text}"
                );
            }
        }
    }

    /// One finding as text, without colour, 100 columns wide.
    fn plain(sources: &SourceMap, d: Diagnostic) -> String {
        render_text(
            sources,
            &[d],
            TextStyle {
                color: false,
                width: 100,
            },
        )
    }

    #[test]
    fn labels_far_from_the_finding_become_notes() {
        let (sources, _, loc) = numbered(300);
        let d = Diagnostic::new(crate::rules::Code::RedundantRule, loc(250), "m")
            .with_label(loc(3), "covers it");
        let text = plain(&sources, d);
        assert!(text.contains("note: p.hujson:3:3: covers it"), "{text}");
    }

    #[test]
    fn a_finding_of_many_places_shows_a_few_notes_and_counts_the_rest() {
        let (sources, _, loc) = numbered(300);
        let mut d = Diagnostic::new(crate::rules::Code::TestUndecidable, loc(1), "m");
        for l in (30..280).step_by(10) {
            d = d.with_label(loc(l), "undecided");
        }
        let text = plain(&sources, d);
        assert_eq!(
            text.matches("note: p.hujson:").count(),
            MOST_NOTES,
            "{text}"
        );
        assert!(
            text.contains("note: p.hujson:30:3: undecided")
                && text.ends_with("note: and 5 more (--format json lists every one)\n"),
            "{text}"
        );
    }

    #[test]
    fn positions_do_not_reach_fingerprints() {
        assert_eq!(
            without_positions("hujson: line 12, column 5: invalid character 'x'"),
            "hujson: line #, column #: invalid character 'x'"
        );
        assert_eq!(
            without_positions("tcp:6432 to tag:db"),
            "tcp:6432 to tag:db"
        );
        let a = fingerprints([("TSA001", "p.hujson", "hujson: line 3, column 1: x")]);
        let b = fingerprints([("TSA001", "p.hujson", "hujson: line 9, column 1: x")]);
        assert_eq!(a, b);
    }

    #[test]
    fn identical_findings_get_distinct_fingerprints() {
        let f = fingerprints([
            ("TSA200", "p.hujson", "unused"),
            ("TSA200", "p.hujson", "unused"),
            ("TSA200", "q.hujson", "unused"),
        ]);
        assert_ne!(f[0], f[1]);
        assert_ne!(f[0], f[2]);
        // The first of its kind keeps the fingerprint it would have alone.
        assert_eq!(f[0], fingerprints([("TSA200", "p.hujson", "unused")])[0]);
    }

    #[test]
    fn relative_paths_and_uris() {
        let root = std::path::Path::new("/work/repo");
        assert_eq!(
            relative_path(root, std::path::Path::new("/work/repo/policies/a b.hujson")).as_deref(),
            Some("policies/a b.hujson")
        );
        assert_eq!(
            relative_path(root, std::path::Path::new("/work/other/x.hujson")).as_deref(),
            Some("../other/x.hujson")
        );
        assert_eq!(relative_path(root, std::path::Path::new("-")), None);
        assert_eq!(
            uri_reference("policies/a b:c%.hujson"),
            "policies/a%20b%3Ac%25.hujson"
        );
        assert_eq!(uri_reference("é.hujson"), "%C3%A9.hujson");
    }

    #[test]
    fn github_escapes_like_the_toolkit() {
        assert_eq!(github_data("50% a\r\nb: c, d"), "50%25 a%0D%0Ab: c, d");
        assert_eq!(github_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }
}
