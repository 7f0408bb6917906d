//! Diagnostics: what every stage reports, with a stable code, a severity, a primary
//! location, related labels and a help line. Rendering lives in [`render`].
//!
//! Invariant: every diagnostic carries a [`Code`] from the registry in [`crate::rules`],
//! so `tsacl rule --all` lists every code the tool can emit.
//!
//! Diagnostics depend on the registry (codes, [`Severity`], the SARIF rule table), never
//! the other way round: the registry describes rules and knows nothing of findings.

pub mod render;
pub mod selection;

use crate::rules::{Code, Severity};
use crate::syntax::Span;
use std::path::{Path, PathBuf};

/// A count for people: `1998` as `1,998`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A place in a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: FileId,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub location: Location,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub primary: Location,
    /// What to underline at the primary location (defaults to nothing).
    pub primary_label: Option<String>,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at its code's default severity.
    pub fn new(code: Code, primary: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.rule().severity,
            message: message.into(),
            primary,
            primary_label: None,
            labels: Vec::new(),
            help: None,
        }
    }
    pub fn with_label(mut self, location: Location, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            location,
            message: message.into(),
        });
        self
    }
    pub fn with_primary_label(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary_label = Some(message.into());
        self
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
    pub fn with_severity(mut self, severity: Severity) -> Diagnostic {
        self.severity = severity;
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// One loaded source file, with a line index for byte offset → line/column.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    /// The name shown to users (the path as given on the command line, or `<stdin>`).
    pub name: String,
    pub text: Vec<u8>,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, name: impl Into<String>, text: Vec<u8>) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', &text).map(|i| i + 1));
        SourceFile {
            path: path.into(),
            name: name.into(),
            text,
            line_starts,
        }
    }
    /// 1-based line and 1-based column in bytes (the convention of tailscale/hujson).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        (line + 1, offset - self.line_starts[line] + 1)
    }
    /// The byte offset where the 0-based `line` starts, `None` past the last line.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        self.line_starts.get(line).copied()
    }
    /// The number of lines (a final line without a newline counts; an empty file has one).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
    /// The byte range of whole lines around `[start, end)`, `margin` lines either side,
    /// and the 0-based index of its first line.
    pub fn lines_around(&self, start: usize, end: usize, margin: usize) -> (usize, usize, usize) {
        let (first, _) = self.line_col(start);
        let (last, _) = self.line_col(end);
        let first = (first - 1).saturating_sub(margin);
        let last = (last - 1 + margin + 1).min(self.line_starts.len());
        let to = self
            .line_starts
            .get(last)
            .copied()
            .unwrap_or(self.text.len());
        (self.line_starts[first], to, first)
    }
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

/// Every file a run has read, addressed by [`FileId`].
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId(self.files.len() as u32 - 1)
    }
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }
    pub fn find(&self, path: &Path) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.path == path)
            .map(|i| FileId(i as u32))
    }
}
