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

    /// The path from this value down to the innermost part that holds `span`, and whether
    /// `span` lies in the last member's key rather than its value.
    pub fn path_to(&self, span: Span) -> (Vec<Step>, bool) {
        let inside = |outer: Span| outer.start <= span.start && span.end <= outer.end;
        let mut path = Vec::new();
        let mut v = self;
        loop {
            let next =
                match &v.kind {
                    Kind::Object(members) => {
                        if let Some(m) = members.iter().find(|m| inside(m.key_span)) {
                            path.push(Step::Key(m.key.clone()));
                            return (path, true);
                        }
                        members.iter().find(|m| inside(m.value.span)).map(|m| {
                            path.push(Step::Key(m.key.clone()));
                            &m.value
                        })
                    }
                    Kind::Array(items) => items
                        .iter()
                        .enumerate()
                        .find(|(_, i)| inside(i.span))
                        .map(|(k, i)| {
                            path.push(Step::Index(k));
                            i
                        }),
                    _ => None,
                };
            match next {
                Some(n) => v = n,
                None => return (path, false),
            }
        }
    }

    /// The span of the part at `path` (its key's span when `on_key`), or of the deepest
    /// part of `path` that exists.
    pub fn span_at(&self, path: &[Step], on_key: bool) -> Span {
        let mut v = self;
        let mut span = self.span;
        for (i, step) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            match (step, &v.kind) {
                (Step::Key(k), Kind::Object(members)) => match members.iter().find(|m| m.key == *k)
                {
                    Some(m) if last && on_key => return m.key_span,
                    Some(m) => v = &m.value,
                    None => return span,
                },
                (Step::Index(n), Kind::Array(items)) => match items.get(*n) {
                    Some(item) => v = item,
                    None => return span,
                },
                _ => return span,
            }
            span = v.span;
        }
        span
    }
}

/// A step of a path into a tree: a member's key or an element's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lead_to_spans_and_back() {
        let text = r#"{"grants": [{"src": ["a", "b"]}], "tagOwners": {"tag:x": []}}"#;
        let root = crate::syntax::hujson::parse(text.as_bytes()).unwrap().root;
        let at = |needle: &str| {
            let i = text.find(needle).unwrap();
            Span::new(i, i + needle.len())
        };
        let key = |k: &str| Step::Key(k.to_string());
        let (path, on_key) = root.path_to(at("\"b\""));
        assert_eq!(
            path,
            [key("grants"), Step::Index(0), key("src"), Step::Index(1)]
        );
        assert!(!on_key);
        assert_eq!(root.span_at(&path, false), at("\"b\""));
        let (path, on_key) = root.path_to(at("\"tag:x\""));
        assert_eq!(path, [key("tagOwners"), key("tag:x")]);
        assert!(on_key);
        assert_eq!(root.span_at(&path, true), at("\"tag:x\""));
        assert_eq!(root.span_at(&path, false), at("[]"));
        // A path deeper than the tree stops at the deepest part that exists.
        let deeper = [key("grants"), Step::Index(0), key("dst"), Step::Index(0)];
        assert_eq!(root.span_at(&deeper, false), at(r#"{"src": ["a", "b"]}"#));
        assert_eq!(root.path_to(Span::new(0, 1)), (vec![], false));
    }
}
