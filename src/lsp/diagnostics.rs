//! tsacl's diagnostics as LSP diagnostics: the same code, severity, message, help and
//! related locations `tsacl check` prints, with byte spans turned into positions.

use super::documents::{Encoding, range, uri_of};
use crate::diagnostics::{Diagnostic, SourceFile, SourceMap};
use crate::rules::{Code, Severity};
use crate::syntax::Span;
use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString};

/// One finding as published, with what code actions and hover need about it.
#[derive(Clone, Debug)]
pub struct Finding {
    pub lsp: lsp_types::Diagnostic,
    /// `None` for a configuration error (the intents file's `lint` section).
    pub code: Option<Code>,
    pub severity: Severity,
    /// Where it is, in the published file's bytes.
    pub span: Span,
    /// Where each related location is, when it is in the same file.
    pub labels: Vec<Option<Span>>,
    pub help: Option<String>,
}

impl Finding {
    /// The same finding in a new version of its file, given how to move a span (`None`:
    /// the text under it changed). `None` when the finding itself moved out of existence.
    pub fn moved(
        &self,
        file: &SourceFile,
        encoding: Encoding,
        shift: impl Fn(Span) -> Option<Span>,
    ) -> Option<Finding> {
        let mut f = self.clone();
        f.span = shift(self.span)?;
        f.lsp.range = range(file, f.span, encoding);
        if let Some(related) = &mut f.lsp.related_information {
            for (info, label) in related.iter_mut().zip(&self.labels) {
                if let Some(span) = label {
                    let span = shift(*span)?;
                    info.location.range = range(file, span, encoding);
                }
            }
        }
        Some(f)
    }

    /// The same code, place and message.
    pub fn same_as(&self, other: &Finding) -> bool {
        self.code == other.code && self.span == other.span && self.lsp.message == other.lsp.message
    }
}

pub fn severity(s: Severity) -> DiagnosticSeverity {
    match s {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::INFORMATION,
    }
}

/// Convert one diagnostic; its primary location is in `sources`' file `d.primary.file`.
pub fn convert(sources: &SourceMap, d: &Diagnostic, encoding: Encoding) -> Finding {
    let file = sources.get(d.primary.file);
    let mut message = d.message.clone();
    if let Some(label) = &d.primary_label
        && !label.is_empty()
        && !message.contains(label.as_str())
    {
        message.push_str(&format!(" ({label})"));
    }
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .map(|l| {
            let f = sources.get(l.location.file);
            DiagnosticRelatedInformation {
                location: Location::new(uri_of(&f.path), range(f, l.location.span, encoding)),
                message: l.message.clone(),
            }
        })
        .collect();
    Finding {
        lsp: lsp_types::Diagnostic {
            range: range(file, d.primary.span, encoding),
            severity: Some(severity(d.severity)),
            code: Some(NumberOrString::String(d.code.id().to_string())),
            code_description: None,
            source: Some("tsacl".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data: None,
        },
        code: Some(d.code),
        severity: d.severity,
        span: d.primary.span,
        labels: d
            .labels
            .iter()
            .map(|l| (l.location.file == d.primary.file).then_some(l.location.span))
            .collect(),
        help: d.help.clone(),
    }
}

/// A configuration error of the intents file's `lint` section: `tsacl check` stops with
/// exit 2 on it, so the editor shows it alone, as an error.
pub fn configuration_error(
    file: &crate::diagnostics::SourceFile,
    span: Span,
    message: &str,
    encoding: Encoding,
) -> Finding {
    Finding {
        lsp: lsp_types::Diagnostic {
            range: range(file, span, encoding),
            severity: Some(DiagnosticSeverity::ERROR),
            source: Some("tsacl".into()),
            message: format!(
                "{message}\nhelp: a configuration error: `tsacl check` stops here (exit 2) until it is fixed"
            ),
            ..Default::default()
        },
        code: None,
        severity: Severity::Error,
        span,
        labels: Vec::new(),
        help: None,
    }
}
