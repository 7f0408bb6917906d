//! Rendering diagnostics: miette-style snippets for people, one JSON document for machines.
//!
//! Columns are 1-based and count bytes, the convention of tailscale/hujson and of the
//! control plane's own messages; `end_line`/`end_column` point just past the span.

use super::{Diagnostic, Severity, SourceMap};
use serde::Serialize;
use std::fmt;

/// Text output options.
#[derive(Clone, Copy, Debug)]
pub struct TextStyle {
    pub color: bool,
    /// Terminal width for wrapping.
    pub width: usize,
}

/// Render diagnostics as miette-style text.
pub fn render_text(sources: &SourceMap, diagnostics: &[Diagnostic], style: TextStyle) -> String {
    let theme = if style.color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(style.width)
        .with_links(false);
    let mut out = String::new();
    for d in diagnostics {
        let adapter = MietteAdapter::new(sources, d);
        if handler.render_report(&mut out, &adapter).is_err() {
            // Rendering into a String cannot fail short of a bug in miette; fall back to a line.
            out.push_str(&one_line(sources, d));
            out.push('\n');
        }
        for label in d
            .labels
            .iter()
            .filter(|l| l.location.file != d.primary.file)
        {
            let f = sources.get(label.location.file);
            let (line, col) = f.line_col(label.location.span.start as usize);
            out.push_str(&format!(
                "  note: {}:{line}:{col}: {}\n",
                f.name, label.message
            ));
        }
    }
    out
}

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
    source: miette::NamedSource<String>,
    labels: Vec<miette::LabeledSpan>,
}

impl<'a> MietteAdapter<'a> {
    fn new(sources: &SourceMap, diagnostic: &'a Diagnostic) -> Self {
        let file = sources.get(diagnostic.primary.file);
        let text = file.text_lossy();
        let clamp = |s: crate::syntax::Span| {
            let start = (s.start as usize).min(text.len());
            let end = (s.end as usize).clamp(start, text.len());
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
        MietteAdapter {
            diagnostic,
            source: miette::NamedSource::new(file.name.clone(), text),
            labels,
        }
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

/// A stable fingerprint of a finding (code, file, message), so code-scanning tools track
/// it across commits even when lines move. FNV-1a: stable across Rust versions, unlike
/// the standard library's hasher.
fn fingerprint(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
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

/// SARIF 2.1.0, for GitHub code scanning and other tools: every rule tsacl has, with
/// help text, and one result per diagnostic with a relative URI, a region and a stable
/// fingerprint.
pub fn render_sarif(sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    use serde_json::json;
    let rules: Vec<serde_json::Value> = crate::rules::RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.explanation},
                "help": {"text": r.explanation},
                "defaultConfiguration": {"level": sarif_level(r.severity)},
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            let f = sources.get(d.primary.file);
            let (line, col) = char_position(sources, d.primary);
            let (end_line, end_col) = char_end(sources, d.primary);
            let uri = f.name.trim_start_matches("./").replace('\\', "/");
            let mut message = d.message.clone();
            if let Some(h) = &d.help {
                message.push_str(&format!(" (help: {h})"));
            }
            json!({
                "ruleId": d.code.id(),
                "ruleIndex": d.code as usize,
                "level": sarif_level(d.severity),
                "message": {"text": message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri},
                        "region": {"startLine": line, "startColumn": col, "endLine": end_line, "endColumn": end_col},
                    }
                }],
                "partialFingerprints": {"tsacl/v1": fingerprint(&[d.code.id(), &uri, &d.message])},
            })
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

/// GitHub Actions workflow commands: `::error file=F,line=L,col=C,...::message`.
pub fn render_github(sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let prop = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = String::new();
    for d in diagnostics {
        let f = sources.get(d.primary.file);
        let (line, col) = f.line_col(d.primary.span.start as usize);
        let (end_line, end_col) = f.line_col(d.primary.span.end as usize);
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let title = format!("{} {}", d.code.id(), d.code.rule().name);
        out.push_str(&format!(
            "::{kind} file={},line={line},col={col},endLine={end_line},endColumn={end_col},title={}::{}\n",
            prop(&f.name),
            prop(&title),
            data(&d.message)
        ));
    }
    out
}
