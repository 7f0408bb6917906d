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
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
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
