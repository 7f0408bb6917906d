//! The span-carrying value tree that every reader (HuJSON, JSON5) produces and every
//! later stage (policy model, validation, intents) consumes.
//!
//! Invariants:
//! - every `Span` is a half-open byte range `[start, end)` into the exact bytes that were
//!   parsed, so `&src[span.start..span.end]` is the text of that value (for strings,
//!   including the quotes);
//! - trees are at most [`MAX_DEPTH`] levels deep, so recursive walks (including `Drop`)
//!   cannot overflow the stack.

use std::fmt;

/// Deepest nesting of arrays/objects any reader accepts. Real policies nest < 10 levels;
/// this bound keeps every recursive walk of a tree well inside a 2 MiB thread stack.
pub const MAX_DEPTH: usize = 1000;

/// Half-open byte range into the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A parsed document: the root value plus the span of every comment (in source order),
/// which later stages use for inline suppressions.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub root: Value,
    pub comments: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub span: Span,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    /// The number exactly as written (already validated as a JSON/JSON5 number).
    Number(Box<str>),
    /// The decoded string (escapes resolved; invalid UTF-8 replaced by U+FFFD, as Go does).
    String(String),
    Array(Vec<Value>),
    Object(Vec<Member>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub key: String,
    pub key_span: Span,
    pub value: Value,
}

impl Value {
    /// A `null` with no place in the source (a value taken out of the tree).
    pub fn null() -> Value {
        Value {
            span: Span::default(),
            kind: Kind::Null,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match &self.kind {
            Kind::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&[Member]> {
        match &self.kind {
            Kind::Object(o) => Some(o),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            Kind::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }
    /// JSON type name as a user would say it ("string", "array", ...).
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "boolean",
            Kind::Number(_) => "number",
            Kind::String(_) => "string",
            Kind::Array(_) => "array",
            Kind::Object(_) => "object",
        }
    }
    /// First member with this exact key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?
            .iter()
            .find(|m| m.key == key)
            .map(|m| &m.value)
    }
}

/// A reader's error: where it happened and what, worded like the reference implementation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Which reader failed: `"hujson"` or `"json5"`; the prefix of the rendered message.
    pub reader: &'static str,
    /// Byte offset of the error.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in bytes (as tailscale/hujson does).
    pub column: usize,
    /// The reason alone, e.g. `invalid character ',' after top-level value`.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    /// `hujson: line L, column C: <reason>`, byte-identical to tailscale/hujson.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: line {}, column {}: {}",
            self.reader, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for SyntaxError {}
